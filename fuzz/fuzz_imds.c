/* fuzz_imds.c - libFuzzer target for the instance metadata parsers
 * (aws/imds.h): identity document, role credentials, RFC 3339 times and
 * the role listing.  Byte 0 selects the parser (mod 4), the rest is input.
 * Checked: no crash/leak/UB, err set iff < 0, outputs complete on success
 * and empty on failure.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "aws/imds.h"
#include "core/xmalloc.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size < 1)
    return 0;
  const char *d = (const char *) data + 1;
  size_t n = size - 1;
  agent_error_t err = NULL;
  switch (data[0] % 4)
    {
    case 0:
      {
        struct imds_identity id;
        int rc = imds_identity_parse (d, n, &id, &err);
        if ((rc < 0) != (err != NULL))
          abort ();
        if (rc == 0 && (!id.instance_id || !id.region || !*id.region || !id.document || !id.signature))
          abort ();
        if (rc < 0 && (id.instance_id || id.document))
          abort ();
        imds_identity_clear (&id);
        break;
      }
    case 1:
      {
        struct aws_credentials *c = NULL;
        int rc = imds_credentials_parse (d, n, &c, &err);
        if ((rc < 0) != (err != NULL) || (rc == 0) != (c != NULL))
          abort ();
        if (c && (!c->access_key_id || !*c->access_key_id || !c->secret_access_key))
          abort ();
        aws_credentials_free (c);
        break;
      }
    case 2:
      {
        char *s = xstrndup (d, n);
        time_t t;
        imds_parse_time (s, &t);
        free (s);
        break;
      }
    case 3:
      {
        char *r = imds_first_role (d, n);
        if (r && (!*r || strchr (r, '/') || strchr (r, '\n')))
          abort ();
        free (r);
        break;
      }
    }
  error_free (&err);
  return 0;
}
