/* Unit tests for engine/decide.c, without I/O: the one reading of an
 * inspect, the outcome of every kind of Docker answer (table), the event
 * verdicts (die shortcut, busy containers, OOM), pull reuse, retry delays,
 * cleanup deadlines, transition errors (forced stops, DockerTimeoutError),
 * steady-state inspect schedule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include "engine/decide.h"
#include "engine/plan.h"
#include "test_engine_util.h"

#define N TASK_STATUS_NONE
#define P TASK_STATUS_PULLED
#define C TASK_STATUS_CREATED
#define R TASK_STATUS_RUNNING
#define S TASK_STATUS_STOPPED

static struct task *
single (bool ports)
{
  agent_error_t err = NULL;
  struct task *t = teu_task (ports ? "{\"arn\":\"t\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"a\",\"image\":\"i\","
                                            "\"essential\":true,\"portMappings\":[{\"containerPort\":80}]}]}"
                                          : "{\"arn\":\"t\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"a\",\"image\":\"i\",\"essential\":true}]}",
                                    &err);
  assert_non_null (t);
  t->containers[0].desired_status = R;
  return t;
}

static void
test_inspect_read (void **st)
{
  (void) st;
  struct task_port_binding ports[1] = { { .container_port = 80, .host_port = 32768, .bind_ip = (char *) "0.0.0.0", .protocol = TASK_PROTO_TCP } };
  struct docker_container_info info = { .running = true, .status = "running", .started_at_ns = 5, .ports = ports, .n_ports = 1 };
  struct engine_inspect in;
  engine_inspect_read (&info, &in);
  assert_int_equal (in.status, R);
  assert_true (in.started);
  assert_false (in.has_exit_code);
  assert_true (in.has_ports);
  assert_int_equal (in.n_ports, 1);
  assert_null (in.error_name);
  struct docker_container_info created = { .status = "created", .exit_code = 0 };
  engine_inspect_read (&created, &in);
  assert_int_equal (in.status, C);
  assert_false (in.started);
  struct docker_container_info oom = { .status = "exited", .exit_code = 137, .oom_killed = true, .started_at_ns = 1, .error = "x" };
  engine_inspect_read (&oom, &in);
  assert_int_equal (in.status, S);
  assert_true (in.has_exit_code);
  assert_int_equal (in.exit_code, 137);
  assert_string_equal (in.error_name, "OutOfMemoryError");
  struct docker_container_info dead = { .status = "dead", .exit_code = 1, .error = "mount failed" };
  engine_inspect_read (&dead, &in);
  assert_int_equal (in.status, S);
  assert_string_equal (in.error_name, "DockerStateError");
  assert_string_equal (in.error_msg, "mount failed");
  engine_inspect_read (NULL, &in);
  assert_int_equal (in.status, N);
  assert_false (in.has_ports);
}

/* Steps rendered "C R+ S+" (+: with the inspect's info). */
static void
steps_str (const struct engine_outcome *o, char *buf, size_t len)
{
  buf[0] = '\0';
  for (size_t i = 0; i < o->n_steps; i++)
    {
      size_t n = strlen (buf);
      snprintf (buf + n, len - n, "%s%s%s", i ? " " : "", task_container_status_str (o->steps[i].status),
                o->steps[i].with_info ? "+" : "");
    }
}

enum info_kind
{
  I_NONE,    /* no answer (an error) */
  I_CREATED, /* created, never started */
  I_RUNNING,
  I_EXITED,  /* ran and exited 3 */
};

