/* Unit tests for log/: levels, logfmt lines, the file sink with hourly
 * or size rotation and pruning, secret redaction, and the escaping of control bytes
 * and invalid UTF-8 in messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/util.h"
#include "core/xmalloc.h"
#include "log/log.h"

static time_t fake_now = 1700000000; /* 2023-11-14T22:13:20Z */

static time_t
fake_clock (void)
{
  return fake_now;
}

static char *
tmpdir (void)
{
  char *d = xstrdup ("/tmp/ecs-log-test-XXXXXX");
  assert_non_null (mkdtemp (d));
  return d;
}

static char *
read_all (const char *path)
{
  char *s = NULL;
  agent_error_t err = NULL;
  if (util_read_file (path, &s, NULL, &err) < 0)
    {
      error_free (&err);
      return NULL;
    }
  return s;
}

static void
rm_rf (const char *dir)
{
  cleanup_free char *cmd = xasprintf ("rm -rf '%s'", dir);
  assert_int_equal (system (cmd), 0);
}

/* A test with files: a fresh directory with the agent log's and the audit
   log's paths in it, the fake clock at its start; the teardown closes both
   logs, removes the directory and puts back the clock and the hourly
   rollover, also when the test failed. */
struct logfx
{
  char *dir, *agent_log, *audit_log;
  agent_error_t err;
};

static int
files_setup (void **state)
{
  struct logfx *x = xcalloc (1, sizeof *x);
  x->dir = tmpdir ();
  x->agent_log = xasprintf ("%s/agent.log", x->dir);
  x->audit_log = xasprintf ("%s/audit.log", x->dir);
  fake_now = 1700000000;
  log_set_clock (fake_clock);
  *state = x;
  return 0;
}

static int
files_teardown (void **state)
{
  struct logfx *x = *state;
  log_close ();
  log_audit_close ();
  rm_rf (x->dir);
  log_set_clock (NULL);
  fake_now = 1700000000;
  log_set_rollover (LOG_ROLL_HOURLY, 5, 24);
  error_free (&x->err);
  free (x->dir);
  free (x->agent_log);
  free (x->audit_log);
  free (x);
  return 0;
}

static void
test_level_parse (void **state)
{
  (void) state;
  enum log_level l;
  assert_int_equal (log_level_parse ("debug", &l), 0);
  assert_int_equal (l, LOG_DEBUG);
  assert_int_equal (log_level_parse (" INFO ", &l), 0);
  assert_int_equal (l, LOG_INFO);
  assert_int_equal (log_level_parse ("Warn", &l), 0);
  assert_int_equal (l, LOG_WARN);
  assert_int_equal (log_level_parse ("error", &l), 0);
  assert_int_equal (l, LOG_ERROR);
  assert_int_equal (log_level_parse ("crit", &l), 0);
  assert_int_equal (l, LOG_CRIT);
  assert_int_equal (log_level_parse ("none", &l), 0);
  assert_int_equal (l, LOG_NONE);
  assert_true (log_level_parse ("verbose", &l) < 0);
  assert_true (log_level_parse ("", &l) < 0);
  assert_true (log_level_parse (NULL, &l) < 0);
}

static void
test_file_gets_debug_and_logfmt (void **state)
{
  struct logfx *x = *state;
  const char *dir = x->dir;
  const char *file = x->agent_log;
  assert_int_equal (log_init (LOG_ERROR, file, &x->err), 0);
  log_debug ("engine", "a \"quoted\" debug line\nwith newline");
  log_info ("acs", "info line");
  log_close ();
  cleanup_free char *hourly = xasprintf ("%s/agent.log.2023-11-14-22", dir);
  cleanup_free char *text = read_all (hourly);
  assert_non_null (text);
  assert_non_null (strstr (text, "level=debug time=2023-11-14T22:13:20Z module=engine msg=\"a \\\"quoted\\\" debug line\\nwith newline\"\n"));
  assert_non_null (strstr (text, "level=info time=2023-11-14T22:13:20Z module=acs msg=\"info line\"\n"));
  /* ECS_LOGFILE itself points at the current hour's file */
  cleanup_free char *via_link = read_all (file);
  assert_non_null (via_link);
  assert_string_equal (via_link, text);
  struct stat st;
  assert_int_equal (stat (hourly, &st), 0);
  assert_int_equal (st.st_mode & 0007, 0); /* not world-readable */
}

