/* aws/secrets_fetch.h - fetching one provider's secrets of a task: the I/O
 * of aws/secrets_wire.h over the AWS JSON client (aws/json_rpc.h).
 *
 * Contract:
 *  - aws_secrets_fetch_start() copies what it needs (the secrets, the
 *    credentials) and calls done exactly once, later on the loop, unless
 *    aws_secrets_fetch_cancel() came first (then never).
 *  - SSM: each batch of aws_ssm_plan() is one AmazonSSM.GetParameters call
 *    to aws_service_endpoint("SSM", region), signed for "ssm"; Secrets
 *    Manager: one secretsmanager.GetSecretValue per distinct key to
 *    aws_service_endpoint("SECRETS_MANAGER", region), signed for
 *    "secretsmanager".  All calls run at once.
 *  - A call that fails with a retriable error (transport, timeout, 5xx,
 *    throttling) is tried again after a back-off with jitter, at most
 *    AWS_SECRETS_ATTEMPTS attempts in all; a client error (4xx) is final.
 *  - done gets either the values (err_text NULL; the callee takes them with
 *    a struct move and must clear them) or the resource's error text
 *    (per-secret errors joined with ";", see aws/secrets_wire.h; never a
 *    value).  Response bodies are never logged.
 */
#ifndef AWS_SECRETS_FETCH_H
#define AWS_SECRETS_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include "aws/credentials.h"
#include "core/http.h"
#include "task/secrets.h"

#define AWS_SECRETS_ATTEMPTS 3
#define AWS_SECRETS_RETRY_MIN_MS 200
#define AWS_SECRETS_RETRY_MAX_MS 2000
#define AWS_SECRETS_CALL_TIMEOUT_MS 30000

struct aws_secrets_fetch_req
{
  enum task_secret_provider provider;
  const struct task_secret *const *secrets; /* those of other providers are skipped */
  size_t n;
  const struct aws_credentials *creds; /* the task's execution role */
  bool insecure;                       /* skip TLS verification (tests) */
};

typedef struct aws_secrets_fetch aws_secrets_fetch_t;
typedef void (*aws_secrets_done_cb) (struct task_secret_resource *values, const char *err_text,
                                     void *data);

aws_secrets_fetch_t *aws_secrets_fetch_start (uv_loop_t *loop, http_client_t *http,
                                              const struct aws_secrets_fetch_req *req,
                                              aws_secrets_done_cb done, void *data);
void aws_secrets_fetch_cancel (aws_secrets_fetch_t *f); /* NULL ok */

#endif
