/* introspection/server.c - the HTTP server of the introspection API:
 * libwebsockets' HTTP/1.1 server role on the caller's uv loop, connection
 * limits and timeouts, listening with retry, asynchronous shutdown.  What a
 * request answers is decided by routes.c.  See introspection.h. */
#include "introspection/introspection.h"
#include "introspection/listener.h"
#include "introspection/request.h"
#include "core/lws_util.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include <arpa/inet.h>
#include <libwebsockets.h>
#include <string.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <unistd.h>

#define MOD "introspection"
#define DEFAULT_MAX_CONNS 200
#define DEFAULT_TIMEOUT_S 5
#define DEFAULT_HEADER_BYTES 8192
#define WRITE_CHUNK 16384
/* Loop turns the shutdown waits for lws to release its handles. */
#define FIN_MAX_TURNS 200000
/* Descriptors left to the rest of the agent (Docker, ACS, ECS, checkpoint,
   log, and the agent's other HTTP server): the server holds at most the
   open file limit minus this many, or an eighth of the limit when the limit
   is below twice this (the agent's own descriptors, about 30 with its two
   servers and its websockets, must fit beside two flooded servers). */
#define FD_RESERVE 128

struct conn
{
  TAILQ_ENTRY (conn) link; /* oldest first */
  struct introspection_server *srv;
  struct lws *wsi;
  bool busy;    /* a response is being written */
  bool in_body; /* request head seen, dropping its body */
  bool evicted; /* closing because of the connection limit */
  bool head;    /* HEAD request: headers only */
  bool headers_sent;
  struct introspection_reply *deferred; /* answer promised by prov.handle */
  int status;
  const char *ctype;
  char *body;
  size_t body_len, body_off;
  char *extra; /* headers added by the provider: "Name:\0value\0" pairs */
  size_t extra_len;
};

TAILQ_HEAD (conn_list, conn);

/* A deferred answer (introspection.h). */
struct introspection_reply
{
  struct conn *c; /* NULL once the connection is gone */
  void (*cancel_cb) (void *arg);
  void *cancel_arg;
};

struct introspection_server
{
  uv_loop_t *loop;
  struct introspection_config cfg; /* strings below are owned copies */
  struct introspection_provider prov;
  char *addr;
  unsigned max_conns, timeout_s, header_bytes;
  struct lws_protocols protocols[2];
  struct lws_context *ctx;
  struct lws_vhost *vhost;
  introspection_listener_t *listener;
  bool listener_closing; /* closed, its handles not yet released */
  int port;
  struct conn_list conns;
  size_t n_conns; /* all conns still allocated */
  size_t n_live;  /* conns not evicted */
  size_t budget;  /* at most this many conns (descriptors) at once */
  unsigned max_conns_cfg;           /* max_conns as configured */
  LIST_ENTRY (introspection_server) all; /* servers_all */
  bool registered;
  unsigned long n_requests;
  uv_timer_t retry;
  bool retry_init;
  struct backoff backoff;
  /* shutdown */
  bool stopping;
  struct lws_util_handles lws_track; /* uv handles lws opened for us */
  void (*done_cb) (void *);
  void *done_arg;
  unsigned char scratch[LWS_PRE + WRITE_CHUNK];
};

