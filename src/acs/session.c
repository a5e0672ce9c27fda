/* acs/session.c - the ACS websocket session on libwebsockets + libuv: public
   API, option defaults, the kick and teardown (see session.h; the other
   parts are listed in session_int.h). */
#include "acs/session_int.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include <stdlib.h>
#include <string.h>

#define FIN_MAX_TURNS 2000 /* loop turns libwebsockets gets to release its handles */

/* Defaults of the options (the upstream agent's values). */
#define DEFAULT_HEARTBEAT_TIMEOUT_MS 60000
#define DEFAULT_HEARTBEAT_JITTER_MS 60000
#define DEFAULT_CONNECTION_TTL_MS (30 * 60000)
#define DEFAULT_CONNECTION_TTL_JITTER_MS (5 * 60000)
#define DEFAULT_BACKOFF_MIN_MS 250
#define DEFAULT_BACKOFF_MAX_MS (2 * 60000)
#define DEFAULT_BACKOFF_MULT 1.5
#define DEFAULT_BACKOFF_JITTER 0.2
#define DEFAULT_CLEAN_RECONNECT_SPREAD_MS 1000
#define DEFAULT_INACTIVE_WAIT_MS (3600 * 1000)
#define DEFAULT_CONNECT_TIMEOUT_MS 30000

void
acs_sess_set_last_error (acs_session_t *s, const char *msg)
{
  free (s->stats.last_error);
  s->stats.last_error = xstrdup (msg);
}

/* ---- teardown ---- */

static void
session_release (acs_session_t *s)
{
  free (s->endpoint_fixed);
  free (s->region);
  free (s->cluster);
  free (s->instance_arn);
  free (s->agent_version);
  free (s->agent_hash);
  free (s->docker_version);
  free (s->ca_file);
  ecs_ws_dial_clear (&s->dial);
  lws_util_handles_free (&s->lws_track);
  free (s->stats.last_error);
  acs_queue_free_waiters (s);
  free (s);
}

static void
own_handle_closed_cb (uv_handle_t *h)
{
  acs_session_t *s = h->data;
  if (--s->open_handles > 0)
    return;
  s->closed_all = true;
  acs_queue_run_flush_waiters (s);
  void (*cb) (void *) = s->stop_cb;
  void *d = s->stop_data;
  s->stop_cb = NULL;
  bool free_now = s->free_requested;
  if (cb)
    cb (d);
  if (free_now)
    session_release (s);
}

static void
close_own_handles (acs_session_t *s)
{
  uv_handle_t *hs[] = { (uv_handle_t *) &s->retry_timer, (uv_handle_t *) &s->hb_timer,
                        (uv_handle_t *) &s->ttl_timer,   (uv_handle_t *) &s->conn_timer,
                        (uv_handle_t *) &s->kick_timer,  (uv_handle_t *) &s->write_timer };
  for (size_t i = 0; i < ARRAY_SIZE (hs); i++)
    {
      hs[i]->data = s;
      uv_close (hs[i], own_handle_closed_cb);
    }
}

/* libwebsockets still owns a connection while one is open or unprocessed. */
static bool
lws_busy_cb (void *data)
{
  acs_session_t *s = data;
  return s->conn || s->ended_conn;
}

static void
lws_done_cb (bool leaked, void *data)
{
  acs_session_t *s = data;
  if (leaked)
    log_warn (ACS_MOD, "libwebsockets did not release its handles; leaking its context");
  close_own_handles (s);
}

static void
teardown (acs_session_t *s)
{
  if (s->torn_down)
    return;
  s->torn_down = true;
  uv_timer_stop (&s->retry_timer);
  uv_timer_stop (&s->hb_timer);
  uv_timer_stop (&s->ttl_timer);
  uv_timer_stop (&s->conn_timer);
  uv_timer_stop (&s->write_timer);
  struct lws_context *ctx = s->ctx;
  s->ctx = NULL;
  lws_util_context_destroy (ctx, s->loop, &s->lws_track, FIN_MAX_TURNS, lws_busy_cb, lws_done_cb,
                            s);
}

