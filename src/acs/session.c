/* acs/session.c - the ACS websocket session on libwebsockets + libuv (see session.h). */
#include "acs/session.h"
#include "aws/sigv4.h"
#include "core/lws_util.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include <libwebsockets.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MOD "acs"
#define CLOSE_GRACE_MS 2000
#define ERROR_BODY_TIMEOUT_MS 10000
#define FIN_MAX_SPINS 2000
#define ACS_LWS_WRITE_CLOSE 4 /* see LWS_CALLBACK_CLIENT_WRITEABLE */

struct out_frame
{
  struct out_frame *next;
  size_t len;
  unsigned char *buf; /* LWS_PRE + len */
};

struct flush_waiter
{
  struct flush_waiter *next;
  void (*cb) (void *data);
  void *data;
};

/* One connection attempt. */
struct acs_conn
{
  acs_session_t *s;
  struct lws *wsi;
  bool established;
  bool ended;        /* WSI_DESTROY seen (or connect failed synchronously) */
  bool close_clean;  /* close requested as a clean end (CloseMessage, TTL) */
  bool inactive;     /* InactiveInstanceException seen */
  int close_code;    /* peer close code, 0 if none */
  char *close_reason;
  int want_close_code; /* close requested by us, 0 = none */
  bool close_sent;
  char *want_close_reason;
  agent_error_t err; /* why it ended (NULL = clean) */
  unsigned http_status;
  uint64_t connected_at;
  char *url;         /* http(s) form, for signing / error body */
  struct http_header *hs_headers;
  size_t n_hs_headers;
  struct out_frame *out_head, *out_tail;
  struct sbuf rx;
  bool rx_overflow;
};

struct acs_session
{
  uv_loop_t *loop;
  struct acs_session_options o; /* strings copied below */
  char *endpoint_fixed, *region, *cluster, *instance_arn, *agent_version, *agent_hash,
      *docker_version, *ca_file;
  struct acs_session_handlers h;

  struct lws_context *ctx;
  struct lws_protocols protocols[2];
  struct lws_util_handles lws_track; /* uv handles libwebsockets opened */
  /* One vhost per scheme, made on first use: loading the CA store costs
     tens of milliseconds of start-up, and a ws:// endpoint (the local
     control plane) never needs it. */
  struct lws_vhost *vh_plain, *vh_tls;

  uv_timer_t retry_timer, hb_timer, ttl_timer, conn_timer, kick_timer;
  int open_handles;

  struct backoff backoff;
  int64_t seq_num;
  bool sent_credentials_ok; /* sendCredentials=true until first success */
  char *endpoint;           /* last discovered */

  ecs_call_t *ecs_op;
  bool creds_pending;
  http_call_t *body_call;
  struct acs_conn *body_conn; /* the ended connection whose error body is read */
  struct acs_conn *conn;
  struct acs_conn *ended_conn; /* waiting for the kick to be processed */
  struct flush_waiter *flush_head;

  bool force_teardown;
  bool started, stopping, torn_down, closed_all, free_requested;
  void (*stop_cb) (void *data);
  void *stop_data;

  struct acs_session_stats stats;
};

static void kick (acs_session_t *s);
static void begin_connect (acs_session_t *s);
static void conn_end (struct acs_conn *c);

/* ---- helpers ---- */

static uint64_t
jitter (uint64_t base, uint64_t range)
{
  return base + (uint64_t) (util_random_unit () * (double) range);
}

static time_t
session_now (acs_session_t *s)
{
  return s->o.now ? s->o.now () : time (NULL);
}

static void
set_last_error (acs_session_t *s, const char *msg)
{
  free (s->stats.last_error);
  s->stats.last_error = xstrdup (msg);
}

static void
conn_free (struct acs_conn *c)
{
  if (!c)
    return;
  for (struct out_frame *f = c->out_head, *n; f; f = n)
    {
      n = f->next;
      free (f->buf);
      free (f);
    }
  for (size_t i = 0; i < c->n_hs_headers; i++)
    {
      free ((char *) c->hs_headers[i].name);
      free ((char *) c->hs_headers[i].value);
    }
  free (c->hs_headers);
  free (c->url);
  free (c->close_reason);
  free (c->want_close_reason);
  sbuf_free (&c->rx);
  error_free (&c->err);
  free (c);
}

