/* test_docker_events.c - the Docker client's event stream against the real
 * Docker Engine (test_docker_fixture.h): start/die events, the action filter
 * and health events, a reconnect that loses no event, an unreachable
 * daemon. */
#include "test_docker_fixture.h"

/* ---- events ------------------------------------------------------------ */

struct evlog
{
  size_t n;
  struct
  {
    enum docker_event_action kind;
    char id[65];
    int exit_code;
    int64_t t;
  } ev[256];
  int ups, downs;
  bool connected;
  int dups;
};

static void
evlog_event_cb (const struct docker_event *e, void *data)
{
  struct evlog *l = data;
  for (size_t i = 0; i < l->n; i++)
    if (l->ev[i].t == e->time_ns && l->ev[i].kind == e->kind && strcmp (l->ev[i].id, e->id) == 0)
      l->dups++;
  if (l->n < 256)
    {
      l->ev[l->n].kind = e->kind;
      snprintf (l->ev[l->n].id, sizeof l->ev[l->n].id, "%s", e->id ? e->id : "");
      l->ev[l->n].exit_code = e->exit_code;
      l->ev[l->n].t = e->time_ns;
      l->n++;
    }
}

static void
evlog_state_cb (bool connected, agent_error_t err, void *data)
{
  struct evlog *l = data;
  l->connected = connected;
  if (connected)
    l->ups++;
  else
    l->downs++;
  (void) err;
}

static int
evlog_find (const struct evlog *l, const char *id, enum docker_event_action k)
{
  int n = 0;
  for (size_t i = 0; i < l->n; i++)
    if (l->ev[i].kind == k && strcmp (l->ev[i].id, id) == 0)
      n++;
  return n;
}

struct ev_wait
{
  struct evlog *l;
  const char *id;
  enum docker_event_action k;
  bool done;
};

static bool
wait_event (struct it *x, struct evlog *l, const char *id, enum docker_event_action k,
            uint64_t timeout_ms)
{
  return TLOOP_UNTIL (&x->l, evlog_find (l, id, k) > 0, timeout_ms);
}

static bool
wait_connected (struct it *x, struct evlog *l, uint64_t timeout_ms)
{
  return tloop_until (&x->l, &l->connected, timeout_ms);
}

static void
test_events_start_die (void **state)
{
  struct it *x = *state;
  struct evlog *l = xcalloc (1, sizeof *l);
  struct docker_events_opts eo = {
    .label_filter = x->label_run,
    .on_event = evlog_event_cb,
    .on_state = evlog_state_cb,
    .data = l,
  };
  docker_events_t *ev = docker_events_start (x->c, &eo);
  assert_false (l->connected); /* connects on the loop */
  assert_true (wait_connected (x, l, 10000));
  assert_true (docker_events_connected (ev));

  struct res r = { 0 };
  struct docker_label labels[2];
  labels_for (x, labels);
  const char *cmd[] = { "sleep", "300", NULL };
  struct docker_create_opts o
      = { .image = test_image (), .cmd = cmd, .labels = labels, .n_labels = 2 };
  char *id = xstrdup (create_sync (x, &o, &r));
  ASSERT_OK (&r);
  start_sync (x, id, &r);
  ASSERT_OK (&r);
  assert_true (wait_event (x, l, id, DOCKER_EV_START, 10000));
  res_reset (&r);
  docker_container_kill (x->c, id, NULL, res_done_cb, &r);
  WAIT_RES (&x->l, &r, 10000);
  ASSERT_OK (&r);
  assert_true (wait_event (x, l, id, DOCKER_EV_DIE, 10000));
  assert_int_equal (evlog_find (l, id, DOCKER_EV_CREATE), 1);
  assert_int_equal (evlog_find (l, id, DOCKER_EV_START), 1);
  assert_int_equal (evlog_find (l, id, DOCKER_EV_KILL), 1);
  for (size_t i = 0; i < l->n; i++)
    if (l->ev[i].kind == DOCKER_EV_DIE)
      assert_int_equal (l->ev[i].exit_code, 137);
  /* order: create < start < die */
  int64_t tc = 0, ts = 0, td = 0;
  for (size_t i = 0; i < l->n; i++)
    {
      if (l->ev[i].kind == DOCKER_EV_CREATE)
        tc = l->ev[i].t;
      if (l->ev[i].kind == DOCKER_EV_START)
        ts = l->ev[i].t;
      if (l->ev[i].kind == DOCKER_EV_DIE)
        td = l->ev[i].t;
    }
  assert_true (tc > 0 && tc <= ts && ts <= td);

  res_reset (&r);
  docker_container_remove (x->c, id, true, true, res_done_cb, &r);
  WAIT_RES (&x->l, &r, 30000);
  ASSERT_OK (&r);
  assert_true (wait_event (x, l, id, DOCKER_EV_DESTROY, 10000));
  assert_int_equal (l->dups, 0);
  docker_events_stop (ev);
  res_reset (&r);
  free (id);
  free (l);
}

