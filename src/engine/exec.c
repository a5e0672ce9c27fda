/* engine/exec.c - the executor: issues the Docker calls the planner asks
 * for, keeps the calls in flight, records outcomes (known statuses, state
 * changes for ECS, saves) and runs the step loop of a task. */
#include "core/metrics.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "engine/create_opts.h"
#include "engine/depends.h"
#include "engine/cgroup.h"
#include "engine/engine_internal.h"
#include "engine/ports.h"
#include "engine/plan.h"
#include "log/log.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t
engine_wall_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void
engine_set_reason (struct task_container *c, const char *name, const char *msg)
{
  if (c->reason)
    return; /* the first error is sticky */
  c->reason = xasprintf ("%s: %s", name, msg && *msg ? msg : "unknown error");
  size_t n = strlen (c->reason);
  while (n > 0 && (c->reason[n - 1] == '\n' || c->reason[n - 1] == ' '))
    c->reason[--n] = '\0';
}

/* ---- ops in flight ------------------------------------------------------------ */

struct op *
engine_op_new (engine_t *e, enum op_kind kind, struct task *t, size_t ci)
{
  struct op *op = xcalloc (1, sizeof *op);
  op->e = e;
  op->kind = kind;
  op->t = t;
  op->ci = ci;
  TAILQ_INSERT_HEAD (&e->ops_list, op, link);
  return op;
}

bool
engine_op_is_launch (enum op_kind k)
{
  switch (k)
    {
    case OP_PULL:
    case OP_PULL_AUTH:
    case OP_PULL_CHECK_IMAGE:
    case OP_PULL_CACHED:
    case OP_CREATE_SAVE:
    case OP_CREATE:
    case OP_CREATE_ADOPT:
    case OP_START:
    case OP_START_INSPECT:
    case OP_PRECACHE:
      return true;
    default:
      return false;
    }
}

/* A launch slot freed while an action waits for one: step every task on
   the next loop turn (never from inside the code that freed the slot). */
static void
launch_slot_freed (engine_t *e, enum op_kind k)
{
  if (e->launch_deferred && engine_op_is_launch (k) && !e->stopped && !e->freeing)
    uv_timer_start (&e->launch_timer, engine_launch_timer_cb, 0, 0);
}

void
engine_launch_timer_cb (uv_timer_t *h)
{
  engine_t *e = h->data;
  if (!e->launch_deferred || e->stopped)
    return;
  e->launch_deferred = false;
  engine_step_all (e);
  engine_precache_resume (e);
}

size_t
engine_ops_count (const engine_t *e, engine_op_pred pred)
{
  size_t n = 0;
  const struct op *o;
  TAILQ_FOREACH (o, &e->ops_list, link)
  n += pred (o->kind);
  return n;
}

static void
op_free (struct op *op)
{
  free (op->msg);
  free (op->progress);
  free (op);
}

void
engine_op_finish (struct op *op)
{
  TAILQ_REMOVE (&op->e->ops_list, op, link);
  launch_slot_freed (op->e, op->kind);
  op_free (op);
}

void
engine_op_finish_container (struct op *op)
{
  op->t->containers[op->ci].inflight = TASK_ACTION_NONE;
  engine_op_finish (op);
}

char *
engine_op_take_msg (struct op *op)
{
  char *m = op->msg;
  op->msg = NULL;
  return m;
}

void
engine_op_cancel (struct op *op)
{
  engine_t *e = op->e;
  TAILQ_REMOVE (&e->ops_list, op, link);
  if (op->kind == OP_PULL_AUTH)
    engine_pull_auth_cancel (op);
  else if (op->kind == OP_CREATE_SAVE)
    state_save_cancel (e->state, engine_create_saved_cb, op);
  else if (op->kind == OP_RESTART_SAVE)
    state_save_cancel (e->state, engine_restart_saved_cb, op);
  else if (op->kind == OP_SECRETS)
    engine_secrets_cancel (e, op->handle);
  else if (op->kind == OP_SLICE || op->kind == OP_SLICE_STOP)
    engine_slice_cancel (op);
  else if (op->handle)
    e->ops->cancel (e->ops_ctx, op->handle);
  launch_slot_freed (e, op->kind);
  op_free (op);
}

