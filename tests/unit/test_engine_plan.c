/* Unit tests for engine/plan.c: every transition (legal and illegal),
 * desired-status propagation, task known status, dependencies (ordering,
 * cycle, missing target), reverse stop order, stuck detection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include "engine/plan.h"
#include "test_engine_util.h"

#define N TEU_N
#define P TEU_P
#define C TEU_C
#define R TEU_R
#define S TEU_S

/* One container, no dependencies. */
static struct task *
single (void)
{
  return teu_task_must ("{\"arn\":\"t\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"a\",\"image\":\"i\",\"essential\":true}]}");
}

static void
set (struct task_container *c, enum task_status desired, enum task_status known)
{
  c->desired_status = desired;
  c->known_status = known;
  c->docker_id = known >= C && !c->docker_id ? xstrdup ("id") : c->docker_id;
}

/* Every (desired, known) pair for a lone container: the full table. */
static void
test_single_container_table (void **st)
{
  (void) st;
  static const struct
  {
    enum task_status desired, known;
    enum task_action want;
  } rows[] = {
    /* desired RUNNING: forward one step at a time */
    { R, N, TASK_ACTION_PULL },
    { R, P, TASK_ACTION_CREATE },
    { R, C, TASK_ACTION_START },
    { R, R, TASK_ACTION_NONE },
    { R, S, TASK_ACTION_NONE }, /* a STOPPED container never restarts */
    /* desired CREATED */
    { C, N, TASK_ACTION_PULL },
    { C, P, TASK_ACTION_CREATE },
    { C, C, TASK_ACTION_NONE },
    { C, R, TASK_ACTION_NONE }, /* never backwards */
    { C, S, TASK_ACTION_NONE },
    /* desired STOPPED */
    { S, N, TASK_ACTION_MARK_STOPPED },
    { S, P, TASK_ACTION_MARK_STOPPED },
    { S, C, TASK_ACTION_MARK_STOPPED },
    { S, R, TASK_ACTION_STOP },
    { S, S, TASK_ACTION_NONE },
    /* desired NONE / PULLED */
    { N, N, TASK_ACTION_NONE },
    { P, N, TASK_ACTION_PULL },
    { P, P, TASK_ACTION_NONE },
    { N, R, TASK_ACTION_NONE },
  };
  for (size_t i = 0; i < ARRAY_SIZE (rows); i++)
    {
      struct task *t = single ();
      t->desired_status = rows[i].desired == P ? N : rows[i].desired;
      set (&t->containers[0], rows[i].desired, rows[i].known);
      enum task_action a = engine_plan_container_action (t, 0);
      if (a != rows[i].want)
        fail_msg ("desired %s known %s: got %s want %s", task_container_status_str (rows[i].desired),
                  task_container_status_str (rows[i].known), engine_action_str (a),
                  engine_action_str (rows[i].want));
      task_free (t);
    }
}

static void
test_inflight_blocks (void **st)
{
  (void) st;
  enum task_action ops[] = { TASK_ACTION_PULL, TASK_ACTION_CREATE, TASK_ACTION_START,
                               TASK_ACTION_STOP, TASK_ACTION_INSPECT };
  for (size_t i = 0; i < ARRAY_SIZE (ops); i++)
    {
      struct task *t = single ();
      set (&t->containers[0], R, N);
      t->containers[0].inflight = ops[i];
      assert_int_equal (engine_plan_container_action (t, 0), TASK_ACTION_NONE);
      /* Heading to STOPPED: only an outstanding pull is abandoned. */
      t->containers[0].desired_status = S;
      assert_int_equal (engine_plan_container_action (t, 0),
                        ops[i] == TASK_ACTION_PULL ? TASK_ACTION_MARK_STOPPED : TASK_ACTION_NONE);
      task_free (t);
    }
}

