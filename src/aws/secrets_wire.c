/* aws/secrets_wire.c - fetch plan, bodies, parsers, extraction and error
 * texts of the secret resources (see secrets_wire.h). */
#include "aws/secrets_wire.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deepest JSON value rendered in Go's text form. */
#define GO_TEXT_MAX_DEPTH 32

static void
wipe_free (char *s)
{
  if (!s)
    return;
  volatile char *p = s;
  for (size_t i = 0; s[i]; i++)
    p[i] = 0;
  free (s);
}

static bool
have_key (const struct task_secret_resource *have, const struct task_secret *s)
{
  if (!have)
    return false;
  cleanup_free char *k = task_secret_key (s);
  return task_secret_resource_get (have, k) != NULL;
}

/* ---- SSM ------------------------------------------------------------------ */

static bool
batches_hold (const struct aws_ssm_batch *b, size_t nb, const char *region, const char *name)
{
  for (size_t i = 0; i < nb; i++)
    if (strcmp (b[i].region, region) == 0)
      for (size_t k = 0; k < b[i].n; k++)
        if (strcmp (b[i].names[k], name) == 0)
          return true;
  return false;
}

size_t
aws_ssm_plan (const struct task_secret *const *secrets, size_t n,
              const struct task_secret_resource *have, struct aws_ssm_batch **out)
{
  struct aws_ssm_batch *b = xcalloc (n ? n : 1, sizeof *b); /* never more batches than names */
  size_t nb = 0;
  for (size_t i = 0; i < n; i++)
    {
      const struct task_secret *s = secrets[i];
      if (s->provider != TASK_SECRET_SSM)
        continue;
      /* a region already seen: its names were gathered with it */
      bool seen = false;
      for (size_t j = 0; j < i && !seen; j++)
        seen = secrets[j]->provider == TASK_SECRET_SSM && strcmp (secrets[j]->region, s->region) == 0;
      if (seen)
        continue;
      size_t first = nb;
      for (size_t j = i; j < n; j++)
        {
          const struct task_secret *x = secrets[j];
          if (x->provider != TASK_SECRET_SSM || strcmp (x->region, s->region) != 0
              || have_key (have, x) || batches_hold (b + first, nb - first, x->region, x->value_from))
            continue;
          if (nb == first || b[nb - 1].n == AWS_SSM_BATCH_MAX)
            b[nb++].region = s->region;
          b[nb - 1].names[b[nb - 1].n++] = x->value_from;
        }
    }
  *out = b;
  return nb;
}

char *
aws_ssm_request_body (const struct aws_ssm_batch *b)
{
  json_t *names = json_array ();
  for (size_t i = 0; i < b->n; i++)
    json_array_append_new (names, json_string (b->names[i]));
  json_t *o = json_pack ("{s:o,s:b}", "Names", names, "WithDecryption", 1);
  char *s = json_dumps (o, JSON_COMPACT);
  json_decref (o);
  return s;
}

void
aws_ssm_response_clear (struct aws_ssm_response *r)
{
  for (size_t i = 0; i < r->n_params; i++)
    {
      free (r->params[i].name);
      wipe_free (r->params[i].value);
    }
  free (r->params);
  for (size_t i = 0; i < r->n_invalid; i++)
    free (r->invalid[i]);
  free (r->invalid);
  memset (r, 0, sizeof *r);
}

/* obj.key as a string without NUL bytes; absent/null -> *out NULL. */
static int
opt_string (json_t *obj, const char *key, char **out)
{
  json_t *v = json_object_get (obj, key);
  *out = NULL;
  if (!v || json_is_null (v))
    return 0;
  if (!json_is_string (v) || strlen (json_string_value (v)) != json_string_length (v))
    return -1;
  *out = xstrdup (json_string_value (v));
  return 0;
}

static json_t *
load_object (const char *body, size_t len, const char *what, agent_error_t *err)
{
  json_error_t je;
  json_t *j = body ? json_loadb (body, len, 0, &je) : NULL;
  if (!json_is_object (j))
    {
      json_decref (j);
      error_set (err, ERR_MALFORMED, "%s: the answer is not a JSON object", what);
      return NULL;
    }
  return j;
}

