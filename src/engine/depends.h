/* engine/depends.h - dependsOn as pure decisions (no I/O, no clock: the
 * caller passes the time).
 *
 * Contract (as upstream's dependency graph):
 *  - A dependency on D with condition
 *      START    is met once D is known RUNNING or STOPPED;
 *      COMPLETE once D is known STOPPED;
 *      SUCCESS  once D is known STOPPED with exit code 0;
 *      HEALTHY  once D is known RUNNING and Docker reports it healthy.
 *  - The planner moves a container forward (pull, create, start) only when
 *    every dependsOn entry is met (engine_dep_met).
 *  - A dependency that can never be met fails its dependent
 *    (engine_dep_failure): D missing; D will never start (known < RUNNING,
 *    desired STOPPED, nothing in flight); SUCCESS and D exited non-zero (or
 *    without an exit code); HEALTHY and D is unhealthy or stopped; COMPLETE,
 *    SUCCESS or HEALTHY and D's startTimeout passed since D first started
 *    (D not yet STOPPED).  Only judged while the dependent has not started
 *    and is still wanted (desired CREATED/RUNNING).  The engine then stops
 *    the dependent without starting it: exit code 143 and reason
 *    "CannotStartContainerError: dependency graph: ..." (upstream's texts).
 */
#ifndef ENGINE_DEPENDS_H
#define ENGINE_DEPENDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "task/task.h"

/* The health a Docker health_status event action names ("health_status:
   healthy" -> HEALTHY, "unhealthy" -> UNHEALTHY, "starting" or anything
   else -> UNKNOWN), as upstream maps State.Health.Status. */
enum task_health engine_health_from_event (const char *action);
/* The health an inspect's State.Health.Status names ("healthy",
   "unhealthy"; "starting", anything else or NULL (no State.Health) ->
   UNKNOWN). */
enum task_health engine_health_from_docker (const char *status);

/* The grace period of a docker stop of c, whole seconds: its stopTimeout
   when set, else the agent's (ECS_CONTAINER_STOP_TIMEOUT) rounded up. */
int engine_stop_timeout_s (const struct task_container *c, uint64_t default_ms);

/* Exit code given to a dependent its dependency failed (SIGTERM's). */
#define ENGINE_DEP_FAILED_EXIT 143
#define ENGINE_DEP_REASON_NAME "CannotStartContainerError"

/* Whether dependency d (of a container of t) is met right now. */
bool engine_dep_is_met (const struct task *t, const struct task_dependency *d);
/* Every dependsOn entry of container i met? */
bool engine_dep_met (const struct task *t, size_t i);
/* Whether container i must give up: true with *msg (malloc'd, without the
   error name) when one of its dependencies can never be met at now_ns.
   Otherwise false and *wake_ns = the earliest start-timeout deadline among
   the dependencies it still waits on (0 = none). */
bool engine_dep_failure (const struct task *t, size_t i, int64_t now_ns, char **msg,
                         int64_t *wake_ns);
/* Whether container c lists name in its dependsOn. */
bool engine_dep_lists (const struct task_container *c, const char *name);
/* Admission: every HEALTHY dependency names a container with
   healthCheckType docker; 0, or -1 with *reason "Task dependencies cannot
   be resolved, taskArn: <arn>".  (Missing names and cycles are found by
   engine_plan_check_dependencies, with dependsOn edges.) */
int engine_dep_check_admission (const struct task *t, char **reason);

#define ENGINE_DEP_REASON_UNRESOLVABLE "Task dependencies cannot be resolved, taskArn: "

#endif
