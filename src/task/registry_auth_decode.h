/* task/registry_auth_decode.h - JSON form of a container's registry
 * authentication (task/registry_auth.h), shared by the ACS codec
 * (acs/task_codec.c) and the checkpoint codec (state/checkpoint_tasks.c).
 *
 * Contract: decoders follow task/task_decode.h (case-insensitive keys,
 * absent = null, ERR_INVALID naming the field).  registryAuthentication is
 * null or {type: "ecr" | "asm" (other values, absent or "": no
 * authentication, as upstream ignores them), ecrAuthData {registryId,
 * region, endpointOverride, useExecutionRole}, asmAuthData
 * {credentialsParameter, region}}, each member a string (the flag a
 * boolean) or absent.  A missing data object or member is read as "" (the
 * pull then fails with the reason upstream gives, engine/pull_auth.c); for
 * ECR and ASM every string member is non-NULL.  Both forms are the same.
 */
#ifndef TASK_REGISTRY_AUTH_DECODE_H
#define TASK_REGISTRY_AUTH_DECODE_H

#include <jansson.h>
#include "core/error.h"
#include "task/registry_auth.h"

int task_json_container_registry_auth (json_t *obj, const char *path, struct task_registry_auth *a,
                                       agent_error_t *err);
/* Writes registryAuthentication (nothing for NONE). */
void task_json_container_registry_auth_put (json_t *obj, const struct task_registry_auth *a);

#endif
