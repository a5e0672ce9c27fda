/* task/options_decode.h - JSON form of the container options (task/options.h),
 * shared by the ACS codec (acs/task_codec.c) and the checkpoint codec
 * (state/checkpoint_tasks.c): both forms use the ACS member names.
 *
 * Contract: decoders follow task/task_decode.h (case-insensitive keys,
 * absent = null, ERR_INVALID naming the field); values are only checked
 * for their JSON type here: what they ask for is judged when the task is
 * admitted (engine/options_check.h).
 */
#ifndef TASK_OPTIONS_DECODE_H
#define TASK_OPTIONS_DECODE_H

#include <jansson.h>
#include "core/error.h"
#include "task/options.h"

/* dockerConfig {config, hostConfig, version} (strings or null),
   healthCheckType and logsAuthStrategy of one container object. */
int task_json_container_options (json_t *obj, const char *path, struct task_container_options *o,
                                 agent_error_t *err);
/* networkMode, pidMode, ipcMode (strings), cpu (number >= 0, vCPU) and
   memory (integer MiB >= 0) of one task object. */
int task_json_task_options (json_t *obj, const char *path, struct task_options *o,
                            agent_error_t *err);
/* Write the same members into obj (absent ones are not written). */
void task_json_container_options_put (json_t *obj, const struct task_container_options *o);
void task_json_task_options_put (json_t *obj, const struct task_options *o);

#endif
