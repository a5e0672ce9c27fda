/* Unit tests of the engine as a whole against a fake Docker
 * (test_engine_fixture.h): a task's life - ordering, state changes,
 * save-before-create, errors as reasons, dependencies, essential semantics,
 * links and volumes, reconciliation and adoption after a crash,
 * sequence-number holds, the start's API version, bounded inspects.
 * Pulls: test_engine_exec_pull.c; retries and restarts:
 * test_engine_exec_recover.c; secrets: test_engine_exec_secrets.c. */
#include "test_engine_fixture.h"

static void
test_run_to_completion (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  x->fake.state_path = state_path (x->state);
  add (x, SLEEP5);
  assert_true (spin_task (x, "arn:t1", TASK_STATUS_RUNNING));
  const struct task *t = task_of (x, "arn:t1");
  const struct task_container *c = &t->containers[0];
  assert_int_equal (c->known_status, TASK_STATUS_RUNNING);
  assert_non_null (c->docker_id);
  assert_int_equal (strncmp (c->docker_name, "ecs-sleep5-2-sleep5-", 20), 0);
  /* The create request. */
  struct fctr *k = fake_by_cname (&x->fake, "sleep5");
  assert_string_equal (k->name, c->docker_name);
  assert_string_equal (k->cmd[0], "sleep");
  assert_int_equal (k->cpu, 10);
  assert_int_equal (k->mem, 10 * 1024 * 1024);
  assert_string_equal (k->env[0], "A=1");
  assert_int_equal (k->n_labels, 6); /* five ECS labels + the extra test label */
  assert_true (k->test_label);
  /* Save-before-create: the Docker name was on disk when create ran. */
  assert_true (x->fake.checked_create);
  assert_true (x->fake.name_on_disk_at_create);
  /* Port bindings learnt from the inspect after start. */
  assert_int_equal (c->n_known_bindings, 1);
  assert_int_equal (c->known_bindings[0].container_port, 8080);
  assert_int_equal (c->known_bindings[0].host_port, 40000);
  cleanup_free char *q1 = queue_str (x);
  assert_string_equal (q1, "C:sleep5:RUNNING T:RUNNING ");
  assert_int_equal (state_change_peek (x->state, 0)->n_bindings, 1);
  assert_int_equal (state_change_peek (x->state, 0)->bindings[0].host_port, 40000);
  /* It exits: exit code recorded, task stops (essential). */
  fake_exit (&x->fake, "sleep5", 0);
  assert_true (spin_task (x, "arn:t1", TASK_STATUS_STOPPED));
  cleanup_free char *q2 = queue_str (x);
  assert_string_equal (q2, "C:sleep5:RUNNING T:RUNNING C:sleep5:STOPPED:0 T:STOPPED ");
  /* Every change becomes durable. */
  for (int i = 0; i < 1000 && !state_change_peek (x->state, 3)->durable; i++)
    uv_run (&x->loop, UV_RUN_ONCE);
  assert_true (state_change_peek (x->state, 3)->durable);
  assert_int_equal (x->fake.n_create, 1);
  assert_int_equal (x->fake.n_pull, 1);
}

/* Today's state changes: PENDING once the images are there (a digest
   known), the Docker id and digest on container changes, the pull and
   execution-stopped timestamps on task changes. */
