/* introspection/introspection.h - the agent's introspection HTTP API (port 51678).
 *
 * Contract: read-only JSON views of engine state, served on the agent's libuv
 * loop, with the paths and answers of the upstream Go agent's v1 API (and
 * the additions its HEAD made that users rely on):
 *   /v1/metadata                {"Cluster","ContainerInstanceArn","Version"}
 *   /v1/tasks                   {"Tasks":[TaskResponse...]}
 *   /v1/tasks?taskarn=<arn>     one TaskResponse; unknown -> 404
 *   /v1/tasks?dockerid=<id>     full id (exact) or <= 12 chars (prefix, HEAD's
 *                               short id); unknown -> 404, prefix matching
 *                               containers of two tasks -> 400
 *   both taskarn and dockerid   400
 *   more than 32 query args     400 (a filter past the limit is never ignored)
 *   /license                    the licence text (text/plain)
 *   /v1/health                  200 when every part the agent needs works,
 *                               else 503 (core/health.h):
 *                               {"Healthy":bool,"Failing":["acs",...],
 *                                "Checks":{"acs":{"Healthy":bool,"Detail":".."},..}}
 *                               (not upstream's: its -healthcheck reads
 *                               /v1/metadata, which only shows the agent answers)
 *   /metrics                    Prometheus text exposition (core/metrics.h), the
 *                               registry plus the provider's snapshot
 *   anything else               {"AvailableCommands":["/v1/metadata","/v1/tasks","/license","/v1/health","/metrics"]}
 * Error responses carry HEAD's all-empty TaskResponse.  Every method lws
 * knows (GET HEAD POST PUT PATCH DELETE OPTIONS) is answered the same way;
 * HEAD gets the headers only; a request body is read and discarded; other
 * methods are refused by lws (403).
 * The module never sees secrets: the provider hands it names, ids, statuses,
 * images and ports only - never environment values or credentials.
 *
 * HTTP: libwebsockets' HTTP/1.1 server role (lws 4.1, LWS_WITH_LIBUV + the
 * evlib_uv plugin), in its own lws context bound to the caller's loop through
 * foreign_loops - no HTTP parsing here, and the websocket client of acs/ keeps
 * its own context on the same loop.  lws was chosen because it already is a
 * dependency, handles keep-alive, pipelining and partial writes, and enforces
 * header limits itself.  The listening socket is ours (listener.h): lws
 * serves each connection it accepts.
 *
 * Files: routes.c (router, JSON views), server.c (lws server, connection
 * limits, start/stop), request.c (what a parsed request carries),
 * listener.c (listening socket, accept back-off), healthcheck.c (the
 * -healthcheck client).
 *
 * Hardening (defaults, all configurable):
 *   - headers larger than max_header_bytes (8 KiB): connection closed by lws;
 *   - the request head must arrive within read_timeout_s (5 s) of the
 *     connection (or of the previous response on a keep-alive connection),
 *     a request body within read_timeout_s, a response must be taken by the
 *     client within read_timeout_s: otherwise the connection is closed;
 *   - at most max_connections (200) connections: when a new one arrives at
 *     the limit, the oldest connection that is not being answered is closed,
 *     so idle floods cannot lock out a real client and memory stays bounded
 *     (lws header buffers are allocated per connection up to the limit);
 *   - descriptors: all the servers of the process (introspection and the
 *     task server) share one budget, the open file limit (RLIMIT_NOFILE)
 *     minus 128 (a quarter of the limit when it is below 256), in equal
 *     shares while they run; a server never holds more connections than its
 *     share, lowering max_connections if needed, so Docker, ACS, the other
 *     server and the checkpoint keep theirs under a flood; when accept() fails anyway for
 *     want of descriptors, accepting backs off (50 ms -> 5 s) instead of
 *     spinning, with one log line when it starts and one when it clears.
 *
 * Lifetime: introspection_start() listens (retrying with back-off 1 s -> 1 min
 * when the address is busy, as upstream, unless no_retry); introspection_stop()
 * closes every connection and frees the server asynchronously on the loop
 * (the loop must keep running until its handles are closed, as usual).
 */
