/* Unit tests for state/state.c (test_state_fixture.h) when saving fails:
 * a write failure and its repair, failing saves backing off, a checkpoint
 * that is not a regular file, the writability probe. */
#include "test_state_fixture.h"

/* Makes every save fail, even as root: a non-empty directory where the
   checkpoint goes (the rename over it fails). */
static void
break_saves (struct fixture *f)
{
  assert_int_equal (mkdir (f->path, 0700), 0);
  cleanup_free char *inner = xasprintf ("%s/x", f->path);
  write_file (inner, "x", 1);
}

static void
repair_saves (struct fixture *f)
{
  cleanup_free char *inner = xasprintf ("%s/x", f->path);
  assert_int_equal (unlink (inner), 0);
  assert_int_equal (rmdir (f->path), 0);
}

static void
noop_timer_cb (uv_timer_t *t)
{
  (void) t;
}

/* Runs the loop for ms milliseconds of loop time. */
static void
run_for (struct fixture *f, uint64_t ms)
{
  uv_update_time (&f->loop);
  uint64_t end = uv_now (&f->loop) + ms;
  uv_timer_t t;
  uv_timer_init (&f->loop, &t);
  uv_timer_start (&t, noop_timer_cb, ms, 0);
  while (uv_now (&f->loop) < end)
    uv_run (&f->loop, UV_RUN_ONCE);
  uv_close ((uv_handle_t *) &t, NULL);
  uv_run (&f->loop, UV_RUN_NOWAIT);
}

/* A failing write keeps changes non-durable (never submitted) and holds
   its callback: it runs, without an error, once a retry succeeded. */
static void
test_write_failure (void **st)
{
  struct fixture *f = *st;
  state_store_t *s = store (f, true);
  break_saves (f);
  state_change_push (s, state_change_new (STATE_CHANGE_TASK, "t", NULL, "RUNNING", NULL));
  struct saved sv = { .path = f->path, .marker = "\"TaskArn\":\"t\"" };
  state_save (s, on_saved, &sv);
  for (int i = 0; i < 100000 && state_write_count (s) == 0; i++)
    uv_run (&f->loop, UV_RUN_ONCE);
  assert_false (state_store_healthy (s));
  assert_int_equal (sv.calls, 0);
  assert_false (state_change_peek (s, 0)->durable);
  repair_saves (f);
  /* The store retries on its own. */
  spin_until (f, &sv.done);
  assert_int_equal (sv.calls, 1);
  assert_int_equal (sv.kinds[0], 0);
  assert_true (sv.file_had_marker);
  assert_true (state_change_peek (s, 0)->durable);
  assert_true (state_store_healthy (s));
  state_store_free (s);
}

/* The engine's way of waiting for a save: ask again from the callback and
   on every loop turn.  While saves fail this must not turn into a busy
   loop: attempts follow the back-off, two log lines in all. */
struct spam
{
  state_store_t *s;
  int calls;
  uv_timer_t timer;
};

static void
spam_saved (agent_error_t err, void *data)
{
  struct spam *sp = data;
  assert_null (err);
  sp->calls++;
}

static void
spam_timer_cb (uv_timer_t *t)
{
  struct spam *sp = t->data;
  state_save (sp->s, spam_saved, sp);
}

static int
count_lines (const char *path, const char *a, const char *b)
{
  cleanup_free char *text = NULL;
  size_t len;
  agent_error_t e = NULL;
  if (util_read_file (path, &text, &len, &e) < 0)
    {
      error_free (&e);
      return -1;
    }
  int n = 0;
  for (char *line = text, *nl; line && *line; line = nl ? nl + 1 : NULL)
    {
      nl = strchr (line, '\n');
      if (nl)
        *nl = '\0';
      n += strstr (line, a) && strstr (line, b);
    }
  return n;
}

static void
test_failing_saves_back_off (void **st)
{
  struct fixture *f = *st;
  cleanup_free char *logfile = xasprintf ("%s/agent.log", f->dir);
  assert_int_equal (log_init (LOG_NONE, logfile, NULL), 0);
  state_store_t *s = store (f, true);
  break_saves (f);
  struct spam sp = { .s = s };
  uv_timer_init (&f->loop, &sp.timer);
  sp.timer.data = &sp;
  uv_timer_start (&sp.timer, spam_timer_cb, 1, 1); /* a save request every millisecond */
  state_change_push (s, state_change_new (STATE_CHANGE_TASK, "t", NULL, "RUNNING", NULL));
  uv_update_time (&f->loop);
  uint64_t t0 = uv_now (&f->loop);
  run_for (f, 1600);
  /* attempts at 0, ~250, ~750, ~1750 ms (+ jitter): a handful, not thousands */
  uint64_t attempts = state_write_count (s);
  assert_true (attempts >= 1);
  assert_true (attempts <= 5);
  /* the third attempt waits for both back-offs (250 + 500 ms), however
     often a save is asked for meanwhile */
  for (int i = 0; i < 1000000 && state_write_count (s) < 3; i++)
    uv_run (&f->loop, UV_RUN_ONCE);
  assert_true (state_write_count (s) >= 3);
  assert_true (uv_now (&f->loop) - t0 >= 750);
  assert_int_equal (sp.calls, 0);
  assert_false (state_store_healthy (s));
  assert_false (state_change_peek (s, 0)->durable);
  repair_saves (f);
  for (int i = 0; i < 1000000 && sp.calls == 0; i++)
    uv_run (&f->loop, UV_RUN_ONCE);
  assert_true (sp.calls > 0);
  uv_timer_stop (&sp.timer);
  uv_close ((uv_handle_t *) &sp.timer, NULL);
  run_for (f, 20);
  assert_true (state_store_healthy (s));
  assert_true (state_change_peek (s, 0)->durable);
  state_store_free (s);
  uv_run (&f->loop, UV_RUN_DEFAULT);
  log_close ();
  assert_int_equal (count_lines (logfile, "level=error", "module=state"), 1);
  assert_int_equal (count_lines (logfile, "module=state", "fails"), 1);
  assert_int_equal (count_lines (logfile, "module=state", "works again"), 1);
  assert_int_equal (count_lines (logfile, "module=state", "level=warn"), 0);
}

