/* ecs/ecs.h - client of the ECS JSON API (the calls an agent makes).
 *
 * AWS JSON 1.1 over POST / to the API endpoint: X-Amz-Target
 * AmazonEC2ContainerServiceV20141113.<Op>, Content-Type
 * application/x-amz-json-1.1, SigV4 (service "ecs", the configured region;
 * signed: host;x-amz-date;x-amz-target[;x-amz-security-token]) with
 * credentials from aws/credentials.h, User-Agent as given.  All calls are
 * async on the loop through core/http.h; each call ends with exactly one
 * callback unless cancelled (ecs_call_cancel / ecs_client_free).
 *
 * Errors handed to callbacks:
 *   ERR_CLIENT       non-retriable: HTTP 4xx (other than throttling) or code
 *                    ClientException; message "<Code>: <message>"; status set.
 *   ERR_SERVER       5xx, 429 or throttling (Throttling, ThrottlingException,
 *                    ProvisionedThroughputExceededException,
 *                    RequestLimitExceeded, TooManyRequestsException) - retriable.
 *   ERR_UNREACHABLE / ERR_TIMEOUT   network - retriable.
 *   ERR_MALFORMED    2xx with an unparseable body.
 *   ERR_AUTH         no credentials could be obtained, or ExpiredTokenException
 *                    (cached credentials are dropped; retriable).
 * Retriable errors are retried inside the client per the retry policy
 * (exponential backoff with jitter, core/util.h) before being reported.
 *
 * JSON building and parsing are small pure functions over the typed structs
 * below (exposed for tests and fuzzing); jansson stays inside ecs.c.
 */
#ifndef ECS_ECS_H
#define ECS_ECS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "aws/credentials.h"
#include "core/error.h"
#include "core/http.h"
#include "task/task.h"

#define ECS_TARGET_PREFIX "AmazonEC2ContainerServiceV20141113."
#define ECS_CONTENT_TYPE "application/x-amz-json-1.1"

typedef struct ecs_client ecs_client_t;
typedef struct ecs_call ecs_call_t;

struct ecs_retry_policy
{
  int max_retries;        /* retries after the first attempt; 0 = default 3; < 0 = none */
  uint64_t min_ms, max_ms; /* 0 = 100 ms, 5000 ms */
  double jitter, mult;     /* 0 = 0.2, 2.0 */
};

struct ecs_client_options
{
  /* Endpoint URL from ecs_endpoint_url(); NULL = derived from region. */
  const char *endpoint;
  const char *region;           /* required */
  bool insecure;                /* -k: skip TLS verification */
  const char *user_agent;       /* NULL = ecs_user_agent(AGENT_VERSION, AGENT_GITREV, dirty) */
  aws_creds_provider_t *creds;  /* required, not owned; must outlive the client */
  long timeout_ms;              /* per attempt; 0 = 42000 (DiscoverPollEndpoint: 3x) */
  struct ecs_retry_policy retry;
  time_t (*now) (void);         /* signing clock for tests; NULL = time() */
};

/* --- endpoints and identity ------------------------------------------- */

/* API endpoint URL: backend_host (ECS_BACKEND_HOST) when non-empty: kept if
   it has an http:// or https:// scheme, a bare host[:port] gets https://;
   else https://ecs.<region>.amazonaws.com (.amazonaws.com.cn for cn-*).
   Trailing '/' removed.  ERR_INVALID when both are empty. */
int ecs_endpoint_url (const char *backend_host, const char *region, char **out, agent_error_t *err);
/* "Amazon ECS Agent - v<version> (<[*]gitrev>) (+http://aws.amazon.com/ecs/)". */
char *ecs_user_agent (const char *version, const char *gitrev, bool dirty);

/* --- request / response structs --------------------------------------- */

struct ecs_attribute
{
  const char *name;
  const char *value; /* NULL = no value */
};