static int
parse_params (json_t *a, struct aws_ssm_response *out, agent_error_t *err)
{
  if (!a || json_is_null (a))
    return 0;
  if (!json_is_array (a))
    return error_set (err, ERR_MALFORMED, "GetParameters: Parameters is not an array");
  out->params = xcalloc (json_array_size (a) + 1, sizeof *out->params);
  size_t i;
  json_t *p;
  json_array_foreach (a, i, p)
  {
    struct aws_ssm_param *x = &out->params[out->n_params];
    if (!json_is_object (p) || opt_string (p, "Name", &x->name) < 0 || !x->name
        || opt_string (p, "Value", &x->value) < 0)
      {
        free (x->name);
        x->name = NULL;
        return error_set (err, ERR_MALFORMED, "GetParameters: Parameters[%zu] has no string Name and Value",
                          i);
      }
    if (!x->value)
      x->value = xstrdup ("");
    out->n_params++;
  }
  return 0;
}

static int
parse_invalid (json_t *a, struct aws_ssm_response *out, agent_error_t *err)
{
  if (!a || json_is_null (a))
    return 0;
  if (!json_is_array (a))
    return error_set (err, ERR_MALFORMED, "GetParameters: InvalidParameters is not an array");
  out->invalid = xcalloc (json_array_size (a) + 1, sizeof *out->invalid);
  size_t i;
  json_t *v;
  json_array_foreach (a, i, v)
  {
    if (!json_is_string (v) || strlen (json_string_value (v)) != json_string_length (v))
      return error_set (err, ERR_MALFORMED, "GetParameters: InvalidParameters[%zu] is not a string", i);
    out->invalid[out->n_invalid++] = xstrdup (json_string_value (v));
  }
  return 0;
}

int
aws_ssm_parse_response (const char *body, size_t len, struct aws_ssm_response *out,
                        agent_error_t *err)
{
  memset (out, 0, sizeof *out);
  json_t *j = load_object (body, len, "GetParameters", err);
  if (!j)
    return -ERR_MALFORMED;
  int rc = 0;
  if (parse_params (json_object_get (j, "Parameters"), out, err) < 0
      || parse_invalid (json_object_get (j, "InvalidParameters"), out, err) < 0)
    {
      aws_ssm_response_clear (out);
      rc = -ERR_MALFORMED;
    }
  json_decref (j);
  return rc;
}

char *
aws_ssm_apply (const struct aws_ssm_response *r, const char *region,
               struct task_secret_resource *res)
{
  if (r->n_invalid)
    {
      struct sbuf b = { 0 };
      sbuf_puts (&b, "invalid parameters: ");
      for (size_t i = 0; i < r->n_invalid; i++)
        sbuf_printf (&b, "%s%s", i ? "," : "", r->invalid[i]);
      return sbuf_steal (&b);
    }
  for (size_t i = 0; i < r->n_params; i++)
    {
      cleanup_free char *k = xasprintf ("%s_%s", r->params[i].name, region);
      task_secret_resource_put (res, k, r->params[i].value);
    }
  return NULL;
}

char *
aws_ssm_error_text (const char *region, const char *e)
{
  return xasprintf ("fetching secret data from SSM Parameter Store in %s: %s", region, e);
}

/* ---- Secrets Manager -------------------------------------------------------- */

#define ASM_ARN_PARTS 7      /* arn:aws:secretsmanager:region:account:secret:name */
#define ASM_ARN_KEY_PARTS 10 /* ...:json-key:version-stage:version-id */

void
aws_asm_ref_clear (struct aws_asm_ref *r)
{
  free (r->secret_id);
  free (r->json_key);
  free (r->version_stage);
  free (r->version_id);
  memset (r, 0, sizeof *r);
}

static char *
nonempty_dup (const char *s, size_t n)
{
  return n ? xstrndup (s, n) : NULL;
}

int
aws_asm_parse_value_from (const char *v, struct aws_asm_ref *out, char **errtext)
{
  memset (out, 0, sizeof *out);
  *errtext = NULL;
  size_t parts = 1;
  const char *colon[ASM_ARN_KEY_PARTS];
  for (const char *p = v; *p; p++)
    if (*p == ':')
      {
        if (parts < ASM_ARN_KEY_PARTS)
          colon[parts - 1] = p;
        parts++;
      }
  if (parts == ASM_ARN_PARTS)
    {
      out->secret_id = xstrdup (v);
      return 0;
    }
  if (parts != ASM_ARN_KEY_PARTS)
    {
      *errtext = xasprintf ("trying to retrieve secret with value %s resulted in error: an invalid ARN "
                            "format for the AWS Secrets Manager secret was specified. Specify a valid "
                            "ARN and try again.",
                            v);
      return -1;
    }
  /* colon[6] ends the name, colon[7] the key, colon[8] the stage */
  out->secret_id = xstrndup (v, (size_t) (colon[6] - v));
  out->json_key = nonempty_dup (colon[6] + 1, (size_t) (colon[7] - colon[6] - 1));
  out->version_stage = nonempty_dup (colon[7] + 1, (size_t) (colon[8] - colon[7] - 1));
  out->version_id = nonempty_dup (colon[8] + 1, strlen (colon[8] + 1));
  return 0;
}

