/* engine/restart_exec.c - the engine's side of the restart policy: a
 * STOPPED change the policy turns into a restart (engine/restart.h) is
 * saved first (the tracker's new count and time), then the same Docker
 * container is started.  Success drops the change (known stays RUNNING,
 * nothing reaches ECS); failure records it as a normal stop. */
#include "engine/engine_internal.h"
#include "engine/restart.h"
#include "log/log.h"

bool
engine_restart_try (engine_t *e, struct task *t, size_t ci, const struct engine_inspect *m)
{
  struct task_container *c = &t->containers[ci];
  struct engine_restart_obs o = { 0 };
  if (m)
    {
      o.has_exit_code = m->has_exit_code;
      o.exit_code = m->exit_code;
      o.started_at_ns = m->started_at_ns;
    }
  enum engine_restart_verdict v = engine_restart_decide (t, ci, &o, engine_wall_ns ());
  if (v == ENGINE_RESTART_NO)
    {
      if (c->restart.enabled && o.has_exit_code)
        log_info (MOD, "task %s container %s: exited with %d; not restarted (restart policy)", t->arn,
                  c->name, o.exit_code);
      return false;
    }
  if (v == ENGINE_RESTART_YES)
    {
      c->restart.count++;
      c->restart.last_restart_at_ns = engine_wall_ns ();
      log_info (MOD, "task %s container %s: exited with %d; restarting it in place (restart %u)", t->arn,
                c->name, o.exit_code, c->restart.count);
    }
  else
    log_info (MOD, "task %s container %s: restart %u was saved but never started; starting it now", t->arn,
              c->name, c->restart.count);
  /* Persist before acting: a crash after the start must not restart twice. */
  c->inflight = TASK_ACTION_START;
  struct op *op = engine_op_new (e, OP_RESTART_SAVE, t, ci);
  op->flag = o.has_exit_code;
  op->exit_code = o.exit_code;
  state_save (e->state, engine_restart_saved_cb, op);
  return true;
}

/* The restart did not happen: the STOPPED change goes on as a normal stop. */
static void
restart_abandoned (engine_t *e, struct op *op)
{
  struct task *t = op->t;
  size_t ci = op->ci;
  struct engine_inspect m = { .status = TASK_STATUS_STOPPED, .has_exit_code = op->flag,
                              .exit_code = op->exit_code };
  engine_record (e, t, ci, TASK_STATUS_STOPPED, &m); /* still busy: the policy is not asked again */
  engine_op_finish_container (op);
  engine_container_idle (e, t, ci);
}

void
engine_restart_saved_cb (agent_error_t err, void *data)
{
  struct op *op = data;
  engine_t *e = op->e;
  struct task_container *c = &op->t->containers[op->ci];
  (void) err; /* always NULL: the store calls back once the tracker is on disk (state.h) */
  if (c->desired_status == TASK_STATUS_STOPPED || op->t->desired_status == TASK_STATUS_STOPPED)
    {
      log_info (MOD, "task %s container %s: told to stop meanwhile; not restarted", op->t->arn, c->name);
      restart_abandoned (e, op);
      return;
    }
  op->kind = OP_RESTART;
  op->handle = e->ops->start (e->ops_ctx, c->docker_id, c->opts.dc_version, engine_restart_started_cb,
                              op);
}

void
engine_restart_started_cb (agent_error_t err, void *data)
{
  struct op *op = data;
  engine_t *e = op->e;
  struct task *t = op->t;
  size_t ci = op->ci;
  struct task_container *c = &t->containers[ci];
  if (err)
    {
      log_warn (MOD, "task %s container %s: restart failed: %s", t->arn, c->name, err->msg);
      restart_abandoned (e, op);
      return;
    }
  log_info (MOD, "task %s container %s: restarted (restart count %u)", t->arn, c->name, c->restart.count);
  engine_op_finish_container (op);
  engine_notify (e, t, c);
  engine_container_idle (e, t, ci);
}
