/* Integration tests for acs/ and update/ against the local control plane
 * (controlplane/, started here on 127.0.0.1 with 1 s heartbeats and 2 s
 * payload re-sends): signed connect, payload acked only after the durable
 * save, re-send of an unacknowledged payload, heartbeat acks, reconnect
 * after drop_ws (close frame and TCP abort), malformed / unknown frames,
 * CloseMessage, an 8 MiB payload decoded off the loop (a 5 ms loop-lag
 * probe; frames sent after it are handled after it), a flood of big frames
 * (bounded receive queue), a 256 KiB credentials frame (decoded like any
 * other, its secrets redacted while it lives), heartbeat timeout with back-off, handshake error bodies
 * (InvalidInstanceException, InactiveInstanceException), graceful stop,
 * a peer that stops reading (bounded outbound queue, write deadline,
 * reconnect; against a small fake ACS), and the update flow (stage with a
 * good and a bad checksum served by a local HTTP server, perform ->
 * callback). */
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

/* A fake ACS whose first connection stops reading: it pauses its socket
   (receive buffer 4 KiB), sends one heartbeat with a 4 MiB messageId, then
   heartbeats with 1000-byte ids until the agent drops the connection.  Later
   connections read normally and beat every 200 ms. */
static const char *STALL_ACS_PY
    = "import asyncio, socket\n"
      "from aiohttp import web\n"
      "n = 0\n"
      "def hb(mid):\n"
      "    return '{\"type\":\"HeartbeatMessage\",\"message\":{\"healthy\":true,\"messageId\":\"%s\"}}' % mid\n"
      "async def handler(request):\n"
      "    global n\n"
      "    n += 1\n"
      "    ws = web.WebSocketResponse(autoping=False)\n"
      "    await ws.prepare(request)\n"
      "    if n == 1:\n"
      "        request.transport.pause_reading()\n"
      "        try:\n"
      "            await ws.send_str(hb('x' * (4 << 20)))\n"
      "            i = 0\n"
      "            while True:\n"
      "                i += 1\n"
      "                await ws.send_str(hb('%08d' % i + 'y' * 992))\n"
      "        except Exception:\n"
      "            pass\n"
      "        return ws\n"
      "    async def beat():\n"
      "        i = 0\n"
      "        while not ws.closed:\n"
      "            i += 1\n"
      "            await ws.send_str(hb('ok-%d' % i))\n"
      "            await asyncio.sleep(0.2)\n"
      "    t = asyncio.ensure_future(beat())\n"
      "    async for _ in ws:\n"
      "        pass\n"
      "    t.cancel()\n"
      "    return ws\n"
      "async def main():\n"
      "    app = web.Application()\n"
      "    app.router.add_get('/ws', handler)\n"
      "    runner = web.AppRunner(app)\n"
      "    await runner.setup()\n"
      "    sock = socket.socket()\n"
      "    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)\n"
      "    sock.bind(('127.0.0.1', 0))\n"
      "    await web.SockSite(runner, sock).start()\n"
      "    print('127.0.0.1:%d' % sock.getsockname()[1], flush=True)\n"
      "    await asyncio.Event().wait()\n"
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

static void
tick_cb (uv_timer_t *t)
{
  (void) t;
}

/* Run the loop until *flag is true or timeout_ms passed. */
static bool
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

static bool
flag_set (void *arg)
{
  return *(bool *) arg;
}

static void
count_closing (uv_handle_t *h, void *arg)
{
  if (uv_is_closing (h))
    (*(size_t *) arg)++;
}

/* Every handle closed so far has finished closing. */
static bool
no_closing_handles (void *arg)
{
  (void) arg;
  size_t n = 0;
  uv_walk (&F.loop, count_closing, &n);
  return n == 0;
}

static size_t
collect (char *p, size_t sz, size_t nm, void *ud)
{
  sbuf_append (ud, p, sz * nm);
  return sz * nm;
}

/* Blocking admin call to the unsigned /_local API. */
static char *
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

static void
admin_ok (const char *method, const char *path, const char *body)
{
  char *r = admin (method, path, body);
  assert_non_null (r);
  free (r);
}

/* Events of one kind (new reference to the array). */
static json_t *
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
static size_t
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

static void
str_cb (const char *s, agent_error_t err, void *data)
{
  struct ecs_wait *w = data;
  w->done = true;
  w->str = xstrdup (s);
  if (err)
    w->err = xstrdup (error_msg (&err));
}

static void
raw_cb (const char *body, size_t len, agent_error_t err, void *data)
{
  struct ecs_wait *w = data;
  w->done = true;
  w->str = body ? xstrndup (body, len) : NULL;
  if (err)
    w->err = xstrdup (error_msg (&err));
}

static char *
ecs_raw (const char *op, const char *body)
{
  struct ecs_wait w = { 0 };
  ecs_call_raw (F.ecs, op, body, raw_cb, &w);
  assert_true (run_until (flag_set, &w.done, 15000));
  if (w.err)
    fail_msg ("%s: %s", op, w.err);
  return w.str;
}

static char *
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

static char *
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

static int
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

static void
loop_close_walk (uv_handle_t *h, void *arg)
{
  (void) arg;
  if (!uv_is_closing (h))
    uv_close (h, NULL);
}

static int
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

static void
t_connected (acs_session_t *s, void *data)
{
  (void) s;
  ((struct t *) data)->connected++;
}

