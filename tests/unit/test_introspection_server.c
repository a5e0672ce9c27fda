/* Unit tests for the introspection server on 127.0.0.1
 * (test_introspection_fixture.h) with raw uv_tcp clients: 1000 idle
 * connections, running out of descriptors, read timeouts, 64 KiB headers,
 * bad configuration, busy address with and without retry, a malformed body,
 * slow readers, clean shutdown with clients connected. */
#include "test_introspection_fixture.h"

/* --- raw clients --- */

struct raw
{
  uv_tcp_t tcp;
  uv_connect_t creq;
  uv_write_t wreq;
  bool connected, failed, eof, closed, got_data;
  size_t got; /* bytes received */
  uint64_t eof_at;
  char buf[256];
  int *n_eof;
};

static void
raw_alloc (uv_handle_t *hd, size_t sz, uv_buf_t *b)
{
  (void) sz;
  struct raw *r = hd->data;
  *b = uv_buf_init (r->buf, sizeof r->buf);
}

static void
raw_closed (uv_handle_t *hd)
{
  struct raw *r = hd->data;
  r->closed = true;
}

static void
raw_read (uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
  (void) b;
  struct raw *r = s->data;
  if (n > 0)
    {
      r->got_data = true;
      r->got += (size_t) n;
    }
  if (n < 0)
    {
      if (!r->eof && r->n_eof)
        (*r->n_eof)++;
      r->eof = true;
      r->eof_at = util_now_ms ();
      uv_read_stop (s);
    }
}

static void
raw_connected (uv_connect_t *req, int status)
{
  struct raw *r = req->data;
  if (status < 0)
    {
      r->failed = true;
      return;
    }
  r->connected = true;
  uv_read_start ((uv_stream_t *) &r->tcp, raw_alloc, raw_read);
}

static void
raw_connect (uv_loop_t *loop, struct raw *r, int port, int *n_eof)
{
  memset (r, 0, sizeof *r);
  r->n_eof = n_eof;
  uv_tcp_init (loop, &r->tcp);
  r->tcp.data = r;
  r->creq.data = r;
  struct sockaddr_in sa;
  uv_ip4_addr ("127.0.0.1", port, &sa);
  assert_int_equal (uv_tcp_connect (&r->creq, &r->tcp, (struct sockaddr *) &sa, raw_connected), 0);
}

static void
raw_send (struct raw *r, const char *data, size_t len)
{
  uv_buf_t b = uv_buf_init ((char *) data, len);
  /* small writes: uv_try_write suffices on loopback */
  int n = uv_try_write ((uv_stream_t *) &r->tcp, &b, 1);
  (void) n;
}

static void
raw_close (struct raw *r)
{
  if (!uv_is_closing ((uv_handle_t *) &r->tcp))
    uv_close ((uv_handle_t *) &r->tcp, raw_closed);
}

struct count_arg
{
  struct raw *raws;
  size_t n;
  size_t want;
};

static bool
all_connected (void *arg)
{
  struct count_arg *c = arg;
  size_t k = 0;
  for (size_t i = 0; i < c->n; i++)
    k += c->raws[i].connected || c->raws[i].failed;
  return k >= c->n;
}

struct eof_arg
{
  int *n_eof;
  int want;
};

static bool
enough_eof (void *arg)
{
  struct eof_arg *e = arg;
  return *e->n_eof >= e->want;
}

static void
raise_nofile (size_t need)
{
  struct rlimit rl;
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need)
    {
      rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
      setrlimit (RLIMIT_NOFILE, &rl);
    }
}

static size_t
nofile_limit (void)
{
  struct rlimit rl;
  getrlimit (RLIMIT_NOFILE, &rl);
  return rl.rlim_cur;
}

static unsigned long loop_turns;

static void
count_turn_cb (uv_check_t *c)
{
  (void) c;
  loop_turns++;
}

static bool
time_passed (void *arg)
{
  return util_now_ms () >= *(uint64_t *) arg;
}

static bool
all_answered (void *arg)
{
  struct count_arg *c = arg;
  for (size_t i = 0; i < c->n; i++)
    if (!c->raws[i].got_data)
      return false;
  return true;
}

