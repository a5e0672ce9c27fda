/* test_docker_fake.c - the Docker client against a tiny fake daemon on a
 * unix socket (a uv pipe server in the test's own loop): garbage answers,
 * connections closed mid-stream, stalls (time limits), API version
 * negotiation for Docker 20.10 / 28.x style daemons, the X-Registry-Auth
 * header, event-stream reconnects with since= and de-duplication, cancel /
 * free from inside callbacks, Podman's links as /etc/hosts entries.  Needs
 * no Docker; run it under SAN=1 for the leak check (every uv handle must
 * be closed at the end of each test).
 */
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

static void
fconn_handle_closed_cb (uv_handle_t *h)
{
  struct fconn *c = h->data;
  if (--c->pending == 0)
    {
      sbuf_free (&c->in);
      free (c);
    }
}

static void
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

static void
fwrite_cb (uv_write_t *w, int status)
{
  (void) status;
  struct fwrite *fw = (struct fwrite *) w;
  if (fw->close_after && !fw->c->closing)
    fconn_close (fw->c);
  free (fw->buf);
  free (fw);
}

static void
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

static void
fconn_write (struct fconn *c, const char *s)
{
  fconn_write2 (c, s, strlen (s), false);
}

/* Full response with Content-Length, then close. */
static void
fconn_respond (struct fconn *c, int status, const char *ctype, const char *body)
{
  char *r = xasprintf ("HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                       "Connection: close\r\n\r\n%s",
                       status, ctype, strlen (body), body);
  fconn_write2 (c, r, strlen (r), true);
  free (r);
}

static void
fconn_json (struct fconn *c, int status, const char *body)
{
  fconn_respond (c, status, "application/json", body);
}