/* A checkpoint path that is not a regular file is refused at once, with
   one error naming the file: never a blocking open, never an unbounded
   read. */
static void
expect_refused (struct fixture *f, const char *what)
{
  state_store_t *s = store (f, true);
  agent_error_t err = NULL;
  uint64_t t0 = uv_hrtime ();
  assert_true (state_load (s, &err) < 0);
  uint64_t ms = (uv_hrtime () - t0) / 1000000;
  assert_true (ms < 2000);
  assert_int_equal (error_kind (&err), ERR_TERMINAL);
  if (!strstr (error_msg (&err), f->path) || !strstr (error_msg (&err), what)
      || strchr (error_msg (&err), '\n'))
    fail_msg ("unexpected error: %s", error_msg (&err));
  error_free (&err);
  state_store_free (s);
  uv_run (&f->loop, UV_RUN_DEFAULT);
  cleanup_free char *cmd = xasprintf ("rm -rf '%s'", f->path);
  assert_int_equal (system (cmd), 0);
}

static void
test_checkpoint_not_a_regular_file (void **st)
{
  struct fixture *f = *st;
  assert_int_equal (mkfifo (f->path, 0600), 0);
  expect_refused (f, "FIFO");
  assert_int_equal (symlink ("/dev/zero", f->path), 0);
  expect_refused (f, "symbolic link");
  cleanup_free char *real = xasprintf ("%s/real.json", f->dir);
  const char *ok = "{\"Version\":100,\"Data\":{}}";
  write_file (real, ok, strlen (ok));
  assert_int_equal (symlink (real, f->path), 0);
  expect_refused (f, "symbolic link");
  assert_int_equal (mkdir (f->path, 0700), 0);
  expect_refused (f, "directory");
  assert_int_equal (mknod (f->path, S_IFCHR | 0600, makedev (1, 5)), 0); /* /dev/zero */
  expect_refused (f, "character device");
  /* oversize: sparse, nothing is read */
  int fd = open (f->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true (fd >= 0);
  assert_int_equal (ftruncate (fd, (off_t) STATE_FILE_MAX_BYTES + 1), 0);
  close (fd);
  expect_refused (f, "MiB");
  /* the same content in a regular file loads */
  write_file (f->path, ok, strlen (ok));
  state_store_t *s = store (f, true);
  agent_error_t err = NULL;
  assert_int_equal (state_load (s, &err), 0);
  state_store_free (s);
}

/* The data directory probe: works on a writable directory and leaves
   nothing behind; fails naming the file while the directory is gone; works
   again once it is back; a detached probe calls nothing; none when
   checkpointing is disabled. */
struct probe_res
{
  int calls;
  int kind;
  char msg[256];
};

static void
probe_cb (agent_error_t err, void *data)
{
  struct probe_res *r = data;
  r->calls++;
  r->kind = err ? (int) error_kind (&err) : 0;
  snprintf (r->msg, sizeof r->msg, "%s", err ? error_msg (&err) : "");
}

static struct probe_res
probe_sync (struct fixture *f, state_store_t *s)
{
  struct probe_res r = { 0 };
  assert_non_null (state_probe_writable (s, probe_cb, &r));
  while (r.calls == 0)
    uv_run (&f->loop, UV_RUN_ONCE);
  assert_int_equal (r.calls, 1);
  return r;
}

static void
test_probe_writable (void **st)
{
  struct fixture *f = *st;
  state_store_t *s = store (f, true);
  struct probe_res r = probe_sync (f, s);
  assert_int_equal (r.kind, 0);
  cleanup_free char *probe = xasprintf ("%s/.health-probe", f->dir);
  assert_int_equal (access (probe, F_OK), -1); /* removed */

  cleanup_free char *moved = xasprintf ("%s.moved", f->dir);
  assert_int_equal (rename (f->dir, moved), 0);
  r = probe_sync (f, s);
  assert_int_equal (r.kind, ERR_IO);
  assert_non_null (strstr (r.msg, ".health-probe"));
  assert_int_equal (rename (moved, f->dir), 0);
  r = probe_sync (f, s);
  assert_int_equal (r.kind, 0);

  struct probe_res none = { 0 };
  state_probe_detach (state_probe_writable (s, probe_cb, &none));
  uv_run (&f->loop, UV_RUN_DEFAULT);
  assert_int_equal (none.calls, 0);
  state_store_free (s);

  s = store (f, false);
  assert_null (state_probe_writable (s, probe_cb, &none));
  state_store_free (s);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_write_failure, setup, teardown),
    cmocka_unit_test_setup_teardown (test_failing_saves_back_off, setup, teardown),
    cmocka_unit_test_setup_teardown (test_checkpoint_not_a_regular_file, setup, teardown),
    cmocka_unit_test_setup_teardown (test_probe_writable, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
