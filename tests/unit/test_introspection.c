/* Unit tests for introspection/: the router on fake engine data (every route,
 * status rule and error), and the real server on 127.0.0.1 (own uv loop,
 * libcurl through core/http.h on the same loop, raw uv_tcp clients): HEAD,
 * bodies, big responses, 1000 idle connections, 64 KiB headers, slow
 * clients, busy address with and without retry, clean shutdown.
 *
 * Test mode for tests/e2e/test_introspection_netns.py:
 *   test_introspection --serve <addr> <port>
 * serves the fake data, prints "PORT <n>" once listening and exits 0 on
 * SIGTERM/SIGINT after a clean stop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include "core/http.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "introspection/introspection.h"
#include "log/log.h"

/* ------------------------------------------------------------------ */
/* Fake engine state                                                   */
/* ------------------------------------------------------------------ */

#define ID1 "1111111111111111111111111111111111111111111111111111111111111111"
#define ID2 "abcdef1234560000000000000000000000000000000000000000000000000002"
#define ID3 "abcdef1234569999999999999999999999999999999999999999999999999993"
#define ID_INTERNAL "eeee111111111111111111111111111111111111111111111111111111111111"
#define ARN1 "arn:aws:ecs:us-west-2:123456789012:task/11111111-2222-3333-4444-555555555555"
#define ARN2 "arn:aws:ecs:us-west-2:123456789012:task/t2"
#define ARN3 "arn:aws:ecs:us-west-2:123456789012:task/t3"
#define ARN4 "arn:aws:ecs:us-west-2:123456789012:task/t4"
#define CI_ARN "arn:aws:ecs:us-west-2:123456789012:container-instance/ci-1"

static const struct task_port_binding ports1[] = {
  { .container_port = 80, .host_port = 32768, .bind_ip = "0.0.0.0", .protocol = TASK_PROTO_TCP },
  { .container_port = 53, .host_port = 5353, .bind_ip = NULL, .protocol = TASK_PROTO_UDP },
};
static const struct introspection_volume vols1[] = {
  { .docker_name = NULL, .source = "/var/data", .destination = "/data" },
};

static const struct introspection_container cont1[] = {
  { .name = "web", .has_docker_record = true, .docker_id = ID1,
    .docker_name = "ecs-sleep-3-web-e4b1c2", .image = "busybox:latest", .image_id = "sha256:abc",
    .created_at = "2026-11-29T07:00:00Z", .started_at = "2026-11-29T07:00:01Z", .ports = ports1,
    .n_ports = 2, .volumes = vols1, .n_volumes = 1 },
  { .name = "~internal~ecs-emptyvolume-source", .has_docker_record = true, .internal = true,
    .docker_id = ID_INTERNAL, .docker_name = "internal" },
  { .name = "not-created-yet", .has_docker_record = false },
};
static const struct introspection_container cont2[] = {
  { .name = "a", .has_docker_record = true, .docker_id = ID2, .docker_name = "ecs-t2-a" },
  { .name = "creating", .has_docker_record = true, .docker_id = "", .docker_name = "ecs-t2-c" },
};
static const struct introspection_container cont3[] = {
  { .name = "b", .has_docker_record = true, .docker_id = ID3, .docker_name = "ecs-t3-b" },
};

static struct introspection_task fake_tasks[] = {
  { .arn = ARN1, .family = "sleep", .version = "3", .desired_status = TASK_STATUS_RUNNING,
    .known_status = TASK_STATUS_RUNNING, .containers = cont1, .n_containers = 3 },
  /* desired STOPPED while running: shown */
  { .arn = ARN2, .family = "f2", .version = "1", .desired_status = TASK_STATUS_STOPPED,
    .known_status = TASK_STATUS_RUNNING, .containers = cont2, .n_containers = 2 },
  /* known STOPPED, desired RUNNING: DesiredStatus omitted */
  { .arn = ARN3, .family = "f3", .version = "7", .desired_status = TASK_STATUS_RUNNING,
    .known_status = TASK_STATUS_STOPPED, .containers = cont3, .n_containers = 1 },
  /* known CREATED (PENDING), desired RUNNING; no containers */
  { .arn = ARN4, .family = "f4", .version = "2", .desired_status = TASK_STATUS_RUNNING,
    .known_status = TASK_STATUS_CREATED, .containers = NULL, .n_containers = 0 },
};

struct fake
{
  struct introspection_task *tasks;
  size_t n;
  const char *arn;
  unsigned calls;
};

static void
fake_foreach (void *data, introspection_task_cb cb, void *arg)
{
  struct fake *f = data;
  f->calls++;
  for (size_t i = 0; i < f->n; i++)
    cb (&f->tasks[i], arg);
}

static const char *
fake_arn (void *data)
{
  struct fake *f = data;
  return f->arn;
}

static struct fake the_fake = { fake_tasks, ARRAY_SIZE (fake_tasks), CI_ARN, 0 };

static struct introspection_provider
fake_provider (struct fake *f)
{
  struct introspection_provider p = { .foreach_task = fake_foreach,
                                      .container_instance_arn = fake_arn, .data = f };
  return p;
}

static const struct introspection_config base_cfg = {
  .cluster = "prod",
  .version = "Amazon ECS Agent - v1.2.3 (*abc1234)",
  .license_text = "LICENSE TEXT\n",
};

/* ------------------------------------------------------------------ */
/* Router                                                              */
/* ------------------------------------------------------------------ */

/* /v1/health: the provider's verdict as 200/503 and a JSON body naming
   every failing part; no provider -> 503. */
static bool fake_health_docker_failing;

static void
fake_health (void *data, struct health_verdict *out)
{
  (void) data;
  struct health_facts f = { .started_ms = 1, .acs_connected = true, .acs_changed_ms = 1,
                            .docker_ok_ms = 1000, .checkpoint_enabled = true };
  if (fake_health_docker_failing)
    {
      f.docker_fail_ms = 1500;
      f.docker_error = "connection refused";
    }
  health_decide (&f, NULL, 2000, out);
}

static void
test_route_health (void **state)
{
  (void) state;
  struct introspection_provider p = fake_provider (&the_fake);
  p.health = fake_health;
  for (int failing = 0; failing < 2; failing++)
    {
      fake_health_docker_failing = failing;
      char *body = NULL;
      const char *ct = NULL;
      int st = introspection_route (&base_cfg, &p, "/v1/health", NULL, 0, &body, &ct);
      assert_int_equal (st, failing ? 503 : 200);
      assert_string_equal (ct, "application/json");
      json_t *j = json_loads (body, 0, NULL);
      assert_non_null (j);
      assert_int_equal (json_is_true (json_object_get (j, "Healthy")), !failing);
      json_t *fl = json_object_get (j, "Failing");
      assert_int_equal (json_array_size (fl), failing ? 1 : 0);
      if (failing)
        assert_string_equal (json_string_value (json_array_get (fl, 0)), "docker");
      json_t *checks = json_object_get (j, "Checks");
      assert_int_equal (json_object_size (checks), HEALTH_N_PARTS);
      json_t *d = json_object_get (checks, "docker");
      assert_int_equal (json_is_true (json_object_get (d, "Healthy")), !failing);
      if (failing)
        assert_non_null (strstr (json_string_value (json_object_get (d, "Detail")), "connection refused"));
      json_decref (j);
      free (body);
    }
  p.health = NULL;
  char *body = NULL;
  const char *ct = NULL;
  assert_int_equal (introspection_route (&base_cfg, &p, "/v1/health", NULL, 0, &body, &ct), 503);
  assert_non_null (strstr (body, "no health source"));
  free (body);
}

