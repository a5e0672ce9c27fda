/* Unit tests for acs/payload.h with a fake engine / state / session:
 * the ack is sent only from the save callback (and not at all when the save
 * fails), stops go to the engine first, sequence numbers, unrecognised
 * tasks reported STOPPED with UnrecognizedTaskError, a duplicate payload is
 * acknowledged but run once (also while its save is pending), payloads
 * missing messageId / clusterArn / containerInstanceArn are rejected, and
 * freeing with saves pending cancels them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "acs/codec.h"
#include "acs/payload.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "log/log.h"

struct fake
{
  struct sbuf log; /* "add:<arn>[<start>/<stop>] stopped:<arn>=<reason> save ack:<id>@<cl>/<in> seq:<n> " */
  state_saved_cb cbs[16];
  void *datas[16];
  size_t n_saves;
  int cancelled;
  int64_t seq;
  int engine_fail;
};

static int
f_task_add (void *ctx, struct task *t, agent_error_t *err)
{
  struct fake *f = ctx;
  sbuf_printf (&f->log, "add:%s[%lld/%lld] ", t->arn, (long long) t->start_seq,
               (long long) t->stop_seq);
  task_free (t);
  if (f->engine_fail)
    return error_set (err, ERR_CANCELLED, "engine stopped");
  return 0;
}

static void
f_report (void *ctx, const char *arn, const char *reason)
{
  struct fake *f = ctx;
  sbuf_printf (&f->log, "stopped:%s=%s ", arn, reason);
}

static void
f_save (void *ctx, state_saved_cb cb, void *data)
{
  struct fake *f = ctx;
  sbuf_puts (&f->log, "save ");
  assert_true (f->n_saves < 16);
  f->cbs[f->n_saves] = cb;
  f->datas[f->n_saves] = data;
  f->n_saves++;
}

static void
f_save_cancel (void *ctx, state_saved_cb cb, void *data)
{
  struct fake *f = ctx;
  for (size_t i = 0; i < f->n_saves; i++)
    if (f->cbs[i] == cb && f->datas[i] == data)
      {
        f->cbs[i] = NULL;
        f->cancelled++;
      }
}

static void
f_set_seq (void *ctx, int64_t seq)
{
  struct fake *f = ctx;
  f->seq = seq;
  sbuf_printf (&f->log, "seq:%lld ", (long long) seq);
}

static int
f_send_ack (void *ctx, const char *id, const char *cl, const char *in, agent_error_t *err)
{
  (void) err;
  struct fake *f = ctx;
  sbuf_printf (&f->log, "ack:%s@%s/%s ", id, cl, in);
  return 0;
}

static const struct acs_payload_ops fops = {
  .task_add = f_task_add,
  .report_stopped = f_report,
  .save = f_save,
  .save_cancel = f_save_cancel,
  .set_seq_num = f_set_seq,
  .send_ack = f_send_ack,
};

/* Complete save i (err NULL = success). */
static void
complete (struct fake *f, size_t i, const char *errmsg)
{
  assert_true (i < f->n_saves);
  assert_non_null (f->cbs[i]);
  agent_error_t err = NULL;
  if (errmsg)
    error_set (&err, ERR_IO, "%s", errmsg);
  state_saved_cb cb = f->cbs[i];
  f->cbs[i] = NULL;
  cb (err, f->datas[i]);
  error_free (&err);
}

static struct acs_payload *
payload (const char *json)
{
  struct acs_message *m = NULL;
  agent_error_t err = NULL;
  if (acs_decode (json, strlen (json), &m, &err) < 0)
    fail_msg ("%s", error_msg (&err));
  struct acs_payload *p = acs_message_take_payload (m);
  acs_message_free (m);
  return p;
}

#define TASK(arn, ds)                                                                              \
  "{\"arn\":\"" arn "\",\"family\":\"f\",\"version\":\"1\",\"desiredStatus\":\"" ds "\","           \
  "\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}"

static const char *log_of (struct fake *f)
{
  return f->log.s ? f->log.s : "";
}

static int
setup (void **state)
{
  log_init (LOG_NONE, NULL, NULL);
  struct fake *f = xcalloc (1, sizeof *f);
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  struct fake *f = *state;
  sbuf_free (&f->log);
  free (f);
  log_close ();
  return 0;
}

