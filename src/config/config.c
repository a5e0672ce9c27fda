#include "config/config.h"
#include "config/config_int.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONFIG_DEFAULT_FILE "/etc/ecs_container_agent/config.json"

static const int config_default_ports[] = { 22, 2375, 2376, 51678, 51679 };

/* Trimmed copy, or NULL when s is NULL or only whitespace. */
static char *
config_trim_dup (const char *s)
{
  if (s == NULL)
    return NULL;
  while (isspace ((unsigned char) *s))
    s++;
  size_t n = strlen (s);
  while (n > 0 && isspace ((unsigned char) s[n - 1]))
    n--;
  if (n == 0)
    return NULL;
  return xstrndup (s, n);
}

int
config_parse_bool (const char *s, bool *out, agent_error_t *err)
{
  cleanup_free char *t = config_trim_dup (s);
  static const char *const yes[] = { "1", "t", "T", "TRUE", "true", "True" };
  static const char *const no[] = { "0", "f", "F", "FALSE", "false", "False" };
  for (size_t i = 0; t && i < ARRAY_SIZE (yes); i++)
    {
      if (strcmp (t, yes[i]) == 0)
        return *out = true, 0;
      if (strcmp (t, no[i]) == 0)
        return *out = false, 0;
    }
  return error_set (err, ERR_INVALID, "\"%s\" is not a boolean (true/false/1/0)", s ? s : "");
}

int
config_parse_duration (const char *s, uint64_t *ms, agent_error_t *err)
{
  cleanup_free char *t = config_trim_dup (s);
  if (t == NULL)
    return error_set (err, ERR_INVALID, "empty duration");
  if (strcmp (t, "0") == 0)
    return *ms = 0, 0;
  const char *p = t;
  double total = 0;
  while (*p)
    {
      char *end;
      errno = 0;
      if (!isdigit ((unsigned char) *p) && *p != '.')
        return error_set (err, ERR_INVALID, "\"%s\" is not a duration (e.g. 3h, 1m30s, 500ms)", s);
      double v = strtod (p, &end);
      if (end == p || errno)
        return error_set (err, ERR_INVALID, "\"%s\" is not a duration (e.g. 3h, 1m30s, 500ms)", s);
      p = end;
      double mult;
      if (strncmp (p, "ms", 2) == 0)
        mult = 1, p += 2;
      else if (strncmp (p, "us", 2) == 0)
        mult = 0.001, p += 2;
      else if (strncmp (p, "ns", 2) == 0)
        mult = 0.000001, p += 2;
      else if (*p == 'h')
        mult = 3600000, p++;
      else if (*p == 'm')
        mult = 60000, p++;
      else if (*p == 's')
        mult = 1000, p++;
      else
        return error_set (err, ERR_INVALID, "\"%s\" is not a duration: missing unit (h, m, s, ms)",
                          s);
      total += v * mult;
      /* Go's limit: a time.Duration is int64 nanoseconds (~292 years) */
      if (!(total <= 9223372036854.0))
        return error_set (err, ERR_INVALID, "\"%s\" is not a duration: out of range", s);
    }
  *ms = (uint64_t) total;
  return 0;
}

uint64_t
config_polling_metrics_wait (const char *value, bool poll_metrics, char **warning)
{
  static const char key[] = "ECS_POLLING_METRICS_WAIT_DURATION";
  uint64_t ms = 0;
  *warning = NULL;
  cleanup_free char *t = value ? config_trim_dup (value) : NULL;
  if (t && *t)
    {
      agent_error_t err = NULL;
      if (config_parse_duration (t, &ms, &err) < 0)
        {
          *warning = xasprintf ("Could not parse duration value: %s for Environment Variable %s: "
                                "%s; using 10s", t, key, error_msg (&err));
          ms = 0;
        }
      error_free (&err);
    }
  if (ms == 0) /* unset, "0" or unparsable: upstream's default */
    return CONFIG_POLLING_METRICS_WAIT_DEFAULT_MS;
  if (!poll_metrics) /* upstream clamps only when polling */
    return ms;
  uint64_t clamped = ms < CONFIG_POLLING_METRICS_WAIT_MIN_MS   ? CONFIG_POLLING_METRICS_WAIT_MIN_MS
                     : ms > CONFIG_POLLING_METRICS_WAIT_MAX_MS ? CONFIG_POLLING_METRICS_WAIT_MAX_MS
                                                               : ms;
  if (clamped != ms)
    *warning = xasprintf ("%s parsed value (%s) is %s of %llus. Setting polling interval to %s.",
                          key, t, ms < clamped ? "less than the minimum" : "greater than the maximum",
                          (unsigned long long) clamped / 1000, ms < clamped ? "minimum" : "maximum");
  return clamped;
}