void
engine_cancel_task_ops (engine_t *e, struct task *t)
{
  for (struct op *op = TAILQ_FIRST (&e->ops_list), *n; op; op = n)
    {
      n = TAILQ_NEXT (op, link);
      if (op->t == t)
        engine_op_cancel (op);
    }
  for (size_t i = 0; i < t->n_containers; i++)
    t->containers[i].inflight = TASK_ACTION_NONE;
}

bool
engine_task_has_ops (const engine_t *e, const struct task *t)
{
  const struct op *o;
  TAILQ_FOREACH (o, &e->ops_list, link)
  if (o->t == t)
    return true;
  return false;
}

/* ---- recording ------------------------------------------------------------------- */

void
engine_notify (engine_t *e, const struct task *t, const struct task_container *c)
{
  if (e->change_cb)
    e->change_cb (t, c, e->change_data);
}

static void
set_bindings (struct task_container *c, const struct task_port_binding *ports, size_t n)
{
  task_port_bindings_free (c->known_bindings, c->n_known_bindings);
  c->known_bindings = NULL;
  c->n_known_bindings = 0;
  if (n == 0)
    return;
  c->known_bindings = task_port_bindings_dup (ports, n);
  c->n_known_bindings = n;
}

bool
engine_record (engine_t *e, struct task *t, size_t ci, enum task_status st,
               const struct engine_inspect *m)
{
  struct task_container *c = &t->containers[ci];
  switch (engine_plan_accept_change (c, st))
    {
    case ENGINE_CHANGE_IGNORE:
      return false;
    case ENGINE_CHANGE_RESTOP:
      log_warn (MOD, "task %s container %s: STOPPED container reports RUNNING; stopping it again",
                t->arn, c->name);
      c->restopped = true;
      if (c->docker_id && c->inflight == TASK_ACTION_NONE)
        engine_issue_stop (e, t, ci);
      return false;
    case ENGINE_CHANGE_APPLY:
      break;
    }
  if (st == TASK_STATUS_STOPPED && c->restart.enabled && c->inflight == TASK_ACTION_NONE
      && c->known_status == TASK_STATUS_RUNNING && engine_restart_try (e, t, ci, m))
    return false; /* restarted in place (restart_exec.c); a failed restart records busy */
  log_info (MOD, "task %s container %s: %s -> %s", t->arn, c->name,
            task_container_status_str (c->known_status), task_container_status_str (st));
  c->known_status = st;
  if (st == TASK_STATUS_RUNNING)
    engine_note_started (c);
  if (st == TASK_STATUS_PULLED)
    engine_borrow_digest (e, c);
  if (st == TASK_STATUS_STOPPED && c->essential && !t->execution_stopped_ms)
    t->execution_stopped_ms = engine_wall_ms ();
  if (m)
    {
      if (st == TASK_STATUS_STOPPED && m->has_exit_code)
        {
          c->has_exit_code = true;
          c->exit_code = m->exit_code;
        }
      if (m->error_name)
        engine_set_reason (c, m->error_name, m->error_msg);
      if (m->has_ports && (st == TASK_STATUS_RUNNING || m->n_ports))
        set_bindings (c, m->ports, m->n_ports);
    }
  engine_emit_container_change (e, t, c);
  if (st == TASK_STATUS_PULLED)
    engine_emit_task_change (e, t); /* PENDING once every image is there */
  engine_notify (e, t, c);
  return true;
}

/* A Docker error on a forward transition: record the reason and stop the
   container (it is then marked STOPPED by the planner). */
static void
transition_failed (struct task *t, size_t ci, const char *name, const char *msg)
{
  struct task_container *c = &t->containers[ci];
  log_warn (MOD, "task %s container %s: %s: %s", t->arn, c->name, name, msg);
  engine_set_reason (c, name, msg);
  c->desired_status = TASK_STATUS_STOPPED;
}

/* A stop that did not provably stop the container: it keeps its known
   status and the stop is tried again after a back-off. */
