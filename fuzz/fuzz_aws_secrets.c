/* fuzz_aws_secrets.c - libFuzzer target for the secret resources' parsers
 * and extraction (aws/secrets_wire.h).
 *
 * Input: byte 0 selects the function (mod 4), the rest is its input:
 *   0 SSM GetParameters answer, then applied to a resource
 *   1 Secrets Manager GetSecretValue answer
 *   2 a SecretString and a json-key (split at the first NUL byte):
 *     the extraction in Go's text form
 *   3 a valueFrom (up to the first NUL): the ARN forms and the request body
 * Checked: no crash/leak/UB, err set iff < 0, outputs NULL on failure and
 * set on success, the request body parses back as a JSON object.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "aws/secrets_wire.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include "fuzz_util.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  const char *d = (const char *) data + 1;
  size_t n = size - 1;
  agent_error_t err = NULL;
  char *s = xmalloc (n + 1);
  memcpy (s, d, n);
  s[n] = '\0';
  switch (data[0] % 4)
    {
    case 0:
      {
        struct aws_ssm_response r;
        int rc = aws_ssm_parse_response (d, n, &r, &err);
        if (rc < 0 && (r.n_params || r.n_invalid))
          abort ();
        fuzz_check_err (rc, &err);
        struct task_secret_resource res = { 0 };
        char *e = aws_ssm_apply (&r, "us-east-1", &res);
        if ((e != NULL) != (r.n_invalid > 0))
          abort ();
        free (e);
        task_secret_resource_clear (&res);
        aws_ssm_response_clear (&r);
        break;
      }
    case 1:
      {
        char *ss = NULL;
        int rc = aws_asm_parse_response (d, n, &ss, &err);
        if ((rc == 0) != (ss != NULL))
          abort ();
        fuzz_check_err (rc, &err);
        free (ss);
        break;
      }
    case 2:
      {
        size_t l = strlen (s);
        const char *key = l < n ? s + l + 1 : "k";
        char *v = NULL, *e = NULL;
        int rc = aws_asm_extract (s, key, &v, &e);
        if ((rc == 0) != (v != NULL) || (rc < 0) != (e != NULL))
          abort ();
        free (v);
        free (e);
        break;
      }
    case 3:
      {
        struct aws_asm_ref r;
        char *e = NULL;
        int rc = aws_asm_parse_value_from (s, &r, &e);
        if ((rc == 0) != (r.secret_id != NULL) || (rc < 0) != (e != NULL))
          abort ();
        if (rc == 0)
          {
            char *body = aws_asm_request_body (&r);
            json_t *j = body ? json_loads (body, 0, NULL) : NULL;
            /* a valueFrom that is not UTF-8 cannot be sent as JSON */
            if (body && !json_is_object (j))
              abort ();
            json_decref (j);
            free (body);
          }
        free (e);
        aws_asm_ref_clear (&r);
        break;
      }
    }
  free (s);
  return 0;
}