static void
t_disconnected (acs_session_t *s, const agent_error_t *err, void *data)
{
  (void) s;
  (void) err;
  ((struct t *) data)->disconnected++;
}

static void
t_inactive (acs_session_t *s, void *data)
{
  (void) s;
  ((struct t *) data)->inactive++;
}

static void
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

static void
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
static int
op_task_add (void *ctx, struct task *task, agent_error_t *err)
{
  (void) err;
  struct t *t = ctx;
  sbuf_printf (&t->order, "add:%s ", task->arn);
  task_free (task);
  return 0;
}

static void
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

static void
op_saved (agent_error_t err, void *data)
{
  struct save_wrap *w = data;
  sbuf_puts (&w->t->order, "saved ");
  w->cb (err, w->data);
  free (w);
}

static void
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

static void
op_set_seq (void *ctx, int64_t seq)
{
  struct t *t = ctx;
  state_set_acs_seq_num (t->state, seq);
  acs_session_set_seq_num (t->s, seq);
}

static int
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

static void
t_performed (void *data)
{
  ((struct t *) data)->performed++;
}

static void
t_stage (acs_session_t *s, struct acs_update_message *m, void *data)
{
  update_on_stage (s, m, ((struct t *) data)->up);
}

static void
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

static struct t *
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

static bool
t_is_connected (void *arg)
{
  struct t *t = arg;
  return acs_session_connected (t->s);
}

static void
t_stopped (void *data)
{
  ((struct t *) data)->stopped = true;
}

static void
t_stopped_flag (void *data)
{
  *(bool *) data = true;
}

static void
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

static void
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

static bool
events_reach (void *arg)
{
  struct count_wait *w = arg;
  uint64_t now = util_now_ms ();
  if (now < w->next_poll)
    return false;
  w->next_poll = now + 100;
  return count_events (w->kind, w->id, w->reason) >= w->want;
}

static bool
wait_events (const char *kind, const char *id, const char *reason, size_t want, uint64_t ms)
{
  struct count_wait w = { kind, id, reason, want, 0 };
  return run_until (events_reach, &w, ms);
}

static char *
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

/* ---- tests ---- */

static void
test_connect_signed (void **state)
{
  (void) state;
  size_t before = count_events ("ws_connect", NULL, NULL);
  struct t *t = t_new (NULL, 0, false);
  t_start (t);
  assert_int_equal (t->connected, 1);
  assert_int_equal (acs_session_get_stats (t->s)->connects, 1);
  json_t *ev = events ("ws_connect");
  assert_true (json_array_size (ev) > before);
  json_t *q = json_object_get (json_array_get (ev, json_array_size (ev) - 1), "query");
  char *qs = json_dumps (q, JSON_COMPACT);
  assert_non_null (strstr (qs, "DockerVersion: 20.10.5"));
  assert_non_null (strstr (qs, "\"protocolVersion\":\"2\""));
  assert_non_null (strstr (qs, "\"sendCredentials\":\"true\""));
  assert_non_null (strstr (qs, "*abcdef0"));
  free (qs);
  json_decref (ev);
  size_t closes = count_events ("ws_disconnect", NULL, NULL);
  t_free (t);
  /* graceful stop: a close frame with code 1000 */
  assert_true (wait_events ("ws_disconnect", NULL, NULL, closes + 1, 5000));
  json_t *dc = events ("ws_disconnect");
  assert_true (json_array_size (dc) > closes);
  json_t *last = json_array_get (dc, json_array_size (dc) - 1);
  assert_int_equal (json_integer_value (json_object_get (last, "closeCode")), 1000);
  json_decref (dc);
}

static bool
order_has_ack (void *arg)
{
  struct t *t = arg;
  return t->order.s && strstr (t->order.s, "ack:") != NULL;
}

static void
test_payload_acked_after_save (void **state)
{
  (void) state;
  struct t *t = t_new (NULL, 0, false);
  t_start (t);
  char *arn = run_task ();
  assert_true (run_until (order_has_ack, t, 10000));
  /* engine add, then save, then (in the save callback) the ack */
  char *add = strstr (t->order.s, "add:");
  char *save = strstr (t->order.s, "save ");
  char *saved = strstr (t->order.s, "saved ");
  char *ackp = strstr (t->order.s, "ack:");
  assert_non_null (add);
  assert_non_null (strstr (t->order.s, arn));
  assert_true (add < save && save < saved && saved < ackp);
  const char *id = ackp + 4;
  char mid[64];
  sscanf (id, "%63s", mid);
  assert_true (wait_events ("AckRequest", mid, NULL, 1, 5000));
  assert_true (acs_session_seq_num (t->s) >= 1);
  assert_true (state_acs_seq_num (t->state) >= 1);
  /* nothing pending on the control plane for us any more */
  char *st = admin ("GET", "/_local/state", NULL);
  assert_null (strstr (st, mid));
  free (st);
  free (arn);
  t_free (t);
}

static bool
two_payloads (void *arg)
{
  struct t *t = arg;
  return t->n_payloads >= 2;
}

static void
test_unacked_payload_resent (void **state)
{
  (void) state;
  struct t *t = t_new (NULL, 0, false);
  t->record_only = true;
  t_start (t);
  char *arn = run_task ();
  assert_true (run_until (two_payloads, t, 10000));
  assert_string_equal (t->payload_ids[0], t->payload_ids[1]);
  /* now let the glue handle the re-send: acked once, task not added twice */
  t->record_only = false;
  assert_true (wait_events ("AckRequest", t->payload_ids[0], NULL, 1, 8000));
  const char *first = strstr (t->order.s, "add:");
  assert_non_null (first);
  assert_null (strstr (first + 4, "add:"));
  free (arn);
  t_free (t);
}

