/* Unit tests of the engine against a fake Docker (test_engine_fixture.h):
 * recovery - re-stops, lookups, resync after a reconnect, an upstream v1
 * checkpoint, freeing at any point, retries (stop, cleanup, container list,
 * save) and the restart policy. */
#include "test_engine_fixture.h"

/* A STOPPED container that Docker says is running again is stopped once. */
static void
test_restop_once (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  add (x, "{\"arn\":\"arn:rs\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"m\",\"image\":\"busybox\",\"essential\":false},"
          "{\"name\":\"k\",\"image\":\"busybox\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:rs", TASK_STATUS_RUNNING));
  fake_exit (&x->fake, "m", 0);
  run_turns (x, 50);
  assert_int_equal (task_of (x, "arn:rs")->containers[0].known_status, TASK_STATUS_STOPPED);
  /* Someone runs "docker start" on it. */
  struct fctr *m = fake_by_cname (&x->fake, "m");
  m->state = "running";
  emit_event (&x->fake, m->id, DOCKER_EV_START);
  run_turns (x, 50);
  assert_int_equal (x->fake.n_stop, 1);
  assert_string_equal (m->state, "exited");
  assert_int_equal (task_of (x, "arn:rs")->containers[0].known_status, TASK_STATUS_STOPPED);
  assert_true (task_of (x, "arn:rs")->containers[0].restopped);
  m->state = "running";
  emit_event (&x->fake, m->id, DOCKER_EV_START);
  run_turns (x, 50);
  assert_int_equal (x->fake.n_stop, 1); /* only once */
}

static void
test_find_by_docker_id (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  add (x, SLEEP5);
  assert_true (spin_task (x, "arn:t1", TASK_STATUS_RUNNING));
  const struct task *t = task_of (x, "arn:t1");
  const struct task_container *c = NULL;
  assert_ptr_equal (engine_find_task_by_docker_id (x->e, t->containers[0].docker_id, &c), t);
  assert_ptr_equal (c, &t->containers[0]);
  char shortid[13];
  memcpy (shortid, t->containers[0].docker_id, 12);
  shortid[12] = '\0';
  assert_ptr_equal (engine_find_task_by_docker_id (x->e, shortid, NULL), t);
  assert_null (engine_find_task_by_docker_id (x->e, "abc", NULL));
  assert_null (engine_find_task_by_arn (x->e, "nope"));
  assert_int_equal (engine_task_count (x->e), 1);
  assert_ptr_equal (engine_task_at (x->e, 0), t);
  assert_null (engine_task_at (x->e, 1));
}

/* Tasks added before engine_start wait for the reconciliation; the engine
   refuses ARN-less tasks. */
static void
test_add_before_start (void **st)
{
  struct fx *x = *st;
  agent_error_t err = NULL;
  struct engine_options o = { .cluster = "unit", .state = x->state, .ops = &fake_ops, .ops_ctx = &x->fake };
  x->e = engine_new (&x->loop, &o, &err);
  add (x, SLEEP5);
  run_turns (x, 20);
  assert_int_equal (x->fake.n_pull, 0);
  assert_int_equal (engine_start (x->e, &err), 0);
  assert_true (spin_task (x, "arn:t1", TASK_STATUS_RUNNING));
  struct task *bad = xcalloc (1, sizeof *bad);
  assert_true (engine_task_add (x->e, bad, &err) < 0);
  assert_int_equal (error_kind (&err), ERR_INVALID);
  error_free (&err);
  assert_true (engine_task_add (x->e, NULL, &err) < 0);
  error_free (&err);
}

/* Events lost while the stream was down: on reconnect the engine inspects
   its live containers and learns that one exited (exit code), one vanished. */
