/* state/checkpoint_tasks.h - the checkpoint form of tasks (the "TaskEngine"
 * object of ecs_agent_data.json) <-> the task model (task/task.h).
 *
 * Contract:
 *  - Written with upstream's internal keys plus the engine's own (DockerId,
 *    DockerName, Reason, sequence numbers, protocol); read back from ours or
 *    from upstream's versions 1 and 2, keys matched case-insensitively.
 *  - Malformed input is ERR_INVALID with a reason naming the field.
 */
#ifndef STATE_CHECKPOINT_TASKS_H
#define STATE_CHECKPOINT_TASKS_H

#include <jansson.h>
#include <stddef.h>
#include "core/error.h"
#include "task/task.h"

/* One task; returns a new reference. */
json_t *state_task_to_json (const struct task *t);
/* {"Tasks": [...]} for n tasks; returns a new reference. */
json_t *state_tasks_to_json (struct task *const *tasks, size_t n);
/* Read one checkpointed task. */
int state_task_from_json (json_t *j, struct task **out, agent_error_t *err);
/* Read a whole "TaskEngine" object: "Tasks" plus, for upstream files,
   "IdToContainer" / "IdToTask" (Docker id and name of each container; an
   entry naming an unknown task or container is an error).  *tasks is a
   malloc'd array of n tasks (free each, then the array). */
int state_tasks_from_json (json_t *task_engine, struct task ***tasks, size_t *n,
                           agent_error_t *err);

#endif
