/* ecs/submitter.c - drains the persisted state-change queue (see submitter.h). */
#include "ecs/submitter.h"
#include "core/metrics.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include <stdlib.h>
#include <string.h>

#define MOD "submitter"
#define DRAIN_MS_DEFAULT 20000

/* Deep copy of one container change of the batch in flight. */
struct container_copy
{
  char *name, *status, *reason, *runtime_id, *image_digest;
  bool has_exit_code;
  int exit_code;
  struct task_port_binding *bindings;
  size_t n_bindings;
};

/* The batch in flight: one SubmitTaskStateChange and the queue ids it
   stands for. */
struct batch
{
  char *task_arn, *status, *reason;
  int64_t pull_started_ms, pull_stopped_ms, execution_stopped_ms;
  struct container_copy *containers;
  size_t n_containers;
  uint64_t *ids;
  size_t n_ids;
};

struct ecs_submitter
{
  uv_loop_t *loop;
  ecs_client_t *client;
  struct ecs_change_queue q;
  char *cluster;
  struct backoff bo;
  uint64_t drain_ms;
  uv_timer_t *timer;   /* backoff, drain deadline, deferred wake-ups */
  bool timer_pending;
  bool draining;       /* the timer waits for a drain deadline (a wake may cut it short) */
  void *call;          /* in flight: ecs_call_t* or the test hook's handle */
  void *(*send) (void *ctx, const struct ecs_task_state_change *c, ecs_submit_cb cb,
                 void *cb_data);
  void (*cancel) (void *ctx, void *handle);
  void *send_ctx;
  struct batch cur;
  struct ecs_submitter_stats stats;
};

static void
batch_clear (struct batch *b)
{
  free (b->task_arn);
  free (b->status);
  free (b->reason);
  for (size_t i = 0; i < b->n_containers; i++)
    {
      struct container_copy *c = &b->containers[i];
      free (c->name);
      free (c->status);
      free (c->reason);
      free (c->runtime_id);
      free (c->image_digest);
      task_port_bindings_free (c->bindings, c->n_bindings);
    }
  free (b->containers);
  free (b->ids);
  memset (b, 0, sizeof *b);
}

static const char *
ecs_status (const char *st)
{
  if (st && strcmp (st, "DEAD") == 0)
    return "STOPPED";
  return st;
}

static bool
submittable_status (const char *st)
{
  return st
         && (strcmp (st, "PENDING") == 0 || strcmp (st, "RUNNING") == 0
             || strcmp (st, "STOPPED") == 0);
}

static bool
well_formed (const struct ecs_state_change *ch)
{
  return ch->task_arn && *ch->task_arn
         && (ch->kind == ECS_CHANGE_TASK
             || (ch->kind == ECS_CHANGE_CONTAINER && ch->container_name && *ch->container_name));
}

static void
batch_add_container (struct batch *b, const struct ecs_state_change *ch)
{
  b->containers = xrealloc (b->containers, (b->n_containers + 1) * sizeof *b->containers);
  struct container_copy *c = &b->containers[b->n_containers++];
  memset (c, 0, sizeof *c);
  c->name = xstrdup (ch->container_name);
  c->status = xstrdup (ecs_status (ch->status));
  c->reason = ch->reason ? xstrdup (ch->reason) : NULL;
  c->runtime_id = ch->runtime_id ? xstrdup (ch->runtime_id) : NULL;
  c->image_digest = ch->image_digest ? xstrdup (ch->image_digest) : NULL;
  c->has_exit_code = ch->has_exit_code;
  c->exit_code = ch->exit_code;
  c->n_bindings = ch->bindings ? ch->n_bindings : 0;
  if (c->n_bindings)
    c->bindings = task_port_bindings_dup (ch->bindings, c->n_bindings);
}

static void
batch_add_id (struct batch *b, uint64_t id)
{
  b->ids = xrealloc (b->ids, (b->n_ids + 1) * sizeof *b->ids);
  b->ids[b->n_ids++] = id;
}

static void pump (ecs_submitter_t *s);

static void
timer_cb (uv_timer_t *t)
{
  ecs_submitter_t *s = t->data;
  s->timer_pending = false;
  s->draining = false;
  pump (s);
}

static void
defer (ecs_submitter_t *s, uint64_t ms, bool draining)
{
  s->timer_pending = true;
  s->draining = draining;
  uv_timer_start (s->timer, timer_cb, ms, 0);
}

static void
remove_batch (ecs_submitter_t *s)
{
  for (size_t i = 0; i < s->cur.n_ids; i++)
    s->q.remove (s->q.ctx, s->cur.ids[i]);
}

