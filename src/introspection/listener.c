/* introspection/listener.c - listening socket with accept back-off; see
 * listener.h for the contract. */
#include "introspection/listener.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define MOD "introspection"
/* Connections accepted per loop turn: a flood cannot hold the loop. */
#define ACCEPT_BATCH 16
/* Back-off between accept attempts while out of descriptors. */
#define STARVED_MIN_MS 50
#define STARVED_MAX_MS 5000

struct introspection_listener
{
  uv_loop_t *loop;
  int fd;
  int port;
  uv_poll_t poll;
  uv_timer_t timer;
  int open_handles;
  introspection_accept_cb cb;
  void *arg;
  bool polling;
  bool paused;  /* by the caller */
  bool starved; /* accept failed for want of descriptors, not yet recovered */
  bool waiting; /* starved: the back-off timer runs, the socket is not polled */
  bool closing;
  void (*closed_cb) (void *arg);
  void *closed_arg;
  struct backoff backoff;
  unsigned long n_starved; /* failed accepts while starved (all of them) */
  unsigned long n_starved_episode;
};

static void listener_poll_cb (uv_poll_t *h, int status, int events);

/* Poll the socket exactly when accepting is wanted. */
static void
listener_update (introspection_listener_t *l)
{
  bool want = !l->closing && !l->paused && !l->waiting;
  if (want == l->polling)
    return;
  if (want)
    uv_poll_start (&l->poll, UV_READABLE, listener_poll_cb);
  else
    uv_poll_stop (&l->poll);
  l->polling = want;
}

static void
listener_timer_cb (uv_timer_t *t)
{
  introspection_listener_t *l = t->data;
  l->waiting = false;
  listener_update (l);
}

static bool
errno_is_starvation (int e)
{
  return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}

static void
listener_starved (introspection_listener_t *l, int e)
{
  l->n_starved++;
  l->n_starved_episode++;
  if (!l->starved)
    {
      struct rlimit rl = { 0 };
      getrlimit (RLIMIT_NOFILE, &rl);
      log_warn (MOD,
                "cannot accept introspection connections: %s (open file limit %llu); "
                "retrying with back-off, other work goes on",
                strerror (e), (unsigned long long) rl.rlim_cur);
      l->starved = true;
      l->n_starved_episode = 1;
      backoff_reset (&l->backoff);
    }
  l->waiting = true;
  listener_update (l);
  uv_timer_start (&l->timer, listener_timer_cb, backoff_next (&l->backoff), 0);
}

/* Every pending connection was taken: if descriptors had run out, that is
   over.  (Not at the first accept that works again: under a flood a freed
   descriptor is taken at once, and the condition would flap with each.) */
static void
listener_drained (introspection_listener_t *l)
{
  if (!l->starved)
    return;
  log_info (MOD, "accepting introspection connections again (%lu accepts had failed)",
            l->n_starved_episode);
  l->starved = false;
}

static void
listener_poll_cb (uv_poll_t *h, int status, int events)
{
  introspection_listener_t *l = h->data;
  (void) events;
  if (status < 0)
    {
      log_warn (MOD, "introspection listening socket: %s", uv_strerror (status));
      return;
    }
  for (int i = 0; i < ACCEPT_BATCH && l->polling; i++)
    {
      int fd = accept4 (l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0)
        {
          int e = errno;
          if (e == EINTR || e == ECONNABORTED || e == EPROTO)
            continue;
          if (errno_is_starvation (e))
            listener_starved (l, e);
          else if (e == EAGAIN || e == EWOULDBLOCK)
            listener_drained (l);
          else
            log_debug (MOD, "accept: %s", strerror (e));
          return;
        }
      int one = 1;
      setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      l->cb (fd, l->arg); /* may pause us */
    }
}

