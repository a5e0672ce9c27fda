/* Unit tests for acs/payload.h with a fake engine / state / session:
 * the ack is sent only from the save callback (and not at all when the save
 * fails), stops go to the engine first, sequence numbers, unrecognised
 * tasks reported STOPPED with UnrecognizedTaskError, a duplicate payload is
 * acknowledged but run once (also while its save is pending), payloads
 * missing messageId / clusterArn / containerInstanceArn are rejected, and
 * freeing with saves pending cancels them.  Hostile payloads: a task over
 * the container limit is reported STOPPED, a payload over the task or
 * container limit is refused as a whole (bounded reports) and the limit is
 * checked before anything is parsed; the payload marker is written before
 * a payload is handled and removed after its ack, a payload the agent died
 * on is refused (its unknown tasks reported STOPPED, acknowledged), one it
 * died on twice only acknowledged; a clean stop leaves no suspect. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "acs/codec.h"
#include "acs/task_codec.h"
#include "state/marker.h"
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
  int ack_fail;
  const char *known; /* task_known: true for this ARN */
  size_t n_stopped;
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
  f->n_stopped++;
  if (f->n_stopped <= 3)
    sbuf_printf (&f->log, "stopped:%s=%s ", arn, reason);
}

static bool
f_known (void *ctx, const char *arn)
{
  struct fake *f = ctx;
  return f->known && strcmp (f->known, arn) == 0;
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
  struct fake *f = ctx;
  if (f->ack_fail)
    return error_set (err, ERR_UNREACHABLE, "no ACS session");
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
  .task_known = f_known,
};

/* Complete save i: the store calls back only after a durable write, err NULL. */
static void
complete (struct fake *f, size_t i)
{
  assert_true (i < f->n_saves);
  assert_non_null (f->cbs[i]);
  state_saved_cb cb = f->cbs[i];
  f->cbs[i] = NULL;
  cb (NULL, f->datas[i]);
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
  complete (f, 0);
  assert_string_equal (log_of (f), "add:t1[4/0] save ack:m1@arn:c/arn:i seq:4 ");
  assert_int_equal (acs_payload_pending (h), 0);
  acs_payload_handler_free (h);
}

/* A save that keeps failing never calls back (the store retries it until
   it is durable): the payload stays unacknowledged and pending, a re-send
   is ignored, and freeing the handler cancels the callback. */
static void
test_save_failure_no_ack (void **state)
{
  struct fake *f = *state;
  acs_payload_handler_t *h = handler (f);
  const char *p = "{\"type\":\"PayloadMessage\",\"message\":{\"messageId\":\"m1\",\"seqNum\":4,"
                  "\"clusterArn\":\"c\",\"containerInstanceArn\":\"i\",\"tasks\":[" TASK ("t1", "RUNNING") "]}}";
  acs_payload_handle (h, payload (p));
  acs_payload_handle (h, payload (p));
  assert_null (strstr (log_of (f), "ack:"));
  assert_null (strstr (log_of (f), "seq:"));
  assert_int_equal (f->n_saves, 1);
  assert_int_equal (acs_payload_pending (h), 1);
  acs_payload_handler_free (h);
  assert_int_equal (f->cancelled, 1);
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
  complete (f, 0);
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
  complete (f, 0);
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
  complete (f, 0);
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
  complete (f, 0);
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
      complete (f, f->n_saves - 1);
      f->n_saves = 0;
    }
  sbuf_free (&f->log);
  acs_payload_handle (h, payload ("{\"type\":\"PayloadMessage\",\"message\":{\"messageId\":\"r1\","
                                  "\"clusterArn\":\"c\",\"containerInstanceArn\":\"i\"}}"));
  assert_string_equal (log_of (f), "ack:r1@c/i ");
  acs_payload_handle (h, payload ("{\"type\":\"PayloadMessage\",\"message\":{\"messageId\":\"r0\","
                                  "\"clusterArn\":\"c\",\"containerInstanceArn\":\"i\"}}"));
  assert_string_equal (log_of (f), "ack:r1@c/i save ");
  complete (f, 0);
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
  complete (f, 0);
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