static void
submitted_cb (agent_error_t err, void *data)
{
  ecs_submitter_t *s = data;
  s->call = NULL;
  struct batch *b = &s->cur;
  if (err && ecs_error_retriable (error_kind (&err)))
    {
      s->stats.retries++;
      metrics_count (METRIC_STATE_CHANGES_RETRIED, 1);
      uint64_t d = backoff_next (&s->bo);
      log_warn (MOD, "submitting task state change %s %s (%zu container changes) failed: %s; "
                "retrying in %llu ms", b->task_arn, b->status, b->n_containers, error_msg (&err),
                (unsigned long long) d);
      /* the changes stay queued; pump() builds the batch again after the backoff */
      batch_clear (b);
      defer (s, d, false);
      return;
    }
  if (err)
    {
      s->stats.dropped += b->n_ids;
      metrics_count (METRIC_STATE_CHANGES_REJECTED, b->n_ids);
      log_error (MOD, "task state change %s %s (%zu container changes) rejected, dropping it: %s",
                 b->task_arn, b->status, b->n_containers, error_msg (&err));
    }
  else
    {
      s->stats.submitted += b->n_ids;
      s->stats.calls++;
      metrics_count (METRIC_STATE_CHANGES_SUBMITTED, b->n_ids);
      log_info (MOD, "submitted task state change %s %s with %zu container changes", b->task_arn,
                b->status, b->n_containers);
    }
  backoff_reset (&s->bo);
  remove_batch (s);
  batch_clear (b);
  pump (s);
}

/* Entries that can never be sent are taken out first (logged). */
static bool
drop_unsendable (ecs_submitter_t *s)
{
  size_t n = s->q.count (s->q.ctx);
  for (size_t i = 0; i < n; i++)
    {
      struct ecs_state_change ch;
      if (!s->q.peek (s->q.ctx, i, &ch))
        break;
      if (!well_formed (&ch))
        {
          log_error (MOD, "dropping malformed state change (task %s)",
                     ch.task_arn ? ch.task_arn : "?");
          s->stats.dropped++;
          metrics_count (METRIC_STATE_CHANGES_REJECTED, 1);
          s->q.remove (s->q.ctx, ch.id);
          return true;
        }
      if (!submittable_status (ecs_status (ch.status)))
        {
          log_debug (MOD, "skipping state change %s to %s", ch.task_arn, ch.status ? ch.status : "?");
          s->q.remove (s->q.ctx, ch.id);
          return true;
        }
    }
  return false;
}

/* Whether entry i's task appears earlier in the queue. */
static bool
seen_before (ecs_submitter_t *s, size_t i, const char *task_arn)
{
  for (size_t k = 0; k < i; k++)
    {
      struct ecs_state_change e;
      if (s->q.peek (s->q.ctx, k, &e) && e.task_arn && strcmp (e.task_arn, task_arn) == 0)
        return true;
    }
  return false;
}

/* The batch of the task whose oldest entry is at index i: its entries in
   order up to and including its first task change.  Fills s->cur and
   returns true when it may go now; else *due gets the loop time its drain
   deadline passes (UINT64_MAX when it waits for durability only). */
static bool
build_batch (ecs_submitter_t *s, size_t i, const char *task_arn, uint64_t now, uint64_t *due)
{
  struct batch *b = &s->cur;
  batch_clear (b);
  b->task_arn = xstrdup (task_arn);
  size_t n = s->q.count (s->q.ctx);
  bool durable = true, have_task = false;
  uint64_t oldest = UINT64_MAX;
  const char *last_task_status = NULL;
  char *task_status = NULL;
  for (size_t k = i; k < n && !have_task; k++)
    {
      struct ecs_state_change e;
      if (!s->q.peek (s->q.ctx, k, &e) || strcmp (e.task_arn, task_arn) != 0)
        continue;
      durable &= e.durable;
      batch_add_id (b, e.id);
      if (e.kind == ECS_CHANGE_CONTAINER)
        {
          batch_add_container (b, &e);
          if (e.queued_ms < oldest)
            oldest = e.queued_ms;
          last_task_status = e.task_status;
          /* the task's time stamps as the newest container change saw them
             (a task change later in the batch replaces them) */
          b->pull_started_ms = e.pull_started_ms;
          b->pull_stopped_ms = e.pull_stopped_ms;
          b->execution_stopped_ms = e.execution_stopped_ms;
          free (task_status);
          task_status = last_task_status ? xstrdup (last_task_status) : NULL;
          continue;
        }
      have_task = true;
      b->status = xstrdup (ecs_status (e.status));
      b->reason = e.reason ? xstrdup (e.reason) : NULL;
      b->pull_started_ms = e.pull_started_ms;
      b->pull_stopped_ms = e.pull_stopped_ms;
      b->execution_stopped_ms = e.execution_stopped_ms;
    }
  *due = UINT64_MAX;
  if (!have_task)
    {
      /* lone container changes: the task's status as recorded with the newest */
      const char *st = ecs_status (task_status);
      b->status = xstrdup (submittable_status (st) ? st : "PENDING");
    }
  free (task_status);
  if (!durable)
    return false;
  if (have_task)
    return true;
  uint64_t deadline = oldest + s->drain_ms;
  if (oldest > UINT64_MAX - s->drain_ms)
    deadline = UINT64_MAX - 1;
  if (now >= deadline)
    return true;
  *due = deadline;
  return false;
}

