/* engine/observe.c - every Docker answer and event the engine gets: each
 * callback turns what it got into one observation, asks engine_decide()
 * (decide.c) what it means, and hands the outcome to the executor
 * (exec.c). */
#include "core/util.h"
#include "core/xmalloc.h"
#include "engine/engine_internal.h"
#include "engine/plan.h"
#include "log/log.h"
#include <stdlib.h>
#include <string.h>

static void
observe_error (struct engine_observation *o, agent_error_t err)
{
  if (err)
    {
      o->err_kind = err->kind ? err->kind : ERR_GENERIC;
      o->err_msg = err->msg;
    }
}

/* Decide and act on observation o for the container of op. */
static void
conclude (struct op *op, struct engine_observation *o, const char *docker_id)
{
  engine_t *e = op->e;
  struct task *t = op->t;
  size_t ci = op->ci;
  cleanup_free char *carried = engine_op_take_msg (op);
  o->carried = carried;
  struct engine_outcome out;
  engine_decide (t, ci, o, &out);
  engine_apply_outcome (e, op, t, ci, o, &out, docker_id);
}

void
engine_pull_done_cb (agent_error_t err, void *data)
{
  struct op *op = data;
  struct engine_observation o = { .source = ENGINE_OBS_PULL,
                                  .pull_strict = !engine_pull_failure_falls_back (op->e->pull_behavior) };
  observe_error (&o, err);
  op->t->pull_stopped_ms = engine_wall_ns () / 1000000;
  if (!err && op->progress)
    {
      struct engine_pull_summary s;
      engine_pull_progress_sum (op->progress, &s);
      log_info (MOD, "task %s container %s: pulled %s in %.1f s (%zu layers, %lld bytes downloaded)",
                op->t->arn, op->t->containers[op->ci].name, op->t->containers[op->ci].image,
                (double) (uv_now (op->e->loop) - op->progress->started_ms) / 1000.0, s.layers,
                (long long) s.bytes_done);
    }
  conclude (op, &o, NULL);
}

void
engine_pull_auth_failed (struct op *op, const char *name, const char *msg)
{
  struct engine_observation o = { .source = ENGINE_OBS_PULL, .err_kind = ERR_AUTH, .err_msg = msg,
                                  .err_name = name,
                                  .pull_strict = !engine_pull_failure_falls_back (op->e->pull_behavior) };
  log_warn (MOD, "task %s container %s: %s: %s", op->t->arn, op->t->containers[op->ci].name, name, msg);
  conclude (op, &o, NULL);
}

/* Pull progress: a debug line at most every ENGINE_PULL_PROGRESS_LOG_MS. */
void
engine_pull_progress_cb (const struct docker_pull_progress *p, void *data)
{
  struct op *op = data;
  if (op->progress == NULL)
    return;
  const char *digest = p->id ? NULL : engine_pull_status_digest (p->status);
  if (digest)
    {
      struct task_container *c = &op->t->containers[op->ci];
      free (c->image_digest);
      c->image_digest = xstrdup (digest);
    }
  if (!engine_pull_progress_update (op->progress, p, uv_now (op->e->loop)))
    return;
  struct engine_pull_summary s;
  engine_pull_progress_sum (op->progress, &s);
  log_debug (MOD, "task %s container %s: pulling %s: %zu/%zu layers done, %lld of %lld bytes downloaded",
             op->t->arn, op->t->containers[op->ci].name, op->t->containers[op->ci].image, s.layers_done,
             s.layers, (long long) s.bytes_done, (long long) s.bytes_total);
}

void
engine_pull_image_checked_cb (const struct docker_image_info *img, agent_error_t err, void *data)
{
  struct op *op = data;
  struct task_container *c = &op->t->containers[op->ci];
  const char *digest = !err && img && !c->image_digest
                         ? engine_repo_digest_for (c->image, img->repo_digests, img->n_repo_digests)
                         : NULL;
  if (digest)
    c->image_digest = xstrdup (digest);
  struct engine_observation o = { .source = op->kind == OP_PULL_CACHED ? ENGINE_OBS_PULL_CACHED
                                                                      : ENGINE_OBS_PULL_LOCAL_IMAGE,
                                  .image_present = !err && img };
  conclude (op, &o, NULL);
}

