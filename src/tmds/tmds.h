/* tmds/tmds.h - the task metadata and credentials server (127.0.0.1:51679,
 * reached by containers at 169.254.170.2 through the rules of
 * scripts/task-endpoints-net.sh).
 *
 * Contract (routes, shapes and status codes are upstream's; see README):
 *  - GET /v2/credentials/<id> and /v1/credentials?id=<id>: the task IAM role
 *    credentials stored under that id (task/task_creds.h), as
 *    {"RoleArn","AccessKeyId","SecretAccessKey","Token","Expiration"};
 *    errors are JSON objects {"code","message"}: 400 NoIdInRequest, 503
 *    CredentialsUninitialized (id known from a restored task, ACS has not
 *    re-sent it), 400 InvalidIdInRequest.  The id is the secret: no
 *    source-address check, and it is never logged (one line per request
 *    names the task and the role, not the id: see the audit entries below).
 *  - Metadata: /v4/<eid>, /v4/<eid>/task, /v4/<eid>/taskWithTags,
 *    /v4/<eid>/stats, /v4/<eid>/task/stats, the same under /v3/<eid>, and
 *    /v2/metadata, /v2/metadata/<dockerId>, /v2/stats, /v2/stats/<dockerId>.
 *    <eid> is a container's endpoint id (task.h v3_endpoint_id), known once
 *    the container has a Docker id and until its task leaves state; v2
 *    finds the task by the caller's address among its containers' Docker
 *    network addresses.  Unknown ids: v4 404, v3 metadata 500, v3 stats
 *    400, v2 400, each with upstream's message as a JSON string (the task
 *    is looked up before the container, so container stats name the task
 *    lookup).  Unknown paths: 404 "404 page not found\n" (text/plain).
 *  - Container details (image id, times, labels, networks, volumes, log
 *    configuration) come from a Docker inspect the server makes when a
 *    container's known status changes (and at start for every container
 *    with a Docker id); a container not inspected yet has no network
 *    settings: the v3 and v4 container routes fail with 500 ("unable to
 *    generate network response ..."), the v3 task route leaves it out and
 *    the v4 task route lists it without Networks, as upstream does.  Stats are one Docker one-shot stats call per
 *    container per request (docker/stats.h), made only while someone asks
 *    (at most TMDS_MAX_STATS_INFLIGHT at once; beyond that a container's
 *    stats are unavailable); nothing streams in between.  Stats of a
 *    container that is not running, or of a stopped task, are unavailable.
 *  - /v4/<eid>/taskWithTags, /v3/<eid>/taskWithTags, /v2/metadataWithTags:
 *    the task object plus TaskTags and ContainerInstanceTags from ECS
 *    ListTagsForResource on the task and instance ARNs, asked at each
 *    request as upstream does (no cache); v4 lists failed calls in Errors.
 *  - Every request first passes the limiter: one token bucket per (caller
 *    address, path), rps_steady per second up to rps_burst
 *    (ECS_TASK_METADATA_RPS_LIMIT); beyond it 429 "You have reached maximum
 *    request limit." (text/plain).  Every answer carries upstream's
 *    X-Rate-Limit-Limit ("%.2f" of the rate), X-Rate-Limit-Duration (1),
 *    X-Rate-Limit-Request-Forwarded-For and X-Rate-Limit-Request-Remote-Addr.
 *  - Each credentials request and each 429 writes one audit entry
 *    (tmds_audit_entry, log/log.h log_audit): never the credentials id.
 *  - The HTTP server is introspection's (introspection/introspection.h: lws
 *    on the agent's loop, header limit, read timeout, connection limit with
 *    eviction of the oldest idle connection, accept back-off), with its
 *    own listener; lws normalises request paths (no 301 answers).
 *  Files: routes.c (router, credentials, errors, audit entries), meta.c
 *  (JSON shapes), throttle.c (limiter), tmds.c (server, Docker inspect
 *  cache, stats calls).
 */
#ifndef TMDS_TMDS_H
#define TMDS_TMDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "core/error.h"
#include "docker/docker.h"
#include "ecs/ecs.h"
#include "task/task.h"
#include "task/task_creds.h"

#define TMDS_DEFAULT_PORT 51679
#define TMDS_DEFAULT_ADDR "127.0.0.1"
#define TMDS_MAX_STATS_INFLIGHT 64

struct tmds_config
{
  const char *listen_addr;       /* NULL = 127.0.0.1 */
  int port;                      /* < 0: 51679; 0: ephemeral (tests) */
  const char *cluster;           /* "Cluster" as configured */
  const char *availability_zone; /* NULL/"" = omitted */
  unsigned max_connections;      /* 0 = 1024 */
  unsigned read_timeout_s;       /* 0 = 5 */
  unsigned rps_steady, rps_burst; /* request limit per (caller, path); 0 = 40, 60 */
  bool no_stats;                 /* ECS_DISABLE_METRICS: no container is tracked for stats
                                    (container stats fail, task stats list null / {}) */
};

/* How the server reads the tasks (the agent wires it to engine/);
   synchronous, on the loop. */
