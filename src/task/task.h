/* task/task.h - the task model: one home for tasks, containers, volumes,
 * port bindings and statuses, as plain structs (no JSON here).
 *
 * Contract:
 *  - struct task / task_container hold what an ACS Task carries (the ACS
 *    model's Task and Container) plus the engine's own bookkeeping (desired /
 *    known / sent status, reason, exit code, Docker id and name, port
 *    bindings, sequence numbers, known time).
 *  - Codecs live at the edges: acs/task_codec.h reads the ACS form,
 *    state/checkpoint_tasks.h reads and writes the checkpoint form; both
 *    share the field decoders of task/task_decode.h.
 *  - Only the engine writes these structs once a task has been handed to
 *    engine_task_add(); everybody else reads them through const pointers,
 *    on the loop, and must not keep them across loop turns (a task is freed
 *    after cleanup).
 *  - Statuses: one ordered enum for containers and tasks.  A task is never
 *    PULLED (it prints as NONE).  JSON names: NONE PULLED CREATED RUNNING
 *    STOPPED; legacy UNKNOWN -> NONE, DEAD -> STOPPED are accepted on input.
 *  - String arrays (command, entry_point, links, run_dependencies) are
 *    NULL-terminated; a NULL array means "absent" (image default).
 */
#ifndef TASK_TASK_H
#define TASK_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/error.h"
#include "core/util.h"
#include "task/task_creds.h"
#include "task/options.h"
#include "task/lifecycle.h"
#include "task/restart.h"
#include "task/registry_auth.h"
#include "task/secrets.h"

enum task_status
{
  TASK_STATUS_NONE = 0,
  TASK_STATUS_PULLED = 1, /* containers only */
  TASK_STATUS_CREATED = 2,
  TASK_STATUS_RUNNING = 3,
  TASK_STATUS_STOPPED = 4,
};

enum task_protocol
{
  TASK_PROTO_TCP = 0,
  TASK_PROTO_UDP = 1,
};

/* What the engine is doing to a container right now (runtime only, never
   persisted); the planner does not start a second operation meanwhile. */
enum task_action
{
  TASK_ACTION_NONE = 0,
  TASK_ACTION_PULL,
  TASK_ACTION_CREATE,
  TASK_ACTION_START,
  TASK_ACTION_STOP,
  TASK_ACTION_MARK_STOPPED, /* desired STOPPED, never ran: no Docker call */
  TASK_ACTION_REMOVE,
  TASK_ACTION_INSPECT, /* runtime: inspect after an event / at reconciliation */
};

struct task_kv
{
  char *key;
  char *value;
};

struct task_port_mapping
{
  uint16_t container_port; /* 0 when a range is given */
  uint16_t host_port; /* 0 = Docker picks */
  enum task_protocol protocol;
  uint16_t range_start, range_end; /* containerPortRange "a-b"; 0 = none */
};

struct task_mount_point
{
  char *source_volume;
  char *container_path;
  bool read_only;
};

struct task_volume_from
{
  char *source_container;
  bool read_only;
};

/* A port Docker bound for a container (inspect NetworkSettings.Ports): the
   one port-binding type of the agent (Docker results, checkpoint, state
   changes, ECS submissions, introspection). */
struct task_port_binding
{
  uint16_t container_port;
  uint16_t host_port;
  char *bind_ip;
  enum task_protocol protocol;
  /* A reported range (task_port_bindings_report): container_port ..
     container_port_end bound to host_port .. host_port_end; 0 = one port. */
  uint16_t container_port_end, host_port_end;
};

struct task_volume
{
  char *name;
  /* Host volume: source_path set (bind).  Empty volume: source_path NULL;
     the engine creates the Docker named volume docker_name for it. */
  char *source_path;
  char *docker_name; /* engine field: Docker volume name (empty volumes) */
  bool created;      /* engine field: Docker volume create succeeded */
};

