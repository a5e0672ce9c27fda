/* fuzz/fuzz_util.h - what the libFuzzer targets (fuzz_<name>.c) share.
 *   CHECK (c)            abort () unless c holds: libFuzzer reports the input.
 *   fuzz_check_err (rc, &err)   the error convention (core/error.h): err is
 *                        set iff rc < 0, with a message; frees it.
 */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <stdlib.h>
#include "core/error.h"

#define CHECK(c)                                                                              \
  do                                                                                          \
    {                                                                                         \
      if (!(c))                                                                               \
        abort ();                                                                             \
    }                                                                                         \
  while (0)

static inline void
fuzz_check_err (int rc, agent_error_t *err)
{
  CHECK ((rc < 0) == (*err != NULL));
  CHECK (rc >= 0 || error_msg (err));
  error_free (err);
}

#endif
