/* test_engine_slice.c - task cgroups under Docker's systemd cgroup driver
 * (engine/slice.h): the engine with the real D-Bus client
 * (systemd/systemd.h) talks to a real dbus-daemon on which
 * tests/lib/fake_systemd.py plays org.freedesktop.systemd1 and records
 * every call; containers run in the real Docker.  Checks the exact unit
 * name and properties of a task with cpu and memory, its containers'
 * CgroupParent, the StopUnit at cleanup, and a failed start (the task stops
 * with upstream's reason, nothing is created, the failed unit is reset).
 * Docker here may use the cgroupfs driver: it then makes the slice's folder
 * itself below each controller, which the test removes. */
#include "test_engine_itest.h"
#include <jansson.h>
#include "engine/slice.h"
#include "helpers/child.h"
#include "systemd/systemd.h"

struct sx
{
  struct test_child fake;
  char records[96];
};

/* The fake of the running test, stopped by the teardown too (a failed
   assertion skips the test's own end). */
static struct sx *running_fake;

static char *
arn_of (struct it *x, const char *name)
{
  return xasprintf ("arn:aws:ecs:us-west-2:123456789012:task/slices/%s%s", x->run, name);
}

static void
fake_up (struct it *x, struct sx *s)
{
  snprintf (s->records, sizeof s->records, "%s/systemd-calls.jsonl", x->dir);
  char *argv[] = { "/usr/bin/python3", "tests/lib/fake_systemd.py", s->records, NULL };
  running_fake = s;
  if (test_child_start (&s->fake, argv) < 0 || !s->fake.line)
    fail_msg ("tests/lib/fake_systemd.py did not start (python3-dbus, python3-gi, dbus-daemon installed?)");
  x->systemd = systemd_client_new (&x->loop, s->fake.line);
  x->cgroup_root = "/sys/fs/cgroup";
  x->cgroup_systemd = true;
}

static void
fake_down (struct it *x, struct sx *s)
{
  it_engine_down (x);
  systemd_client_free (x->systemd);
  x->systemd = NULL;
  for (int i = 0; i < 20; i++)
    uv_run (&x->loop, UV_RUN_NOWAIT);
  test_child_stop (&s->fake);
  running_fake = NULL;
}

/* it_teardown, after what a failed test left: the D-Bus client (its
   handles must be closed before the loop is) and the fake; then the
   containers and the cgroup folders as always. */
static int
slice_teardown (void **st)
{
  struct it *x = *st;
  if (x->e || x->state)
    it_engine_down (x);
  systemd_client_free (x->systemd);
  x->systemd = NULL;
  if (running_fake)
    test_child_stop (&running_fake->fake);
  running_fake = NULL;
  return it_teardown (st);
}

/* Every record of the given method (and unit, NULL = any), as one array. */
static json_t *
records (struct sx *s, const char *method, const char *unit)
{
  json_t *out = json_array ();
  FILE *f = fopen (s->records, "r");
  char line[8192];
  while (f && fgets (line, sizeof line, f))
    {
      json_t *r = json_loads (line, 0, NULL);
      if (r && strcmp (json_string_value (json_object_get (r, "method")), method) == 0
          && (!unit || strcmp (json_string_value (json_object_get (r, "name")), unit) == 0))
        json_array_append (out, r);
      json_decref (r);
    }
  if (f)
    fclose (f);
  return out;
}

struct want_record
{
  struct sx *s;
  const char *method, *unit;
};

static bool
has_record (struct it *x, void *data)
{
  (void) x;
  struct want_record *w = data;
  json_t *r = records (w->s, w->method, w->unit);
  bool ok = json_array_size (r) > 0;
  json_decref (r);
  return ok;
}

static char *
sh_out (const char *cmd)
{
  FILE *p = popen (cmd, "r");
  char buf[512] = "";
  if (p)
    {
      if (!fgets (buf, sizeof buf, p))
        buf[0] = '\0';
      pclose (p);
    }
  buf[strcspn (buf, "\n")] = '\0';
  return xstrdup (buf);
}

