/* test_state_fixture.h - the fixture of the state/state.c unit tests
 * (test_state*.c): a temporary data directory, a store on its own loop,
 * spinning until a condition, save callbacks recorded, a task provider.
 * Header only. */
#ifndef TEST_STATE_FIXTURE_H
#define TEST_STATE_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include "task/task.h"
#include "log/log.h"
#include "state/state.h"
#include "test_engine_util.h"

struct fixture
{
  uv_loop_t loop;
  char dir[64];
  char *path;
};

static inline int
setup (void **st)
{
  struct fixture *f = xcalloc (1, sizeof *f);
  uv_loop_init (&f->loop);
  strcpy (f->dir, "/tmp/ecs-state-test-XXXXXX");
  assert_non_null (mkdtemp (f->dir));
  f->path = xasprintf ("%s/%s", f->dir, STATE_FILE_NAME);
  *st = f;
  return 0;
}

static inline int
teardown (void **st)
{
  struct fixture *f = *st;
  uv_run (&f->loop, UV_RUN_DEFAULT);
  assert_int_equal (uv_loop_close (&f->loop), 0);
  cleanup_free char *cmd = xasprintf ("rm -rf '%s'", f->dir);
  assert_int_equal (system (cmd), 0);
  free (f->path);
  free (f);
  return 0;
}

static inline state_store_t *
store (struct fixture *f, bool enabled)
{
  agent_error_t err = NULL;
  state_store_t *s = state_store_new (&f->loop, f->dir, enabled, &err);
  if (!s)
    fail_msg ("%s", error_msg (&err));
  return s;
}

static inline void
spin_until (struct fixture *f, const bool *flag)
{
  for (int i = 0; i < 100000 && !*flag; i++)
    uv_run (&f->loop, UV_RUN_ONCE);
  assert_true (*flag);
}

static inline void
write_file (const char *path, const char *data, size_t len)
{
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true (fd >= 0);
  assert_int_equal (write (fd, data, len), (ssize_t) len);
  close (fd);
}

struct saved
{
  int calls;
  bool done;
  bool file_had_marker; /* checked inside the callback */
  const char *path;
  const char *marker;
  int kinds[8];
  int order[8];
};

static int order_counter;

static inline void
on_saved (agent_error_t err, void *data)
{
  struct saved *s = data;
  s->kinds[s->calls] = err ? err->kind : 0;
  s->order[s->calls] = ++order_counter;
  s->calls++;
  s->done = true;
  if (s->path && s->marker)
    {
      char *text = NULL;
      size_t len;
      agent_error_t e = NULL;
      if (util_read_file (s->path, &text, &len, &e) == 0)
        s->file_had_marker = strstr (text, s->marker) != NULL;
      free (text);
      error_free (&e);
    }
}

/* One task named by data, built on first use and kept for the test binary. */
static inline void
provider (void *data, struct task *const **tasks, size_t *n)
{
  static struct task t;
  static struct task *list[1] = { &t };
  static char arn[128];
  snprintf (arn, sizeof arn, "%s", (const char *) data);
  t.arn = arn;
  t.family = (char *) "f";
  t.version = (char *) "1";
  t.desired_status = TASK_STATUS_RUNNING;
  *tasks = list;
  *n = 1;
}

#endif /* TEST_STATE_FIXTURE_H */