static size_t
count_substr (const char *text, const char *needle)
{
  size_t n = 0;
  for (const char *p = text; (p = strstr (p, needle)); p += strlen (needle))
    n++;
  return n;
}

/* The descriptors the test below uses up, given back by its teardown too,
   so that a failed assertion does not starve the tests after it. */
static struct
{
  int *fd;
  size_t n;
  struct rlimit saved;
  bool lowered;
} filler;

static void
filler_release (void)
{
  while (filler.n > 0)
    close (filler.fd[--filler.n]);
  free (filler.fd);
  filler.fd = NULL;
  if (filler.lowered)
    setrlimit (RLIMIT_NOFILE, &filler.saved);
  filler.lowered = false;
}

static int
filler_teardown (void **state)
{
  (void) state;
  filler_release ();
  log_init (LOG_WARN, NULL, NULL); /* the test logged to a file */
  return 0;
}

/* Out of descriptors while clients wait: accept() fails with EMFILE.  The
   listening socket is no longer polled and accepting is retried with
   back-off (the loop does not spin: lws' own listener turned the loop
   ~78,000 times a second, logging each failure), the condition is logged
   once and its end once, and the waiting clients are answered once
   descriptors are back. */
static void
test_server_out_of_descriptors (void **state)
{
  (void) state;
  enum { N_CLIENTS = 4 };
  char dir[] = "/tmp/ecs-intro-fd-XXXXXX";
  assert_non_null (mkdtemp (dir));
  cleanup_free char *logfile = xasprintf ("%s/agent.log", dir);
  agent_error_t err = NULL;
  assert_int_equal (log_init (LOG_WARN, logfile, &err), 0);

  struct harness h;
  harness_init (&h);
  struct introspection_config cfg = local_cfg ();
  h.srv = harness_start (&h, &cfg);
  int port = introspection_port (h.srv);
  uv_check_t check;
  uv_check_init (&h.loop, &check);
  uv_check_start (&check, count_turn_cb);

  /* Use up every descriptor under a small limit but N_CLIENTS, which the
     clients take. */
  struct rlimit low;
  getrlimit (RLIMIT_NOFILE, &filler.saved);
  low = filler.saved;
  if (low.rlim_cur > 512)
    low.rlim_cur = 512;
  assert_int_equal (setrlimit (RLIMIT_NOFILE, &low), 0);
  filler.lowered = true;
  filler.fd = xcalloc (low.rlim_cur, sizeof *filler.fd);
  int fd;
  while ((fd = dup (0)) >= 0)
    filler.fd[filler.n++] = fd;
  assert_int_equal (errno, EMFILE);
  assert_true (filler.n >= N_CLIENTS);
  /* (libuv keeps one descriptor in reserve once a stream exists) */
  for (int i = 0; i < N_CLIENTS + 1; i++)
    close (filler.fd[--filler.n]);
  struct raw raws[N_CLIENTS];
  int n_eof = 0;
  for (int i = 0; i < N_CLIENTS; i++)
    raw_connect (&h.loop, &raws[i], port, &n_eof);
  while ((fd = dup (0)) >= 0)
    filler.fd[filler.n++] = fd;
  struct count_arg ca = { raws, N_CLIENTS, N_CLIENTS };
  assert_true (run_until (&h, all_connected, &ca, 5000));
  static const char req[] = "GET /v1/metadata HTTP/1.1\r\nHost: x\r\n\r\n";
  for (int i = 0; i < N_CLIENTS; i++)
    {
      assert_true (raws[i].connected);
      raw_send (&raws[i], req, sizeof req - 1);
    }

  /* One second without descriptors: a few accept attempts, not a spin. */
  loop_turns = 0;
  uint64_t until = util_now_ms () + 1000;
  run_until (&h, time_passed, &until, 2000);
  unsigned long failures = introspection_accept_failures (h.srv);
  print_message ("out of descriptors for 1 s: %lu loop turns, %lu failed accepts\n", loop_turns,
                 failures);
  assert_true (failures >= 1);
  assert_true (failures <= 12);
  assert_true (loop_turns < 200); /* the 20 ms tick alone makes ~50 */
  for (int i = 0; i < N_CLIENTS; i++)
    assert_false (raws[i].got_data);

  /* Descriptors back: every waiting client is answered. */
  filler_release ();
  assert_true (run_until (&h, all_answered, &ca, 10000));
  for (int i = 0; i < N_CLIENTS; i++)
    raw_close (&raws[i]);
  uv_close ((uv_handle_t *) &check, NULL);
  harness_finish (&h);

  log_close ();
  cleanup_free char *cmd = xasprintf ("cat %s/agent.log.* > %s/all.log", dir, dir);
  assert_int_equal (system (cmd), 0);
  cleanup_free char *all = xasprintf ("%s/all.log", dir);
  cleanup_free char *text = NULL;
  assert_int_equal (util_read_file (all, &text, NULL, &err), 0);
  assert_int_equal (count_substr (text, "cannot accept introspection connections"), 1);
  assert_int_equal (count_substr (text, "accepting introspection connections again"), 1);
  assert_int_equal (count_substr (text, "errno 24"), 0);
  cleanup_free char *rm = xasprintf ("rm -rf '%s'", dir);
  assert_int_equal (system (rm), 0);
  log_init (LOG_WARN, NULL, NULL);
}