static void
test_decide_table (void **st)
{
  (void) st;
  static const struct
  {
    enum engine_obs_source src;
    enum task_status known, desired, reported;
    int err;
    enum info_kind info;
    bool labels, image, ports, carried;
    const char *steps;
    const char *fail;   /* fail_name, or NULL */
    const char *reason; /* reason_name, or NULL */
    enum engine_next next;
    bool set_id, stop_ok, pulled;
  } rows[] = {
    /* pull: success -> PULLED; failure -> look for the image locally */
    { ENGINE_OBS_PULL, N, R, N, 0, I_NONE, false, false, false, false, "PULLED", NULL, NULL, ENGINE_NEXT_NONE, false, false, true },
    { ENGINE_OBS_PULL, N, R, N, ERR_NOT_FOUND, I_NONE, false, false, false, false, "", NULL, NULL, ENGINE_NEXT_INSPECT_IMAGE, false, false, false },
    { ENGINE_OBS_PULL, S, S, N, ERR_NOT_FOUND, I_NONE, false, false, false, false, "", NULL, NULL, ENGINE_NEXT_NONE, false, false, false },
    { ENGINE_OBS_PULL_LOCAL_IMAGE, N, R, N, 0, I_NONE, false, true, false, true, "PULLED", NULL, NULL, ENGINE_NEXT_NONE, false, false, true },
    { ENGINE_OBS_PULL_LOCAL_IMAGE, N, R, N, 0, I_NONE, false, false, false, true, "", "CannotPullContainerError", NULL, ENGINE_NEXT_NONE, false, false, false },
    { ENGINE_OBS_PULL_LOCAL_IMAGE, S, S, N, 0, I_NONE, false, false, false, true, "", NULL, NULL, ENGINE_NEXT_NONE, false, false, false },
    /* create: id; a failure it may have survived -> inspect by name; else failed */
    { ENGINE_OBS_CREATE, P, R, N, 0, I_NONE, false, false, false, false, "CREATED", NULL, NULL, ENGINE_NEXT_NONE, true, false, false },
    { ENGINE_OBS_CREATE, P, R, N, ERR_CONFLICT, I_NONE, false, false, false, false, "", NULL, NULL, ENGINE_NEXT_INSPECT_NAME, false, false, false },
    { ENGINE_OBS_CREATE, P, R, N, ERR_TIMEOUT, I_NONE, false, false, false, false, "", NULL, NULL, ENGINE_NEXT_INSPECT_NAME, false, false, false },
    { ENGINE_OBS_CREATE, P, R, N, ERR_UNREACHABLE, I_NONE, false, false, false, false, "", NULL, NULL, ENGINE_NEXT_INSPECT_NAME, false, false, false },
    { ENGINE_OBS_CREATE, P, R, N, ERR_CLIENT, I_NONE, false, false, false, false, "", "CannotCreateContainerError", NULL, ENGINE_NEXT_NONE, false, false, false },
    /* adopt: ours (labels) -> every status Docker shows; else the create failed */
    { ENGINE_OBS_CREATE_ADOPT, P, R, N, 0, I_CREATED, true, false, false, true, "CREATED", NULL, NULL, ENGINE_NEXT_NONE, true, false, false },
    { ENGINE_OBS_CREATE_ADOPT, P, R, N, 0, I_RUNNING, true, false, false, true, "CREATED RUNNING+", NULL, NULL, ENGINE_NEXT_NONE, true, false, false },
    { ENGINE_OBS_CREATE_ADOPT, P, R, N, 0, I_EXITED, true, false, false, true, "CREATED RUNNING+ STOPPED+", NULL, NULL, ENGINE_NEXT_NONE, true, false, false },
    { ENGINE_OBS_CREATE_ADOPT, P, R, N, 0, I_RUNNING, false, false, false, true, "", "CannotCreateContainerError", NULL, ENGINE_NEXT_NONE, false, false, false },
    { ENGINE_OBS_CREATE_ADOPT, P, R, N, ERR_NOT_FOUND, I_NONE, false, false, false, true, "", "CannotCreateContainerError", NULL, ENGINE_NEXT_NONE, false, false, false },
    /* start: RUNNING at once, or an inspect for the host ports */
    { ENGINE_OBS_START, C, R, N, 0, I_NONE, false, false, false, false, "RUNNING", NULL, NULL, ENGINE_NEXT_NONE, false, false, false },
    { ENGINE_OBS_START, C, R, N, 0, I_NONE, false, false, true, false, "", NULL, NULL, ENGINE_NEXT_INSPECT_ID, false, false, false },
    { ENGINE_OBS_START, C, R, N, ERR_SERVER, I_NONE, false, false, true, false, "", "CannotStartContainerError", NULL, ENGINE_NEXT_NONE, false, false, false },
    { ENGINE_OBS_START, C, R, N, ERR_TIMEOUT, I_NONE, false, false, true, false, "", "DockerTimeoutError", NULL, ENGINE_NEXT_NONE, false, false, false },
    { ENGINE_OBS_START_INSPECT, C, R, N, 0, I_RUNNING, false, false, true, false, "RUNNING+", NULL, NULL, ENGINE_NEXT_NONE, false, false, false },
    { ENGINE_OBS_START_INSPECT, C, R, N, 0, I_EXITED, false, false, true, false, "RUNNING+ STOPPED+", NULL, NULL, ENGINE_NEXT_NONE, false, false, false },
    { ENGINE_OBS_START_INSPECT, C, R, N, ERR_TIMEOUT, I_NONE, false, false, true, false, "", "CannotInspectContainerError", NULL, ENGINE_NEXT_NONE, false, false, false },
    /* stop: always confirmed by an inspect; not stopped -> again later */
    { ENGINE_OBS_STOP, R, S, N, 0, I_NONE, false, false, false, false, "", NULL, NULL, ENGINE_NEXT_INSPECT_ID, false, false, false },
    { ENGINE_OBS_STOP, R, S, N, ERR_UNREACHABLE, I_NONE, false, false, false, false, "", NULL, NULL, ENGINE_NEXT_INSPECT_ID, false, false, false },
    { ENGINE_OBS_STOP_INSPECT, R, S, N, 0, I_EXITED, false, false, false, false, "STOPPED+", NULL, NULL, ENGINE_NEXT_NONE, false, true, false },
    { ENGINE_OBS_STOP_INSPECT, R, S, N, 0, I_RUNNING, false, false, false, true, "", NULL, NULL, ENGINE_NEXT_STOP_LATER, false, false, false },
    { ENGINE_OBS_STOP_INSPECT, R, S, N, ERR_UNREACHABLE, I_NONE, false, false, false, false, "", NULL, NULL, ENGINE_NEXT_STOP_LATER, false, false, false },
    { ENGINE_OBS_STOP_INSPECT, R, S, N, ERR_NOT_FOUND, I_NONE, false, false, false, true, "STOPPED+", NULL, "CannotStopContainerError", ENGINE_NEXT_NONE, false, true, false },
    { ENGINE_OBS_STOP_INSPECT, R, S, N, ERR_NOT_FOUND, I_NONE, false, false, false, false, "STOPPED+", NULL, NULL, ENGINE_NEXT_NONE, false, true, false },
    /* an event, confirmed by an inspect */
    { ENGINE_OBS_EVENT_INSPECT, C, R, R, 0, I_RUNNING, false, false, false, false, "RUNNING+", NULL, NULL, ENGINE_NEXT_NONE, false, false, false },
    { ENGINE_OBS_EVENT_INSPECT, C, R, R, 0, I_EXITED, false, false, false, false, "RUNNING+ STOPPED+", NULL, NULL, ENGINE_NEXT_NONE, false, false, false },
    { ENGINE_OBS_EVENT_INSPECT, C, S, S, 0, I_EXITED, false, false, false, false, "STOPPED+", NULL, NULL, ENGINE_NEXT_NONE, false, false, false },
    /* a die seen late (replayed, or while a restart ran): it runs again */
    { ENGINE_OBS_EVENT_INSPECT, R, R, S, 0, I_RUNNING, false, false, false, false, "RUNNING+", NULL, NULL, ENGINE_NEXT_NONE, false, false, false },
    { ENGINE_OBS_EVENT_INSPECT, R, R, S, ERR_TIMEOUT, I_NONE, false, false, false, false, "STOPPED+", NULL, NULL, ENGINE_NEXT_NONE, false, false, false },
    { ENGINE_OBS_EVENT_INSPECT, R, R, S, ERR_NOT_FOUND, I_NONE, false, false, false, false, "STOPPED", NULL, "ContainerVanishedError", ENGINE_NEXT_NONE, false, false, false },
    /* resync and reconciliation: Docker's word */
    { ENGINE_OBS_RESYNC_INSPECT, R, R, N, 0, I_EXITED, false, false, false, false, "STOPPED+", NULL, NULL, ENGINE_NEXT_NONE, false, false, false },
    { ENGINE_OBS_RESYNC_INSPECT, C, R, N, 0, I_EXITED, false, false, false, false, "RUNNING+ STOPPED+", NULL, NULL, ENGINE_NEXT_NONE, false, false, false },
    { ENGINE_OBS_RESYNC_INSPECT, R, R, N, ERR_NOT_FOUND, I_NONE, false, false, false, false, "STOPPED", NULL, "ContainerVanishedError", ENGINE_NEXT_NONE, false, false, false },
    { ENGINE_OBS_RESYNC_INSPECT, R, R, N, ERR_TIMEOUT, I_NONE, false, false, false, false, "", NULL, NULL, ENGINE_NEXT_NONE, false, false, false },
    { ENGINE_OBS_RECONCILE_INSPECT, P, R, N, 0, I_RUNNING, false, false, false, false, "CREATED RUNNING+", NULL, NULL, ENGINE_NEXT_NONE, false, false, false },
    { ENGINE_OBS_RECONCILE_INSPECT, R, R, N, 0, I_EXITED, false, false, false, false, "STOPPED+", NULL, NULL, ENGINE_NEXT_NONE, false, false, false },
    { ENGINE_OBS_RECONCILE_INSPECT, R, R, N, ERR_NOT_FOUND, I_NONE, false, false, false, false, "STOPPED", NULL, "ContainerVanishedError", ENGINE_NEXT_NONE, false, false, false },
    { ENGINE_OBS_RECONCILE_INSPECT, S, S, N, ERR_NOT_FOUND, I_NONE, false, false, false, false, "STOPPED", NULL, NULL, ENGINE_NEXT_NONE, false, false, false },
  };
  for (size_t i = 0; i < ARRAY_SIZE (rows); i++)
    {
      struct task *t = single (rows[i].ports);
      struct task_container *c = &t->containers[0];
      c->known_status = rows[i].known;
      c->desired_status = rows[i].desired;
      struct docker_container_info info = { 0 };
      switch (rows[i].info)
        {
        case I_NONE: break;
        case I_CREATED: info.status = "created"; break;
        case I_RUNNING: info.status = "running"; info.running = true; info.started_at_ns = 1; break;
        case I_EXITED: info.status = "exited"; info.exit_code = 3; info.started_at_ns = 1; break;
        }
      struct engine_observation o = {
        .source = rows[i].src,
        .err_kind = rows[i].err,
        .err_msg = rows[i].err ? "docker said no" : NULL,
        .carried = rows[i].carried ? "earlier error" : NULL,
        .has_info = rows[i].info != I_NONE,
        .labels_match = rows[i].labels,
        .image_present = rows[i].image,
        .reported = rows[i].reported,
      };
      engine_inspect_read (o.has_info ? &info : NULL, &o.info);
      struct engine_outcome out;
      engine_decide (t, 0, &o, &out);
      char steps[128];
      steps_str (&out, steps, sizeof steps);
      if (strcmp (steps, rows[i].steps) != 0 || out.next != rows[i].next || out.set_id != rows[i].set_id
          || out.stop_confirmed != rows[i].stop_ok || out.pulled != rows[i].pulled
          || (rows[i].fail ? !out.fail_name || strcmp (out.fail_name, rows[i].fail) : out.fail_name != NULL)
          || (rows[i].reason ? !out.reason_name || strcmp (out.reason_name, rows[i].reason) : out.reason_name != NULL))
        fail_msg ("row %zu: steps \"%s\" next %d set_id %d stop_ok %d pulled %d fail %s reason %s", i, steps,
                  out.next, out.set_id, out.stop_confirmed, out.pulled, out.fail_name ? out.fail_name : "-",
                  out.reason_name ? out.reason_name : "-");
      task_free (t);
    }
}

