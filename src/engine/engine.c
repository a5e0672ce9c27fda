/* engine/engine.c - the engine's lifecycle and public API: options,
 * restoring checkpointed tasks, start (event stream, reconciliation, the
 * steady-state tick), stop and free, adding tasks, read-only lookups.  The
 * rest lives in the files engine_internal.h lists. */
#include "core/util.h"
#include "config/config.h"
#include "core/xmalloc.h"
#include "engine/engine_internal.h"
#include "engine/options_check.h"
#include "engine/plan.h"
#include "log/log.h"
#include <stdlib.h>
#include <string.h>

/* Docker is asked for every live container's status this often (events may be lost). */

/* ---- public API ---------------------------------------------------------------------------- */

static void
provider (void *data, struct task *const **tasks, size_t *n)
{
  engine_t *e = data;
  *tasks = e->tasks;
  *n = e->n_tasks;
}

static void
image_provider (void *data, const struct image_records **records)
{
  engine_t *e = data;
  *records = &e->images;
}

static void add_task_array (engine_t *e, struct task *t);

/* Tasks restored from the checkpoint (state_load kept the section). */
static int
restore_tasks (engine_t *e, agent_error_t *err)
{
  if (state_loaded_task_count (e->state) > 0)
    {
      struct task **tasks = NULL;
      size_t n = 0;
      state_take_tasks (e->state, &tasks, &n);
      for (size_t i = 0; i < n; i++)
        {
          struct task *t = tasks[i];
          if (t->desired_status == TASK_STATUS_PULLED)
            t->desired_status = TASK_STATUS_NONE;
          if (t->known_status == TASK_STATUS_PULLED)
            t->known_status = TASK_STATUS_NONE;
          add_task_array (e, t);
          char *reason = NULL;
          if (t->known_status != TASK_STATUS_STOPPED && engine_plan_check_task (t, &reason) < 0)
            engine_refuse_task (e, t, reason);
        }
      free (tasks);
      log_info (MOD, "restored %zu tasks from the checkpoint", n);
    }
  return 0;
}

static void engine_destroy (engine_t *e);

engine_t *
engine_new (uv_loop_t *loop, const struct engine_options *opts, agent_error_t *err)
{
  if (!opts || !opts->state)
    {
      error_set (err, ERR_INVALID, "engine: a state store is required");
      return NULL;
    }
  if (!opts->ops && !opts->docker)
    {
      error_set (err, ERR_INVALID, "engine: a Docker client or ops are required");
      return NULL;
    }
  engine_t *e = xcalloc (1, sizeof *e);
  e->loop = loop;
  TAILQ_INIT (&e->ops_list);
  e->cluster = xstrdup (opts->cluster && *opts->cluster ? opts->cluster : "default");
  e->region = opts->region && *opts->region ? xstrdup (opts->region) : NULL;
  e->cgroup_root = opts->cgroup_root ? xstrdup (opts->cgroup_root) : NULL;
  e->cgroup_cfg.systemd = opts->cgroup_systemd;
  e->systemd = opts->systemd;
  e->systemd_version = ENGINE_SYSTEMD_VERSION_UNASKED;
  e->pick_host_ports = opts->pick_host_ports;
  if (opts->gates)
    task_option_gates_copy (&e->gates, opts->gates);
  else
    task_option_gates_default (&e->gates);
  e->cgroup_cfg.cpu_period_us = (int64_t) e->gates.cgroup_cpu_period_ms * 1000;
  e->cleanup_wait_ms = opts->cleanup_wait_ms ? opts->cleanup_wait_ms
                                             : CONFIG_DEFAULT_TASK_CLEANUP_WAIT_MS;
  e->stop_timeout_ms = opts->stop_timeout_ms ? opts->stop_timeout_ms
                                             : CONFIG_DEFAULT_CONTAINER_STOP_TIMEOUT_MS;
  e->state = opts->state;
  e->ops = opts->ops ? opts->ops : &engine_docker_ops_default;
  e->ops_ctx = opts->ops ? opts->ops_ctx : opts->docker;
  e->auth = opts->auth;
  e->pull_behavior = opts->pull_behavior;
  e->pull_upfront = opts->pull_dependent_upfront;
  e->links_by_address = opts->links_by_address;
  e->launch_limit = opts->launch_concurrency > 0 ? opts->launch_concurrency : 0;
  e->images_cfg = opts->images;
  engine_secrets_init (e, opts);
  if (opts->n_extra_labels)
    {
      e->extra_labels = xcalloc (opts->n_extra_labels, sizeof *e->extra_labels);
      for (size_t i = 0; i < opts->n_extra_labels; i++)
        {
          e->extra_labels[i].key = xstrdup (opts->extra_labels[i].key);
          e->extra_labels[i].value = xstrdup (opts->extra_labels[i].value ? opts->extra_labels[i].value : "");
        }
      e->n_extra_labels = opts->n_extra_labels;
    }
  if (restore_tasks (e, err) < 0)
    {
      engine_destroy (e);
      return NULL;
    }
  state_set_task_provider (e->state, provider, e);
  state_take_images (e->state, &e->images);
  state_set_image_provider (e->state, image_provider, e);
  uv_timer_init (loop, &e->cleanup_timer);
  uv_timer_init (loop, &e->reconcile_timer);
  uv_timer_init (loop, &e->resync_timer);
  uv_timer_init (loop, &e->retry_timer);
  uv_timer_init (loop, &e->launch_timer);
  uv_timer_init (loop, &e->image_timer);
  uv_timer_init (loop, &e->precache_timer);
  e->cleanup_timer.data = e->reconcile_timer.data = e->resync_timer.data = e->retry_timer.data = e;
  e->launch_timer.data = e->image_timer.data = e->precache_timer.data = e;
  e->open_handles = 7;
  backoff_init (&e->reconcile_backoff, ENGINE_RECONCILE_RETRY_MIN_MS, ENGINE_RECONCILE_RETRY_MAX_MS,
                0.2, 1.5);
  return e;
}

