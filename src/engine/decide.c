/* engine/decide.c - observations -> outcomes, events, pull reuse, retry
 * delays, cleanup deadlines.  Pure: no I/O, no clock, no allocation except
 * the image names the pull cache keeps. */
#include "engine/decide.h"
#include "core/error.h"
#include "core/xmalloc.h"
#include "engine/engine_internal.h"
#include "engine/plan.h"
#include <stdlib.h>
#include <string.h>

#define REASON_VANISHED_NAME "ContainerVanishedError"
#define REASON_VANISHED_MSG "No container matching saved ID found"

void
engine_inspect_read (const struct docker_container_info *info, struct engine_inspect *out)
{
  memset (out, 0, sizeof *out);
  if (!info)
    return;
  if (info->running)
    out->status = TASK_STATUS_RUNNING;
  else if (info->status && strcmp (info->status, "created") == 0)
    out->status = TASK_STATUS_CREATED;
  else
    out->status = TASK_STATUS_STOPPED;
  out->started = info->started_at_ns > 0;
  out->started_at_ns = info->started_at_ns;
  if (!info->running)
    {
      out->has_exit_code = true;
      out->exit_code = info->exit_code;
    }
  if (info->oom_killed)
    {
      out->error_name = "OutOfMemoryError";
      out->error_msg = "Container killed due to memory usage";
    }
  else if (info->error && *info->error)
    {
      out->error_name = "DockerStateError";
      out->error_msg = info->error;
    }
  out->ports = info->ports;
  out->n_ports = info->n_ports;
  out->has_ports = true;
}

static void
step (struct engine_outcome *out, enum task_status st, bool with_info)
{
  if (out->n_steps < ENGINE_MAX_STEPS)
    {
      out->steps[out->n_steps].status = st;
      out->steps[out->n_steps].with_info = with_info;
      out->n_steps++;
    }
}

static void
fail (struct engine_outcome *out, const char *name, const char *msg)
{
  out->fail_name = name;
  out->fail_msg = msg;
}

/* What Docker says a container is, every intermediate status included so
   each change is recorded: CREATED, RUNNING (also for one that ran and
   exited), STOPPED. */
static void
walk (const struct task_container *c, const struct engine_inspect *in, struct engine_outcome *out)
{
  if (in->status >= TASK_STATUS_CREATED && c->known_status < TASK_STATUS_CREATED)
    step (out, TASK_STATUS_CREATED, false);
  if (in->status == TASK_STATUS_RUNNING
      || (in->status == TASK_STATUS_STOPPED && in->started && c->known_status < TASK_STATUS_RUNNING))
    step (out, TASK_STATUS_RUNNING, true);
  if (in->status == TASK_STATUS_STOPPED)
    step (out, TASK_STATUS_STOPPED, true);
}

static void
vanished (const struct task_container *c, struct engine_outcome *out)
{
  if (c->known_status != TASK_STATUS_STOPPED)
    {
      out->reason_name = REASON_VANISHED_NAME;
      out->reason_msg = REASON_VANISHED_MSG;
    }
  step (out, TASK_STATUS_STOPPED, false);
}

/* Create errors after which the container may exist all the same (its name
   in use from before a crash, or the answer lost): look it up by name. */
static bool
create_maybe_happened (int kind)
{
  return kind == ERR_CONFLICT || kind == ERR_UNREACHABLE || kind == ERR_TIMEOUT || kind == ERR_MALFORMED
         || kind == ERR_SERVER;
}

const char *
engine_error_name (int err_kind, const char *msg, const char *fallback)
{
  if (err_kind == ERR_TIMEOUT
      || (msg && strncmp (msg, DOCKER_TIMEOUT_MSG_PREFIX, strlen (DOCKER_TIMEOUT_MSG_PREFIX)) == 0))
    return "DockerTimeoutError";
  if (msg && strncmp (msg, DOCKER_API_VERSION_MSG_PREFIX, strlen (DOCKER_API_VERSION_MSG_PREFIX)) == 0)
    return "CannotGetDockerClientVersionError";
  return fallback;
}

bool
engine_start_error_forces_stop (const char *name, const char *msg)
{
  if (!name)
    return false;
  if (strcmp (name, "DockerTimeoutError") == 0 || strcmp (name, "CannotInspectContainerError") == 0)
    return true;
  size_t n = msg ? strlen (msg) : 0;
  return strcmp (name, "CannotStartContainerError") == 0 && n >= 3 && strcmp (msg + n - 3, "EOF") == 0;
}

