/* fuzz_spot_action.c - libFuzzer target for aws_spot_action_parse (the IMDS
 * spot instance-action notice).  < 0 iff ERR_MALFORMED; on success the
 * action is one of the three names. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "aws/spot.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct aws_spot_action a;
  agent_error_t err = NULL;
  if (aws_spot_action_parse ((const char *) data, size, &a, &err) < 0)
    {
      if (!err || err->kind != ERR_MALFORMED)
        abort ();
      error_free (&err);
      return 0;
    }
  if (err || (strcmp (a.action, "terminate") && strcmp (a.action, "stop") && strcmp (a.action, "hibernate")))
    abort ();
  return 0;
}
