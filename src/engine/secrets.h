/* engine/secrets.h - a task's secret resources in the engine (one per
 * provider, task/secrets.h), as upstream's ssmsecret / asmsecret resources.
 *
 * Contract:
 *  - A provider's resource is fetched once some container that has a
 *    secret of it (whatever the secret's type) is still to be created and
 *    the task is not stopping; every secret of that provider in the task is
 *    fetched (aws/secrets_fetch.h), with the task's execution-role
 *    credentials.  Pulls go on meanwhile; such a container moves to CREATED
 *    only once the resource is CREATED (engine_secrets_ready, used by the
 *    planner), and a task waiting on a fetch is not stuck.
 *  - Credentials: a task without an execution role fails at once
 *    ("Ssm secret resource: ..." / "ASM secret resource: unable to find
 *    execution role credentials"); a task restored from the checkpoint
 *    whose credentials ACS has not re-sent yet waits for them up to
 *    ENGINE_SECRETS_CREDS_WAIT_MS (checked every
 *    ENGINE_SECRETS_CREDS_POLL_MS), then fails the same way.
 *  - A failed fetch sets the task desired STOPPED with the task reason
 *    aws_secrets_reason (error text); containers that never ran are marked
 *    STOPPED without a reason of their own, and no container that needs the
 *    resource is ever created.
 *  - Values stay in the task (never checkpointed): after an agent restart a
 *    resource is fetched again when a container needing it is still to be
 *    created; they are dropped with the task at cleanup.
 *  - Injection at create is engine/create_opts.c's (environment variables
 *    and log options).
 */
#ifndef ENGINE_SECRETS_H
#define ENGINE_SECRETS_H

#include <stdbool.h>
#include "task/task.h"

#define ENGINE_SECRETS_CREDS_WAIT_MS 120000
#define ENGINE_SECRETS_CREDS_POLL_MS 1000

/* Pure: every provider container c has secrets of is CREATED in t. */
bool engine_secrets_ready (const struct task *t, const struct task_container *c);
/* Pure: a resource of t is being fetched (or waits for credentials). */
bool engine_secrets_pending (const struct task *t);
/* Pure: provider p's resource should be fetched now (see above). */
bool engine_secrets_needed (const struct task *t, enum task_secret_provider p);

#endif
