/* engine/plan.h - the engine's decisions as pure functions (no I/O).
 *
 * Contract:
 *  - Statuses only move forward; a STOPPED container never restarts.
 *  - Desired: task desired only rises; each container's desired is raised
 *    to the task's; an essential container known or desired STOPPED makes
 *    the task (and so every container) desired STOPPED.
 *  - Next action per container (nothing while an operation is in flight):
 *      known >= desired                          -> NONE
 *      desired STOPPED, known RUNNING            -> STOP, once every
 *          container that depends on it (links / volumesFrom) is STOPPED
 *          (reverse dependency order)
 *      desired STOPPED, known != RUNNING         -> MARK_STOPPED (no Docker;
 *          allowed while a pull is in flight; waits for create / start)
 *      task held (an earlier stop still running) -> NONE
 *      NONE -> PULL once the container could be created (its dependsOn
 *          met, link and volumesFrom targets created), as upstream gates
 *          pulls by default; with t->pull_upfront
 *          (ECS_PULL_DEPENDENT_CONTAINERS_UPFRONT) at once, in parallel
 *      PULLED -> CREATE once dependsOn is met, link and volumesFrom
 *          targets are created (known CREATED/RUNNING/STOPPED with a
 *          Docker id)
 *          and, with t->links_by_address (a runtime without links,
 *          Podman: the client writes a link as an /etc/hosts entry with the
 *          target's address, docker/links.h), link targets are RUNNING
 *          and the task's secret resources the container uses are CREATED
 *          (engine/secrets.h; a fetch in flight is no stuck task)
 *      CREATED -> START once link targets are RUNNING and run
 *          dependencies are >= RUNNING
 *  - Task known = min over containers (PULLED counts as NONE), only raised.
 *  - Links / volumesFrom that form a cycle or name a container missing
 *    from the task fail the task up front (engine_plan_check_dependencies).
 *  - A task that is not done but where nothing can move and nothing is in
 *    flight is stuck: desired RUNNING -> becomes desired STOPPED; desired
 *    STOPPED -> forced known STOPPED with TaskStateError.
 */
#ifndef ENGINE_PLAN_H
#define ENGINE_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include "task/task.h"

#define ENGINE_REASON_TASK_STATE "TaskStateError: Agent could not progress task's state to stopped"
#define ENGINE_REASON_NO_CONTAINERS "TaskValidationError: task has no containers"
/* Longest container name a link / volumesFrom / dependency may name. */
#define ENGINE_CONTAINER_NAME_MAX 255

/* Map a container status to a task status (PULLED -> NONE). */
enum task_status engine_plan_task_status_of (enum task_status container_status);

/* Raise desired statuses (task and containers) per the rules above.
   Returns true if anything changed.  Mutates only desired_status fields. */
bool engine_plan_update_desired (struct task *t);

/* Next action for container i (see above). */
enum task_action engine_plan_container_action (const struct task *t, size_t i);
/* Actions for all containers into out[n_containers]; returns how many are
   not TASK_ACTION_NONE. */
size_t engine_plan_actions (const struct task *t, enum task_action *out);

/* New task known status: min over containers, never below the current. */
enum task_status engine_plan_task_known (const struct task *t);

/* Links / volumesFrom / run dependencies: 0 if valid, else -1 and *reason
   (malloc'd) e.g. "TaskDependencyError: circular dependency: web -> web-db -> web"
   or "TaskDependencyError: container web links to missing container db": the
   first problem a depth-first walk in container order meets.  The walk keeps
   its path on the heap: O((n + e) log n), whatever the length of a chain. */
int engine_plan_check_dependencies (const struct task *t, char **reason);
/* A task that can run at all: at least one container (else
   ENGINE_REASON_NO_CONTAINERS), then engine_plan_check_dependencies.  A
   target name over ENGINE_CONTAINER_NAME_MAX characters is refused as too
   long ("... links to a container name longer than 255 characters"), not
   read as a missing container. */
int engine_plan_check_task (const struct task *t, char **reason);

/* Every container known >= desired and task known >= task desired?  (A task
   known STOPPED is always done.) */
bool engine_plan_task_done (const struct task *t);

enum engine_plan_stuck
{
  ENGINE_PLAN_NOT_STUCK = 0,
  ENGINE_PLAN_STUCK_STOP_TASK,  /* set task desired STOPPED */
  ENGINE_PLAN_STUCK_FORCE_STOP, /* force known STOPPED + ENGINE_REASON_TASK_STATE */
};
/* Nothing in flight, nothing can move, not done (and not held). */
enum engine_plan_stuck engine_plan_stuck (const struct task *t);

enum engine_change_verdict
{
  ENGINE_CHANGE_IGNORE = 0, /* not newer than known */
  ENGINE_CHANGE_APPLY,      /* move known forward */
  ENGINE_CHANGE_RESTOP,     /* known STOPPED but Docker says RUNNING: stop again (once) */
};
/* Whether a container status reported by Docker should be applied. */
enum engine_change_verdict engine_plan_accept_change (const struct task_container *c,
                                                      enum task_status reported);

const char *engine_action_str (enum task_action a);

#endif
