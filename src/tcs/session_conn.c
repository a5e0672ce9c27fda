/* tcs/session_conn.c - one TCS connection: the libwebsockets callback, the
   signed connect, heartbeat / TTL / connect / write timers, the end of a
   connection and the reconnect (see session_int.h). */
#include "acs/url.h"
#include "aws/ws_client.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include "tcs/codec.h"
#include "tcs/session_int.h"
#include <stdlib.h>
#include <string.h>

#define EXPIRED_REASON "ConnectionExpired: Reconnect to continue"

static uint64_t
jitter (uint64_t base, uint64_t range)
{
  return aws_ws_jitter (base, range, util_random_unit ());
}

static void
conn_free (struct tcs_conn *c)
{
  if (!c)
    return;
  aws_ws_headers_free (c->hs, c->n_hs);
  free (c->url);
  free (c->close_reason);
  free (c->want_close_reason);
  sbuf_free (&c->rx);
  error_free (&c->err);
  free (c);
}

void
tcs_conn_set_err (struct tcs_conn *c, int kind, const char *msg)
{
  if (!c->err)
    error_set (&c->err, kind, "%s", msg);
}

void
tcs_conn_request_close (struct tcs_conn *c, int code, const char *reason)
{
  if (!c || c->ended)
    return;
  aws_ws_request_close (c->wsi, c->established, &c->want_close_code, &c->want_close_reason, code,
                        reason);
}

/* ---- timers ---- */

static void
hb_timer_cb (uv_timer_t *t)
{
  tcs_session_t *s = t->data;
  struct tcs_conn *c = s->conn;
  if (!c || !c->established || c->ended)
    return;
  s->stats.heartbeat_timeouts++;
  log_warn (TCS_MOD, "no message from TCS within the heartbeat timeout; reconnecting");
  c->close_clean = true; /* upstream closes with 1000 and reconnects at once */
  tcs_conn_request_close (c, LWS_CLOSE_STATUS_NORMAL, EXPIRED_REASON);
}

static void
rearm_heartbeat (tcs_session_t *s)
{
  uv_timer_start (&s->hb_timer, hb_timer_cb,
                  jitter (s->o.heartbeat_timeout_ms, s->o.heartbeat_jitter_ms), 0);
}

static void
ttl_timer_cb (uv_timer_t *t)
{
  tcs_session_t *s = t->data;
  struct tcs_conn *c = s->conn;
  if (!c || !c->established || c->ended)
    return;
  log_info (TCS_MOD, "TCS connection expired; reconnecting");
  c->close_clean = true;
  tcs_conn_request_close (c, LWS_CLOSE_STATUS_NORMAL, EXPIRED_REASON);
}