/* Pull behaviours: a strict failure (always / once) stops the task; the
   prefer-cached look-up pulls only without a local copy. */
static void
test_decide_pull_behaviour (void **st)
{
  (void) st;
  struct task *t = single (false);
  struct engine_outcome out;
  struct engine_observation o = { .source = ENGINE_OBS_PULL, .err_kind = ERR_AUTH, .err_msg = "denied", .pull_strict = true };
  engine_decide (t, 0, &o, &out);
  assert_string_equal (out.fail_name, "CannotPullContainerError");
  assert_string_equal (out.fail_msg, "denied");
  assert_true (out.stop_task);
  assert_int_equal (out.next, ENGINE_NEXT_NONE);
  o.pull_strict = false;
  engine_decide (t, 0, &o, &out);
  assert_null (out.fail_name);
  assert_false (out.stop_task);
  assert_int_equal (out.next, ENGINE_NEXT_INSPECT_IMAGE);
  struct engine_observation cached = { .source = ENGINE_OBS_PULL_CACHED, .image_present = true };
  engine_decide (t, 0, &cached, &out);
  assert_true (out.pulled);
  assert_int_equal (out.n_steps, 1);
  assert_int_equal (out.steps[0].status, P);
  cached.image_present = false;
  engine_decide (t, 0, &cached, &out);
  assert_false (out.pulled);
  assert_int_equal (out.n_steps, 0);
  assert_int_equal (out.next, ENGINE_NEXT_PULL);
  t->containers[0].known_status = S;
  engine_decide (t, 0, &cached, &out);
  assert_int_equal (out.next, ENGINE_NEXT_NONE);
  task_free (t);
}

