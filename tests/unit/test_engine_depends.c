/* Unit tests for engine/depends.c and the dependsOn rules of engine/plan.c:
 * every condition x every observed state of the dependency (met, wait,
 * terminal failure with upstream's text), start timeouts, gating of pull /
 * create / start, reverse stop order, stuck detection, admission
 * (cycles, missing names, HEALTHY without a health check) and the ACS /
 * checkpoint forms of dependsOn, startTimeout and stopTimeout, pulls gated
 * like creates unless ECS_PULL_DEPENDENT_CONTAINERS_UPFRONT. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include "engine/decide.h"
#include "engine/depends.h"
#include "docker/docker.h"
#include "docker/overlay.h"
#include "engine/plan.h"
#include "state/checkpoint_tasks.h"
#include "test_engine_util.h"

#define N TEU_N
#define P TEU_P
#define C TEU_C
#define R TEU_R
#define S TEU_S
#define SEC 1000000000LL

/* "app" depends on "dep" with the given condition; dep has a health check
   and a start timeout of 10 s. */
static struct task *
pair (const char *cond)
{
  char buf[600];
  snprintf (buf, sizeof buf,
            "{\"arn\":\"t\",\"desiredStatus\":\"RUNNING\",\"containers\":["
            "{\"name\":\"app\",\"image\":\"img\",\"essential\":true,"
            "\"dependsOn\":[{\"containerName\":\"dep\",\"condition\":\"%s\"}]},"
            "{\"name\":\"dep\",\"image\":\"busybox\",\"essential\":false,\"startTimeout\":10,"
            "\"healthCheckType\":\"DOCKER\"}]}",
            cond);
  struct task *t = teu_task_must (buf);
  engine_plan_update_desired (t);
  return t;
}

enum verdict
{
  WAIT,
  MET,
  FAIL,
};

