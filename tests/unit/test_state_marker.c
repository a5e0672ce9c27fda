/* Unit tests for state/marker.c: the durable "handling message X" note.
 * A message begun and not ended when the store is dropped (the agent died)
 * is a suspect with one death at the next open; a second death counts
 * twice, not once per restart; ending a message clears it (file removed
 * when empty), its suspect entry only once acknowledged; long ids are kept as a digest; a corrupt file, a FIFO and a
 * symlink are ignored with a warning; memory-only mode writes nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/util.h"
#include "core/xmalloc.h"
#include "state/marker.h"

struct fx
{
  char dir[64];
  char *path;
};

static int
setup (void **st)
{
  struct fx *f = xcalloc (1, sizeof *f);
  strcpy (f->dir, "/tmp/test-marker-XXXXXX");
  assert_non_null (mkdtemp (f->dir));
  f->path = xasprintf ("%s/%s", f->dir, STATE_MARKER_FILE_NAME);
  *st = f;
  return 0;
}

static int
teardown (void **st)
{
  struct fx *f = *st;
  unlink (f->path);
  rmdir (f->dir);
  free (f->path);
  free (f);
  return 0;
}

static state_marker_t *
open_ok (struct fx *f)
{
  char *warn = NULL;
  state_marker_t *m = state_marker_open (f->dir, &warn);
  if (warn)
    fail_msg ("unexpected warning: %s", warn);
  return m;
}

static bool
exists (const char *p)
{
  return access (p, F_OK) == 0;
}

static void
test_begin_end (void **st)
{
  struct fx *f = *st;
  agent_error_t err = NULL;
  state_marker_t *m = open_ok (f);
  assert_string_equal (state_marker_path (m), f->path);
  assert_int_equal (state_marker_begin (m, "m-1", &err), 0);
  assert_true (exists (f->path));
  char *text = NULL;
  assert_int_equal (util_read_file (f->path, &text, NULL, &err), 0);
  assert_non_null (strstr (text, "\"m-1\""));
  free (text);
  assert_int_equal (state_marker_handling_count (m), 1);
  assert_int_equal (state_marker_deaths (m, "m-1"), 0);
  assert_int_equal (state_marker_end (m, "m-1", true, &err), 0);
  assert_false (exists (f->path));
  assert_int_equal (state_marker_handling_count (m), 0);
  state_marker_free (m);
  /* A clean start after that: nothing suspect. */
  m = open_ok (f);
  assert_int_equal (state_marker_suspect_count (m), 0);
  state_marker_free (m);
}

static void
test_death_then_refusal (void **st)
{
  struct fx *f = *st;
  agent_error_t err = NULL;
  state_marker_t *m = open_ok (f);
  assert_int_equal (state_marker_begin (m, "ok", &err), 0);
  assert_int_equal (state_marker_begin (m, "poison", &err), 0);
  assert_int_equal (state_marker_end (m, "ok", true, &err), 0);
  state_marker_free (m); /* died while handling "poison" */

  m = open_ok (f);
  assert_int_equal (state_marker_deaths (m, "poison"), 1);
  assert_int_equal (state_marker_deaths (m, "ok"), 0);
  assert_int_equal (state_marker_suspect_count (m), 1);
  state_marker_free (m); /* died again before the message came back */

  m = open_ok (f);
  assert_int_equal (state_marker_deaths (m, "poison"), 1); /* not counted twice */
  /* Another message is handled meanwhile: the suspect stays. */
  assert_int_equal (state_marker_begin (m, "other", &err), 0);
  assert_int_equal (state_marker_end (m, "other", true, &err), 0);
  assert_true (exists (f->path));
  /* The refusal is begun too, and the agent dies during it. */
  assert_int_equal (state_marker_begin (m, "poison", &err), 0);
  state_marker_free (m);

  m = open_ok (f);
  assert_int_equal (state_marker_deaths (m, "poison"), 2);
  /* Its ack could not be sent: it stays suspect, no longer handled. */
  assert_int_equal (state_marker_begin (m, "poison", &err), 0);
  assert_int_equal (state_marker_end (m, "poison", false, &err), 0);
  assert_int_equal (state_marker_handling_count (m), 0);
  assert_int_equal (state_marker_deaths (m, "poison"), 2);
  assert_int_equal (state_marker_begin (m, "poison", &err), 0);
  assert_int_equal (state_marker_end (m, "poison", true, &err), 0); /* acknowledged */
  assert_int_equal (state_marker_deaths (m, "poison"), 0);
  assert_false (exists (f->path));
  state_marker_free (m);
}

