/* engine/task.c - task model: ACS parser, checkpoint codec, status names. */
#include "engine/task.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- status names ------------------------------------------------------- */

static const char *const status_names[] = { "NONE", "PULLED", "CREATED", "RUNNING", "STOPPED" };

const char *
engine_container_status_str (enum engine_status s)
{
  if ((unsigned) s < ARRAY_SIZE (status_names))
    return status_names[s];
  return "NONE";
}

const char *
engine_task_status_str (enum engine_status s)
{
  if (s == ENGINE_STATUS_PULLED)
    return "NONE";
  return engine_container_status_str (s);
}

const char *
engine_status_ecs_str (enum engine_status s)
{
  if (s == ENGINE_STATUS_RUNNING)
    return "RUNNING";
  if (s == ENGINE_STATUS_STOPPED)
    return "STOPPED";
  return "PENDING";
}

int
engine_status_parse (const char *s, enum engine_status *out, agent_error_t *err)
{
  if (s == NULL)
    {
      *out = ENGINE_STATUS_NONE;
      return 0;
    }
  for (size_t i = 0; i < ARRAY_SIZE (status_names); i++)
    if (strcasecmp (s, status_names[i]) == 0)
      {
        *out = (enum engine_status) i;
        return 0;
      }
  if (strcasecmp (s, "UNKNOWN") == 0)
    {
      *out = ENGINE_STATUS_NONE;
      return 0;
    }
  if (strcasecmp (s, "DEAD") == 0)
    {
      *out = ENGINE_STATUS_STOPPED;
      return 0;
    }
  return error_set (err, ERR_INVALID, "unknown status \"%s\"", s);
}

const char *
engine_protocol_str (enum engine_protocol p)
{
  return p == ENGINE_PROTO_UDP ? "udp" : "tcp";
}

/* ---- small helpers -------------------------------------------------------- */

size_t
engine_strv_len (char *const *v)
{
  size_t n = 0;
  if (v)
    while (v[n])
      n++;
  return n;
}

static void
strv_free (char **v)
{
  if (!v)
    return;
  for (size_t i = 0; v[i]; i++)
    free (v[i]);
  free (v);
}

static char **
strv_dup (char *const *v)
{
  if (!v)
    return NULL;
  size_t n = engine_strv_len (v);
  char **r = xcalloc (n + 1, sizeof *r);
  for (size_t i = 0; i < n; i++)
    r[i] = xstrdup (v[i]);
  return r;
}

/* Case-insensitive object member lookup; an exact match wins. */
static json_t *
jget (json_t *obj, const char *key)
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
static bool
jnull (json_t *v)
{
  return v == NULL || json_is_null (v);
}

static int
get_string (json_t *obj, const char *key, const char *path, bool required, char **out,
            agent_error_t *err)
{
  json_t *v = jget (obj, key);
  *out = NULL;
  if (jnull (v))
    {
      if (required)
        return error_set (err, ERR_INVALID, "%s%s%s is required", path, *path ? "." : "", key);
      return 0;
    }
  if (!json_is_string (v))
    return error_set (err, ERR_INVALID, "%s%s%s must be a string", path, *path ? "." : "", key);
  if (required && json_string_length (v) == 0)
    return error_set (err, ERR_INVALID, "%s%s%s must not be empty", path, *path ? "." : "", key);
  if (strlen (json_string_value (v)) != json_string_length (v))
    return error_set (err, ERR_INVALID, "%s%s%s contains a NUL character", path, *path ? "." : "",
                      key);
  *out = xstrdup (json_string_value (v));
  return 0;
}

static int
get_bool (json_t *obj, const char *key, const char *path, bool *out, agent_error_t *err)
{
  json_t *v = jget (obj, key);
  *out = false;
  if (jnull (v))
    return 0;
  if (!json_is_boolean (v))
    return error_set (err, ERR_INVALID, "%s.%s must be a boolean", path, key);
  *out = json_is_true (v);
  return 0;
}

static int
get_int_range (json_t *obj, const char *key, const char *path, int64_t lo, int64_t hi,
               bool required, int64_t *out, agent_error_t *err)
{
  json_t *v = jget (obj, key);
  *out = 0;
  if (jnull (v))
    {
      if (required)
        return error_set (err, ERR_INVALID, "%s.%s is required", path, key);
      return 0;
    }
  json_int_t i;
  if (json_is_integer (v))
    i = json_integer_value (v);
  else if (json_is_real (v) && json_real_value (v) == (double) (json_int_t) json_real_value (v)
           && json_real_value (v) >= -9e15 && json_real_value (v) <= 9e15)
    i = (json_int_t) json_real_value (v);
  else
    return error_set (err, ERR_INVALID, "%s.%s must be an integer", path, key);
  if (i < lo || i > hi)
    return error_set (err, ERR_INVALID, "%s.%s must be in %" PRId64 "..%" PRId64 " (got %" PRId64 ")",
                      path, key, lo, hi, (int64_t) i);
  *out = i;
  return 0;
}

