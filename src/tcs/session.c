/* tcs/session.c - the TCS session: public API, options, outbound queue,
   publish timer and teardown (see session.h and session_int.h). */
#include "tcs/session_int.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include <stdlib.h>
#include <string.h>

#define FIN_MAX_TURNS 2000
#define CLOSE_GRACE_MS 2000

static void
options_defaults (struct tcs_session_options *o)
{
  if (!o->publish_interval_ms)
    o->publish_interval_ms = 20000;
  if (!o->heartbeat_timeout_ms)
    o->heartbeat_timeout_ms = 60000;
  if (!o->heartbeat_jitter_ms)
    o->heartbeat_jitter_ms = 60000;
  if (!o->connection_ttl_ms)
    o->connection_ttl_ms = 30 * 60000;
  if (!o->connection_ttl_jitter_ms)
    o->connection_ttl_jitter_ms = 5 * 60000;
  if (!o->backoff_min_ms)
    o->backoff_min_ms = 1000;
  if (!o->backoff_max_ms)
    o->backoff_max_ms = 60000;
  if (!o->connect_timeout_ms)
    o->connect_timeout_ms = 30000;
  if (!o->write_timeout_ms)
    o->write_timeout_ms = 3 * 60000;
}

/* ---- outbound queue ---- */

void
tcs_msg_free (struct tcs_msg *m)
{
  if (!m)
    return;
  free (m->json);
  free (m);
}

struct tcs_msg *
tcs_queue_pop (tcs_session_t *s)
{
  struct tcs_msg *m = STAILQ_FIRST (&s->q);
  if (!m)
    return NULL;
  STAILQ_REMOVE_HEAD (&s->q, link);
  s->qn--;
  s->qbytes -= m->len;
  if (s->qn == 0 && s->q_full_logged)
    {
      log_info (TCS_MOD, "telemetry queue drained");
      s->q_full_logged = false;
    }
  return m;
}

void
tcs_session_queue (tcs_session_t *s, char *json)
{
  if (!json)
    return;
  size_t len = strlen (json);
  if (s->stopping || len > TCS_SESSION_MAX_QUEUED_BYTES)
    {
      free (json);
      s->stats.messages_dropped++;
      return;
    }
  while (s->qn >= TCS_SESSION_MAX_QUEUED || s->qbytes + len > TCS_SESSION_MAX_QUEUED_BYTES)
    {
      if (!s->q_full_logged)
        log_warn (TCS_MOD, "telemetry queue full (%zu messages): dropping the oldest", s->qn);
      s->q_full_logged = true;
      tcs_msg_free (tcs_queue_pop (s));
      s->q_full_logged = true;
      s->stats.messages_dropped++;
    }
  struct tcs_msg *m = xcalloc (1, sizeof *m);
  m->json = json;
  m->len = len;
  STAILQ_INSERT_TAIL (&s->q, m, link);
  s->qn++;
  s->qbytes += len;
  tcs_conn_want_write (s);
}

size_t
tcs_session_queued (const tcs_session_t *s)
{
  return s->qn;
}

static void
publish_cb (uv_timer_t *t)
{
  tcs_session_t *s = t->data;
  if (s->stopping)
    return;
  s->stats.publish_rounds++;
  if (s->o.on_publish)
    s->o.on_publish (s, s->o.data);
}

/* ---- teardown ---- */

static void
session_release (tcs_session_t *s)
{
  struct tcs_msg *m;
  while ((m = tcs_queue_pop (s)))
    tcs_msg_free (m);
  free (s->endpoint_fixed);
  free (s->region);
  free (s->cluster);
  free (s->instance_arn);
  free (s->agent_version);
  free (s->agent_hash);
  free (s->docker_version);
  free (s->ca_file);
  ecs_ws_dial_clear (&s->dial);
  lws_util_handles_free (&s->track);
  free (s);
}

static void
own_handle_closed_cb (uv_handle_t *h)
{
  tcs_session_t *s = h->data;
  if (--s->open_handles > 0)
    return;
  s->closed_all = true;
  void (*cb) (void *) = s->stop_cb;
  void *d = s->stop_data;
  s->stop_cb = NULL;
  bool free_now = s->free_requested;
  if (cb)
    cb (d);
  if (free_now)
    session_release (s);
}

static uv_timer_t *
timer_at (tcs_session_t *s, size_t i)
{
  uv_timer_t *ts[] = { &s->retry_timer, &s->hb_timer,   &s->ttl_timer,    &s->conn_timer,
                       &s->kick_timer,  &s->write_timer, &s->publish_timer };
  return i < ARRAY_SIZE (ts) ? ts[i] : NULL;
}

static bool
lws_busy_cb (void *data)
{
  tcs_session_t *s = data;
  return s->conn || s->ended_conn;
}

static void
lws_done_cb (bool leaked, void *data)
{
  tcs_session_t *s = data;
  if (leaked)
    log_warn (TCS_MOD, "libwebsockets did not release its handles; leaking its context");
  uv_timer_t *t;
  for (size_t i = 0; (t = timer_at (s, i)); i++)
    {
      t->data = s;
      uv_close ((uv_handle_t *) t, own_handle_closed_cb);
    }
}

static void
teardown (tcs_session_t *s)
{
  if (s->torn_down)
    return;
  s->torn_down = true;
  uv_timer_t *t;
  for (size_t i = 0; (t = timer_at (s, i)); i++)
    if (t != &s->kick_timer)
      uv_timer_stop (t);
  struct lws_context *ctx = s->ctx;
  s->ctx = NULL;
  lws_util_context_destroy (ctx, s->loop, &s->track, FIN_MAX_TURNS, lws_busy_cb, lws_done_cb, s);
}

