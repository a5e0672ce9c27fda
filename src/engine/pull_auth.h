/* engine/pull_auth.h - the registry credentials of a pull when the
 * container carries registryAuthentication (an ECR token, or a username
 * and password kept in Secrets Manager): which credentials sign the AWS
 * call, and the texts of its failures.
 *
 * Contract:
 *  - engine_pull_auth_choose is pure (table-tested): NONE uses the
 *    ECS_ENGINE_AUTH_* credentials as before; ECR with useExecutionRole
 *    needs the task's execution-role credentials (absent ⇒ container
 *    failure CannotPullECRContainerError "engine ecr credentials: not
 *    found"), otherwise the instance's credentials; ASM always needs the
 *    execution-role credentials (absent ⇒ task failure "asm resource:
 *    unable to find execution role credentials").  Credentials known by
 *    id but not received yet (a task restored from the checkpoint, before
 *    ACS sends them again) are waited for, up to ENGINE_EXEC_CREDS_WAIT_MS.
 *  - The I/O side (pull_auth.c, driven by exec.c's pull) calls ECR
 *    GetAuthorizationToken / Secrets Manager GetSecretValue through
 *    aws/json_rpc.h, caches ECR tokens (aws/registry_auth.h) and Secrets
 *    Manager answers per task and parameter, shares one call among the
 *    pulls waiting for the same key, and never logs or persists a token,
 *    a password or the X-Registry-Auth it builds.
 *  - An ECR failure is a pull failure named CannotPullECRContainerError
 *    (engine/decide.c: with the default pull behaviour a local image is
 *    still used); a Secrets Manager failure stops the task (task reason
 *    "Asm fetching secret from the service for <id>: <error>" and the
 *    other texts of aws/registry_auth.h, first letter capitalised).
 */
#ifndef ENGINE_PULL_AUTH_H
#define ENGINE_PULL_AUTH_H

#include <stdbool.h>
#include "task/registry_auth.h"
#include "task/task_creds.h"

#define ENGINE_ECR_ERROR_NAME "CannotPullECRContainerError"
#define ENGINE_ECR_NO_CREDS "engine ecr credentials: not found"
#define ENGINE_ASM_NO_CREDS "asm resource: unable to find execution role credentials"
/* ECR's HTTP round trip (upstream's ecr client timeout). */
#define ENGINE_ECR_CALL_TIMEOUT_MS 5000
#define ENGINE_ASM_CALL_TIMEOUT_MS 30000
/* A task restored from the checkpoint gets its execution-role credentials
   again from ACS: a pull needing them waits this long (polling the store),
   then fails as without them. */
#define ENGINE_EXEC_CREDS_WAIT_MS 120000
#define ENGINE_EXEC_CREDS_POLL_MS 250

enum engine_pull_auth_kind
{
  ENGINE_PULL_AUTH_ENGINE = 0,  /* no registryAuthentication: ECS_ENGINE_AUTH_* */
  ENGINE_PULL_AUTH_ECR_EXEC,    /* ECR token with the execution role */
  ENGINE_PULL_AUTH_ECR_INSTANCE, /* ECR token with the instance's credentials */
  ENGINE_PULL_AUTH_ASM,         /* Secrets Manager with the execution role */
  ENGINE_PULL_AUTH_FAIL_PULL,   /* container failure: error name + text */
  ENGINE_PULL_AUTH_FAIL_TASK,   /* task failure: text */
};

struct engine_pull_auth_choice
{
  enum engine_pull_auth_kind kind;
  const char *err_name; /* FAIL_PULL */
  const char *err_msg;  /* FAIL_* (static text) */
};

/* exec: the task's execution-role credentials (NULL or without keys =
   absent); have_instance: the agent has its own credentials provider. */
struct engine_pull_auth_choice engine_pull_auth_choose (const struct task_registry_auth *a,
                                                        const struct task_role_credentials *exec,
                                                        bool have_instance);

/* Task reason from an error text as upstream writes it for a failed task
   resource: first letter upper-cased, runs of whitespace made one space
   (malloc'd). */
char *engine_pull_auth_task_reason (const char *text);

#endif
