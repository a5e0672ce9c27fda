/* test_acs_manifest.c - which running tasks a TaskManifestMessage omits
 * (acs_manifest_stop_candidates), as a table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "acs/manifest.h"

static void
test_candidates_table (void **state)
{
  (void) state;
  struct acs_task_identifier listed[] = {
    { "arn:a", "c", "RUNNING" },
    { "arn:b", "c", "STOPPED" }, /* listed, but not as RUNNING */
    { NULL, "c", "RUNNING" },
    { "arn:d", "c", NULL },
  };
  struct acs_task_manifest m = { .message_id = "m1", .cluster_arn = "arn:cluster/x",
                                 .tasks = listed, .n_tasks = 4 };
  static const struct
  {
    const char *arn;
    bool running;
    bool want;
  } t[] = {
    { "arn:a", true, false },  /* expected: keep */
    { "arn:b", true, true },   /* backend wants it stopped */
    { "arn:c", true, true },   /* not listed at all */
    { "arn:d", true, true },   /* listed without a status */
    { "arn:e", false, false }, /* already stopping here */
    { NULL, true, false },
  };
  struct acs_manifest_task_view v[6];
  for (size_t i = 0; i < 6; i++)
    v[i] = (struct acs_manifest_task_view){ t[i].arn, t[i].running };
  struct acs_task_identifier *out = NULL;
  size_t n = acs_manifest_stop_candidates (&m, v, 6, &out);
  size_t k = 0;
  for (size_t i = 0; i < 6; i++)
    if (t[i].want)
      {
        assert_true (k < n);
        assert_string_equal (out[k].task_arn, t[i].arn);
        assert_string_equal (out[k].desired_status, "STOPPED");
        assert_string_equal (out[k].task_cluster_arn, "arn:cluster/x");
        k++;
      }
  assert_int_equal (n, k);
  acs_task_identifiers_free (out, n);

  /* an empty manifest: every running task is a candidate; no task: none */
  struct acs_task_manifest empty = { .message_id = "m2", .cluster_arn = "c" };
  n = acs_manifest_stop_candidates (&empty, v, 6, &out);
  assert_int_equal (n, 4);
  acs_task_identifiers_free (out, n);
  n = acs_manifest_stop_candidates (&empty, v, 0, &out);
  assert_int_equal (n, 0);
  assert_null (out);
}

int
main (void)
{
  const struct CMUnitTest tests[] = { cmocka_unit_test (test_candidates_table) };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