static json_t *
route_json (const char *path, const char *const *args, size_t n, int *status)
{
  struct introspection_provider p = fake_provider (&the_fake);
  char *body = NULL;
  const char *ct = NULL;
  *status = introspection_route (&base_cfg, &p, path, args, n, &body, &ct);
  assert_non_null (body);
  assert_string_equal (ct, "application/json");
  json_error_t je;
  json_t *j = json_loads (body, 0, &je);
  if (!j)
    fail_msg ("not JSON: %s", body);
  free (body);
  return j;
}

static const char *
jget (json_t *o, const char *key)
{
  json_t *v = json_object_get (o, key);
  return v && json_is_string (v) ? json_string_value (v) : NULL;
}

static void
assert_available_commands (json_t *j)
{
  json_t *a = json_object_get (j, "AvailableCommands");
  assert_true (json_is_array (a));
  assert_int_equal (json_array_size (a), 5);
  const char *want[] = { "/v1/metadata", "/v1/tasks", "/license", "/v1/health", "/metrics" };
  for (size_t i = 0; i < 5; i++)
    {
      bool found = false;
      for (size_t k = 0; k < json_array_size (a); k++)
        if (strcmp (json_string_value (json_array_get (a, k)), want[i]) == 0)
          found = true;
      assert_true (found);
    }
}

static void
test_route_root_and_unknown (void **state)
{
  (void) state;
  const char *paths[] = { "/", "/nope", "/v1/tasks/", "/v1", "/v1/metadata/x", "/LICENSE", "" };
  for (size_t i = 0; i < ARRAY_SIZE (paths); i++)
    {
      int st;
      json_t *j = route_json (paths[i], NULL, 0, &st);
      assert_int_equal (st, 200);
      assert_available_commands (j);
      json_decref (j);
    }
}

static void
test_route_metadata (void **state)
{
  (void) state;
  int st;
  json_t *j = route_json ("/v1/metadata", NULL, 0, &st);
  assert_int_equal (st, 200);
  assert_string_equal (jget (j, "Cluster"), "prod");
  assert_string_equal (jget (j, "ContainerInstanceArn"), CI_ARN);
  assert_string_equal (jget (j, "Version"), "Amazon ECS Agent - v1.2.3 (*abc1234)");
  assert_int_equal (json_object_size (j), 3);
  json_decref (j);

  /* unregistered: ContainerInstanceArn is null; default version string */
  struct fake f = { fake_tasks, 0, NULL, 0 };
  struct introspection_provider p = fake_provider (&f);
  struct introspection_config cfg = { 0 };
  char *body;
  const char *ct;
  assert_int_equal (introspection_route (&cfg, &p, "/v1/metadata", NULL, 0, &body, &ct), 200);
  j = json_loads (body, 0, NULL);
  assert_non_null (j);
  assert_true (json_is_null (json_object_get (j, "ContainerInstanceArn")));
  assert_string_equal (jget (j, "Cluster"), "default");
  const char *v = jget (j, "Version");
  assert_non_null (v);
  assert_string_equal (v, introspection_version_string ());
  assert_int_equal (strncmp (v, "Amazon ECS Agent - v", 20), 0);
  assert_non_null (strstr (v, " ("));
  assert_int_equal (v[strlen (v) - 1], ')');
  json_decref (j);
  free (body);
}

static json_t *
find_task (json_t *tasks, const char *arn)
{
  for (size_t i = 0; i < json_array_size (tasks); i++)
    if (strcmp (jget (json_array_get (tasks, i), "Arn"), arn) == 0)
      return json_array_get (tasks, i);
  return NULL;
}

static void
test_route_tasks_all (void **state)
{
  (void) state;
  int st;
  json_t *j = route_json ("/v1/tasks", NULL, 0, &st);
  assert_int_equal (st, 200);
  json_t *tasks = json_object_get (j, "Tasks");
  assert_int_equal (json_array_size (tasks), 4);

  json_t *t1 = find_task (tasks, ARN1);
  assert_non_null (t1);
  assert_string_equal (jget (t1, "DesiredStatus"), "RUNNING");
  assert_string_equal (jget (t1, "KnownStatus"), "RUNNING");
  assert_string_equal (jget (t1, "Family"), "sleep");
  assert_string_equal (jget (t1, "Version"), "3");
  json_t *cs = json_object_get (t1, "Containers");
  /* internal helper and container without a docker record are not listed */
  assert_int_equal (json_array_size (cs), 1);
  json_t *c = json_array_get (cs, 0);
  assert_string_equal (jget (c, "DockerId"), ID1);
  assert_string_equal (jget (c, "DockerName"), "ecs-sleep-3-web-e4b1c2");
  assert_string_equal (jget (c, "Name"), "web");
  assert_string_equal (jget (c, "Image"), "busybox:latest");
  assert_string_equal (jget (c, "ImageID"), "sha256:abc");
  assert_string_equal (jget (c, "CreatedAt"), "2026-11-29T07:00:00Z");
  assert_string_equal (jget (c, "StartedAt"), "2026-11-29T07:00:01Z");
  json_t *ports = json_object_get (c, "Ports");
  assert_int_equal (json_array_size (ports), 2);
  json_t *p0 = json_array_get (ports, 0);
  assert_int_equal (json_integer_value (json_object_get (p0, "ContainerPort")), 80);
  assert_int_equal (json_integer_value (json_object_get (p0, "HostPort")), 32768);
  assert_string_equal (jget (p0, "Protocol"), "tcp");
  assert_string_equal (jget (p0, "HostIp"), "0.0.0.0");
  json_t *p1 = json_array_get (ports, 1);
  assert_string_equal (jget (p1, "Protocol"), "udp");
  assert_null (json_object_get (p1, "HostIp"));
  json_t *vols = json_object_get (c, "Volumes");
  assert_int_equal (json_array_size (vols), 1);
  assert_string_equal (jget (json_array_get (vols, 0), "Source"), "/var/data");
  assert_string_equal (jget (json_array_get (vols, 0), "Destination"), "/data");

  json_t *t2 = find_task (tasks, ARN2);
  assert_string_equal (jget (t2, "DesiredStatus"), "STOPPED");
  assert_string_equal (jget (t2, "KnownStatus"), "RUNNING");
  cs = json_object_get (t2, "Containers");
  assert_int_equal (json_array_size (cs), 2);
  /* a create in flight: DockerId "" */
  assert_string_equal (jget (json_array_get (cs, 1), "DockerId"), "");
  /* optional fields omitted, Image/ImageID empty strings */
  assert_null (json_object_get (json_array_get (cs, 0), "Ports"));
  assert_null (json_object_get (json_array_get (cs, 0), "CreatedAt"));
  assert_string_equal (jget (json_array_get (cs, 0), "Image"), "");

  json_t *t3 = find_task (tasks, ARN3);
  assert_null (json_object_get (t3, "DesiredStatus"));
  assert_string_equal (jget (t3, "KnownStatus"), "STOPPED");

  json_t *t4 = find_task (tasks, ARN4);
  assert_string_equal (jget (t4, "KnownStatus"), "PENDING");
  assert_string_equal (jget (t4, "DesiredStatus"), "RUNNING");
  assert_true (json_is_array (json_object_get (t4, "Containers")));
  assert_int_equal (json_array_size (json_object_get (t4, "Containers")), 0);
  json_decref (j);

  /* no tasks: an empty array, not null */
  struct fake f = { fake_tasks, 0, NULL, 0 };
  struct introspection_provider p = fake_provider (&f);
  char *body;
  const char *ct;
  assert_int_equal (introspection_route (&base_cfg, &p, "/v1/tasks", NULL, 0, &body, &ct), 200);
  assert_string_equal (body, "{\"Tasks\":[]}");
  free (body);
}