struct ecs_register_req
{
  const char *cluster;                    /* NULL/"" = "default" */
  const char *instance_identity_document; /* NULL (not on EC2) is sent as "" */
  const char *instance_identity_signature; /* NULL or no document: "" */
  const char *container_instance_arn;     /* set on re-registration */
  int64_t cpu;                            /* CPU units (cores * 1024) */
  int64_t memory_mib;                     /* host MiB minus reserved */
  const uint16_t *ports_tcp;
  size_t n_ports_tcp;
  const uint16_t *ports_udp;
  size_t n_ports_udp;
  bool send_ports_udp;                    /* include PORTS_UDP (even if empty) */
  const char *agent_version, *agent_hash, *docker_version; /* versionInfo, omitted if all NULL */
  const struct ecs_attribute *attributes;
  size_t n_attributes;
  const char *client_token;               /* NULL = omitted */
  const struct ecs_attribute *tags;       /* tags [{key, value}], omitted when none */
  size_t n_tags;
};

struct ecs_container_state_change
{
  const char *cluster;     /* standalone SubmitContainerStateChange only */
  const char *task_arn;    /* standalone only */
  const char *container_name;
  const char *status;      /* PENDING | RUNNING | STOPPED */
  bool has_exit_code;
  int exit_code;
  const char *reason;      /* omitted if NULL/""; cut to 255 bytes standalone, 1024 in a
                              task change (UTF-8 safe) */
  const struct task_port_binding *bindings; /* task/task.h */
  size_t n_bindings;       /* networkBindings always sent (may be []) */
  const char *runtime_id;  /* Docker id; omitted if NULL; cut to 255 */
  const char *image_digest; /* omitted if NULL; cut to 255 */
};

/* SubmitTaskStateChange as upstream sends it today: the task's status with
   the container changes batched in containers[] and the task timestamps. */
struct ecs_task_state_change
{
  const char *cluster;
  const char *task_arn;
  const char *status;  /* PENDING | RUNNING | STOPPED */
  const char *reason;  /* NULL -> "" (always sent) */
  const struct ecs_container_state_change *containers; /* containers[], omitted if none */
  size_t n_containers;
  /* unix ms, 0 = omitted: pullStartedAt, pullStoppedAt, executionStoppedAt
     (epoch seconds on the wire) */
  int64_t pull_started_ms, pull_stopped_ms, execution_stopped_ms;
};

struct ecs_discover_resp
{
  char *endpoint;
  char *telemetry_endpoint; /* NULL if absent */
};

struct ecs_register_resp
{
  char *container_instance_arn;
  char *availability_zone; /* from attribute ecs.availability-zone, NULL if absent */
};

/* Pure JSON builders (return malloc'd compact JSON). */
char *ecs_build_register (const struct ecs_register_req *r);
/* {"containerInstance","cluster","zoneId":""}: upstream's ACS and TCS
   discovery sends an empty zoneId (only its system-logs discovery sends the
   zone). */
char *ecs_build_discover (const char *instance_arn, const char *cluster);
char *ecs_build_task_state_change (const struct ecs_task_state_change *c);
char *ecs_build_container_state_change (const struct ecs_container_state_change *c);

/* Pure response parsers. */
int ecs_parse_register_resp (const char *body, size_t len, struct ecs_register_resp *out,
                             agent_error_t *err);
void ecs_register_resp_clear (struct ecs_register_resp *r);
int ecs_parse_discover_resp (const char *body, size_t len, struct ecs_discover_resp *out,
                             agent_error_t *err);
void ecs_discover_resp_clear (struct ecs_discover_resp *r);
/* CreateCluster response: cluster.clusterName (malloc'd). */
int ecs_parse_cluster_name (const char *body, size_t len, char **out, agent_error_t *err);
/* Classify a finished HTTP exchange: returns 0 for 2xx, else < 0 with *err
   set by aws_json_classify ("<Code>: <message>", or "HTTP <status>:
   <reason>" when the body names no code) and the kind refined as described
   at the top (ClientException always ERR_CLIENT, ExpiredTokenException on a
   4xx ERR_AUTH). */
int ecs_classify_response (long status, const char *body, size_t len, agent_error_t *err);
/* Whether an error kind is retriable (ERR_SERVER, ERR_UNREACHABLE, ERR_TIMEOUT, ERR_AUTH). */
bool ecs_error_retriable (int kind);

/* --- host resources ---------------------------------------------------- */

/* CPUs this process may use (libuv's uv_available_parallelism) * 1024. */
int64_t ecs_host_cpu_units (void);
/* total_bytes (the caller passes uv_get_total_memory()) in MiB minus
   reserved_mib; 0 bytes (unknown) registers 0 MiB, as upstream, with a
   warning; ERR_INVALID if the result would be negative. */
