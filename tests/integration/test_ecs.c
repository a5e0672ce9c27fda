/* Integration tests for aws/ and ecs/ against the local control plane
 * (controlplane/, started and stopped here): registration (with the
 * CreateCluster fallback), re-registration with the same ARN,
 * DiscoverPollEndpoint, task and container state changes, error
 * classification (ClientException, bad credentials, 5xx, throttling,
 * unreachable), instance metadata over IMDSv2 and the IMDSv1 fallback
 * (403/405 and a hanging token PUT, through a small proxy), instance-role
 * credentials used for signing, credential rotation, and the submitter
 * draining a queue through injected 500s and throttling.
 * Only 127.0.0.1 is used. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>
#include "aws/credentials.h"
#include "aws/imds.h"
#include "core/http.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "ecs/ecs.h"
#include "ecs/submitter.h"
#include "log/log.h"
#include "helpers/child.h"

/* ---- processes ------------------------------------------------------------ */

struct proc
{
  struct test_child child;
  char *listen; /* host:port */
  char *imds;   /* host:port */
  char *dir;
};

static void
proc_stop (struct proc *p)
{
  test_child_stop (&p->child);
  if (p->dir)
    {
      char cmd[PATH_MAX + 16];
      snprintf (cmd, sizeof cmd, "rm -rf '%s'", p->dir);
      if (system (cmd) != 0)
        fprintf (stderr, "could not remove %s\n", p->dir);
    }
  free (p->listen);
  free (p->imds);
  free (p->dir);
  memset (p, 0, sizeof *p);
}

static int
cp_start (struct proc *p, const char *extra1, const char *extra2)
{
  memset (p, 0, sizeof *p);
  char tmpl[] = "/tmp/ecs-aws-itest-XXXXXX";
  if (!mkdtemp (tmpl))
    return -1;
  p->dir = xstrdup (tmpl);
  char *argv[32];
  int a = 0;
  argv[a++] = "/usr/bin/python3";
  argv[a++] = "-m";
  argv[a++] = "controlplane";
  argv[a++] = "--listen";
  argv[a++] = "127.0.0.1:0";
  argv[a++] = "--imds-listen";
  argv[a++] = "127.0.0.1:0";
  argv[a++] = "--region";
  argv[a++] = "us-west-2";
  argv[a++] = "--access-key";
  argv[a++] = "AKID";
  argv[a++] = "--secret-key";
  argv[a++] = "SECRET";
  argv[a++] = "--state-dir";
  argv[a++] = p->dir;
  if (extra1)
    argv[a++] = (char *) extra1;
  if (extra2)
    argv[a++] = (char *) extra2;
  argv[a] = NULL;
  json_error_t je;
  json_t *j = test_child_start (&p->child, argv) == 0 ? json_loads (p->child.line, 0, &je) : NULL;
  if (!j || !json_is_string (json_object_get (j, "listen")))
    {
      json_decref (j);
      proc_stop (p);
      return -1;
    }
  p->listen = xstrdup (json_string_value (json_object_get (j, "listen")));
  if (json_is_string (json_object_get (j, "imds")))
    p->imds = xstrdup (json_string_value (json_object_get (j, "imds")));
  json_decref (j);
  return 0;
}

/* A tiny IMDS front that refuses (or hangs on) the v2 token PUT and
   forwards GETs to the real fake IMDS: exercises the IMDSv1 fallback. */
static const char *PROXY_PY
    = "import sys, time, http.server, urllib.request, urllib.error\n"
      "mode, target = sys.argv[1], sys.argv[2]\n"
      "class H(http.server.BaseHTTPRequestHandler):\n"
      "    protocol_version = 'HTTP/1.1'\n"
      "    def reply(self, code, body=b''):\n"
      "        self.send_response(code)\n"
      "        self.send_header('Content-Length', str(len(body)))\n"
      "        self.end_headers()\n"
      "        self.wfile.write(body)\n"
      "    def do_PUT(self):\n"
      "        n = int(self.headers.get('Content-Length') or 0)\n"
      "        self.rfile.read(n)\n"
      "        if mode == 'hang':\n"
      "            time.sleep(3)\n"
      "        self.reply(int(mode) if mode.isdigit() else 403)\n"
      "    def do_GET(self):\n"
      "        if self.headers.get('X-aws-ec2-metadata-token'):\n"
      "            return self.reply(400, b'unexpected token')\n"
      "        try:\n"
      "            r = urllib.request.urlopen('http://' + target + self.path)\n"
      "            self.reply(r.status, r.read())\n"
      "        except urllib.error.HTTPError as e:\n"
      "            self.reply(e.code, e.read())\n"
      "    def log_message(self, *a):\n"
      "        pass\n"
      "s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)\n"
      "s.daemon_threads = True\n"
      "print('127.0.0.1:%d' % s.server_address[1], flush=True)\n"
      "s.serve_forever()\n";