static void
test_duplicate_payload (void **state)
{
  (void) state;
  struct t *t = t_new (NULL, 0, false);
  t_start (t);
  char *arn = run_task ();
  assert_true (run_until (order_has_ack, t, 10000));
  char mid[64];
  sscanf (strstr (t->order.s, "ack:") + 4, "%63s", mid);
  admin_ok ("POST", "/_local/faults", "{\"duplicate_payload\":true}");
  assert_true (wait_events ("AckRequest", mid, NULL, 2, 5000));
  /* acked twice, run once */
  const char *first = strstr (t->order.s, "add:");
  assert_null (strstr (first + 4, "add:"));
  free (arn);
  t_free (t);
}

static bool
hb_acked (void *arg)
{
  struct t *t = arg;
  return acs_session_get_stats (t->s)->heartbeat_acks >= 2;
}

static void
test_heartbeat_ack (void **state)
{
  (void) state;
  size_t before = count_events ("HeartbeatAckRequest", NULL, NULL);
  struct t *t = t_new (NULL, 0, false);
  t_start (t);
  assert_true (run_until (hb_acked, t, 6000));
  assert_true (wait_events ("HeartbeatAckRequest", NULL, NULL, before + 2, 3000));
  assert_int_equal (t->disconnected, 0);
  t_free (t);
}

static bool
reconnected (void *arg)
{
  struct t *t = arg;
  return t->connected >= 2 && acs_session_connected (t->s);
}

static void
test_drop_ws_reconnect (void **state)
{
  (void) state;
  struct t *t = t_new (NULL, 0, false);
  t_start (t);
  uint64_t t0 = util_now_ms ();
  admin_ok ("POST", "/_local/faults", "{\"drop_ws\":true}");
  assert_true (run_until (reconnected, t, 5000));
  assert_int_equal (t->disconnected, 1);
  /* a clean close by the server reconnects within the spread (1 s) */
  assert_true (acs_session_get_stats (t->s)->last_delay_ms < 1000);
  assert_true (util_now_ms () - t0 < 3000);
  /* TCP abort */
  admin_ok ("POST", "/_local/faults", "{\"drop_ws\":\"abort\"}");
  t->connected = 1;
  assert_true (run_until (reconnected, t, 5000));
  assert_int_equal (t->disconnected, 2);
  t_free (t);
}

struct stat_wait
{
  struct t *t;
  uint64_t base;
};

static bool
acks_grew (void *arg)
{
  struct stat_wait *w = arg;
  return acs_session_get_stats (w->t->s)->heartbeat_acks > w->base;
}

static bool
attempts_grew (void *arg)
{
  struct stat_wait *w = arg;
  return acs_session_get_stats (w->t->s)->connect_attempts > w->base;
}

static bool
two_dropped (void *arg)
{
  struct t *t = arg;
  return acs_session_get_stats (t->s)->frames_dropped >= 3;
}

static void
test_malformed_frames (void **state)
{
  (void) state;
  struct t *t = t_new (NULL, 0, false);
  t_start (t);
  admin_ok ("POST", "/_local/faults", "{\"send_raw\":\"this is not json\"}");
  admin_ok ("POST", "/_local/faults", "{\"send_raw\":\"{\\\"type\\\":\\\"BogusMessage\\\",\\\"message\\\":{}}\"}");
  admin_ok ("POST", "/_local/faults",
            "{\"send_raw\":\"{\\\"type\\\":\\\"PayloadMessage\\\",\\\"message\\\":{\\\"messageId\\\":5}}\"}");
  assert_true (run_until (two_dropped, t, 5000));
  struct stat_wait w = { t, acs_session_get_stats (t->s)->heartbeat_acks };
  assert_true (run_until (acks_grew, &w, 5000));
  assert_true (acs_session_connected (t->s));
  assert_int_equal (t->disconnected, 0);
  t_free (t);
}

/* ---- a big payload is decoded off the loop, frames stay in order ---- */

/* Loop-lag probe: a 5 ms timer; the longest gap between two ticks, in
   wall time and in CPU time of the loop's thread.  On a loaded machine the
   thread may wait for a core for a long while; the CPU time it spent
   between two ticks is what one loop step cost. */
struct lag_probe
{
  uv_timer_t timer;
  uint64_t last_ns, max_gap_ns;
  uint64_t last_cpu_ns, max_cpu_ns;
};

static uint64_t
thread_cpu_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static void
lag_tick_cb (uv_timer_t *h)
{
  struct lag_probe *p = h->data;
  uint64_t now = uv_hrtime (), cpu = thread_cpu_ns ();
  if (now - p->last_ns > p->max_gap_ns)
    p->max_gap_ns = now - p->last_ns;
  if (cpu - p->last_cpu_ns > p->max_cpu_ns)
    p->max_cpu_ns = cpu - p->last_cpu_ns;
  p->last_ns = now;
  p->last_cpu_ns = cpu;
}

/* A valid PayloadMessage of about 8 MiB: 1000 tasks of 2 containers (the
   payload limits of acs/task_codec.h), each container with 48 environment
   variables - many small JSON values, slow to decode. */
