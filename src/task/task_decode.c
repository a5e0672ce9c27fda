/* task/task_decode.c - JSON field decoders shared by the ACS task codec
 * (acs/task_codec.c) and the checkpoint codec (state/checkpoint_tasks.c);
 * see task_decode.h. */
#include "task/task_decode.h"
#include "task/options_decode.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* "path.key", or "key" alone when path is "": the name of a field in messages. */
#define FIELD "%s%s%s"
#define FIELD_ARGS(path, key) (path), *(path) ? "." : "", (key)

/* Case-insensitive object member lookup; an exact match wins. */
json_t *
task_json_get (json_t *obj, const char *key)
{
  if (!json_is_object (obj))
    return NULL;
  json_t *v = json_object_get (obj, key);
  if (v)
    return v;
  const char *k;
  json_object_foreach (obj, k, v)
  {
    if (strcasecmp (k, key) == 0)
      return v;
  }
  return NULL;
}

/* absent or null */
bool
task_json_null (json_t *v)
{
  return v == NULL || json_is_null (v);
}

int
task_json_string (json_t *obj, const char *key, const char *path, bool required, char **out,
            agent_error_t *err)
{
  json_t *v = task_json_get (obj, key);
  *out = NULL;
  if (task_json_null (v))
    {
      if (required)
        return error_set (err, ERR_INVALID, FIELD " is required", FIELD_ARGS (path, key));
      return 0;
    }
  if (!json_is_string (v))
    return error_set (err, ERR_INVALID, FIELD " must be a string", FIELD_ARGS (path, key));
  if (required && json_string_length (v) == 0)
    return error_set (err, ERR_INVALID, FIELD " must not be empty", FIELD_ARGS (path, key));
  if (strlen (json_string_value (v)) != json_string_length (v))
    return error_set (err, ERR_INVALID, FIELD " contains a NUL character", FIELD_ARGS (path, key));
  *out = xstrdup (json_string_value (v));
  return 0;
}

int
task_json_bool (json_t *obj, const char *key, const char *path, bool *out, agent_error_t *err)
{
  json_t *v = task_json_get (obj, key);
  *out = false;
  if (task_json_null (v))
    return 0;
  if (!json_is_boolean (v))
    return error_set (err, ERR_INVALID, FIELD " must be a boolean", FIELD_ARGS (path, key));
  *out = json_is_true (v);
  return 0;
}

int
task_json_int_range (json_t *obj, const char *key, const char *path, int64_t lo, int64_t hi,
               bool required, int64_t *out, agent_error_t *err)
{
  json_t *v = task_json_get (obj, key);
  *out = 0;
  if (task_json_null (v))
    {
      if (required)
        return error_set (err, ERR_INVALID, FIELD " is required", FIELD_ARGS (path, key));
      return 0;
    }
  json_int_t i;
  if (json_is_integer (v))
    i = json_integer_value (v);
  else if (json_is_real (v) && json_real_value (v) == (double) (json_int_t) json_real_value (v)
           && json_real_value (v) >= -9e15 && json_real_value (v) <= 9e15)
    i = (json_int_t) json_real_value (v);
  else
    return error_set (err, ERR_INVALID, FIELD " must be an integer", FIELD_ARGS (path, key));
  if (i < lo || i > hi)
    return error_set (err, ERR_INVALID,
                      FIELD " must be in %" PRId64 "..%" PRId64 " (got %" PRId64 ")",
                      FIELD_ARGS (path, key), lo, hi, (int64_t) i);
  *out = i;
  return 0;
}

/* Array of strings or null -> NULL-terminated vector (NULL if absent). */
int
task_json_strv (json_t *obj, const char *key, const char *path, char ***out, agent_error_t *err)
{
  json_t *v = task_json_get (obj, key);
  *out = NULL;
  if (task_json_null (v))
    return 0;
  if (!json_is_array (v))
    return error_set (err, ERR_INVALID, FIELD " must be an array of strings",
                      FIELD_ARGS (path, key));
  size_t n = json_array_size (v);
  char **r = xcalloc (n + 1, sizeof *r);
  for (size_t i = 0; i < n; i++)
    {
      json_t *s = json_array_get (v, i);
      if (!json_is_string (s) || strlen (json_string_value (s)) != json_string_length (s))
        {
          task_strv_free (r);
          return error_set (err, ERR_INVALID, FIELD "[%zu] must be a string",
                            FIELD_ARGS (path, key), i);
        }
      r[i] = xstrdup (json_string_value (s));
    }
  *out = r;
  return 0;
}