static void
test_route_status_rules (void **state)
{
  (void) state;
  /* every (desired, known) pair: ECS-style names and the omission rule */
  static const char *names[] = { "PENDING", "PENDING", "PENDING", "RUNNING", "STOPPED" };
  for (enum task_status d = TASK_STATUS_NONE; d <= TASK_STATUS_STOPPED; d++)
    for (enum task_status k = TASK_STATUS_NONE; k <= TASK_STATUS_STOPPED; k++)
      {
        struct introspection_task t = { .arn = "a", .family = "f", .version = "1",
                                        .desired_status = d, .known_status = k };
        struct fake f = { &t, 1, NULL, 0 };
        struct introspection_provider p = fake_provider (&f);
        const char *args[] = { "taskarn=a" };
        char *body;
        const char *ct;
        assert_int_equal (introspection_route (&base_cfg, &p, "/v1/tasks", args, 1, &body, &ct),
                          200);
        json_t *j = json_loads (body, 0, NULL);
        assert_string_equal (jget (j, "KnownStatus"), names[k]);
        bool omit = (strcmp (names[k], "STOPPED") == 0 && strcmp (names[d], "STOPPED") != 0)
                    || (strcmp (names[k], "RUNNING") == 0 && strcmp (names[d], "PENDING") == 0);
        if (omit)
          assert_null (json_object_get (j, "DesiredStatus"));
        else
          assert_string_equal (jget (j, "DesiredStatus"), names[d]);
        json_decref (j);
        free (body);
      }
}

static void
assert_empty_task_response (json_t *j)
{
  assert_string_equal (jget (j, "Arn"), "");
  assert_string_equal (jget (j, "KnownStatus"), "");
  assert_string_equal (jget (j, "Family"), "");
  assert_string_equal (jget (j, "Version"), "");
  assert_true (json_is_null (json_object_get (j, "Containers")));
  assert_null (json_object_get (j, "DesiredStatus"));
}

static void
test_route_task_lookups (void **state)
{
  (void) state;
  int st;
  struct
  {
    const char *arg;
    int status;
    const char *arn; /* NULL: error body */
  } cases[] = {
    { "taskarn=" ARN1, 200, ARN1 },
    { "taskarn=" ARN3, 200, ARN3 },
    { "taskarn=arn:aws:ecs:us-west-2:123456789012:task/none", 404, NULL },
    { "taskarn=", 404, NULL },
    { "taskarn", 404, NULL },
    { "dockerid=" ID1, 200, ARN1 },
    { "dockerid=" ID3, 200, ARN3 },
    { "dockerid=111111111111", 200, ARN1 },           /* 12-char short id */
    { "dockerid=1111", 200, ARN1 },                   /* shorter prefix */
    { "dockerid=abcdef123456", 400, NULL },           /* two tasks */
    { "dockerid=abcdef1234560", 404, NULL },          /* 13 chars: exact match only */
    { "dockerid=" ID_INTERNAL, 200, ARN1 },           /* internal containers still map */
    { "dockerid=ffffffffffff", 404, NULL },
    { "dockerid=" ID1 "0", 404, NULL },
    { "dockerid=", 400, NULL }, /* empty prefix matches every task */
  };
  for (size_t i = 0; i < ARRAY_SIZE (cases); i++)
    {
      const char *args[] = { "unrelated=1", cases[i].arg };
      json_t *j = route_json ("/v1/tasks", args, 2, &st);
      if (st != cases[i].status)
        fail_msg ("%s: status %d, want %d", cases[i].arg, st, cases[i].status);
      if (cases[i].arn)
        assert_string_equal (jget (j, "Arn"), cases[i].arn);
      else
        assert_empty_task_response (j);
      json_decref (j);
    }

  /* both parameters: 400, even when each alone would match */
  const char *both[] = { "taskarn=" ARN1, "dockerid=" ID1 };
  json_t *j = route_json ("/v1/tasks", both, 2, &st);
  assert_int_equal (st, 400);
  assert_empty_task_response (j);
  json_decref (j);

  /* repeated parameter: the first one counts */
  const char *rep[] = { "taskarn=" ARN2, "taskarn=" ARN1 };
  j = route_json ("/v1/tasks", rep, 2, &st);
  assert_int_equal (st, 200);
  assert_string_equal (jget (j, "Arn"), ARN2);
  json_decref (j);
}

/* A filter after the argument limit is never ignored (that answered every
   task): more arguments than the limit is a 400; exactly the limit is fine. */
static void
test_route_too_many_args (void **state)
{
  (void) state;
  int st;
  const char *args[INTROSPECTION_MAX_QUERY_ARGS + 1];
  for (size_t i = 0; i < ARRAY_SIZE (args); i++)
    args[i] = "junk=1";
  args[INTROSPECTION_MAX_QUERY_ARGS - 1] = "taskarn=" ARN3;
  json_t *j = route_json ("/v1/tasks", args, INTROSPECTION_MAX_QUERY_ARGS, &st);
  assert_int_equal (st, 200);
  assert_string_equal (jget (j, "Arn"), ARN3);
  json_decref (j);

  args[INTROSPECTION_MAX_QUERY_ARGS - 1] = "junk=1";
  args[INTROSPECTION_MAX_QUERY_ARGS] = "taskarn=" ARN3;
  j = route_json ("/v1/tasks", args, ARRAY_SIZE (args), &st);
  assert_int_equal (st, 400);
  assert_empty_task_response (j);
  json_decref (j);
}

static void
test_route_license (void **state)
{
  (void) state;
  struct introspection_provider p = fake_provider (&the_fake);
  char *body;
  const char *ct;
  assert_int_equal (introspection_route (&base_cfg, &p, "/license", NULL, 0, &body, &ct), 200);
  assert_string_equal (body, "LICENSE TEXT\n");
  assert_string_equal (ct, "text/plain; charset=utf-8");
  free (body);
  struct introspection_config cfg = { 0 };
  assert_int_equal (introspection_route (&cfg, &p, "/license", NULL, 0, &body, &ct), 200);
  assert_non_null (strstr (body, "Apache License, Version 2.0"));
  free (body);
}

static void
test_route_bad_utf8_and_nulls (void **state)
{
  (void) state;
  /* invalid UTF-8 from the provider never drops a response */
  struct introspection_container c = { .name = "bad\xff", .has_docker_record = true,
                                       .docker_id = NULL, .docker_name = NULL };
  struct introspection_task t = { .arn = "arn\xc3", .family = NULL, .version = NULL,
                                  .containers = &c, .n_containers = 1 };
  struct fake f = { &t, 1, NULL, 0 };
  struct introspection_provider p = fake_provider (&f);
  char *body;
  const char *ct;
  assert_int_equal (introspection_route (&base_cfg, &p, "/v1/tasks", NULL, 0, &body, &ct), 200);
  json_t *j = json_loads (body, 0, NULL);
  assert_non_null (j);
  json_decref (j);
  free (body);
  /* NULL path and NULL args are tolerated */
  assert_int_equal (introspection_route (NULL, NULL, NULL, NULL, 0, &body, &ct), 200);
  free (body);
  const char *args[] = { NULL, "taskarn=x" };
  assert_int_equal (introspection_route (NULL, NULL, "/v1/tasks", args, 2, &body, &ct), 404);
  free (body);
}

/* ------------------------------------------------------------------ */
/* Server harness                                                      */
/* ------------------------------------------------------------------ */

struct harness
{
  uv_loop_t loop;
  uv_timer_t tick;
  http_client_t *http;
  introspection_server_t *srv;
  struct fake fake;
  bool stopped;
};

static void
tick_cb (uv_timer_t *t)
{
  (void) t;
}

static void
harness_init (struct harness *h)
{
  memset (h, 0, sizeof *h);
  assert_int_equal (uv_loop_init (&h->loop), 0);
  /* Keeps UV_RUN_ONCE from blocking forever while we poll conditions. */
  uv_timer_init (&h->loop, &h->tick);
  uv_timer_start (&h->tick, tick_cb, 20, 20);
  h->http = http_client_new (&h->loop);
  h->fake = the_fake;
}