static acs_payload_handler_t *
handler (struct fake *f)
{
  struct acs_payload_options o = { .ops = &fops, .ops_ctx = f };
  return acs_payload_handler_new (&o);
}

static void
test_ack_after_save (void **state)
{
  struct fake *f = *state;
  acs_payload_handler_t *h = handler (f);
  acs_payload_handle (h, payload ("{\"type\":\"PayloadMessage\",\"message\":{\"messageId\":\"m1\","
                                  "\"seqNum\":4,\"clusterArn\":\"arn:c\",\"containerInstanceArn\":"
                                  "\"arn:i\",\"tasks\":[" TASK ("t1", "RUNNING") "]}}"));
  /* added and saved, not acknowledged yet */
  assert_string_equal (log_of (f), "add:t1[4/0] save ");
  assert_int_equal (acs_payload_pending (h), 1);
  assert_int_equal (f->seq, 0);
  complete (f, 0, NULL);
  assert_string_equal (log_of (f), "add:t1[4/0] save ack:m1@arn:c/arn:i seq:4 ");
  assert_int_equal (acs_payload_pending (h), 0);
  acs_payload_handler_free (h);
}

static void
test_save_failure_no_ack (void **state)
{
  struct fake *f = *state;
  acs_payload_handler_t *h = handler (f);
  acs_payload_handle (h, payload ("{\"type\":\"PayloadMessage\",\"message\":{\"messageId\":\"m1\","
                                  "\"seqNum\":4,\"clusterArn\":\"c\",\"containerInstanceArn\":\"i\","
                                  "\"tasks\":[" TASK ("t1", "RUNNING") "]}}"));
  complete (f, 0, "disk full");
  assert_null (strstr (log_of (f), "ack:"));
  assert_null (strstr (log_of (f), "seq:"));
  /* the re-sent payload is handled again (not in the acked set) */
  acs_payload_handle (h, payload ("{\"type\":\"PayloadMessage\",\"message\":{\"messageId\":\"m1\","
                                  "\"seqNum\":4,\"clusterArn\":\"c\",\"containerInstanceArn\":\"i\","
                                  "\"tasks\":[" TASK ("t1", "RUNNING") "]}}"));
  complete (f, 1, NULL);
  assert_non_null (strstr (log_of (f), "ack:m1@c/i seq:4"));
  acs_payload_handler_free (h);
}

static void
test_stops_first_and_seq (void **state)
{
  struct fake *f = *state;
  acs_payload_handler_t *h = handler (f);
  acs_payload_handle (h, payload ("{\"type\":\"PayloadMessage\",\"message\":{\"messageId\":\"m2\","
                                  "\"seqNum\":9,\"clusterArn\":\"c\",\"containerInstanceArn\":\"i\","
                                  "\"tasks\":[" TASK ("run1", "RUNNING") "," TASK ("stop1", "STOPPED")
                                  "," TASK ("run2", "RUNNING") "," TASK ("stop2", "STOPPED") "]}}"));
  assert_string_equal (log_of (f), "add:stop1[0/9] add:stop2[0/9] add:run1[9/0] add:run2[9/0] save ");
  complete (f, 0, NULL);
  acs_payload_handler_free (h);
}

static void
test_no_seq_num (void **state)
{
  struct fake *f = *state;
  acs_payload_handler_t *h = handler (f);
  acs_payload_handle (h, payload ("{\"type\":\"PayloadMessage\",\"message\":{\"messageId\":\"m\","
                                  "\"clusterArn\":\"c\",\"containerInstanceArn\":\"i\","
                                  "\"tasks\":[" TASK ("t", "RUNNING") "]}}"));
  complete (f, 0, NULL);
  assert_string_equal (log_of (f), "add:t[0/0] save ack:m@c/i ");
  acs_payload_handler_free (h);
}

