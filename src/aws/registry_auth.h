/* aws/registry_auth.h - registry credentials from AWS, without I/O: ECR
 * GetAuthorizationToken (request, answer, the token's user and password,
 * the endpoint) with upstream's token cache, and private registry
 * credentials kept in Secrets Manager (GetSecretValue request, the
 * SecretString's username / password).  engine/pull_auth.c runs the calls.
 *
 * Contract (upstream's dockerauth/ecr.go, ecr/client.go, asmauth):
 *  - ECR answer: exactly one authorizationData element with a non-empty
 *    authorizationToken (base64 of "<user>:<password>", split at the first
 *    ':') and proxyEndpoint; expiresAt is epoch seconds (a number; absent =
 *    0, i.e. never cached).  Anything else is ERR_MALFORMED.
 *  - Cache: at most AWS_ECR_CACHE_MAX entries (least recently used evicted
 *    first), each kept AWS_ECR_CACHE_TTL_S after it was added; an entry is
 *    used only while now < expiresAt - (30 min + r * 30 min), r in [0, 1)
 *    drawn anew by the caller at each lookup; otherwise it is evicted.
 *    Key: "<credentialsId><roleArn>-<region>-<registryId>-<endpointOverride>"
 *    (the credential parts empty for the instance's own credentials).
 *  - Secrets Manager: SecretString must be a JSON object whose "username"
 *    and "password" members (key case ignored) are non-empty strings; the
 *    error texts are upstream's.
 *  - Secrets: tokens and passwords are registered with log_secret_add()
 *    while a parsed result or a cache entry holds them, wiped and
 *    unregistered when freed; no error text quotes them.
 */
#ifndef AWS_REGISTRY_AUTH_H
#define AWS_REGISTRY_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include "core/error.h"

#define AWS_ECR_TARGET "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"
#define AWS_ECR_SIGNING_NAME "ecr"
#define AWS_ECR_CACHE_MAX 100
#define AWS_ECR_CACHE_TTL_S (12 * 3600)
#define AWS_ECR_REFRESH_MIN_S (30 * 60)   /* refresh window: 30 min ... */
#define AWS_ECR_REFRESH_JITTER_S (30 * 60) /* ... plus up to 30 min more */

/* A registry's credentials (what goes into X-Registry-Auth). */
struct aws_registry_creds
{
  char *username;
  char *password;      /* secret */
  char *serveraddress; /* ECR proxyEndpoint; NULL for Secrets Manager */
  double expires_at;   /* ECR: epoch seconds; 0 = unknown */
};

/* Wipes the password and unregisters it; zeroes *c. */
void aws_registry_creds_clear (struct aws_registry_creds *c);

/* ---- ECR ----------------------------------------------------------------- */

/* {"registryIds":["<id>"]}, or {} when registry_id is NULL/"" (malloc'd). */
char *aws_ecr_request_body (const char *registry_id);
/* The endpoint of the ECR call: endpoint_override with "https://" put in
   front when it has no scheme; else aws_service_endpoint ("ECR", region).
   NULL (err set) when neither gives one. */
char *aws_ecr_endpoint (const char *endpoint_override, const char *region, agent_error_t *err);
/* Parse GetAuthorizationToken's answer into *out (registered secrets). */
int aws_ecr_parse_response (const char *body, size_t len, struct aws_registry_creds *out,
                            agent_error_t *err);
/* The cache key described above (malloc'd). */
char *aws_ecr_cache_key (const char *credentials_id, const char *role_arn, const char *region,
                         const char *registry_id, const char *endpoint_override);
/* May a token expiring at expires_at be used at now, r in [0, 1)? */
bool aws_ecr_token_usable (double expires_at, time_t now, double r);

typedef struct aws_ecr_cache aws_ecr_cache_t;
aws_ecr_cache_t *aws_ecr_cache_new (void);
void aws_ecr_cache_free (aws_ecr_cache_t *c);
/* The usable entry for key (its use refreshes its LRU rank), or NULL after
   evicting a stale / expired one.  Valid until the next cache call. */
const struct aws_registry_creds *aws_ecr_cache_get (aws_ecr_cache_t *c, const char *key, time_t now,
                                                    double r);
/* Add or replace key with a copy of creds (added at now). */
void aws_ecr_cache_put (aws_ecr_cache_t *c, const char *key, const struct aws_registry_creds *creds,
                        time_t now);
size_t aws_ecr_cache_size (const aws_ecr_cache_t *c);

/* ---- Secrets Manager ------------------------------------------------------ */

#define AWS_SM_TARGET "secretsmanager.GetSecretValue"
#define AWS_SM_SIGNING_NAME "secretsmanager"

/* {"SecretId":"<id>"} (malloc'd). */
char *aws_sm_registry_request_body (const char *secret_id);
/* GetSecretValue's answer -> username / password (registered secrets).
   A missing or non-string SecretString, or one that is not such an object:
   "unable to unmarshal secret value, invalid schema"; an empty member:
   "AuthorizationData is malformed, empty field" (wrapped by the caller as
   upstream does, engine/pull_auth.c). *which is set to "username" or
   "password" for the latter, else NULL. */
int aws_sm_parse_registry_secret (const char *body, size_t len, struct aws_registry_creds *out,
                                  const char **which, agent_error_t *err);

#endif
