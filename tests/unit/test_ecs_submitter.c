/* Unit tests for ecs/submitter with a fake queue and a fake ECS (timers on a
 * private uv loop; no network): container changes batched into their task's
 * change, per-task order, the drain of lone container changes, durability
 * gate, removal only after ack, retry forever on retriable errors, drop on
 * non-retriable ones, status filtering, wake-ups and cancellation on free. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include "core/xmalloc.h"
#include "ecs/submitter.h"

/* ---- fake queue ---- */
struct fq_item
{
  struct ecs_state_change c;
  char task[64], name[64], status[16], tstatus[16];
  bool durable;
};

struct fq
{
  struct fq_item items[64];
  size_t n;
  uint64_t next_id;
  int pops;
};

static size_t
fq_count (void *ctx)
{
  return ((struct fq *) ctx)->n;
}

static bool
fq_peek (void *ctx, size_t i, struct ecs_state_change *out)
{
  struct fq *q = ctx;
  if (i >= q->n)
    return false;
  *out = q->items[i].c;
  out->durable = q->items[i].durable;
  /* the strings point into the item: fix them up (items move on removal) */
  out->task_arn = q->items[i].task;
  out->status = q->items[i].status;
  out->container_name = q->items[i].c.container_name ? q->items[i].name : NULL;
  out->task_status = q->items[i].c.task_status ? q->items[i].tstatus : NULL;
  return true;
}

static void
fq_remove (void *ctx, uint64_t id)
{
  struct fq *q = ctx;
  for (size_t i = 0; i < q->n; i++)
    if (q->items[i].c.id == id)
      {
        memmove (&q->items[i], &q->items[i + 1], (q->n - i - 1) * sizeof q->items[0]);
        q->n--;
        q->pops++;
        return;
      }
  fail_msg ("removed an unknown id %llu", (unsigned long long) id);
}

static struct fq_item *
fq_push (struct fq *q, enum ecs_change_kind kind, const char *task, const char *name,
         const char *status, bool durable)
{
  assert_true (q->n < 64);
  struct fq_item *it = &q->items[q->n];
  memset (it, 0, sizeof *it);
  snprintf (it->task, sizeof it->task, "%s", task);
  snprintf (it->status, sizeof it->status, "%s", status);
  it->c.id = ++q->next_id;
  it->c.kind = kind;
  it->c.task_arn = it->task;
  it->c.status = it->status;
  if (name)
    {
      snprintf (it->name, sizeof it->name, "%s", name);
      it->c.container_name = it->name;
      snprintf (it->tstatus, sizeof it->tstatus, "RUNNING");
      it->c.task_status = it->tstatus;
    }
  it->durable = durable;
  q->n++;
  return it;
}

/* ---- fake ECS ---- */
struct sent
{
  char what[160];
};

struct fake_ecs
{
  uv_loop_t *loop;
  int script[64]; /* error kind per send, 0 = ack; beyond the script: ack */
  size_t n_script, next;
  struct sent log[128];
  size_t n_log;
  int cancels;
  uint64_t delay_ms;
  char cluster[32];
  /* of the last call */
  int64_t pull_started_ms, pull_stopped_ms, execution_stopped_ms;
  char runtime_id[72], image_digest[80], reason[64];
};

struct pending
{
  uv_timer_t t;
  struct fake_ecs *f;
  int kind;
  ecs_submit_cb cb;
  void *cb_data;
  bool cancelled;
};

static void
pending_closed (uv_handle_t *h)
{
  free (h->data);
}

static void
pending_fire (uv_timer_t *t)
{
  struct pending *p = t->data;
  agent_error_t err = NULL;
  if (p->kind)
    error_set (&err, p->kind, "injected %d", p->kind);
  p->cb (err, p->cb_data);
  error_free (&err);
  uv_close ((uv_handle_t *) &p->t, pending_closed);
}

