/* state/state_internal.h - the store's fields, shared by the two halves of
 * the store: state.c (saving: coalescing, the write queue off the loop,
 * retry with back-off; the state-change queue; metadata) and state_file.c
 * (the checkpoint file: reading it safely, parsing and serialising).
 * Not for use outside src/state/. */
#ifndef STATE_STATE_INTERNAL_H
#define STATE_STATE_INTERNAL_H

#include <jansson.h>
#include <sys/queue.h>
#include "core/util.h"
#include "state/state.h"

struct pending_cb
{
  state_saved_cb cb;
  void *data;
  STAILQ_ENTRY (pending_cb) link;
};
STAILQ_HEAD (pending_list, pending_cb);

struct write_job
{
  uv_work_t req;
  state_store_t *s;
  json_t *tree; /* built on the loop, turned into buf on the worker */
  char *buf;
  size_t len;
  uint64_t gen;
  uint64_t max_id;           /* changes with id <= max_id are in this write */
  struct pending_list cbs;   /* run when this write is durable */
  agent_error_t err;         /* set by the worker thread */
  bool wrote;                /* the worker wrote (not skipped as superseded) */
  uint64_t write_ns, fsync_ns; /* set by the worker: the write, and its fsyncs */
};

struct state_store
{
  uv_loop_t *loop;
  bool enabled;
  char *dir, *path;

  /* metadata */
  char *cluster, *ci_arn, *ec2_id;
  char *client_token; /* registration idempotency token, saved before registering */
  int64_t seq;
  bool has_seq;
  int loaded_version;
  struct task **loaded_tasks; /* from the checkpoint, until the engine takes them */
  size_t n_loaded_tasks;
  state_task_provider_fn provider;
  void *provider_data;
  struct image_records loaded_images; /* from the checkpoint, until the engine takes them */
  state_image_provider_fn image_provider;
  void *image_provider_data;

  /* queue */
  struct state_change **q;
  size_t qn, qcap;
  uint64_t next_id;
  state_changed_cb changed_cb;
  void *changed_data;

  /* saving */
  uv_check_t check;
  uv_idle_t idle;
  uv_timer_t retry;
  struct backoff retry_backoff;
  bool scheduled, dirty;
  bool failing;             /* the last write failed (logged once) */
  uint64_t failed_writes;   /* since the condition began */
  struct pending_list waiting;
  struct write_job *inflight;
  uint64_t writes;
  uint64_t gen;
  uv_mutex_t write_lock; /* serialises file writes (worker vs. save_sync) */
  uint64_t written_gen;  /* guarded by write_lock */

  /* teardown */
  bool freeing;
  int open_handles;
};

/* Everything loaded back to a fresh start (state_file.c). */
void state_clear_loaded (state_store_t *s);
/* The checkpoint document of the store as it is now, compact JSON (state_file.c). */
char *state_serialise (state_store_t *s, size_t *len);
/* The checkpoint as a new JSON tree that shares nothing with the store (so
   another thread may own it), and that tree as text (consumes root). */
json_t *state_serialise_tree (state_store_t *s);
char *state_serialise_text (json_t *root, size_t *len);
/* Free the tasks loaded and not taken by the engine (state.c). */
void state_drop_loaded_tasks (state_store_t *s);

#endif