static introspection_server_t *
harness_start (struct harness *h, const struct introspection_config *cfg)
{
  struct introspection_provider p = fake_provider (&h->fake);
  agent_error_t err = NULL;
  introspection_server_t *s = NULL;
  if (introspection_start (&h->loop, cfg, &p, &s, &err) < 0)
    fail_msg ("introspection_start: %s", error_msg (&err));
  return s;
}

static void
stopped_cb (void *arg)
{
  *(bool *) arg = true;
}

typedef bool (*pred_fn) (void *arg);

static bool
run_until (struct harness *h, pred_fn pred, void *arg, uint64_t timeout_ms)
{
  uint64_t t0 = util_now_ms ();
  while (!pred (arg))
    {
      if (util_now_ms () - t0 > timeout_ms)
        return false;
      uv_run (&h->loop, UV_RUN_ONCE);
    }
  return true;
}

static bool
flag_set (void *arg)
{
  return *(bool *) arg;
}

static void
close_walk_cb (uv_handle_t *hd, void *arg)
{
  (void) arg;
  if (!uv_is_closing (hd))
    fail_msg ("handle type %d left open on the loop", (int) hd->type);
}

static void
harness_finish (struct harness *h)
{
  if (h->srv)
    introspection_stop (h->srv, stopped_cb, &h->stopped);
  else
    h->stopped = true;
  h->srv = NULL;
  http_client_free (h->http);
  uv_timer_stop (&h->tick);
  uv_close ((uv_handle_t *) &h->tick, NULL);
  uv_run (&h->loop, UV_RUN_DEFAULT);
  assert_true (h->stopped);
  uv_walk (&h->loop, close_walk_cb, NULL);
  assert_int_equal (uv_loop_close (&h->loop), 0);
}

struct fetch
{
  bool done;
  long status;
  char *body;
  int err_kind;
  char *ctype;
};

static void
fetch_done (const struct http_response *resp, agent_error_t err, void *data)
{
  struct fetch *f = data;
  f->done = true;
  if (err)
    f->err_kind = err->kind;
  if (resp)
    {
      f->status = resp->status;
      f->body = xstrdup (resp->body);
      f->ctype = xstrdup (resp->content_type);
    }
}

static void
fetch_free (struct fetch *f)
{
  free (f->body);
  free (f->ctype);
  memset (f, 0, sizeof *f);
}

static void
fetch_ex (struct harness *h, int port, const char *method, const char *pathq,
          const struct http_header *hdrs, size_t n_hdrs, const char *body, struct fetch *f)
{
  memset (f, 0, sizeof *f);
  cleanup_free char *url = xasprintf ("http://127.0.0.1:%d%s", port, pathq);
  struct http_request req = { .method = method, .url = url, .headers = hdrs,
                              .n_headers = n_hdrs, .body = body, .body_len = body ? strlen (body) : 0,
                              .timeout_ms = 10000, .on_done = fetch_done, .data = f };
  agent_error_t err = NULL;
  if (!http_call_start (h->http, &req, &err))
    fail_msg ("http_call_start: %s", error_msg (&err));
  assert_true (run_until (h, flag_set, &f->done, 15000));
}

static void
fetch (struct harness *h, int port, const char *pathq, struct fetch *f)
{
  fetch_ex (h, port, NULL, pathq, NULL, 0, NULL, f);
}

static struct introspection_config
local_cfg (void)
{
  struct introspection_config c = base_cfg;
  c.listen_addr = "127.0.0.1";
  c.port = 0;
  c.no_retry = true;
  return c;
}

/* ------------------------------------------------------------------ */
/* Server tests                                                        */
/* ------------------------------------------------------------------ */

static void
test_server_routes (void **state)
{
  (void) state;
  struct harness h;
  harness_init (&h);
  struct introspection_config cfg = local_cfg ();
  h.srv = harness_start (&h, &cfg);
  int port = introspection_port (h.srv);
  assert_true (port > 0);
  struct fetch f;

  fetch (&h, port, "/", &f);
  assert_int_equal (f.err_kind, 0);
  assert_int_equal (f.status, 200);
  assert_string_equal (f.ctype, "application/json");
  json_t *j = json_loads (f.body, 0, NULL);
  assert_available_commands (j);
  json_decref (j);
  fetch_free (&f);

  fetch (&h, port, "/v1/metadata", &f);
  assert_int_equal (f.status, 200);
  j = json_loads (f.body, 0, NULL);
  assert_string_equal (jget (j, "ContainerInstanceArn"), CI_ARN);
  assert_string_equal (jget (j, "Cluster"), "prod");
  json_decref (j);
  fetch_free (&f);

  fetch (&h, port, "/v1/tasks", &f);
  assert_int_equal (f.status, 200);
  j = json_loads (f.body, 0, NULL);
  assert_int_equal (json_array_size (json_object_get (j, "Tasks")), 4);
  json_decref (j);
  fetch_free (&f);

  /* url-encoded ARN in the query */
  fetch (&h, port,
         "/v1/tasks?taskarn=arn%3Aaws%3Aecs%3Aus-west-2%3A123456789012%3Atask%2F"
         "11111111-2222-3333-4444-555555555555",
         &f);
  assert_int_equal (f.status, 200);
  j = json_loads (f.body, 0, NULL);
  assert_string_equal (jget (j, "Arn"), ARN1);
  json_decref (j);
  fetch_free (&f);

  fetch (&h, port, "/v1/tasks?taskarn=" ARN2, &f);
  assert_int_equal (f.status, 200);
  fetch_free (&f);

  fetch (&h, port, "/v1/tasks?taskarn=nope", &f);
  assert_int_equal (f.status, 404);
  j = json_loads (f.body, 0, NULL);
  assert_empty_task_response (j);
  json_decref (j);
  fetch_free (&f);

  fetch (&h, port, "/v1/tasks?dockerid=111111111111", &f);
  assert_int_equal (f.status, 200);
  fetch_free (&f);
  fetch (&h, port, "/v1/tasks?dockerid=" ID3, &f);
  assert_int_equal (f.status, 200);
  fetch_free (&f);
  fetch (&h, port, "/v1/tasks?dockerid=abcdef123456", &f);
  assert_int_equal (f.status, 400);
  fetch_free (&f);
  fetch (&h, port, "/v1/tasks?dockerid=ffffffffffff", &f);
  assert_int_equal (f.status, 404);
  fetch_free (&f);
  fetch (&h, port, "/v1/tasks?taskarn=" ARN1 "&dockerid=" ID1, &f);
  assert_int_equal (f.status, 400);
  fetch_free (&f);

  /* taskarn= after 40 junk arguments (and an empty one): refused, never
     answered with every task */
  struct sbuf q = { 0 };
  sbuf_puts (&q, "/v1/tasks?&");
  for (int i = 0; i < 40; i++)
    sbuf_printf (&q, "junk%d=%d&", i, i);
  sbuf_puts (&q, "taskarn=" ARN3);
  fetch (&h, port, q.s, &f);
  assert_int_equal (f.status, 400);
  j = json_loads (f.body, 0, NULL);
  assert_empty_task_response (j);
  json_decref (j);
  fetch_free (&f);
  sbuf_free (&q);
  /* an empty argument does not hide the ones after it */
  fetch (&h, port, "/v1/tasks?a=1&&taskarn=" ARN3, &f);
  assert_int_equal (f.status, 200);
  assert_non_null (strstr (f.body, ARN3));
  assert_null (strstr (f.body, ARN1));
  fetch_free (&f);

  fetch (&h, port, "/license", &f);
  assert_int_equal (f.status, 200);
  assert_string_equal (f.body, "LICENSE TEXT\n");
  fetch_free (&f);

  fetch (&h, port, "/v1/tasks/", &f);
  assert_int_equal (f.status, 200);
  assert_non_null (strstr (f.body, "AvailableCommands"));
  fetch_free (&f);

  /* HEAD: status and headers, no body */
  fetch_ex (&h, port, "HEAD", "/v1/tasks?taskarn=nope", NULL, 0, NULL, &f);
  assert_int_equal (f.err_kind, 0);
  assert_int_equal (f.status, 404);
  assert_true (f.body == NULL || f.body[0] == 0);
  fetch_free (&f);
  fetch_ex (&h, port, "HEAD", "/v1/metadata", NULL, 0, NULL, &f);
  assert_int_equal (f.status, 200);
  fetch_free (&f);

  /* POST with a body: body dropped, same answer */
  fetch_ex (&h, port, "POST", "/v1/metadata", NULL, 0, "ignored=1&x=2", &f);
  assert_int_equal (f.err_kind, 0);
  assert_int_equal (f.status, 200);
  assert_non_null (strstr (f.body, CI_ARN));
  fetch_free (&f);
  fetch_ex (&h, port, "DELETE", "/v1/tasks?taskarn=" ARN3, NULL, 0, NULL, &f);
  assert_int_equal (f.status, 200);
  assert_non_null (strstr (f.body, ARN3));
  fetch_free (&f);

  /* after all this, the keep-alive connection still answers */
  fetch (&h, port, "/v1/metadata", &f);
  assert_int_equal (f.status, 200);
  fetch_free (&f);
  assert_true (introspection_requests (h.srv) >= 18);
  harness_finish (&h);
}