static void
test_slice_started_and_stopped (void **st)
{
  struct it *x = *st;
  static struct sx s; /* static: the teardown may stop its fake after a failed assertion */
  memset (&s, 0, sizeof s);
  fake_up (x, &s);
  x->cleanup_ms = 1500;
  cleanup_free char *a = arn_of (x, "limits");
  cleanup_free char *unit = xasprintf ("ecstasks-%slimits.slice", x->run);
  x->extra_cleanup = xasprintf ("for d in /sys/fs/cgroup/%s /sys/fs/cgroup/*/%s; do [ -d $d ] && rmdir $d; done; true",
                                unit, unit);
  it_engine_up (x);
  cleanup_free char *json = xasprintf (
      "{\"arn\":\"%s\",\"family\":\"slice\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\","
      "\"cpu\":0.5,\"memory\":256,\"containers\":["
      "{\"name\":\"app\",\"image\":\"%s\",\"essential\":true,\"command\":[\"sleep\",\"600\"]}]}",
      a, x->image);
  it_add (x, json);
  assert_true (it_wait_task (x, a, TASK_STATUS_RUNNING, 30000));

  /* the Manager's Version was read first, then the slice was asked for */
  json_t *gets = records (&s, "Get", "org.freedesktop.systemd1.Manager.Version");
  assert_int_equal (json_array_size (gets), 1);
  json_decref (gets);
  json_t *starts = records (&s, "StartTransientUnit", NULL);
  assert_int_equal (json_array_size (starts), 1);
  json_t *r = json_array_get (starts, 0);
  assert_string_equal (json_string_value (json_object_get (r, "name")), unit);
  assert_string_equal (json_string_value (json_object_get (r, "mode")), "replace");
  assert_int_equal (json_integer_value (json_object_get (r, "aux")), 0);
  cleanup_free char *want_text = xasprintf (
      "[[\"Description\",\"s\",\"cgroup %s\"],[\"DefaultDependencies\",\"b\",false],"
      "[\"MemoryAccounting\",\"b\",true],[\"CPUAccounting\",\"b\",true],[\"IOAccounting\",\"b\",true],"
      "[\"Wants\",\"as\",[\"system.slice\"]],[\"MemoryMax\",\"t\",268435456],"
      "[\"CPUQuotaPeriodUSec\",\"t\",100000],[\"CPUQuotaPerSecUSec\",\"t\",500000]]",
      unit);
  json_t *want = json_loads (want_text, 0, NULL);
  json_t *got = json_object_get (r, "properties");
  if (!json_equal (want, got))
    {
      char *g = json_dumps (got, JSON_COMPACT);
      print_message ("properties: %s\n", g);
      free (g);
      fail ();
    }
  json_decref (want);
  json_decref (starts);

  /* the container runs in the slice */
  const struct task *t = it_task (x, a);
  assert_int_equal (t->slice_res, TASK_RES_CREATED);
  cleanup_free char *cmd
      = xasprintf ("docker inspect -f '{{.HostConfig.CgroupParent}}' %s", t->containers[0].docker_id);
  cleanup_free char *parent = sh_out (cmd);
  assert_string_equal (parent, unit);
  json_t *stops = records (&s, "StopUnit", NULL);
  assert_int_equal (json_array_size (stops), 0);
  json_decref (stops);

  /* stopped, then cleaned up: the slice is stopped */
  cleanup_free char *stop = xasprintf ("{\"arn\":\"%s\",\"desiredStatus\":\"STOPPED\"}", a);
  it_add (x, stop);
  assert_true (it_wait_task (x, a, TASK_STATUS_STOPPED, 30000));
  struct want_record w = { &s, "StopUnit", unit };
  assert_true (it_wait_until (x, has_record, &w, 30000));
  assert_int_equal (engine_task_count (x->e), 0);
  stops = records (&s, "StopUnit", NULL);
  assert_int_equal (json_array_size (stops), 1);
  assert_string_equal (json_string_value (json_object_get (json_array_get (stops, 0), "mode")), "replace");
  json_decref (stops);
  fake_down (x, &s);
}

/* A start job that fails: the task stops with upstream's reason before any
   container exists, and the failed unit is reset. */
static void
test_slice_failed_stops_task (void **st)
{
  struct it *x = *st;
  static struct sx s; /* static: the teardown may stop its fake after a failed assertion */
  memset (&s, 0, sizeof s);
  fake_up (x, &s);
  it_engine_up (x);
  cleanup_free char *a = arn_of (x, "failjob");
  cleanup_free char *unit = xasprintf ("ecstasks-%sfailjob.slice", x->run);
  cleanup_free char *json = xasprintf (
      "{\"arn\":\"%s\",\"family\":\"slice\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\","
      "\"memory\":64,\"containers\":["
      "{\"name\":\"app\",\"image\":\"%s\",\"essential\":true,\"cpu\":256,\"command\":[\"sleep\",\"600\"]}]}",
      a, x->image);
  it_add (x, json);
  assert_true (it_wait_task (x, a, TASK_STATUS_STOPPED, 30000));
  const struct task *t = it_task (x, a);
  assert_non_null (t->reason);
  assert_string_equal (t->reason, ENGINE_SLICE_REASON);
  assert_int_equal (t->slice_res, TASK_RES_FAILED);
  assert_null (t->containers[0].docker_id);
  assert_int_equal (it_count_containers (x, a, NULL), 0);
  /* without task cpu: the containers' shares as CPUWeight, no quota */
  json_t *starts = records (&s, "StartTransientUnit", unit);
  assert_int_equal (json_array_size (starts), 1);
  json_t *props = json_object_get (json_array_get (starts, 0), "properties");
  assert_int_equal (json_array_size (props), 8);
  cleanup_free char *tail = json_dumps (json_array_get (props, 7), JSON_COMPACT);
  assert_string_equal (tail, "[\"CPUWeight\",\"t\",10]"); /* 1 + 254 * 9999 / 262142 */
  json_decref (starts);
  struct want_record w = { &s, "ResetFailedUnit", unit };
  assert_true (it_wait_until (x, has_record, &w, 10000));
  fake_down (x, &s);
}

