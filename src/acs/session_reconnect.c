/* acs/session_reconnect.c - life and end of an ACS connection: timers,
   back-off and reconnect, discovery and credentials, the handshake error
   body (see session_int.h). */
#include "acs/session_int.h"
#include "aws/ws_client.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERROR_BODY_TIMEOUT_MS 10000

void
acs_conn_free (struct acs_conn *c)
{
  if (!c)
    return;
  acs_rx_clear (c);
  acs_queue_clear (c);
  aws_ws_headers_free (c->hs_headers, c->n_hs_headers);
  free (c->url);
  free (c->close_reason);
  free (c->want_close_reason);
  sbuf_free (&c->rx);
  error_free (&c->err);
  free (c);
}

void
acs_conn_set_err (struct acs_conn *c, int kind, const char *fmt, ...)
{
  if (c->err)
    return; /* the first reason wins */
  va_list ap;
  va_start (ap, fmt);
  char *m = NULL;
  if (vasprintf (&m, fmt, ap) < 0)
    xalloc_die ();
  va_end (ap);
  error_set (&c->err, kind, "%s", m);
  free (m);
}

/* Ask lws to close the connection from outside its callbacks. */
void
acs_conn_request_close (struct acs_conn *c, int code, const char *reason)
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
  acs_session_t *s = t->data;
  struct acs_conn *c = s->conn;
  if (!c || !c->established || c->ended)
    return;
  if (acs_rx_pending (c))
    {
      /* Frames from ACS still wait to be decoded or handled (reading may
         be paused for them): the silence is this side's backlog, not a
         dead peer. */
      acs_reconnect_rearm_heartbeat (s);
      return;
    }
  s->stats.heartbeat_timeouts++;
  log_warn (ACS_MOD, "no message from ACS within the heartbeat timeout; reconnecting");
  acs_conn_set_err (c, ERR_TIMEOUT, "ACS heartbeat timeout");
  acs_conn_request_close (c, LWS_CLOSE_STATUS_NORMAL, "heartbeat timeout");
}

void
acs_reconnect_rearm_heartbeat (acs_session_t *s)
{
  uint64_t ms = aws_ws_jitter (s->o.heartbeat_timeout_ms, s->o.heartbeat_jitter_ms, util_random_unit ());
  uv_timer_start (&s->hb_timer, hb_timer_cb, ms, 0);
}

static void
ttl_timer_cb (uv_timer_t *t)
{
  acs_session_t *s = t->data;
  struct acs_conn *c = s->conn;
  if (!c || !c->established || c->ended)
    return;
  log_info (ACS_MOD, "connection expired; reconnecting");
  c->close_clean = true;
  c->expired = true;
  acs_conn_request_close (c, LWS_CLOSE_STATUS_NORMAL, "ConnectionExpired: Reconnect to continue");
}

void
acs_reconnect_conn_timer_cb (uv_timer_t *t)
{
  acs_session_t *s = t->data;
  struct acs_conn *c = s->conn;
  if (s->stopping)
    {
      /* Grace period for the close frame is over: tear down regardless. */
      s->force_teardown = true;
      acs_sess_kick (s);
      return;
    }
  if (!c || c->established || c->ended)
    return;
  acs_conn_set_err (c, ERR_TIMEOUT, "ACS connect timed out");
  acs_conn_request_close (c, 0, NULL);
}

static void begin_connect (acs_session_t *s);

void
acs_reconnect_retry_cb (uv_timer_t *t)
{
  acs_session_t *s = t->data;
  if (!s->stopping)
    begin_connect (s);
}

/* ---- connection up ---- */

