/* test_acs_fixture.h - the fixture of the ACS integration tests
 * (test_acs*.c): the local control plane (controlplane/, on 127.0.0.1 with
 * 1 s heartbeats and 2 s payload re-sends), a TLS proxy in front of it, an
 * update file server, a registered instance (group_setup/group_teardown),
 * and a session under test (struct t: recording handlers, payload glue over a
 * real state store, the update flow). Header only. */
#ifndef TEST_ACS_FIXTURE_H
#define TEST_ACS_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include "acs/codec.h"
#include "acs/payload.h"
#include "acs/session.h"
#include "aws/credentials.h"
#include "core/http.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "ecs/ecs.h"
#include "log/log.h"
#include "state/state.h"
#include "update/update.h"
#include "helpers/child.h"

#define CLUSTER "acs-itest"

/* ---- child processes: helpers/child.h ---- */

/* A TLS terminator in front of the control plane (wss:// tests): accepts
   TLS with the given certificate and pipes bytes to the control plane. */
static const char *TLS_PROXY_PY
    = "import asyncio, ssl, sys\n"
      "cert, key, target = sys.argv[1], sys.argv[2], sys.argv[3]\n"
      "th, tp = target.rsplit(':', 1)\n"
      "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
      "ctx.load_cert_chain(cert, key)\n"
      "async def pipe(r, w):\n"
      "    try:\n"
      "        while True:\n"
      "            d = await r.read(65536)\n"
      "            if not d:\n"
      "                break\n"
      "            w.write(d)\n"
      "            await w.drain()\n"
      "    except Exception:\n"
      "        pass\n"
      "    finally:\n"
      "        w.close()\n"
      "async def handle(cr, cw):\n"
      "    try:\n"
      "        ur, uw = await asyncio.open_connection(th, int(tp))\n"
      "    except Exception:\n"
      "        cw.close()\n"
      "        return\n"
      "    await asyncio.gather(pipe(cr, uw), pipe(ur, cw))\n"
      "async def main():\n"
      "    srv = await asyncio.start_server(handle, '127.0.0.1', 0, ssl=ctx)\n"
      "    print('127.0.0.1:%d' % srv.sockets[0].getsockname()[1], flush=True)\n"
      "    await srv.serve_forever()\n"
      "asyncio.run(main())\n";

/* ---- fixture ---- */

static struct
{
  struct test_child cp, web, tls;
  char *tls_addr; /* TLS proxy host:port, NULL if it could not start */
  char cert[128];
  char *listen;   /* control plane host:port */
  char *web_addr; /* update file server host:port */
  char dir[64];   /* temp dir: control plane state, checkpoint, downloads */
  char webdir[96];
  uv_loop_t loop;
  uv_timer_t tick;
  http_client_t *http;
  aws_creds_provider_t *creds;
  ecs_client_t *ecs;
  char *instance_arn;
  char *good_sha;
} F;

static inline void
tick_cb (uv_timer_t *t)
{
  (void) t;
}

/* Run the loop until *flag is true or timeout_ms passed. */
static inline bool
run_until (bool (*pred) (void *), void *arg, uint64_t timeout_ms)
{
  uint64_t end = util_now_ms () + timeout_ms;
  while (!pred (arg))
    {
      if (util_now_ms () > end)
        return false;
      uv_run (&F.loop, UV_RUN_ONCE);
    }
  return true;
}

static inline bool
flag_set (void *arg)
{
  return *(bool *) arg;
}

static inline void
count_closing (uv_handle_t *h, void *arg)
{
  if (uv_is_closing (h))
    (*(size_t *) arg)++;
}

/* Every handle closed so far has finished closing. */
static inline bool
no_closing_handles (void *arg)
{
  (void) arg;
  size_t n = 0;
  uv_walk (&F.loop, count_closing, &n);
  return n == 0;
}

static inline size_t
collect (char *p, size_t sz, size_t nm, void *ud)
{
  sbuf_append (ud, p, sz * nm);
  return sz * nm;
}