static void
test_condition_table (void **st)
{
  (void) st;
  enum
  {
    X = -1 /* no exit code */
  };
  static const struct
  {
    const char *cond;
    enum task_status known, desired;
    int exit;
    enum task_health health;
    int64_t started_s, now_s; /* dep's first start (0 = never), now */
    enum verdict want;
    const char *msg; /* a part of the failure text */
  } rows[] = {
    /* START */
    { "START", N, R, X, TASK_HEALTH_UNKNOWN, 0, 100, WAIT, NULL },
    { "START", P, R, X, TASK_HEALTH_UNKNOWN, 0, 100, WAIT, NULL },
    { "START", C, R, X, TASK_HEALTH_UNKNOWN, 0, 100, WAIT, NULL },
    { "START", R, R, X, TASK_HEALTH_UNKNOWN, 90, 100, MET, NULL },
    { "START", S, S, 1, TASK_HEALTH_UNKNOWN, 90, 100, MET, NULL }, /* already stopped counts */
    { "START", R, R, X, TASK_HEALTH_UNKNOWN, 50, 100, MET, NULL }, /* START never times out */
    { "START", N, S, X, TASK_HEALTH_UNKNOWN, 0, 100, FAIL, "because dependency will never start" },
    { "START", C, S, X, TASK_HEALTH_UNKNOWN, 0, 100, FAIL, "because dependency will never start" },
    /* COMPLETE */
    { "COMPLETE", N, R, X, TASK_HEALTH_UNKNOWN, 0, 100, WAIT, NULL },
    { "COMPLETE", C, R, X, TASK_HEALTH_UNKNOWN, 0, 100, WAIT, NULL },
    { "COMPLETE", R, R, X, TASK_HEALTH_UNKNOWN, 95, 100, WAIT, NULL },
    { "COMPLETE", S, S, 0, TASK_HEALTH_UNKNOWN, 95, 100, MET, NULL },
    { "COMPLETE", S, S, 1, TASK_HEALTH_UNKNOWN, 95, 100, MET, NULL },
    { "COMPLETE", R, R, X, TASK_HEALTH_UNKNOWN, 89, 100, FAIL, "] has timed out." },
    { "COMPLETE", R, R, X, TASK_HEALTH_UNKNOWN, 90, 100, WAIT, NULL }, /* exactly at the deadline */
    { "COMPLETE", N, S, X, TASK_HEALTH_UNKNOWN, 0, 100, FAIL, "will never start" },
    /* SUCCESS */
    { "SUCCESS", N, R, X, TASK_HEALTH_UNKNOWN, 0, 100, WAIT, NULL },
    { "SUCCESS", R, R, X, TASK_HEALTH_UNKNOWN, 95, 100, WAIT, NULL },
    { "SUCCESS", S, S, 0, TASK_HEALTH_UNKNOWN, 95, 100, MET, NULL },
    { "SUCCESS", S, S, 1, TASK_HEALTH_UNKNOWN, 95, 100, FAIL,
      "[dep(busybox) (STOPPED->STOPPED) - Exit: 1] for target [app(img) (NONE->RUNNING)] as dependency did not exit successfully." },
    { "SUCCESS", S, S, X, TASK_HEALTH_UNKNOWN, 95, 100, FAIL, "did not exit successfully" },
    { "SUCCESS", R, R, X, TASK_HEALTH_UNKNOWN, 80, 100, FAIL,
      "dependency graph: container ordering dependency [dep(busybox) (RUNNING->RUNNING)] for target [app(img) (NONE->RUNNING)] has timed out." },
    { "SUCCESS", S, S, 1, TASK_HEALTH_UNKNOWN, 80, 100, FAIL, "did not exit successfully" },
    /* HEALTHY */
    { "HEALTHY", N, R, X, TASK_HEALTH_UNKNOWN, 0, 100, WAIT, NULL },
    { "HEALTHY", R, R, X, TASK_HEALTH_UNKNOWN, 95, 100, WAIT, NULL },
    { "HEALTHY", R, R, X, TASK_HEALTH_HEALTHY, 95, 100, MET, NULL },
    { "HEALTHY", R, R, X, TASK_HEALTH_HEALTHY, 50, 100, MET, NULL }, /* healthy in time: met for good */
    { "HEALTHY", R, R, X, TASK_HEALTH_UNHEALTHY, 95, 100, FAIL, "as dependency is not healthy." },
    { "HEALTHY", S, S, 0, TASK_HEALTH_UNKNOWN, 95, 100, FAIL, "as dependency is not healthy." },
    { "HEALTHY", S, S, 0, TASK_HEALTH_HEALTHY, 95, 100, FAIL, "as dependency is not healthy." },
    { "HEALTHY", R, R, X, TASK_HEALTH_UNKNOWN, 80, 100, FAIL, "has timed out." },
    { "HEALTHY", N, S, X, TASK_HEALTH_UNKNOWN, 0, 100, FAIL, "will never start" },
  };
  for (size_t i = 0; i < ARRAY_SIZE (rows); i++)
    {
      struct task *t = pair (rows[i].cond);
      struct task_container *dep = &t->containers[1];
      dep->known_status = rows[i].known;
      dep->desired_status = rows[i].desired;
      dep->has_exit_code = rows[i].exit != X;
      dep->exit_code = rows[i].exit;
      dep->life.health = rows[i].health;
      dep->life.started_at_ns = rows[i].started_s * SEC;
      char *msg = NULL;
      int64_t wake = 0;
      bool met = engine_dep_met (t, 0);
      bool failed = engine_dep_failure (t, 0, rows[i].now_s * SEC, &msg, &wake);
      enum verdict got = met ? MET : failed ? FAIL : WAIT;
      if (got != rows[i].want || (rows[i].msg && (!msg || !strstr (msg, rows[i].msg))))
        fail_msg ("row %zu (%s): got %d (%s), want %d (%s)", i, rows[i].cond, got, msg ? msg : "-",
                  rows[i].want, rows[i].msg ? rows[i].msg : "-");
      if (got == FAIL)
        assert_true (strncmp (msg, "dependency graph: ", 18) == 0);
      /* A waiting dependent on a started dependency with a timeout gets a wake-up. */
      if (got == WAIT && strcmp (rows[i].cond, "START") != 0 && rows[i].started_s && rows[i].known != S)
        assert_int_equal (wake, (rows[i].started_s + 10) * SEC);
      /* The planner holds every forward step while not met. */
      assert_int_equal (engine_plan_container_action (t, 0), met ? TASK_ACTION_PULL : TASK_ACTION_NONE);
      free (msg);
      task_free (t);
    }
}