static void
test_server_upgrade_ignored (void **state)
{
  (void) state;
  struct harness h;
  harness_init (&h);
  struct introspection_config cfg = local_cfg ();
  h.srv = harness_start (&h, &cfg);
  int port = introspection_port (h.srv);
  struct http_header hdrs[] = {
    { "Upgrade", "websocket" },
    { "Connection", "Upgrade" },
    { "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==" },
    { "Sec-WebSocket-Version", "13" },
  };
  struct fetch f;
  /* answered as plain HTTP/1.1, never switched */
  fetch_ex (&h, port, NULL, "/", hdrs, ARRAY_SIZE (hdrs), NULL, &f);
  assert_int_equal (f.status, 200);
  assert_non_null (strstr (f.body, "AvailableCommands"));
  fetch_free (&f);
  struct http_header h2c[] = {
    { "Upgrade", "h2c" },
    { "Connection", "Upgrade, HTTP2-Settings" },
    { "HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA" },
  };
  fetch_ex (&h, port, NULL, "/v1/tasks?taskarn=" ARN1, h2c, ARRAY_SIZE (h2c), NULL, &f);
  assert_int_equal (f.status, 200);
  assert_non_null (strstr (f.body, ARN1));
  fetch_free (&f);
  fetch_ex (&h, port, "HEAD", "/v1/tasks?taskarn=nope", h2c, ARRAY_SIZE (h2c), NULL, &f);
  assert_int_equal (f.status, 404);
  fetch_free (&f);
  fetch (&h, port, "/v1/metadata", &f);
  assert_int_equal (f.status, 200);
  fetch_free (&f);
  harness_finish (&h);
}

/* A big engine: the body is written in chunks. */
static void
test_server_large_response (void **state)
{
  (void) state;
  struct harness h;
  harness_init (&h);
  size_t n = 3000;
  struct introspection_task *tasks = xcalloc (n, sizeof *tasks);
  char **arns = xcalloc (n, sizeof *arns);
  for (size_t i = 0; i < n; i++)
    {
      arns[i] = xasprintf ("arn:aws:ecs:us-west-2:123456789012:task/%08zu", i);
      tasks[i] = fake_tasks[0];
      tasks[i].arn = arns[i];
    }
  h.fake.tasks = tasks;
  h.fake.n = n;
  struct introspection_config cfg = local_cfg ();
  h.srv = harness_start (&h, &cfg);
  struct fetch f;
  fetch (&h, introspection_port (h.srv), "/v1/tasks", &f);
  assert_int_equal (f.status, 200);
  assert_true (strlen (f.body) > 500000);
  json_t *j = json_loads (f.body, 0, NULL);
  assert_non_null (j);
  assert_int_equal (json_array_size (json_object_get (j, "Tasks")), n);
  json_decref (j);
  fetch_free (&f);
  harness_finish (&h);
  for (size_t i = 0; i < n; i++)
    free (arns[i]);
  free (arns);
  free (tasks);
}

/* --- raw clients --- */

struct raw
{
  uv_tcp_t tcp;
  uv_connect_t creq;
  uv_write_t wreq;
  bool connected, failed, eof, closed, got_data;
  size_t got; /* bytes received */
  uint64_t eof_at;
  char buf[256];
  int *n_eof;
};

static void
raw_alloc (uv_handle_t *hd, size_t sz, uv_buf_t *b)
{
  (void) sz;
  struct raw *r = hd->data;
  *b = uv_buf_init (r->buf, sizeof r->buf);
}

static void
raw_closed (uv_handle_t *hd)
{
  struct raw *r = hd->data;
  r->closed = true;
}

static void
raw_read (uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
  (void) b;
  struct raw *r = s->data;
  if (n > 0)
    {
      r->got_data = true;
      r->got += (size_t) n;
    }
  if (n < 0)
    {
      if (!r->eof && r->n_eof)
        (*r->n_eof)++;
      r->eof = true;
      r->eof_at = util_now_ms ();
      uv_read_stop (s);
    }
}

static void
raw_connected (uv_connect_t *req, int status)
{
  struct raw *r = req->data;
  if (status < 0)
    {
      r->failed = true;
      return;
    }
  r->connected = true;
  uv_read_start ((uv_stream_t *) &r->tcp, raw_alloc, raw_read);
}

static void
raw_connect (uv_loop_t *loop, struct raw *r, int port, int *n_eof)
{
  memset (r, 0, sizeof *r);
  r->n_eof = n_eof;
  uv_tcp_init (loop, &r->tcp);
  r->tcp.data = r;
  r->creq.data = r;
  struct sockaddr_in sa;
  uv_ip4_addr ("127.0.0.1", port, &sa);
  assert_int_equal (uv_tcp_connect (&r->creq, &r->tcp, (struct sockaddr *) &sa, raw_connected), 0);
}

static void
raw_send (struct raw *r, const char *data, size_t len)
{
  uv_buf_t b = uv_buf_init ((char *) data, len);
  /* small writes: uv_try_write suffices on loopback */
  int n = uv_try_write ((uv_stream_t *) &r->tcp, &b, 1);
  (void) n;
}

static void
raw_close (struct raw *r)
{
  if (!uv_is_closing ((uv_handle_t *) &r->tcp))
    uv_close ((uv_handle_t *) &r->tcp, raw_closed);
}

struct count_arg
{
  struct raw *raws;
  size_t n;
  size_t want;
};

static bool
all_connected (void *arg)
{
  struct count_arg *c = arg;
  size_t k = 0;
  for (size_t i = 0; i < c->n; i++)
    k += c->raws[i].connected || c->raws[i].failed;
  return k >= c->n;
}

struct eof_arg
{
  int *n_eof;
  int want;
};

static bool
enough_eof (void *arg)
{
  struct eof_arg *e = arg;
  return *e->n_eof >= e->want;
}

static void
raise_nofile (size_t need)
{
  struct rlimit rl;
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need)
    {
      rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
      setrlimit (RLIMIT_NOFILE, &rl);
    }
}

static size_t
nofile_limit (void)
{
  struct rlimit rl;
  getrlimit (RLIMIT_NOFILE, &rl);
  return rl.rlim_cur;
}

static unsigned long loop_turns;

static void
count_turn_cb (uv_check_t *c)
{
  (void) c;
  loop_turns++;
}