static void
stop_retry_later (engine_t *e, struct task *t, size_t ci, const char *msg)
{
  struct task_container *c = &t->containers[ci];
  uint64_t d = engine_retry_delay_ms (&c->stop_backoff, ENGINE_STOP_RETRY_MIN_MS, ENGINE_STOP_RETRY_MAX_MS);
  c->retry_at_ms = uv_now (e->loop) + d;
  log_warn (MOD, "task %s container %s: stop not confirmed (%s); retrying in %llu ms", t->arn, c->name,
            msg && *msg ? msg : "container still running", (unsigned long long) d);
  engine_arm_retry (e);
}

/* Continue op with its next Docker call (same op, same callback data). */
static void
op_continue (engine_t *e, struct op *op, enum engine_next next, const char *carry)
{
  struct task_container *c = &op->t->containers[op->ci];
  free (op->msg);
  op->msg = carry ? xstrdup (carry) : NULL;
  switch (next)
    {
    case ENGINE_NEXT_PULL:
      engine_op_pull (e, op);
      break;
    case ENGINE_NEXT_INSPECT_IMAGE:
      op->kind = OP_PULL_CHECK_IMAGE;
      op->handle = e->ops->inspect_image (e->ops_ctx, c->image, engine_pull_image_checked_cb, op);
      break;
    case ENGINE_NEXT_INSPECT_NAME:
      op->kind = OP_CREATE_ADOPT;
      op->handle = e->ops->inspect (e->ops_ctx, c->docker_name, engine_inspect_done_cb, op);
      break;
    case ENGINE_NEXT_INSPECT_ID:
      op->kind = op->kind == OP_STOP ? OP_STOP_INSPECT : OP_START_INSPECT;
      op->handle = e->ops->inspect (e->ops_ctx, c->docker_id, engine_inspect_done_cb, op);
      break;
    case ENGINE_NEXT_NONE:
    case ENGINE_NEXT_STOP_LATER:
      break;
    }
}

void
engine_apply_outcome (engine_t *e, struct op *op, struct task *t, size_t ci,
                      const struct engine_observation *o, const struct engine_outcome *out,
                      const char *docker_id)
{
  struct task_container *c = &t->containers[ci];
  if (out->next == ENGINE_NEXT_INSPECT_IMAGE || out->next == ENGINE_NEXT_INSPECT_NAME
      || out->next == ENGINE_NEXT_INSPECT_ID || out->next == ENGINE_NEXT_PULL)
    {
      if (out->warn)
        log_warn (MOD, "task %s container %s: %s", t->arn, c->name, out->warn);
      if (out->reason_name) /* e.g. the registry credentials failed: sticky */
        engine_set_reason (c, out->reason_name, out->reason_msg);
      op_continue (e, op, out->next, out->carry);
      return;
    }
  if (op)
    engine_op_finish_container (op);
  if (out->warn && !out->pulled)
    log_warn (MOD, "task %s container %s: %s", t->arn, c->name, out->warn);
  if (out->pulled)
    {
      if (out->warn)
        log_warn (MOD, "task %s container %s: pull of %s failed (%s); using the local image", t->arn,
                  c->name, c->image, out->warn);
      engine_pull_cache_remember (&e->pulls, c->image, c->image_digest, uv_now (e->loop));
      if (c->image)
        engine_issue_image_record (e, c->image, o->source == ENGINE_OBS_PULL && !o->err_kind);
    }
  if (out->stop_task && t->desired_status != TASK_STATUS_STOPPED)
    {
      log_warn (MOD, "task %s: pull of %s failed with pull behaviour %s; stopping the task", t->arn,
                c->image, engine_pull_behavior_name (e->pull_behavior));
      t->desired_status = TASK_STATUS_STOPPED;
    }
  if (out->set_id && docker_id)
    {
      free (c->docker_id);
      c->docker_id = xstrdup (docker_id);
      if (out->adopted)
        log_info (MOD, "task %s container %s: adopted existing Docker container %s", t->arn, c->name,
                  docker_id);
    }
  if (out->reason_name)
    engine_set_reason (c, out->reason_name, out->reason_msg);
  if (out->fail_name)
    transition_failed (t, ci, out->fail_name, out->fail_msg);
  if (out->force_stop && c->docker_id) /* it may be running all the same (decide.h) */
    engine_issue_stop (e, t, ci);
  if (out->stop_confirmed)
    {
      c->retry_at_ms = 0;
      backoff_reset (&c->stop_backoff);
    }
  if (out->next == ENGINE_NEXT_STOP_LATER)
    stop_retry_later (e, t, ci, out->carry);
  for (size_t i = 0; i < out->n_steps; i++)
    engine_record (e, t, ci, out->steps[i].status, out->steps[i].with_info ? &o->info : NULL);
  if (o->source != ENGINE_OBS_RECONCILE_INSPECT) /* tasks are stepped once reconciliation is done */
    engine_container_idle (e, t, ci);
  if (out->pulled || o->source == ENGINE_OBS_PULL || o->source == ENGINE_OBS_PULL_LOCAL_IMAGE
      || o->source == ENGINE_OBS_PULL_CACHED)
    engine_step_all (e); /* containers waiting for this image's pull */
}