static void
test_failure_only_before_start (void **st)
{
  (void) st;
  struct task *t = pair ("SUCCESS");
  struct task_container *app = &t->containers[0], *dep = &t->containers[1];
  dep->known_status = dep->desired_status = S;
  dep->has_exit_code = true;
  dep->exit_code = 2;
  char *msg = NULL;
  int64_t wake;
  app->known_status = R; /* already started: not judged again */
  assert_false (engine_dep_failure (t, 0, 0, &msg, &wake));
  app->known_status = C;
  app->desired_status = S; /* already going away */
  assert_false (engine_dep_failure (t, 0, 0, &msg, &wake));
  app->desired_status = R;
  assert_true (engine_dep_failure (t, 0, 0, &msg, &wake));
  free (msg);
  /* No start timeout: waits forever. */
  task_free (t);
  t = pair ("COMPLETE");
  t->containers[1].life.start_timeout_s = 0;
  t->containers[1].known_status = R;
  t->containers[1].life.started_at_ns = 1;
  assert_false (engine_dep_failure (t, 0, 1000000 * SEC, &msg, &wake));
  assert_int_equal (wake, 0);
  task_free (t);
}

/* db HEALTHY <- migrate SUCCESS <- app: the order the planner allows. */
static const char *chain_json
    = "{\"arn\":\"t\",\"desiredStatus\":\"RUNNING\",\"containers\":["
      "{\"name\":\"app\",\"image\":\"i\",\"essential\":true,"
      "\"dependsOn\":[{\"containerName\":\"migrate\",\"condition\":\"SUCCESS\"}]},"
      "{\"name\":\"migrate\",\"image\":\"i\",\"essential\":false,"
      "\"dependsOn\":[{\"containerName\":\"db\",\"condition\":\"HEALTHY\"}]},"
      "{\"name\":\"db\",\"image\":\"i\",\"essential\":true,\"healthCheckType\":\"docker\"}]}";

static void
test_chain_order_and_reverse_stop (void **st)
{
  (void) st;
  struct task *t = teu_task_must (chain_json);
  struct task_container *app = &t->containers[0], *mig = &t->containers[1], *db = &t->containers[2];
  char *reason = NULL;
  assert_int_equal (engine_plan_check_task (t, &reason), 0);
  engine_plan_update_desired (t);
  enum task_action a[3];
  assert_int_equal (engine_plan_actions (t, a), 1);
  assert_int_equal (a[2], TASK_ACTION_PULL);
  db->known_status = R;
  db->docker_id = xstrdup ("id");
  assert_int_equal (engine_plan_actions (t, a), 0);
  /* Waiting on a condition is not being stuck. */
  assert_int_equal (engine_plan_stuck (t), ENGINE_PLAN_NOT_STUCK);
  db->life.health = TASK_HEALTH_HEALTHY;
  engine_plan_actions (t, a);
  assert_int_equal (a[1], TASK_ACTION_PULL);
  assert_int_equal (a[0], TASK_ACTION_NONE);
  mig->known_status = S;
  mig->has_exit_code = true;
  mig->exit_code = 0;
  engine_plan_actions (t, a);
  assert_int_equal (a[0], TASK_ACTION_PULL);
  app->known_status = R;
  app->docker_id = xstrdup ("id");
  /* Stop in reverse order: db waits for its dependent migrate (here made
     to run again by hand), app goes at once. */
  mig->known_status = R;
  mig->docker_id = xstrdup ("id");
  t->desired_status = S;
  engine_plan_update_desired (t);
  engine_plan_actions (t, a);
  assert_int_equal (a[0], TASK_ACTION_STOP);
  assert_int_equal (a[1], TASK_ACTION_NONE); /* app lists migrate */
  assert_int_equal (a[2], TASK_ACTION_NONE);
  app->known_status = S;
  engine_plan_actions (t, a);
  assert_int_equal (a[1], TASK_ACTION_STOP);
  assert_int_equal (a[2], TASK_ACTION_NONE);
  mig->known_status = S;
  engine_plan_actions (t, a);
  assert_int_equal (a[2], TASK_ACTION_STOP);
  task_free (t);
}

