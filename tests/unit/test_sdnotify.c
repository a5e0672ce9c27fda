/* Unit tests for core/sdnotify: WATCHDOG_USEC / WATCHDOG_PID and
 * NOTIFY_SOCKET as tables, and datagrams received by a listener bound to a
 * path and to an abstract name (what systemd does). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "core/sdnotify.h"

#define ARRAY_SIZE(a) (sizeof (a) / sizeof ((a)[0]))

static void
test_watchdog_usec (void **state)
{
  (void) state;
  static const struct
  {
    const char *usec, *pid;
    pid_t self;
    uint64_t want;
  } cases[] = {
    { NULL, NULL, 10, 0 },
    { "", NULL, 10, 0 },
    { "30000000", NULL, 10, 30000000 },
    { "30000000", "", 10, 30000000 },
    { "30000000", "10", 10, 30000000 },
    { "30000000", "11", 10, 0 },  /* meant for another process */
    { "30000000", "x", 10, 0 },
    { "0", NULL, 10, 0 },
    { "-5", NULL, 10, 0 },
    { " 5", NULL, 10, 0 },
    { "5s", NULL, 10, 0 },
    { "99999999999999999999999", NULL, 10, 0 }, /* overflow */
    { "18446744073709551615", NULL, 10, UINT64_MAX },
  };
  for (size_t i = 0; i < ARRAY_SIZE (cases); i++)
    if (sdnotify_watchdog_usec (cases[i].usec, cases[i].pid, cases[i].self) != cases[i].want)
      fail_msg ("case %zu (%s, %s)", i, cases[i].usec ? cases[i].usec : "NULL",
                cases[i].pid ? cases[i].pid : "NULL");
}

static void
test_address (void **state)
{
  (void) state;
  struct sockaddr_un a;
  socklen_t len;
  agent_error_t err = NULL;
  assert_int_equal (sdnotify_address ("/run/systemd/notify", &a, &len, &err), 0);
  assert_string_equal (a.sun_path, "/run/systemd/notify");
  assert_int_equal (len, offsetof (struct sockaddr_un, sun_path) + strlen ("/run/systemd/notify") + 1);
  assert_int_equal (sdnotify_address ("@abstract/x", &a, &len, &err), 0);
  assert_int_equal (a.sun_path[0], '\0');
  assert_memory_equal (a.sun_path + 1, "abstract/x", 10);
  assert_int_equal (len, offsetof (struct sockaddr_un, sun_path) + 11);
  char longp[200];
  memset (longp, 'a', sizeof longp - 1);
  longp[0] = '/';
  longp[sizeof longp - 1] = '\0';
  static const char *const bad[] = { NULL, "", "/", "@", "relative/path", "x" };
  for (size_t i = 0; i <= ARRAY_SIZE (bad); i++)
    {
      const char *v = i < ARRAY_SIZE (bad) ? bad[i] : longp;
      assert_true (sdnotify_address (v, &a, &len, &err) < 0);
      assert_int_equal (error_kind (&err), ERR_INVALID);
      error_free (&err);
    }
}

/* A listener like systemd's; returns its fd. */
static int
listener (const char *name)
{
  struct sockaddr_un a;
  socklen_t len;
  agent_error_t err = NULL;
  assert_int_equal (sdnotify_address (name, &a, &len, &err), 0);
  int fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  assert_true (fd >= 0);
  if (bind (fd, (struct sockaddr *) &a, len) < 0)
    fail_msg ("bind %s", name);
  return fd;
}

static void
expect_datagram (int fd, const char *want)
{
  char buf[256];
  ssize_t n = recv (fd, buf, sizeof buf - 1, 0);
  assert_true (n >= 0);
  buf[n] = '\0';
  assert_string_equal (buf, want);
}

static void
test_send (void **state)
{
  (void) state;
  char dir[] = "/tmp/ecs-sdnotify-XXXXXX";
  assert_non_null (mkdtemp (dir));
  char path[128], abstract[64];
  snprintf (path, sizeof path, "%s/notify", dir);
  snprintf (abstract, sizeof abstract, "@ecs-sdnotify-test-%d", (int) getpid ());
  const char *names[] = { path, abstract };
  for (size_t i = 0; i < ARRAY_SIZE (names); i++)
    {
      int l = listener (names[i]);
      struct sdnotify n;
      agent_error_t err = NULL;
      assert_int_equal (sdnotify_open (&n, names[i], &err), 0);
      assert_int_equal (sdnotify_send (&n, "READY=1\nSTATUS=healthy", &err), 0);
      assert_int_equal (sdnotify_send (&n, "WATCHDOG=1", &err), 0);
      expect_datagram (l, "READY=1\nSTATUS=healthy");
      expect_datagram (l, "WATCHDOG=1");
      close (l);
      sdnotify_close (&n);
      assert_int_equal (n.fd, -1);
      /* closed: refused, no crash */
      assert_true (sdnotify_send (&n, "WATCHDOG=1", &err) < 0);
      error_free (&err);
    }
  /* nobody listening: an error, never a block */
  unlink (path);
  struct sdnotify n;
  agent_error_t err = NULL;
  assert_int_equal (sdnotify_open (&n, path, &err), 0);
  assert_true (sdnotify_send (&n, "WATCHDOG=1", &err) < 0);
  assert_int_equal (error_kind (&err), ERR_UNREACHABLE);
  error_free (&err);
  sdnotify_close (&n);
  rmdir (dir);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_watchdog_usec),
    cmocka_unit_test (test_address),
    cmocka_unit_test (test_send),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
