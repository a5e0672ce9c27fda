/* acs/session_rx.c - received ACS frames: decoded on libuv's threadpool,
   dispatched on the loop in arrival order (see session_int.h).

   A frame can be up to ACS_MAX_FRAME bytes and decoding a big payload takes
   long enough to stall every other handle of the loop, so each complete
   frame becomes a job: the worker parses the JSON and builds the typed
   message (acs_decode_parse / acs_decode_json, which touch nothing but the
   job); the loop, in the job's after-work callback, hands finished jobs to
   session_dispatch.c strictly from the head of the connection's FIFO, so a
   small frame decoded early still waits for the big one received before
   it.  Decoding is pure, credentials included: the secrets a message
   carries are registered with the logger (whose list of secrets belongs
   to the loop thread) in rx_drain, on the loop, before the message is
   dispatched or anything logs it; a message that never gets there is
   freed without touching the logger.  So every frame type takes the same
   path, with the same limits.

   Bounds: while ACS_RX_PAUSE_FRAMES frames or ACS_RX_PAUSE_BYTES bytes are
   pending the socket is not read (lws_rx_flow_control); data libwebsockets
   had already read may still arrive, and past ACS_RX_MAX_FRAMES /
   ACS_RX_MAX_BYTES the connection is dropped with one log line.

   Lifetime: a job belongs to its connection until after-work ran and it
   was dispatched.  acs_rx_clear() (the connection is freed) cancels jobs
   not started and detaches running ones; a detached job frees itself in
   its after-work callback, which libuv runs even for a cancelled job. */
#include "acs/session_int.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include <stdlib.h>
#include <string.h>

#define ACS_RX_PAUSE_FRAMES 16
#define ACS_RX_PAUSE_BYTES (2u * ACS_MAX_FRAME)
#define ACS_RX_MAX_FRAMES 256
#define ACS_RX_MAX_BYTES (4u * ACS_MAX_FRAME)

struct acs_rx_job
{
  uv_work_t work; /* work.data: the job */
  STAILQ_ENTRY (acs_rx_job) link;
  struct acs_conn *c; /* NULL once detached: after-work frees the job */
  char *data;         /* the frame; freed by the worker after decoding */
  size_t len;
  struct acs_message *m;
  agent_error_t err;
  bool done; /* after-work ran */
};

static void
rx_job_free (struct acs_rx_job *j)
{
  free (j->data);
  acs_message_free (j->m);
  error_free (&j->err);
  free (j);
}

/* Worker thread: only the job is touched. */
static void
rx_work_cb (uv_work_t *w)
{
  struct acs_rx_job *j = w->data;
  json_t *root = NULL;
  if (acs_decode_parse (j->data, j->len, &root, &j->err) == 0)
    acs_decode_json (root, &j->m, &j->err);
  free (j->data);
  j->data = NULL;
}

static bool
rx_over (const struct acs_conn *c, size_t frames, size_t bytes)
{
  return c->rx_n >= frames || c->rx_bytes >= bytes;
}

/* Dispatch the finished jobs at the head of c's queue, in order. */
static void
rx_drain (struct acs_conn *c)
{
  acs_session_t *s = c->s;
  struct acs_rx_job *j;
  while ((j = STAILQ_FIRST (&c->rxq)) && j->done)
    {
      STAILQ_REMOVE_HEAD (&c->rxq, link);
      c->rx_n--;
      c->rx_bytes -= j->len;
      struct acs_message *m = j->m;
      j->m = NULL;
      /* first thing on the loop: from here on the message may be logged */
      acs_message_register_secrets (m);
      acs_dispatch_decoded (s, c, m, &j->err, j->len);
      rx_job_free (j);
    }
  if (c->rx_paused && !rx_over (c, ACS_RX_PAUSE_FRAMES / 2, ACS_RX_PAUSE_BYTES / 2))
    {
      c->rx_paused = false;
      if (c->wsi && !c->ended)
        lws_rx_flow_control (c->wsi, 1);
    }
  if (c->ended && c->rx_n == 0)
    acs_sess_kick (s); /* the ended connection was waiting for its frames */
}

static void
rx_after_work_cb (uv_work_t *w, int status)
{
  struct acs_rx_job *j = w->data;
  j->done = true;
  if (status < 0 && !j->err)
    error_set (&j->err, ERR_GENERIC, "decoding cancelled: %s", uv_strerror (status));
  if (!j->c)
    {
      rx_job_free (j);
      return;
    }
  rx_drain (j->c);
}

void
acs_rx_frame (struct acs_conn *c, char *data, size_t len)
{
  acs_session_t *s = c->s;
  s->stats.frames_received++;
  if (rx_over (c, ACS_RX_MAX_FRAMES, ACS_RX_MAX_BYTES))
    {
      free (data);
      s->stats.frames_dropped++;
      if (!c->rx_overrun)
        {
          log_warn (ACS_MOD, "%zu ACS frames (%zu bytes) wait to be decoded although reading is "
                    "paused; dropping the connection",
                    c->rx_n, c->rx_bytes);
          acs_conn_set_err (c, ERR_GENERIC, "too many ACS frames waiting to be decoded");
          acs_conn_request_close (c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "receive queue full");
        }
      c->rx_overrun = true;
      return;
    }
  struct acs_rx_job *j = xcalloc (1, sizeof *j);
  j->c = c;
  j->data = data;
  j->len = len;
  j->work.data = j;
  STAILQ_INSERT_TAIL (&c->rxq, j, link);
  c->rx_n++;
  c->rx_bytes += len;
  int rc = uv_queue_work (s->loop, &j->work, rx_work_cb, rx_after_work_cb);
  if (rc < 0)
    {
      /* Not queued (cannot happen with valid arguments): decode here. */
      rx_work_cb (&j->work);
      j->done = true;
      rx_drain (c);
      return;
    }
  if (!c->rx_paused && rx_over (c, ACS_RX_PAUSE_FRAMES, ACS_RX_PAUSE_BYTES) && c->wsi)
    {
      c->rx_paused = true;
      s->stats.rx_pauses++;
      lws_rx_flow_control (c->wsi, 0);
    }
}

bool
acs_rx_pending (const struct acs_conn *c)
{
  return c->rx_n > 0;
}

void
acs_rx_clear (struct acs_conn *c)
{
  struct acs_rx_job *j;
  size_t dropped = 0;
  while ((j = STAILQ_FIRST (&c->rxq)))
    {
      STAILQ_REMOVE_HEAD (&c->rxq, link);
      dropped++;
      if (j->done)
        rx_job_free (j);
      else
        {
          j->c = NULL;
          uv_cancel ((uv_req_t *) &j->work); /* fails if running: after-work frees it */
        }
    }
  if (dropped)
    {
      c->s->stats.frames_dropped += dropped;
      log_info (ACS_MOD, "dropping %zu received ACS frame(s) not yet handled: the connection is gone",
                dropped);
    }
  c->rx_n = 0;
  c->rx_bytes = 0;
}
