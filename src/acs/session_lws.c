/* acs/session_lws.c - the ACS connection on libwebsockets: protocol callback,
   client vhosts and the signed connect (see session_int.h). */
#include "acs/session_int.h"
#include "aws/sigv4.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ACS_LWS_WRITE_CLOSE 4 /* lws' internal LWS_WRITE_CLOSE, see write_close_frame() */
#define CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

static int
append_handshake_headers (struct acs_conn *c, struct lws *wsi, unsigned char **p, size_t len)
{
  unsigned char *end = (*p) + len;
  for (size_t i = 0; i < c->n_hs_headers; i++)
    {
      char *name = xasprintf ("%s:", c->hs_headers[i].name);
      const char *v = c->hs_headers[i].value;
      int rc = lws_add_http_header_by_name (wsi, (unsigned char *) name, (const unsigned char *) v,
                                            (int) strlen (v), p, end);
      free (name);
      if (rc)
        {
          acs_conn_set_err (c, ERR_GENERIC, "handshake headers do not fit");
          return -1;
        }
    }
  return 0;
}

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

/* libwebsockets 4.1.6 drops the close frame prepared with lws_close_reason()
   when a client callback returns -1 (the peer sees 1006), so the close frame
   is written explicitly; lws frames it (write type 4 = its internal
   LWS_WRITE_CLOSE) and closes when the peer answers, or at the timeout set
   in acs_conn_request_close(). */
static int
write_close_frame (struct acs_conn *c, struct lws *wsi)
{
  if (c->close_sent)
    return 0;
  const char *r = c->want_close_reason ? c->want_close_reason : "";
  size_t rl = strlen (r);
  if (rl > 123)
    rl = 123;
  unsigned char buf[LWS_PRE + 125];
  buf[LWS_PRE] = (unsigned char) ((c->want_close_code >> 8) & 0xff);
  buf[LWS_PRE + 1] = (unsigned char) (c->want_close_code & 0xff);
  memcpy (buf + LWS_PRE + 2, r, rl);
  c->close_sent = true;
  if (lws_write (wsi, buf + LWS_PRE, rl + 2, (enum lws_write_protocol) ACS_LWS_WRITE_CLOSE) < 0)
    return -1;
  return 0;
}

static void
peer_close (struct acs_conn *c, const void *in, size_t len)
{
  log_debug (ACS_MOD, "peer close frame (%zu bytes)", len);
  if (len >= 2 && in)
    {
      const unsigned char *b = in;
      c->close_code = (b[0] << 8) | b[1];
      free (c->close_reason);
      c->close_reason = xstrndup ((const char *) b + 2, len - 2);
    }
  else
    c->close_code = LWS_CLOSE_STATUS_NO_STATUS;
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
      return append_handshake_headers (c, wsi, (unsigned char **) in, len);
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
        return write_close_frame (c, wsi);
      return acs_queue_write (c, wsi);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
      peer_close (c, in, len);
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

/* The client vhost for a scheme, created on first use.  Only the TLS one
   loads the CA store (the configured CA file, else Debian's bundle). */
static struct lws_vhost *
session_vhost (acs_session_t *s, bool tls)
{
  struct lws_vhost **slot = tls ? &s->vh_tls : &s->vh_plain;
  if (*slot)
    return *slot;
  struct lws_context_creation_info info;
  memset (&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = s->protocols;
  info.vhost_name = tls ? "acs-tls" : "acs";
  info.user = s;
  info.connect_timeout_secs = (unsigned) ((s->o.connect_timeout_ms + 999) / 1000);
  info.timeout_secs = info.connect_timeout_secs;
  /* lws makes a vhost's client TLS context only with DO_SSL_GLOBAL_INIT. */
  if (!tls)
    info.options = LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
  else
    {
      info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
      if (s->ca_file)
        info.client_ssl_ca_filepath = s->ca_file;
      else if (access (CA_BUNDLE, R_OK) == 0)
        info.client_ssl_ca_filepath = CA_BUNDLE;
    }
  *slot = lws_util_vhost_create (s->ctx, s->loop, &info, &s->lws_track);
  return *slot;
}

static struct acs_conn *
conn_new (acs_session_t *s, const char *http_url, const struct aws_sigv4_output *out)
{
  struct acs_conn *c = xcalloc (1, sizeof *c);
  c->s = s;
  STAILQ_INIT (&c->out);
  STAILQ_INIT (&c->rxq);
  c->url = xstrdup (http_url);
  c->hs_headers = xcalloc (out->n_headers + 1, sizeof *c->hs_headers);
  for (size_t i = 0; i < out->n_headers; i++)
    {
      c->hs_headers[i].name = xstrdup (out->headers[i].name);
      c->hs_headers[i].value = xstrdup (out->headers[i].value);
    }
  /* unsigned, as upstream's websocket dialer adds it */
  c->hs_headers[out->n_headers].name = xstrdup ("User-Agent");
  c->hs_headers[out->n_headers].value = ecs_user_agent (AGENT_VERSION, AGENT_GITREV, AGENT_GITDIRTY);
  c->n_hs_headers = out->n_headers + 1;
  return c;
}

void
acs_lws_connect (acs_session_t *s, const struct aws_credentials *creds)
{
  agent_error_t err = NULL;
  struct acs_url_params up = {
    .endpoint = s->endpoint,
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
  struct lws_vhost *vh = session_vhost (s, u.tls);
  if (!vh)
    {
      error_set (&err, ERR_GENERIC, "cannot create the libwebsockets %s client vhost",
                 u.tls ? "TLS" : "plain");
      acs_url_free (&u);
      acs_reconnect_connect_failed (s, &err);
      return;
    }
  struct aws_sigv4_input in = {
    .method = "GET",
    .url = u.http_url,
    .region = s->region,
    .service = "ecs",
    .now = s->o.now ? s->o.now () : time (NULL),
    .flags = AWS_SIGV4_HOST_DATE,
  };
  struct aws_sigv4_output out = { 0 };
  if (aws_sigv4_sign (&in, creds, &out, &err) < 0)
    {
      acs_url_free (&u);
      error_wrap (&err, "signing the ACS handshake");
      acs_reconnect_connect_failed (s, &err);
      return;
    }
  struct acs_conn *c = conn_new (s, u.http_url, &out);
  aws_sigv4_output_free (&out);

  struct lws_client_connect_info ci;
  memset (&ci, 0, sizeof ci);
  ci.context = s->ctx;
  ci.vhost = vh;
  ci.address = u.host;
  ci.port = u.port;
  ci.path = u.path;
  ci.host = u.authority;
  ci.local_protocol_name = s->protocols[0].name;
  ci.opaque_user_data = c;
  if (u.tls)
    {
      ci.ssl_connection = LCCSCF_USE_SSL;
      if (s->o.insecure)
        ci.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK
                             | LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE;
    }
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
