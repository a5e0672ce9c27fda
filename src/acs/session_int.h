/* acs/session_int.h - what the ACS session's source files share (not for other modules).
 *
 * Contract:
 *  - The session (acs/session.h) is split along its seams; each file owns one:
 *      session.c           public API, option defaults, the kick, teardown
 *      session_queue.c     outbound frame queue (byte cap, write deadline),
 *                          flush waiters, the send functions
 *      session_dispatch.c  decoded frames -> handler table, heartbeat acks,
 *                          CloseMessage / exceptions -> close requests
 *      session_lws.c       the libwebsockets protocol callback, client vhosts,
 *                          the connect itself
 *      session_reconnect.c timers (heartbeat, TTL, connect, retry), end of a
 *                          connection, back-off, the handshake error body;
 *                          discovery and credentials run in ecs/ws_dial.c,
 *                          the websocket plumbing shared with TCS in
 *                          aws/ws_client.c
 *  - A struct acs_conn is one connection attempt.  libwebsockets ends it with
 *    WSI_DESTROY (acs_conn_end), which only records and kicks: the kick runs
 *    the rest on the next loop turn, outside libwebsockets' callbacks.
 *      session_rx.c        received frames: decoded on libuv's threadpool,
 *                          dispatched in arrival order, bounded
 *  - Single-threaded but for one step: everything runs on the session's
 *    loop except the decoding of a received frame, which runs on a worker
 *    thread and touches only its own job (session_rx.c); the secrets a
 *    decoded message carries are registered with the logger on the loop,
 *    before it is dispatched.
 */
#ifndef ACS_SESSION_INT_H
#define ACS_SESSION_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <libwebsockets.h>
#include <uv.h>
#include "acs/session.h"
#include "core/lws_util.h"
#include "core/util.h"
#include "ecs/ws_dial.h"

#define ACS_MOD "acs"
#define ACS_CLOSE_GRACE_MS 2000 /* stop: wait this long for the close handshake */

struct acs_out_frame
{
  STAILQ_ENTRY (acs_out_frame) link;
  size_t len;
  unsigned char *buf; /* LWS_PRE + len */
};
STAILQ_HEAD (acs_out_queue, acs_out_frame);

struct acs_flush_waiter
{
  TAILQ_ENTRY (acs_flush_waiter) link;
  void (*cb) (void *data);
  void *data;
};
TAILQ_HEAD (acs_flush_list, acs_flush_waiter);

/* One connection attempt. */
struct acs_conn
{
  acs_session_t *s;
  struct lws *wsi;
  bool established;
  bool ended;        /* WSI_DESTROY seen (or connect failed synchronously) */
  bool close_clean;  /* close requested as a clean end (CloseMessage, TTL) */
  bool expired;      /* closed by our own connection TTL */
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
  struct acs_out_queue out;
  size_t out_bytes;  /* sum of the queued frames' lengths */
  bool refused_logged;
  struct sbuf rx;
  bool rx_overflow;
  /* received frames not yet dispatched, oldest first (session_rx.c) */
  STAILQ_HEAD (, acs_rx_job) rxq;
  size_t rx_n, rx_bytes;
  bool rx_paused;  /* lws_rx_flow_control(wsi, 0) in force */
  bool rx_overrun; /* dropped for too many pending frames (logged) */
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

  uv_timer_t retry_timer, hb_timer, ttl_timer, conn_timer, kick_timer, write_timer;
  int open_handles;

  struct backoff backoff;
  int64_t seq_num;
  bool sent_credentials_ok; /* sendCredentials=true until first success */
  struct ecs_ws_dial dial;  /* endpoint and credentials before a connect */

  http_call_t *body_call;
  struct acs_conn *body_conn; /* the ended connection whose error body is read */
  struct acs_conn *conn;
  struct acs_conn *ended_conn; /* waiting for the kick to be processed */
  struct acs_flush_list flush;

  bool force_teardown;
  bool started, stopping, torn_down, closed_all, free_requested;
  void (*stop_cb) (void *data);
  void *stop_data;

  struct acs_session_stats stats;
};

/* session.c */
void acs_sess_kick (acs_session_t *s);
void acs_sess_set_last_error (acs_session_t *s, const char *msg);

/* session_queue.c */
int acs_queue_push (acs_session_t *s, const char *frame, agent_error_t *err);
/* LWS_CALLBACK_CLIENT_WRITEABLE with no close pending: write one frame. */
int acs_queue_write (struct acs_conn *c, struct lws *wsi);
void acs_queue_clear (struct acs_conn *c);
void acs_queue_run_flush_waiters (acs_session_t *s);
void acs_queue_free_waiters (acs_session_t *s);
void acs_queue_write_timer_cb (uv_timer_t *t);

/* session_dispatch.c: one decoded frame (m NULL: it could not be decoded,
   *err says why) to the handlers; m is consumed. */
void acs_dispatch_decoded (acs_session_t *s, struct acs_conn *c, struct acs_message *m,
                           agent_error_t *err, size_t len);
bool acs_text_has_inactive (const char *t);

/* session_rx.c */
struct acs_rx_job;
/* A complete frame received on c (data malloc'd, taken over; may be NULL
   when len is 0): decode it off the loop, then dispatch it in order. */
void acs_rx_frame (struct acs_conn *c, char *data, size_t len);
bool acs_rx_pending (const struct acs_conn *c);
/* The connection is going away: drop its pending frames. */
void acs_rx_clear (struct acs_conn *c);

/* session_lws.c */
int acs_lws_cb (struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                size_t len);
void acs_lws_log_emit_cb (int level, const char *line);
void acs_lws_connect (acs_session_t *s, const struct aws_credentials *creds);

/* session_reconnect.c */
void acs_conn_free (struct acs_conn *c);
void acs_conn_set_err (struct acs_conn *c, int kind, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
void acs_conn_request_close (struct acs_conn *c, int code, const char *reason);
void acs_conn_end (struct acs_conn *c);
void acs_conn_established (struct acs_conn *c, struct lws *wsi);
void acs_reconnect_rearm_heartbeat (acs_session_t *s);
void acs_reconnect_connect_failed (acs_session_t *s, agent_error_t *err);
/* The kick's part: finish the ended connection (maybe after its error body). */
void acs_reconnect_process_ended (acs_session_t *s);
void acs_reconnect_cancel (acs_session_t *s);
void acs_reconnect_dial_cb (const struct aws_credentials *creds, agent_error_t *err, void *data);
void acs_reconnect_retry_cb (uv_timer_t *t);
void acs_reconnect_conn_timer_cb (uv_timer_t *t);

#endif
