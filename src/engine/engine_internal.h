/* engine/engine_internal.h - what the engine's files share (not for other
 * modules): the engine struct, the Docker operations in flight, and the
 * functions each file offers the others.
 *
 *   engine.c     lifecycle, restore, public API (task add, lookups)
 *   naming.c     deterministic Docker names, labels
 *   create_opts.c  task container -> docker create options (pure)
 *   decide.c     observation -> outcome, events, retries (pure)
 *   plan.c       desired statuses, next actions, dependencies (pure)
 *   exec.c       issues Docker calls, records outcomes, the step loop
 *   observe.c    Docker answers and events -> observations -> decide -> exec
 *   cleanup.c    removal of stopped tasks after the wait
 *   reconcile.c  start-up reconciliation with Docker
 *   restart_exec.c  the restart policy: save the tracker, start in place
 *   secrets.c    secret resources: fetched before the creates that need them
 *   slice.c      the task's systemd slice: started before its creates, stopped at cleanup
 */
#ifndef ENGINE_ENGINE_INTERNAL_H
#define ENGINE_ENGINE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include "engine/cgroup.h"
#include "engine/decide.h"
#include "engine/engine.h"
#include "engine/ports.h"
#include "engine/slice.h"
#include "engine/images.h"
#include "task/image_record.h"
#include "state/state.h"

#define MOD "engine"

#define LABEL_TASK_ARN "com.amazonaws.ecs.task-arn"
#define LABEL_CONTAINER_NAME "com.amazonaws.ecs.container-name"
#define LABEL_CLUSTER "com.amazonaws.ecs.cluster"
#define LABEL_FAMILY "com.amazonaws.ecs.task-definition-family"
#define LABEL_VERSION "com.amazonaws.ecs.task-definition-version"

enum op_kind
{
  OP_PULL,
  OP_PULL_AUTH,     /* registry credentials being fetched (engine/pull_auth.c); handle: its job */
  OP_PULL_CHECK_IMAGE,
  OP_PULL_CACHED,   /* prefer-cached: local image inspected before pulling */
  OP_IMAGE_RECORD,  /* engine-level: inspect a pulled image for its record */
  OP_IMAGE_REMOVE,  /* engine-level: image cleanup removes a name / an id */
  OP_PRECACHE,      /* engine-level: pull of a pre-cached image (ci: its index); holds a launch slot */
  OP_UNTRACKED,     /* engine-level: a call of the untracked cleanup (image_untracked.c) */
  OP_VOLUME_CREATE,
  OP_CREATE_SAVE, /* waiting for the save recording the docker name */
  OP_CREATE,
  OP_CREATE_ADOPT, /* create failed in a way it may have happened: inspect by name */
  OP_START,
  OP_START_INSPECT,
  OP_STOP,
  OP_STOP_INSPECT,
  OP_EVENT_INSPECT,
  OP_STEADY_INSPECT, /* the steady-state inspect (bounded: decide.h) */
  OP_RECONCILE_LIST,
  OP_RECONCILE_INSPECT,
  OP_REMOVE,
  OP_VOLUME_REMOVE,
  OP_RESTART_SAVE, /* restart policy: waiting for the save of the tracker */
  OP_RESTART,      /* restart policy: docker start of the stopped container */
  OP_SECRETS,      /* a secret resource's fetch (ci: the provider; engine/secrets.h) */
  OP_SLICE,        /* the task's systemd slice being started (engine/slice.h); handle: the D-Bus call */
  OP_SLICE_STOP,   /* engine-level: a slice stopped at cleanup, or reset after a failed start (msg: unit) */
};

/* One Docker call (or save) in flight; the callback's data. */
struct op
{
  engine_t *e;
  enum op_kind kind;
  struct task *t;     /* NULL for engine-level ops */
  size_t ci;                 /* container (or volume) index */
  void *handle;              /* Docker call handle, NULL while waiting for a save */
  enum task_status status; /* event inspect: reported status (NONE: resync) */
  char *msg;                 /* error text carried between phases (OP_IMAGE_RECORD: image) */
  bool flag;                 /* OP_IMAGE_RECORD: the pull succeeded; OP_RESTART*: exit_code is known */
  int exit_code;             /* OP_RESTART*: the exit that led to the restart */
  struct engine_pull_progress *progress; /* OP_PULL */
  TAILQ_ENTRY (op) link;
};

TAILQ_HEAD (op_list, op);

struct image_cycle;
struct untracked_run;