/* 1000 clients connect and say nothing; a real request still gets a prompt
   answer and the server never holds more than the limit. */
static void
test_server_idle_flood (void **state)
{
  (void) state;
  size_t n = 1000;
  raise_nofile (2 * n + 256);
  if (nofile_limit () < 2 * n + 128)
    n = (nofile_limit () - 128) / 2;
  struct harness h;
  harness_init (&h);
  struct introspection_config cfg = local_cfg ();
  cfg.max_connections = 200;
  h.srv = harness_start (&h, &cfg);
  int port = introspection_port (h.srv);
  struct raw *raws = xcalloc (n, sizeof *raws);
  int n_eof = 0;
  for (size_t i = 0; i < n; i++)
    raw_connect (&h.loop, &raws[i], port, &n_eof);
  struct count_arg ca = { raws, n, n };
  assert_true (run_until (&h, all_connected, &ca, 20000));
  /* let the server accept what it will */
  struct eof_arg ea = { &n_eof, (int) (n - cfg.max_connections) };
  assert_true (run_until (&h, enough_eof, &ea, 20000));
  assert_true (introspection_connections (h.srv) <= cfg.max_connections + 1);

  uint64_t t0 = util_now_ms ();
  struct fetch f;
  fetch (&h, port, "/v1/metadata", &f);
  uint64_t dt = util_now_ms () - t0;
  assert_int_equal (f.err_kind, 0);
  assert_int_equal (f.status, 200);
  fetch_free (&f);
  print_message ("idle flood: %zu clients, %d closed by the server, request answered in %llu ms\n",
                 n, n_eof, (unsigned long long) dt);
  assert_true (dt < 1000);
  assert_true (introspection_connections (h.srv) <= cfg.max_connections + 1);
  for (size_t i = 0; i < n; i++)
    assert_false (raws[i].got_data);
  for (size_t i = 0; i < n; i++)
    raw_close (&raws[i]);
  harness_finish (&h);
  free (raws);
}

/* A client that sends nothing, or dribbles a header, is cut off after the
   read timeout; a connection that never ends its head never gets an answer. */