static void *
fake_send (void *ctx, const struct ecs_task_state_change *c, ecs_submit_cb cb, void *cb_data)
{
  struct fake_ecs *f = ctx;
  snprintf (f->cluster, sizeof f->cluster, "%s", c->cluster);
  assert_true (f->n_log < 128);
  /* "task <arn> <status> [<container> <status>,...]" */
  char *w = f->log[f->n_log].what;
  size_t len = sizeof f->log[0].what;
  int k = snprintf (w, len, "task %s %s", c->task_arn, c->status);
  for (size_t i = 0; i < c->n_containers; i++)
    k += snprintf (w + k, len - (size_t) k, "%s%s %s", i ? "," : " [", c->containers[i].container_name,
                   c->containers[i].status);
  if (c->n_containers)
    snprintf (w + k, len - (size_t) k, "]");
  f->n_log++;
  f->pull_started_ms = c->pull_started_ms;
  f->pull_stopped_ms = c->pull_stopped_ms;
  f->execution_stopped_ms = c->execution_stopped_ms;
  snprintf (f->reason, sizeof f->reason, "%s", c->reason ? c->reason : "");
  f->runtime_id[0] = f->image_digest[0] = '\0';
  if (c->n_containers)
    {
      snprintf (f->runtime_id, sizeof f->runtime_id, "%s",
                c->containers[0].runtime_id ? c->containers[0].runtime_id : "");
      snprintf (f->image_digest, sizeof f->image_digest, "%s",
                c->containers[0].image_digest ? c->containers[0].image_digest : "");
    }
  struct pending *p = xcalloc (1, sizeof *p);
  p->f = f;
  p->kind = f->next < f->n_script ? f->script[f->next] : 0;
  f->next++;
  p->cb = cb;
  p->cb_data = cb_data;
  uv_timer_init (f->loop, &p->t);
  p->t.data = p;
  uv_timer_start (&p->t, pending_fire, f->delay_ms ? f->delay_ms : 1, 0);
  return p;
}

static void
fake_cancel (void *ctx, void *handle)
{
  struct fake_ecs *f = ctx;
  struct pending *p = handle;
  f->cancels++;
  uv_timer_stop (&p->t);
  uv_close ((uv_handle_t *) &p->t, pending_closed);
}

struct env
{
  uv_loop_t loop;
  struct fq q;
  struct fake_ecs f;
  ecs_submitter_t *s;
  uint64_t drain_ms;
};

static struct env *
env_new (void)
{
  struct env *e = xcalloc (1, sizeof *e);
  uv_loop_init (&e->loop);
  e->f.loop = &e->loop;
  e->drain_ms = 30;
  return e;
}

static void
env_start (struct env *e)
{
  struct ecs_change_queue q = { .ctx = &e->q, .count = fq_count, .peek = fq_peek,
                                .remove = fq_remove };
  struct ecs_submitter_options o = { .cluster = "prod", .min_backoff_ms = 1, .max_backoff_ms = 4,
                                     .drain_ms = e->drain_ms, .send = fake_send,
                                     .cancel = fake_cancel, .send_ctx = &e->f };
  agent_error_t err = NULL;
  e->s = ecs_submitter_new (&e->loop, NULL, &q, &o, &err);
  assert_non_null (e->s);
}

static void
env_free (struct env *e)
{
  if (e->s)
    ecs_submitter_free (e->s);
  uv_run (&e->loop, UV_RUN_DEFAULT);
  assert_int_equal (uv_loop_close (&e->loop), 0);
  free (e);
}

static void
run (struct env *e)
{
  uv_run (&e->loop, UV_RUN_DEFAULT);
}

static void
test_batching (void **state)
{
  struct env *e = env_new ();
  fq_push (&e->q, ECS_CHANGE_CONTAINER, "t1", "web", "RUNNING", true);
  fq_push (&e->q, ECS_CHANGE_TASK, "t1", NULL, "RUNNING", true);
  fq_push (&e->q, ECS_CHANGE_TASK, "t2", NULL, "RUNNING", true);
  fq_push (&e->q, ECS_CHANGE_CONTAINER, "t1", "web", "STOPPED", true);
  fq_push (&e->q, ECS_CHANGE_TASK, "t1", NULL, "STOPPED", true);
  env_start (e);
  /* nothing happens inside ecs_submitter_new */
  assert_int_equal (e->f.n_log, 0);
  run (e);
  /* five changes, three calls: containers ride with their task's change */
  assert_int_equal (e->f.n_log, 3);
  assert_string_equal (e->f.log[0].what, "task t1 RUNNING [web RUNNING]");
  assert_string_equal (e->f.log[1].what, "task t2 RUNNING");
  assert_string_equal (e->f.log[2].what, "task t1 STOPPED [web STOPPED]");
  assert_string_equal (e->f.cluster, "prod");
  assert_int_equal (e->q.n, 0);
  struct ecs_submitter_stats st;
  ecs_submitter_stats (e->s, &st);
  assert_int_equal (st.submitted, 5);
  assert_int_equal (st.calls, 3);
  assert_int_equal (st.dropped, 0);
  assert_false (st.busy);
  env_free (e);
}

