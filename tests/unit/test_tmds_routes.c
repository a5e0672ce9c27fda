/* Unit tests for the task metadata router (tmds/tmds.h, no socket;
 * test_tmds_fixture.h): stats routes (which ids are fetched, unavailable
 * containers as {} in v4 and null in v2/v3, a failed container sample,
 * ECS_DISABLE_METRICS), no availability zone, the
 * associations routes, task tags, throttling, the audit entry. */
#include "test_tmds_fixture.h"

static void
test_stats (void **state)
{
  struct fx *f = *state;
  int st;
  struct tmds_answer a;
  /* v4 task stats: the running container is fetched, the stopped one is
     listed unavailable ({} in v4) */
  assert_null (get (f, "/v4/eid-a/task/stats", "x", &st, &a));
  assert_int_equal (a.n_stats_ids, 2);
  assert_string_equal (a.stats_ids[0], ID_A);
  assert_string_equal (a.stats_ids[1], "!" ID_B);
  const char *raws[2] = { "{\"read\":\"2024-05-01T10:00:05Z\",\"cpu_stats\":{}}", NULL };
  tmds_stats_answer (&a, raws, NULL);
  assert_int_equal (a.status, 200);
  json_t *j = json_loads (a.body, 0, NULL);
  assert_string_equal (str (json_object_get (j, ID_A), "read"), "2024-05-01T10:00:05Z");
  assert_true (json_is_object (json_object_get (j, ID_B)));
  assert_int_equal (json_object_size (json_object_get (j, ID_B)), 0);
  json_decref (j);
  tmds_answer_clear (&a);
  /* v2 task stats by address: null for the unavailable one */
  assert_null (get (f, "/v2/stats", "172.17.0.5", &st, &a));
  tmds_stats_answer (&a, raws, NULL);
  j = json_loads (a.body, 0, NULL);
  assert_true (json_is_null (json_object_get (j, ID_B)));
  json_decref (j);
  tmds_answer_clear (&a);
  /* one container: a sample, or the version's error */
  assert_null (get (f, "/v4/eid-a/stats", "x", &st, &a));
  assert_int_equal (a.n_stats_ids, 1);
  const char *none[1] = { NULL };
  tmds_stats_answer (&a, none, NULL);
  assert_int_equal (a.status, 500);
  assert_string_equal (a.body, "\"Unable to get container stats for: " ID_A "\"");
  tmds_answer_clear (&a);
  assert_null (get (f, "/v3/eid-b/stats", "x", &st, &a));
  tmds_stats_answer (&a, none, NULL);
  assert_int_equal (a.status, 400);
  tmds_answer_clear (&a);
  assert_null (get (f, "/v2/stats/" ID_A, "x", &st, &a));
  tmds_stats_answer (&a, raws, NULL);
  assert_int_equal (a.status, 200);
  tmds_answer_clear (&a);
}

/* ECS_DISABLE_METRICS: no container is tracked, as upstream's stats engine
   tracks none: container stats fail (v4 500, v3/v2 400), task stats list
   every container as unavailable. */
static void
test_stats_metrics_disabled (void **state)
{
  struct fx *f = *state;
  int st;
  struct tmds_answer a;
  f->cfg.no_stats = true;
  assert_null (get (f, "/v4/eid-a/stats", "x", &st, &a));
  assert_int_equal (a.n_stats_ids, 1);
  assert_string_equal (a.stats_ids[0], "!" ID_A);
  const char *raws[2] = { NULL, NULL };
  tmds_stats_answer (&a, raws, NULL);
  assert_int_equal (a.status, 500);
  tmds_answer_clear (&a);
  assert_null (get (f, "/v3/eid-a/stats", "x", &st, &a));
  tmds_stats_answer (&a, raws, NULL);
  assert_int_equal (a.status, 400);
  tmds_answer_clear (&a);
  assert_null (get (f, "/v4/eid-a/task/stats", "x", &st, &a));
  assert_int_equal (a.n_stats_ids, 2);
  assert_string_equal (a.stats_ids[0], "!" ID_A);
  tmds_stats_answer (&a, raws, NULL);
  assert_int_equal (a.status, 200);
  json_t *j = json_loads (a.body, 0, NULL);
  assert_int_equal (json_object_size (json_object_get (j, ID_A)), 0);
  json_decref (j);
  tmds_answer_clear (&a);
  f->cfg.no_stats = false;
}

