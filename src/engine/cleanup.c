/* engine/cleanup.c - stopped tasks are removed from Docker (containers,
 * then their empty volumes) once the cleanup wait after their STOPPED time
 * has passed, then dropped from state.  A round that leaves something in
 * Docker keeps the task (and so its checkpoint entry) and is retried after
 * a back-off. */
#include "core/util.h"
#include "core/xmalloc.h"
#include "engine/cgroup.h"
#include "engine/engine_internal.h"
#include "log/log.h"
#include <stdlib.h>
#include <string.h>

static void volume_removed_cb (agent_error_t err, void *data);

static void
drop_task (engine_t *e, struct task *t)
{
  for (size_t i = 0; i < e->n_tasks; i++)
    if (e->tasks[i] == t)
      {
        memmove (&e->tasks[i], &e->tasks[i + 1], (e->n_tasks - i - 1) * sizeof *e->tasks);
        e->n_tasks--;
        break;
      }
  struct engine_cgroup_spec cg;
  agent_error_t cgerr = NULL;
  if (e->cgroup_root && e->cgroup_cfg.systemd)
    engine_slice_stop (e, t); /* systemd removes the slice (engine/slice.h) */
  else if (e->cgroup_root && engine_cgroup_spec (t, &e->cgroup_cfg, &cg, &cgerr) == 0
           && engine_cgroup_remove (e->cgroup_root, &cg, &cgerr) < 0)
    log_warn (MOD, "task %s: task cgroup not removed: %s", t->arn, error_msg (&cgerr));
  error_free (&cgerr);
  log_info (MOD, "task %s: removed from state", t->arn);
  engine_images_task_removed (e, t);
  engine_notify (e, t, NULL);
  task_free (t);
  state_save (e->state, NULL, NULL);
}

static void
removal_retry_later (engine_t *e, struct task *t)
{
  t->removal_failed = false;
  t->removing = false;
  uint64_t d = engine_retry_delay_ms (&t->cleanup_backoff, ENGINE_CLEANUP_RETRY_MIN_MS,
                                      ENGINE_CLEANUP_RETRY_MAX_MS);
  t->cleanup_retry_ns = engine_wall_ns () + (int64_t) d * 1000000LL;
  log_warn (MOD, "task %s: cleanup incomplete; retrying in %llu ms", t->arn, (unsigned long long) d);
  engine_arm_cleanup (e);
}

static void
removal_progress (engine_t *e, struct task *t)
{
  if (engine_task_has_ops (e, t))
    return;
  if (t->removal_failed)
    {
      removal_retry_later (e, t);
      return;
    }
  /* Containers gone: now the task's empty volumes, one at a time. */
  for (size_t i = 0; i < t->n_volumes; i++)
    {
      struct task_volume *v = &t->volumes[i];
      if (v->source_path || !v->created || !v->docker_name)
        continue;
      v->created = false;
      struct op *op = engine_op_new (e, OP_VOLUME_REMOVE, t, i);
      op->handle = e->ops->volume_remove (e->ops_ctx, v->docker_name, volume_removed_cb, op);
      return;
    }
  drop_task (e, t);
}

static void
volume_removed_cb (agent_error_t err, void *data)
{
  struct op *op = data;
  engine_t *e = op->e;
  struct task *t = op->t;
  if (err && err->kind != ERR_NOT_FOUND)
    log_warn (MOD, "task %s: removing volume %s: %s", t->arn, t->volumes[op->ci].docker_name, err->msg);
  if (err && engine_removal_retriable (err->kind))
    {
      t->volumes[op->ci].created = true;
      t->removal_failed = true;
    }
  engine_op_finish (op);
  removal_progress (e, t);
}

static void
removed_cb (agent_error_t err, void *data)
{
  struct op *op = data;
  engine_t *e = op->e;
  struct task *t = op->t;
  struct task_container *c = &t->containers[op->ci];
  if (err && err->kind != ERR_NOT_FOUND)
    log_warn (MOD, "task %s container %s: remove: %s", t->arn, c->name, err->msg);
  if (err && engine_removal_retriable (err->kind))
    t->removal_failed = true;
  engine_op_finish (op);
  removal_progress (e, t);
}

static void
start_task_cleanup (engine_t *e, struct task *t)
{
  log_info (MOD, "task %s: cleaning up", t->arn);
  engine_cancel_task_ops (e, t);
  t->removing = true;
  t->cleanup_due = true;
  for (size_t i = 0; i < t->n_containers; i++)
    {
      struct task_container *c = &t->containers[i];
      /* No id but a name: a create was attempted and its answer lost; the
         deterministic name finds the container if it exists (404 is fine). */
      const char *ref = c->docker_id ? c->docker_id : c->docker_name;
      if (!ref)
        continue;
      struct op *op = engine_op_new (e, OP_REMOVE, t, i);
      op->handle = e->ops->remove (e->ops_ctx, ref, removed_cb, op);
    }
  removal_progress (e, t);
}

void
engine_cleanup_timer_cb (uv_timer_t *h)
{
  engine_t *e = h->data;
  if (e->stopped)
    return;
  int64_t now = engine_wall_ns ();
  for (size_t i = 0; i < e->n_tasks;)
    {
      struct task *t = e->tasks[i];
      if (t->known_status == TASK_STATUS_STOPPED && !t->removing
          && engine_cleanup_deadline_ns (t, e->cleanup_wait_ms) <= now)
        {
          size_t before = e->n_tasks;
          start_task_cleanup (e, t);
          if (e->n_tasks < before)
            continue; /* dropped synchronously */
        }
      i++;
    }
  engine_arm_cleanup (e);
}

void
engine_arm_cleanup (engine_t *e)
{
  if (e->stopped || e->freeing)
    return;
  int64_t best = INT64_MAX;
  for (size_t i = 0; i < e->n_tasks; i++)
    {
      const struct task *t = e->tasks[i];
      if (t->known_status == TASK_STATUS_STOPPED && !t->removing)
        {
          int64_t d = engine_cleanup_deadline_ns (t, e->cleanup_wait_ms);
          if (d < best)
            best = d;
        }
    }
  uv_timer_stop (&e->cleanup_timer);
  if (best == INT64_MAX)
    return;
  int64_t wait_ns = best - engine_wall_ns ();
  uint64_t ms = wait_ns <= 0 ? 0 : (uint64_t) (wait_ns / 1000000) + 1;
  uv_timer_start (&e->cleanup_timer, engine_cleanup_timer_cb, ms, 0);
}