static void
test_admission (void **st)
{
  (void) st;
  static const struct
  {
    const char *containers;
    const char *want; /* NULL = accepted */
  } rows[] = {
    { "{\"name\":\"a\",\"image\":\"i\",\"dependsOn\":[{\"containerName\":\"b\",\"condition\":\"START\"}]},"
      "{\"name\":\"b\",\"image\":\"i\"}", NULL },
    { "{\"name\":\"a\",\"image\":\"i\",\"dependsOn\":[{\"containerName\":\"b\",\"condition\":\"START\"}]},"
      "{\"name\":\"b\",\"image\":\"i\",\"dependsOn\":[{\"containerName\":\"a\",\"condition\":\"COMPLETE\"}]}",
      "Task dependencies cannot be resolved, taskArn: t" },
    { "{\"name\":\"a\",\"image\":\"i\",\"dependsOn\":[{\"containerName\":\"a\",\"condition\":\"START\"}]}",
      "Task dependencies cannot be resolved, taskArn: t" },
    { "{\"name\":\"a\",\"image\":\"i\",\"dependsOn\":[{\"containerName\":\"zz\",\"condition\":\"START\"}]}",
      "Task dependencies cannot be resolved, taskArn: t" },
    /* a cycle through a link and a dependsOn entry */
    { "{\"name\":\"a\",\"image\":\"i\",\"links\":[\"b\"]},"
      "{\"name\":\"b\",\"image\":\"i\",\"dependsOn\":[{\"containerName\":\"a\",\"condition\":\"SUCCESS\"}]}",
      "Task dependencies cannot be resolved, taskArn: t" },
    /* HEALTHY needs a Docker health check */
    { "{\"name\":\"a\",\"image\":\"i\",\"dependsOn\":[{\"containerName\":\"b\",\"condition\":\"HEALTHY\"}]},"
      "{\"name\":\"b\",\"image\":\"i\"}", "Task dependencies cannot be resolved, taskArn: t" },
    { "{\"name\":\"a\",\"image\":\"i\",\"dependsOn\":[{\"containerName\":\"b\",\"condition\":\"HEALTHY\"}]},"
      "{\"name\":\"b\",\"image\":\"i\",\"healthCheckType\":\"docker\"}", NULL },
    /* a link problem keeps its own text */
    { "{\"name\":\"a\",\"image\":\"i\",\"links\":[\"q\"],\"dependsOn\":[{\"containerName\":\"b\",\"condition\":\"START\"}]},"
      "{\"name\":\"b\",\"image\":\"i\"}", "TaskDependencyError: container a links to missing container q" },
  };
  for (size_t i = 0; i < ARRAY_SIZE (rows); i++)
    {
      char buf[1024];
      snprintf (buf, sizeof buf, "{\"arn\":\"t\",\"desiredStatus\":\"RUNNING\",\"containers\":[%s]}",
                rows[i].containers);
      struct task *t = teu_task_must (buf);
      char *reason = NULL;
      int rc = engine_plan_check_task (t, &reason);
      if (rows[i].want == NULL ? rc != 0 : (rc == 0 || strcmp (reason, rows[i].want) != 0))
        fail_msg ("row %zu: rc %d reason %s", i, rc, reason ? reason : "-");
      free (reason);
      task_free (t);
    }
}

