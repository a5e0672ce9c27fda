/* test_ecs_fixture.h - the fixture of the aws/ and ecs/ integration tests
 * (test_ecs*.c): the local control plane (controlplane/, started and stopped
 * here, 127.0.0.1 only) and a small IMDS proxy, its admin hooks (faults), a
 * world of loop + HTTP client + credentials + ECS client, result recorders,
 * registration helpers (group_setup/group_teardown). Header only. */
#ifndef TEST_ECS_FIXTURE_H
#define TEST_ECS_FIXTURE_H

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

static inline void
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

static inline int
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

static inline int
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

static inline size_t
collect (char *ptr, size_t sz, size_t nm, void *ud)
{
  sbuf_append (ud, ptr, sz * nm);
  return sz * nm;
}

static inline char *
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

static inline void
set_faults (const struct proc *cp, const char *json)
{
  free (admin (cp, "POST", "/_local/faults", json));
}

static inline void
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

static inline void
guard_cb (uv_timer_t *t)
{
  timed_out = true;
}

static inline void
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

static inline void
wake_cb (uv_timer_t *t)
{
  (void) t; /* only makes uv_run return so that the condition is looked at */
}

/* Runs the loop until pred(arg) holds (looked at after every loop turn and
   at least every 20 ms); fails after timeout_ms. */
static inline void
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

static inline void
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

static inline void
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

static inline void
result_clear (struct result *r)
{
  free (r->msg);
  free (r->s1);
  free (r->s2);
  memset (r, 0, sizeof *r);
}

static inline void
set_err (struct result *r, agent_error_t err)
{
  r->done = true;
  r->kind = err ? error_kind (&err) : 0;
  r->msg = err ? xstrdup (error_msg (&err)) : NULL;
}

static inline void
reg_cb (const char *arn, agent_error_t err, void *data)
{
  struct result *r = data;
  set_err (r, err);
  r->s1 = xstrdup (arn);
}

static inline void
disc_cb (const char *ep, const char *tep, agent_error_t err, void *data)
{
  struct result *r = data;
  set_err (r, err);
  r->s1 = xstrdup (ep);
  r->s2 = xstrdup (tep);
}

static inline void
sub_cb (agent_error_t err, void *data)
{
  set_err (data, err);
}

static inline void
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

static inline int
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

static inline int
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

static inline void
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

static inline json_t *
cp_state (void)
{
  char *s = admin (&cp, "GET", "/_local/state", NULL);
  json_error_t je;
  json_t *j = json_loads (s, 0, &je);
  free (s);
  assert_non_null (j);
  return j;
}

static inline json_t *
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

#endif /* TEST_ECS_FIXTURE_H */