int ecs_host_memory_mib (uint64_t total_bytes, int64_t reserved_mib, int64_t *out,
                         agent_error_t *err);
/* Standard capability attributes as upstream sends for a Linux docker host:
   com.amazonaws.ecs.capability.docker-remote-api.<v> for each API version in
   docker_api_versions (e.g. "1.17".."1.43"), com.amazonaws.ecs.capability.
   logging-driver.<d> for each driver (NULL = json-file, none),
   ecs.os-type=linux,
   ecs.os-family=LINUX; then the n_user ECS_INSTANCE_ATTRIBUTES (name and
   value each set), in their order, replacing a standard one of the same
   name.  Returns a malloc'd array (names and values malloc'd), *n set;
   NULL + ERR_INVALID if a user attribute is invalid (name empty, over 128
   characters or with characters other than letters, digits and -_./@;
   value missing or over 128 characters).  Free with ecs_attributes_free. */
struct ecs_attribute *ecs_standard_attributes (const char *const *docker_api_versions,
                                               size_t n_versions,
                                               const char *const *logging_drivers,
                                               size_t n_drivers, const struct ecs_attribute *user,
                                               size_t n_user, size_t *n, agent_error_t *err);
void ecs_attributes_free (struct ecs_attribute *a, size_t n);
/* How many of the n_user ECS_INSTANCE_ATTRIBUTES a registration carries:
   all on the first one, none on a re-registration (a container instance
   ARN restored), as upstream's registerContainerInstance (custom attributes
   only on the initial registration; ECS keeps them on the instance).  Each
   is checked either way: -1 + ERR_INVALID as ecs_standard_attributes. */
int ecs_custom_attributes_sent (const struct ecs_attribute *user, size_t n_user, bool reregistration,
                                agent_error_t *err);

/* Capabilities of the container options (ecs/attributes_options.c), for a
   daemon serving Docker API 1.<api_minor>: privileged-container unless
   ECS_DISABLE_PRIVILEGED; docker-remote-api.1.<m> for 17 <= m <= api_minor
   as upstream advertises them (below 1.33, without 1.26, 1.27, 1.31);
   logging-driver.<d> for each configured driver the daemon serves (its
   minimum API); selinux / apparmor when enabled;
   ecs.capability.network.container-port-range when port_ranges;
   ecs.capability.task-cpu-mem-limit and ecs.capability.increased-task-cpu-limit
   with ECS_ENABLE_TASK_CPU_MEM_LIMIT and API 1.22 (the agent then gives
   each task its cgroup, with no vCPU maximum);
   ecs.capability.execution-role-awslogs with
   ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE.  The
   caller adds them to the standard ones (ECS_INSTANCE_ATTRIBUTES last). */
struct ecs_attribute *ecs_option_attributes (const struct task_option_gates *g, int api_minor,
                                             bool port_ranges, size_t *n);
bool ecs_docker_api_version_advertised (int minor);
/* The task IAM role capabilities, as upstream advertises them (Docker API
   1.19 or later): com.amazonaws.ecs.capability.task-iam-role when
   ECS_ENABLE_TASK_IAM_ROLE, ...task-iam-role-network-host when
   ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST (the credentials endpoint itself is
   served either way).  Free with ecs_attributes_free. */
struct ecs_attribute *ecs_endpoint_attributes (bool task_iam_role, bool task_iam_role_network_host,
                                               int api_minor, size_t *n);
/* The registry authentication capabilities (engine/pull_auth.h), as
   upstream advertises them: ecs.capability.private-registry-authentication
   .secretsmanager and ecs.capability.ecr-endpoint always;
   com.amazonaws.ecs.capability.ecr-auth and
   ecs.capability.execution-role-ecr-pull with Docker API 1.19 or later.
   Free with ecs_attributes_free. */
struct ecs_attribute *ecs_registry_auth_attributes (int api_minor, size_t *n);
/* The secrets capabilities, always advertised (engine/secrets.h fetches
   them, engine/create_opts.c injects them): ecs.capability.secrets.ssm.
   and ecs.capability.secrets.asm. environment-variables and
   bootstrap.log-driver.  Free with ecs_attributes_free. */
