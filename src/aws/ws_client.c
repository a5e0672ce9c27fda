/* aws/ws_client.c - the websocket client plumbing the ACS and TCS sessions
   share (see ws_client.h). */
#include "aws/ws_client.h"
#include "aws/sigv4.h"
#include "core/xmalloc.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WS_LWS_WRITE_CLOSE 4 /* lws' internal LWS_WRITE_CLOSE, see aws_ws_write_close() */
#define WS_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

uint64_t
aws_ws_jitter (uint64_t base, uint64_t range, double unit)
{
  return base + (uint64_t) (unit * (double) range);
}

bool
aws_ws_close_code_clean (int code)
{
  return code == 0 || code == LWS_CLOSE_STATUS_NORMAL || code == LWS_CLOSE_STATUS_GOINGAWAY
         || code == LWS_CLOSE_STATUS_ABNORMAL_CLOSE || code == LWS_CLOSE_STATUS_NO_STATUS
         || code == 1011;
}

size_t
aws_ws_close_payload (int code, const char *reason,
                      unsigned char out[2 + AWS_WS_CLOSE_REASON_MAX])
{
  const char *r = reason ? reason : "";
  size_t rl = strlen (r);
  if (rl > AWS_WS_CLOSE_REASON_MAX)
    rl = AWS_WS_CLOSE_REASON_MAX;
  out[0] = (unsigned char) ((code >> 8) & 0xff);
  out[1] = (unsigned char) (code & 0xff);
  memcpy (out + 2, r, rl);
  return rl + 2;
}

void
aws_ws_peer_close (const void *in, size_t len, int *code, char **reason)
{
  if (len >= 2 && in)
    {
      const unsigned char *b = in;
      *code = (b[0] << 8) | b[1];
      free (*reason);
      *reason = xstrndup ((const char *) b + 2, len - 2);
    }
  else
    *code = LWS_CLOSE_STATUS_NO_STATUS;
}

int
aws_ws_sign_handshake (const char *http_url, const char *region, time_t now,
                       const struct aws_credentials *creds, const char *user_agent,
                       struct http_header **hs, size_t *n_hs, agent_error_t *err)
{
  struct aws_sigv4_input in = {
    .method = "GET",
    .url = http_url,
    .region = region,
    .service = "ecs",
    .now = now,
    .flags = AWS_SIGV4_HOST_DATE,
  };
  struct aws_sigv4_output out = { 0 };
  if (aws_sigv4_sign (&in, creds, &out, err) < 0)
    return -1;
  struct http_header *h = xcalloc (out.n_headers + 1, sizeof *h);
  for (size_t i = 0; i < out.n_headers; i++)
    h[i] = (struct http_header){ xstrdup (out.headers[i].name), xstrdup (out.headers[i].value) };
  /* unsigned, as upstream's websocket dialer adds it */
  h[out.n_headers] = (struct http_header){ xstrdup ("User-Agent"), xstrdup (user_agent) };
  *hs = h;
  *n_hs = out.n_headers + 1;
  aws_sigv4_output_free (&out);
  return 0;
}

void
aws_ws_headers_free (struct http_header *hs, size_t n_hs)
{
  for (size_t i = 0; hs && i < n_hs; i++)
    {
      free ((char *) hs[i].name);
      free ((char *) hs[i].value);
    }
  free (hs);
}

int
aws_ws_append_headers (struct lws *wsi, const struct http_header *hs, size_t n_hs,
                       unsigned char **p, size_t len)
{
  unsigned char *end = (*p) + len;
  for (size_t i = 0; i < n_hs; i++)
    {
      char *name = xasprintf ("%s:", hs[i].name);
      const char *v = hs[i].value;
      int rc = lws_add_http_header_by_name (wsi, (unsigned char *) name, (const unsigned char *) v,
                                            (int) strlen (v), p, end);
      free (name);
      if (rc)
        return -1;
    }
  return 0;
}

struct lws_vhost *
aws_ws_vhost (const struct aws_ws_vhost_params *p, bool tls, struct lws_vhost **slot)
{
  if (*slot)
    return *slot;
  struct lws_context_creation_info info;
  memset (&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = p->protocols;
  info.vhost_name = p->name;
  info.user = p->user;
  info.connect_timeout_secs = (unsigned) ((p->connect_timeout_ms + 999) / 1000);
  info.timeout_secs = info.connect_timeout_secs;
  /* lws makes a vhost's client TLS context only with DO_SSL_GLOBAL_INIT. */
  if (!tls)
    info.options = LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
  else
    {
      info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
      if (p->ca_file)
        info.client_ssl_ca_filepath = p->ca_file;
      else if (access (WS_CA_BUNDLE, R_OK) == 0)
        info.client_ssl_ca_filepath = WS_CA_BUNDLE;
    }
  *slot = lws_util_vhost_create (p->ctx, p->loop, &info, p->track);
  return *slot;
}

void
aws_ws_connect_info (struct lws_client_connect_info *ci, struct lws_context *ctx,
                     struct lws_vhost *vh, const char *protocol, const struct aws_ws_target *t,
                     void *opaque)
{
  memset (ci, 0, sizeof *ci);
  ci->context = ctx;
  ci->vhost = vh;
  ci->address = t->host;
  ci->port = t->port;
  ci->path = t->path;
  ci->host = t->authority;
  ci->local_protocol_name = protocol;
  ci->opaque_user_data = opaque;
  if (t->tls)
    {
      ci->ssl_connection = LCCSCF_USE_SSL;
      if (t->insecure)
        ci->ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK
                              | LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE;
    }
}

void
aws_ws_request_close (struct lws *wsi, bool established, int *want_code, char **want_reason,
                      int code, const char *reason)
{
  if (!wsi)
    return;
  if (!established)
    {
      lws_set_timeout (wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
      return;
    }
  if (*want_code)
    return;
  *want_code = code;
  *want_reason = xstrdup (reason ? reason : "");
  lws_callback_on_writable (wsi);
  /* Fallback if the close frame cannot be written. */
  lws_set_timeout (wsi, PENDING_TIMEOUT_USER_OK, AWS_WS_CLOSE_FRAME_TIMEOUT_S);
}

/* libwebsockets 4.1.6 drops the close frame prepared with lws_close_reason()
   when a client callback returns -1 (the peer sees 1006), so the close frame
   is written explicitly; lws frames it (write type 4 = its internal
   LWS_WRITE_CLOSE) and closes when the peer answers, or at the timeout set
   in aws_ws_request_close(). */
int
aws_ws_write_close (struct lws *wsi, int code, const char *reason, bool *sent)
{
  if (*sent)
    return 0;
  unsigned char buf[LWS_PRE + 2 + AWS_WS_CLOSE_REASON_MAX];
  size_t n = aws_ws_close_payload (code, reason, buf + LWS_PRE);
  *sent = true;
  if (lws_write (wsi, buf + LWS_PRE, n, (enum lws_write_protocol) WS_LWS_WRITE_CLOSE) < 0)
    return -1;
  return 0;
}
