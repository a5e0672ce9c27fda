/* Integration tests for aws/ and ecs/ against the local control plane
 * (test_ecs_fixture.h): registration (with the CreateCluster fallback),
 * re-registration with the same ARN, DiscoverPollEndpoint, task and container
 * state changes, error classification (ClientException, bad credentials,
 * 5xx, throttling, unreachable), and the submitter draining a queue through
 * injected 500s and throttling, instance-role credentials used for signing
 * (needs the instance registered by the first test).  Instance metadata and
 * credential rotation: test_ecs_imds.c.  Only 127.0.0.1 is used. */
#include "test_ecs_fixture.h"

/* ---- tests --------------------------------------------------------------------- */

static void
test_register_and_reregister (void **state)
{
  struct world w;
  world_init (&w, &cp, "AKID", "SECRET", 3);
  struct result r = { 0 };
  /* the default cluster does not exist yet: created on ClusterNotFoundException */
  do_register (&w, "default", NULL, &r);
  if (r.kind)
    fail_msg ("register: %s", r.msg);
  assert_non_null (r.s1);
  assert_non_null (strstr (r.s1, ":container-instance/"));
  instance_arn = xstrdup (r.s1);
  result_clear (&r);

  /* re-registration with the same ARN keeps it */
  do_register (&w, "default", instance_arn, &r);
  assert_int_equal (r.kind, 0);
  assert_string_equal (r.s1, instance_arn);
  result_clear (&r);

  /* what the backend stored */
  json_t *st = cp_state ();
  json_t *ci = find_by (json_object_get (st, "containerInstances"), "containerInstanceArn", instance_arn);
  assert_non_null (ci);
  json_t *res = find_by (json_object_get (ci, "registeredResources"), "name", "CPU");
  assert_int_equal (json_integer_value (json_object_get (res, "integerValue")), 4096);
  res = find_by (json_object_get (ci, "registeredResources"), "name", "PORTS_UDP");
  assert_non_null (res);
  assert_non_null (find_by (json_object_get (ci, "attributes"), "name", "stack"));
  assert_string_equal (json_string_value (json_object_get (json_object_get (ci, "versionInfo"),
                                                           "agentVersion")),
                       "0.1.0");
  json_decref (st);

  /* a named cluster that does not exist: ClientException-class error, no creation */
  do_register (&w, "no-such-cluster", NULL, &r);
  assert_int_equal (r.kind, ERR_CLIENT);
  assert_non_null (strstr (r.msg, "ClusterNotFoundException: "));
  result_clear (&r);
  /* re-registering an unknown ARN: ClientException */
  do_register (&w, "default", "arn:aws:ecs:us-west-2:123456789012:container-instance/default/nope", &r);
  assert_int_equal (r.kind, ERR_CLIENT);
  assert_non_null (strstr (r.msg, "ClientException: "));
  result_clear (&r);
  world_free (&w);
}

static void
test_discover (void **state)
{
  assert_non_null (instance_arn);
  struct world w;
  world_init (&w, &cp, "AKID", "SECRET", 3);
  struct result r = { 0 };
  ecs_discover_poll_endpoint (w.ecs, instance_arn, "default", disc_cb, &r);
  run_until (&w, &r.done, 20000);
  if (r.kind)
    fail_msg ("discover: %s", r.msg);
  char want[128];
  snprintf (want, sizeof want, "http://%s/", cp.listen);
  assert_string_equal (r.s1, want);
  /* the control plane serves telemetry under /tcs on the same listener */
  snprintf (want, sizeof want, "http://%s/tcs", cp.listen);
  assert_string_equal (r.s2, want);
  result_clear (&r);
  world_free (&w);
}

static void
raw (struct world *w, const char *op, const char *body, struct result *r)
{
  ecs_call_raw (w->ecs, op, body, raw_cb, r);
  run_until (w, &r->done, 20000);
  if (r->kind)
    fail_msg ("%s: %s", op, r->msg);
}