static void
test_resync_after_reconnect (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  add (x, "{\"arn\":\"arn:rc\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"a\",\"image\":\"busybox\"},"
          "{\"name\":\"b\",\"image\":\"busybox\"},{\"name\":\"k\",\"image\":\"busybox\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:rc", TASK_STATUS_RUNNING));
  assert_non_null (x->fake.ev_state_cb);
  x->fake.ev_state_cb (true, NULL, x->fake.ev_data); /* first connect */
  agent_error_t err = NULL;
  error_set (&err, ERR_UNREACHABLE, "connection reset");
  x->fake.ev_state_cb (false, err, x->fake.ev_data);
  error_free (&err);
  x->fake.events_on = false; /* the events below are lost */
  struct fctr *a = fake_by_cname (&x->fake, "a");
  a->state = "exited";
  a->exit_code = 42;
  fake_by_cname (&x->fake, "b")->state = NULL;
  x->fake.events_on = true;
  x->fake.ev_state_cb (true, NULL, x->fake.ev_data); /* reconnected */
  run_turns (x, 100);
  const struct task *t = task_of (x, "arn:rc");
  assert_int_equal (t->containers[0].known_status, TASK_STATUS_STOPPED);
  assert_int_equal (t->containers[0].exit_code, 42);
  assert_int_equal (t->containers[1].known_status, TASK_STATUS_STOPPED);
  assert_string_equal (t->containers[1].reason, "ContainerVanishedError: No container matching saved ID found");
  assert_int_equal (t->containers[2].known_status, TASK_STATUS_RUNNING);
  assert_int_equal (t->known_status, TASK_STATUS_RUNNING);
}

/* The upstream 1.1.0 v1 checkpoint through the whole engine: it loads,
   nothing in it exists in Docker any more -> every container that was not
   already stopped is reported vanished, nothing is created, and the old
   stopped tasks are cleaned up (their STOPPED time is years ago). */
static void
test_upstream_v1_checkpoint_in_engine (void **st)
{
  struct fx *x = *st;
  size_t len = 0;
  char *data = teu_read_protocol ("fixtures/agent-1.1.0/statemanager/testdata/v1/1/ecs_agent_data.json", &len);
  assert_non_null (data); /* fixture from $SHARED_DIR/protocol: missing fails */
  cleanup_free char *path = xasprintf ("%s/%s", x->dir, STATE_FILE_NAME);
  agent_error_t err = NULL;
  assert_int_equal (util_write_file_atomic (path, data, len, 0600, &err), 0);
  free (data);
  state_store_free (x->state);
  state_up (x);
  x->cleanup_ms = 1000;
  engine_up (x);
  /* (the two tasks stopped in 2015 may already be gone: cleanup is due) */
  const struct task *dv = task_of (x, "arn:aws:ecs:us-west-2:1234567890:task/86601083-0fad-4985-abf1-c097d3db0a89");
  assert_non_null (dv);
  assert_int_equal (dv->known_status, TASK_STATUS_STOPPED);
  const struct task_container *c1 = task_find_container (dv, "consumer1");
  assert_string_equal (c1->reason, "ContainerVanishedError: No container matching saved ID found");
  /* consumer1/2 STOPPED changes + the task's; the internal helper never reports. */
  cleanup_free char *q = queue_str (x);
  assert_non_null (strstr (q, "C:consumer1:STOPPED"));
  assert_non_null (strstr (q, "C:consumer2:STOPPED"));
  assert_null (strstr (q, "internal"));
  assert_non_null (strstr (q, "T:STOPPED"));
  spin_until_no_tasks (x);
  assert_int_equal (engine_task_count (x->e), 0);
  assert_int_equal (x->fake.n_create, 0);
  assert_int_equal (x->fake.n_pull, 0);
  /* The rewritten checkpoint is ours (version 100) and still loads. */
  teardown_engine (x);
  state_up (x);
  assert_int_equal (state_loaded_version (x->state), STATE_VERSION);
}

/* Freeing the engine at any point (ops in flight, a save pending before a
   create) is clean: no leak, no late callback (ASan). */