struct health_seen
{
  bool done;
  char *status, *output;
  int exit_code;
};

static void
health_seen_cb (const struct docker_container_info *i, agent_error_t err, void *data)
{
  struct health_seen *h = data;
  (void) err;
  h->done = true;
  if (!i)
    return;
  h->status = i->health_status ? xstrdup (i->health_status) : NULL;
  h->output = i->health_output ? xstrdup (i->health_output) : NULL;
  h->exit_code = i->health_exit_code;
}

/* The action filter (what the engine asks for): a health-checked container's
   health_status events come through ("health_status: healthy" matched by
   "health_status"), its exec_* events of every check run and its kill do
   not; the inspect carries the last check's output and exit code. */
static void
test_events_action_filter_health (void **state)
{
  struct it *x = *state;
  struct evlog *l = xcalloc (1, sizeof *l);
  static const char *const actions[] = { "create", "start", "die", "oom", "health_status", NULL };
  struct docker_events_opts eo = {
    .label_filter = x->label_run,
    .actions = actions,
    .on_event = evlog_event_cb,
    .on_state = evlog_state_cb,
    .data = l,
  };
  docker_events_t *ev = docker_events_start (x->c, &eo);
  assert_true (wait_connected (x, l, 10000));
  struct res r = { 0 };
  struct docker_label labels[2];
  labels_for (x, labels);
  const char *cmd[] = { "sleep", "300", NULL };
  struct docker_create_opts o = {
    .image = test_image (), .cmd = cmd, .labels = labels, .n_labels = 2,
    .extra_config_json = "{\"Healthcheck\":{\"Test\":[\"CMD-SHELL\",\"echo checked; exit 0\"],"
                         "\"Interval\":500000000,\"Timeout\":2000000000,\"Retries\":1}}",
  };
  char *id = xstrdup (create_sync (x, &o, &r));
  ASSERT_OK (&r);
  start_sync (x, id, &r);
  ASSERT_OK (&r);
  assert_true (wait_event (x, l, id, DOCKER_EV_HEALTH_STATUS, 20000));
  struct health_seen h = { 0 };
  docker_container_inspect (x->c, id, health_seen_cb, &h);
  assert_true (tloop_until (&x->l, &h.done, 10000));
  assert_string_equal (h.status, "healthy");
  assert_string_equal (h.output, "checked\n");
  assert_int_equal (h.exit_code, 0);
  free (h.status);
  free (h.output);
  res_reset (&r);
  docker_container_kill (x->c, id, NULL, res_done_cb, &r);
  WAIT_RES (&x->l, &r, 10000);
  ASSERT_OK (&r);
  assert_true (wait_event (x, l, id, DOCKER_EV_DIE, 10000));
  for (size_t i = 0; i < l->n; i++)
    if (l->ev[i].kind == DOCKER_EV_OTHER || l->ev[i].kind == DOCKER_EV_KILL)
      fail_msg ("event %zu of kind %d came through the action filter", i, l->ev[i].kind);
  assert_int_equal (evlog_find (l, id, DOCKER_EV_START), 1);
  res_reset (&r);
  docker_container_remove (x->c, id, true, true, res_done_cb, &r);
  WAIT_RES (&x->l, &r, 30000);
  ASSERT_OK (&r);
  docker_events_stop (ev);
  res_reset (&r);
  free (id);
  free (l);
}

