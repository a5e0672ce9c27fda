/* Unit tests for the task metadata and credentials router (tmds/tmds.h,
 * no socket; test_tmds_fixture.h): credentials v1/v2 (200 body, 400
 * NoIdInRequest / InvalidIdInRequest, 503 CredentialsUninitialized), the v4 /
 * v3 / v2 container and task objects checked key by key against upstream's
 * names and JSON types, the version-specific status codes and error strings
 * for unknown endpoint ids, a container not inspected yet (v3 500, v4 task
 * without Networks), v2 attribution by the caller's address, Health of
 * containers with a Docker health check, rates and task fields, fields kept
 * in the checkpoint.  Stats, associations, tags, throttling, audit:
 * test_tmds_routes.c. */
#include "test_tmds_fixture.h"

static void
test_credentials (void **state)
{
  struct fx *f = *state;
  struct task_role_credentials *c = xcalloc (1, sizeof *c);
  c->credentials_id = xstrdup ("cid-1");
  c->role_arn = xstrdup ("arn:aws:iam::1:role/app");
  c->access_key_id = xstrdup ("ASIAKEY");
  c->secret_access_key = xstrdup ("sekrit-0123456789");
  c->session_token = xstrdup ("tok-0123456789");
  c->expiration = xstrdup ("2016-03-25T06:17:19.318+0000");
  agent_error_t err = NULL;
  assert_int_equal (task_creds_store_put (f->creds, f->t->arn, TASK_CREDS_TASK_ROLE, c, &err), 0);
  task_creds_store_expect (f->creds, "arn:restored", TASK_CREDS_TASK_ROLE, "cid-2");
  int st;
  struct tmds_answer a;
  json_t *j = get (f, "/v2/credentials/cid-1", "1.2.3.4", &st, &a);
  assert_int_equal (st, 200);
  assert_string_equal (str (j, "RoleArn"), "arn:aws:iam::1:role/app");
  assert_string_equal (str (j, "AccessKeyId"), "ASIAKEY");
  assert_string_equal (str (j, "SecretAccessKey"), "sekrit-0123456789");
  assert_string_equal (str (j, "Token"), "tok-0123456789");
  assert_string_equal (str (j, "Expiration"), "2016-03-25T06:17:19.318+0000");
  assert_int_equal (json_object_size (j), 5);
  assert_true (a.creds_request);
  assert_string_equal (a.creds_path, "/v2/credentials");
  assert_string_equal (a.creds_event, "GetCredentials");
  assert_string_equal (a.creds_task_arn, f->t->arn);
  tmds_answer_clear (&a);
  json_decref (j);
  j = get (f, "/v1/credentials?id=cid-1", "1.2.3.4", &st, NULL);
  assert_int_equal (st, 200);
  json_decref (j);
  static const struct
  {
    const char *path;
    int status;
    const char *code, *message;
  } errs[] = {
    { "/v2/credentials/", 400, "NoIdInRequest", "CredentialsV2Request: No Credential ID in the request" },
    { "/v1/credentials", 400, "NoIdInRequest", "CredentialsV1Request: No Credential ID in the request" },
    { "/v2/credentials/cid-2", 503, "CredentialsUninitialized",
      "CredentialsV2Request: Credentials uninitialized for ID" },
    { "/v1/credentials?id=nope", 400, "InvalidIdInRequest", "CredentialsV1Request: Credentials not found" },
    { "/v2/credentials/../v2/credentials/cid-1", 400, "InvalidIdInRequest",
      "CredentialsV2Request: Credentials not found" },
  };
  for (size_t i = 0; i < sizeof errs / sizeof *errs; i++)
    {
      j = get (f, errs[i].path, "1.2.3.4", &st, NULL);
      assert_int_equal (st, errs[i].status);
      assert_string_equal (str (j, "code"), errs[i].code);
      assert_string_equal (str (j, "message"), errs[i].message);
      json_decref (j);
    }
  /* unknown path */
  expect_raw (f, "/v2/credentials", 404, "text/plain; charset=utf-8", "404 page not found\n");
}

