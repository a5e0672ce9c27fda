/* engine/engine.h - the task engine: owns every task, drives Docker.
 *
 * Contract:
 *  - One engine per loop; the only writer of task/container state.  Its
 *    work runs observe -> decide -> act: every Docker answer or event
 *    becomes one observation (observe.c), a pure function decides what it
 *    means (decide.c for answers and events, plan.c for desired statuses
 *    and next actions), and the executor (exec.c) records the outcome and
 *    issues the next Docker calls through a small ops vtable (default: an
 *    adapter over docker/docker.h; tests can pass a fake).  Container state
 *    comes from Docker events plus an inspect where an answer needs one;
 *    no polling except the steady-state inspect of each live container
 *    every 5 min + up to 30 s, at most 4 at a time (engine/decide.h), and
 *    of all of them after the event stream reconnects.
 *  - Persist before you tell: every known-status change that ECS must hear
 *    about becomes a struct state_change pushed to the state store's queue
 *    (container change first, then its task's), and a save is requested.
 *    A Docker create waits for the durable save recording the Docker name
 *    it will use (the store retries a failing write and calls back only
 *    once it is durable), so after a crash the container is found by
 *    name / labels and adopted, never created twice.
 *  - engine_task_add(): a new task is added; a known ARN with a higher
 *    desired status updates it; anything else (duplicate payload) is a
 *    no-op.  A task that cannot run (no containers; dependencies that are
 *    cyclic, name a missing container or a name over 255 characters) is
 *    recorded as known STOPPED with a reason and never run.
 *  - engine_new() takes over the tasks restored by state_load() and lists
 *    them to the store at every checkpoint write; engine_start() opens the
 *    event stream, reconciles every saved container with Docker (adopt by
 *    name/labels, real exit codes, ContainerVanishedError for missing
 *    ones; a failed container list is retried with back-off), then runs.
 *    Tasks added before engine_start() wait for it (a restored ARN counts
 *    as known).
 *  - A stop that Docker does not confirm keeps the container RUNNING and is
 *    retried with back-off; stopped tasks are removed (containers, empty
 *    volumes) cleanup_wait_ms after their STOPPED time and dropped from
 *    state (a failed removal is retried with back-off, the task kept).
 *  - Read-only views (introspection) are valid until the loop runs again.
 *  - Image records (task/image_record.h) say which images the agent pulled
 *    and when they were last used; they are checkpointed.  With image
 *    cleanup on, every interval the least recently used images no container
 *    of a task still held uses, older than the minimum age and not excluded
 *    or pre-cached, are removed (up to the per-cycle number); pulls wait
 *    while a cycle runs and a cycle waits for running pulls.
 *  - engine_free() leaves Docker objects alone (running tasks keep running
 *    across an agent restart); it cancels in-flight calls.
 */
#ifndef ENGINE_ENGINE_H
#define ENGINE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "aws/credentials.h"
#include "aws/secrets_fetch.h"
#include "config/config.h"
#include "core/error.h"
#include "docker/docker.h"
#include "core/http.h"
#include "task/task.h"
#include "task/task_creds.h"

struct state_store;
struct systemd_client;
struct docker_auth_config;

/* ---- Docker operations used by the engine ------------------------------ */

/* Every call returns an opaque handle (never NULL) and calls its callback
   exactly once, later on the loop, unless cancel(handle) came first.
   Result structs are borrowed for the duration of the callback.  The
   shapes are docker/docker.h's. */
