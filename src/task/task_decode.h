/* task/task_decode.h - JSON field decoders shared by the two task codecs
 * (acs/task_codec.h for the ACS form, state/checkpoint_tasks.h for the
 * checkpoint form) and the checkpoint file reader (state/state_file.c).
 * Only those include this header.
 *
 * Contract:
 *  - Keys are matched case-insensitively, an exact match first.  "Absent"
 *    and JSON null mean the same.
 *  - Every decoder fills its output only on success and returns < 0 with
 *    ERR_INVALID and a message naming the field (path.key, or the key
 *    alone when path is "") otherwise; the caller frees a partly filled
 *    task with task_free().
 */
#ifndef TASK_TASK_DECODE_H
#define TASK_TASK_DECODE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "core/error.h"
#include "task/task.h"

json_t *task_json_get (json_t *obj, const char *key);
bool task_json_null (json_t *v); /* absent or null */
int task_json_string (json_t *obj, const char *key, const char *path, bool required, char **out,
                      agent_error_t *err);
int task_json_bool (json_t *obj, const char *key, const char *path, bool *out, agent_error_t *err);
/* An integer in [lo, hi]; absent -> 0 unless required. */
int task_json_int_range (json_t *obj, const char *key, const char *path, int64_t lo, int64_t hi,
                         bool required, int64_t *out, agent_error_t *err);
/* Array of strings or null -> NULL-terminated vector (NULL if absent). */
int task_json_strv (json_t *obj, const char *key, const char *path, char ***out, agent_error_t *err);
/* obj.protocol: "tcp" (default) or "udp". */
int task_json_protocol (json_t *obj, const char *path, enum task_protocol *out, agent_error_t *err);
/* Port bindings (task_port_binding) at obj.key, an array of objects or
   null: containerPort, hostPort (0..65535; absent -> 0 unless
   ports_required), bindIP, protocol.  *out and *n (the items parsed so
   far, bind_ip owned) are set on error too. */
int task_json_port_bindings (json_t *obj, const char *key, const char *path, bool ports_required,
                             struct task_port_binding **out, size_t *n, agent_error_t *err);
/* The container fields common to both forms: name, image, command,
   entryPoint, cpu, memory, essential, links, environment, portMappings,
   mountPoints, volumesFrom, overrides. */
int task_json_container_common (json_t *obj, const char *path, struct task_container *c,
                                agent_error_t *err);
/* The task's "volumes"; checkpoint adds the engine's DockerName / Created. */
int task_json_volumes (json_t *obj, struct task *t, bool checkpoint, agent_error_t *err);
/* Unique container names; mount points name task volumes. */
int task_json_check_refs (struct task *t, agent_error_t *err);

#endif