/* One pre-cached image (config's precache[i]). */
struct engine_precache
{
  int attempts;         /* failed pulls so far */
  uint64_t due_ms;      /* retry at (loop time), 0 = none */
  bool waiting;         /* due, waiting for a launch slot (or the cleanup cycle) */
  struct backoff backoff;
};

struct engine
{
  uv_loop_t *loop;
  char *cluster;
  char *region; /* NULL: containers get no AWS_REGION */
  uint64_t cleanup_wait_ms;
  uint64_t stop_timeout_ms;
  state_store_t *state;
  const struct engine_docker_ops *ops;
  void *ops_ctx;
  const struct docker_auth_config *auth;
  struct docker_label *extra_labels;
  size_t n_extra_labels;
  struct task_option_gates gates;
  char *cgroup_root; /* NULL = no task cgroups */
  struct engine_cgroup_cfg cgroup_cfg;
  struct systemd_client *systemd; /* task slices (engine/slice.h), NULL = none */
  int systemd_version;            /* the Manager's Version: ENGINE_SYSTEMD_VERSION_UNASKED, -1 = unknown */
  bool pick_host_ports;
  struct engine_port_alloc port_alloc;

  struct task **tasks;
  size_t n_tasks, cap_tasks;

  struct op_list ops_list;
  void *events;
  /* Images pulled (or found locally after a failed pull) recently: the
     containers of a burst of tasks share one pull instead of N concurrent
     pulls of the same reference, which dockerd serialises badly. */
  struct engine_pull_cache pulls;
  enum config_pull_behavior pull_behavior;
  struct image_records images; /* images the agent pulled (task/image_record.h) */
  int launch_limit;            /* pulls + creates + starts in flight; 0 = unlimited */
  bool pull_upfront;           /* ECS_PULL_DEPENDENT_CONTAINERS_UPFRONT (each task's pull_upfront) */
  bool links_by_address;       /* opts->links_by_address (each task's) */
  bool launch_deferred;        /* an action waits for a launch slot */
  uv_timer_t launch_timer;     /* wakes deferred actions once a slot frees */
  const struct config_images *images_cfg; /* cleanup and pre-caching, NULL = neither */
  uv_timer_t image_timer;      /* next image cleanup cycle */
  struct image_cycle *image_cycle; /* the cycle running, NULL = none */
  struct untracked_run *untracked; /* its untracked steps (4, 5) running, NULL = none */
  uv_timer_t precache_timer;   /* pre-cache pulls due for another try */
  struct engine_precache *precache; /* per configured image */
  uv_timer_t cleanup_timer;
  uv_timer_t reconcile_timer;
  uv_timer_t resync_timer; /* the steady-state inspect tick */
  uv_timer_t retry_timer; /* failed stops due for another try */
  bool events_seen_connected;
  struct backoff reconcile_backoff;
  int open_handles;
  bool started, ready, stopped, freeing;
  size_t reconcile_pending;

  engine_change_cb change_cb;
  void *change_data;
  struct engine_pull_auth *pull_auth; /* registryAuthentication pulls (pull_auth.c), NULL = none yet */

  /* AWS calls: secret resources (secrets.c), registry credentials (pull_auth.c) */
  const struct engine_secrets_ops *secrets_ops; /* NULL = cannot fetch */
  void *secrets_ctx;
  http_client_t *http;                     /* opts->http */
  aws_creds_provider_t *instance_creds;    /* engine_set_aws_credentials */
  const task_creds_store_t *creds;         /* engine_set_aws_credentials */
};

/* ---- naming.c ---- */
/* Labels of a container (or, c NULL, a volume): malloc'd array of *n,
   pointing into t, c and e. */
struct docker_label *engine_labels (const engine_t *e, const struct task *t,
                                    const struct task_container *c, size_t *n);
/* Does the label set carry key=value? */
bool engine_label_is (const struct docker_kv *l, size_t n, const char *key, const char *value);

/* ---- exec.c ---- */
int64_t engine_wall_ns (void);
struct op *engine_op_new (engine_t *e, enum op_kind kind, struct task *t, size_t ci);
/* The common end of a Docker callback: the op leaves the list and is freed. */
void engine_op_finish (struct op *op);
/* Same, for an op that held its container busy (inflight): idle again. */
void engine_op_finish_container (struct op *op);
char *engine_op_take_msg (struct op *op);
/* Cancel one op (no callback will run) and free it. */
void engine_op_cancel (struct op *op);
void engine_cancel_task_ops (engine_t *e, struct task *t);
bool engine_task_has_ops (const engine_t *e, const struct task *t);
void engine_notify (engine_t *e, const struct task *t, const struct task_container *c);
/* engine/report.c: queue t's change (PENDING / RUNNING / STOPPED) if its
   status is new to ECS; c's likewise. */