/* A failed start (or the inspect after it): desired STOPPED, and a forced
   stop when it may be running all the same. */
static void
start_failed (struct engine_outcome *out, const char *name, const char *msg)
{
  fail (out, name, msg);
  out->force_stop = engine_start_error_forces_stop (name, msg);
}

static void
decide_event_inspect (const struct task_container *c, const struct engine_observation *o,
                      struct engine_outcome *out)
{
  enum task_status st = o->reported;
  if (o->err_kind)
    out->warn = o->err_msg;
  if (o->has_info && st == TASK_STATUS_RUNNING && o->info.status != TASK_STATUS_RUNNING)
    st = TASK_STATUS_STOPPED; /* started and already gone */
  else if (o->has_info && st == TASK_STATUS_STOPPED && o->info.status == TASK_STATUS_RUNNING)
    st = TASK_STATUS_RUNNING; /* a stale die: started again since (restart policy) */
  if (st == TASK_STATUS_STOPPED && c->known_status < TASK_STATUS_RUNNING
      && c->desired_status != TASK_STATUS_STOPPED)
    step (out, TASK_STATUS_RUNNING, true); /* ran, however briefly */
  step (out, st, true);
}

void
engine_decide (const struct task *t, size_t ci, const struct engine_observation *o,
               struct engine_outcome *out)
{
  const struct task_container *c = &t->containers[ci];
  bool gone = o->err_kind == ERR_NOT_FOUND;
  memset (out, 0, sizeof *out);
  switch (o->source)
    {
    case ENGINE_OBS_PULL:
      if (!o->err_kind)
        {
          out->pulled = true;
          step (out, TASK_STATUS_PULLED, false);
        }
      else if (c->known_status < TASK_STATUS_PULLED && !o->pull_strict)
        {
          /* No registry may be reachable: an image present locally is
             good enough.  A named error (registry credentials) is the
             container's reason from now on, as upstream's applying error. */
          out->next = ENGINE_NEXT_INSPECT_IMAGE;
          out->carry = o->err_msg;
          if (o->err_name)
            {
              out->reason_name = o->err_name;
              out->reason_msg = o->err_msg;
            }
        }
      else if (c->known_status < TASK_STATUS_PULLED)
        {
          fail (out, o->err_name ? o->err_name : "CannotPullContainerError", o->err_msg);
          out->stop_task = true;
        }
      break;
    case ENGINE_OBS_PULL_CACHED:
      if (o->image_present)
        {
          out->pulled = true;
          step (out, TASK_STATUS_PULLED, false);
        }
      else if (c->known_status < TASK_STATUS_PULLED)
        out->next = ENGINE_NEXT_PULL;
      break;
    case ENGINE_OBS_PULL_LOCAL_IMAGE:
      if (o->image_present)
        {
          out->pulled = true;
          out->warn = o->carried;
          step (out, TASK_STATUS_PULLED, false);
        }
      else if (c->known_status < TASK_STATUS_STOPPED)
        fail (out, "CannotPullContainerError", o->carried);
      break;
    case ENGINE_OBS_CREATE:
      if (!o->err_kind)
        {
          out->set_id = true;
          step (out, TASK_STATUS_CREATED, false);
        }
      else if (create_maybe_happened (o->err_kind))
        {
          out->next = ENGINE_NEXT_INSPECT_NAME;
          out->carry = o->err_msg;
        }
      else
        fail (out, engine_error_name (o->err_kind, o->err_msg, "CannotCreateContainerError"), o->err_msg);
      break;
    case ENGINE_OBS_CREATE_ADOPT:
      if (!o->err_kind && o->has_info && o->labels_match)
        {
          out->set_id = out->adopted = true;
          walk (c, &o->info, out);
        }
      else
        fail (out, engine_error_name (0, o->carried, "CannotCreateContainerError"), o->carried);
      break;
    case ENGINE_OBS_START:
      if (o->err_kind)
        start_failed (out, engine_error_name (o->err_kind, o->err_msg, "CannotStartContainerError"),
                      o->err_msg);
      else if (c->n_port_mappings > 0)
        out->next = ENGINE_NEXT_INSPECT_ID; /* the host ports Docker picked */
      else
        step (out, TASK_STATUS_RUNNING, false); /* an exit right away comes as a die event */
      break;
    case ENGINE_OBS_START_INSPECT:
      if (o->err_kind)
        {
          /* started, but how it is Docker would not say: as upstream */
          start_failed (out, "CannotInspectContainerError", o->err_msg);
          break;
        }
      step (out, TASK_STATUS_RUNNING, true);
      if (o->has_info && o->info.status != TASK_STATUS_RUNNING)
        step (out, TASK_STATUS_STOPPED, true); /* already exited */
      break;
    case ENGINE_OBS_STOP:
      /* Whatever the answer, an inspect tells whether it stopped. */
      out->next = ENGINE_NEXT_INSPECT_ID;
      if (o->err_kind)
        out->warn = o->err_msg;
      if (o->err_kind && !gone)
        out->carry = o->err_msg;
      break;
    case ENGINE_OBS_STOP_INSPECT:
      if ((o->err_kind && !gone) || (o->has_info && o->info.status == TASK_STATUS_RUNNING))
        {
          /* Not provably stopped: keep the known status (reporting STOPPED
             would let ECS reuse its ports and memory) and try again. */
          out->next = ENGINE_NEXT_STOP_LATER;
          out->carry = o->carried ? o->carried : o->err_msg;
          break;
        }
      if (o->carried && gone)
        {
          out->reason_name = engine_error_name (0, o->carried, "CannotStopContainerError");
          out->reason_msg = o->carried;
        }
      out->stop_confirmed = true;
      step (out, TASK_STATUS_STOPPED, true);
      break;
    case ENGINE_OBS_EVENT_INSPECT:
      if (!gone)
        {
          decide_event_inspect (c, o, out);
          break;
        }
      /* gone before we could look: vanished, as below */
      /* fall through */
    case ENGINE_OBS_RESYNC_INSPECT:
    case ENGINE_OBS_RECONCILE_INSPECT:
      if (gone)
        vanished (c, out);
      else if (o->err_kind)
        out->warn = o->err_msg; /* Docker trouble: events or a later check will tell */
      else if (o->has_info)
        walk (c, &o->info, out);
      break;
    }
}