/* ECS_DISABLE_TASK_METADATA_AZ: the agent passes no zone; the answers then
   carry no AvailabilityZone. */
static void
test_no_availability_zone (void **state)
{
  struct fx *f = *state;
  int st;
  const char *az = f->cfg.availability_zone;
  f->cfg.availability_zone = NULL;
  json_t *t = get (f, "/v4/eid-a/task", "x", &st, NULL);
  assert_int_equal (st, 200);
  assert_null (json_object_get (t, "AvailabilityZone"));
  json_decref (t);
  f->cfg.availability_zone = az;
}

/* The legacy associations routes: the names of this container's
   associations of a type (null when none, as upstream's Go writes an empty
   list), one association's content as it is, 400 with upstream's strings,
   and the associations kept by the checkpoint. */
static void
test_associations (void **state)
{
  struct fx *f = *state;
  expect_compact (f, "/v4/eid-a/associations/elastic-inference",
                  "{\"Associations\":[\"dev1\",\"dev2\"]}");
  expect_compact (f, "/v3/eid-b/associations/elastic-inference", "{\"Associations\":[\"dev1\"]}");
  expect_compact (f, "/v4/eid-b/associations/gpu", "{\"Associations\":null}");
  expect_raw (f, "/v4/eid-a/associations/elastic-inference/dev1", 200, "application/json", "{\"acc\":1}");
  /* by task: any container of it */
  expect_raw (f, "/v3/eid-b/associations/elastic-inference/dev2", 200, NULL, "[2]");
  expect_error (f, "/v3/eid-a/associations/elastic-inference/nope", 400,
                "Unable to write container association response: unable to get association from "
                "association type elastic-inference and association name nope");
  expect_error (f, "/v4/nope/associations/elastic-inference", 400,
                "V4 container associations handler: unable to get container id from request: "
                "unable to get docker ID from v3 endpoint ID: nope");
  expect_error (f, "/v3/nope/associations/gpu/g", 400,
                "V3 container associations handler: unable to get task arn from request: "
                "unable to get task Arn from v3 endpoint ID: nope");
  /* the name is everything after the type (upstream's ".+"); an empty one
     is the route without a name, after the endpoint id */
  expect_error (f, "/v4/eid-a/associations/gpu/g/x", 400,
                "Unable to write container association response: unable to get association from "
                "association type gpu and association name g/x");
  expect_error (f, "/v4/eid-a/associations/gpu/", 400,
                "V4 container associations handler: unable to get association name from request");
  expect_error (f, "/v3/eid-b/associations/elastic-inference/", 400,
                "V3 container associations handler: unable to get association name from request");
  expect_error (f, "/v3/nope/associations/gpu/", 400,
                "V3 container associations handler: unable to get task arn from request: "
                "unable to get task Arn from v3 endpoint ID: nope");
  expect_raw (f, "/v4/eid-a/associations", 404, NULL, NULL);

  json_t *cj = state_task_to_json (f->t);
  struct task *back = NULL;
  agent_error_t err = NULL;
  assert_int_equal (state_task_from_json (cj, &back, &err), 0);
  assert_int_equal (back->opts.n_associations, 3);
  assert_string_equal (back->opts.associations[0].name, "dev1");
  assert_string_equal (back->opts.associations[0].type, "elastic-inference");
  assert_string_equal (back->opts.associations[0].content, "{\"acc\":1}");
  assert_string_equal (back->opts.associations[0].encoding, "identity");
  assert_string_equal (back->opts.associations[0].containers[1], "init");
  assert_null (back->opts.associations[2].content);
  task_free (back);
  json_decref (cj);
}

/* ...WithTags: the task object, then the two tag sets (v4 lists failed
   calls in Errors, v2/v3 just leave the tags out). */