/* The image of a pull step, inspected: its record gains the name. */
void
engine_image_recorded_cb (const struct docker_image_info *img, agent_error_t err, void *data)
{
  struct op *op = data;
  engine_t *e = op->e;
  struct image_record *r = NULL;
  if (err || !img || !img->id)
    log_warn (MOD, "image %s: cannot inspect it for the image records: %s", op->msg,
              err ? err->msg : "no image id");
  else if ((r = image_records_add (&e->images, img->id, op->msg, img->size, engine_wall_ns (), op->flag))
           == NULL)
    log_warn (MOD, "image %s: %d image records already: not recorded", op->msg, IMAGE_RECORDS_MAX);
  else
    {
      image_record_set_env (r, img->env, img->n_env);
      state_save (e->state, NULL, NULL);
    }
  /* Creates waiting for this image's ManagedEnvKeys (engine/images.h) go
     now; without a record they go without it (Docker names the problem). */
  for (size_t i = 0; i < e->n_tasks; i++)
    for (size_t k = 0; k < e->tasks[i]->n_containers; k++)
      {
        struct task_container *c = &e->tasks[i]->containers[k];
        if (c->image && strcmp (c->image, op->msg) == 0)
          c->image_env_failed = r == NULL;
      }
  engine_op_finish (op);
  engine_step_all (e);
}

void
engine_create_done_cb (const char *id, agent_error_t err, void *data)
{
  struct engine_observation o = { .source = ENGINE_OBS_CREATE };
  observe_error (&o, err);
  conclude (data, &o, err ? NULL : id);
}

void
engine_start_done_cb (agent_error_t err, void *data)
{
  struct engine_observation o = { .source = ENGINE_OBS_START };
  observe_error (&o, err);
  conclude (data, &o, NULL);
}

void
engine_stop_done_cb (agent_error_t err, void *data)
{
  struct op *op = data;
  struct engine_observation o = { .source = ENGINE_OBS_STOP };
  observe_error (&o, err);
  if (err)
    log_warn (MOD, "task %s container %s: stop failed: %s", op->t->arn, op->t->containers[op->ci].name,
              err->msg);
  conclude (op, &o, NULL);
}

/* Every container inspect of the engine ends here; the op says why it was made. */
void
engine_inspect_done_cb (const struct docker_container_info *info, agent_error_t err, void *data)
{
  struct op *op = data;
  struct engine_observation o = { 0 };
  switch (op->kind)
    {
    case OP_CREATE_ADOPT: o.source = ENGINE_OBS_CREATE_ADOPT; break;
    case OP_START_INSPECT: o.source = ENGINE_OBS_START_INSPECT; break;
    case OP_STOP_INSPECT: o.source = ENGINE_OBS_STOP_INSPECT; break;
    case OP_RECONCILE_INSPECT: o.source = ENGINE_OBS_RECONCILE_INSPECT; break;
    default:
      o.source = op->status == TASK_STATUS_NONE ? ENGINE_OBS_RESYNC_INSPECT : ENGINE_OBS_EVENT_INSPECT;
      o.reported = op->status;
      break;
    }
  observe_error (&o, err);
  o.has_info = !err && info;
  engine_inspect_read (o.has_info ? info : NULL, &o.info);
  struct task *t = op->t;
  const struct task_container *c = &t->containers[op->ci];
  if (o.has_info)
    o.labels_match = engine_label_is (info->labels, info->n_labels, LABEL_TASK_ARN, t->arn)
                     && engine_label_is (info->labels, info->n_labels, LABEL_CONTAINER_NAME, c->name);
  if (o.has_info && (op->kind != OP_CREATE_ADOPT || o.labels_match))
    engine_health_inspected (op->e, t, op->ci, info); /* every inspect feeds the health record */
  bool reconcile = op->kind == OP_RECONCILE_INSPECT, steady = op->kind == OP_STEADY_INSPECT;
  engine_t *e = op->e;
  conclude (op, &o, o.has_info ? info->id : NULL);
  if (reconcile)
    engine_reconcile_inspected (e);
  if (steady)
    engine_steady_round (e); /* the next due ones, within the bound */
}

/* ---- volumes and the save before a create -------------------------------------- */