/* ---- events ------------------------------------------------------------- */

enum engine_event_verdict
engine_decide_pending (const struct task *t, size_t ci, enum task_status reported)
{
  const struct task_container *c = &t->containers[ci];
  if (c->inflight != TASK_ACTION_NONE)
    return ENGINE_EVENT_PENDING;
  if (engine_plan_accept_change (c, reported) == ENGINE_CHANGE_IGNORE || !c->docker_id)
    return ENGINE_EVENT_IGNORE;
  return ENGINE_EVENT_INSPECT;
}

bool
engine_event_relevant (enum docker_event_action kind)
{
  return kind == DOCKER_EV_CREATE || kind == DOCKER_EV_START || kind == DOCKER_EV_DIE
         || kind == DOCKER_EV_OOM || kind == DOCKER_EV_HEALTH_STATUS;
}

enum engine_event_verdict
engine_decide_event (const struct task *t, size_t ci, enum docker_event_action kind, int exit_code,
                     int64_t time_ns, bool ready, enum task_status *reported)
{
  const struct task_container *c = &t->containers[ci];
  switch (kind)
    {
    case DOCKER_EV_CREATE: *reported = TASK_STATUS_CREATED; break;
    case DOCKER_EV_START: *reported = TASK_STATUS_RUNNING; break;
    case DOCKER_EV_DIE: *reported = TASK_STATUS_STOPPED; break;
    case DOCKER_EV_OOM: *reported = TASK_STATUS_NONE; return ENGINE_EVENT_OOM;
    default: return ENGINE_EVENT_IGNORE; /* kill/stop precede die; die tells it exited */
    }
  /* Before reconciliation is done every container is inspected anyway: an
     event (the stream replays the last second at start-up) is looked at
     once that inspect is in, never with a second inspect of its own
     beside it. */
  if (!ready)
    {
      enum engine_event_verdict v = engine_decide_pending (t, ci, *reported);
      return v == ENGINE_EVENT_INSPECT ? ENGINE_EVENT_PENDING : v;
    }
  /* An inspect of a container that has just died waits for dockerd to
     finish the exit (tens to hundreds of ms): report from the event.  Not
     a die older than the container's last restart in place (the stream's
     replay after an agent restart): that run has ended already, and the
     inspect tells whether the present one runs. */
  bool stale = c->restart.last_restart_at_ns > 0 && (time_ns <= 0 || time_ns < c->restart.last_restart_at_ns);
  if (kind == DOCKER_EV_DIE && exit_code >= 0 && !stale && c->inflight == TASK_ACTION_NONE
      && c->known_status == TASK_STATUS_RUNNING && c->docker_id)
    return ENGINE_EVENT_DIED;
  return engine_decide_pending (t, ci, *reported);
}

