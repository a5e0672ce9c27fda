/* Unit tests for introspection/: the router on fake engine data (every route,
 * status rule and error), and the real server on 127.0.0.1
 * (test_introspection_fixture.h): every route, HEAD, bodies, an upgrade
 * request ignored, big responses.  Connection limits, slow clients and
 * shutdown: test_introspection_server.c.
 *
 * Test mode for tests/e2e/test_introspection_netns.py:
 *   test_introspection --serve <addr> <port>
 * serves the fake data, prints "PORT <n>" once listening and exits 0 on
 * SIGTERM/SIGINT after a clean stop.
 */
#include "test_introspection_fixture.h"

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
  };
  int r = cmocka_run_group_tests (tests, NULL, NULL);
  log_close ();
  return r;
}
