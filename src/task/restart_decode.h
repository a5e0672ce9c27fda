/* task/restart_decode.h - JSON form of a container's restart policy and
 * tracker (task/restart.h), shared by the ACS codec (acs/task_codec.c) and
 * the checkpoint codec (state/checkpoint_tasks.c).
 *
 * Contract: decoders follow task/task_decode.h (case-insensitive keys,
 * absent = null, ERR_INVALID naming the field).  restartPolicy is null or
 * {enabled (bool), ignoredExitCodes (null or array of at most
 * TASK_RESTART_IGNORED_MAX integers), restartAttemptPeriod (integer
 * 0..TASK_RESTART_PERIOD_MAX_S)}.  The checkpoint form adds
 * RestartTracker {RestartCount, LastRestartAtNs}.
 */
#ifndef TASK_RESTART_DECODE_H
#define TASK_RESTART_DECODE_H

#include <jansson.h>
#include <stdbool.h>
#include "core/error.h"
#include "task/restart.h"

/* The members of one container object (checkpoint: the tracker too). */
int task_json_container_restart (json_t *obj, const char *path, bool checkpoint,
                                 struct task_container_restart *r, agent_error_t *err);
/* Write them back (nothing when there is no policy and no restart). */
void task_json_container_restart_put (json_t *obj, const struct task_container_restart *r,
                                      bool checkpoint);

#endif
