/* Unit tests for core/lws_util.h: a libwebsockets context on a foreign libuv
 * loop is created with its handles recorded, torn down in two phases (the
 * caller's busy condition holds the second destroy back), done_cb runs once,
 * and afterwards the loop closes with no handle left; a NULL context still
 * gets its done_cb. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "core/lws_util.h"

static int
noop_cb (struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
  (void) wsi;
  (void) reason;
  (void) user;
  (void) in;
  (void) len;
  return 0;
}

struct fin
{
  int busy_turns; /* busy_cb answers true this many times */
  int busy_calls;
  int done;
  bool leaked;
};

static bool
busy_cb (void *data)
{
  struct fin *f = data;
  return f->busy_calls++ < f->busy_turns;
}

static void
done_cb (bool leaked, void *data)
{
  struct fin *f = data;
  f->done++;
  f->leaked = leaked;
}

static void
run_until_done (uv_loop_t *loop, struct fin *f)
{
  for (int i = 0; i < 100000 && !f->done; i++)
    uv_run (loop, UV_RUN_ONCE);
}

static void
count_cb (uv_handle_t *h, void *arg)
{
  (void) h;
  (*(int *) arg)++;
}

/* Closes the loop; returns how many handles were still on it. */
static int
loop_finish (uv_loop_t *loop)
{
  int left = 0;
  uv_walk (loop, count_cb, &left);
  if (uv_loop_close (loop) != 0 && left == 0)
    left = -1;
  return left;
}

static void
test_create_destroy (void **state)
{
  (void) state;
  uv_loop_t loop;
  uv_loop_init (&loop);
  struct lws_protocols protocols[2] = { { .name = "t", .callback = noop_cb }, { 0 } };
  struct lws_context_creation_info info;
  memset (&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = protocols;
  info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_UV_NO_SIGSEGV_SIGFPE_SPIN;
  struct lws_util_handles track = { 0 };
  struct lws_context *ctx = lws_util_context_create (&loop, &info, &track);
  assert_non_null (ctx);
  assert_null (info.foreign_loops); /* not left pointing at a local */
  size_t after_ctx = track.n;
  struct lws_context_creation_info vi;
  memset (&vi, 0, sizeof vi);
  vi.port = CONTEXT_PORT_NO_LISTEN;
  vi.protocols = protocols;
  vi.vhost_name = "t";
  assert_non_null (lws_util_vhost_create (ctx, &loop, &vi, &track));
  assert_true (track.n >= after_ctx);
  struct fin f = { .busy_turns = 10 };
  lws_util_context_destroy (ctx, &loop, &track, 1000, busy_cb, done_cb, &f);
  assert_null (track.v); /* taken over */
  run_until_done (&loop, &f);
  assert_int_equal (f.done, 1);
  assert_false (f.leaked);
  assert_true (f.busy_calls > f.busy_turns); /* waited for the caller */
  assert_int_equal (loop_finish (&loop), 0);
}

static void
test_null_context (void **state)
{
  (void) state;
  uv_loop_t loop;
  uv_loop_init (&loop);
  struct fin f = { 0 };
  lws_util_context_destroy (NULL, &loop, NULL, 0, NULL, done_cb, &f);
  assert_int_equal (f.done, 0); /* never from inside the call */
  run_until_done (&loop, &f);
  assert_int_equal (f.done, 1);
  assert_false (f.leaked);
  assert_int_equal (loop_finish (&loop), 0);
}

int
main (void)
{
  lws_set_log_level (0, NULL);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_create_destroy),
    cmocka_unit_test (test_null_context),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