static int
config_parse_ports (const char *key, const char *s, int **out, size_t *n, agent_error_t *err)
{
  json_error_t jerr;
  json_t *arr = json_loads (s, JSON_DECODE_ANY, &jerr);
  if (arr == NULL || !json_is_array (arr))
    {
      json_decref (arr);
      return error_set (err, ERR_TERMINAL, "%s: invalid value %s: expected a JSON array of ports, e.g. [22, 80]", key, s);
    }
  size_t len = json_array_size (arr);
  int *ports = xcalloc (len ? len : 1, sizeof *ports);
  for (size_t i = 0; i < len; i++)
    {
      json_t *v = json_array_get (arr, i);
      if (!json_is_integer (v) || json_integer_value (v) < 0 || json_integer_value (v) > 65535)
        {
          free (ports);
          json_decref (arr);
          return error_set (err, ERR_TERMINAL, "%s: invalid value %s: element %zu is not a port number (0-65535)", key, s, i);
        }
      ports[i] = (int) json_integer_value (v);
    }
  json_decref (arr);
  free (*out);
  *out = ports;
  *n = len;
  return 0;
}

static int
config_parse_kv (const char *key, const char *s, struct config_kv **out, size_t *n_out,
                 agent_error_t *err)
{
  json_error_t jerr;
  json_t *obj = json_loads (s, JSON_DECODE_ANY, &jerr);
  if (obj == NULL || !json_is_object (obj))
    {
      json_decref (obj);
      return error_set (err, ERR_TERMINAL, "%s: invalid value: expected a JSON object of strings, e.g. {\"stack\":\"prod\"}", key);
    }
  const char *k;
  json_t *v;
  size_t n = json_object_size (obj), i = 0;
  struct config_kv *kv = xcalloc (n ? n : 1, sizeof *kv);
  json_object_foreach (obj, k, v)
  {
    if (!json_is_string (v))
      {
        for (size_t j = 0; j < i; j++)
          free (kv[j].key), free (kv[j].value);
        free (kv);
        /* k points into obj: format the message before releasing it */
        error_set (err, ERR_TERMINAL, "%s: invalid value: attribute \"%s\" is not a string", key, k);
        json_decref (obj);
        return -1;
      }
    kv[i].key = xstrdup (k);
    kv[i].value = xstrdup (json_string_value (v));
    i++;
  }
  json_decref (obj);
  *out = kv;
  *n_out = n;
  return 0;
}

static int
config_parse_attributes (const char *key, const char *s, struct agent_config *cfg, agent_error_t *err)
{
  return config_parse_kv (key, s, &cfg->instance_attributes, &cfg->n_instance_attributes, err);
}

/* ---- the JSON file ---- */

json_t *
config_file_get (json_t *root, const char *name)
{
  const char *k;
  json_t *v;
  json_object_foreach (root, k, v)
  if (strcasecmp (k, name) == 0)
    return v;
  return NULL;
}

static int
config_file_string (json_t *root, const char *name, char **field, agent_error_t *err)
{
  json_t *v = config_file_get (root, name);
  if (v == NULL || json_is_null (v) || *field)
    return 0;
  if (!json_is_string (v))
    return error_set (err, ERR_TERMINAL, "config file key %s: expected a string", name);
  *field = config_trim_dup (json_string_value (v));
  return 0;
}

static int
config_file_bool (json_t *root, const char *name, bool *field, bool *set, agent_error_t *err)
{
  json_t *v = config_file_get (root, name);
  if (v == NULL || json_is_null (v) || *set)
    return 0;
  if (!json_is_boolean (v))
    return error_set (err, ERR_TERMINAL, "config file key %s: expected true or false", name);
  *field = json_is_true (v);
  *set = true;
  return 0;
}