/* Every key of the v4 container object, with its JSON type. */
static void
check_v4_container_a (json_t *c)
{
  assert_string_equal (str (c, "DockerId"), ID_A);
  assert_string_equal (str (c, "Name"), "app");
  assert_string_equal (str (c, "DockerName"), "ecs-web-7-app");
  assert_string_equal (str (c, "Image"), "busybox:1");
  assert_string_equal (str (c, "ImageID"), "sha256:1111");
  json_t *p = json_array_get (json_object_get (c, "Ports"), 0);
  assert_int_equal (json_integer_value (json_object_get (p, "ContainerPort")), 80);
  assert_int_equal (json_integer_value (json_object_get (p, "HostPort")), 8080);
  assert_string_equal (str (p, "Protocol"), "tcp");
  assert_string_equal (str (p, "HostIp"), "0.0.0.0");
  assert_string_equal (str (json_object_get (c, "Labels"), "com.amazonaws.ecs.container-name"), "app");
  assert_string_equal (str (c, "DesiredStatus"), "RUNNING");
  assert_string_equal (str (c, "KnownStatus"), "RUNNING");
  assert_null (json_object_get (c, "ExitCode"));
  assert_null (json_object_get (c, "RestartCount")); /* no restart policy */
  json_t *lim = json_object_get (c, "Limits");
  assert_true (json_is_number (json_object_get (lim, "CPU")));
  assert_int_equal (json_number_value (json_object_get (lim, "CPU")), 256);
  assert_true (json_is_integer (json_object_get (lim, "Memory")));
  assert_int_equal (json_integer_value (json_object_get (lim, "Memory")), 64);
  assert_string_equal (str (c, "CreatedAt"), "2024-05-01T10:00:04.1Z");
  assert_string_equal (str (c, "StartedAt"), "2024-05-01T10:00:04.9Z");
  assert_null (json_object_get (c, "FinishedAt")); /* Docker's zero time */
  assert_string_equal (str (c, "Type"), "NORMAL");
  json_t *n = json_array_get (json_object_get (c, "Networks"), 0);
  assert_string_equal (str (n, "NetworkMode"), "bridge");
  assert_string_equal (json_string_value (json_array_get (json_object_get (n, "IPv4Addresses"), 0)),
                       "172.17.0.5");
  json_t *vol = json_array_get (json_object_get (c, "Volumes"), 0);
  assert_string_equal (str (vol, "DockerName"), "v1");
  assert_string_equal (str (vol, "Source"), "/var/lib/v1");
  assert_string_equal (str (vol, "Destination"), "/data");
  assert_string_equal (str (c, "LogDriver"), "json-file");
  assert_string_equal (str (json_object_get (c, "LogOptions"), "max-size"), "10m");
  assert_string_equal (str (c, "ContainerARN"), "arn:aws:ecs:us-west-2:1:container/c/t1/5e6f");
  /* nothing beyond upstream's keys */
  static const char *const keys[]
      = { "DockerId", "Name",      "DockerName", "Image",        "ImageID",  "Ports",
          "Labels",   "DesiredStatus", "KnownStatus", "Limits",   "CreatedAt", "StartedAt",
          "Type",     "Networks",  "Volumes",    "LogDriver",    "LogOptions", "ContainerARN" };
  assert_int_equal (json_object_size (c), sizeof keys / sizeof *keys);
  for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
    assert_non_null (json_object_get (c, keys[i]));
  /* an option a secret set is not answered (its value is the secret's) */
  assert_null (json_object_get (json_object_get (c, "LogOptions"), "splunk-token"));
}