static void
kick_cb (uv_timer_t *t)
{
  tcs_session_t *s = t->data;
  tcs_conn_process_ended (s);
  if (s->stopping && !s->torn_down && (!s->conn || s->force_teardown))
    teardown (s);
}

void
tcs_sess_kick (tcs_session_t *s)
{
  if (s->torn_down && s->closed_all)
    return;
  if (!uv_is_closing ((uv_handle_t *) &s->kick_timer))
    uv_timer_start (&s->kick_timer, kick_cb, 0, 0);
}

/* ---- public ---- */

tcs_session_t *
tcs_session_new (uv_loop_t *loop, const struct tcs_session_options *o, agent_error_t *err)
{
  if (!loop || !o || !o->creds || !o->region || !*o->region || (!o->ecs && !o->endpoint))
    {
      error_set (err, ERR_INVALID,
                 "tcs_session_new: loop, credentials, region and ECS client or endpoint required");
      return NULL;
    }
  tcs_session_t *s = xcalloc (1, sizeof *s);
  s->loop = loop;
  s->o = *o;
  STAILQ_INIT (&s->q);
  s->endpoint_fixed = xstrdup (o->endpoint);
  s->region = xstrdup (o->region);
  s->cluster = xstrdup (o->cluster ? o->cluster : "default");
  s->instance_arn = xstrdup (o->container_instance_arn ? o->container_instance_arn : "");
  s->agent_version = xstrdup (o->agent_version ? o->agent_version : AGENT_VERSION);
  s->agent_hash = xstrdup (o->agent_hash ? o->agent_hash : AGENT_GITREV);
  s->docker_version = xstrdup (o->docker_version);
  s->ca_file = xstrdup (o->ca_file);
  s->dial = (struct ecs_ws_dial){
    .ecs = o->ecs,
    .creds = o->creds,
    .instance_arn = s->instance_arn,
    .cluster = s->cluster,
    .endpoint_fixed = s->endpoint_fixed,
    .telemetry = true,
    .what = "TCS",
    .stopping = &s->stopping,
    .cb = tcs_conn_dial_cb,
    .data = s,
  };
  s->o.endpoint = s->o.cluster = s->o.region = s->o.container_instance_arn = NULL;
  s->o.agent_version = s->o.agent_hash = s->o.docker_version = s->o.ca_file = NULL;
  options_defaults (&s->o);
  backoff_init (&s->backoff, s->o.backoff_min_ms, s->o.backoff_max_ms, 0.2, 2.0);

  s->protocols[0].name = "tcs";
  s->protocols[0].callback = tcs_lws_cb;
  s->protocols[0].rx_buffer_size = 4096;
  struct lws_context_creation_info info;
  memset (&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = s->protocols;
  info.user = s;
  info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_UV_NO_SIGSEGV_SIGFPE_SPIN
                 | LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
  info.connect_timeout_secs = (unsigned) ((s->o.connect_timeout_ms + 999) / 1000);
  info.timeout_secs = info.connect_timeout_secs;
  s->ctx = lws_util_context_create (loop, &info, &s->track);
  if (!s->ctx)
    {
      error_set (err, ERR_GENERIC, "cannot create the libwebsockets context for TCS");
      session_release (s);
      return NULL;
    }
  uv_timer_t *t;
  for (size_t i = 0; (t = timer_at (s, i)); i++)
    {
      uv_timer_init (loop, t);
      t->data = s;
      s->open_handles++;
    }
  return s;
}

int
tcs_session_start (tcs_session_t *s, agent_error_t *err)
{
  if (!s || s->stopping)
    return error_set (err, ERR_INVALID, "TCS session is stopped");
  if (s->started)
    return 0;
  s->started = true;
  uv_timer_start (&s->retry_timer, tcs_conn_retry_cb, 0, 0);
  uv_timer_start (&s->publish_timer, publish_cb, 0, s->o.publish_interval_ms);
  return 0;
}

void
tcs_session_stop (tcs_session_t *s, void (*done_cb) (void *data), void *data)
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
  uv_timer_stop (&s->publish_timer);
  tcs_conn_cancel_connecting (s);
  struct tcs_conn *c = s->conn;
  if (c && c->established && !c->ended)
    {
      c->close_clean = true;
      tcs_conn_request_close (c, LWS_CLOSE_STATUS_NORMAL, "agent stopping");
    }
  else
    {
      if (c && !c->ended && c->wsi)
        lws_set_timeout (c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
      tcs_sess_kick (s);
    }
  uv_timer_start (&s->conn_timer, tcs_conn_grace_cb, CLOSE_GRACE_MS, 0);
}

void
tcs_session_free (tcs_session_t *s)
{
  if (!s)
    return;
  s->free_requested = true;
  if (!s->stopping)
    tcs_session_stop (s, NULL, NULL);
  else if (s->closed_all)
    session_release (s);
}

bool
tcs_session_connected (const tcs_session_t *s)
{
  return s && s->conn && s->conn->established && !s->conn->ended;
}

const struct tcs_session_stats *
tcs_session_get_stats (const tcs_session_t *s)
{
  return &s->stats;
}

void
tcs_session_disconnect (tcs_session_t *s, const char *why)
{
  struct tcs_conn *c = s ? s->conn : NULL;
  if (!c || c->ended)
    return;
  tcs_conn_set_err (c, ERR_UNREACHABLE, why ? why : "disconnected");
  tcs_conn_request_close (c, LWS_CLOSE_STATUS_NORMAL, why ? why : "");
}
