/* acs/session.h - the ACS websocket session.
 *
 * Contract:
 *  - One session per agent, on the agent's libuv loop (libwebsockets joins
 *    that loop as a foreign loop; nothing here blocks).  The one step that
 *    leaves the loop is decoding a received frame (up to ACS_MAX_FRAME,
 *    seconds of work for a big payload): it runs on libuv's threadpool and
 *    the decoded frames reach the handlers on the loop in arrival order.
 *    At most 16 frames or 32 MiB wait to be decoded before the socket is no
 *    longer read; past 256 frames or 64 MiB the connection is dropped.
 *    Frames still waiting when the connection ends are handled before the
 *    reconnect; on stop they are dropped.
 *  - Before every connect: ECS DiscoverPollEndpoint (ecs/ecs.h), then the
 *    websocket URL of acs_build_url() (acs/url.h), then a SigV4-signed GET
 *    upgrade (service "ecs", host;x-amz-date[;x-amz-security-token], empty
 *    body; credentials from aws/credentials.h).  ws:// and wss:// (OpenSSL;
 *    certificates verified unless insecure).
 *  - Frames are decoded with acs/codec.h.  Undecodable or unknown frames,
 *    and frames whose messageId is longer than ACS_SESSION_MAX_MESSAGE_ID,
 *    are logged and dropped (never echoed back); the connection stays up.
 *    Any data received (a frame or part of one, decodable or not)
 *    re-arms the disconnect timer (heartbeat timeout + jitter); when it
 *    fires while no received frame waits to be handled, the connection is
 *    closed and re-made after back-off (frames still waiting are this
 *    side's backlog, not silence: the timer is re-armed).  HeartbeatMessage with a messageId is answered with
 *    HeartbeatAckRequest.
 *  - Outbound frames wait in a per-connection queue capped at
 *    ACS_SESSION_MAX_QUEUED_BYTES: a frame that does not fit is refused
 *    (ERR_UNREACHABLE; one log line when the queue fills, one when it
 *    drains; ACS re-sends what it did not get acknowledged).  Queued data
 *    must reach the socket within the write deadline (write_timeout_ms,
 *    3 min as the upstream agent): otherwise the connection is dropped
 *    (one log line) and re-made with the normal back-off.
 *  - The session is decoupled from the engine: typed messages go to the
 *    handler table, which owns them afterwards and answers later through
 *    acs_session_send_ack() & co.  Without a stage/perform-update handler
 *    both are NACKed "Updates are disabled", as the upstream agent does.
 *  - Reconnects: a clean end (close code 1000/1001/1006/1011 or a
 *    CloseMessage) reconnects with the back-off reset, after a random wait
 *    in [0, clean_reconnect_spread_ms) so that agents whose connections a
 *    server restart ended together do not all come back in one instant (at
 *    once when our own connection TTL ended it); any other
 *    failure waits back-off (250 ms .. 2 min, x1.5, jitter 0.2), reset once a
 *    connection stayed up for the heartbeat timeout; an
 *    InactiveInstanceException waits inactive_wait_ms (1 h).  ACS errors
 *    never end the process: only acs_session_stop() ends the session.
 *  - A failed upgrade with an HTTP error status is followed by one plain
 *    signed GET of the same URL through core/http.h to read the error body
 *    (libwebsockets 4.1 discards it), decoded in either encoding
 *    ({"type":..} or {"XException":"msg"}) into "<Type>: <message>".
 *  - acs_session_stop() closes gracefully (close frame 1000) and tears
 *    libwebsockets down; done_cb runs once every handle is closed.
 *    acs_session_free() stops if needed and frees once closed: run the loop
 *    afterwards.  Not thread-safe: call from the loop's thread only.
 */
#ifndef ACS_SESSION_H
#define ACS_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>
#include "acs/codec.h"
#include "acs/url.h"
#include "aws/credentials.h"
#include "core/error.h"
#include "core/http.h"
#include "ecs/ecs.h"

/* Bytes of outbound frames one connection may hold before the socket takes
   them (a heartbeat ack is ~100 bytes, a payload ack ~250). */
#define ACS_SESSION_MAX_QUEUED_BYTES (1024u * 1024u)
/* Default write deadline: queued data not written within it drops the
   connection (the upstream agent's websocket write deadline). */
#define ACS_SESSION_WRITE_TIMEOUT_MS (3u * 60u * 1000u)
/* Longest messageId accepted (ACS sends UUIDs); a longer one would be
   echoed in the ack, so its frame is dropped instead. */
#define ACS_SESSION_MAX_MESSAGE_ID 1024u

typedef struct acs_session acs_session_t;

/* Message structs are handed over: the handler owns (and frees) them. */
struct acs_session_handlers
{
  void (*on_payload) (acs_session_t *s, struct acs_payload *p, void *data);
  void (*on_stage_update) (acs_session_t *s, struct acs_update_message *m, void *data);
  void (*on_perform_update) (acs_session_t *s, struct acs_update_message *m, void *data);
  void (*on_credentials) (acs_session_t *s, struct acs_iam_credentials *c, void *data);
  void (*on_task_manifest) (acs_session_t *s, struct acs_task_manifest *m, void *data);
  void (*on_task_stop_verification_ack) (acs_session_t *s,
                                         struct acs_task_stop_verification_ack *a, void *data);
  /* Connection up (after the upgrade) / down (err NULL = clean end). */
  void (*on_connected) (acs_session_t *s, void *data);
  void (*on_disconnected) (acs_session_t *s, const agent_error_t *err, void *data);
  /* A HeartbeatMessage arrived (upstream runs its instance checks then). */
  void (*on_heartbeat) (acs_session_t *s, void *data);
  /* InactiveInstanceException seen (instance deregistered). */
  void (*on_inactive) (acs_session_t *s, void *data);
  void *data;
};

