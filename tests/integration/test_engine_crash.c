/* Crash tests of the engine against the real Docker engine: the engine and
 * its state store are freed without any shutdown work at chosen points (an
 * in-flight Docker create / start is abandoned mid-request, as a kill -9
 * would), Docker is then changed behind the agent's back, and a new engine
 * starts from the same checkpoint directory.  Afterwards exactly the
 * expected containers exist - none duplicated, none lost - and what happened
 * while the agent was down is reported (real exit codes, vanished
 * containers). */
#include "test_engine_itest.h"

/* Ops wrapper: the default ops plus a trigger on the n-th call of a kind. */
struct crash_ops
{
  docker_client_t *docker;
  int creates, starts;
  int crash_on_create, crash_on_start; /* 0 = never */
  bool crash;
};

static struct crash_ops *cur;

static void *
w_pull (void *ctx, const struct docker_pull_opts *o, docker_done_cb cb, void *data)
{
  return engine_docker_ops_default.pull (((struct crash_ops *) ctx)->docker, o, cb, data);
}
static void *
w_inspect_image (void *ctx, const char *i, docker_image_cb cb, void *data)
{
  return engine_docker_ops_default.inspect_image (((struct crash_ops *) ctx)->docker, i, cb, data);
}
static void *
w_create (void *ctx, const struct docker_create_opts *o, docker_create_cb cb, void *data)
{
  struct crash_ops *w = ctx;
  if (++w->creates == w->crash_on_create)
    w->crash = true;
  return engine_docker_ops_default.create (w->docker, o, cb, data);
}
static void *
w_start (void *ctx, const char *id, const char *v, docker_done_cb cb, void *data)
{
  struct crash_ops *w = ctx;
  if (++w->starts == w->crash_on_start)
    w->crash = true;
  return engine_docker_ops_default.start (w->docker, id, v, cb, data);
}
static void *
w_stop (void *ctx, const char *id, int g, docker_done_cb cb, void *data)
{
  return engine_docker_ops_default.stop (((struct crash_ops *) ctx)->docker, id, g, cb, data);
}
static void *
w_inspect (void *ctx, const char *id, docker_inspect_cb cb, void *data)
{
  return engine_docker_ops_default.inspect (((struct crash_ops *) ctx)->docker, id, cb, data);
}
static void *
w_remove (void *ctx, const char *id, docker_done_cb cb, void *data)
{
  return engine_docker_ops_default.remove (((struct crash_ops *) ctx)->docker, id, cb, data);
}
static void *
w_list (void *ctx, const char *f, docker_list_cb cb, void *data)
{
  return engine_docker_ops_default.list_by_label (((struct crash_ops *) ctx)->docker, f, cb, data);
}
static void *
w_vcreate (void *ctx, const char *n, const struct docker_label *l, size_t nl, docker_volume_cb cb, void *data)
{
  return engine_docker_ops_default.volume_create (((struct crash_ops *) ctx)->docker, n, l, nl, cb, data);
}
static void *
w_vremove (void *ctx, const char *n, docker_done_cb cb, void *data)
{
  return engine_docker_ops_default.volume_remove (((struct crash_ops *) ctx)->docker, n, cb, data);
}
static void
w_cancel (void *ctx, void *h)
{
  engine_docker_ops_default.cancel (((struct crash_ops *) ctx)->docker, h);
}
static void *
w_events_start (void *ctx, const struct docker_events_opts *o)
{
  return engine_docker_ops_default.events_start (((struct crash_ops *) ctx)->docker, o);
}
static void
w_events_stop (void *ctx, void *s)
{
  engine_docker_ops_default.events_stop (((struct crash_ops *) ctx)->docker, s);
}

static void *
w_image_remove (void *ctx, const char *image, docker_done_cb cb, void *data)
{
  return engine_docker_ops_default.image_remove (((struct crash_ops *) ctx)->docker, image, cb, data);
}

static const struct engine_docker_ops wrap_ops = {
  w_pull, w_inspect_image, w_create, w_start, w_stop, w_inspect, w_remove,
  w_list, w_vcreate, w_vremove, w_image_remove, w_cancel, w_events_start, w_events_stop,
  NULL, NULL, /* no untracked cleanup */
};

static char *
task_json (struct it *x, const char *arn)
{
  /* db <- web (link) <- client (link) so creates happen in three waves. */
  return xasprintf (
      "{\"arn\":\"%s\",\"family\":\"crash\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\",\"containers\":["
      "{\"name\":\"db\",\"image\":\"%s\",\"essential\":true,\"command\":[\"sleep\",\"300\"]},"
      "{\"name\":\"web\",\"image\":\"%s\",\"essential\":true,\"links\":[\"db\"],\"command\":[\"sleep\",\"300\"]},"
      "{\"name\":\"client\",\"image\":\"%s\",\"essential\":false,\"links\":[\"web\"],\"command\":[\"sleep\",\"300\"]},"
      "{\"name\":\"solo\",\"image\":\"%s\",\"essential\":false,\"command\":[\"sleep\",\"300\"]}]}",
      arn, x->image, x->image, x->image, x->image);
}

struct count_want
{
  const char *arn;
  const char *filter;
  int n;
};

static bool
count_reached (struct it *x, void *data)
{
  const struct count_want *w = data;
  return it_count_containers (x, w->arn, w->filter) >= w->n;
}

