/* Unit tests for aws/json_rpc: the error classification and the endpoint
 * resolution as tables, and real calls against a tiny local HTTP server
 * (a Python child) that echoes what it received or answers an error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "aws/json_rpc.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include "helpers/child.h"

/* ---- classification --------------------------------------------------------- */

static void
test_classify (void **state)
{
  static const struct
  {
    long status;
    const char *body;
    int kind; /* 0 = success */
    const char *msg;
    const char *type; /* handed back to the caller, NULL = none */
  } t[] = {
    { 200, "{}", 0, NULL, NULL },
    { 204, "", 0, NULL, NULL },
    { 400, "{\"__type\":\"AccessDeniedException\",\"message\":\"no way\"}", ERR_CLIENT,
      "AccessDeniedException: no way", "AccessDeniedException" },
    { 400, "{\"__type\":\"com.amazonaws.ecr#RepositoryNotFoundException\",\"Message\":\"gone\"}",
      ERR_CLIENT, "RepositoryNotFoundException: gone", "RepositoryNotFoundException" },
    { 400, "{\"code\":\"InvalidParameterException:http://x/y\",\"message\":\"bad\"}", ERR_CLIENT,
      "InvalidParameterException: bad", "InvalidParameterException" },
    { 400, "{\"__type\":\"ThrottlingException\",\"message\":\"slow down\"}", ERR_SERVER,
      "ThrottlingException: slow down", "ThrottlingException" },
    { 400, "{\"__type\":\"ResourceNotFoundException\"}", ERR_CLIENT, "ResourceNotFoundException: ",
      "ResourceNotFoundException" },
    { 403, "not json", ERR_CLIENT, "HTTP 403: Forbidden", NULL },
    { 404, "", ERR_CLIENT, "HTTP 404: Not Found", NULL },
    { 429, "{}", ERR_SERVER, "HTTP 429: Too Many Requests", NULL },
    { 500, "{\"__type\":\"InternalFailure\",\"message\":\"oops\"}", ERR_SERVER, "InternalFailure: oops",
      "InternalFailure" },
    { 503, "[1,2]", ERR_SERVER, "HTTP 503: Service Unavailable", NULL },
    { 302, "", ERR_SERVER, "HTTP 302: unexpected status", NULL },
    { 409, "", ERR_CLIENT, "HTTP 409: Conflict", NULL },
    { 400, "{\"__type\":\"\",\"message\":\"empty type\"}", ERR_CLIENT, "HTTP 400: empty type", NULL },
    { 400, "{\"message\":\"only a message\"}", ERR_CLIENT, "HTTP 400: only a message", NULL },
    /* control characters never reach a log line */
    { 400, "{\"__type\":\"X\\nY\",\"message\":\"a\\r\\nb\\tc\"}", ERR_CLIENT, "X Y: a  b c", "X Y" },
  };
  for (size_t i = 0; i < ARRAY_SIZE (t); i++)
    {
      agent_error_t err = NULL;
      char unset[] = "unset"; /* must be overwritten, also on success */
      char *type = unset;
      int rc = aws_json_classify (t[i].status, t[i].body, strlen (t[i].body), &type, &err);
      if (t[i].type)
        assert_string_equal (type, t[i].type);
      else
        assert_null (type);
      free (type);
      if (t[i].kind == 0)
        {
          assert_int_equal (rc, 0);
          assert_null (err);
          continue;
        }
      assert_true (rc < 0);
      assert_int_equal (error_kind (&err), t[i].kind);
      assert_int_equal (err->status, (int) t[i].status);
      assert_string_equal (error_msg (&err), t[i].msg);
      error_free (&err);
    }
  /* a very long message is cut */
  char *big = xmalloc (10000);
  memset (big, 'a', 9999);
  big[9999] = '\0';
  char *body = xasprintf ("{\"__type\":\"T\",\"message\":\"%s\"}", big);
  agent_error_t err = NULL;
  assert_true (aws_json_classify (400, body, strlen (body), NULL, &err) < 0);
  assert_true (strlen (error_msg (&err)) <= 1024 + 3);
  error_free (&err);
  free (body);
  free (big);
  assert_true (aws_json_is_throttle ("RequestLimitExceeded"));
  assert_false (aws_json_is_throttle ("AccessDeniedException"));
  assert_false (aws_json_is_throttle (NULL));
}

/* ---- endpoints ----------------------------------------------------------------- */