/* An inspect started from inside the event callback (what the engine does). */
struct ev_inspect
{
  docker_client_t *c;
  struct res r;
  bool started;
};

static void
ev_inspect_cb (const struct docker_event *e, void *data)
{
  struct ev_inspect *s = data;
  if (e->kind == DOCKER_EV_START && !s->started)
    {
      s->started = true;
      docker_container_inspect (s->c, e->id, res_inspect_cb, &s->r);
    }
}

static void
test_events_reconnect_no_loss (void **state)
{
  struct it *x = *state;
  struct evlog *l = xcalloc (1, sizeof *l);
  struct docker_events_opts eo = {
    .label_filter = x->label_run,
    .on_event = evlog_event_cb,
    .on_state = evlog_state_cb,
    .data = l,
    .backoff_min_ms = 50,
    .backoff_max_ms = 200,
  };
  docker_events_t *ev = docker_events_start (x->c, &eo);
  assert_true (wait_connected (x, l, 10000));

  struct res r = { 0 };
  struct docker_label labels[2];
  labels_for (x, labels);
  const char *cmd[] = { "sleep", "300", NULL };
  struct docker_create_opts o
      = { .image = test_image (), .cmd = cmd, .labels = labels, .n_labels = 2 };
  char *id = xstrdup (create_sync (x, &o, &r));
  ASSERT_OK (&r);
  assert_true (wait_event (x, l, id, DOCKER_EV_CREATE, 10000));

  /* drop the stream and hold the reconnect for 3 s; meanwhile start and
     kill the container */
  docker_events_test_drop (ev, 3000);
  assert_false (docker_events_connected (ev));
  assert_int_equal (l->downs, 1);
  start_sync (x, id, &r);
  ASSERT_OK (&r);
  res_reset (&r);
  docker_container_kill (x->c, id, NULL, res_done_cb, &r);
  WAIT_RES (&x->l, &r, 10000);
  ASSERT_OK (&r);
  size_t before = l->n;
  assert_int_equal (evlog_find (l, id, DOCKER_EV_START), 0); /* still disconnected */

  /* after the reconnect the daemon replays them (since=), exactly once */
  assert_true (wait_event (x, l, id, DOCKER_EV_DIE, 15000));
  assert_true (l->n > before);
  assert_int_equal (l->ups, 2);
  assert_int_equal (evlog_find (l, id, DOCKER_EV_CREATE), 1); /* replayed create dropped */
  assert_int_equal (evlog_find (l, id, DOCKER_EV_START), 1);
  assert_int_equal (evlog_find (l, id, DOCKER_EV_KILL), 1);
  assert_int_equal (evlog_find (l, id, DOCKER_EV_DIE), 1);
  assert_int_equal (l->dups, 0);
  for (size_t i = 0; i < l->n; i++)
    if (l->ev[i].kind == DOCKER_EV_DIE)
      assert_int_equal (l->ev[i].exit_code, 137);

  /* drop again with nothing happening in between: the replay brings no
     duplicates (checked below, once a later event has come through) */
  docker_events_test_drop (ev, 0);
  WAIT_FOR (&x->l, l->ups == 3 && docker_events_connected (ev), 10000);

  /* the engine's pattern: inspect from inside the event callback */
  struct ev_inspect *s = xcalloc (1, sizeof *s);
  s->c = x->c;
  struct docker_events_opts eo2 = { .label_filter = x->label_run, .on_event = ev_inspect_cb, .data = s };
  docker_events_t *ev2 = docker_events_start (x->c, &eo2);
  WAIT_FOR (&x->l, docker_events_connected (ev2), 10000); /* or the start would not be seen */
  start_sync (x, id, &r);
  ASSERT_OK (&r);
  WAIT_RES (&x->l, &s->r, 10000);
  ASSERT_OK (&s->r);
  assert_string_equal (s->r.id, id);
  res_reset (&s->r);
  free (s);

  /* the first stream delivers the new start after whatever the daemon
     replayed on its reconnect: by then a duplicate would have shown */
  WAIT_FOR (&x->l, evlog_find (l, id, DOCKER_EV_START) == 2, 10000);
  assert_int_equal (l->ups, 3);
  assert_int_equal (l->dups, 0);
  docker_events_stop (ev);
  /* leave this stream running: docker_client_free (teardown) stops it */

  res_reset (&r);
  free (id);
  free (l);
}