static void
conn_set_err (struct acs_conn *c, int kind, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));
static void
conn_set_err (struct acs_conn *c, int kind, const char *fmt, ...)
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
static void
conn_request_close (struct acs_conn *c, int code, const char *reason)
{
  if (!c || !c->wsi || c->ended)
    return;
  if (!c->established)
    {
      lws_set_timeout (c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
      return;
    }
  if (c->want_close_code)
    return;
  c->want_close_code = code;
  c->want_close_reason = xstrdup (reason ? reason : "");
  lws_callback_on_writable (c->wsi);
  /* Fallback if the close frame cannot be written. */
  lws_set_timeout (c->wsi, PENDING_TIMEOUT_USER_OK, 3);
}

static void rearm_heartbeat (acs_session_t *s);

/* ---- sending ---- */

static int
enqueue (acs_session_t *s, const char *frame, agent_error_t *err)
{
  struct acs_conn *c = s->conn;
  if (!c || !c->established || c->ended || !c->wsi || c->want_close_code || s->stopping)
    return error_set (err, ERR_UNREACHABLE, "ACS not connected");
  size_t len = strlen (frame);
  struct out_frame *f = xcalloc (1, sizeof *f);
  f->len = len;
  f->buf = xmalloc (LWS_PRE + len + 1);
  memcpy (f->buf + LWS_PRE, frame, len);
  if (c->out_tail)
    c->out_tail->next = f;
  else
    c->out_head = f;
  c->out_tail = f;
  lws_callback_on_writable (c->wsi);
  return 0;
}

int
acs_session_send_text (acs_session_t *s, const char *frame, agent_error_t *err)
{
  if (!s || !frame)
    return error_set (err, ERR_INVALID, "acs_session_send_text: nothing to send");
  return enqueue (s, frame, err);
}

int
acs_session_send_ack (acs_session_t *s, const char *message_id, const char *cluster,
                      const char *container_instance, agent_error_t *err)
{
  char *f = acs_encode_ack (cluster, container_instance, message_id);
  int rc = acs_session_send_text (s, f, err);
  if (rc == 0)
    log_info (MOD, "acked message %s", message_id ? message_id : "");
  free (f);
  return rc;
}

int
acs_session_send_nack (acs_session_t *s, const char *message_id, const char *cluster,
                       const char *container_instance, const char *reason, agent_error_t *err)
{
  char *f = acs_encode_nack (cluster, container_instance, message_id, reason);
  int rc = acs_session_send_text (s, f, err);
  if (rc == 0)
    log_info (MOD, "nacked message %s: %s", message_id ? message_id : "", reason ? reason : "");
  free (f);
  return rc;
}

int
acs_session_send_credentials_ack (acs_session_t *s, const char *message_id,
                                  const char *expiration, const char *credentials_id,
                                  agent_error_t *err)
{
  char *f = acs_encode_iam_credentials_ack (message_id, expiration, credentials_id);
  int rc = acs_session_send_text (s, f, err);
  free (f);
  return rc;
}

void
acs_session_flush (acs_session_t *s, void (*cb) (void *data), void *data)
{
  struct flush_waiter *w = xcalloc (1, sizeof *w);
  w->cb = cb;
  w->data = data;
  struct flush_waiter **pp = &s->flush_head;
  while (*pp)
    pp = &(*pp)->next;
  *pp = w;
  if (!s->conn || !s->conn->out_head)
    kick (s);
}

void
acs_session_flush_cancel (acs_session_t *s, void (*cb) (void *data), void *data)
{
  if (!s)
    return;
  struct flush_waiter **pp = &s->flush_head;
  while (*pp)
    {
      struct flush_waiter *w = *pp;
      if (w->cb == cb && w->data == data)
        {
          *pp = w->next;
          free (w);
        }
      else
        pp = &w->next;
    }
}

static void
run_flush_waiters (acs_session_t *s)
{
  if (s->conn && s->conn->out_head && !s->conn->ended)
    return;
  struct flush_waiter *w = s->flush_head;
  s->flush_head = NULL;
  while (w)
    {
      struct flush_waiter *n = w->next;
      if (w->cb)
        w->cb (w->data);
      free (w);
      w = n;
    }
}

/* ---- timers ---- */

static void
hb_timer_cb (uv_timer_t *t)
{
  acs_session_t *s = t->data;
  struct acs_conn *c = s->conn;
  if (!c || !c->established || c->ended)
    return;
  s->stats.heartbeat_timeouts++;
  log_warn (MOD, "no message from ACS within the heartbeat timeout; reconnecting");
  conn_set_err (c, ERR_TIMEOUT, "ACS heartbeat timeout");
  conn_request_close (c, LWS_CLOSE_STATUS_NORMAL, "heartbeat timeout");
}

static void
rearm_heartbeat (acs_session_t *s)
{
  uint64_t ms = jitter (s->o.heartbeat_timeout_ms, s->o.heartbeat_jitter_ms);
  uv_timer_start (&s->hb_timer, hb_timer_cb, ms, 0);
}

static void
ttl_timer_cb (uv_timer_t *t)
{
  acs_session_t *s = t->data;
  struct acs_conn *c = s->conn;
  if (!c || !c->established || c->ended)
    return;
  log_info (MOD, "connection expired; reconnecting");
  c->close_clean = true;
  conn_request_close (c, LWS_CLOSE_STATUS_NORMAL, "ConnectionExpired: Reconnect to continue");
}

static void
conn_timer_cb (uv_timer_t *t)
{
  acs_session_t *s = t->data;
  struct acs_conn *c = s->conn;
  if (s->stopping)
    {
      /* Grace period for the close frame is over: tear down regardless. */
      s->force_teardown = true;
      kick (s);
      return;
    }
  if (!c || c->established || c->ended)
    return;
  conn_set_err (c, ERR_TIMEOUT, "ACS connect timed out");
  conn_request_close (c, 0, NULL);
}

static void
retry_timer_cb (uv_timer_t *t)
{
  acs_session_t *s = t->data;
  if (!s->stopping)
    begin_connect (s);
}

/* ---- frame dispatch ---- */

static bool
text_has_inactive (const char *t)
{
  return t && strstr (t, "InactiveInstanceException") != NULL;
}

static void
nack_disabled (acs_session_t *s, struct acs_update_message *u)
{
  if (u->message_id)
    acs_session_send_nack (s, u->message_id, u->cluster_arn, u->container_instance_arn,
                           "Updates are disabled", NULL);
  acs_update_message_free (u);
}

static void
dispatch (acs_session_t *s, struct acs_conn *c, struct acs_message *m)
{
  const struct acs_session_handlers *h = &s->h;
  switch (m->type)
    {
    case ACS_MSG_PAYLOAD:
      {
        struct acs_payload *p = acs_message_take_payload (m);
        log_info (MOD, "payload %s seq %lld: %zu task(s)", p->message_id ? p->message_id : "(none)",
                  (long long) p->seq_num, p->n_tasks);
        if (h->on_payload)
          h->on_payload (s, p, h->data);
        else
          {
            log_info (MOD, "no handler for PayloadMessage");
            acs_payload_free (p);
          }
        break;
      }
    case ACS_MSG_HEARTBEAT:
      {
        struct acs_heartbeat *hb = m->u.heartbeat;
        log_debug (MOD, "heartbeat (healthy=%d)", hb->healthy);
        if (hb->message_id)
          {
            char *f = acs_encode_heartbeat_ack (hb->message_id);
            if (enqueue (s, f, NULL) == 0)
              s->stats.heartbeat_acks++;
            free (f);
          }
        break;
      }
    case ACS_MSG_STAGE_UPDATE:
    case ACS_MSG_PERFORM_UPDATE:
      {
        bool stage = m->type == ACS_MSG_STAGE_UPDATE;
        struct acs_update_message *u = acs_message_take_update (m);
        void (*fn) (acs_session_t *, struct acs_update_message *, void *)
            = stage ? h->on_stage_update : h->on_perform_update;
        if (fn)
          fn (s, u, h->data);
        else
          nack_disabled (s, u);
        break;
      }
    case ACS_MSG_IAM_CREDENTIALS:
      {
        struct acs_iam_credentials *cr = acs_message_take_credentials (m);
        if (h->on_credentials)
          h->on_credentials (s, cr, h->data);
        else
          {
            log_info (MOD, "no handler for IAMRoleCredentialsMessage (task %s)",
                      cr->task_arn ? cr->task_arn : "");
            acs_iam_credentials_free (cr);
          }
        break;
      }
    case ACS_MSG_TASK_MANIFEST:
      {
        struct acs_task_manifest *tm = acs_message_take_manifest (m);
        if (h->on_task_manifest)
          h->on_task_manifest (s, tm, h->data);
        else
          {
            log_info (MOD, "no handler for TaskManifestMessage");
            acs_task_manifest_free (tm);
          }
        break;
      }
    case ACS_MSG_TASK_STOP_VERIFICATION_ACK:
      {
        struct acs_task_stop_verification_ack *a = acs_message_take_stop_ack (m);
        if (h->on_task_stop_verification_ack)
          h->on_task_stop_verification_ack (s, a, h->data);
        else
          {
            log_info (MOD, "no handler for TaskStopVerificationAck");
            acs_task_stop_verification_ack_free (a);
          }
        break;
      }
    case ACS_MSG_ATTACHMENT:
      log_info (MOD, "%s ignored (network attachments are not supported)", m->type_name);
      break;
    case ACS_MSG_CLOSE:
      log_info (MOD, "CloseMessage from ACS: %s; reconnecting",
                m->u.close->message ? m->u.close->message : "");
      c->close_clean = true;
      conn_request_close (c, LWS_CLOSE_STATUS_NORMAL, "CloseMessage");
      break;
    case ACS_MSG_ERROR:
      log_warn (MOD, "ErrorMessage from ACS: %s", m->u.error->message ? m->u.error->message : "");
      break;
    case ACS_MSG_EXCEPTION:
      {
        char *t = acs_exception_text (m->u.exception);
        log_warn (MOD, "ACS sent %s", t);
        if (text_has_inactive (t))
          {
            c->inactive = true;
            conn_set_err (c, ERR_CLIENT, "%s", t);
            conn_request_close (c, LWS_CLOSE_STATUS_NORMAL, "InactiveInstanceException");
          }
        free (t);
        break;
      }
    }
}

static void
handle_frame (acs_session_t *s, struct acs_conn *c, const char *data, size_t len)
{
  s->stats.frames_received++;
  struct acs_message *m = NULL;
  agent_error_t err = NULL;
  if (acs_decode (data, len, &m, &err) < 0)
    {
      s->stats.frames_dropped++;
      log_warn (MOD, "dropping ACS frame (%zu bytes): %s", len, error_msg (&err));
      error_free (&err);
      return;
    }
  rearm_heartbeat (s);
  dispatch (s, c, m);
  acs_message_free (m);
}

/* ---- lws callback ---- */

static int
lws_cb (struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
  (void) user;
  struct acs_conn *c = wsi ? lws_get_opaque_user_data (wsi) : NULL;
  if (!c)
    return 0;
  acs_session_t *s = c->s;
  switch (reason)
    {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
      {
        unsigned char **p = (unsigned char **) in;
        unsigned char *end = (*p) + len;
        for (size_t i = 0; i < c->n_hs_headers; i++)
          {
            char *name = xasprintf ("%s:", c->hs_headers[i].name);
            const char *v = c->hs_headers[i].value;
            int rc = lws_add_http_header_by_name (wsi, (unsigned char *) name,
                                                  (const unsigned char *) v, (int) strlen (v), p,
                                                  end);
            free (name);
            if (rc)
              {
                conn_set_err (c, ERR_GENERIC, "handshake headers do not fit");
                return -1;
              }
          }
        break;
      }
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
      c->http_status = lws_http_client_http_response (wsi);
      if (c->http_status >= 400)
        conn_set_err (c, c->http_status >= 500 ? ERR_SERVER : ERR_CLIENT,
                      "ACS handshake failed: HTTP %u", c->http_status);
      else
        conn_set_err (c, ERR_UNREACHABLE, "ACS connect failed: %s",
                      in && len ? (const char *) in : "unknown error");
      break;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
      c->established = true;
      c->connected_at = util_now_ms ();
      s->stats.connects++;
      s->sent_credentials_ok = true;
      if (s->stopping)
        {
          /* stop() came while connecting: its kill timeout and grace timer stay */
          c->close_clean = true;
          conn_request_close (c, LWS_CLOSE_STATUS_NORMAL, "agent stopping");
          break;
        }
      uv_timer_stop (&s->conn_timer);
      lws_set_timeout (wsi, NO_PENDING_TIMEOUT, 0);
      rearm_heartbeat (s);
      uv_timer_start (&s->ttl_timer, ttl_timer_cb,
                      jitter (s->o.connection_ttl_ms, s->o.connection_ttl_jitter_ms), 0);
      log_info (MOD, "connected to ACS at %s", s->endpoint ? s->endpoint : "");
      if (s->h.on_connected)
        s->h.on_connected (s, s->h.data);
      break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
      {
        if (lws_frame_is_binary (wsi) && c->rx.len == 0 && lws_is_first_fragment (wsi))
          log_debug (MOD, "binary frame from ACS; parsing anyway");
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
        if (lws_is_final_fragment (wsi) && lws_remaining_packet_payload (wsi) == 0)
          {
            if (c->rx_overflow)
              {
                s->stats.frames_received++;
                s->stats.frames_dropped++;
                log_warn (MOD, "dropping ACS frame larger than %u bytes", ACS_MAX_FRAME);
              }
            else
              handle_frame (s, c, c->rx.s ? c->rx.s : "", c->rx.len);
            sbuf_free (&c->rx);
            c->rx_overflow = false;
          }
        break;
      }
    case LWS_CALLBACK_CLIENT_WRITEABLE:
      {
        if (c->want_close_code)
          {
            if (c->close_sent)
              break;
            /* libwebsockets 4.1.6 drops the close frame prepared with
               lws_close_reason() when a client callback returns -1 (the
               peer sees 1006), so the close frame is written explicitly;
               lws frames it (write type 4 = its internal LWS_WRITE_CLOSE)
               and closes when the peer answers, or at the timeout set in
               conn_request_close(). */
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
            break;
          }
        struct out_frame *f = c->out_head;
        if (!f)
          break;
        c->out_head = f->next;
        if (!c->out_head)
          c->out_tail = NULL;
        int n = lws_write (wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_TEXT);
        free (f->buf);
        free (f);
        if (n < 0)
          {
            conn_set_err (c, ERR_UNREACHABLE, "ACS write failed");
            return -1;
          }
        s->stats.frames_sent++;
        if (c->out_head)
          lws_callback_on_writable (wsi);
        else if (s->flush_head)
          kick (s);
        break;
      }
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
      log_debug (MOD, "peer close frame (%zu bytes)", len);
      if (len >= 2 && in)
        {
          const unsigned char *b = in;
          c->close_code = (b[0] << 8) | b[1];
          free (c->close_reason);
          c->close_reason = xstrndup ((const char *) b + 2, len - 2);
        }
      else
        c->close_code = LWS_CLOSE_STATUS_NO_STATUS;
      break;
    case LWS_CALLBACK_CLIENT_CLOSED:
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

static void
lws_log_emit (int level, const char *line)
{
  size_t n = strlen (line);
  while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
    n--;
  if (level & LLL_ERR)
    log_warn ("lws", "%.*s", (int) n, line);
  else
    log_debug ("lws", "%.*s", (int) n, line);
}

/* ---- connection end and reconnect ---- */

static bool
close_code_clean (int code)
{
  return code == 0 || code == LWS_CLOSE_STATUS_NORMAL || code == LWS_CLOSE_STATUS_GOINGAWAY
         || code == LWS_CLOSE_STATUS_ABNORMAL_CLOSE || code == LWS_CLOSE_STATUS_NO_STATUS
         || code == 1011;
}

/* Called from WSI_DESTROY (inside lws): record and defer the rest. */
static void
conn_end (struct acs_conn *c)
{
  if (c->ended)
    return;
  c->ended = true;
  acs_session_t *s = c->s;
  if (c->established && !c->err && !c->close_clean && !close_code_clean (c->close_code))
    conn_set_err (c, ERR_UNREACHABLE, "ACS closed the connection: %d %s", c->close_code,
                  c->close_reason ? c->close_reason : "");
  if (!c->established && !c->err)
    conn_set_err (c, ERR_UNREACHABLE, "ACS connection failed");
  if (text_has_inactive (c->close_reason))
    c->inactive = true;
  if (s->conn == c)
    {
      s->conn = NULL;
      s->ended_conn = c;
    }
  kick (s);
}

static void
schedule_reconnect (acs_session_t *s, struct acs_conn *c)
{
  if (s->stopping)
    return;
  uint64_t delay;
  const char *emsg = c->err ? error_msg (&c->err) : NULL;
  if (c->inactive || text_has_inactive (emsg))
    {
      delay = s->o.inactive_wait_ms;
      log_warn (MOD, "container instance is inactive (%s); waiting %llu ms before reconnecting",
                emsg ? emsg : "deregistered", (unsigned long long) delay);
      if (s->h.on_inactive)
        s->h.on_inactive (s, s->h.data);
    }
  else if (!c->err)
    {
      backoff_reset (&s->backoff);
      delay = 0;
      log_info (MOD, "ACS connection ended cleanly; reconnecting now");
    }
  else
    {
      if (c->established && util_now_ms () - c->connected_at >= s->o.heartbeat_timeout_ms)
        backoff_reset (&s->backoff);
      delay = backoff_next (&s->backoff);
      log_warn (MOD, "%s; reconnecting in %llu ms", emsg, (unsigned long long) delay);
    }
  s->stats.last_delay_ms = delay;
  if (s->stopping)
    return;
  uv_timer_start (&s->retry_timer, retry_timer_cb, delay, 0);
}

static void
finish_conn (acs_session_t *s, struct acs_conn *c)
{
  if (c->err)
    set_last_error (s, error_msg (&c->err));
  if (c->established)
    {
      s->stats.disconnects++;
      uv_timer_stop (&s->hb_timer);
      uv_timer_stop (&s->ttl_timer);
      log_info (MOD, "disconnected from ACS (close code %d%s%s)%s%s", c->close_code,
                c->close_reason && *c->close_reason ? " " : "",
                c->close_reason ? c->close_reason : "", c->err ? ": " : "",
                c->err ? error_msg (&c->err) : "");
      if (s->h.on_disconnected)
        s->h.on_disconnected (s, c->err ? (const agent_error_t *) &c->err : NULL, s->h.data);
    }
  uv_timer_stop (&s->conn_timer);
  schedule_reconnect (s, c);
  conn_free (c);
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
          if (text_has_inactive (t))
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

/* ---- connect ---- */

struct url_parts
{
  bool tls;
  char *host;      /* without brackets */
  int port;
  char *authority; /* host[:port] as signed and sent in Host */
  char *path;      /* /ws?... */
  char *http_url;  /* http(s)://authority/path */
};

static void
url_parts_free (struct url_parts *u)
{
  free (u->host);
  free (u->authority);
  free (u->path);
  free (u->http_url);
}

static int
parse_url (const char *url, struct url_parts *u, agent_error_t *err)
{
  memset (u, 0, sizeof *u);
  const char *p = strstr (url, "://");
  if (!p)
    return error_set (err, ERR_INVALID, "ACS endpoint %s has no scheme", url);
  size_t sl = (size_t) (p - url);
  if ((sl == 5 && strncasecmp (url, "https", 5) == 0) || (sl == 3 && strncasecmp (url, "wss", 3) == 0))
    u->tls = true;
  else if ((sl == 4 && strncasecmp (url, "http", 4) == 0) || (sl == 2 && strncasecmp (url, "ws", 2) == 0))
    u->tls = false;
  else
    return error_set (err, ERR_INVALID, "ACS endpoint %s: unsupported scheme", url);
  const char *a = p + 3;
  const char *slash = strchr (a, '/');
  const char *q = strchr (a, '?');
  const char *aend = slash ? slash : (q ? q : a + strlen (a));
  if (q && q < aend)
    aend = q;
  const char *at = memchr (a, '@', (size_t) (aend - a));
  if (at)
    a = at + 1;
  if (aend == a)
    return error_set (err, ERR_INVALID, "ACS endpoint %s has no host", url);
  const char *port_s = NULL;
  if (*a == '[')
    {
      const char *rb = memchr (a, ']', (size_t) (aend - a));
      if (!rb)
        return error_set (err, ERR_INVALID, "ACS endpoint %s: bad IPv6 host", url);
      u->host = xstrndup (a + 1, (size_t) (rb - a - 1));
      if (rb + 1 < aend && rb[1] == ':')
        port_s = rb + 2;
    }
  else
    {
      const char *colon = memchr (a, ':', (size_t) (aend - a));
      u->host = xstrndup (a, (size_t) ((colon ? colon : aend) - a));
      if (colon)
        port_s = colon + 1;
    }
  int def = u->tls ? 443 : 80;
  u->port = def;
  if (port_s && port_s < aend)
    {
      char *e = NULL;
      long v = strtol (port_s, &e, 10);
      if (e != aend || v <= 0 || v > 65535)
        {
          url_parts_free (u);
          return error_set (err, ERR_INVALID, "ACS endpoint %s: bad port", url);
        }
      u->port = (int) v;
    }
  bool v6 = strchr (u->host, ':') != NULL;
  if (u->port == def)
    u->authority = v6 ? xasprintf ("[%s]", u->host) : xstrdup (u->host);
  else
    u->authority = v6 ? xasprintf ("[%s]:%d", u->host, u->port) : xasprintf ("%s:%d", u->host, u->port);
  u->path = xstrdup (*aend ? aend : "/");
  if (u->path[0] != '/')
    {
      char *np = xasprintf ("/%s", u->path);
      free (u->path);
      u->path = np;
    }
  u->http_url = xasprintf ("%s://%s%s", u->tls ? "https" : "http", u->authority, u->path);
  return 0;
}

static void
connect_failed (acs_session_t *s, agent_error_t *err)
{
  struct acs_conn c = { .s = s };
  error_move (&c.err, err);
  set_last_error (s, error_msg (&c.err));
  schedule_reconnect (s, &c);
  error_free (&c.err);
}

static struct lws_vhost *session_vhost (acs_session_t *s, bool tls);

static void
do_connect (acs_session_t *s, const struct aws_credentials *creds)
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
  char *url = acs_build_url (&up);
  struct url_parts u;
  if (parse_url (url, &u, &err) < 0)
    {
      free (url);
      connect_failed (s, &err);
      return;
    }
  free (url);
  struct lws_vhost *vh = session_vhost (s, u.tls);
  if (!vh)
    {
      url_parts_free (&u);
      error_set (&err, ERR_GENERIC, "cannot create the libwebsockets %s client vhost", u.tls ? "TLS" : "plain");
      connect_failed (s, &err);
      return;
    }
  struct aws_sigv4_input in = {
    .method = "GET",
    .url = u.http_url,
    .region = s->region,
    .service = "ecs",
    .now = session_now (s),
    .flags = AWS_SIGV4_HOST_DATE,
  };
  struct aws_sigv4_output out = { 0 };
  if (aws_sigv4_sign (&in, creds, &out, &err) < 0)
    {
      url_parts_free (&u);
      error_wrap (&err, "signing the ACS handshake");
      connect_failed (s, &err);
      return;
    }
  struct acs_conn *c = xcalloc (1, sizeof *c);
  c->s = s;
  c->url = xstrdup (u.http_url);
  c->hs_headers = xcalloc (out.n_headers + 1, sizeof *c->hs_headers);
  for (size_t i = 0; i < out.n_headers; i++)
    {
      c->hs_headers[i].name = xstrdup (out.headers[i].name);
      c->hs_headers[i].value = xstrdup (out.headers[i].value);
    }
  c->n_hs_headers = out.n_headers;
  aws_sigv4_output_free (&out);

  struct lws_client_connect_info ci;
  memset (&ci, 0, sizeof ci);
  ci.context = s->ctx;
  ci.vhost = vh;
  ci.address = u.host;
  ci.port = u.port;
  ci.path = u.path;
  ci.host = u.authority;
  ci.origin = NULL;
  ci.protocol = NULL;
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
  log_info (MOD, "connecting to ACS %s://%s/ws", u.tls ? "wss" : "ws", u.authority);
  uv_timer_start (&s->conn_timer, conn_timer_cb, s->o.connect_timeout_ms, 0);
  struct lws *wsi = lws_client_connect_via_info (&ci);
  url_parts_free (&u);
  if (!wsi)
    {
      /* lws may or may not have run CONNECTION_ERROR / WSI_DESTROY already. */
      if (!c->ended)
        {
          conn_set_err (c, ERR_UNREACHABLE, "ACS connect failed to start");
          conn_end (c);
        }
      return;
    }
  if (!c->ended)
    c->wsi = wsi;
}

static void
creds_cb (const struct aws_credentials *creds, agent_error_t err, void *data)
{
  acs_session_t *s = data;
  s->creds_pending = false;
  if (s->stopping)
    return;
  if (!creds)
    {
      agent_error_t e = NULL;
      error_set (&e, ERR_AUTH, "no credentials for the ACS handshake: %s",
                 err ? error_msg (&err) : "unknown error");
      connect_failed (s, &e);
      return;
    }
  do_connect (s, creds);
}

static void
discover_cb (const char *endpoint, const char *telemetry_endpoint, agent_error_t err, void *data)
{
  (void) telemetry_endpoint;
  acs_session_t *s = data;
  s->ecs_op = NULL;
  if (s->stopping)
    return;
  if (err || !endpoint || !*endpoint)
    {
      agent_error_t e = NULL;
      error_set (&e, err ? error_kind (&err) : ERR_MALFORMED, "DiscoverPollEndpoint: %s",
                 err ? error_msg (&err) : "no endpoint");
      connect_failed (s, &e);
      return;
    }
  free (s->endpoint);
  s->endpoint = xstrdup (endpoint);
  s->creds_pending = true;
  aws_creds_fetch (s->o.creds, creds_cb, s);
}

static void
begin_connect (acs_session_t *s)
{
  if (s->stopping || s->conn || s->ecs_op || s->creds_pending)
    return;
  if (s->endpoint_fixed)
    {
      free (s->endpoint);
      s->endpoint = xstrdup (s->endpoint_fixed);
      s->creds_pending = true;
      aws_creds_fetch (s->o.creds, creds_cb, s);
      return;
    }
  s->ecs_op = ecs_discover_poll_endpoint (s->o.ecs, s->instance_arn, s->cluster, discover_cb, s);
}

/* ---- teardown ---- */

/* The client vhost for a scheme, created on first use.  Only the TLS one
   loads the CA store (ECS_CA_FILE-style override, else Debian's bundle). */
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
      else if (access ("/etc/ssl/certs/ca-certificates.crt", R_OK) == 0)
        info.client_ssl_ca_filepath = "/etc/ssl/certs/ca-certificates.crt";
    }
  *slot = lws_util_vhost_create (s->ctx, s->loop, &info, &s->lws_track);
  return *slot;
}

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
  free (s->endpoint);
  lws_util_handles_free (&s->lws_track);
  free (s->stats.last_error);
  while (s->flush_head)
    {
      struct flush_waiter *n = s->flush_head->next;
      free (s->flush_head);
      s->flush_head = n;
    }
  free (s);
}