static void
test_decide_event (void **st)
{
  (void) st;
  static const struct
  {
    enum docker_event_action kind;
    int exit_code;
    bool ready;
    enum task_status known;
    enum task_action inflight;
    bool has_id;
    enum engine_event_verdict want;
    enum task_status reported;
    int64_t time_ns;         /* the event's timeNano (0: none) */
    int64_t last_restart_ns; /* the container's last restart in place (0: none) */
  } rows[] = {
    /* the die shortcut: ready, idle, RUNNING, with an exit code */
    { DOCKER_EV_DIE, 0, true, R, TASK_ACTION_NONE, true, ENGINE_EVENT_DIED, S, 0, 0 },
    { DOCKER_EV_DIE, 137, true, R, TASK_ACTION_NONE, true, ENGINE_EVENT_DIED, S, 0, 0 },
    { DOCKER_EV_DIE, -1, true, R, TASK_ACTION_NONE, true, ENGINE_EVENT_INSPECT, S, 0, 0 },
    /* reconciling: remembered, looked at once the reconcile inspect is in
       (never a second inspect beside it) */
    { DOCKER_EV_DIE, 0, false, R, TASK_ACTION_NONE, true, ENGINE_EVENT_PENDING, S, 0, 0 },
    { DOCKER_EV_DIE, 0, false, R, TASK_ACTION_INSPECT, true, ENGINE_EVENT_PENDING, S, 0, 0 },
    { DOCKER_EV_START, -1, false, C, TASK_ACTION_NONE, true, ENGINE_EVENT_PENDING, R, 0, 0 },
    { DOCKER_EV_START, -1, false, R, TASK_ACTION_NONE, true, ENGINE_EVENT_IGNORE, R, 0, 0 },
    /* a die older than the last restart in place (replayed after an agent
       restart) is not the present run's: the inspect tells */
    { DOCKER_EV_DIE, 1, true, R, TASK_ACTION_NONE, true, ENGINE_EVENT_INSPECT, S, 100, 200 },
    { DOCKER_EV_DIE, 1, true, R, TASK_ACTION_NONE, true, ENGINE_EVENT_INSPECT, S, 0, 200 },
    { DOCKER_EV_DIE, 1, true, R, TASK_ACTION_NONE, true, ENGINE_EVENT_DIED, S, 300, 200 },
    { DOCKER_EV_DIE, 1, true, R, TASK_ACTION_NONE, true, ENGINE_EVENT_DIED, S, 100, 0 },
    { DOCKER_EV_DIE, 0, true, C, TASK_ACTION_NONE, true, ENGINE_EVENT_INSPECT, S, 0, 0 },
    { DOCKER_EV_DIE, 0, true, R, TASK_ACTION_STOP, true, ENGINE_EVENT_PENDING, S, 0, 0 },
    { DOCKER_EV_DIE, 0, true, S, TASK_ACTION_NONE, true, ENGINE_EVENT_IGNORE, S, 0, 0 },
    /* start / create: inspect when newer, remember when busy */
    { DOCKER_EV_START, -1, true, C, TASK_ACTION_NONE, true, ENGINE_EVENT_INSPECT, R, 0, 0 },
    { DOCKER_EV_START, -1, true, C, TASK_ACTION_START, true, ENGINE_EVENT_PENDING, R, 0, 0 },
    { DOCKER_EV_START, -1, true, R, TASK_ACTION_NONE, true, ENGINE_EVENT_IGNORE, R, 0, 0 },
    { DOCKER_EV_START, -1, true, S, TASK_ACTION_NONE, true, ENGINE_EVENT_INSPECT, R, 0, 0 }, /* the one re-stop */
    { DOCKER_EV_START, -1, true, C, TASK_ACTION_NONE, false, ENGINE_EVENT_IGNORE, R, 0, 0 },
    { DOCKER_EV_CREATE, -1, true, P, TASK_ACTION_NONE, true, ENGINE_EVENT_INSPECT, C, 0, 0 },
    { DOCKER_EV_CREATE, -1, true, P, TASK_ACTION_CREATE, true, ENGINE_EVENT_PENDING, C, 0, 0 },
    /* the rest */
    { DOCKER_EV_OOM, -1, true, R, TASK_ACTION_NONE, true, ENGINE_EVENT_OOM, N, 0, 0 },
    { DOCKER_EV_KILL, -1, true, R, TASK_ACTION_NONE, true, ENGINE_EVENT_IGNORE, N, 0, 0 },
    { DOCKER_EV_STOP, -1, true, R, TASK_ACTION_NONE, true, ENGINE_EVENT_IGNORE, N, 0, 0 },
    { DOCKER_EV_DESTROY, -1, true, R, TASK_ACTION_NONE, true, ENGINE_EVENT_IGNORE, N, 0, 0 },
  };
  for (size_t i = 0; i < ARRAY_SIZE (rows); i++)
    {
      struct task *t = single (false);
      struct task_container *c = &t->containers[0];
      c->known_status = rows[i].known;
      c->inflight = rows[i].inflight;
      if (rows[i].has_id)
        c->docker_id = xstrdup ("id");
      c->restart.last_restart_at_ns = rows[i].last_restart_ns;
      enum task_status reported = N;
      assert_int_equal (engine_event_relevant (rows[i].kind), rows[i].want != ENGINE_EVENT_IGNORE
                                                                 || rows[i].reported != N);
      enum engine_event_verdict v = engine_decide_event (t, 0, rows[i].kind, rows[i].exit_code, rows[i].time_ns,
                                                         rows[i].ready, &reported);
      if (v != rows[i].want || (rows[i].reported != N && reported != rows[i].reported))
        fail_msg ("row %zu: verdict %d (want %d) reported %d", i, v, rows[i].want, reported);
      task_free (t);
    }
}

