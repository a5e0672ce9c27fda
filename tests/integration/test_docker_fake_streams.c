/* test_docker_fake_streams.c - the Docker client's streams against a tiny
 * fake daemon (test_docker_fake_daemon.h): pull progress streams and the
 * X-Registry-Auth header, event-stream reconnects with since= and
 * de-duplication, stalls (time limits), cancel / free from inside callbacks.
 * Needs no Docker; run it under SAN=1 for the leak check.
 */
#include "test_docker_fake_daemon.h"

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

int
main (void)
{
  log_init (LOG_CRIT, NULL, NULL);
  /* The fake daemon writes to sockets the client may have closed (the
     mid-stream tests): a write error, not a death by SIGPIPE, as in the
     agent, which ignores SIGPIPE too (agent/agent.c). */
  signal (SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_fake_pull_streams, setup, teardown),
    cmocka_unit_test_setup_teardown (test_fake_events_reconnect, setup, teardown),
    cmocka_unit_test_setup_teardown (test_fake_cancel_free_timeouts, setup, teardown),
  };
  int rc = cmocka_run_group_tests (tests, NULL, NULL);
  log_close ();
  return rc;
}
