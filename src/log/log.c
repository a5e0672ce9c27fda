#include "log/log.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

/* how both files roll (log_set_rollover) */
static struct
{
  enum log_rollover type;
  long long max_bytes;
  size_t keep;
} log_roll = { LOG_ROLL_HOURLY, 5000000, 24 };

static struct
{
  enum log_level level;
  char *file;       /* base path (ECS_LOGFILE) */
  int fd;           /* current hourly file, -1 if none */
  char hour[16];    /* YYYY-MM-DD-HH of the open file */
  char **secrets;
  unsigned *secret_refs; /* registrations of each (added n times, removed n times) */
  size_t n_secrets;
  time_t (*clock) (void);
} log_state = { .level = LOG_INFO, .fd = -1 };

static const char *const log_names[] = { "crit", "error", "warn", "info", "debug" };

/* Keys whose value is always secret, whatever it is. */
static const char *const log_secret_keys[] = {
  "authorization", "x-amz-security-token", "x-registry-auth", "password", "secretaccesskey",
  "secret_access_key", "sessiontoken", "session_token", "token", "auth", "aws_secret_access_key",
  "aws_session_token",
};

int
log_level_parse (const char *s, enum log_level *out)
{
  if (s == NULL)
    return -1;
  while (isspace ((unsigned char) *s))
    s++;
  size_t n = strlen (s);
  while (n > 0 && isspace ((unsigned char) s[n - 1]))
    n--;
  if (n == 4 && strncasecmp (s, "none", 4) == 0)
    {
      *out = LOG_NONE;
      return 0;
    }
  if (n == 8 && strncasecmp (s, "critical", 8) == 0)
    {
      *out = LOG_CRIT;
      return 0;
    }
  if (n == 7 && strncasecmp (s, "warning", 7) == 0)
    {
      *out = LOG_WARN;
      return 0;
    }
  for (size_t i = 0; i < ARRAY_SIZE (log_names); i++)
    if (strlen (log_names[i]) == n && strncasecmp (s, log_names[i], n) == 0)
      {
        *out = (enum log_level) i;
        return 0;
      }
  return -1;
}

const char *
log_level_name (enum log_level l)
{
  if (l < 0 || (size_t) l >= ARRAY_SIZE (log_names))
    return "none";
  return log_names[l];
}

static time_t
log_now (void)
{
  return log_state.clock ? log_state.clock () : time (NULL);
}

void
log_set_clock (time_t (*now) (void))
{
  log_state.clock = now;
}

void
log_set_level (enum log_level l)
{
  log_state.level = l;
}

enum log_level
log_get_level (void)
{
  return log_state.level;
}

void
log_set_rollover (enum log_rollover type, double max_file_size_mb, int max_roll_count)
{
  log_roll.type = type;
  log_roll.max_bytes = max_file_size_mb > 0 ? (long long) (max_file_size_mb * 1000000) : 5000000;
  if (log_roll.max_bytes < 1)
    log_roll.max_bytes = 1;
  log_roll.keep = max_roll_count > 0 ? (size_t) max_roll_count : 24;
}

/* Rolled names sort by length, then bytes: the hourly suffixes all have one
   length, the numbered ones have no leading zeros. */
static int
log_cmp_rolled (const void *a, const void *b)
{
  const char *x = *(char *const *) a, *y = *(char *const *) b;
  size_t lx = strlen (x), ly = strlen (y);
  return lx != ly ? (lx < ly ? -1 : 1) : strcmp (x, y);
}

static bool
log_is_rolled_suffix (const char *suffix)
{
  size_t n = strlen (suffix);
  if (log_roll.type == LOG_ROLL_HOURLY)
    return n == 13;
  if (n == 0 || n > 9 || suffix[0] == '0')
    return false;
  for (size_t i = 0; i < n; i++)
    if (!isdigit ((unsigned char) suffix[i]))
      return false;
  return true;
}

