/* acs/payload.h - PayloadMessage handling: the glue between ACS, the task
 * engine and the state store (acs.md §6, HEAD payload responder).
 *
 * Contract, per payload (strictly in arrival order):
 *  - Rejected, never acknowledged, unless messageId, clusterArn and
 *    containerInstanceArn are all non-empty (logged).
 *  - A payload whose messageId was acknowledged recently (small ring) is
 *    acknowledged again but not run; one whose messageId is still being
 *    handled is ignored (its ack follows).  Known task ARNs are no-ops in
 *    the engine, so a re-sent payload is never run twice.
 *  - Each task is parsed with acs_task_from_json(); desired STOPPED
 *    tasks go to the engine first, then the others; start/stop sequence
 *    numbers come from seqNum.  A task that fails to parse is reported
 *    STOPPED with reason "UnrecognizedTaskError: <reason>" through the
 *    state-change queue (an ARN-less one is only logged).
 *  - Then a durable state save is requested; only in its callback (and
 *    only if it succeeded) the AckRequest {cluster: clusterArn,
 *    containerInstance: containerInstanceArn, messageId} is sent and the
 *    stored ACS seqNum is raised to the payload's seqNum (and saved).  If
 *    the engine refused a task (it is stopping) nothing is acknowledged:
 *    ACS re-sends the payload.  An unrecognised task does not prevent the
 *    ack (its STOPPED report is queued durably by the same save).
 *  - Everything goes through an ops table (defaults: engine.h, state.h and
 *    acs_session_send_ack) so it can be tested without Docker or a socket.
 */
#ifndef ACS_PAYLOAD_H
#define ACS_PAYLOAD_H

#include <stdint.h>
#include "acs/codec.h"
#include "acs/session.h"
#include "core/error.h"
#include "engine/engine.h"
#include "state/state.h"

#define ACS_PAYLOAD_RECENT_IDS 64

struct acs_payload_ops
{
  /* Takes ownership of task. */
  int (*task_add) (void *ctx, struct task *task, agent_error_t *err);
  /* Queue a task STOPPED state change with reason. */
  void (*report_stopped) (void *ctx, const char *task_arn, const char *reason);
  void (*save) (void *ctx, state_saved_cb cb, void *data);
  void (*save_cancel) (void *ctx, state_saved_cb cb, void *data);
  void (*set_seq_num) (void *ctx, int64_t seq);
  int (*send_ack) (void *ctx, const char *message_id, const char *cluster,
                   const char *container_instance, agent_error_t *err);
};

struct acs_payload_options
{
  /* Defaults when ops is NULL: */
  engine_t *engine;
  state_store_t *state;
  acs_session_t *session; /* may be set later with acs_payload_handler_set_session */
  /* Or a custom table (tests): */
  const struct acs_payload_ops *ops;
  void *ops_ctx;
};

typedef struct acs_payload_handler acs_payload_handler_t;

acs_payload_handler_t *acs_payload_handler_new (const struct acs_payload_options *opts);
void acs_payload_handler_set_session (acs_payload_handler_t *h, acs_session_t *s);
/* Handle one payload (takes ownership). */
void acs_payload_handle (acs_payload_handler_t *h, struct acs_payload *p);
/* Matches acs_session_handlers.on_payload (data = the handler). */
void acs_payload_on_payload (acs_session_t *s, struct acs_payload *p, void *data);
/* Payloads whose save is still pending. */
size_t acs_payload_pending (const acs_payload_handler_t *h);
/* Pending save callbacks are cancelled. */
void acs_payload_handler_free (acs_payload_handler_t *h);

#endif