static char *
big_payload_frame (const char *id)
{
  struct sbuf b = { 0 };
  sbuf_printf (&b, "{\"type\":\"PayloadMessage\",\"message\":{\"messageId\":\"%s\",\"clusterArn\":"
               "\"arn:aws:ecs:us-west-2:123456789012:cluster/%s\",\"containerInstanceArn\":\"%s\","
               "\"seqNum\":1,\"tasks\":[",
               id, CLUSTER, F.instance_arn);
  for (int i = 0; i < 1000; i++)
    {
      sbuf_printf (&b, "%s{\"arn\":\"arn:aws:ecs:us-west-2:123456789012:task/%s/big%04d\","
                   "\"family\":\"big\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\","
                   "\"containers\":[",
                   i ? "," : "", CLUSTER, i);
      for (int c = 0; c < 2; c++)
        {
          sbuf_printf (&b, "%s{\"name\":\"c%d\",\"image\":\"busybox\",\"essential\":true,"
                       "\"command\":[\"sleep\",\"1000\"],\"environment\":{",
                       c ? "," : "", c);
          for (int e = 0; e < 48; e++)
            sbuf_printf (&b, "%s\"VAR_%02d\":\"value-%04d-%d-%02d-"
                         "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz\"",
                         e ? "," : "", e, i, c, e);
          sbuf_puts (&b, "}}");
        }
      sbuf_puts (&b, "]}");
    }
  sbuf_puts (&b, "]}}");
  return sbuf_steal (&b);
}

/* Admin send_raw calls made one after the other on the loop (the control
   plane answers once the frame is written, so they arrive in this order;
   a blocking call could not finish while the loop does not read). */
struct raw_chain
{
  char *bodies[40];
  size_t n, next;
  bool done, failed;
};

static void raw_chain_next (struct raw_chain *rc);

static void
raw_chain_done_cb (const struct http_response *resp, agent_error_t err, void *data)
{
  struct raw_chain *rc = data;
  if (err || !resp || resp->status != 200)
    {
      rc->failed = true;
      rc->done = true;
      return;
    }
  raw_chain_next (rc);
}

static void
raw_chain_next (struct raw_chain *rc)
{
  if (rc->next == rc->n)
    {
      rc->done = true;
      return;
    }
  char *url = xasprintf ("http://%s/_local/faults", F.listen);
  struct http_header h = { .name = "Content-Type", .value = "application/json" };
  const char *b = rc->bodies[rc->next++];
  struct http_request req = { .method = "POST", .url = url, .headers = &h, .n_headers = 1,
                              .body = b, .body_len = strlen (b), .timeout_ms = 30000,
                              .on_done = raw_chain_done_cb, .data = rc };
  agent_error_t err = NULL;
  if (!http_call_start (F.http, &req, &err))
    {
      error_free (&err);
      rc->failed = rc->done = true;
    }
  free (url);
}

static void
raw_chain_add (struct raw_chain *rc, const char *frame)
{
  json_t *j = json_pack ("{s:s}", "send_raw", frame);
  rc->bodies[rc->n++] = json_dumps (j, JSON_COMPACT);
  json_decref (j);
}

static bool
one_payload (void *arg)
{
  struct t *t = arg;
  return t->n_payloads >= 1;
}

static void
test_big_payload_off_loop (void **state)
{
  (void) state;
  struct t *t = t_new (NULL, 0, false);
  t->record_only = true;
  t->keep_payloads = true;
  t_start (t);
  struct raw_chain rc = { 0 };
  char *big = big_payload_frame ("big-payload");
  assert_true (strlen (big) > 7u * 1024 * 1024);
  raw_chain_add (&rc, big);
  free (big);
  raw_chain_add (&rc, "{\"type\":\"HeartbeatMessage\",\"message\":{\"healthy\":true,"
                      "\"messageId\":\"hb-after-big\"}}");
  char *small = xasprintf ("{\"type\":\"PayloadMessage\",\"message\":{\"messageId\":\"small-after\","
                           "\"clusterArn\":\"arn:aws:ecs:us-west-2:123456789012:cluster/%s\","
                           "\"containerInstanceArn\":\"%s\",\"seqNum\":2,\"tasks\":[]}}",
                           CLUSTER, F.instance_arn);
  raw_chain_add (&rc, small);
  free (small);
  assert_int_equal (count_events ("HeartbeatAckRequest", "hb-after-big", NULL), 0);

  raw_chain_next (&rc); /* copies the 8 MiB request body: before the probe */
  struct lag_probe p = { 0 };
  uv_timer_init (&F.loop, &p.timer);
  p.timer.data = &p;
  p.last_ns = uv_hrtime ();
  p.last_cpu_ns = thread_cpu_ns ();
  uv_timer_start (&p.timer, lag_tick_cb, 5, 5);
  assert_true (run_until (two_payloads, t, 60000));
  uv_timer_stop (&p.timer);
  assert_true (run_until (flag_set, &rc.done, 10000));
  assert_false (rc.failed);
  for (size_t i = 0; i < rc.n; i++)
    free (rc.bodies[i]);
  uv_close ((uv_handle_t *) &p.timer, NULL);
  assert_true (run_until (no_closing_handles, NULL, 5000));

  /* arrival order: the big payload first, then the frames sent after it */
  assert_string_equal (t->payload_ids[0], "big-payload");
  assert_string_equal (t->payload_ids[1], "small-after");
  assert_true (wait_events ("HeartbeatAckRequest", "hb-after-big", NULL, 1, 5000));
  fprintf (stderr, "big payload: longest loop step %.1f ms of CPU, longest gap %.1f ms\n",
           (double) p.max_cpu_ns / 1e6, (double) p.max_gap_ns / 1e6);
  /* Decoded on the loop, the payload cost one step of 300-450 ms of CPU
     (release and ASan builds); off the loop, about 5 ms. */
  assert_true (p.max_cpu_ns < 50u * 1000 * 1000);
  assert_true (acs_session_connected (t->s));
  assert_int_equal (t->disconnected, 0);
  t_free (t);
}