static void
conn_evict_one (struct introspection_server *s)
{
  struct conn *victim = NULL;
  struct conn *c;
  TAILQ_FOREACH (c, &s->conns, link)
    if (!c->evicted && !c->busy && !c->deferred)
      {
        victim = c;
        break;
      }
  if (!victim)
    TAILQ_FOREACH (c, &s->conns, link)
      if (!c->evicted)
        {
          victim = c;
          break;
        }
  if (!victim)
    return;
  victim->evicted = true;
  s->n_live--;
  log_debug (MOD, "connection limit %u reached: closing the oldest idle connection",
             s->max_conns);
  lws_set_timeout (victim->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

static void
conn_new (struct introspection_server *s, struct lws *wsi)
{
  struct conn *c = xcalloc (1, sizeof *c);
  c->srv = s;
  c->wsi = wsi;
  TAILQ_INSERT_TAIL (&s->conns, c, link);
  s->n_conns++;
  s->n_live++;
  lws_set_opaque_user_data (wsi, c);
  while (s->n_live > s->max_conns)
    conn_evict_one (s);
  /* Evicted connections close on lws' next turn: accept no more than the
     budget meanwhile (conn_free resumes). */
  if (s->n_conns >= s->budget)
    introspection_listener_pause (s->listener);
}

static void
conn_reset (struct conn *c)
{
  free (c->body);
  c->body = NULL;
  c->body_len = c->body_off = 0;
  free (c->extra);
  c->extra = NULL;
  c->extra_len = 0;
  c->busy = c->in_body = c->headers_sent = c->head = false;
}

static void
conn_free (struct introspection_server *s, struct conn *c)
{
  TAILQ_REMOVE (&s->conns, c, link);
  if (!c->evicted)
    s->n_live--;
  s->n_conns--;
  if (c->deferred)
    {
      struct introspection_reply *r = c->deferred;
      c->deferred = NULL;
      if (r->cancel_cb)
        r->cancel_cb (r->cancel_arg);
      free (r);
    }
  conn_reset (c);
  free (c);
  if (s->n_conns < s->budget)
    introspection_listener_resume (s->listener);
}

/* Route the request now: the answer is a snapshot of engine state. */
static int
prepare (struct introspection_server *s, struct conn *c)
{
  struct introspection_lws_request q;
  introspection_request_read (c->wsi, &q);
  conn_reset (c);
  c->head = q.method == LWSHUMETH_HEAD;
  s->n_requests++;
  if (s->prov.handle)
    {
      /* The provider answers (and logs) itself: paths may carry secrets. */
      struct introspection_request rq = { .method = q.method_name,
                                          .path = q.path,
                                          .args = (const char *const *) q.args,
                                          .n_args = q.n_args,
                                          .peer_ip = q.peer,
                                          .remote_addr = q.remote,
                                          .user_agent = q.user_agent,
                                          .forwarded_for = q.forwarded_for };
      struct introspection_reply *r = xcalloc (1, sizeof *r);
      r->c = c;
      c->deferred = r;
      c->status = s->prov.handle (s->prov.data, &rq, r, &c->body, &c->ctype);
      if (c->status == 0)
        {
          introspection_request_clear (&q);
          return 1; /* answered later (introspection_reply_send) */
        }
      c->deferred = NULL;
      free (r);
    }
  else
    {
      c->status = introspection_route (&s->cfg, &s->prov, q.path, (const char *const *) q.args,
                                       q.n_args, &c->body, &c->ctype);
      log_debug (MOD, "request method=%s path=%s args=%zu status=%d peer=%s", q.method_name,
                 q.path, q.n_args, c->status, q.peer);
    }
  c->body_len = strlen (c->body);
  c->busy = true;
  introspection_request_clear (&q);

  return 0;
}

/* The status line and headers of c's answer, the provider's extra headers
   included, in a buffer sized for them.  < 0 when lws refuses. */
static int
write_head (struct conn *c)
{
  struct lws *wsi = c->wsi;
  size_t size = LWS_PRE + 512 + c->extra_len * 2;
  cleanup_free unsigned char *hbuf = xmalloc (size);
  unsigned char *start = hbuf + LWS_PRE, *p = start, *end = hbuf + size;
  if (lws_add_http_common_headers (wsi, (unsigned) c->status, c->ctype,
                                   (lws_filepos_t) c->body_len, &p, end))
    return -1;
  for (size_t off = 0; off < c->extra_len;)
    {
      const char *name = c->extra + off;
      const char *value = name + strlen (name) + 1;
      off = (size_t) (value - c->extra) + strlen (value) + 1;
      if (lws_add_http_header_by_name (wsi, (const unsigned char *) name,
                                       (const unsigned char *) value, (int) strlen (value), &p, end))
        return -1;
    }
  if (lws_finalize_write_http_header (wsi, start, &p, end))
    return -1;
  return 0;
}

static int
respond (struct introspection_server *s, struct conn *c)
{
  if (prepare (s, c) == 1)
    {
      /* deferred: the answer must come within read_timeout_s */
      lws_set_timeout (c->wsi, PENDING_TIMEOUT_HTTP_CONTENT, (int) s->timeout_s);
      return 0;
    }
  /* The client has read_timeout_s to take the answer. */
  lws_set_timeout (c->wsi, PENDING_TIMEOUT_HTTP_CONTENT, (int) s->timeout_s);
  lws_callback_on_writable (c->wsi);
  return 0;
}

/* An Upgrade request (websocket, h2c) is answered as plain HTTP/1.1, like Go's
   server does: right away, from the upgrade callback (lws buffers what the
   socket does not take), then lws completes the transaction itself. */
static int
respond_now (struct introspection_server *s, struct conn *c)
{
  struct lws *wsi = c->wsi;
  if (prepare (s, c) == 1)
    return -1; /* an upgrade request is answered at once or not at all */
  int rc = 1;
  if (write_head (c) < 0)
    rc = -1;
  else if (!c->head && c->body_len)
    {
      unsigned char *buf = xmalloc (LWS_PRE + c->body_len);
      memcpy (buf + LWS_PRE, c->body, c->body_len);
      if (lws_write (wsi, buf + LWS_PRE, c->body_len, LWS_WRITE_HTTP_FINAL) != (int) c->body_len)
        rc = -1;
      free (buf);
    }
  conn_reset (c);
  return rc;
}

static int
on_writable (struct introspection_server *s, struct conn *c)
{
  struct lws *wsi = c->wsi;
  if (!c->busy)
    return 0;
  if (!c->headers_sent)
    {
      if (write_head (c) < 0)
        return -1;
      c->headers_sent = true;
      if (!c->head && c->body_len)
        {
          lws_callback_on_writable (wsi);
          return 0;
        }
    }
  else
    {
      size_t left = c->body_len - c->body_off;
      size_t n = left < WRITE_CHUNK ? left : WRITE_CHUNK;
      bool final = n == left;
      memcpy (s->scratch + LWS_PRE, c->body + c->body_off, n);
      if (lws_write (wsi, s->scratch + LWS_PRE, n, final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP)
          != (int) n)
        return -1;
      c->body_off += n;
      if (!final)
        {
          lws_callback_on_writable (wsi);
          return 0;
        }
    }
  conn_reset (c);
  /* Back to reading the next request on this connection (keep-alive), or close. */
  if (lws_http_transaction_completed (wsi))
    return -1;
  return 0;
}

static bool
request_has_body (struct lws *wsi)
{
  char buf[32];
  if (lws_hdr_total_length (wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0)
    return true;
  if (lws_hdr_copy (wsi, buf, sizeof buf, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0)
    return strtoull (buf, NULL, 10) > 0;
  return false;
}

static int
http_cb (struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
  struct lws_context *lc = lws_get_context (wsi);
  struct introspection_server *s = lc ? lws_context_user (lc) : NULL;
  struct conn *c = wsi ? lws_get_opaque_user_data (wsi) : NULL;

  switch (reason)
    {
    case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
      if (!s || s->stopping)
        return -1;
      conn_new (s, wsi);
      return 0;

    case LWS_CALLBACK_WSI_DESTROY:
      if (s && c)
        {
          lws_set_opaque_user_data (wsi, NULL);
          conn_free (s, c);
        }
      return 0;

    /* One request at a time per connection: any callback out of sequence
       (lws 4.1 repeats BODY_COMPLETION for some malformed requests, which
       would answer forever) closes the connection. */
    case LWS_CALLBACK_HTTP:
      if (!s || !c || c->evicted || s->stopping || c->busy || c->in_body || c->deferred)
        return -1;
      if (request_has_body (wsi))
        {
          /* Read and drop the body first; it must arrive in time. */
          c->in_body = true;
          lws_set_timeout (wsi, PENDING_TIMEOUT_HTTP_CONTENT, (int) s->timeout_s);
          return 0;
        }
      return respond (s, c);

    case LWS_CALLBACK_HTTP_BODY:
      return c && c->in_body ? 0 : -1;

    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
      if (!s || !c || c->evicted || !c->in_body)
        return -1;
      return respond (s, c);

    case LWS_CALLBACK_HTTP_WRITEABLE:
      if (!s || !c)
        return -1;
      return on_writable (s, c);

    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
      if (!s || !c || c->evicted || s->stopping || c->busy || c->in_body || c->deferred)
        return -1;
      return respond_now (s, c);

    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: /* never become a websocket */
      return -1;

    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_BIND_PROTOCOL:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
      return 0;

    default:
      break;
    }
  return lws_callback_http_dummy (wsi, reason, user, in, len);
}

/* --- listen (with retry) --- */

/* A connection the listener accepted: lws serves it (and closes it if it
   cannot). */
static void
server_accept_cb (int fd, void *arg)
{
  struct introspection_server *s = arg;
  if (s->stopping || !s->vhost)
    {
      close (fd);
      return;
    }
  if (!lws_adopt_socket_vhost (s->vhost, fd))
    log_debug (MOD, "libwebsockets could not take a new connection");
}

static int
try_listen (struct introspection_server *s, agent_error_t *err)
{
  if (introspection_listener_open (s->loop, s->addr, s->cfg.port, server_accept_cb, s,
                                   &s->listener, err)
      < 0)
    return -1;
  s->port = introspection_listener_port (s->listener);
  if (s->n_conns >= s->budget)
    introspection_listener_pause (s->listener);
  log_info (MOD, "introspection API listening on %s:%d", s->addr, s->port);
  return 0;
}

static void
retry_cb (uv_timer_t *t)
{
  struct introspection_server *s = t->data;
  cleanup_error agent_error_t err = NULL;
  if (s->stopping || s->listener)
    return;
  if (try_listen (s, &err) == 0)
    return;
  uint64_t ms = backoff_next (&s->backoff);
  log_warn (MOD, "%s; retrying in %llu ms", error_msg (&err), (unsigned long long) ms);
  uv_timer_start (&s->retry, retry_cb, ms, 0);
}

/* The descriptors every server of the process may hold together: the open
   file limit minus a reserve for Docker, ACS, TCS and the checkpoint (a
   quarter of the limit when it is below twice the reserve).  Each running
   server gets an equal share, so a flood on one (introspection) cannot
   starve another (the task server's credentials) nor the rest of the agent. */
static LIST_HEAD (server_list, introspection_server) servers_all = LIST_HEAD_INITIALIZER (servers_all);
static size_t servers_n;

static size_t
process_conn_budget (void)
{
  struct rlimit rl;
  if (getrlimit (RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
    return SIZE_MAX;
  return rl.rlim_cur >= 2 * FD_RESERVE ? rl.rlim_cur - FD_RESERVE : rl.rlim_cur / 4;
}

/* The server's budget: twice its live limit (evicted connections linger
   until lws closes them), within its share; the live limit leaves room under
   the budget for the evicted ones. */
static void
server_set_share (struct introspection_server *s, size_t share)
{
  size_t budget = 2 * (size_t) s->max_conns_cfg + 8;
  if (share < budget)
    budget = share;
  s->budget = budget ? budget : 1;
  size_t live = s->budget - (s->budget / 8 ? s->budget / 8 : 1);
  unsigned max_conns = live < s->max_conns_cfg ? (live ? (unsigned) live : 1) : s->max_conns_cfg;
  if (max_conns != s->max_conns && max_conns < s->max_conns_cfg)
    log_info (MOD, "open file limit: at most %u connections on port %d (%zu descriptors)",
              max_conns, s->cfg.port, s->budget);
  s->max_conns = max_conns;
  if (s->n_conns >= s->budget)
    introspection_listener_pause (s->listener);
  else
    introspection_listener_resume (s->listener);
}

static void
servers_rebalance (void)
{
  if (!servers_n)
    return;
  size_t share = process_conn_budget () / servers_n;
  struct introspection_server *s;
  LIST_FOREACH (s, &servers_all, all)
    server_set_share (s, share);
}

static void
server_register (struct introspection_server *s)
{
  LIST_INSERT_HEAD (&servers_all, s, all);
  s->registered = true;
  servers_n++;
  servers_rebalance ();
}

static void
server_unregister (struct introspection_server *s)
{
  if (!s->registered)
    return;
  LIST_REMOVE (s, all);
  s->registered = false;
  servers_n--;
  servers_rebalance ();
}

/* --- shutdown --- */

static void
server_free (struct introspection_server *s)
{
  server_unregister (s);
  lws_util_handles_free (&s->lws_track);
  free ((char *) s->cfg.cluster);
  free ((char *) s->cfg.container_instance_arn);
  free ((char *) s->cfg.version);
  free ((char *) s->cfg.license_text);
  free (s->addr);
  free (s);
}

static void
retry_closed_cb (uv_handle_t *h)
{
  struct introspection_server *s = h->data;
  s->retry_init = false;
}

static void
listener_closed_cb (void *arg)
{
  struct introspection_server *s = arg;
  s->listener_closing = false;
}

/* The lws context is freed only once our own handles are closed and every
   connection released. */
static bool
server_busy_cb (void *data)
{
  struct introspection_server *s = data;
  return s->n_conns || s->retry_init || s->listener_closing;
}

static void
server_released_cb (bool leaked, void *data)
{
  struct introspection_server *s = data;
  void (*cb) (void *) = s->done_cb;
  void *arg = s->done_arg;
  if (leaked)
    log_warn (MOD, "lws did not release its handles; leaking its context");
  server_free (s);
  if (cb)
    cb (arg);
}

void
introspection_stop (introspection_server_t *s, void (*done_cb) (void *arg), void *arg)
{
  if (!s || s->stopping)
    return;
  s->stopping = true;
  s->done_cb = done_cb;
  s->done_arg = arg;
  if (s->retry_init)
    {
      uv_timer_stop (&s->retry);
      uv_close ((uv_handle_t *) &s->retry, retry_closed_cb);
    }
  if (s->listener)
    {
      s->listener_closing = true;
      introspection_listener_close (s->listener, listener_closed_cb, s);
      s->listener = NULL;
    }
  struct lws_context *ctx = s->ctx;
  s->ctx = NULL;
  s->vhost = NULL;
  s->port = 0;
  lws_util_context_destroy (ctx, s->loop, &s->lws_track, FIN_MAX_TURNS, server_busy_cb,
                            server_released_cb, s);
}

/* --- start --- */

static void
fill_vhost_info (struct introspection_server *s, struct lws_context_creation_info *i)
{
  memset (i, 0, sizeof *i);
  i->protocols = s->protocols;
  /* The listener (listener.c) accepts; lws serves what it is handed. */
  i->port = CONTEXT_PORT_NO_LISTEN_SERVER;
  i->user = s;
  i->vhost_name = "introspection";
  i->keepalive_timeout = (int) s->timeout_s;
  i->timeout_secs = s->timeout_s;
  i->timeout_secs_ah_idle = s->timeout_s;
}

int
introspection_start (uv_loop_t *loop, const struct introspection_config *cfg,
                     const struct introspection_provider *prov, introspection_server_t **out,
                     agent_error_t *err)
{
  *out = NULL;
  if (!loop || !cfg || !prov || (!prov->foreach_task && !prov->handle))
    return error_set (err, ERR_INVALID, "introspection: loop, config and provider are required");
  const char *addr = cfg->listen_addr && *cfg->listen_addr ? cfg->listen_addr
                                                           : INTROSPECTION_DEFAULT_ADDR;
  unsigned char sa[sizeof (struct in6_addr)];
  if (inet_pton (AF_INET, addr, sa) != 1 && inet_pton (AF_INET6, addr, sa) != 1)
    return error_set (err, ERR_INVALID,
                      "introspection listen address %s is not an IPv4 or IPv6 address", addr);
  int port = cfg->port < 0 ? INTROSPECTION_DEFAULT_PORT : cfg->port;
  if (port > 65535)
    return error_set (err, ERR_INVALID, "introspection port %d out of range", port);
  if (cfg->max_header_bytes > 65535)
    return error_set (err, ERR_INVALID, "introspection header limit %u above 65535",
                      cfg->max_header_bytes);

  struct introspection_server *s = xcalloc (1, sizeof *s);
  TAILQ_INIT (&s->conns);
  s->loop = loop;
  s->cfg = *cfg;
  s->cfg.port = port;
  s->cfg.cluster = xstrdup (cfg->cluster ? cfg->cluster : "default");
  s->cfg.container_instance_arn = xstrdup (cfg->container_instance_arn);
  s->cfg.version = xstrdup (cfg->version ? cfg->version : introspection_version_string ());
  s->cfg.license_text = xstrdup (cfg->license_text);
  s->addr = xstrdup (addr);
  s->cfg.listen_addr = s->addr;
  s->prov = *prov;
  s->max_conns = cfg->max_connections ? cfg->max_connections : DEFAULT_MAX_CONNS;
  s->timeout_s = cfg->read_timeout_s ? cfg->read_timeout_s : DEFAULT_TIMEOUT_S;
  s->header_bytes = cfg->max_header_bytes ? cfg->max_header_bytes : DEFAULT_HEADER_BYTES;
  s->protocols[0].name = "http";
  s->protocols[0].callback = http_cb;
  s->max_conns_cfg = s->max_conns;
  server_register (s);

  struct lws_context_creation_info info;
  fill_vhost_info (s, &info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.options |= LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_UV_NO_SIGSEGV_SIGFPE_SPIN;
  info.max_http_header_data = (unsigned short) s->header_bytes;
  /* Evicted connections linger until lws closes them on its next turn. */
  /* sized for the configured limit: the share grows back when another
     server stops */
  info.max_http_header_pool2 = 2 * s->max_conns_cfg + 8;
  info.fd_limit_per_thread = 2 * s->max_conns_cfg + 32;
  s->ctx = lws_util_context_create (loop, &info, &s->lws_track);
  if (!s->ctx)
    {
      server_free (s);
      return error_set (err, ERR_IO, "introspection: cannot create the libwebsockets context");
    }
  fill_vhost_info (s, &info);
  s->vhost = lws_util_vhost_create (s->ctx, loop, &info, &s->lws_track);
  if (!s->vhost)
    {
      introspection_stop (s, NULL, NULL);
      return error_set (err, ERR_IO, "introspection: cannot create the libwebsockets vhost");
    }

  agent_error_t lerr = NULL;
  if (try_listen (s, &lerr) < 0)
    {
      if (cfg->no_retry)
        {
          int kind = error_kind (&lerr);
          error_move (err, &lerr);
          introspection_stop (s, NULL, NULL);
          return -kind;
        }
      backoff_init (&s->backoff, 1000, 60000, 0.2, 2.0);
      uint64_t ms = backoff_next (&s->backoff);
      log_warn (MOD, "%s; retrying in %llu ms", error_msg (&lerr), (unsigned long long) ms);
      error_free (&lerr);
      uv_timer_init (loop, &s->retry);
      s->retry.data = s;
      s->retry_init = true;
      uv_timer_start (&s->retry, retry_cb, ms, 0);
    }
  *out = s;
  return 0;
}

int
introspection_adopt_fd (introspection_server_t *s, int fd, agent_error_t *err)
{
  if (!s || !s->vhost || s->stopping)
    {
      close (fd);
      return error_set (err, ERR_INVALID, "introspection server is not listening");
    }
  if (!lws_adopt_socket_vhost (s->vhost, fd))
    return error_set (err, ERR_IO, "libwebsockets could not adopt fd %d", fd);
  return 0;
}

int
introspection_port (const introspection_server_t *s)
{
  return s ? s->port : 0;
}

size_t
introspection_connections (const introspection_server_t *s)
{
  return s ? s->n_conns : 0;
}

unsigned long
introspection_requests (const introspection_server_t *s)
{
  return s ? s->n_requests : 0;
}

unsigned long
introspection_accept_failures (const introspection_server_t *s)
{
  return s ? introspection_listener_starved (s->listener) : 0;
}

void
introspection_reply_on_cancel (struct introspection_reply *r, void (*cancel_cb) (void *arg),
                               void *arg)
{
  r->cancel_cb = cancel_cb;
  r->cancel_arg = arg;
}

void
introspection_reply_add_header (struct introspection_reply *r, const char *name, const char *value)
{
  struct conn *c = r->c;
  size_t nl = strlen (name), vl = strlen (value);
  c->extra = xrealloc (c->extra, c->extra_len + nl + vl + 3);
  char *p = c->extra + c->extra_len;
  memcpy (p, name, nl);
  p[nl] = ':';
  p[nl + 1] = 0;
  memcpy (p + nl + 2, value, vl + 1);
  c->extra_len += nl + vl + 3;
}

void
introspection_reply_send (struct introspection_reply *r, int status, char *body,
                          const char *content_type)
{
  struct conn *c = r->c;
  c->deferred = NULL;
  free (r);
  c->status = status;
  c->body = body;
  c->ctype = content_type;
  c->body_len = strlen (body);
  c->busy = true;
  lws_set_timeout (c->wsi, PENDING_TIMEOUT_HTTP_CONTENT, (int) c->srv->timeout_s);
  lws_callback_on_writable (c->wsi);
}