static void
send_batch (ecs_submitter_t *s)
{
  struct batch *b = &s->cur;
  struct ecs_container_state_change *cc = xcalloc (b->n_containers ? b->n_containers : 1, sizeof *cc);
  for (size_t i = 0; i < b->n_containers; i++)
    {
      const struct container_copy *c = &b->containers[i];
      cc[i] = (struct ecs_container_state_change){
        .container_name = c->name, .status = c->status, .has_exit_code = c->has_exit_code,
        .exit_code = c->exit_code, .reason = c->reason, .bindings = c->bindings,
        .n_bindings = c->n_bindings, .runtime_id = c->runtime_id, .image_digest = c->image_digest,
      };
    }
  struct ecs_task_state_change t = {
    .cluster = s->cluster, .task_arn = b->task_arn, .status = b->status, .reason = b->reason,
    .containers = cc, .n_containers = b->n_containers, .pull_started_ms = b->pull_started_ms,
    .pull_stopped_ms = b->pull_stopped_ms, .execution_stopped_ms = b->execution_stopped_ms,
  };
  if (s->send)
    s->call = s->send (s->send_ctx, &t, submitted_cb, s);
  else
    s->call = ecs_submit_task_state_change (s->client, &t, submitted_cb, s);
  free (cc); /* the call has built its body */
}

static void
pump (ecs_submitter_t *s)
{
  if (s->call || s->timer_pending)
    return;
  while (drop_unsendable (s))
    ;
  size_t n = s->q.count (s->q.ctx);
  uint64_t now = uv_now (s->loop), next_due = UINT64_MAX;
  for (size_t i = 0; i < n; i++)
    {
      struct ecs_state_change e;
      if (!s->q.peek (s->q.ctx, i, &e) || seen_before (s, i, e.task_arn))
        continue;
      char *arn = xstrdup (e.task_arn);
      uint64_t due;
      bool ready = build_batch (s, i, arn, now, &due);
      free (arn);
      if (ready)
        {
          send_batch (s);
          return;
        }
      if (due < next_due)
        next_due = due;
    }
  batch_clear (&s->cur);
  if (next_due != UINT64_MAX)
    defer (s, next_due - now, true); /* lone container changes: drain then */
}

ecs_submitter_t *
ecs_submitter_new (uv_loop_t *loop, ecs_client_t *client, const struct ecs_change_queue *q,
                   const struct ecs_submitter_options *opts, agent_error_t *err)
{
  if (!loop || (!client && !(opts && opts->send)) || !q || !q->count || !q->peek || !q->remove)
    {
      error_set (err, ERR_INVALID, "submitter: loop, client and a complete queue are required");
      return NULL;
    }
  struct ecs_submitter_options def = { 0 };
  if (!opts)
    opts = &def;
  ecs_submitter_t *s = xcalloc (1, sizeof *s);
  s->loop = loop;
  s->client = client;
  s->q = *q;
  s->send = opts->send;
  s->cancel = opts->cancel;
  s->send_ctx = opts->send_ctx;
  s->drain_ms = opts->drain_ms ? opts->drain_ms : DRAIN_MS_DEFAULT;
  s->cluster = xstrdup (opts->cluster && *opts->cluster ? opts->cluster : "default");
  backoff_init (&s->bo, opts->min_backoff_ms ? opts->min_backoff_ms : 1000,
                opts->max_backoff_ms ? opts->max_backoff_ms : 30000,
                opts->jitter > 0 ? opts->jitter : 0.2, opts->mult > 0 ? opts->mult : 1.3);
  s->timer = xcalloc (1, sizeof *s->timer);
  uv_timer_init (loop, s->timer);
  s->timer->data = s;
  /* start from the loop, not inside the caller */
  defer (s, 0, false);
  return s;
}

void
ecs_submitter_wake (ecs_submitter_t *s)
{
  if (!s || s->call || (s->timer_pending && !s->draining))
    return; /* busy: the completion / backoff timer pumps again */
  /* Never submit inside the caller's stack (the queue may be mid-update);
     a drain wait is cut short: the new entry may complete a batch. */
  defer (s, 0, false);
}

void
ecs_submitter_stats (const ecs_submitter_t *s, struct ecs_submitter_stats *out)
{
  *out = s->stats;
  out->busy = s->call != NULL || (s->timer_pending && !s->draining);
}

static void
timer_closed_cb (uv_handle_t *h)
{
  free (h);
}

void
ecs_submitter_free (ecs_submitter_t *s)
{
  if (!s)
    return;
  if (s->call)
    {
      if (s->send)
        {
          if (s->cancel)
            s->cancel (s->send_ctx, s->call);
        }
      else
        ecs_call_cancel (s->call);
    }
  uv_timer_stop (s->timer);
  uv_close ((uv_handle_t *) s->timer, timer_closed_cb);
  batch_clear (&s->cur);
  free (s->cluster);
  free (s);
}