static void
test_unrecognized_task (void **state)
{
  struct fake *f = *state;
  acs_payload_handler_t *h = handler (f);
  acs_payload_handle (
      h, payload ("{\"type\":\"PayloadMessage\",\"message\":{\"messageId\":\"m3\",\"seqNum\":2,"
                  "\"clusterArn\":\"c\",\"containerInstanceArn\":\"i\",\"tasks\":["
                  "{\"arn\":\"bad1\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\","
                  "\"image\":\"busybox\",\"overrides\":\"{\\\"containerPlanet\\\":1}\"}]},"
                  "{\"family\":\"noarn\",\"containers\":[]},"
                  "null," TASK ("good", "RUNNING") "]}}"));
  const char *l = log_of (f);
  assert_non_null (strstr (l, "stopped:bad1=UnrecognizedTaskError: "));
  assert_null (strstr (l, "noarn"));
  assert_non_null (strstr (l, "add:good[2/0] save "));
  assert_null (strstr (l, "add:bad1"));
  complete (f, 0, NULL);
  /* handled (the bad task is reported durably): acknowledged */
  assert_non_null (strstr (log_of (f), "ack:m3@c/i seq:2"));
  acs_payload_handler_free (h);
}

static void
test_duplicate_acked_once_run (void **state)
{
  struct fake *f = *state;
  acs_payload_handler_t *h = handler (f);
  const char *p = "{\"type\":\"PayloadMessage\",\"message\":{\"messageId\":\"dup\",\"seqNum\":3,"
                  "\"clusterArn\":\"c\",\"containerInstanceArn\":\"i\",\"tasks\":[" TASK ("t", "RUNNING") "]}}";
  acs_payload_handle (h, payload (p));
  /* re-sent while the save is pending: ignored */
  acs_payload_handle (h, payload (p));
  assert_string_equal (log_of (f), "add:t[3/0] save ");
  assert_int_equal (f->n_saves, 1);
  complete (f, 0, NULL);
  /* re-sent after the ack: acknowledged again, not run */
  acs_payload_handle (h, payload (p));
  assert_string_equal (log_of (f), "add:t[3/0] save ack:dup@c/i seq:3 ack:dup@c/i ");
  assert_int_equal (f->n_saves, 1);
  acs_payload_handler_free (h);
}

static void
test_recent_ring (void **state)
{
  struct fake *f = *state;
  acs_payload_handler_t *h = handler (f);
  /* more distinct payloads than the ring holds: the oldest is forgotten and
     handled again (the engine would treat its known task as a no-op) */
  for (int i = 0; i < ACS_PAYLOAD_RECENT_IDS + 1; i++)
    {
      char *p = xasprintf ("{\"type\":\"PayloadMessage\",\"message\":{\"messageId\":\"r%d\","
                           "\"clusterArn\":\"c\",\"containerInstanceArn\":\"i\"}}",
                           i);
      acs_payload_handle (h, payload (p));
      free (p);
      complete (f, f->n_saves - 1, NULL);
      f->n_saves = 0;
    }
  sbuf_free (&f->log);
  acs_payload_handle (h, payload ("{\"type\":\"PayloadMessage\",\"message\":{\"messageId\":\"r1\","
                                  "\"clusterArn\":\"c\",\"containerInstanceArn\":\"i\"}}"));
  assert_string_equal (log_of (f), "ack:r1@c/i ");
  acs_payload_handle (h, payload ("{\"type\":\"PayloadMessage\",\"message\":{\"messageId\":\"r0\","
                                  "\"clusterArn\":\"c\",\"containerInstanceArn\":\"i\"}}"));
  assert_string_equal (log_of (f), "ack:r1@c/i save ");
  complete (f, 0, NULL);
  acs_payload_handler_free (h);
}

static void
test_rejected_missing_fields (void **state)
{
  struct fake *f = *state;
  acs_payload_handler_t *h = handler (f);
  const char *bad[] = {
    "{\"type\":\"PayloadMessage\",\"message\":{\"tasks\":[{\"arn\":\"arn\"}]}}",
    "{\"type\":\"PayloadMessage\",\"message\":{\"messageId\":\"m\",\"containerInstanceArn\":\"i\","
    "\"tasks\":[" TASK ("t", "RUNNING") "]}}",
    "{\"type\":\"PayloadMessage\",\"message\":{\"messageId\":\"m\",\"clusterArn\":\"c\","
    "\"tasks\":[" TASK ("t", "RUNNING") "]}}",
    "{\"type\":\"PayloadMessage\",\"message\":{\"messageId\":\"\",\"clusterArn\":\"c\","
    "\"containerInstanceArn\":\"i\"}}",
  };
  for (size_t i = 0; i < ARRAY_SIZE (bad); i++)
    acs_payload_handle (h, payload (bad[i]));
  assert_string_equal (log_of (f), "");
  assert_int_equal (f->n_saves, 0);
  acs_payload_handle (h, NULL);
  acs_payload_handler_free (h);
}

