/* helpers/fixture.h - fixtures for the cmocka suites: samples under
 * $SHARED_DIR (scripts/test-all.sh exports it) and files of the repository.
 * A fixture that cannot be read FAILS the running test with the path and
 * the reason: a missing sample never lets a test pass having asserted
 * nothing.  Include after <cmocka.h>. */
#ifndef TEST_HELPERS_FIXTURE_H
#define TEST_HELPERS_FIXTURE_H

#include <stdlib.h>
#include "core/util.h"
#include "core/xmalloc.h"
#include "helpers/child.h"

static inline char *
test_fixture_read (const char *dir, const char *rel, size_t *len)
{
  char *path = xasprintf ("%s/%s", dir, rel);
  char *s = NULL;
  size_t n = 0;
  agent_error_t err = NULL;
  char msg[512] = "";
  if (util_read_file (path, &s, &n, &err) < 0)
    snprintf (msg, sizeof msg, "fixture %s: %s", path, error_msg (&err));
  free (path);
  error_free (&err);
  if (msg[0])
    fail_msg ("%s", msg);
  if (len)
    *len = n;
  return s;
}

/* $SHARED_DIR/<rel>, e.g. "protocol/samples/x.json" (caller frees). */
static inline char *
test_fixture_shared (const char *rel, size_t *len)
{
  const char *sd = getenv ("SHARED_DIR");
  if (sd == NULL || sd[0] == '\0')
    fail_msg ("SHARED_DIR is not set: cannot read the fixture %s", rel);
  return test_fixture_read (sd, rel, len);
}

/* <repository root>/<rel>, e.g. "fuzz/corpus/..." (caller frees). */
static inline char *
test_fixture_repo (const char *rel, size_t *len)
{
  const char *root = test_repo_root ();
  if (root == NULL)
    fail_msg ("repository root not found from the working directory: cannot read %s", rel);
  return test_fixture_read (root, rel, len);
}

#endif