static void
test_endpoint (void **state)
{
  unsetenv ("AWS_ENDPOINT_URL");
  unsetenv ("AWS_ENDPOINT_URL_ECR");
  unsetenv ("AWS_ENDPOINT_URL_SSM");
  unsetenv ("AWS_ENDPOINT_URL_SECRETS_MANAGER");
  static const struct
  {
    const char *id, *region, *want;
  } t[] = {
    { "ECR", "us-west-2", "https://api.ecr.us-west-2.amazonaws.com" },
    { "SSM", "eu-west-1", "https://ssm.eu-west-1.amazonaws.com" },
    { "SECRETS_MANAGER", "ap-south-1", "https://secretsmanager.ap-south-1.amazonaws.com" },
    { "ECR", "cn-north-1", "https://api.ecr.cn-north-1.amazonaws.com.cn" },
    { "SECRETS_MANAGER", "cn-northwest-1", "https://secretsmanager.cn-northwest-1.amazonaws.com.cn" },
    { "ECS", "us-east-1", "https://ecs.us-east-1.amazonaws.com" },
    { "ECR", "", NULL },
    { "ECR", NULL, NULL },
    { "", "us-east-1", NULL },
  };
  for (size_t i = 0; i < ARRAY_SIZE (t); i++)
    {
      char *e = aws_service_endpoint (t[i].id, t[i].region);
      if (t[i].want)
        assert_string_equal (e, t[i].want);
      else
        assert_null (e);
      free (e);
    }
  /* the generic variable, then the service's own wins */
  setenv ("AWS_ENDPOINT_URL", "http://127.0.0.1:9/", 1);
  char *e = aws_service_endpoint ("SSM", "us-west-2");
  assert_string_equal (e, "http://127.0.0.1:9/");
  free (e);
  e = aws_service_endpoint ("ECR", NULL); /* no region needed with a variable */
  assert_string_equal (e, "http://127.0.0.1:9/");
  free (e);
  setenv ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://sm.local:1234", 1);
  setenv ("AWS_ENDPOINT_URL_SSM", "", 1); /* empty = unset */
  e = aws_service_endpoint ("SECRETS_MANAGER", "us-west-2");
  assert_string_equal (e, "http://sm.local:1234");
  free (e);
  e = aws_service_endpoint ("SSM", "us-west-2");
  assert_string_equal (e, "http://127.0.0.1:9/");
  free (e);
  unsetenv ("AWS_ENDPOINT_URL");
  unsetenv ("AWS_ENDPOINT_URL_SSM");
  unsetenv ("AWS_ENDPOINT_URL_SECRETS_MANAGER");
}

/* ---- calls against a local server ------------------------------------------- */

/* Target "T.Echo": 200 with what arrived; "T.Deny": 400 AccessDenied;
   "T.Throttle": 400 ThrottlingException; "T.Boom": 500 not JSON; "T.Hang":
   no answer for 5 s. */
static const char *SERVER_PY
    = "import sys, json, time, http.server\n"
      "class H(http.server.BaseHTTPRequestHandler):\n"
      "    protocol_version = 'HTTP/1.1'\n"
      "    def reply(self, code, body):\n"
      "        self.send_response(code)\n"
      "        self.send_header('Content-Type', 'application/x-amz-json-1.1')\n"
      "        self.send_header('Content-Length', str(len(body)))\n"
      "        self.end_headers()\n"
      "        self.wfile.write(body)\n"
      "    def do_POST(self):\n"
      "        n = int(self.headers.get('Content-Length') or 0)\n"
      "        body = self.rfile.read(n).decode()\n"
      "        t = self.headers.get('X-Amz-Target', '')\n"
      "        if t == 'T.Deny':\n"
      "            return self.reply(400, b'{\"__type\":\"AccessDeniedException\",\"message\":\"role denied\"}')\n"
      "        if t == 'T.Throttle':\n"
      "            return self.reply(400, b'{\"__type\":\"ThrottlingException\",\"message\":\"Rate exceeded\"}')\n"
      "        if t == 'T.Boom':\n"
      "            return self.reply(500, b'<html>oops</html>')\n"
      "        if t == 'T.Hang':\n"
      "            time.sleep(5)\n"
      "        h = {k.lower(): v for k, v in self.headers.items()}\n"
      "        self.reply(200, json.dumps({'path': self.path, 'body': body, 'headers': h}).encode())\n"
      "    def log_message(self, *a):\n"
      "        pass\n"
      "s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)\n"
      "s.daemon_threads = True\n"
      "print('127.0.0.1:%d' % s.server_address[1], flush=True)\n"
      "s.serve_forever()\n";