/* An optional array of objects at obj.key, each parsed by item_fn into a
   calloc'd array of elem_size items; *n counts the items filled so far, so
   the free function sees every partly parsed item after an error. */
typedef int (*item_parse_fn) (json_t *m, const char *ipath, void *item, agent_error_t *err);

static int
parse_object_array (json_t *obj, const char *key, const char *path, size_t elem_size, void **arr,
                    size_t *n, item_parse_fn item_fn, agent_error_t *err)
{
  json_t *a = task_json_get (obj, key);
  if (task_json_null (a))
    return 0;
  if (!json_is_array (a))
    return error_set (err, ERR_INVALID, FIELD " must be an array", FIELD_ARGS (path, key));
  size_t len = json_array_size (a);
  *arr = xcalloc (len ? len : 1, elem_size);
  for (size_t i = 0; i < len; i++)
    {
      json_t *m = json_array_get (a, i);
      cleanup_free char *ipath = xasprintf (FIELD "[%zu]", FIELD_ARGS (path, key), i);
      if (!json_is_object (m))
        return error_set (err, ERR_INVALID, "%s must be an object", ipath);
      void *item = (char *) *arr + (*n)++ * elem_size;
      if (item_fn (m, ipath, item, err) < 0)
        return -ERR_INVALID;
    }
  return 0;
}

/* parse_object_array into field (a T ** to fill with a calloc'd T[]), which
   is set also on error: the free function sees the parsed items. */
#define PARSE_ARRAY_INTO(obj, key, path, field, n, item_fn, err)                                   \
  __extension__ ({                                                                                 \
    void *arr_ = NULL;                                                                             \
    int rc_ = parse_object_array ((obj), (key), (path), sizeof **(field), &arr_, (n), (item_fn),   \
                                  (err));                                                          \
    *(field) = arr_;                                                                               \
    rc_;                                                                                           \
  })

/* {"name":..,"value":..}: value absent or null -> "". */
static int
parse_env_item (json_t *e, const char *ipath, void *item, agent_error_t *err)
{
  struct task_kv *kv = item;
  if (task_json_string (e, "name", ipath, true, &kv->key, err) < 0
      || task_json_string (e, "value", ipath, false, &kv->value, err) < 0)
    return -ERR_INVALID;
  if (!kv->value)
    kv->value = xstrdup ("");
  if (strchr (kv->key, '='))
    return error_set (err, ERR_INVALID, "%s: invalid variable name \"%s\"", ipath, kv->key);
  return 0;
}

static int
parse_environment (json_t *obj, const char *path, struct task_container *c, agent_error_t *err)
{
  json_t *env = task_json_get (obj, "environment");
  if (task_json_null (env))
    return 0;
  if (json_is_object (env))
    {
      size_t n = json_object_size (env);
      c->environment = xcalloc (n ? n : 1, sizeof *c->environment);
      const char *k;
      json_t *v;
      json_object_foreach (env, k, v)
      {
        if (!json_is_string (v))
          return error_set (err, ERR_INVALID, "%s.environment.%s must be a string", path, k);
        if (*k == '\0' || strchr (k, '='))
          return error_set (err, ERR_INVALID, "%s.environment: invalid variable name \"%s\"", path, k);
        c->environment[c->n_environment].key = xstrdup (k);
        c->environment[c->n_environment].value = xstrdup (json_string_value (v));
        c->n_environment++;
      }
      return 0;
    }
  if (json_is_array (env)) /* ECS API form [{"name":..,"value":..}] */
    return PARSE_ARRAY_INTO (obj, "environment", path, &c->environment, &c->n_environment,
                             parse_env_item, err);
  return error_set (err, ERR_INVALID, "%s.environment must be an object of strings", path);
}

