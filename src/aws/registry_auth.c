/* aws/registry_auth.c - ECR tokens and Secrets Manager registry credentials
 * without I/O (see registry_auth.h). */
#include "aws/registry_auth.h"
#include "aws/json_rpc.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

static void
wipe_free (char *s)
{
  if (!s)
    return;
  OPENSSL_cleanse (s, strlen (s));
  free (s);
}

static void
creds_register (const struct aws_registry_creds *c)
{
  if (c->password)
    log_secret_add (c->password);
}

void
aws_registry_creds_clear (struct aws_registry_creds *c)
{
  if (!c)
    return;
  if (c->password)
    log_secret_remove (c->password);
  free (c->username);
  wipe_free (c->password);
  free (c->serveraddress);
  memset (c, 0, sizeof *c);
}

static void
creds_copy (struct aws_registry_creds *dst, const struct aws_registry_creds *src)
{
  dst->username = src->username ? xstrdup (src->username) : NULL;
  dst->password = src->password ? xstrdup (src->password) : NULL;
  dst->serveraddress = src->serveraddress ? xstrdup (src->serveraddress) : NULL;
  dst->expires_at = src->expires_at;
  creds_register (dst);
}

/* ---- ECR ----------------------------------------------------------------- */

char *
aws_ecr_request_body (const char *registry_id)
{
  json_t *o = registry_id && *registry_id ? json_pack ("{s:[s]}", "registryIds", registry_id)
                                          : json_object ();
  char *s = o ? json_dumps (o, JSON_COMPACT) : NULL;
  json_decref (o);
  return s ? s : xstrdup ("{}");
}

char *
aws_ecr_endpoint (const char *endpoint_override, const char *region, agent_error_t *err)
{
  if (endpoint_override && *endpoint_override)
    {
      if (strstr (endpoint_override, "://"))
        return xstrdup (endpoint_override);
      return xasprintf ("https://%s", endpoint_override);
    }
  char *e = aws_service_endpoint ("ECR", region);
  if (!e)
    error_set (err, ERR_INVALID, "no ECR endpoint: the ECR auth data has no region");
  return e;
}

/* Base64 (standard alphabet, padded) with OpenSSL; NULL if invalid. */
static char *
b64_decode (const char *in, size_t *outlen)
{
  size_t n = strlen (in);
  if (n == 0 || n % 4 != 0 || n > (size_t) INT_MAX)
    return NULL;
  char *o = xmalloc (n / 4 * 3 + 1);
  int r = EVP_DecodeBlock ((unsigned char *) o, (const unsigned char *) in, (int) n);
  if (r < 0)
    {
      free (o);
      return NULL;
    }
  size_t k = (size_t) r;
  /* EVP_DecodeBlock counts the padding as zero bytes */
  for (size_t i = n; i > 0 && in[i - 1] == '=' && k > 0; i--)
    k--;
  o[k] = '\0';
  *outlen = k;
  return o;
}

int
aws_ecr_parse_response (const char *body, size_t len, struct aws_registry_creds *out,
                        agent_error_t *err)
{
  memset (out, 0, sizeof *out);
  json_error_t je;
  json_t *root = json_loadb (body ? body : "", len, 0, &je);
  json_t *ad = json_object_get (root, "authorizationData");
  if (!json_is_array (ad) || json_array_size (ad) != 1)
    {
      json_decref (root);
      return error_set (err, ERR_MALFORMED, "GetAuthorizationToken: expected exactly one "
                                            "authorizationData element");
    }
  json_t *d = json_array_get (ad, 0);
  json_t *tok = json_object_get (d, "authorizationToken");
  json_t *proxy = json_object_get (d, "proxyEndpoint");
  json_t *exp = json_object_get (d, "expiresAt");
  if (!json_is_string (tok) || !json_is_string (proxy) || json_string_length (proxy) == 0
      || strlen (json_string_value (proxy)) != json_string_length (proxy)
      || (exp && !json_is_number (exp)))
    {
      json_decref (root);
      return error_set (err, ERR_MALFORMED, "GetAuthorizationToken: authorizationData needs "
                                            "authorizationToken, proxyEndpoint and a numeric expiresAt");
    }
  size_t n = 0;
  char *plain = strlen (json_string_value (tok)) == json_string_length (tok)
                    ? b64_decode (json_string_value (tok), &n)
                    : NULL;
  char *colon = plain && strlen (plain) == n ? strchr (plain, ':') : NULL;
  if (!colon)
    {
      if (plain)
        OPENSSL_cleanse (plain, n);
      free (plain);
      json_decref (root);
      return error_set (err, ERR_MALFORMED, "GetAuthorizationToken: the authorization token is "
                                            "not base64 of user:password");
    }
  *colon = '\0';
  out->username = xstrdup (plain);
  out->password = xstrdup (colon + 1);
  out->serveraddress = xstrdup (json_string_value (proxy));
  double x = exp ? json_number_value (exp) : 0;
  out->expires_at = isfinite (x) && x > 0 ? x : 0;
  OPENSSL_cleanse (plain, n);
  free (plain);
  json_decref (root);
  creds_register (out);
  return 0;
}

char *
aws_ecr_cache_key (const char *credentials_id, const char *role_arn, const char *region,
                   const char *registry_id, const char *endpoint_override)
{
#define S(x) ((x) ? (x) : "")
  return xasprintf ("%s%s-%s-%s-%s", S (credentials_id), S (role_arn), S (region), S (registry_id),
                    S (endpoint_override));
#undef S
}

