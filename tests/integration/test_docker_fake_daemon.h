/* test_docker_fake_daemon.h - a tiny fake Docker daemon on a unix socket (a
 * uv pipe server in the test's own loop) with per-test request handlers, and
 * the fixture of test_docker_fake*.c over it (setup/teardown: every uv handle
 * closed at the end of each test). Header only. */
#ifndef TEST_DOCKER_FAKE_DAEMON_H
#define TEST_DOCKER_FAKE_DAEMON_H

#include "test_docker_util.h"
#include <unistd.h>
#include "log/log.h"

/* ---- fake daemon ------------------------------------------------------- */

struct fake;
struct fconn;

struct freq
{
  char method[16];
  char path[1024];
  char auth[512]; /* X-Registry-Auth, "" if absent */
  bool has_auth;
  char *body;
};

typedef void (*fake_handler) (struct fake *f, struct fconn *c, const struct freq *r);

struct fconn
{
  uv_pipe_t pipe;
  struct fake *f;
  struct sbuf in;
  bool handled, closing;
  uv_timer_t timer;
  bool timer_on;
  int step;
  struct fconn *next;
  int pending; /* handles still closing */
};

struct fake
{
  uv_loop_t *loop;
  uv_pipe_t server;
  char dir[64], path[128], host[160];
  fake_handler handler;
  void *ud;
  int n_reqs;
  struct freq reqs[64];
  struct fconn *conns;
  int n_conns;
  /* version answered to /version */
  const char *api, *min_api;
  bool server_closed;
};

static inline void
fconn_handle_closed_cb (uv_handle_t *h)
{
  struct fconn *c = h->data;
  if (--c->pending == 0)
    {
      sbuf_free (&c->in);
      free (c);
    }
}

static inline void
fconn_close (struct fconn *c)
{
  if (c->closing)
    return;
  c->closing = true;
  struct fake *f = c->f;
  for (struct fconn **p = &f->conns; *p; p = &(*p)->next)
    if (*p == c)
      {
        *p = c->next;
        break;
      }
  c->pending = 1;
  if (c->timer_on)
    {
      c->pending++;
      uv_timer_stop (&c->timer);
      c->timer_on = false;
      uv_close ((uv_handle_t *) &c->timer, fconn_handle_closed_cb);
    }
  uv_close ((uv_handle_t *) &c->pipe, fconn_handle_closed_cb);
}

struct fwrite
{
  uv_write_t req;
  char *buf;
  struct fconn *c;
  bool close_after;
};

static inline void
fwrite_cb (uv_write_t *w, int status)
{
  (void) status;
  struct fwrite *fw = (struct fwrite *) w;
  if (fw->close_after && !fw->c->closing)
    fconn_close (fw->c);
  free (fw->buf);
  free (fw);
}

static inline void
fconn_write2 (struct fconn *c, const char *s, size_t n, bool close_after)
{
  if (c->closing)
    return;
  struct fwrite *fw = xcalloc (1, sizeof *fw);
  fw->buf = xmalloc (n + 1);
  memcpy (fw->buf, s, n);
  fw->c = c;
  fw->close_after = close_after;
  uv_buf_t b = uv_buf_init (fw->buf, (unsigned) n);
  if (uv_write (&fw->req, (uv_stream_t *) &c->pipe, &b, 1, fwrite_cb) < 0)
    {
      free (fw->buf);
      free (fw);
      fconn_close (c);
    }
}

static inline void
fconn_write (struct fconn *c, const char *s)
{
  fconn_write2 (c, s, strlen (s), false);
}

/* Full response with Content-Length, then close. */
static inline void
fconn_respond (struct fconn *c, int status, const char *ctype, const char *body)
{
  char *r = xasprintf ("HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                       "Connection: close\r\n\r\n%s",
                       status, ctype, strlen (body), body);
  fconn_write2 (c, r, strlen (r), true);
  free (r);
}

static inline void
fconn_json (struct fconn *c, int status, const char *body)
{
  fconn_respond (c, status, "application/json", body);
}

