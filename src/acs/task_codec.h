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
   (raised by the engine).  roleCredentials / executionRoleCredentials go
   to payload_role_creds / payload_exec_creds (secrets not registered:
   acs_message_register_secrets does that on the loop) and their ids to
   credentials_id / execution_credentials_id; one without a credentialsId
   makes the task invalid (upstream reports such a task STOPPED).  Every
   container gets a new endpoint id.  ERR_INVALID on error. */
int acs_task_from_json (json_t *task, struct task **out, agent_error_t *err);

/* What one payload may carry.  ECS itself accepts at most 10 containers in
   a task definition and places at most 10 tasks per RunTask / StartTask
   call; the payload sent when the agent connects lists every task of the
   instance, which a host's ports, memory and network interfaces keep to a
   few hundred at most.  The limits below sit 10 times or more above that,
   so a payload from ECS never meets them, and they bound the work one
   payload can cause on the loop (parsing, the dependency check, the
   engine's per-step walk over a task's containers and their references).
   Upstream has no such limits; what passes them is handled as upstream
   does.
   - A task with more than ACS_TASK_MAX_CONTAINERS containers or
     ACS_TASK_MAX_VOLUMES volumes, or a container with more than
     ACS_CONTAINER_MAX_REFS links, volumesFrom or mountPoints, is invalid
     (acs_task_from_json: ERR_INVALID "... at most N ..."), checked before
     the rest of it is read.
   - A payload with more than ACS_PAYLOAD_MAX_TASKS tasks or more than
     ACS_PAYLOAD_MAX_CONTAINERS containers in all (not counting tasks over
     their own limit, which are refused alone) is refused as a whole
     (acs_payload_check_limits), before any of its tasks is read. */
#define ACS_TASK_MAX_CONTAINERS 100
#define ACS_TASK_MAX_VOLUMES 100
#define ACS_CONTAINER_MAX_REFS 100
#define ACS_PAYLOAD_MAX_TASKS 1000
#define ACS_PAYLOAD_MAX_CONTAINERS 2000

/* tasks: PayloadMessage.tasks (an array; anything else passes).  0, or
   ERR_INVALID with the reason ("payload carries 20000 tasks; at most 1000
   are accepted in one payload").  O(number of tasks). */
int acs_payload_check_limits (json_t *tasks, agent_error_t *err);

#endif