int
introspection_listener_open (uv_loop_t *loop, const char *addr, int port,
                             introspection_accept_cb cb, void *arg,
                             introspection_listener_t **out, agent_error_t *err)
{
  *out = NULL;
  struct sockaddr_storage ss;
  memset (&ss, 0, sizeof ss);
  socklen_t slen;
  struct sockaddr_in *s4 = (struct sockaddr_in *) &ss;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *) &ss;
  if (inet_pton (AF_INET, addr, &s4->sin_addr) == 1)
    {
      s4->sin_family = AF_INET;
      s4->sin_port = htons ((uint16_t) port);
      slen = sizeof *s4;
    }
  else if (inet_pton (AF_INET6, addr, &s6->sin6_addr) == 1)
    {
      s6->sin6_family = AF_INET6;
      s6->sin6_port = htons ((uint16_t) port);
      slen = sizeof *s6;
    }
  else
    return error_set (err, ERR_INVALID, "%s is not an IPv4 or IPv6 address", addr);

  int fd = socket (ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return error_set_status (err, ERR_IO, errno, "socket: %s", strerror (errno));
  int one = 1, zero = 0;
  setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (ss.ss_family == AF_INET6)
    {
      /* "::" serves IPv4 too (dual stack); another address only itself. */
      bool any = IN6_IS_ADDR_UNSPECIFIED (&s6->sin6_addr);
      setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, any ? &zero : &one, sizeof one);
    }
  if (bind (fd, (struct sockaddr *) &ss, slen) < 0 || listen (fd, SOMAXCONN) < 0)
    {
      int e = errno;
      close (fd);
      return error_set_status (err,
                               e == EADDRINUSE || e == EADDRNOTAVAIL || e == EACCES
                                   ? ERR_CONFLICT
                                   : ERR_IO,
                               e, "cannot listen on %s:%d: %s", addr, port, strerror (e));
    }
  struct sockaddr_storage bound;
  socklen_t blen = sizeof bound;
  getsockname (fd, (struct sockaddr *) &bound, &blen);

  introspection_listener_t *l = xcalloc (1, sizeof *l);
  l->loop = loop;
  l->fd = fd;
  l->port = ntohs (bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *) &bound)->sin6_port
                                               : ((struct sockaddr_in *) &bound)->sin_port);
  l->cb = cb;
  l->arg = arg;
  backoff_init (&l->backoff, STARVED_MIN_MS, STARVED_MAX_MS, 0.2, 2.0);
  uv_poll_init_socket (loop, &l->poll, fd);
  uv_timer_init (loop, &l->timer);
  l->poll.data = l->timer.data = l;
  l->open_handles = 2;
  listener_update (l);
  *out = l;
  return 0;
}

static void
listener_closed_cb (uv_handle_t *h)
{
  introspection_listener_t *l = h->data;
  if (--l->open_handles > 0)
    return;
  void (*cb) (void *) = l->closed_cb;
  void *arg = l->closed_arg;
  close (l->fd);
  free (l);
  if (cb)
    cb (arg);
}

void
introspection_listener_close (introspection_listener_t *l, void (*closed_cb) (void *arg), void *arg)
{
  if (!l || l->closing)
    return;
  l->closing = true;
  l->closed_cb = closed_cb;
  l->closed_arg = arg;
  listener_update (l);
  uv_timer_stop (&l->timer);
  uv_close ((uv_handle_t *) &l->poll, listener_closed_cb);
  uv_close ((uv_handle_t *) &l->timer, listener_closed_cb);
}

int
introspection_listener_port (const introspection_listener_t *l)
{
  return l ? l->port : 0;
}

void
introspection_listener_pause (introspection_listener_t *l)
{
  if (!l || l->paused)
    return;
  l->paused = true;
  listener_update (l);
}

void
introspection_listener_resume (introspection_listener_t *l)
{
  if (!l || !l->paused)
    return;
  l->paused = false;
  listener_update (l);
}

unsigned long
introspection_listener_starved (const introspection_listener_t *l)
{
  return l ? l->n_starved : 0;
}
