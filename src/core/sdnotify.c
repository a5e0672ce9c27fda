/* core/sdnotify.c - systemd service notifications over NOTIFY_SOCKET
 * (sdnotify.h). */
#include "core/sdnotify.h"
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A decimal number made only of digits (no sign, no blanks), no overflow. */
static int
parse_u64 (const char *s, uint64_t *out)
{
  if (s == NULL || *s == '\0')
    return -1;
  uint64_t v = 0;
  for (; *s; s++)
    {
      if (*s < '0' || *s > '9')
        return -1;
      uint64_t d = (uint64_t) (*s - '0');
      if (v > (UINT64_MAX - d) / 10)
        return -1;
      v = v * 10 + d;
    }
  *out = v;
  return 0;
}

uint64_t
sdnotify_watchdog_usec (const char *watchdog_usec, const char *watchdog_pid, pid_t self)
{
  uint64_t usec = 0, pid = 0;
  if (parse_u64 (watchdog_usec, &usec) < 0 || usec == 0)
    return 0;
  if (watchdog_pid && *watchdog_pid
      && (parse_u64 (watchdog_pid, &pid) < 0 || pid != (uint64_t) self))
    return 0;
  return usec;
}

int
sdnotify_address (const char *notify_socket, struct sockaddr_un *addr, socklen_t *len,
                  agent_error_t *err)
{
  memset (addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  size_t n = notify_socket ? strlen (notify_socket) : 0;
  if (n < 2 || (notify_socket[0] != '/' && notify_socket[0] != '@'))
    return error_set (err, ERR_INVALID, "NOTIFY_SOCKET: not a path or an abstract name");
  if (n >= sizeof addr->sun_path)
    return error_set (err, ERR_INVALID, "NOTIFY_SOCKET: longer than %zu bytes",
                      sizeof addr->sun_path - 1);
  memcpy (addr->sun_path, notify_socket, n);
  if (notify_socket[0] == '@')
    {
      addr->sun_path[0] = '\0';
      *len = (socklen_t) (offsetof (struct sockaddr_un, sun_path) + n);
    }
  else
    *len = (socklen_t) (offsetof (struct sockaddr_un, sun_path) + n + 1);
  return 0;
}

int
sdnotify_open (struct sdnotify *n, const char *notify_socket, agent_error_t *err)
{
  n->fd = -1;
  if (sdnotify_address (notify_socket, &n->addr, &n->addr_len, err) < 0)
    return -1;
  n->fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (n->fd < 0)
    return error_set (err, ERR_IO, "notify socket: %s", strerror (errno));
  return 0;
}

int
sdnotify_send (struct sdnotify *n, const char *msg, agent_error_t *err)
{
  if (n->fd < 0)
    return error_set (err, ERR_INVALID, "notify socket not open");
  size_t len = strlen (msg);
  ssize_t r;
  do
    r = sendto (n->fd, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT, (const struct sockaddr *) &n->addr,
                n->addr_len);
  while (r < 0 && errno == EINTR);
  if (r < 0)
    return error_set (err, ERR_UNREACHABLE, "notify socket: %s", strerror (errno));
  if ((size_t) r != len)
    return error_set (err, ERR_IO, "notify socket: short send");
  return 0;
}

void
sdnotify_close (struct sdnotify *n)
{
  if (n->fd >= 0)
    close (n->fd);
  n->fd = -1;
}