static void
add_task_array (engine_t *e, struct task *t)
{
  if (e->n_tasks == e->cap_tasks)
    {
      e->cap_tasks = e->cap_tasks ? 2 * e->cap_tasks : 16;
      e->tasks = xrealloc (e->tasks, e->cap_tasks * sizeof *e->tasks);
    }
  e->tasks[e->n_tasks++] = t;
}

/* Refuse a task that cannot run (no containers, dependencies that cannot
   be satisfied): recorded STOPPED with the reason, never run. */
void
engine_refuse_task (engine_t *e, struct task *t, char *reason)
{
  log_warn (MOD, "task %s: %s", t->arn, reason);
  free (t->reason);
  t->reason = reason;
  t->desired_status = TASK_STATUS_STOPPED;
  for (size_t i = 0; i < t->n_containers; i++)
    {
      struct task_container *c = &t->containers[i];
      c->desired_status = TASK_STATUS_STOPPED;
      if (!c->docker_id)
        c->known_status = TASK_STATUS_STOPPED;
    }
  if (t->known_status != TASK_STATUS_STOPPED)
    {
      bool any_docker = false;
      for (size_t i = 0; i < t->n_containers; i++)
        any_docker |= t->containers[i].docker_id != NULL;
      if (!any_docker)
        {
          t->known_status = TASK_STATUS_STOPPED;
          t->known_time_ns = engine_wall_ns ();
          engine_emit_task_change (e, t);
          engine_notify (e, t, NULL);
        }
    }
}

int
engine_start (engine_t *e, agent_error_t *err)
{
  if (e->started)
    return 0;
  e->started = true;
  /* the actions engine_event_relevant acts on (decide.h) */
  static const char *const actions[] = { "create", "start", "die", "oom", "health_status", NULL };
  struct docker_events_opts eo = {
    .since_ns = engine_wall_ns () - 1000000000LL,
    .label_filter = LABEL_TASK_ARN,
    .actions = actions,
    .on_event = engine_docker_event_cb,
    .on_state = engine_events_state_cb,
    .data = e,
  };
  e->events = e->ops->events_start (e->ops_ctx, &eo);
  engine_reconcile_start (e);
  uv_timer_start (&e->resync_timer, engine_resync_timer_cb, ENGINE_STEADY_TICK_MS, ENGINE_STEADY_TICK_MS);
  uv_unref ((uv_handle_t *) &e->resync_timer); /* never keeps the loop alive by itself */
  engine_images_start (e);
  return 0;
}