struct tmds_provider
{
  size_t (*task_count) (void *data);
  const struct task *(*task_at) (void *data, size_t i);
  /* For the audit lines and the ...WithTags routes; optional (NULL or
     NULL answer: "-", no instance tags). */
  const char *(*container_instance_arn) (void *data);
  /* The ECS client the ...WithTags routes call ListTagsForResource with
     (the instance's credentials); optional (NULL: tags fail). */
  ecs_client_t *(*ecs) (void *data);
  void *data;
};

/* The last Docker inspect of a container, NULL if none. */
typedef const struct docker_container_info *(*tmds_inspect_fn) (void *data, const char *docker_id);

/* Everything the router reads. */
struct tmds_view
{
  const struct tmds_config *cfg;
  const struct tmds_provider *prov;
  const task_creds_store_t *creds;
  tmds_inspect_fn inspect;
  void *inspect_data;
};

/* A routed request.  Stats routes leave body NULL and list the Docker ids
   whose stats are needed; tmds_stats_answer() then builds the answer. */
struct tmds_answer
{
  int status;
  char *body;
  const char *ctype;
  /* stats */
  char **stats_ids; /* n_stats_ids Docker ids */
  size_t n_stats_ids;
  int version;      /* 2, 3, 4 */
  bool task_stats;  /* map keyed by Docker id (else one container) */
  bool net_rates;   /* v4, bridge task: samples carry network_rate_stats */
  char *subject;    /* Docker id or task ARN, for the error message */
  /* credentials requests: what the log line says (never the id) */
  bool creds_request;
  const char *creds_path; /* "/v1/credentials" or "/v2/credentials" */
  char *creds_task_arn;
  const char *creds_event; /* "GetCredentials" / "GetCredentialsExecutionRole" */
  /* ...WithTags routes: body holds the task object; the tags of the
     container instance and of tags_task_arn are to be fetched and
     tmds_tags_answer() then finishes the answer. */
  bool want_tags;
  char *tags_task_arn;
};

/* Upstream's credentials audit entry (log/log.h log_audit): "<time>
   <status> <remote ip:port> \"<path>\" \"<User-Agent>\" <task ARN>
   <event> 2 <cluster> <instance ARN>"; without event (errors, 429) it ends
   after the task ARN with a space.  Empty fields are "-"; a credentials
   path is written without its id; the User-Agent escaped (pure). */
char *tmds_audit_entry (int64_t now_ns, int status, const char *remote_addr, const char *path,
                        const char *user_agent, const char *task_arn, const char *event,
                        const char *cluster, const char *instance_arn);

/* Route one request (pure; for the server, unit tests and fuzzing). */
void tmds_route (const struct tmds_view *v, const char *path, const char *const *args,
                 size_t n_args, const char *peer_ip, struct tmds_answer *out);
/* Network bytes per second of a container between two samples (v4
   "network_rate_stats"). */
struct tmds_net_rate
{
  bool set; /* false: no earlier sample to compare with (key omitted) */
  double rx_bytes_per_sec, tx_bytes_per_sec;
};

/* The rate between a container's previous sample (prev_read_ns, prev_rx,
   prev_tx; prev_read_ns 0 = none) and this one; a counter going back (the
   container restarted) or no time passed gives no rate (pure). */
struct tmds_net_rate tmds_net_rate_between (int64_t prev_read_ns, uint64_t prev_rx, uint64_t prev_tx,
                                            int64_t read_ns, uint64_t rx, uint64_t tx);

/* Finish a stats answer: raws[i] is the Docker stats JSON of stats_ids[i],
   NULL when unavailable; rates (NULL = none) the network rate of each,
   added to the sample when a->net_rates. */
void tmds_stats_answer (struct tmds_answer *a, const char *const *raws,
                        const struct tmds_net_rate *rates);
/* One ListTagsForResource of a ...WithTags answer. */
struct tmds_tags_result
{
  const char *resource_arn;
  const char *body; /* the response body, NULL when the call failed */
  size_t len;
  const char *error; /* the failure ("<Code>: <message>" for ECS errors) */
  int status;        /* its HTTP status, 0 = none */
};
/* Finish a ...WithTags answer: ContainerInstanceTags from r[0], TaskTags
   from r[1] ({key: value}, omitted when empty); in v4 each failed call
   (or malformed body) adds an Errors entry (ErrorField, ErrorCode,
   ErrorMessage, StatusCode, ResourceARN) and the answer stays 200. */
void tmds_tags_answer (struct tmds_answer *a, const struct tmds_tags_result r[2]);
void tmds_answer_clear (struct tmds_answer *a);

/* ---- server ---- */

typedef struct tmds_server tmds_server_t;

/* Start listening (retrying a busy address with back-off, as upstream).
   cfg strings are copied; prov, creds and docker must outlive the server. */
int tmds_start (uv_loop_t *loop, const struct tmds_config *cfg, const struct tmds_provider *prov,
                const task_creds_store_t *creds, docker_client_t *docker, tmds_server_t **out,
                agent_error_t *err);
/* Close everything; frees s asynchronously (done_cb once released). */
void tmds_stop (tmds_server_t *s, void (*done_cb) (void *arg), void *arg);
/* A task's or container's known status changed, or the task left state:
   refresh the container's Docker details (c NULL: drop what belongs to
   containers no task holds any more). */
void tmds_container_changed (tmds_server_t *s, const struct task *t, const struct task_container *c);
int tmds_port (const tmds_server_t *s);

#endif
