/* engine/lifecycle.c - the engine's side of dependsOn: applies the verdicts
 * of engine/depends.h to a task (a dependent whose dependency can never be
 * met is stopped without starting) and keeps a wake-up for the nearest
 * dependency start timeout; keeps each container's health record from
 * Docker's health_status events and from every inspect; runs the retry
 * timer that serves those wake-ups and failed stops.  No Docker call
 * here. */
#include "core/xmalloc.h"
#include "engine/depends.h"
#include "engine/engine_internal.h"
#include "log/log.h"
#include <stdlib.h>

bool
engine_dependency_failures (engine_t *e, struct task *t)
{
  bool changed = false, wake = false;
  int64_t now = engine_wall_ns ();
  uint64_t now_ms = uv_now (e->loop);
  for (size_t i = 0; i < t->n_containers; i++)
    {
      struct task_container *c = &t->containers[i];
      c->wake_at_ms = 0;
      if (c->inflight != TASK_ACTION_NONE)
        continue;
      char *msg = NULL;
      int64_t wake_ns = 0;
      if (engine_dep_failure (t, i, now, &msg, &wake_ns))
        {
          log_warn (MOD, "task %s container %s: %s", t->arn, c->name, msg);
          engine_set_reason (c, ENGINE_DEP_REASON_NAME, msg);
          c->desired_status = TASK_STATUS_STOPPED;
          if (c->known_status < TASK_STATUS_RUNNING)
            {
              c->has_exit_code = true;
              c->exit_code = ENGINE_DEP_FAILED_EXIT;
            }
          free (msg);
          changed = true;
        }
      else if (wake_ns)
        {
          c->wake_at_ms = now_ms + (uint64_t) ((wake_ns - now) / 1000000) + 1;
          wake = true;
        }
    }
  if (wake)
    engine_arm_retry (e);
  return changed;
}

void
engine_note_started (struct task_container *c)
{
  if (c->life.started_at_ns == 0)
    c->life.started_at_ns = engine_wall_ns ();
}

bool
engine_health_event (engine_t *e, struct task *t, size_t ci, const char *action, int64_t when)
{
  struct task_container *c = &t->containers[ci];
  enum task_health h = engine_health_from_event (action);
  if (h == c->life.health)
    return false;
  log_info (MOD, "task %s container %s: health %s -> %s", t->arn, c->name,
            task_health_str (c->life.health), task_health_str (h));
  c->life.health = h;
  c->life.health_since_ns = when > 0 ? when : engine_wall_ns ();
  engine_notify (e, t, c);
  state_save (e->state, NULL, NULL);
  return true;
}

void
engine_health_inspected (engine_t *e, struct task *t, size_t ci,
                         const struct docker_container_info *info)
{
  struct task_container *c = &t->containers[ci];
  if (!info || !task_options_docker_health_check (&c->opts))
    return;
  enum task_health before = c->life.health;
  if (!task_health_observe (&c->life, engine_health_from_docker (info->health_status),
                            info->health_output, info->health_exit_code, engine_wall_ns ()))
    return;
  if (before != c->life.health)
    log_info (MOD, "task %s container %s: health %s -> %s (inspect)", t->arn, c->name,
              task_health_str (before), task_health_str (c->life.health));
  engine_notify (e, t, c);
  state_save (e->state, NULL, NULL);
}

/* ---- the retry timer: failed stops, wake-ups (retry_at_ms, wake_at_ms) ---------------- */

void
engine_retry_timer_cb (uv_timer_t *h)
{
  engine_t *e = h->data;
  if (e->stopped)
    return;
  uint64_t now = uv_now (e->loop);
  for (size_t i = 0; i < e->n_tasks; i++)
    for (size_t k = 0; k < e->tasks[i]->n_containers; k++)
      {
        struct task_container *c = &e->tasks[i]->containers[k];
        if (c->retry_at_ms && c->retry_at_ms <= now)
          c->retry_at_ms = 0;
        if (c->wake_at_ms && c->wake_at_ms <= now)
          c->wake_at_ms = 0;
      }
  engine_step_all (e);
  engine_arm_retry (e);
}

void
engine_arm_retry (engine_t *e)
{
  if (e->stopped || e->freeing)
    return;
  uint64_t best = UINT64_MAX;
  for (size_t i = 0; i < e->n_tasks; i++)
    for (size_t k = 0; k < e->tasks[i]->n_containers; k++)
      {
        const struct task_container *c = &e->tasks[i]->containers[k];
        if (c->retry_at_ms && c->retry_at_ms < best)
          best = c->retry_at_ms;
        if (c->wake_at_ms && c->wake_at_ms < best)
          best = c->wake_at_ms;
      }
  uv_timer_stop (&e->retry_timer);
  if (best == UINT64_MAX)
    return;
  uint64_t now = uv_now (e->loop);
  uv_timer_start (&e->retry_timer, engine_retry_timer_cb, best > now ? best - now : 0, 0);
}
