/* acs/manifest.h - TaskManifestMessage -> TaskStopVerificationMessage ->
 * TaskStopVerificationAck, as the upstream agent answers them.
 *
 * Contract:
 *  - acs_manifest_stop_candidates (pure): the tasks the agent runs (desired
 *    RUNNING) that the manifest does not list with desiredStatus RUNNING, in
 *    the agent's order; each candidate says desiredStatus STOPPED and the
 *    manifest's cluster.
 *  - The handler acknowledges every manifest (AckRequest with the manifest's
 *    cluster and instance).  A manifest whose timeline is lower than the
 *    highest payload seqNum or manifest timeline seen is stale: acknowledged,
 *    nothing else.  Otherwise, when there are candidates, it sends one
 *    TaskStopVerificationMessage (messageId = the manifest's) and remembers
 *    that id.  A TaskStopVerificationAck with that messageId stops every
 *    listed task the engine knows and still wants RUNNING (desired STOPPED,
 *    as a payload's stop would); acks with another id are ignored.
 *  - Message structs handed in are consumed.
 */
#ifndef ACS_MANIFEST_H
#define ACS_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include "acs/codec.h"
#include "acs/session.h"
#include "engine/engine.h"

struct acs_manifest_task_view
{
  const char *arn;
  bool desired_running;
};

/* Candidates into *out (n returned; free with acs_task_identifiers_free). */
size_t acs_manifest_stop_candidates (const struct acs_task_manifest *m,
                                     const struct acs_manifest_task_view *tasks, size_t n,
                                     struct acs_task_identifier **out);
void acs_task_identifiers_free (struct acs_task_identifier *ids, size_t n);

typedef struct acs_manifest_handler acs_manifest_handler_t;

acs_manifest_handler_t *acs_manifest_handler_new (engine_t *engine);
void acs_manifest_handler_free (acs_manifest_handler_t *h);
void acs_manifest_on_manifest (acs_manifest_handler_t *h, acs_session_t *s,
                               struct acs_task_manifest *m);
void acs_manifest_on_stop_ack (acs_manifest_handler_t *h, acs_session_t *s,
                               struct acs_task_stop_verification_ack *a);
/* Tasks stopped on verification acks so far (tests, logs). */
size_t acs_manifest_stopped (const acs_manifest_handler_t *h);

#endif
