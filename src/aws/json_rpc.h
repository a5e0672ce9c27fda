/* aws/json_rpc.h - one call to an AWS JSON 1.1 service (ECR, SSM, Secrets
 * Manager) on the agent loop.
 *
 * A call is a single signed POST / with Content-Type
 * application/x-amz-json-1.1, X-Amz-Target and SigV4 (the caller's signing
 * name and region) made with libcurl through core/http.h: one HTTP attempt,
 * no retries (the caller owns retries and backoff).  Exactly one done
 * callback follows unless the call is cancelled first.  The credentials are
 * copied and registered with the log redactor for the call's lifetime.  The
 * response body is never logged (it can hold secrets); an error carries only
 * the service's error type and message.
 *
 * The pure parts are exported for tests and fuzzing: the classification of
 * a response into success or an error, and the endpoint resolution (AWS
 * SDK's standard AWS_ENDPOINT_URL_<SERVICE_ID> / AWS_ENDPOINT_URL variables,
 * then the regional default).
 */
#ifndef AWS_JSON_RPC_H
#define AWS_JSON_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include "aws/credentials.h"
#include "core/error.h"
#include "core/http.h"

#define AWS_JSON_CONTENT_TYPE "application/x-amz-json-1.1"

typedef struct aws_json_call aws_json_call_t;

/* err NULL: the service answered 2xx and body (NUL-terminated, len bytes,
   "" when empty) is its JSON.  Else err is set: a transport error (kind
   ERR_UNREACHABLE, ERR_TIMEOUT...), or the service's error as
   "<__type short name>: <message>" with the HTTP status attached (kind
   ERR_CLIENT for 4xx, ERR_SERVER for 5xx and throttling).  body and err
   belong to this module and are freed after the callback returns (copy what
   you keep).  From inside the callback the call is already finished:
   cancelling it is a no-op. */
typedef void (*aws_json_done_cb) (const char *body, size_t len, agent_error_t err, void *data);

struct aws_json_request
{
  const char *endpoint; /* base URL: https://ssm.us-west-2.amazonaws.com or http://127.0.0.1:PORT/ */
  const char *region;   /* SigV4 region */
  const char *service;  /* SigV4 signing name: "ecr", "ssm", "secretsmanager" */
  const char *target;   /* X-Amz-Target, e.g. "AmazonSSM.GetParameters" */
  const char *body;     /* JSON request body (copied) */
  const struct aws_credentials *creds; /* copied; registered as log secrets */
  long timeout_ms;      /* whole call, 0 = 30 s */
  bool insecure;        /* skip TLS verification */
};

/* Signs and starts the call.  NULL with err set when the request is invalid
   (missing member, endpoint not http(s)) or signing fails; cb is then never
   called. */
aws_json_call_t *aws_json_call_start (http_client_t *http, const struct aws_json_request *req,
                                      aws_json_done_cb cb, void *data, agent_error_t *err);
/* No callback after this; NULL is fine. */
void aws_json_call_cancel (aws_json_call_t *call);

/* Endpoint for a service, by the AWS SDK's service id ("ECR", "SSM",
   "SECRETS_MANAGER"): $AWS_ENDPOINT_URL_<SERVICE_ID> when set and non-empty,
   else $AWS_ENDPOINT_URL, else https://<prefix>.<region>.amazonaws.com
   (prefix api.ecr / ssm / secretsmanager, other ids lower-cased without '_';
   domain amazonaws.com.cn for cn-* regions).  NULL when no variable is set
   and region is NULL or empty.  Caller frees. */
char *aws_service_endpoint (const char *service_id, const char *region);

/* Pure: 0 for a 2xx status; else < 0 with err set as described for
   aws_json_done_cb from the status and the JSON error body ("__type" or
   "code", with any "namespace#" prefix and ":suffix" dropped; "message" or
   "Message"; control characters replaced, long texts cut).  When type is
   not NULL it gets that error type (malloc'd, the caller frees) or NULL when
   the body names none, so a service client can refine the kind (ecs/ maps
   ClientException and ExpiredTokenException). */
int aws_json_classify (long status, const char *body, size_t len, char **type,
                       agent_error_t *err);

/* Is the error type a throttling one (retriable)? */
bool aws_json_is_throttle (const char *type);

#endif