static void
own_handle_closed (uv_handle_t *h)
{
  acs_session_t *s = h->data;
  if (--s->open_handles > 0)
    return;
  s->closed_all = true;
  run_flush_waiters (s);
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
                        (uv_handle_t *) &s->kick_timer };
  for (size_t i = 0; i < ARRAY_SIZE (hs); i++)
    {
      hs[i]->data = s;
      uv_close (hs[i], own_handle_closed);
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
    log_warn (MOD, "libwebsockets did not release its handles; leaking its context");
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
  struct lws_context *ctx = s->ctx;
  s->ctx = NULL;
  lws_util_context_destroy (ctx, s->loop, &s->lws_track, FIN_MAX_SPINS, lws_busy_cb, lws_done_cb, s);
}

static void
kick_cb (uv_timer_t *t)
{
  acs_session_t *s = t->data;
  struct acs_conn *c = s->ended_conn;
  if (c)
    {
      s->ended_conn = NULL;
      if (!s->stopping && fetch_error_body (s, c))
        ; /* finish_conn runs from body_done_cb */
      else
        finish_conn (s, c);
    }
  run_flush_waiters (s);
  if (s->stopping && !s->torn_down && (!s->conn || s->force_teardown))
    teardown (s);
}

static void
kick (acs_session_t *s)
{
  if (s->torn_down && s->closed_all)
    return;
  if (!uv_is_closing ((uv_handle_t *) &s->kick_timer))
    uv_timer_start (&s->kick_timer, kick_cb, 0, 0);
}

