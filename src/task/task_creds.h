/* task/task_creds.h - task IAM role credentials, in memory, by credentialsId.
 *
 * Contract:
 *  - One store per agent, used on the loop thread only.  An entry maps a
 *    credentialsId to its task ARN, its role type (task role =
 *    "TaskApplication", execution role = "TaskExecution") and either the
 *    credentials ACS sent or nothing yet ("expected": the id is known from a
 *    task restored from the checkpoint, ACS has not re-sent them; the
 *    credentials endpoint answers 503 for it).
 *  - Secrets (access key id, secret access key, session token) are
 *    registered with log_secret_add() while the store holds them, and are
 *    wiped and unregistered when replaced or removed.  They are never
 *    persisted: the checkpoint keeps the task's credentials ids only
 *    (task/task.h), the way upstream asks ACS again after a restart.
 *  - Who removes what (as upstream): the task-role entry when its task is
 *    known STOPPED, the execution-role entry when the task is removed from
 *    state (log drivers and image pulls may still need it until then).
 *  - Bounded: at most TASK_CREDS_MAX entries; a new id beyond that is
 *    refused (ERR_INVALID), an existing id is always updated.
 *  - For other modules (image pulls from ECR, secrets): use
 *    task_creds_store_for_task (store, task_arn, TASK_CREDS_EXECUTION_ROLE)
 *    and do not keep the pointer across loop turns.
 */
#ifndef TASK_TASK_CREDS_H
#define TASK_TASK_CREDS_H

#include <stdbool.h>
#include <stddef.h>
#include "core/error.h"

#define TASK_CREDS_MAX 8192

enum task_creds_role
{
  TASK_CREDS_TASK_ROLE = 0,  /* "TaskApplication": served to the task's containers */
  TASK_CREDS_EXECUTION_ROLE, /* "TaskExecution": used by the agent for the task */
};

/* The IAMRoleCredentials of the ACS model (credentialScope is unused). */
struct task_role_credentials
{
  char *credentials_id;
  char *role_arn;
  char *access_key_id;     /* secret */
  char *secret_access_key; /* secret */
  char *session_token;     /* secret */
  char *expiration;        /* as ACS sent it, echoed unchanged */
  bool secrets_registered; /* by task_role_credentials_register_secrets() */
};

/* Wipes the secrets; unregisters them if they were registered.  NULL ok. */
void task_role_credentials_free (struct task_role_credentials *c);
/* Register the three secrets with the logger (on the logger's thread);
   idempotent.  NULL ok. */
void task_role_credentials_register_secrets (struct task_role_credentials *c);
/* Deep copy (secrets registered in the copy if they were in c). */
struct task_role_credentials *task_role_credentials_dup (const struct task_role_credentials *c);

/* "TaskApplication" / "TaskExecution". */
const char *task_creds_role_name (enum task_creds_role r);
/* The names above, exactly; < 0 (ERR_INVALID) otherwise (NULL too). */
int task_creds_role_parse (const char *s, enum task_creds_role *out, agent_error_t *err);

struct task_creds_entry
{
  char *credentials_id;
  char *task_arn;
  enum task_creds_role role;
  struct task_role_credentials *creds; /* NULL: expected, not received yet */
};

typedef struct task_creds_store task_creds_store_t;

task_creds_store_t *task_creds_store_new (void);
void task_creds_store_free (task_creds_store_t *s);

/* Store c under c->credentials_id for task_arn/role (upsert; takes c, also
   on failure).  Registers its secrets.  ERR_INVALID if the id or the task
   ARN is empty, or the store is full. */
int task_creds_store_put (task_creds_store_t *s, const char *task_arn, enum task_creds_role role,
                          struct task_role_credentials *c, agent_error_t *err);
/* Record that id belongs to task_arn/role without credentials (a restored
   task); an entry that has credentials already is left alone.  Empty
   arguments or a full store: nothing recorded. */
void task_creds_store_expect (task_creds_store_t *s, const char *task_arn,
                              enum task_creds_role role, const char *credentials_id);
/* The entry of id, NULL if unknown (id NULL or ""). */
const struct task_creds_entry *task_creds_store_get (const task_creds_store_t *s, const char *id);
/* The credentials of task_arn for role, NULL if none were received. */
const struct task_role_credentials *task_creds_store_for_task (const task_creds_store_t *s,
                                                               const char *task_arn,
                                                               enum task_creds_role role);
/* Remove id (no-op if unknown). */
void task_creds_store_remove (task_creds_store_t *s, const char *id);
/* Remove every entry of task_arn for role; returns how many. */
size_t task_creds_store_remove_task (task_creds_store_t *s, const char *task_arn,
                                     enum task_creds_role role);
size_t task_creds_store_count (const task_creds_store_t *s);

#endif
