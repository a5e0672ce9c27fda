/* acs/session_queue.c - outbound frames of an ACS connection: a byte-capped
   queue with a write deadline, flush waiters, the send functions (see
   session_int.h). */
#include "acs/session_int.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include <stdlib.h>
#include <string.h>

static void
queue_arm_deadline (acs_session_t *s)
{
  uv_timer_start (&s->write_timer, acs_queue_write_timer_cb, s->o.write_timeout_ms, 0);
}

int
acs_queue_push (acs_session_t *s, const char *frame, agent_error_t *err)
{
  struct acs_conn *c = s->conn;
  if (!c || !c->established || c->ended || !c->wsi || c->want_close_code || s->stopping)
    return error_set (err, ERR_UNREACHABLE, "ACS not connected");
  size_t len = strlen (frame);
  if (len > ACS_SESSION_MAX_QUEUED_BYTES - c->out_bytes)
    {
      s->stats.frames_refused++;
      if (!c->refused_logged)
        log_warn (ACS_MOD,
                  "ACS is not taking outbound frames (%zu bytes queued, limit %u): refusing "
                  "frames until the queue drains or the write deadline drops the connection",
                  c->out_bytes, ACS_SESSION_MAX_QUEUED_BYTES);
      c->refused_logged = true;
      return error_set (err, ERR_UNREACHABLE, "ACS outbound queue full");
    }
  struct acs_out_frame *f = xcalloc (1, sizeof *f);
  f->len = len;
  f->buf = xmalloc (LWS_PRE + len + 1);
  memcpy (f->buf + LWS_PRE, frame, len);
  STAILQ_INSERT_TAIL (&c->out, f, link);
  c->out_bytes += len;
  if (!uv_is_active ((uv_handle_t *) &s->write_timer))
    queue_arm_deadline (s);
  lws_callback_on_writable (c->wsi);
  return 0;
}

int
acs_queue_write (struct acs_conn *c, struct lws *wsi)
{
  acs_session_t *s = c->s;
  struct acs_out_frame *f = STAILQ_FIRST (&c->out);
  if (f)
    {
      STAILQ_REMOVE_HEAD (&c->out, link);
      c->out_bytes -= f->len;
      /* lws keeps what the socket did not take and sends it before
         calling back again (lws_partial_buffered). */
      int n = lws_write (wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_TEXT);
      free (f->buf);
      free (f);
      if (n < 0)
        {
          acs_conn_set_err (c, ERR_UNREACHABLE, "ACS write failed");
          return -1;
        }
      s->stats.frames_sent++;
    }
  if (STAILQ_EMPTY (&c->out) && !lws_partial_buffered (wsi))
    {
      uv_timer_stop (&s->write_timer);
      if (c->refused_logged)
        log_info (ACS_MOD, "ACS outbound queue drained");
      c->refused_logged = false;
      if (!TAILQ_EMPTY (&s->flush))
        acs_sess_kick (s);
    }
  else
    {
      if (f)
        queue_arm_deadline (s); /* progress: the next frame gets a full deadline */
      lws_callback_on_writable (wsi);
    }
  return 0;
}

void
acs_queue_write_timer_cb (uv_timer_t *t)
{
  acs_session_t *s = t->data;
  struct acs_conn *c = s->conn;
  if (!c || !c->established || c->ended || !c->wsi)
    return;
  if (STAILQ_EMPTY (&c->out) && !lws_partial_buffered (c->wsi))
    return;
  s->stats.write_timeouts++;
  log_warn (ACS_MOD,
            "ACS took no queued data within %llu ms (%zu bytes waiting); dropping the connection",
            (unsigned long long) s->o.write_timeout_ms, c->out_bytes);
  acs_conn_set_err (c, ERR_TIMEOUT, "ACS write deadline passed");
  /* A close frame could not be written either: end the socket. */
  lws_set_timeout (c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

void
acs_queue_clear (struct acs_conn *c)
{
  struct acs_out_frame *f;
  while ((f = STAILQ_FIRST (&c->out)))
    {
      STAILQ_REMOVE_HEAD (&c->out, link);
      free (f->buf);
      free (f);
    }
  c->out_bytes = 0;
}

size_t
acs_session_queued_bytes (const acs_session_t *s)
{
  return s && s->conn ? s->conn->out_bytes : 0;
}

/* ---- sending ---- */

int
acs_session_send_text (acs_session_t *s, const char *frame, agent_error_t *err)
{
  if (!s || !frame)
    return error_set (err, ERR_INVALID, "acs_session_send_text: nothing to send");
  return acs_queue_push (s, frame, err);
}

int
acs_session_send_ack (acs_session_t *s, const char *message_id, const char *cluster,
                      const char *container_instance, agent_error_t *err)
{
  char *f = acs_encode_ack (cluster, container_instance, message_id);
  int rc = acs_session_send_text (s, f, err);
  if (rc == 0)
    log_info (ACS_MOD, "acked message %s", message_id ? message_id : "");
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
    log_info (ACS_MOD, "nacked message %s: %s", message_id ? message_id : "",
              reason ? reason : "");
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

/* ---- flush waiters ---- */

void
acs_session_flush (acs_session_t *s, void (*cb) (void *data), void *data)
{
  struct acs_flush_waiter *w = xcalloc (1, sizeof *w);
  w->cb = cb;
  w->data = data;
  TAILQ_INSERT_TAIL (&s->flush, w, link);
  if (!s->conn || STAILQ_EMPTY (&s->conn->out))
    acs_sess_kick (s);
}

void
acs_session_flush_cancel (acs_session_t *s, void (*cb) (void *data), void *data)
{
  if (!s)
    return;
  struct acs_flush_waiter *w = TAILQ_FIRST (&s->flush), *next;
  for (; w; w = next)
    {
      next = TAILQ_NEXT (w, link);
      if (w->cb == cb && w->data == data)
        {
          TAILQ_REMOVE (&s->flush, w, link);
          free (w);
        }
    }
}

/* Run every waiter once the current connection has nothing queued. */
void
acs_queue_run_flush_waiters (acs_session_t *s)
{
  if (s->conn && !STAILQ_EMPTY (&s->conn->out) && !s->conn->ended)
    return;
  struct acs_flush_list ready;
  TAILQ_INIT (&ready);
  TAILQ_CONCAT (&ready, &s->flush, link);
  struct acs_flush_waiter *w;
  while ((w = TAILQ_FIRST (&ready)))
    {
      TAILQ_REMOVE (&ready, w, link);
      if (w->cb)
        w->cb (w->data);
      free (w);
    }
}

void
acs_queue_free_waiters (acs_session_t *s)
{
  struct acs_flush_waiter *w;
  while ((w = TAILQ_FIRST (&s->flush)))
    {
      TAILQ_REMOVE (&s->flush, w, link);
      free (w);
    }
}
