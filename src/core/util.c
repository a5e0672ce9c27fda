#include "core/util.h"
#include "core/xmalloc.h"
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

uint64_t
util_now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

uint64_t
util_now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

void
util_time_iso (char *buf, size_t len)
{
  time_t t = time (NULL);
  struct tm tm;
  gmtime_r (&t, &tm);
  strftime (buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void
backoff_init (struct backoff *b, uint64_t min_ms, uint64_t max_ms, double jitter, double mult)
{
  b->min_ms = b->cur_ms = min_ms;
  b->max_ms = max_ms;
  b->jitter = jitter;
  b->mult = mult;
}

uint64_t
backoff_next (struct backoff *b)
{
  uint64_t cur = b->cur_ms;
  uint64_t r = cur + (uint64_t) (util_random_unit () * b->jitter * (double) cur);
  double nx = (double) cur * b->mult;
  b->cur_ms = nx > (double) b->max_ms ? b->max_ms : (uint64_t) nx;
  return r;
}

void
backoff_reset (struct backoff *b)
{
  b->cur_ms = b->min_ms;
}

void
sbuf_append (struct sbuf *b, const char *s, size_t n)
{
  if (b->len + n + 1 > b->cap)
    {
      b->cap = (b->len + n + 1) * 2;
      if (b->cap < 64)
        b->cap = 64;
      b->s = xrealloc (b->s, b->cap);
    }
  memcpy (b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = '\0';
}

void
sbuf_puts (struct sbuf *b, const char *s)
{
  sbuf_append (b, s, strlen (s));
}

void
sbuf_printf (struct sbuf *b, const char *fmt, ...)
{
  char *tmp = NULL;
  va_list ap;
  va_start (ap, fmt);
  int n = vasprintf (&tmp, fmt, ap);
  va_end (ap);
  if (n < 0)
    xalloc_die ();
  sbuf_append (b, tmp, (size_t) n);
  free (tmp);
}

char *
sbuf_steal (struct sbuf *b)
{
  char *s = b->s ? b->s : xstrdup ("");
  b->s = NULL;
  b->len = b->cap = 0;
  return s;
}

void
sbuf_free (struct sbuf *b)
{
  free (b->s);
  b->s = NULL;
  b->len = b->cap = 0;
}

int
util_write_file_atomic (const char *path, const void *data, size_t len, int mode,
                        agent_error_t *err)
{
  return util_write_file_atomic_timed (path, data, len, mode, NULL, err);
}

int
util_write_file_atomic_timed (const char *path, const void *data, size_t len, int mode,
                              uint64_t *fsync_ns, agent_error_t *err)
{
  uint64_t synced = 0, t;
  cleanup_free char *dircopy = xstrdup (path);
  const char *dir = dirname (dircopy);
  char rnd[17];
  util_random_hex (rnd, 8);
  cleanup_free char *tmp = xasprintf ("%s/.tmp.%s", dir, rnd);
  int fd = open (tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0)
    return error_set_status (err, ERR_IO, errno, "create %s: %s", tmp, strerror (errno));
  const char *p = data;
  size_t left = len;
  while (left > 0)
    {
      ssize_t w = write (fd, p, left);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        {
          int e = errno;
          close (fd);
          unlink (tmp);
          return error_set_status (err, ERR_IO, e, "write %s: %s", tmp, strerror (e));
        }
      p += w;
      left -= (size_t) w;
    }
  if (fchmod (fd, mode) < 0 || (t = util_now_ns (), fsync (fd) < 0))
    {
      int e = errno;
      close (fd);
      unlink (tmp);
      return error_set_status (err, ERR_IO, e, "fsync %s: %s", tmp, strerror (e));
    }
  synced += util_now_ns () - t;
  close (fd);
  if (rename (tmp, path) < 0)
    {
      int e = errno;
      unlink (tmp);
      return error_set_status (err, ERR_IO, e, "rename %s to %s: %s", tmp, path, strerror (e));
    }
  int dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0)
    {
      t = util_now_ns ();
      fsync (dfd);
      synced += util_now_ns () - t;
      close (dfd);
    }
  if (fsync_ns)
    *fsync_ns = synced;
  return 0;
}

int
util_read_file (const char *path, char **out, size_t *len, agent_error_t *err)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      int e = errno;
      return error_set_status (err, e == ENOENT ? ERR_NOT_FOUND : ERR_IO, e, "open %s: %s", path,
                               strerror (e));
    }
  struct sbuf b = { 0 };
  char tmp[8192];
  for (;;)
    {
      ssize_t r = read (fd, tmp, sizeof tmp);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        {
          int e = errno;
          close (fd);
          sbuf_free (&b);
          return error_set_status (err, ERR_IO, e, "read %s: %s", path, strerror (e));
        }
      if (r == 0)
        break;
      sbuf_append (&b, tmp, (size_t) r);
    }
  close (fd);
  if (len)
    *len = b.len;
  *out = sbuf_steal (&b);
  return 0;
}

void
util_hex_encode (const void *in, size_t n, char *out)
{
  static const char hex[] = "0123456789abcdef";
  const unsigned char *p = in;
  for (size_t i = 0; i < n; i++)
    {
      out[2 * i] = hex[p[i] >> 4];
      out[2 * i + 1] = hex[p[i] & 15];
    }
  out[2 * n] = '\0';
}

void
util_random_hex (char *out, size_t nbytes)
{
  unsigned char buf[64];
  if (nbytes > sizeof buf)
    nbytes = sizeof buf;
  size_t got = 0;
  while (got < nbytes)
    {
      ssize_t r = getrandom (buf + got, nbytes - got, 0);
      if (r > 0)
        got += (size_t) r;
    }
  util_hex_encode (buf, nbytes, out);
}

double
util_random_unit (void)
{
  uint64_t v;
  while (getrandom (&v, sizeof v, 0) != sizeof v)
    ;
  return (double) (v >> 11) / 9007199254740992.0;
}
