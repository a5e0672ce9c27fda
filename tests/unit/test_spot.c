/* test_spot.c - the spot instance-action notice parser (aws/spot.h), as a table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "aws/spot.h"

static void
test_table (void **state)
{
  (void) state;
  static const struct
  {
    const char *in;
    int ok;
    const char *action;
    int64_t time_ns;
  } t[] = {
    { "{\"action\":\"terminate\",\"time\":\"2017-09-18T08:22:00Z\"}", 1, "terminate", 1505722920000000000LL },
    { "{\"action\":\"stop\",\"time\":\"2017-09-18T08:22:00Z\",\"extra\":[1]}", 1, "stop", 1505722920000000000LL },
    { "{\"action\":\"hibernate\",\"time\":\"2017-09-18T08:22:00.5Z\"}", 1, "hibernate", 1505722920500000000LL },
    { "{\"action\":\"reboot\",\"time\":\"2017-09-18T08:22:00Z\"}", 0, NULL, 0 },
    { "{\"action\":\"terminate\"}", 0, NULL, 0 },
    { "{\"action\":\"terminate\",\"time\":\"soon\"}", 0, NULL, 0 },
    { "{\"action\":3,\"time\":\"2017-09-18T08:22:00Z\"}", 0, NULL, 0 },
    { "[]", 0, NULL, 0 },
    { "<html>Not Found</html>", 0, NULL, 0 },
    { "", 0, NULL, 0 },
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    {
      struct aws_spot_action a;
      agent_error_t err = NULL;
      int rc = aws_spot_action_parse (t[i].in, strlen (t[i].in), &a, &err);
      if (!t[i].ok)
        {
          if (rc >= 0)
            fail_msg ("accepted: %s", t[i].in);
          assert_int_equal (error_kind (&err), ERR_MALFORMED);
          error_free (&err);
          continue;
        }
      assert_int_equal (rc, 0);
      assert_string_equal (a.action, t[i].action);
      assert_int_equal (a.time_ns, t[i].time_ns);
    }
}

int
main (void)
{
  const struct CMUnitTest tests[] = { cmocka_unit_test (test_table) };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