/* Start a chunked streaming response. */
static inline void
fconn_stream_begin (struct fconn *c)
{
  fconn_write (c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                  "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
}

static inline void
fconn_chunk (struct fconn *c, const char *s)
{
  char *r = xasprintf ("%zx\r\n%s\r\n", strlen (s), s);
  fconn_write (c, r);
  free (r);
}

static inline void
fconn_stream_end (struct fconn *c)
{
  fconn_write2 (c, "0\r\n\r\n", 5, true);
}

static inline void
fconn_every (struct fconn *c, uint64_t ms, uv_timer_cb cb)
{
  if (!c->timer_on)
    {
      uv_timer_init (c->f->loop, &c->timer);
      c->timer.data = c;
      c->timer_on = true;
    }
  uv_timer_start (&c->timer, cb, ms, ms);
}

static inline void
answer_version (struct fake *f, struct fconn *c)
{
  char *b = xasprintf ("{\"Version\":\"fake\",\"ApiVersion\":\"%s\",\"MinAPIVersion\":\"%s\","
                       "\"Os\":\"linux\",\"Arch\":\"amd64\"}",
                       f->api ? f->api : "1.41", f->min_api ? f->min_api : "1.12");
  fconn_json (c, 200, b);
  free (b);
}

static inline void
fconn_handle (struct fconn *c)
{
  struct fake *f = c->f;
  char *hdr_end = strstr (c->in.s, "\r\n\r\n");
  if (!hdr_end)
    return;
  size_t hlen = (size_t) (hdr_end - c->in.s) + 4;
  size_t clen = 0;
  const char *cl = strcasestr (c->in.s, "\r\nContent-Length:");
  if (cl && cl < hdr_end)
    clen = strtoul (cl + 17, NULL, 10);
  if (c->in.len < hlen + clen)
    return;
  c->handled = true;
  struct freq *r = &f->reqs[f->n_reqs < 64 ? f->n_reqs : 63];
  free (r->body);
  memset (r, 0, sizeof *r);
  if (f->n_reqs < 64)
    f->n_reqs++;
  sscanf (c->in.s, "%15s %1023s", r->method, r->path);
  const char *a = strcasestr (c->in.s, "\r\nX-Registry-Auth:");
  if (a && a < hdr_end)
    {
      a += 18;
      while (*a == ' ')
        a++;
      size_t n = strcspn (a, "\r");
      snprintf (r->auth, sizeof r->auth, "%.*s", (int) n, a);
      r->has_auth = true;
    }
  r->body = xstrndup (c->in.s + hlen, clen);
  if (strcmp (r->path, "/version") == 0 && f->handler == NULL)
    answer_version (f, c);
  else if (f->handler)
    f->handler (f, c, r);
  else
    fconn_json (c, 404, "{\"message\":\"no handler\"}");
}

static inline void
fconn_alloc_cb (uv_handle_t *h, size_t sz, uv_buf_t *b)
{
  (void) h;
  b->base = xmalloc (sz);
  b->len = sz;
}

static inline void
fconn_read_cb (uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
  struct fconn *c = s->data;
  if (n > 0 && !c->handled)
    {
      sbuf_append (&c->in, b->base, (size_t) n);
      fconn_handle (c);
    }
  free (b->base);
  if (n < 0 && !c->closing)
    fconn_close (c);
}

static inline void
fake_conn_cb (uv_stream_t *server, int status)
{
  struct fake *f = server->data;
  if (status < 0)
    return;
  struct fconn *c = xcalloc (1, sizeof *c);
  c->f = f;
  uv_pipe_init (f->loop, &c->pipe, 0);
  c->pipe.data = c;
  if (uv_accept (server, (uv_stream_t *) &c->pipe) < 0)
    {
      c->pending = 1;
      uv_close ((uv_handle_t *) &c->pipe, fconn_handle_closed_cb);
      return;
    }
  c->next = f->conns;
  f->conns = c;
  f->n_conns++;
  sbuf_puts (&c->in, "");
  uv_read_start ((uv_stream_t *) &c->pipe, fconn_alloc_cb, fconn_read_cb);
}

static inline struct fake *
fake_new (uv_loop_t *loop, fake_handler h)
{
  struct fake *f = xcalloc (1, sizeof *f);
  f->loop = loop;
  f->handler = h;
  snprintf (f->dir, sizeof f->dir, "/tmp/ecs-agent-c-fake-XXXXXX");
  assert_non_null (mkdtemp (f->dir));
  snprintf (f->path, sizeof f->path, "%s/docker.sock", f->dir);
  snprintf (f->host, sizeof f->host, "unix://%s", f->path);
  uv_pipe_init (loop, &f->server, 0);
  f->server.data = f;
  assert_int_equal (uv_pipe_bind (&f->server, f->path), 0);
  assert_int_equal (uv_listen ((uv_stream_t *) &f->server, 16, fake_conn_cb), 0);
  return f;
}

static inline void
fake_server_closed_cb (uv_handle_t *h)
{
  struct fake *f = h->data;
  f->server_closed = true;
}

/* No connection open: every connection the client made is closed on the
   daemon's side too (so nothing more can arrive on it). */
static inline bool
fake_idle (const struct fake *f)
{
  return f->conns == NULL;
}

/* A request whose path contains what, among requests from..n_reqs. */
static inline bool
fake_saw (const struct fake *f, int from, const char *what)
{
  for (int i = from; i < f->n_reqs; i++)
    if (strstr (f->reqs[i].path, what))
      return true;
  return false;
}

/* Close the server and every connection; f is freed by the caller once
   f->server_closed. */
static inline void
fake_free (struct fake *f)
{
  while (f->conns)
    fconn_close (f->conns);
  uv_close ((uv_handle_t *) &f->server, fake_server_closed_cb);
  unlink (f->path);
  rmdir (f->dir);
  for (int i = 0; i < f->n_reqs; i++)
    free (f->reqs[i].body);
}

/* ---- fixture ----------------------------------------------------------- */

struct fx
{
  struct tloop l;
  struct fake *f;
  docker_client_t *c;
};

static inline int
setup (void **state)
{
  struct fx *x = xcalloc (1, sizeof *x);
  tloop_init (&x->l);
  *state = x;
  return 0;
}

static inline void
fx_start (struct fx *x, fake_handler h)
{
  x->f = fake_new (&x->l.loop, h);
  agent_error_t err = NULL;
  x->c = docker_client_new (&x->l.loop, x->f->host, &err);
  assert_non_null (x->c);
}

static inline int
teardown (void **state)
{
  struct fx *x = *state;
  docker_client_free (x->c);
  if (x->f)
    {
      fake_free (x->f);
      WAIT_FOR (&x->l, x->f->server_closed, 2000);
      free (x->f);
    }
  int r = tloop_close (&x->l);
  free (x);
  if (r != 0)
    fprintf (stderr, "uv loop still had open handles: leak\n");
  return r == 0 ? 0 : -1;
}

static inline bool
has_prefix (const char *s, const char *p)
{
  return strncmp (s, p, strlen (p)) == 0;
}

#endif /* TEST_DOCKER_FAKE_DAEMON_H */