/* ---- issuing ------------------------------------------------------------------------ */

static bool
pull_in_flight (const engine_t *e, const char *image)
{
  const struct op *o;
  TAILQ_FOREACH (o, &e->ops_list, link)
  if ((o->kind == OP_PULL || o->kind == OP_PULL_AUTH || o->kind == OP_PULL_CHECK_IMAGE
       || o->kind == OP_PULL_CACHED) && o->t
      && strcmp (o->t->containers[o->ci].image, image) == 0)
    return true;
  return engine_precache_in_flight (e, image);
}

/* True when the container moved to PULLED at once (image pulled moments
   ago); false when a pull was issued or it waits for the same image's. */
static bool
issue_pull (engine_t *e, struct task *t, size_t ci)
{
  struct task_container *c = &t->containers[ci];
  /* A pull with registryAuthentication always asks for its credentials
     (a Secrets Manager failure stops the task even if the image is here). */
  switch (c->registry_auth.type != TASK_REGISTRY_AUTH_NONE
              ? ENGINE_PULL_ISSUE
              : engine_decide_pull (&e->pulls, c->image, pull_in_flight (e, c->image), uv_now (e->loop)))
    {
    case ENGINE_PULL_REUSE:
      /* where upstream would pull again (behaviour default / always), the
         shared pull stands for this task's: its pull time stamps are set
         as for a pull that took no time, so its task changes carry them */
      if (engine_decide_pull_policy (e->pull_behavior, true) == ENGINE_POLICY_PULL)
        {
          int64_t now = engine_wall_ms ();
          if (!t->pull_started_ms)
            t->pull_started_ms = now;
          t->pull_stopped_ms = now;
        }
      /* and its digest (PENDING, imageDigest), as the pull reported it */
      const char *digest = engine_pull_cache_digest (&e->pulls, c->image);
      if (digest && !c->image_digest)
        c->image_digest = xstrdup (digest);
      engine_record (e, t, ci, TASK_STATUS_PULLED, NULL);
      return true;
    case ENGINE_PULL_WAIT:
      return false;
    case ENGINE_PULL_ISSUE:
      break;
    }
  const struct image_record *r = image_records_find_name (&e->images, c->image);
  enum engine_pull_policy pol = engine_decide_pull_policy (e->pull_behavior, r && r->pull_succeeded);
  if (pol == ENGINE_POLICY_SKIP)
    {
      log_info (MOD, "task %s container %s: %s was pulled before (pull behaviour once); not pulling",
                t->arn, c->name, c->image);
      engine_record (e, t, ci, TASK_STATUS_PULLED, NULL);
      return true;
    }
  if (e->image_cycle || !engine_decide_launch_slot (e->launch_limit, engine_ops_count (e, engine_op_is_launch)))
    {
      e->launch_deferred = true; /* image cleanup running, or no launch slot */
      return false;
    }
  c->inflight = TASK_ACTION_PULL;
  struct op *op = engine_op_new (e, OP_PULL, t, ci);
  if (pol == ENGINE_POLICY_CHECK_LOCAL)
    {
      op->kind = OP_PULL_CACHED;
      op->handle = e->ops->inspect_image (e->ops_ctx, c->image, engine_pull_image_checked_cb, op);
      return false;
    }
  engine_op_pull (e, op);
  return false;
}