void
engine_volume_created_cb (const struct docker_volume_info *vol, agent_error_t err, void *data)
{
  struct op *op = data;
  engine_t *e = op->e;
  struct task *t = op->t;
  size_t vi = op->ci;
  engine_op_finish (op);
  struct task_volume *v = &t->volumes[vi];
  (void) vol;
  if (err)
    {
      /* Fail every container waiting for this volume. */
      for (size_t i = 0; i < t->n_containers; i++)
        {
          struct task_container *c = &t->containers[i];
          if (c->inflight != TASK_ACTION_CREATE)
            continue;
          for (size_t m = 0; m < c->n_mount_points; m++)
            if (strcmp (c->mount_points[m].source_volume, v->name) == 0)
              {
                log_warn (MOD, "task %s container %s: CannotCreateVolumeError: %s", t->arn, c->name, err->msg);
                engine_set_reason (c, "CannotCreateVolumeError", err->msg);
                c->desired_status = TASK_STATUS_STOPPED;
                c->inflight = TASK_ACTION_NONE;
                break;
              }
        }
      engine_task_step (e, t);
      return;
    }
  v->created = true;
  log_info (MOD, "task %s: created volume %s", t->arn, v->docker_name);
  state_save (e->state, NULL, NULL);
  for (size_t i = 0; i < t->n_containers; i++)
    if (t->containers[i].inflight == TASK_ACTION_CREATE && engine_volumes_ready (t, &t->containers[i]))
      {
        /* Only containers not yet past this phase (no op of theirs in flight). */
        bool busy = false;
        const struct op *o;
        TAILQ_FOREACH (o, &e->ops_list, link)
        if (o->t == t && o->ci == i
            && (o->kind == OP_CREATE_SAVE || o->kind == OP_CREATE || o->kind == OP_CREATE_ADOPT))
          busy = true;
        if (!busy)
          engine_create_continue (e, t, i);
      }
}

void
engine_create_saved_cb (agent_error_t err, void *data)
{
  struct op *op = data;
  engine_t *e = op->e;
  struct task *t = op->t;
  size_t ci = op->ci;
  struct task_container *c = &t->containers[ci];
  (void) err; /* always NULL: the store calls back once the name is on disk (state.h) */
  engine_op_finish (op);
  if (c->desired_status == TASK_STATUS_STOPPED)
    {
      c->inflight = TASK_ACTION_NONE;
      engine_container_idle (e, t, ci); /* told to stop meanwhile: never create */
      return;
    }
  engine_do_create (e, t, ci);
  if (c->inflight == TASK_ACTION_NONE)
    engine_task_step (e, t);
}

/* ---- events ------------------------------------------------------------------------- */

static bool
find_by_id (const engine_t *e, const char *id, struct task **tp, size_t *ci)
{
  for (size_t i = 0; i < e->n_tasks; i++)
    for (size_t k = 0; k < e->tasks[i]->n_containers; k++)
      {
        const char *d = e->tasks[i]->containers[k].docker_id;
        if (d && strcmp (d, id) == 0)
          {
            *tp = e->tasks[i];
            *ci = k;
            return true;
          }
      }
  return false;
}

void
engine_docker_event_cb (const struct docker_event *ev, void *data)
{
  engine_t *e = data;
  if (e->stopped || !ev->id || !engine_event_relevant (ev->kind))
    return;
  struct task *t;
  size_t ci;
  if (!find_by_id (e, ev->id, &t, &ci) || t->removing)
    return;
  struct task_container *c = &t->containers[ci];
  log_debug (MOD, "event %s for task %s container %s", ev->action ? ev->action : "?", t->arn, c->name);
  if (ev->kind == DOCKER_EV_HEALTH_STATUS)
    {
      bool changed = engine_health_event (e, t, ci, ev->action, ev->time_ns);
      /* the check's output and exit code come with an inspect (a busy
         container is left alone: its own op, the next event or the
         steady-state inspect brings them) */
      if (e->ready && c->inflight == TASK_ACTION_NONE && c->known_status == TASK_STATUS_RUNNING)
        engine_issue_inspect (e, t, ci, TASK_STATUS_NONE);
      if (changed)
        engine_task_step (e, t);
      return;
    }
  enum task_status reported = TASK_STATUS_NONE;
  switch (engine_decide_event (t, ci, ev->kind, ev->exit_code, ev->time_ns, e->ready, &reported))
    {
    case ENGINE_EVENT_IGNORE:
      break;
    case ENGINE_EVENT_OOM:
      engine_set_reason (c, "OutOfMemoryError", "Container killed due to memory usage");
      return;
    case ENGINE_EVENT_DIED:
      {
        struct engine_inspect m = { .has_exit_code = true, .exit_code = ev->exit_code };
        engine_record (e, t, ci, TASK_STATUS_STOPPED, &m);
        break;
      }
    case ENGINE_EVENT_PENDING:
      if (reported > c->pending_event)
        c->pending_event = reported;
      break;
    case ENGINE_EVENT_INSPECT:
      engine_issue_inspect (e, t, ci, reported);
      break;
    }
  engine_task_step (e, t);
}