void engine_emit_task_change (engine_t *e, struct task *t);
void engine_emit_container_change (engine_t *e, struct task *t, struct task_container *c);
/* A container without a digest takes the one another container got for the
   same image. */
void engine_borrow_digest (engine_t *e, struct task_container *c);
/* Unix ms now (task state-change timestamps). */
int64_t engine_wall_ms (void);
/* Set the first (sticky) reason "<name>: <msg>". */
void engine_set_reason (struct task_container *c, const char *name, const char *msg);
/* Record a status reported for container ci; info may be NULL.  True if
   the known status moved.  STOPPED of an idle container known RUNNING
   asks the restart policy first (engine_restart_try). */
bool engine_record (engine_t *e, struct task *t, size_t ci, enum task_status st,
                    const struct engine_inspect *info);
/* Record an outcome of engine_decide and issue its next call. */
void engine_apply_outcome (engine_t *e, struct op *op, struct task *t, size_t ci,
                           const struct engine_observation *o, const struct engine_outcome *out,
                           const char *docker_id);
void engine_issue_stop (engine_t *e, struct task *t, size_t ci);
void engine_issue_inspect (engine_t *e, struct task *t, size_t ci, enum task_status reported);
/* After a container's op ended: a remembered event, then the task's step. */
void engine_container_idle (engine_t *e, struct task *t, size_t ci);
void engine_task_step (engine_t *e, struct task *t);
void engine_step_all (engine_t *e);
/* ---- lifecycle.c ---- */
/* dependsOn: stop (without starting) each container whose dependency can
   never be met; arm the wake-up for the nearest start timeout.  True if a
   container changed. */
bool engine_dependency_failures (engine_t *e, struct task *t);
/* Remember the first time container c was seen running. */
void engine_note_started (struct task_container *c);
/* A Docker health_status event (action "health_status: <status>", at unix
   ns when, 0 = now) for container ci: its health is updated and saved.
   True when the status changed. */
bool engine_health_event (engine_t *e, struct task *t, size_t ci, const char *action, int64_t when);
/* Any inspect of container ci (info borrowed): State.Health into its health
   record (task_health_observe), saved and notified when it changed.  Only
   for containers with a Docker health check. */
void engine_health_inspected (engine_t *e, struct task *t, size_t ci,
                              const struct docker_container_info *info);
void engine_retry_timer_cb (uv_timer_t *h);
/* (Re)arm the retry timer for the nearest retry_at_ms / wake_at_ms. */
void engine_arm_retry (engine_t *e);
void engine_create_continue (engine_t *e, struct task *t, size_t ci);
/* Ops that hold a launch slot (pulls, creates, starts). */
bool engine_op_is_launch (enum op_kind k);
/* How many ops in flight are of a kind pred accepts. */
typedef bool (*engine_op_pred) (enum op_kind k);
size_t engine_ops_count (const engine_t *e, engine_op_pred pred);
void engine_launch_timer_cb (uv_timer_t *h);
void engine_do_create (engine_t *e, struct task *t, size_t ci);
bool engine_volumes_ready (const struct task *t, const struct task_container *c);

/* ---- restart_exec.c ---- */
/* Container ci, known RUNNING, is seen STOPPED (m may be NULL): when its
   restart policy restarts it, the tracker is saved, the start issued
   (inflight START) and true returned: the change must not be recorded. */
bool engine_restart_try (engine_t *e, struct task *t, size_t ci, const struct engine_inspect *m);
void engine_restart_saved_cb (agent_error_t err, void *data);
void engine_restart_started_cb (agent_error_t err, void *data);

