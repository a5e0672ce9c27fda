/* agent/agent.h - the agent context: wires every subsystem on one loop.
 *
 * agent_run() performs the start-up sequence of the upstream agent as a
 * chain of asynchronous steps on one libuv loop:
 *   checkpoint load -> Docker version (retried) -> instance identity
 *   (IMDS, optional) -> credentials -> RegisterContainerInstance (with the
 *   saved ARN, if any) -> durable save -> engine start (reconcile) ->
 *   state-change submitter -> introspection server -> ACS session.
 * It returns the process exit code (core/exitcodes.h) and never exits
 * itself: 0 after SIGTERM/SIGINT with a successful final save, 5 for
 * terminal errors (corrupt checkpoint, cluster mismatch, non-retriable
 * registration error, failed final save), 1 for retriable registration
 * failures, 42 after PerformUpdate.  err describes non-zero outcomes.
 */
#ifndef AGENT_AGENT_H
#define AGENT_AGENT_H

#include "config/config.h"
#include "core/error.h"

/* Version string as upstream prints it: "Amazon ECS Agent - v<ver> (<*><hash>)". */
char *agent_version_string (void);

int agent_run (const struct agent_config *cfg, agent_error_t *err);

#endif
