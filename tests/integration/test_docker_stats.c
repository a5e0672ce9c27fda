/* test_docker_stats.c - container stats against the real Docker Engine:
 * one-shot: a container burning CPU shows its usage growing between two
 * samples, one holding 32 MiB shows it in memory, a stopped or unknown
 * container answers as Docker does, and no transfer stays open.
 * streams (docker_stats_stream_*): samples arrive about once a second from
 * a running container, a stopped container's stream carries zero-time
 * samples and closes when stopped (no leak under ASan), an unknown
 * container's stream fails and is reopened with back-off, and a sample
 * larger than the stream's bound ends the stream.
 *
 * Expects a Docker daemon at $DOCKER_HOST (default unix socket) and the test
 * image ($TEST_IMAGE, else tests/lib/test-image.sh).  Containers carry
 * ecs-agent-c-test=1 and a per-run label; teardown removes this run's only.
 */
#include "test_docker_util.h"
#include "docker/stats.h"

struct it
{
  struct tloop l;
  docker_client_t *c;
  char run[17];
};

static int
setup (void **state)
{
  struct it *x = xcalloc (1, sizeof *x);
  tloop_init (&x->l);
  util_random_hex (x->run, 8);
  agent_error_t err = NULL;
  x->c = docker_client_new (&x->l.loop, getenv ("DOCKER_HOST"), &err);
  if (!x->c)
    {
      fprintf (stderr, "docker_client_new: %s\n", error_msg (&err));
      return -1;
    }
  *state = x;
  return 0;
}

static int
teardown (void **state)
{
  struct it *x = *state;
  char cmd[256];
  snprintf (cmd, sizeof cmd,
            "ids=$(docker ps -aq --filter label=ecs-agent-c-test-run=%s); "
            "[ -z \"$ids\" ] || docker rm -fv $ids >/dev/null 2>&1; true",
            x->run);
  if (system (cmd) != 0)
    fprintf (stderr, "cleanup failed\n");
  docker_client_free (x->c);
  int r = tloop_close (&x->l);
  free (x);
  return r == 0 ? 0 : -1;
}

struct sres
{
  bool done;
  int calls, kind;
  struct docker_stats st; /* numbers copied; raw kept in raw */
  char *raw;
};

static void
sres_cb (const struct docker_stats *st, agent_error_t err, void *data)
{
  struct sres *r = data;
  r->done = true;
  r->calls++;
  r->kind = error_kind (&err);
  if (st)
    {
      r->st = *st;
      r->st.raw = NULL;
      r->raw = xstrdup (st->raw);
    }
}

static struct sres
stats_sync (struct it *x, const char *id)
{
  struct sres r = { 0 };
  docker_container_stats (x->c, id, true, sres_cb, &r);
  WAIT_FOR (&x->l, r.done, 30000);
  assert_int_equal (r.calls, 1);
  return r;
}

static char *
run_container (struct it *x, const char *script)
{
  struct res r = { 0 };
  struct docker_label labels[] = { { "ecs-agent-c-test", "1" }, { "ecs-agent-c-test-run", x->run } };
  const char *cmd[] = { "sh", "-c", script, NULL };
  struct docker_create_opts o = { .image = test_image (), .cmd = cmd, .labels = labels, .n_labels = 2 };
  docker_container_create (x->c, &o, res_create_cb, &r);
  WAIT_RES (&x->l, &r, 60000);
  ASSERT_OK (&r);
  char *id = xstrdup (r.id);
  res_reset (&r);
  docker_container_start (x->c, id, res_done_cb, &r);
  WAIT_RES (&x->l, &r, 60000);
  ASSERT_OK (&r);
  res_reset (&r);
  return id;
}