static void
test_with_tags (void **state)
{
  struct fx *f = *state;
  int st;
  struct tmds_answer a;
  json_t *j = get (f, "/v4/eid-a/task", "x", &st, &a);
  assert_false (a.want_tags);
  tmds_answer_clear (&a);
  json_decref (j);
  j = get (f, "/v4/eid-a/taskWithTags", "x", &st, &a);
  json_decref (j);
  assert_true (a.want_tags);
  assert_string_equal (a.tags_task_arn, f->t->arn);
  struct tmds_tags_result r[2] = {
    { .resource_arn = "arn:ci", .body = "{\"tags\":[{\"key\":\"team\",\"value\":\"a\"}]}" },
    { .resource_arn = f->t->arn, .body = "{\"tags\":[{\"key\":\"env\",\"value\":\"prod\"},{\"key\":\"x\"}]}" },
  };
  r[0].len = strlen (r[0].body);
  r[1].len = strlen (r[1].body);
  tmds_tags_answer (&a, r);
  assert_int_equal (a.status, 200);
  j = json_loads (a.body, 0, NULL);
  assert_string_equal (str (json_object_get (j, "ContainerInstanceTags"), "team"), "a");
  assert_string_equal (str (json_object_get (j, "TaskTags"), "env"), "prod");
  assert_string_equal (str (json_object_get (j, "TaskTags"), "x"), "");
  assert_null (json_object_get (j, "Errors"));
  assert_string_equal (str (j, "TaskARN"), f->t->arn); /* the task object itself */
  assert_non_null (json_object_get (j, "Containers"));
  json_decref (j);
  tmds_answer_clear (&a);
  /* failures: v4 Errors with upstream's fields, 200 still; empty tags omitted */
  j = get (f, "/v4/eid-a/taskWithTags", "x", &st, &a);
  json_decref (j);
  struct tmds_tags_result bad[2] = {
    { .resource_arn = "arn:ci",
      .error = "ListTagsForResource: AccessDeniedException: not allowed",
      .status = 400 },
    { .resource_arn = f->t->arn, .body = "{\"tags\":[]}" },
  };
  bad[1].len = strlen (bad[1].body);
  tmds_tags_answer (&a, bad);
  assert_int_equal (a.status, 200);
  j = json_loads (a.body, 0, NULL);
  assert_null (json_object_get (j, "TaskTags"));
  assert_null (json_object_get (j, "ContainerInstanceTags"));
  json_t *e = json_array_get (json_object_get (j, "Errors"), 0);
  assert_int_equal (json_array_size (json_object_get (j, "Errors")), 1);
  assert_string_equal (str (e, "ErrorField"), "ContainerInstanceTags");
  assert_string_equal (str (e, "ErrorCode"), "AccessDeniedException");
  assert_string_equal (str (e, "ErrorMessage"), "not allowed");
  assert_int_equal (json_integer_value (json_object_get (e, "StatusCode")), 400);
  assert_string_equal (str (e, "ResourceARN"), "arn:ci");
  json_decref (j);
  tmds_answer_clear (&a);
  /* v3 and v2: no Errors; a malformed body is a failure */
  j = get (f, "/v3/eid-a/taskWithTags", "x", &st, &a);
  json_decref (j);
  struct tmds_tags_result mal[2] = {
    { .resource_arn = "arn:ci", .body = "{\"tags\":[{\"key\":1}]}" },
    { .resource_arn = f->t->arn, .error = "no ECS client" },
  };
  mal[0].len = strlen (mal[0].body);
  tmds_tags_answer (&a, mal);
  j = json_loads (a.body, 0, NULL);
  assert_null (json_object_get (j, "Errors"));
  assert_null (json_object_get (j, "ContainerInstanceTags"));
  assert_string_equal (str (j, "TaskARN"), f->t->arn);
  json_decref (j);
  tmds_answer_clear (&a);
  j = get (f, "/v2/metadataWithTags", "172.17.0.5", &st, &a);
  json_decref (j);
  assert_true (a.want_tags);
  tmds_answer_clear (&a);
  j = get (f, "/v4/nope/taskWithTags", "x", &st, &a);
  assert_int_equal (st, 404);
  assert_false (a.want_tags);
  json_decref (j);
  tmds_answer_clear (&a);
}

/* The limiter: a bucket per (address, path) starting with burst tokens,
   refilled at rate per second, never above burst; the table bounded. */
