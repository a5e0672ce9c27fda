/* aws/secrets_wire.h - what fetching a task's secrets means, without I/O:
 * the fetch plan, the request bodies, the response parsers, the value
 * extraction and the error texts, for SSM Parameter Store (GetParameters)
 * and Secrets Manager (GetSecretValue).  aws/secrets_fetch.h runs them.
 *
 * Contract (upstream's ssmsecret / asmsecret resources):
 *  - SSM: a provider's secrets are grouped by region (first-seen order);
 *    names whose "<valueFrom>_<region>" key the resource holds already, and
 *    repeated names, are left out; the rest go in batches of at most
 *    AWS_SSM_BATCH_MAX names.  Each batch is one GetParameters {Names,
 *    WithDecryption: true}.  A non-empty InvalidParameters is the batch's
 *    error "invalid parameters: <n1>,<n2>"; otherwise each Parameter's value
 *    is kept under "<Name as returned>_<region>" (a name SSM does not
 *    return is an empty value when injected, not an error).  A failed call
 *    reads "fetching secret data from SSM Parameter Store in <region>: <e>".
 *  - Secrets Manager: one GetSecretValue per distinct "<valueFrom>_<region>".
 *    valueFrom split at ':' has 7 parts (the secret's ARN: SecretId =
 *    valueFrom) or 10 (ARN:json-key:version-stage:version-id, parts may be
 *    empty: SecretId = the first 7 parts, VersionStage / VersionId when not
 *    empty); any other shape is an error.  With a json-key the SecretString
 *    must be a JSON object holding that member; its value is used, a
 *    non-string rendered as Go's fmt %v renders what encoding/json decoded
 *    (numbers as float64, "map[k:v ...]" with sorted keys, "[a b]", <nil>).
 *  - Per-secret errors of a resource are joined with ";"; the task's reason
 *    is that text with its first letter capitalised and every run of
 *    whitespace collapsed to one space (aws_secrets_reason).
 *  - No error text ever holds a secret value (a JSON error does not quote
 *    the SecretString).  Response values are wiped when freed.
 */
#ifndef AWS_SECRETS_WIRE_H
#define AWS_SECRETS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include "core/error.h"
#include "task/secrets.h"

#define AWS_SSM_BATCH_MAX 10
#define AWS_SSM_TARGET "AmazonSSM.GetParameters"
#define AWS_ASM_TARGET "secretsmanager.GetSecretValue"

#define AWS_SSM_NO_CREDS "ssm secret resource: unable to find execution role credentials"
#define AWS_ASM_NO_CREDS "ASM secret resource: unable to find execution role credentials"

/* ---- SSM Parameter Store ----------------------------------------------- */

struct aws_ssm_batch
{
  const char *region;                      /* borrowed from the secrets */
  const char *names[AWS_SSM_BATCH_MAX];    /* borrowed from the secrets */
  size_t n;
};

/* The SSM secrets among secrets[n] (others are skipped), minus what have
   holds (NULL = nothing), as batches (*out malloc'd, borrowing from
   secrets).  Returns the number of batches. */
size_t aws_ssm_plan (const struct task_secret *const *secrets, size_t n,
                     const struct task_secret_resource *have, struct aws_ssm_batch **out);
/* {"Names":[...],"WithDecryption":true} (malloc'd). */
char *aws_ssm_request_body (const struct aws_ssm_batch *b);

struct aws_ssm_param
{
  char *name;
  char *value; /* secret */
};

struct aws_ssm_response
{
  struct aws_ssm_param *params;
  size_t n_params;
  char **invalid;
  size_t n_invalid;
};

/* GetParameters' answer.  Parameters: objects with string Name and Value
   (other members ignored); InvalidParameters: strings; either may be absent
   or null.  ERR_MALFORMED otherwise (the text never quotes the body). */
int aws_ssm_parse_response (const char *body, size_t len, struct aws_ssm_response *out,
                            agent_error_t *err);
void aws_ssm_response_clear (struct aws_ssm_response *r);
/* The batch's outcome: InvalidParameters -> its error text (malloc'd);
   else NULL, and every value put in res under "<Name>_<region>". */
char *aws_ssm_apply (const struct aws_ssm_response *r, const char *region,
                     struct task_secret_resource *res);
/* "fetching secret data from SSM Parameter Store in <region>: <e>". */
char *aws_ssm_error_text (const char *region, const char *e);

/* ---- Secrets Manager ----------------------------------------------------- */

struct aws_asm_ref
{
  char *secret_id;
  char *json_key;      /* NULL = the whole SecretString */
  char *version_stage; /* NULL = not sent */
  char *version_id;    /* NULL = not sent */
};

/* valueFrom -> the request; < 0 with *errtext "trying to retrieve secret
   with value <v> resulted in error: ..." (malloc'd) for another shape. */
int aws_asm_parse_value_from (const char *value_from, struct aws_asm_ref *out, char **errtext);
void aws_asm_ref_clear (struct aws_asm_ref *r);
/* {"SecretId":..,"VersionStage"?:..,"VersionId"?:..} (malloc'd). */
char *aws_asm_request_body (const struct aws_asm_ref *r);
/* The indices of the ASM secrets among secrets[n] whose key is neither in
   have nor repeated (first one kept); *idx malloc'd.  Returns how many. */
size_t aws_asm_plan (const struct task_secret *const *secrets, size_t n,
                     const struct task_secret_resource *have, size_t **idx);
/* GetSecretValue's answer: SecretString (a string; absent, e.g. a binary
   secret, reads as "").  ERR_MALFORMED otherwise. */
int aws_asm_parse_response (const char *body, size_t len, char **secret_string,
                            agent_error_t *err);
/* The value for ref from secret_string: all of it without a json-key, else
   the member's value (Go's default text form for a non-string).  < 0 with
   *errtext (malloc'd) when the string is no JSON object or lacks the key. */
int aws_asm_extract (const char *secret_string, const char *json_key, char **value, char **errtext);
/* A failed call for secret_id: the service's ResourceNotFoundException
   (not_found) gives upstream's long text naming the ARN, anything else
   "secret <id>: <e>: <e>".  malloc'd. */
char *aws_asm_error_text (const char *secret_id, bool not_found, const char *e);

/* ---- both ------------------------------------------------------------------ */

/* Is e (a call's error text "<__type>: <message>") the service's
   ResourceNotFoundException? */
bool aws_secrets_is_not_found (const char *e);
/* Go's fmt %v of a float64: the shortest digits that read back, as %e
   when the decimal exponent is below -4 or at least 6 ("1e+06",
   "1.5e-05"), else plain ("123456", "0.001").  Into buf (32 bytes do). */
void aws_go_float_text (double v, char *buf, size_t len);
/* The task's reason for an error text: first letter upper-cased, runs of
   whitespace collapsed to one space, ends trimmed.  malloc'd. */
char *aws_secrets_reason (const char *text);

#endif