void
engine_do_create (engine_t *e, struct task *t, size_t ci)
{
  struct task_container *c = &t->containers[ci];
  struct engine_create_req r;
  char *errmsg = NULL;
  size_t nl;
  struct engine_cgroup_spec cg; /* task-level cpu / memory (engine/cgroup.h) */
  if (engine_cgroup_prepare (e->cgroup_root, &e->cgroup_cfg, t, &cg, &errmsg) < 0)
    {
      transition_failed (t, ci, "CgroupError", errmsg);
      free (errmsg);
      c->inflight = TASK_ACTION_NONE;
      return;
    }
  struct docker_label *labels = engine_labels (e, t, c, &nl);
  const struct image_record *img = c->image ? image_records_find_name (&e->images, c->image) : NULL;
  unsigned image_env = img && img->env_known ? img->managed_env : 0;
  if (engine_create_req_build_host (t, c, e->region, image_env, e->gates.ipv6_only, labels, nl, &r,
                                    &errmsg) < 0
      || engine_ports_pick_for (&e->port_alloc, e->pick_host_ports ? &e->gates : NULL, t, c, &r, &errmsg) < 0)
    {
      transition_failed (t, ci, "HostConfigError", errmsg);
      free (errmsg);
      c->inflight = TASK_ACTION_NONE;
    }
  else
    {
      engine_cgroup_apply (&cg, e->gates.propagate_task_memory, &r.opts);
      struct op *op = engine_op_new (e, OP_CREATE, t, ci);
      log_info (MOD, "task %s container %s: creating %s", t->arn, c->name, c->docker_name);
      op->handle = e->ops->create (e->ops_ctx, &r.opts, engine_create_done_cb, op);
    }
  engine_create_req_free (&r);
}

bool
engine_volumes_ready (const struct task *t, const struct task_container *c)
{
  for (size_t i = 0; i < c->n_mount_points; i++)
    {
      const struct task_volume *v = task_find_volume (t, c->mount_points[i].source_volume);
      if (v && !v->source_path && !v->created)
        return false;
    }
  return true;
}

static bool
volume_create_in_flight (const engine_t *e, const struct task *t, size_t vi)
{
  const struct op *o;
  TAILQ_FOREACH (o, &e->ops_list, link)
  if (o->t == t && o->kind == OP_VOLUME_CREATE && o->ci == vi)
    return true;
  return false;
}

/* Phase 2 of a create: volumes ready -> durable save of the name -> create. */
void
engine_create_continue (engine_t *e, struct task *t, size_t ci)
{
  struct task_container *c = &t->containers[ci];
  if (!c->docker_name)
    c->docker_name = engine_docker_container_name (t, c);
  struct op *op = engine_op_new (e, OP_CREATE_SAVE, t, ci);
  state_save (e->state, engine_create_saved_cb, op);
}

static bool
launch_slot (engine_t *e)
{
  if (engine_decide_launch_slot (e->launch_limit, engine_ops_count (e, engine_op_is_launch)))
    return true;
  e->launch_deferred = true;
  return false;
}

static void
issue_create (engine_t *e, struct task *t, size_t ci)
{
  struct task_container *c = &t->containers[ci];
  c->inflight = TASK_ACTION_CREATE;
  if (!c->docker_name)
    c->docker_name = engine_docker_container_name (t, c);
  bool wait = false;
  for (size_t m = 0; m < c->n_mount_points; m++)
    {
      struct task_volume *v = task_find_volume (t, c->mount_points[m].source_volume);
      if (!v || v->source_path || v->created)
        continue;
      wait = true;
      size_t vi = (size_t) (v - t->volumes);
      if (volume_create_in_flight (e, t, vi))
        continue;
      if (!v->docker_name)
        v->docker_name = engine_docker_volume_name (t, v);
      struct op *op = engine_op_new (e, OP_VOLUME_CREATE, t, vi);
      size_t nl;
      cleanup_free struct docker_label *labels = engine_labels (e, t, NULL, &nl);
      op->handle = e->ops->volume_create (e->ops_ctx, v->docker_name, labels, nl,
                                          engine_volume_created_cb, op);
    }
  if (!wait)
    engine_create_continue (e, t, ci);
}

