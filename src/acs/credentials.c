/* acs/credentials.c - IAMRoleCredentialsMessage handling (see credentials.h). */
#include "acs/credentials.h"
#include "core/xmalloc.h"
#include <stdlib.h>
#include <string.h>

static bool
empty (const char *s)
{
  return s == NULL || *s == '\0';
}

static char *
dup_or_null (const char *s)
{
  return s ? xstrdup (s) : NULL;
}

enum acs_creds_outcome
acs_credentials_apply (const struct acs_iam_credentials *m, task_creds_store_t *store,
                       acs_creds_set_task_id_fn set_task_id, void *ctx, agent_error_t *err)
{
  enum task_creds_role role;
  if (empty (m->message_id) || empty (m->task_arn) || !m->has_credentials
      || empty (m->creds.credentials_id))
    {
      error_set (err, ERR_INVALID, "messageId, taskArn and roleCredentials.credentialsId are required");
      return ACS_CREDS_INVALID;
    }
  if (task_creds_role_parse (m->role_type, &role, err) < 0)
    return ACS_CREDS_INVALID;
  struct task_role_credentials *c = xcalloc (1, sizeof *c);
  c->credentials_id = xstrdup (m->creds.credentials_id);
  c->role_arn = dup_or_null (m->creds.role_arn);
  c->access_key_id = dup_or_null (m->creds.access_key_id);
  c->secret_access_key = dup_or_null (m->creds.secret_access_key);
  c->session_token = dup_or_null (m->creds.session_token);
  c->expiration = dup_or_null (m->creds.expiration);
  if (task_creds_store_put (store, m->task_arn, role, c, err) < 0)
    return ACS_CREDS_NOT_STORED;
  if (set_task_id && set_task_id (ctx, m->task_arn, role, m->creds.credentials_id, err) < 0)
    return ACS_CREDS_NO_TASK;
  return ACS_CREDS_ACK;
}
