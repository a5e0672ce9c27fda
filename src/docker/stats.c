/* docker/stats.c - one-shot container stats: the call (an op of client.c)
 * and the pure parser of its body (docker/stats.h). */
#include "docker/stats.h"
#include "core/time.h"
#include "core/xmalloc.h"
#include "docker/docker_int.h"
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The member named key: exact spelling first, else the first key equal to
   it ignoring case (as Go's encoding/json matches). */
static json_t *
ci_get (json_t *o, const char *key)
{
  if (!json_is_object (o))
    return NULL;
  json_t *v = json_object_get (o, key);
  if (v)
    return v;
  const char *k;
  json_object_foreach (o, k, v)
    if (strcasecmp (k, key) == 0)
      return v;
  return NULL;
}

/* A non-negative integer member into *out (absent or null: 0, false). */
static int
get_u64 (json_t *o, const char *key, uint64_t *out, bool *present, agent_error_t *err)
{
  json_t *v = ci_get (o, key);
  *out = 0;
  if (present)
    *present = false;
  if (v == NULL || json_is_null (v))
    return 0;
  if (!json_is_integer (v) || json_integer_value (v) < 0)
    return error_set (err, ERR_MALFORMED, "container stats: %s is not a non-negative integer",
                      key);
  *out = (uint64_t) json_integer_value (v);
  if (present)
    *present = true;
  return 0;
}

static int
get_time (json_t *o, const char *key, int64_t *out, agent_error_t *err)
{
  json_t *v = ci_get (o, key);
  *out = 0;
  if (v == NULL || json_is_null (v))
    return 0;
  if (!json_is_string (v) || time_rfc3339_parse (json_string_value (v), out) < 0)
    return error_set (err, ERR_MALFORMED, "container stats: %s is not an RFC 3339 time", key);
  return 0;
}

static int
parse_cpu (json_t *cpu, uint64_t *total, uint64_t *system, uint32_t *online, size_t *n_percpu,
           agent_error_t *err)
{
  json_t *usage = ci_get (cpu, "cpu_usage");
  uint64_t on = 0;
  if (get_u64 (usage, "total_usage", total, NULL, err) < 0
      || get_u64 (cpu, "system_cpu_usage", system, NULL, err) < 0
      || get_u64 (cpu, "online_cpus", &on, NULL, err) < 0)
    return -1;
  if (on > UINT32_MAX)
    return error_set (err, ERR_MALFORMED, "container stats: online_cpus out of range");
  if (online)
    *online = (uint32_t) on;
  json_t *per = ci_get (usage, "percpu_usage");
  if (n_percpu)
    *n_percpu = json_is_array (per) ? json_array_size (per) : 0;
  return 0;
}

static int
parse_memory (json_t *mem, struct docker_stats *st, agent_error_t *err)
{
  json_t *stats = ci_get (mem, "stats");
  if (get_u64 (mem, "usage", &st->mem_usage, NULL, err) < 0
      || get_u64 (mem, "max_usage", &st->mem_max_usage, NULL, err) < 0
      || get_u64 (mem, "limit", &st->mem_limit, NULL, err) < 0
      || get_u64 (stats, "cache", &st->mem_cache, &st->has_mem_cache, err) < 0
      || get_u64 (stats, "inactive_file", &st->mem_inactive_file, &st->has_mem_inactive_file,
                  err) < 0)
    return -1;
  return 0;
}

static int
parse_blkio (json_t *blkio, struct docker_stats *st, agent_error_t *err)
{
  json_t *list = ci_get (blkio, "io_service_bytes_recursive");
  size_t i;
  json_t *e;
  json_array_foreach (list, i, e)
  {
    json_t *op = ci_get (e, "op");
    uint64_t v = 0;
    if (get_u64 (e, "value", &v, NULL, err) < 0)
      return -1;
    if (!json_is_string (op))
      continue;
    if (strcasecmp (json_string_value (op), "read") == 0)
      st->blkio_read += v;
    else if (strcasecmp (json_string_value (op), "write") == 0)
      st->blkio_write += v;
  }
  return 0;
}

static int
parse_networks (json_t *nets, struct docker_stats *st, agent_error_t *err)
{
  if (!json_is_object (nets))
    return 0;
  st->has_networks = true;
  const char *name;
  json_t *n;
  json_object_foreach (nets, name, n)
  {
    static const char *const keys[] = { "rx_bytes", "rx_packets", "rx_errors", "rx_dropped",
                                        "tx_bytes", "tx_packets", "tx_errors", "tx_dropped" };
    uint64_t *dst[] = { &st->net.rx_bytes, &st->net.rx_packets, &st->net.rx_errors,
                        &st->net.rx_dropped, &st->net.tx_bytes, &st->net.tx_packets,
                        &st->net.tx_errors, &st->net.tx_dropped };
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
      {
        uint64_t v = 0;
        if (get_u64 (n, keys[k], &v, NULL, err) < 0)
          return -1;
        *dst[k] += v; /* wraps like upstream's uint64 sums */
      }
  }
  return 0;
}

int
docker_parse_stats_view (const char *s, size_t len, struct docker_stats *st, agent_error_t *err)
{
  memset (st, 0, sizeof *st);
  if (s == NULL)
    return error_set (err, ERR_MALFORMED, "container stats: empty response");
  json_error_t jerr;
  json_t *root = json_loadb (s, len, JSON_DECODE_ANY, &jerr);
  if (root == NULL)
    return error_set (err, ERR_MALFORMED, "container stats: invalid JSON: %s", jerr.text);
  if (!json_is_object (root))
    {
      json_decref (root);
      return error_set (err, ERR_MALFORMED, "container stats: expected a JSON object");
    }
  json_t *pids = ci_get (root, "pids_stats");
  json_t *id = ci_get (root, "id");
  if (json_is_string (id))
    st->id = xstrdup (json_string_value (id));
  int r = 0;
  if (get_time (root, "read", &st->read_ns, err) < 0
      || get_time (root, "preread", &st->preread_ns, err) < 0
      || parse_cpu (ci_get (root, "cpu_stats"), &st->cpu_total, &st->cpu_system,
                    &st->online_cpus, &st->n_percpu, err) < 0
      || parse_cpu (ci_get (root, "precpu_stats"), &st->precpu_total, &st->precpu_system,
                    NULL, NULL, err) < 0
      || parse_memory (ci_get (root, "memory_stats"), st, err) < 0
      || parse_blkio (ci_get (root, "blkio_stats"), st, err) < 0
      || parse_networks (ci_get (root, "networks"), st, err) < 0
      || get_u64 (pids, "current", &st->pids_current, NULL, err) < 0)
    r = -1;
  json_decref (root);
  if (r < 0)
    {
      docker_stats_clear_view (st);
      return -1;
    }
  st->raw = (char *) s; /* borrowed */
  st->raw_len = len;
  return 0;
}

void
docker_stats_clear_view (struct docker_stats *st)
{
  free (st->id);
  memset (st, 0, sizeof *st);
}

int
docker_parse_stats (const char *s, size_t len, struct docker_stats **out, agent_error_t *err)
{
  *out = NULL;
  struct docker_stats *st = xcalloc (1, sizeof *st);
  if (docker_parse_stats_view (s, len, st, err) < 0)
    {
      free (st);
      return -1;
    }
  st->raw = xmalloc (len + 1);
  memcpy (st->raw, s, len);
  st->raw[len] = '\0';
  st->raw_len = len;
  *out = st;
  return 0;
}

void
docker_stats_free (struct docker_stats *st)
{
  if (st == NULL)
    return;
  free (st->raw);
  free (st->id);
  free (st);
}

void
docker_stats_cache_clear (struct docker_stats_cache *cache)
{
  for (size_t i = 0; i < DOCKER_STATS_CACHE_N; i++)
    {
      free (cache->e[i].id);
      free (cache->e[i].read);
      free (cache->e[i].cpu_stats);
    }
  memset (cache, 0, sizeof *cache);
}

/* The entry of container id, or NULL. */
static size_t
cache_find (const struct docker_stats_cache *cache, const char *id)
{
  for (size_t i = 0; i < DOCKER_STATS_CACHE_N; i++)
    if (cache->e[i].id && strcmp (cache->e[i].id, id) == 0)
      return i;
  return DOCKER_STATS_CACHE_N;
}

/* Remember this sample's cpu_stats for the next one of the same container:
   its own entry, else a free one, else the one with the oldest sample. */
static void
cache_put (struct docker_stats_cache *cache, const char *id, int64_t read_ns, const char *read,
           json_t *cpu)
{
  size_t slot = cache_find (cache, id);
  for (size_t i = 0; slot == DOCKER_STATS_CACHE_N && i < DOCKER_STATS_CACHE_N; i++)
    if (cache->e[i].id == NULL)
      slot = i;
  if (slot == DOCKER_STATS_CACHE_N)
    {
      slot = 0;
      for (size_t i = 1; i < DOCKER_STATS_CACHE_N; i++)
        if (cache->e[i].read_ns < cache->e[slot].read_ns)
          slot = i;
    }
  char *cpu_json = json_dumps (cpu, JSON_COMPACT);
  if (cpu_json == NULL)
    return;
  free (cache->e[slot].id);
  free (cache->e[slot].read);
  free (cache->e[slot].cpu_stats);
  cache->e[slot].id = xstrdup (id);
  cache->e[slot].read_ns = read_ns;
  cache->e[slot].read = xstrdup (read);
  cache->e[slot].cpu_stats = cpu_json;
}

/* Only blanks (Podman's answer for a container that is not running). */
static bool
blank (const char *s, size_t len)
{
  for (size_t i = 0; i < len; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
      return false;
  return true;
}

int
docker_parse_stats_podman (struct docker_stats_cache *cache, const char *s, size_t len,
                           struct docker_stats **out, agent_error_t *err)
{
  *out = NULL;
  if (s == NULL || blank (s, len))
    return error_set (err, ERR_NOT_FOUND,
                      "container stats: no sample (Podman answers none for a container that is "
                      "not running)");
  json_error_t jerr;
  json_t *root = json_loadb (s, len, JSON_DECODE_ANY, &jerr);
  if (root == NULL)
    return error_set (err, ERR_MALFORMED, "container stats: invalid JSON: %s", jerr.text);
  if (!json_is_object (root))
    {
      json_decref (root);
      return error_set (err, ERR_MALFORMED, "container stats: expected a JSON object");
    }
  /* Docker's spelling of the id */
  json_t *id = json_object_get (root, "Id");
  if (id && !json_object_get (root, "id"))
    {
      json_object_set (root, "id", id);
      json_object_del (root, "Id");
    }
  id = json_object_get (root, "id");
  json_t *read = json_object_get (root, "read");
  json_t *cpu = json_object_get (root, "cpu_stats");
  int64_t read_ns = 0;
  bool keyed = cache && json_is_string (id) && json_is_string (read) && json_is_object (cpu)
               && time_rfc3339_parse (json_string_value (read), &read_ns) == 0 && read_ns > 0;
  if (keyed)
    {
      size_t i = cache_find (cache, json_string_value (id));
      json_t *pre = NULL;
      if (i < DOCKER_STATS_CACHE_N && cache->e[i].read_ns < read_ns)
        pre = json_loads (cache->e[i].cpu_stats, 0, NULL);
      if (json_is_object (pre))
        {
          json_object_set_new (root, "precpu_stats", pre);
          json_object_set_new (root, "preread", json_string (cache->e[i].read));
        }
      else
        json_decref (pre);
    }
  char *body = json_dumps (root, JSON_COMPACT);
  int r = body ? docker_parse_stats (body, strlen (body), out, err)
               : error_set (err, ERR_MALFORMED, "container stats: cannot serialize");
  if (r == 0 && keyed)
    cache_put (cache, json_string_value (id), read_ns, json_string_value (read), cpu);
  free (body);
  json_decref (root);
  return r;
}

uint64_t
docker_stats_memory_bytes (const struct docker_stats *st)
{
  if (st->has_mem_inactive_file && st->mem_inactive_file < st->mem_usage)
    return st->mem_usage - st->mem_inactive_file;
  if (st->has_mem_cache && st->mem_cache < st->mem_usage)
    return st->mem_usage - st->mem_cache;
  return st->mem_usage;
}

docker_op_t *
docker_container_stats (docker_client_t *c, const char *id, bool one_shot, docker_stats_cb cb,
                        void *data)
{
  if (id == NULL || id[0] == '\0')
    {
      docker_op_t *op = docker_op_new (c, DOCKER_OP_STATS, "GET", xstrdup (""), 0,
                                       docker_op_cb_stats (cb), data);
      agent_error_t err = NULL;
      error_set (&err, ERR_INVALID, "container stats: no id");
      return docker_op_fail_later (op, &err);
    }
  char *e = docker_escape (id, NULL);
  char *path = xasprintf ("/containers/%s/stats?stream=false%s", e,
                          one_shot ? "&one-shot=true" : "");
  free (e);
  docker_op_t *op = docker_op_new (c, DOCKER_OP_STATS, "GET", path, c->t.other_ms,
                                   docker_op_cb_stats (cb), data);
  op->what = "stats";
  docker_op_send (op);
  return op;
}