/* Run the task until the wrapper fires, "crash", restart, and check. */
static void
crash_at (struct it *x, int on_create, int on_start)
{
  struct crash_ops w = { .docker = x->docker, .crash_on_create = on_create, .crash_on_start = on_start };
  cur = &w;
  x->ops = &wrap_ops;
  x->ops_ctx = &w;
  it_engine_up (x);
  cleanup_free char *a = xasprintf ("arn:aws:ecs:us-west-2:1:task/crash-%s-c%d-s%d", x->run, on_create, on_start);
  cleanup_free char *json = task_json (x, a);
  it_add (x, json);
  uint64_t deadline = util_now_ms () + 60000;
  while (!w.crash && util_now_ms () < deadline)
    {
      const struct task *t = it_task (x, a);
      if (t->known_status >= TASK_STATUS_RUNNING && on_create == 0 && on_start == 0)
        break;
      uv_run (&x->loop, UV_RUN_ONCE);
    }
  assert_true (w.crash || (on_create == 0 && on_start == 0));
  /* The crash: the in-flight Docker request is abandoned, nothing saved. */
  it_engine_down (x);
  /* Let the daemon finish the request it had received (it may also fail:
     not asserted; the restart copes either way). */
  struct count_want pending = { a, on_start ? "--filter status=running" : NULL,
                                on_start ? w.starts : w.creates };
  it_wait_until (x, count_reached, &pending, 5000);
  int before = it_count_containers (x, a, NULL);
  /* Restart from the same directory with the plain Docker ops. */
  x->ops = NULL;
  x->ops_ctx = NULL;
  it_state_up (x);
  it_engine_up (x);
  assert_true (it_wait_task (x, a, TASK_STATUS_RUNNING, 60000));
  struct count_want all = { a, "--filter status=running", 4 };
  assert_true (it_wait_until (x, count_reached, &all, 10000));
  const struct task *t = it_task (x, a);
  assert_int_equal (t->n_containers, 4);
  /* Exactly one Docker container per task container, all running, and the
     ones that existed before the restart were adopted (never re-created). */
  assert_int_equal (it_count_containers (x, a, NULL), 4);
  assert_int_equal (it_count_containers (x, a, "--filter status=running"), 4);
  for (size_t i = 0; i < t->n_containers; i++)
    {
      const struct task_container *c = &t->containers[i];
      assert_int_equal (c->known_status, TASK_STATUS_RUNNING);
      assert_non_null (c->docker_id);
      char cmd[512];
      snprintf (cmd, sizeof cmd, "docker ps -q --no-trunc --filter id=%s --filter 'label=com.amazonaws.ecs.container-name=%s' | grep -q .",
                c->docker_id, c->name);
      assert_int_equal (system (cmd), 0);
    }
  print_message ("crash at create #%d / start #%d: %d containers existed at restart, 4 after, none duplicated\n",
                 on_create, on_start, before);
  /* Each container's RUNNING is in the queue once (the task's too). */
  int running_changes = 0, task_running = 0;
  for (size_t i = 0; i < state_change_count (x->state); i++)
    {
      const struct state_change *c = state_change_peek (x->state, i);
      if (c->kind == STATE_CHANGE_CONTAINER && strcmp (c->status, "RUNNING") == 0)
        running_changes++;
      if (c->kind == STATE_CHANGE_TASK && strcmp (c->status, "RUNNING") == 0)
        task_running++;
    }
  assert_int_equal (running_changes, 4);
  assert_int_equal (task_running, 1);
  cur = NULL;
}

static void test_crash_during_first_create (void **st) { crash_at (*st, 1, 0); }
static void test_crash_during_second_create (void **st) { crash_at (*st, 2, 0); }
static void test_crash_during_last_create (void **st) { crash_at (*st, 4, 0); }
static void test_crash_during_start (void **st) { crash_at (*st, 0, 2); }

/* Crash while running; while the agent is down one container is killed and
   another removed.  The restart reports the real exit code of the first and
   ContainerVanishedError for the second, and the task stops (both are
   essential... the killed one is essential). */
static void
test_crash_then_changes_while_down (void **st)
{
  struct it *x = *st;
  crash_at (x, 0, 0); /* running, checked */
  const struct task *t0 = engine_task_at (x->e, 0);
  cleanup_free char *a = xstrdup (t0->arn);
  cleanup_free char *db = xstrdup (task_find_container (t0, "db")->docker_id);
  cleanup_free char *solo = xstrdup (task_find_container (t0, "solo")->docker_id);
  it_engine_down (x);
  char cmd[256];
  snprintf (cmd, sizeof cmd, "docker kill -s KILL %s >/dev/null && docker rm -f %s >/dev/null", db, solo);
  assert_int_equal (system (cmd), 0);
  it_state_up (x);
  it_engine_up (x);
  assert_true (it_wait_task (x, a, TASK_STATUS_STOPPED, 60000));
  const struct task *t = it_task (x, a);
  const struct task_container *cdb = task_find_container (t, "db");
  const struct task_container *csolo = task_find_container (t, "solo");
  assert_int_equal (cdb->exit_code, 137);
  assert_null (cdb->reason);
  assert_string_equal (csolo->reason, "ContainerVanishedError: No container matching saved ID found");
  /* The essential db stopping stopped the rest; no container was created again. */
  assert_int_equal (it_count_containers (x, a, NULL), 3);
  assert_int_equal (it_count_containers (x, a, "--filter status=running"), 0);
}

int
main (void)
{
  log_set_level (LOG_ERROR);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_crash_during_first_create, it_setup, it_teardown),
    cmocka_unit_test_setup_teardown (test_crash_during_second_create, it_setup, it_teardown),
    cmocka_unit_test_setup_teardown (test_crash_during_last_create, it_setup, it_teardown),
    cmocka_unit_test_setup_teardown (test_crash_during_start, it_setup, it_teardown),
    cmocka_unit_test_setup_teardown (test_crash_then_changes_while_down, it_setup, it_teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