/* After a crash: a container with a name but no id is found in the list
   by its Docker name or by its task's labels, never by another's. */
static void
test_adopt_match (void **st)
{
  (void) st;
  struct task *t = single (false);
  struct task_container *c = &t->containers[0];
  c->docker_name = xstrdup ("ecs-a-1");
  char *n_other[] = { "ecs-b-1" }, *n_mine[] = { "ecs-a-1" };
  struct docker_kv l_mine[] = { { "com.amazonaws.ecs.task-arn", "t" }, { "com.amazonaws.ecs.container-name", "a" } };
  struct docker_kv l_other_task[] = { { "com.amazonaws.ecs.task-arn", "u" },
                                      { "com.amazonaws.ecs.container-name", "a" } };
  struct docker_kv l_other_name[] = { { "com.amazonaws.ecs.task-arn", "t" },
                                      { "com.amazonaws.ecs.container-name", "b" } };
  struct docker_container_summary items[4] = {
    { .id = "0", .names = n_other, .n_names = 1, .labels = l_other_task, .n_labels = 2 },
    { .id = "1", .names = n_other, .n_names = 1, .labels = l_other_name, .n_labels = 2 },
    { .id = "2", .names = n_mine, .n_names = 1 },
    { .id = "3", .names = n_other, .n_names = 1, .labels = l_mine, .n_labels = 2 },
  };
  struct docker_container_list list = { items, 4 };
  assert_int_equal (engine_decide_adopt_match (t, c, &list), 2); /* by name */
  list.n = 2;
  assert_int_equal (engine_decide_adopt_match (t, c, &list), -1);
  items[1] = items[3];
  assert_int_equal (engine_decide_adopt_match (t, c, &list), 1); /* by labels */
  free (c->docker_name);
  c->docker_name = NULL;
  items[1] = items[2];
  assert_int_equal (engine_decide_adopt_match (t, c, &list), -1); /* no name: labels only */
  task_free (t);
}

