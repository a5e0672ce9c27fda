/* log/log.h - leveled logfmt logging to stdout and an hourly-rotated file.
 *
 * Lines look like:  level=info time=2026-11-29T06:50:02Z module=acs msg="connected" key=value
 * stdout gets lines at or above the configured level; the ECS_LOGFILE file
 * gets every line down to debug, rotated hourly as <file>.<YYYY-MM-DD-HH>
 * (the seed's names) or by size (log_set_rollover), keeping the newest 24
 * rotated files unless configured otherwise.  Secrets are
 * redacted here, at the one place every line passes: values registered
 * with log_secret_add() and the values of secret-looking keys
 * (Authorization, X-Amz-Security-Token, X-Registry-Auth, password, ...)
 * are replaced by "[REDACTED]" before a line is written anywhere.
 * The message is written escaped (log_escape): no control byte and no
 * invalid UTF-8 reaches a log raw, whatever a peer sent.
 * Single-threaded like the rest of the agent.
 */
#ifndef LOG_LOG_H
#define LOG_LOG_H

#include <stdbool.h>
#include <time.h>
#include "core/error.h"

enum log_level
{
  LOG_NONE = -1,
  LOG_CRIT = 0,
  LOG_ERROR,
  LOG_WARN,
  LOG_INFO,
  LOG_DEBUG,
};

/* "crit", "critical", "error", "warn", "info", "debug", "none"; case-insensitive.  < 0 if unknown. */
int log_level_parse (const char *s, enum log_level *out);
const char *log_level_name (enum log_level l);

/* Configure sinks.  file may be NULL.  Can be called again (tests). */
int log_init (enum log_level stdout_level, const char *file, agent_error_t *err);
void log_set_level (enum log_level stdout_level);
enum log_level log_get_level (void);
void log_close (void);
/* Open the log file again by name (the current hour's file, and the
   ECS_LOGFILE link to it): after a rotation tool moved or deleted it
   (SIGHUP).  0 without a file; < 0 (ERR_IO) if it cannot be opened (each
   later line tries again; stdout still gets its lines). */
int log_reopen (agent_error_t *err);

/* How the log file and the audit log file roll (ECS_LOG_ROLLOVER_TYPE,
   ECS_LOG_MAX_FILE_SIZE_MB, ECS_LOG_MAX_ROLL_COUNT; as upstream's seelog
   configuration): LOG_ROLL_HOURLY (the default) writes <file>.<YYYY-MM-DD-HH>
   with <file> a link to it; LOG_ROLL_SIZE writes <file> itself and, once it
   holds max_file_size_mb * 1000000 bytes or more, renames it <file>.<N>
   (1, 2, ...; the newest has the highest number) before the next line.
   Either way only the newest max_roll_count rolled files are kept (<= 0:
   24; max_file_size_mb <= 0: 5).  Call before log_init / log_audit_init. */
enum log_rollover
{
  LOG_ROLL_HOURLY,
  LOG_ROLL_SIZE,
};
void log_set_rollover (enum log_rollover type, double max_file_size_mb, int max_roll_count);

/* The credentials audit log (upstream's, see tmds/tmds.h for its lines):
   after log_audit_init each log_audit entry is written as one line, as it
   is, to stdout and, when file is given, to file (rolled like the agent
   log file, log_set_rollover).  Without init, log_audit does nothing. */
int log_audit_init (const char *file, agent_error_t *err);
void log_audit (const char *entry);
void log_audit_close (void);

/* Register a secret string that must never appear in a line (copied; short
   strings under 4 chars are ignored).  log_secret_remove undoes one
   registration: a secret added twice (a message and the credentials store
   holding the same key) stays redacted until removed twice. */
void log_secret_add (const char *secret);
void log_secret_remove (const char *secret);
/* Redact registered secrets and secret-looking key values in s (in place,
   may reallocate).  Exposed for tests and for the introspection API. */
char *log_redact (char *s);

/* s escaped as the inside of a quoted logfmt value (malloc'd): " and \ with
   a backslash, \n \r \t, other C0 controls and DEL as \xNN, C1 controls
   encoded as UTF-8 as \u00NN, bytes that are not valid UTF-8 as \xNN. */
char *log_escape (const char *s);

/* For tests: override the clock used for timestamps and rotation (0 = real). */
void log_set_clock (time_t (*now) (void));

void log_msg (enum log_level level, const char *module, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

#define log_crit(mod, ...) log_msg (LOG_CRIT, mod, __VA_ARGS__)
#define log_error(mod, ...) log_msg (LOG_ERROR, mod, __VA_ARGS__)
#define log_warn(mod, ...) log_msg (LOG_WARN, mod, __VA_ARGS__)
#define log_info(mod, ...) log_msg (LOG_INFO, mod, __VA_ARGS__)
#define log_debug(mod, ...) log_msg (LOG_DEBUG, mod, __VA_ARGS__)

#endif