int
task_json_protocol (json_t *obj, const char *path, enum task_protocol *out, agent_error_t *err)
{
  json_t *p = task_json_get (obj, "protocol");
  *out = TASK_PROTO_TCP;
  if (task_json_null (p))
    return 0;
  if (json_is_string (p) && strcasecmp (json_string_value (p), "tcp") == 0)
    return 0;
  if (json_is_string (p) && strcasecmp (json_string_value (p), "udp") == 0)
    {
      *out = TASK_PROTO_UDP;
      return 0;
    }
  return error_set (err, ERR_INVALID, "%s.protocol must be \"tcp\" or \"udp\"", path);
}

static int
parse_port_mapping (json_t *m, const char *ipath, void *item, agent_error_t *err)
{
  struct task_port_mapping *p = item;
  int64_t cp, hp;
  cleanup_free char *range = NULL;
  if (task_json_string (m, "containerPortRange", ipath, false, &range, err) < 0)
    return -ERR_INVALID;
  if (range && *range
      && task_port_range_parse (range, &p->range_start, &p->range_end, err) < 0)
    return error_wrap (err, "%s.containerPortRange", ipath);
  if (task_json_int_range (m, "containerPort", ipath, p->range_start ? 0 : 1, 65535,
                           p->range_start == 0, &cp, err) < 0
      || task_json_int_range (m, "hostPort", ipath, 0, 65535, false, &hp, err) < 0)
    return -ERR_INVALID;
  p->container_port = (uint16_t) cp;
  p->host_port = (uint16_t) hp;
  return task_json_protocol (m, ipath, &p->protocol, err);
}

static int
parse_mount_point (json_t *m, const char *ipath, void *item, agent_error_t *err)
{
  struct task_mount_point *p = item;
  if (task_json_string (m, "sourceVolume", ipath, true, &p->source_volume, err) < 0
      || task_json_string (m, "containerPath", ipath, true, &p->container_path, err) < 0
      || task_json_bool (m, "readOnly", ipath, &p->read_only, err) < 0)
    return -ERR_INVALID;
  return 0;
}

static int
parse_volume_from (json_t *m, const char *ipath, void *item, agent_error_t *err)
{
  struct task_volume_from *p = item;
  if (task_json_string (m, "sourceContainer", ipath, true, &p->source_container, err) < 0
      || task_json_bool (m, "readOnly", ipath, &p->read_only, err) < 0)
    return -ERR_INVALID;
  return 0;
}

static int
parse_port_binding (json_t *m, const char *ipath, bool ports_required, struct task_port_binding *b,
                    agent_error_t *err)
{
  int64_t cp, hp, cpe = 0, hpe = 0;
  if (task_json_int_range (m, "containerPort", ipath, 0, 65535, ports_required, &cp, err) < 0
      || task_json_int_range (m, "hostPort", ipath, 0, 65535, ports_required, &hp, err) < 0
      || task_json_int_range (m, "containerPortEnd", ipath, 0, 65535, false, &cpe, err) < 0
      || task_json_int_range (m, "hostPortEnd", ipath, 0, 65535, false, &hpe, err) < 0
      || task_json_string (m, "bindIP", ipath, false, &b->bind_ip, err) < 0
      || task_json_protocol (m, ipath, &b->protocol, err) < 0)
    return -ERR_INVALID;
  b->container_port = (uint16_t) cp;
  b->host_port = (uint16_t) hp;
  if (cpe && (cpe < cp || !hpe || hpe - hp != cpe - cp))
    return error_set (err, ERR_INVALID, "%s: port range ends do not match", ipath);
  b->container_port_end = (uint16_t) cpe;
  b->host_port_end = (uint16_t) hpe;
  return 0;
}

static int
parse_port_binding_opt (json_t *m, const char *ipath, void *item, agent_error_t *err)
{
  return parse_port_binding (m, ipath, false, item, err);
}

static int
parse_port_binding_req (json_t *m, const char *ipath, void *item, agent_error_t *err)
{
  return parse_port_binding (m, ipath, true, item, err);
}

int
task_json_port_bindings (json_t *obj, const char *key, const char *path, bool ports_required,
                         struct task_port_binding **out, size_t *n, agent_error_t *err)
{
  return PARSE_ARRAY_INTO (obj, key, path, out, n,
                           ports_required ? parse_port_binding_req : parse_port_binding_opt, err);
}