static void
test_free_at_any_point (void **st)
{
  struct fx *x = *st;
  for (int k = 0; k < 24; k++)
    {
      engine_up (x);
      cleanup_free char *json = xasprintf ("{\"arn\":\"arn:f%d\",\"desiredStatus\":\"RUNNING\",\"volumes\":[{\"name\":\"v\",\"host\":{}}],"
                                           "\"containers\":[{\"name\":\"a\",\"image\":\"busybox\",\"essential\":true,"
                                           "\"mountPoints\":[{\"sourceVolume\":\"v\",\"containerPath\":\"/v\"}]},"
                                           "{\"name\":\"b\",\"image\":\"busybox\",\"links\":[\"a\"]}]}", k);
      add (x, json);
      run_turns (x, k);
      engine_free (x->e);
      x->e = NULL;
      run_turns (x, 5);
    }
}

/* A stop the daemon never received (socket refused, inspect refused too)
   leaves the container RUNNING, as it is, and is retried with back-off
   until the daemon answers; only then is STOPPED reported, with the real
   exit code. */
static void
test_stop_retried_while_unreachable (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  add (x, SLEEP5);
  assert_true (spin_task (x, "arn:t1", TASK_STATUS_RUNNING));
  x->fake.unreachable = true;
  add (x, "{\"arn\":\"arn:t1\",\"desiredStatus\":\"STOPPED\"}");
  spin_for (x, 1700); /* tries at 0, ~0.5 s and ~1.5 s */
  const struct task *t = task_of (x, "arn:t1");
  assert_int_equal (t->known_status, TASK_STATUS_RUNNING);
  assert_int_equal (t->containers[0].known_status, TASK_STATUS_RUNNING);
  assert_null (t->containers[0].reason);
  assert_true (x->fake.n_stop >= 2 && x->fake.n_stop <= 4);
  cleanup_free char *q1 = queue_str (x);
  assert_string_equal (q1, "C:sleep5:RUNNING T:RUNNING ");
  x->fake.unreachable = false;
  assert_true (spin_task (x, "arn:t1", TASK_STATUS_STOPPED));
  t = task_of (x, "arn:t1");
  assert_int_equal (t->containers[0].exit_code, 137);
  /* back-off reset after the confirmed stop */
  assert_int_equal (t->containers[0].stop_backoff.cur_ms, t->containers[0].stop_backoff.min_ms);
  assert_int_equal (t->containers[0].stop_backoff.min_ms, 500);
  cleanup_free char *q2 = queue_str (x);
  assert_string_equal (q2, "C:sleep5:RUNNING T:RUNNING C:sleep5:STOPPED:137 T:STOPPED ");
}

/* Cleanup while the daemon is unreachable: the task stays in state (and in
   the checkpoint) and removal is retried until Docker confirms it. */
static void
test_cleanup_retried_while_unreachable (void **st)
{
  struct fx *x = *st;
  x->cleanup_ms = 100;
  engine_up (x);
  add (x, LINKED);
  assert_true (spin_task (x, "arn:l", TASK_STATUS_RUNNING));
  fake_exit (&x->fake, "web", 0);
  assert_true (spin_task (x, "arn:l", TASK_STATUS_STOPPED));
  x->fake.unreachable = true;
  spin_for (x, 1500);
  assert_int_equal (engine_task_count (x->e), 1);
  assert_true (x->fake.n_remove >= 6); /* two rounds of three */
  x->fake.unreachable = false;
  spin_until_no_tasks (x);
  assert_int_equal (engine_task_count (x->e), 0);
  for (size_t i = 0; i < x->fake.n_ctrs; i++)
    assert_null (x->fake.ctrs[i].state);
  for (size_t i = 0; i < x->fake.n_volumes; i++)
    assert_null (x->fake.volumes[i]);
}

/* Docker unreachable at start-up: the container list fails twice, then
   answers.  Reconciliation is retried (on its back-off timer) and
   completes; a checkpointed container is then reconciled as usual. */