static int
config_file_ports (json_t *root, const char *name, int **ports, size_t *n, bool *set,
                   agent_error_t *err)
{
  json_t *v = config_file_get (root, name);
  if (v == NULL || json_is_null (v) || *set)
    return 0;
  cleanup_free char *s = json_dumps (v, JSON_ENCODE_ANY);
  cleanup_free char *key = xasprintf ("config file key %s", name);
  if (config_parse_ports (key, s, ports, n, err) < 0)
    return -1;
  *set = true;
  return 0;
}

/* Upstream reads these three when it sets up its logger and ignores (with
   an error line) a value it cannot parse. */
static void
config_log_rollover (struct agent_config *cfg, config_getenv_fn env, void *d)
{
  cfg->log_rollover = LOG_ROLL_HOURLY;
  cfg->log_max_file_size_mb = 5;
  cfg->log_max_roll_count = 24;
  const char *v;
  struct sbuf warn = { 0 };
  if ((v = config_env (env, d, "ECS_LOG_ROLLOVER_TYPE")) && *v)
    {
      if (strcmp (v, "size") == 0)
        cfg->log_rollover = LOG_ROLL_SIZE;
      else if (strcmp (v, "hourly") != 0)
        sbuf_printf (&warn, "%sECS_LOG_ROLLOVER_TYPE: \"%s\" is neither size nor hourly, using hourly",
                     warn.len ? "; " : "", v);
    }
  if ((v = config_env (env, d, "ECS_LOG_MAX_FILE_SIZE_MB")) && *v)
    {
      char *end;
      errno = 0;
      double mb = strtod (v, &end);
      if (*end || errno || !(mb > 0) || mb > 1e6)
        sbuf_printf (&warn, "%sECS_LOG_MAX_FILE_SIZE_MB: \"%s\" is not a positive number, using 5",
                     warn.len ? "; " : "", v);
      else
        cfg->log_max_file_size_mb = mb;
    }
  if ((v = config_env (env, d, "ECS_LOG_MAX_ROLL_COUNT")) && *v)
    {
      char *end;
      errno = 0;
      long n = strtol (v, &end, 10);
      if (*end || errno || n <= 0 || n > 100000)
        sbuf_printf (&warn, "%sECS_LOG_MAX_ROLL_COUNT: \"%s\" is not a positive integer, using 24",
                     warn.len ? "; " : "", v);
      else
        cfg->log_max_roll_count = (int) n;
    }
  free (cfg->log_warning);
  cfg->log_warning = NULL;
  if (warn.len)
    cfg->log_warning = sbuf_steal (&warn);
}

struct config_set
{
  bool checkpoint, updates, ports, ports_udp, cleanup, stop_timeout, memory;
  bool health; /* any ECS_HEALTH_* bound given (unset ones stay 0: the defaults) */
  bool metrics_off, poll_metrics, spot, metadata_az_off;
};

/* *root_out: the file's object for the readers of other keys
   (config_images.c), NULL when there is no file; the caller decrefs it. */
