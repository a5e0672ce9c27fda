/* core/sdnotify.h - systemd's service notification (sd_notify(3)) without
 * libsystemd: the documented NOTIFY_SOCKET protocol, one datagram of
 * newline-separated VARIABLE=value lines to an AF_UNIX datagram socket.
 *
 * Contract:
 *  - sdnotify_watchdog_usec: pure; the watchdog interval systemd asked of
 *    this process (WATCHDOG_USEC, decimal microseconds > 0), 0 when it asked
 *    none, when the value is malformed, or when WATCHDOG_PID is set and is
 *    not self (the request is for another process).
 *  - sdnotify_address: pure; NOTIFY_SOCKET into a socket address: an
 *    absolute path, or "@name" for the abstract namespace (the "@" becomes a
 *    NUL byte).  Anything else, or a name too long for sun_path, is
 *    ERR_INVALID.
 *  - sdnotify_open/send/close: a non-blocking, close-on-exec datagram socket;
 *    send never blocks (a full receiver queue is an error the caller may
 *    drop: systemd reads its socket continuously).  Library code: nothing
 *    is logged here.
 */
#ifndef CORE_SDNOTIFY_H
#define CORE_SDNOTIFY_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include "core/error.h"

struct sdnotify
{
  int fd;
  struct sockaddr_un addr;
  socklen_t addr_len;
};

uint64_t sdnotify_watchdog_usec (const char *watchdog_usec, const char *watchdog_pid, pid_t self);
int sdnotify_address (const char *notify_socket, struct sockaddr_un *addr, socklen_t *len,
                      agent_error_t *err);
/* NOTIFY_SOCKET's value -> an open notifier in *n. */
int sdnotify_open (struct sdnotify *n, const char *notify_socket, agent_error_t *err);
/* One datagram, e.g. "READY=1\nSTATUS=ok". */
int sdnotify_send (struct sdnotify *n, const char *msg, agent_error_t *err);
void sdnotify_close (struct sdnotify *n);

#endif