/* Tasks interleaved in the queue: each task's order is kept, the oldest
   ready batch goes first, and a task still waiting for its task change does
   not hold up another one. */
static void
test_interleaved_tasks (void **state)
{
  struct env *e = env_new ();
  e->drain_ms = 60000;
  fq_push (&e->q, ECS_CHANGE_CONTAINER, "t1", "a", "PENDING", true);
  fq_push (&e->q, ECS_CHANGE_CONTAINER, "t2", "x", "RUNNING", true);
  fq_push (&e->q, ECS_CHANGE_CONTAINER, "t1", "b", "PENDING", true);
  fq_push (&e->q, ECS_CHANGE_TASK, "t2", NULL, "RUNNING", true);
  fq_push (&e->q, ECS_CHANGE_CONTAINER, "t3", "y", "RUNNING", true)->c.queued_ms
    = uv_now (&e->loop); /* waits (drain) */
  fq_push (&e->q, ECS_CHANGE_TASK, "t1", NULL, "PENDING", true);
  fq_push (&e->q, ECS_CHANGE_CONTAINER, "t1", "a", "RUNNING", true);
  fq_push (&e->q, ECS_CHANGE_TASK, "t1", NULL, "RUNNING", true);
  env_start (e);
  for (int i = 0; i < 200 && e->q.n > 1; i++)
    uv_run (&e->loop, UV_RUN_ONCE);
  assert_int_equal (e->f.n_log, 3);
  assert_string_equal (e->f.log[0].what, "task t1 PENDING [a PENDING,b PENDING]");
  assert_string_equal (e->f.log[1].what, "task t2 RUNNING [x RUNNING]");
  assert_string_equal (e->f.log[2].what, "task t1 RUNNING [a RUNNING]");
  /* t3's lone container change waits for its drain deadline; its task
     change arriving cuts the wait short */
  for (int i = 0; i < 20; i++)
    uv_run (&e->loop, UV_RUN_NOWAIT);
  assert_int_equal (e->f.n_log, 3);
  assert_int_equal (e->q.n, 1);
  struct ecs_submitter_stats st;
  ecs_submitter_stats (e->s, &st);
  assert_false (st.busy);
  fq_push (&e->q, ECS_CHANGE_TASK, "t3", NULL, "RUNNING", true);
  ecs_submitter_wake (e->s);
  run (e);
  assert_int_equal (e->f.n_log, 4);
  assert_string_equal (e->f.log[3].what, "task t3 RUNNING [y RUNNING]");
  assert_int_equal (e->q.n, 0);
  env_free (e);
}

/* Container changes with no task change behind them go out after the drain
   period, in a task change with the task's status recorded with the newest. */
static void
test_drain_lone_containers (void **state)
{
  struct env *e = env_new ();
  e->drain_ms = 30;
  struct fq_item *it = fq_push (&e->q, ECS_CHANGE_CONTAINER, "t1", "side", "STOPPED", true);
  it->c.has_exit_code = true;
  it->c.exit_code = 3;
  it->c.runtime_id = "0123abcd";
  it->c.image_digest = "sha256:feed";
  it->c.queued_ms = uv_now (&e->loop);
  fq_push (&e->q, ECS_CHANGE_TASK, "t2", NULL, "STOPPED", true);
  env_start (e);
  uint64_t t0 = uv_now (&e->loop);
  run (e);
  assert_int_equal (e->f.n_log, 2);
  assert_string_equal (e->f.log[0].what, "task t2 STOPPED");
  assert_string_equal (e->f.log[1].what, "task t1 RUNNING [side STOPPED]");
  assert_true (uv_now (&e->loop) - t0 >= 25);
  assert_string_equal (e->f.runtime_id, "0123abcd");
  assert_string_equal (e->f.image_digest, "sha256:feed");
  assert_int_equal (e->q.n, 0);
  env_free (e);
}

/* A batch of container changes without a task change carries the task's
   pull time stamps as the newest of them saw them (upstream sets them on
   every task change, its periodic drain of batched container changes too);
   with a task change in the batch, the task change's own go out. */
