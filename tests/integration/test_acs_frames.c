/* Integration tests for acs/ against the local control plane
 * (test_acs_fixture.h): an 8 MiB payload decoded off the loop (a 5 ms
 * loop-lag probe; frames sent after it are handled after it), a flood of big
 * frames (bounded receive queue), a 256 KiB credentials frame (decoded like
 * any other, its secrets redacted while it lives), and a peer that stops
 * reading (bounded outbound queue, write deadline, reconnect; against a
 * small fake ACS). */
#include "test_acs_fixture.h"

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

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_big_payload_off_loop),
    cmocka_unit_test (test_frame_flood_bounded),
    cmocka_unit_test (test_credentials_frame_secrets),
    cmocka_unit_test (test_peer_stops_reading),
  };
  if (getenv ("ACS_TEST_FILTER"))
    cmocka_set_test_filter (getenv ("ACS_TEST_FILTER"));
  /* TEST_ACS_ONLY=<pattern>: run the matching tests only (one test while
     investigating; cmocka's * wildcard) */
  if (getenv ("TEST_ACS_ONLY"))
    cmocka_set_test_filter (getenv ("TEST_ACS_ONLY"));
  return cmocka_run_group_tests (tests, group_setup, group_teardown);
}