static bool
time_passed (void *arg)
{
  return util_now_ms () >= *(uint64_t *) arg;
}

static bool
all_answered (void *arg)
{
  struct count_arg *c = arg;
  for (size_t i = 0; i < c->n; i++)
    if (!c->raws[i].got_data)
      return false;
  return true;
}

static size_t
count_substr (const char *text, const char *needle)
{
  size_t n = 0;
  for (const char *p = text; (p = strstr (p, needle)); p += strlen (needle))
    n++;
  return n;
}

/* The descriptors the test below uses up, given back by its teardown too,
   so that a failed assertion does not starve the tests after it. */
static struct
{
  int *fd;
  size_t n;
  struct rlimit saved;
  bool lowered;
} filler;

static void
filler_release (void)
{
  while (filler.n > 0)
    close (filler.fd[--filler.n]);
  free (filler.fd);
  filler.fd = NULL;
  if (filler.lowered)
    setrlimit (RLIMIT_NOFILE, &filler.saved);
  filler.lowered = false;
}

static int
filler_teardown (void **state)
{
  (void) state;
  filler_release ();
  log_init (LOG_WARN, NULL, NULL); /* the test logged to a file */
  return 0;
}

/* Out of descriptors while clients wait: accept() fails with EMFILE.  The
   listening socket is no longer polled and accepting is retried with
   back-off (the loop does not spin: lws' own listener turned the loop
   ~78,000 times a second, logging each failure), the condition is logged
   once and its end once, and the waiting clients are answered once
   descriptors are back. */
static void
test_server_out_of_descriptors (void **state)
{
  (void) state;
  enum { N_CLIENTS = 4 };
  char dir[] = "/tmp/ecs-intro-fd-XXXXXX";
  assert_non_null (mkdtemp (dir));
  cleanup_free char *logfile = xasprintf ("%s/agent.log", dir);
  agent_error_t err = NULL;
  assert_int_equal (log_init (LOG_WARN, logfile, &err), 0);

  struct harness h;
  harness_init (&h);
  struct introspection_config cfg = local_cfg ();
  h.srv = harness_start (&h, &cfg);
  int port = introspection_port (h.srv);
  uv_check_t check;
  uv_check_init (&h.loop, &check);
  uv_check_start (&check, count_turn_cb);

  /* Use up every descriptor under a small limit but N_CLIENTS, which the
     clients take. */
  struct rlimit low;
  getrlimit (RLIMIT_NOFILE, &filler.saved);
  low = filler.saved;
  if (low.rlim_cur > 512)
    low.rlim_cur = 512;
  assert_int_equal (setrlimit (RLIMIT_NOFILE, &low), 0);
  filler.lowered = true;
  filler.fd = xcalloc (low.rlim_cur, sizeof *filler.fd);
  int fd;
  while ((fd = dup (0)) >= 0)
    filler.fd[filler.n++] = fd;
  assert_int_equal (errno, EMFILE);
  assert_true (filler.n >= N_CLIENTS);
  /* (libuv keeps one descriptor in reserve once a stream exists) */
  for (int i = 0; i < N_CLIENTS + 1; i++)
    close (filler.fd[--filler.n]);
  struct raw raws[N_CLIENTS];
  int n_eof = 0;
  for (int i = 0; i < N_CLIENTS; i++)
    raw_connect (&h.loop, &raws[i], port, &n_eof);
  while ((fd = dup (0)) >= 0)
    filler.fd[filler.n++] = fd;
  struct count_arg ca = { raws, N_CLIENTS, N_CLIENTS };
  assert_true (run_until (&h, all_connected, &ca, 5000));
  static const char req[] = "GET /v1/metadata HTTP/1.1\r\nHost: x\r\n\r\n";
  for (int i = 0; i < N_CLIENTS; i++)
    {
      assert_true (raws[i].connected);
      raw_send (&raws[i], req, sizeof req - 1);
    }

  /* One second without descriptors: a few accept attempts, not a spin. */
  loop_turns = 0;
  uint64_t until = util_now_ms () + 1000;
  run_until (&h, time_passed, &until, 2000);
  unsigned long failures = introspection_accept_failures (h.srv);
  print_message ("out of descriptors for 1 s: %lu loop turns, %lu failed accepts\n", loop_turns,
                 failures);
  assert_true (failures >= 1);
  assert_true (failures <= 12);
  assert_true (loop_turns < 200); /* the 20 ms tick alone makes ~50 */
  for (int i = 0; i < N_CLIENTS; i++)
    assert_false (raws[i].got_data);

  /* Descriptors back: every waiting client is answered. */
  filler_release ();
  assert_true (run_until (&h, all_answered, &ca, 10000));
  for (int i = 0; i < N_CLIENTS; i++)
    raw_close (&raws[i]);
  uv_close ((uv_handle_t *) &check, NULL);
  harness_finish (&h);

  log_close ();
  cleanup_free char *cmd = xasprintf ("cat %s/agent.log.* > %s/all.log", dir, dir);
  assert_int_equal (system (cmd), 0);
  cleanup_free char *all = xasprintf ("%s/all.log", dir);
  cleanup_free char *text = NULL;
  assert_int_equal (util_read_file (all, &text, NULL, &err), 0);
  assert_int_equal (count_substr (text, "cannot accept introspection connections"), 1);
  assert_int_equal (count_substr (text, "accepting introspection connections again"), 1);
  assert_int_equal (count_substr (text, "errno 24"), 0);
  cleanup_free char *rm = xasprintf ("rm -rf '%s'", dir);
  assert_int_equal (system (rm), 0);
  log_init (LOG_WARN, NULL, NULL);
}

/* 1000 clients connect and say nothing; a real request still gets a prompt
   answer and the server never holds more than the limit. */
static void
test_server_idle_flood (void **state)
{
  (void) state;
  size_t n = 1000;
  raise_nofile (2 * n + 256);
  if (nofile_limit () < 2 * n + 128)
    n = (nofile_limit () - 128) / 2;
  struct harness h;
  harness_init (&h);
  struct introspection_config cfg = local_cfg ();
  cfg.max_connections = 200;
  h.srv = harness_start (&h, &cfg);
  int port = introspection_port (h.srv);
  struct raw *raws = xcalloc (n, sizeof *raws);
  int n_eof = 0;
  for (size_t i = 0; i < n; i++)
    raw_connect (&h.loop, &raws[i], port, &n_eof);
  struct count_arg ca = { raws, n, n };
  assert_true (run_until (&h, all_connected, &ca, 20000));
  /* let the server accept what it will */
  struct eof_arg ea = { &n_eof, (int) (n - cfg.max_connections) };
  assert_true (run_until (&h, enough_eof, &ea, 20000));
  assert_true (introspection_connections (h.srv) <= cfg.max_connections + 1);

  uint64_t t0 = util_now_ms ();
  struct fetch f;
  fetch (&h, port, "/v1/metadata", &f);
  uint64_t dt = util_now_ms () - t0;
  assert_int_equal (f.err_kind, 0);
  assert_int_equal (f.status, 200);
  fetch_free (&f);
  print_message ("idle flood: %zu clients, %d closed by the server, request answered in %llu ms\n",
                 n, n_eof, (unsigned long long) dt);
  assert_true (dt < 1000);
  assert_true (introspection_connections (h.srv) <= cfg.max_connections + 1);
  for (size_t i = 0; i < n; i++)
    assert_false (raws[i].got_data);
  for (size_t i = 0; i < n; i++)
    raw_close (&raws[i]);
  harness_finish (&h);
  free (raws);
}

/* A client that sends nothing, or dribbles a header, is cut off after the
   read timeout; a connection that never ends its head never gets an answer. */
