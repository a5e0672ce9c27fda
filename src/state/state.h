/* state/state.h - the checkpoint file and the persisted state-change queue.
 *
 * Contract:
 *  - File <DataDir>/ecs_agent_data.json, mode 0600, written atomically and
 *    durably (temp file + fsync + rename + fsync dir, util_write_file_atomic)
 *    off the loop thread (libuv work queue; the loop never blocks on fsync).
 *  - Format (our version STATE_VERSION = 100):
 *      {"Version":100,"Data":{"Cluster":..,"ContainerInstanceArn":..,
 *        "EC2InstanceID":..,"ClientToken":..,"ACSSeqNum":N,"TaskEngine":{"Tasks":[..]},
 *        "StateChanges":{"NextId":N,"Queue":[..]}}}
 *    Upstream 1.1.0 files (Version 1 and 2) are read too (keys
 *    case-insensitive); any other version is refused with an ERR_TERMINAL
 *    error naming the file and the version.  A truncated or corrupt file is
 *    ERR_TERMINAL naming the file - never a silent reset.  So is a path that
 *    is not a regular file (symbolic link, FIFO, device, directory: checked
 *    without blocking) and a file over STATE_FILE_MAX_BYTES.  A missing file
 *    is a fresh start.
 *  - state_save() requests a save; requests are coalesced (all requests made
 *    in one loop iteration -> one write; requests made while a write is in
 *    flight -> one more write after it).  cb runs on the loop, err NULL,
 *    only once a write that contains everything requested before the call
 *    is durable.  A failed write (disk full, read-only, out of descriptors)
 *    is retried with back-off for as long as it fails; callbacks wait for
 *    the write that succeeds, and a state_save() while a retry is pending
 *    joins that retry (never shortens the back-off).  One log line when
 *    saving starts failing, one when it works again; state_store_healthy()
 *    tells which.  With checkpointing disabled cb runs on the next loop
 *    turn.
 *  - The engine's tasks are written by the store (state/checkpoint_tasks.c):
 *    the engine registers a provider (state_set_task_provider) that lists
 *    its tasks at each write; at load the "TaskEngine" object is parsed once
 *    into tasks the engine takes over (state_take_tasks).
 *  - The engine's image records are written the same way ("ImageManager",
 *    state_set_image_provider / state_take_images).
 *  - State-change queue (for the ECS submitter): FIFO of struct
 *    state_change with monotonically increasing ids.  Pushing requests a
 *    save; a change is `durable` once a save that contains it completed
 *    (or, checkpointing disabled, on the next loop turn).  Only durable
 *    changes may be submitted.  The changed callback runs whenever changes
 *    became durable.  The queue survives kill -9 once durable.
 *  - Single-threaded: every function is called on the loop thread.
 */
#ifndef STATE_STATE_H
#define STATE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "core/error.h"
#include "task/image_record.h"
#include "task/task.h"

#define STATE_VERSION 100
#define STATE_FILE_NAME "ecs_agent_data.json"
/* Largest checkpoint read (a task takes a few KiB: this is thousands of
   times what a busy instance writes); bigger is refused as corrupt. */
#define STATE_FILE_MAX_BYTES (256u << 20)

typedef struct state_store state_store_t;

/* Store for data_dir/ecs_agent_data.json.  enabled=false: nothing is read
   or written (in-memory only).  enabled and data_dir missing or not a
   directory: ERR_TERMINAL. */
state_store_t *state_store_new (uv_loop_t *loop, const char *data_dir, bool enabled,
                                agent_error_t *err);
/* Pending callbacks are dropped; a write in flight finishes on the loop
   (run the loop afterwards), nothing new is written. */
void state_store_free (state_store_t *s);
bool state_enabled (const state_store_t *s);
/* Full path of the checkpoint file ("" if disabled). */
const char *state_path (const state_store_t *s);

/* Read the file.  Missing -> fresh (0).  Corrupt, truncated, unreadable or
   unsupported version -> ERR_TERMINAL naming the file.  Disabled -> 0. */
int state_load (state_store_t *s, agent_error_t *err);
/* Same, from memory (tests, fuzzing); name is used in error messages. */
int state_load_buffer (state_store_t *s, const char *data, size_t len, const char *name,
                       agent_error_t *err);
/* Version of the loaded file (0 = fresh start). */
int state_loaded_version (const state_store_t *s);

/* ---- agent metadata ---- */
const char *state_cluster (const state_store_t *s);                /* NULL if none */
const char *state_container_instance_arn (const state_store_t *s); /* NULL if none */
const char *state_ec2_instance_id (const state_store_t *s);        /* NULL if none */
/* The token that makes registration idempotent (RegisterContainerInstance
   clientToken): saved before the first registration, so that a restart
   after a registration whose ARN could not be saved gets the same
   instance back.  NULL if none. */
const char *state_client_token (const state_store_t *s);
int64_t state_acs_seq_num (const state_store_t *s);                /* 0 if none */
bool state_has_acs_seq_num (const state_store_t *s);
/* Setters copy; they do not save (call state_save). */
void state_set_cluster (state_store_t *s, const char *cluster);
void state_set_container_instance_arn (state_store_t *s, const char *arn);
void state_set_ec2_instance_id (state_store_t *s, const char *id);
void state_set_client_token (state_store_t *s, const char *token);
/* Only ever raises the stored value. */
void state_set_acs_seq_num (state_store_t *s, int64_t seq);
/* Drop restored tasks, the container instance ARN and the client token (the
   EC2 instance id changed: this is a new instance).  The state-change queue
   is kept. */