static void
test_v4 (void **state)
{
  struct fx *f = *state;
  int st;
  json_t *c = get (f, "/v4/eid-a", "x", &st, NULL);
  assert_int_equal (st, 200);
  check_v4_container_a (c);
  json_decref (c);
  json_t *t = get (f, "/v4/eid-a/task", "x", &st, NULL);
  assert_int_equal (st, 200);
  assert_string_equal (str (t, "Cluster"), "default");
  assert_string_equal (str (t, "TaskARN"), "arn:aws:ecs:us-west-2:1:task/c/t1");
  assert_string_equal (str (t, "Family"), "web");
  assert_string_equal (str (t, "Revision"), "7");
  assert_string_equal (str (t, "DesiredStatus"), "RUNNING");
  assert_string_equal (str (t, "KnownStatus"), "RUNNING");
  assert_string_equal (str (t, "AvailabilityZone"), "us-west-2a");
  assert_true (json_is_false (json_object_get (t, "FaultInjectionEnabled")));
  assert_string_equal (str (t, "LaunchType"), "EC2");
  assert_string_equal (str (t, "ServiceName"), "svc");
  json_t *tl = json_object_get (t, "Limits");
  assert_true (json_is_real (json_object_get (tl, "CPU")));
  assert_true (json_real_value (json_object_get (tl, "CPU")) == 0.5);
  assert_true (json_is_integer (json_object_get (tl, "Memory")));
  assert_int_equal (json_integer_value (json_object_get (tl, "Memory")), 1024);
  assert_string_equal (str (t, "PullStartedAt"), "2024-05-01T10:00:01.5Z");
  assert_string_equal (str (t, "PullStoppedAt"), "2024-05-01T10:00:03.25Z");
  assert_null (json_object_get (t, "ExecutionStoppedAt")); /* no essential container stopped */
  json_t *cs = json_object_get (t, "Containers");
  assert_int_equal (json_array_size (cs), 3); /* v4 lists the pulled one too */
  check_v4_container_a (json_array_get (cs, 0));
  json_t *b = json_array_get (cs, 1);
  assert_string_equal (str (b, "KnownStatus"), "STOPPED");
  assert_int_equal (json_integer_value (json_object_get (b, "ExitCode")), 3);
  assert_true (json_is_integer (json_object_get (b, "RestartCount"))); /* restart policy: shown */
  assert_int_equal (json_integer_value (json_object_get (b, "RestartCount")), 0);
  assert_string_equal (str (b, "FinishedAt"), "2024-05-01T10:00:03.75Z");
  json_t *bn = json_array_get (json_object_get (b, "Networks"), 0);
  assert_string_equal (str (bn, "NetworkMode"), "host");
  assert_string_equal (json_string_value (json_array_get (json_object_get (bn, "IPv4Addresses"), 0)), "");
  json_t *l = json_array_get (cs, 2);
  assert_string_equal (str (l, "DockerId"), "");
  assert_string_equal (str (l, "KnownStatus"), "PULLED");
  json_decref (t);
  /* the sibling's own endpoint */
  c = get (f, "/v4/eid-b", "x", &st, NULL);
  assert_int_equal (st, 200);
  assert_string_equal (str (c, "Name"), "init");
  json_decref (c);
  /* unknown ids: 404 with upstream's strings; empty id; unknown sub-path */
  expect_error (f, "/v4/nope", 404,
                "V4 container metadata handler: unable to get container ID from request: unable to "
                "get docker ID from v3 endpoint ID: nope");
  expect_error (f, "/v4/", 404,
                "V4 container metadata handler: unable to get container ID from request: unable to "
                "get docker ID from v3 endpoint ID: ");
  expect_error (f, "/v4/nope/task", 404,
                "V4 task metadata handler: unable to get task arn from request: unable to get task "
                "Arn from v3 endpoint ID: nope");
  /* container stats: the task is looked up first (upstream's tmdsstate.go) */
  expect_error (f, "/v4/nope/stats", 404,
                "V4 container stats handler: unable to get task arn from request: unable to get task "
                "Arn from v3 endpoint ID: nope");
  expect_error (f, "/v4/nope/taskWithTags", 404,
                "V4 task metadata handler: unable to get task arn from request: unable to get task "
                "Arn from v3 endpoint ID: nope");
  expect_error (f, "/v4/nope/task/stats", 404,
                "V4 task stats handler: unable to get task arn from request: unable to get task Arn "
                "from v3 endpoint ID: nope");
  /* the pulled container has no Docker id yet: its endpoint is unknown */
  cleanup_free char *late = xasprintf ("/v4/%s", f->t->containers[2].v3_endpoint_id);
  expect_raw (f, late, 404, NULL, NULL);
  expect_raw (f, "/v4/eid-a/nothing", 404, NULL, NULL);
}