/* A flood of big frames: reading pauses while too many wait to be decoded
   (a bounded queue), every frame is handled, the connection stays up. */
static char *
bogus_frame (int i)
{
  struct sbuf b = { 0 };
  sbuf_printf (&b, "{\"type\":\"BogusMessage\",\"message\":{\"n\":%d,\"junk\":[", i);
  for (int k = 0; k < 60000; k++)
    sbuf_printf (&b, "%s{\"k\":%d,\"v\":\"abcdefgh\"}", k ? "," : "", k);
  sbuf_puts (&b, "]}}");
  return sbuf_steal (&b);
}

static void
test_frame_flood_bounded (void **state)
{
  (void) state;
  /* A heartbeat timeout far shorter than the flood takes to decode (seconds
     under ASan): frames received, and frames waiting to be handled, are
     signs of life; only silence ends the connection. */
  struct t *t = t_new (NULL, 2000, false);
  t->record_only = true;
  struct raw_chain rc = { 0 };
  for (int i = 0; i < 32; i++)
    {
      char *f = bogus_frame (i);
      raw_chain_add (&rc, f);
      free (f);
    }
  char *small = xasprintf ("{\"type\":\"PayloadMessage\",\"message\":{\"messageId\":\"after-flood\","
                           "\"clusterArn\":\"arn:aws:ecs:us-west-2:123456789012:cluster/%s\","
                           "\"containerInstanceArn\":\"%s\",\"seqNum\":3,\"tasks\":[]}}",
                           CLUSTER, F.instance_arn);
  raw_chain_add (&rc, small);
  free (small);
  /* connected only now: building the frames takes seconds under ASan,
     with the loop (and the heartbeat timer) not running */
  t_start (t);
  uint64_t dropped = acs_session_get_stats (t->s)->frames_dropped;
  raw_chain_next (&rc);
  assert_true (run_until (flag_set, &rc.done, 60000));
  assert_false (rc.failed);
  for (size_t i = 0; i < rc.n; i++)
    free (rc.bodies[i]);
  assert_true (run_until (one_payload, t, 60000));
  assert_string_equal (t->payload_ids[0], "after-flood");
  fprintf (stderr, "flood: reading paused %llu time(s), %llu heartbeat timeout(s)\n",
           (unsigned long long) acs_session_get_stats (t->s)->rx_pauses,
           (unsigned long long) acs_session_get_stats (t->s)->heartbeat_timeouts);
  assert_int_equal (t->disconnected, 0);
  assert_int_equal (acs_session_get_stats (t->s)->heartbeat_timeouts, 0);
  assert_int_equal (acs_session_get_stats (t->s)->frames_dropped - dropped, 32);
  assert_true (acs_session_connected (t->s));
  t_free (t);
}

/* An IAMRoleCredentialsMessage takes the path of every other frame:
   decoded off the loop whatever its size (one of 256 KiB, over the 64 KiB
   a credentials frame used to be refused above, is handled), its secrets
   registered with the logger before the handler sees them and
   unregistered when it frees them. */
static bool
one_creds (void *arg)
{
  return ((struct t *) arg)->creds >= 1;
}

