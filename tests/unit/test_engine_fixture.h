/* test_engine_fixture.h - the fixture of the engine unit tests
 * (test_engine_exec*.c): a loop, the fake Docker (test_engine_fake_docker.h),
 * a state directory and an engine over them; adding tasks from JSON and
 * spinning the loop until a task reaches a status. Header only. */
#ifndef TEST_ENGINE_FIXTURE_H
#define TEST_ENGINE_FIXTURE_H

#include "test_engine_fake_docker.h"

/* ---- fixture ---------------------------------------------------------------- */

struct fx
{
  uv_loop_t loop;
  char dir[64];
  struct fake fake;
  state_store_t *state;
  engine_t *e;
  uint64_t cleanup_ms;
  enum config_pull_behavior pull_behavior;
  int launch_limit;
  const struct config_images *images;
  const struct engine_secrets_ops *secrets_ops; /* secret resources (test_secrets_*) */
  void *secrets_ctx;
  task_creds_store_t *creds;
  http_client_t *http; /* the engine's AWS calls (test_pull_auth_fetch) */
  const char *region;  /* the agent's region for the containers */
};

static inline void
fake_free (struct fake *f)
{
  for (size_t i = 0; i < f->n_ctrs; i++)
    {
      struct fctr *k = &f->ctrs[i];
      free (k->name);
      free (k->image);
      free (k->task_arn);
      free (k->cname);
      task_strv_free (k->cmd);
      task_strv_free (k->links);
      task_strv_free (k->binds);
      task_strv_free (k->vfrom);
      task_strv_free (k->env);
      free (k->body);
    }
  for (size_t i = 0; i < f->n_images; i++)
    free (f->images[i]);
  for (size_t i = 0; i < f->n_volumes; i++)
    free (f->volumes[i]);
  free (f->last_auth);
  while (f->head)
    {
      struct fcall *c = f->head;
      f->head = c->next;
      free (c->arg);
      free (c);
    }
}

/* The engine, started: its container list (reconciliation) queued. */
static inline void
engine_up_start (struct fx *x)
{
  agent_error_t err = NULL;
  struct engine_label extra[] = { { "ecs-agent-c-test", "1" } };
  struct engine_options o = {
    .cluster = "unit",
    .cleanup_wait_ms = x->cleanup_ms ? x->cleanup_ms : 3600 * 1000,
    .stop_timeout_ms = 2000,
    .state = x->state,
    .ops = &fake_ops,
    .ops_ctx = &x->fake,
    .extra_labels = extra,
    .n_extra_labels = 1,
    .pull_behavior = x->pull_behavior,
    .launch_concurrency = x->launch_limit,
    .images = x->images,
    .secrets_ops = x->secrets_ops,
    .secrets_ctx = x->secrets_ctx,
    .http = x->http,
    .region = x->region,
  };
  x->e = engine_new (&x->loop, &o, &err);
  assert_non_null (x->e);
  engine_set_aws_credentials (x->e, NULL, x->creds);
  assert_int_equal (engine_start (x->e, &err), 0);
}

/* The engine, started, reconciliation done. */
static inline void
engine_up (struct fx *x)
{
  engine_up_start (x);
  for (int i = 0; i < 1000 && !engine_ready (x->e); i++)
    uv_run (&x->loop, UV_RUN_ONCE);
  assert_true (engine_ready (x->e));
}

static inline void
state_up (struct fx *x)
{
  agent_error_t err = NULL;
  x->state = state_store_new (&x->loop, x->dir, true, &err);
  assert_non_null (x->state);
  if (state_load (x->state, &err) < 0)
    fail_msg ("%s", error_msg (&err));
}

static inline void
teardown_engine (struct fx *x)
{
  engine_free (x->e);
  x->e = NULL;
  state_store_free (x->state);
  x->state = NULL;
  uv_run (&x->loop, UV_RUN_DEFAULT);
}

static inline int
setup (void **st)
{
  struct fx *x = xcalloc (1, sizeof *x);
  uv_loop_init (&x->loop);
  strcpy (x->dir, "/tmp/ecs-engine-unit-XXXXXX");
  assert_non_null (mkdtemp (x->dir));
  x->fake.loop = &x->loop;
  x->fake.tail = &x->fake.head;
  x->fake.stop_exit_code = 137;
  uv_timer_init (&x->loop, &x->fake.timer);
  x->fake.timer.data = &x->fake;
  x->fake.images[x->fake.n_images++] = xstrdup ("local-only");
  state_up (x);
  *st = x;
  return 0;
}

