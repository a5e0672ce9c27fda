/* acs/task_codec.h - the one parser of an ACS Task object (the JSON of
 * PayloadMessage.tasks[i]) into the task model (task/task.h).
 *
 * Contract: keys are matched case-insensitively (as upstream's re-decode);
 * unknown keys are ignored except inside container "overrides" (only
 * "command" is allowed); invalid input is ERR_INVALID with a reason naming
 * the field.
 */
#ifndef ACS_TASK_CODEC_H
#define ACS_TASK_CODEC_H

#include <jansson.h>
#include "core/error.h"
#include "task/task.h"

/* Parse one ACS Task object (the JSON of PayloadMessage.tasks[i]).  Strict:
   arn required; containers need a unique non-empty name and an image;
   numbers must be non-negative integers in range; ports 1..65535 (host
   0..65535), protocol tcp|udp; volumes need a name and a "host" object
   (sourcePath non-empty -> host volume, else empty volume; "type" if given
   must be "host"); a mount point must name a task volume; a link is
   "name" or "name:alias"; container overrides is an object or a string
   holding one, with only "command" (array of strings or null).
   Dependencies on containers missing from the task are NOT rejected here:
   the engine fails such a task with a reason (engine/plan.h).
   Engine fields start at NONE; desired status of each container = NONE
   (raised by the engine).  ERR_INVALID on error. */
int acs_task_from_json (json_t *task, struct task **out, agent_error_t *err);
int acs_task_from_json (json_t *task, struct task **out, agent_error_t *err);

#endif