static int
check_links (const char *path, struct task_container *c, agent_error_t *err)
{
  for (size_t i = 0; c->links && c->links[i]; i++)
    {
      const char *l = c->links[i];
      const char *colon = strchr (l, ':');
      if (*l == '\0' || l[0] == ':' || (colon && (colon[1] == '\0' || strchr (colon + 1, ':'))))
        return error_set (err, ERR_INVALID, "%s.links[%zu]: Invalid link format \"%s\"", path, i, l);
    }
  return 0;
}

/* overrides: object, or a string holding an object; only "command". */
static int
parse_overrides_value (json_t *ov, const char *path, struct task_container *c, agent_error_t *err)
{
  json_t *parsed = NULL;
  if (task_json_null (ov))
    return 0;
  if (json_is_string (ov))
    {
      json_error_t jerr;
      parsed = json_loadb (json_string_value (ov), json_string_length (ov), 0, &jerr);
      if (!parsed)
        return error_set (err, ERR_INVALID, "%s.overrides: not a JSON object: %s", path, jerr.text);
      ov = parsed;
    }
  int rc = 0;
  if (!json_is_object (ov))
    {
      rc = error_set (err, ERR_INVALID, "%s.overrides must be an object or a string holding one",
                      path);
      goto out;
    }
  const char *k;
  json_t *v;
  json_object_foreach (ov, k, v)
  {
    if (strcasecmp (k, "command") != 0)
      {
        rc = error_set (err, ERR_INVALID, "%s.overrides: unknown key \"%s\" (only \"command\" is allowed)",
                        path, k);
        goto out;
      }
  }
  {
    char **cmd = NULL;
    cleanup_free char *opath = xasprintf ("%s.overrides", path);
    if (task_json_strv (ov, "command", opath, &cmd, err) < 0)
      {
        rc = -ERR_INVALID;
        goto out;
      }
    task_strv_free (c->override_command);
    c->override_command = cmd;
    c->has_override_command = cmd != NULL;
  }
out:
  if (parsed)
    json_decref (parsed);
  return rc;
}

/* The parts of a container common to ACS and checkpoint forms. */
int
task_json_container_common (json_t *obj, const char *path, struct task_container *c,
                        agent_error_t *err)
{
  int64_t cpu, mem;
  if (task_json_string (obj, "name", path, true, &c->name, err) < 0
      || task_json_string (obj, "image", path, false, &c->image, err) < 0
      || task_json_strv (obj, "command", path, &c->command, err) < 0
      || task_json_strv (obj, "entryPoint", path, &c->entry_point, err) < 0
      || task_json_int_range (obj, "cpu", path, 0, UINT32_MAX, false, &cpu, err) < 0
      || task_json_int_range (obj, "memory", path, 0, UINT32_MAX, false, &mem, err) < 0
      || task_json_bool (obj, "essential", path, &c->essential, err) < 0
      || task_json_strv (obj, "links", path, &c->links, err) < 0 || check_links (path, c, err) < 0
      || parse_environment (obj, path, c, err) < 0
      || PARSE_ARRAY_INTO (obj, "portMappings", path, &c->port_mappings, &c->n_port_mappings,
                           parse_port_mapping, err) < 0
      || PARSE_ARRAY_INTO (obj, "mountPoints", path, &c->mount_points, &c->n_mount_points,
                           parse_mount_point, err) < 0
      || PARSE_ARRAY_INTO (obj, "volumesFrom", path, &c->volumes_from, &c->n_volumes_from,
                           parse_volume_from, err) < 0
      || parse_overrides_value (task_json_get (obj, "overrides"), path, c, err) < 0
      || task_json_container_options (obj, path, &c->opts, err) < 0)
    return -ERR_INVALID;
  c->cpu = (uint32_t) cpu;
  c->memory = (uint32_t) mem;
  return 0;
}

