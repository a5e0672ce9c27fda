/* core/error.h - the one error convention of the agent.
 *
 * A fallible function returns int: >= 0 on success, < 0 on failure, and on
 * failure it fills *err (an agent_error_t, initially NULL) with a code and a
 * message.  Callers add context on the way up with error_wrap().  Library
 * code never prints or exits; main() decides what an error means.
 * The code is one of enum error_kind, so callers can act on the kind
 * (retry a timeout, NACK a bad message, report a Docker error as a reason).
 */
#ifndef CORE_ERROR_H
#define CORE_ERROR_H

#include <stdarg.h>

enum error_kind
{
  ERR_GENERIC = 1,
  ERR_INVALID,     /* bad input: config value, malformed message, invalid task */
  ERR_IO,          /* file system */
  ERR_NOT_FOUND,   /* image / container / key not found */
  ERR_AUTH,        /* auth denied (registry, AWS signature) */
  ERR_CONFLICT,    /* name conflict, already exists */
  ERR_UNREACHABLE, /* daemon / endpoint unreachable */
  ERR_TIMEOUT,
  ERR_MALFORMED,   /* response not parseable */
  ERR_SERVER,      /* 5xx, throttling: retriable */
  ERR_CLIENT,      /* 4xx non-retriable */
  ERR_TERMINAL,    /* must end the process with the terminal exit code */
  ERR_CANCELLED,
};

struct agent_error_s
{
  int kind;   /* enum error_kind */
  int status; /* HTTP status or errno where meaningful, else 0 */
  char *msg;
};
typedef struct agent_error_s *agent_error_t;

/* Set *err (freeing any previous error) and return -kind (always < 0). */
int error_set (agent_error_t *err, int kind, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
/* Same, with an HTTP status or errno attached. */
int error_set_status (agent_error_t *err, int kind, int status, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));
/* Prefix the message of *err with context ("ctx: old message"); returns -kind. */
int error_wrap (agent_error_t *err, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
/* Kind of *err, 0 if none. */
int error_kind (const agent_error_t *err);
const char *error_msg (const agent_error_t *err);
void error_free (agent_error_t *err);
/* Move src into *dst (dst is freed first); src becomes NULL. */
void error_move (agent_error_t *dst, agent_error_t *src);

#define cleanup_error __attribute__ ((cleanup (error_free)))

#endif