/* A task on our instance, so state changes have something to apply to. */
static char *
run_task (struct world *w)
{
  struct result r = { 0 };
  raw (w, "RegisterTaskDefinition",
       "{\"family\":\"itest\",\"containerDefinitions\":[{\"name\":\"web\",\"image\":\"busybox\","
       "\"memory\":64,\"cpu\":10,\"portMappings\":[{\"containerPort\":80,\"hostPort\":0}]},"
       "{\"name\":\"side\",\"image\":\"busybox\",\"memory\":32}]}",
       &r);
  result_clear (&r);
  char *body = xasprintf ("{\"cluster\":\"default\",\"taskDefinition\":\"itest\",\"count\":1}");
  raw (w, "RunTask", body, &r);
  free (body);
  json_error_t je;
  json_t *j = json_loads (r.s1, 0, &je);
  json_t *t = json_array_get (json_object_get (j, "tasks"), 0);
  assert_non_null (t);
  char *arn = xstrdup (json_string_value (json_object_get (t, "taskArn")));
  json_decref (j);
  result_clear (&r);
  return arn;
}

static void
test_submit_changes (void **state)
{
  assert_non_null (instance_arn);
  struct world w;
  world_init (&w, &cp, "AKID", "SECRET", 3);
  task_arn = run_task (&w);
  struct result r = { 0 };

  struct task_port_binding nb[] = { { .bind_ip = "0.0.0.0", .container_port = 80, .host_port = 32768 } };
  struct ecs_container_state_change cc = { .cluster = "default", .task_arn = task_arn,
                                           .container_name = "web", .status = "RUNNING",
                                           .bindings = nb, .n_bindings = 1 };
  ecs_submit_container_state_change (w.ecs, &cc, sub_cb, &r);
  run_until (&w, &r.done, 20000);
  if (r.kind)
    fail_msg ("container change: %s", r.msg);
  result_clear (&r);
  /* today's form: the container change batched, the Docker id, digest and
     the pull timestamps */
  struct ecs_container_state_change side = {
    .container_name = "web", .status = "RUNNING", .bindings = nb, .n_bindings = 1,
    .runtime_id = "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b",
    .image_digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
  };
  struct ecs_task_state_change tc = { .cluster = "default", .task_arn = task_arn, .status = "RUNNING",
                                      .containers = &side, .n_containers = 1,
                                      .pull_started_ms = 1764750000123,
                                      .pull_stopped_ms = 1764750002456 };
  ecs_submit_task_state_change (w.ecs, &tc, sub_cb, &r);
  run_until (&w, &r.done, 20000);
  assert_int_equal (r.kind, 0);
  result_clear (&r);

  json_t *st = cp_state ();
  json_t *t = find_by (json_object_get (st, "tasks"), "taskArn", task_arn);
  assert_non_null (t);
  assert_string_equal (json_string_value (json_object_get (t, "lastStatus")), "RUNNING");
  json_t *c = find_by (json_object_get (t, "containers"), "name", "web");
  assert_string_equal (json_string_value (json_object_get (c, "lastStatus")), "RUNNING");
  json_t *b = json_array_get (json_object_get (c, "networkBindings"), 0);
  assert_int_equal (json_integer_value (json_object_get (b, "hostPort")), 32768);
  assert_string_equal (json_string_value (json_object_get (b, "protocol")), "tcp");
  assert_string_equal (json_string_value (json_object_get (c, "runtimeId")), side.runtime_id);
  assert_string_equal (json_string_value (json_object_get (c, "imageDigest")), side.image_digest);
  assert_true (json_is_number (json_object_get (t, "pullStartedAt")));
  assert_int_equal ((long long) (json_number_value (json_object_get (t, "pullStoppedAt")) * 1000 + 0.5),
                    1764750002456LL);
  json_decref (st);

  /* unknown task: InvalidParameterException -> ERR_CLIENT, not retried */
  struct ecs_task_state_change bad = { .cluster = "default", .task_arn = "arn:aws:ecs:us-west-2:1:task/x",
                                       .status = "STOPPED", .reason = "r" };
  ecs_submit_task_state_change (w.ecs, &bad, sub_cb, &r);
  run_until (&w, &r.done, 20000);
  assert_int_equal (r.kind, ERR_CLIENT);
  assert_non_null (strstr (r.msg, "InvalidParameterException: "));
  result_clear (&r);
  world_free (&w);
}

