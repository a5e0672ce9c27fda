/* ecs/submitter.h - drains the persisted state-change queue to ECS.
 *
 * Contract (what ECS expects of state-change submission, made crash-safe):
 *  - the queue (src/state) owns the changes and their persistence; the
 *    submitter sees it through the small interface below (a fake in tests);
 *  - a change is submitted only once the queue says it is durable, and
 *    removed only after ECS acknowledged it (at least once: a crash between
 *    ack and removal resubmits it - duplicates are harmless);
 *  - today's form, as upstream: every submission is one
 *    SubmitTaskStateChange; a task's container changes ride in its
 *    containers[] with the task's next change (PENDING, RUNNING, STOPPED).
 *    Container changes with no task change behind them are sent after
 *    drain_ms (20 s, upstream's drain period) in a task change carrying the
 *    task's status recorded with the newest of them.  SubmitContainerState
 *    Change is no longer used (upstream batches every container event);
 *  - retriable errors (5xx, throttling, network, no credentials) are
 *    retried with backoff (1 s -> 30 s, x1.3, +0-20 % jitter) forever;
 *  - a non-retriable rejection (4xx, ClientException,
 *    InvalidParameterException...) is logged and the batch dropped, as
 *    upstream does.
 * Ordering: one submission in flight.  A task's changes go out in queue
 * order (a batch is the task's oldest entries up to and including its first
 * task change); among tasks, the oldest ready batch goes first, so a task
 * whose container changes wait for their task change never holds up
 * another task.  Retriable failures are endpoint-wide (outage, throttling)
 * so they stall every task until ECS answers again.
 * The queue calls ecs_submitter_wake() whenever an entry was added or became
 * durable; the submitter never polls (its only timers: the back-off and the
 * drain deadline of waiting container changes).
 */
#ifndef ECS_SUBMITTER_H
#define ECS_SUBMITTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "core/error.h"
#include "ecs/ecs.h"

enum ecs_change_kind
{
  ECS_CHANGE_TASK = 1,
  ECS_CHANGE_CONTAINER,
};

/* One queued change (borrowed strings). */
struct ecs_state_change
{
  uint64_t id;                /* the queue's id (removal) */
  bool durable;               /* persisted: may be submitted */
  uint64_t queued_ms;         /* loop ms when queued (0: long ago) */
  enum ecs_change_kind kind;
  const char *task_arn;
  const char *container_name; /* container changes */
  const char *status;         /* PENDING | RUNNING | STOPPED */
  const char *reason;         /* may be NULL */
  bool has_exit_code;
  int exit_code;
  const struct task_port_binding *bindings;
  size_t n_bindings;
  const char *runtime_id, *image_digest; /* container changes, may be NULL */
  const char *task_status;    /* container changes: the task's status then, may be NULL */
  int64_t pull_started_ms, pull_stopped_ms, execution_stopped_ms; /* the task's, 0 = none */
};

/* The queue as the submitter sees it.  peek's result is copied by the
   submitter at once, so it only has to stay valid until the next call into
   the queue. */
struct ecs_change_queue
{
  void *ctx;
  size_t (*count) (void *ctx);
  /* i-th oldest entry (0 = front), false when out of range. */
  bool (*peek) (void *ctx, size_t i, struct ecs_state_change *out);
  /* Remove the entry with this id (after ack or non-retriable rejection). */
  void (*remove) (void *ctx, uint64_t id);
};

struct ecs_submitter_options
{
  const char *cluster;          /* sent in every change */
  uint64_t min_backoff_ms;      /* 0 = 1000 */
  uint64_t max_backoff_ms;      /* 0 = 30000 */
  double mult, jitter;          /* 0 = 1.3, 0.2 */
  uint64_t drain_ms;            /* lone container changes wait this long; 0 = 20000 */
  /* Tests only: replace the ECS call (client may then be NULL).  send
     must call cb later from the loop, exactly once unless cancelled. */
  void *(*send) (void *ctx, const struct ecs_task_state_change *c, ecs_submit_cb cb,
                 void *cb_data);
  void (*cancel) (void *ctx, void *handle);
  void *send_ctx;
};

typedef struct ecs_submitter ecs_submitter_t;

/* q is copied (the ctx is not owned).  The client is not owned and must
   outlive the submitter.  Starts draining at once (from the loop). */
ecs_submitter_t *ecs_submitter_new (uv_loop_t *loop, ecs_client_t *client,
                                    const struct ecs_change_queue *q,
                                    const struct ecs_submitter_options *opts, agent_error_t *err);
/* Something was queued or became durable: try to make progress. */
void ecs_submitter_wake (ecs_submitter_t *s);
/* Counters for tests / introspection. */
struct ecs_submitter_stats
{
  uint64_t submitted; /* changes acknowledged by ECS (a batch counts each) */
  uint64_t calls;     /* SubmitTaskStateChange calls acknowledged */
  uint64_t dropped;   /* changes dropped: non-retriable rejections, malformed */
  uint64_t retries;   /* retriable failures */
  bool busy;          /* a submission or a backoff timer is pending */
};
void ecs_submitter_stats (const ecs_submitter_t *s, struct ecs_submitter_stats *out);
/* Cancels the in-flight call (the changes stay queued) and frees once the
   loop has closed the timer. */
void ecs_submitter_free (ecs_submitter_t *s);

#endif
