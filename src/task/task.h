/* engine/task.h - the task / container model of the engine.
 *
 * Contract:
 *  - struct engine_task / engine_container hold what an ACS Task carries
 *    (task-engine.md §1-2, ACS model Task/Container) plus the engine's own
 *    bookkeeping (desired / known / sent status, reason, exit code, Docker
 *    id and name, port bindings, sequence numbers, known time).
 *  - Only the engine (engine.c) writes these structs once a task has been
 *    handed to engine_task_add(); everybody else reads them (introspection)
 *    through const pointers, on the loop, and must not keep them across loop
 *    turns (a task is freed after cleanup).
 *  - engine_task_from_acs_json() is the one parser of an ACS Task object:
 *    keys are matched case-insensitively (as 1.1.0's re-decode); unknown keys
 *    are ignored except inside container "overrides" (only "command" is
 *    allowed); invalid input is ERR_INVALID with a reason naming the field.
 *  - Statuses: one ordered enum for containers and tasks.  A task is never
 *    PULLED (it prints as NONE).  JSON names: NONE PULLED CREATED RUNNING
 *    STOPPED; legacy UNKNOWN -> NONE, DEAD -> STOPPED are accepted on input.
 *  - String arrays (command, entry_point, links, run_dependencies) are
 *    NULL-terminated; a NULL array means "absent" (image default).
 */
#ifndef ENGINE_TASK_H
#define ENGINE_TASK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/error.h"
#include "core/util.h"

enum engine_status
{
  ENGINE_STATUS_NONE = 0,
  ENGINE_STATUS_PULLED = 1, /* containers only */
  ENGINE_STATUS_CREATED = 2,
  ENGINE_STATUS_RUNNING = 3,
  ENGINE_STATUS_STOPPED = 4,
};

enum engine_protocol
{
  ENGINE_PROTO_TCP = 0,
  ENGINE_PROTO_UDP = 1,
};

/* What the engine is doing to a container right now (runtime only, never
   persisted); the planner does not start a second operation meanwhile. */
enum engine_action
{
  ENGINE_ACTION_NONE = 0,
  ENGINE_ACTION_PULL,
  ENGINE_ACTION_CREATE,
  ENGINE_ACTION_START,
  ENGINE_ACTION_STOP,
  ENGINE_ACTION_MARK_STOPPED, /* desired STOPPED, never ran: no Docker call */
  ENGINE_ACTION_REMOVE,
  ENGINE_ACTION_INSPECT, /* runtime: inspect after an event / at reconciliation */
};

struct engine_kv
{
  char *key;
  char *value;
};

struct engine_port_mapping
{
  uint16_t container_port;
  uint16_t host_port; /* 0 = Docker picks */
  enum engine_protocol protocol;
};

struct engine_mount_point
{
  char *source_volume;
  char *container_path;
  bool read_only;
};

struct engine_volume_from
{
  char *source_container;
  bool read_only;
};

/* A binding Docker reports (inspect NetworkSettings.Ports). */
struct engine_port_binding
{
  uint16_t container_port;
  uint16_t host_port;
  char *bind_ip;
  enum engine_protocol protocol;
};

struct engine_volume
{
  char *name;
  /* Host volume: source_path set (bind).  Empty volume: source_path NULL;
     the engine creates the Docker named volume docker_name for it. */
  char *source_path;
  char *docker_name; /* engine field: Docker volume name (empty volumes) */
  bool created;      /* engine field: Docker volume create succeeded */
};

struct engine_container
{
  /* --- from the task definition --- */
  char *name;
  char *image;
  char **command;     /* NULL = image default */
  char **entry_point; /* NULL or empty = image default */
  uint32_t cpu;       /* CPU units -> CpuShares (min 2); 0 = not sent */
  uint32_t memory;    /* MiB; 0 = no limit */
  bool essential;
  struct engine_kv *environment;
  size_t n_environment;
  char **links; /* "name" or "name:alias" */
  struct engine_port_mapping *port_mappings;
  size_t n_port_mappings;
  struct engine_mount_point *mount_points;
  size_t n_mount_points;
  struct engine_volume_from *volumes_from;
  size_t n_volumes_from;
  char **override_command; /* overrides.command, NULL = none */
  bool has_override_command;

  /* --- legacy (checkpoints of 1.1.0): empty-volume helper --- */
  bool is_internal;        /* never reported, hidden from introspection */
  char **run_dependencies; /* satisfied when the target is known >= RUNNING */

  /* --- engine fields --- */
  enum engine_status desired_status;
  enum engine_status known_status;
  enum engine_status sent_status; /* highest status queued for ECS */
  char *reason;                   /* "<ErrorName>: <message>", first error is sticky */
  bool has_exit_code;
  int exit_code;
  char *docker_id;   /* NULL until created (or adopted) */
  char *docker_name; /* chosen (and saved) before the create call */
  struct engine_port_binding *known_bindings;
  size_t n_known_bindings;
  bool restopped; /* the one "STOPPED but reports RUNNING: stop again" used */