/* ---- steady-state inspects ------------------------------------------------ */

enum engine_steady_verdict
engine_decide_steady (const struct task *t, const struct task_container *c, uint64_t now_ms)
{
  if (t->removing || !c->docker_id || c->known_status < TASK_STATUS_CREATED
      || c->known_status == TASK_STATUS_STOPPED)
    return ENGINE_STEADY_NONE;
  if (c->steady_at_ms == 0)
    return ENGINE_STEADY_SCHEDULE;
  if (now_ms < c->steady_at_ms)
    return ENGINE_STEADY_WAIT;
  return c->inflight == TASK_ACTION_NONE ? ENGINE_STEADY_DUE : ENGINE_STEADY_SCHEDULE;
}

/* ---- reconciliation -------------------------------------------------------- */

ssize_t
engine_decide_adopt_match (const struct task *t, const struct task_container *c,
                           const struct docker_container_list *list)
{
  for (size_t j = 0; j < list->n; j++)
    {
      const struct docker_container_summary *s = &list->items[j];
      for (size_t n = 0; c->docker_name && n < s->n_names; n++)
        if (strcmp (s->names[n], c->docker_name) == 0)
          return (ssize_t) j;
      if (engine_label_is (s->labels, s->n_labels, LABEL_TASK_ARN, t->arn)
          && engine_label_is (s->labels, s->n_labels, LABEL_CONTAINER_NAME, c->name))
        return (ssize_t) j;
    }
  return -1;
}

/* ---- pulls ----------------------------------------------------------------- */

enum engine_pull_verdict
engine_decide_pull (const struct engine_pull_cache *c, const char *image, bool pull_in_flight,
                    uint64_t now_ms)
{
  for (size_t i = 0; i < ENGINE_PULL_CACHE_SIZE; i++)
    if (c->e[i].image && strcmp (c->e[i].image, image) == 0)
      {
        if (now_ms - c->e[i].at_ms < ENGINE_PULL_REUSE_MS)
          return ENGINE_PULL_REUSE;
        break;
      }
  return pull_in_flight ? ENGINE_PULL_WAIT : ENGINE_PULL_ISSUE;
}

void
engine_pull_cache_remember (struct engine_pull_cache *c, const char *image, const char *digest,
                            uint64_t now_ms)
{
  size_t slot = 0;
  for (size_t i = 0; i < ENGINE_PULL_CACHE_SIZE; i++)
    {
      if (c->e[i].image && strcmp (c->e[i].image, image) == 0)
        {
          slot = i;
          break;
        }
      if (c->e[i].at_ms < c->e[slot].at_ms)
        slot = i;
    }
  free (c->e[slot].image);
  c->e[slot].image = xstrdup (image);
  free (c->e[slot].digest);
  c->e[slot].digest = digest ? xstrdup (digest) : NULL;
  c->e[slot].at_ms = now_ms;
}

const char *
engine_pull_cache_digest (const struct engine_pull_cache *c, const char *image)
{
  for (size_t i = 0; i < ENGINE_PULL_CACHE_SIZE; i++)
    if (c->e[i].image && strcmp (c->e[i].image, image) == 0)
      return c->e[i].digest;
  return NULL;
}

void
engine_pull_cache_free (struct engine_pull_cache *c)
{
  for (size_t i = 0; i < ENGINE_PULL_CACHE_SIZE; i++)
    {
      free (c->e[i].image);
      free (c->e[i].digest);
      c->e[i].image = c->e[i].digest = NULL;
    }
}

/* ---- retries and deadlines ------------------------------------------------ */

uint64_t
engine_retry_delay_ms (struct backoff *b, uint64_t min_ms, uint64_t max_ms)
{
  if (b->min_ms == 0)
    backoff_init (b, min_ms, max_ms, 0.2, 2.0);
  return backoff_next (b);
}

bool
engine_removal_retriable (int kind)
{
  return kind && kind != ERR_NOT_FOUND && kind != ERR_CLIENT && kind != ERR_INVALID && kind != ERR_AUTH;
}

int64_t
engine_cleanup_deadline_ns (const struct task *t, uint64_t cleanup_wait_ms)
{
  int64_t d = t->known_time_ns + (int64_t) cleanup_wait_ms * 1000000LL;
  return t->cleanup_retry_ns > d ? t->cleanup_retry_ns : d;
}