static void
test_pull_reuse (void **st)
{
  (void) st;
  struct engine_pull_cache pc = { 0 };
  assert_int_equal (engine_decide_pull (&pc, "busybox", false, 1000), ENGINE_PULL_ISSUE);
  assert_int_equal (engine_decide_pull (&pc, "busybox", true, 1000), ENGINE_PULL_WAIT);
  engine_pull_cache_remember (&pc, "busybox", "sha256:b1", 1000);
  assert_string_equal (engine_pull_cache_digest (&pc, "busybox"), "sha256:b1");
  assert_null (engine_pull_cache_digest (&pc, "other"));
  assert_int_equal (engine_decide_pull (&pc, "busybox", false, 1000), ENGINE_PULL_REUSE);
  assert_int_equal (engine_decide_pull (&pc, "busybox", false, 1000 + ENGINE_PULL_REUSE_MS - 1), ENGINE_PULL_REUSE);
  assert_int_equal (engine_decide_pull (&pc, "busybox", false, 1000 + ENGINE_PULL_REUSE_MS), ENGINE_PULL_ISSUE);
  assert_int_equal (engine_decide_pull (&pc, "busybox", true, 1000 + ENGINE_PULL_REUSE_MS), ENGINE_PULL_WAIT);
  assert_int_equal (engine_decide_pull (&pc, "other", false, 1000), ENGINE_PULL_ISSUE);
  /* Remembering again refreshes the same entry; a full cache drops the oldest. */
  engine_pull_cache_remember (&pc, "busybox", NULL, 50000);
  assert_null (engine_pull_cache_digest (&pc, "busybox")); /* a pull without one forgets it */
  assert_int_equal (engine_decide_pull (&pc, "busybox", false, 55000), ENGINE_PULL_REUSE);
  for (int i = 0; i < ENGINE_PULL_CACHE_SIZE; i++)
    {
      char img[16];
      snprintf (img, sizeof img, "img%d", i);
      engine_pull_cache_remember (&pc, img, "sha256:i", 60000 + (uint64_t) i);
    }
  assert_int_equal (engine_decide_pull (&pc, "busybox", false, 60100), ENGINE_PULL_ISSUE);
  assert_int_equal (engine_decide_pull (&pc, "img0", false, 60100), ENGINE_PULL_REUSE);
  engine_pull_cache_free (&pc);
}

