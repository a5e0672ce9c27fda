/* Launch benchmark (prints numbers, asserts only correctness): time from
 * engine_task_add() of a 10-container task to all 10 containers known
 * RUNNING, against the lower bound of the same 10 containers created and
 * started directly with the Docker client (create, then start, all in
 * parallel, no pull / inspect / state).  Both on the same loop and client.
 * Needs the Docker daemon and the test image (TEST_IMAGE, or
 * tests/lib/test-image.sh).  Not part of `make test`:
 *   make bench-bins && out/bench/engine_launch
 * BENCH_ROUNDS (default 5) rounds each; medians are printed. */
#include "test_engine_itest.h"
#include <inttypes.h>

#define NCONT 10

static int
cmp_u64 (const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
  return x < y ? -1 : x > y;
}

static uint64_t
median (uint64_t *v, int n)
{
  qsort (v, (size_t) n, sizeof *v, cmp_u64);
  return v[n / 2];
}

static int
rounds (void)
{
  const char *r = getenv ("BENCH_ROUNDS");
  int n = r ? atoi (r) : 5;
  return n > 0 && n < 100 ? n : 5;
}

static void
remove_run_containers (struct it *x)
{
  char cmd[256];
  snprintf (cmd, sizeof cmd,
            "ids=$(docker ps -aq --filter label=ecs-agent-c-test-run=%s); [ -z \"$ids\" ] || docker rm -f $ids >/dev/null",
            x->run);
  assert_int_equal (system (cmd), 0);
}

/* ---- engine ---- */

struct watch
{
  const char *arn;
  uint64_t running_at;
};

static void
on_change (const struct task *t, const struct task_container *c, void *data)
{
  struct watch *w = data;
  if (c && getenv ("BENCH_TRACE"))
    fprintf (stderr, "%" PRIu64 " %s %s\n", util_now_ms () % 100000, c->name, task_container_status_str (c->known_status));
  if (!c && strcmp (t->arn, w->arn) == 0 && t->known_status == TASK_STATUS_RUNNING && !w->running_at)
    w->running_at = util_now_ms ();
}

static uint64_t
engine_round (struct it *x, int round)
{
  struct sbuf b = { 0 };
  cleanup_free char *arn = xasprintf ("arn:aws:ecs:us-west-2:1:task/bench-%s-%d", x->run, round);
  sbuf_printf (&b, "{\"arn\":\"%s\",\"family\":\"bench\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\",\"containers\":[", arn);
  for (int i = 0; i < NCONT; i++)
    sbuf_printf (&b, "%s{\"name\":\"c%d\",\"image\":\"%s\",\"essential\":true,\"command\":[\"sleep\",\"300\"]}",
                 i ? "," : "", i, x->image);
  sbuf_puts (&b, "]}");
  cleanup_free char *json = sbuf_steal (&b);
  agent_error_t err = NULL;
  struct task *t = teu_task (json, &err);
  assert_non_null (t);
  struct watch w = { .arn = arn };
  engine_set_change_cb (x->e, on_change, &w);
  uint64_t t0 = util_now_ms ();
  assert_int_equal (engine_task_add (x->e, t, &err), 0);
  uint64_t deadline = t0 + 60000;
  while (!w.running_at && util_now_ms () < deadline)
    uv_run (&x->loop, UV_RUN_ONCE);
  assert_true (w.running_at > 0);
  engine_set_change_cb (x->e, NULL, NULL);
  const struct task *tt = engine_find_task_by_arn (x->e, arn);
  for (size_t i = 0; i < tt->n_containers; i++)
    assert_int_equal (tt->containers[i].known_status, TASK_STATUS_RUNNING);
  return w.running_at - t0;
}

/* ---- direct ---- */

struct direct
{
  struct it *x;
  int started, failed;
  uint64_t done_at;
};

static void
direct_started (agent_error_t err, void *data)
{
  struct direct *d = data;
  if (err)
    d->failed++;
  else
    d->started++;
  if (d->started + d->failed == NCONT)
    d->done_at = util_now_ms ();
}

static void
direct_created (const char *id, agent_error_t err, void *data)
{
  struct direct *d = data;
  if (err)
    {
      direct_started (err, d);
      return;
    }
  docker_container_start (d->x->docker, id, direct_started, d);
}

static uint64_t
direct_round (struct it *x, int round)
{
  struct direct d = { .x = x };
  const char *cmd[] = { "sleep", "300", NULL };
  struct docker_label labels[] = { { "ecs-agent-c-test", "1" }, { "ecs-agent-c-test-run", x->run } };
  uint64_t t0 = util_now_ms ();
  for (int i = 0; i < NCONT; i++)
    {
      char name[96];
      snprintf (name, sizeof name, "bench-direct-%s-%d-%d", x->run, round, i);
      struct docker_create_opts o = { .name = name, .image = x->image, .cmd = cmd, .labels = labels, .n_labels = 2 };
      docker_container_create (x->docker, &o, direct_created, &d);
    }
  uint64_t deadline = t0 + 60000;
  while (!d.done_at && util_now_ms () < deadline)
    uv_run (&x->loop, UV_RUN_ONCE);
  assert_int_equal (d.started, NCONT);
  return d.done_at - t0;
}

static void
test_launch_10 (void **st)
{
  struct it *x = *st;
  it_engine_up (x);
  int n = rounds ();
  uint64_t *ev = xcalloc ((size_t) n, sizeof *ev), *dv = xcalloc ((size_t) n, sizeof *dv);
  struct sbuf es = { 0 }, ds = { 0 };
  /* Interleave so both see the same daemon conditions. */
  for (int r = 0; r < n; r++)
    {
      dv[r] = direct_round (x, r);
      remove_run_containers (x);
      ev[r] = engine_round (x, r);
      remove_run_containers (x);
      sbuf_printf (&es, "%s%" PRIu64, r ? " " : "", ev[r]);
      sbuf_printf (&ds, "%s%" PRIu64, r ? " " : "", dv[r]);
    }
  uint64_t em = median (ev, n), dm = median (dv, n);
  printf ("engine_launch: %d containers, %d rounds\n", NCONT, n);
  printf ("engine_launch:   engine  task_add -> all RUNNING  median %" PRIu64 " ms  (runs: %s)\n", em, es.s);
  printf ("engine_launch:   direct  create+start (parallel)  median %" PRIu64 " ms  (runs: %s)\n", dm, ds.s);
  printf ("engine_launch:   engine overhead  %+" PRId64 " ms  (x%.2f)\n", (int64_t) em - (int64_t) dm,
          dm ? (double) em / (double) dm : 0.0);
  fflush (stdout);
  sbuf_free (&es);
  sbuf_free (&ds);
  free (ev);
  free (dv);
}

int
main (void)
{
  log_set_level (LOG_ERROR);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_launch_10, it_setup, it_teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