void state_discard_instance (state_store_t *s);

/* ---- the engine's tasks ---- */
/* Called at each write: *tasks (borrowed for the call) lists the n tasks to
   write, in order. */
typedef void (*state_task_provider_fn) (void *data, struct task *const **tasks, size_t *n);
void state_set_task_provider (state_store_t *s, state_task_provider_fn fn, void *data);
/* Number of tasks loaded from the checkpoint and not yet taken (0 on a fresh
   start or after state_discard_instance). */
size_t state_loaded_task_count (const state_store_t *s);
/* Hand the loaded tasks over: *tasks is a malloc'd array of *n tasks the
   caller owns (free each with task_free, then the array); afterwards the
   store holds none.  Until a provider is set, writes keep the loaded tasks. */
void state_take_tasks (state_store_t *s, struct task ***tasks, size_t *n);

/* ---- the engine's image records (task/image_record.h) ---- */
/* Called at each write: *records (borrowed for the call) is what to write
   as "ImageManager" (state/checkpoint_images.h). */
typedef void (*state_image_provider_fn) (void *data, const struct image_records **records);
void state_set_image_provider (state_store_t *s, state_image_provider_fn fn, void *data);
/* Hand the loaded records over (moved into *out, zeroed by the caller);
   afterwards the store holds none.  Until a provider is set, writes keep
   the loaded records. */
void state_take_images (state_store_t *s, struct image_records *out);

/* ---- saving ---- */
/* err is always NULL: a callback runs only after a durable write (a failed
   write is retried, never reported to callbacks), so callbacks have no
   error branch; the parameter stays for the callbacks' type. */
typedef void (*state_saved_cb) (agent_error_t err, void *data);
/* cb may be NULL.  Never fails synchronously. */
void state_save (state_store_t *s, state_saved_cb cb, void *data);
/* Forget every pending callback registered with exactly (cb, data): it
   will not run (for owners of data that go away first). */
void state_save_cancel (state_store_t *s, state_saved_cb cb, void *data);
/* Write now, blocking (shutdown / update).  Disabled: 0. */
int state_save_sync (state_store_t *s, agent_error_t *err);
/* Write attempts completed so far, failed ones included (tests). */
uint64_t state_write_count (const state_store_t *s);
/* false while saving fails (the store is retrying with back-off). */
bool state_store_healthy (const state_store_t *s);

/* A probe that the data directory takes a write now, without waiting for a
   checkpoint write (the health check's periodic look, core/health.h).  Off
   the loop thread (libuv work queue): creates <DataDir>/.health-probe,
   writes one byte, fdatasync, closes and removes it; cb runs on the loop
   with err NULL or the failure (borrowed).  NULL (and no callback) when
   checkpointing is disabled.  The probe owns what it needs: the store may
   be freed while it runs.  state_probe_detach: cb will not be called (the
   caller may free data at once); the probe frees itself when done. */
typedef struct state_probe state_probe_t;
typedef void (*state_probe_cb) (agent_error_t err, void *data);
state_probe_t *state_probe_writable (state_store_t *s, state_probe_cb cb, void *data);
void state_probe_detach (state_probe_t *p);

/* ---- state-change queue ---- */
enum state_change_kind
{
  STATE_CHANGE_TASK = 0,
  STATE_CHANGE_CONTAINER = 1,
};

struct state_change
{
  uint64_t id; /* set by state_change_push, increasing */
  enum state_change_kind kind;
  char *task_arn;
  char *container_name; /* CONTAINER only */
  char *status;         /* "PENDING" / "RUNNING" / "STOPPED" */
  char *reason;         /* NULL if none */
  bool has_exit_code;
  int exit_code;
  struct task_port_binding *bindings; /* bind_ip owned */
  size_t n_bindings;
  char *runtime_id;     /* CONTAINER: Docker id, NULL if none yet */
  char *image_digest;   /* CONTAINER: NULL if unknown */
  /* CONTAINER: the task's ECS status when recorded: the status a task
     change made only to carry this container change is sent with. */
  char *task_status;
  /* the task's unix ms, 0 = unset (pullStartedAt, pullStoppedAt,
     executionStoppedAt); CONTAINER: the task's as they were when queued */
  int64_t pull_started_ms, pull_stopped_ms, execution_stopped_ms;
  uint64_t queued_ms; /* loop ms when pushed (loaded ones: when loaded); not persisted */
  bool durable; /* saved: may be submitted */
};

struct state_change *state_change_new (enum state_change_kind kind, const char *task_arn,
                                       const char *container_name, const char *status,
                                       const char *reason);
void state_change_free (struct state_change *c);
/* Takes ownership of c; assigns c->id, clears c->durable, requests a save. */
void state_change_push (state_store_t *s, struct state_change *c);
size_t state_change_count (const state_store_t *s);
/* i-th oldest (0 = front), NULL if out of range. */
const struct state_change *state_change_peek (const state_store_t *s, size_t i);
/* Remove the front change (after ECS acknowledged it) and request a save. */
void state_change_pop_front (state_store_t *s);
/* Remove the change with this id wherever it is (a batch acknowledged by
   ECS takes changes from the middle of the queue); no-op if absent. */
void state_change_remove (state_store_t *s, uint64_t id);
/* Called (on the loop) whenever one or more queued changes became durable. */
typedef void (*state_changed_cb) (void *data);
void state_set_changed_cb (state_store_t *s, state_changed_cb cb, void *data);

#endif