/* After the event stream reconnected (events may have been lost): every
   live idle container is due for an inspect now, within the steady-state
   bound. */
static void
resync_all (engine_t *e)
{
  if (!e->ready || e->stopped)
    return;
  for (size_t i = 0; i < e->n_tasks; i++)
    for (size_t k = 0; k < e->tasks[i]->n_containers; k++)
      {
        struct task_container *c = &e->tasks[i]->containers[k];
        if (c->inflight == TASK_ACTION_NONE && engine_decide_steady (e->tasks[i], c, 0) != ENGINE_STEADY_NONE)
          c->steady_at_ms = 1; /* loop time 1: already past */
      }
  engine_steady_round (e);
}

static bool
op_is_steady_inspect (enum op_kind k)
{
  return k == OP_STEADY_INSPECT;
}

static uint64_t
steady_next (uint64_t now)
{
  return now + ENGINE_STEADY_INTERVAL_MS + (uint64_t) (util_random_unit () * (double) ENGINE_STEADY_JITTER_MS);
}

void
engine_steady_round (engine_t *e)
{
  if (!e->ready || e->stopped)
    return;
  uint64_t now = uv_now (e->loop);
  size_t busy = engine_ops_count (e, op_is_steady_inspect);
  for (size_t i = 0; i < e->n_tasks; i++)
    {
      struct task *t = e->tasks[i];
      for (size_t k = 0; k < t->n_containers; k++)
        {
          struct task_container *c = &t->containers[k];
          switch (engine_decide_steady (t, c, now))
            {
            case ENGINE_STEADY_NONE: c->steady_at_ms = 0; break;
            case ENGINE_STEADY_SCHEDULE: c->steady_at_ms = steady_next (now); break;
            case ENGINE_STEADY_WAIT: break;
            case ENGINE_STEADY_DUE:
              if (busy >= ENGINE_STEADY_MAX_INFLIGHT)
                break; /* stays due: the next completion or tick */
              busy++;
              c->steady_at_ms = steady_next (now);
              c->inflight = TASK_ACTION_INSPECT;
              struct op *op = engine_op_new (e, OP_STEADY_INSPECT, t, k);
              op->handle = e->ops->inspect (e->ops_ctx, c->docker_id, engine_inspect_done_cb, op);
              break;
            }
        }
    }
}

/* The daemon answers again (its event stream reconnected): stops and
   cleanups waiting for their back-off go now. */
static void
retry_now (engine_t *e)
{
  bool any = false;
  for (size_t i = 0; i < e->n_tasks; i++)
    {
      struct task *t = e->tasks[i];
      if (t->cleanup_retry_ns)
        {
          t->cleanup_retry_ns = 0;
          any = true;
        }
      for (size_t k = 0; k < t->n_containers; k++)
        if (t->containers[k].retry_at_ms)
          {
            t->containers[k].retry_at_ms = 0;
            any = true;
          }
    }
  if (!any)
    return;
  uv_timer_stop (&e->retry_timer);
  engine_step_all (e);
  engine_arm_cleanup (e);
  engine_arm_retry (e); /* stops that failed again in those steps */
}

void
engine_resync_timer_cb (uv_timer_t *h)
{
  engine_steady_round (h->data);
}

void
engine_events_state_cb (bool connected, agent_error_t err, void *data)
{
  engine_t *e = data;
  if (connected)
    {
      log_info (MOD, "docker event stream connected");
      if (e->events_seen_connected)
        {
          retry_now (e);
          resync_all (e);
        }
      e->events_seen_connected = true;
    }
  else
    log_warn (MOD, "docker event stream broke: %s (reconnecting)", err ? err->msg : "eof");
}