/* Remove the oldest rolled files of file (file.<YYYY-MM-DD-HH> hourly,
   file.<N> by size) so at most log_roll.keep remain; the highest number
   left by size, 0 if none. */
static long
log_prune (const char *file)
{
  cleanup_free char *dircopy = xstrdup (file);
  char *slash = strrchr (dircopy, '/');
  const char *dir = ".";
  const char *base = dircopy;
  if (slash)
    {
      *slash = '\0';
      dir = slash == dircopy ? "/" : dircopy;
      base = slash + 1;
    }
  size_t blen = strlen (base);
  char **names = NULL;
  size_t n = 0;
  DIR *d = NULL;
  d = opendir (dir);
  if (d == NULL)
    return 0;
  struct dirent *de;
  while ((de = readdir (d)))
    if (strncmp (de->d_name, base, blen) == 0 && de->d_name[blen] == '.'
        && log_is_rolled_suffix (de->d_name + blen + 1))
      {
        names = xrealloc (names, (n + 1) * sizeof *names);
        names[n++] = xstrdup (de->d_name + blen + 1);
      }
  closedir (d);
  if (n > 0)
    qsort (names, n, sizeof *names, log_cmp_rolled);
  long highest = 0;
  for (size_t i = 0; i < n; i++)
    {
      if (n - i > log_roll.keep)
        {
          cleanup_free char *path = xasprintf ("%s/%s.%s", dir, base, names[i]);
          unlink (path);
        }
      else if (i + 1 == n && log_roll.type == LOG_ROLL_SIZE)
        highest = strtol (names[i], NULL, 10);
      free (names[i]);
    }
  free (names);
  return highest;
}

/* An hourly-rotated file: file.<YYYY-MM-DD-HH>, file itself a link to the
   current one. */