struct engine_docker_ops
{
  void *(*pull) (void *ctx, const struct docker_pull_opts *o, docker_done_cb cb, void *data);
  void *(*inspect_image) (void *ctx, const char *image, docker_image_cb cb, void *data);
  void *(*create) (void *ctx, const struct docker_create_opts *o, docker_create_cb cb, void *data);
  /* api_version: the container's dockerConfig.version (NULL = negotiated),
     used for the start as for the create, as upstream */
  void *(*start) (void *ctx, const char *id, const char *api_version, docker_done_cb cb,
                  void *data);
  void *(*stop) (void *ctx, const char *id, int grace_s, docker_done_cb cb, void *data);
  void *(*inspect) (void *ctx, const char *id_or_name, docker_inspect_cb cb, void *data);
  void *(*remove) (void *ctx, const char *id, docker_done_cb cb, void *data); /* -v, force */
  void *(*list_by_label) (void *ctx, const char *label_filter, docker_list_cb cb, void *data);
  void *(*volume_create) (void *ctx, const char *name, const struct docker_label *labels,
                          size_t n_labels, docker_volume_cb cb, void *data);
  void *(*volume_remove) (void *ctx, const char *name, docker_done_cb cb, void *data);
  void *(*image_remove) (void *ctx, const char *image, docker_done_cb cb, void *data); /* no force */
  void (*cancel) (void *ctx, void *handle);
  /* Long-lived container event stream; stop = no callback afterwards. */
  void *(*events_start) (void *ctx, const struct docker_events_opts *o);
  void (*events_stop) (void *ctx, void *stream);
  /* Untracked cleanup (engine/image_untracked.c); NULL = that step is
     skipped.  image_list: every image (label_filter NULL); remove_idle:
     docker rm -v without force (a container someone started is kept). */
  void *(*image_list) (void *ctx, const char *label_filter, docker_image_list_cb cb, void *data);
  void *(*remove_idle) (void *ctx, const char *id, docker_done_cb cb, void *data);
};

/* The default ops: ctx is a docker_client_t*. */
extern const struct engine_docker_ops engine_docker_ops_default;

/* How a task's secrets of one provider are fetched (engine/secrets.h):
   fetch returns an opaque handle and calls cb exactly once, later on the
   loop, unless cancel(handle) came first. */
struct engine_secrets_ops
{
  void *(*fetch) (void *ctx, const struct aws_secrets_fetch_req *req, aws_secrets_done_cb cb, void *data);
  void (*cancel) (void *ctx, void *handle);
};

/* ---- engine ------------------------------------------------------------ */

typedef struct engine engine_t;

struct engine_label
{
  const char *key;
  const char *value;
};

struct engine_options
{
  const char *cluster;          /* label com.amazonaws.ecs.cluster (copied) */
  const char *region;           /* containers' AWS_REGION / AWS_DEFAULT_REGION (copied); NULL: none */
  uint64_t cleanup_wait_ms;     /* 0 = CONFIG_DEFAULT_TASK_CLEANUP_WAIT_MS (3 h) */
  uint64_t stop_timeout_ms;     /* docker stop grace; 0 = CONFIG_DEFAULT_CONTAINER_STOP_TIMEOUT_MS (30 s) */
  struct state_store *state;    /* required (may have checkpointing disabled) */
  /* Docker: either ops+ops_ctx, or docker (default ops over docker.h). */
  docker_client_t *docker;
  const struct engine_docker_ops *ops;
  void *ops_ctx;
  const struct docker_auth_config *auth; /* registry credentials, may be NULL */
  enum config_pull_behavior pull_behavior; /* ECS_IMAGE_PULL_BEHAVIOR (engine/images.h) */
  /* Pulls, creates and starts in flight at once (0 = unlimited). */
  int launch_concurrency;
  /* ECS_PULL_DEPENDENT_CONTAINERS_UPFRONT: a container waiting on its
     dependencies is pulled at once (creates still wait); else its pull
     waits like its create (engine/plan.h). */
  bool pull_dependent_upfront;
  /* Automated image cleanup and pre-caching (engine/image_cleanup.c):
     borrowed, must outlive the engine; NULL = neither.  Its clamping is
     config's: the engine takes the interval and ages as they are. */
  const struct config_images *images;
  /* Labels added to every container and volume (e.g. ecs-agent-c-test=1), copied. */
  const struct engine_label *extra_labels;
  size_t n_extra_labels;
  /* What this instance accepts (copied); NULL = task_option_gates_default().
     A task asking for more is stopped when added (engine/options_check.h). */
  const struct task_option_gates *gates;
  /* Where cgroups are mounted ("/sys/fs/cgroup"): each task gets the cgroup
     of engine/cgroup.h as its containers' CgroupParent, removed at cleanup.
     NULL = no task cgroups (ECS_ENABLE_TASK_CPU_MEM_LIMIT=false, tests). */
  const char *cgroup_root;
  /* Docker's cgroup driver is systemd (its /info): task cgroups are the
     slices engine/cgroup.h names. */
  bool cgroup_systemd;
  /* With cgroup_systemd: systemd's D-Bus API, which makes each task's slice
     (engine/slice.h); NULL = every task with the systemd driver stops with
     the cgroup reason. */
  struct systemd_client *systemd;
  /* Bridge-mode mappings without a host port get one the agent picks in
     gates->port_range (engine/ports.h); false = Docker picks (tests). */
  bool pick_host_ports;
  /* The runtime has no links (Podman, docker_client_is_podman): the Docker
     client makes each link an /etc/hosts entry with the target's address,
     so a create waits for its link targets to run (engine/plan.h). */
  bool links_by_address;
  /* Secret resources (engine/secrets.h): secrets_ops + secrets_ctx (tests),
     else aws/secrets_fetch.h over http; neither: a task with secrets stops. */
  const struct engine_secrets_ops *secrets_ops;
  void *secrets_ctx;
  /* The HTTP client of the engine's AWS calls: secrets (unless
     secrets_ops) and the registry credentials of pulls (engine/pull_auth.h);
     NULL: pulls with registryAuthentication fail. */
  http_client_t *http;
};