static void
test_bounded_and_long_ids (void **st)
{
  struct fx *f = *st;
  agent_error_t err = NULL;
  state_marker_t *m = open_ok (f);
  char id[32];
  for (int i = 0; i < STATE_MARKER_MAX_HANDLING + 10; i++)
    {
      snprintf (id, sizeof id, "id-%d", i);
      assert_int_equal (state_marker_begin (m, id, &err), 0);
    }
  assert_int_equal (state_marker_handling_count (m), STATE_MARKER_MAX_HANDLING);
  /* A 4 MiB id is kept as a digest: the file stays small. */
  size_t big = 4u << 20;
  char *huge = xmalloc (big + 1);
  memset (huge, 'x', big);
  huge[big] = '\0';
  assert_int_equal (state_marker_begin (m, huge, &err), 0);
  struct stat sb;
  assert_int_equal (stat (f->path, &sb), 0);
  assert_true (sb.st_size < STATE_MARKER_MAX_FILE);
  state_marker_free (m);

  m = open_ok (f);
  assert_int_equal (state_marker_suspect_count (m), STATE_MARKER_MAX_SUSPECTS);
  assert_int_equal (state_marker_deaths (m, huge), 1);
  huge[0] = 'y';
  assert_int_equal (state_marker_deaths (m, huge), 0);
  free (huge);
  state_marker_free (m);
}

static void
test_bad_files_ignored (void **st)
{
  struct fx *f = *st;
  agent_error_t err = NULL;
  char *warn = NULL;
  static const char *const bodies[] = { "not json", "[]", "{\"Version\":9}", "" };
  for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++)
    {
      assert_int_equal (util_write_file_atomic (f->path, bodies[i], strlen (bodies[i]), 0600, &err), 0);
      state_marker_t *m = state_marker_open (f->dir, &warn);
      assert_non_null (warn);
      free (warn);
      assert_int_equal (state_marker_suspect_count (m), 0);
      state_marker_free (m);
    }
  /* Wrong types inside a valid file are skipped silently. */
  const char *odd = "{\"Version\":1,\"Handling\":[1,null,\"\"],\"Suspects\":[{\"MessageId\":2},\"x\"]}";
  assert_int_equal (util_write_file_atomic (f->path, odd, strlen (odd), 0600, &err), 0);
  state_marker_t *m = open_ok (f);
  assert_int_equal (state_marker_suspect_count (m), 0);
  state_marker_free (m);
  unlink (f->path);
  /* A FIFO neither blocks the open nor is read. */
  assert_int_equal (mkfifo (f->path, 0600), 0);
  m = state_marker_open (f->dir, &warn);
  assert_non_null (warn);
  free (warn);
  state_marker_free (m);
  unlink (f->path);
  /* A symlink is not followed. */
  assert_int_equal (symlink ("/dev/zero", f->path), 0);
  m = state_marker_open (f->dir, &warn);
  assert_non_null (warn);
  free (warn);
  /* and the next write replaces it with a file */
  assert_int_equal (state_marker_begin (m, "m", &err), 0);
  struct stat sb;
  assert_int_equal (lstat (f->path, &sb), 0);
  assert_true (S_ISREG (sb.st_mode));
  state_marker_free (m);
}

static void
test_memory_only (void **st)
{
  (void) st;
  agent_error_t err = NULL;
  char *warn = NULL;
  state_marker_t *m = state_marker_open (NULL, &warn);
  assert_null (warn);
  assert_string_equal (state_marker_path (m), "");
  assert_int_equal (state_marker_begin (m, "m", &err), 0);
  assert_int_equal (state_marker_handling_count (m), 1);
  assert_int_equal (state_marker_end (m, "m", true, &err), 0);
  state_marker_free (m);
}

static void
test_write_failure (void **st)
{
  struct fx *f = *st;
  agent_error_t err = NULL;
  char *warn = NULL;
  char *gone = xasprintf ("%s/missing-dir", f->dir);
  state_marker_t *m = state_marker_open (gone, &warn);
  assert_null (warn);
  assert_true (state_marker_begin (m, "m", &err) < 0);
  assert_int_equal (error_kind (&err), ERR_IO);
  error_free (&err);
  assert_int_equal (state_marker_handling_count (m), 1); /* still remembered */
  state_marker_free (m);
  free (gone);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_begin_end, setup, teardown),
    cmocka_unit_test_setup_teardown (test_death_then_refusal, setup, teardown),
    cmocka_unit_test_setup_teardown (test_bounded_and_long_ids, setup, teardown),
    cmocka_unit_test_setup_teardown (test_bad_files_ignored, setup, teardown),
    cmocka_unit_test (test_memory_only),
    cmocka_unit_test_setup_teardown (test_write_failure, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
