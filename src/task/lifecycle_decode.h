/* task/lifecycle_decode.h - JSON form of the container lifecycle members
 * (task/lifecycle.h), shared by the ACS codec (acs/task_codec.c, through
 * task_json_container_common) and the checkpoint codec
 * (state/checkpoint_tasks.c): both use the ACS member names.
 *
 * Contract: decoders follow task/task_decode.h (case-insensitive keys,
 * absent = null, ERR_INVALID naming the field).  dependsOn is an array of
 * {containerName (required), condition (START|COMPLETE|SUCCESS|HEALTHY,
 * required)}, at most TASK_DEPENDS_ON_MAX entries; startTimeout and
 * stopTimeout are integers 0..TASK_TIMEOUT_MAX_S.  Whether the names exist
 * is judged when the task is admitted (engine/plan.h).
 */
#ifndef TASK_LIFECYCLE_DECODE_H
#define TASK_LIFECYCLE_DECODE_H

#include <jansson.h>
#include <stdbool.h>
#include "core/error.h"
#include "task/lifecycle.h"

/* The members of one container object; checkpoint adds the engine's
   StartedAtNs, HealthStatus and HealthSinceNs. */
int task_json_container_lifecycle (json_t *obj, const char *path, bool checkpoint,
                                   struct task_container_lifecycle *l, agent_error_t *err);
/* Write them back (absent / zero ones are not written). */
void task_json_container_lifecycle_put (json_t *obj, const struct task_container_lifecycle *l,
                                        bool checkpoint);

#endif