/* Array of strings or null -> NULL-terminated vector (NULL if absent). */
static int
get_strv (json_t *obj, const char *key, const char *path, char ***out, agent_error_t *err)
{
  json_t *v = jget (obj, key);
  *out = NULL;
  if (jnull (v))
    return 0;
  if (!json_is_array (v))
    return error_set (err, ERR_INVALID, "%s.%s must be an array of strings", path, key);
  size_t n = json_array_size (v);
  char **r = xcalloc (n + 1, sizeof *r);
  for (size_t i = 0; i < n; i++)
    {
      json_t *s = json_array_get (v, i);
      if (!json_is_string (s) || strlen (json_string_value (s)) != json_string_length (s))
        {
          strv_free (r);
          return error_set (err, ERR_INVALID, "%s.%s[%zu] must be a string", path, key, i);
        }
      r[i] = xstrdup (json_string_value (s));
    }
  *out = r;
  return 0;
}

/* ---- time ----------------------------------------------------------------- */

int
engine_time_parse (const char *s, int64_t *ns)
{
  int Y, M, D, h, m, sec, n = 0;
  *ns = 0;
  if (!s || sscanf (s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &Y, &M, &D, &h, &m, &sec, &n) != 6 || n != 19)
    return -1;
  const char *p = s + n;
  int64_t frac = 0;
  if (*p == '.')
    {
      p++;
      int digits = 0;
      while (isdigit ((unsigned char) *p))
        {
          if (digits < 9)
            frac = frac * 10 + (*p - '0');
          digits++;
          p++;
        }
      if (digits == 0)
        return -1;
      for (; digits < 9; digits++)
        frac *= 10;
    }
  int64_t off = 0;
  if (*p == 'Z' || *p == 'z')
    p++;
  else if (*p == '+' || *p == '-')
    {
      int oh, om, k = 0;
      if (sscanf (p + 1, "%2d:%2d%n", &oh, &om, &k) != 2 || k != 5)
        return -1;
      off = (int64_t) (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
      p += 6;
    }
  else
    return -1;
  if (*p != '\0' || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
    return -1;
  if (Y <= 1)
    return 0; /* Go zero time */
  if (Y > 9999 || h < 0 || m < 0 || sec < 0)
    return -1; /* keeps the nanosecond product in range */
  struct tm tm = { 0 };
  tm.tm_year = Y - 1900;
  tm.tm_mon = M - 1;
  tm.tm_mday = D;
  tm.tm_hour = h;
  tm.tm_min = m;
  tm.tm_sec = sec;
  time_t t = timegm (&tm);
  int64_t secs = (int64_t) t - off, v;
  /* unix ns in int64 covers 1677-09-21 .. 2262-04-11; anything else is refused */
  if (__builtin_mul_overflow (secs, (int64_t) 1000000000, &v) || __builtin_add_overflow (v, frac, &v))
    return -1;
  *ns = v;
  return 0;
}

void
engine_time_format (int64_t ns, char *buf, size_t len)
{
  if (ns <= 0)
    {
      snprintf (buf, len, "0001-01-01T00:00:00Z");
      return;
    }
  time_t t = (time_t) (ns / 1000000000LL);
  struct tm tm;
  gmtime_r (&t, &tm);
  char base[32];
  strftime (base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf (buf, len, "%s.%09" PRId64 "Z", base, (int64_t) (ns % 1000000000LL));
}

/* ---- free ------------------------------------------------------------------ */

static void
container_clear (struct engine_container *c)
{
  free (c->name);
  free (c->image);
  strv_free (c->command);
  strv_free (c->entry_point);
  for (size_t i = 0; i < c->n_environment; i++)
    {
      free (c->environment[i].key);
      free (c->environment[i].value);
    }
  free (c->environment);
  strv_free (c->links);
  free (c->port_mappings);
  for (size_t i = 0; i < c->n_mount_points; i++)
    {
      free (c->mount_points[i].source_volume);
      free (c->mount_points[i].container_path);
    }
  free (c->mount_points);
  for (size_t i = 0; i < c->n_volumes_from; i++)
    free (c->volumes_from[i].source_container);
  free (c->volumes_from);
  strv_free (c->override_command);
  strv_free (c->run_dependencies);
  free (c->reason);
  free (c->docker_id);
  free (c->docker_name);
  for (size_t i = 0; i < c->n_known_bindings; i++)
    free (c->known_bindings[i].bind_ip);
  free (c->known_bindings);
  memset (c, 0, sizeof *c);
}

void
engine_task_free (struct engine_task *t)
{
  if (!t)
    return;
  free (t->arn);
  free (t->family);
  free (t->version);
  for (size_t i = 0; i < t->n_containers; i++)
    container_clear (&t->containers[i]);
  free (t->containers);
  for (size_t i = 0; i < t->n_volumes; i++)
    {
      free (t->volumes[i].name);
      free (t->volumes[i].source_path);
      free (t->volumes[i].docker_name);
    }
  free (t->volumes);
  free (t->reason);
  free (t);
}

void
engine_task_freep (struct engine_task **t)
{
  engine_task_free (*t);
  *t = NULL;
}

struct engine_container *
engine_task_find_container (const struct engine_task *t, const char *name)
{
  if (!t || !name)
    return NULL;
  for (size_t i = 0; i < t->n_containers; i++)
    if (strcmp (t->containers[i].name, name) == 0)
      return &t->containers[i];
  return NULL;
}

struct engine_volume *
engine_task_find_volume (const struct engine_task *t, const char *name)
{
  if (!t || !name)
    return NULL;
  for (size_t i = 0; i < t->n_volumes; i++)
    if (strcmp (t->volumes[i].name, name) == 0)
      return &t->volumes[i];
  return NULL;
}

char **
engine_container_effective_command (const struct engine_container *c)
{
  if (c->has_override_command && c->override_command)
    return c->override_command;
  return c->command;
}

/* ---- shared pieces of both parsers --------------------------------------- */

static int
parse_environment (json_t *obj, const char *path, struct engine_container *c, agent_error_t *err)
{
  json_t *env = jget (obj, "environment");
  if (jnull (env))
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
    {
      size_t n = json_array_size (env);
      c->environment = xcalloc (n ? n : 1, sizeof *c->environment);
      for (size_t i = 0; i < n; i++)
        {
          json_t *e = json_array_get (env, i);
          cleanup_free char *ipath = xasprintf ("%s.environment[%zu]", path, i);
          if (!json_is_object (e))
            return error_set (err, ERR_INVALID, "%s must be an object", ipath);
          char *k = NULL, *v = NULL;
          if (get_string (e, "name", ipath, true, &k, err) < 0)
            return -ERR_INVALID;
          if (get_string (e, "value", ipath, false, &v, err) < 0)
            {
              free (k);
              return -ERR_INVALID;
            }
          c->environment[c->n_environment].key = k;
          c->environment[c->n_environment].value = v ? v : xstrdup ("");
          c->n_environment++;
          if (strchr (k, '='))
            return error_set (err, ERR_INVALID, "%s: invalid variable name \"%s\"", ipath, k);
        }
      return 0;
    }
  return error_set (err, ERR_INVALID, "%s.environment must be an object of strings", path);
}

static int
parse_protocol (json_t *obj, const char *path, enum engine_protocol *out, agent_error_t *err)
{
  json_t *p = jget (obj, "protocol");
  *out = ENGINE_PROTO_TCP;
  if (jnull (p))
    return 0;
  if (json_is_string (p) && strcasecmp (json_string_value (p), "tcp") == 0)
    return 0;
  if (json_is_string (p) && strcasecmp (json_string_value (p), "udp") == 0)
    {
      *out = ENGINE_PROTO_UDP;
      return 0;
    }
  return error_set (err, ERR_INVALID, "%s.protocol must be \"tcp\" or \"udp\"", path);
}

/* An optional array of objects at obj.key, each parsed by item_fn into a
   calloc'd array of elem_size items; *n counts the items filled so far, so
   the free function sees every partly parsed item after an error. */
typedef int (*item_parse_fn) (json_t *m, const char *ipath, void *item, agent_error_t *err);

static int
parse_object_array (json_t *obj, const char *key, const char *path, size_t elem_size, void **arr,
                    size_t *n, item_parse_fn item_fn, agent_error_t *err)
{
  json_t *a = jget (obj, key);
  if (jnull (a))
    return 0;
  if (!json_is_array (a))
    return error_set (err, ERR_INVALID, "%s.%s must be an array", path, key);
  size_t len = json_array_size (a);
  *arr = xcalloc (len ? len : 1, elem_size);
  for (size_t i = 0; i < len; i++)
    {
      json_t *m = json_array_get (a, i);
      cleanup_free char *ipath = xasprintf ("%s.%s[%zu]", path, key, i);
      if (!json_is_object (m))
        return error_set (err, ERR_INVALID, "%s must be an object", ipath);
      void *item = (char *) *arr + (*n)++ * elem_size;
      if (item_fn (m, ipath, item, err) < 0)
        return -ERR_INVALID;
    }
  return 0;
}

static int
parse_port_mapping (json_t *m, const char *ipath, void *item, agent_error_t *err)
{
  struct engine_port_mapping *p = item;
  int64_t cp, hp;
  if (get_int_range (m, "containerPort", ipath, 1, 65535, true, &cp, err) < 0
      || get_int_range (m, "hostPort", ipath, 0, 65535, false, &hp, err) < 0)
    return -ERR_INVALID;
  p->container_port = (uint16_t) cp;
  p->host_port = (uint16_t) hp;
  return parse_protocol (m, ipath, &p->protocol, err);
}

static int
parse_mount_point (json_t *m, const char *ipath, void *item, agent_error_t *err)
{
  struct engine_mount_point *p = item;
  if (get_string (m, "sourceVolume", ipath, true, &p->source_volume, err) < 0
      || get_string (m, "containerPath", ipath, true, &p->container_path, err) < 0
      || get_bool (m, "readOnly", ipath, &p->read_only, err) < 0)
    return -ERR_INVALID;
  return 0;
}

static int
parse_volume_from (json_t *m, const char *ipath, void *item, agent_error_t *err)
{
  struct engine_volume_from *p = item;
  if (get_string (m, "sourceContainer", ipath, true, &p->source_container, err) < 0
      || get_bool (m, "readOnly", ipath, &p->read_only, err) < 0)
    return -ERR_INVALID;
  return 0;
}

static int
parse_port_mappings (json_t *obj, const char *path, struct engine_container *c, agent_error_t *err)
{
  void *arr = NULL;
  int rc = parse_object_array (obj, "portMappings", path, sizeof *c->port_mappings, &arr,
                               &c->n_port_mappings, parse_port_mapping, err);
  c->port_mappings = arr; /* also on error: the free function sees the parsed items */
  return rc;
}

static int
parse_mount_points (json_t *obj, const char *path, struct engine_container *c, agent_error_t *err)
{
  void *arr = NULL;
  int rc = parse_object_array (obj, "mountPoints", path, sizeof *c->mount_points, &arr,
                               &c->n_mount_points, parse_mount_point, err);
  c->mount_points = arr; /* also on error: the free function sees the parsed items */
  return rc;
}

static int
parse_volumes_from (json_t *obj, const char *path, struct engine_container *c, agent_error_t *err)
{
  void *arr = NULL;
  int rc = parse_object_array (obj, "volumesFrom", path, sizeof *c->volumes_from, &arr,
                               &c->n_volumes_from, parse_volume_from, err);
  c->volumes_from = arr; /* also on error: the free function sees the parsed items */
  return rc;
}

static int
check_links (const char *path, struct engine_container *c, agent_error_t *err)
{
  for (size_t i = 0; c->links && c->links[i]; i++)
    {
      const char *l = c->links[i];
      const char *colon = strchr (l, ':');
      if (colon && strchr (colon + 1, ':'))
        return error_set (err, ERR_INVALID, "%s.links[%zu]: Invalid link format \"%s\"", path, i, l);
      if (*l == '\0' || l[0] == ':' || (colon && colon[1] == '\0'))
        return error_set (err, ERR_INVALID, "%s.links[%zu]: Invalid link format \"%s\"", path, i, l);
    }
  return 0;
}

/* overrides: object, or a string holding an object; only "command". */
static int
parse_overrides_value (json_t *ov, const char *path, struct engine_container *c, agent_error_t *err)
{
  json_t *parsed = NULL;
  if (jnull (ov))
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
    if (get_strv (ov, "command", opath, &cmd, err) < 0)
      {
        rc = -ERR_INVALID;
        goto out;
      }
    strv_free (c->override_command);
    c->override_command = cmd;
    c->has_override_command = cmd != NULL;
  }
out:
  if (parsed)
    json_decref (parsed);
  return rc;
}

/* The parts of a container common to ACS and checkpoint forms. */
static int
parse_container_common (json_t *obj, const char *path, struct engine_container *c,
                        agent_error_t *err)
{
  int64_t cpu, mem;
  if (get_string (obj, "name", path, true, &c->name, err) < 0
      || get_string (obj, "image", path, false, &c->image, err) < 0
      || get_strv (obj, "command", path, &c->command, err) < 0
      || get_strv (obj, "entryPoint", path, &c->entry_point, err) < 0
      || get_int_range (obj, "cpu", path, 0, UINT32_MAX, false, &cpu, err) < 0
      || get_int_range (obj, "memory", path, 0, UINT32_MAX, false, &mem, err) < 0
      || get_bool (obj, "essential", path, &c->essential, err) < 0
      || get_strv (obj, "links", path, &c->links, err) < 0 || check_links (path, c, err) < 0
      || parse_environment (obj, path, c, err) < 0 || parse_port_mappings (obj, path, c, err) < 0
      || parse_mount_points (obj, path, c, err) < 0 || parse_volumes_from (obj, path, c, err) < 0
      || parse_overrides_value (jget (obj, "overrides"), path, c, err) < 0)
    return -ERR_INVALID;
  c->cpu = (uint32_t) cpu;
  c->memory = (uint32_t) mem;
  return 0;
}

static int
parse_volumes (json_t *obj, struct engine_task *t, bool checkpoint, agent_error_t *err)
{
  json_t *vols = jget (obj, "volumes");
  if (jnull (vols))
    return 0;
  if (!json_is_array (vols))
    return error_set (err, ERR_INVALID, "volumes must be an array");
  size_t n = json_array_size (vols);
  t->volumes = xcalloc (n ? n : 1, sizeof *t->volumes);
  for (size_t i = 0; i < n; i++)
    {
      json_t *v = json_array_get (vols, i);
      cleanup_free char *path = xasprintf ("volumes[%zu]", i);
      if (!json_is_object (v))
        return error_set (err, ERR_INVALID, "%s must be an object", path);
      struct engine_volume *vol = &t->volumes[t->n_volumes++];
      if (get_string (v, "name", path, true, &vol->name, err) < 0)
        return -ERR_INVALID;
      for (size_t j = 0; j + 1 < t->n_volumes; j++)
        if (strcmp (t->volumes[j].name, vol->name) == 0)
          return error_set (err, ERR_INVALID, "%s: duplicate volume name \"%s\"", path, vol->name);
      json_t *type = jget (v, "type");
      if (!jnull (type) && !(json_is_string (type) && strcasecmp (json_string_value (type), "host") == 0))
        return error_set (err, ERR_INVALID, "%s (%s): unsupported volume type %s%s%s", path, vol->name,
                          json_is_string (type) ? "\"" : "",
                          json_is_string (type) ? json_string_value (type) : "(not a string)",
                          json_is_string (type) ? "\"" : "");
      json_t *host = jget (v, "host");
      if (!json_is_object (host))
        return error_set (err, ERR_INVALID, "%s (%s): unrecognized volume type: no \"host\" object",
                          path, vol->name);
      char *sp = NULL;
      cleanup_free char *hpath = xasprintf ("%s.host", path);
      if (get_string (host, "sourcePath", hpath, false, &sp, err) < 0)
        return -ERR_INVALID;
      if (sp && *sp)
        vol->source_path = sp;
      else
        free (sp);
      if (checkpoint)
        {
          if (get_string (v, "DockerName", path, false, &vol->docker_name, err) < 0
              || get_bool (v, "Created", path, &vol->created, err) < 0)
            return -ERR_INVALID;
        }
    }
  return 0;
}

static int
check_task_refs (struct engine_task *t, agent_error_t *err)
{
  for (size_t i = 0; i < t->n_containers; i++)
    {
      struct engine_container *c = &t->containers[i];
      for (size_t j = 0; j < i; j++)
        if (strcmp (t->containers[j].name, c->name) == 0)
          return error_set (err, ERR_INVALID, "duplicate container name \"%s\"", c->name);
      for (size_t m = 0; m < c->n_mount_points; m++)
        if (!engine_task_find_volume (t, c->mount_points[m].source_volume))
          return error_set (err, ERR_INVALID,
                            "container %s: mount point references unknown volume \"%s\"", c->name,
                            c->mount_points[m].source_volume);
    }
  return 0;
}

/* ---- ACS form ----------------------------------------------------------------- */

int
engine_task_from_acs_json (json_t *j, struct engine_task **out, agent_error_t *err)
{
  *out = NULL;
  if (!json_is_object (j))
    return error_set (err, ERR_INVALID, "task must be a JSON object");
  cleanup_task struct engine_task *t = xcalloc (1, sizeof *t);
  char *ds = NULL;
  if (get_string (j, "arn", "", true, &t->arn, err) < 0
      || get_string (j, "family", "", false, &t->family, err) < 0
      || get_string (j, "version", "", false, &t->version, err) < 0
      || get_string (j, "desiredStatus", "", false, &ds, err) < 0)
    return -ERR_INVALID;
  if (!t->family)
    t->family = xstrdup ("");
  if (!t->version)
    t->version = xstrdup ("");
  int rc = engine_status_parse (ds, &t->desired_status, err);
  free (ds);
  if (rc < 0)
    return error_wrap (err, "task %s: desiredStatus", t->arn);
  if (t->desired_status == ENGINE_STATUS_PULLED)
    t->desired_status = ENGINE_STATUS_NONE;
  if (parse_volumes (j, t, false, err) < 0)
    return error_wrap (err, "task %s", t->arn);
  json_t *cs = jget (j, "containers");
  if (!jnull (cs) && !json_is_array (cs))
    return error_set (err, ERR_INVALID, "task %s: containers must be an array", t->arn);
  size_t n = json_array_size (cs);
  t->containers = xcalloc (n ? n : 1, sizeof *t->containers);
  for (size_t i = 0; i < n; i++)
    {
      json_t *cj = json_array_get (cs, i);
      cleanup_free char *path = xasprintf ("containers[%zu]", i);
      if (!json_is_object (cj))
        return error_set (err, ERR_INVALID, "task %s: %s must be an object", t->arn, path);
      struct engine_container *c = &t->containers[t->n_containers++];
      if (parse_container_common (cj, path, c, err) < 0)
        return error_wrap (err, "task %s", t->arn);
      if (!c->image || !*c->image)
        return error_set (err, ERR_INVALID, "task %s: %s.image is required", t->arn, path);
    }
  if (check_task_refs (t, err) < 0)
    return error_wrap (err, "task %s", t->arn);
  *out = t;
  t = NULL;
  return 0;
}

/* ---- checkpoint form --------------------------------------------------------- */

static void
set_strv (json_t *o, const char *key, char *const *v)
{
  if (!v)
    {
      json_object_set_new (o, key, json_null ());
      return;
    }
  json_t *a = json_array ();
  for (size_t i = 0; v[i]; i++)
    json_array_append_new (a, json_string (v[i]));
  json_object_set_new (o, key, a);
}

static json_t *
container_to_json (const struct engine_container *c)
{
  json_t *o = json_object ();
  json_object_set_new (o, "Name", json_string (c->name));
  json_object_set_new (o, "Image", c->image ? json_string (c->image) : json_null ());
  set_strv (o, "Command", c->command);
  json_object_set_new (o, "Cpu", json_integer (c->cpu));
  json_object_set_new (o, "Memory", json_integer (c->memory));
  set_strv (o, "Links", c->links);
  json_t *vf = json_array ();
  for (size_t i = 0; i < c->n_volumes_from; i++)
    json_array_append_new (vf, json_pack ("{s:s,s:b}", "sourceContainer",
                                          c->volumes_from[i].source_container, "readOnly",
                                          c->volumes_from[i].read_only));
  json_object_set_new (o, "volumesFrom", vf);
  json_t *mp = json_array ();
  for (size_t i = 0; i < c->n_mount_points; i++)
    json_array_append_new (mp, json_pack ("{s:s,s:s,s:b}", "sourceVolume",
                                          c->mount_points[i].source_volume, "containerPath",
                                          c->mount_points[i].container_path, "readOnly",
                                          c->mount_points[i].read_only));
  json_object_set_new (o, "mountPoints", mp);
  json_t *pm = json_array ();
  for (size_t i = 0; i < c->n_port_mappings; i++)
    json_array_append_new (pm, json_pack ("{s:i,s:i,s:s}", "ContainerPort",
                                          c->port_mappings[i].container_port, "HostPort",
                                          c->port_mappings[i].host_port, "Protocol",
                                          engine_protocol_str (c->port_mappings[i].protocol)));
  json_object_set_new (o, "portMappings", pm);
  json_object_set_new (o, "Essential", json_boolean (c->essential));
  set_strv (o, "EntryPoint", c->entry_point);
  json_t *env = json_object ();
  for (size_t i = 0; i < c->n_environment; i++)
    json_object_set_new (env, c->environment[i].key, json_string (c->environment[i].value));
  json_object_set_new (o, "environment", env);
  json_t *ov = json_object ();
  set_strv (ov, "command", c->has_override_command ? c->override_command : NULL);
  json_object_set_new (o, "overrides", ov);
  json_object_set_new (o, "desiredStatus", json_string (engine_container_status_str (c->desired_status)));
  json_object_set_new (o, "KnownStatus", json_string (engine_container_status_str (c->known_status)));
  json_object_set_new (o, "SentStatus", json_string (engine_container_status_str (c->sent_status)));
  set_strv (o, "RunDependencies", c->run_dependencies);
  json_object_set_new (o, "IsInternal", json_boolean (c->is_internal));
  json_object_set_new (o, "Reason", c->reason ? json_string (c->reason) : json_null ());
  json_object_set_new (o, "KnownExitCode", c->has_exit_code ? json_integer (c->exit_code) : json_null ());
  json_t *kb = json_array ();
  for (size_t i = 0; i < c->n_known_bindings; i++)
    json_array_append_new (kb, json_pack ("{s:i,s:i,s:s,s:s}", "ContainerPort",
                                          c->known_bindings[i].container_port, "HostPort",
                                          c->known_bindings[i].host_port, "BindIp",
                                          c->known_bindings[i].bind_ip ? c->known_bindings[i].bind_ip : "",
                                          "Protocol",
                                          engine_protocol_str (c->known_bindings[i].protocol)));
  json_object_set_new (o, "KnownPortBindings", kb);
  json_object_set_new (o, "DockerId", c->docker_id ? json_string (c->docker_id) : json_null ());
  json_object_set_new (o, "DockerName", c->docker_name ? json_string (c->docker_name) : json_null ());
  json_object_set_new (o, "Restopped", json_boolean (c->restopped));
  return o;
}

json_t *
engine_task_to_json (const struct engine_task *t)
{
  json_t *o = json_object ();
  json_object_set_new (o, "Arn", json_string (t->arn));
  json_object_set_new (o, "Family", json_string (t->family ? t->family : ""));
  json_object_set_new (o, "Version", json_string (t->version ? t->version : ""));
  json_t *cs = json_array ();
  for (size_t i = 0; i < t->n_containers; i++)
    json_array_append_new (cs, container_to_json (&t->containers[i]));
  json_object_set_new (o, "Containers", cs);
  json_t *vs = json_array ();
  for (size_t i = 0; i < t->n_volumes; i++)
    {
      const struct engine_volume *v = &t->volumes[i];
      json_t *host = json_object ();
      if (v->source_path)
        json_object_set_new (host, "sourcePath", json_string (v->source_path));
      json_t *vj = json_pack ("{s:s,s:o}", "name", v->name, "host", host);
      if (v->docker_name)
        json_object_set_new (vj, "DockerName", json_string (v->docker_name));
      json_object_set_new (vj, "Created", json_boolean (v->created));
      json_array_append_new (vs, vj);
    }
  json_object_set_new (o, "volumes", vs);
  json_object_set_new (o, "DesiredStatus", json_string (engine_task_status_str (t->desired_status)));
  json_object_set_new (o, "KnownStatus", json_string (engine_task_status_str (t->known_status)));
  char tb[48];
  engine_time_format (t->known_time_ns, tb, sizeof tb);
  json_object_set_new (o, "KnownTime", json_string (tb));
  json_object_set_new (o, "SentStatus", json_string (engine_task_status_str (t->sent_status)));
  json_object_set_new (o, "StartSequenceNumber", json_integer (t->start_seq));
  json_object_set_new (o, "StopSequenceNumber", json_integer (t->stop_seq));
  json_object_set_new (o, "Reason", t->reason ? json_string (t->reason) : json_null ());
  return o;
}

static int
get_status (json_t *obj, const char *key, const char *path, enum engine_status *out,
            agent_error_t *err)
{
  cleanup_free char *s = NULL;
  if (get_string (obj, key, path, false, &s, err) < 0)
    return -ERR_INVALID;
  if (engine_status_parse (s, out, err) < 0)
    return error_wrap (err, "%s.%s", path, key);
  return 0;
}

static char *
trim_dup (const char *s)
{
  size_t n = strlen (s);
  while (n > 0 && isspace ((unsigned char) s[n - 1]))
    n--;
  return xstrndup (s, n);
}

static int
parse_checkpoint_container (json_t *cj, const char *path, struct engine_container *c,
                            agent_error_t *err)
{
  if (parse_container_common (cj, path, c, err) < 0)
    return -ERR_INVALID;
  if (get_status (cj, "desiredStatus", path, &c->desired_status, err) < 0
      || get_status (cj, "KnownStatus", path, &c->known_status, err) < 0
      || get_status (cj, "SentStatus", path, &c->sent_status, err) < 0
      || get_strv (cj, "RunDependencies", path, &c->run_dependencies, err) < 0
      || get_string (cj, "DockerId", path, false, &c->docker_id, err) < 0
      || get_string (cj, "DockerName", path, false, &c->docker_name, err) < 0
      || get_bool (cj, "Restopped", path, &c->restopped, err) < 0)
    return -ERR_INVALID;
  json_t *internal = jget (cj, "IsInternal");
  if (json_is_boolean (internal))
    c->is_internal = json_is_true (internal);
  else if (json_is_string (internal)) /* later agents: "NORMAL" / "EMPTY_HOST_VOLUME" ... */
    c->is_internal = strcasecmp (json_string_value (internal), "NORMAL") != 0;
  else if (!jnull (internal))
    return error_set (err, ERR_INVALID, "%s.IsInternal must be a boolean", path);
  /* Reason (ours) or ApplyingError {"name","error"} (upstream). */
  json_t *reason = jget (cj, "Reason");
  if (json_is_string (reason))
    c->reason = xstrdup (json_string_value (reason));
  else if (!jnull (reason))
    return error_set (err, ERR_INVALID, "%s.Reason must be a string", path);
  else
    {
      json_t *ae = jget (cj, "ApplyingError");
      if (json_is_object (ae))
        {
          json_t *name = jget (ae, "name"), *msg = jget (ae, "error");
          if ((!jnull (name) && !json_is_string (name)) || (!jnull (msg) && !json_is_string (msg)))
            return error_set (err, ERR_INVALID, "%s.ApplyingError: name and error must be strings", path);
          cleanup_free char *m = trim_dup (json_is_string (msg) ? json_string_value (msg) : "");
          const char *nm = json_is_string (name) && json_string_length (name) ? json_string_value (name)
                                                                             : "UnknownError";
          c->reason = xasprintf ("%s: %s", nm, m);
        }
      else if (!jnull (ae))
        return error_set (err, ERR_INVALID, "%s.ApplyingError must be an object", path);
    }
  json_t *ec = jget (cj, "KnownExitCode");
  if (json_is_integer (ec))
    {
      json_int_t v = json_integer_value (ec);
      if (v < INT32_MIN || v > INT32_MAX)
        return error_set (err, ERR_INVALID, "%s.KnownExitCode out of range", path);
      c->has_exit_code = true;
      c->exit_code = (int) v;
    }
  else if (!jnull (ec))
    return error_set (err, ERR_INVALID, "%s.KnownExitCode must be an integer or null", path);
  json_t *kb = jget (cj, "KnownPortBindings");
  if (jnull (kb))
    kb = jget (cj, "KnownPortBindingsUnsafe");
  if (!jnull (kb))
    {
      if (!json_is_array (kb))
        return error_set (err, ERR_INVALID, "%s.KnownPortBindings must be an array", path);
      size_t n = json_array_size (kb);
      c->known_bindings = xcalloc (n ? n : 1, sizeof *c->known_bindings);
      for (size_t i = 0; i < n; i++)
        {
          json_t *b = json_array_get (kb, i);
          cleanup_free char *bpath = xasprintf ("%s.KnownPortBindings[%zu]", path, i);
          if (!json_is_object (b))
            return error_set (err, ERR_INVALID, "%s must be an object", bpath);
          struct engine_port_binding *pb = &c->known_bindings[c->n_known_bindings++];
          int64_t cp, hp;
          if (get_int_range (b, "ContainerPort", bpath, 0, 65535, false, &cp, err) < 0
              || get_int_range (b, "HostPort", bpath, 0, 65535, false, &hp, err) < 0
              || get_string (b, "BindIp", bpath, false, &pb->bind_ip, err) < 0
              || parse_protocol (b, bpath, &pb->protocol, err) < 0)
            return -ERR_INVALID;
          pb->container_port = (uint16_t) cp;
          pb->host_port = (uint16_t) hp;
        }
    }
  if (c->docker_id && !*c->docker_id)
    {
      free (c->docker_id);
      c->docker_id = NULL;
    }
  if (c->docker_name && !*c->docker_name)
    {
      free (c->docker_name);
      c->docker_name = NULL;
    }
  return 0;
}

int
engine_task_from_json (json_t *j, struct engine_task **out, agent_error_t *err)
{
  *out = NULL;
  if (!json_is_object (j))
    return error_set (err, ERR_INVALID, "task must be a JSON object");
  cleanup_task struct engine_task *t = xcalloc (1, sizeof *t);
  if (get_string (j, "Arn", "task", true, &t->arn, err) < 0
      || get_string (j, "Family", "task", false, &t->family, err) < 0
      || get_string (j, "Version", "task", false, &t->version, err) < 0)
    return -ERR_INVALID;
  if (!t->family)
    t->family = xstrdup ("");
  if (!t->version)
    t->version = xstrdup ("");
  cleanup_free char *kt = NULL;
  int64_t ss, sts;
  if (get_status (j, "DesiredStatus", "task", &t->desired_status, err) < 0
      || get_status (j, "KnownStatus", "task", &t->known_status, err) < 0
      || get_status (j, "SentStatus", "task", &t->sent_status, err) < 0
      || get_string (j, "KnownTime", "task", false, &kt, err) < 0
      || get_int_range (j, "StartSequenceNumber", "task", 0, INT64_MAX, false, &ss, err) < 0
      || get_int_range (j, "StopSequenceNumber", "task", 0, INT64_MAX, false, &sts, err) < 0
      || get_string (j, "Reason", "task", false, &t->reason, err) < 0)
    return error_wrap (err, "task %s", t->arn);
  t->start_seq = ss;
  t->stop_seq = sts;
  if (kt && engine_time_parse (kt, &t->known_time_ns) < 0)
    return error_set (err, ERR_INVALID, "task %s: KnownTime \"%s\" is not an RFC 3339 time", t->arn, kt);
  if (parse_volumes (j, t, true, err) < 0)
    return error_wrap (err, "task %s", t->arn);
  json_t *cs = jget (j, "Containers");
  if (!jnull (cs) && !json_is_array (cs))
    return error_set (err, ERR_INVALID, "task %s: Containers must be an array", t->arn);
  size_t n = json_array_size (cs);
  t->containers = xcalloc (n ? n : 1, sizeof *t->containers);
  for (size_t i = 0; i < n; i++)
    {
      json_t *cj = json_array_get (cs, i);
      cleanup_free char *path = xasprintf ("Containers[%zu]", i);
      if (!json_is_object (cj))
        return error_set (err, ERR_INVALID, "task %s: %s must be an object", t->arn, path);
      struct engine_container *c = &t->containers[t->n_containers++];
      if (parse_checkpoint_container (cj, path, c, err) < 0)
        return error_wrap (err, "task %s", t->arn);
    }
  if (check_task_refs (t, err) < 0)
    return error_wrap (err, "task %s", t->arn);
  *out = t;
  t = NULL;
  return 0;
}

int
engine_tasks_from_json (json_t *te, struct engine_task ***tasks_out, size_t *n_out,
                        agent_error_t *err)
{
  *tasks_out = NULL;
  *n_out = 0;
  if (jnull (te))
    return 0;
  if (!json_is_object (te))
    return error_set (err, ERR_INVALID, "TaskEngine must be an object");
  json_t *ts = jget (te, "Tasks");
  if (!jnull (ts) && !json_is_array (ts))
    return error_set (err, ERR_INVALID, "TaskEngine.Tasks must be an array");
  size_t n = json_array_size (ts);
  struct engine_task **tasks = xcalloc (n + 1, sizeof *tasks);
  size_t got = 0;
  int rc = 0;
  for (size_t i = 0; i < n; i++)
    {
      if ((rc = engine_task_from_json (json_array_get (ts, i), &tasks[got], err)) < 0)
        {
          error_wrap (err, "TaskEngine.Tasks[%zu]", i);
          goto fail;
        }
      for (size_t k = 0; k < got; k++)
        if (strcmp (tasks[k]->arn, tasks[got]->arn) == 0)
          {
            rc = error_set (err, ERR_INVALID, "TaskEngine.Tasks[%zu]: duplicate task %s", i,
                            tasks[got]->arn);
            got++;
            goto fail;
          }
      got++;
    }
  /* Upstream: docker ids live in IdToContainer / IdToTask. */
  json_t *itc = jget (te, "IdToContainer");
  json_t *itt = jget (te, "IdToTask");
  if (!jnull (itc) && !json_is_object (itc))
    {
      rc = error_set (err, ERR_INVALID, "TaskEngine.IdToContainer must be an object");
      goto fail;
    }
  if (!jnull (itt) && !json_is_object (itt))
    {
      rc = error_set (err, ERR_INVALID, "TaskEngine.IdToTask must be an object");
      goto fail;
    }
  const char *id;
  json_t *entry;
  json_object_foreach (itc, id, entry)
  {
    json_t *arnj = json_object_get (itt, id);
    if (!json_is_string (arnj))
      {
        rc = error_set (err, ERR_INVALID, "TaskEngine.IdToContainer: docker id %s has no task in IdToTask", id);
        goto fail;
      }
    struct engine_task *t = NULL;
    for (size_t k = 0; k < got; k++)
      if (strcmp (tasks[k]->arn, json_string_value (arnj)) == 0)
        t = tasks[k];
    if (!t)
      {
        rc = error_set (err, ERR_INVALID, "TaskEngine.IdToTask: docker id %s names task %s, which is not in Tasks",
                        id, json_string_value (arnj));
        goto fail;
      }
    json_t *cj = jget (entry, "Container");
    json_t *nm = jget (cj, "Name");
    struct engine_container *c = json_is_string (nm) ? engine_task_find_container (t, json_string_value (nm)) : NULL;
    if (!c)
      {
        rc = error_set (err, ERR_INVALID, "TaskEngine.IdToContainer: docker id %s names a container not in task %s",
                        id, t->arn);
        goto fail;
      }
    json_t *did = jget (entry, "DockerId"), *dn = jget (entry, "DockerName");
    if ((!jnull (did) && !json_is_string (did)) || (!jnull (dn) && !json_is_string (dn)))
      {
        rc = error_set (err, ERR_INVALID, "TaskEngine.IdToContainer.%s: DockerId/DockerName must be strings", id);
        goto fail;
      }
    free (c->docker_id);
    c->docker_id = xstrdup (json_is_string (did) && json_string_length (did) ? json_string_value (did) : id);
    if (json_is_string (dn) && json_string_length (dn))
      {
        free (c->docker_name);
        c->docker_name = xstrdup (json_string_value (dn));
      }
  }
  json_object_foreach (itt, id, entry)
  {
    if (!json_is_string (entry))
      {
        rc = error_set (err, ERR_INVALID, "TaskEngine.IdToTask.%s must be a string", id);
        goto fail;
      }
  }
  *tasks_out = tasks;
  *n_out = got;
  return 0;
fail:
  for (size_t k = 0; k < got; k++)
    engine_task_free (tasks[k]);
  free (tasks);
  return rc < 0 ? rc : -ERR_INVALID;
}

char **
engine_strv_dup (char *const *v)
{
  return strv_dup (v);
}

void
engine_strv_free (char **v)
{
  strv_free (v);
}