static void
test_v3_and_not_inspected (void **state)
{
  struct fx *f = *state;
  int st;
  json_t *c = get (f, "/v3/eid-a", "x", &st, NULL);
  assert_int_equal (st, 200);
  assert_null (json_object_get (c, "LogDriver")); /* v4 only */
  assert_null (json_object_get (json_array_get (json_object_get (c, "Ports"), 0), "HostIp"));
  assert_non_null (json_object_get (c, "Networks"));
  json_decref (c);
  json_t *t = get (f, "/v3/eid-a/task", "x", &st, NULL);
  assert_int_equal (st, 200);
  assert_int_equal (json_array_size (json_object_get (t, "Containers")), 2); /* not the pulled one */
  assert_null (json_object_get (t, "FaultInjectionEnabled"));
  assert_null (json_object_get (t, "LaunchType")); /* v4 only */
  assert_null (json_object_get (t, "ServiceName"));
  assert_non_null (json_object_get (t, "Limits")); /* every version */
  assert_string_equal (str (t, "PullStartedAt"), "2024-05-01T10:00:01.5Z");
  assert_null (json_object_get (json_array_get (json_object_get (t, "Containers"), 0), "ContainerARN"));
  json_decref (t);
  expect_error (f, "/v3/nope", 500,
                "V3 container metadata handler: unable to get container ID from request: unable to "
                "get docker ID from v3 endpoint ID: nope");
  expect_error (f, "/v3/nope/task", 500,
                "V3 task metadata handler: unable to get task arn from request: unable to get task "
                "Arn from v3 endpoint ID: nope");
  expect_error (f, "/v3/nope/stats", 400,
                "V3 container stats handler: unable to get task arn from request: unable to get task "
                "Arn from v3 endpoint ID: nope");
  expect_error (f, "/v3/nope/task/stats", 400,
                "V3 task stats handler: unable to get task arn from request: unable to get task "
                "Arn from v3 endpoint ID: nope");
  expect_error (f, "/v3/nope/taskWithTags", 500,
                "V3 task metadata handler: unable to get task arn from request: unable to get task "
                "Arn from v3 endpoint ID: nope");
  /* no Docker network settings yet (upstream's GetContainerNetworkMetadata):
     v3 and v4 container 500 with their texts, v3 task leaves the container
     out, v4 task lists it without Networks */
  f->inspected = false;
  expect_error (f, "/v3/eid-a", 500, "Unable to generate network response for container '" ID_A "'");
  expect_error (f, "/v4/eid-a", 500, "unable to generate network response for container '" ID_A "'");
  t = get (f, "/v3/eid-a/task", "x", &st, NULL);
  assert_int_equal (st, 200);
  assert_null (json_object_get (t, "Containers"));
  assert_string_equal (str (t, "TaskARN"), "arn:aws:ecs:us-west-2:1:task/c/t1");
  json_decref (t);
  t = get (f, "/v4/eid-a/task", "x", &st, NULL);
  assert_int_equal (st, 200);
  json_t *a = json_array_get (json_object_get (t, "Containers"), 0);
  assert_null (json_object_get (a, "Networks"));
  assert_string_equal (str (a, "ImageID"), "");
  json_decref (t);
}

