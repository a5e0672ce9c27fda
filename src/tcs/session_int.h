/* tcs/session_int.h - what the TCS session's files share (not for other modules).
 *
 *   session.c      public API, options, the outbound queue, publish timer,
 *                  teardown
 *   session_conn.c one connection: libwebsockets callback, signed connect,
 *                  timers (heartbeat, TTL, connect, write), end, back-off;
 *                  discovery and credentials run in ecs/ws_dial.c, the
 *                  websocket plumbing shared with ACS in aws/ws_client.c
 *
 * A struct tcs_conn is one connection attempt; libwebsockets ends it with
 * WSI_DESTROY (tcs_conn_end), which records and kicks: the rest runs on the
 * next loop turn, outside libwebsockets' callbacks.
 */
#ifndef TCS_SESSION_INT_H
#define TCS_SESSION_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <libwebsockets.h>
#include <uv.h>
#include "core/lws_util.h"
#include "core/util.h"
#include "ecs/ws_dial.h"
#include "tcs/session.h"

#define TCS_MOD "tcs"

struct tcs_msg
{
  STAILQ_ENTRY (tcs_msg) link;
  char *json;
  size_t len;
};

struct tcs_conn
{
  tcs_session_t *s;
  struct lws *wsi;
  bool established, ended, close_clean;
  int close_code;
  char *close_reason;
  int want_close_code;
  char *want_close_reason;
  bool close_sent;
  agent_error_t err;
  unsigned http_status;
  uint64_t connected_at;
  char *url; /* http(s) form: signed for the upgrade and for every frame */
  struct http_header *hs;
  size_t n_hs;
  struct sbuf rx;
  bool rx_overflow;
};

struct tcs_session
{
  uv_loop_t *loop;
  struct tcs_session_options o;
  char *endpoint_fixed, *region, *cluster, *instance_arn, *agent_version, *agent_hash,
      *docker_version, *ca_file;
  struct lws_context *ctx;
  struct lws_protocols protocols[2];
  struct lws_util_handles track;
  struct lws_vhost *vh_plain, *vh_tls;
  uv_timer_t retry_timer, hb_timer, ttl_timer, conn_timer, kick_timer, write_timer, publish_timer;
  int open_handles;
  struct backoff backoff;
  struct ecs_ws_dial dial; /* endpoint and credentials before a connect */
  struct tcs_conn *conn, *ended_conn;
  STAILQ_HEAD (, tcs_msg) q;
  size_t qn, qbytes;
  bool q_full_logged, no_creds_logged;
  bool started, stopping, torn_down, closed_all, free_requested, force_teardown;
  void (*stop_cb) (void *data);
  void *stop_data;
  struct tcs_session_stats stats;
};

/* session.c */
void tcs_sess_kick (tcs_session_t *s);
/* Pop the oldest queued message (NULL if none); the caller frees it. */
struct tcs_msg *tcs_queue_pop (tcs_session_t *s);
void tcs_msg_free (struct tcs_msg *m);

/* session_conn.c */
int tcs_lws_cb (struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                size_t len);
void tcs_conn_request_close (struct tcs_conn *c, int code, const char *reason);
void tcs_conn_set_err (struct tcs_conn *c, int kind, const char *msg);
/* The kick's part: finish an ended connection and schedule the reconnect. */
void tcs_conn_process_ended (tcs_session_t *s);
void tcs_conn_cancel_connecting (tcs_session_t *s);
void tcs_conn_dial_cb (const struct aws_credentials *creds, agent_error_t *err, void *data);
void tcs_conn_retry_cb (uv_timer_t *t);
void tcs_conn_grace_cb (uv_timer_t *t);
/* Ask for a writable callback when there is something to send. */
void tcs_conn_want_write (tcs_session_t *s);

#endif