static int
config_load_file (struct agent_config *cfg, struct config_set *set, const char *path,
                  json_t **root_out, agent_error_t *err)
{
  *root_out = NULL;
  cleanup_free char *text = NULL;
  if (util_read_file (path, &text, NULL, err) < 0)
    {
      if (error_kind (err) == ERR_NOT_FOUND)
        {
          error_free (err);
          return 0;
        }
      error_wrap (err, "config file %s", path);
      (*err)->kind = ERR_TERMINAL;
      return -1;
    }
  const char *p = text;
  while (isspace ((unsigned char) *p))
    p++;
  if (*p == '\0')
    return 0;
  json_error_t jerr;
  json_t *root = json_loads (text, 0, &jerr);
  if (root == NULL || !json_is_object (root))
    {
      json_decref (root);
      /* line and column only: jansson's text quotes the input near the
         error, which may be part of EngineAuthData */
      if (root)
        return error_set (err, ERR_TERMINAL, "config file %s: not a JSON object", path);
      return error_set (err, ERR_TERMINAL, "config file %s: invalid JSON at line %d, column %d",
                        path, jerr.line, jerr.column);
    }
  int r = 0;
  if (config_file_string (root, "Cluster", &cfg->cluster, err) < 0
      || config_file_string (root, "ClusterArn", &cfg->cluster, err) < 0
      || config_file_string (root, "APIEndpoint", &cfg->api_endpoint, err) < 0
      || config_file_string (root, "DockerEndpoint", &cfg->docker_endpoint, err) < 0
      || config_file_string (root, "AWSRegion", &cfg->aws_region, err) < 0
      || config_file_string (root, "DataDir", &cfg->data_dir, err) < 0
      || config_file_string (root, "EngineAuthType", &cfg->engine_auth_type, err) < 0
      || config_file_string (root, "UpdateDownloadDir", &cfg->update_download_dir, err) < 0
      || config_file_bool (root, "Checkpoint", &cfg->checkpoint, &set->checkpoint, err) < 0
      || config_file_bool (root, "UpdatesEnabled", &cfg->updates_enabled, &set->updates, err) < 0
      || config_file_ports (root, "ReservedPorts", &cfg->reserved_ports, &cfg->n_reserved_ports,
                            &set->ports, err) < 0
      || config_file_ports (root, "ReservedPortsUDP", &cfg->reserved_ports_udp,
                            &cfg->n_reserved_ports_udp, &set->ports_udp, err) < 0)
    r = -1;
  json_t *v = config_file_get (root, "EngineAuthData");
  if (r == 0 && v && !json_is_null (v) && cfg->engine_auth_data == NULL)
    cfg->engine_auth_data = json_is_string (v) ? xstrdup (json_string_value (v))
                                               : json_dumps (v, JSON_ENCODE_ANY | JSON_COMPACT);
  if (r == 0 && cfg->engine_auth_data)
    log_secret_add (cfg->engine_auth_data); /* from the file too: it holds credentials */
  v = config_file_get (root, "TaskCleanupWaitDuration");
  if (r == 0 && v && !set->cleanup)
    {
      if (json_is_integer (v)) /* Go serialises durations as nanoseconds */
        cfg->task_cleanup_wait_ms = (uint64_t) json_integer_value (v) / 1000000;
      else if (!json_is_string (v)
               || config_parse_duration (json_string_value (v), &cfg->task_cleanup_wait_ms, err) < 0)
        r = error_set (err, ERR_TERMINAL, "config file key TaskCleanupWaitDuration: not a duration");
      set->cleanup = r == 0;
    }
  v = config_file_get (root, "ReservedMemory");
  if (r == 0 && v && !set->memory)
    {
      if (!json_is_integer (v) || json_integer_value (v) < 0)
        r = error_set (err, ERR_TERMINAL, "config file key ReservedMemory: expected a non-negative integer (MiB)");
      else
        cfg->reserved_memory_mib = (uint64_t) json_integer_value (v), set->memory = true;
    }
  v = config_file_get (root, "InstanceAttributes");
  if (r == 0 && v && json_is_object (v) && cfg->instance_attributes == NULL)
    {
      cleanup_free char *s = json_dumps (v, JSON_COMPACT);
      r = config_parse_attributes ("config file key InstanceAttributes", s, cfg, err);
    }
  if (r == 0)
    {
      cfg->config_file = xstrdup (path);
      *root_out = root;
    }
  else
    {
      json_decref (root);
      if (error_kind (err) != ERR_TERMINAL)
        (*err)->kind = ERR_TERMINAL;
    }
  return r;
}

/* ---- environment ---- */

const char *
config_env (config_getenv_fn env, void *data, const char *name)
{
  const char *v = env (name, data);
  if (v == NULL)
    return NULL;
  for (const char *p = v; *p; p++)
    if (!isspace ((unsigned char) *p))
      return v;
  return NULL; /* empty or blank: does not override */
}