static void
test_server_read_timeout (void **state)
{
  (void) state;
  struct harness h;
  harness_init (&h);
  struct introspection_config cfg = local_cfg ();
  cfg.read_timeout_s = 1;
  h.srv = harness_start (&h, &cfg);
  int port = introspection_port (h.srv);
  int n_eof = 0;
  struct raw silent, slow, body;
  raw_connect (&h.loop, &silent, port, &n_eof);
  raw_connect (&h.loop, &slow, port, &n_eof);
  raw_connect (&h.loop, &body, port, &n_eof);
  struct raw arr[3];
  (void) arr;
  uint64_t t0 = util_now_ms ();
  while (!(silent.connected && slow.connected && body.connected))
    uv_run (&h.loop, UV_RUN_ONCE);
  raw_send (&slow, "GET /v1/metadata HTTP/1.1\r\n", 27);
  static const char post[] = "POST /v1/metadata HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc";
  raw_send (&body, post, sizeof post - 1);
  /* one header byte every 100 ms: never completes within the timeout */
  static const char drip[] = "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
  size_t di = 0;
  while (util_now_ms () - t0 < 6000 && !(silent.eof && slow.eof && body.eof))
    {
      uv_run (&h.loop, UV_RUN_ONCE);
      if (!slow.eof && di < sizeof drip - 1 && util_now_ms () - t0 > 100 * (di + 1))
        raw_send (&slow, &drip[di++], 1);
    }
  assert_true (silent.eof);
  assert_true (slow.eof);
  assert_true (body.eof);
  print_message ("timeouts: silent %llu ms, slow header %llu ms, slow body %llu ms\n",
                 (unsigned long long) (silent.eof_at - t0), (unsigned long long) (slow.eof_at - t0),
                 (unsigned long long) (body.eof_at - t0));
  assert_true (silent.eof_at - t0 < 4000);
  assert_true (slow.eof_at - t0 < 4000);
  assert_true (body.eof_at - t0 < 4000);
  assert_false (slow.got_data);
  assert_false (body.got_data);
  raw_close (&silent);
  raw_close (&slow);
  raw_close (&body);
  /* the server is still fine */
  struct fetch f;
  fetch (&h, port, "/v1/metadata", &f);
  assert_int_equal (f.status, 200);
  fetch_free (&f);
  harness_finish (&h);
}

static void
test_server_huge_header_rejected (void **state)
{
  (void) state;
  struct harness h;
  harness_init (&h);
  struct introspection_config cfg = local_cfg ();
  h.srv = harness_start (&h, &cfg);
  int port = introspection_port (h.srv);
  char *big = xmalloc (65536 + 1);
  memset (big, 'a', 65536);
  big[65536] = 0;
  struct http_header hdr = { "X-Big", big };
  struct fetch f;
  fetch_ex (&h, port, NULL, "/v1/metadata", &hdr, 1, NULL, &f);
  /* closed without an answer (curl: empty reply / recv error) or an error status */
  assert_true (f.err_kind != 0 || f.status >= 400);
  assert_true (f.status != 200);
  fetch_free (&f);
  /* just under the limit is fine */
  big[6000] = 0;
  fetch_ex (&h, port, NULL, "/v1/metadata", &hdr, 1, NULL, &f);
  assert_int_equal (f.status, 200);
  fetch_free (&f);
  /* 16 KiB headers in many small lines are rejected too */
  struct http_header many[64];
  char names[64][16];
  big[250] = 0;
  for (int i = 0; i < 64; i++)
    {
      snprintf (names[i], sizeof names[i], "X-H%d", i);
      many[i].name = names[i];
      many[i].value = big;
    }
  fetch_ex (&h, port, NULL, "/v1/metadata", many, 64, NULL, &f);
  assert_true (f.status != 200);
  fetch_free (&f);
  free (big);
  fetch (&h, port, "/v1/metadata", &f);
  assert_int_equal (f.status, 200);
  fetch_free (&f);
  harness_finish (&h);
}