char *
aws_asm_request_body (const struct aws_asm_ref *r)
{
  json_t *o = json_pack ("{s:s}", "SecretId", r->secret_id);
  if (r->version_stage)
    json_object_set_new (o, "VersionStage", json_string (r->version_stage));
  if (r->version_id)
    json_object_set_new (o, "VersionId", json_string (r->version_id));
  char *s = json_dumps (o, JSON_COMPACT);
  json_decref (o);
  return s;
}

size_t
aws_asm_plan (const struct task_secret *const *secrets, size_t n,
              const struct task_secret_resource *have, size_t **idx)
{
  size_t *out = xcalloc (n ? n : 1, sizeof *out);
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    {
      const struct task_secret *s = secrets[i];
      if (s->provider != TASK_SECRET_ASM || have_key (have, s))
        continue;
      bool dup = false;
      for (size_t j = 0; j < k && !dup; j++)
        dup = strcmp (secrets[out[j]]->value_from, s->value_from) == 0
              && strcmp (secrets[out[j]]->region, s->region) == 0;
      if (!dup)
        out[k++] = i;
    }
  *idx = out;
  return k;
}

int
aws_asm_parse_response (const char *body, size_t len, char **secret_string, agent_error_t *err)
{
  *secret_string = NULL;
  json_t *j = load_object (body, len, "GetSecretValue", err);
  if (!j)
    return -ERR_MALFORMED;
  char *s = NULL;
  int rc = opt_string (j, "SecretString", &s);
  json_decref (j);
  if (rc < 0)
    return error_set (err, ERR_MALFORMED, "GetSecretValue: SecretString is not a string");
  *secret_string = s ? s : xstrdup ("");
  return 0;
}

/* ---- Go's default text form ---------------------------------------------------- */