static void
test_engine_refuses (void **state)
{
  struct fake *f = *state;
  f->engine_fail = 1;
  acs_payload_handler_t *h = handler (f);
  acs_payload_handle (h, payload ("{\"type\":\"PayloadMessage\",\"message\":{\"messageId\":\"m\","
                                  "\"clusterArn\":\"c\",\"containerInstanceArn\":\"i\","
                                  "\"tasks\":[" TASK ("t", "RUNNING") "]}}"));
  assert_string_equal (log_of (f), "add:t[0/0] save ");
  complete (f, 0, NULL);
  /* not every task was accepted: no ack, no seq num */
  assert_string_equal (log_of (f), "add:t[0/0] save ");
  acs_payload_handler_free (h);
}

static void
test_free_cancels_pending (void **state)
{
  struct fake *f = *state;
  acs_payload_handler_t *h = handler (f);
  acs_payload_handle (h, payload ("{\"type\":\"PayloadMessage\",\"message\":{\"messageId\":\"a\","
                                  "\"clusterArn\":\"c\",\"containerInstanceArn\":\"i\"}}"));
  acs_payload_handle (h, payload ("{\"type\":\"PayloadMessage\",\"message\":{\"messageId\":\"b\","
                                  "\"clusterArn\":\"c\",\"containerInstanceArn\":\"i\"}}"));
  assert_int_equal (acs_payload_pending (h), 2);
  acs_payload_handler_free (h);
  assert_int_equal (f->cancelled, 2);
}

/* the default ops with a real (disabled) state store and no session */
static void
save_done (agent_error_t err, void *data)
{
  (void) err;
  (*(int *) data)++;
}

static void
test_default_ops_state (void **state)
{
  (void) state;
  uv_loop_t loop;
  uv_loop_init (&loop);
  agent_error_t err = NULL;
  state_store_t *st = state_store_new (&loop, NULL, false, &err);
  assert_non_null (st);
  struct acs_payload_options o = { .state = st };
  acs_payload_handler_t *h = acs_payload_handler_new (&o);
  /* only an unrecognised task: no engine call needed */
  acs_payload_handle (
      h, payload ("{\"type\":\"PayloadMessage\",\"message\":{\"messageId\":\"m\",\"seqNum\":5,"
                  "\"clusterArn\":\"c\",\"containerInstanceArn\":\"i\",\"tasks\":[{\"arn\":\"bad\","
                  "\"containers\":[{\"name\":\"c\"}]}]}}"));
  assert_int_equal (state_change_count (st), 1);
  const struct state_change *c = state_change_peek (st, 0);
  assert_string_equal (c->task_arn, "bad");
  assert_string_equal (c->status, "STOPPED");
  assert_non_null (strstr (c->reason, "UnrecognizedTaskError: "));
  int done = 0;
  state_save (st, save_done, &done);
  uv_run (&loop, UV_RUN_DEFAULT);
  assert_int_equal (done, 1);
  /* ack failed (no session) but the save succeeded: the seq num is raised */
  assert_int_equal (state_acs_seq_num (st), 5);
  assert_int_equal (acs_payload_pending (h), 0);
  acs_payload_handler_free (h);
  state_store_free (st);
  uv_run (&loop, UV_RUN_DEFAULT);
  assert_int_equal (uv_loop_close (&loop), 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_ack_after_save, setup, teardown),
    cmocka_unit_test_setup_teardown (test_save_failure_no_ack, setup, teardown),
    cmocka_unit_test_setup_teardown (test_stops_first_and_seq, setup, teardown),
    cmocka_unit_test_setup_teardown (test_no_seq_num, setup, teardown),
    cmocka_unit_test_setup_teardown (test_unrecognized_task, setup, teardown),
    cmocka_unit_test_setup_teardown (test_duplicate_acked_once_run, setup, teardown),
    cmocka_unit_test_setup_teardown (test_recent_ring, setup, teardown),
    cmocka_unit_test_setup_teardown (test_rejected_missing_fields, setup, teardown),
    cmocka_unit_test_setup_teardown (test_engine_refuses, setup, teardown),
    cmocka_unit_test_setup_teardown (test_free_cancels_pending, setup, teardown),
    cmocka_unit_test_setup_teardown (test_default_ops_state, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