void
acs_conn_established (struct acs_conn *c, struct lws *wsi)
{
  acs_session_t *s = c->s;
  c->established = true;
  c->connected_at = util_now_ms ();
  s->stats.connects++;
  s->sent_credentials_ok = true;
  if (s->stopping)
    {
      /* stop() came while connecting: its kill timeout and grace timer stay */
      c->close_clean = true;
      acs_conn_request_close (c, LWS_CLOSE_STATUS_NORMAL, "agent stopping");
      return;
    }
  uv_timer_stop (&s->conn_timer);
  lws_set_timeout (wsi, NO_PENDING_TIMEOUT, 0);
  acs_reconnect_rearm_heartbeat (s);
  uv_timer_start (&s->ttl_timer, ttl_timer_cb,
                  aws_ws_jitter (s->o.connection_ttl_ms, s->o.connection_ttl_jitter_ms,
                                 util_random_unit ()), 0);
  log_info (ACS_MOD, "connected to ACS at %s", s->dial.endpoint ? s->dial.endpoint : "");
  if (s->h.on_connected)
    s->h.on_connected (s, s->h.data);
}

/* ---- connection end and reconnect ---- */

/* Called from WSI_DESTROY (inside lws): record and defer the rest. */
void
acs_conn_end (struct acs_conn *c)
{
  if (c->ended)
    return;
  c->ended = true;
  acs_session_t *s = c->s;
  if (s->conn == c)
    {
      s->conn = NULL;
      s->ended_conn = c;
    }
  acs_sess_kick (s);
}

static void
schedule_reconnect (acs_session_t *s, struct acs_conn *c)
{
  if (s->stopping)
    return;
  uint64_t delay;
  const char *emsg = c->err ? error_msg (&c->err) : NULL;
  if (c->inactive || acs_text_has_inactive (emsg))
    {
      delay = s->o.inactive_wait_ms;
      log_warn (ACS_MOD, "container instance is inactive (%s); waiting %llu ms before reconnecting",
                emsg ? emsg : "deregistered", (unsigned long long) delay);
      if (s->h.on_inactive)
        s->h.on_inactive (s, s->h.data);
    }
  else if (!c->err && c->expired)
    {
      backoff_reset (&s->backoff);
      delay = 0;
      log_info (ACS_MOD, "ACS connection ended cleanly; reconnecting now");
    }
  else if (!c->err)
    {
      /* The server ended it (a restart or a redeploy ends every agent's
         connection at once): each agent comes back at its own random moment
         within the spread, not all in the same instant. */
      backoff_reset (&s->backoff);
      delay = (uint64_t) (util_random_unit () * (double) s->o.clean_reconnect_spread_ms);
      log_info (ACS_MOD, "ACS connection ended cleanly; reconnecting in %llu ms",
                (unsigned long long) delay);
    }
  else
    {
      if (c->established && util_now_ms () - c->connected_at >= s->o.heartbeat_timeout_ms)
        backoff_reset (&s->backoff);
      delay = backoff_next (&s->backoff);
      log_warn (ACS_MOD, "%s; reconnecting in %llu ms", emsg, (unsigned long long) delay);
    }
  s->stats.last_delay_ms = delay;
  if (s->stopping)
    return;
  uv_timer_start (&s->retry_timer, acs_reconnect_retry_cb, delay, 0);
}

static void
finish_conn (acs_session_t *s, struct acs_conn *c)
{
  if (c->err)
    acs_sess_set_last_error (s, error_msg (&c->err));
  if (c->established)
    {
      s->stats.disconnects++;
      uv_timer_stop (&s->hb_timer);
      uv_timer_stop (&s->ttl_timer);
      uv_timer_stop (&s->write_timer);
      log_info (ACS_MOD, "disconnected from ACS (close code %d%s%s)%s%s", c->close_code,
                c->close_reason && *c->close_reason ? " " : "",
                c->close_reason ? c->close_reason : "", c->err ? ": " : "",
                c->err ? error_msg (&c->err) : "");
      if (s->h.on_disconnected)
        s->h.on_disconnected (s, c->err ? (const agent_error_t *) &c->err : NULL, s->h.data);
    }
  uv_timer_stop (&s->conn_timer);
  schedule_reconnect (s, c);
  acs_conn_free (c);
}

