/* aws/imds.h - asynchronous EC2 instance metadata (IMDS) client.
 *
 * Base URL: opts->endpoint, else env AWS_EC2_METADATA_SERVICE_ENDPOINT, else
 * http://169.254.169.254.  Every GET is preceded (once per token lifetime) by
 * an IMDSv2 token request (PUT /latest/api/token with
 * X-aws-ec2-metadata-token-ttl-seconds) and carries X-aws-ec2-metadata-token;
 * when the PUT answers 403/404/405 or times out (2 s) / is unreachable the
 * client falls back to IMDSv1 (plain GET), and keeps using v1 for 5 minutes
 * (a 401 on a v1 GET switches back to v2 at once); a 401 with a token
 * fetches a new token once.  1 s connect timeout.
 * All calls are async on the loop via core/http.h; each has exactly one
 * callback unless cancelled (imds_call_cancel or imds_client_free).
 * Parsers (identity document, role credentials) are pure functions, fuzzed.
 */
#ifndef AWS_IMDS_H
#define AWS_IMDS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <uv.h>
#include "aws/credentials.h"
#include "core/error.h"
#include "core/http.h"

#define IMDS_DEFAULT_ENDPOINT "http://169.254.169.254"
#define IMDS_PATH_TOKEN "/latest/api/token"
#define IMDS_PATH_IDENTITY_DOC "/latest/dynamic/instance-identity/document"
#define IMDS_PATH_IDENTITY_SIG "/latest/dynamic/instance-identity/signature"
#define IMDS_PATH_ROLES "/latest/meta-data/iam/security-credentials/"

typedef struct imds_client imds_client_t;
typedef struct imds_call imds_call_t;

struct imds_options
{
  const char *endpoint;     /* see above */
  long connect_timeout_ms;  /* 0 = 1000 */
  long timeout_ms;          /* whole request, 0 = 5000 */
  long token_ttl_s;         /* 0 = 21600 */
  bool v1_only;             /* never ask for a token */
};

struct imds_identity
{
  char *instance_id;
  char *region;
  char *availability_zone;
  char *account_id;
  char *instance_type;
  char *document;  /* raw text as served (sent at registration) */
  char *signature; /* raw text, "" if it could not be fetched */
};

/* body is NUL-terminated, valid during the callback; NULL on error.
   A non-200 status is an error (ERR_NOT_FOUND for 404, else ERR_SERVER /
   ERR_CLIENT with the status attached). */
typedef void (*imds_get_cb) (const char *body, size_t len, agent_error_t err, void *data);
typedef void (*imds_identity_cb) (const struct imds_identity *id, agent_error_t err, void *data);
typedef void (*imds_creds_cb) (const struct aws_credentials *creds, agent_error_t err, void *data);

imds_client_t *imds_client_new (uv_loop_t *loop, http_client_t *http,
                                const struct imds_options *opts, agent_error_t *err);
/* Base URL in use (no trailing slash). */
const char *imds_client_endpoint (const imds_client_t *c);
/* Whether the last request used IMDSv2 (tests). */
bool imds_client_used_v2 (const imds_client_t *c);
/* Cancels all calls in flight (no callbacks) and frees. */
void imds_client_free (imds_client_t *c);

/* GET <base><path> (path starts with '/'). Returns NULL and calls nothing on
   immediate failure (err set). */
imds_call_t *imds_get (imds_client_t *c, const char *path, imds_get_cb cb, void *data,
                       agent_error_t *err);
/* Document + signature; a failed signature fetch yields signature "". */
imds_call_t *imds_get_identity (imds_client_t *c, imds_identity_cb cb, void *data,
                                agent_error_t *err);
/* Role list then the first role's credentials (parsed). */
imds_call_t *imds_get_role_credentials (imds_client_t *c, imds_creds_cb cb, void *data,
                                        agent_error_t *err);
void imds_call_cancel (imds_call_t *call);

/* Pure parsers. */
int imds_identity_parse (const char *doc, size_t len, struct imds_identity *out, agent_error_t *err);
/* Frees the members (not the struct); zeroes it. */
void imds_identity_clear (struct imds_identity *id);
/* {"Code":"Success","AccessKeyId",...,"Expiration":"2015-05-19T12:00:00Z"}.
   Code other than "Success" or missing keys -> ERR_MALFORMED / ERR_AUTH. */
int imds_credentials_parse (const char *json, size_t len, struct aws_credentials **out,
                            agent_error_t *err);
/* First non-empty line of a role listing (newly allocated), NULL if none. */
char *imds_first_role (const char *body, size_t len);
/* RFC 3339 to whole seconds (core/time's parser, fraction dropped; Go's zero
   time gives 0); < 0 on error. */
int imds_parse_time (const char *s, time_t *out);

#endif
