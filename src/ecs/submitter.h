/* ecs/submitter.h - drains the persisted state-change queue to ECS.
 *
 * Contract (what ECS expects of state-change submission, made crash-safe):
 *  - the queue (src/state) owns the changes and their persistence; the
 *    submitter sees it through the small interface below (a fake in tests);
 *  - a change is submitted only once the queue says it is durable, in queue
 *    order, and popped only after ECS acknowledged it (at least once:
 *    a crash between ack and pop resubmits it - duplicates are harmless);
 *  - retriable errors (5xx, throttling, network, no credentials) are
 *    retried with backoff (1 s -> 30 s, x1.3, +0-20 % jitter) forever;
 *  - a non-retriable rejection (4xx, ClientException,
 *    InvalidParameterException...) is logged and the change dropped
 *    (popped), as upstream does.
 * Ordering choice: strictly FIFO, one submission in flight.  A container's
 * change therefore always precedes its task's change when queued first.
 * Retriable failures are endpoint-wide (outage, throttling) so they would
 * stall other tasks anyway, and non-retriable ones are dropped at once, so
 * one task can never block another for longer than an outage lasts.
 * The queue calls ecs_submitter_wake() whenever an entry was added or became
 * durable; the submitter never polls.
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
  enum ecs_change_kind kind;
  const char *task_arn;
  const char *container_name; /* container changes */
  const char *status;         /* RUNNING | STOPPED */
  const char *reason;         /* may be NULL */
  bool has_exit_code;
  int exit_code;
  const struct task_port_binding *bindings;
  size_t n_bindings;
};

/* The queue as the submitter sees it.  peek_front's result is copied by the
   submitter at once, so it only has to stay valid until the next call into
   the queue. */
struct ecs_change_queue
{
  void *ctx;
  size_t (*count) (void *ctx);
  /* Front entry, or false when the queue is empty. */
  bool (*peek_front) (void *ctx, struct ecs_state_change *out);
  /* Whether the front entry has been persisted (may be submitted). */
  bool (*front_durable) (void *ctx);
  /* Remove the front entry (after ack or non-retriable rejection). */
  void (*pop_front) (void *ctx);
};

struct ecs_submitter_options
{
  const char *cluster;          /* sent in every change */
  uint64_t min_backoff_ms;      /* 0 = 1000 */
  uint64_t max_backoff_ms;      /* 0 = 30000 */
  double mult, jitter;          /* 0 = 1.3, 0.2 */
  /* Tests only: replace the ECS calls (client may then be NULL).  send
     must call cb later from the loop, exactly once unless cancelled. */
  void *(*send) (void *ctx, const struct ecs_state_change *c, const char *cluster,
                 ecs_submit_cb cb, void *cb_data);
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
  uint64_t submitted; /* acknowledged by ECS */
  uint64_t dropped;   /* non-retriable rejections */
  uint64_t retries;   /* retriable failures */
  bool busy;          /* a submission or a backoff timer is pending */
};
void ecs_submitter_stats (const ecs_submitter_t *s, struct ecs_submitter_stats *out);
/* Cancels the in-flight call (the change stays queued) and frees once the
   loop has closed the timer. */
void ecs_submitter_free (ecs_submitter_t *s);

#endif