int
config_env_bool (config_getenv_fn env, void *data, const char *key, bool *field, bool *set,
                 agent_error_t *err)
{
  const char *v = config_env (env, data, key);
  if (v == NULL)
    return 0;
  if (config_parse_bool (v, field, err) < 0)
    {
      error_wrap (err, "%s", key);
      (*err)->kind = ERR_TERMINAL;
      return -1;
    }
  *set = true;
  return 0;
}

int
config_env_duration (config_getenv_fn env, void *data, const char *key, uint64_t *field,
                     bool *set, agent_error_t *err)
{
  const char *v = config_env (env, data, key);
  if (v == NULL)
    return 0;
  if (config_parse_duration (v, field, err) < 0)
    {
      error_wrap (err, "%s", key);
      (*err)->kind = ERR_TERMINAL;
      return -1;
    }
  *set = true;
  return 0;
}

static const char *
config_real_getenv (const char *name, void *data)
{
  (void) data;
  return getenv (name);
}

int
config_load_env (struct agent_config *cfg, agent_error_t *err)
{
  return config_load (cfg, config_real_getenv, NULL, err);
}

int
config_load (struct agent_config *cfg, config_getenv_fn env, void *d, agent_error_t *err)
{
  struct config_set set = { 0 };
  const char *v;
  cfg->log_level = LOG_INFO;

  cfg->cluster = config_trim_dup (config_env (env, d, "ECS_CLUSTER"));
  cfg->api_endpoint = config_trim_dup (config_env (env, d, "ECS_BACKEND_HOST"));
  cfg->docker_endpoint = config_trim_dup (config_env (env, d, "DOCKER_HOST"));
  cfg->aws_region = config_trim_dup (config_env (env, d, "AWS_DEFAULT_REGION"));
  if (cfg->aws_region == NULL)
    cfg->aws_region = config_trim_dup (config_env (env, d, "AWS_REGION"));
  cfg->data_dir = config_trim_dup (config_env (env, d, "ECS_DATADIR"));
  cfg->engine_auth_type = config_trim_dup (config_env (env, d, "ECS_ENGINE_AUTH_TYPE"));
  cfg->engine_auth_data = xstrdup (config_env (env, d, "ECS_ENGINE_AUTH_DATA"));
  cfg->update_download_dir = config_trim_dup (config_env (env, d, "ECS_UPDATE_DOWNLOAD_DIR"));
  cfg->log_file = config_trim_dup (config_env (env, d, "ECS_LOGFILE"));
  cfg->imds_endpoint = config_trim_dup (config_env (env, d, "AWS_EC2_METADATA_SERVICE_ENDPOINT"));
  cfg->cgroup_path = config_trim_dup (config_env (env, d, "ECS_CGROUP_PATH"));
  cfg->introspection_addr = config_trim_dup (config_env (env, d, "ECS_INTROSPECTION_LISTEN_ADDR"));
  cfg->access_key_id = config_trim_dup (config_env (env, d, "AWS_ACCESS_KEY_ID"));
  cfg->secret_access_key = config_trim_dup (config_env (env, d, "AWS_SECRET_ACCESS_KEY"));
  cfg->session_token = config_trim_dup (config_env (env, d, "AWS_SESSION_TOKEN"));
  log_secret_add (cfg->secret_access_key);
  log_secret_add (cfg->session_token);
  log_secret_add (cfg->engine_auth_data);

  config_log_rollover (cfg, env, d);
  if ((v = config_env (env, d, "ECS_LOGLEVEL")) && log_level_parse (v, &cfg->log_level) < 0)
    return error_set (err, ERR_TERMINAL, "ECS_LOGLEVEL: unknown log level \"%s\" (expected crit, error, warn, info or debug)", v);
  if ((v = config_env (env, d, "ECS_RESERVED_PORTS")))
    {
      if (config_parse_ports ("ECS_RESERVED_PORTS", v, &cfg->reserved_ports, &cfg->n_reserved_ports, err) < 0)
        return -1;
      set.ports = true;
    }
  if ((v = config_env (env, d, "ECS_RESERVED_PORTS_UDP")))
    {
      if (config_parse_ports ("ECS_RESERVED_PORTS_UDP", v, &cfg->reserved_ports_udp, &cfg->n_reserved_ports_udp, err) < 0)
        return -1;
      set.ports_udp = true;
    }
  if (config_env_bool (env, d, "ECS_CHECKPOINT", &cfg->checkpoint, &set.checkpoint, err) < 0
      || config_env_bool (env, d, "ECS_UPDATES_ENABLED", &cfg->updates_enabled, &set.updates, err) < 0
      || config_env_duration (env, d, "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", &cfg->task_cleanup_wait_ms, &set.cleanup, err) < 0
      || config_env_duration (env, d, "ECS_CONTAINER_STOP_TIMEOUT", &cfg->container_stop_timeout_ms, &set.stop_timeout, err) < 0
      || config_env_duration (env, d, "ECS_HEALTH_ACS_GRACE", &cfg->health_acs_grace_ms, &set.health, err) < 0
      || config_env_duration (env, d, "ECS_HEALTH_DOCKER_INTERVAL", &cfg->health_docker_interval_ms, &set.health, err) < 0
      || config_env_duration (env, d, "ECS_HEALTH_QUEUE_STALL", &cfg->health_queue_stall_ms, &set.health, err) < 0
      || config_env_bool (env, d, "ECS_DISABLE_METRICS", &cfg->disable_metrics, &set.metrics_off, err) < 0
      || config_env_bool (env, d, "ECS_DISABLE_TASK_METADATA_AZ", &cfg->disable_task_metadata_az,
                          &set.metadata_az_off, err) < 0
      || config_env_bool (env, d, "ECS_ENABLE_SPOT_INSTANCE_DRAINING", &cfg->spot_instance_draining, &set.spot, err) < 0
      || config_env_bool (env, d, "ECS_POLL_METRICS", &cfg->poll_metrics, &set.poll_metrics, err) < 0)
    return -1;
  if ((v = config_env (env, d, "ECS_RESERVED_MEMORY")))
    {
      char *end;
      errno = 0;
      long long m = strtoll (v, &end, 10);
      while (isspace ((unsigned char) *end))
        end++;
      if (errno || *end || m < 0)
        return error_set (err, ERR_TERMINAL, "ECS_RESERVED_MEMORY: \"%s\" is not a non-negative integer (MiB)", v);
      cfg->reserved_memory_mib = (uint64_t) m;
      set.memory = true;
    }
  /* upstream's bounds of one docker start / create call (+ its inspect) */
  bool set_start = false, set_create = false;
  if (config_env_duration (env, d, "ECS_CONTAINER_START_TIMEOUT", &cfg->container_start_timeout_ms, &set_start, err) < 0
      || config_env_duration (env, d, "ECS_CONTAINER_CREATE_TIMEOUT", &cfg->container_create_timeout_ms, &set_create, err) < 0)
    return -1;
  if (!set_start || cfg->container_start_timeout_ms == 0)
    cfg->container_start_timeout_ms = 3 * 60000;
  else if (cfg->container_start_timeout_ms < 45000)
    cfg->container_start_timeout_ms = 45000;
  if (!set_create || cfg->container_create_timeout_ms == 0)
    cfg->container_create_timeout_ms = 4 * 60000;
  else if (cfg->container_create_timeout_ms < 60000)
    cfg->container_create_timeout_ms = 60000;
  if ((v = config_env (env, d, "ECS_INSTANCE_ATTRIBUTES"))
      && config_parse_attributes ("ECS_INSTANCE_ATTRIBUTES", v, cfg, err) < 0)
    return -1;
  if ((v = config_env (env, d, "ECS_CONTAINER_INSTANCE_TAGS")) && *v
      && config_parse_kv ("ECS_CONTAINER_INSTANCE_TAGS", v, &cfg->instance_tags, &cfg->n_instance_tags,
                          err) < 0)
    return -1;
  /* upstream: anything but ec2_instance (case-insensitive) means none */
  v = config_env (env, d, "ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM");
  cfg->propagate_tags_ec2 = v && strcasecmp (v, "ec2_instance") == 0;
  cfg->introspection_port = 51678;
  if ((v = config_env (env, d, "ECS_INTROSPECTION_PORT")))
    {
      char *end;
      long p = strtol (v, &end, 10);
      if (*end || p < 0 || p > 65535)
        return error_set (err, ERR_TERMINAL, "ECS_INTROSPECTION_PORT: \"%s\" is not a port number", v);
      cfg->introspection_port = (int) p;
    }
  cfg->tmds_addr = config_trim_dup (config_env (env, d, "ECS_TASK_METADATA_LISTEN_ADDR"));
  cfg->tmds_port = 51679;
  if ((v = config_env (env, d, "ECS_TASK_METADATA_PORT")))
    {
      char *end;
      long p = strtol (v, &end, 10);
      if (*end || p < 0 || p > 65535)
        return error_set (err, ERR_TERMINAL, "ECS_TASK_METADATA_PORT: \"%s\" is not a port number", v);
      cfg->tmds_port = (int) p;
    }
  config_rps_limit (config_env (env, d, "ECS_TASK_METADATA_RPS_LIMIT"), &cfg->tmds_rps_steady,
                    &cfg->tmds_rps_burst);
  cfg->audit_log_file = config_trim_dup (config_env (env, d, "ECS_AUDIT_LOGFILE"));
  bool audit_set = false;
  if (config_env_bool (env, d, "ECS_AUDIT_LOGFILE_DISABLED", &cfg->audit_log_disabled, &audit_set,
                       err) < 0)
    return -ERR_TERMINAL;
  if (!cfg->audit_log_file && cfg->log_file)
    {
      /* upstream's /log/audit.log sits beside its /log/ecs-agent.log */
      const char *slash = strrchr (cfg->log_file, '/');
      cfg->audit_log_file = slash ? xasprintf ("%.*s/audit.log", (int) (slash - cfg->log_file),
                                               cfg->log_file)
                                  : xstrdup ("audit.log");
    }
  bool role_set = false;
  if (config_env_bool (env, d, "ECS_ENABLE_TASK_IAM_ROLE", &cfg->task_iam_role, &role_set, err) < 0
      || config_env_bool (env, d, "ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST",
                          &cfg->task_iam_role_network_host, &role_set, err) < 0)
    return -1;

  struct config_options_ctx ox = { &cfg->gates, "/proc/sys/net/ipv4/ip_local_port_range", NULL };
  int orc = config_load_options (&ox, env, d, err);
  cfg->gates_warning = ox.warning;
  if (orc < 0)
    return -1;

  const char *path = config_env (env, d, "ECS_AGENT_CONFIG_FILE_PATH");
  json_t *file = NULL;
  if (config_load_file (cfg, &set, path ? path : CONFIG_DEFAULT_FILE, &file, err) < 0)
    return -1;
  int irc = config_images_load (&cfg->images, env, d, file, err);
  json_decref (file);
  if (irc < 0)
    return -1;

  /* defaults */
  bool datadir_given = cfg->data_dir != NULL;
  if (cfg->cluster == NULL)
    {
      cfg->cluster = xstrdup ("default");
      cfg->cluster_defaulted = true;
    }
  if (cfg->docker_endpoint == NULL)
    cfg->docker_endpoint = xstrdup ("unix:///var/run/docker.sock");
  if (cfg->data_dir == NULL)
    cfg->data_dir = xstrdup ("/data/");
  if (cfg->cgroup_path == NULL || !*cfg->cgroup_path)
    {
      free (cfg->cgroup_path);
      cfg->cgroup_path = xstrdup ("/sys/fs/cgroup");
    }
  if (!set.checkpoint)
    cfg->checkpoint = datadir_given;
  if (cfg->update_download_dir == NULL)
    cfg->update_download_dir = xstrdup (".");
  if (!set.ports)
    {
      cfg->n_reserved_ports = ARRAY_SIZE (config_default_ports);
      cfg->reserved_ports = xmalloc (sizeof config_default_ports);
      memcpy (cfg->reserved_ports, config_default_ports, sizeof config_default_ports);
    }
  if (!set.cleanup)
    cfg->task_cleanup_wait_ms = CONFIG_DEFAULT_TASK_CLEANUP_WAIT_MS;
  if (!set.stop_timeout)
    cfg->container_stop_timeout_ms = CONFIG_DEFAULT_CONTAINER_STOP_TIMEOUT_MS;
  free (cfg->metrics_warning);
  cfg->metrics_warning = NULL;
  cfg->polling_metrics_wait_ms
      = config_polling_metrics_wait (config_env (env, d, "ECS_POLLING_METRICS_WAIT_DURATION"),
                                     cfg->poll_metrics, &cfg->metrics_warning);
  if (cfg->introspection_addr == NULL)
    cfg->introspection_addr = xstrdup ("0.0.0.0");
  if (cfg->tmds_addr == NULL)
    cfg->tmds_addr = xstrdup ("127.0.0.1");
  if (cfg->engine_auth_type && strcmp (cfg->engine_auth_type, "docker") != 0
      && strcmp (cfg->engine_auth_type, "dockercfg") != 0)
    return error_set (err, ERR_TERMINAL, "ECS_ENGINE_AUTH_TYPE: unknown type \"%s\" (expected docker or dockercfg)", cfg->engine_auth_type);
  if (cfg->engine_auth_data)
    {
      json_error_t jerr;
      json_t *j = json_loads (cfg->engine_auth_data, 0, &jerr);
      bool ok = j && json_is_object (j);
      json_decref (j);
      if (!ok) /* never echo the value: it holds credentials */
        /* nor jansson's text: it quotes the token near the error ("near 'hunter2'") */
        return error_set (err, ERR_TERMINAL, "ECS_ENGINE_AUTH_DATA: not a JSON object (%s at line %d, column %d)",
                          j ? "not an object" : "syntax error", j ? 1 : jerr.line, j ? 1 : jerr.column);
    }
  return 0;
}