static void
test_accept_change (void **st)
{
  (void) st;
  struct task *t = single ();
  struct task_container *c = &t->containers[0];
  for (int known = N; known <= S; known++)
    for (int rep = N; rep <= S; rep++)
      {
        c->known_status = known;
        c->restopped = false;
        enum engine_change_verdict v = engine_plan_accept_change (c, rep);
        enum engine_change_verdict want = rep > known ? ENGINE_CHANGE_APPLY
                                          : (known == S && rep == R) ? ENGINE_CHANGE_RESTOP
                                                                     : ENGINE_CHANGE_IGNORE;
        if (v != want)
          fail_msg ("known %d reported %d: verdict %d want %d", known, rep, v, want);
      }
  /* The re-stop happens once per task lifetime. */
  c->known_status = S;
  c->restopped = true;
  assert_int_equal (engine_plan_accept_change (c, R), ENGINE_CHANGE_IGNORE);
  task_free (t);
}

static void
test_update_desired (void **st)
{
  (void) st;
  struct task *t = teu_task_must ("{\"arn\":\"t\",\"desiredStatus\":\"RUNNING\",\"containers\":["
                                "{\"name\":\"e\",\"image\":\"i\",\"essential\":true},"
                                "{\"name\":\"n\",\"image\":\"i\",\"essential\":false}]}");
  assert_true (engine_plan_update_desired (t));
  assert_int_equal (t->containers[0].desired_status, R);
  assert_int_equal (t->containers[1].desired_status, R);
  assert_false (engine_plan_update_desired (t)); /* idempotent */
  /* Non-essential stopping: the task keeps running. */
  t->containers[1].known_status = S;
  assert_false (engine_plan_update_desired (t));
  assert_int_equal (t->desired_status, R);
  assert_int_equal (t->containers[0].desired_status, R);
  /* Essential stopping: the whole task is told to stop. */
  t->containers[0].known_status = S;
  assert_true (engine_plan_update_desired (t));
  assert_int_equal (t->desired_status, S);
  assert_int_equal (t->containers[0].desired_status, S);
  assert_int_equal (t->containers[1].desired_status, S);
  task_free (t);
  /* Essential desired STOPPED (an error on its create) stops the task too. */
  t = teu_task_must ("{\"arn\":\"t\",\"desiredStatus\":\"RUNNING\",\"containers\":["
            "{\"name\":\"e\",\"image\":\"i\",\"essential\":true},{\"name\":\"n\",\"image\":\"i\"}]}");
  engine_plan_update_desired (t);
  t->containers[0].desired_status = S;
  engine_plan_update_desired (t);
  assert_int_equal (t->desired_status, S);
  assert_int_equal (t->containers[1].desired_status, S);
  /* Desired never lowered. */
  t->containers[1].desired_status = S;
  t->desired_status = R;
  engine_plan_update_desired (t);
  assert_int_equal (t->containers[1].desired_status, S);
  task_free (t);
}

static void
test_task_known (void **st)
{
  (void) st;
  struct task *t = teu_task_must ("{\"arn\":\"t\",\"desiredStatus\":\"RUNNING\",\"containers\":["
                                "{\"name\":\"a\",\"image\":\"i\"},{\"name\":\"b\",\"image\":\"i\"}]}");
  assert_int_equal (engine_plan_task_known (t), N);
  t->containers[0].known_status = P;
  t->containers[1].known_status = P;
  assert_int_equal (engine_plan_task_known (t), N); /* PULLED counts as NONE */
  t->containers[0].known_status = C;
  assert_int_equal (engine_plan_task_known (t), N);
  t->containers[1].known_status = C;
  assert_int_equal (engine_plan_task_known (t), C);
  t->containers[0].known_status = R;
  assert_int_equal (engine_plan_task_known (t), C);
  t->containers[1].known_status = R;
  assert_int_equal (engine_plan_task_known (t), R);
  t->containers[1].known_status = S; /* a non-essential exit: min stays RUNNING */
  assert_int_equal (engine_plan_task_known (t), R);
  t->containers[0].known_status = S;
  assert_int_equal (engine_plan_task_known (t), S);
  /* Never backwards. */
  t->known_status = R;
  t->containers[0].known_status = C;
  t->containers[1].known_status = C;
  assert_int_equal (engine_plan_task_known (t), R);
  task_free (t);
  assert_int_equal (engine_plan_task_status_of (P), N);
  assert_int_equal (engine_plan_task_status_of (R), R);
  /* No containers: straight to the desired status. */
  t = teu_task_must ("{\"arn\":\"t\",\"desiredStatus\":\"RUNNING\"}");
  assert_int_equal (engine_plan_task_known (t), R);
  task_free (t);
}