static void
issue_start (engine_t *e, struct task *t, size_t ci)
{
  struct task_container *c = &t->containers[ci];
  if (!c->docker_id)
    {
      transition_failed (t, ci, "CannotStartContainerError", "Container not recorded as created");
      return;
    }
  c->inflight = TASK_ACTION_START;
  struct op *op = engine_op_new (e, OP_START, t, ci);
  log_info (MOD, "task %s container %s: starting %s", t->arn, c->name, c->docker_name);
  op->handle = e->ops->start (e->ops_ctx, c->docker_id, c->opts.dc_version, engine_start_done_cb, op);
}

void
engine_issue_stop (engine_t *e, struct task *t, size_t ci)
{
  struct task_container *c = &t->containers[ci];
  c->inflight = TASK_ACTION_STOP;
  struct op *op = engine_op_new (e, OP_STOP, t, ci);
  log_info (MOD, "task %s container %s: stopping %s", t->arn, c->name, c->docker_name);
  op->handle = e->ops->stop (e->ops_ctx, c->docker_id, engine_stop_timeout_s (c, e->stop_timeout_ms),
                             engine_stop_done_cb, op);
}

/* Inspect container ci after an event (reported) or to resync (NONE). */
void
engine_issue_inspect (engine_t *e, struct task *t, size_t ci, enum task_status reported)
{
  struct task_container *c = &t->containers[ci];
  c->inflight = TASK_ACTION_INSPECT;
  struct op *op = engine_op_new (e, OP_EVENT_INSPECT, t, ci);
  op->status = reported;
  op->handle = e->ops->inspect (e->ops_ctx, c->docker_id, engine_inspect_done_cb, op);
}

void
engine_container_idle (engine_t *e, struct task *t, size_t ci)
{
  struct task_container *c = &t->containers[ci];
  if (c->inflight == TASK_ACTION_NONE && c->pending_event != TASK_STATUS_NONE)
    {
      enum task_status st = c->pending_event;
      c->pending_event = TASK_STATUS_NONE;
      if (engine_decide_pending (t, ci, st) == ENGINE_EVENT_INSPECT)
        engine_issue_inspect (e, t, ci, st);
    }
  engine_task_step (e, t);
}

/* ---- the step ---------------------------------------------------------------------- */

static bool
task_held (const engine_t *e, const struct task *t)
{
  if (t->start_seq == 0 || t->desired_status == TASK_STATUS_STOPPED)
    return false;
  for (size_t i = 0; i < e->n_tasks; i++)
    {
      const struct task *u = e->tasks[i];
      if (u != t && u->stop_seq != 0 && u->stop_seq <= t->start_seq
          && u->known_status != TASK_STATUS_STOPPED)
        return true;
    }
  return false;
}

static void
task_became_stopped (engine_t *e, struct task *t)
{
  log_info (MOD, "task %s stopped%s%s", t->arn, t->reason ? ": " : "", t->reason ? t->reason : "");
  engine_arm_cleanup (e);
  if (t->stop_seq)
    {
      /* Tasks held behind this stop may go now. */
      for (size_t i = 0; i < e->n_tasks; i++)
        if (e->tasks[i] != t && e->tasks[i]->hold)
          engine_task_step (e, e->tasks[i]);
    }
}

static bool
image_record_in_flight (const engine_t *e, const char *image)
{
  const struct op *o;
  TAILQ_FOREACH (o, &e->ops_list, link)
  if (o->kind == OP_IMAGE_RECORD && o->msg && strcmp (o->msg, image) == 0)
    return true;
  return false;
}

/* Is the image's ManagedEnvKeys known (or not needed) before container i's
   create?  If not, its record inspect is issued or awaited; the record's
   callback steps the tasks again (engine/images.h). */
