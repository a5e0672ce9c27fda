/* docker/inspect_extra.c - the networking and logging members of a
 * container inspect (see docker.h, struct docker_container_info), read for
 * the task metadata endpoints, and the last entry of State.Health.Log (the
 * container's health record).  Members of the wrong type read as absent. */
#include "docker/docker_int.h"
#include "core/xmalloc.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static char *
str_or_null (json_t *o, const char *key)
{
  json_t *v = json_object_get (o, key);
  return json_is_string (v) ? xstrdup (json_string_value (v)) : NULL;
}

/* An object of strings -> kv array (non-string values skipped), bounded. */
static struct docker_kv *
kv_read (json_t *o, size_t max, size_t *n)
{
  *n = 0;
  if (!json_is_object (o) || json_object_size (o) == 0)
    return NULL;
  size_t cap = json_object_size (o) < max ? json_object_size (o) : max;
  struct docker_kv *kv = xcalloc (cap, sizeof *kv);
  const char *k;
  json_t *v;
  json_object_foreach (o, k, v)
  {
    if (*n >= cap)
      break;
    if (!json_is_string (v))
      continue;
    kv[*n].key = xstrdup (k);
    kv[(*n)++].value = xstrdup (json_string_value (v));
  }
  return kv;
}

/* State.Health.Log[-1]: Output (bounded) and ExitCode. */
static void
health_log_read (json_t *health, struct docker_container_info *i)
{
  json_t *log = json_object_get (health, "Log");
  size_t n = json_is_array (log) ? json_array_size (log) : 0;
  if (n == 0)
    return;
  json_t *last = json_array_get (log, n - 1);
  json_t *out = json_object_get (last, "Output");
  if (json_is_string (out))
    {
      size_t len = json_string_length (out);
      i->health_output = xstrndup (json_string_value (out),
                                   len < DOCKER_HEALTH_OUTPUT_MAX ? len : DOCKER_HEALTH_OUTPUT_MAX);
    }
  json_t *code = json_object_get (last, "ExitCode");
  if (json_is_integer (code) && json_integer_value (code) >= INT_MIN
      && json_integer_value (code) <= INT_MAX)
    i->health_exit_code = (int) json_integer_value (code);
}

void
docker_inspect_extra_read (json_t *root, struct docker_container_info *i)
{
  health_log_read (json_object_get (json_object_get (root, "State"), "Health"), i);
  json_t *ns = json_object_get (root, "NetworkSettings");
  if (json_is_object (ns))
    {
      i->has_network_settings = true;
      i->ip_address = str_or_null (ns, "IPAddress");
      json_t *nets = json_object_get (ns, "Networks");
      if (json_is_object (nets) && json_object_size (nets) > 0)
        {
          size_t cap = json_object_size (nets);
          if (cap > DOCKER_MAX_NETWORKS)
            cap = DOCKER_MAX_NETWORKS;
          i->networks = xcalloc (cap, sizeof *i->networks);
          const char *name;
          json_t *n;
          json_object_foreach (nets, name, n)
          {
            if (i->n_networks >= cap)
              break;
            char *ip = str_or_null (n, "IPAddress");
            i->networks[i->n_networks].key = xstrdup (name);
            i->networks[i->n_networks++].value = ip ? ip : xstrdup ("");
          }
        }
    }
  json_t *hc = json_object_get (root, "HostConfig");
  i->network_mode = str_or_null (hc, "NetworkMode");
  json_t *lc = json_object_get (hc, "LogConfig");
  i->log_driver = str_or_null (lc, "Type");
  i->log_options = kv_read (json_object_get (lc, "Config"), 256, &i->n_log_options);
}

static void
kv_array_free (struct docker_kv *kv, size_t n)
{
  for (size_t k = 0; k < n; k++)
    {
      free (kv[k].key);
      free (kv[k].value);
    }
  free (kv);
}

void
docker_inspect_extra_free (struct docker_container_info *i)
{
  kv_array_free (i->networks, i->n_networks);
  kv_array_free (i->log_options, i->n_log_options);
  free (i->ip_address);
  free (i->network_mode);
  free (i->log_driver);
  free (i->health_output);
}

static char *
dup0 (const char *s)
{
  return s ? xstrdup (s) : NULL;
}

static struct docker_kv *
kv_dup (const struct docker_kv *kv, size_t n)
{
  if (!kv || !n)
    return NULL;
  struct docker_kv *d = xcalloc (n, sizeof *d);
  for (size_t k = 0; k < n; k++)
    {
      d[k].key = dup0 (kv[k].key);
      d[k].value = dup0 (kv[k].value);
    }
  return d;
}

struct docker_container_info *
docker_container_info_dup (const struct docker_container_info *i)
{
  struct docker_container_info *d = xcalloc (1, sizeof *d);
  *d = *i; /* scalars; every pointer is replaced below */
  d->id = dup0 (i->id);
  d->name = dup0 (i->name);
  d->image = dup0 (i->image);
  d->image_id = dup0 (i->image_id);
  d->created = dup0 (i->created);
  d->status = dup0 (i->status);
  d->error = dup0 (i->error);
  d->health_status = dup0 (i->health_status);
  d->health_output = dup0 (i->health_output);
  d->started_at = dup0 (i->started_at);
  d->finished_at = dup0 (i->finished_at);
  d->ports = i->n_ports ? task_port_bindings_dup (i->ports, i->n_ports) : NULL;
  d->labels = kv_dup (i->labels, i->n_labels);
  d->mounts = i->n_mounts ? xcalloc (i->n_mounts, sizeof *d->mounts) : NULL;
  for (size_t k = 0; k < i->n_mounts; k++)
    {
      d->mounts[k] = i->mounts[k];
      d->mounts[k].type = dup0 (i->mounts[k].type);
      d->mounts[k].name = dup0 (i->mounts[k].name);
      d->mounts[k].source = dup0 (i->mounts[k].source);
      d->mounts[k].destination = dup0 (i->mounts[k].destination);
    }
  d->networks = kv_dup (i->networks, i->n_networks);
  d->ip_address = dup0 (i->ip_address);
  d->network_mode = dup0 (i->network_mode);
  d->log_driver = dup0 (i->log_driver);
  d->log_options = kv_dup (i->log_options, i->n_log_options);
  return d;
}