struct acs_session_options
{
  ecs_client_t *ecs;            /* DiscoverPollEndpoint; may be NULL with endpoint */
  const char *endpoint;         /* fixed endpoint (tests) instead of discovery */
  aws_creds_provider_t *creds;  /* required */
  http_client_t *http;          /* for reading handshake error bodies; may be NULL */
  const char *region;           /* required */
  const char *cluster;          /* as configured */
  const char *container_instance_arn;
  const char *agent_version;
  const char *agent_hash;       /* "*" prefix when dirty, as given */
  const char *docker_version;   /* bare version ("20.10.5"); NULL = omitted */
  int64_t seq_num;              /* initial seqNum for the URL; <= 0 = 1 */
  bool insecure;                /* -k: skip certificate checks */
  const char *ca_file;          /* NULL = system bundle */
  uint64_t heartbeat_timeout_ms; /* 0 = 60 s */
  uint64_t heartbeat_jitter_ms;  /* 0 = 60 s */
  uint64_t connection_ttl_ms;    /* 0 = 30 min */
  uint64_t connection_ttl_jitter_ms; /* 0 = 5 min */
  uint64_t backoff_min_ms;       /* 0 = 250 ms */
  uint64_t backoff_max_ms;       /* 0 = 2 min */
  double backoff_mult;           /* 0 = 1.5 */
  double backoff_jitter;         /* 0 = 0.2 */
  uint64_t inactive_wait_ms;     /* 0 = 1 h */
  uint64_t clean_reconnect_spread_ms; /* 0 = 1 s */
  uint64_t connect_timeout_ms;   /* 0 = 30 s */
  uint64_t write_timeout_ms;     /* 0 = ACS_SESSION_WRITE_TIMEOUT_MS */
  time_t (*now) (void);          /* signing clock; NULL = time() */
  struct acs_session_handlers handlers;
};

struct acs_session_stats
{
  uint64_t connect_attempts;
  uint64_t connects;          /* upgrades that succeeded */
  uint64_t disconnects;
  uint64_t frames_received;
  uint64_t frames_dropped;    /* undecodable / unknown / oversize */
  uint64_t frames_sent;
  uint64_t frames_refused;    /* outbound frames refused: queue full */
  uint64_t write_timeouts;    /* connections dropped at the write deadline */
  uint64_t heartbeat_acks;
  uint64_t heartbeat_timeouts;
  uint64_t rx_pauses;         /* reading paused: too many frames waiting to be decoded */
  uint64_t last_delay_ms;     /* wait before the latest reconnect */
  char *last_error;           /* text of the last connection error, or NULL */
};

acs_session_t *acs_session_new (uv_loop_t *loop, const struct acs_session_options *opts,
                                agent_error_t *err);
/* Begin connecting (asynchronously). */
int acs_session_start (acs_session_t *s, agent_error_t *err);
/* Graceful end (SIGTERM): no reconnect, close frame, libwebsockets torn
   down; done_cb (may be NULL) runs on the loop when everything is closed. */
void acs_session_stop (acs_session_t *s, void (*done_cb) (void *data), void *data);
/* Stops if needed; memory is released once the handles closed (run the loop). */
void acs_session_free (acs_session_t *s);

bool acs_session_connected (const acs_session_t *s);
const struct acs_session_stats *acs_session_get_stats (const acs_session_t *s);
/* seqNum sent in the next connect URL (only ever raised). */
void acs_session_set_seq_num (acs_session_t *s, int64_t seq);
int64_t acs_session_seq_num (const acs_session_t *s);
/* The endpoint used by the current / last connection (NULL before). */
const char *acs_session_endpoint (const acs_session_t *s);

/* Bytes queued on the current connection and not yet handed to the socket. */
size_t acs_session_queued_bytes (const acs_session_t *s);

/* Queue a text frame (copied).  ERR_UNREACHABLE when not connected or the
   queue is full (the frame is dropped: ACS re-sends what it did not get
   acknowledged). */
int acs_session_send_text (acs_session_t *s, const char *frame, agent_error_t *err);
int acs_session_send_ack (acs_session_t *s, const char *message_id, const char *cluster,
                          const char *container_instance, agent_error_t *err);
int acs_session_send_nack (acs_session_t *s, const char *message_id, const char *cluster,
                           const char *container_instance, const char *reason,
                           agent_error_t *err);
int acs_session_send_credentials_ack (acs_session_t *s, const char *message_id,
                                      const char *expiration, const char *credentials_id,
                                      agent_error_t *err);
/* cb runs on the loop once every frame queued so far has been written to
   the socket (or dropped because the connection ended). */
void acs_session_flush (acs_session_t *s, void (*cb) (void *data), void *data);
/* Drop pending flush callbacks registered with exactly (cb, data). */
void acs_session_flush_cancel (acs_session_t *s, void (*cb) (void *data), void *data);

#endif