static void
test_lone_containers_carry_task_timestamps (void **state)
{
  struct env *e = env_new ();
  e->drain_ms = 10;
  struct fq_item *it = fq_push (&e->q, ECS_CHANGE_CONTAINER, "t1", "side", "STOPPED", true);
  it->c.pull_started_ms = 1000;
  it->c.pull_stopped_ms = 0; /* still pulling then */
  it->c.queued_ms = uv_now (&e->loop);
  it = fq_push (&e->q, ECS_CHANGE_CONTAINER, "t1", "init", "STOPPED", true);
  it->c.pull_started_ms = 1000;
  it->c.pull_stopped_ms = 2000;
  it->c.queued_ms = uv_now (&e->loop);
  env_start (e);
  run (e);
  assert_int_equal (e->f.n_log, 1);
  assert_string_equal (e->f.log[0].what, "task t1 RUNNING [side STOPPED,init STOPPED]");
  assert_int_equal (e->f.pull_started_ms, 1000);
  assert_int_equal (e->f.pull_stopped_ms, 2000);
  assert_int_equal (e->f.execution_stopped_ms, 0);
  env_free (e);

  e = env_new ();
  it = fq_push (&e->q, ECS_CHANGE_CONTAINER, "t1", "main", "STOPPED", true);
  it->c.pull_started_ms = 1000;
  it->c.pull_stopped_ms = 2000;
  it = fq_push (&e->q, ECS_CHANGE_TASK, "t1", NULL, "STOPPED", true);
  it->c.pull_started_ms = 1000;
  it->c.pull_stopped_ms = 2000;
  it->c.execution_stopped_ms = 3000;
  env_start (e);
  run (e);
  assert_int_equal (e->f.n_log, 1);
  assert_string_equal (e->f.log[0].what, "task t1 STOPPED [main STOPPED]");
  assert_int_equal (e->f.pull_stopped_ms, 2000);
  assert_int_equal (e->f.execution_stopped_ms, 3000);
  env_free (e);
}

/* The task change's timestamps and reason go out with it. */
static void
test_task_fields (void **state)
{
  struct env *e = env_new ();
  struct fq_item *it = fq_push (&e->q, ECS_CHANGE_TASK, "t1", NULL, "STOPPED", true);
  it->c.pull_started_ms = 1000;
  it->c.pull_stopped_ms = 2000;
  it->c.execution_stopped_ms = 3000;
  it->c.reason = "Essential container in task exited";
  env_start (e);
  run (e);
  assert_int_equal (e->f.n_log, 1);
  assert_int_equal (e->f.pull_started_ms, 1000);
  assert_int_equal (e->f.pull_stopped_ms, 2000);
  assert_int_equal (e->f.execution_stopped_ms, 3000);
  assert_string_equal (e->f.reason, "Essential container in task exited");
  env_free (e);
}

static void
test_durability_gate (void **state)
{
  struct env *e = env_new ();
  fq_push (&e->q, ECS_CHANGE_TASK, "t1", NULL, "RUNNING", true);
  fq_push (&e->q, ECS_CHANGE_TASK, "t2", NULL, "RUNNING", false);
  env_start (e);
  run (e);
  /* the first went out, the second waits for persistence */
  assert_int_equal (e->f.n_log, 1);
  assert_int_equal (e->q.n, 1);
  /* a wake-up without durability changes nothing */
  ecs_submitter_wake (e->s);
  run (e);
  assert_int_equal (e->f.n_log, 1);
  e->q.items[0].durable = true; /* the second, now at the front */
  ecs_submitter_wake (e->s);
  assert_int_equal (e->f.n_log, 1); /* never inside the caller */
  run (e);
  assert_int_equal (e->f.n_log, 2);
  assert_int_equal (e->q.n, 0);
  /* a batch waits until every entry in it is durable */
  fq_push (&e->q, ECS_CHANGE_CONTAINER, "t4", "web", "RUNNING", true);
  struct fq_item *t4 = fq_push (&e->q, ECS_CHANGE_TASK, "t4", NULL, "RUNNING", false);
  ecs_submitter_wake (e->s);
  run (e);
  assert_int_equal (e->f.n_log, 2);
  t4->durable = true;
  ecs_submitter_wake (e->s);
  run (e);
  assert_int_equal (e->f.n_log, 3);
  assert_string_equal (e->f.log[2].what, "task t4 RUNNING [web RUNNING]");
  /* new entries later */
  fq_push (&e->q, ECS_CHANGE_TASK, "t3", NULL, "STOPPED", true);
  ecs_submitter_wake (e->s);
  ecs_submitter_wake (e->s); /* coalesced */
  run (e);
  assert_int_equal (e->f.n_log, 4);
  assert_string_equal (e->f.log[3].what, "task t3 STOPPED");
  env_free (e);
}