static void
test_errors (void **state)
{
  /* wrong secret: InvalidSignatureException (4xx) -> ERR_CLIENT */
  struct world w;
  world_init (&w, &cp, "AKID", "WRONG", 3);
  struct result r = { 0 };
  ecs_discover_poll_endpoint (w.ecs, "x", "default", disc_cb, &r);
  run_until (&w, &r.done, 20000);
  assert_int_equal (r.kind, ERR_CLIENT);
  assert_non_null (strstr (r.msg, "InvalidSignatureException"));
  result_clear (&r);
  world_free (&w);

  /* unknown key */
  world_init (&w, &cp, "NOPE", "SECRET", 3);
  ecs_discover_poll_endpoint (w.ecs, "x", "default", disc_cb, &r);
  run_until (&w, &r.done, 20000);
  assert_int_equal (r.kind, ERR_CLIENT);
  assert_non_null (strstr (r.msg, "UnrecognizedClientException"));
  result_clear (&r);
  world_free (&w);

  /* throttled twice then OK: retried inside the client */
  world_init (&w, &cp, "AKID", "SECRET", 3);
  set_faults (&cp, "{\"api_throttle\":{\"count\":2}}");
  ecs_discover_poll_endpoint (w.ecs, instance_arn, "default", disc_cb, &r);
  run_until (&w, &r.done, 20000);
  assert_int_equal (r.kind, 0);
  result_clear (&r);
  /* a persistent 500: retries exhausted -> ERR_SERVER */
  set_faults (&cp, "{\"api_error\":{\"count\":10}}");
  ecs_discover_poll_endpoint (w.ecs, instance_arn, "default", disc_cb, &r);
  run_until (&w, &r.done, 20000);
  assert_int_equal (r.kind, ERR_SERVER);
  assert_non_null (strstr (r.msg, "ServerException"));
  result_clear (&r);
  /* throttling is retriable too, and reported as ERR_SERVER when it lasts */
  set_faults (&cp, "{\"api_error\":null,\"api_throttle\":{\"count\":10}}");
  ecs_discover_poll_endpoint (w.ecs, instance_arn, "default", disc_cb, &r);
  run_until (&w, &r.done, 20000);
  assert_int_equal (r.kind, ERR_SERVER);
  assert_non_null (strstr (r.msg, "ThrottlingException"));
  result_clear (&r);
  clear_faults (&cp);

  /* cancel: no callback */
  ecs_call_t *call = ecs_discover_poll_endpoint (w.ecs, instance_arn, "default", disc_cb, &r);
  ecs_call_cancel (call);
  /* a call made after it has its answer: the cancelled one would have had
     its own by then */
  struct result later = { 0 };
  ecs_discover_poll_endpoint (w.ecs, instance_arn, "default", disc_cb, &later);
  run_until (&w, &later.done, 20000);
  assert_int_equal (later.kind, 0);
  result_clear (&later);
  assert_false (r.done);
  /* freeing the client with calls in flight: no callback (the answer is
     held back, else a loaded machine can deliver it within the one loop
     turn that sends the request) */
  set_faults (&cp, "{\"api_delay_ms\":2000}");
  ecs_discover_poll_endpoint (w.ecs, instance_arn, "default", disc_cb, &r);
  uv_run (&w.loop, UV_RUN_NOWAIT);
  world_free (&w);
  assert_false (r.done);
  clear_faults (&cp);

  /* unreachable endpoint: a port nobody listens on */
  struct proc dead = { .listen = xstrdup ("127.0.0.1:1") };
  world_init (&w, &dead, "AKID", "SECRET", 1);
  ecs_discover_poll_endpoint (w.ecs, "x", "default", disc_cb, &r);
  run_until (&w, &r.done, 20000);
  assert_int_equal (r.kind, ERR_UNREACHABLE);
  result_clear (&r);
  world_free (&w);
  free (dead.listen);
}

