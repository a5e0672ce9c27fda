/* task/registry_auth.h - a container's registry authentication (the ACS
 * RegistryAuthenticationData): how the agent gets the credentials of the
 * image's registry for the pull.
 *
 * Contract:
 *  - struct task_registry_auth lives in every task_container (its
 *    .registry_auth member); type NONE when the payload has none (the
 *    ECS_ENGINE_AUTH_* credentials apply then).
 *  - ECR: registryId, region, endpointOverride ("" = none) and
 *    useExecutionRole; ASM: credentialsParameter (a Secrets Manager ARN or
 *    name) and region.  None of these is a secret: the structure is read
 *    from the ACS form and the checkpoint form alike
 *    (task/registry_auth_decode.h).  The credentials fetched with it never
 *    live here (engine/pull_auth.c keeps them in memory only).
 */
#ifndef TASK_REGISTRY_AUTH_H
#define TASK_REGISTRY_AUTH_H

#include <stdbool.h>

enum task_registry_auth_type
{
  TASK_REGISTRY_AUTH_NONE = 0,
  TASK_REGISTRY_AUTH_ECR, /* "ecr": ECR GetAuthorizationToken */
  TASK_REGISTRY_AUTH_ASM, /* "asm": username/password secret in Secrets Manager */
};

struct task_registry_auth
{
  enum task_registry_auth_type type;
  /* ecrAuthData */
  char *registry_id;
  char *endpoint_override; /* "" = none */
  bool use_execution_role;
  /* asmAuthData */
  char *credentials_parameter;
  /* both */
  char *region;
};

void task_registry_auth_free (struct task_registry_auth *a);
/* "ecr" / "asm" / "" (NONE). */
const char *task_registry_auth_type_str (enum task_registry_auth_type t);

#endif