/* ---- daemon unreachable ------------------------------------------------ */

static void
test_unreachable_daemon (void **state)
{
  struct it *x = *state;
  agent_error_t err = NULL;
  assert_null (docker_client_new (&x->l.loop, "ftp://x", &err));
  assert_int_equal (error_kind (&err), ERR_INVALID);
  error_free (&err);
  assert_null (docker_client_new (&x->l.loop, "unix://relative", &err));
  error_free (&err);

  docker_client_t *c = docker_client_new (&x->l.loop, "unix:///nonexistent/docker.sock", &err);
  assert_non_null (c);
  struct res r = { 0 }, r2 = { 0 };
  docker_ping (c, res_done_cb, &r);
  docker_container_inspect (c, "abc", res_inspect_cb, &r2); /* waits for negotiation, which fails */
  WAIT_RES (&x->l, &r, 5000);
  WAIT_RES (&x->l, &r2, 5000);
  assert_int_equal (r.kind, ERR_UNREACHABLE);
  assert_int_equal (r2.kind, ERR_UNREACHABLE);
  assert_non_null (strstr (r.msg, "/nonexistent/docker.sock"));

  /* an event stream keeps retrying without crashing */
  struct evlog *l = xcalloc (1, sizeof *l);
  struct docker_events_opts eo = { .on_event = evlog_event_cb, .on_state = evlog_state_cb, .data = l,
                                   .backoff_min_ms = 20, .backoff_max_ms = 40 };
  docker_events_start (c, &eo);
  WAIT_FOR (&x->l, l->downs >= 3, 5000);
  assert_int_equal (l->ups, 0);
  docker_client_free (c); /* stops the stream too: no callback after this */
  free (l);
  res_reset (&r);
  res_reset (&r2);

  /* tcp:// form: nothing listens on port 1 */
  c = docker_client_new (&x->l.loop, "tcp://127.0.0.1:1", &err);
  assert_non_null (c);
  docker_ping (c, res_done_cb, &r);
  WAIT_RES (&x->l, &r, 5000);
  assert_int_equal (r.kind, ERR_UNREACHABLE);
  docker_client_free (c);
  res_reset (&r);
}

int
main (void)
{
  log_init (LOG_WARN, NULL, NULL);
  curl_global_init (CURL_GLOBAL_DEFAULT);
  printf ("# test image: %s\n", test_image ());
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_events_action_filter_health, setup, teardown),
    cmocka_unit_test_setup_teardown (test_events_start_die, setup, teardown),
    cmocka_unit_test_setup_teardown (test_events_reconnect_no_loss, setup, teardown),
    cmocka_unit_test_setup_teardown (test_unreachable_daemon, setup, teardown),
  };
  int rc = cmocka_run_group_tests (tests, NULL, NULL);
  log_close ();
  curl_global_cleanup ();
  return rc;
}