static void
test_role_credentials_sign (void **state)
{
  /* no env credentials: the instance role from the fake IMDS signs the calls */
  assert_non_null (instance_arn);
  struct world w;
  world_init (&w, &cp, NULL, NULL, 3);
  assert_false (aws_creds_is_static (w.creds));
  assert_null (aws_creds_current (w.creds));
  struct result r = { 0 };
  ecs_discover_poll_endpoint (w.ecs, instance_arn, "default", disc_cb, &r);
  run_until (&w, &r.done, 20000);
  if (r.kind)
    fail_msg ("discover with role credentials: %s", r.msg);
  result_clear (&r);
  const struct aws_credentials *c = aws_creds_current (w.creds);
  assert_non_null (c);
  assert_non_null (c->session_token);
  assert_true (c->expiration > time (NULL) + 3000);
  /* refresh scheduled 5 min before expiry */
  assert_true (aws_creds_next_refresh (w.creds) >= c->expiration - 300 - 2);
  assert_true (aws_creds_next_refresh (w.creds) <= c->expiration - 300 + 2);
  /* the secret and token are redacted from logs */
  char *line = xasprintf ("x %s y %s z", c->secret_access_key, c->session_token);
  line = log_redact (line);
  assert_null (strstr (line, c->secret_access_key));
  assert_null (strstr (line, c->session_token));
  free (line);
  world_free (&w);
}

/* ---- submitter against the control plane ---- */

struct qitem
{
  struct ecs_state_change c;
  struct task_port_binding b;
};

struct queue
{
  struct qitem it[16];
  size_t n;
  uint64_t next_id;
};

static size_t
q_count (void *ctx)
{
  return ((struct queue *) ctx)->n;
}

static bool
queue_empty (void *ctx)
{
  return ((struct queue *) ctx)->n == 0;
}

static bool
q_peek (void *ctx, size_t i, struct ecs_state_change *out)
{
  struct queue *q = ctx;
  if (i >= q->n)
    return false;
  *out = q->it[i].c;
  out->bindings = q->it[i].c.bindings ? &q->it[i].b : NULL;
  out->durable = true;
  return true;
}

static void
q_remove (void *ctx, uint64_t id)
{
  struct queue *q = ctx;
  for (size_t i = 0; i < q->n; i++)
    if (q->it[i].c.id == id)
      {
        memmove (&q->it[i], &q->it[i + 1], (q->n - i - 1) * sizeof q->it[0]);
        q->n--;
        return;
      }
}

static void
q_push (struct queue *q, enum ecs_change_kind k, const char *task, const char *name, const char *st)
{
  struct qitem *i = &q->it[q->n++];
  memset (i, 0, sizeof *i);
  i->c.id = ++q->next_id;
  i->c.kind = k;
  i->c.task_arn = task;
  i->c.container_name = name;
  i->c.status = st;
  if (name)
    {
      i->b = (struct task_port_binding){ .bind_ip = "0.0.0.0", .container_port = 80, .host_port = 32800 };
      i->c.bindings = &i->b;
      i->c.n_bindings = 1;
      i->c.has_exit_code = strcmp (st, "STOPPED") == 0;
      i->c.exit_code = 0;
    }
}

