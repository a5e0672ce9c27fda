/* fuzz_aws_json.c - libFuzzer target for the AWS JSON 1.1 client's pure
 * parts (aws/json_rpc.h) and the registry credential answers
 * (aws/registry_auth.h).
 *
 * Input: byte 0 selects the function (mod 4), the rest is its input:
 *   0 error classification: byte 1 picks the HTTP status (100 + b*2), the
 *     rest is the response body
 *   1 endpoint resolution: the rest split at the first NUL gives the service
 *     id and the region
 *   2 ECR GetAuthorizationToken answer
 *   3 Secrets Manager GetSecretValue answer holding registry credentials
 * Checked: no crash/leak/UB, err set iff < 0, the error text is one line of
 * bounded length, an endpoint built from a region is https.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "aws/json_rpc.h"
#include "aws/registry_auth.h"
#include "core/xmalloc.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size < 2)
    return 0;
  const char *d = (const char *) data + 1;
  size_t n = size - 1;
  if (data[0] % 4 >= 2)
    {
      struct aws_registry_creds c;
      agent_error_t err = NULL;
      const char *which = NULL;
      int rc = data[0] % 4 == 2 ? aws_ecr_parse_response (d, n, &c, &err)
                                : aws_sm_parse_registry_secret (d, n, &c, &which, &err);
      if ((rc < 0) != (err != NULL) || (rc < 0 && (c.username || c.password)))
        abort ();
      if (rc == 0 && (!c.username || !c.password || (data[0] % 4 == 2 && !c.serveraddress)))
        abort ();
      if (rc == 0 && data[0] % 4 == 3 && (!*c.username || !*c.password))
        abort ();
      error_free (&err);
      aws_registry_creds_clear (&c);
      return 0;
    }
  if (data[0] % 4 == 0)
    {
      agent_error_t err = NULL;
      long status = 100 + (long) (unsigned char) d[0] * 2;
      char *type = NULL;
      int rc = aws_json_classify (status, d + 1, n - 1, &type, &err);
      if ((rc == 0) != (status >= 200 && status < 300) || (rc < 0) != (err != NULL))
        abort ();
      /* the type handed back is the one the message starts with */
      if (type && (rc == 0 || !*type || strncmp (error_msg (&err), type, strlen (type)) != 0))
        abort ();
      free (type);
      if (rc < 0)
        {
          int k = error_kind (&err);
          if (k != ERR_CLIENT && k != ERR_SERVER)
            abort ();
          const char *m = error_msg (&err);
          if (!m || strchr (m, '\n') || strchr (m, '\r') || strlen (m) > 2 * 1024 + 8)
            abort ();
          if (err->status != (int) status)
            abort ();
        }
      error_free (&err);
      return 0;
    }
  char *copy = xmalloc (n + 1);
  memcpy (copy, d, n);
  copy[n] = '\0';
  const char *id = copy;
  const char *region = strlen (copy) < n ? copy + strlen (copy) + 1 : NULL;
  unsetenv ("AWS_ENDPOINT_URL");
  char *e = aws_service_endpoint (id, region);
  if (e && strncmp (e, "https://", 8) != 0 && !getenv ("AWS_ENDPOINT_URL_ECR")
      && !getenv ("AWS_ENDPOINT_URL_SSM") && !getenv ("AWS_ENDPOINT_URL_SECRETS_MANAGER"))
    abort ();
  free (e);
  free (copy);
  return 0;
}
