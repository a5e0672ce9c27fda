/* engine/reconcile.c - start-up reconciliation: every container the
 * checkpoint knows is matched with Docker (by id; a container with only a
 * name, whose create answer was lost, by name or labels) and inspected; its
 * real status is recorded (ContainerVanishedError for one Docker no longer
 * has).  A failed container list is retried with back-off.  Tasks are
 * driven only once this is done. */
#include "core/util.h"
#include "core/xmalloc.h"
#include "engine/engine_internal.h"
#include "log/log.h"
#include <inttypes.h>
#include <string.h>

static void
reconcile_done_one (engine_t *e)
{
  if (--e->reconcile_pending > 0)
    return;
  log_info (MOD, "reconciliation with Docker done (%zu tasks)", e->n_tasks);
  e->ready = true;
  /* Events remembered meanwhile (decide.c: engine_decide_event) are
     looked at now, each against what its reconcile inspect recorded. */
  for (size_t i = 0; i < e->n_tasks; i++)
    for (size_t k = 0; k < e->tasks[i]->n_containers; k++)
      if (e->tasks[i]->containers[k].inflight == TASK_ACTION_NONE
          && e->tasks[i]->containers[k].pending_event != TASK_STATUS_NONE)
        engine_container_idle (e, e->tasks[i], k);
  engine_step_all (e);
  engine_arm_cleanup (e);
  state_save (e->state, NULL, NULL);
}

void
engine_reconcile_inspected (engine_t *e)
{
  reconcile_done_one (e);
}

/* A container whose create answer was lost (a name, no id) that Docker
   has, by name or by labels. */
static void
match_unknown_id (struct task *t, struct task_container *c, const struct docker_container_list *list)
{
  ssize_t j = engine_decide_adopt_match (t, c, list);
  if (j < 0)
    return;
  const struct docker_container_summary *s = &list->items[j];
  c->docker_id = xstrdup (s->id);
  if (!c->docker_name && s->n_names)
    c->docker_name = xstrdup (s->names[0]);
  log_info (MOD, "task %s container %s: found Docker container %s created before a restart", t->arn,
            c->name, s->id);
}

static void
reconcile_list_cb (const struct docker_container_list *list, agent_error_t err, void *data)
{
  struct op *op = data;
  engine_t *e = op->e;
  engine_op_finish (op);
  if (err)
    {
      uint64_t wait = backoff_next (&e->reconcile_backoff);
      log_warn (MOD, "reconciliation: listing containers failed: %s (retrying in %" PRIu64 " ms)", err->msg,
                wait);
      uv_timer_start (&e->reconcile_timer, engine_reconcile_timer_cb, wait, 0);
      return;
    }
  e->reconcile_pending = 1; /* guard while issuing */
  for (size_t i = 0; i < e->n_tasks; i++)
    {
      struct task *t = e->tasks[i];
      for (size_t k = 0; k < t->n_containers; k++)
        {
          struct task_container *c = &t->containers[k];
          if (!c->docker_id)
            match_unknown_id (t, c, list);
          if (!c->docker_id)
            continue;
          c->inflight = TASK_ACTION_INSPECT;
          e->reconcile_pending++;
          struct op *iop = engine_op_new (e, OP_RECONCILE_INSPECT, t, k);
          iop->handle = e->ops->inspect (e->ops_ctx, c->docker_id, engine_inspect_done_cb, iop);
        }
    }
  reconcile_done_one (e);
}

void
engine_reconcile_start (engine_t *e)
{
  if (e->stopped)
    return;
  struct op *op = engine_op_new (e, OP_RECONCILE_LIST, NULL, 0);
  op->handle = e->ops->list_by_label (e->ops_ctx, LABEL_TASK_ARN, reconcile_list_cb, op);
}

/* The back-off after a failed container list has elapsed: list again. */
void
engine_reconcile_timer_cb (uv_timer_t *h)
{
  engine_reconcile_start (h->data);
}