struct task_container
{
  /* --- from the task definition --- */
  char *name;
  char *image;
  char **command;     /* NULL = image default */
  char **entry_point; /* NULL or empty = image default */
  uint32_t cpu;       /* CPU units -> CpuShares (clamped 2..262144: 0 sends 2) */
  uint32_t memory;    /* MiB; 0 = no limit */
  bool essential;
  struct task_kv *environment;
  size_t n_environment;
  char **links; /* "name" or "name:alias" */
  struct task_port_mapping *port_mappings;
  size_t n_port_mappings;
  struct task_mount_point *mount_points;
  size_t n_mount_points;
  struct task_volume_from *volumes_from;
  size_t n_volumes_from;
  char **override_command; /* overrides.command, NULL = none */
  bool has_override_command;
  struct task_container_options opts; /* dockerConfig, healthCheckType (task/options.h) */
  struct task_container_lifecycle life; /* dependsOn, timeouts, start time, health (task/lifecycle.h) */
  struct task_container_restart restart; /* restartPolicy and its tracker (task/restart.h) */
  struct task_registry_auth registry_auth; /* registryAuthentication (task/registry_auth.h) */
  struct task_container_secrets secrets; /* secrets (task/secrets.h) */

  /* --- legacy (checkpoints of 1.1.0): empty-volume helper --- */
  bool is_internal;        /* never reported, hidden from introspection */
  char **run_dependencies; /* satisfied when the target is known >= RUNNING */

  /* --- engine fields --- */
  enum task_status desired_status;
  enum task_status known_status;
  enum task_status sent_status; /* highest status queued for ECS */
  char *reason;                   /* "<ErrorName>: <message>", first error is sticky */
  bool has_exit_code;
  int exit_code;
  char *docker_id;   /* NULL until created (or adopted) */
  char *docker_name; /* chosen (and saved) before the create call */
  struct task_port_binding *known_bindings;
  size_t n_known_bindings;
  bool restopped; /* the one "STOPPED but reports RUNNING: stop again" used */
  /* The image's record could not be read (inspect failed): the create goes
     ahead without the image's ManagedEnvKeys (engine/images.h).  Not saved. */
  bool image_env_failed;
  /* Task metadata endpoint id (UUIDv4, upstream's V3EndpointID): made once
     when the task is accepted, persisted, shared by the v3, v4 and /api
     URIs of the container's environment. */
  char *v3_endpoint_id;
  /* The image's repository digest ("sha256:..."), learned from the pull
     stream's "Digest:" line; NULL when unknown.  Persisted; sent as
     imageDigest in state changes. */
  char *image_digest;
  char *container_arn; /* ACS containerArn (v4 metadata ContainerARN); NULL = none */

  /* --- runtime only (not persisted) --- */
  enum task_action inflight; /* operation in flight, NONE if idle */
  enum task_status pending_event; /* Docker event seen while busy, handled after */
  uint64_t retry_at_ms;        /* loop ms: a failed stop is retried then; 0 = none */
  struct backoff stop_backoff; /* between unconfirmed stops; min_ms 0 = never used */
  uint64_t wake_at_ms; /* loop ms: re-plan then (a dependency start timeout); 0 = none */
  uint64_t steady_at_ms; /* loop ms: its next steady-state inspect (engine/decide.h); 0 = none */
};

struct task
{
  char *arn;
  char *family;
  char *version;
  struct task_container *containers;
  size_t n_containers;
  struct task_volume *volumes;
  size_t n_volumes;
  struct task_options opts; /* network/pid/ipc modes, task cpu/memory (task/options.h) */

  enum task_status desired_status;
  enum task_status known_status;
  enum task_status sent_status;
  int64_t known_time_ns; /* unix ns of the last known-status change, 0 = never */
  /* Unix ms, 0 = not yet (persisted; sent in task state changes as
     pullStartedAt / pullStoppedAt / executionStoppedAt): the first pull
     started, the last pull ended, the first essential container stopped. */
  int64_t pull_started_ms, pull_stopped_ms, execution_stopped_ms;
  char *reason;          /* task-level reason (dependency error, TaskStateError) */
  int64_t start_seq;     /* ACS payload seqNum that asked RUNNING, 0 = none */
  int64_t stop_seq;      /* ACS payload seqNum that asked STOPPED, 0 = none */
  /* Task IAM role credentials ids (task/task_creds.h), NULL = no role.
     Persisted (the credentials themselves never are). */
  char *credentials_id;           /* roleCredentials (task role) */
  char *execution_credentials_id; /* executionRoleCredentials */
  /* From ACS (v4 metadata): launchType ("EC2"), serviceName,
     enableFaultInjection; NULL / false = absent. */
  char *launch_type;
  char *service_name;
  bool fault_injection;