static int
proxy_start (struct proc *p, const char *mode, const char *target)
{
  memset (p, 0, sizeof *p);
  char *argv[] = { "/usr/bin/python3", "-c", (char *) PROXY_PY, (char *) mode, (char *) target, NULL };
  if (test_child_start (&p->child, argv) < 0)
    {
      proc_stop (p);
      return -1;
    }
  p->listen = xstrdup (p->child.line);
  return 0;
}

/* ---- blocking admin calls (unsigned /_local API) ---------------------------- */

static size_t
collect (char *ptr, size_t sz, size_t nm, void *ud)
{
  sbuf_append (ud, ptr, sz * nm);
  return sz * nm;
}

static char *
admin (const struct proc *cp, const char *method, const char *path, const char *body)
{
  CURL *c = curl_easy_init ();
  char url[256];
  snprintf (url, sizeof url, "http://%s%s", cp->listen, path);
  struct sbuf b = { 0 };
  sbuf_append (&b, "", 0);
  curl_easy_setopt (c, CURLOPT_URL, url);
  curl_easy_setopt (c, CURLOPT_CUSTOMREQUEST, method);
  if (body)
    curl_easy_setopt (c, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt (c, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt (c, CURLOPT_TIMEOUT, 10L);
  CURLcode rc = curl_easy_perform (c);
  curl_easy_cleanup (c);
  if (rc != CURLE_OK)
    fail_msg ("admin %s %s: %s", method, path, curl_easy_strerror (rc));
  return sbuf_steal (&b);
}

static void
set_faults (const struct proc *cp, const char *json)
{
  free (admin (cp, "POST", "/_local/faults", json));
}

static void
clear_faults (const struct proc *cp)
{
  free (admin (cp, "POST", "/_local/faults/clear", "{}"));
}

/* ---- loop helpers ------------------------------------------------------------ */

struct world
{
  uv_loop_t loop;
  http_client_t *http;
  aws_creds_provider_t *creds;
  ecs_client_t *ecs;
};

static bool timed_out;

static void
guard_cb (uv_timer_t *t)
{
  timed_out = true;
}

static void
run_until (struct world *w, const bool *flag, int timeout_ms)
{
  uv_timer_t guard;
  uv_timer_init (&w->loop, &guard);
  timed_out = false;
  uv_timer_start (&guard, guard_cb, (uint64_t) timeout_ms, 0);
  while (!*flag && !timed_out)
    uv_run (&w->loop, UV_RUN_ONCE);
  uv_timer_stop (&guard);
  uv_close ((uv_handle_t *) &guard, NULL);
  uv_run (&w->loop, UV_RUN_NOWAIT);
  if (!*flag)
    fail_msg ("timed out after %d ms", timeout_ms);
}

static void
wake_cb (uv_timer_t *t)
{
  (void) t; /* only makes uv_run return so that the condition is looked at */
}

/* Runs the loop until pred(arg) holds (looked at after every loop turn and
   at least every 20 ms); fails after timeout_ms. */
static void
run_until_pred (struct world *w, bool (*pred) (void *), void *arg, int timeout_ms)
{
  uv_timer_t guard, wake;
  uv_timer_init (&w->loop, &guard);
  uv_timer_init (&w->loop, &wake);
  timed_out = false;
  uv_timer_start (&guard, guard_cb, (uint64_t) timeout_ms, 0);
  uv_timer_start (&wake, wake_cb, 20, 20);
  bool ok;
  while (!(ok = pred (arg)) && !timed_out)
    uv_run (&w->loop, UV_RUN_ONCE);
  uv_close ((uv_handle_t *) &guard, NULL);
  uv_close ((uv_handle_t *) &wake, NULL);
  uv_run (&w->loop, UV_RUN_NOWAIT);
  if (!ok)
    fail_msg ("timed out after %d ms", timeout_ms);
}

static void
world_init (struct world *w, const struct proc *cp, const char *ak, const char *sk, int max_retries)
{
  memset (w, 0, sizeof *w);
  uv_loop_init (&w->loop);
  w->http = http_client_new (&w->loop);
  agent_error_t err = NULL;
  if (ak)
    {
      struct aws_creds_options co = { .access_key_id = ak, .secret_access_key = sk };
      w->creds = aws_creds_provider_new (&w->loop, w->http, &co, &err);
    }
  else
    {
      char imds[128];
      snprintf (imds, sizeof imds, "http://%s", cp->imds);
      struct aws_creds_options co = { .imds_endpoint = imds, .retry_min_ms = 100, .retry_max_ms = 500 };
      w->creds = aws_creds_provider_new (&w->loop, w->http, &co, &err);
    }
  assert_non_null (w->creds);
  char ep[128];
  snprintf (ep, sizeof ep, "http://%s", cp->listen);
  struct ecs_client_options eo = { .endpoint = ep, .region = "us-west-2", .creds = w->creds,
                                   .timeout_ms = 5000,
                                   .retry = { .max_retries = max_retries, .min_ms = 50, .max_ms = 200 } };
  w->ecs = ecs_client_new (&w->loop, w->http, &eo, &err);
  assert_non_null (w->ecs);
}

static void
world_free (struct world *w)
{
  ecs_client_free (w->ecs);
  aws_creds_provider_free (w->creds);
  http_client_free (w->http);
  uv_run (&w->loop, UV_RUN_DEFAULT);
  int rc = uv_loop_close (&w->loop);
  if (rc != 0)
    {
      uv_print_all_handles (&w->loop, stderr);
      fail_msg ("loop not empty");
    }
}

/* ---- callbacks ------------------------------------------------------------------ */

struct result
{
  bool done;
  int kind;
  char *msg;
  char *s1, *s2;
};

static void
result_clear (struct result *r)
{
  free (r->msg);
  free (r->s1);
  free (r->s2);
  memset (r, 0, sizeof *r);
}

static void
set_err (struct result *r, agent_error_t err)
{
  r->done = true;
  r->kind = err ? error_kind (&err) : 0;
  r->msg = err ? xstrdup (error_msg (&err)) : NULL;
}

static void
reg_cb (const char *arn, agent_error_t err, void *data)
{
  struct result *r = data;
  set_err (r, err);
  r->s1 = xstrdup (arn);
}

static void
disc_cb (const char *ep, const char *tep, agent_error_t err, void *data)
{
  struct result *r = data;
  set_err (r, err);
  r->s1 = xstrdup (ep);
  r->s2 = xstrdup (tep);
}

static void
sub_cb (agent_error_t err, void *data)
{
  set_err (data, err);
}

static void
raw_cb (const char *body, size_t len, agent_error_t err, void *data)
{
  struct result *r = data;
  set_err (r, err);
  r->s1 = body ? xstrndup (body, len) : NULL;
}

/* ---- shared fixture ----------------------------------------------------------- */

static struct proc cp;
static char *instance_arn;
static char *task_arn;

static int
group_setup (void **state)
{
  curl_global_init (CURL_GLOBAL_DEFAULT);
  log_init (getenv ("ECS_TEST_VERBOSE") ? LOG_DEBUG : LOG_CRIT, NULL, NULL);
  if (!test_repo_root ())
    {
      fprintf (stderr, "controlplane/ not found from cwd\n");
      return -1;
    }
  if (cp_start (&cp, NULL, NULL) < 0)
    {
      fprintf (stderr, "could not start the control plane\n");
      return -1;
    }
  return 0;
}

static int
group_teardown (void **state)
{
  proc_stop (&cp);
  free (instance_arn);
  free (task_arn);
  curl_global_cleanup ();
  log_close ();
  return 0;
}

static uint16_t ports[] = { 22, 2375, 2376, 51678, 51679 };
static uint16_t uports[] = { 53 };

static void
do_register (struct world *w, const char *cluster, const char *arn, struct result *r)
{
  struct ecs_attribute at[] = { { "com.amazonaws.ecs.capability.docker-remote-api.1.17", NULL },
                                { "stack", "itest" } };
  struct ecs_register_req req = {
    .cluster = cluster,
    .instance_identity_document = NULL,
    .container_instance_arn = arn,
    .cpu = 4096, .memory_mib = 8000, .ports_tcp = ports, .n_ports_tcp = 5,
    .ports_udp = uports, .n_ports_udp = 1, .send_ports_udp = true,
    .agent_version = "0.1.0", .agent_hash = "abc", .docker_version = "DockerVersion: 24.0.0",
    .attributes = at, .n_attributes = 2,
  };
  ecs_call_t *call = ecs_register_container_instance (w->ecs, &req, reg_cb, r);
  assert_non_null (call);
  assert_false (r->done); /* never synchronous */
  run_until (w, &r->done, 20000);
}

static json_t *
cp_state (void)
{
  char *s = admin (&cp, "GET", "/_local/state", NULL);
  json_error_t je;
  json_t *j = json_loads (s, 0, &je);
  free (s);
  assert_non_null (j);
  return j;
}

static json_t *
find_by (json_t *arr, const char *key, const char *value)
{
  size_t i;
  json_t *e;
  json_array_foreach (arr, i, e)
  {
    json_t *v = json_object_get (e, key);
    if (json_is_string (v) && strcmp (json_string_value (v), value) == 0)
      return e;
  }
  return NULL;
}

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

/* ---- IMDS ---- */

static void
id_cb (const struct imds_identity *id, agent_error_t err, void *data)
{
  struct result *r = data;
  set_err (r, err);
  if (id)
    {
      r->s1 = xasprintf ("%s|%s|%s|%s|%s", id->instance_id, id->region, id->availability_zone,
                         id->account_id, id->instance_type);
      r->s2 = xstrdup (id->signature);
    }
}

static void
icreds_cb (const struct aws_credentials *c, agent_error_t err, void *data)
{
  struct result *r = data;
  set_err (r, err);
  if (c)
    {
      r->s1 = xstrdup (c->access_key_id);
      r->s2 = xstrdup (c->session_token);
    }
}

static void
get_cb (const char *body, size_t len, agent_error_t err, void *data)
{
  struct result *r = data;
  set_err (r, err);
  r->s1 = body ? xstrndup (body, len) : NULL;
}

static void
imds_checks (const char *base, bool want_v2, long timeout_ms)
{
  struct world w = { 0 };
  uv_loop_init (&w.loop);
  w.http = http_client_new (&w.loop);
  agent_error_t err = NULL;
  struct imds_options io = { .endpoint = base, .timeout_ms = timeout_ms };
  imds_client_t *c = imds_client_new (&w.loop, w.http, &io, &err);
  assert_non_null (c);
  struct result r = { 0 };
  assert_non_null (imds_get_identity (c, id_cb, &r, &err));
  run_until (&w, &r.done, 20000);
  if (r.kind)
    fail_msg ("identity via %s: %s", base, r.msg);
  assert_string_equal (r.s1, "i-0123456789abcdef0|us-west-2|us-west-2a|123456789012|m5.large");
  assert_true (strlen (r.s2) > 10);
  assert_int_equal (imds_client_used_v2 (c), want_v2);
  result_clear (&r);

  assert_non_null (imds_get_role_credentials (c, icreds_cb, &r, &err));
  run_until (&w, &r.done, 20000);
  assert_int_equal (r.kind, 0);
  assert_true (strncmp (r.s1, "ASIA", 4) == 0);
  assert_non_null (r.s2);
  result_clear (&r);

  assert_non_null (imds_get (c, "/latest/meta-data/instance-id", get_cb, &r, &err));
  run_until (&w, &r.done, 20000);
  assert_string_equal (r.s1, "i-0123456789abcdef0");
  result_clear (&r);
  assert_non_null (imds_get (c, "/latest/meta-data/nope", get_cb, &r, &err));
  run_until (&w, &r.done, 20000);
  assert_int_equal (r.kind, ERR_NOT_FOUND);
  result_clear (&r);
  assert_null (imds_get (c, "relative", get_cb, &r, &err));
  assert_int_equal (error_kind (&err), ERR_INVALID);
  error_free (&err);

  /* cancel and free with calls in flight: no callbacks */
  imds_call_t *call = imds_get (c, "/latest/meta-data/instance-id", get_cb, &r, &err);
  imds_call_cancel (call);
  imds_get_identity (c, id_cb, &r, &err);
  imds_client_free (c);
  http_client_free (w.http);
  uv_run (&w.loop, UV_RUN_DEFAULT);
  assert_false (r.done);
  assert_int_equal (uv_loop_close (&w.loop), 0);
}

static void
test_imds_v2 (void **state)
{
  char base[128];
  snprintf (base, sizeof base, "http://%s", cp.imds);
  imds_checks (base, true, 0);
  /* IMDS requiring v2 still works */
  set_faults (&cp, "{\"imds_require_v2\":true}");
  imds_checks (base, true, 0);
  clear_faults (&cp);
}

static void
test_imds_v1_fallback (void **state)
{
  const char *modes[] = { "403", "405", "404", "hang" };
  for (size_t i = 0; i < ARRAY_SIZE (modes); i++)
    {
      struct proc px;
      assert_int_equal (proxy_start (&px, modes[i], cp.imds), 0);
      char base[128];
      snprintf (base, sizeof base, "http://%s", px.listen);
      imds_checks (base, false, strcmp (modes[i], "hang") == 0 ? 800 : 0);
      proc_stop (&px);
    }
}

static void
test_imds_unreachable (void **state)
{
  struct world w;
  memset (&w, 0, sizeof w);
  uv_loop_init (&w.loop);
  w.http = http_client_new (&w.loop);
  agent_error_t err = NULL;
  struct imds_options io = { .endpoint = "http://127.0.0.1:1" };
  imds_client_t *c = imds_client_new (&w.loop, w.http, &io, &err);
  struct result r = { 0 };
  imds_get_identity (c, id_cb, &r, &err);
  run_until (&w, &r.done, 20000);
  assert_int_equal (r.kind, ERR_UNREACHABLE);
  result_clear (&r);
  imds_client_free (c);
  /* bad endpoint */
  struct imds_options bad = { .endpoint = "169.254.169.254" };
  assert_null (imds_client_new (&w.loop, w.http, &bad, &err));
  assert_int_equal (error_kind (&err), ERR_INVALID);
  error_free (&err);
  http_client_free (w.http);
  uv_run (&w.loop, UV_RUN_DEFAULT);
  assert_int_equal (uv_loop_close (&w.loop), 0);
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

struct rotation
{
  aws_creds_provider_t *creds;
  const char *first;
};

static bool
creds_rotated (void *arg)
{
  struct rotation *rot = arg;
  const struct aws_credentials *c = aws_creds_current (rot->creds);
  return c && strcmp (c->access_key_id, rot->first) != 0;
}

static void
test_credentials_rotation (void **state)
{
  struct proc cp2;
  assert_int_equal (cp_start (&cp2, "--imds-cred-lifetime", "6"), 0);
  struct world w;
  world_init (&w, &cp2, NULL, NULL, 3);
  struct result r = { 0 };
  aws_creds_fetch (w.creds, icreds_cb, &r);
  run_until (&w, &r.done, 20000);
  assert_int_equal (r.kind, 0);
  char *first = xstrdup (r.s1);
  result_clear (&r);
  /* background refreshes (at half life, as the lifetime is short) pick up
     the rotated credentials within the lifetime */
  struct rotation rot = { .creds = w.creds, .first = first };
  run_until_pred (&w, creds_rotated, &rot, 15000);
  /* and the new ones sign valid requests */
  struct ecs_task_state_change bad = { .cluster = "default", .task_arn = "x", .status = "RUNNING" };
  ecs_submit_task_state_change (w.ecs, &bad, sub_cb, &r);
  run_until (&w, &r.done, 20000);
  assert_int_equal (r.kind, ERR_CLIENT); /* ClusterNotFound: authenticated */
  assert_null (strstr (r.msg, "Unrecognized"));
  assert_null (strstr (r.msg, "Expired"));
  result_clear (&r);
  free (first);
  world_free (&w);
  proc_stop (&cp2);
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
    cmocka_unit_test (test_imds_v2),
    cmocka_unit_test (test_imds_v1_fallback),
    cmocka_unit_test (test_imds_unreachable),
    cmocka_unit_test (test_role_credentials_sign),
    cmocka_unit_test (test_credentials_rotation),
    cmocka_unit_test (test_submitter_faults),
  };
  return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
