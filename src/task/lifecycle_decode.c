/* task/lifecycle_decode.c - JSON form of the lifecycle members (see lifecycle_decode.h). */
#include "task/lifecycle_decode.h"
#include "task/task_decode.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include <stdlib.h>

static int
parse_dependency (json_t *m, const char *ipath, struct task_dependency *d, agent_error_t *err)
{
  cleanup_free char *cond = NULL;
  if (task_json_string (m, "containerName", ipath, true, &d->container_name, err) < 0
      || task_json_string (m, "condition", ipath, true, &cond, err) < 0)
    return -ERR_INVALID;
  if (*d->container_name == '\0')
    return error_set (err, ERR_INVALID, "%s.containerName must not be empty", ipath);
  if (task_dep_condition_parse (cond, &d->condition) < 0)
    return error_set (err, ERR_INVALID,
                      "%s.condition must be START, COMPLETE, SUCCESS or HEALTHY (got \"%s\")", ipath,
                      cond);
  return 0;
}

static int
parse_depends_on (json_t *obj, const char *path, struct task_container_lifecycle *l,
                  agent_error_t *err)
{
  json_t *a = task_json_get (obj, "dependsOn");
  const char *sep = *path ? "." : "";
  if (task_json_null (a))
    return 0;
  if (!json_is_array (a))
    return error_set (err, ERR_INVALID, "%s%sdependsOn must be an array", path, sep);
  size_t n = json_array_size (a);
  if (n > TASK_DEPENDS_ON_MAX)
    return error_set (err, ERR_INVALID, "%s%sdependsOn has %zu entries; at most %d are accepted",
                      path, sep, n, TASK_DEPENDS_ON_MAX);
  l->depends_on = xcalloc (n ? n : 1, sizeof *l->depends_on);
  for (size_t i = 0; i < n; i++)
    {
      json_t *m = json_array_get (a, i);
      cleanup_free char *ipath = xasprintf ("%s%sdependsOn[%zu]", path, sep, i);
      if (!json_is_object (m))
        return error_set (err, ERR_INVALID, "%s must be an object", ipath);
      l->n_depends_on++; /* counted first: the free function sees a partly parsed item */
      if (parse_dependency (m, ipath, &l->depends_on[i], err) < 0)
        return -ERR_INVALID;
    }
  return 0;
}

int
task_json_container_lifecycle (json_t *obj, const char *path, bool checkpoint,
                               struct task_container_lifecycle *l, agent_error_t *err)
{
  int64_t start, stop;
  if (parse_depends_on (obj, path, l, err) < 0
      || task_json_int_range (obj, "startTimeout", path, 0, TASK_TIMEOUT_MAX_S, false, &start, err) < 0
      || task_json_int_range (obj, "stopTimeout", path, 0, TASK_TIMEOUT_MAX_S, false, &stop, err) < 0)
    return -ERR_INVALID;
  l->start_timeout_s = (uint32_t) start;
  l->stop_timeout_s = (uint32_t) stop;
  if (!checkpoint)
    return 0;
  int64_t started, since, hcode;
  cleanup_free char *health = NULL;
  cleanup_free char *output = NULL;
  if (task_json_int_range (obj, "StartedAtNs", path, 0, INT64_MAX, false, &started, err) < 0
      || task_json_int_range (obj, "HealthSinceNs", path, 0, INT64_MAX, false, &since, err) < 0
      || task_json_string (obj, "HealthStatus", path, false, &health, err) < 0
      || task_json_int_range (obj, "HealthExitCode", path, INT32_MIN, INT32_MAX, false, &hcode, err) < 0
      || task_json_string (obj, "HealthOutput", path, false, &output, err) < 0)
    return -ERR_INVALID;
  if (task_health_parse (health, &l->health) < 0)
    return error_set (err, ERR_INVALID, "%s%sHealthStatus: unknown status \"%s\"", path,
                      *path ? "." : "", health);
  l->started_at_ns = started;
  l->health_since_ns = since;
  l->health_exit_code = (int) hcode;
  if (output && *output)
    {
      /* as observed: cut to the bound */
      task_health_observe (l, l->health, output, l->health_exit_code, since);
    }
  return 0;
}

void
task_json_container_lifecycle_put (json_t *obj, const struct task_container_lifecycle *l,
                                   bool checkpoint)
{
  if (l->n_depends_on)
    {
      json_t *a = json_array ();
      for (size_t i = 0; i < l->n_depends_on; i++)
        json_array_append_new (a, json_pack ("{s:s,s:s}", "containerName",
                                             l->depends_on[i].container_name, "condition",
                                             task_dep_condition_str (l->depends_on[i].condition)));
      json_object_set_new (obj, "dependsOn", a);
    }
  if (l->start_timeout_s)
    json_object_set_new (obj, "startTimeout", json_integer (l->start_timeout_s));
  if (l->stop_timeout_s)
    json_object_set_new (obj, "stopTimeout", json_integer (l->stop_timeout_s));
  if (!checkpoint)
    return;
  if (l->started_at_ns)
    json_object_set_new (obj, "StartedAtNs", json_integer (l->started_at_ns));
  if (l->health != TASK_HEALTH_UNKNOWN || l->health_since_ns)
    {
      json_object_set_new (obj, "HealthStatus", json_string (task_health_str (l->health)));
      json_object_set_new (obj, "HealthSinceNs", json_integer (l->health_since_ns));
    }
  if (l->health_exit_code)
    json_object_set_new (obj, "HealthExitCode", json_integer (l->health_exit_code));
  if (l->health_output)
    json_object_set_new (obj, "HealthOutput", json_string (l->health_output));
}