static void
log_rotate_hourly (const char *file, int *fd, char hour_open[16], time_t now)
{
  struct tm tm;
  gmtime_r (&now, &tm);
  char hour[16];
  strftime (hour, sizeof hour, "%Y-%m-%d-%H", &tm);
  if (*fd >= 0 && strcmp (hour, hour_open) == 0)
    return;
  if (*fd >= 0)
    close (*fd);
  cleanup_free char *path = xasprintf ("%s.%s", file, hour);
  *fd = open (path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  memcpy (hour_open, hour, sizeof hour);
  /* the seed's ECS_LOGFILE path itself points at the current hour's file */
  cleanup_free char *tmp = xasprintf ("%s.lnk", file);
  const char *target = strrchr (path, '/') ? strrchr (path, '/') + 1 : path;
  unlink (tmp);
  if (symlink (target, tmp) == 0)
    {
      struct stat st;
      if (lstat (file, &st) == 0 && !S_ISLNK (st.st_mode))
        unlink (tmp); /* a real file is there: leave it alone */
      else if (rename (tmp, file) < 0)
        unlink (tmp);
    }
  log_prune (file);
}

/* A size-rotated file (upstream's seelog "size" rolling file): lines go to
   file itself; once it holds max_bytes or more, it is renamed file.<N+1>
   (N the highest number there, so the newest roll has the highest number)
   and a new file is started; the newest log_roll.keep rolls are kept. */
static void
log_rotate_size (const char *file, int *fd)
{
  struct stat st;
  if (*fd >= 0)
    {
      if (fstat (*fd, &st) < 0 || st.st_size < log_roll.max_bytes)
        return;
      close (*fd);
      *fd = -1;
      cleanup_free char *rolled = xasprintf ("%s.%ld", file, log_prune (file) + 1);
      if (rename (file, rolled) == 0)
        log_prune (file);
    }
  /* the hourly mode's link to an hour's file is not where lines go now */
  if (lstat (file, &st) == 0 && S_ISLNK (st.st_mode))
    unlink (file);
  *fd = open (file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

/* Shared by the agent log and the audit log: the file to write the next
   line to, rolled first if its time (hourly) or its size has come. */
static void
log_rotate_file (const char *file, int *fd, char hour_open[16], time_t now)
{
  if (file == NULL)
    return;
  if (log_roll.type == LOG_ROLL_SIZE)
    log_rotate_size (file, fd);
  else
    log_rotate_hourly (file, fd, hour_open, now);
}

static void
log_rotate_if_needed (time_t now)
{
  log_rotate_file (log_state.file, &log_state.fd, log_state.hour, now);
}

/* ---- the credentials audit log ---- */

static struct
{
  bool on;
  char *file; /* NULL: stdout only */
  int fd;
  char hour[16];
} audit_state = { .fd = -1 };

int
log_audit_init (const char *file, agent_error_t *err)
{
  log_audit_close ();
  audit_state.on = true;
  if (file && *file)
    {
      audit_state.file = xstrdup (file);
      log_rotate_file (audit_state.file, &audit_state.fd, audit_state.hour, log_now ());
      if (audit_state.fd < 0)
        {
          int e = errno;
          return error_set_status (err, ERR_IO, e, "cannot open audit log file %s: %s", file,
                                   strerror (e));
        }
    }
  return 0;
}

void
log_audit_close (void)
{
  if (audit_state.fd >= 0)
    close (audit_state.fd);
  audit_state.fd = -1;
  audit_state.hour[0] = '\0';
  free (audit_state.file);
  audit_state.file = NULL;
  audit_state.on = false;
}

void
log_audit (const char *entry)
{
  if (!audit_state.on)
    return;
  char *line = log_redact (xasprintf ("%s\n", entry));
  size_t n = strlen (line);
  if (write (STDOUT_FILENO, line, n) < 0)
    {
      /* stdout gone: the file still gets the line */
    }
  /* a file that could not be opened is tried again at each entry */
  log_rotate_file (audit_state.file, &audit_state.fd, audit_state.hour, log_now ());
  if (audit_state.fd >= 0 && write (audit_state.fd, line, n) < 0)
    {
      /* nowhere to report it: the agent log is not the place for audit lines */
    }
  free (line);
}

int
log_init (enum log_level stdout_level, const char *file, agent_error_t *err)
{
  log_close ();
  log_state.level = stdout_level;
  if (file && *file)
    {
      log_state.file = xstrdup (file);
      log_rotate_if_needed (log_now ());
      if (log_state.fd < 0)
        {
          int e = errno;
          free (log_state.file);
          log_state.file = NULL;
          return error_set_status (err, ERR_IO, e, "cannot open log file %s: %s", file,
                                   strerror (e));
        }
    }
  return 0;
}

int
log_reopen (agent_error_t *err)
{
  if (log_state.file == NULL)
    return 0;
  if (log_state.fd >= 0)
    close (log_state.fd);
  log_state.fd = -1;
  log_state.hour[0] = '\0';
  log_rotate_if_needed (log_now ());
  if (log_state.fd < 0)
    {
      int e = errno;
      return error_set_status (err, ERR_IO, e, "cannot reopen log file %s: %s", log_state.file,
                               strerror (e));
    }
  return 0;
}

void
log_close (void)
{
  if (log_state.fd >= 0)
    close (log_state.fd);
  log_state.fd = -1;
  log_state.hour[0] = '\0';
  free (log_state.file);
  log_state.file = NULL;
  for (size_t i = 0; i < log_state.n_secrets; i++)
    free (log_state.secrets[i]);
  free (log_state.secrets);
  free (log_state.secret_refs);
  log_state.secret_refs = NULL;
  log_state.secrets = NULL;
  log_state.n_secrets = 0;
}

void
log_secret_add (const char *secret)
{
  if (secret == NULL || strlen (secret) < 4)
    return;
  for (size_t i = 0; i < log_state.n_secrets; i++)
    if (strcmp (log_state.secrets[i], secret) == 0)
      {
        log_state.secret_refs[i]++;
        return;
      }
  log_state.secrets = xrealloc (log_state.secrets, (log_state.n_secrets + 1) * sizeof (char *));
  log_state.secret_refs
      = xrealloc (log_state.secret_refs, (log_state.n_secrets + 1) * sizeof (unsigned));
  log_state.secret_refs[log_state.n_secrets] = 1;
  log_state.secrets[log_state.n_secrets++] = xstrdup (secret);
}

void
log_secret_remove (const char *secret)
{
  for (size_t i = 0; secret && i < log_state.n_secrets; i++)
    if (strcmp (log_state.secrets[i], secret) == 0)
      {
        if (--log_state.secret_refs[i] > 0)
          return;
        free (log_state.secrets[i]);
        log_state.n_secrets--;
        log_state.secrets[i] = log_state.secrets[log_state.n_secrets];
        log_state.secret_refs[i] = log_state.secret_refs[log_state.n_secrets];
        return;
      }
}

static const char REDACTED[] = "[REDACTED]";

/* Replace every occurrence of needle in s. */
static char *
log_replace_all (char *s, const char *needle)
{
  size_t nl = strlen (needle);
  size_t from = 0;
  char *p;
  /* search on after each replacement: the needle may occur in "[REDACTED]" */
  while ((p = strstr (s + from, needle)))
    {
      size_t off = (size_t) (p - s);
      char *r = xasprintf ("%.*s%s%s", (int) off, s, REDACTED, p + nl);
      free (s);
      s = r;
      from = off + sizeof REDACTED - 1;
    }
  return s;
}

static bool
log_is_secret_key (const char *k, size_t n)
{
  for (size_t i = 0; i < ARRAY_SIZE (log_secret_keys); i++)
    if (strlen (log_secret_keys[i]) == n && strncasecmp (k, log_secret_keys[i], n) == 0)
      return true;
  return false;
}

/* Redact values after secret-looking keys: key=value, key: value, "key":"value". */
static char *
log_redact_keys (char *s)
{
  struct sbuf out = { 0 };
  const char *p = s;
  while (*p)
    {
      if (isalpha ((unsigned char) *p) && (p == s || !isalnum ((unsigned char) p[-1])))
        {
          const char *k = p;
          while (isalnum ((unsigned char) *p) || *p == '_' || *p == '-')
            p++;
          size_t kn = (size_t) (p - k);
          sbuf_append (&out, k, kn);
          const char *q = p;
          if (*q == '"')
            q++;
          if ((*q == '=' || *q == ':') && log_is_secret_key (k, kn))
            {
              sbuf_append (&out, p, (size_t) (q - p) + 1);
              q++;
              while (*q == ' ')
                sbuf_append (&out, q++, 1);
              char quote = 0;
              if (*q == '"' || *q == '\'')
                {
                  quote = *q;
                  sbuf_append (&out, q++, 1);
                }
              const char *v = q;
              if (quote)
                {
                  while (*q && *q != quote)
                    q += (*q == '\\' && q[1]) ? 2 : 1;
                }
              else if (kn == 13 && strncasecmp (k, "authorization", 13) == 0)
                while (*q && *q != '\n' && *q != '"') /* the whole header value */
                  q++;
              else
                while (*q && !isspace ((unsigned char) *q) && *q != ',' && *q != '}')
                  q++;
              if (q > v)
                sbuf_puts (&out, REDACTED);
              p = q;
            }
          continue;
        }
      sbuf_append (&out, p++, 1);
    }
  free (s);
  return sbuf_steal (&out);
}

char *
log_redact (char *s)
{
  for (size_t i = 0; i < log_state.n_secrets; i++)
    s = log_replace_all (s, log_state.secrets[i]);
  return log_redact_keys (s);
}

static void
log_write_all (int fd, const char *s, size_t n)
{
  while (n > 0)
    {
      ssize_t w = write (fd, s, n);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        return;
      s += w;
      n -= (size_t) w;
    }
}

/* Length of the valid UTF-8 sequence at p (2 to 4 bytes, lead byte >= 0x80),
   0 if the bytes there are not one: overlong forms, surrogates and code
   points above U+10FFFF count as invalid. */
static size_t
log_utf8_len (const unsigned char *p)
{
  unsigned char c = p[0];
  unsigned char lo = 0x80, hi = 0xbf;
  size_t n;
  if (c >= 0xc2 && c <= 0xdf)
    n = 2;
  else if (c >= 0xe0 && c <= 0xef)
    {
      n = 3;
      if (c == 0xe0)
        lo = 0xa0;
      else if (c == 0xed)
        hi = 0x9f;
    }
  else if (c >= 0xf0 && c <= 0xf4)
    {
      n = 4;
      if (c == 0xf0)
        lo = 0x90;
      else if (c == 0xf4)
        hi = 0x8f;
    }
  else
    return 0;
  if (p[1] < lo || p[1] > hi)
    return 0;
  for (size_t i = 2; i < n; i++)
    if (p[i] < 0x80 || p[i] > 0xbf)
      return 0;
  return n;
}

/* Append s to out as the inside of a logfmt quoted value: quote and
   backslash escaped, \n \r \t as such, every other control byte (C0 and
   DEL) as \xNN, a C1 control written as UTF-8 (U+0080..U+009F) as \u00NN,
   and a byte that does not start a valid UTF-8 sequence as \xNN.  Whoever
   tails the log sees no raw control byte from any source (terminal escape
   injection) and every line stays one line. */
static void
log_escape_into (struct sbuf *out, const char *s)
{
  const unsigned char *p = (const unsigned char *) s;
  while (*p)
    {
      unsigned char c = *p;
      size_t run = 0;
      if (c == '"' || c == '\\')
        {
          char e[2] = { '\\', (char) c };
          sbuf_append (out, e, 2);
        }
      else if (c == '\n')
        sbuf_puts (out, "\\n");
      else if (c == '\r')
        sbuf_puts (out, "\\r");
      else if (c == '\t')
        sbuf_puts (out, "\\t");
      else if (c < 0x20 || c == 0x7f)
        sbuf_printf (out, "\\x%02x", c);
      else if (c < 0x80)
        {
          /* a run of plain printable ASCII at once */
          while (p[run] >= 0x20 && p[run] < 0x7f && p[run] != '"' && p[run] != '\\')
            run++;
          sbuf_append (out, (const char *) p, run);
          p += run;
          continue;
        }
      else if ((run = log_utf8_len (p)) == 0)
        sbuf_printf (out, "\\x%02x", c);
      else if (c == 0xc2 && p[1] < 0xa0)
        {
          sbuf_printf (out, "\\u%04x", p[1]);
          p += 2;
          continue;
        }
      else
        {
          sbuf_append (out, (const char *) p, run);
          p += run;
          continue;
        }
      p++;
    }
}

char *
log_escape (const char *s)
{
  struct sbuf out = { 0 };
  if (s)
    log_escape_into (&out, s);
  return sbuf_steal (&out);
}

void
log_msg (enum log_level level, const char *module, const char *fmt, ...)
{
  bool to_stdout = log_state.level != LOG_NONE && level <= log_state.level;
  bool to_file = log_state.file != NULL;
  if (!to_stdout && !to_file)
    return;
  char *msg = NULL;
  va_list ap;
  va_start (ap, fmt);
  if (vasprintf (&msg, fmt, ap) < 0)
    xalloc_die ();
  va_end (ap);
  msg = log_redact (msg);
  struct sbuf line = { 0 };
  time_t now = log_now ();
  struct tm tm;
  gmtime_r (&now, &tm);
  char ts[32];
  strftime (ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
  sbuf_printf (&line, "level=%s time=%s module=%s msg=\"", log_level_name (level), ts,
               module ? module : "agent");
  log_escape_into (&line, msg);
  sbuf_puts (&line, "\"\n");
  free (msg);
  if (to_stdout)
    log_write_all (1, line.s, line.len);
  if (to_file)
    {
      log_rotate_if_needed (now);
      if (log_state.fd >= 0)
        log_write_all (log_state.fd, line.s, line.len);
    }
  sbuf_free (&line);
}