static void
test_decode (void **st)
{
  (void) st;
  static const struct
  {
    const char *member;
    const char *err; /* NULL = accepted */
  } rows[] = {
    { "\"dependsOn\":[{\"containerName\":\"b\",\"condition\":\"healthy\"}]", NULL },
    { "\"dependsOn\":null,\"startTimeout\":120,\"stopTimeout\":2", NULL },
    { "\"dependsOn\":{}", "containers[0].dependsOn must be an array" },
    { "\"dependsOn\":[1]", "containers[0].dependsOn[0] must be an object" },
    { "\"dependsOn\":[{\"containerName\":\"b\"}]", "containers[0].dependsOn[0].condition is required" },
    { "\"dependsOn\":[{\"condition\":\"START\"}]", "containers[0].dependsOn[0].containerName is required" },
    { "\"dependsOn\":[{\"containerName\":\"b\",\"condition\":\"RUNNING\"}]",
      "containers[0].dependsOn[0].condition must be START, COMPLETE, SUCCESS or HEALTHY (got \"RUNNING\")" },
    { "\"startTimeout\":-1", "containers[0].startTimeout must be in 0..86400 (got -1)" },
    { "\"stopTimeout\":\"2\"", "containers[0].stopTimeout must be an integer" },
  };
  for (size_t i = 0; i < ARRAY_SIZE (rows); i++)
    {
      char buf[600];
      snprintf (buf, sizeof buf,
                "{\"arn\":\"t\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"a\",\"image\":\"i\",%s},"
                "{\"name\":\"b\",\"image\":\"i\"}]}",
                rows[i].member);
      agent_error_t err = NULL;
      struct task *t = teu_task (buf, &err);
      if (rows[i].err == NULL)
        {
          if (!t)
            fail_msg ("row %zu: %s", i, error_msg (&err));
          task_free (t);
          continue;
        }
      if (t || !strstr (error_msg (&err), rows[i].err))
        fail_msg ("row %zu: got %s", i, t ? "accepted" : error_msg (&err));
      error_free (&err);
    }
  /* Too many entries. */
  struct sbuf b = { 0 };
  sbuf_puts (&b, "{\"arn\":\"t\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"a\",\"image\":\"i\",\"dependsOn\":[");
  for (int i = 0; i <= TASK_DEPENDS_ON_MAX; i++)
    sbuf_printf (&b, "%s{\"containerName\":\"b\",\"condition\":\"START\"}", i ? "," : "");
  sbuf_puts (&b, "]},{\"name\":\"b\",\"image\":\"i\"}]}");
  char *text = sbuf_steal (&b);
  agent_error_t err = NULL;
  assert_null (teu_task (text, &err));
  error_free (&err);
  free (text);
}

static void
test_checkpoint_round_trip (void **st)
{
  (void) st;
  struct task *t = teu_task_must (chain_json);
  t->containers[2].life.start_timeout_s = 30;
  t->containers[2].life.stop_timeout_s = 2;
  t->containers[2].life.started_at_ns = 1234567890123LL;
  t->containers[2].life.health = TASK_HEALTH_UNHEALTHY;
  t->containers[2].life.health_since_ns = 99;
  json_t *j = state_task_to_json (t);
  struct task *u = NULL;
  agent_error_t err = NULL;
  if (state_task_from_json (j, &u, &err) < 0)
    fail_msg ("%s", error_msg (&err));
  const struct task_container *c = &u->containers[2], *m = &u->containers[1];
  assert_int_equal (c->life.start_timeout_s, 30);
  assert_int_equal (c->life.stop_timeout_s, 2);
  assert_int_equal (c->life.started_at_ns, 1234567890123LL);
  assert_int_equal (c->life.health, TASK_HEALTH_UNHEALTHY);
  assert_int_equal (c->life.health_since_ns, 99);
  assert_int_equal (m->life.n_depends_on, 1);
  assert_string_equal (m->life.depends_on[0].container_name, "db");
  assert_int_equal (m->life.depends_on[0].condition, TASK_DEP_HEALTHY);
  json_decref (j);
  task_free (u);
  task_free (t);
}

static void
test_health_from_event (void **st)
{
  (void) st;
  static const struct
  {
    const char *action;
    enum task_health want;
  } rows[] = {
    { "health_status: healthy", TASK_HEALTH_HEALTHY },
    { "health_status: unhealthy", TASK_HEALTH_UNHEALTHY },
    { "health_status: starting", TASK_HEALTH_UNKNOWN },
    { "health_status:healthy", TASK_HEALTH_HEALTHY },
    { "health_status", TASK_HEALTH_UNKNOWN },
    { "health_status: HEALTHY?", TASK_HEALTH_UNKNOWN },
    { NULL, TASK_HEALTH_UNKNOWN },
  };
  for (size_t i = 0; i < ARRAY_SIZE (rows); i++)
    assert_int_equal (engine_health_from_event (rows[i].action), rows[i].want);
  assert_int_equal (docker_event_action_parse ("health_status: healthy"), DOCKER_EV_HEALTH_STATUS);
  assert_int_equal (docker_event_action_parse ("health_status"), DOCKER_EV_HEALTH_STATUS);
  assert_int_equal (docker_event_action_parse ("health_statusx"), DOCKER_EV_OTHER);
  assert_true (engine_event_relevant (DOCKER_EV_HEALTH_STATUS));
}

