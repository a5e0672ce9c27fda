/* core/http.h - asynchronous HTTP(S) client on the agent's libuv loop.
 *
 * One http_client per loop drives a libcurl multi handle through uv_poll and
 * uv_timer (curl_multi_socket_action); nothing here blocks.  A call is
 * started with http_call_start(); exactly one done callback follows, on the
 * loop, unless the call is cancelled first with http_call_cancel() (then no
 * callback runs).  With on_data set the body is streamed to it chunk by
 * chunk (Docker pull progress, events, downloads) and not kept; otherwise it
 * is collected and handed to on_done.  Requests may go over a unix socket
 * (Docker) by setting unix_socket.  The response and the call are freed by
 * this module after on_done returns.
 * Re-entrancy: from inside any callback (on_data, on_headers, on_done) it is
 * safe to start calls, cancel any call (including the current one: no
 * further callback) and free the client; the work is deferred until
 * libcurl has returned.
 */
#ifndef CORE_HTTP_H
#define CORE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>
#include "core/error.h"

typedef struct http_client http_client_t;
typedef struct http_call http_call_t;

struct http_response
{
  long status;      /* HTTP status, 0 if no response */
  char *body;       /* NUL-terminated, NULL when streamed */
  size_t body_len;
  char *content_type;
};

/* Return < 0 to abort the transfer (on_done then gets ERR_CANCELLED). */
typedef int (*http_data_cb) (const char *chunk, size_t len, void *data);
/* Response headers complete (final, non-1xx status); return < 0 to abort. */
typedef int (*http_headers_cb) (long status, void *data);
/* err is NULL on transport success (any HTTP status); else transport error
   (ERR_UNREACHABLE, ERR_TIMEOUT, ERR_CANCELLED...). */
typedef void (*http_done_cb) (const struct http_response *resp, agent_error_t err, void *data);

struct http_header
{
  const char *name;
  const char *value;
};

struct http_request
{
  const char *method; /* "GET" if NULL */
  const char *url;
  const char *unix_socket; /* optional path */
  const struct http_header *headers; /* array of n_headers, copied */
  size_t n_headers;
  const char *body; /* copied */
  size_t body_len;
  long timeout_ms;         /* whole transfer, 0 = none */
  long connect_timeout_ms; /* 0 = curl default */
  long inactivity_s;       /* abort if < 1 byte/s for this long; 0 = off */
  bool insecure;           /* skip TLS verification (-k) */
  http_data_cb on_data;
  http_done_cb on_done;
  void *data;
  http_headers_cb on_headers; /* optional */
};

http_client_t *http_client_new (uv_loop_t *loop);

/* Transfers finished so far by all clients of the process: a cheap measure
   of activity (the agent trims its heap after bursts of them). */
uint64_t http_transfer_count (void);
/* Cancels every call in flight (no callbacks) and frees the client once the
   loop has closed its handles. */
void http_client_free (http_client_t *c);
http_call_t *http_call_start (http_client_t *c, const struct http_request *req, agent_error_t *err);
/* No callback runs after this.  NULL is a no-op; calling it for a call whose
   on_done is running is a no-op too. */
void http_call_cancel (http_call_t *call);
/* Number of calls in flight (tests, benchmarks). */
size_t http_client_active (const http_client_t *c);

#endif