#ifndef INTROSPECTION_INTROSPECTION_H
#define INTROSPECTION_INTROSPECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>
#include "core/error.h"
#include "core/health.h"
#include "core/metrics.h"
#include "task/task.h"

#define INTROSPECTION_DEFAULT_PORT 51678
#define INTROSPECTION_DEFAULT_ADDR "0.0.0.0"

struct introspection_volume
{
  const char *docker_name; /* volume name, NULL = omitted */
  const char *source;      /* host path */
  const char *destination; /* container path */
};

/* Read-only view of one container, valid only during the provider call. */
struct introspection_container
{
  const char *name;        /* task definition name */
  bool has_docker_record;  /* false: not listed (no create attempted yet) */
  bool internal;           /* agent-internal helper: not listed */
  const char *docker_id;   /* may be "" or NULL while a create is in flight */
  const char *docker_name;
  const char *image;       /* NULL = "" */
  const char *image_id;    /* NULL = "" */
  const char *created_at;  /* RFC 3339 or NULL (omitted) */
  const char *started_at;  /* RFC 3339 or NULL (omitted) */
  /* Port bindings Docker reported (KnownPortBindings); a NULL or empty
     bind_ip and a zero port are omitted. */
  const struct task_port_binding *ports;
  size_t n_ports;
  const struct introspection_volume *volumes;
  size_t n_volumes;
  /* Docker health check (healthCheckType docker): "HEALTHY", "UNHEALTHY"
     or "UNKNOWN", since (unix ns, 0 = not seen yet); NULL = no check. */
  const char *health_status;
  int64_t health_since_ns;
  /* Restart policy enabled: RestartCount (restarts made) is shown. */
  bool has_restart_policy;
  uint32_t restart_count;
};

/* Read-only view of one task, valid only during the provider call. */
struct introspection_task
{
  const char *arn;
  const char *family;
  const char *version;
  /* Shown ECS-style: RUNNING, STOPPED, else PENDING. */
  enum task_status desired_status;
  enum task_status known_status;
  const struct introspection_container *containers;
  size_t n_containers;
};

typedef void (*introspection_task_cb) (const struct introspection_task *task, void *arg);

/* One request, for a provider that answers every request itself (handle). */
struct introspection_request
{
  const char *method;      /* "GET", "HEAD", ... */
  const char *path;        /* as lws hands it (normalised), without the query */
  const char *const *args; /* url-decoded query fragments */
  size_t n_args;
  const char *peer_ip;     /* the caller's address ("" if unknown) */
  const char *remote_addr; /* "ip:port" ("[ip]:port" for IPv6), as Go's RemoteAddr */
  const char *user_agent;  /* User-Agent header, "" if none */
  const char *forwarded_for; /* X-Forwarded-For header, "" if none */
};

/* A deferred answer: see handle. */
struct introspection_reply;

/* How the server reads engine state; the lead wires it to engine/.  Called
   synchronously on the loop while a request is answered. */
struct introspection_provider
{
  /* Call cb once per task the engine knows (any order).  Required. */
  void (*foreach_task) (void *data, introspection_task_cb cb, void *arg);
  /* Current container-instance ARN, NULL while unregistered.  Optional:
     when NULL the config's container_instance_arn is used. */
  const char *(*container_instance_arn) (void *data);
  /* The agent's health verdict now.  Optional: without it /v1/health
     answers 503 ("no health source"). */
  void (*health) (void *data, struct health_verdict *out);
  /* Optional: answer every request instead of the introspection routes
     (the task metadata server runs on this server; foreach_task is then
     never called).  Either answer now: return the status and set *body
     (malloc'd, NUL-terminated) and *content_type (static); or keep reply
     and return 0: the answer is given later, on the loop, with
     introspection_reply_send() exactly once, unless the connection ends
     first (read_timeout_s passes, the client goes, the server stops): then
     the cancel callback set with introspection_reply_on_cancel() runs and
     reply is gone.  The request is not logged by the server (its path may
     carry a secret). */
  int (*handle) (void *data, const struct introspection_request *rq,
                 struct introspection_reply *reply, char **body, const char **content_type);
  /* Figures for /metrics the registry cannot see (tasks by status, the
     queue).  Optional: without it they are shown as 0. */
  void (*metrics_snapshot) (void *data, struct metrics_snapshot *out);
  void *data;
};

