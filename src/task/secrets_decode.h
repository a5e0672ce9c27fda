/* task/secrets_decode.h - JSON form of a container's secrets
 * (task/secrets.h), shared by the ACS codec (acs/task_codec.c) and the
 * checkpoint codec (state/checkpoint_tasks.c).
 *
 * Contract: decoders follow task/task_decode.h (case-insensitive keys,
 * absent = null, ERR_INVALID naming the field).  "secrets" is null or an
 * array of at most TASK_SECRETS_MAX objects (the ACS model's Secret):
 * name and valueFrom (non-empty strings), provider ("ssm" or "asm"),
 * region, type, target, containerPath (optional strings).  Both forms are
 * the same; the checkpoint keeps the definitions only, never a value.
 */
#ifndef TASK_SECRETS_DECODE_H
#define TASK_SECRETS_DECODE_H

#include <jansson.h>
#include "core/error.h"
#include "task/secrets.h"

int task_json_container_secrets (json_t *obj, const char *path, struct task_container_secrets *s,
                                 agent_error_t *err);
/* Write them back under "secrets" (nothing when there are none). */
void task_json_container_secrets_put (json_t *obj, const struct task_container_secrets *s);

#endif