struct ecs_attribute *ecs_secret_attributes (size_t *n);
/* The configured logging drivers the daemon serves (at most max, pointers
   into g or static). */
size_t ecs_option_drivers (const struct task_option_gates *g, int api_minor, const char **out,
                           size_t max);
/* The container runtime the agent detected at start-up (docker/docker.h,
   docker_client_is_podman; its API version is the api_minor above). */
struct ecs_runtime
{
  bool podman;
};
/* Whether a capability attribute computed for Docker holds on rt
   (ecs/attributes_runtime.c): on Docker every one; on Podman not the
   logging drivers other than json-file, journald and none (its
   compatible API refuses them at create), nor container-health-check
   (Podman runs health checks from systemd timers, never through the API
   service alone).  The docker-remote-api versions hold: Podman 4.3
   reports API 1.41 and serves the older paths. */
bool ecs_runtime_capability_holds (const struct ecs_runtime *rt, const char *name);
/* Keep, in order, the drivers (logging driver names) rt serves; returns
   how many. */
size_t ecs_runtime_log_drivers (const struct ecs_runtime *rt, const char **drivers, size_t n);
/* Drop (and free) the attributes of a[*n] that do not hold on rt. */
void ecs_runtime_attributes_filter (const struct ecs_runtime *rt, struct ecs_attribute *a,
                                    size_t *n);
/* Append the attributes of extra whose name *a does not hold yet (copies). */
void ecs_attributes_add_missing (struct ecs_attribute **a, size_t *n,
                                 const struct ecs_attribute *extra, size_t n_extra);
/* ecs.cpu-architecture for a uname machine: "x86_64", "arm64", ... */
const char *ecs_cpu_architecture (const char *machine);
/* uname's machine into buf; NULL if uname fails. */
const char *ecs_host_machine (char *buf, size_t len);

/* --- client -------------------------------------------------------------- */

ecs_client_t *ecs_client_new (uv_loop_t *loop, http_client_t *http,
                              const struct ecs_client_options *opts, agent_error_t *err);
/* Cancels every call in flight (no callbacks) and frees. */
void ecs_client_free (ecs_client_t *c);
const char *ecs_client_endpoint (const ecs_client_t *c);
/* The availability zone the last successful RegisterContainerInstance
   answered (its ecs.availability-zone attribute); NULL if none yet. */
const char *ecs_client_availability_zone (const ecs_client_t *c);

/* Callbacks: err is owned by the client and freed after the callback returns
   (use error_move to keep it).  String arguments are valid during the call. */
typedef void (*ecs_register_cb) (const char *instance_arn, agent_error_t err, void *data);
typedef void (*ecs_discover_cb) (const char *endpoint, const char *telemetry_endpoint,
                                 agent_error_t err, void *data);
typedef void (*ecs_submit_cb) (agent_error_t err, void *data);

/* Never NULL.  The callback always runs later from the loop (never inside
   these functions), errors included.  The handle is valid until the
   callback starts. */
ecs_call_t *ecs_register_container_instance (ecs_client_t *c, const struct ecs_register_req *req,
                                             ecs_register_cb cb, void *data);
ecs_call_t *ecs_discover_poll_endpoint (ecs_client_t *c, const char *instance_arn,
                                        const char *cluster, ecs_discover_cb cb, void *data);
ecs_call_t *ecs_submit_task_state_change (ecs_client_t *c, const struct ecs_task_state_change *chg,
                                          ecs_submit_cb cb, void *data);
ecs_call_t *ecs_submit_container_state_change (ecs_client_t *c,
                                               const struct ecs_container_state_change *chg,
                                               ecs_submit_cb cb, void *data);
/* CreateCluster {"clusterName":name}; cb gets the returned clusterName. */
ecs_call_t *ecs_create_cluster (ecs_client_t *c, const char *name, ecs_register_cb cb, void *data);
/* Generic: any operation name and JSON body; the response body is passed. */
typedef void (*ecs_raw_cb) (const char *body, size_t len, agent_error_t err, void *data);
ecs_call_t *ecs_call_raw (ecs_client_t *c, const char *operation, const char *json_body,
                          ecs_raw_cb cb, void *data);
/* Cancel a call; its callback will not run. */
void ecs_call_cancel (ecs_call_t *call);

#endif