/* state_load() must have run on opts->state.  A checkpointed task that
   cannot be read: NULL with ERR_TERMINAL naming the file. */
engine_t *engine_new (uv_loop_t *loop, const struct engine_options *opts, agent_error_t *err);
/* Cancels in-flight Docker calls and timers (handles closed on the loop:
   run it afterwards); Docker objects and the checkpoint are left as they are. */
void engine_free (engine_t *e);

/* Open the Docker event stream, reconcile, then drive tasks.  Docker being
   unreachable is not an error here: reconciliation is retried with
   back-off (engine_ready() turns true once it is done). */
int engine_start (engine_t *e, agent_error_t *err);
/* Stop driving tasks (no new Docker calls; in-flight ones are cancelled).
   Idempotent; engine_free implies it. */
void engine_stop (engine_t *e);
/* True once start-up reconciliation has finished. */
bool engine_ready (const engine_t *e);

/* Takes ownership of task (also on error).  Sets start_seq/stop_seq from
   task->start_seq/stop_seq as given by the caller (ACS seqNum).  New task
   or desired-status increase of a known one; else a no-op returning 0.
   Requests a checkpoint save.  < 0 only for a NULL/ARN-less task. */
int engine_task_add (engine_t *e, struct task *task, agent_error_t *err);

/* Read-only views (stable until the loop runs again). */
size_t engine_task_count (const engine_t *e);
const struct task *engine_task_at (const engine_t *e, size_t i);
const struct task *engine_find_task_by_arn (const engine_t *e, const char *arn);
/* Full 64-hex id, or a unique prefix of at least 12 characters. */
const struct task *engine_find_task_by_docker_id (const engine_t *e, const char *id,
                                                         const struct task_container **c);


/* A task's credentials id (task role, or execution role) as ACS's
   IAMRoleCredentialsMessage sets it; saved.  ERR_NOT_FOUND for an unknown
   task. */
int engine_task_set_credentials_id (engine_t *e, const char *arn, bool execution_role,
                                    const char *id, agent_error_t *err);

/* The credentials of the engine's AWS calls (made over opts->http):
   instance: the agent's own credentials provider, for ECR pulls without the
   execution role (NULL = none); task_creds: the task IAM role credentials
   store (task/task_creds.h), whose execution-role credentials fetch the
   registry credentials of pulls with registryAuthentication
   (engine/pull_auth.h) and the secrets of a task (engine/secrets.h).  Both
   borrowed, they must outlive the engine (or be replaced first).  Until a
   store is set such pulls fail and a task with secrets waits for it. */
void engine_set_aws_credentials (engine_t *e, aws_creds_provider_t *instance,
                                 const task_creds_store_t *task_creds);

/* Observer (one): called after a task's or a container's known status
   changed (c NULL for a task change), and with c NULL once more when the
   task has been removed from state (engine_find_task_by_arn no longer
   finds it; t is freed after the call).  The agent uses it to drop task
   credentials (agent/services.c); tests and the benchmark use it too. */
typedef void (*engine_change_cb) (const struct task *t, const struct task_container *c,
                                  void *data);
void engine_set_change_cb (engine_t *e, engine_change_cb cb, void *data);

/* Deterministic Docker names (exported for tests):
   "ecs-<family>-<version>-<container>-<20 hex of sha256(arn NUL name)>",
   characters outside [0-9A-Za-z-] removed from family/version/name. */
char *engine_docker_container_name (const struct task *t, const struct task_container *c);
char *engine_docker_volume_name (const struct task *t, const struct task_volume *v);

#endif