/* Blocking admin call to the unsigned /_local API. */
static inline char *
admin (const char *method, const char *path, const char *body)
{
  CURL *c = curl_easy_init ();
  char url[512];
  snprintf (url, sizeof url, "http://%s%s", F.listen, path);
  struct sbuf b = { 0 };
  sbuf_append (&b, "", 0);
  curl_easy_setopt (c, CURLOPT_URL, url);
  curl_easy_setopt (c, CURLOPT_CUSTOMREQUEST, method);
  struct curl_slist *h = curl_slist_append (NULL, "Content-Type: application/json");
  curl_easy_setopt (c, CURLOPT_HTTPHEADER, h);
  if (body)
    curl_easy_setopt (c, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt (c, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt (c, CURLOPT_TIMEOUT_MS, 10000L);
  CURLcode rc = curl_easy_perform (c);
  curl_slist_free_all (h);
  curl_easy_cleanup (c);
  if (rc != CURLE_OK)
    {
      sbuf_free (&b);
      return NULL;
    }
  return sbuf_steal (&b);
}

static inline void
admin_ok (const char *method, const char *path, const char *body)
{
  char *r = admin (method, path, body);
  assert_non_null (r);
  free (r);
}

/* Events of one kind (new reference to the array). */
static inline json_t *
events (const char *kind)
{
  char path[128];
  snprintf (path, sizeof path, "/_local/events?kind=%s", kind);
  char *r = admin ("GET", path, NULL);
  assert_non_null (r);
  json_t *j = json_loads (r, 0, NULL);
  free (r);
  assert_non_null (j);
  json_t *ev = json_incref (json_object_get (j, "events"));
  json_decref (j);
  return ev;
}

/* Number of events of kind whose message.messageId is id (any if NULL),
   optionally with message.reason == reason. */
static inline size_t
count_events (const char *kind, const char *id, const char *reason)
{
  json_t *ev = events (kind);
  size_t n = 0, i;
  json_t *e;
  json_array_foreach (ev, i, e)
  {
    json_t *m = json_object_get (e, "message");
    const char *mid = json_string_value (json_object_get (m, "messageId"));
    const char *rs = json_string_value (json_object_get (m, "reason"));
    if (id && (!mid || strcmp (mid, id) != 0))
      continue;
    if (reason && (!rs || strcmp (rs, reason) != 0))
      continue;
    n++;
  }
  json_decref (ev);
  return n;
}

/* ---- ECS calls done once ---- */

struct ecs_wait
{
  bool done;
  char *str;
  char *err;
};

static inline void
str_cb (const char *s, agent_error_t err, void *data)
{
  struct ecs_wait *w = data;
  w->done = true;
  w->str = xstrdup (s);
  if (err)
    w->err = xstrdup (error_msg (&err));
}

static inline void
raw_cb (const char *body, size_t len, agent_error_t err, void *data)
{
  struct ecs_wait *w = data;
  w->done = true;
  w->str = body ? xstrndup (body, len) : NULL;
  if (err)
    w->err = xstrdup (error_msg (&err));
}

static inline char *
ecs_raw (const char *op, const char *body)
{
  struct ecs_wait w = { 0 };
  ecs_call_raw (F.ecs, op, body, raw_cb, &w);
  assert_true (run_until (flag_set, &w.done, 15000));
  if (w.err)
    fail_msg ("%s: %s", op, w.err);
  return w.str;
}

static inline char *
register_instance (void)
{
  struct ecs_register_req req = {
    .cluster = CLUSTER,
    .cpu = 4096,
    .memory_mib = 8192,
    .agent_version = "1.0.0",
    .agent_hash = "abc",
    .docker_version = "20.10.5",
  };
  struct ecs_wait w = { 0 };
  ecs_register_container_instance (F.ecs, &req, str_cb, &w);
  assert_true (run_until (flag_set, &w.done, 15000));
  if (w.err)
    fail_msg ("register: %s", w.err);
  return w.str;
}

static inline char *
sha256_file_hex (const char *path)
{
  char *data = NULL;
  size_t len = 0;
  agent_error_t err = NULL;
  if (util_read_file (path, &data, &len, &err) < 0)
    return NULL;
  unsigned char dg[32];
  unsigned int dl = 0;
  EVP_Digest (data, len, dg, &dl, EVP_sha256 (), NULL);
  free (data);
  char *hex = xmalloc (65);
  for (int i = 0; i < 32; i++)
    snprintf (hex + 2 * i, 3, "%02x", dg[i]);
  return hex;
}

static inline int
group_setup (void **state)
{
  (void) state;
  if (!test_repo_root ())
    return -1;
  curl_global_init (CURL_GLOBAL_DEFAULT);
  log_init (getenv ("ECS_TEST_VERBOSE") ? LOG_DEBUG : LOG_CRIT, NULL, NULL);
  snprintf (F.dir, sizeof F.dir, "/tmp/acs-itest-XXXXXX");
  if (!mkdtemp (F.dir))
    return -1;
  char cpdir[128];
  snprintf (cpdir, sizeof cpdir, "%s/cp", F.dir);
  mkdir (cpdir, 0700);
  char *argv[] = { "/usr/bin/python3", "-m", "controlplane", "--listen", "127.0.0.1:0",
                   "--region", "us-west-2", "--access-key", "AKID", "--secret-key", "SECRET",
                   "--state-dir", cpdir, "--heartbeat-interval", "1", "--resend-interval", "2",
                   "--connect-payload", "never", NULL };
  if (test_child_start (&F.cp, argv) < 0)
    return -1;
  json_t *j = json_loads (F.cp.line, 0, NULL);
  if (!j || !json_is_string (json_object_get (j, "listen")))
    return -1;
  F.listen = xstrdup (json_string_value (json_object_get (j, "listen")));
  json_decref (j);

  /* The update file server: a good tarball under /good.tar. */
  snprintf (F.webdir, sizeof F.webdir, "%s/web", F.dir);
  mkdir (F.webdir, 0700);
  char tar[160];
  snprintf (tar, sizeof tar, "%s/agent.tar", F.webdir);
  FILE *f = fopen (tar, "w");
  if (!f)
    return -1;
  for (int i = 0; i < 20000; i++)
    fprintf (f, "ecs-agent-update-line-%d\n", i);
  fclose (f);
  F.good_sha = sha256_file_hex (tar);
  char *wargv[] = { "/usr/bin/python3", "-u", "-m", "http.server", "0", "--bind", "127.0.0.1",
                    "--directory", F.webdir, NULL };
  if (test_child_start (&F.web, wargv) < 0)
    return -1;
  const char *pp = strstr (F.web.line, " port ");
  if (!pp)
    return -1;
  F.web_addr = xasprintf ("127.0.0.1:%d", atoi (pp + 6));

  /* self-signed certificate for 127.0.0.1 and the TLS proxy */
  char key[128], cmd[512];
  snprintf (F.cert, sizeof F.cert, "%s/cert.pem", F.dir);
  snprintf (key, sizeof key, "%s/key.pem", F.dir);
  snprintf (cmd, sizeof cmd,
            "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -addext "
            "subjectAltName=IP:127.0.0.1,DNS:127.0.0.1 -days 2 -keyout '%s' -out '%s' "
            ">/dev/null 2>&1",
            key, F.cert);
  if (system (cmd) == 0)
    {
      char *targv[] = { "/usr/bin/python3", "-c", (char *) TLS_PROXY_PY, F.cert, key, F.listen, NULL };
      if (test_child_start (&F.tls, targv) == 0)
        F.tls_addr = xstrdup (F.tls.line);
    }

  uv_loop_init (&F.loop);
  uv_timer_init (&F.loop, &F.tick);
  uv_timer_start (&F.tick, tick_cb, 20, 20);
  F.http = http_client_new (&F.loop);
  struct aws_creds_options co = { .access_key_id = "AKID", .secret_access_key = "SECRET",
                                  .no_imds = true };
  agent_error_t err = NULL;
  F.creds = aws_creds_provider_new (&F.loop, F.http, &co, &err);
  if (!F.creds)
    return -1;
  char *ep = xasprintf ("http://%s", F.listen);
  struct ecs_client_options eo = { .endpoint = ep, .region = "us-west-2", .creds = F.creds };
  F.ecs = ecs_client_new (&F.loop, F.http, &eo, &err);
  free (ep);
  if (!F.ecs)
    return -1;
  struct ecs_wait w = { 0 };
  ecs_create_cluster (F.ecs, CLUSTER, str_cb, &w);
  if (!run_until (flag_set, &w.done, 15000) || w.err)
    return -1;
  free (w.str);
  F.instance_arn = register_instance ();
  char *r = ecs_raw ("RegisterTaskDefinition",
                     "{\"family\":\"acs-it\",\"containerDefinitions\":[{\"name\":\"c\",\"image\":"
                     "\"busybox\",\"cpu\":10,\"memory\":10,\"essential\":true}]}");
  free (r);
  return 0;
}

static inline void
loop_close_walk (uv_handle_t *h, void *arg)
{
  (void) arg;
  if (!uv_is_closing (h))
    uv_close (h, NULL);
}

static inline int
group_teardown (void **state)
{
  (void) state;
  ecs_client_free (F.ecs);
  aws_creds_provider_free (F.creds);
  http_client_free (F.http);
  uv_timer_stop (&F.tick);
  uv_close ((uv_handle_t *) &F.tick, NULL);
  uv_run (&F.loop, UV_RUN_DEFAULT);
  uv_walk (&F.loop, loop_close_walk, NULL);
  uv_run (&F.loop, UV_RUN_DEFAULT);
  int rc = uv_loop_close (&F.loop);
  test_child_stop (&F.cp);
  test_child_stop (&F.web);
  test_child_stop (&F.tls);
  free (F.tls_addr);
  char cmd[160];
  snprintf (cmd, sizeof cmd, "rm -rf '%s'", F.dir);
  if (system (cmd) != 0)
    fprintf (stderr, "could not remove %s\n", F.dir);
  free (F.listen);
  free (F.web_addr);
  free (F.instance_arn);
  free (F.good_sha);
  log_close ();
  curl_global_cleanup ();
  return rc == 0 ? 0 : -1;
}

/* ---- a session under test ---- */

struct t
{
  acs_session_t *s;
  int connected, disconnected, inactive;
  bool stopped;
  /* raw payload recording (no payload glue) */
  bool record_only;
  char *payload_ids[16];
  size_t n_payloads;
  bool keep_payloads;
  struct acs_payload *kept[16];
  size_t n_kept;
  /* payload glue with recording ops over a real state store */
  acs_payload_handler_t *ph;
  state_store_t *state;
  struct sbuf order; /* "add:<arn> save saved ack:<id> " */
  update_t *up;
  int performed;
  /* IAM role credentials received: how many, and whether their secrets
     were already redacted from log lines when the handler got them */
  int creds;
  bool creds_redacted;
};

static inline void
t_connected (acs_session_t *s, void *data)
{
  (void) s;
  ((struct t *) data)->connected++;
}

static inline void
t_disconnected (acs_session_t *s, const agent_error_t *err, void *data)
{
  (void) s;
  (void) err;
  ((struct t *) data)->disconnected++;
}

static inline void
t_inactive (acs_session_t *s, void *data)
{
  (void) s;
  ((struct t *) data)->inactive++;
}

static inline void
t_payload (acs_session_t *s, struct acs_payload *p, void *data)
{
  struct t *t = data;
  if (t->record_only || !t->ph)
    {
      if (t->n_payloads < 16)
        t->payload_ids[t->n_payloads++] = xstrdup (p->message_id);
      if (t->keep_payloads && t->n_kept < 16)
        t->kept[t->n_kept++] = p; /* freed by t_free, away from a measurement */
      else
        acs_payload_free (p);
      return;
    }
  acs_payload_on_payload (s, p, t->ph);
}

static inline void
t_credentials (acs_session_t *s, struct acs_iam_credentials *c, void *data)
{
  (void) s;
  struct t *t = data;
  t->creds++;
  char *line = log_redact (xasprintf ("key %s token %s", c->creds.secret_access_key,
                                      c->creds.session_token));
  t->creds_redacted = c->creds.secret_access_key && c->creds.session_token
                      && !strstr (line, c->creds.secret_access_key)
                      && !strstr (line, c->creds.session_token);
  free (line);
  acs_iam_credentials_free (c);
}

/* recording ops: engine replaced by a log, the rest real */
static inline int
op_task_add (void *ctx, struct task *task, agent_error_t *err)
{
  (void) err;
  struct t *t = ctx;
  sbuf_printf (&t->order, "add:%s ", task->arn);
  task_free (task);
  return 0;
}

static inline void
op_report (void *ctx, const char *arn, const char *reason)
{
  struct t *t = ctx;
  state_change_push (t->state, state_change_new (STATE_CHANGE_TASK, arn, NULL, "STOPPED", reason));
}

struct save_wrap
{
  struct t *t;
  state_saved_cb cb;
  void *data;
};

static inline void
op_saved (agent_error_t err, void *data)
{
  struct save_wrap *w = data;
  sbuf_puts (&w->t->order, "saved ");
  w->cb (err, w->data);
  free (w);
}

static inline void
op_save (void *ctx, state_saved_cb cb, void *data)
{
  struct t *t = ctx;
  sbuf_puts (&t->order, "save ");
  struct save_wrap *w = xcalloc (1, sizeof *w);
  w->t = t;
  w->cb = cb;
  w->data = data;
  state_save (t->state, op_saved, w);
}

static inline void
op_set_seq (void *ctx, int64_t seq)
{
  struct t *t = ctx;
  state_set_acs_seq_num (t->state, seq);
  acs_session_set_seq_num (t->s, seq);
}

static inline int
op_send_ack (void *ctx, const char *id, const char *cluster, const char *inst, agent_error_t *err)
{
  struct t *t = ctx;
  sbuf_printf (&t->order, "ack:%s ", id);
  return acs_session_send_ack (t->s, id, cluster, inst, err);
}

static const struct acs_payload_ops rec_ops = {
  .task_add = op_task_add,
  .report_stopped = op_report,
  .save = op_save,
  .save_cancel = NULL,
  .set_seq_num = op_set_seq,
  .send_ack = op_send_ack,
};

static inline void
t_performed (void *data)
{
  ((struct t *) data)->performed++;
}

static inline void
t_stage (acs_session_t *s, struct acs_update_message *m, void *data)
{
  update_on_stage (s, m, ((struct t *) data)->up);
}

static inline void
t_perform (acs_session_t *s, struct acs_update_message *m, void *data)
{
  update_on_perform (s, m, ((struct t *) data)->up);
}

/* Extra session options for the next t_new (reset after use). */
static struct
{
  const char *endpoint;
  const char *ca_file;
  bool insecure;
  uint64_t ttl_ms;
  uint64_t write_timeout_ms;
} NEXT;

static inline struct t *
t_new (const char *instance_arn, uint64_t hb_ms, bool updates)
{
  struct t *t = xcalloc (1, sizeof *t);
  agent_error_t err = NULL;
  char sdir[128];
  snprintf (sdir, sizeof sdir, "%s/state", F.dir);
  mkdir (sdir, 0700);
  t->state = state_store_new (&F.loop, sdir, true, &err);
  assert_non_null (t->state);
  struct acs_payload_options po = { .ops = &rec_ops, .ops_ctx = t };
  t->ph = acs_payload_handler_new (&po);
  char ddir[128];
  snprintf (ddir, sizeof ddir, "%s/dl", F.dir);
  mkdir (ddir, 0700);
  struct update_options uo = { .enabled = updates, .download_dir = ddir, .http = F.http,
                               .on_perform = t_performed, .data = t };
  t->up = update_new (&F.loop, &uo, &err);
  assert_non_null (t->up);
  struct acs_session_options o = {
    .creds = F.creds,
    .http = F.http,
    .region = "us-west-2",
    .cluster = CLUSTER,
    .container_instance_arn = instance_arn ? instance_arn : F.instance_arn,
    .agent_version = "1.105.1",
    .agent_hash = "*abcdef0",
    .docker_version = "20.10.5",
    .heartbeat_timeout_ms = hb_ms ? hb_ms : 5000,
    .heartbeat_jitter_ms = hb_ms ? 1 : 1000,
    .backoff_min_ms = 100,
    .backoff_max_ms = 1000,
    .inactive_wait_ms = 600000,
    .endpoint = NEXT.endpoint,
    .ecs = NEXT.endpoint ? NULL : F.ecs,
    .ca_file = NEXT.ca_file,
    .insecure = NEXT.insecure,
    .connection_ttl_ms = NEXT.ttl_ms,
    .connection_ttl_jitter_ms = NEXT.ttl_ms ? 1 : 0,
    .write_timeout_ms = NEXT.write_timeout_ms,
    .handlers = { .on_payload = t_payload,
                  .on_stage_update = t_stage,
                  .on_perform_update = t_perform,
                  .on_connected = t_connected,
                  .on_disconnected = t_disconnected,
                  .on_inactive = t_inactive,
                  .on_credentials = t_credentials,
                  .data = t },
  };
  memset (&NEXT, 0, sizeof NEXT);
  t->s = acs_session_new (&F.loop, &o, &err);
  if (!t->s)
    fail_msg ("acs_session_new: %s", error_msg (&err));
  update_set_session (t->up, t->s);
  return t;
}

static inline bool
t_is_connected (void *arg)
{
  struct t *t = arg;
  return acs_session_connected (t->s);
}

static inline void
t_stopped (void *data)
{
  ((struct t *) data)->stopped = true;
}

static inline void
t_stopped_flag (void *data)
{
  *(bool *) data = true;
}

static inline void
t_free (struct t *t)
{
  acs_session_stop (t->s, t_stopped, t);
  assert_true (run_until (flag_set, &t->stopped, 10000));
  acs_session_free (t->s);
  acs_payload_handler_free (t->ph);
  update_free (t->up);
  state_store_free (t->state);
  assert_true (run_until (no_closing_handles, NULL, 5000));
  for (size_t i = 0; i < t->n_payloads; i++)
    free (t->payload_ids[i]);
  for (size_t i = 0; i < t->n_kept; i++)
    acs_payload_free (t->kept[i]);
  sbuf_free (&t->order);
  free (t);
}

static inline void
t_start (struct t *t)
{
  agent_error_t err = NULL;
  assert_int_equal (acs_session_start (t->s, &err), 0);
  assert_true (run_until (t_is_connected, t, 10000));
}

struct count_wait
{
  const char *kind, *id, *reason;
  size_t want;
  uint64_t next_poll;
};

static inline bool
events_reach (void *arg)
{
  struct count_wait *w = arg;
  uint64_t now = util_now_ms ();
  if (now < w->next_poll)
    return false;
  w->next_poll = now + 100;
  return count_events (w->kind, w->id, w->reason) >= w->want;
}

static inline bool
wait_events (const char *kind, const char *id, const char *reason, size_t want, uint64_t ms)
{
  struct count_wait w = { kind, id, reason, want, 0 };
  return run_until (events_reach, &w, ms);
}

static inline char *
run_task (void)
{
  char *r = ecs_raw ("RunTask", "{\"cluster\":\"" CLUSTER "\",\"taskDefinition\":\"acs-it\",\"count\":1}");
  json_t *j = json_loads (r, 0, NULL);
  free (r);
  const char *arn
      = json_string_value (json_object_get (json_array_get (json_object_get (j, "tasks"), 0), "taskArn"));
  assert_non_null (arn);
  char *a = xstrdup (arn);
  json_decref (j);
  return a;
}

static inline bool
two_payloads (void *arg)
{
  struct t *t = arg;
  return t->n_payloads >= 2;
}

#endif /* TEST_ACS_FIXTURE_H */