static void
test_v2 (void **state)
{
  struct fx *f = *state;
  int st;
  json_t *t = get (f, "/v2/metadata", "172.17.0.5", &st, NULL);
  assert_int_equal (st, 200);
  assert_string_equal (str (t, "TaskARN"), f->t->arn);
  json_t *a = json_array_get (json_object_get (t, "Containers"), 0);
  assert_null (json_object_get (a, "Networks")); /* v2 has none */
  json_decref (t);
  t = get (f, "/v2/metadata/", "172.17.0.5", &st, NULL);
  assert_int_equal (st, 200);
  json_decref (t);
  json_t *c = get (f, "/v2/metadata/" ID_B, "10.9.9.9", &st, NULL);
  assert_int_equal (st, 200);
  assert_string_equal (str (c, "Name"), "init");
  json_decref (c);
  expect_error (f, "/v2/metadata", 400,
                "Unable to get task arn from request: unable to associate '172.17.0.9' with task");
  expect_error (f, "/v2/stats", 400,
                "Unable to get task arn from request: unable to associate '172.17.0.9' with task");
  expect_error (f, "/v2/metadata/" ID_A "x", 400, "Unable to get task arn from docker id: " ID_A "x");
}

/* Health: only containers with a Docker health check, every version, from
   the container's health record (status omitted while UNKNOWN). */
static void
test_health (void **state)
{
  struct fx *f = *state;
  struct task_container *a = &f->t->containers[0];
  a->opts.health_check_type = xstrdup ("DOCKER");
  a->life.health = TASK_HEALTH_UNHEALTHY;
  a->life.health_since_ns = 1714557604500000000LL; /* 2024-05-01T10:00:04.5Z */
  a->life.health_exit_code = 2;
  a->life.health_output = xstrdup ("curl: (7) refused\n");
  static const char *const paths[] = { "/v4/eid-a", "/v3/eid-a", "/v2/metadata/" ID_A };
  for (size_t i = 0; i < 3; i++)
    {
      int st;
      json_t *c = get (f, paths[i], "x", &st, NULL);
      assert_int_equal (st, 200);
      json_t *h = json_object_get (c, "Health");
      assert_true (json_is_object (h));
      assert_string_equal (str (h, "status"), "UNHEALTHY");
      assert_string_equal (str (h, "statusSince"), "2024-05-01T10:00:04.5Z");
      assert_int_equal (json_integer_value (json_object_get (h, "exitCode")), 2);
      assert_string_equal (str (h, "output"), "curl: (7) refused\n");
      assert_int_equal (json_object_size (h), 4);
      json_decref (c);
    }
  /* the task object too; the sibling without a check has none */
  int st;
  json_t *t = get (f, "/v4/eid-a/task", "x", &st, NULL);
  json_t *cs = json_object_get (t, "Containers");
  assert_non_null (json_object_get (json_array_get (cs, 0), "Health"));
  assert_null (json_object_get (json_array_get (cs, 1), "Health"));
  json_decref (t);
  /* UNKNOWN, never changed: {} */
  a->life.health = TASK_HEALTH_UNKNOWN;
  a->life.health_since_ns = 0;
  a->life.health_exit_code = 0;
  free (a->life.health_output);
  a->life.health_output = NULL;
  json_t *c = get (f, "/v4/eid-a", "x", &st, NULL);
  assert_int_equal (json_object_size (json_object_get (c, "Health")), 0);
  assert_true (json_is_object (json_object_get (c, "Health")));
  json_decref (c);
}

/* network_rate_stats: v4 bridge tasks only, from two samples; the task
   fields that come and go (Limits, ExecutionStoppedAt, fault injection). */