static void
test_hourly_rotation_and_pruning (void **state)
{
  struct logfx *x = *state;
  const char *dir = x->dir;
  const char *file = x->agent_log;
  assert_int_equal (log_init (LOG_NONE, file, &x->err), 0);
  for (int h = 0; h < 30; h++)
    {
      log_info ("t", "hour %d", h);
      fake_now += 3600;
    }
  log_close ();
  DIR *d = opendir (dir);
  assert_non_null (d);
  struct dirent *de;
  int n = 0;
  while ((de = readdir (d)))
    if (strncmp (de->d_name, "agent.log.", 10) == 0)
      n++;
  closedir (d);
  assert_int_equal (n, 24); /* the newest 24 hours are kept */
  cleanup_free char *last = xasprintf ("%s/agent.log.2023-11-16-03", dir);
  cleanup_free char *text = read_all (last);
  assert_non_null (text);
  assert_non_null (strstr (text, "hour 29"));
  cleanup_free char *first = xasprintf ("%s/agent.log.2023-11-14-22", dir);
  assert_int_not_equal (access (first, F_OK), 0);
}

static void
test_redaction (void **state)
{
  (void) state;
  log_secret_add ("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
  log_secret_add ("abc"); /* too short: ignored */
  char *s = log_redact (xstrdup ("secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY twice wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY abc"));
  assert_string_equal (s, "secret [REDACTED] twice [REDACTED] abc");
  free (s);
  s = log_redact (xstrdup ("Authorization: AWS4-HMAC-SHA256 Credential=x\n password=hunter2 \"SecretAccessKey\":\"zzz\", token=t0k"));
  assert_null (strstr (s, "AWS4-HMAC"));
  assert_null (strstr (s, "hunter2"));
  assert_null (strstr (s, "zzz"));
  assert_null (strstr (s, "t0k"));
  assert_null (strstr (s, "Credential=x"));
  free (s);
  s = log_redact (xstrdup ("X-Registry-Auth: eyJ1c2VybmFtZSI6 other=fine"));
  assert_null (strstr (s, "eyJ1c2"));
  assert_non_null (strstr (s, "other=fine"));
  free (s);
  log_secret_remove ("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
  s = log_redact (xstrdup ("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"));
  assert_string_equal (s, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
  free (s);
}

static void
test_secret_never_reaches_file (void **state)
{
  struct logfx *x = *state;
  const char *file = x->agent_log;
  assert_int_equal (log_init (LOG_NONE, file, &x->err), 0);
  log_secret_add ("SessionTokenValue12345");
  log_error ("aws", "request failed with token SessionTokenValue12345 in it");
  cleanup_free char *text = read_all (file);
  log_close ();
  assert_non_null (text);
  assert_null (strstr (text, "SessionTokenValue12345"));
  assert_non_null (strstr (text, "[REDACTED]"));
}

static void
test_unwritable_file_is_error (void **state)
{
  (void) state;
  agent_error_t err = NULL;
  assert_true (log_init (LOG_INFO, "/nonexistent-dir/x/agent.log", &err) < 0);
  assert_non_null (strstr (error_msg (&err), "/nonexistent-dir/x/agent.log"));
  error_free (&err);
  log_close ();
}

/* Every control byte is escaped; valid UTF-8 passes; invalid UTF-8 is
   written byte by byte as \xNN (terminal escape injection from a peer). */
static void
test_escape_control_bytes (void **state)
{
  (void) state;
  struct
  {
    const char *in, *want;
  } cases[] = {
    { "plain text", "plain text" },
    { "", "" },
    { "a \"q\" \\ b", "a \\\"q\\\" \\\\ b" },
    { "l1\nl2\rl3\tx", "l1\\nl2\\rl3\\tx" },
    { "\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m" },
    { "\x01\x07\x08\x0b\x0c\x1f", "\\x01\\x07\\x08\\x0b\\x0c\\x1f" },
    { "del\x7f", "del\\x7f" },
    /* raw C1 bytes (not UTF-8): CSI, OSC */
    { "\x9b" "31m \x9d" "0;title\x07", "\\x9b31m \\x9d0;title\\x07" },
    /* C1 controls written as UTF-8 (U+009B, U+0085) */
    { "\xc2\x9b" "2J \xc2\x85", "\\u009b2J \\u0085" },
    /* valid UTF-8 passes: U+00A0, é, €, 😀 */
    { "\xc2\xa0 caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
      "\xc2\xa0 caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
    /* invalid: lone continuation, truncated sequence, overlong, surrogate,
       above U+10FFFF, 0xff */
    { "\x80", "\\x80" },
    { "\xe2\x82", "\\xe2\\x82" },
    { "\xe2\x82x", "\\xe2\\x82x" },
    { "\xc0\xaf", "\\xc0\\xaf" },
    { "\xe0\x80\xaf", "\\xe0\\x80\\xaf" },
    { "\xed\xa0\x80", "\\xed\\xa0\\x80" },
    { "\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80" },
    { "\xff\xfe", "\\xff\\xfe" },
    { "\xc3\x1b", "\\xc3\\x1b" },
  };
  for (size_t i = 0; i < ARRAY_SIZE (cases); i++)
    {
      cleanup_free char *got = log_escape (cases[i].in);
      if (strcmp (got, cases[i].want) != 0)
        fail_msg ("case %zu: got \"%s\", want \"%s\"", i, got, cases[i].want);
    }
  cleanup_free char *null = log_escape (NULL);
  assert_string_equal (null, "");
}

/* What a peer sends reaches the file as one line with no raw control byte
   and no invalid UTF-8. */
static void
test_file_line_has_no_control_bytes (void **state)
{
  struct logfx *x = *state;
  const char *dir = x->dir;
  const char *file = x->agent_log;
  assert_int_equal (log_init (LOG_NONE, file, &x->err), 0);
  char hostile[256];
  size_t n = 0;
  for (int c = 1; c < 256; c++)
    hostile[n++] = (char) c;
  hostile[n] = '\0';
  log_warn ("acs", "reason from ACS: %s", hostile);
  log_close ();
  cleanup_free char *hourly = xasprintf ("%s/agent.log.2023-11-14-22", dir);
  cleanup_free char *text = read_all (hourly);
  assert_non_null (text);
  size_t len = strlen (text);
  assert_true (len > 0 && text[len - 1] == '\n');
  for (size_t i = 0; i + 1 < len; i++)
    {
      unsigned char c = (unsigned char) text[i];
      if (c < 0x20 || c >= 0x7f)
        fail_msg ("raw byte 0x%02x at %zu in %s", c, i, text);
    }
  assert_non_null (strstr (text, "\\x1b"));
  assert_non_null (strstr (text, "\\x9b"));
  assert_non_null (strstr (text, "\\x7f"));
}

/* A rotation tool moved the file away: after log_reopen (SIGHUP) lines go
   to a new file of the same name, none to the moved one. */
static void
test_reopen_after_move (void **state)
{
  struct logfx *x = *state;
  const char *dir = x->dir;
  const char *file = x->agent_log;
  cleanup_free char *hourly = xasprintf ("%s/agent.log.2023-11-14-22", dir);
  cleanup_free char *moved = xasprintf ("%s/moved.log", dir);
  assert_int_equal (log_reopen (&x->err), 0); /* no file: nothing to do */
  assert_int_equal (log_init (LOG_NONE, file, &x->err), 0);
  log_info ("agent", "before the move");
  assert_int_equal (rename (hourly, moved), 0);
  assert_int_equal (log_reopen (&x->err), 0);
  log_info ("agent", "after the move");
  log_close ();
  cleanup_free char *old_text = read_all (moved);
  cleanup_free char *new_text = read_all (hourly);
  cleanup_free char *via_link = read_all (file);
  assert_non_null (old_text);
  assert_non_null (new_text);
  assert_non_null (strstr (old_text, "before the move"));
  assert_null (strstr (old_text, "after the move"));
  assert_non_null (strstr (new_text, "after the move"));
  assert_null (strstr (new_text, "before the move"));
  assert_non_null (via_link);
  assert_string_equal (via_link, new_text);
}

static size_t
count_prefix (const char *dir, const char *prefix)
{
  DIR *d = opendir (dir);
  assert_non_null (d);
  struct dirent *de;
  size_t n = 0;
  while ((de = readdir (d)))
    if (strncmp (de->d_name, prefix, strlen (prefix)) == 0)
      n++;
  closedir (d);
  return n;
}

/* ECS_LOG_ROLLOVER_TYPE=size: the audit log and the agent log write their
   file itself, roll it to <file>.<N> (the newest highest) once it holds the
   size, keep the newest ECS_LOG_MAX_ROLL_COUNT rolls, go on numbering after
   a restart, and replace the hourly mode's link by a regular file. */
static void
test_size_rotation (void **state)
{
  struct logfx *x = *state;
  const char *dir = x->dir;
  const char *file = x->audit_log;
  log_set_rollover (LOG_ROLL_SIZE, 0.0001, 3); /* 100 bytes, 3 rolls */
  assert_int_equal (log_audit_init (file, &x->err), 0);
  /* 40 bytes a line: a file takes 3 lines (120 >= 100), then rolls */
  char line[64];
  for (int i = 0; i < 16; i++)
    {
      snprintf (line, sizeof line, "entry %02d ..............................", i);
      log_audit (line);
    }
  log_audit_close ();
  assert_int_equal (count_prefix (dir, "audit.log"), 4); /* the file and 3 rolls */
  const char *want[][2] = { { "audit.log.3", "entry 06" }, { "audit.log.4", "entry 09" },
                            { "audit.log.5", "entry 12" }, { "audit.log", "entry 15" } };
  for (size_t i = 0; i < 4; i++)
    {
      cleanup_free char *p = xasprintf ("%s/%s", dir, want[i][0]);
      cleanup_free char *t = read_all (p);
      assert_non_null (t);
      assert_true (strncmp (t, want[i][1], 8) == 0);
      assert_int_equal (strlen (t), i == 3 ? 40 : 120);
    }
  /* after a restart the next roll is number 6, and the oldest goes */
  assert_int_equal (log_audit_init (file, &x->err), 0);
  for (int i = 16; i < 19; i++)
    {
      snprintf (line, sizeof line, "entry %02d ..............................", i);
      log_audit (line);
    }
  log_audit_close ();
  cleanup_free char *p6 = xasprintf ("%s/audit.log.6", dir);
  cleanup_free char *t6 = read_all (p6);
  assert_non_null (t6);
  assert_true (strncmp (t6, "entry 15", 8) == 0);
  cleanup_free char *p3 = xasprintf ("%s/audit.log.3", dir);
  assert_int_not_equal (access (p3, F_OK), 0);

  /* the agent log: its ECS_LOGFILE link from the hourly mode becomes the file */
  const char *agent = x->agent_log;
  assert_int_equal (symlink ("agent.log.2023-11-14-22", agent), 0);
  assert_int_equal (log_init (LOG_NONE, agent, &x->err), 0);
  for (int i = 0; i < 10; i++)
    log_info ("t", "line %d", i);
  log_close ();
  struct stat st;
  assert_int_equal (lstat (agent, &st), 0);
  assert_true (S_ISREG (st.st_mode));
  assert_int_equal (count_prefix (dir, "agent.log."), 3);
  cleanup_free char *a1 = xasprintf ("%s/agent.log.1", dir);
  assert_int_not_equal (access (a1, F_OK), 0); /* rolled away: at most 3 kept */
  cleanup_free char *cur = read_all (agent);
  assert_non_null (strstr (cur, "line 9"));
}

/* ECS_LOG_MAX_ROLL_COUNT applies to the hourly files too. */
static void
test_hourly_roll_count (void **state)
{
  struct logfx *x = *state;
  const char *dir = x->dir;
  const char *file = x->audit_log;
  log_set_rollover (LOG_ROLL_HOURLY, 5, 2);
  assert_int_equal (log_audit_init (file, &x->err), 0);
  for (int h = 0; h < 5; h++)
    {
      log_audit ("x");
      fake_now += 3600;
    }
  log_audit_close ();
  assert_int_equal (count_prefix (dir, "audit.log."), 2);
  cleanup_free char *last = xasprintf ("%s/audit.log.2023-11-15-02", dir);
  assert_int_equal (access (last, F_OK), 0);
}

/* The audit log: nothing before init; after, each entry as one line in
   its hourly file (stdout too, not checked here). */
static void
test_audit_file (void **state)
{
  struct logfx *x = *state;
  const char *dir = x->dir;
  const char *file = x->audit_log;
  log_audit ("before init");
  assert_int_equal (log_audit_init (file, &x->err), 0);
  log_audit ("2023-11-14T22:13:20Z 200 1.2.3.4:5 \"/v2/credentials\" \"-\" arn GetCredentials 2 c -");
  fake_now += 3600;
  log_audit ("next hour");
  log_audit_close ();
  log_audit ("after close");
  cleanup_free char *h1 = xasprintf ("%s/audit.log.2023-11-14-22", dir);
  cleanup_free char *h2 = xasprintf ("%s/audit.log.2023-11-14-23", dir);
  cleanup_free char *t1 = read_all (h1);
  cleanup_free char *t2 = read_all (h2);
  assert_non_null (t1);
  assert_string_equal (t1, "2023-11-14T22:13:20Z 200 1.2.3.4:5 \"/v2/credentials\" \"-\" arn GetCredentials 2 c -\n");
  assert_string_equal (t2, "next hour\n");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_audit_file, files_setup, files_teardown),
    cmocka_unit_test_setup_teardown (test_size_rotation, files_setup, files_teardown),
    cmocka_unit_test_setup_teardown (test_hourly_roll_count, files_setup, files_teardown),
    cmocka_unit_test (test_level_parse),
    cmocka_unit_test_setup_teardown (test_file_gets_debug_and_logfmt, files_setup, files_teardown),
    cmocka_unit_test_setup_teardown (test_hourly_rotation_and_pruning, files_setup, files_teardown),
    cmocka_unit_test (test_redaction),
    cmocka_unit_test_setup_teardown (test_secret_never_reaches_file, files_setup, files_teardown),
    cmocka_unit_test (test_unwritable_file_is_error),
    cmocka_unit_test (test_escape_control_bytes),
    cmocka_unit_test_setup_teardown (test_file_line_has_no_control_bytes, files_setup, files_teardown),
    cmocka_unit_test_setup_teardown (test_reopen_after_move, files_setup, files_teardown),
  };
  int r = cmocka_run_group_tests (tests, NULL, NULL);
  log_close ();
  return r;
}