static void
test_throttle (void **state)
{
  (void) state;
  struct tmds_throttle *t = tmds_throttle_new (40, 60, 4);
  int64_t now = 5000000000LL;
  for (int i = 0; i < 60; i++)
    assert_true (tmds_throttle_allow (t, "172.17.0.2", "/v4/e/task", now));
  assert_false (tmds_throttle_allow (t, "172.17.0.2", "/v4/e/task", now)); /* burst spent */
  /* another path, another caller: their own buckets */
  assert_true (tmds_throttle_allow (t, "172.17.0.2", "/v4/e", now));
  assert_true (tmds_throttle_allow (t, "172.17.0.3", "/v4/e/task", now));
  /* 25 ms later: one token (40/s) */
  now += 25000000LL;
  assert_true (tmds_throttle_allow (t, "172.17.0.2", "/v4/e/task", now));
  assert_false (tmds_throttle_allow (t, "172.17.0.2", "/v4/e/task", now));
  /* one second: 40 tokens, not more */
  now += 1000000000LL;
  int ok = 0;
  for (int i = 0; i < 100; i++)
    ok += tmds_throttle_allow (t, "172.17.0.2", "/v4/e/task", now);
  assert_int_equal (ok, 40);
  /* an hour idle: back to the burst, not beyond */
  now += 3600LL * 1000000000LL;
  ok = 0;
  for (int i = 0; i < 100; i++)
    ok += tmds_throttle_allow (t, "172.17.0.2", "/v4/e/task", now);
  assert_int_equal (ok, 60);
  /* keys do not run together: "a b" + "c" vs "a" + "b c" */
  assert_true (tmds_throttle_allow (t, "a", "b c", now));
  assert_int_equal (tmds_throttle_buckets (t), 4);
  for (int i = 0; i < 100; i++)
    {
      char ip[32];
      snprintf (ip, sizeof ip, "10.0.0.%d", i);
      assert_true (tmds_throttle_allow (t, ip, "/v2/metadata", now));
    }
  assert_int_equal (tmds_throttle_buckets (t), 4); /* bounded */
  assert_true (tmds_throttle_rate (t) == 40.0);
  tmds_throttle_free (t);
}

/* Audit entries: upstream's fields, "-" for empty ones, never the id. */
static void
test_audit_entry (void **state)
{
  (void) state;
  int64_t ns = 1714557604123456789LL; /* 2024-05-01T10:00:04.123Z */
  char *e = tmds_audit_entry (ns, 200, "172.17.0.2:40000", "/v2/credentials", "aws-sdk-go/1.0",
                              "arn:aws:ecs:us-west-2:1:task/c/t1", "GetCredentials", "default",
                              "arn:aws:ecs:us-west-2:1:container-instance/c/i1");
  assert_string_equal (e, "2024-05-01T10:00:04Z 200 172.17.0.2:40000 \"/v2/credentials\" "
                          "\"aws-sdk-go/1.0\" arn:aws:ecs:us-west-2:1:task/c/t1 GetCredentials 2 "
                          "default arn:aws:ecs:us-west-2:1:container-instance/c/i1");
  free (e);
  e = tmds_audit_entry (ns, 400, "1.2.3.4:5", "/v1/credentials", "", NULL, NULL, "default", NULL);
  assert_string_equal (e, "2024-05-01T10:00:04Z 400 1.2.3.4:5 \"/v1/credentials\" \"-\" - ");
  free (e);
  /* a 429 on a credentials path: the id stays out; a hostile User-Agent is escaped */
  e = tmds_audit_entry (ns, 429, "1.2.3.4:5", "/v2/credentials/secret-id", "x\"\ny", NULL, NULL,
                        "default", NULL);
  assert_null (strstr (e, "secret-id"));
  assert_null (strchr (e, '\n'));
  assert_string_equal (e, "2024-05-01T10:00:04Z 429 1.2.3.4:5 \"/v2/credentials\" \"x\\\"\\ny\" - ");
  free (e);
  e = tmds_audit_entry (ns, 200, "1.2.3.4:5", "/v2/credentials", "ua", "arn:t", "GetCredentialsExecutionRole",
                        NULL, NULL);
  assert_string_equal (e, "2024-05-01T10:00:04Z 200 1.2.3.4:5 \"/v2/credentials\" \"ua\" arn:t "
                          "GetCredentialsExecutionRole 2 - -");
  free (e);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_stats, setup, teardown),
    cmocka_unit_test_setup_teardown (test_stats_metrics_disabled, setup, teardown),
    cmocka_unit_test_setup_teardown (test_no_availability_zone, setup, teardown),
    cmocka_unit_test_setup_teardown (test_with_tags, setup, teardown),
    cmocka_unit_test_setup_teardown (test_associations, setup, teardown),
    cmocka_unit_test (test_throttle),
    cmocka_unit_test (test_audit_entry),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