static void
test_v4_rates_and_task_fields (void **state)
{
  struct fx *f = *state;
  struct tmds_net_rate r = tmds_net_rate_between (0, 0, 0, 2000000000LL, 100, 100);
  assert_false (r.set); /* first sample */
  r = tmds_net_rate_between (1000000000LL, 1000, 500, 3000000000LL, 5000, 1500);
  assert_true (r.set);
  assert_true (r.rx_bytes_per_sec == 2000.0 && r.tx_bytes_per_sec == 500.0);
  assert_false (tmds_net_rate_between (1000000000LL, 1000, 500, 3000000000LL, 10, 1500).set);
  assert_false (tmds_net_rate_between (3000000000LL, 1, 1, 3000000000LL, 2, 2).set);
  int st;
  struct tmds_answer a;
  const char *raws[1] = { "{\"read\":\"2024-05-01T10:00:05Z\",\"networks\":{}}" };
  struct tmds_net_rate rates[1] = { { true, 2000.0, 0.25 } };
  assert_null (get (f, "/v4/eid-a/stats", "x", &st, &a));
  assert_true (a.net_rates);
  tmds_stats_answer (&a, raws, rates);
  json_t *j = json_loads (a.body, 0, NULL);
  json_t *nr = json_object_get (j, "network_rate_stats");
  assert_true (json_is_integer (json_object_get (nr, "rx_bytes_per_sec"))); /* Go prints 2000 */
  assert_int_equal (json_integer_value (json_object_get (nr, "rx_bytes_per_sec")), 2000);
  assert_true (json_real_value (json_object_get (nr, "tx_bytes_per_sec")) == 0.25);
  json_decref (j);
  tmds_answer_clear (&a);
  /* v3: Docker's keys only */
  assert_null (get (f, "/v3/eid-a/stats", "x", &st, &a));
  tmds_stats_answer (&a, raws, rates);
  j = json_loads (a.body, 0, NULL);
  assert_null (json_object_get (j, "network_rate_stats"));
  json_decref (j);
  tmds_answer_clear (&a);
  /* host mode: none */
  f->t->opts.network_mode = xstrdup ("host");
  assert_null (get (f, "/v4/eid-a/task/stats", "x", &st, &a));
  assert_false (a.net_rates);
  tmds_answer_clear (&a);
  /* task fields */
  f->t->opts.cpu = 2;
  f->t->opts.memory_mib = 0;
  f->t->fault_injection = true;
  f->t->execution_stopped_ms = 1714557610000LL;
  json_t *t = get (f, "/v4/eid-a/task", "x", &st, NULL);
  json_t *lim = json_object_get (t, "Limits");
  assert_true (json_is_integer (json_object_get (lim, "CPU"))); /* 2, not 2.0 */
  assert_null (json_object_get (lim, "Memory"));
  assert_true (json_is_true (json_object_get (t, "FaultInjectionEnabled")));
  assert_string_equal (str (t, "ExecutionStoppedAt"), "2024-05-01T10:00:10Z");
  json_decref (t);
  f->t->opts.cpu = 0;
  t = get (f, "/v4/eid-a/task", "x", &st, NULL);
  assert_null (json_object_get (t, "Limits")); /* both 0: omitted */
  json_decref (t);
}

/* The task fields the metadata reads survive a checkpoint round trip. */
static void
test_fields_checkpointed (void **state)
{
  struct fx *f = *state;
  f->t->fault_injection = true;
  f->t->execution_stopped_ms = 1714557610000LL;
  json_t *j = state_task_to_json (f->t);
  struct task *back = NULL;
  agent_error_t err = NULL;
  assert_int_equal (state_task_from_json (j, &back, &err), 0);
  assert_string_equal (back->launch_type, "EC2");
  assert_string_equal (back->service_name, "svc");
  assert_true (back->fault_injection);
  assert_true (back->pull_started_ms == f->t->pull_started_ms);
  assert_true (back->pull_stopped_ms == f->t->pull_stopped_ms);
  assert_true (back->execution_stopped_ms == f->t->execution_stopped_ms);
  assert_string_equal (back->containers[0].container_arn, "arn:aws:ecs:us-west-2:1:container/c/t1/5e6f");
  assert_null (back->containers[1].container_arn);
  task_free (back);
  json_decref (j);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_credentials, setup, teardown),
    cmocka_unit_test_setup_teardown (test_v4, setup, teardown),
    cmocka_unit_test_setup_teardown (test_v3_and_not_inspected, setup, teardown),
    cmocka_unit_test_setup_teardown (test_v2, setup, teardown),
    cmocka_unit_test_setup_teardown (test_health, setup, teardown),
    cmocka_unit_test_setup_teardown (test_v4_rates_and_task_fields, setup, teardown),
    cmocka_unit_test_setup_teardown (test_fields_checkpointed, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