/* ---- limits ---- */

#define ENVELOPE(id, tasks)                                                                        \
  "{\"type\":\"PayloadMessage\",\"message\":{\"messageId\":\"" id "\",\"clusterArn\":\"c\","   \
  "\"containerInstanceArn\":\"i\",\"tasks\":[" tasks "]}}"

/* A payload of ntasks tasks "t<i>" of ncont containers each, each
   container linking to the next; bad: every container is {} (unreadable if
   it were read). */
static char *
big_payload (const char *id, size_t ntasks, size_t ncont, bool bad)
{
  struct sbuf b = { 0 };
  sbuf_printf (&b, "{\"type\":\"PayloadMessage\",\"message\":{\"messageId\":\"%s\",\"clusterArn\":\"c\","
                   "\"containerInstanceArn\":\"i\",\"tasks\":[", id);
  for (size_t t = 0; t < ntasks; t++)
    {
      sbuf_printf (&b, "%s{\"arn\":\"t%zu\",\"desiredStatus\":\"RUNNING\",\"containers\":[", t ? "," : "", t);
      for (size_t c = 0; c < ncont; c++)
        if (bad)
          sbuf_puts (&b, c ? ",{}" : "{}");
        else
          sbuf_printf (&b, "%s{\"name\":\"c%zu\",\"image\":\"i\",\"links\":[\"c%zu\"]}", c ? "," : "", c,
                       (c + 1) % ncont); /* a cycle: the engine's check, not the parser's */
      sbuf_puts (&b, "]}");
    }
  sbuf_puts (&b, "]}}");
  return sbuf_steal (&b);
}

static double
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void
test_task_over_container_limit (void **state)
{
  struct fake *f = *state;
  acs_payload_handler_t *h = handler (f);
  /* ACS_TASK_MAX_CONTAINERS + 1 containers: reported STOPPED, the other task runs. */
  char *big = big_payload ("m", 1, ACS_TASK_MAX_CONTAINERS + 1, false);
  /* splice a normal task after the big one */
  char *end = strstr (big, "]}}");
  *end = '\0';
  char *json = xasprintf ("%s," TASK ("good", "RUNNING") "]}}", big);
  acs_payload_handle (h, payload (json));
  char *want = xasprintf ("stopped:t0=UnrecognizedTaskError: task t0: %d containers; at most %d are "
                          "accepted in a task add:good[0/0] save ",
                          ACS_TASK_MAX_CONTAINERS + 1, ACS_TASK_MAX_CONTAINERS);
  assert_string_equal (log_of (f), want);
  complete (f, 0);
  assert_non_null (strstr (log_of (f), "ack:m@c/i"));
  free (want);
  free (json);
  free (big);
  /* per-container references and volumes too */
  struct sbuf b = { 0 };
  sbuf_puts (&b, "{\"arn\":\"refs\",\"containers\":[{\"name\":\"a\",\"image\":\"i\",\"links\":[");
  for (int i = 0; i <= ACS_CONTAINER_MAX_REFS; i++)
    sbuf_printf (&b, "%s\"x%d\"", i ? "," : "", i);
  sbuf_puts (&b, "]}],\"volumes\":[]}");
  json_t *tj = json_loads (b.s, 0, NULL);
  struct task *t = NULL;
  agent_error_t err = NULL;
  assert_true (acs_task_from_json (tj, &t, &err) < 0);
  assert_non_null (strstr (error_msg (&err), "containers[0].links has 101 entries; at most 100"));
  error_free (&err);
  json_decref (tj);
  sbuf_free (&b);
  sbuf_puts (&b, "{\"arn\":\"vols\",\"containers\":[],\"volumes\":[");
  for (int i = 0; i <= ACS_TASK_MAX_VOLUMES; i++)
    sbuf_printf (&b, "%s{\"name\":\"v%d\",\"host\":{}}", i ? "," : "", i);
  sbuf_puts (&b, "]}");
  tj = json_loads (b.s, 0, NULL);
  assert_true (acs_task_from_json (tj, &t, &err) < 0);
  assert_non_null (strstr (error_msg (&err), "101 volumes; at most 100"));
  error_free (&err);
  json_decref (tj);
  sbuf_free (&b);
  acs_payload_handler_free (h);
}

