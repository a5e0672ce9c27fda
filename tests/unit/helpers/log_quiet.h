/* helpers/log_quiet.h - cmocka setup / teardown for suites that only need
 * the log module quiet (LOG_NONE, no file) around each test: the secrets it
 * registered are dropped by the teardown's log_close.  Include after
 * <cmocka.h>. */
#ifndef TEST_HELPERS_LOG_QUIET_H
#define TEST_HELPERS_LOG_QUIET_H

#include "log/log.h"

static inline int
test_log_quiet_setup (void **state)
{
  (void) state;
  log_init (LOG_NONE, NULL, NULL);
  return 0;
}

static inline int
test_log_quiet_teardown (void **state)
{
  (void) state;
  log_close ();
  return 0;
}

#endif