static void
test_pending_and_fields (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  add (x, "{\"arn\":\"arn:tp\",\"family\":\"app\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\","
          "\"containers\":[{\"name\":\"app\",\"image\":\"registry.test/app:1\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:tp", TASK_STATUS_RUNNING));
  const struct task *t = task_of (x, "arn:tp");
  const struct task_container *c = &t->containers[0];
  const char *digest = "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
  assert_string_equal (c->image_digest, digest);
  cleanup_free char *q1 = queue_str (x);
  assert_string_equal (q1, "C:app:PENDING T:PENDING C:app:RUNNING T:RUNNING ");
  const struct state_change *cp = state_change_peek (x->state, 0), *tp = state_change_peek (x->state, 1),
                            *cr = state_change_peek (x->state, 2), *tr = state_change_peek (x->state, 3);
  assert_string_equal (cp->image_digest, digest);
  assert_string_equal (cp->task_status, "PENDING");
  assert_string_equal (cr->runtime_id, c->docker_id);
  assert_string_equal (cr->image_digest, digest);
  assert_true (tp->pull_started_ms > 0 && tp->pull_stopped_ms >= tp->pull_started_ms);
  assert_int_equal (tr->pull_started_ms, tp->pull_started_ms);
  assert_int_equal (tr->execution_stopped_ms, 0);
  /* container changes carry the task's time stamps as they were (a batch
     without a task change sends them, as upstream's drain does) */
  assert_int_equal (cp->pull_started_ms, tp->pull_started_ms);
  assert_int_equal (cp->pull_stopped_ms, tp->pull_stopped_ms);
  assert_int_equal (cr->pull_stopped_ms, tp->pull_stopped_ms);
  assert_int_equal (cr->execution_stopped_ms, 0);
  assert_int_equal (t->sent_status, TASK_STATUS_RUNNING);
  fake_exit (&x->fake, "app", 1);
  assert_true (spin_task (x, "arn:tp", TASK_STATUS_STOPPED));
  cleanup_free char *q2 = queue_str (x);
  assert_string_equal (q2, "C:app:PENDING T:PENDING C:app:RUNNING T:RUNNING C:app:STOPPED:1 T:STOPPED ");
  const struct state_change *ts = state_change_peek (x->state, 5);
  assert_true (ts->execution_stopped_ms >= tr->pull_stopped_ms);
  /* the essential container's stop set executionStoppedAt before its change */
  assert_int_equal (state_change_peek (x->state, 4)->execution_stopped_ms, t->execution_stopped_ms);
  assert_int_equal (ts->execution_stopped_ms, t->execution_stopped_ms);
}

static void
test_duplicate_and_stop (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  add (x, SLEEP5);
  add (x, SLEEP5); /* duplicate payload: no-op */
  assert_true (spin_task (x, "arn:t1", TASK_STATUS_RUNNING));
  add (x, SLEEP5); /* again, while running */
  run_turns (x, 50);
  assert_int_equal (x->fake.n_create, 1);
  assert_int_equal (x->fake.n_pull, 1);
  assert_int_equal (engine_task_count (x->e), 1);
  /* Desired STOPPED: docker stop, exit 137 recorded. */
  add (x, "{\"arn\":\"arn:t1\",\"desiredStatus\":\"STOPPED\"}");
  assert_true (spin_task (x, "arn:t1", TASK_STATUS_STOPPED));
  assert_int_equal (x->fake.n_stop, 1);
  const struct task *t = task_of (x, "arn:t1");
  assert_int_equal (t->containers[0].exit_code, 137);
  cleanup_free char *q = queue_str (x);
  assert_string_equal (q, "C:sleep5:RUNNING T:RUNNING C:sleep5:STOPPED:137 T:STOPPED ");
  /* A later RUNNING for a stopped task is ignored (desired only rises). */
  add (x, SLEEP5);
  run_turns (x, 50);
  assert_int_equal (task_of (x, "arn:t1")->desired_status, TASK_STATUS_STOPPED);
  assert_int_equal (x->fake.n_create, 1);
}