static void
test_retry_delays (void **st)
{
  (void) st;
  struct backoff b = { 0 };
  /* x2 with 20 % jitter from the minimum, capped */
  uint64_t d1 = engine_retry_delay_ms (&b, ENGINE_STOP_RETRY_MIN_MS, ENGINE_STOP_RETRY_MAX_MS);
  assert_true (d1 >= ENGINE_STOP_RETRY_MIN_MS && d1 <= ENGINE_STOP_RETRY_MIN_MS * 12 / 10);
  uint64_t d2 = engine_retry_delay_ms (&b, ENGINE_STOP_RETRY_MIN_MS, ENGINE_STOP_RETRY_MAX_MS);
  assert_true (d2 >= 2 * ENGINE_STOP_RETRY_MIN_MS && d2 <= 2 * ENGINE_STOP_RETRY_MIN_MS * 12 / 10);
  uint64_t d = 0;
  for (int i = 0; i < 30; i++)
    d = engine_retry_delay_ms (&b, ENGINE_STOP_RETRY_MIN_MS, ENGINE_STOP_RETRY_MAX_MS);
  assert_true (d <= ENGINE_STOP_RETRY_MAX_MS * 12 / 10);
  assert_true (d >= ENGINE_STOP_RETRY_MAX_MS);
  backoff_reset (&b);
  d = engine_retry_delay_ms (&b, ENGINE_STOP_RETRY_MIN_MS, ENGINE_STOP_RETRY_MAX_MS);
  assert_true (d <= ENGINE_STOP_RETRY_MIN_MS * 12 / 10);

  assert_false (engine_removal_retriable (0));
  assert_false (engine_removal_retriable (ERR_NOT_FOUND));
  assert_false (engine_removal_retriable (ERR_CLIENT));
  assert_false (engine_removal_retriable (ERR_INVALID));
  assert_false (engine_removal_retriable (ERR_AUTH));
  assert_true (engine_removal_retriable (ERR_UNREACHABLE));
  assert_true (engine_removal_retriable (ERR_TIMEOUT));
  assert_true (engine_removal_retriable (ERR_SERVER));
  assert_true (engine_removal_retriable (ERR_CONFLICT));
}

static void
test_cleanup_deadline (void **st)
{
  (void) st;
  struct task *t = single (false);
  t->known_time_ns = 1000000000LL;
  assert_int_equal (engine_cleanup_deadline_ns (t, 3000), 4000000000LL);
  t->cleanup_retry_ns = 9000000000LL; /* a failed round: not before its retry */
  assert_int_equal (engine_cleanup_deadline_ns (t, 3000), 9000000000LL);
  t->cleanup_retry_ns = 2000000000LL;
  assert_int_equal (engine_cleanup_deadline_ns (t, 3000), 4000000000LL);
  task_free (t);
}

/* Transition errors (as upstream): which failed start
   forces a docker stop, and the names errors get. */
