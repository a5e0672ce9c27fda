/* task/restart_decode.c - JSON form of the restart policy (see restart_decode.h). */
#include "task/restart_decode.h"
#include "task/task_decode.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include <limits.h>
#include <stdlib.h>

static int
parse_ignored (json_t *p, const char *ppath, struct task_container_restart *r, agent_error_t *err)
{
  json_t *a = task_json_get (p, "ignoredExitCodes");
  if (task_json_null (a))
    return 0;
  if (!json_is_array (a))
    return error_set (err, ERR_INVALID, "%s.ignoredExitCodes must be an array", ppath);
  size_t n = json_array_size (a);
  if (n > TASK_RESTART_IGNORED_MAX)
    return error_set (err, ERR_INVALID, "%s.ignoredExitCodes has %zu entries; at most %d are accepted",
                      ppath, n, TASK_RESTART_IGNORED_MAX);
  r->ignored_exit_codes = xcalloc (n ? n : 1, sizeof *r->ignored_exit_codes);
  for (size_t i = 0; i < n; i++)
    {
      json_t *v = json_array_get (a, i);
      if (!json_is_integer (v) || json_integer_value (v) < INT_MIN || json_integer_value (v) > INT_MAX)
        return error_set (err, ERR_INVALID, "%s.ignoredExitCodes[%zu] must be an integer", ppath, i);
      r->ignored_exit_codes[r->n_ignored_exit_codes++] = (int) json_integer_value (v);
    }
  return 0;
}

static int
parse_tracker (json_t *obj, const char *path, struct task_container_restart *r, agent_error_t *err)
{
  json_t *tr = task_json_get (obj, "RestartTracker");
  if (task_json_null (tr))
    return 0;
  cleanup_free char *tpath = xasprintf ("%s%sRestartTracker", path, *path ? "." : "");
  if (!json_is_object (tr))
    return error_set (err, ERR_INVALID, "%s must be an object", tpath);
  int64_t count, last;
  if (task_json_int_range (tr, "RestartCount", tpath, 0, UINT32_MAX, false, &count, err) < 0
      || task_json_int_range (tr, "LastRestartAtNs", tpath, 0, INT64_MAX, false, &last, err) < 0)
    return -ERR_INVALID;
  r->count = (uint32_t) count;
  r->last_restart_at_ns = last;
  return 0;
}

int
task_json_container_restart (json_t *obj, const char *path, bool checkpoint,
                             struct task_container_restart *r, agent_error_t *err)
{
  json_t *p = task_json_get (obj, "restartPolicy");
  if (!task_json_null (p))
    {
      cleanup_free char *ppath = xasprintf ("%s%srestartPolicy", path, *path ? "." : "");
      if (!json_is_object (p))
        return error_set (err, ERR_INVALID, "%s must be an object", ppath);
      int64_t period;
      if (task_json_bool (p, "enabled", ppath, &r->enabled, err) < 0
          || task_json_int_range (p, "restartAttemptPeriod", ppath, 0, TASK_RESTART_PERIOD_MAX_S, false,
                                  &period, err) < 0
          || parse_ignored (p, ppath, r, err) < 0)
        return -ERR_INVALID;
      r->attempt_period_s = (uint32_t) period;
    }
  return checkpoint ? parse_tracker (obj, path, r, err) : 0;
}

void
task_json_container_restart_put (json_t *obj, const struct task_container_restart *r, bool checkpoint)
{
  if (r->enabled || r->n_ignored_exit_codes || r->attempt_period_s)
    {
      json_t *codes = json_array ();
      for (size_t i = 0; i < r->n_ignored_exit_codes; i++)
        json_array_append_new (codes, json_integer (r->ignored_exit_codes[i]));
      json_object_set_new (obj, "restartPolicy",
                           json_pack ("{s:b,s:o,s:I}", "enabled", r->enabled, "ignoredExitCodes", codes,
                                      "restartAttemptPeriod", (json_int_t) r->attempt_period_s));
    }
  if (checkpoint && (r->count || r->last_restart_at_ns))
    json_object_set_new (obj, "RestartTracker",
                         json_pack ("{s:I,s:I}", "RestartCount", (json_int_t) r->count, "LastRestartAtNs",
                                    (json_int_t) r->last_restart_at_ns));
}
