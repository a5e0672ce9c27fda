/* fuzz_tcs_frame.c - libFuzzer target for tcs_decode (inbound TCS frames).
 * Checks the error contract: < 0 iff ERR_MALFORMED and nothing allocated;
 * on success a type name is always set. */
#include <stdint.h>
#include <stdlib.h>
#include "tcs/codec.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct tcs_inbound in;
  agent_error_t err = NULL;
  if (tcs_decode ((const char *) data, size, &in, &err) < 0)
    {
      if (!err || err->kind != ERR_MALFORMED || in.type_name || in.message)
        abort ();
      error_free (&err);
      return 0;
    }
  if (err || !in.type_name)
    abort ();
  tcs_inbound_clear (&in);
  return 0;
}