static void
test_reconcile_retried_after_list_failure (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  add (x, SLEEP5);
  assert_true (spin_task (x, "arn:t1", TASK_STATUS_RUNNING));
  teardown_engine (x);
  state_up (x);
  x->fake.list_failures = 2;
  x->fake.n_list = 0;
  engine_up (x);
  assert_int_equal (x->fake.n_list, 3);
  assert_int_equal (x->fake.list_failures, 0);
  const struct task *t = task_of (x, "arn:t1");
  assert_non_null (t);
  assert_int_equal (t->containers[0].known_status, TASK_STATUS_RUNNING);
  assert_int_equal (x->fake.n_create, 1);
  /* and it still drives tasks */
  fake_exit (&x->fake, "sleep5", 4);
  assert_true (spin_task (x, "arn:t1", TASK_STATUS_STOPPED));
  assert_int_equal (task_of (x, "arn:t1")->containers[0].exit_code, 4);
}

/* The checkpoint cannot be written (a directory sits where the file goes)
   while a create waits for the save of its name: no create, and no busy
   loop (the store retries its write after a back-off and calls the engine
   back only once it succeeds); once the disk recovers the container is
   created, its name on disk first. */
static void
test_save_failure_backs_off (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  x->fake.state_path = state_path (x->state);
  (void) unlink (state_path (x->state)); /* may not be written yet */
  assert_int_equal (mkdir (state_path (x->state), 0700), 0);
  add (x, SLEEP5);
  int turns = spin_for (x, 1500);
  assert_int_equal (x->fake.n_create, 0);
  assert_int_equal (task_of (x, "arn:t1")->containers[0].inflight, TASK_ACTION_CREATE);
  assert_true (turns < 200); /* a retry at once would take thousands */
  assert_int_equal (rmdir (state_path (x->state)), 0);
  assert_true (spin_task (x, "arn:t1", TASK_STATUS_RUNNING));
  assert_int_equal (x->fake.n_create, 1);
  assert_true (x->fake.name_on_disk_at_create);
}

/* ---- restart policy ---------------------------------------------------------- */

#define RESTARTER(arn, period) \
  "{\"arn\":\"" arn "\",\"family\":\"rp\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\"," \
  "\"containers\":[{\"name\":\"r\",\"image\":\"busybox\",\"essential\":true," \
  "\"restartPolicy\":{\"enabled\":true,\"ignoredExitCodes\":[5],\"restartAttemptPeriod\":" period "}}]}"

static int
count_in_log (struct fx *x, const char *what)
{
  int n = 0;
  for (const char *p = x->fake.log; (p = strstr (p, what)) != NULL; p += strlen (what))
    n++;
  return n;
}

/* The tracker as the checkpoint file has it: RestartCount, -1 if absent. */
static json_int_t
disk_restart_count (struct fx *x)
{
  char *text = NULL;
  size_t len;
  agent_error_t err = NULL;
  cleanup_free char *path = xasprintf ("%s/%s", x->dir, STATE_FILE_NAME);
  assert_int_equal (util_read_file (path, &text, &len, &err), 0);
  json_t *root = json_loads (text, 0, NULL);
  free (text);
  json_t *c = json_array_get (json_object_get (json_array_get (json_object_get (json_object_get (json_object_get (root, "Data"), "TaskEngine"), "Tasks"), 0), "Containers"), 0);
  json_t *n = json_object_get (json_object_get (c, "RestartTracker"), "RestartCount");
  json_int_t v = n ? json_integer_value (n) : -1;
  json_decref (root);
  return v;
}

/* Exit 1 restarts the same container in place (saved first, nothing sent
   to ECS); an ignored exit code stops the task as usual. */