  /* --- runtime only (not persisted) --- */
  enum engine_action inflight; /* operation in flight, NONE if idle */
  enum engine_status pending_event; /* Docker event seen while busy, handled after */
  uint64_t retry_at_ms;        /* loop ms: a failed stop is retried then; 0 = none */
  struct backoff stop_backoff; /* between unconfirmed stops; min_ms 0 = never used */
};

struct engine_task
{
  char *arn;
  char *family;
  char *version;
  struct engine_container *containers;
  size_t n_containers;
  struct engine_volume *volumes;
  size_t n_volumes;

  enum engine_status desired_status;
  enum engine_status known_status;
  enum engine_status sent_status;
  int64_t known_time_ns; /* unix ns of the last known-status change, 0 = never */
  char *reason;          /* task-level reason (dependency error, TaskStateError) */
  int64_t start_seq;     /* ACS payload seqNum that asked RUNNING, 0 = none */
  int64_t stop_seq;      /* ACS payload seqNum that asked STOPPED, 0 = none */

  /* runtime only */
  bool hold;        /* waiting for earlier stops (sequence numbers, §7) */
  bool cleanup_due; /* cleanup wait elapsed: remove containers and drop task */
  bool removing;
  bool removal_failed;            /* a removal of this round failed: retry, keep the task */
  struct backoff cleanup_backoff; /* between failed removal rounds; min_ms 0 = never used */
  int64_t cleanup_retry_ns;       /* unix ns before which cleanup is not retried */
};

/* Parse one ACS Task object (the JSON of PayloadMessage.tasks[i]).  Strict:
   arn required; containers need a unique non-empty name and an image;
   numbers must be non-negative integers in range; ports 1..65535 (host
   0..65535), protocol tcp|udp; volumes need a name and a "host" object
   (sourcePath non-empty -> host volume, else empty volume; "type" if given
   must be "host"); a mount point must name a task volume; a link is
   "name" or "name:alias"; container overrides is an object or a string
   holding one, with only "command" (array of strings or null).
   Dependencies on containers missing from the task are NOT rejected here:
   the engine fails such a task with a reason (see plan.h).
   Engine fields start at NONE; desired status of each container = NONE
   (raised by the engine).  ERR_INVALID on error. */
int engine_task_from_acs_json (json_t *task, struct engine_task **out, agent_error_t *err);
void engine_task_free (struct engine_task *t);
void engine_task_freep (struct engine_task **t);
#define cleanup_task __attribute__ ((cleanup (engine_task_freep)))

/* Container status names: "NONE" "PULLED" "CREATED" "RUNNING" "STOPPED". */
const char *engine_container_status_str (enum engine_status s);
/* Task status names: as above but PULLED prints "NONE". */
const char *engine_task_status_str (enum engine_status s);
/* ECS-facing name: "RUNNING", "STOPPED", else "PENDING". */
const char *engine_status_ecs_str (enum engine_status s);
/* Parse a status name (case-insensitive), accepting legacy UNKNOWN (NONE)
   and DEAD (STOPPED).  NULL -> NONE.  < 0 (ERR_INVALID) if unknown. */
int engine_status_parse (const char *s, enum engine_status *out, agent_error_t *err);
const char *engine_protocol_str (enum engine_protocol p);

struct engine_container *engine_task_find_container (const struct engine_task *t, const char *name);
struct engine_volume *engine_task_find_volume (const struct engine_task *t, const char *name);
/* The command Docker gets: override if present, else command (may be NULL). */
char **engine_container_effective_command (const struct engine_container *c);
size_t engine_strv_len (char *const *v);
char **engine_strv_dup (char *const *v); /* NULL in, NULL out */
void engine_strv_free (char **v);

/* Checkpoint form of a task (keys as upstream's internal JSON, plus the
   engine's own: DockerId, DockerName, Reason, sequence numbers, protocol).
   engine_task_to_json returns a new reference. */
json_t *engine_task_to_json (const struct engine_task *t);
/* Read a checkpointed task (upstream versions 1/2 or ours, keys matched
   case-insensitively).  ERR_INVALID with a reason on malformed input. */
int engine_task_from_json (json_t *j, struct engine_task **out, agent_error_t *err);
/* Read a whole checkpoint "TaskEngine" object: "Tasks" plus, for upstream
   files, "IdToContainer" / "IdToTask" (docker id and name of each
   container; an entry naming an unknown task or container is an error).
   *tasks is a malloc'd array of n tasks (free each, then the array). */
int engine_tasks_from_json (json_t *task_engine, struct engine_task ***tasks, size_t *n,
                            agent_error_t *err);

/* RFC 3339 with nanoseconds <-> unix ns (Go's zero time <-> 0). */
int engine_time_parse (const char *s, int64_t *ns);
void engine_time_format (int64_t ns, char *buf, size_t len); /* len >= 40 */

#endif