static void
test_retry_until_acked (void **state)
{
  struct env *e = env_new ();
  /* outage: 5xx, throttling, network, timeouts, no credentials, then ack */
  int script[] = { ERR_SERVER, ERR_SERVER, ERR_UNREACHABLE, ERR_TIMEOUT, ERR_AUTH, ERR_SERVER, 0 };
  memcpy (e->f.script, script, sizeof script);
  e->f.n_script = ARRAY_SIZE (script);
  fq_push (&e->q, ECS_CHANGE_CONTAINER, "t1", "web", "RUNNING", true);
  fq_push (&e->q, ECS_CHANGE_TASK, "t1", NULL, "RUNNING", true);
  env_start (e);
  run (e);
  /* the batch was sent 7 times and removed only after the ack */
  assert_int_equal (e->f.n_log, 7);
  for (int i = 0; i < 7; i++)
    assert_string_equal (e->f.log[i].what, "task t1 RUNNING [web RUNNING]");
  assert_int_equal (e->q.pops, 2);
  struct ecs_submitter_stats st;
  ecs_submitter_stats (e->s, &st);
  assert_int_equal (st.retries, 6);
  assert_int_equal (st.submitted, 2);
  env_free (e);
}

static void
test_long_outage (void **state)
{
  struct env *e = env_new ();
  /* 60 consecutive failures: still retried (forever), backoff capped */
  for (int i = 0; i < 60; i++)
    e->f.script[i] = ERR_SERVER;
  e->f.n_script = 60;
  fq_push (&e->q, ECS_CHANGE_TASK, "t1", NULL, "STOPPED", true);
  env_start (e);
  run (e);
  assert_int_equal (e->f.n_log, 61);
  assert_int_equal (e->q.n, 0);
  env_free (e);
}

static void
test_drop_non_retriable (void **state)
{
  struct env *e = env_new ();
  int script[] = { ERR_CLIENT, 0, ERR_MALFORMED, 0 };
  memcpy (e->f.script, script, sizeof script);
  e->f.n_script = ARRAY_SIZE (script);
  fq_push (&e->q, ECS_CHANGE_TASK, "bad", NULL, "RUNNING", true);
  fq_push (&e->q, ECS_CHANGE_TASK, "good", NULL, "RUNNING", true);
  fq_push (&e->q, ECS_CHANGE_TASK, "odd", NULL, "RUNNING", true);
  fq_push (&e->q, ECS_CHANGE_TASK, "good2", NULL, "RUNNING", true);
  env_start (e);
  run (e);
  assert_int_equal (e->f.n_log, 4);
  assert_int_equal (e->q.n, 0);
  struct ecs_submitter_stats st;
  ecs_submitter_stats (e->s, &st);
  assert_int_equal (st.dropped, 2);
  assert_int_equal (st.submitted, 2);
  assert_int_equal (st.retries, 0);
  env_free (e);
}

static void
test_status_filter (void **state)
{
  struct env *e = env_new ();
  fq_push (&e->q, ECS_CHANGE_TASK, "t1", NULL, "PENDING", true);
  fq_push (&e->q, ECS_CHANGE_CONTAINER, "t1", "web", "DEAD", true);
  fq_push (&e->q, ECS_CHANGE_CONTAINER, "", "web", "RUNNING", true);    /* malformed */
  fq_push (&e->q, ECS_CHANGE_CONTAINER, "t1", NULL, "RUNNING", true);   /* malformed */
  fq_push (&e->q, ECS_CHANGE_CONTAINER, "t1", "web2", "CREATED", true); /* not an ECS status */
  fq_push (&e->q, ECS_CHANGE_TASK, "t1", NULL, "STOPPED", true);
  env_start (e);
  run (e);
  assert_int_equal (e->f.n_log, 2);
  assert_string_equal (e->f.log[0].what, "task t1 PENDING");
  assert_string_equal (e->f.log[1].what, "task t1 STOPPED [web STOPPED]");
  assert_int_equal (e->q.n, 0);
  env_free (e);
}