/* Start a chunked streaming response. */
static void
fconn_stream_begin (struct fconn *c)
{
  fconn_write (c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                  "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
}

static void
fconn_chunk (struct fconn *c, const char *s)
{
  char *r = xasprintf ("%zx\r\n%s\r\n", strlen (s), s);
  fconn_write (c, r);
  free (r);
}

static void
fconn_stream_end (struct fconn *c)
{
  fconn_write2 (c, "0\r\n\r\n", 5, true);
}

static void
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

static void
answer_version (struct fake *f, struct fconn *c)
{
  char *b = xasprintf ("{\"Version\":\"fake\",\"ApiVersion\":\"%s\",\"MinAPIVersion\":\"%s\","
                       "\"Os\":\"linux\",\"Arch\":\"amd64\"}",
                       f->api ? f->api : "1.41", f->min_api ? f->min_api : "1.12");
  fconn_json (c, 200, b);
  free (b);
}

static void
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

static void
fconn_alloc_cb (uv_handle_t *h, size_t sz, uv_buf_t *b)
{
  (void) h;
  b->base = xmalloc (sz);
  b->len = sz;
}

static void
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

static void
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

static struct fake *
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

static void
fake_server_closed_cb (uv_handle_t *h)
{
  struct fake *f = h->data;
  f->server_closed = true;
}

/* No connection open: every connection the client made is closed on the
   daemon's side too (so nothing more can arrive on it). */
static bool
fake_idle (const struct fake *f)
{
  return f->conns == NULL;
}

/* A request whose path contains what, among requests from..n_reqs. */
static bool
fake_saw (const struct fake *f, int from, const char *what)
{
  for (int i = from; i < f->n_reqs; i++)
    if (strstr (f->reqs[i].path, what))
      return true;
  return false;
}

/* Close the server and every connection; f is freed by the caller once
   f->server_closed. */
static void
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

static int
setup (void **state)
{
  struct fx *x = xcalloc (1, sizeof *x);
  tloop_init (&x->l);
  *state = x;
  return 0;
}

static void
fx_start (struct fx *x, fake_handler h)
{
  x->f = fake_new (&x->l.loop, h);
  agent_error_t err = NULL;
  x->c = docker_client_new (&x->l.loop, x->f->host, &err);
  assert_non_null (x->c);
}

static int
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

static bool
has_prefix (const char *s, const char *p)
{
  return strncmp (s, p, strlen (p)) == 0;
}

/* ---- garbage ----------------------------------------------------------- */

static void
garbage_handler (struct fake *f, struct fconn *c, const struct freq *r)
{
  const char *p = r->path;
  if (strcmp (p, "/version") == 0)
    answer_version (f, c);
  else if (strcmp (p, "/_ping") == 0)
    fconn_write2 (c, "garbage garbage\r\n\r\n", 19, true); /* not HTTP */
  else if (strstr (p, "/containers/notjson/json"))
    fconn_json (c, 200, "not json at all");
  else if (strstr (p, "/containers/trunc/json"))
    fconn_json (c, 200, "{\"Id\":\"x\",\"State\":{");
  else if (strstr (p, "/containers/array/json"))
    fconn_json (c, 200, "[1,2,3]");
  else if (strstr (p, "/containers/badport/json"))
    fconn_json (c, 200, "{\"Id\":\"x\",\"NetworkSettings\":{\"Ports\":{\"http/tcp\":[{\"HostPort\":\"1\"}]}}}");
  else if (strstr (p, "/containers/html500/json"))
    fconn_respond (c, 500, "text/html", "<html><body>Internal error</body></html>\n");
  else if (strstr (p, "/containers/close/json"))
    fconn_close (c); /* no response at all */
  else if (strstr (p, "/containers/halfbody/json"))
    {
      /* promises 100 bytes, sends 10, closes */
      fconn_write2 (c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"Id\":\"x\",", 50, true);
    }
  else if (strstr (p, "/containers/json"))
    fconn_json (c, 200, "{}");
  else if (strstr (p, "/containers/create"))
    fconn_json (c, 201, "{\"Warnings\":[]}");
  else if (strstr (p, "/containers/s304/start") || strstr (p, "/containers/s304/stop"))
    fconn_write2 (c, "HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n", 47, true);
  else
    fconn_json (c, 404, "{\"message\":\"page not found\"}");
}

static void
test_fake_garbage (void **state)
{
  struct fx *x = *state;
  fx_start (x, garbage_handler);
  struct res r = { 0 };

  docker_ping (x->c, res_done_cb, &r);
  WAIT_RES (&x->l, &r, 5000);
  assert_true (r.kind == ERR_MALFORMED || r.kind == ERR_UNREACHABLE);

  struct
  {
    const char *id;
    int kind;
    const char *msg;
  } cases[] = {
    { "notjson", ERR_MALFORMED, NULL },
    { "trunc", ERR_MALFORMED, NULL },
    { "array", ERR_MALFORMED, NULL },
    { "badport", ERR_MALFORMED, "UnparseablePort" },
    { "html500", ERR_SERVER, "<html><body>Internal error</body></html>" },
    { "close", ERR_UNREACHABLE, NULL },
    { "halfbody", 0, NULL }, /* any error */
    { "nosuch", ERR_NOT_FOUND, "page not found" },
  };
  for (size_t k = 0; k < ARRAY_SIZE (cases); k++)
    {
      res_reset (&r);
      docker_container_inspect (x->c, cases[k].id, res_inspect_cb, &r);
      WAIT_RES (&x->l, &r, 5000);
      if (cases[k].kind)
        {
          if (r.kind != cases[k].kind)
            fail_msg ("%s: kind %d (%s), want %d", cases[k].id, r.kind, r.msg, cases[k].kind);
        }
      else
        assert_int_not_equal (r.kind, 0);
      if (cases[k].msg)
        assert_non_null (strstr (r.msg, cases[k].msg));
      assert_null (r.id);
    }

  res_reset (&r);
  docker_container_list (x->c, "a=b", res_list_cb, &r);
  WAIT_RES (&x->l, &r, 5000);
  assert_int_equal (r.kind, ERR_MALFORMED);
  /* the label filter went out URL-encoded JSON */
  bool seen = false;
  for (int i = 0; i < x->f->n_reqs; i++)
    if (strstr (x->f->reqs[i].path, "/containers/json?all=1&filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%7D"))
      seen = true;
  assert_true (seen);
  /* a label filter that is not UTF-8 fails the list, no request goes out */
  res_reset (&r);
  int n_before = x->f->n_reqs;
  docker_container_list (x->c, "a=\xff", res_list_cb, &r);
  WAIT_RES (&x->l, &r, 5000);
  assert_int_equal (r.kind, ERR_INVALID);
  assert_int_equal (x->f->n_reqs, n_before);

  res_reset (&r);
  struct docker_create_opts o = { .name = "n", .image = "img" };
  docker_container_create (x->c, &o, res_create_cb, &r);
  WAIT_RES (&x->l, &r, 5000);
  assert_int_equal (r.kind, ERR_MALFORMED);

  /* a string that is not UTF-8 is refused, not dropped */
  res_reset (&r);
  const char *cmd[] = { "echo", "bad\xff", NULL };
  struct docker_create_opts ob = { .image = "img", .cmd = cmd };
  int before = x->f->n_reqs;
  docker_container_create (x->c, &ob, res_create_cb, &r);
  WAIT_RES (&x->l, &r, 5000);
  assert_int_equal (r.kind, ERR_INVALID);
  assert_int_equal (x->f->n_reqs, before);

  res_reset (&r);
  docker_container_start (x->c, "s304", res_done_cb, &r);
  WAIT_RES (&x->l, &r, 5000);
  ASSERT_OK (&r);
  res_reset (&r);
  docker_container_stop (x->c, "s304", 3, res_done_cb, &r);
  WAIT_RES (&x->l, &r, 5000);
  ASSERT_OK (&r);
  bool stop_t = false;
  for (int i = 0; i < x->f->n_reqs; i++)
    stop_t |= strcmp (x->f->reqs[i].path, "/v1.41/containers/s304/stop?t=3") == 0;
  assert_true (stop_t);
  res_reset (&r);
}

/* ---- version negotiation ----------------------------------------------- */

static void
neg_handler (struct fake *f, struct fconn *c, const struct freq *r)
{
  if (strcmp (r->path, "/version") == 0)
    answer_version (f, c);
  else
    fconn_json (c, 200, "{\"Id\":\"abc\",\"State\":{\"Running\":true}}");
}

static void
test_fake_negotiation (void **state)
{
  struct fx *x = *state;
  fx_start (x, neg_handler);
  struct
  {
    const char *api, *min, *want; /* want NULL = must fail */
  } cases[] = {
    { "1.41", "1.12", "1.41" }, /* Docker 20.10 */
    { "1.50", "1.24", "1.50" }, /* Docker 28.x */
    { "1.52", "1.44", DOCKER_API_MAX },
    { "1.43", "1.12", "1.43" },
    { "1.60", "1.55", NULL },
    { "1.20", "1.12", NULL },
    { "x.y", "1.12", NULL },
  };
  for (size_t k = 0; k < ARRAY_SIZE (cases); k++)
    {
      x->f->api = cases[k].api;
      x->f->min_api = cases[k].min;
      docker_client_free (x->c);
      agent_error_t err = NULL;
      x->c = docker_client_new (&x->l.loop, x->f->host, &err);
      int before = x->f->n_reqs;
      struct res r = { 0 }, r2 = { 0 };
      /* two calls queue behind one negotiation */
      docker_container_inspect (x->c, "abc", res_inspect_cb, &r);
      docker_container_inspect (x->c, "abc", res_inspect_cb, &r2);
      WAIT_RES (&x->l, &r, 5000);
      WAIT_RES (&x->l, &r2, 5000);
      int nver = 0, nins = 0;
      char want[64];
      snprintf (want, sizeof want, "/v%s/containers/abc/json", cases[k].want ? cases[k].want : "");
      for (int i = before; i < x->f->n_reqs; i++)
        {
          if (strcmp (x->f->reqs[i].path, "/version") == 0)
            nver++;
          else
            {
              nins++;
              assert_string_equal (x->f->reqs[i].path, want);
            }
        }
      assert_int_equal (nver, 1);
      if (cases[k].want)
        {
          ASSERT_OK (&r);
          ASSERT_OK (&r2);
          assert_int_equal (nins, 2);
          assert_string_equal (docker_client_api_version (x->c), cases[k].want);
        }
      else
        {
          assert_int_not_equal (r.kind, 0);
          assert_int_not_equal (r2.kind, 0);
          assert_int_equal (nins, 0);
          assert_null (docker_client_api_version (x->c));
          assert_non_null (strstr (r.msg, "negotiation"));
        }
      res_reset (&r);
      res_reset (&r2);
    }
}

/* A create with dockerConfig.version asks for max(it, daemon minimum,
   DOCKER_API_MIN); a version the daemon does not serve fails before any
   request, with the text the engine names CannotGetDockerClientVersionError.
   Other calls keep the negotiated version; the start of the container asks
   for what its create asked for. */
static void
test_fake_create_api_version (void **state)
{
  struct fx *x = *state;
  fx_start (x, neg_handler);
  x->f->api = "1.41";
  x->f->min_api = "1.12";
  struct
  {
    const char *want, *path; /* path NULL = refused */
  } cases[] = {
    { NULL, "/v1.41/containers/create" },
    { "1.17", "/v1.24/containers/create" },
    { "1.25", "/v1.25/containers/create" },
    { "1.41", "/v1.41/containers/create" },
    { "1.44", NULL },
  };
  for (size_t k = 0; k < ARRAY_SIZE (cases); k++)
    {
      struct docker_create_opts o = { .image = "busybox", .api_version = cases[k].want };
      int before = x->f->n_reqs;
      struct res r = { 0 };
      docker_container_create (x->c, &o, res_create_cb, &r);
      WAIT_RES (&x->l, &r, 5000);
      int ncreate = 0;
      for (int i = before; i < x->f->n_reqs; i++)
        if (strstr (x->f->reqs[i].path, "/containers/create"))
          {
            ncreate++;
            assert_string_equal (x->f->reqs[i].path, cases[k].path);
          }
      if (cases[k].path)
        {
          ASSERT_OK (&r);
          assert_int_equal (ncreate, 1);
        }
      else
        {
          assert_int_equal (ncreate, 0);
          assert_int_equal (strncmp (r.msg, DOCKER_API_VERSION_MSG_PREFIX,
                                     strlen (DOCKER_API_VERSION_MSG_PREFIX)),
                            0);
        }
      res_reset (&r);
    }
  struct res r = { 0 };
  int before = x->f->n_reqs;
  docker_container_inspect (x->c, "abc", res_inspect_cb, &r);
  WAIT_RES (&x->l, &r, 5000);
  assert_string_equal (x->f->reqs[before].path, "/v1.41/containers/abc/json");
  res_reset (&r);
  /* the start of such a container asks for the version its create asked
     for (upstream's startContainer: WithVersion of the payload's version) */
  for (size_t k = 0; k < ARRAY_SIZE (cases); k++)
    {
      const char *v = cases[k].path ? strchr (cases[k].path + 1, '/') : NULL;
      cleanup_free char *want = v ? xasprintf ("%.*s/containers/s304/start", (int) (v - cases[k].path),
                                               cases[k].path)
                                  : NULL;
      before = x->f->n_reqs;
      docker_container_start_version (x->c, "s304", cases[k].want, res_done_cb, &r);
      WAIT_RES (&x->l, &r, 5000);
      int nstart = 0;
      for (int i = before; i < x->f->n_reqs; i++)
        if (strstr (x->f->reqs[i].path, "/start"))
          {
            nstart++;
            assert_string_equal (x->f->reqs[i].path, want);
          }
      assert_int_equal (nstart, want ? 1 : 0);
      if (!want)
        assert_int_equal (strncmp (r.msg, DOCKER_API_VERSION_MSG_PREFIX, strlen (DOCKER_API_VERSION_MSG_PREFIX)),
                          0);
      res_reset (&r);
    }
}

/* ---- pull streams ------------------------------------------------------ */

static void
trickle_cb (uv_timer_t *t)
{
  struct fconn *c = t->data;
  fconn_chunk (c, "{\"status\":\"Downloading\",\"id\":\"l1\"}\r\n");
}

static void
pull_handler (struct fake *f, struct fconn *c, const struct freq *r)
{
  if (strcmp (r->path, "/version") == 0)
    {
      answer_version (f, c);
      return;
    }
  const char *p = strstr (r->path, "fromImage=");
  if (!p)
    {
      fconn_json (c, 404, "{\"message\":\"?\"}");
      return;
    }
  p += 10;
  if (has_prefix (p, "ok"))
    {
      fconn_stream_begin (c);
      fconn_chunk (c, "{\"status\":\"Pulling from x\",\"id\":\"latest\"}\r\n{\"status\":\"pull ");
      fconn_chunk (c, "complete\"}\r\n");
      fconn_stream_end (c);
    }
  else if (has_prefix (p, "ratelimit"))
    {
      fconn_stream_begin (c);
      fconn_chunk (c, "{\"status\":\"Pulling from x\",\"id\":\"latest\"}\n");
      fconn_chunk (c, "{\"errorDetail\":{\"message\":\"toomanyrequests: Rate exceeded\"},"
                      "\"error\":\"toomanyrequests: Rate exceeded\"}\n");
      fconn_stream_end (c);
    }
  else if (has_prefix (p, "midclose"))
    {
      fconn_stream_begin (c);
      fconn_chunk (c, "{\"status\":\"Pulling from x\",\"id\":\"latest\"}\n{\"status\":\"Downl");
      fconn_write2 (c, "", 0, true); /* close without the final chunk */
    }
  else if (has_prefix (p, "midvalue"))
    {
      /* a clean end of the HTTP stream in the middle of a JSON value */
      fconn_stream_begin (c);
      fconn_chunk (c, "{\"status\":\"Pulling from x\",\"id\":\"latest\"}\n{\"status\":\"Downl");
      fconn_stream_end (c);
    }
  else if (has_prefix (p, "html"))
    {
      fconn_stream_begin (c);
      fconn_chunk (c, "<html>proxy error</html>");
      fconn_stream_end (c);
    }
  else if (has_prefix (p, "notfound"))
    fconn_json (c, 404, "{\"message\":\"pull access denied for notfound, repository does not exist\"}");
  else if (has_prefix (p, "denied"))
    fconn_json (c, 500, "{\"message\":\"Head \\\"https://r/v2/x/manifests/latest\\\": unauthorized: "
                        "incorrect username or password\"}");
  else if (has_prefix (p, "stall"))
    fconn_stream_begin (c); /* headers, then nothing */
  else if (has_prefix (p, "quiet"))
    {
      fconn_stream_begin (c);
      fconn_chunk (c, "{\"status\":\"Pulling from x\",\"id\":\"latest\"}\n");
    }
  else if (has_prefix (p, "trickle"))
    {
      fconn_stream_begin (c);
      fconn_every (c, 100, trickle_cb);
    }
  else
    fconn_json (c, 404, "{\"message\":\"unknown scenario\"}");
}

struct progress
{
  int n;
  char last[128];
  docker_op_t *self; /* cancel itself from the progress callback */
  bool cancel_self;
};

static void
progress_cb (const struct docker_pull_progress *pp, void *data)
{
  struct res *r = data;
  struct progress *p = (struct progress *) r->items[63]; /* smuggled */
  if (!p)
    return;
  p->n++;
  snprintf (p->last, sizeof p->last, "%s", pp->status);
  if (p->cancel_self && p->self)
    {
      docker_op_cancel (p->self);
      p->self = NULL;
    }
}

static docker_op_t *
pull_start (struct fx *x, const char *img, const char *auth, struct res *r, struct progress *p)
{
  res_reset (r);
  r->items[63] = (char *) p;
  struct docker_pull_opts po = { .image = img, .registry_auth = auth, .on_progress = progress_cb };
  return docker_image_pull (x->c, &po, res_done_cb, r);
}

static void
pull_wait (struct fx *x, struct res *r, uint64_t ms)
{
  WAIT_RES (&x->l, r, ms);
  r->items[63] = NULL;
}

static void
test_fake_pull_streams (void **state)
{
  struct fx *x = *state;
  fx_start (x, pull_handler);
  struct res r = { 0 };
  struct progress p = { 0 };

  pull_start (x, "ok", "QUJD", &r, &p);
  pull_wait (x, &r, 5000);
  ASSERT_OK (&r);
  assert_int_equal (p.n, 2);
  assert_string_equal (p.last, "pull complete");
  /* ":latest" added, header sent as given */
  struct freq *q = &x->f->reqs[x->f->n_reqs - 1];
  assert_string_equal (q->method, "POST");
  assert_string_equal (q->path, "/v1.41/images/create?fromImage=ok%3Alatest");
  assert_true (q->has_auth);
  assert_string_equal (q->auth, "QUJD");

  /* no credentials -> no header at all */
  pull_start (x, "ok:2", NULL, &r, NULL);
  pull_wait (x, &r, 5000);
  ASSERT_OK (&r);
  q = &x->f->reqs[x->f->n_reqs - 1];
  assert_string_equal (q->path, "/v1.41/images/create?fromImage=ok%3A2");
  assert_false (q->has_auth);

  /* error line inside a 200 stream */
  pull_start (x, "ratelimit", NULL, &r, NULL);
  pull_wait (x, &r, 5000);
  assert_int_equal (r.kind, ERR_SERVER);
  assert_string_equal (r.msg, "toomanyrequests: Rate exceeded");

  struct
  {
    const char *img;
    int kind; /* 0 = any error */
  } bad[] = {
    { "midclose", 0 },
    { "midvalue", ERR_MALFORMED },
    { "html", ERR_MALFORMED },
    { "notfound", ERR_NOT_FOUND },
    { "denied", ERR_AUTH },
  };
  for (size_t k = 0; k < ARRAY_SIZE (bad); k++)
    {
      pull_start (x, bad[k].img, NULL, &r, NULL);
      pull_wait (x, &r, 5000);
      if (bad[k].kind ? r.kind != bad[k].kind : r.kind == 0)
        fail_msg ("%s: kind %d (%s)", bad[k].img, r.kind, r.msg);
    }

  /* time limits */
  struct docker_timeouts t;
  docker_client_get_timeouts (x->c, &t);
  t.pull_begin_ms = 300;
  t.pull_inactivity_ms = 1000;
  t.pull_total_ms = 1500;
  docker_client_set_timeouts (x->c, &t);

  uint64_t t0 = util_now_ms ();
  pull_start (x, "stall", NULL, &r, NULL);
  pull_wait (x, &r, 5000);
  assert_int_equal (r.kind, ERR_TIMEOUT);
  assert_string_equal (r.msg, "Could not transition to pullBegin; timed out after waiting 300ms");
  assert_true (util_now_ms () - t0 < 1200);

  t0 = util_now_ms ();
  pull_start (x, "quiet", NULL, &r, NULL);
  pull_wait (x, &r, 5000);
  assert_int_equal (r.kind, ERR_TIMEOUT);
  assert_string_equal (r.msg, "inactivity time exceeded timeout while pulling image");
  assert_true (util_now_ms () - t0 >= 900);

  t0 = util_now_ms ();
  pull_start (x, "trickle", NULL, &r, &p);
  pull_wait (x, &r, 5000);
  assert_int_equal (r.kind, ERR_TIMEOUT);
  assert_string_equal (r.msg, "Could not transition to pulled; timed out after waiting 1.5s");
  assert_true (util_now_ms () - t0 >= 1400);

  /* cancel from inside the progress callback: no completion callback */
  memset (&p, 0, sizeof p);
  p.cancel_self = true;
  t.pull_total_ms = 0;
  docker_client_set_timeouts (x->c, &t);
  p.self = pull_start (x, "trickle", NULL, &r, &p);
  WAIT_FOR (&x->l, p.n >= 1 && fake_idle (x->f), 5000);
  assert_int_equal (p.n, 1);
  assert_false (r.done);
  r.items[63] = NULL;

  /* cancel from outside while streaming */
  memset (&p, 0, sizeof p);
  docker_op_t *op = pull_start (x, "trickle", NULL, &r, &p);
  WAIT_FOR (&x->l, p.n >= 1, 5000);
  docker_op_cancel (op);
  int n = p.n;
  WAIT_FOR (&x->l, fake_idle (x->f), 5000);
  assert_int_equal (p.n, n);
  assert_false (r.done);
  r.items[63] = NULL;
  res_reset (&r);
}

/* ---- events ------------------------------------------------------------ */

#define T1 1700000000100000001LL
#define T2 1700000000200000002LL
#define T3 1700000000300000003LL

static char *
ev_json (const char *action, const char *id, int64_t t, const char *exit_code)
{
  return xasprintf ("{\"status\":\"%s\",\"id\":\"%s\",\"Type\":\"container\",\"Action\":\"%s\","
                    "\"Actor\":{\"ID\":\"%s\",\"Attributes\":{\"name\":\"n\"%s%s%s}},"
                    "\"scope\":\"local\",\"time\":%lld,\"timeNano\":%lld}\n",
                    action, id, action, id, exit_code ? ",\"exitCode\":\"" : "",
                    exit_code ? exit_code : "", exit_code ? "\"" : "",
                    (long long) (t / 1000000000LL), (long long) t);
}

static void
send_ev (struct fconn *c, const char *action, const char *id, int64_t t, const char *ec)
{
  char *j = ev_json (action, id, t, ec);
  fconn_chunk (c, j);
  free (j);
}

static void
events_handler (struct fake *f, struct fconn *c, const struct freq *r)
{
  if (strcmp (r->path, "/version") == 0)
    {
      answer_version (f, c);
      return;
    }
  if (!strstr (r->path, "/events?"))
    {
      fconn_json (c, 404, "{\"message\":\"?\"}");
      return;
    }
  int nth = 0;
  for (int i = 0; i < f->n_reqs; i++)
    if (strstr (f->reqs[i].path, "/events?"))
      nth++;
  if (nth != 3)
    fconn_stream_begin (c);
  switch (nth)
    {
    case 1: /* two events, then the daemon goes away */
      send_ev (c, "create", "c1", T1, NULL);
      send_ev (c, "start", "c1", T2, NULL);
      fconn_stream_end (c);
      break;
    case 2: /* replay since T2 (dup), one new event, then garbage */
      send_ev (c, "start", "c1", T2, NULL);
      send_ev (c, "die", "c1", T3, "3");
      send_ev (c, "exec_start: sh", "c1", T3, NULL);
      {
        /* a network event slipping through is ignored */
        fconn_chunk (c, "{\"Type\":\"network\",\"Action\":\"connect\",\"Actor\":{\"ID\":\"n1\"},"
                        "\"timeNano\":1700000000300000004}\n");
        fconn_chunk (c, "{\"Type\":\"container\"}\n"); /* undecodable event: skipped */
        fconn_chunk (c, "this is not json\n");          /* breaks framing: reconnect */
      }
      break;
    case 3: /* HTTP error: retried */
      fconn_json (c, 500, "{\"message\":\"daemon busy\"}");
      break;
    default: /* replay again and stay open */
      send_ev (c, "die", "c1", T3, "3");
      send_ev (c, "destroy", "c1", T3 + 5, NULL);
      if (nth >= 5) /* something new on later connections */
        send_ev (c, "unpause", "c1", T3 + 10 + nth, NULL);
      break;
    }
}

struct evrec
{
  int n;
  char what[32][48];
  int ups, downs;
  char last_err[256];
  bool connected;
  docker_events_t *ev;
  bool stop_in_cb;
  docker_client_t *free_client_in_cb;
};

static void
evrec_event (const struct docker_event *e, void *data)
{
  struct evrec *s = data;
  if (s->n < 32)
    snprintf (s->what[s->n], sizeof s->what[0], "%s %s %d %lld", e->action, e->id, e->exit_code,
              (long long) (e->time_ns % 1000));
  s->n++;
  if (s->stop_in_cb)
    {
      docker_events_stop (s->ev);
      s->ev = NULL;
    }
  if (s->free_client_in_cb)
    {
      docker_client_free (s->free_client_in_cb);
      s->free_client_in_cb = NULL;
    }
}

static void
evrec_state (bool up, agent_error_t err, void *data)
{
  struct evrec *s = data;
  s->connected = up;
  if (up)
    s->ups++;
  else
    {
      s->downs++;
      snprintf (s->last_err, sizeof s->last_err, "%s", err ? err->msg : "");
    }
}

static void
test_fake_events_reconnect (void **state)
{
  struct fx *x = *state;
  fx_start (x, events_handler);
  struct evrec *s = xcalloc (1, sizeof *s);
  struct docker_events_opts eo = { .on_event = evrec_event, .on_state = evrec_state, .data = s,
                                   .backoff_min_ms = 10, .backoff_max_ms = 20 };
  s->ev = docker_events_start (x->c, &eo);
  /* the 4th connection replays die (dropped) and destroy, then stays open */
  WAIT_FOR (&x->l, s->n >= 5 && s->ups == 3, 5000);
  assert_int_equal (s->n, 5);
  assert_string_equal (s->what[0], "create c1 -1 1");
  assert_string_equal (s->what[1], "start c1 -1 2");
  assert_string_equal (s->what[2], "die c1 3 3");
  assert_string_equal (s->what[3], "exec_start: sh c1 -1 3");
  assert_string_equal (s->what[4], "destroy c1 -1 8");
  assert_true (s->connected);
  assert_int_equal (s->ups, 3);   /* 1st, 2nd, 4th connection (3rd got a 500) */
  assert_int_equal (s->downs, 3);

  /* the requests: filters on every one, since= the last delivered event */
  int k = 0;
  const char *want_since[] = { NULL, "since=1700000000.200000002", "since=1700000000.300000003",
                               "since=1700000000.300000003" };
  for (int i = 0; i < x->f->n_reqs; i++)
    {
      const char *p = x->f->reqs[i].path;
      if (!strstr (p, "/events?"))
        continue;
      assert_true (has_prefix (p, "/v1.41/events?filters=%7B%22type%22%3A%5B%22container%22%5D%7D"));
      if (k < 4)
        {
          if (want_since[k])
            assert_non_null (strstr (p, want_since[k]));
          else
            assert_null (strstr (p, "since="));
        }
      k++;
    }
  assert_int_equal (k, 4);

  /* stop from inside the event callback */
  s->stop_in_cb = true;
  docker_events_test_drop (s->ev, 0);
  WAIT_FOR (&x->l, s->ev == NULL, 5000);
  int n = s->n;
  WAIT_FOR (&x->l, fake_idle (x->f), 5000); /* the stopped stream's connection is gone */
  assert_int_equal (s->n, n);
  free (s);

  /* since_ns and label filter on the first request */
  s = xcalloc (1, sizeof *s);
  struct docker_events_opts eo2 = { .since_ns = 5000000007LL, .label_filter = "k=v",
                                    .on_event = evrec_event, .data = s };
  int from = x->f->n_reqs;
  s->ev = docker_events_start (x->c, &eo2);
  WAIT_FOR (&x->l, fake_saw (x->f, from, "/events?"), 5000);
  const char *p = x->f->reqs[x->f->n_reqs - 1].path;
  assert_non_null (strstr (p, "since=5.000000007"));
  assert_non_null (strstr (p, "%22label%22%3A%5B%22k%3Dv%22%5D"));
  /* free the client from inside the event callback */
  s->free_client_in_cb = x->c;
  docker_events_test_drop (s->ev, 0);
  WAIT_FOR (&x->l, s->free_client_in_cb == NULL, 5000);
  x->c = NULL;
  free (s);
}

/* ---- cancel / free / time limits on plain calls ------------------------ */

static void
stall_handler (struct fake *f, struct fconn *c, const struct freq *r)
{
  if (strcmp (r->path, "/version") == 0)
    answer_version (f, c);
  else if (strstr (r->path, "/fast"))
    fconn_json (c, 200, "{\"Id\":\"fast\"}");
  /* else: never answer */
}

struct chain
{
  docker_op_t *victim;
  docker_client_t *free_me;
  struct res r;
};

static void
chain_cb (const struct docker_container_info *i, agent_error_t err, void *data)
{
  struct chain *ch = data;
  res_inspect_cb (i, err, &ch->r);
  if (ch->victim)
    docker_op_cancel (ch->victim);
  if (ch->free_me)
    docker_client_free (ch->free_me);
}

static void
self_cancel_cb (const struct docker_version_info *v, agent_error_t err, void *data)
{
  docker_op_t **self = data;
  (void) v;
  (void) err;
  docker_op_cancel (*self); /* no-op: the callback is already running */
  *self = NULL;
}

static void
test_fake_cancel_free_timeouts (void **state)
{
  struct fx *x = *state;
  fx_start (x, stall_handler);
  struct res r = { 0 }, r2 = { 0 };

  /* per-call time limit */
  struct docker_timeouts t;
  docker_client_get_timeouts (x->c, &t);
  t.inspect_ms = 300;
  docker_client_set_timeouts (x->c, &t);
  docker_container_inspect (x->c, "slow", res_inspect_cb, &r);
  WAIT_RES (&x->l, &r, 3000);
  assert_int_equal (r.kind, ERR_TIMEOUT);
  assert_string_equal (r.msg, "Could not transition to inspecting; timed out after waiting 300ms");

  /* cancel: no callback */
  res_reset (&r);
  docker_op_t *op = docker_container_inspect (x->c, "slow", res_inspect_cb, &r);
  docker_op_cancel (op);
  docker_op_cancel (NULL);
  assert_int_equal (docker_client_active (x->c), 0);
  /* a second one with the same limit, started later, times out later */
  docker_container_inspect (x->c, "slow", res_inspect_cb, &r2);
  WAIT_RES (&x->l, &r2, 3000);
  assert_int_equal (r2.kind, ERR_TIMEOUT);
  assert_false (r.done);
  res_reset (&r2);

  /* cancel a deferred (invalid-argument) op before it completes; deferred
     ops complete in order, so once a later one has, it would have too */
  op = docker_container_start (x->c, NULL, res_done_cb, &r);
  docker_op_cancel (op);
  docker_container_start (x->c, NULL, res_done_cb, &r2);
  WAIT_RES (&x->l, &r2, 3000);
  assert_int_equal (r2.kind, ERR_INVALID);
  assert_false (r.done);
  res_reset (&r2);

  /* cancel from inside the callback of another op */
  struct chain *ch = xcalloc (1, sizeof *ch);
  t.inspect_ms = 10000;
  docker_client_set_timeouts (x->c, &t);
  ch->victim = docker_container_inspect (x->c, "slow", res_inspect_cb, &r2);
  docker_container_inspect (x->c, "fastx", chain_cb, ch);
  WAIT_RES (&x->l, &ch->r, 3000);
  ASSERT_OK (&ch->r);
  WAIT_FOR (&x->l, fake_idle (x->f), 3000); /* the victim's connection is closed */
  assert_false (r2.done);
  res_reset (&ch->r);

  /* docker_op_cancel on itself inside its callback is harmless */
  docker_op_t *self = NULL;
  self = docker_version (x->c, self_cancel_cb, &self);
  WAIT_FOR (&x->l, self == NULL, 3000);

  /* free the client from inside a callback with other calls in flight */
  res_reset (&r);
  memset (ch, 0, sizeof *ch);
  ch->free_me = x->c;
  docker_container_inspect (x->c, "slow", res_inspect_cb, &r);
  docker_container_inspect (x->c, "slow2", res_inspect_cb, &r);
  struct docker_pull_opts po = { .image = "x" };
  docker_image_pull (x->c, &po, res_done_cb, &r);
  docker_container_inspect (x->c, "fasty", chain_cb, ch);
  WAIT_RES (&x->l, &ch->r, 3000);
  x->c = NULL;
  WAIT_FOR (&x->l, fake_idle (x->f), 3000); /* every call's connection is closed */
  assert_false (r.done);
  res_reset (&ch->r);
  free (ch);

  /* free with calls in flight (no callbacks) */
  agent_error_t err = NULL;
  docker_client_t *c = docker_client_new (&x->l.loop, x->f->host, &err);
  docker_container_inspect (c, "slow", res_inspect_cb, &r);
  docker_ping (c, res_done_cb, &r);
  struct evrec s = { 0 };
  struct docker_events_opts eo = { .on_event = evrec_event, .data = &s };
  int from = x->f->n_reqs;
  docker_events_start (c, &eo);
  /* the inspect (after negotiation) and the event stream reach the daemon */
  WAIT_FOR (&x->l, fake_saw (x->f, from, "/containers/slow/json") && fake_saw (x->f, from, "/events?"),
            3000);
  docker_container_stop (c, NULL, 1, res_done_cb, &r); /* deferred error, not yet delivered */
  docker_client_free (c);
  WAIT_FOR (&x->l, fake_idle (x->f), 3000);
  assert_false (r.done);
  res_reset (&r);
  res_reset (&r2);
}

/* ---- Podman: links as /etc/hosts entries (docker/links.h) -------------- */

static void
podman_handler (struct fake *f, struct fconn *c, const struct freq *r)
{
  (void) f;
  const char *p = r->path;
  if (strcmp (p, "/version") == 0)
    fconn_json (c, 200, "{\"Version\":\"4.3.1\",\"ApiVersion\":\"1.41\",\"MinAPIVersion\":\"1.24\","
                        "\"Components\":[{\"Name\":\"Podman Engine\",\"Version\":\"4.3.1\"}]}");
  else if (strstr (p, "/containers/db1/json"))
    fconn_json (c, 200, "{\"Id\":\"d1\",\"Name\":\"/db1\",\"State\":{\"Status\":\"running\",\"Running\":true},"
                        "\"NetworkSettings\":{\"IPAddress\":\"10.88.0.5\"}}");
  else if (strstr (p, "/containers/host1/json"))
    fconn_json (c, 200, "{\"Id\":\"h1\",\"Name\":\"/host1\",\"NetworkSettings\":{\"IPAddress\":\"\"}}");
  else if (strstr (p, "/containers/create"))
    {
      if (strstr (r->body, "\"Links\""))
        fconn_json (c, 400, "{\"message\":\"bad parameter: link is not supported\"}");
      else
        fconn_json (c, 201, "{\"Id\":\"new\",\"Warnings\":[]}");
    }
  else if (strstr (p, "/containers/slow/json"))
    return; /* never answers */
  else
    fconn_json (c, 404, "{\"message\":\"no such container\"}");
}

/* The last create request's body, or NULL. */
static const char *
last_create_body (const struct fake *f, int from)
{
  for (int i = f->n_reqs - 1; i >= from; i--)
    if (strstr (f->reqs[i].path, "/containers/create"))
      return f->reqs[i].body;
  return NULL;
}

static void
test_fake_podman_links (void **state)
{
  struct fx *x = *state;
  fx_start (x, podman_handler);
  struct res r = { 0 };
  docker_version (x->c, res_version_cb, &r);
  WAIT_RES (&x->l, &r, 3000);
  ASSERT_OK (&r);
  assert_true (docker_client_is_podman (x->c));
  res_reset (&r);

  /* the target inspected, then the create with ExtraHosts and no Links */
  const char *links[] = { "db1:database", NULL };
  struct docker_create_opts o = { .name = "app", .image = "busybox", .links = links };
  int from = x->f->n_reqs;
  docker_container_create (x->c, &o, res_create_cb, &r);
  WAIT_RES (&x->l, &r, 3000);
  ASSERT_OK (&r);
  assert_string_equal (r.id, "new");
  assert_true (fake_saw (x->f, from, "/containers/db1/json"));
  const char *body = last_create_body (x->f, from);
  assert_non_null (body);
  assert_null (strstr (body, "Links"));
  assert_non_null (strstr (body, "\"ExtraHosts\":[\"database:10.88.0.5\",\"db1:10.88.0.5\"]"));
  res_reset (&r);

  /* no links: straight to the create */
  from = x->f->n_reqs;
  struct docker_create_opts plain = { .image = "busybox" };
  docker_container_create (x->c, &plain, res_create_cb, &r);
  WAIT_RES (&x->l, &r, 3000);
  ASSERT_OK (&r);
  assert_int_equal (x->f->n_reqs - from, 1);
  res_reset (&r);

  /* a target without an address, a missing target: no create, a reason */
  const char *nohost[] = { "host1:x", NULL }, *missing[] = { "db1:a", "gone:b", NULL };
  const struct
  {
    const char *const *links;
    const char *want;
  } bad[] = { { nohost, "link to host1: the container has no IP address" },
              { missing, "link to gone (on Podman an /etc/hosts entry with its address): " } };
  for (size_t i = 0; i < 2; i++)
    {
      from = x->f->n_reqs;
      o.links = bad[i].links;
      docker_container_create (x->c, &o, res_create_cb, &r);
      WAIT_RES (&x->l, &r, 3000);
      assert_int_equal (r.kind, ERR_CLIENT);
      assert_true (has_prefix (r.msg, bad[i].want));
      assert_null (last_create_body (x->f, from));
      res_reset (&r);
    }

  /* cancelled while its target is being inspected: no callback, the
     inspect's connection closed; and the client freed in the same state */
  const char *slow[] = { "slow:s", NULL };
  o.links = slow;
  from = x->f->n_reqs;
  docker_op_t *op = docker_container_create (x->c, &o, res_create_cb, &r);
  WAIT_FOR (&x->l, fake_saw (x->f, from, "/containers/slow/json"), 3000);
  docker_op_cancel (op);
  assert_int_equal (docker_client_active (x->c), 0);
  WAIT_FOR (&x->l, fake_idle (x->f), 3000);
  from = x->f->n_reqs;
  docker_container_create (x->c, &o, res_create_cb, &r);
  WAIT_FOR (&x->l, fake_saw (x->f, from, "/containers/slow/json"), 3000);
  docker_client_free (x->c);
  x->c = NULL;
  WAIT_FOR (&x->l, fake_idle (x->f), 3000);
  assert_false (r.done);
}

int
main (void)
{
  log_init (LOG_CRIT, NULL, NULL);
  /* The fake daemon writes to sockets the client may have closed (the
     mid-stream tests): a write error, not a death by SIGPIPE, as in the
     agent, which ignores SIGPIPE too (agent/agent.c). */
  signal (SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_fake_garbage, setup, teardown),
    cmocka_unit_test_setup_teardown (test_fake_negotiation, setup, teardown),
    cmocka_unit_test_setup_teardown (test_fake_create_api_version, setup, teardown),
    cmocka_unit_test_setup_teardown (test_fake_pull_streams, setup, teardown),
    cmocka_unit_test_setup_teardown (test_fake_events_reconnect, setup, teardown),
    cmocka_unit_test_setup_teardown (test_fake_cancel_free_timeouts, setup, teardown),
    cmocka_unit_test_setup_teardown (test_fake_podman_links, setup, teardown),
  };
  int rc = cmocka_run_group_tests (tests, NULL, NULL);
  log_close ();
  return rc;
}