static void
test_server_bad_config (void **state)
{
  (void) state;
  uv_loop_t loop;
  uv_loop_init (&loop);
  struct introspection_provider p = fake_provider (&the_fake);
  introspection_server_t *s = (void *) 1;
  agent_error_t err = NULL;
  struct introspection_config cfg = local_cfg ();
  cfg.listen_addr = "localhost";
  assert_true (introspection_start (&loop, &cfg, &p, &s, &err) < 0);
  assert_int_equal (error_kind (&err), ERR_INVALID);
  assert_null (s);
  error_free (&err);
  cfg.listen_addr = "127.0.0.1";
  cfg.port = 70000;
  assert_true (introspection_start (&loop, &cfg, &p, &s, &err) < 0);
  assert_int_equal (error_kind (&err), ERR_INVALID);
  error_free (&err);
  cfg.port = 0;
  struct introspection_provider none = { 0 };
  assert_true (introspection_start (&loop, &cfg, &none, &s, &err) < 0);
  assert_int_equal (error_kind (&err), ERR_INVALID);
  error_free (&err);
  introspection_stop (NULL, NULL, NULL);
  assert_int_equal (introspection_port (NULL), 0);
  assert_int_equal (uv_run (&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal (uv_loop_close (&loop), 0);
}

struct port_arg
{
  introspection_server_t *s;
  int port;
};

static bool
listening_on (void *arg)
{
  struct port_arg *pa = arg;
  return introspection_port (pa->s) == pa->port;
}

/* Two servers (two lws contexts) on one loop; a busy address fails fast with
   no_retry, and is retried (then taken over) without it. */
static void
test_server_busy_address (void **state)
{
  (void) state;
  struct harness h;
  harness_init (&h);
  struct introspection_config cfg = local_cfg ();
  h.srv = harness_start (&h, &cfg);
  int port = introspection_port (h.srv);

  struct introspection_provider p = fake_provider (&h.fake);
  agent_error_t err = NULL;
  introspection_server_t *b = NULL;
  struct introspection_config cb = local_cfg ();
  cb.port = port;
  assert_true (introspection_start (&h.loop, &cb, &p, &b, &err) < 0);
  assert_int_equal (error_kind (&err), ERR_CONFLICT);
  assert_null (b);
  error_free (&err);

  cb.no_retry = false;
  assert_int_equal (introspection_start (&h.loop, &cb, &p, &b, &err), 0);
  assert_non_null (b);
  assert_int_equal (introspection_port (b), 0);

  /* a second server with its own port works alongside */
  struct introspection_config cc = local_cfg ();
  introspection_server_t *c = NULL;
  assert_int_equal (introspection_start (&h.loop, &cc, &p, &c, &err), 0);
  struct fetch f;
  fetch (&h, introspection_port (c), "/v1/metadata", &f);
  assert_int_equal (f.status, 200);
  fetch_free (&f);
  fetch (&h, port, "/v1/metadata", &f);
  assert_int_equal (f.status, 200);
  fetch_free (&f);

  /* the first server goes away: b takes the port after its back-off */
  bool a_stopped = false;
  introspection_stop (h.srv, stopped_cb, &a_stopped);
  h.srv = b;
  assert_true (run_until (&h, flag_set, &a_stopped, 5000));
  struct port_arg pa = { b, port };
  assert_true (run_until (&h, listening_on, &pa, 5000));
  fetch (&h, port, "/v1/tasks?taskarn=" ARN1, &f);
  assert_int_equal (f.status, 200);
  fetch_free (&f);

  bool c_stopped = false;
  introspection_stop (c, stopped_cb, &c_stopped);
  harness_finish (&h);
  assert_true (c_stopped);
}

/* A malformed request once made lws repeat BODY_COMPLETION and the server
   answered it forever (fuzz/regressions/introspection_http/): now the
   connection is closed and the output stays small. */
static void
test_server_malformed_body_no_loop (void **state)
{
  (void) state;
  struct harness h;
  harness_init (&h);
  struct introspection_config cfg = local_cfg ();
  h.srv = harness_start (&h, &cfg);
  int port = introspection_port (h.srv);
  static const char evil[] = "POST /v1/t1%3A\r\nContent-Length: 5\r\n\r\n\xff\xff\xff\xbfhello";
  struct raw r;
  raw_connect (&h.loop, &r, port, NULL);
  while (!r.connected)
    uv_run (&h.loop, UV_RUN_ONCE);
  raw_send (&r, evil, sizeof evil - 1);
  uv_shutdown_t sreq;
  uv_shutdown (&sreq, (uv_stream_t *) &r.tcp, NULL);
  uint64_t t0 = util_now_ms ();
  while (!r.eof && util_now_ms () - t0 < 3000)
    uv_run (&h.loop, UV_RUN_ONCE);
  assert_true (r.eof);
  assert_true (r.got < 4096);
  assert_true (introspection_requests (h.srv) <= 2);
  raw_close (&r);
  harness_finish (&h);
}

/* A client that asks for a big answer and never reads it is cut off after
   the timeout; the server does not hold the connection (or its buffer). */
static void
test_server_slow_reader (void **state)
{
  (void) state;
  struct harness h;
  harness_init (&h);
  size_t n = 20000;
  struct introspection_task *tasks = xcalloc (n, sizeof *tasks);
  for (size_t i = 0; i < n; i++)
    tasks[i] = fake_tasks[0];
  h.fake.tasks = tasks;
  h.fake.n = n;
  struct introspection_config cfg = local_cfg ();
  cfg.read_timeout_s = 1;
  h.srv = harness_start (&h, &cfg);
  int port = introspection_port (h.srv);
  struct raw r;
  memset (&r, 0, sizeof r);
  uv_tcp_init (&h.loop, &r.tcp);
  r.tcp.data = &r;
  r.creq.data = &r;
  struct sockaddr_in sa;
  uv_ip4_addr ("127.0.0.1", port, &sa);
  /* connect without reading: raw_connected would start reading */
  assert_int_equal (uv_tcp_connect (&r.creq, &r.tcp, (struct sockaddr *) &sa, NULL), 0);
  uint64_t t0 = util_now_ms ();
  while (introspection_connections (h.srv) == 0 && util_now_ms () - t0 < 3000)
    uv_run (&h.loop, UV_RUN_ONCE);
  int rcv = 4096;
  uv_recv_buffer_size ((uv_handle_t *) &r.tcp, &rcv);
  static const char get_tasks[] = "GET /v1/tasks HTTP/1.1\r\nHost: x\r\n\r\n";
  raw_send (&r, get_tasks, sizeof get_tasks - 1);
  /* (the bound is generous: building 20,000 tasks under ASan on a loaded
     machine takes seconds before the 1 s write timeout starts) */
  t0 = util_now_ms ();
  while (introspection_connections (h.srv) > 0 && util_now_ms () - t0 < 20000)
    uv_run (&h.loop, UV_RUN_ONCE);
  print_message ("slow reader dropped after %llu ms\n", (unsigned long long) (util_now_ms () - t0));
  assert_int_equal (introspection_connections (h.srv), 0);
  raw_close (&r);
  harness_finish (&h);
  free (tasks);
}

/* Stop while clients are connected and mid-request: everything is released
   (ASan/LSan builds check the memory, harness_finish the loop). */
static void
test_server_stop_with_clients (void **state)
{
  (void) state;
  struct harness h;
  harness_init (&h);
  struct introspection_config cfg = local_cfg ();
  h.srv = harness_start (&h, &cfg);
  int port = introspection_port (h.srv);
  int n_eof = 0;
  struct raw r[5];
  for (int i = 0; i < 5; i++)
    raw_connect (&h.loop, &r[i], port, &n_eof);
  struct count_arg ca = { r, 5, 5 };
  assert_true (run_until (&h, all_connected, &ca, 5000));
  raw_send (&r[0], "GET /v1/tasks HTTP/1.1\r\nHost: x\r\n", 33);
  for (int i = 0; i < 20; i++)
    uv_run (&h.loop, UV_RUN_NOWAIT);
  bool stopped = false;
  introspection_stop (h.srv, stopped_cb, &stopped);
  introspection_stop (h.srv, NULL, NULL); /* second call: no-op */
  h.srv = NULL;
  assert_true (run_until (&h, flag_set, &stopped, 5000));
  struct eof_arg ea = { &n_eof, 5 };
  assert_true (run_until (&h, enough_eof, &ea, 5000));
  for (int i = 0; i < 5; i++)
    raw_close (&r[i]);
  harness_finish (&h);
}

int
main (void)
{
  lws_set_log_level (LLL_ERR, NULL);
  signal (SIGPIPE, SIG_IGN);
  log_init (LOG_WARN, NULL, NULL);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_server_idle_flood),
    cmocka_unit_test_teardown (test_server_out_of_descriptors, filler_teardown),
    cmocka_unit_test (test_server_read_timeout),
    cmocka_unit_test (test_server_huge_header_rejected),
    cmocka_unit_test (test_server_bad_config),
    cmocka_unit_test (test_server_busy_address),
    cmocka_unit_test (test_server_stop_with_clients),
    cmocka_unit_test (test_server_malformed_body_no_loop),
    cmocka_unit_test (test_server_slow_reader),
  };
  int r = cmocka_run_group_tests (tests, NULL, NULL);
  log_close ();
  return r;
}