static void
test_restart_in_place (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  x->fake.state_path = state_path (x->state);
  add (x, RESTARTER ("arn:rp", "0"));
  assert_true (spin_task (x, "arn:rp", TASK_STATUS_RUNNING));
  run_turns (x, 50);
  const struct task *t = task_of (x, "arn:rp");
  cleanup_free char *id = xstrdup (t->containers[0].docker_id);
  assert_int_equal (count_in_log (x, "start:r "), 1);
  fake_exit (&x->fake, "r", 1);
  for (int i = 0; i < 5000 && count_in_log (x, "start:r ") < 2; i++)
    uv_run (&x->loop, UV_RUN_ONCE);
  run_turns (x, 100);
  t = task_of (x, "arn:rp");
  assert_int_equal (count_in_log (x, "start:r "), 2);
  assert_int_equal (x->fake.n_create, 1);
  assert_string_equal (t->containers[0].docker_id, id);
  assert_string_equal (fake_by_cname (&x->fake, "r")->state, "running");
  assert_int_equal (t->containers[0].known_status, TASK_STATUS_RUNNING);
  assert_int_equal (t->known_status, TASK_STATUS_RUNNING);
  assert_int_equal (t->containers[0].restart.count, 1);
  assert_true (t->containers[0].restart.last_restart_at_ns > 0);
  assert_int_equal (disk_restart_count (x), 1);
  /* Persist before acting: the count was on disk when Docker was asked. */
  assert_string_equal (x->fake.restart_on_disk_at_start, "\"RestartCount\":1");
  cleanup_free char *q1 = queue_str (x);
  assert_string_equal (q1, "C:r:RUNNING T:RUNNING ");
  /* Again (period 0): a second restart. */
  fake_exit (&x->fake, "r", 3);
  for (int i = 0; i < 200 && count_in_log (x, "start:r ") < 3; i++)
    uv_run (&x->loop, UV_RUN_ONCE);
  run_turns (x, 100);
  assert_int_equal (task_of (x, "arn:rp")->containers[0].restart.count, 2);
  /* An ignored code: a normal stop, the task stops (essential). */
  fake_exit (&x->fake, "r", 5);
  assert_true (spin_task (x, "arn:rp", TASK_STATUS_STOPPED));
  cleanup_free char *q2 = queue_str (x);
  assert_string_equal (q2, "C:r:RUNNING T:RUNNING C:r:STOPPED:5 T:STOPPED ");
  assert_int_equal (count_in_log (x, "start:r "), 3);
  assert_int_equal (task_of (x, "arn:rp")->containers[0].restart.count, 2);
}

/* Within the attempt period (counted from the first start) no restart; a
   restart whose start fails is a normal stop. */
static void
test_restart_period_and_failure (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  add (x, RESTARTER ("arn:rp1", "3600"));
  add (x, RESTARTER ("arn:rp2", "0"));
  assert_true (spin_task (x, "arn:rp1", TASK_STATUS_RUNNING));
  assert_true (spin_task (x, "arn:rp2", TASK_STATUS_RUNNING));
  run_turns (x, 50);
  struct fctr *k1 = NULL;
  for (size_t i = 0; i < x->fake.n_ctrs; i++)
    if (strcmp (x->fake.ctrs[i].task_arn, "arn:rp1") == 0)
      k1 = &x->fake.ctrs[i];
  assert_non_null (k1);
  k1->state = "exited";
  k1->exit_code = 1;
  emit_event (&x->fake, k1->id, DOCKER_EV_DIE);
  assert_true (spin_task (x, "arn:rp1", TASK_STATUS_STOPPED));
  assert_int_equal (task_of (x, "arn:rp1")->containers[0].restart.count, 0);
  assert_int_equal (task_of (x, "arn:rp1")->containers[0].exit_code, 1);
  /* rp2: the restart's start fails. */
  x->fake.start_fails = true;
  struct fctr *k2 = NULL;
  for (size_t i = 0; i < x->fake.n_ctrs; i++)
    if (strcmp (x->fake.ctrs[i].task_arn, "arn:rp2") == 0)
      k2 = &x->fake.ctrs[i];
  k2->state = "exited";
  k2->exit_code = 2;
  emit_event (&x->fake, k2->id, DOCKER_EV_DIE);
  assert_true (spin_task (x, "arn:rp2", TASK_STATUS_STOPPED));
  const struct task *t = task_of (x, "arn:rp2");
  assert_int_equal (t->containers[0].restart.count, 1); /* the attempt counts */
  assert_int_equal (t->containers[0].known_status, TASK_STATUS_STOPPED);
  assert_int_equal (t->containers[0].exit_code, 2);
}