static void
test_server_read_timeout (void **state)
{
  (void) state;
  struct harness h;
  harness_init (&h);
  struct introspection_config cfg = local_cfg ();
  cfg.read_timeout_s = 1;
  h.srv = harness_start (&h, &cfg);
  int port = introspection_port (h.srv);
  int n_eof = 0;
  struct raw silent, slow, body;
  raw_connect (&h.loop, &silent, port, &n_eof);
  raw_connect (&h.loop, &slow, port, &n_eof);
  raw_connect (&h.loop, &body, port, &n_eof);
  struct raw arr[3];
  (void) arr;
  uint64_t t0 = util_now_ms ();
  while (!(silent.connected && slow.connected && body.connected))
    uv_run (&h.loop, UV_RUN_ONCE);
  raw_send (&slow, "GET /v1/metadata HTTP/1.1\r\n", 27);
  static const char post[] = "POST /v1/metadata HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc";
  raw_send (&body, post, sizeof post - 1);
  /* one header byte every 100 ms: never completes within the timeout */
  static const char drip[] = "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
  size_t di = 0;
  while (util_now_ms () - t0 < 6000 && !(silent.eof && slow.eof && body.eof))
    {
      uv_run (&h.loop, UV_RUN_ONCE);
      if (!slow.eof && di < sizeof drip - 1 && util_now_ms () - t0 > 100 * (di + 1))
        raw_send (&slow, &drip[di++], 1);
    }
  assert_true (silent.eof);
  assert_true (slow.eof);
  assert_true (body.eof);
  print_message ("timeouts: silent %llu ms, slow header %llu ms, slow body %llu ms\n",
                 (unsigned long long) (silent.eof_at - t0), (unsigned long long) (slow.eof_at - t0),
                 (unsigned long long) (body.eof_at - t0));
  assert_true (silent.eof_at - t0 < 4000);
  assert_true (slow.eof_at - t0 < 4000);
  assert_true (body.eof_at - t0 < 4000);
  assert_false (slow.got_data);
  assert_false (body.got_data);
  raw_close (&silent);
  raw_close (&slow);
  raw_close (&body);
  /* the server is still fine */
  struct fetch f;
  fetch (&h, port, "/v1/metadata", &f);
  assert_int_equal (f.status, 200);
  fetch_free (&f);
  harness_finish (&h);
}

static void
test_server_huge_header_rejected (void **state)
{
  (void) state;
  struct harness h;
  harness_init (&h);
  struct introspection_config cfg = local_cfg ();
  h.srv = harness_start (&h, &cfg);
  int port = introspection_port (h.srv);
  char *big = xmalloc (65536 + 1);
  memset (big, 'a', 65536);
  big[65536] = 0;
  struct http_header hdr = { "X-Big", big };
  struct fetch f;
  fetch_ex (&h, port, NULL, "/v1/metadata", &hdr, 1, NULL, &f);
  /* closed without an answer (curl: empty reply / recv error) or an error status */
  assert_true (f.err_kind != 0 || f.status >= 400);
  assert_true (f.status != 200);
  fetch_free (&f);
  /* just under the limit is fine */
  big[6000] = 0;
  fetch_ex (&h, port, NULL, "/v1/metadata", &hdr, 1, NULL, &f);
  assert_int_equal (f.status, 200);
  fetch_free (&f);
  /* 16 KiB headers in many small lines are rejected too */
  struct http_header many[64];
  char names[64][16];
  big[250] = 0;
  for (int i = 0; i < 64; i++)
    {
      snprintf (names[i], sizeof names[i], "X-H%d", i);
      many[i].name = names[i];
      many[i].value = big;
    }
  fetch_ex (&h, port, NULL, "/v1/metadata", many, 64, NULL, &f);
  assert_true (f.status != 200);
  fetch_free (&f);
  free (big);
  fetch (&h, port, "/v1/metadata", &f);
  assert_int_equal (f.status, 200);
  fetch_free (&f);
  harness_finish (&h);
}

