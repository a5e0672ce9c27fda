/* Unit tests for core/time: the one RFC 3339 parser/formatter, table-driven
 * over the forms Docker, ECS and IMDS send and the ones they must refuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "core/time.h"

#define ARRAY_SIZE(a) (sizeof (a) / sizeof ((a)[0]))

static void
test_parse_valid (void **state)
{
  (void) state;
  static const struct
  {
    const char *in;
    int64_t ns;
  } cases[] = {
    { "1970-01-01T00:00:00Z", 0 },
    { "1970-01-01T00:00:01Z", 1000000000LL },
    { "1970-01-01T01:00:01.5+01:00", 1500000000LL },
    { "2015-05-19T12:00:00Z", 1432036800LL * 1000000000LL },
    { "2015-05-19T12:00:00.123Z", 1432036800123000000LL },
    { "2015-05-19T14:00:00+02:00", 1432036800LL * 1000000000LL },
    { "2015-05-19T11:30:00-00:30", 1432036800LL * 1000000000LL },
    { "2015-05-19t12:00:00z", 1432036800LL * 1000000000LL },  /* lower case */
    { "2015-05-19 12:00:00Z", 1432036800LL * 1000000000LL },  /* space separator */
    { "2015-04-28T17:29:48.129140193Z", 1430242188129140193LL },
    { "2015-04-28T19:29:48+02:00", 1430242188000000000LL },
    { "2026-11-29T07:22:50.3050845391234Z", 1795936970305084539LL }, /* > 9 digits: truncated */
    { "2026-11-29T07:22:50.000000001Z", 1795936970000000001LL },
    { "2024-02-29T00:00:00Z", 1709164800LL * 1000000000LL },   /* leap day */
    { "2000-02-29T00:00:00Z", 951782400LL * 1000000000LL },    /* 400-year leap */
    { "2016-12-31T23:59:60Z", 1483228800LL * 1000000000LL },   /* leap second */
    { "1969-12-31T23:59:59.5Z", -500000000LL },
    { "1677-09-21T00:12:43.145224192Z", INT64_MIN },
    { "2262-04-11T23:47:16.854775807Z", INT64_MAX },
    { "0001-01-01T00:00:00Z", 0 },                              /* Go's zero time */
    { "0001-01-01T00:00:00.000000000+00:00", 0 },
    { "0000-06-01T00:00:00Z", 0 },
  };
  for (size_t i = 0; i < ARRAY_SIZE (cases); i++)
    {
      int64_t ns = 42;
      if (time_rfc3339_parse (cases[i].in, &ns) != 0 || ns != cases[i].ns)
        fail_msg ("%s: got %lld, want %lld", cases[i].in, (long long) ns, (long long) cases[i].ns);
    }
}

static void
test_parse_invalid (void **state)
{
  (void) state;
  static const char *bad[] = {
    "", "yesterday", "2015", "2015-05-19", "2015-05-19T12:00:00", "2015-05-19T12:00",
    "2015-13-19T12:00:00Z", "2015-00-19T12:00:00Z", "2015-05-00T12:00:00Z", "2015-05-32T12:00:00Z",
    "2015-02-29T12:00:00Z", "1900-02-29T00:00:00Z", "2015-04-31T00:00:00Z",
    "2015-05-19T24:00:00Z", "2015-05-19T25:00:00Z", "2015-05-19T12:60:00Z", "2015-05-19T12:00:61Z",
    "2015-05-19T12:00:00Zx", "2015-05-19T12:00:00Z ", " 2015-05-19T12:00:00Z",
    "2015-05-19T12:00:00.Z", "2015-05-19T12:00:00,5Z", "2015-05-19T12:00:00+0200",
    "2015-05-19T12:00:00+02", "2015-05-19T12:00:00+24:00", "2015-05-19T12:00:00+02:60",
    "2015-05-19T12:00:00UTC", "2015-05-19X12:00:00Z", "2015/05/19T12:00:00Z",
    "2015-01-01T-1:00:00Z", "+015-01-01T00:00:00Z", "2015-1-01T00:00:00Z",
    "abcd-ef-ghTij:kl:mnZ", "0002-01-01T00:00:00Z", "1677-09-21T00:12:43.145224191Z",
    "2262-04-11T23:47:17Z", "9999-12-31T23:59:59Z",
  };
  for (size_t i = 0; i < ARRAY_SIZE (bad); i++)
    {
      int64_t ns = 42;
      if (time_rfc3339_parse (bad[i], &ns) >= 0)
        fail_msg ("%s: accepted as %lld", bad[i], (long long) ns);
      assert_true (ns == 0);
    }
  int64_t ns = 42;
  assert_true (time_rfc3339_parse (NULL, &ns) < 0);
  assert_true (ns == 0);
}

static void
test_format (void **state)
{
  (void) state;
  static const struct
  {
    int64_t ns;
    const char *out;
  } cases[] = {
    { 0, "0001-01-01T00:00:00Z" },
    { 1, "1970-01-01T00:00:00.000000001Z" },
    { 1430242188129140193LL, "2015-04-28T17:29:48.129140193Z" },
    { 1709164800LL * 1000000000LL, "2024-02-29T00:00:00.000000000Z" },
    { -500000000LL, "1969-12-31T23:59:59.500000000Z" },
    { INT64_MIN, "1677-09-21T00:12:43.145224192Z" },
    { INT64_MAX, "2262-04-11T23:47:16.854775807Z" },
  };
  for (size_t i = 0; i < ARRAY_SIZE (cases); i++)
    {
      char buf[TIME_RFC3339_LEN];
      int n = time_rfc3339_format (cases[i].ns, buf, sizeof buf);
      assert_string_equal (buf, cases[i].out);
      assert_int_equal (n, (int) strlen (cases[i].out));
      int64_t back;
      assert_int_equal (time_rfc3339_parse (buf, &back), 0);
      assert_true (back == cases[i].ns);
    }
  char small[10] = "x";
  assert_true (time_rfc3339_format (1, small, sizeof small) < 0);
  assert_string_equal (small, "");
  assert_true (time_rfc3339_format (0, small, 0) < 0);
}

static void
test_round_trip_sweep (void **state)
{
  (void) state;
  /* every day of 1969..2101 at an odd time of day, both directions */
  for (int64_t day = -366; day < 48000; day += 7)
    {
      int64_t ns = (day * 86400 + 12345) * 1000000000LL + 678901234;
      char buf[TIME_RFC3339_LEN];
      assert_true (time_rfc3339_format (ns, buf, sizeof buf) > 0);
      int64_t back;
      assert_int_equal (time_rfc3339_parse (buf, &back), 0);
      assert_true (back == ns);
    }
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_parse_valid),
    cmocka_unit_test (test_parse_invalid),
    cmocka_unit_test (test_format),
    cmocka_unit_test (test_round_trip_sweep),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
