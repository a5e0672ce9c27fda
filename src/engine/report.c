/* engine/report.c - what the engine queues for ECS (state/state.h's change
 * queue, drained by ecs/submitter.c): container and task changes in
 * today's form - PENDING once a task's images are there with a digest,
 * RUNNING, STOPPED - with the Docker id, the image digest and the task's
 * pull / execution-stopped timestamps (on container changes too: a batch
 * without a task change carries them).  Each status is queued once (the
 * sent status), in the order the engine records them. */
#include "core/metrics.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "engine/engine_internal.h"
#include <stdlib.h>
#include <string.h>

/* Unix ms now (the timestamps of task state changes). */
int64_t
engine_wall_ms (void)
{
  return engine_wall_ns () / 1000000;
}

/* Whether every container of t (the internal ones aside) has its image,
   and at least one knows its digest: upstream reports a task PENDING once
   its image manifests are resolved, only when a digest is known. */
static bool
task_images_ready (const struct task *t)
{
  bool any = false, digest = false;
  for (size_t i = 0; i < t->n_containers; i++)
    {
      const struct task_container *c = &t->containers[i];
      if (c->is_internal)
        continue;
      if (c->known_status < TASK_STATUS_PULLED)
        return false;
      any = true;
      digest |= c->image_digest != NULL;
    }
  return any && digest;
}

void
engine_emit_container_change (engine_t *e, struct task *t, struct task_container *c)
{
  if (c->is_internal)
    return;
  /* PENDING (image pulled, digest known), RUNNING and STOPPED are reported */
  if (c->known_status == TASK_STATUS_PULLED ? c->image_digest == NULL
                                            : (c->known_status != TASK_STATUS_RUNNING
                                               && c->known_status != TASK_STATUS_STOPPED))
    return;
  if (c->known_status <= c->sent_status)
    return;
  struct state_change *ch = state_change_new (STATE_CHANGE_CONTAINER, t->arn, c->name,
                                              task_status_ecs_str (c->known_status), c->reason);
  if (c->known_status == TASK_STATUS_STOPPED && c->has_exit_code)
    {
      ch->has_exit_code = true;
      ch->exit_code = c->exit_code;
    }
  /* as upstream reports them: ranges as one binding, "::" left out by default */
  ch->bindings = task_port_bindings_report (c, c->known_bindings, c->n_known_bindings,
                                            e->gates.exclude_ipv6_portbinding, &ch->n_bindings);
  ch->runtime_id = c->docker_id ? xstrdup (c->docker_id) : NULL;
  ch->image_digest = c->image_digest ? xstrdup (c->image_digest) : NULL;
  ch->task_status = xstrdup (task_status_ecs_str (t->known_status));
  /* the task's time stamps as they are now: a batch of container changes
     sent without a task change carries them, as upstream's every task
     change does (its periodic drain sets them too) */
  ch->pull_started_ms = t->pull_started_ms;
  ch->pull_stopped_ms = t->pull_stopped_ms;
  ch->execution_stopped_ms = t->execution_stopped_ms;
  c->sent_status = c->known_status;
  state_change_push (e->state, ch);
}

void
engine_emit_task_change (engine_t *e, struct task *t)
{
  enum task_status k = t->known_status;
  if (k < TASK_STATUS_RUNNING)
    {
      if (!task_images_ready (t))
        return;
      k = TASK_STATUS_PULLED; /* PENDING: sent once */
    }
  if (k <= t->sent_status)
    return;
  if (k == TASK_STATUS_STOPPED && !t->execution_stopped_ms)
    t->execution_stopped_ms = engine_wall_ms ();
  struct state_change *ch = state_change_new (STATE_CHANGE_TASK, t->arn, NULL,
                                              task_status_ecs_str (k), t->reason);
  ch->pull_started_ms = t->pull_started_ms;
  ch->pull_stopped_ms = t->pull_stopped_ms;
  ch->execution_stopped_ms = t->execution_stopped_ms;
  if (k == TASK_STATUS_RUNNING && t->launch_started_ms)
    metrics_observe (METRIC_LAUNCH_SECONDS, (double) (util_now_ms () - t->launch_started_ms) / 1000.0);
  if (k == TASK_STATUS_RUNNING)
    t->launch_started_ms = 0;
  t->sent_status = k;
  state_change_push (e->state, ch);
}

/* A container without a digest whose image another container got with
   one (the same image pulled moments ago, or reused) takes it over. */
void
engine_borrow_digest (engine_t *e, struct task_container *c)
{
  if (c->image_digest || !c->image)
    return;
  for (size_t i = 0; i < e->n_tasks; i++)
    for (size_t j = 0; j < e->tasks[i]->n_containers; j++)
      {
        const struct task_container *o = &e->tasks[i]->containers[j];
        if (o != c && o->image_digest && o->image && strcmp (o->image, c->image) == 0)
          {
            c->image_digest = xstrdup (o->image_digest);
            return;
          }
      }
}