static void
test_start_errors (void **st)
{
  (void) st;
  static const struct
  {
    enum engine_obs_source src;
    int err;
    const char *msg;
    const char *fail;
    bool force_stop;
  } rows[] = {
    { ENGINE_OBS_START, ERR_TIMEOUT, "Could not transition to started; timed out after waiting 3m0s", "DockerTimeoutError", true },
    { ENGINE_OBS_START, ERR_SERVER, "driver failed programming external connectivity", "CannotStartContainerError", false },
    { ENGINE_OBS_START, ERR_UNREACHABLE, "Post \"http://d/containers/x/start\": EOF", "CannotStartContainerError", true },
    { ENGINE_OBS_START, ERR_SERVER, "EOF in the middle", "CannotStartContainerError", false },
    { ENGINE_OBS_START, ERR_NOT_FOUND, "No such container: x", "CannotStartContainerError", false },
    { ENGINE_OBS_START, ERR_SERVER, "", "CannotStartContainerError", false },
    { ENGINE_OBS_START_INSPECT, ERR_SERVER, "inspect refused", "CannotInspectContainerError", true },
    { ENGINE_OBS_START_INSPECT, ERR_TIMEOUT, "Could not transition to inspecting; timed out after waiting 30s", "CannotInspectContainerError", true },
    { ENGINE_OBS_START_INSPECT, ERR_NOT_FOUND, "No such container: x", "CannotInspectContainerError", true },
    { ENGINE_OBS_CREATE, ERR_CLIENT, "invalid mount", "CannotCreateContainerError", false },
  };
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
    {
      struct task *t = single (true);
      struct task_container *c = &t->containers[0];
      c->known_status = TASK_STATUS_CREATED;
      c->desired_status = TASK_STATUS_RUNNING;
      struct engine_observation o = { .source = rows[i].src, .err_kind = rows[i].err, .err_msg = rows[i].msg };
      struct engine_outcome out;
      engine_decide (t, 0, &o, &out);
      if (!out.fail_name || strcmp (out.fail_name, rows[i].fail) != 0 || out.force_stop != rows[i].force_stop
          || out.n_steps != 0)
        fail_msg ("row %zu: fail %s force_stop %d steps %zu", i, out.fail_name ? out.fail_name : "(none)",
                  out.force_stop, out.n_steps);
      task_free (t);
    }
  /* the pure predicates themselves */
  assert_true (engine_start_error_forces_stop ("DockerTimeoutError", "x"));
  assert_true (engine_start_error_forces_stop ("CannotInspectContainerError", NULL));
  assert_true (engine_start_error_forces_stop ("CannotStartContainerError", "unexpected EOF"));
  assert_false (engine_start_error_forces_stop ("CannotStartContainerError", "EOF."));
  assert_false (engine_start_error_forces_stop ("CannotStartContainerError", NULL));
  assert_false (engine_start_error_forces_stop ("CannotCreateContainerError", "EOF"));
  assert_false (engine_start_error_forces_stop (NULL, "EOF"));
  assert_string_equal (engine_error_name (ERR_TIMEOUT, NULL, "X"), "DockerTimeoutError");
  assert_string_equal (engine_error_name (0, "Could not transition to created; timed out after waiting 4m0s", "X"),
                       "DockerTimeoutError");
  assert_string_equal (engine_error_name (ERR_SERVER, "boom", "X"), "X");
  assert_string_equal (engine_error_name (ERR_INVALID, DOCKER_API_VERSION_MSG_PREFIX "1.44 is not served "
                                                       "by the daemon (at most 1.41)", "X"),
                       "CannotGetDockerClientVersionError");
  assert_string_equal (engine_error_name (0, NULL, "X"), "X");
  /* a create that timed out and was not found afterwards: named from its kept text */
  struct task *t = single (false);
  t->containers[0].known_status = TASK_STATUS_PULLED;
  t->containers[0].desired_status = TASK_STATUS_RUNNING;
  struct engine_observation o = { .source = ENGINE_OBS_CREATE_ADOPT, .err_kind = ERR_NOT_FOUND,
                                  .carried = "Could not transition to created; timed out after waiting 4m0s" };
  struct engine_outcome out;
  engine_decide (t, 0, &o, &out);
  assert_string_equal (out.fail_name, "DockerTimeoutError");
  assert_false (out.force_stop);
  task_free (t);
}

/* Steady-state inspects: which containers are live, when one is due, a
   busy one is rescheduled rather than inspected. */
static void
test_steady (void **st)
{
  (void) st;
  static const struct
  {
    enum task_status known;
    bool id, busy, removing;
    uint64_t at, now;
    enum engine_steady_verdict want;
  } rows[] = {
    { N, false, false, false, 0, 100, ENGINE_STEADY_NONE },
    { P, false, false, false, 0, 100, ENGINE_STEADY_NONE },
    { C, false, false, false, 0, 100, ENGINE_STEADY_NONE }, /* no Docker id */
    { C, true, false, false, 0, 100, ENGINE_STEADY_SCHEDULE },
    { R, true, false, false, 0, 100, ENGINE_STEADY_SCHEDULE },
    { R, true, false, false, 200, 100, ENGINE_STEADY_WAIT },
    { R, true, false, false, 100, 100, ENGINE_STEADY_DUE },
    { R, true, false, false, 50, 100, ENGINE_STEADY_DUE },
    { R, true, true, false, 50, 100, ENGINE_STEADY_SCHEDULE }, /* busy: its own op looks */
    { R, true, true, false, 200, 100, ENGINE_STEADY_WAIT },
    { S, true, false, false, 50, 100, ENGINE_STEADY_NONE },
    { R, true, false, true, 50, 100, ENGINE_STEADY_NONE }, /* task being removed */
  };
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
    {
      struct task *t = single (false);
      struct task_container *c = &t->containers[0];
      c->known_status = rows[i].known;
      c->docker_id = rows[i].id ? xstrdup ("id") : NULL;
      c->inflight = rows[i].busy ? TASK_ACTION_INSPECT : TASK_ACTION_NONE;
      t->removing = rows[i].removing;
      c->steady_at_ms = rows[i].at;
      enum engine_steady_verdict v = engine_decide_steady (t, c, rows[i].now);
      if (v != rows[i].want)
        fail_msg ("row %zu: verdict %d, want %d", i, v, rows[i].want);
      task_free (t);
    }
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_inspect_read),
    cmocka_unit_test (test_decide_table),
    cmocka_unit_test (test_start_errors),
    cmocka_unit_test (test_steady),
    cmocka_unit_test (test_decide_pull_behaviour),
    cmocka_unit_test (test_decide_event),
    cmocka_unit_test (test_adopt_match),
    cmocka_unit_test (test_pull_reuse),
    cmocka_unit_test (test_retry_delays),
    cmocka_unit_test (test_cleanup_deadline),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