static bool
create_image_known (engine_t *e, struct task *t, size_t i)
{
  struct task_container *c = &t->containers[i];
  if (!c->image)
    return true;
  switch (engine_decide_create_image (engine_create_region_wanted (c, e->region),
                                      image_records_find_name (&e->images, c->image),
                                      image_record_in_flight (e, c->image), c->image_env_failed))
    {
    case ENGINE_CREATE_IMAGE_READY:
      return true;
    case ENGINE_CREATE_IMAGE_INSPECT:
      log_info (MOD, "task %s container %s: reading the environment of %s before the create", t->arn,
                c->name, c->image);
      engine_issue_image_record (e, c->image, false);
      return false;
    case ENGINE_CREATE_IMAGE_WAIT:
      return false;
    }
  return false;
}

/* Issue action a for container i; true when the step should run again. */
static bool
act (engine_t *e, struct task *t, size_t i, enum task_action a, bool *dirty)
{
  switch (a)
    {
    case TASK_ACTION_NONE:
    case TASK_ACTION_REMOVE:
    case TASK_ACTION_INSPECT:
      return false;
    case TASK_ACTION_MARK_STOPPED:
      engine_record (e, t, i, TASK_STATUS_STOPPED, NULL);
      *dirty = true;
      return true;
    case TASK_ACTION_PULL:
      *dirty = true;
      return issue_pull (e, t, i);
    case TASK_ACTION_CREATE:
      if (!create_image_known (e, t, i) || !launch_slot (e))
        return false;
      issue_create (e, t, i);
      *dirty = true;
      return false;
    case TASK_ACTION_START:
      if (!launch_slot (e))
        return false;
      issue_start (e, t, i);
      *dirty = true;
      return true;
    case TASK_ACTION_STOP:
      if (t->containers[i].retry_at_ms)
        return false; /* an earlier stop failed: the retry timer calls again */
      engine_issue_stop (e, t, i);
      *dirty = true;
      return false;
    }
  return false;
}

static void
task_set_known (engine_t *e, struct task *t, enum task_status k)
{
  t->known_status = k;
  t->known_time_ns = engine_wall_ns ();
  engine_emit_task_change (e, t);
  engine_notify (e, t, NULL);
}

void
engine_task_step (engine_t *e, struct task *t)
{
  if (!e->ready || e->stopped || t->removing)
    return;
  bool dirty = false;
  for (int round = 0; round < 64; round++)
    {
      bool again = false;
      dirty |= engine_dependency_failures (e, t);
      dirty |= engine_secrets_step (e, t);
      dirty |= engine_slice_step (e, t);
      dirty |= engine_plan_update_desired (t);
      t->hold = task_held (e, t);
      t->pull_upfront = e->pull_upfront;
      t->links_by_address = e->links_by_address;
      for (size_t i = 0; i < t->n_containers; i++)
        again |= act (e, t, i, engine_plan_container_action (t, i), &dirty);
      enum task_status k = engine_plan_task_known (t);
      if (k > t->known_status)
        {
          log_info (MOD, "task %s: %s -> %s", t->arn, task_status_str (t->known_status),
                    task_status_str (k));
          task_set_known (e, t, k);
          dirty = true;
          if (k == TASK_STATUS_STOPPED)
            {
              task_became_stopped (e, t);
              break;
            }
        }
      switch (engine_plan_stuck (t))
        {
        case ENGINE_PLAN_NOT_STUCK:
          break;
        case ENGINE_PLAN_STUCK_STOP_TASK:
          log_warn (MOD, "task %s cannot progress; stopping it", t->arn);
          t->desired_status = TASK_STATUS_STOPPED;
          again = dirty = true;
          break;
        case ENGINE_PLAN_STUCK_FORCE_STOP:
          if (!t->reason)
            t->reason = xstrdup (ENGINE_REASON_TASK_STATE);
          task_set_known (e, t, TASK_STATUS_STOPPED);
          task_became_stopped (e, t);
          dirty = true;
          break;
        }
      if (!again || t->known_status == TASK_STATUS_STOPPED)
        break;
    }
  if (dirty)
    state_save (e->state, NULL, NULL);
}

void
engine_step_all (engine_t *e)
{
  /* task_step never removes tasks, so indices stay valid. */
  for (size_t i = 0; i < e->n_tasks; i++)
    engine_task_step (e, e->tasks[i]);
}