static void
test_duplicates_harmless (void **state)
{
  struct env *e = env_new ();
  fq_push (&e->q, ECS_CHANGE_TASK, "t1", NULL, "RUNNING", true);
  fq_push (&e->q, ECS_CHANGE_TASK, "t1", NULL, "RUNNING", true);
  env_start (e);
  run (e);
  assert_int_equal (e->f.n_log, 2);
  assert_int_equal (e->q.n, 0);
  env_free (e);
}

static void
test_free_in_flight (void **state)
{
  struct env *e = env_new ();
  fq_push (&e->q, ECS_CHANGE_TASK, "t1", NULL, "RUNNING", true);
  e->f.delay_ms = 10000;
  env_start (e);
  uv_run (&e->loop, UV_RUN_NOWAIT); /* the deferred start: send goes out */
  while (e->f.n_log < 1)
    uv_run (&e->loop, UV_RUN_NOWAIT);
  assert_int_equal (e->f.n_log, 1);
  ecs_submitter_free (e->s);
  e->s = NULL;
  assert_int_equal (e->f.cancels, 1);
  assert_int_equal (e->q.n, 1); /* still queued: resubmitted after restart */
  env_free (e);
}

static void
test_free_in_backoff (void **state)
{
  struct env *e = env_new ();
  e->f.script[0] = ERR_SERVER;
  e->f.n_script = 1;
  fq_push (&e->q, ECS_CHANGE_TASK, "t1", NULL, "RUNNING", true);
  struct ecs_change_queue q = { .ctx = &e->q, .count = fq_count, .peek = fq_peek,
                                .remove = fq_remove };
  struct ecs_submitter_options o = { .min_backoff_ms = 60000, .max_backoff_ms = 60000,
                                     .send = fake_send, .cancel = fake_cancel, .send_ctx = &e->f };
  agent_error_t err = NULL;
  e->s = ecs_submitter_new (&e->loop, NULL, &q, &o, &err);
  for (int i = 0; i < 20 && e->f.next < 1; i++)
    uv_run (&e->loop, UV_RUN_NOWAIT);
  /* wait for the send, then for its failure to come back (the fake ECS
     answers on a 1 ms timer): the submitter counts the retry and arms its
     60 s back-off */
  while (e->f.n_log < 1)
    uv_run (&e->loop, UV_RUN_ONCE);
  struct ecs_submitter_stats st;
  ecs_submitter_stats (e->s, &st);
  for (int i = 0; i < 100 && st.retries < 1; i++)
    {
      uv_run (&e->loop, UV_RUN_ONCE);
      ecs_submitter_stats (e->s, &st);
    }
  assert_int_equal (st.retries, 1);
  assert_true (st.busy);
  assert_string_equal (e->f.cluster, "default");
  ecs_submitter_free (e->s);
  e->s = NULL;
  assert_int_equal (e->q.n, 1);
  env_free (e);
}

static void
test_bad_args (void **state)
{
  uv_loop_t loop;
  uv_loop_init (&loop);
  struct fq fq = { 0 };
  struct ecs_change_queue q = { .ctx = &fq, .count = fq_count, .peek = fq_peek };
  agent_error_t err = NULL;
  assert_null (ecs_submitter_new (&loop, NULL, &q, NULL, &err));
  assert_int_equal (error_kind (&err), ERR_INVALID);
  error_free (&err);
  uv_loop_close (&loop);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_batching),          cmocka_unit_test (test_interleaved_tasks),
    cmocka_unit_test (test_drain_lone_containers),
    cmocka_unit_test (test_lone_containers_carry_task_timestamps), cmocka_unit_test (test_task_fields),
    cmocka_unit_test (test_durability_gate),
    cmocka_unit_test (test_retry_until_acked), cmocka_unit_test (test_long_outage),
    cmocka_unit_test (test_drop_non_retriable), cmocka_unit_test (test_status_filter),
    cmocka_unit_test (test_duplicates_harmless), cmocka_unit_test (test_free_in_flight),
    cmocka_unit_test (test_free_in_backoff),   cmocka_unit_test (test_bad_args),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