void
config_rps_limit (const char *v, unsigned *steady, unsigned *burst)
{
  *steady = CONFIG_TMDS_RPS_STEADY;
  *burst = CONFIG_TMDS_RPS_BURST;
  if (!v)
    return;
  cleanup_free char *copy = xstrdup (v);
  char *comma = strchr (copy, ',');
  if (!comma)
    return;
  *comma = 0;
  long parts[2];
  const char *texts[2] = { copy, comma + 1 };
  for (int i = 0; i < 2; i++)
    {
      const char *p = texts[i];
      while (*p == ' ' || *p == '\t')
        p++;
      char *end;
      errno = 0;
      parts[i] = strtol (p, &end, 10);
      while (*end == ' ' || *end == '\t')
        end++;
      if (end == p || *end || errno || parts[i] <= 0 || parts[i] > 1000000)
        return;
    }
  *steady = (unsigned) parts[0];
  *burst = (unsigned) parts[1];
}

void
config_free (struct agent_config *cfg)
{
  char **strs[] = { &cfg->cluster, &cfg->api_endpoint, &cfg->docker_endpoint, &cfg->aws_region,
                    &cfg->data_dir, &cfg->engine_auth_type, &cfg->engine_auth_data,
                    &cfg->update_download_dir, &cfg->log_file, &cfg->imds_endpoint,
                    &cfg->introspection_addr, &cfg->tmds_addr, &cfg->access_key_id, &cfg->secret_access_key,
                    &cfg->session_token, &cfg->config_file, &cfg->cgroup_path,
                    &cfg->audit_log_file };
  for (size_t i = 0; i < ARRAY_SIZE (strs); i++)
    {
      free (*strs[i]);
      *strs[i] = NULL;
    }
  free (cfg->reserved_ports);
  free (cfg->reserved_ports_udp);
  for (size_t i = 0; i < cfg->n_instance_attributes; i++)
    {
      free (cfg->instance_attributes[i].key);
      free (cfg->instance_attributes[i].value);
    }
  free (cfg->instance_attributes);
  for (size_t i = 0; i < cfg->n_instance_tags; i++)
    {
      free (cfg->instance_tags[i].key);
      free (cfg->instance_tags[i].value);
    }
  free (cfg->instance_tags);
  task_option_gates_free (&cfg->gates);
  free (cfg->gates_warning);
  free (cfg->metrics_warning);
  free (cfg->log_warning);
  config_images_free (&cfg->images);
  memset (cfg, 0, sizeof *cfg);
}
