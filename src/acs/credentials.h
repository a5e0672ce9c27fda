/* acs/credentials.h - IAMRoleCredentialsMessage (credentials rotation):
 * validate, store, decide the ack, as upstream's refresh-credentials
 * responder.
 *
 * Contract: a message is dropped (no ack, nothing stored) unless messageId,
 * taskArn, roleCredentials and roleCredentials.credentialsId are non-empty
 * and roleType is TaskApplication or TaskExecution.  Otherwise the
 * credentials are stored (upsert by credentialsId, secrets registered) and
 * the task's credentials id of that role is set through set_task_id; a
 * task the engine does not know gets no ack (the stored entry stays, as
 * upstream).  The caller sends IAMRoleCredentialsAckRequest {messageId,
 * expiration, credentialsId} when the answer is ACS_CREDS_ACK.  No I/O.
 */
#ifndef ACS_CREDENTIALS_H
#define ACS_CREDENTIALS_H

#include "acs/codec.h"
#include "core/error.h"
#include "task/task_creds.h"

enum acs_creds_outcome
{
  ACS_CREDS_ACK = 0,   /* stored, task updated: acknowledge */
  ACS_CREDS_INVALID,   /* dropped: a required member is missing */
  ACS_CREDS_NO_TASK,   /* stored, but the task is unknown: no ack */
  ACS_CREDS_NOT_STORED /* the store refused it (full) */
};

/* Sets the credentials id of role for task_arn; < 0 if the task is unknown. */
typedef int (*acs_creds_set_task_id_fn) (void *ctx, const char *task_arn,
                                         enum task_creds_role role, const char *id,
                                         agent_error_t *err);

/* Apply m (not taken; its credentials are copied).  *why (static or
   err's message, valid until err is freed) says why for the non-ACK
   outcomes. */
enum acs_creds_outcome acs_credentials_apply (const struct acs_iam_credentials *m,
                                              task_creds_store_t *store,
                                              acs_creds_set_task_id_fn set_task_id, void *ctx,
                                              agent_error_t *err);

#endif