/* Work deferred out of libwebsockets' callbacks, run on the next loop turn. */
static void
kick_cb (uv_timer_t *t)
{
  acs_session_t *s = t->data;
  acs_reconnect_process_ended (s);
  acs_queue_run_flush_waiters (s);
  if (s->stopping && !s->torn_down && (!s->conn || s->force_teardown))
    teardown (s);
}

void
acs_sess_kick (acs_session_t *s)
{
  if (s->torn_down && s->closed_all)
    return;
  if (!uv_is_closing ((uv_handle_t *) &s->kick_timer))
    uv_timer_start (&s->kick_timer, kick_cb, 0, 0);
}

/* ---- public ---- */

static void
options_defaults (struct acs_session_options *o)
{
  if (!o->heartbeat_timeout_ms)
    o->heartbeat_timeout_ms = DEFAULT_HEARTBEAT_TIMEOUT_MS;
  if (!o->heartbeat_jitter_ms)
    o->heartbeat_jitter_ms = DEFAULT_HEARTBEAT_JITTER_MS;
  if (!o->connection_ttl_ms)
    o->connection_ttl_ms = DEFAULT_CONNECTION_TTL_MS;
  if (!o->connection_ttl_jitter_ms)
    o->connection_ttl_jitter_ms = DEFAULT_CONNECTION_TTL_JITTER_MS;
  if (!o->backoff_min_ms)
    o->backoff_min_ms = DEFAULT_BACKOFF_MIN_MS;
  if (!o->backoff_max_ms)
    o->backoff_max_ms = DEFAULT_BACKOFF_MAX_MS;
  if (o->backoff_mult <= 0)
    o->backoff_mult = DEFAULT_BACKOFF_MULT;
  if (o->backoff_jitter <= 0)
    o->backoff_jitter = DEFAULT_BACKOFF_JITTER;
  if (!o->clean_reconnect_spread_ms)
    o->clean_reconnect_spread_ms = DEFAULT_CLEAN_RECONNECT_SPREAD_MS;
  if (!o->inactive_wait_ms)
    o->inactive_wait_ms = DEFAULT_INACTIVE_WAIT_MS;
  if (!o->connect_timeout_ms)
    o->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
  if (!o->write_timeout_ms)
    o->write_timeout_ms = ACS_SESSION_WRITE_TIMEOUT_MS;
}