struct world
{
  uv_loop_t loop;
  http_client_t *http;
  struct test_child server;
  char *base; /* http://127.0.0.1:PORT */
};

struct result
{
  bool done;
  int kind;
  int status;
  char *msg;
  json_t *body;
};

static void
done_cb (const char *body, size_t len, agent_error_t err, void *data)
{
  struct result *r = data;
  r->done = true;
  if (err)
    {
      r->kind = error_kind (&err);
      r->status = err->status;
      r->msg = xstrdup (error_msg (&err));
      return;
    }
  json_error_t je;
  r->body = json_loadb (body, len, 0, &je);
}

static int
world_setup (void **state)
{
  struct world *w = xcalloc (1, sizeof *w);
  char *argv[] = { "/usr/bin/python3", "-c", (char *) SERVER_PY, NULL };
  if (test_child_start (&w->server, argv) < 0)
    {
      test_child_stop (&w->server);
      free (w);
      fail_msg ("could not start the local HTTP server");
    }
  w->base = xasprintf ("http://%s", w->server.line);
  uv_loop_init (&w->loop);
  w->http = http_client_new (&w->loop);
  *state = w;
  return 0;
}

static int
world_teardown (void **state)
{
  struct world *w = *state;
  http_client_free (w->http);
  while (uv_loop_alive (&w->loop))
    uv_run (&w->loop, UV_RUN_ONCE);
  uv_loop_close (&w->loop);
  test_child_stop (&w->server);
  free (w->base);
  free (w);
  return 0;
}

static const struct aws_credentials CREDS
    = { .access_key_id = "AKIDJSONTEST", .secret_access_key = "SECRETJSONTEST",
        .session_token = "TOKENJSONTEST" };

static void
run_until (struct world *w, struct result *r)
{
  while (!r->done)
    uv_run (&w->loop, UV_RUN_ONCE);
}

static void
result_free (struct result *r)
{
  free (r->msg);
  json_decref (r->body);
  memset (r, 0, sizeof *r);
}

static void
test_call_echo (void **state)
{
  struct world *w = *state;
  struct result r = { 0 };
  struct aws_json_request req = { .endpoint = w->base, .region = "us-west-2", .service = "ecr",
                                  .target = "T.Echo", .body = "{\"registryIds\":[\"123\"]}",
                                  .creds = &CREDS };
  agent_error_t err = NULL;
  aws_json_call_t *c = aws_json_call_start (w->http, &req, done_cb, &r, &err);
  assert_non_null (c);
  /* the credentials are redacted while the call runs */
  char *line = log_redact (xstrdup ("s=SECRETJSONTEST t=TOKENJSONTEST"));
  assert_null (strstr (line, "SECRETJSONTEST"));
  assert_null (strstr (line, "TOKENJSONTEST"));
  free (line);
  run_until (w, &r);
  assert_null (r.msg);
  assert_non_null (r.body);
  assert_string_equal (json_string_value (json_object_get (r.body, "path")), "/");
  assert_string_equal (json_string_value (json_object_get (r.body, "body")), "{\"registryIds\":[\"123\"]}");
  json_t *h = json_object_get (r.body, "headers");
  assert_string_equal (json_string_value (json_object_get (h, "content-type")),
                       "application/x-amz-json-1.1");
  assert_string_equal (json_string_value (json_object_get (h, "x-amz-target")), "T.Echo");
  assert_string_equal (json_string_value (json_object_get (h, "x-amz-security-token")), "TOKENJSONTEST");
  assert_non_null (json_object_get (h, "x-amz-date"));
  const char *auth = json_string_value (json_object_get (h, "authorization"));
  assert_non_null (auth);
  assert_non_null (strstr (auth, "AWS4-HMAC-SHA256 Credential=AKIDJSONTEST/"));
  assert_non_null (strstr (auth, "/us-west-2/ecr/aws4_request"));
  assert_non_null (strstr (auth, "x-amz-target"));
  result_free (&r);

  /* a base path is kept */
  char *ep = xasprintf ("%s/prefix/", w->base);
  req.endpoint = ep;
  req.body = NULL; /* "{}" */
  c = aws_json_call_start (w->http, &req, done_cb, &r, &err);
  assert_non_null (c);
  run_until (w, &r);
  assert_non_null (r.body);
  assert_string_equal (json_string_value (json_object_get (r.body, "path")), "/prefix/");
  assert_string_equal (json_string_value (json_object_get (r.body, "body")), "{}");
  result_free (&r);
  free (ep);
  /* unregistered once the call is over */
  line = log_redact (xstrdup ("s=SECRETJSONTEST"));
  assert_non_null (strstr (line, "SECRETJSONTEST"));
  free (line);
}

