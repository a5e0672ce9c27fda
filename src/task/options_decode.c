/* task/options_decode.c - JSON form of the container options (see options_decode.h). */
#include "task/options_decode.h"
#include "task/task_decode.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include <math.h>
#include <stdlib.h>

int
task_json_container_options (json_t *obj, const char *path, struct task_container_options *o,
                             agent_error_t *err)
{
  if (task_json_string (obj, "healthCheckType", path, false, &o->health_check_type, err) < 0
      || task_json_string (obj, "logsAuthStrategy", path, false, &o->logs_auth_strategy, err) < 0)
    return -ERR_INVALID;
  json_t *dc = task_json_get (obj, "dockerConfig");
  if (task_json_null (dc))
    return 0;
  cleanup_free char *dpath = xasprintf ("%s%sdockerConfig", path, *path ? "." : "");
  if (!json_is_object (dc))
    return error_set (err, ERR_INVALID, "%s must be an object", dpath);
  if (task_json_string (dc, "config", dpath, false, &o->dc_config, err) < 0
      || task_json_string (dc, "hostConfig", dpath, false, &o->dc_host_config, err) < 0
      || task_json_string (dc, "version", dpath, false, &o->dc_version, err) < 0)
    return -ERR_INVALID;
  o->has_docker_config = true;
  return 0;
}

/* obj.associations: a list of {name, type, content: {value, encoding},
   containers: [names]} or null. */
static int
task_json_associations (json_t *obj, const char *path, struct task_options *o, agent_error_t *err)
{
  json_t *list = task_json_get (obj, "associations");
  if (task_json_null (list))
    return 0;
  cleanup_free char *lpath = xasprintf ("%s%sassociations", path, *path ? "." : "");
  if (!json_is_array (list))
    return error_set (err, ERR_INVALID, "%s must be a list", lpath);
  size_t n = json_array_size (list);
  if (n > 1024)
    return error_set (err, ERR_INVALID, "%s has more than 1024 entries", lpath);
  o->associations = xcalloc (n ? n : 1, sizeof *o->associations);
  for (size_t i = 0; i < n; i++)
    {
      json_t *e = json_array_get (list, i);
      cleanup_free char *ep = xasprintf ("%s[%zu]", lpath, i);
      if (!json_is_object (e))
        return error_set (err, ERR_INVALID, "%s must be an object", ep);
      struct task_association *as = &o->associations[o->n_associations++];
      if (task_json_string (e, "name", ep, false, &as->name, err) < 0
          || task_json_string (e, "type", ep, false, &as->type, err) < 0
          || task_json_strv (e, "containers", ep, &as->containers, err) < 0)
        return -ERR_INVALID;
      json_t *content = task_json_get (e, "content");
      if (task_json_null (content))
        continue;
      cleanup_free char *cp = xasprintf ("%s.content", ep);
      if (!json_is_object (content))
        return error_set (err, ERR_INVALID, "%s must be an object", cp);
      if (task_json_string (content, "value", cp, false, &as->content, err) < 0
          || task_json_string (content, "encoding", cp, false, &as->encoding, err) < 0)
        return -ERR_INVALID;
    }
  return 0;
}

int
task_json_task_options (json_t *obj, const char *path, struct task_options *o, agent_error_t *err)
{
  int64_t mem;
  if (task_json_string (obj, "networkMode", path, false, &o->network_mode, err) < 0
      || task_json_string (obj, "pidMode", path, false, &o->pid_mode, err) < 0
      || task_json_string (obj, "ipcMode", path, false, &o->ipc_mode, err) < 0
      || task_json_int_range (obj, "memory", path, 0, INT64_C (1) << 40, false, &mem, err) < 0)
    return -ERR_INVALID;
  o->memory_mib = mem;
  if (task_json_associations (obj, path, o, err) < 0)
    return -ERR_INVALID;
  json_t *cpu = task_json_get (obj, "cpu");
  if (!task_json_null (cpu))
    {
      double v = json_number_value (cpu);
      if (!json_is_number (cpu) || !isfinite (v) || v < 0 || v > 1e6)
        return error_set (err, ERR_INVALID, "%s%scpu must be a number of vCPU in 0..1000000",
                          path, *path ? "." : "");
      o->cpu = v;
    }
  return 0;
}

static void
put_str (json_t *obj, const char *key, const char *v)
{
  if (v)
    json_object_set_new (obj, key, json_string (v));
}

void
task_json_container_options_put (json_t *obj, const struct task_container_options *o)
{
  put_str (obj, "healthCheckType", o->health_check_type);
  put_str (obj, "logsAuthStrategy", o->logs_auth_strategy);
  if (!o->has_docker_config)
    return;
  json_t *dc = json_object ();
  put_str (dc, "config", o->dc_config);
  put_str (dc, "hostConfig", o->dc_host_config);
  put_str (dc, "version", o->dc_version);
  json_object_set_new (obj, "dockerConfig", dc);
}

void
task_json_task_options_put (json_t *obj, const struct task_options *o)
{
  put_str (obj, "networkMode", o->network_mode);
  put_str (obj, "pidMode", o->pid_mode);
  put_str (obj, "ipcMode", o->ipc_mode);
  if (o->cpu > 0)
    json_object_set_new (obj, "cpu", json_real (o->cpu));
  if (o->memory_mib > 0)
    json_object_set_new (obj, "memory", json_integer (o->memory_mib));
  if (o->n_associations == 0)
    return;
  json_t *list = json_array ();
  for (size_t i = 0; i < o->n_associations; i++)
    {
      const struct task_association *as = &o->associations[i];
      json_t *e = json_object ();
      put_str (e, "name", as->name);
      put_str (e, "type", as->type);
      if (as->content || as->encoding)
        {
          json_t *c = json_object ();
          put_str (c, "value", as->content);
          put_str (c, "encoding", as->encoding);
          json_object_set_new (e, "content", c);
        }
      json_t *names = json_array ();
      for (char **p = as->containers; p && *p; p++)
        json_array_append_new (names, json_string (*p));
      json_object_set_new (e, "containers", names);
      json_array_append_new (list, e);
    }
  json_object_set_new (obj, "associations", list);
}
