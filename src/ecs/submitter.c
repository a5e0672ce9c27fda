/* ecs/submitter.c - drains the persisted state-change queue (see submitter.h). */
#include "ecs/submitter.h"
#include "core/metrics.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include <stdlib.h>
#include <string.h>

#define MOD "submitter"

/* Deep copy of the change being submitted. */
struct change_copy
{
  enum ecs_change_kind kind;
  char *task_arn, *container_name, *status, *reason;
  bool has_exit_code;
  int exit_code;
  struct task_port_binding *bindings;
  size_t n_bindings;
};

struct ecs_submitter
{
  uv_loop_t *loop;
  ecs_client_t *client;
  struct ecs_change_queue q;
  char *cluster;
  struct backoff bo;
  uv_timer_t *timer;   /* backoff, and deferred wake-ups */
  bool timer_pending;
  void *call;          /* in flight: ecs_call_t* or the test hook's handle */
  void *(*send) (void *ctx, const struct ecs_state_change *c, const char *cluster,
                 ecs_submit_cb cb, void *cb_data);
  void (*cancel) (void *ctx, void *handle);
  void *send_ctx;
  struct change_copy cur;
  bool have_cur;
  struct ecs_submitter_stats stats;
};

static void
copy_clear (struct change_copy *c)
{
  free (c->task_arn);
  free (c->container_name);
  free (c->status);
  free (c->reason);
  task_port_bindings_free (c->bindings, c->n_bindings);
  memset (c, 0, sizeof *c);
}

static void
copy_from (struct change_copy *d, const struct ecs_state_change *s)
{
  memset (d, 0, sizeof *d);
  d->kind = s->kind;
  d->task_arn = xstrdup (s->task_arn);
  d->container_name = xstrdup (s->container_name);
  d->status = xstrdup (s->status);
  d->reason = xstrdup (s->reason);
  d->has_exit_code = s->has_exit_code;
  d->exit_code = s->exit_code;
  d->n_bindings = s->bindings ? s->n_bindings : 0;
  if (d->n_bindings)
    d->bindings = task_port_bindings_dup (s->bindings, d->n_bindings);
}

static void pump (ecs_submitter_t *s);

static void
timer_cb (uv_timer_t *t)
{
  ecs_submitter_t *s = t->data;
  s->timer_pending = false;
  pump (s);
}

static void
defer (ecs_submitter_t *s, uint64_t ms)
{
  s->timer_pending = true;
  uv_timer_start (s->timer, timer_cb, ms, 0);
}

static void
submitted_cb (agent_error_t err, void *data)
{
  ecs_submitter_t *s = data;
  s->call = NULL;
  struct change_copy *c = &s->cur;
  const char *what = c->kind == ECS_CHANGE_TASK ? "task" : "container";
  if (err && ecs_error_retriable (error_kind (&err)))
    {
      s->stats.retries++;
      metrics_count (METRIC_STATE_CHANGES_RETRIED, 1);
      uint64_t d = backoff_next (&s->bo);
      log_warn (MOD, "submitting %s state change %s %s%s%s failed: %s; retrying in %llu ms", what,
                c->task_arn, c->container_name ? c->container_name : "", c->container_name ? " " : "",
                c->status, error_msg (&err), (unsigned long long) d);
      /* the front stays queued; pump() peeks it again after the backoff */
      copy_clear (&s->cur);
      s->have_cur = false;
      defer (s, d);
      return;
    }
  if (err)
    {
      s->stats.dropped++;
      metrics_count (METRIC_STATE_CHANGES_REJECTED, 1);
      log_error (MOD, "%s state change %s %s%s%s rejected, dropping it: %s", what, c->task_arn,
                 c->container_name ? c->container_name : "", c->container_name ? " " : "",
                 c->status, error_msg (&err));
    }
  else
    {
      s->stats.submitted++;
      metrics_count (METRIC_STATE_CHANGES_SUBMITTED, 1);
      log_info (MOD, "submitted %s state change %s %s%s%s", what, c->task_arn,
                c->container_name ? c->container_name : "", c->container_name ? " " : "", c->status);
    }
  backoff_reset (&s->bo);
  copy_clear (&s->cur);
  s->have_cur = false;
  /* The front is still the change we sent: nobody else pops this queue. */
  if (s->q.count (s->q.ctx) > 0)
    s->q.pop_front (s->q.ctx);
  pump (s);
}

static bool
submittable_status (const char *st)
{
  return st && (strcmp (st, "RUNNING") == 0 || strcmp (st, "STOPPED") == 0);
}

