/* core/time.c - RFC 3339 <-> unix nanoseconds, with civil-date arithmetic
 * done by hand on integers (proleptic Gregorian calendar) so that no
 * time_t range, locale or TZ setting is involved. */
#include "core/time.h"
#include <stdbool.h>
#include <stdio.h>

#define NS_PER_S 1000000000LL
#define ZERO_TIME "0001-01-01T00:00:00Z"

/* Days since 1970-01-01 of a civil date (month 1..12). */
static int64_t
days_from_civil (int64_t y, int m, int d)
{
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static void
civil_from_days (int64_t z, int64_t *y, int *m, int *d)
{
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int) (doy - (153 * mp + 2) / 5 + 1);
  *m = (int) (mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

static bool
is_leap (int y)
{
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in_month (int y, int m)
{
  static const int dm[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
  return m == 2 && is_leap (y) ? 29 : dm[m - 1];
}

/* n decimal digits at *p into *out; advances *p. */
static int
digits (const char **p, int n, int *out)
{
  int v = 0;
  for (int i = 0; i < n; i++)
    {
      char c = (*p)[i];
      if (c < '0' || c > '9')
        return -1;
      v = v * 10 + (c - '0');
    }
  *p += n;
  *out = v;
  return 0;
}

int
time_rfc3339_parse (const char *s, int64_t *unix_ns)
{
  *unix_ns = 0;
  if (s == NULL)
    return -1;
  const char *p = s;
  int Y, M, D, h, m, sec;
  if (digits (&p, 4, &Y) < 0 || *p++ != '-' || digits (&p, 2, &M) < 0 || *p++ != '-'
      || digits (&p, 2, &D) < 0)
    return -1;
  if (*p != 'T' && *p != 't' && *p != ' ')
    return -1;
  p++;
  if (digits (&p, 2, &h) < 0 || *p++ != ':' || digits (&p, 2, &m) < 0 || *p++ != ':'
      || digits (&p, 2, &sec) < 0)
    return -1;
  int64_t frac = 0;
  if (*p == '.')
    {
      p++;
      int n = 0;
      for (; *p >= '0' && *p <= '9'; p++, n++)
        if (n < 9)
          frac = frac * 10 + (*p - '0');
      if (n == 0)
        return -1;
      for (; n < 9; n++)
        frac *= 10;
    }
  int off = 0;
  if (*p == 'Z' || *p == 'z')
    p++;
  else if (*p == '+' || *p == '-')
    {
      int sign = *p++ == '-' ? -1 : 1, oh, om;
      if (digits (&p, 2, &oh) < 0 || *p++ != ':' || digits (&p, 2, &om) < 0 || oh > 23 || om > 59)
        return -1;
      off = sign * (oh * 3600 + om * 60);
    }
  else
    return -1;
  if (*p != '\0')
    return -1;
  if (M < 1 || M > 12 || D < 1 || D > days_in_month (Y, M) || h > 23 || m > 59 || sec > 60)
    return -1;
  if (Y <= 1)
    return 0; /* Go's zero time */
  int64_t secs = days_from_civil (Y, M, D) * 86400 + h * 3600 + m * 60 + sec - off, v;
  if (secs < 0 && frac > 0)
    { /* keeps the product in range down to INT64_MIN */
      secs++;
      frac -= NS_PER_S;
    }
  if (__builtin_mul_overflow (secs, NS_PER_S, &v) || __builtin_add_overflow (v, frac, &v))
    return -1; /* outside 1677-09-21 .. 2262-04-11 */
  *unix_ns = v;
  return 0;
}

int
time_rfc3339_format (int64_t unix_ns, char *buf, size_t len)
{
  int n;
  if (unix_ns == 0)
    n = snprintf (buf, len, "%s", ZERO_TIME);
  else
    {
      /* floor division, so times before 1970 keep a positive fraction */
      int64_t secs = unix_ns / NS_PER_S, frac = unix_ns % NS_PER_S;
      if (frac < 0)
        {
          frac += NS_PER_S;
          secs--;
        }
      int64_t days = secs / 86400, sod = secs % 86400;
      if (sod < 0)
        {
          sod += 86400;
          days--;
        }
      int64_t y;
      int mo, d;
      civil_from_days (days, &y, &mo, &d);
      n = snprintf (buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%09dZ", (int) y, mo, d,
                    (int) (sod / 3600), (int) (sod / 60 % 60), (int) (sod % 60), (int) frac);
    }
  if (n < 0 || (size_t) n >= len)
    {
      if (len > 0)
        buf[0] = '\0';
      return -1;
    }
  return n;
}
