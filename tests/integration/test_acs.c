/* Integration tests for acs/ and update/ against the local control plane
 * (test_acs_fixture.h): signed connect, payload acked only after the durable
 * save, re-send of an unacknowledged payload, heartbeat acks, reconnect
 * after drop_ws (close frame and TCP abort), malformed / unknown frames,
 * CloseMessage, heartbeat timeout with back-off, handshake error bodies
 * (InvalidInstanceException, InactiveInstanceException), wss://, the
 * connection TTL, graceful stop, loop hygiene, and the update flow (stage
 * with a good and a bad checksum served by a local HTTP server, perform ->
 * callback).  Big frames and a peer that stops reading: test_acs_frames.c. */
#include "test_acs_fixture.h"

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
    cmocka_unit_test (test_heartbeat_timeout),
    cmocka_unit_test (test_handshake_errors),
    cmocka_unit_test (test_update_flow),
    cmocka_unit_test (test_updates_disabled),
    cmocka_unit_test (test_wss),
    cmocka_unit_test (test_connection_ttl),
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
