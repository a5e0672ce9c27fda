/* acs/payload.h - PayloadMessage handling: the glue between ACS, the task
 * engine and the state store (as upstream's payload responder).
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
 *  - Then a durable state save is requested; only in its callback (run
 *    once the save is durable, see state.h) the AckRequest {cluster: clusterArn,
 *    containerInstance: containerInstanceArn, messageId} is sent and the
 *    stored ACS seqNum is raised to the payload's seqNum (and saved).  If
 *    the engine refused a task (it is stopping) nothing is acknowledged:
 *    ACS re-sends the payload.  An unrecognised task does not prevent the
 *    ack (its STOPPED report is queued durably by the same save).
 *  - Task IAM role credentials (roleCredentials, executionRoleCredentials)
 *    are stored (task/task_creds.h) before the task reaches the engine; one
 *    that cannot be stored makes its task reported STOPPED ("unable to
 *    store the ... credentials").  Only when the payload is acknowledged,
 *    one IAMRoleCredentialsAckRequest {messageId: the payload's,
 *    credentialsId, expiration} per stored credential follows the AckRequest.
 *  - A payload over a limit of acs/task_codec.h (too many tasks or
 *    containers) is refused as a whole with one log line: none of its tasks
 *    runs; those the engine does not know yet are reported STOPPED with
 *    "UnrecognizedTaskError: <which limit>" (at most ACS_PAYLOAD_MAX_TASKS
 *    of them) and the payload is acknowledged as above.
 *  - Crash loops: before a payload is handled, its messageId is written
 *    durably to the payload marker (state/marker.h, in the data directory)
 *    and it is dropped from there once the payload is acknowledged (or its
 *    handling ended without an ack).  A messageId still there at the next
 *    start was being handled when the agent died; when ACS sends it again
 *    it is refused, with one log line: its tasks that the engine does not
 *    know (restored from the checkpoint) are reported STOPPED with
 *    ACS_PAYLOAD_REASON_REFUSED, nothing of it reaches the engine, and it is
 *    acknowledged.  If the agent died again while refusing it, it is only
 *    acknowledged.  The marker leaves the handler's memory at a clean stop.
 *  - Test hook, never set in normal runs: test_abort_message_id (the agent
 *    sets it from the environment variable ECS_AGENT_TEST_ABORT_PAYLOAD)
 *    makes the handler abort() right after the marker of that message was
 *    written, so that tests can kill the agent in the middle of a payload.
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
#include "task/task_creds.h"

#define ACS_PAYLOAD_RECENT_IDS 64
#define ACS_PAYLOAD_REASON_REFUSED                                                                 \
  "TaskRefusedError: the agent died while handling the payload that carried this task; "         \
  "it is not run"

struct acs_payload_ops
{
  /* Takes ownership of task. */
  int (*task_add) (void *ctx, struct task *task, agent_error_t *err);
  /* Queue a task STOPPED state change with reason. */
  void (*report_stopped) (void *ctx, const char *task_arn, const char *reason);
  /* As state_save: cb runs, err NULL, once the save is durable. */
  void (*save) (void *ctx, state_saved_cb cb, void *data);
  void (*save_cancel) (void *ctx, state_saved_cb cb, void *data);
  void (*set_seq_num) (void *ctx, int64_t seq);
  int (*send_ack) (void *ctx, const char *message_id, const char *cluster,
                   const char *container_instance, agent_error_t *err);
  /* Does the engine hold this task already?  (NULL: never.) */
  bool (*task_known) (void *ctx, const char *task_arn);
  /* Store a task's credentials (takes c, also on failure).  NULL: dropped. */
  int (*put_credentials) (void *ctx, const char *task_arn, enum task_creds_role role,
                          struct task_role_credentials *c, agent_error_t *err);
  /* Send one IAMRoleCredentialsAckRequest.  NULL: not sent. */
  int (*send_credentials_ack) (void *ctx, const char *message_id, const char *expiration,
                               const char *credentials_id, agent_error_t *err);
};

struct acs_payload_options
{
  /* Defaults when ops is NULL: */
  engine_t *engine;
  state_store_t *state;
  acs_session_t *session; /* may be set later with acs_payload_handler_set_session */
  task_creds_store_t *creds; /* task credentials go there; NULL: dropped */
  /* Or a custom table (tests): */
  const struct acs_payload_ops *ops;
  void *ops_ctx;
  /* Directory of the payload marker (state/marker.h); NULL: kept in memory
     only (checkpointing disabled). */
  const char *marker_dir;
  /* Test hook (see above); NULL in normal runs. */
  const char *test_abort_message_id;
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
/* Messages the payload marker held at start as having killed the agent. */
size_t acs_payload_suspects (const acs_payload_handler_t *h);
/* Pending save callbacks are cancelled. */
void acs_payload_handler_free (acs_payload_handler_t *h);

#endif