bool
engine_ready (const engine_t *e)
{
  return e->ready;
}

void
engine_stop (engine_t *e)
{
  if (!e || e->stopped)
    return;
  e->stopped = true;
  while (!TAILQ_EMPTY (&e->ops_list))
    engine_op_cancel (TAILQ_FIRST (&e->ops_list));
  for (size_t i = 0; i < e->n_tasks; i++)
    for (size_t k = 0; k < e->tasks[i]->n_containers; k++)
      e->tasks[i]->containers[k].inflight = TASK_ACTION_NONE;
  if (e->events)
    e->ops->events_stop (e->ops_ctx, e->events);
  e->events = NULL;
  uv_timer_stop (&e->cleanup_timer);
  uv_timer_stop (&e->reconcile_timer);
  uv_timer_stop (&e->resync_timer);
  uv_timer_stop (&e->retry_timer);
  uv_timer_stop (&e->launch_timer);
  uv_timer_stop (&e->image_timer);
  uv_timer_stop (&e->precache_timer);
}

static void
engine_destroy (engine_t *e)
{
  for (size_t i = 0; i < e->n_tasks; i++)
    task_free (e->tasks[i]);
  free (e->tasks);
  for (size_t i = 0; i < e->n_extra_labels; i++)
    {
      free ((char *) e->extra_labels[i].key);
      free ((char *) e->extra_labels[i].value);
    }
  free (e->extra_labels);
  engine_pull_cache_free (&e->pulls);
  image_records_free (&e->images);
  engine_image_cycle_free (e);
  engine_pull_auth_free (e);
  free (e->precache);
  free (e->cluster);
  free (e->region);
  task_option_gates_free (&e->gates);
  free (e->cgroup_root);
  free (e);
}

static void
engine_close_cb (uv_handle_t *h)
{
  engine_t *e = h->data;
  if (--e->open_handles == 0)
    engine_destroy (e);
}

void
engine_free (engine_t *e)
{
  if (!e)
    return;
  engine_stop (e);
  e->freeing = true;
  /* Last serialisation point: the store must not call back into us. */
  state_set_task_provider (e->state, NULL, NULL);
  state_set_image_provider (e->state, NULL, NULL);
  uv_close ((uv_handle_t *) &e->cleanup_timer, engine_close_cb);
  uv_close ((uv_handle_t *) &e->reconcile_timer, engine_close_cb);
  uv_close ((uv_handle_t *) &e->resync_timer, engine_close_cb);
  uv_close ((uv_handle_t *) &e->retry_timer, engine_close_cb);
  uv_close ((uv_handle_t *) &e->launch_timer, engine_close_cb);
  uv_close ((uv_handle_t *) &e->image_timer, engine_close_cb);
  uv_close ((uv_handle_t *) &e->precache_timer, engine_close_cb);
}