static void
write_timer_cb (uv_timer_t *t)
{
  tcs_session_t *s = t->data;
  struct tcs_conn *c = s->conn;
  if (!c || !c->established || c->ended)
    return;
  s->stats.write_timeouts++;
  log_warn (TCS_MOD, "telemetry not written within %llu ms; reconnecting",
            (unsigned long long) s->o.write_timeout_ms);
  tcs_conn_set_err (c, ERR_TIMEOUT, "TCS write deadline");
  lws_set_timeout (c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

void
tcs_conn_grace_cb (uv_timer_t *t)
{
  tcs_session_t *s = t->data;
  struct tcs_conn *c = s->conn;
  if (s->stopping)
    {
      s->force_teardown = true;
      tcs_sess_kick (s);
      return;
    }
  if (!c || c->established || c->ended)
    return;
  tcs_conn_set_err (c, ERR_TIMEOUT, "TCS connect timed out");
  tcs_conn_request_close (c, 0, NULL);
}

void
tcs_conn_want_write (tcs_session_t *s)
{
  struct tcs_conn *c = s->conn;
  if (!c || !c->established || c->ended || !c->wsi || s->qn == 0)
    return;
  if (!uv_is_active ((uv_handle_t *) &s->write_timer))
    uv_timer_start (&s->write_timer, write_timer_cb, s->o.write_timeout_ms, 0);
  lws_callback_on_writable (c->wsi);
}

/* ---- libwebsockets ---- */

static int
write_one (struct tcs_conn *c, struct lws *wsi)
{
  tcs_session_t *s = c->s;
  if (c->want_close_code)
    return aws_ws_write_close (wsi, c->want_close_code, c->want_close_reason, &c->close_sent);
  if (lws_partial_buffered (wsi))
    {
      lws_callback_on_writable (wsi);
      return 0;
    }
  struct tcs_msg *m = tcs_queue_pop (s);
  if (!m)
    {
      uv_timer_stop (&s->write_timer);
      return 0;
    }
  const struct aws_credentials *cr = aws_creds_current (s->o.creds);
  agent_error_t err = NULL;
  char *frame = cr ? tcs_frame_sign (c->url, s->region, cr, s->o.now ? s->o.now () : time (NULL),
                                     m->json, &err)
                   : NULL;
  tcs_msg_free (m);
  if (!frame)
    {
      s->stats.messages_dropped++;
      if (!s->no_creds_logged)
        log_warn (TCS_MOD, "telemetry not sent: %s",
                  err ? error_msg (&err) : "no credentials to sign it");
      s->no_creds_logged = true;
      error_free (&err);
    }
  else
    {
      s->no_creds_logged = false;
      size_t n = strlen (frame);
      unsigned char *buf = xmalloc (LWS_PRE + n);
      memcpy (buf + LWS_PRE, frame, n);
      free (frame);
      int w = lws_write (wsi, buf + LWS_PRE, n, LWS_WRITE_TEXT);
      free (buf);
      if (w < 0)
        {
          tcs_conn_set_err (c, ERR_UNREACHABLE, "TCS write failed");
          return -1;
        }
      s->stats.frames_sent++;
      uv_timer_stop (&s->write_timer);
    }
  if (s->qn > 0)
    tcs_conn_want_write (s);
  return 0;
}

static void
handle_frame (struct tcs_conn *c, const char *text, size_t len)
{
  tcs_session_t *s = c->s;
  s->stats.frames_received++;
  struct tcs_inbound in;
  agent_error_t err = NULL;
  if (tcs_decode (text, len, &in, &err) < 0)
    {
      s->stats.frames_dropped++;
      log_warn (TCS_MOD, "dropping TCS frame (%zu bytes): %s", len, error_msg (&err));
      error_free (&err);
      return;
    }
  rearm_heartbeat (s);
  switch (in.type)
    {
    case TCS_IN_HEARTBEAT:
      s->stats.heartbeats++;
      break;
    case TCS_IN_ACK_METRIC:
    case TCS_IN_ACK_HEALTH:
    case TCS_IN_ACK_STATUS:
      s->stats.acks++;
      break;
    case TCS_IN_EXCEPTION:
      log_warn (TCS_MOD, "%s from TCS: %s", in.type_name, in.message ? in.message : "");
      break;
    case TCS_IN_STOP_SESSION:
    case TCS_IN_OTHER_KNOWN:
      log_info (TCS_MOD, "no handler for %s", in.type_name);
      break;
    case TCS_IN_UNKNOWN:
      s->stats.frames_dropped++;
      log_warn (TCS_MOD, "unknown TCS frame type %.64s dropped", in.type_name);
      break;
    }
  tcs_inbound_clear (&in);
}

static void
receive (struct tcs_conn *c, struct lws *wsi, const void *in, size_t len)
{
  if (!c->rx_overflow)
    {
      if (c->rx.len + len > TCS_MAX_FRAME)
        {
          c->rx_overflow = true;
          sbuf_free (&c->rx);
        }
      else
        sbuf_append (&c->rx, in ? (const char *) in : "", len);
    }
  if (!lws_is_final_fragment (wsi) || lws_remaining_packet_payload (wsi) != 0)
    return;
  if (c->rx_overflow)
    {
      c->s->stats.frames_received++;
      c->s->stats.frames_dropped++;
      log_warn (TCS_MOD, "dropping TCS frame larger than %u bytes", TCS_MAX_FRAME);
    }
  else
    handle_frame (c, c->rx.s ? c->rx.s : "", c->rx.len);
  sbuf_free (&c->rx);
  c->rx_overflow = false;
}

static void conn_end (struct tcs_conn *c);

static void
established (struct tcs_conn *c, struct lws *wsi)
{
  tcs_session_t *s = c->s;
  c->established = true;
  c->connected_at = util_now_ms ();
  s->stats.connects++;
  if (s->stopping)
    {
      c->close_clean = true;
      tcs_conn_request_close (c, LWS_CLOSE_STATUS_NORMAL, "agent stopping");
      return;
    }
  uv_timer_stop (&s->conn_timer);
  lws_set_timeout (wsi, NO_PENDING_TIMEOUT, 0);
  rearm_heartbeat (s);
  uv_timer_start (&s->ttl_timer, ttl_timer_cb,
                  jitter (s->o.connection_ttl_ms, s->o.connection_ttl_jitter_ms), 0);
  log_info (TCS_MOD, "connected to TCS at %s", s->dial.endpoint ? s->dial.endpoint : "");
  tcs_conn_want_write (s);
}

int
tcs_lws_cb (struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
  (void) user;
  struct tcs_conn *c = wsi ? lws_get_opaque_user_data (wsi) : NULL;
  if (!c)
    return 0;
  switch (reason)
    {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
      return aws_ws_append_headers (wsi, c->hs, c->n_hs, (unsigned char **) in, len);
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
      {
        c->http_status = lws_http_client_http_response (wsi);
        char *m = c->http_status >= 400
                      ? xasprintf ("TCS handshake failed: HTTP %u", c->http_status)
                      : xasprintf ("TCS connect failed: %s",
                                   in && len ? (const char *) in : "unknown error");
        tcs_conn_set_err (c, c->http_status >= 400 ? ERR_CLIENT : ERR_UNREACHABLE, m);
        free (m);
        break;
      }
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
      established (c, wsi);
      break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
      receive (c, wsi, in, len);
      break;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
      return write_one (c, wsi);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
      aws_ws_peer_close (in, len, &c->close_code, &c->close_reason);
      break;
    case LWS_CALLBACK_WSI_DESTROY:
      c->wsi = NULL;
      conn_end (c);
      break;
    default:
      break;
    }
  return 0;
}

/* ---- end and reconnect ---- */

static void
conn_end (struct tcs_conn *c)
{
  if (c->ended)
    return;
  c->ended = true;
  tcs_session_t *s = c->s;
  if (s->conn == c)
    {
      s->conn = NULL;
      s->ended_conn = c;
    }
  tcs_sess_kick (s);
}

static void
schedule_reconnect (tcs_session_t *s, const agent_error_t *err)
{
  if (s->stopping)
    return;
  uint64_t delay = 0;
  if (!err || !*err)
    {
      backoff_reset (&s->backoff);
      log_info (TCS_MOD, "TCS connection ended; reconnecting now");
    }
  else
    {
      delay = backoff_next (&s->backoff);
      log_warn (TCS_MOD, "%s; reconnecting in %llu ms", error_msg (err),
                (unsigned long long) delay);
    }
  uv_timer_start (&s->retry_timer, tcs_conn_retry_cb, delay, 0);
}

void
tcs_conn_process_ended (tcs_session_t *s)
{
  struct tcs_conn *c = s->ended_conn;
  if (!c)
    return;
  s->ended_conn = NULL;
  if (c->established && !c->err && !c->close_clean && !aws_ws_close_code_clean (c->close_code))
    {
      char *m = xasprintf ("TCS closed the connection: %d", c->close_code);
      tcs_conn_set_err (c, ERR_UNREACHABLE, m);
      free (m);
    }
  if (!c->established && !c->err)
    tcs_conn_set_err (c, ERR_UNREACHABLE, "TCS connection failed");
  if (c->established)
    {
      s->stats.disconnects++;
      uv_timer_stop (&s->hb_timer);
      uv_timer_stop (&s->ttl_timer);
      uv_timer_stop (&s->write_timer);
      log_info (TCS_MOD, "disconnected from TCS (close code %d)", c->close_code);
    }
  uv_timer_stop (&s->conn_timer);
  schedule_reconnect (s, c->err ? (const agent_error_t *) &c->err : NULL);
  conn_free (c);
}

static void
connect_failed (tcs_session_t *s, agent_error_t *err)
{
  schedule_reconnect (s, err);
  error_free (err);
}

static void
do_connect (tcs_session_t *s, const struct aws_credentials *creds)
{
  agent_error_t err = NULL;
  struct acs_url_params up = {
    .endpoint = s->dial.endpoint,
    .cluster = s->cluster,
    .container_instance_arn = s->instance_arn,
    .agent_hash = s->agent_hash,
    .agent_version = s->agent_version,
    .docker_version = s->docker_version,
    .telemetry = true,
  };
  struct acs_url u;
  if (acs_url_resolve (&up, &u, &err) < 0)
    return connect_failed (s, &err);
  struct aws_ws_vhost_params vp = {
    .ctx = s->ctx,
    .loop = s->loop,
    .track = &s->track,
    .protocols = s->protocols,
    .name = u.tls ? "tcs-tls" : "tcs",
    .connect_timeout_ms = s->o.connect_timeout_ms,
    .ca_file = s->ca_file,
    .user = s,
  };
  struct lws_vhost *vh = aws_ws_vhost (&vp, u.tls, u.tls ? &s->vh_tls : &s->vh_plain);
  cleanup_free char *ua = ecs_user_agent (AGENT_VERSION, AGENT_GITREV, AGENT_GITDIRTY);
  struct http_header *hs = NULL;
  size_t n_hs = 0;
  if (!vh)
    error_set (&err, ERR_GENERIC, "cannot create the libwebsockets TCS client vhost");
  if (!vh
      || aws_ws_sign_handshake (u.http_url, s->region, s->o.now ? s->o.now () : time (NULL),
                                creds, ua, &hs, &n_hs, &err)
             < 0)
    {
      acs_url_free (&u);
      return connect_failed (s, &err);
    }
  struct tcs_conn *c = xcalloc (1, sizeof *c);
  c->s = s;
  c->url = xstrdup (u.http_url);
  c->hs = hs;
  c->n_hs = n_hs;

  struct lws_client_connect_info ci;
  struct aws_ws_target t = {
    .host = u.host,
    .path = u.path,
    .authority = u.authority,
    .port = u.port,
    .tls = u.tls,
    .insecure = s->o.insecure,
  };
  aws_ws_connect_info (&ci, s->ctx, vh, s->protocols[0].name, &t, c);
  s->conn = c;
  s->stats.connect_attempts++;
  log_debug (TCS_MOD, "connecting to TCS %s://%s/ws", u.tls ? "wss" : "ws", u.authority);
  uv_timer_start (&s->conn_timer, tcs_conn_grace_cb, s->o.connect_timeout_ms, 0);
  struct lws *wsi = lws_client_connect_via_info (&ci);
  acs_url_free (&u);
  if (!wsi)
    {
      if (!c->ended)
        {
          tcs_conn_set_err (c, ERR_UNREACHABLE, "TCS connect failed to start");
          conn_end (c);
        }
      return;
    }
  if (!c->ended)
    c->wsi = wsi;
}

void
tcs_conn_dial_cb (const struct aws_credentials *creds, agent_error_t *err, void *data)
{
  tcs_session_t *s = data;
  if (!creds)
    return connect_failed (s, err);
  do_connect (s, creds);
}

void
tcs_conn_retry_cb (uv_timer_t *t)
{
  tcs_session_t *s = t->data;
  if (s->stopping || s->conn || s->ended_conn)
    return;
  ecs_ws_dial_start (&s->dial);
}

void
tcs_conn_cancel_connecting (tcs_session_t *s)
{
  ecs_ws_dial_cancel (&s->dial);
  uv_timer_stop (&s->retry_timer);
  uv_timer_stop (&s->hb_timer);
  uv_timer_stop (&s->ttl_timer);
  uv_timer_stop (&s->write_timer);
}