/* A crash after the tracker was saved but before Docker started the
   container: the restart is made once at reconciliation, not counted
   twice; a container that ran since then and died is judged anew. */
static void
test_restart_redo_after_crash (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  add (x, RESTARTER ("arn:rc", "3600"));
  assert_true (spin_task (x, "arn:rc", TASK_STATUS_RUNNING));
  run_turns (x, 100);
  teardown_engine (x);
  x->fake.events_on = false;
  /* The checkpoint says restart 1 was decided (after this run began). */
  char *text = NULL;
  size_t len;
  agent_error_t err = NULL;
  cleanup_free char *path = xasprintf ("%s/%s", x->dir, STATE_FILE_NAME);
  assert_int_equal (util_read_file (path, &text, &len, &err), 0);
  json_t *root = json_loads (text, 0, NULL);
  free (text);
  json_t *c = json_array_get (json_object_get (json_array_get (json_object_get (json_object_get (json_object_get (root, "Data"), "TaskEngine"), "Tasks"), 0), "Containers"), 0);
  struct fctr *k = fake_by_cname (&x->fake, "r");
  json_object_set_new (c, "RestartTracker", json_pack ("{s:i,s:I}", "RestartCount", 1, "LastRestartAtNs",
                                                       (json_int_t) k->started_ns + 1));
  char *out = json_dumps (root, JSON_COMPACT);
  assert_int_equal (util_write_file_atomic (path, out, strlen (out), 0600, &err), 0);
  free (out);
  json_decref (root);
  k->state = "exited";
  k->exit_code = 1;
  int starts = count_in_log (x, "start:r ");
  state_up (x);
  engine_up (x);
  for (int i = 0; i < 200 && count_in_log (x, "start:r ") < starts + 1; i++)
    uv_run (&x->loop, UV_RUN_ONCE);
  run_turns (x, 100);
  const struct task *t = task_of (x, "arn:rc");
  assert_int_equal (count_in_log (x, "start:r "), starts + 1);
  assert_int_equal (t->containers[0].restart.count, 1);
  assert_int_equal (t->containers[0].known_status, TASK_STATUS_RUNNING);
  assert_string_equal (k->state, "running");
}

static int64_t
wall_now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* After an agent restart the event stream replays the last second: the die
   of the run a restart in place replaced, delivered once reconciliation is
   done, is not the present run's exit (e2e test_agent_killed_no_double_restart
   once found the container stopped after the second agent start). */
static void
test_restart_stale_die_replayed (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  add (x, RESTARTER ("arn:sd", "0"));
  assert_true (spin_task (x, "arn:sd", TASK_STATUS_RUNNING));
  run_turns (x, 50);
  struct fctr *k = fake_by_cname (&x->fake, "r");
  int64_t died = wall_now_ns ();
  fake_exit (&x->fake, "r", 1);
  for (int i = 0; i < 200 && count_in_log (x, "start:r ") < 2; i++)
    uv_run (&x->loop, UV_RUN_ONCE);
  run_turns (x, 100);
  assert_int_equal (task_of (x, "arn:sd")->containers[0].restart.count, 1);
  teardown_engine (x);
  x->fake.events_on = false;
  state_up (x);
  engine_up (x);
  run_turns (x, 100); /* reconciliation done */
  emit_event_replayed (&x->fake, k->id, DOCKER_EV_DIE, 1, died, false);
  run_turns (x, 200);
  const struct task *t = task_of (x, "arn:sd");
  assert_int_equal (count_in_log (x, "start:r "), 2);
  assert_int_equal (count_in_log (x, "stop:r "), 0);
  assert_int_equal (t->containers[0].restart.count, 1);
  assert_int_equal (t->containers[0].known_status, TASK_STATUS_RUNNING);
  assert_int_equal (t->desired_status, TASK_STATUS_RUNNING);
  assert_string_equal (k->state, "running");
  /* A die of the present run is its exit, as ever. */
  fake_exit (&x->fake, "r", 1);
  for (int i = 0; i < 200 && count_in_log (x, "start:r ") < 3; i++)
    uv_run (&x->loop, UV_RUN_ONCE);
  run_turns (x, 100);
  assert_int_equal (task_of (x, "arn:sd")->containers[0].restart.count, 2);
}

