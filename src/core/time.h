/* core/time.h - the agent's one RFC 3339 parser and formatter.
 *
 * Times travel as int64 nanoseconds since the Unix epoch (UTC), which spans
 * 1677-09-21 .. 2262-04-11.  Go's zero time ("0001-01-01T00:00:00Z", what
 * Docker and ECS send for "never") maps to 0 and back; any time in year 1 or
 * earlier is taken as that zero time.  Pure functions, no locale, no time
 * zone database.
 */
#ifndef CORE_TIME_H
#define CORE_TIME_H

#include <stddef.h>
#include <stdint.h>

/* Room for the longest string time_rfc3339_format writes, NUL included. */
#define TIME_RFC3339_LEN 40

/* Parse "YYYY-MM-DDThh:mm:ss[.frac](Z|+hh:mm|-hh:mm)".  Accepted: 'T', 't' or
   a space between date and time (RFC 3339 allows the space), 'Z' or 'z',
   a fraction of one or more digits (nanoseconds kept, further digits
   dropped), second 60 (a leap second, counted as the next second).  The day
   must exist in its month.  Returns 0 and fills *unix_ns, or < 0 (with
   *unix_ns = 0) for NULL, malformed input or a time outside int64 ns. */
int time_rfc3339_parse (const char *s, int64_t *unix_ns);

/* Format unix ns as "YYYY-MM-DDThh:mm:ss.nnnnnnnnnZ" (always nine fraction
   digits, UTC); 0 formats as Go's zero time "0001-01-01T00:00:00Z".
   Returns the length written, or < 0 (buf set to "" when len > 0) if len is
   smaller than needed; TIME_RFC3339_LEN is always enough. */
int time_rfc3339_format (int64_t unix_ns, char *buf, size_t len);

#endif