static void
test_payload_over_limits_refused (void **state)
{
  struct fake *f = *state;
  acs_payload_handler_t *h = handler (f);
  /* Too many tasks: none runs, the first ACS_PAYLOAD_MAX_TASKS are reported. */
  char *json = big_payload ("many", ACS_PAYLOAD_MAX_TASKS * 20, 1, false);
  acs_payload_handle (h, payload (json));
  free (json);
  assert_null (strstr (log_of (f), "add:"));
  assert_int_equal (f->n_stopped, ACS_PAYLOAD_MAX_TASKS);
  char *want = xasprintf ("stopped:t0=UnrecognizedTaskError: payload carries %d tasks; at most %d are "
                          "accepted in one payload ",
                          ACS_PAYLOAD_MAX_TASKS * 20, ACS_PAYLOAD_MAX_TASKS);
  assert_true (strncmp (log_of (f), want, strlen (want)) == 0);
  free (want);
  complete (f, 0);
  assert_non_null (strstr (log_of (f), "ack:many@c/i"));
  /* Too many containers in all (each task within its own limit). */
  sbuf_free (&f->log);
  f->n_stopped = 0;
  size_t ntasks = ACS_PAYLOAD_MAX_CONTAINERS / ACS_TASK_MAX_CONTAINERS + 1;
  json = big_payload ("wide", ntasks, ACS_TASK_MAX_CONTAINERS, false);
  acs_payload_handle (h, payload (json));
  free (json);
  assert_null (strstr (log_of (f), "add:"));
  assert_int_equal (f->n_stopped, ntasks);
  assert_non_null (strstr (log_of (f), "at most 2000 are accepted in one payload"));
  /* A known task is not reported (the engine holds it). */
  sbuf_free (&f->log);
  f->n_stopped = 0;
  f->known = "t1";
  json = big_payload ("wide2", ntasks, ACS_TASK_MAX_CONTAINERS, false);
  acs_payload_handle (h, payload (json));
  free (json);
  assert_int_equal (f->n_stopped, ntasks - 1);
  acs_payload_handler_free (h);
}

/* The limits are checked before anything is read: 60,000 unreadable
   containers in one task and 20,000 tasks in one payload are refused for
   their size, fast (the duplicate-name check used to be quadratic). */
static void
test_limits_checked_first_and_fast (void **state)
{
  struct fake *f = *state;
  acs_payload_handler_t *h = handler (f);
  char *json = big_payload ("wide", 1, 60000, true);
  double t0 = now_ms ();
  struct acs_payload *p = payload (json);
  acs_payload_handle (h, p);
  double wide_ms = now_ms () - t0;
  free (json);
  assert_string_equal (log_of (f), "stopped:t0=UnrecognizedTaskError: task t0: 60000 containers; at most "
                                   "100 are accepted in a task save ");
  json = big_payload ("tasks", 20000, 1, true);
  t0 = now_ms ();
  acs_payload_handle (h, payload (json));
  double tasks_ms = now_ms () - t0;
  free (json);
  assert_int_equal (f->n_stopped, 1 + ACS_PAYLOAD_MAX_TASKS);
  print_message ("decode + refuse: 60,000 containers %.1f ms, 20,000 tasks %.1f ms\n", wide_ms, tasks_ms);
  /* Generous: the quadratic check took seconds here; ASan and a loaded
     machine stay far below this. */
  assert_true (wide_ms < 5000 && tasks_ms < 5000);
  complete (f, 0);
  complete (f, 1);
  acs_payload_handler_free (h);
}