static void
fake_start_at (struct sx *s, const char *sock)
{
  char *argv[] = { "/usr/bin/python3", "tests/lib/fake_systemd.py", s->records, (char *) sock, NULL };
  running_fake = s;
  if (test_child_start (&s->fake, argv) < 0 || !s->fake.line)
    fail_msg ("tests/lib/fake_systemd.py did not start");
}

/* systemd's bus goes away and comes back: the client sees the connection
   drop and the next slice is asked for on a new connection. */
static void
test_bus_restart (void **st)
{
  struct it *x = *st;
  static struct sx s; /* static: the teardown may stop its fake after a failed assertion */
  memset (&s, 0, sizeof s);
  snprintf (s.records, sizeof s.records, "%s/systemd-calls.jsonl", x->dir);
  cleanup_free char *sock = xasprintf ("%s/bus", x->dir);
  fake_start_at (&s, sock);
  cleanup_free char *addr = xasprintf ("unix:path=%s", sock);
  x->systemd = systemd_client_new (&x->loop, addr);
  x->cgroup_root = "/sys/fs/cgroup";
  x->cgroup_systemd = true;
  cleanup_free char *a1 = arn_of (x, "first");
  cleanup_free char *a2 = arn_of (x, "second");
  x->extra_cleanup = xasprintf ("for d in /sys/fs/cgroup/*/ecstasks-%sfirst.slice /sys/fs/cgroup/*/ecstasks-%ssecond.slice "
                                "/sys/fs/cgroup/ecstasks-%s*.slice; do [ -d $d ] && rmdir $d; done; true",
                                x->run, x->run, x->run);
  it_engine_up (x);
  const char *fmt = "{\"arn\":\"%s\",\"family\":\"slice\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\","
                    "\"memory\":64,\"containers\":[{\"name\":\"app\",\"image\":\"%s\",\"essential\":true,"
                    "\"command\":[\"sleep\",\"600\"]}]}";
  cleanup_free char *j1 = xasprintf (fmt, a1, x->image);
  it_add (x, j1);
  assert_true (it_wait_task (x, a1, TASK_STATUS_RUNNING, 30000));
  test_child_stop (&s.fake); /* the bus goes away... */
  fake_start_at (&s, sock);  /* ...and comes back (a new systemd knows no unit) */
  cleanup_free char *j2 = xasprintf (fmt, a2, x->image);
  it_add (x, j2);
  assert_true (it_wait_task (x, a2, TASK_STATUS_RUNNING, 30000));
  assert_int_equal (it_task (x, a2)->slice_res, TASK_RES_CREATED);
  cleanup_free char *u2 = xasprintf ("ecstasks-%ssecond.slice", x->run);
  json_t *starts = records (&s, "StartTransientUnit", u2);
  assert_int_equal (json_array_size (starts), 1);
  json_decref (starts);
  fake_down (x, &s);
}

/* No bus at the address: the task stops the same way. */
static void
test_no_bus_stops_task (void **st)
{
  struct it *x = *st;
  cleanup_free char *addr = xasprintf ("unix:path=%s/no-bus", x->dir);
  x->systemd = systemd_client_new (&x->loop, addr);
  x->cgroup_root = "/sys/fs/cgroup";
  x->cgroup_systemd = true;
  it_engine_up (x);
  cleanup_free char *a = arn_of (x, "nobus");
  cleanup_free char *json = xasprintf (
      "{\"arn\":\"%s\",\"family\":\"slice\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\",\"cpu\":1,"
      "\"containers\":[{\"name\":\"app\",\"image\":\"%s\",\"essential\":true,\"command\":[\"sleep\",\"600\"]}]}",
      a, x->image);
  it_add (x, json);
  assert_true (it_wait_task (x, a, TASK_STATUS_STOPPED, 30000));
  const struct task *t = it_task (x, a);
  assert_string_equal (t->reason, ENGINE_SLICE_REASON);
  assert_int_equal (it_count_containers (x, a, NULL), 0);
  it_engine_down (x);
  systemd_client_free (x->systemd);
  x->systemd = NULL;
}

int
main (void)
{
  log_set_level (LOG_INFO);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_slice_started_and_stopped, it_setup, slice_teardown),
    cmocka_unit_test_setup_teardown (test_slice_failed_stops_task, it_setup, slice_teardown),
    cmocka_unit_test_setup_teardown (test_no_bus_stops_task, it_setup, slice_teardown),
    cmocka_unit_test_setup_teardown (test_bus_restart, it_setup, slice_teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