static void
test_submitter_faults (void **state)
{
  assert_non_null (task_arn);
  struct world w;
  world_init (&w, &cp, "AKID", "SECRET", 1);
  /* note where the event log is */
  char *s = admin (&cp, "GET", "/_local/events", NULL);
  json_error_t je;
  json_t *j = json_loads (s, 0, &je);
  free (s);
  json_int_t since = json_integer_value (json_object_get (j, "lastSeq"));
  json_decref (j);

  struct queue q = { 0 };
  q_push (&q, ECS_CHANGE_CONTAINER, task_arn, "side", "RUNNING");
  q_push (&q, ECS_CHANGE_TASK, "arn:aws:ecs:us-west-2:123456789012:task/default/unknown", NULL,
          "RUNNING"); /* rejected: dropped */
  q_push (&q, ECS_CHANGE_CONTAINER, task_arn, "web", "STOPPED");
  q_push (&q, ECS_CHANGE_CONTAINER, task_arn, "side", "STOPPED");
  q_push (&q, ECS_CHANGE_TASK, task_arn, NULL, "STOPPED");
  /* an outage of 2.5 s of 500s, then throttling for a few calls */
  set_faults (&cp, "{\"api_error\":{\"seconds\":2.5},\"api_throttle\":{\"count\":40,"
                   "\"operations\":[\"SubmitTaskStateChange\"]}}");
  struct ecs_change_queue qi = { .ctx = &q, .count = q_count, .peek = q_peek, .remove = q_remove };
  struct ecs_submitter_options so = { .cluster = "default", .min_backoff_ms = 100, .max_backoff_ms = 400 };
  agent_error_t err = NULL;
  ecs_submitter_t *sub = ecs_submitter_new (&w.loop, w.ecs, &qi, &so, &err);
  assert_non_null (sub);
  run_until_pred (&w, queue_empty, &q, 60000);
  assert_int_equal (q.n, 0);
  struct ecs_submitter_stats st;
  ecs_submitter_stats (sub, &st);
  assert_int_equal (st.submitted, 4);
  assert_int_equal (st.dropped, 1);
  assert_true (st.retries >= 2);
  ecs_submitter_free (sub);
  clear_faults (&cp);

  /* the backend saw the accepted changes once each... at least once, in order */
  char path[64];
  snprintf (path, sizeof path, "/_local/events?since=%lld", (long long) since);
  s = admin (&cp, "GET", path, NULL);
  j = json_loads (s, 0, &je);
  free (s);
  /* one call: the task's change with its three container changes batched */
  const char *want[] = { "SubmitTaskStateChange STOPPED side RUNNING,web STOPPED,side STOPPED" };
  size_t k = 0, i;
  json_t *ev;
  json_array_foreach (json_object_get (j, "events"), i, ev)
  {
    const char *kind = json_string_value (json_object_get (ev, "kind"));
    if (!kind || strncmp (kind, "Submit", 6) != 0)
      continue;
    json_t *rq = json_object_get (ev, "request");
    if (strcmp (json_string_value (json_object_get (rq, "task")), task_arn) != 0)
      continue; /* the rejected one */
    char got[160];
    int n = snprintf (got, sizeof got, "%s %s", kind, json_string_value (json_object_get (rq, "status")));
    size_t ci;
    json_t *cc;
    json_array_foreach (json_object_get (rq, "containers"), ci, cc)
    n += snprintf (got + n, sizeof got - (size_t) n, "%s%s %s", ci ? "," : " ",
                   json_string_value (json_object_get (cc, "containerName")),
                   json_string_value (json_object_get (cc, "status")));
    if (k > 0 && strcmp (got, want[k - 1]) == 0)
      continue; /* a duplicate (at least once) */
    assert_true (k < ARRAY_SIZE (want));
    assert_string_equal (got, want[k]);
    k++;
  }
  assert_int_equal (k, ARRAY_SIZE (want));
  json_decref (j);
  json_t *stt = cp_state ();
  json_t *t = find_by (json_object_get (stt, "tasks"), "taskArn", task_arn);
  assert_string_equal (json_string_value (json_object_get (t, "lastStatus")), "STOPPED");
  json_decref (stt);
  world_free (&w);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_register_and_reregister),
    cmocka_unit_test (test_discover),
    cmocka_unit_test (test_submit_changes),
    cmocka_unit_test (test_errors),
    cmocka_unit_test (test_role_credentials_sign),
    cmocka_unit_test (test_submitter_faults),
  };
  return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