static void
test_call_errors (void **state)
{
  struct world *w = *state;
  static const struct
  {
    const char *target;
    int kind, status;
    const char *msg;
  } t[] = {
    { "T.Deny", ERR_CLIENT, 400, "AccessDeniedException: role denied" },
    { "T.Throttle", ERR_SERVER, 400, "ThrottlingException: Rate exceeded" },
    { "T.Boom", ERR_SERVER, 500, "HTTP 500: Internal Server Error" },
  };
  for (size_t i = 0; i < ARRAY_SIZE (t); i++)
    {
      struct result r = { 0 };
      struct aws_json_request req = { .endpoint = w->base, .region = "us-west-2",
                                      .service = "secretsmanager", .target = t[i].target,
                                      .body = "{}", .creds = &CREDS };
      agent_error_t err = NULL;
      assert_non_null (aws_json_call_start (w->http, &req, done_cb, &r, &err));
      run_until (w, &r);
      assert_null (r.body);
      assert_int_equal (r.kind, t[i].kind);
      assert_int_equal (r.status, t[i].status);
      assert_string_equal (r.msg, t[i].msg);
      result_free (&r);
    }
  /* timeout: a transport error */
  struct result r = { 0 };
  struct aws_json_request req = { .endpoint = w->base, .region = "us-west-2", .service = "ssm",
                                  .target = "T.Hang", .creds = &CREDS, .timeout_ms = 300 };
  agent_error_t err = NULL;
  assert_non_null (aws_json_call_start (w->http, &req, done_cb, &r, &err));
  run_until (w, &r);
  assert_int_equal (r.kind, ERR_TIMEOUT);
  result_free (&r);
  /* nothing listens: unreachable */
  req.endpoint = "http://127.0.0.1:1";
  req.target = "T.Echo";
  assert_non_null (aws_json_call_start (w->http, &req, done_cb, &r, &err));
  run_until (w, &r);
  assert_int_equal (r.kind, ERR_UNREACHABLE);
  result_free (&r);
}

static void
test_call_invalid_and_cancel (void **state)
{
  struct world *w = *state;
  struct result r = { 0 };
  agent_error_t err = NULL;
  static const char *const bad[] = { "ftp://x/", "127.0.0.1:80", "http://", "http:///x", "" };
  for (size_t i = 0; i < ARRAY_SIZE (bad); i++)
    {
      struct aws_json_request req = { .endpoint = bad[i], .region = "us-west-2", .service = "ecr",
                                      .target = "T.Echo", .creds = &CREDS };
      assert_null (aws_json_call_start (w->http, &req, done_cb, &r, &err));
      assert_int_equal (error_kind (&err), ERR_INVALID);
      error_free (&err);
    }
  struct aws_json_request req = { .endpoint = w->base, .region = "", .service = "ecr",
                                  .target = "T.Echo", .creds = &CREDS };
  assert_null (aws_json_call_start (w->http, &req, done_cb, &r, &err));
  error_free (&err);
  req.region = "us-west-2";
  req.creds = NULL;
  assert_null (aws_json_call_start (w->http, &req, done_cb, &r, &err));
  error_free (&err);
  /* cancel: no callback, nothing leaks */
  req.creds = &CREDS;
  req.target = "T.Hang";
  aws_json_call_t *c = aws_json_call_start (w->http, &req, done_cb, &r, &err);
  assert_non_null (c);
  aws_json_call_cancel (c);
  aws_json_call_cancel (NULL);
  for (int i = 0; i < 20 && http_client_active (w->http) > 0; i++)
    uv_run (&w->loop, UV_RUN_NOWAIT);
  assert_false (r.done);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_classify),
    cmocka_unit_test (test_endpoint),
    cmocka_unit_test_setup_teardown (test_call_echo, world_setup, world_teardown),
    cmocka_unit_test_setup_teardown (test_call_errors, world_setup, world_teardown),
    cmocka_unit_test_setup_teardown (test_call_invalid_and_cancel, world_setup, world_teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