static inline int
teardown (void **st)
{
  struct fx *x = *st;
  if (x->e || x->state)
    teardown_engine (x);
  uv_close ((uv_handle_t *) &x->fake.timer, NULL);
  uv_run (&x->loop, UV_RUN_DEFAULT);
  fake_free (&x->fake);
  assert_int_equal (uv_loop_close (&x->loop), 0);
  cleanup_free char *cmd = xasprintf ("rm -rf '%s'", x->dir);
  assert_int_equal (system (cmd), 0);
  free (x);
  return 0;
}

static inline void
add (struct fx *x, const char *json)
{
  agent_error_t err = NULL;
  struct task *t = teu_task (json, &err);
  if (!t)
    fail_msg ("%s", error_msg (&err));
  assert_int_equal (engine_task_add (x->e, t, &err), 0);
}

static const struct task *
task_of (struct fx *x, const char *arn)
{
  return engine_find_task_by_arn (x->e, arn);
}

static inline bool
spin_task (struct fx *x, const char *arn, enum task_status want)
{
  for (int i = 0; i < 5000; i++)
    {
      const struct task *t = task_of (x, arn);
      if (t && t->known_status >= want)
        return true;
      uv_run (&x->loop, UV_RUN_ONCE);
    }
  return false;
}

/* n turns of the loop that do not wait: what is ready runs, nothing blocks. */
static inline void
run_turns (struct fx *x, int n)
{
  for (int i = 0; i < n; i++)
    uv_run (&x->loop, UV_RUN_NOWAIT);
}

/* Run until the engine holds no task (cleanup done), at most 20000 turns. */
static inline void
spin_until_no_tasks (struct fx *x)
{
  for (int i = 0; i < 20000 && engine_task_count (x->e) > 0; i++)
    uv_run (&x->loop, UV_RUN_ONCE);
}

static inline void
on_spin_done (uv_timer_t *h)
{
  *(bool *) h->data = true;
}

/* Run the loop for ms milliseconds of loop time; returns how many turns it took. */
static inline int
spin_for (struct fx *x, uint64_t ms)
{
  bool done = false;
  int turns = 0;
  uv_timer_t tm;
  uv_timer_init (&x->loop, &tm);
  tm.data = &done;
  uv_timer_start (&tm, on_spin_done, ms, 0);
  while (!done)
    {
      uv_run (&x->loop, UV_RUN_ONCE);
      turns++;
    }
  uv_close ((uv_handle_t *) &tm, NULL);
  uv_run (&x->loop, UV_RUN_NOWAIT);
  return turns;
}

/* Queue rendered as "C:name:STATUS[:exit]" / "T:STATUS" lines joined by ' '. */
static inline char *
queue_str (struct fx *x)
{
  struct sbuf b = { 0 };
  for (size_t i = 0; i < state_change_count (x->state); i++)
    {
      const struct state_change *c = state_change_peek (x->state, i);
      if (c->kind == STATE_CHANGE_TASK)
        sbuf_printf (&b, "T:%s ", c->status);
      else if (c->has_exit_code)
        sbuf_printf (&b, "C:%s:%s:%d ", c->container_name, c->status, c->exit_code);
      else
        sbuf_printf (&b, "C:%s:%s ", c->container_name, c->status);
    }
  return sbuf_steal (&b);
}

#define SLEEP5 "{\"arn\":\"arn:t1\",\"family\":\"sleep5\",\"version\":\"2\",\"desiredStatus\":\"RUNNING\"," \
               "\"containers\":[{\"name\":\"sleep5\",\"image\":\"busybox\",\"command\":[\"sleep\",\"5\"]," \
               "\"cpu\":10,\"memory\":10,\"essential\":true,\"environment\":{\"A\":\"1\"}," \
               "\"portMappings\":[{\"containerPort\":8080,\"hostPort\":0}]}]}"

#define LINKED "{\"arn\":\"arn:l\",\"family\":\"web\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\",\"containers\":[" \
               "{\"name\":\"web\",\"image\":\"busybox\",\"essential\":true,\"links\":[\"db:database\"]," \
               "\"volumesFrom\":[{\"sourceContainer\":\"data\",\"readOnly\":true}],\"mountPoints\":[" \
               "{\"sourceVolume\":\"scratch\",\"containerPath\":\"/scratch\"},{\"sourceVolume\":\"host\",\"containerPath\":\"/h\",\"readOnly\":true}]}," \
               "{\"name\":\"db\",\"image\":\"busybox\",\"essential\":false}," \
               "{\"name\":\"data\",\"image\":\"busybox\",\"essential\":false,\"mountPoints\":[{\"sourceVolume\":\"scratch\",\"containerPath\":\"/s\"}]}]," \
               "\"volumes\":[{\"name\":\"scratch\",\"host\":{}},{\"name\":\"host\",\"host\":{\"sourcePath\":\"/tmp\"}}]}"

#endif /* TEST_ENGINE_FIXTURE_H */