static void
test_pull_failures (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  x->fake.pull_fails = true;
  /* Image present locally: pull failure is not fatal. */
  add (x, "{\"arn\":\"arn:local\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"local-only\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:local", TASK_STATUS_RUNNING));
  assert_null (task_of (x, "arn:local")->containers[0].reason);
  /* Image absent: CannotPullContainerError, STOPPED, never created. */
  add (x, "{\"arn\":\"arn:absent\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"nowhere\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:absent", TASK_STATUS_STOPPED));
  const struct task_container *c = &task_of (x, "arn:absent")->containers[0];
  assert_int_equal (c->known_status, TASK_STATUS_STOPPED);
  assert_int_equal (strncmp (c->reason, "CannotPullContainerError: pull access denied for nowhere", 56), 0);
  assert_null (c->docker_id);
  assert_int_equal (x->fake.n_create, 1);
  /* The reason travels with the STOPPED change. */
  const struct state_change *last_c = NULL;
  for (size_t i = 0; i < state_change_count (x->state); i++)
    if (state_change_peek (x->state, i)->container_name
        && strcmp (state_change_peek (x->state, i)->task_arn, "arn:absent") == 0)
      last_c = state_change_peek (x->state, i);
  assert_non_null (last_c);
  assert_string_equal (last_c->status, "STOPPED");
  assert_non_null (strstr (last_c->reason, "CannotPullContainerError"));
}

static void
test_create_and_start_failures (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  x->fake.create_fails = true;
  add (x, "{\"arn\":\"arn:cf\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"busybox\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:cf", TASK_STATUS_STOPPED));
  assert_string_equal (task_of (x, "arn:cf")->containers[0].reason, "CannotCreateContainerError: create exploded");
  x->fake.create_fails = false;
  x->fake.start_fails = true;
  add (x, "{\"arn\":\"arn:sf\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"busybox\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:sf", TASK_STATUS_STOPPED));
  assert_string_equal (task_of (x, "arn:sf")->containers[0].reason,
                       "CannotStartContainerError: OCI runtime create failed");
  assert_int_equal (x->fake.n_stop, 0); /* refused: nothing to stop */
  /* the start's deadline expired but the container runs: a stop is forced */
  x->fake.start_fail_kind = ERR_TIMEOUT;
  x->fake.start_fail_msg = "Could not transition to started; timed out after waiting 3m0s";
  x->fake.start_fail_runs = true;
  add (x, "{\"arn\":\"arn:st\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"busybox\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:st", TASK_STATUS_STOPPED));
  const struct task_container *c = &task_of (x, "arn:st")->containers[0];
  assert_string_equal (c->reason, "DockerTimeoutError: Could not transition to started; timed out after waiting 3m0s");
  assert_int_equal (x->fake.n_stop, 1);
  struct fctr *k = fctr_find (&x->fake, c->docker_id);
  assert_non_null (k);
  assert_string_equal (k->state, "exited");
  /* an EOF from Docker: forced too; another refusal: not */
  x->fake.start_fail_kind = ERR_UNREACHABLE;
  x->fake.start_fail_msg = "Post \"http://docker/containers/x/start\": EOF";
  add (x, "{\"arn\":\"arn:eof\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"busybox\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:eof", TASK_STATUS_STOPPED));
  assert_int_equal (x->fake.n_stop, 2);
  x->fake.start_fail_kind = ERR_SERVER;
  x->fake.start_fail_msg = "port is already allocated";
  x->fake.start_fail_runs = false;
  add (x, "{\"arn\":\"arn:pa\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"busybox\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:pa", TASK_STATUS_STOPPED));
  assert_int_equal (x->fake.n_stop, 2);
}

static void
test_dependency_failures (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  json_t *j = teu_load_protocol_json ("samples/circular_dependency.json__task-circular-dependency.json");
  assert_non_null (j); /* fixture from $SHARED_DIR/protocol: missing fails */
  struct task *t = NULL;
  agent_error_t err = NULL;
  assert_int_equal (state_task_from_json (j, &t, &err), 0);
  json_decref (j);
  assert_int_equal (engine_task_add (x->e, t, &err), 0);
  const struct task *ct = task_of (x, "arn:aws:ecs:us-west-2:123456789012:task/12345678-90ab-cdef-1234-56780abcdef1-circular-dependency");
  assert_int_equal (ct->known_status, TASK_STATUS_STOPPED);
  assert_non_null (strstr (ct->reason, "circular dependency"));
  /* First (and only) state change: the task STOPPED, with the reason. */
  assert_int_equal (state_change_count (x->state), 1);
  assert_int_equal (state_change_peek (x->state, 0)->kind, STATE_CHANGE_TASK);
  assert_string_equal (state_change_peek (x->state, 0)->status, "STOPPED");
  assert_non_null (strstr (state_change_peek (x->state, 0)->reason, "TaskDependencyError"));
  add (x, "{\"arn\":\"arn:missing\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"web\",\"image\":\"busybox\",\"links\":[\"db\"]}]}");
  assert_int_equal (task_of (x, "arn:missing")->known_status, TASK_STATUS_STOPPED);
  assert_non_null (strstr (task_of (x, "arn:missing")->reason, "missing container db"));
  /* A task without containers is refused, never reported RUNNING. */
  add (x, "{\"arn\":\"arn:empty\",\"desiredStatus\":\"RUNNING\",\"containers\":[]}");
  assert_int_equal (task_of (x, "arn:empty")->known_status, TASK_STATUS_STOPPED);
  assert_string_equal (task_of (x, "arn:empty")->reason, ENGINE_REASON_NO_CONTAINERS);
  for (size_t i = 0; i < state_change_count (x->state); i++)
    if (strcmp (state_change_peek (x->state, i)->task_arn, "arn:empty") == 0)
      assert_string_equal (state_change_peek (x->state, i)->status, "STOPPED");
  const struct state_change *last = state_change_peek (x->state, state_change_count (x->state) - 1);
  assert_string_equal (last->task_arn, "arn:empty");
  assert_string_equal (last->status, "STOPPED");
  assert_non_null (last->reason);
  run_turns (x, 50);
  assert_int_equal (x->fake.n_pull, 0);
  assert_int_equal (x->fake.n_create, 0);
}

static void
test_links_volumes_essential_cleanup (void **st)
{
  struct fx *x = *st;
  x->cleanup_ms = 300;
  engine_up (x);
  add (x, LINKED);
  assert_true (spin_task (x, "arn:l", TASK_STATUS_RUNNING));
  const struct task *t = task_of (x, "arn:l");
  /* Order: db started before web was started; data created before web. */
  const char *log = x->fake.log;
  const char *start_db = strstr (log, "start:db"), *start_web = strstr (log, "start:web");
  assert_non_null (start_db);
  assert_non_null (start_web);
  assert_true (start_db < start_web);
  cleanup_free char *data_name = xstrdup (t->containers[2].docker_name);
  cleanup_free char *want_create_data = xasprintf ("create:%s", data_name);
  cleanup_free char *want_create_web = xasprintf ("create:%s", t->containers[0].docker_name);
  assert_true (strstr (log, want_create_data) < strstr (log, want_create_web));
  /* One Docker volume for the empty volume, created once, before use. */
  assert_int_equal (x->fake.n_vcreate, 1);
  struct fctr *web = fake_by_cname (&x->fake, "web");
  cleanup_free char *link = xasprintf ("%s:database", t->containers[1].docker_name);
  assert_string_equal (web->links[0], link);
  cleanup_free char *vf = xasprintf ("%s:ro", data_name);
  assert_string_equal (web->vfrom[0], vf);
  cleanup_free char *bind0 = xasprintf ("%s:/scratch", t->volumes[0].docker_name);
  assert_string_equal (web->binds[0], bind0);
  assert_string_equal (web->binds[1], "/tmp:/h:ro");
  /* A non-essential container exiting does not stop the task. */
  fake_exit (&x->fake, "db", 3);
  run_turns (x, 50);
  t = task_of (x, "arn:l");
  assert_int_equal (t->known_status, TASK_STATUS_RUNNING);
  assert_int_equal (t->containers[1].known_status, TASK_STATUS_STOPPED);
  assert_int_equal (t->containers[1].exit_code, 3);
  assert_int_equal (t->containers[0].known_status, TASK_STATUS_RUNNING);
  /* The essential one exiting stops the rest. */
  fake_exit (&x->fake, "web", 1);
  assert_true (spin_task (x, "arn:l", TASK_STATUS_STOPPED));
  t = task_of (x, "arn:l");
  assert_int_equal (t->containers[0].exit_code, 1);
  assert_int_equal (t->containers[2].known_status, TASK_STATUS_STOPPED);
  assert_int_equal (t->containers[2].exit_code, 137);
  cleanup_free char *q = queue_str (x);
  /* container changes always precede their task's */
  assert_non_null (strstr (q, "C:web:STOPPED:1 "));
  assert_true (strstr (q, "C:data:STOPPED:137 ") < strstr (q, "T:STOPPED"));
  /* Cleanup after the wait: containers and the volume removed, task dropped. */
  spin_until_no_tasks (x);
  assert_int_equal (engine_task_count (x->e), 0);
  assert_int_equal (x->fake.n_remove, 3);
  assert_int_equal (x->fake.n_vremove, 1);
  for (size_t i = 0; i < x->fake.n_ctrs; i++)
    assert_null (x->fake.ctrs[i].state);
}

/* Crash recovery: checkpoint says "about to create X" (name, no id) and X
   exists -> adopted, not created again; an id Docker no longer knows ->
   ContainerVanishedError; one that died meanwhile -> its real exit code. */
static void
test_reconcile_after_crash (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  add (x, "{\"arn\":\"arn:r\",\"family\":\"r\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\",\"containers\":["
          "{\"name\":\"a\",\"image\":\"busybox\",\"essential\":true},{\"name\":\"b\",\"image\":\"busybox\"},"
          "{\"name\":\"c\",\"image\":\"busybox\"}]}");
  assert_true (spin_task (x, "arn:r", TASK_STATUS_RUNNING));
  run_turns (x, 100);
  cleanup_free char *ida = xstrdup (task_of (x, "arn:r")->containers[0].docker_id);
  /* "Crash": free everything without any shutdown work; then doctor the
     world: a's id forgotten by the checkpoint, b vanished, c died (exit 9). */
  teardown_engine (x);
  x->fake.events_on = false;
  char *text = NULL;
  size_t len;
  agent_error_t err = NULL;
  cleanup_free char *path = xasprintf ("%s/%s", x->dir, STATE_FILE_NAME);
  assert_int_equal (util_read_file (path, &text, &len, &err), 0);
  json_t *root = json_loads (text, 0, NULL);
  free (text);
  json_t *ctrs = json_object_get (json_array_get (json_object_get (json_object_get (json_object_get (root, "Data"), "TaskEngine"), "Tasks"), 0), "Containers");
  json_object_set_new (json_array_get (ctrs, 0), "DockerId", json_null ());
  json_object_set_new (json_array_get (ctrs, 0), "KnownStatus", json_string ("PULLED"));
  json_object_set_new (json_array_get (ctrs, 0), "SentStatus", json_string ("NONE"));
  char *out = json_dumps (root, JSON_COMPACT);
  assert_int_equal (util_write_file_atomic (path, out, strlen (out), 0600, &err), 0);
  free (out);
  json_decref (root);
  fake_by_cname (&x->fake, "b")->state = NULL;
  struct fctr *kc = fake_by_cname (&x->fake, "c");
  kc->state = "exited";
  kc->exit_code = 9;
  size_t creates_before = (size_t) x->fake.n_create;
  size_t changes_before = 0;

  state_up (x);
  changes_before = state_change_count (x->state);
  engine_up (x);
  const struct task *t = task_of (x, "arn:r");
  assert_non_null (t);
  assert_string_equal (t->containers[0].docker_id, ida); /* adopted */
  assert_int_equal (t->containers[0].known_status, TASK_STATUS_RUNNING);
  assert_int_equal (t->containers[1].known_status, TASK_STATUS_STOPPED);
  assert_string_equal (t->containers[1].reason, "ContainerVanishedError: No container matching saved ID found");
  assert_int_equal (t->containers[2].known_status, TASK_STATUS_STOPPED);
  assert_int_equal (t->containers[2].exit_code, 9);
  run_turns (x, 100);
  assert_int_equal ((size_t) x->fake.n_create, creates_before); /* never created twice */
  /* The new changes were queued (a RUNNING re-report for the adopted one,
     STOPPED for b and c). */
  cleanup_free char *q = queue_str (x);
  assert_true (state_change_count (x->state) > changes_before);
  assert_non_null (strstr (q, "C:b:STOPPED"));
  assert_non_null (strstr (q, "C:c:STOPPED:9"));
}

/* The create of a container that already exists with our labels (created
   just before a crash, name saved) is adopted on 409. */
static void
test_conflict_adopt (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  agent_error_t err = NULL;
  struct task *t = teu_task ("{\"arn\":\"arn:cf2\",\"family\":\"f\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\","
                                    "\"containers\":[{\"name\":\"c\",\"image\":\"busybox\",\"essential\":true}]}", &err);
  char *name = engine_docker_container_name (t, &t->containers[0]);
  struct fctr *k = &x->fake.ctrs[x->fake.n_ctrs++];
  memset (k, 0, sizeof *k);
  snprintf (k->id, sizeof k->id, "%064x", 0xabc);
  k->name = name;
  k->task_arn = xstrdup ("arn:cf2");
  k->cname = xstrdup ("c");
  k->state = "created";
  assert_int_equal (engine_task_add (x->e, t, &err), 0);
  assert_true (spin_task (x, "arn:cf2", TASK_STATUS_RUNNING));
  assert_string_equal (task_of (x, "arn:cf2")->containers[0].docker_id, k->id);
  assert_null (task_of (x, "arn:cf2")->containers[0].reason);
}

/* Sequence numbers: a task started in payload N waits until tasks stopped
   in payloads <= N have stopped. */
static void
test_sequence_hold (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  agent_error_t err = NULL;
  struct task *a = teu_task ("{\"arn\":\"arn:A\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"a\",\"image\":\"busybox\",\"essential\":true}]}", &err);
  a->start_seq = 1;
  assert_int_equal (engine_task_add (x->e, a, &err), 0);
  assert_true (spin_task (x, "arn:A", TASK_STATUS_RUNNING));
  struct task *stop = teu_task ("{\"arn\":\"arn:A\",\"desiredStatus\":\"STOPPED\"}", &err);
  stop->stop_seq = 5;
  struct task *b = teu_task ("{\"arn\":\"arn:B\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"b\",\"image\":\"busybox\",\"essential\":true}]}", &err);
  b->start_seq = 5;
  x->fake.log[0] = '\0';
  assert_int_equal (engine_task_add (x->e, stop, &err), 0);
  assert_int_equal (engine_task_add (x->e, b, &err), 0);
  assert_true (task_of (x, "arn:B")->hold);
  assert_true (spin_task (x, "arn:B", TASK_STATUS_RUNNING));
  assert_int_equal (task_of (x, "arn:A")->known_status, TASK_STATUS_STOPPED);
  /* B's first Docker call (its image was pulled moments ago for A, so the
     pull is shared and B starts at create) comes after A's stop */
  const char *stop_a = strstr (x->fake.log, "stop:a"), *first_b = strstr (x->fake.log, "create:");
  assert_non_null (stop_a);
  assert_non_null (first_b);
  assert_true (stop_a < first_b);
}

/* The start asks Docker for the container's dockerConfig.version as the
   create does (upstream's startContainer: WithVersion of the payload's
   version); without one both use the negotiated version. */
static void
test_start_uses_payload_api_version (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  struct
  {
    const char *arn, *dc, *want;
  } rows[] = {
    { "arn:V1", ",\"dockerConfig\":{\"version\":\"1.25\"}", "1.25" },
    { "arn:V2", ",\"dockerConfig\":{\"version\":\"1.17\"}", "1.17" },
    { "arn:V3", "", "-" },
  };
  for (size_t i = 0; i < ARRAY_SIZE (rows); i++)
    {
      agent_error_t err = NULL;
      cleanup_free char *json = xasprintf ("{\"arn\":\"%s\",\"desiredStatus\":\"RUNNING\",\"containers\":["
                                           "{\"name\":\"v%zu\",\"image\":\"busybox\",\"essential\":true%s}]}",
                                           rows[i].arn, i, rows[i].dc);
      assert_int_equal (engine_task_add (x->e, teu_task (json, &err), &err), 0);
      assert_true (spin_task (x, rows[i].arn, TASK_STATUS_RUNNING));
      assert_string_equal (x->fake.create_api, rows[i].want);
      assert_string_equal (x->fake.start_api, rows[i].want);
    }
}

/* Steady-state inspects are bounded: after a reconnect every live
   container is inspected, never more than ENGINE_STEADY_MAX_INFLIGHT at
   once; each inspect feeds the health record of a container with a
   Docker health check (status, output, exit code while unhealthy). */
static void
test_steady_inspects_bounded (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  agent_error_t err = NULL;
  for (int i = 0; i < 6; i++)
    {
      cleanup_free char *json = xasprintf ("{\"arn\":\"arn:S%d\",\"desiredStatus\":\"RUNNING\",\"containers\":["
                                           "{\"name\":\"c%d\",\"image\":\"busybox\",\"essential\":true,\"healthCheckType\":\"docker\","
                                           "\"dockerConfig\":{\"config\":\"{\\\"Healthcheck\\\":{\\\"Test\\\":[\\\"CMD\\\",\\\"true\\\"]}}\"}},"
                                           "{\"name\":\"d%d\",\"image\":\"busybox\",\"essential\":true}]}", i, i, i);
      assert_int_equal (engine_task_add (x->e, teu_task (json, &err), &err), 0);
    }
  for (int i = 0; i < 6; i++)
    {
      cleanup_free char *arn = xasprintf ("arn:S%d", i);
      assert_true (spin_task (x, arn, TASK_STATUS_RUNNING));
    }
  struct fctr *k0 = fake_by_cname (&x->fake, "c0"), *k1 = fake_by_cname (&x->fake, "c1");
  k0->health = "healthy";
  k0->health_output = "ok";
  k1->health = "unhealthy";
  k1->health_output = "refused";
  k1->health_exit_code = 7;
  x->fake.ev_state_cb (true, NULL, x->fake.ev_data); /* first connect */
  x->fake.ev_state_cb (false, NULL, x->fake.ev_data);
  x->fake.inspect_max = x->fake.inspect_now = 0;
  int before = x->fake.n_inspect;
  x->fake.ev_state_cb (true, NULL, x->fake.ev_data); /* reconnected: all 12 due */
  run_turns (x, 200);
  assert_int_equal (x->fake.n_inspect - before, 12);
  assert_true (x->fake.inspect_max <= ENGINE_STEADY_MAX_INFLIGHT);
  assert_true (x->fake.inspect_max >= 2);
  const struct task_container *c0 = &task_of (x, "arn:S0")->containers[0];
  assert_int_equal (c0->life.health, TASK_HEALTH_HEALTHY);
  assert_string_equal (c0->life.health_output, "ok");
  assert_int_equal (c0->life.health_exit_code, 0);
  const struct task_container *c1 = &task_of (x, "arn:S1")->containers[0];
  assert_int_equal (c1->life.health, TASK_HEALTH_UNHEALTHY);
  assert_string_equal (c1->life.health_output, "refused");
  assert_int_equal (c1->life.health_exit_code, 7);
  assert_true (c1->life.health_since_ns > 0);
  /* a container without a health check keeps none */
  assert_int_equal (task_of (x, "arn:S1")->containers[1].life.health, TASK_HEALTH_UNKNOWN);
  /* each is scheduled for its next steady-state inspect, 5 min + < 30 s on */
  for (int i = 0; i < 6; i++)
    {
      cleanup_free char *arn = xasprintf ("arn:S%d", i);
      const struct task_container *c = &task_of (x, arn)->containers[1];
      uint64_t now = uv_now (&x->loop);
      assert_true (c->steady_at_ms > now + ENGINE_STEADY_INTERVAL_MS - 10000);
      assert_true (c->steady_at_ms <= now + ENGINE_STEADY_INTERVAL_MS + ENGINE_STEADY_JITTER_MS);
    }
}

int
main (void)
{
  log_set_level (getenv ("TEST_DEBUG") ? LOG_DEBUG : LOG_WARN);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_run_to_completion, setup, teardown),
    cmocka_unit_test_setup_teardown (test_duplicate_and_stop, setup, teardown),
    cmocka_unit_test_setup_teardown (test_pending_and_fields, setup, teardown),
    cmocka_unit_test_setup_teardown (test_pull_failures, setup, teardown),
    cmocka_unit_test_setup_teardown (test_create_and_start_failures, setup, teardown),
    cmocka_unit_test_setup_teardown (test_steady_inspects_bounded, setup, teardown),
    cmocka_unit_test_setup_teardown (test_dependency_failures, setup, teardown),
    cmocka_unit_test_setup_teardown (test_links_volumes_essential_cleanup, setup, teardown),
    cmocka_unit_test_setup_teardown (test_reconcile_after_crash, setup, teardown),
    cmocka_unit_test_setup_teardown (test_conflict_adopt, setup, teardown),
    cmocka_unit_test_setup_teardown (test_sequence_hold, setup, teardown),
    cmocka_unit_test_setup_teardown (test_start_uses_payload_api_version, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
