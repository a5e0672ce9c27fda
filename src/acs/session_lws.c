/* acs/session_lws.c - the ACS connection on libwebsockets: protocol callback,
   client vhosts and the signed connect (see session_int.h). */
#include "acs/session_int.h"
#include "aws/ws_client.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include <stdlib.h>
#include <string.h>

static void
receive (struct acs_conn *c, struct lws *wsi, const void *in, size_t len)
{
  acs_session_t *s = c->s;
  /* any data from ACS, even part of a frame that will not decode, shows
     the peer is alive */
  acs_reconnect_rearm_heartbeat (s);
  if (lws_frame_is_binary (wsi) && c->rx.len == 0 && lws_is_first_fragment (wsi))
    log_debug (ACS_MOD, "binary frame from ACS; parsing anyway");
  if (!c->rx_overflow && c->rx.cap == 0)
    {
      /* First piece of a frame: its header tells the size; one allocation
         instead of doubling and copying a big frame as it arrives. */
      size_t total = len + lws_remaining_packet_payload (wsi);
      if (total <= ACS_MAX_FRAME)
        {
          c->rx.s = xmalloc (total + 1);
          c->rx.cap = total + 1;
        }
    }
  if (!c->rx_overflow)
    {
      if (c->rx.len + len > ACS_MAX_FRAME)
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
      s->stats.frames_received++;
      s->stats.frames_dropped++;
      log_warn (ACS_MOD, "dropping ACS frame larger than %u bytes", ACS_MAX_FRAME);
    }
  else
    {
      size_t n = c->rx.len;
      acs_rx_frame (c, sbuf_steal (&c->rx), n);
    }
  sbuf_free (&c->rx);
  c->rx_overflow = false;
}

int
acs_lws_cb (struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
  (void) user;
  struct acs_conn *c = wsi ? lws_get_opaque_user_data (wsi) : NULL;
  if (!c)
    return 0;
  switch (reason)
    {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
      if (aws_ws_append_headers (wsi, c->hs_headers, c->n_hs_headers, (unsigned char **) in, len)
          < 0)
        {
          acs_conn_set_err (c, ERR_GENERIC, "handshake headers do not fit");
          return -1;
        }
      return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
      c->http_status = lws_http_client_http_response (wsi);
      if (c->http_status >= 400)
        acs_conn_set_err (c, c->http_status >= 500 ? ERR_SERVER : ERR_CLIENT,
                          "ACS handshake failed: HTTP %u", c->http_status);
      else
        acs_conn_set_err (c, ERR_UNREACHABLE, "ACS connect failed: %s",
                          in && len ? (const char *) in : "unknown error");
      break;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
      acs_conn_established (c, wsi);
      break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
      receive (c, wsi, in, len);
      break;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
      if (c->want_close_code)
        return aws_ws_write_close (wsi, c->want_close_code, c->want_close_reason, &c->close_sent);
      return acs_queue_write (c, wsi);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
      log_debug (ACS_MOD, "peer close frame (%zu bytes)", len);
      aws_ws_peer_close (in, len, &c->close_code, &c->close_reason);
      break;
    case LWS_CALLBACK_WSI_DESTROY:
      c->wsi = NULL;
      acs_conn_end (c);
      break;
    default:
      break;
    }
  return 0;
}

void
acs_lws_log_emit_cb (int level, const char *line)
{
  size_t n = strlen (line);
  while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
    n--;
  if (level & LLL_ERR)
    log_warn ("lws", "%.*s", (int) n, line);
  else
    log_debug ("lws", "%.*s", (int) n, line);
}

static struct acs_conn *
conn_new (acs_session_t *s, const char *http_url, struct http_header *hs, size_t n_hs)
{
  struct acs_conn *c = xcalloc (1, sizeof *c);
  c->s = s;
  STAILQ_INIT (&c->out);
  STAILQ_INIT (&c->rxq);
  c->url = xstrdup (http_url);
  c->hs_headers = hs;
  c->n_hs_headers = n_hs;
  return c;
}

void
acs_lws_connect (acs_session_t *s, const struct aws_credentials *creds)
{
  agent_error_t err = NULL;
  struct acs_url_params up = {
    .endpoint = s->dial.endpoint,
    .cluster = s->cluster,
    .container_instance_arn = s->instance_arn,
    .agent_hash = s->agent_hash,
    .agent_version = s->agent_version,
    .docker_version = s->docker_version,
    .seq_num = s->seq_num,
    .send_credentials = !s->sent_credentials_ok,
    .protocol_version = 2,
  };
  struct acs_url u;
  if (acs_url_resolve (&up, &u, &err) < 0)
    {
      acs_reconnect_connect_failed (s, &err);
      return;
    }
  struct aws_ws_vhost_params vp = {
    .ctx = s->ctx,
    .loop = s->loop,
    .track = &s->lws_track,
    .protocols = s->protocols,
    .name = u.tls ? "acs-tls" : "acs",
    .connect_timeout_ms = s->o.connect_timeout_ms,
    .ca_file = s->ca_file,
    .user = s,
  };
  struct lws_vhost *vh = aws_ws_vhost (&vp, u.tls, u.tls ? &s->vh_tls : &s->vh_plain);
  if (!vh)
    {
      error_set (&err, ERR_GENERIC, "cannot create the libwebsockets %s client vhost",
                 u.tls ? "TLS" : "plain");
      acs_url_free (&u);
      acs_reconnect_connect_failed (s, &err);
      return;
    }
  cleanup_free char *ua = ecs_user_agent (AGENT_VERSION, AGENT_GITREV, AGENT_GITDIRTY);
  struct http_header *hs = NULL;
  size_t n_hs = 0;
  if (aws_ws_sign_handshake (u.http_url, s->region, s->o.now ? s->o.now () : time (NULL), creds,
                             ua, &hs, &n_hs, &err)
      < 0)
    {
      acs_url_free (&u);
      error_wrap (&err, "signing the ACS handshake");
      acs_reconnect_connect_failed (s, &err);
      return;
    }
  struct acs_conn *c = conn_new (s, u.http_url, hs, n_hs);

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
  log_info (ACS_MOD, "connecting to ACS %s://%s/ws", u.tls ? "wss" : "ws", u.authority);
  uv_timer_start (&s->conn_timer, acs_reconnect_conn_timer_cb, s->o.connect_timeout_ms, 0);
  struct lws *wsi = lws_client_connect_via_info (&ci);
  acs_url_free (&u);
  if (!wsi)
    {
      /* lws may or may not have run CONNECTION_ERROR / WSI_DESTROY already. */
      if (!c->ended)
        {
          acs_conn_set_err (c, ERR_UNREACHABLE, "ACS connect failed to start");
          acs_conn_end (c);
        }
      return;
    }
  if (!c->ended)
    c->wsi = wsi;
}