/* ---- observe.c (Docker callbacks) ---- */
void engine_pull_done_cb (agent_error_t err, void *data);
void engine_pull_image_checked_cb (const struct docker_image_info *img, agent_error_t err, void *data);
void engine_image_recorded_cb (const struct docker_image_info *img, agent_error_t err, void *data);
void engine_pull_progress_cb (const struct docker_pull_progress *p, void *data);
void engine_volume_created_cb (const struct docker_volume_info *vol, agent_error_t err, void *data);
void engine_create_saved_cb (agent_error_t err, void *data);
void engine_create_done_cb (const char *id, agent_error_t err, void *data);
void engine_inspect_done_cb (const struct docker_container_info *info, agent_error_t err, void *data);
void engine_start_done_cb (agent_error_t err, void *data);
void engine_stop_done_cb (agent_error_t err, void *data);
void engine_docker_event_cb (const struct docker_event *ev, void *data);
void engine_events_state_cb (bool connected, agent_error_t err, void *data);
void engine_resync_timer_cb (uv_timer_t *h);
/* Steady-state inspects: schedule each live container, issue those due
   while fewer than ENGINE_STEADY_MAX_INFLIGHT are in flight (decide.h).
   Run every ENGINE_STEADY_TICK_MS and after each such inspect. */
void engine_steady_round (engine_t *e);

/* ---- cleanup.c ---- */
void engine_arm_cleanup (engine_t *e);
void engine_cleanup_timer_cb (uv_timer_t *h);

/* ---- image_cleanup.c ---- */
void engine_images_start (engine_t *e);
void engine_image_cycle_free (engine_t *e);
void engine_image_timer_cb (uv_timer_t *h);
void engine_precache_timer_cb (uv_timer_t *h);
/* A pull (a task's or a pre-cache one) is running: cleanup waits. */
bool engine_image_pull_running (const engine_t *e);
/* Pre-cache pulls that waited for a launch slot or the cycle: issue those
   that may go now (the launch timer calls it). */
void engine_precache_resume (engine_t *e);
/* Every image string cleanup leaves alone (configured, pre-cached, the
   agent's own): borrowed strings, malloc'd array. */
const char **engine_image_excluded_list (const engine_t *e, size_t *n);
/* Called by image_untracked.c when steps 4-5 are over: the cycle ends. */
void engine_image_cycle_finish (engine_t *e);

/* ---- image_untracked.c ---- */
/* Steps 4 and 5 of a cycle whose step 3 made tracked_tries tries. */
void engine_untracked_run (engine_t *e, int tracked_tries);
void engine_untracked_free (engine_t *e);

/* A pre-cache pull of exactly this image string is running. */
bool engine_precache_in_flight (const engine_t *e, const char *image);
/* Inspect image (as a task names it) to add it to the image records. */
void engine_issue_image_record (engine_t *e, const char *image, bool pull_succeeded);
/* Stamp last-used on the records of a task's images (it is being removed). */
void engine_images_task_removed (engine_t *e, const struct task *t);

/* ---- secrets.c ---- */
void engine_secrets_init (engine_t *e, const struct engine_options *o);
void engine_secrets_cancel (engine_t *e, void *handle);
/* Start the fetches the task needs now (engine/secrets.h); true if a
   resource changed. */
bool engine_secrets_step (engine_t *e, struct task *t);
void engine_secrets_done_cb (struct task_secret_resource *values, const char *err_text, void *data);

/* ---- slice.c ---- */
/* Start the task's systemd slice when it needs one now (engine/slice.h);
   true if its status changed. */
bool engine_slice_step (engine_t *e, struct task *t);
/* The task is dropped at cleanup: its slice is stopped (reply logged). */
void engine_slice_stop (engine_t *e, const struct task *t);
void engine_slice_cancel (struct op *op);

/* ---- reconcile.c ---- */
void engine_reconcile_start (engine_t *e);
void engine_reconcile_timer_cb (uv_timer_t *h);
/* A reconciliation inspect has been concluded. */
void engine_reconcile_inspected (engine_t *e);

/* ---- engine.c ---- */
/* Refuse a task that cannot run: recorded STOPPED with reason, never run. */
void engine_refuse_task (engine_t *e, struct task *t, char *reason);

/* ---- pull_auth.c ---- */
/* Pull the image of op's container (op becomes an OP_PULL), first fetching
   the registry credentials its registryAuthentication asks for (op is an
   OP_PULL_AUTH meanwhile). */
void engine_op_pull (engine_t *e, struct op *op);
/* An OP_PULL_AUTH is cancelled: it stops waiting (no callback). */
void engine_pull_auth_cancel (struct op *op);
void engine_pull_auth_free (engine_t *e);
/* ---- observe.c ---- */
/* The registry credentials of op's pull could not be had: a failed pull
   named name (engine/decide.c). */
void engine_pull_auth_failed (struct op *op, const char *name, const char *msg);

#endif
