/* engine/restart.c - the restart policy's decision (see restart.h). */
#include "engine/restart.h"

enum engine_restart_verdict
engine_restart_decide (const struct task *t, size_t ci, const struct engine_restart_obs *o, int64_t now_ns)
{
  const struct task_container *c = &t->containers[ci];
  const struct task_container_restart *r = &c->restart;
  if (!r->enabled || !c->docker_id || c->known_status != TASK_STATUS_RUNNING)
    return ENGINE_RESTART_NO;
  if (c->desired_status == TASK_STATUS_STOPPED || t->desired_status == TASK_STATUS_STOPPED)
    return ENGINE_RESTART_NO;
  if (!o->has_exit_code)
    return ENGINE_RESTART_NO;
  /* The tracker counted a restart after this run began: that restart was
     saved but never reached Docker. */
  if (r->count > 0 && r->last_restart_at_ns > 0 && o->started_at_ns > 0
      && o->started_at_ns < r->last_restart_at_ns)
    return ENGINE_RESTART_REDO;
  if (task_restart_code_ignored (r, o->exit_code))
    return ENGINE_RESTART_NO;
  int64_t since = r->last_restart_at_ns ? r->last_restart_at_ns : c->life.started_at_ns;
  if (since > 0 && now_ns - since < (int64_t) r->attempt_period_s * 1000000000LL)
    return ENGINE_RESTART_NO;
  return ENGINE_RESTART_YES;
}

const char *
engine_restart_verdict_str (enum engine_restart_verdict v)
{
  switch (v)
    {
    case ENGINE_RESTART_NO: return "no";
    case ENGINE_RESTART_YES: return "restart";
    case ENGINE_RESTART_REDO: return "redo";
    }
  return "?";
}