static void
body_done_cb (const struct http_response *resp, agent_error_t herr, void *data)
{
  struct acs_conn *c = data;
  acs_session_t *s = c->s;
  s->body_call = NULL;
  s->body_conn = NULL;
  if (!herr && resp && resp->body && resp->body_len)
    {
      struct acs_exception *e = NULL;
      agent_error_t derr = NULL;
      if (acs_decode_handshake_error (resp->body, resp->body_len, &e, &derr) == 0)
        {
          char *t = acs_exception_text (e);
          int kind = strcmp (e->type, "ServerException") == 0 ? ERR_SERVER : ERR_CLIENT;
          error_set_status (&c->err, kind, (int) c->http_status, "ACS handshake failed: %s", t);
          if (acs_text_has_inactive (t))
            c->inactive = true;
          free (t);
          acs_exception_free (e);
        }
      error_free (&derr);
    }
  finish_conn (s, c);
}

/* After a failed upgrade with an HTTP error: read the body with a plain GET. */
static bool
fetch_error_body (acs_session_t *s, struct acs_conn *c)
{
  if (!s->o.http || !c->url || c->http_status < 400)
    return false;
  struct http_request req = {
    .method = "GET",
    .url = c->url,
    .headers = c->hs_headers,
    .n_headers = c->n_hs_headers,
    .timeout_ms = ERROR_BODY_TIMEOUT_MS,
    .insecure = s->o.insecure,
    .on_done = body_done_cb,
    .data = c,
  };
  agent_error_t err = NULL;
  s->body_call = http_call_start (s->o.http, &req, &err);
  if (!s->body_call)
    {
      error_free (&err);
      return false;
    }
  s->body_conn = c;
  return true;
}

/* Why the ended connection c ended, once the frames it received before
   the end were handled (a CloseMessage among them makes the end clean). */
static void
conn_settle (struct acs_conn *c)
{
  if (c->established && !c->err && !c->close_clean && !aws_ws_close_code_clean (c->close_code))
    acs_conn_set_err (c, ERR_UNREACHABLE, "ACS closed the connection: %d %s", c->close_code,
                      c->close_reason ? c->close_reason : "");
  if (!c->established && !c->err)
    acs_conn_set_err (c, ERR_UNREACHABLE, "ACS connection failed");
  if (acs_text_has_inactive (c->close_reason))
    c->inactive = true;
}

void
acs_reconnect_process_ended (acs_session_t *s)
{
  struct acs_conn *c = s->ended_conn;
  if (!c)
    return;
  /* Frames still being decoded are handled first (session_rx.c kicks when
     the last one is done); a stopping session drops them. */
  if (!s->stopping && acs_rx_pending (c))
    return;
  s->ended_conn = NULL;
  conn_settle (c);
  if (!s->stopping && fetch_error_body (s, c))
    return; /* finish_conn runs from body_done_cb */
  finish_conn (s, c);
}

/* ---- connect ---- */

void
acs_reconnect_connect_failed (acs_session_t *s, agent_error_t *err)
{
  struct acs_conn c = { .s = s };
  error_move (&c.err, err);
  acs_sess_set_last_error (s, error_msg (&c.err));
  schedule_reconnect (s, &c);
  error_free (&c.err);
}

void
acs_reconnect_dial_cb (const struct aws_credentials *creds, agent_error_t *err, void *data)
{
  acs_session_t *s = data;
  if (!creds)
    {
      acs_reconnect_connect_failed (s, err);
      return;
    }
  acs_lws_connect (s, creds);
}

static void
begin_connect (acs_session_t *s)
{
  if (s->stopping || s->conn)
    return;
  ecs_ws_dial_start (&s->dial);
}

/* stop(): cancel discovery, the credentials fetch and an error-body read. */
void
acs_reconnect_cancel (acs_session_t *s)
{
  ecs_ws_dial_cancel (&s->dial);
  if (s->body_call)
    {
      http_call_cancel (s->body_call);
      s->body_call = NULL;
      acs_conn_free (s->body_conn);
      s->body_conn = NULL;
    }
  uv_timer_stop (&s->retry_timer);
  uv_timer_stop (&s->hb_timer);
  uv_timer_stop (&s->ttl_timer);
}