/* The largest payload the limits accept is decoded (which parses its tasks)
   and handed to the engine in one short step: the figures are printed; the
   bound only catches a return of quadratic work. */
static void
test_largest_accepted_payload (void **state)
{
  struct fake *f = *state;
  acs_payload_handler_t *h = handler (f);
  char *json = big_payload ("largest", ACS_PAYLOAD_MAX_TASKS, ACS_PAYLOAD_MAX_CONTAINERS / ACS_PAYLOAD_MAX_TASKS,
                            false);
  double t0 = now_ms ();
  struct acs_payload *p = payload (json);
  double t1 = now_ms ();
  assert_null (p->refused);
  acs_payload_handle (h, p);
  double t2 = now_ms ();
  print_message ("largest accepted payload (%zu bytes): decode + parse %.1f ms, handle %.1f ms\n",
                 strlen (json), t1 - t0, t2 - t1);
  free (json);
  assert_int_equal (f->n_stopped, 0);
  assert_int_equal (f->n_saves, 1);
  assert_true (t2 - t0 < 5000);
  complete (f, 0);
  acs_payload_handler_free (h);
}

/* ---- the payload marker (crash loops) ---- */

struct mdir
{
  char dir[64];
  char *path;
};

static void
mdir_init (struct mdir *d)
{
  strcpy (d->dir, "/tmp/test-payload-marker-XXXXXX");
  assert_non_null (mkdtemp (d->dir));
  d->path = xasprintf ("%s/%s", d->dir, STATE_MARKER_FILE_NAME);
}

static void
mdir_done (struct mdir *d)
{
  unlink (d->path);
  rmdir (d->dir);
  free (d->path);
}

static bool
file_has (const char *path, const char *needle)
{
  char *text = NULL;
  agent_error_t err = NULL;
  if (util_read_file (path, &text, NULL, &err) < 0)
    {
      error_free (&err);
      return false;
    }
  bool r = strstr (text, needle) != NULL;
  free (text);
  return r;
}

static acs_payload_handler_t *
marked_handler (struct fake *f, const struct mdir *d)
{
  struct acs_payload_options o = { .ops = &fops, .ops_ctx = f, .marker_dir = d->dir };
  return acs_payload_handler_new (&o);
}

/* The agent "dies" handling id (deaths times): begun, never ended. */
static void
die_on (const struct mdir *d, const char *id, int deaths)
{
  for (int i = 0; i < deaths; i++)
    {
      char *warn = NULL;
      state_marker_t *m = state_marker_open (d->dir, &warn);
      assert_null (warn);
      agent_error_t err = NULL;
      assert_int_equal (state_marker_begin (m, id, &err), 0);
      state_marker_free (m);
    }
}

static void
test_marker_around_handling (void **state)
{
  struct fake *f = *state;
  struct mdir d;
  mdir_init (&d);
  acs_payload_handler_t *h = marked_handler (f, &d);
  assert_int_equal (acs_payload_suspects (h), 0);
  acs_payload_handle (h, payload (ENVELOPE ("m1", TASK ("t1", "RUNNING"))));
  /* written before the task reached the engine, still there until the ack */
  assert_true (file_has (d.path, "\"m1\""));
  complete (f, 0);
  assert_string_equal (log_of (f), "add:t1[0/0] save ack:m1@c/i ");
  assert_int_equal (access (d.path, F_OK), -1);
  /* a clean stop with a payload pending is no death */
  acs_payload_handle (h, payload (ENVELOPE ("m2", TASK ("t2", "RUNNING"))));
  assert_true (file_has (d.path, "\"m2\""));
  acs_payload_handler_free (h);
  h = marked_handler (f, &d);
  assert_int_equal (acs_payload_suspects (h), 0);
  acs_payload_handler_free (h);
  mdir_done (&d);
}

