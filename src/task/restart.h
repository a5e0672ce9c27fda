/* task/restart.h - a container's restart policy (the task definition's
 * restartPolicy) and the engine's tracker of the restarts it made.
 *
 * Contract:
 *  - struct task_container_restart lives in every task_container (its
 *    .restart member); task_container_restart_free() releases it.
 *  - The policy is read from the ACS form and the checkpoint form
 *    (task/restart_decode.h); the tracker (count, last restart time) only
 *    exists in the checkpoint form, saved with the container.
 *  - Values are used as sent: a missing restartAttemptPeriod is 0 (no wait
 *    between restarts); ignoredExitCodes holds at most
 *    TASK_RESTART_IGNORED_MAX codes.  The engine decides with them
 *    (engine/restart.h).
 */
#ifndef TASK_RESTART_H
#define TASK_RESTART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ECS accepts at most 50 ignored exit codes; more is refused. */
#define TASK_RESTART_IGNORED_MAX 50
/* Longest restartAttemptPeriod read (ECS allows 60..1800 s). */
#define TASK_RESTART_PERIOD_MAX_S 86400

struct task_container_restart
{
  /* --- from the task definition (restartPolicy) --- */
  bool enabled;
  int *ignored_exit_codes;
  size_t n_ignored_exit_codes;
  uint32_t attempt_period_s; /* restartAttemptPeriod */

  /* --- engine fields (checkpoint only): the tracker --- */
  uint32_t count;             /* restarts made */
  int64_t last_restart_at_ns; /* unix ns of the last restart decision, 0 = none */
};

void task_container_restart_free (struct task_container_restart *r);
/* Is code one of the policy's ignoredExitCodes? */
bool task_restart_code_ignored (const struct task_container_restart *r, int code);

#endif