/* The container exited while the agent was down and the stream replays its
   die before the container list is in: the die waits for the reconcile
   inspect (no inspect of its own beside it), and the container is started
   once, counted once. */
static void
test_restart_die_replayed_while_reconciling (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  add (x, RESTARTER ("arn:dr", "0"));
  assert_true (spin_task (x, "arn:dr", TASK_STATUS_RUNNING));
  run_turns (x, 100);
  teardown_engine (x);
  x->fake.events_on = false;
  struct fctr *k = fake_by_cname (&x->fake, "r");
  k->state = "exited";
  k->exit_code = 1;
  int starts = count_in_log (x, "start:r ");
  int inspects = x->fake.n_inspect;
  state_up (x);
  engine_up_start (x); /* the container list is queued */
  emit_event_replayed (&x->fake, k->id, DOCKER_EV_DIE, 1, wall_now_ns (), true);
  for (int i = 0; i < 200 && count_in_log (x, "start:r ") < starts + 1; i++)
    uv_run (&x->loop, UV_RUN_ONCE);
  run_turns (x, 200);
  const struct task *t = task_of (x, "arn:dr");
  assert_int_equal (count_in_log (x, "start:r "), starts + 1);
  assert_int_equal (t->containers[0].restart.count, 1);
  assert_int_equal (t->containers[0].known_status, TASK_STATUS_RUNNING);
  assert_int_equal (t->desired_status, TASK_STATUS_RUNNING);
  assert_string_equal (k->state, "running");
  /* the reconcile inspect, then the remembered die's once the restart is done */
  assert_int_equal (x->fake.n_inspect - inspects, 2);
}

int
main (void)
{
  log_set_level (getenv ("TEST_DEBUG") ? LOG_DEBUG : LOG_WARN);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_restop_once, setup, teardown),
    cmocka_unit_test_setup_teardown (test_find_by_docker_id, setup, teardown),
    cmocka_unit_test_setup_teardown (test_add_before_start, setup, teardown),
    cmocka_unit_test_setup_teardown (test_resync_after_reconnect, setup, teardown),
    cmocka_unit_test_setup_teardown (test_upstream_v1_checkpoint_in_engine, setup, teardown),
    cmocka_unit_test_setup_teardown (test_free_at_any_point, setup, teardown),
    cmocka_unit_test_setup_teardown (test_stop_retried_while_unreachable, setup, teardown),
    cmocka_unit_test_setup_teardown (test_cleanup_retried_while_unreachable, setup, teardown),
    cmocka_unit_test_setup_teardown (test_reconcile_retried_after_list_failure, setup, teardown),
    cmocka_unit_test_setup_teardown (test_save_failure_backs_off, setup, teardown),
    cmocka_unit_test_setup_teardown (test_restart_in_place, setup, teardown),
    cmocka_unit_test_setup_teardown (test_restart_period_and_failure, setup, teardown),
    cmocka_unit_test_setup_teardown (test_restart_redo_after_crash, setup, teardown),
    cmocka_unit_test_setup_teardown (test_restart_stale_die_replayed, setup, teardown),
    cmocka_unit_test_setup_teardown (test_restart_die_replayed_while_reconciling, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
