/* core/util.h - small helpers shared by every module: time, backoff with
 * jitter, string buffers, file writes that survive a crash.
 */
#ifndef CORE_UTIL_H
#define CORE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/error.h"

/* Monotonic milliseconds. */
uint64_t util_now_ms (void);
uint64_t util_now_ns (void);
/* Wall-clock ISO-8601 UTC, seconds precision, into buf (>= 21 bytes). */
void util_time_iso (char *buf, size_t len);

/* Exponential backoff with additive jitter, as upstream's SimpleBackoff:
   next() returns current + rand[0, jitter*current) then current *= mult, capped. */
struct backoff
{
  uint64_t min_ms, max_ms, cur_ms;
  double jitter, mult;
};
void backoff_init (struct backoff *b, uint64_t min_ms, uint64_t max_ms, double jitter, double mult);
uint64_t backoff_next (struct backoff *b);
void backoff_reset (struct backoff *b);

/* Growable string buffer. */
struct sbuf
{
  char *s;
  size_t len, cap;
};
void sbuf_append (struct sbuf *b, const char *s, size_t n);
void sbuf_puts (struct sbuf *b, const char *s);
void sbuf_printf (struct sbuf *b, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
char *sbuf_steal (struct sbuf *b); /* returns NUL-terminated string ("" if empty), resets b */
void sbuf_free (struct sbuf *b);

/* Write data to path atomically and durably: temp file in the same dir,
   fsync, rename, fsync dir.  mode e.g. 0600. */
/* Same, and *fsync_ns (if not NULL) = the time spent in fsync (file and directory). */
int util_write_file_atomic_timed (const char *path, const void *data, size_t len, int mode,
                                  uint64_t *fsync_ns, agent_error_t *err);
int util_write_file_atomic (const char *path, const void *data, size_t len, int mode,
                            agent_error_t *err);
/* Read a whole file (NUL-terminated).  ERR_NOT_FOUND if it does not exist. */
int util_read_file (const char *path, char **out, size_t *len, agent_error_t *err);

/* n bytes as lowercase hex into out (2n chars + NUL: out holds 2n + 1). */
void util_hex_encode (const void *in, size_t n, char *out);
/* Random bytes from the kernel as lowercase hex (n bytes -> 2n chars). */
void util_random_hex (char *out, size_t nbytes);
/* Uniform random double in [0,1). */
double util_random_unit (void);

#endif