static void
test_poison_refused_after_death (void **state)
{
  struct fake *f = *state;
  struct mdir d;
  mdir_init (&d);
  die_on (&d, "poison", 1);
  f->known = "t-known"; /* restored from the checkpoint: left alone */
  acs_payload_handler_t *h = marked_handler (f, &d);
  assert_int_equal (acs_payload_suspects (h), 1);
  /* another payload first: handled normally, the suspect stays */
  acs_payload_handle (h, payload (ENVELOPE ("other", TASK ("t0", "RUNNING"))));
  complete (f, 0);
  assert_true (file_has (d.path, "\"poison\""));
  sbuf_free (&f->log);
  acs_payload_handle (h, payload (ENVELOPE ("poison", TASK ("t-new", "RUNNING") "," TASK ("t-known", "STOPPED")
                                                    ",{\"arn\":\"t-bad\"}")));
  assert_string_equal (log_of (f), "stopped:t-new=" ACS_PAYLOAD_REASON_REFUSED " stopped:t-bad="
                                   ACS_PAYLOAD_REASON_REFUSED " save ");
  complete (f, 1);
  assert_non_null (strstr (log_of (f), "ack:poison@c/i"));
  assert_int_equal (acs_payload_suspects (h), 0);
  assert_int_equal (access (d.path, F_OK), -1);
  /* re-sent again: acknowledged, not run */
  acs_payload_handle (h, payload (ENVELOPE ("poison", TASK ("t-new", "RUNNING"))));
  assert_null (strstr (log_of (f), "add:"));
  acs_payload_handler_free (h);
  mdir_done (&d);
}

static void
test_poison_twice_only_acked (void **state)
{
  struct fake *f = *state;
  struct mdir d;
  mdir_init (&d);
  die_on (&d, "poison", 2);
  acs_payload_handler_t *h = marked_handler (f, &d);
  acs_payload_handle (h, payload (ENVELOPE ("poison", TASK ("t", "RUNNING"))));
  assert_string_equal (log_of (f), "save ");
  complete (f, 0);
  assert_string_equal (log_of (f), "save ack:poison@c/i ");
  acs_payload_handler_free (h);
  mdir_done (&d);
}

static void
test_poison_ack_lost_stays_suspect (void **state)
{
  struct fake *f = *state;
  struct mdir d;
  mdir_init (&d);
  die_on (&d, "poison", 1);
  acs_payload_handler_t *h = marked_handler (f, &d);
  f->ack_fail = 1;
  acs_payload_handle (h, payload (ENVELOPE ("poison", TASK ("t", "RUNNING"))));
  complete (f, 0);
  acs_payload_handler_free (h);
  /* next start: still refused, never run */
  f->ack_fail = 0;
  sbuf_free (&f->log);
  f->n_saves = 0;
  h = marked_handler (f, &d);
  assert_int_equal (acs_payload_suspects (h), 1);
  acs_payload_handle (h, payload (ENVELOPE ("poison", TASK ("t", "RUNNING"))));
  assert_null (strstr (log_of (f), "add:"));
  complete (f, 0);
  assert_non_null (strstr (log_of (f), "ack:poison@c/i"));
  acs_payload_handler_free (h);
  mdir_done (&d);
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
    cmocka_unit_test_setup_teardown (test_task_over_container_limit, setup, teardown),
    cmocka_unit_test_setup_teardown (test_payload_over_limits_refused, setup, teardown),
    cmocka_unit_test_setup_teardown (test_limits_checked_first_and_fast, setup, teardown),
    cmocka_unit_test_setup_teardown (test_largest_accepted_payload, setup, teardown),
    cmocka_unit_test_setup_teardown (test_marker_around_handling, setup, teardown),
    cmocka_unit_test_setup_teardown (test_poison_refused_after_death, setup, teardown),
    cmocka_unit_test_setup_teardown (test_poison_twice_only_acked, setup, teardown),
    cmocka_unit_test_setup_teardown (test_poison_ack_lost_stays_suspect, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