/* One of the task's volumes: a host volume (type absent or "host"). */
static int
parse_volume (json_t *v, const char *path, bool checkpoint, struct task_volume *vol,
              agent_error_t *err)
{
  if (task_json_string (v, "name", path, true, &vol->name, err) < 0)
    return -ERR_INVALID;
  json_t *type = task_json_get (v, "type");
  if (!task_json_null (type)
      && !(json_is_string (type) && strcasecmp (json_string_value (type), "host") == 0))
    return error_set (err, ERR_INVALID, "%s (%s): unsupported volume type %s%s%s", path, vol->name,
                      json_is_string (type) ? "\"" : "",
                      json_is_string (type) ? json_string_value (type) : "(not a string)",
                      json_is_string (type) ? "\"" : "");
  json_t *host = task_json_get (v, "host");
  if (!json_is_object (host))
    return error_set (err, ERR_INVALID, "%s (%s): unrecognized volume type: no \"host\" object",
                      path, vol->name);
  char *sp = NULL;
  cleanup_free char *hpath = xasprintf ("%s.host", path);
  if (task_json_string (host, "sourcePath", hpath, false, &sp, err) < 0)
    return -ERR_INVALID;
  if (sp && *sp)
    vol->source_path = sp;
  else
    free (sp);
  if (checkpoint
      && (task_json_string (v, "DockerName", path, false, &vol->docker_name, err) < 0
          || task_json_bool (v, "Created", path, &vol->created, err) < 0))
    return -ERR_INVALID;
  return 0;
}

static int
parse_volume_acs (json_t *v, const char *ipath, void *item, agent_error_t *err)
{
  return parse_volume (v, ipath, false, item, err);
}

static int
parse_volume_checkpoint (json_t *v, const char *ipath, void *item, agent_error_t *err)
{
  return parse_volume (v, ipath, true, item, err);
}

int
task_json_volumes (json_t *obj, struct task *t, bool checkpoint, agent_error_t *err)
{
  if (PARSE_ARRAY_INTO (obj, "volumes", "", &t->volumes, &t->n_volumes,
                        checkpoint ? parse_volume_checkpoint : parse_volume_acs, err) < 0)
    return -ERR_INVALID;
  for (size_t i = 1; i < t->n_volumes; i++)
    for (size_t j = 0; j < i; j++)
      if (strcmp (t->volumes[j].name, t->volumes[i].name) == 0)
        return error_set (err, ERR_INVALID, "volumes[%zu]: duplicate volume name \"%s\"", i,
                          t->volumes[i].name);
  return 0;
}

static int
name_index_cmp (const void *a, const void *b, void *data)
{
  const struct task *t = data;
  size_t i = *(const size_t *) a, j = *(const size_t *) b;
  int c = strcmp (t->containers[i].name, t->containers[j].name);
  return c ? c : (i > j) - (i < j);
}

static int
volume_ptr_cmp (const void *a, const void *b, void *data)
{
  (void) data;
  return strcmp ((*(const struct task_volume *const *) a)->name,
                 (*(const struct task_volume *const *) b)->name);
}

static int
volume_name_cmp (const void *key, const void *elem)
{
  return strcmp (key, (*(const struct task_volume *const *) elem)->name);
}

/* Sorted, not pairwise: a task of n containers costs O(n log n).  Reports
   what the pairwise loops did: the first container (in task order) whose
   name an earlier one has, or whose mount point names no volume. */
int
task_json_check_refs (struct task *t, agent_error_t *err)
{
  size_t n = t->n_containers, first_dup = SIZE_MAX;
  cleanup_free size_t *by_name = xcalloc (n ? n : 1, sizeof *by_name);
  for (size_t i = 0; i < n; i++)
    by_name[i] = i;
  qsort_r (by_name, n, sizeof *by_name, name_index_cmp, t);
  for (size_t k = 1; k < n; k++)
    if (strcmp (t->containers[by_name[k - 1]].name, t->containers[by_name[k]].name) == 0
        && by_name[k] < first_dup)
      first_dup = by_name[k];
  cleanup_free const struct task_volume **vols = xcalloc (t->n_volumes ? t->n_volumes : 1, sizeof *vols);
  for (size_t i = 0; i < t->n_volumes; i++)
    vols[i] = &t->volumes[i];
  qsort_r (vols, t->n_volumes, sizeof *vols, volume_ptr_cmp, NULL);
  for (size_t i = 0; i < n; i++)
    {
      struct task_container *c = &t->containers[i];
      if (i == first_dup)
        return error_set (err, ERR_INVALID, "duplicate container name \"%s\"", c->name);
      for (size_t m = 0; m < c->n_mount_points; m++)
        if (!bsearch (c->mount_points[m].source_volume, vols, t->n_volumes, sizeof *vols, volume_name_cmp))
          return error_set (err, ERR_INVALID,
                            "container %s: mount point references unknown volume \"%s\"", c->name,
                            c->mount_points[m].source_volume);
    }
  return 0;
}