bool
aws_ecr_token_usable (double expires_at, time_t now, double r)
{
  if (r < 0 || !(r < 1))
    r = 0;
  double window = AWS_ECR_REFRESH_MIN_S + r * AWS_ECR_REFRESH_JITTER_S;
  return (double) now < expires_at - window;
}

struct ecr_entry
{
  char *key;
  struct aws_registry_creds creds;
  time_t added;
  TAILQ_ENTRY (ecr_entry) link; /* most recently used first */
};

struct aws_ecr_cache
{
  TAILQ_HEAD (ecr_lru, ecr_entry) lru;
  size_t n;
};

aws_ecr_cache_t *
aws_ecr_cache_new (void)
{
  aws_ecr_cache_t *c = xcalloc (1, sizeof *c);
  TAILQ_INIT (&c->lru);
  return c;
}

static void
entry_remove (aws_ecr_cache_t *c, struct ecr_entry *e)
{
  TAILQ_REMOVE (&c->lru, e, link);
  c->n--;
  aws_registry_creds_clear (&e->creds);
  free (e->key);
  free (e);
}

void
aws_ecr_cache_free (aws_ecr_cache_t *c)
{
  if (!c)
    return;
  while (!TAILQ_EMPTY (&c->lru))
    entry_remove (c, TAILQ_FIRST (&c->lru));
  free (c);
}

static struct ecr_entry *
entry_find (aws_ecr_cache_t *c, const char *key)
{
  struct ecr_entry *e;
  TAILQ_FOREACH (e, &c->lru, link)
  if (strcmp (e->key, key) == 0)
    return e;
  return NULL;
}

const struct aws_registry_creds *
aws_ecr_cache_get (aws_ecr_cache_t *c, const char *key, time_t now, double r)
{
  struct ecr_entry *e = entry_find (c, key);
  if (!e)
    return NULL;
  if (now - e->added >= AWS_ECR_CACHE_TTL_S || now < e->added
      || !aws_ecr_token_usable (e->creds.expires_at, now, r))
    {
      entry_remove (c, e);
      return NULL;
    }
  TAILQ_REMOVE (&c->lru, e, link);
  TAILQ_INSERT_HEAD (&c->lru, e, link);
  return &e->creds;
}

void
aws_ecr_cache_put (aws_ecr_cache_t *c, const char *key, const struct aws_registry_creds *creds,
                   time_t now)
{
  struct ecr_entry *e = entry_find (c, key);
  if (e)
    entry_remove (c, e);
  while (c->n >= AWS_ECR_CACHE_MAX)
    entry_remove (c, TAILQ_LAST (&c->lru, ecr_lru));
  e = xcalloc (1, sizeof *e);
  e->key = xstrdup (key);
  creds_copy (&e->creds, creds);
  e->added = now;
  TAILQ_INSERT_HEAD (&c->lru, e, link);
  c->n++;
}

size_t
aws_ecr_cache_size (const aws_ecr_cache_t *c)
{
  return c->n;
}

/* ---- Secrets Manager ------------------------------------------------------ */

char *
aws_sm_registry_request_body (const char *secret_id)
{
  json_t *o = json_pack ("{s:s}", "SecretId", secret_id ? secret_id : "");
  char *s = o ? json_dumps (o, JSON_COMPACT) : NULL;
  json_decref (o);
  return s ? s : xstrdup ("{}");
}

/* The member named key, case ignored (an exact match first), as Go's
   encoding/json finds a struct field. */
static json_t *
member_nocase (json_t *o, const char *key)
{
  json_t *v = json_object_get (o, key);
  if (v)
    return v;
  const char *k;
  json_object_foreach (o, k, v)
  {
    if (strcasecmp (k, key) == 0)
      return v;
  }
  return NULL;
}

#define SM_INVALID_SCHEMA "unable to unmarshal secret value, invalid schema"
#define SM_EMPTY_FIELD "AuthorizationData is malformed, empty field"

int
aws_sm_parse_registry_secret (const char *body, size_t len, struct aws_registry_creds *out,
                              const char **which, agent_error_t *err)
{
  memset (out, 0, sizeof *out);
  *which = NULL;
  json_error_t je;
  json_t *root = json_loadb (body ? body : "", len, 0, &je);
  json_t *ss = json_object_get (root, "SecretString");
  json_t *sec = json_is_string (ss) ? json_loadb (json_string_value (ss), json_string_length (ss),
                                                  JSON_DECODE_ANY, &je)
                                    : NULL;
  int rc = 0;
  json_t *u = member_nocase (sec, "username"), *p = member_nocase (sec, "password");
  if (!sec || !(json_is_object (sec) || json_is_null (sec)) || (u && !json_is_string (u) && !json_is_null (u))
      || (p && !json_is_string (p) && !json_is_null (p)))
    rc = error_set (err, ERR_MALFORMED, SM_INVALID_SCHEMA);
  else if (!json_is_string (u) || json_string_length (u) == 0)
    {
      *which = "username";
      rc = error_set (err, ERR_MALFORMED, SM_EMPTY_FIELD);
    }
  else if (!json_is_string (p) || json_string_length (p) == 0)
    {
      *which = "password";
      rc = error_set (err, ERR_MALFORMED, SM_EMPTY_FIELD);
    }
  else
    {
      out->username = xstrndup (json_string_value (u), json_string_length (u));
      out->password = xstrndup (json_string_value (p), json_string_length (p));
      creds_register (out);
    }
  json_decref (sec);
  json_decref (root);
  return rc;
}