/* web links to db, reads volumes from data. */
static struct task *
linked (void)
{
  struct task *t = teu_task_must ("{\"arn\":\"t\",\"desiredStatus\":\"RUNNING\",\"containers\":["
                                "{\"name\":\"web\",\"image\":\"i\",\"essential\":true,\"links\":[\"db:database\"],"
                                "\"volumesFrom\":[{\"sourceContainer\":\"data\"}]},"
                                "{\"name\":\"db\",\"image\":\"i\",\"essential\":true},"
                                "{\"name\":\"data\",\"image\":\"i\"}]}");
  engine_plan_update_desired (t);
  return t;
}

/* A runtime that links by address (Podman, t->links_by_address): web's
   create waits for db (linked) to RUNNING, not only created; data
   (volumesFrom only) need not run.  Table over db's and data's known
   status, web PULLED. */
static void
test_links_by_address (void **st)
{
  (void) st;
  static const struct
  {
    bool by_address;
    enum task_status db, data;
    enum task_action want;
  } rows[] = {
    { false, C, C, TASK_ACTION_CREATE }, /* Docker: created targets suffice */
    { true, C, C, TASK_ACTION_NONE },    /* Podman: db has no address yet */
    { true, R, C, TASK_ACTION_CREATE },  /* data need not run */
    { true, R, N, TASK_ACTION_NONE },    /* volumesFrom still needs data created */
    { true, N, R, TASK_ACTION_NONE },
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
    {
      struct task *t = linked ();
      t->links_by_address = rows[i].by_address;
      t->containers[0].known_status = P;
      set (&t->containers[1], R, rows[i].db);
      set (&t->containers[2], R, rows[i].data);
      if (engine_plan_container_action (t, 0) != rows[i].want)
        fail_msg ("row %zu: got %s", i, engine_action_str (engine_plan_container_action (t, 0)));
      task_free (t);
    }
}

static void
test_dependency_ordering (void **st)
{
  (void) st;
  struct task *t = linked ();
  struct task_container *web = &t->containers[0], *db = &t->containers[1], *data = &t->containers[2];
  enum task_action a[3];
  /* web's pull waits like its create (upstream's default) ... */
  assert_int_equal (engine_plan_actions (t, a), 2);
  assert_int_equal (a[0], TASK_ACTION_NONE);
  assert_int_equal (a[1], TASK_ACTION_PULL);
  assert_int_equal (a[2], TASK_ACTION_PULL);
  /* ... unless ECS_PULL_DEPENDENT_CONTAINERS_UPFRONT: all three in parallel */
  t->pull_upfront = true;
  assert_int_equal (engine_plan_actions (t, a), 3);
  assert_int_equal (a[0], TASK_ACTION_PULL);
  t->pull_upfront = false;
  set (db, R, C);
  set (data, R, C);
  assert_int_equal (engine_plan_container_action (t, 0), TASK_ACTION_PULL); /* both exist now */
  db->known_status = data->known_status = N;
  free (db->docker_id);
  free (data->docker_id);
  db->docker_id = data->docker_id = NULL;
  web->known_status = db->known_status = data->known_status = P;
  /* web is created only after db and data exist. */
  engine_plan_actions (t, a);
  assert_int_equal (a[0], TASK_ACTION_NONE);
  assert_int_equal (a[1], TASK_ACTION_CREATE);
  assert_int_equal (a[2], TASK_ACTION_CREATE);
  set (db, R, C);
  engine_plan_actions (t, a);
  assert_int_equal (a[0], TASK_ACTION_NONE); /* data not created yet */
  set (data, R, C);
  engine_plan_actions (t, a);
  assert_int_equal (a[0], TASK_ACTION_CREATE);
  /* Created without a Docker id is not enough. */
  free (data->docker_id);
  data->docker_id = NULL;
  assert_int_equal (engine_plan_container_action (t, 0), TASK_ACTION_NONE);
  data->docker_id = xstrdup ("id");
  set (web, R, C);
  /* web starts only after db (linked) is RUNNING; data (volumesFrom) need not run. */
  engine_plan_actions (t, a);
  assert_int_equal (a[0], TASK_ACTION_NONE);
  assert_int_equal (a[1], TASK_ACTION_START);
  assert_int_equal (a[2], TASK_ACTION_START);
  db->known_status = R;
  assert_int_equal (engine_plan_container_action (t, 0), TASK_ACTION_START);
  /* A volumesFrom source that already exited still satisfies create. */
  struct task *t2 = linked ();
  set (&t2->containers[1], R, C);
  set (&t2->containers[2], R, S);
  t2->containers[0].known_status = P;
  assert_int_equal (engine_plan_container_action (t2, 0), TASK_ACTION_CREATE);
  task_free (t2);
  task_free (t);
}

static void
test_reverse_stop_order (void **st)
{
  (void) st;
  struct task *t = linked ();
  struct task_container *web = &t->containers[0], *db = &t->containers[1], *data = &t->containers[2];
  set (web, R, R);
  set (db, R, R);
  set (data, R, R);
  t->desired_status = S;
  engine_plan_update_desired (t);
  enum task_action a[3];
  engine_plan_actions (t, a);
  assert_int_equal (a[0], TASK_ACTION_STOP); /* dependents first */
  assert_int_equal (a[1], TASK_ACTION_NONE);
  assert_int_equal (a[2], TASK_ACTION_NONE);
  web->inflight = TASK_ACTION_STOP;
  engine_plan_actions (t, a);
  assert_int_equal (a[0], TASK_ACTION_NONE);
  assert_int_equal (a[1], TASK_ACTION_NONE);
  web->inflight = TASK_ACTION_NONE;
  web->known_status = S;
  engine_plan_actions (t, a);
  assert_int_equal (a[1], TASK_ACTION_STOP);
  assert_int_equal (a[2], TASK_ACTION_STOP);
  task_free (t);
}

static void
test_check_dependencies (void **st)
{
  (void) st;
  char *reason = NULL;
  struct task *t = linked ();
  assert_int_equal (engine_plan_check_dependencies (t, &reason), 0);
  assert_null (reason);
  task_free (t);

  /* Upstream's circular_dependency fixture: web links web-db, web-db mounts from web. */
  json_t *j = teu_load_protocol_json ("samples/circular_dependency.json__task-circular-dependency.json");
  assert_non_null (j); /* fixture from $SHARED_DIR/protocol: missing fails */
    {
      agent_error_t err = NULL;
      assert_int_equal (state_task_from_json (j, &t, &err), 0);
      json_decref (j);
      assert_int_equal (engine_plan_check_dependencies (t, &reason), -1);
      assert_non_null (strstr (reason, "TaskDependencyError: circular dependency"));
      assert_non_null (strstr (reason, "web -> web-db -> web"));
      free (reason);
      task_free (t);
    }
  static const struct
  {
    const char *json, *needle;
  } bad[] = {
    { "{\"arn\":\"t\",\"containers\":[{\"name\":\"a\",\"image\":\"i\",\"links\":[\"a\"]}]}", "circular dependency: a -> a" },
    { "{\"arn\":\"t\",\"containers\":[{\"name\":\"a\",\"image\":\"i\",\"links\":[\"db\"]}]}", "container a links to missing container db" },
    { "{\"arn\":\"t\",\"containers\":[{\"name\":\"a\",\"image\":\"i\",\"volumesFrom\":[{\"sourceContainer\":\"x\"}]}]}", "mounts volumes from missing container x" },
    { "{\"arn\":\"t\",\"containers\":[{\"name\":\"a\",\"image\":\"i\",\"links\":[\"b\"]},{\"name\":\"b\",\"image\":\"i\",\"links\":[\"c\"]},"
      "{\"name\":\"c\",\"image\":\"i\",\"volumesFrom\":[{\"sourceContainer\":\"a\"}]}]}", "a -> b -> c -> a" },
  };
  for (size_t i = 0; i < ARRAY_SIZE (bad); i++)
    {
      t = teu_task_must (bad[i].json);
      assert_int_equal (engine_plan_check_dependencies (t, &reason), -1);
      if (!strstr (reason, bad[i].needle))
        fail_msg ("case %zu: \"%s\" lacks \"%s\"", i, reason, bad[i].needle);
      free (reason);
      task_free (t);
    }
  /* A diamond is not a cycle. */
  t = teu_task_must ("{\"arn\":\"t\",\"containers\":[{\"name\":\"a\",\"image\":\"i\",\"links\":[\"b\",\"c\"]},"
            "{\"name\":\"b\",\"image\":\"i\",\"links\":[\"d\"]},{\"name\":\"c\",\"image\":\"i\",\"links\":[\"d\"]},"
            "{\"name\":\"d\",\"image\":\"i\"}]}");
  assert_int_equal (engine_plan_check_dependencies (t, &reason), 0);
  task_free (t);
}

/* A task of n containers c0..c(n-1) where ci depends on c(i+1) by links
   (how 0), volumesFrom (1) or both alternately (2); close: the last one
   points back at c0 (a cycle through all of them); missing: the last one
   points at "ghost". */
static struct task *
chain_task (size_t n, int how, bool close, bool missing)
{
  struct task *t = xcalloc (1, sizeof *t);
  t->arn = xstrdup ("chain");
  t->family = xstrdup ("f");
  t->version = xstrdup ("1");
  t->containers = xcalloc (n, sizeof *t->containers);
  t->n_containers = n;
  for (size_t i = 0; i < n; i++)
    {
      struct task_container *c = &t->containers[i];
      c->name = xasprintf ("c%zu", i);
      c->image = xstrdup ("i");
      char *to = NULL;
      if (i + 1 < n)
        to = xasprintf ("c%zu", i + 1);
      else if (close)
        to = xstrdup ("c0");
      else if (missing)
        to = xstrdup ("ghost");
      if (!to)
        continue;
      if (how == 0 || (how == 2 && i % 2 == 0))
        {
          c->links = xcalloc (2, sizeof *c->links);
          c->links[0] = xasprintf ("%s:alias%zu", to, i);
          free (to);
        }
      else
        {
          c->volumes_from = xcalloc (1, sizeof *c->volumes_from);
          c->volumes_from[0].source_container = to;
          c->n_volumes_from = 1;
        }
    }
  return t;
}

/* No recursion whose depth a task decides: a 5,000-long chain (the
   recursive check overflowed the stack from about 20,000 under ASan) is
   walked, its cycle printed in full, its missing target named. */
static void
test_check_dependencies_long_chain (void **st)
{
  (void) st;
  const size_t n = 5000;
  char *reason = NULL;
  for (int how = 0; how < 3; how++)
    {
      struct task *t = chain_task (n, how, false, false);
      assert_int_equal (engine_plan_check_dependencies (t, &reason), 0);
      assert_null (reason);
      task_free (t);

      t = chain_task (n, how, true, false);
      assert_int_equal (engine_plan_check_dependencies (t, &reason), -1);
      assert_non_null (strstr (reason, "TaskDependencyError: circular dependency: c0 -> c1 -> c2 -> "));
      char *tail = xasprintf (" -> c%zu -> c0", n - 1);
      assert_non_null (strstr (reason, tail));
      free (tail);
      free (reason);
      task_free (t);

      t = chain_task (n, how, false, true);
      assert_int_equal (engine_plan_check_dependencies (t, &reason), -1);
      char *want = xasprintf ("TaskDependencyError: container c%zu %s missing container ghost", n - 1,
                              how == 0 ? "links to" : "mounts volumes from");
      assert_string_equal (reason, want);
      free (want);
      free (reason);
      task_free (t);
    }
  /* Names are looked up exactly: a link to a longer name that shares a
     prefix is not confused with another; a name over 255 characters is
     refused as too long (test_check_task), not read as missing. */
  struct task *t = chain_task (2, 0, false, false);
  free (t->containers[0].links[0]);
  t->containers[0].links[0] = xstrdup ("c1x");
  assert_int_equal (engine_plan_check_dependencies (t, &reason), -1);
  assert_string_equal (reason, "TaskDependencyError: container c0 links to missing container c1x");
  free (reason);
  char *long_name = xmalloc (301);
  memset (long_name, 'n', 300);
  long_name[300] = '\0';
  free (t->containers[1].name);
  t->containers[1].name = long_name;
  free (t->containers[0].links[0]);
  t->containers[0].links[0] = xasprintf ("%s:a", long_name);
  assert_int_equal (engine_plan_check_dependencies (t, &reason), -1);
  assert_string_equal (reason, "TaskDependencyError: container c0 links to a container name longer than 255 characters");
  free (reason);
  task_free (t);
}

/* A task that cannot run at all: no containers; a link (or volumesFrom)
   naming a container longer than 255 characters is refused as too long,
   not read as a missing container (and a 255-character name is fine). */
static void
test_check_task (void **st)
{
  (void) st;
  char *reason = NULL;
  struct task *t = teu_task_must ("{\"arn\":\"t\",\"desiredStatus\":\"RUNNING\",\"containers\":[]}");
  assert_int_equal (engine_plan_check_task (t, &reason), -1);
  assert_string_equal (reason, ENGINE_REASON_NO_CONTAINERS);
  free (reason);
  task_free (t);
  char n255[256], n300[301];
  memset (n255, 'x', 255);
  n255[255] = '\0';
  memset (n300, 'y', 300);
  n300[300] = '\0';
  cleanup_free char *ok = xasprintf ("{\"arn\":\"t\",\"containers\":[{\"name\":\"a\",\"image\":\"i\",\"links\":[\"%s:al\"]},"
                                     "{\"name\":\"%s\",\"image\":\"i\"}]}", n255, n255);
  t = teu_task_must (ok);
  assert_int_equal (engine_plan_check_task (t, &reason), 0);
  assert_null (reason);
  task_free (t);
  const char *fmts[] = {
    "{\"arn\":\"t\",\"containers\":[{\"name\":\"a\",\"image\":\"i\",\"links\":[\"%s\"]},{\"name\":\"%s\",\"image\":\"i\"}]}",
    "{\"arn\":\"t\",\"containers\":[{\"name\":\"a\",\"image\":\"i\",\"links\":[\"%s:alias\"]},{\"name\":\"%s\",\"image\":\"i\"}]}",
    "{\"arn\":\"t\",\"containers\":[{\"name\":\"a\",\"image\":\"i\",\"volumesFrom\":[{\"sourceContainer\":\"%s\"}]},{\"name\":\"%s\",\"image\":\"i\"}]}",
  };
  for (size_t i = 0; i < ARRAY_SIZE (fmts); i++)
    {
      cleanup_free char *json = xasprintf (fmts[i], n300, n300);
      t = teu_task_must (json);
      assert_int_equal (engine_plan_check_task (t, &reason), -1);
      if (!strstr (reason, "a container name longer than 255 characters") || strstr (reason, "missing"))
        fail_msg ("case %zu: %s", i, reason);
      free (reason);
      task_free (t);
    }
}

static void
test_stuck (void **st)
{
  (void) st;
  /* Link target exited before the dependent could start: stop the task. */
  struct task *t = linked ();
  set (&t->containers[1], R, S); /* db: essential... make it non-essential for this case */
  t->containers[1].essential = false;
  set (&t->containers[2], R, C);
  set (&t->containers[0], R, C);
  t->containers[2].inflight = TASK_ACTION_START;
  assert_int_equal (engine_plan_stuck (t), ENGINE_PLAN_NOT_STUCK); /* something in flight */
  t->containers[2].inflight = TASK_ACTION_NONE;
  t->containers[2].known_status = R;
  assert_int_equal (engine_plan_stuck (t), ENGINE_PLAN_STUCK_STOP_TASK);
  t->hold = true; /* waiting on sequence numbers is not stuck */
  assert_int_equal (engine_plan_stuck (t), ENGINE_PLAN_NOT_STUCK);
  t->hold = false;
  /* Stopping but nothing can move (a stop-order cycle built by hand). */
  task_free (t);
  t = teu_task_must ("{\"arn\":\"t\",\"desiredStatus\":\"STOPPED\",\"containers\":[{\"name\":\"a\",\"image\":\"i\",\"links\":[\"b\"]},"
            "{\"name\":\"b\",\"image\":\"i\",\"links\":[\"a\"]}]}");
  set (&t->containers[0], S, R);
  set (&t->containers[1], S, R);
  assert_int_equal (engine_plan_stuck (t), ENGINE_PLAN_STUCK_FORCE_STOP);
  t->known_status = S;
  assert_int_equal (engine_plan_stuck (t), ENGINE_PLAN_NOT_STUCK);
  task_free (t);
  /* Steady running task: done, not stuck. */
  t = single ();
  set (&t->containers[0], R, R);
  t->known_status = R;
  assert_true (engine_plan_task_done (t));
  assert_int_equal (engine_plan_stuck (t), ENGINE_PLAN_NOT_STUCK);
  task_free (t);
}

static void
test_hold (void **st)
{
  (void) st;
  struct task *t = single ();
  set (&t->containers[0], R, N);
  t->hold = true;
  assert_int_equal (engine_plan_container_action (t, 0), TASK_ACTION_NONE);
  t->containers[0].desired_status = S;
  assert_int_equal (engine_plan_container_action (t, 0), TASK_ACTION_MARK_STOPPED);
  t->hold = false;
  t->removing = true; /* a task being removed does nothing */
  assert_int_equal (engine_plan_container_action (t, 0), TASK_ACTION_NONE);
  task_free (t);
}

/* Drive a task to completion through the planner alone: every action
   "succeeds" at once.  Checks monotonicity at each step. */
static void
test_simulated_run (void **st)
{
  (void) st;
  struct task *t = linked ();
  enum task_status prev[3] = { N, N, N };
  for (int round = 0; round < 20 && t->known_status != S; round++)
    {
      engine_plan_update_desired (t);
      enum task_action a[3];
      engine_plan_actions (t, a);
      for (size_t i = 0; i < 3; i++)
        {
          struct task_container *c = &t->containers[i];
          switch (a[i])
            {
            case TASK_ACTION_PULL: c->known_status = P; break;
            case TASK_ACTION_CREATE: c->known_status = C; c->docker_id = xstrdup ("id"); break;
            case TASK_ACTION_START: c->known_status = R; break;
            case TASK_ACTION_STOP:
            case TASK_ACTION_MARK_STOPPED: c->known_status = S; break;
            default: break;
            }
          assert_true (c->known_status >= prev[i]);
          prev[i] = c->known_status;
        }
      t->known_status = engine_plan_task_known (t);
      if (t->known_status == R && t->desired_status == R)
        t->desired_status = S; /* then stop it */
    }
  assert_int_equal (t->known_status, S);
  task_free (t);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_single_container_table),
    cmocka_unit_test (test_links_by_address),
    cmocka_unit_test (test_inflight_blocks),
    cmocka_unit_test (test_accept_change),
    cmocka_unit_test (test_update_desired),
    cmocka_unit_test (test_task_known),
    cmocka_unit_test (test_dependency_ordering),
    cmocka_unit_test (test_reverse_stop_order),
    cmocka_unit_test (test_check_dependencies),
    cmocka_unit_test (test_check_task),
    cmocka_unit_test (test_check_dependencies_long_chain),
    cmocka_unit_test (test_stuck),
    cmocka_unit_test (test_hold),
    cmocka_unit_test (test_simulated_run),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