  /* runtime only */
  /* The credentials the ACS payload carried with the task: taken (and
     nulled) by the payload handler before the task reaches the engine. */
  struct task_role_credentials *payload_role_creds;
  struct task_role_credentials *payload_exec_creds;
  bool hold;        /* waiting for earlier stops (a stop with a lower ACS sequence number is still running) */
  bool pull_upfront; /* ECS_PULL_DEPENDENT_CONTAINERS_UPFRONT: pulls do not wait for dependencies (engine/plan.h) */
  bool links_by_address; /* the runtime links by address (Podman): creates wait for link targets to run (engine/plan.h) */
  bool cleanup_due; /* cleanup wait elapsed: remove containers and drop task */
  bool removing;
  bool removal_failed;            /* a removal of this round failed: retry, keep the task */
  struct backoff cleanup_backoff; /* between failed removal rounds; min_ms 0 = never used */
  int64_t cleanup_retry_ns;       /* unix ns before which cleanup is not retried */
  /* util_now_ms () when the task reached the engine, until its RUNNING
     change is queued (the launch latency metric); 0 = not measured
     (restored from the checkpoint, or measured already). */
  uint64_t launch_started_ms;
  /* Values of the secrets, per provider (task/secrets.h): never persisted. */
  struct task_secret_resource secret_res[TASK_SECRET_N_PROVIDERS];
  /* Its systemd slice (engine/slice.h): NONE = none asked for (cgroupfs
     driver, limits off, or not needed yet), never persisted. */
  enum task_resource_status slice_res;
};

void task_free (struct task *t);
void task_freep (struct task **t);
#define cleanup_task __attribute__ ((cleanup (task_freep)))

/* Container status names: "NONE" "PULLED" "CREATED" "RUNNING" "STOPPED". */
const char *task_container_status_str (enum task_status s);
/* Task status names: as above but PULLED prints "NONE". */
const char *task_status_str (enum task_status s);
/* ECS-facing name: "RUNNING", "STOPPED", else "PENDING". */
const char *task_status_ecs_str (enum task_status s);
/* Parse a status name (case-insensitive), accepting legacy UNKNOWN (NONE)
   and DEAD (STOPPED).  NULL -> NONE.  < 0 (ERR_INVALID) if unknown. */
int task_status_parse (const char *s, enum task_status *out, agent_error_t *err);
const char *task_protocol_str (enum task_protocol p);
/* "tcp" / "udp" (case-insensitive); NULL or "" -> tcp.  < 0 otherwise. */
int task_protocol_parse (const char *s, enum task_protocol *out, agent_error_t *err);
/* Copy n bindings (bind_ip duplicated); free with task_port_bindings_free. */
struct task_port_binding *task_port_bindings_dup (const struct task_port_binding *b, size_t n);
void task_port_bindings_free (struct task_port_binding *b, size_t n);
/* The network bindings reported to ECS for container c, from the n
   bindings Docker made (b), as upstream reports them: bindings on "::"
   left out when exclude_ipv6 (ECS_EXCLUDE_IPV6_PORTBINDING); the ports of
   a containerPortRange that Docker bound to contiguous host ports in the
   same order (per bind address) become one binding with the container
   and host port ranges; every other binding is reported as it is.  A new
   array (*n_out entries, NULL when none); free with
   task_port_bindings_free. */
struct task_port_binding *task_port_bindings_report (const struct task_container *c,
                                                     const struct task_port_binding *b, size_t n,
                                                     bool exclude_ipv6, size_t *n_out);

struct task_container *task_find_container (const struct task *t, const char *name);
struct task_volume *task_find_volume (const struct task *t, const char *name);
/* The command Docker gets: override if present, else command (may be NULL). */
char **task_container_effective_command (const struct task_container *c);
size_t task_strv_len (char *const *v);
char **task_strv_dup (char *const *v); /* NULL in, NULL out */
void task_strv_free (char **v);
/* A random UUIDv4 (lower-case, dashed), malloc'd: the endpoint id form. */
char *task_new_endpoint_id (void);
/* Give every container of t without one an endpoint id. */
void task_assign_endpoint_ids (struct task *t);

#endif
