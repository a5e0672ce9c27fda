/* aws/credentials.h - AWS credentials and the provider chain.
 *
 * Chain (as current upstream orders it): static credentials from the
 * environment (AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY, both non-empty, and
 * AWS_SESSION_TOKEN if set), else the EC2 instance role through IMDS
 * (aws/imds.h: IMDSv2 token first, v1 fallback; first role listed is used).
 * Role credentials are refreshed in the background with a uv timer before
 * they expire (refresh_before_s before expiry, or at half of the remaining
 * life when that is shorter; retried with backoff on failure) without ever
 * blocking the loop.  Every credential string is registered with
 * log_secret_add() and is never logged.  Single-threaded, on the agent loop.
 */
#ifndef AWS_CREDENTIALS_H
#define AWS_CREDENTIALS_H

#include <stdbool.h>
#include <time.h>
#include <uv.h>
#include "core/error.h"
#include "core/http.h"

struct aws_credentials
{
  char *access_key_id;
  char *secret_access_key;
  char *session_token; /* NULL if none */
  time_t expiration;   /* 0 = static (never expires) */
};

/* Deep copy (never NULL for a non-NULL input). */
struct aws_credentials *aws_credentials_dup (const struct aws_credentials *c);
/* Frees the members and the struct itself; NULL is fine. */
void aws_credentials_free (struct aws_credentials *c);
/* Register every member (key id, secret, token) with the log redactor. */
void aws_credentials_register_secrets (const struct aws_credentials *c);

typedef struct aws_creds_provider aws_creds_provider_t;

struct aws_creds_options
{
  /* Environment values (the caller passes getenv() results; NULL/"" = unset).
     With use_getenv the provider reads the environment itself instead. */
  const char *access_key_id;
  const char *secret_access_key;
  const char *session_token;
  bool use_getenv;
  /* IMDS base URL; NULL = AWS_EC2_METADATA_SERVICE_ENDPOINT or
     http://169.254.169.254 (see aws/imds.h). */
  const char *imds_endpoint;
  /* Refresh this long before expiry; 0 = 300 s (5 min).  When the remaining
     lifetime is shorter than twice this, refresh at half of it instead. */
  long refresh_before_s;
  /* Retry backoff for failed IMDS fetches; 0 = 1 s .. 60 s. */
  long retry_min_ms, retry_max_ms;
  /* Clock for tests; NULL = time(). */
  time_t (*now) (void);
  /* Disable instance-role fallback (tests, or env-only deployments). */
  bool no_imds;
};

/* creds is valid only during the callback (copy with aws_credentials_dup);
   on failure creds is NULL and err is set (the callee frees err). */
typedef void (*aws_creds_cb) (const struct aws_credentials *creds, agent_error_t err, void *data);

/* Creates the provider; with static env credentials they are available
   immediately.  With the instance role nothing is fetched until the first
   aws_creds_fetch(). */
aws_creds_provider_t *aws_creds_provider_new (uv_loop_t *loop, http_client_t *http,
                                              const struct aws_creds_options *opts,
                                              agent_error_t *err);
/* Current credentials, NULL until the first successful fetch.  The pointer is
   valid until the next return to the loop (a refresh may replace it). */
const struct aws_credentials *aws_creds_current (aws_creds_provider_t *p);
/* Get valid credentials: calls cb immediately (synchronously) when static or
   when the cached credentials are not about to expire, otherwise after an
   async IMDS fetch (concurrent requests share one fetch).  cb is never
   called after aws_creds_provider_free(). */
void aws_creds_fetch (aws_creds_provider_t *p, aws_creds_cb cb, void *data);
/* Drop a pending aws_creds_fetch callback registered with (cb, data). */
void aws_creds_fetch_cancel (aws_creds_provider_t *p, aws_creds_cb cb, void *data);
/* Forget the cached role credentials (e.g. after ExpiredTokenException) so
   the next aws_creds_fetch goes to IMDS.  No-op for static credentials. */
void aws_creds_invalidate (aws_creds_provider_t *p);
/* Is it static (env) credentials? */
bool aws_creds_is_static (const aws_creds_provider_t *p);
/* When the next background refresh is scheduled (wall-clock seconds), 0 = none. */
time_t aws_creds_next_refresh (const aws_creds_provider_t *p);
/* The refresh time rule exposed for tests: when to refresh credentials that
   expire at `expiration`, fetched at `now`, given refresh_before_s. */
time_t aws_creds_refresh_at (time_t now, time_t expiration, long refresh_before_s);
/* Cancels everything in flight (no callbacks) and frees. */
void aws_creds_provider_free (aws_creds_provider_t *p);

#endif