static void
pump (ecs_submitter_t *s)
{
  while (!s->call && !s->timer_pending)
    {
      struct ecs_state_change ch;
      if (s->q.count (s->q.ctx) == 0 || !s->q.peek_front (s->q.ctx, &ch))
        return;
      if (!s->q.front_durable (s->q.ctx))
        return; /* woken again once it is persisted */
      if (!ch.task_arn || !*ch.task_arn
          || (ch.kind == ECS_CHANGE_CONTAINER && (!ch.container_name || !*ch.container_name))
          || (ch.kind != ECS_CHANGE_TASK && ch.kind != ECS_CHANGE_CONTAINER))
        {
          log_error (MOD, "dropping malformed state change (task %s)", ch.task_arn ? ch.task_arn : "?");
          s->stats.dropped++;
          metrics_count (METRIC_STATE_CHANGES_REJECTED, 1);
          s->q.pop_front (s->q.ctx);
          continue;
        }
      const char *status = ch.status;
      if (status && strcmp (status, "DEAD") == 0)
        status = "STOPPED";
      if (!submittable_status (status))
        {
          /* ECS accepts only RUNNING and STOPPED in a state change */
          log_debug (MOD, "skipping state change %s to %s", ch.task_arn, status ? status : "?");
          s->q.pop_front (s->q.ctx);
          continue;
        }
      copy_from (&s->cur, &ch);
      free (s->cur.status);
      s->cur.status = xstrdup (status);
      s->have_cur = true;
      if (s->send)
        {
          struct ecs_state_change sc = { .kind = s->cur.kind, .task_arn = s->cur.task_arn,
                                         .container_name = s->cur.container_name,
                                         .status = s->cur.status, .reason = s->cur.reason,
                                         .has_exit_code = s->cur.has_exit_code,
                                         .exit_code = s->cur.exit_code, .bindings = s->cur.bindings,
                                         .n_bindings = s->cur.n_bindings };
          s->call = s->send (s->send_ctx, &sc, s->cluster, submitted_cb, s);
        }
      else if (s->cur.kind == ECS_CHANGE_TASK)
        {
          struct ecs_task_state_change t = { .cluster = s->cluster, .task_arn = s->cur.task_arn,
                                             .status = s->cur.status, .reason = s->cur.reason };
          s->call = ecs_submit_task_state_change (s->client, &t, submitted_cb, s);
        }
      else
        {
          struct ecs_container_state_change cc = {
            .cluster = s->cluster, .task_arn = s->cur.task_arn,
            .container_name = s->cur.container_name, .status = s->cur.status,
            .has_exit_code = s->cur.has_exit_code, .exit_code = s->cur.exit_code,
            .reason = s->cur.reason, .bindings = s->cur.bindings, .n_bindings = s->cur.n_bindings,
          };
          s->call = ecs_submit_container_state_change (s->client, &cc, submitted_cb, s);
        }
    }
}

ecs_submitter_t *
ecs_submitter_new (uv_loop_t *loop, ecs_client_t *client, const struct ecs_change_queue *q,
                   const struct ecs_submitter_options *opts, agent_error_t *err)
{
  if (!loop || (!client && !(opts && opts->send)) || !q || !q->count || !q->peek_front || !q->front_durable || !q->pop_front)
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
  s->cluster = xstrdup (opts->cluster && *opts->cluster ? opts->cluster : "default");
  backoff_init (&s->bo, opts->min_backoff_ms ? opts->min_backoff_ms : 1000,
                opts->max_backoff_ms ? opts->max_backoff_ms : 30000,
                opts->jitter > 0 ? opts->jitter : 0.2, opts->mult > 0 ? opts->mult : 1.3);
  s->timer = xcalloc (1, sizeof *s->timer);
  uv_timer_init (loop, s->timer);
  s->timer->data = s;
  /* start from the loop, not inside the caller */
  defer (s, 0);
  return s;
}

void
ecs_submitter_wake (ecs_submitter_t *s)
{
  if (!s || s->call || s->timer_pending)
    return; /* busy: the completion / backoff timer pumps again */
  /* Never submit inside the caller's stack (the queue may be mid-update). */
  defer (s, 0);
}

void
ecs_submitter_stats (const ecs_submitter_t *s, struct ecs_submitter_stats *out)
{
  *out = s->stats;
  out->busy = s->call != NULL || s->timer_pending;
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
  copy_clear (&s->cur);
  free (s->cluster);
  free (s);
}
