/* aws/ws_client.h - what the ACS and the TCS sessions do the same way with
 * their SigV4-signed websocket client connection on libwebsockets.
 *
 * Contract:
 *  - The sessions (acs/session_int.h, tcs/session_int.h) own their
 *    connections, timers, queues and logs; these helpers hold no state and
 *    act only on what they are handed.  Nothing here logs, blocks or exits.
 *  - Pure, table-tested (tests/unit/test_aws_ws.c): aws_ws_jitter (given the
 *    random draw), aws_ws_close_code_clean, aws_ws_close_payload,
 *    aws_ws_peer_close.
 *  - Handshake: aws_ws_sign_handshake signs a GET of the http(s) form of the
 *    URL (host and date signed, as upstream's dialer) and returns the
 *    headers to add to the upgrade, the unsigned User-Agent last;
 *    aws_ws_append_headers adds them in LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER.
 *  - libwebsockets plumbing: aws_ws_vhost makes a scheme's client vhost on
 *    first use (only the TLS one loads a CA store: the given file, else
 *    Debian's bundle); aws_ws_connect_info fills the connect request;
 *    aws_ws_request_close asks for a close from outside lws' callbacks
 *    (a connection not yet established is killed; an established one gets
 *    a close frame, written by aws_ws_write_close in the writable callback,
 *    with a fallback timeout of AWS_WS_CLOSE_FRAME_TIMEOUT_S).
 */
#ifndef AWS_WS_CLIENT_H
#define AWS_WS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <libwebsockets.h>
#include <uv.h>
#include "aws/credentials.h"
#include "core/error.h"
#include "core/http.h"
#include "core/lws_util.h"

#define AWS_WS_CLOSE_FRAME_TIMEOUT_S 3 /* a close frame that cannot be written */
#define AWS_WS_CLOSE_REASON_MAX 123    /* a close frame's payload is <= 125 bytes */

/* base + unit * range, unit in [0,1) (util_random_unit() in the sessions). */
uint64_t aws_ws_jitter (uint64_t base, uint64_t range, double unit);

/* A peer close code that does not make the end of a connection an error
   (none, normal, going away, abnormal, no status, internal error). */
bool aws_ws_close_code_clean (int code);

/* The close frame's payload for code and reason (NULL = ""; cut to
   AWS_WS_CLOSE_REASON_MAX bytes) into out; returns its length. */
size_t aws_ws_close_payload (int code, const char *reason,
                             unsigned char out[2 + AWS_WS_CLOSE_REASON_MAX]);

/* A peer's close frame payload: *code and *reason (replaced, malloc'd);
   one shorter than 2 bytes means LWS_CLOSE_STATUS_NO_STATUS (reason kept). */
void aws_ws_peer_close (const void *in, size_t len, int *code, char **reason);

/* Sign the upgrade of http_url for region at now; on success *hs (n_hs)
   holds the signed headers and a copy of user_agent last (free with
   aws_ws_headers_free). */
int aws_ws_sign_handshake (const char *http_url, const char *region, time_t now,
                           const struct aws_credentials *creds, const char *user_agent,
                           struct http_header **hs, size_t *n_hs, agent_error_t *err);
void aws_ws_headers_free (struct http_header *hs, size_t n_hs);
/* LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: -1 when they do not fit. */
int aws_ws_append_headers (struct lws *wsi, const struct http_header *hs, size_t n_hs,
                           unsigned char **p, size_t len);

struct aws_ws_vhost_params
{
  struct lws_context *ctx;
  uv_loop_t *loop;
  struct lws_util_handles *track;
  const struct lws_protocols *protocols;
  const char *name; /* lws keeps the pointer: a string literal */
  uint64_t connect_timeout_ms;
  const char *ca_file; /* NULL = Debian's bundle if readable */
  void *user;
};
/* *slot if made already, else made now and stored there (NULL on failure). */
struct lws_vhost *aws_ws_vhost (const struct aws_ws_vhost_params *p, bool tls,
                                struct lws_vhost **slot);

struct aws_ws_target
{
  const char *host, *path, *authority;
  int port;
  bool tls, insecure; /* insecure: accept any server certificate (tests) */
};
void aws_ws_connect_info (struct lws_client_connect_info *ci, struct lws_context *ctx,
                          struct lws_vhost *vh, const char *protocol,
                          const struct aws_ws_target *t, void *opaque);

/* Ask lws to close wsi (NULL: nothing to do) from outside its callbacks.
   Established: the first request's code and reason are recorded in
   *want_code / *want_reason and a writable callback requested. */
void aws_ws_request_close (struct lws *wsi, bool established, int *want_code,
                           char **want_reason, int code, const char *reason);
/* LWS_CALLBACK_CLIENT_WRITEABLE with a close wanted: write the close frame
   once (*sent); lws closes when the peer answers. */
int aws_ws_write_close (struct lws *wsi, int code, const char *reason, bool *sent);

#endif