static void
test_cpu_burner (void **state)
{
  struct it *x = *state;
  char *id = run_container (x, "while :; do :; done");
  struct sres a = stats_sync (x, id);
  assert_int_equal (a.kind, 0);
  assert_non_null (strstr (a.raw, "\"cpu_stats\""));
  assert_true (a.st.read_ns > 0);
  assert_true (a.st.online_cpus >= 1);
  assert_true (a.st.mem_limit > 0);
  /* wait until the next sample shows 100 ms more CPU time */
  uint64_t end = util_now_ms () + 20000;
  struct sres b = { 0 };
  for (;;)
    {
      free (b.raw);
      b = stats_sync (x, id);
      assert_int_equal (b.kind, 0);
      if (b.st.cpu_total >= a.st.cpu_total + 100000000ULL || util_now_ms () > end)
        break;
      tloop_poll_pause (&x->l, 200);
    }
  assert_true (b.st.cpu_total >= a.st.cpu_total + 100000000ULL);
  assert_true (b.st.read_ns > a.st.read_ns);
  assert_true (b.st.cpu_system > a.st.cpu_system);
  assert_int_equal (docker_client_active (x->c), 0); /* one-shot: nothing left open */
  free (a.raw);
  free (b.raw);
  free (id);
}

static void
test_memory_holder (void **state)
{
  struct it *x = *state;
  /* a 32 MiB shell variable; the loop keeps the shell (a last command would be exec'd) */
  char *id = run_container (x, "x=$(head -c 33554432 /dev/zero | tr '\\0' a); echo held; while :; do sleep 600; done");
  uint64_t end = util_now_ms () + 30000;
  struct sres r = { 0 };
  for (;;)
    {
      free (r.raw);
      r = stats_sync (x, id);
      assert_int_equal (r.kind, 0);
      if (docker_stats_memory_bytes (&r.st) >= 32ULL << 20 || util_now_ms () > end)
        break;
      tloop_poll_pause (&x->l, 200);
    }
  assert_true (docker_stats_memory_bytes (&r.st) >= 32ULL << 20);
  assert_true (r.st.mem_usage >= docker_stats_memory_bytes (&r.st));
  free (r.raw);
  free (id);
}

static void
test_unknown_and_invalid (void **state)
{
  struct it *x = *state;
  struct sres r = stats_sync (x, "ecs-agent-c-test-no-such-container");
  assert_int_equal (r.kind, ERR_NOT_FOUND);
  assert_null (r.raw);
  r = stats_sync (x, "");
  assert_int_equal (r.kind, ERR_INVALID);
}

/* ---- streams ---- */

struct sstream
{
  int samples, zero_samples, errors, last_kind;
  int64_t first_read_ns, last_read_ns;
  uint64_t first_ms, last_ms;
  char last_err[256];
  bool stop_in_cb;
  docker_stats_stream_t *s;
};

static void
sstream_sample_cb (const struct docker_stats *st, void *data)
{
  struct sstream *r = data;
  if (st->read_ns == 0)
    {
      r->zero_samples++;
      return;
    }
  if (r->samples++ == 0)
    {
      r->first_read_ns = st->read_ns;
      r->first_ms = util_now_ms ();
    }
  r->last_read_ns = st->read_ns;
  r->last_ms = util_now_ms ();
  if (r->stop_in_cb)
    {
      docker_stats_stream_stop (r->s);
      r->s = NULL;
    }
}

static void
sstream_error_cb (agent_error_t err, void *data)
{
  struct sstream *r = data;
  r->errors++;
  r->last_kind = error_kind (&err);
  snprintf (r->last_err, sizeof r->last_err, "%s", error_msg (&err));
}

static void
test_stream_samples_then_stop (void **state)
{
  struct it *x = *state;
  char *id = run_container (x, "while :; do :; done");
  struct sstream r = { 0 };
  struct docker_stats_stream_opts o = { sstream_sample_cb, sstream_error_cb, &r, 0, 0, 0, 0 };
  r.s = docker_stats_stream_start (x->c, id, &o);
  assert_int_equal (r.samples, 0); /* nothing inside the start call */
  WAIT_FOR (&x->l, r.samples >= 6, 30000);
  assert_int_equal (r.errors, 0);
  assert_int_equal (docker_stats_streams_open (x->c), 1);
  /* about one sample a second: Docker's own period */
  double per_s = (double) (r.samples - 1) * 1e9 / (double) (r.last_read_ns - r.first_read_ns);
  assert_true (per_s > 0.5 && per_s < 2.0);
  assert_true (r.last_ms - r.first_ms >= 3000);
  /* Docker keeps a stopped container's stream open with zero-time samples */
  struct res d = { 0 };
  docker_container_stop (x->c, id, 1, res_done_cb, &d);
  WAIT_RES (&x->l, &d, 60000);
  ASSERT_OK (&d);
  WAIT_FOR (&x->l, r.zero_samples >= 1, 15000);
  assert_int_equal (docker_stats_streams_open (x->c), 1);
  /* the caller closes it: the transfer ends, nothing else runs */
  docker_stats_stream_stop (r.s);
  int samples = r.samples, zeros = r.zero_samples;
  assert_int_equal (docker_stats_streams_open (x->c), 0);
  WAIT_FOR (&x->l, docker_client_active (x->c) == 0, 5000);
  tloop_poll_pause (&x->l, 1500);
  assert_int_equal (r.samples, samples);
  assert_int_equal (r.zero_samples, zeros);
  free (id);
}