void
aws_go_float_text (double v, char *buf, size_t len)
{
  if (v == 0)
    {
      snprintf (buf, len, "%s", signbit (v) ? "-0" : "0");
      return;
    }
  char e[40];
  for (int p = 1; p <= 17; p++)
    {
      snprintf (e, sizeof e, "%.*e", p - 1, v);
      if (strtod (e, NULL) == v)
        break;
    }
  /* e: [-]d[.ddd]e(+|-)xx -> the digits and the decimal exponent */
  bool neg = e[0] == '-';
  char digits[24];
  size_t nd = 0;
  const char *p = e + neg;
  for (; *p && *p != 'e'; p++)
    if (isdigit ((unsigned char) *p) && nd < sizeof digits - 1)
      digits[nd++] = *p;
  while (nd > 1 && digits[nd - 1] == '0')
    nd--;
  digits[nd] = '\0';
  int exp = *p == 'e' ? atoi (p + 1) : 0;
  struct sbuf b = { 0 };
  if (neg)
    sbuf_puts (&b, "-");
  if (exp < -4 || exp >= 6)
    {
      sbuf_printf (&b, "%c", digits[0]);
      if (nd > 1)
        sbuf_printf (&b, ".%s", digits + 1);
      sbuf_printf (&b, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    }
  else
    {
      int dp = exp + 1;
      if (dp <= 0)
        sbuf_printf (&b, "0.%.*s%s", -dp, "0000", digits);
      else if ((size_t) dp >= nd)
        sbuf_printf (&b, "%s%.*s", digits, dp - (int) nd, "000000");
      else
        sbuf_printf (&b, "%.*s.%s", dp, digits, digits + dp);
    }
  cleanup_free char *s = sbuf_steal (&b);
  snprintf (buf, len, "%s", s);
}

static int
key_cmp (const void *a, const void *b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* v as Go prints an interface{} encoding/json decoded; < 0 when too deep. */
static int
go_text (json_t *v, struct sbuf *b, int depth)
{
  if (depth > GO_TEXT_MAX_DEPTH)
    return -1;
  char num[40];
  switch (json_typeof (v))
    {
    case JSON_STRING:
      sbuf_puts (b, json_string_value (v));
      return 0;
    case JSON_INTEGER:
    case JSON_REAL:
      aws_go_float_text (json_number_value (v), num, sizeof num);
      sbuf_puts (b, num);
      return 0;
    case JSON_TRUE:
      sbuf_puts (b, "true");
      return 0;
    case JSON_FALSE:
      sbuf_puts (b, "false");
      return 0;
    case JSON_NULL:
      sbuf_puts (b, "<nil>");
      return 0;
    case JSON_ARRAY:
      {
        sbuf_puts (b, "[");
        size_t i;
        json_t *x;
        json_array_foreach (v, i, x)
        {
          if (i)
            sbuf_puts (b, " ");
          if (go_text (x, b, depth + 1) < 0)
            return -1;
        }
        sbuf_puts (b, "]");
        return 0;
      }
    case JSON_OBJECT:
      {
        size_t n = json_object_size (v), k = 0;
        cleanup_free const char **keys = xcalloc (n ? n : 1, sizeof *keys);
        const char *key;
        json_t *x;
        json_object_foreach (v, key, x)
        keys[k++] = key;
        qsort (keys, k, sizeof *keys, key_cmp);
        sbuf_puts (b, "map[");
        for (size_t i = 0; i < k; i++)
          {
            sbuf_printf (b, "%s%s:", i ? " " : "", keys[i]);
            if (go_text (json_object_get (v, keys[i]), b, depth + 1) < 0)
              return -1;
          }
        sbuf_puts (b, "]");
        return 0;
      }
    }
  return -1;
}

static const char *
go_kind (json_t *v)
{
  switch (json_typeof (v))
    {
    case JSON_STRING: return "string";
    case JSON_INTEGER:
    case JSON_REAL: return "number";
    case JSON_ARRAY: return "array";
    case JSON_TRUE:
    case JSON_FALSE: return "bool";
    default: return "value";
    }
}

int
aws_asm_extract (const char *secret_string, const char *json_key, char **value, char **errtext)
{
  *value = NULL;
  *errtext = NULL;
  if (!json_key || !*json_key)
    {
      *value = xstrdup (secret_string);
      return 0;
    }
  json_error_t je;
  json_t *j = json_loads (secret_string, JSON_DECODE_ANY, &je);
  if (!j)
    {
      /* jansson's message would quote part of the value */
      *errtext = xstrdup ("invalid character in the secret value: it is not valid JSON");
      return -1;
    }
  int rc = 0;
  if (!json_is_object (j) && !json_is_null (j))
    {
      *errtext = xasprintf ("json: cannot unmarshal %s into Go value of type map[string]interface {}",
                            go_kind (j));
      rc = -1;
    }
  else
    {
      json_t *m = json_is_object (j) ? json_object_get (j, json_key) : NULL;
      struct sbuf b = { 0 };
      if (!m)
        *errtext = xasprintf ("retrieved secret from Secrets Manager did not contain json key %s", json_key);
      else if (go_text (m, &b, 0) < 0)
        *errtext = xasprintf ("the value of json key %s is nested too deeply", json_key);
      else
        *value = sbuf_steal (&b);
      if (!*value)
        {
          rc = -1;
          wipe_free (sbuf_steal (&b));
        }
    }
  json_decref (j);
  return rc;
}

char *
aws_asm_error_text (const char *secret_id, bool not_found, const char *e)
{
  if (not_found)
    return xasprintf ("ResourceNotFoundException: The task can't retrieve the secret with ARN '%s' "
                      "from AWS Secrets Manager. Check whether the secret exists in the specified "
                      "Region: %s",
                      secret_id, e);
  return xasprintf ("secret %s: %s: %s", secret_id, e, e);
}

/* ---- both ---------------------------------------------------------------------- */

bool
aws_secrets_is_not_found (const char *e)
{
  static const char nf[] = "ResourceNotFoundException";
  return e && strncmp (e, nf, sizeof nf - 1) == 0 && (e[sizeof nf - 1] == ':' || e[sizeof nf - 1] == '\0');
}

char *
aws_secrets_reason (const char *text)
{
  size_t n = strlen (text ? text : "");
  char *r = xmalloc (n + 1);
  size_t k = 0;
  bool space = false;
  for (size_t i = 0; i < n; i++)
    {
      if (isspace ((unsigned char) text[i]))
        {
          space = k > 0;
          continue;
        }
      if (space)
        r[k++] = ' ';
      space = false;
      r[k++] = text[i];
    }
  r[k] = '\0';
  if (k && islower ((unsigned char) r[0]))
    r[0] = (char) toupper ((unsigned char) r[0]);
  return r;
}
