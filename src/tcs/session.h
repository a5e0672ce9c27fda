/* tcs/session.h - the TCS (telemetry) websocket session.
 *
 * Contract:
 *  - One session per agent on the agent's libuv loop (libwebsockets as a
 *    foreign loop, as acs/session.h).  Before every connect: ECS
 *    DiscoverPollEndpoint's telemetryEndpoint (or a fixed endpoint), the
 *    URL of acs/url.h in its telemetry form, a SigV4-signed upgrade.
 *  - Outbound messages are queued as JSON (tcs_session_queue: at most
 *    TCS_SESSION_MAX_QUEUED messages / TCS_SESSION_MAX_QUEUED_BYTES; the
 *    oldest is dropped when full, logged once per episode) and each is
 *    signed (tcs/codec.h tcs_frame_sign) with the current credentials when
 *    written; without credentials it is dropped with a log line.  Messages
 *    queued while disconnected go out after the reconnect.  A connection
 *    whose queued data is not written within write_timeout_ms is dropped.
 *  - Every publish_interval_ms (first at start) on_publish runs, connected
 *    or not: it builds the round and queues it.
 *  - Inbound: frames over TCS_MAX_FRAME or undecodable are logged and
 *    dropped; any decoded frame re-arms the heartbeat timer (heartbeat
 *    timeout + jitter); at expiry the session closes with 1000
 *    "ConnectionExpired: Reconnect to continue".  Exceptions are logged,
 *    never fatal.  Connections are recycled after connection_ttl (+jitter).
 *  - Reconnect: a clean end (no error, close code 1000/1001/1006/1011)
 *    reconnects at once with the back-off reset; any other failure waits
 *    back-off (1 s .. 1 min, x2, jitter 0.2), forever.  Nothing here ends
 *    the process.  tcs_session_disconnect() drops the current connection
 *    as a failure (ACS saw the instance deregistered).
 *  - tcs_session_stop() closes (1000) and tears libwebsockets down; done_cb
 *    runs once everything is closed.  tcs_session_free() stops and frees
 *    once closed (run the loop afterwards).  Loop thread only.
 */
#ifndef TCS_SESSION_H
#define TCS_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>
#include "aws/credentials.h"
#include "core/error.h"
#include "ecs/ecs.h"

#define TCS_SESSION_MAX_QUEUED 64
#define TCS_SESSION_MAX_QUEUED_BYTES (16u * 1024u * 1024u)

typedef struct tcs_session tcs_session_t;

struct tcs_session_options
{
  ecs_client_t *ecs;           /* DiscoverPollEndpoint; may be NULL with endpoint */
  const char *endpoint;        /* fixed telemetry endpoint instead of discovery */
  aws_creds_provider_t *creds; /* required */
  const char *region;          /* required */
  const char *cluster;
  const char *container_instance_arn;
  const char *agent_version, *agent_hash;
  const char *docker_version; /* bare; NULL = omitted */
  bool insecure;
  const char *ca_file;
  uint64_t publish_interval_ms;  /* 0 = 20 s */
  uint64_t heartbeat_timeout_ms; /* 0 = 60 s */
  uint64_t heartbeat_jitter_ms;  /* 0 = 60 s */
  uint64_t connection_ttl_ms;    /* 0 = 30 min */
  uint64_t connection_ttl_jitter_ms; /* 0 = 5 min */
  uint64_t backoff_min_ms;       /* 0 = 1 s */
  uint64_t backoff_max_ms;       /* 0 = 1 min */
  uint64_t connect_timeout_ms;   /* 0 = 30 s */
  uint64_t write_timeout_ms;     /* 0 = 3 min */
  time_t (*now) (void);          /* signing clock; NULL = time() */
  void (*on_publish) (tcs_session_t *s, void *data);
  void *data;
};

struct tcs_session_stats
{
  uint64_t connect_attempts, connects, disconnects;
  uint64_t frames_received, frames_dropped, frames_sent;
  uint64_t messages_dropped; /* queue full, or no credentials to sign */
  uint64_t acks, heartbeats, heartbeat_timeouts, write_timeouts;
  uint64_t publish_rounds;
};

tcs_session_t *tcs_session_new (uv_loop_t *loop, const struct tcs_session_options *o,
                                agent_error_t *err);
int tcs_session_start (tcs_session_t *s, agent_error_t *err);
void tcs_session_stop (tcs_session_t *s, void (*done_cb) (void *data), void *data);
void tcs_session_free (tcs_session_t *s);
bool tcs_session_connected (const tcs_session_t *s);
const struct tcs_session_stats *tcs_session_get_stats (const tcs_session_t *s);
size_t tcs_session_queued (const tcs_session_t *s);
/* Queue one message envelope (taken over). */
void tcs_session_queue (tcs_session_t *s, char *json);
/* Drop the current connection as a failure (reconnect after back-off). */
void tcs_session_disconnect (tcs_session_t *s, const char *why);

#endif