static void
test_server_bad_config (void **state)
{
  (void) state;
  uv_loop_t loop;
  uv_loop_init (&loop);
  struct introspection_provider p = fake_provider (&the_fake);
  introspection_server_t *s = (void *) 1;
  agent_error_t err = NULL;
  struct introspection_config cfg = local_cfg ();
  cfg.listen_addr = "localhost";
  assert_true (introspection_start (&loop, &cfg, &p, &s, &err) < 0);
  assert_int_equal (error_kind (&err), ERR_INVALID);
  assert_null (s);
  error_free (&err);
  cfg.listen_addr = "127.0.0.1";
  cfg.port = 70000;
  assert_true (introspection_start (&loop, &cfg, &p, &s, &err) < 0);
  assert_int_equal (error_kind (&err), ERR_INVALID);
  error_free (&err);
  cfg.port = 0;
  struct introspection_provider none = { 0 };
  assert_true (introspection_start (&loop, &cfg, &none, &s, &err) < 0);
  assert_int_equal (error_kind (&err), ERR_INVALID);
  error_free (&err);
  introspection_stop (NULL, NULL, NULL);
  assert_int_equal (introspection_port (NULL), 0);
  assert_int_equal (uv_run (&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal (uv_loop_close (&loop), 0);
}

struct port_arg
{
  introspection_server_t *s;
  int port;
};

static bool
listening_on (void *arg)
{
  struct port_arg *pa = arg;
  return introspection_port (pa->s) == pa->port;
}

/* Two servers (two lws contexts) on one loop; a busy address fails fast with
   no_retry, and is retried (then taken over) without it. */
static void
test_server_busy_address (void **state)
{
  (void) state;
  struct harness h;
  harness_init (&h);
  struct introspection_config cfg = local_cfg ();
  h.srv = harness_start (&h, &cfg);
  int port = introspection_port (h.srv);

  struct introspection_provider p = fake_provider (&h.fake);
  agent_error_t err = NULL;
  introspection_server_t *b = NULL;
  struct introspection_config cb = local_cfg ();
  cb.port = port;
  assert_true (introspection_start (&h.loop, &cb, &p, &b, &err) < 0);
  assert_int_equal (error_kind (&err), ERR_CONFLICT);
  assert_null (b);
  error_free (&err);

  cb.no_retry = false;
  assert_int_equal (introspection_start (&h.loop, &cb, &p, &b, &err), 0);
  assert_non_null (b);
  assert_int_equal (introspection_port (b), 0);

  /* a second server with its own port works alongside */
  struct introspection_config cc = local_cfg ();
  introspection_server_t *c = NULL;
  assert_int_equal (introspection_start (&h.loop, &cc, &p, &c, &err), 0);
  struct fetch f;
  fetch (&h, introspection_port (c), "/v1/metadata", &f);
  assert_int_equal (f.status, 200);
  fetch_free (&f);
  fetch (&h, port, "/v1/metadata", &f);
  assert_int_equal (f.status, 200);
  fetch_free (&f);

  /* the first server goes away: b takes the port after its back-off */
  bool a_stopped = false;
  introspection_stop (h.srv, stopped_cb, &a_stopped);
  h.srv = b;
  assert_true (run_until (&h, flag_set, &a_stopped, 5000));
  struct port_arg pa = { b, port };
  assert_true (run_until (&h, listening_on, &pa, 5000));
  fetch (&h, port, "/v1/tasks?taskarn=" ARN1, &f);
  assert_int_equal (f.status, 200);
  fetch_free (&f);

  bool c_stopped = false;
  introspection_stop (c, stopped_cb, &c_stopped);
  harness_finish (&h);
  assert_true (c_stopped);
}

/* A malformed request once made lws repeat BODY_COMPLETION and the server
   answered it forever (fuzz/regressions/introspection_http/): now the
   connection is closed and the output stays small. */
static void
test_server_malformed_body_no_loop (void **state)
{
  (void) state;
  struct harness h;
  harness_init (&h);
  struct introspection_config cfg = local_cfg ();
  h.srv = harness_start (&h, &cfg);
  int port = introspection_port (h.srv);
  static const char evil[] = "POST /v1/t1%3A\r\nContent-Length: 5\r\n\r\n\xff\xff\xff\xbfhello";
  struct raw r;
  raw_connect (&h.loop, &r, port, NULL);
  while (!r.connected)
    uv_run (&h.loop, UV_RUN_ONCE);
  raw_send (&r, evil, sizeof evil - 1);
  uv_shutdown_t sreq;
  uv_shutdown (&sreq, (uv_stream_t *) &r.tcp, NULL);
  uint64_t t0 = util_now_ms ();
  while (!r.eof && util_now_ms () - t0 < 3000)
    uv_run (&h.loop, UV_RUN_ONCE);
  assert_true (r.eof);
  assert_true (r.got < 4096);
  assert_true (introspection_requests (h.srv) <= 2);
  raw_close (&r);
  harness_finish (&h);
}

/* A client that asks for a big answer and never reads it is cut off after
   the timeout; the server does not hold the connection (or its buffer). */
static void
test_server_slow_reader (void **state)
{
  (void) state;
  struct harness h;
  harness_init (&h);
  size_t n = 20000;
  struct introspection_task *tasks = xcalloc (n, sizeof *tasks);
  for (size_t i = 0; i < n; i++)
    tasks[i] = fake_tasks[0];
  h.fake.tasks = tasks;
  h.fake.n = n;
  struct introspection_config cfg = local_cfg ();
  cfg.read_timeout_s = 1;
  h.srv = harness_start (&h, &cfg);
  int port = introspection_port (h.srv);
  struct raw r;
  memset (&r, 0, sizeof r);
  uv_tcp_init (&h.loop, &r.tcp);
  r.tcp.data = &r;
  r.creq.data = &r;
  struct sockaddr_in sa;
  uv_ip4_addr ("127.0.0.1", port, &sa);
  /* connect without reading: raw_connected would start reading */
  assert_int_equal (uv_tcp_connect (&r.creq, &r.tcp, (struct sockaddr *) &sa, NULL), 0);
  uint64_t t0 = util_now_ms ();
  while (introspection_connections (h.srv) == 0 && util_now_ms () - t0 < 3000)
    uv_run (&h.loop, UV_RUN_ONCE);
  int rcv = 4096;
  uv_recv_buffer_size ((uv_handle_t *) &r.tcp, &rcv);
  static const char get_tasks[] = "GET /v1/tasks HTTP/1.1\r\nHost: x\r\n\r\n";
  raw_send (&r, get_tasks, sizeof get_tasks - 1);
  /* (the bound is generous: building 20,000 tasks under ASan on a loaded
     machine takes seconds before the 1 s write timeout starts) */
  t0 = util_now_ms ();
  while (introspection_connections (h.srv) > 0 && util_now_ms () - t0 < 20000)
    uv_run (&h.loop, UV_RUN_ONCE);
  print_message ("slow reader dropped after %llu ms\n", (unsigned long long) (util_now_ms () - t0));
  assert_int_equal (introspection_connections (h.srv), 0);
  raw_close (&r);
  harness_finish (&h);
  free (tasks);
}

/* Stop while clients are connected and mid-request: everything is released
   (ASan/LSan builds check the memory, harness_finish the loop). */
static void
test_server_stop_with_clients (void **state)
{
  (void) state;
  struct harness h;
  harness_init (&h);
  struct introspection_config cfg = local_cfg ();
  h.srv = harness_start (&h, &cfg);
  int port = introspection_port (h.srv);
  int n_eof = 0;
  struct raw r[5];
  for (int i = 0; i < 5; i++)
    raw_connect (&h.loop, &r[i], port, &n_eof);
  struct count_arg ca = { r, 5, 5 };
  assert_true (run_until (&h, all_connected, &ca, 5000));
  raw_send (&r[0], "GET /v1/tasks HTTP/1.1\r\nHost: x\r\n", 33);
  for (int i = 0; i < 20; i++)
    uv_run (&h.loop, UV_RUN_NOWAIT);
  bool stopped = false;
  introspection_stop (h.srv, stopped_cb, &stopped);
  introspection_stop (h.srv, NULL, NULL); /* second call: no-op */
  h.srv = NULL;
  assert_true (run_until (&h, flag_set, &stopped, 5000));
  struct eof_arg ea = { &n_eof, 5 };
  assert_true (run_until (&h, enough_eof, &ea, 5000));
  for (int i = 0; i < 5; i++)
    raw_close (&r[i]);
  harness_finish (&h);
}

/* ------------------------------------------------------------------ */
/* --serve mode for the e2e network-namespace test                     */
/* ------------------------------------------------------------------ */

static introspection_server_t *serve_srv;
static uv_signal_t serve_sig[2];

static void
serve_signal (uv_signal_t *s, int signum)
{
  (void) s;
  (void) signum;
  introspection_stop (serve_srv, NULL, NULL);
  for (int i = 0; i < 2; i++)
    uv_close ((uv_handle_t *) &serve_sig[i], NULL);
}

static int
serve (const char *addr, int port)
{
  uv_loop_t loop;
  uv_loop_init (&loop);
  log_init (LOG_DEBUG, NULL, NULL);
  struct introspection_config cfg = base_cfg;
  cfg.listen_addr = addr;
  cfg.port = port;
  cfg.no_retry = true;
  struct introspection_provider p = fake_provider (&the_fake);
  agent_error_t err = NULL;
  if (introspection_start (&loop, &cfg, &p, &serve_srv, &err) < 0)
    {
      fprintf (stderr, "serve: %s\n", error_msg (&err));
      uv_run (&loop, UV_RUN_DEFAULT);
      return 1;
    }
  printf ("PORT %d\n", introspection_port (serve_srv));
  fflush (stdout);
  uv_signal_init (&loop, &serve_sig[0]);
  uv_signal_start (&serve_sig[0], serve_signal, SIGTERM);
  uv_signal_init (&loop, &serve_sig[1]);
  uv_signal_start (&serve_sig[1], serve_signal, SIGINT);
  uv_run (&loop, UV_RUN_DEFAULT);
  int rc = uv_loop_close (&loop) == 0 ? 0 : 2;
  log_close ();
  return rc;
}

int
main (int argc, char **argv)
{
  lws_set_log_level (LLL_ERR, NULL);
  signal (SIGPIPE, SIG_IGN);
  if (argc == 4 && strcmp (argv[1], "--serve") == 0)
    return serve (argv[2], atoi (argv[3]));
  log_init (LOG_WARN, NULL, NULL);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_route_root_and_unknown),
    cmocka_unit_test (test_route_metadata),
    cmocka_unit_test (test_route_health),
    cmocka_unit_test (test_route_tasks_all),
    cmocka_unit_test (test_route_status_rules),
    cmocka_unit_test (test_route_task_lookups),
    cmocka_unit_test (test_route_too_many_args),
    cmocka_unit_test (test_route_license),
    cmocka_unit_test (test_route_bad_utf8_and_nulls),
    cmocka_unit_test (test_server_routes),
    cmocka_unit_test (test_server_upgrade_ignored),
    cmocka_unit_test (test_server_large_response),
    cmocka_unit_test (test_server_idle_flood),
    cmocka_unit_test_teardown (test_server_out_of_descriptors, filler_teardown),
    cmocka_unit_test (test_server_read_timeout),
    cmocka_unit_test (test_server_huge_header_rejected),
    cmocka_unit_test (test_server_bad_config),
    cmocka_unit_test (test_server_busy_address),
    cmocka_unit_test (test_server_stop_with_clients),
    cmocka_unit_test (test_server_malformed_body_no_loop),
    cmocka_unit_test (test_server_slow_reader),
  };
  int r = cmocka_run_group_tests (tests, NULL, NULL);
  log_close ();
  return r;
}