static void
test_stream_stop_inside_callback (void **state)
{
  struct it *x = *state;
  char *id = run_container (x, "while :; do sleep 1; done");
  struct sstream r = { .stop_in_cb = true };
  struct docker_stats_stream_opts o = { sstream_sample_cb, sstream_error_cb, &r, 0, 0, 0, 0 };
  r.s = docker_stats_stream_start (x->c, id, &o);
  WAIT_FOR (&x->l, r.samples == 1, 30000);
  tloop_poll_pause (&x->l, 2500);
  assert_int_equal (r.samples, 1);
  assert_int_equal (docker_stats_streams_open (x->c), 0);
  free (id);
}

static void
test_stream_unknown_container_backs_off (void **state)
{
  struct it *x = *state;
  struct sstream r = { 0 };
  struct docker_stats_stream_opts o = { .on_sample = sstream_sample_cb, .on_error = sstream_error_cb,
                                        .data = &r, .backoff_min_ms = 100, .backoff_max_ms = 400 };
  r.s = docker_stats_stream_start (x->c, "ecs-agent-c-test-no-such-container", &o);
  WAIT_FOR (&x->l, r.errors >= 3, 10000);
  assert_int_equal (r.last_kind, ERR_NOT_FOUND);
  assert_int_equal (r.samples, 0);
  /* back-off 100, 200, 400, 400 ms (+0..50 %): not a busy loop */
  uint64_t t0 = util_now_ms ();
  int e0 = r.errors;
  tloop_poll_pause (&x->l, 1300);
  assert_true (r.errors - e0 <= (int) ((util_now_ms () - t0) / 400) + 1);
  docker_stats_stream_stop (r.s);
}

static void
test_stream_oversized_sample_ends_stream (void **state)
{
  struct it *x = *state;
  char *id = run_container (x, "while :; do sleep 1; done");
  struct sstream r = { 0 };
  struct docker_stats_stream_opts o = { .on_sample = sstream_sample_cb, .on_error = sstream_error_cb,
                                        .data = &r, .max_sample_bytes = 256,
                                        .backoff_min_ms = 5000 };
  r.s = docker_stats_stream_start (x->c, id, &o);
  WAIT_FOR (&x->l, r.errors >= 1, 30000);
  assert_int_equal (r.samples, 0);
  assert_int_equal (r.last_kind, ERR_MALFORMED);
  assert_non_null (strstr (r.last_err, "larger than 256 bytes"));
  assert_int_equal (docker_stats_streams_open (x->c), 0); /* waiting to reopen */
  docker_stats_stream_stop (r.s);
  free (id);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_cpu_burner, setup, teardown),
    cmocka_unit_test_setup_teardown (test_memory_holder, setup, teardown),
    cmocka_unit_test_setup_teardown (test_unknown_and_invalid, setup, teardown),
    cmocka_unit_test_setup_teardown (test_stream_samples_then_stop, setup, teardown),
    cmocka_unit_test_setup_teardown (test_stream_stop_inside_callback, setup, teardown),
    cmocka_unit_test_setup_teardown (test_stream_unknown_container_backs_off, setup, teardown),
    cmocka_unit_test_setup_teardown (test_stream_oversized_sample_ends_stream, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