acs_session_t *
acs_session_new (uv_loop_t *loop, const struct acs_session_options *opts, agent_error_t *err)
{
  if (!loop || !opts || !opts->creds || !opts->region || !*opts->region)
    {
      error_set (err, ERR_INVALID, "acs_session_new: loop, credentials and region are required");
      return NULL;
    }
  if (!opts->ecs && !opts->endpoint)
    {
      error_set (err, ERR_INVALID, "acs_session_new: an ECS client or an endpoint is required");
      return NULL;
    }
  acs_session_t *s = xcalloc (1, sizeof *s);
  s->loop = loop;
  s->o = *opts;
  s->h = opts->handlers;
  TAILQ_INIT (&s->flush);
  s->endpoint_fixed = xstrdup (opts->endpoint);
  s->region = xstrdup (opts->region);
  s->cluster = xstrdup (opts->cluster ? opts->cluster : "default");
  s->instance_arn = xstrdup (opts->container_instance_arn ? opts->container_instance_arn : "");
  s->agent_version = xstrdup (opts->agent_version ? opts->agent_version : AGENT_VERSION);
  s->agent_hash = opts->agent_hash ? xstrdup (opts->agent_hash)
                                   : xasprintf ("%s%s", AGENT_GITDIRTY ? "*" : "", AGENT_GITREV);
  s->docker_version = xstrdup (opts->docker_version);
  s->ca_file = xstrdup (opts->ca_file);
  s->dial = (struct ecs_ws_dial){
    .ecs = opts->ecs,
    .creds = opts->creds,
    .instance_arn = s->instance_arn,
    .cluster = s->cluster,
    .endpoint_fixed = s->endpoint_fixed,
    .what = "ACS",
    .stopping = &s->stopping,
    .cb = acs_reconnect_dial_cb,
    .data = s,
  };
  s->o.endpoint = s->o.cluster = s->o.region = s->o.container_instance_arn = NULL;
  s->o.agent_version = s->o.agent_hash = s->o.docker_version = s->o.ca_file = NULL;
  options_defaults (&s->o);
  backoff_init (&s->backoff, s->o.backoff_min_ms, s->o.backoff_max_ms, s->o.backoff_jitter,
                s->o.backoff_mult);
  s->seq_num = opts->seq_num > 0 ? opts->seq_num : 1;

  static bool lws_log_set;
  if (!lws_log_set)
    {
      lws_set_log_level (LLL_ERR | LLL_WARN, acs_lws_log_emit_cb);
      lws_log_set = true;
    }

  s->protocols[0].name = "acs";
  s->protocols[0].callback = acs_lws_cb;
  s->protocols[0].rx_buffer_size = 65536;

  struct lws_context_creation_info info;
  memset (&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = s->protocols;
  info.user = s;
  /* The client vhosts are made on first use (session_lws.c). */
  info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_UV_NO_SIGSEGV_SIGFPE_SPIN
                 | LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
  info.connect_timeout_secs = (unsigned) ((s->o.connect_timeout_ms + 999) / 1000);
  info.timeout_secs = info.connect_timeout_secs;
  s->ctx = lws_util_context_create (loop, &info, &s->lws_track);
  if (!s->ctx)
    {
      error_set (err, ERR_GENERIC, "cannot create the libwebsockets context for ACS");
      session_release (s);
      return NULL;
    }

  uv_timer_t *timers[] = { &s->retry_timer, &s->hb_timer,   &s->ttl_timer,
                           &s->conn_timer,  &s->kick_timer, &s->write_timer };
  for (size_t i = 0; i < ARRAY_SIZE (timers); i++)
    {
      uv_timer_init (loop, timers[i]);
      timers[i]->data = s;
    }
  s->open_handles = (int) ARRAY_SIZE (timers);
  return s;
}

int
acs_session_start (acs_session_t *s, agent_error_t *err)
{
  if (!s || s->stopping)
    return error_set (err, ERR_INVALID, "ACS session is stopped");
  if (s->started)
    return 0;
  s->started = true;
  uv_timer_start (&s->retry_timer, acs_reconnect_retry_cb, 0, 0);
  return 0;
}

void
acs_session_stop (acs_session_t *s, void (*done_cb) (void *data), void *data)
{
  if (!s)
    return;
  if (s->stopping)
    {
      if (done_cb && !s->stop_cb && !s->closed_all)
        {
          s->stop_cb = done_cb;
          s->stop_data = data;
        }
      return;
    }
  s->stopping = true;
  s->stop_cb = done_cb;
  s->stop_data = data;
  acs_reconnect_cancel (s);
  struct acs_conn *c = s->conn;
  if (c && c->established && !c->ended)
    {
      c->close_clean = true;
      acs_conn_request_close (c, LWS_CLOSE_STATUS_NORMAL, "agent stopping");
    }
  else
    {
      if (c && !c->ended && c->wsi)
        lws_set_timeout (c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
      acs_sess_kick (s);
    }
  /* Whatever lws does with the connection, tear down after the grace period. */
  uv_timer_start (&s->conn_timer, acs_reconnect_conn_timer_cb, ACS_CLOSE_GRACE_MS, 0);
}

void
acs_session_free (acs_session_t *s)
{
  if (!s)
    return;
  s->free_requested = true;
  if (!s->stopping)
    acs_session_stop (s, NULL, NULL);
  else if (s->closed_all)
    session_release (s);
}

bool
acs_session_connected (const acs_session_t *s)
{
  return s && s->conn && s->conn->established && !s->conn->ended;
}

const struct acs_session_stats *
acs_session_get_stats (const acs_session_t *s)
{
  return &s->stats;
}

void
acs_session_set_seq_num (acs_session_t *s, int64_t seq)
{
  if (s && seq > s->seq_num)
    s->seq_num = seq;
}

int64_t
acs_session_seq_num (const acs_session_t *s)
{
  return s->seq_num;
}

const char *
acs_session_endpoint (const acs_session_t *s)
{
  return s->dial.endpoint;
}
