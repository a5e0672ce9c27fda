/* introspection/listener.h - the listening socket of the introspection API.
 *
 * Contract: listens on one TCP address, accepts on the caller's uv loop and
 * hands every accepted socket (non-blocking, close-on-exec, TCP_NODELAY) to
 * accept_cb, which owns it from then on.  At most a few connections are
 * accepted per loop turn.  When accept() fails for want of descriptors or
 * memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) the socket is no longer polled
 * and accepting is retried on a timer with back-off (50 ms -> 5 s): the loop
 * never spins on a connection it cannot take, and the condition is logged
 * once when it starts and once when it clears (every pending connection
 * taken).  The caller may also pause
 * accepting (a descriptor budget reached) and resume it.
 *
 * Why not the listener of libwebsockets: lws 4.1 logs a failed accept() and
 * returns with the socket still polled, so a flood with the descriptors
 * exhausted spun the loop at 100 % CPU (~78,000 log lines a second).
 */
#ifndef INTROSPECTION_LISTENER_H
#define INTROSPECTION_LISTENER_H

#include <stdbool.h>
#include <uv.h>
#include "core/error.h"

typedef struct introspection_listener introspection_listener_t;

/* fd: the accepted socket, owned by the callee. */
typedef void (*introspection_accept_cb) (int fd, void *arg);

/* Listen on addr (an IPv4 or IPv6 literal; "::" = dual stack) and port (0 =
   ephemeral).  Errors: ERR_CONFLICT (address in use or not available),
   ERR_IO (other socket errors). */
int introspection_listener_open (uv_loop_t *loop, const char *addr, int port,
                                 introspection_accept_cb cb, void *arg,
                                 introspection_listener_t **out, agent_error_t *err);
/* Stop accepting and close the socket; frees l once its handles are closed
   (on the loop), then calls closed_cb (optional).  NULL is a no-op. */
void introspection_listener_close (introspection_listener_t *l, void (*closed_cb) (void *arg),
                                   void *arg);
/* The bound port. */
int introspection_listener_port (const introspection_listener_t *l);
/* Stop / restart polling for new connections (the caller's own limit);
   independent of the back-off above. */
void introspection_listener_pause (introspection_listener_t *l);
void introspection_listener_resume (introspection_listener_t *l);
/* accept() failures for want of descriptors since open (tests). */
unsigned long introspection_listener_starved (const introspection_listener_t *l);

#endif