void introspection_reply_on_cancel (struct introspection_reply *r, void (*cancel_cb) (void *arg),
                                    void *arg);
/* A header the answer carries besides the status line, Content-Type and
   Content-Length (name without the colon; both copied).  Call during
   handle or before introspection_reply_send. */
void introspection_reply_add_header (struct introspection_reply *r, const char *name,
                                     const char *value);
/* body: malloc'd, taken. */
void introspection_reply_send (struct introspection_reply *r, int status, char *body,
                               const char *content_type);

struct introspection_config
{
  const char *listen_addr; /* IPv4/IPv6 literal; NULL/"" = "0.0.0.0" (all IPv4); "::" = dual stack */
  int port;                /* < 0: INTROSPECTION_DEFAULT_PORT; 0: ephemeral (tests) */
  const char *cluster;     /* shown as given at start ("default" if NULL) */
  const char *container_instance_arn; /* fallback, see provider */
  const char *version;     /* NULL = introspection_version_string () */
  const char *license_text; /* NULL = built-in Apache-2.0 notice */
  unsigned max_connections; /* 0 = 200 */
  unsigned read_timeout_s;  /* 0 = 5 */
  unsigned max_header_bytes; /* 0 = 8192 (lws maximum is 65535) */
  bool no_retry;            /* fail start instead of retrying a busy address */
};

typedef struct introspection_server introspection_server_t;

/* Start serving on loop.  cfg strings and the provider are copied.  Errors:
   ERR_INVALID (bad address/config), ERR_IO (lws context; socket errors with
   no_retry), ERR_CONFLICT (address in use, only with no_retry). */
int introspection_start (uv_loop_t *loop, const struct introspection_config *cfg,
                         const struct introspection_provider *prov, introspection_server_t **out,
                         agent_error_t *err);
/* Close all connections and the listener; frees s asynchronously (done_cb,
   optional, runs on the loop once everything is released).  NULL is a no-op. */
void introspection_stop (introspection_server_t *s, void (*done_cb) (void *arg), void *arg);
/* Serve an already-connected stream socket (socket activation, fuzzing);
   the server owns fd from then on, also on failure. */
int introspection_adopt_fd (introspection_server_t *s, int fd, agent_error_t *err);
/* Bound port (useful with port 0), 0 while not listening. */
int introspection_port (const introspection_server_t *s);
/* Open connections now (tests). */
size_t introspection_connections (const introspection_server_t *s);
/* Requests answered since start (tests). */
unsigned long introspection_requests (const introspection_server_t *s);
/* accept() failures for want of descriptors since start (tests). */
unsigned long introspection_accept_failures (const introspection_server_t *s);

/* "Amazon ECS Agent - v<VERSION> (<*if dirty><GITREV>)" from the build macros. */
const char *introspection_version_string (void);

/* Query arguments a request may carry: /v1/tasks with more is refused (400)
   rather than answered with a filter past the limit ignored. */
#define INTROSPECTION_MAX_QUERY_ARGS 32

/* -healthcheck: GET /v1/health of the server configured with listen_addr
   and port (loopback when it listens on every address), blocking, at most
   timeout_ms.  Fills *status and *body (malloc'd, the answer; NULL on
   failure).  ERR_UNREACHABLE when nothing answered.  For a process that
   runs no loop (main), never for the agent itself. */
int introspection_healthcheck (const char *listen_addr, int port, long timeout_ms, int *status,
                               char **body, agent_error_t *err);

/* The router without a socket (unit tests, fuzzing): path without query,
   args = decoded query fragments ("name=value" or "name").  Returns the HTTP
   status, sets *body (malloc'd, NUL-terminated) and *content_type (static). */
int introspection_route (const struct introspection_config *cfg,
                         const struct introspection_provider *prov, const char *path,
                         const char *const *args, size_t n_args, char **body,
                         const char **content_type);

#endif