static void
test_stop_timeout (void **st)
{
  (void) st;
  struct task *t = pair ("START");
  struct task_container *c = &t->containers[0];
  assert_int_equal (engine_stop_timeout_s (c, 30000), 30);
  assert_int_equal (engine_stop_timeout_s (c, 1500), 2); /* the agent's, rounded up */
  c->life.stop_timeout_s = 2; /* the container's own wins */
  assert_int_equal (engine_stop_timeout_s (c, 30000), 2);
  assert_int_equal (engine_stop_timeout_s (c, 1000), 2);
  task_free (t);
}

/* The project's stop-signal label becomes Config.StopSignal, unless the
   dockerConfig overlay set one; without it no StopSignal is sent. */
static void
test_stop_signal_label (void **st)
{
  (void) st;
  static const struct
  {
    const char *config;
    const char *want; /* NULL = no StopSignal */
  } rows[] = {
    { "{\"Labels\":{\"ecs-agent-c.stop-signal\":\"SIGUSR1\"}}", "SIGUSR1" },
    { "{\"Labels\":{\"ecs-agent-c.stop-signal\":\"SIGUSR1\"},\"StopSignal\":\"SIGINT\"}", "SIGINT" },
    { "{\"Labels\":{\"ecs-agent-c.stop-signal\":\"\"}}", NULL },
    { "{\"Labels\":{\"com.amazonaws.ecs.stop-signal\":\"SIGUSR1\"}}", NULL },
    { NULL, NULL },
  };
  for (size_t i = 0; i < ARRAY_SIZE (rows); i++)
    {
      struct docker_create_opts o = { .image = "i", .extra_config_json = rows[i].config };
      agent_error_t err = NULL;
      char *body = docker_create_body (&o, &err);
      if (!body)
        fail_msg ("row %zu: %s", i, error_msg (&err));
      json_t *j = json_loads (body, 0, NULL);
      json_t *sig = json_object_get (j, "StopSignal");
      if (rows[i].want)
        assert_string_equal (json_string_value (sig), rows[i].want);
      else
        assert_null (sig);
      json_decref (j);
      free (body);
    }
}

/* ECS_PULL_DEPENDENT_CONTAINERS_UPFRONT: by default a container waiting on
   a dependency is not pulled either; with it the pull goes at once and
   only the create waits. */
static void
test_pull_upfront (void **st)
{
  (void) st;
  static const char *const conds[] = { "START", "COMPLETE", "SUCCESS", "HEALTHY" };
  for (size_t i = 0; i < 4; i++)
    {
      struct task *t = pair (conds[i]);
      struct task_container *app = &t->containers[0];
      assert_int_equal (engine_plan_container_action (t, 0), TASK_ACTION_NONE);
      assert_int_equal (engine_plan_container_action (t, 1), TASK_ACTION_PULL);
      t->pull_upfront = true;
      assert_int_equal (engine_plan_container_action (t, 0), TASK_ACTION_PULL);
      app->known_status = TASK_STATUS_PULLED;
      assert_int_equal (engine_plan_container_action (t, 0), TASK_ACTION_NONE); /* create waits */
      /* heading to STOPPED: nothing is pulled, upfront or not */
      app->known_status = TASK_STATUS_NONE;
      app->desired_status = TASK_STATUS_STOPPED;
      assert_int_equal (engine_plan_container_action (t, 0), TASK_ACTION_MARK_STOPPED);
      task_free (t);
    }
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_condition_table),
    cmocka_unit_test (test_pull_upfront),
    cmocka_unit_test (test_failure_only_before_start),
    cmocka_unit_test (test_chain_order_and_reverse_stop),
    cmocka_unit_test (test_admission),
    cmocka_unit_test (test_decode),
    cmocka_unit_test (test_checkpoint_round_trip),
    cmocka_unit_test (test_health_from_event),
    cmocka_unit_test (test_stop_timeout),
    cmocka_unit_test (test_stop_signal_label),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