static void
test_credentials_frame_secrets (void **state)
{
  (void) state;
  struct t *t = t_new (NULL, 0, false);
  t_start (t);
  const char *secret = "itest-role-secret-5f0c2a9e", *token = "itest-role-token-9d7e41b3";
  struct sbuf b = { 0 };
  sbuf_printf (&b, "{\"type\":\"IAMRoleCredentialsMessage\",\"message\":{\"messageId\":"
                   "\"creds-1\",\"taskArn\":\"arn:aws:ecs:us-west-2:123456789012:task/%s/c1\","
                   "\"roleType\":\"TaskApplication\",\"roleCredentials\":{\"credentialsId\":"
                   "\"cid-1\",\"accessKeyId\":\"ASIAITESTKEY\",\"secretAccessKey\":\"%s\","
                   "\"sessionToken\":\"%s\",\"expiration\":\"2030-01-01T00:00:00Z\"},"
                   "\"padding\":\"",
               CLUSTER, secret, token);
  for (int i = 0; i < 256 * 1024 / 64; i++)
    sbuf_puts (&b, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
  sbuf_puts (&b, "\"}}");
  char *frame = sbuf_steal (&b);
  assert_true (strlen (frame) > 256u * 1024);
  uint64_t dropped = acs_session_get_stats (t->s)->frames_dropped;
  struct raw_chain rc = { 0 };
  raw_chain_add (&rc, frame);
  free (frame);
  raw_chain_next (&rc);
  assert_true (run_until (one_creds, t, 30000));
  assert_true (run_until (flag_set, &rc.done, 10000));
  assert_false (rc.failed);
  free (rc.bodies[0]);
  assert_int_equal (t->creds, 1);
  assert_true (t->creds_redacted);
  assert_int_equal (acs_session_get_stats (t->s)->frames_dropped, dropped);
  /* freed by the handler: no longer registered */
  char *line = log_redact (xstrdup (secret));
  assert_string_equal (line, secret);
  free (line);
  assert_true (acs_session_connected (t->s));
  t_free (t);
}

static void
test_close_message (void **state)
{
  (void) state;
  struct t *t = t_new (NULL, 0, false);
  t_start (t);
  admin_ok ("POST", "/_local/faults", "{\"close_message\":\"going away\"}");
  assert_true (run_until (reconnected, t, 5000));
  assert_int_equal (t->disconnected, 1);
  assert_true (acs_session_get_stats (t->s)->last_delay_ms < 1000);
  t_free (t);
}

static bool
hb_timeouts (void *arg)
{
  struct t *t = arg;
  return acs_session_get_stats (t->s)->heartbeat_timeouts >= 1 && t->connected >= 2;
}

static void
test_heartbeat_timeout (void **state)
{
  (void) state;
  /* 300 ms without a message (the control plane beats every 1 s) */
  struct t *t = t_new (NULL, 300, false);
  t_start (t);
  assert_true (run_until (hb_timeouts, t, 8000));
  const struct acs_session_stats *st = acs_session_get_stats (t->s);
  assert_non_null (st->last_error);
  assert_non_null (strstr (st->last_error, "heartbeat"));
  t_free (t);
}

static bool
has_error (void *arg)
{
  struct t *t = arg;
  const char *e = acs_session_get_stats (t->s)->last_error;
  return e && strstr (e, "Exception");
}

static bool
inactive_wait (void *arg)
{
  struct t *t = arg;
  return t->inactive >= 1 && acs_session_get_stats (t->s)->last_delay_ms == 600000;
}

static void
test_handshake_errors (void **state)
{
  (void) state;
  const char *bad = "arn:aws:ecs:us-west-2:123456789012:container-instance/" CLUSTER
                    "/00000000000000000000000000000000";
  struct t *t = t_new (bad, 0, false);
  agent_error_t err = NULL;
  assert_int_equal (acs_session_start (t->s, &err), 0);
  assert_true (run_until (has_error, t, 8000));
  assert_non_null (strstr (acs_session_get_stats (t->s)->last_error,
                           "InvalidInstanceException: Invalid container instance"));
  /* keeps retrying with back-off, never gives up */
  struct stat_wait w = { t, acs_session_get_stats (t->s)->connect_attempts };
  assert_true (run_until (attempts_grew, &w, 5000));
  assert_true (acs_session_get_stats (t->s)->last_delay_ms > 0);
  t_free (t);

  /* deregistered instance: InactiveInstanceException -> long wait */
  char *arn = register_instance ();
  struct t *t2 = t_new (arn, 0, false);
  t_start (t2);
  char *body = xasprintf ("{\"cluster\":\"" CLUSTER "\",\"containerInstance\":\"%s\",\"force\":true}", arn);
  free (ecs_raw ("DeregisterContainerInstance", body));
  free (body);
  assert_true (run_until (inactive_wait, t2, 8000));
  assert_true (t2->inactive >= 1);
  assert_int_equal (acs_session_get_stats (t2->s)->last_delay_ms, 600000);
  assert_false (acs_session_connected (t2->s));
  free (arn);
  t_free (t2);
}

static void
send_update (const char *type, const char *loc, const char *sig, const char *id)
{
  char *b;
  if (loc)
    b = xasprintf ("{\"type\":\"%s\",\"message\":{\"messageId\":\"%s\",\"updateInfo\":"
                   "{\"location\":\"%s\",\"signature\":\"%s\"}}}",
                   type, id, loc, sig);
  else
    b = xasprintf ("{\"type\":\"%s\",\"message\":{\"messageId\":\"%s\"}}", type, id);
  admin_ok ("POST", "/_local/acs/send", b);
  free (b);
}

static bool
performed (void *arg)
{
  struct t *t = arg;
  return t->performed > 0;
}

static void
test_update_flow (void **state)
{
  (void) state;
  struct t *t = t_new (NULL, 0, true);
  t_start (t);
  char *loc = xasprintf ("http://%s/agent.tar", F.web_addr);

  /* perform before anything was staged */
  send_update ("PerformUpdateMessage", loc, F.good_sha, "perf-early");
  assert_true (wait_events ("NackRequest", "perf-early",
                            "Cannot perform update; update not downloaded", 1, 5000));

  /* bad checksum */
  send_update ("StageUpdateMessage", loc,
               "0000000000000000000000000000000000000000000000000000000000000000", "stage-bad");
  assert_true (wait_events ("NackRequest", "stage-bad",
                            "Unable to download: Hashsum validation failed", 1, 8000));
  assert_int_equal (update_get_state (t->up), UPDATE_NONE);

  /* good checksum */
  send_update ("StageUpdateMessage", loc, F.good_sha, "stage-good");
  assert_true (wait_events ("AckRequest", "stage-good", NULL, 1, 8000));
  assert_int_equal (update_get_state (t->up), UPDATE_DOWNLOADED);
  const char *tarball = update_tarball (t->up);
  assert_non_null (tarball);
  char *got = sha256_file_hex (tarball);
  assert_string_equal (got, F.good_sha);
  free (got);
  char di[160];
  snprintf (di, sizeof di, "%s/dl/desired-image", F.dir);
  char *content = NULL;
  size_t len;
  agent_error_t err = NULL;
  assert_int_equal (util_read_file (di, &content, &len, &err), 0);
  const char *base = strrchr (tarball, '/') + 1;
  char *want = xasprintf ("%s\n", base);
  assert_string_equal (content, want);
  assert_int_equal (strlen (base), strlen ("0123456789abcdef0123.ecs-update.tar"));
  free (want);
  free (content);

  /* perform: ack, then the callback (main would exit 42) */
  send_update ("PerformUpdateMessage", loc, F.good_sha, "perform-1");
  assert_true (run_until (performed, t, 5000));
  assert_true (wait_events ("AckRequest", "perform-1", NULL, 1, 5000));
  assert_int_equal (t->performed, 1);
  free (loc);
  t_free (t);
}

static void
test_updates_disabled (void **state)
{
  (void) state;
  struct t *t = t_new (NULL, 0, false);
  t_start (t);
  send_update ("StageUpdateMessage", "http://127.0.0.1:1/x", "abc", "dis-stage");
  send_update ("PerformUpdateMessage", "http://127.0.0.1:1/x", "abc", "dis-perform");
  assert_true (wait_events ("NackRequest", "dis-stage", "Updates are disabled", 1, 5000));
  assert_true (wait_events ("NackRequest", "dis-perform", "Updates are disabled", 1, 5000));
  t_free (t);
}

static bool
has_last_error (void *arg)
{
  struct t *t = arg;
  return acs_session_get_stats (t->s)->last_error != NULL;
}

static void
test_wss (void **state)
{
  (void) state;
  if (!F.tls_addr)
    fail_msg ("the TLS proxy in front of the control plane did not start");
  char *ep = xasprintf ("https://%s/", F.tls_addr);
  /* verified against the test CA */
  NEXT.endpoint = ep;
  NEXT.ca_file = F.cert;
  struct t *t = t_new (NULL, 0, false);
  t_start (t);
  assert_true (run_until (hb_acked, t, 6000));
  t_free (t);
  /* the system bundle does not know the self-signed certificate: refused */
  NEXT.endpoint = ep;
  t = t_new (NULL, 0, false);
  agent_error_t err = NULL;
  assert_int_equal (acs_session_start (t->s, &err), 0);
  assert_true (run_until (has_last_error, t, 5000));
  assert_int_equal (t->connected, 0);
  assert_true (acs_session_get_stats (t->s)->connect_attempts >= 1);
  t_free (t);
  /* -k: certificate checks off */
  NEXT.endpoint = ep;
  NEXT.insecure = true;
  t = t_new (NULL, 0, false);
  t_start (t);
  t_free (t);
  free (ep);
}

static void
test_connection_ttl (void **state)
{
  (void) state;
  NEXT.ttl_ms = 700;
  struct t *t = t_new (NULL, 0, false);
  t_start (t);
  assert_true (run_until (reconnected, t, 5000));
  assert_int_equal (acs_session_get_stats (t->s)->last_delay_ms, 0);
  assert_null (acs_session_get_stats (t->s)->last_error);
  t_free (t);
}

/* A peer that stops reading: the outbound queue stays under its byte cap
   (frames past it are refused), the 4 MiB messageId is not echoed, and the
   write deadline drops the connection, which is re-made with back-off. */
struct stall_watch
{
  struct t *t;
  size_t max_queued;
  uint64_t acks;
};

static void
stall_sample (struct stall_watch *w)
{
  size_t q = acs_session_queued_bytes (w->t->s);
  if (q > w->max_queued)
    w->max_queued = q;
}

static bool
stall_refused (void *arg)
{
  struct stall_watch *w = arg;
  stall_sample (w);
  return acs_session_get_stats (w->t->s)->frames_refused > 0;
}

static bool
stall_reconnected (void *arg)
{
  struct stall_watch *w = arg;
  stall_sample (w);
  return w->t->connected >= 2 && acs_session_connected (w->t->s);
}

static bool
stall_acked_again (void *arg)
{
  struct stall_watch *w = arg;
  return acs_session_get_stats (w->t->s)->heartbeat_acks > w->acks;
}

static void
test_peer_stops_reading (void **state)
{
  (void) state;
  struct test_child srv = { 0 };
  char *argv[] = { "/usr/bin/python3", "-c", (char *) STALL_ACS_PY, NULL };
  if (test_child_start (&srv, argv) < 0)
    fail_msg ("the fake ACS server did not start");
  char *ep = xasprintf ("ws://%s", srv.line);
  NEXT.endpoint = ep;
  NEXT.write_timeout_ms = 2000;
  struct t *t = t_new (NULL, 0, false);
  t_start (t);
  struct stall_watch w = { .t = t };
  assert_true (run_until (stall_refused, &w, 30000));
  const struct acs_session_stats *st = acs_session_get_stats (t->s);
  assert_true (st->frames_dropped >= 1); /* the 4 MiB messageId */
  assert_true (run_until (stall_reconnected, &w, 30000));
  assert_true (w.max_queued > 0);
  assert_true (w.max_queued <= ACS_SESSION_MAX_QUEUED_BYTES);
  assert_int_equal (st->write_timeouts, 1);
  assert_int_equal (t->disconnected, 1);
  assert_non_null (st->last_error);
  assert_non_null (strstr (st->last_error, "write deadline"));
  assert_true (st->last_delay_ms > 0); /* back-off, not a clean-end reconnect */
  /* the new connection is answered again */
  w.acks = st->heartbeat_acks;
  assert_true (run_until (stall_acked_again, &w, 5000));
  t_free (t);
  free (ep);
  test_child_stop (&srv);
}

static void
test_stop_while_connecting (void **state)
{
  (void) state;
  /* stop at various points of discovery / connect / upgrade: after that
     many loop turns (each one event: answer, connect, handshake, ...) */
  const int turns[] = { 0, 1, 2, 3, 4, 6, 8, 12 };
  for (size_t i = 0; i < ARRAY_SIZE (turns); i++)
    {
      struct t *t = t_new (NULL, 0, false);
      agent_error_t err = NULL;
      assert_int_equal (acs_session_start (t->s, &err), 0);
      for (int k = 0; k < turns[i]; k++)
        uv_run (&F.loop, UV_RUN_ONCE);
      t_free (t);
    }
  /* never started */
  struct t *t2 = t_new (NULL, 0, false);
  t_free (t2);
}

/* The session on a loop of its own: connects, stops, is freed; a foreign
   timer on that loop keeps running and is never touched, and afterwards the
   loop closes cleanly (no handle of libwebsockets or the session is left). */
static void
l2_connected (acs_session_t *s, void *data)
{
  (void) s;
  *(bool *) data = true;
}

static void
l2_tick (uv_timer_t *t)
{
  (*(int *) t->data)++;
}

static void
test_loop_hygiene (void **state)
{
  (void) state;
  uv_loop_t l2;
  uv_loop_init (&l2);
  uv_timer_t sentinel;
  int ticks = 0;
  uv_timer_init (&l2, &sentinel);
  sentinel.data = &ticks;
  uv_timer_start (&sentinel, l2_tick, 5, 5);
  http_client_t *http = http_client_new (&l2);
  struct aws_creds_options co = { .access_key_id = "AKID", .secret_access_key = "SECRET",
                                  .no_imds = true };
  agent_error_t err = NULL;
  aws_creds_provider_t *creds = aws_creds_provider_new (&l2, http, &co, &err);
  assert_non_null (creds);
  char *ep = xasprintf ("http://%s/", F.listen);
  for (int round = 0; round < 3; round++)
    {
      bool connected = false, stopped = false;
      struct acs_session_options o = {
        .endpoint = ep,
        .creds = creds,
        .http = http,
        .region = "us-west-2",
        .cluster = CLUSTER,
        .container_instance_arn = F.instance_arn,
        .handlers = { .on_connected = l2_connected, .data = &connected },
      };
      acs_session_t *s = acs_session_new (&l2, &o, &err);
      assert_non_null (s);
      if (round > 0)
        {
          assert_int_equal (acs_session_start (s, &err), 0);
          uint64_t end = util_now_ms () + 5000;
          while (!connected && util_now_ms () < end)
            uv_run (&l2, UV_RUN_ONCE);
          assert_true (connected);
        }
      acs_session_stop (s, t_stopped_flag, &stopped);
      uint64_t end = util_now_ms () + 5000;
      while (!stopped && util_now_ms () < end)
        uv_run (&l2, UV_RUN_ONCE);
      assert_true (stopped);
      acs_session_free (s);
      int before = ticks;
      end = util_now_ms () + 5000;
      while (ticks <= before && util_now_ms () < end)
        uv_run (&l2, UV_RUN_ONCE);
      assert_true (ticks > before);
      assert_true (uv_is_active ((uv_handle_t *) &sentinel));
      assert_false (uv_is_closing ((uv_handle_t *) &sentinel));
    }
  free (ep);
  aws_creds_provider_free (creds);
  http_client_free (http);
  uv_close ((uv_handle_t *) &sentinel, NULL);
  uv_run (&l2, UV_RUN_DEFAULT);
  assert_int_equal (uv_loop_close (&l2), 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_connect_signed),
    cmocka_unit_test (test_payload_acked_after_save),
    cmocka_unit_test (test_unacked_payload_resent),
    cmocka_unit_test (test_duplicate_payload),
    cmocka_unit_test (test_heartbeat_ack),
    cmocka_unit_test (test_drop_ws_reconnect),
    cmocka_unit_test (test_malformed_frames),
    cmocka_unit_test (test_close_message),
    cmocka_unit_test (test_big_payload_off_loop),
    cmocka_unit_test (test_frame_flood_bounded),
    cmocka_unit_test (test_credentials_frame_secrets),
    cmocka_unit_test (test_heartbeat_timeout),
    cmocka_unit_test (test_handshake_errors),
    cmocka_unit_test (test_update_flow),
    cmocka_unit_test (test_updates_disabled),
    cmocka_unit_test (test_wss),
    cmocka_unit_test (test_connection_ttl),
    cmocka_unit_test (test_peer_stops_reading),
    cmocka_unit_test (test_stop_while_connecting),
    cmocka_unit_test (test_loop_hygiene),
  };
  if (getenv ("ACS_TEST_FILTER"))
    cmocka_set_test_filter (getenv ("ACS_TEST_FILTER"));
  /* TEST_ACS_ONLY=<pattern>: run the matching tests only (one test while
     investigating; cmocka's * wildcard) */
  if (getenv ("TEST_ACS_ONLY"))
    cmocka_set_test_filter (getenv ("TEST_ACS_ONLY"));
  return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