int
engine_task_add (engine_t *e, struct task *task, agent_error_t *err)
{
  if (!task || !task->arn || !*task->arn)
    {
      task_free (task);
      return error_set (err, ERR_INVALID, "engine_task_add: task without an ARN");
    }
  if (e->stopped)
    {
      task_free (task);
      return error_set (err, ERR_CANCELLED, "engine stopped");
    }
  struct task *old = (struct task *) engine_find_task_by_arn (e, task->arn);
  if (old)
    {
      enum task_status want = engine_plan_task_status_of (task->desired_status);
      if (want > old->desired_status)
        {
          log_info (MOD, "task %s: desired %s -> %s", old->arn, task_status_str (old->desired_status),
                    task_status_str (want));
          old->desired_status = want;
          if (want == TASK_STATUS_STOPPED && task->stop_seq && !old->stop_seq)
            old->stop_seq = task->stop_seq;
          engine_task_step (e, old);
          state_save (e->state, NULL, NULL);
        }
      else
        log_debug (MOD, "task %s: already known with desired %s; ignored", old->arn,
                   task_status_str (old->desired_status));
      task_free (task);
      return 0;
    }
  struct task *t = task;
  t->launch_started_ms = util_now_ms ();
  if (t->desired_status == TASK_STATUS_PULLED)
    t->desired_status = TASK_STATUS_NONE;
  t->known_status = t->sent_status = TASK_STATUS_NONE;
  for (size_t i = 0; i < t->n_containers; i++)
    {
      struct task_container *c = &t->containers[i];
      c->known_status = c->sent_status = TASK_STATUS_NONE;
      c->inflight = TASK_ACTION_NONE;
      c->pending_event = TASK_STATUS_NONE;
      if (c->desired_status > TASK_STATUS_NONE && c->desired_status != TASK_STATUS_STOPPED)
        c->desired_status = TASK_STATUS_NONE; /* raised from the task's */
    }
  log_info (MOD, "task %s (%s:%s): added, desired %s, %zu containers", t->arn, t->family, t->version,
            task_status_str (t->desired_status), t->n_containers);
  add_task_array (e, t);
  char *reason = NULL;
  /* (A stop for a task never seen carries no containers: nothing to refuse.) */
  int rc = 0;
  /* task limits on: the task's cgroup spec first, as upstream's
     PostUnmarshalTask builds it before anything else */
  if (e->cgroup_root && t->desired_status != TASK_STATUS_STOPPED)
    rc = engine_cgroup_check (t, &reason);
  if (rc == 0 && !(t->desired_status == TASK_STATUS_STOPPED && t->n_containers == 0))
    rc = engine_plan_check_task (t, &reason);
  if (rc == 0 && t->desired_status != TASK_STATUS_STOPPED)
    rc = engine_options_check (t, &e->gates, &reason);
  if (rc < 0)
    {
      engine_refuse_task (e, t, reason);
      engine_arm_cleanup (e);
    }
  else
    engine_task_step (e, t);
  state_save (e->state, NULL, NULL);
  return 0;
}

size_t
engine_task_count (const engine_t *e)
{
  return e->n_tasks;
}

const struct task *
engine_task_at (const engine_t *e, size_t i)
{
  return i < e->n_tasks ? e->tasks[i] : NULL;
}

const struct task *
engine_find_task_by_arn (const engine_t *e, const char *arn)
{
  if (!arn)
    return NULL;
  for (size_t i = 0; i < e->n_tasks; i++)
    if (strcmp (e->tasks[i]->arn, arn) == 0)
      return e->tasks[i];
  return NULL;
}

const struct task *
engine_find_task_by_docker_id (const engine_t *e, const char *id, const struct task_container **cout)
{
  if (cout)
    *cout = NULL;
  if (!id)
    return NULL;
  size_t n = strlen (id);
  bool exact = n == 64;
  if (n < 12)
    return NULL;
  const struct task *found = NULL;
  const struct task_container *fc = NULL;
  for (size_t i = 0; i < e->n_tasks; i++)
    for (size_t k = 0; k < e->tasks[i]->n_containers; k++)
      {
        const struct task_container *c = &e->tasks[i]->containers[k];
        if (!c->docker_id)
          continue;
        if (exact ? strcmp (c->docker_id, id) == 0 : strncmp (c->docker_id, id, n) == 0)
          {
            if (found && fc != c)
              return NULL; /* ambiguous prefix */
            found = e->tasks[i];
            fc = c;
          }
      }
  if (cout)
    *cout = fc;
  return found;
}

void
engine_set_aws_credentials (engine_t *e, aws_creds_provider_t *instance,
                            const task_creds_store_t *task_creds)
{
  e->instance_creds = instance;
  e->creds = task_creds;
}

void
engine_set_change_cb (engine_t *e, engine_change_cb cb, void *data)
{
  e->change_cb = cb;
  e->change_data = data;
}

int
engine_task_set_credentials_id (engine_t *e, const char *arn, bool execution_role, const char *id,
                                agent_error_t *err)
{
  struct task *t = NULL;
  for (size_t i = 0; arn && i < e->n_tasks && !t; i++)
    if (strcmp (e->tasks[i]->arn, arn) == 0)
      t = e->tasks[i];
  if (!t)
    return error_set (err, ERR_NOT_FOUND, "task %s is not known", arn ? arn : "");
  char **slot = execution_role ? &t->execution_credentials_id : &t->credentials_id;
  if (*slot && id && strcmp (*slot, id) == 0)
    return 0;
  free (*slot);
  *slot = id && *id ? xstrdup (id) : NULL;
  state_save (e->state, NULL, NULL);
  return 0;
}