/* ---- public ---- */

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
  s->endpoint_fixed = xstrdup (opts->endpoint);
  s->region = xstrdup (opts->region);
  s->cluster = xstrdup (opts->cluster ? opts->cluster : "default");
  s->instance_arn = xstrdup (opts->container_instance_arn ? opts->container_instance_arn : "");
  s->agent_version = xstrdup (opts->agent_version ? opts->agent_version : AGENT_VERSION);
  s->agent_hash = opts->agent_hash ? xstrdup (opts->agent_hash)
                                   : xasprintf ("%s%s", AGENT_GITDIRTY ? "*" : "", AGENT_GITREV);
  s->docker_version = xstrdup (opts->docker_version);
  s->ca_file = xstrdup (opts->ca_file);
  s->o.endpoint = s->o.cluster = s->o.region = s->o.container_instance_arn = NULL;
  s->o.agent_version = s->o.agent_hash = s->o.docker_version = s->o.ca_file = NULL;
  if (!s->o.heartbeat_timeout_ms)
    s->o.heartbeat_timeout_ms = 60000;
  if (!s->o.heartbeat_jitter_ms)
    s->o.heartbeat_jitter_ms = 60000;
  if (!s->o.connection_ttl_ms)
    s->o.connection_ttl_ms = 30 * 60000;
  if (!s->o.connection_ttl_jitter_ms)
    s->o.connection_ttl_jitter_ms = 5 * 60000;
  if (!s->o.backoff_min_ms)
    s->o.backoff_min_ms = 250;
  if (!s->o.backoff_max_ms)
    s->o.backoff_max_ms = 2 * 60000;
  if (s->o.backoff_mult <= 0)
    s->o.backoff_mult = 1.5;
  if (s->o.backoff_jitter <= 0)
    s->o.backoff_jitter = 0.2;
  if (!s->o.inactive_wait_ms)
    s->o.inactive_wait_ms = 3600 * 1000;
  if (!s->o.connect_timeout_ms)
    s->o.connect_timeout_ms = 30000;
  backoff_init (&s->backoff, s->o.backoff_min_ms, s->o.backoff_max_ms, s->o.backoff_jitter,
                s->o.backoff_mult);
  s->seq_num = opts->seq_num > 0 ? opts->seq_num : 1;

  static bool lws_log_set;
  if (!lws_log_set)
    {
      lws_set_log_level (LLL_ERR | LLL_WARN, lws_log_emit);
      lws_log_set = true;
    }

  s->protocols[0].name = "acs";
  s->protocols[0].callback = lws_cb;
  s->protocols[0].rx_buffer_size = 65536;

  struct lws_context_creation_info info;
  memset (&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = s->protocols;
  info.user = s;
  /* The client vhosts are made on first use (session_vhost). */
  info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT
                 | LWS_SERVER_OPTION_UV_NO_SIGSEGV_SIGFPE_SPIN | LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
  info.connect_timeout_secs = (unsigned) ((s->o.connect_timeout_ms + 999) / 1000);
  info.timeout_secs = info.connect_timeout_secs;

  s->ctx = lws_util_context_create (loop, &info, &s->lws_track);
  if (!s->ctx)
    {
      error_set (err, ERR_GENERIC, "cannot create the libwebsockets context for ACS");
      session_release (s);
      return NULL;
    }

  uv_timer_init (loop, &s->retry_timer);
  uv_timer_init (loop, &s->hb_timer);
  uv_timer_init (loop, &s->ttl_timer);
  uv_timer_init (loop, &s->conn_timer);
  uv_timer_init (loop, &s->kick_timer);
  s->retry_timer.data = s->hb_timer.data = s->ttl_timer.data = s->conn_timer.data = s;
  s->kick_timer.data = s;
  s->open_handles = 5;
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
  uv_timer_start (&s->retry_timer, retry_timer_cb, 0, 0);
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
  if (s->ecs_op)
    {
      ecs_call_cancel (s->ecs_op);
      s->ecs_op = NULL;
    }
  if (s->creds_pending)
    {
      aws_creds_fetch_cancel (s->o.creds, creds_cb, s);
      s->creds_pending = false;
    }
  if (s->body_call)
    {
      http_call_cancel (s->body_call);
      s->body_call = NULL;
      conn_free (s->body_conn);
      s->body_conn = NULL;
    }
  uv_timer_stop (&s->retry_timer);
  uv_timer_stop (&s->hb_timer);
  uv_timer_stop (&s->ttl_timer);
  struct acs_conn *c = s->conn;
  if (c && c->established && !c->ended)
    {
      c->close_clean = true;
      conn_request_close (c, LWS_CLOSE_STATUS_NORMAL, "agent stopping");
    }
  else
    {
      if (c && !c->ended && c->wsi)
        lws_set_timeout (c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
      kick (s);
    }
  /* Whatever lws does with the connection, tear down after the grace period. */
  uv_timer_start (&s->conn_timer, conn_timer_cb, CLOSE_GRACE_MS, 0);
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
  return s->endpoint;
}
