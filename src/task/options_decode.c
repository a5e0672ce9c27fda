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
}
