/* Unit tests for ecs/attributes_runtime.c: which capability attributes hold
 * on Docker and on Podman (tables), the logging drivers kept, the filter
 * over a computed attribute list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "core/xmalloc.h"
#include "ecs/ecs.h"

#define CAP "com.amazonaws.ecs.capability."
#define ECAP "ecs.capability."

static void
test_holds_table (void **st)
{
  (void) st;
  static const struct
  {
    const char *name;
    bool docker, podman;
  } rows[] = {
    { CAP "logging-driver.json-file", true, true },
    { CAP "logging-driver.journald", true, true },
    { CAP "logging-driver.none", true, true },
    { CAP "logging-driver.syslog", true, false },
    { CAP "logging-driver.gelf", true, false },
    { CAP "logging-driver.fluentd", true, false },
    { CAP "logging-driver.awslogs", true, false },
    { CAP "logging-driver.splunk", true, false },
    { CAP "logging-driver.logentries", true, false },
    { CAP "logging-driver.sumologic", true, false },
    { CAP "logging-driver.", true, false },
    { ECAP "container-health-check", true, false },
    { CAP "privileged-container", true, true },
    { CAP "docker-remote-api.1.17", true, true },
    { CAP "docker-remote-api.1.32", true, true },
    { ECAP "container-ordering", true, true },
    { ECAP "network.container-port-range", true, true },
    { "ecs.os-type", true, true },
  };
  const struct ecs_runtime docker = { .podman = false }, podman = { .podman = true };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
    {
      if (ecs_runtime_capability_holds (&docker, rows[i].name) != rows[i].docker)
        fail_msg ("docker: %s", rows[i].name);
      if (ecs_runtime_capability_holds (&podman, rows[i].name) != rows[i].podman)
        fail_msg ("podman: %s", rows[i].name);
    }
}

static void
test_log_drivers (void **st)
{
  (void) st;
  const struct ecs_runtime docker = { .podman = false }, podman = { .podman = true };
  const char *d[] = { "json-file", "syslog", "awslogs", "journald", "none", "gelf" };
  assert_int_equal (ecs_runtime_log_drivers (&docker, d, 6), 6);
  assert_string_equal (d[1], "syslog");
  size_t n = ecs_runtime_log_drivers (&podman, d, 6);
  assert_int_equal (n, 3);
  assert_string_equal (d[0], "json-file");
  assert_string_equal (d[1], "journald");
  assert_string_equal (d[2], "none");
}

static void
test_filter (void **st)
{
  (void) st;
  struct task_option_gates g = { 0 };
  char d0[] = "json-file", d1[] = "syslog", d2[] = "awslogs", d3[] = "none";
  g.log_drivers[0] = d0;
  g.log_drivers[1] = d1;
  g.log_drivers[2] = d2;
  g.log_drivers[3] = d3;
  g.n_log_drivers = 4;
  size_t n = 0;
  struct ecs_attribute *a = ecs_option_attributes (&g, 41, true, &n);
  size_t n_docker = n;
  const struct ecs_runtime docker = { .podman = false }, podman = { .podman = true };
  ecs_runtime_attributes_filter (&docker, a, &n);
  assert_int_equal (n, n_docker);
  ecs_runtime_attributes_filter (&podman, a, &n);
  assert_int_equal (n, n_docker - 3); /* syslog, awslogs, container-health-check */
  bool json = false, none = false, priv = false, api = false;
  for (size_t i = 0; i < n; i++)
    {
      assert_true (ecs_runtime_capability_holds (&podman, a[i].name));
      json |= strcmp (a[i].name, CAP "logging-driver.json-file") == 0;
      none |= strcmp (a[i].name, CAP "logging-driver.none") == 0;
      priv |= strcmp (a[i].name, CAP "privileged-container") == 0;
      api |= strcmp (a[i].name, CAP "docker-remote-api.1.32") == 0;
    }
  assert_true (json && none && priv && api);
  ecs_attributes_free (a, n);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_holds_table),
    cmocka_unit_test (test_log_drivers),
    cmocka_unit_test (test_filter),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
