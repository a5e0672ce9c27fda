/* Unit tests for the container-option gates: the config keys
 * (config/config_options.c: names, defaults, bad values) and the capability
 * attributes they advertise (ecs/attributes_options.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config/config.h"
#include "core/xmalloc.h"
#include "ecs/ecs.h"

struct env
{
  const char *kv[12][2];
};

static const char *
env_get (const char *name, void *data)
{
  struct env *e = data;
  for (size_t i = 0; i < 12 && e->kv[i][0]; i++)
    if (strcmp (e->kv[i][0], name) == 0)
      return e->kv[i][1];
  return NULL;
}

static int
load (struct env *e, const char *proc, struct task_option_gates *g, char **warning, agent_error_t *err)
{
  memset (g, 0, sizeof *g);
  struct config_options_ctx x = { g, proc, NULL };
  int rc = config_load_options (&x, env_get, e, err);
  *warning = x.warning;
  return rc;
}

static void
test_config_keys (void **st)
{
  (void) st;
  struct task_option_gates g;
  char *w;
  agent_error_t err = NULL;
  /* defaults (no kernel range file) */
  struct env e0 = { { { NULL, NULL } } };
  assert_int_equal (load (&e0, "/nonexistent", &g, &w, &err), 0);
  assert_false (g.disable_privileged || g.selinux_capable || g.apparmor_capable || g.disable_health_check);
  assert_true (g.task_cpu_mem_limit);
  assert_true (g.exclude_ipv6_portbinding);
  assert_false (g.awslogs_execrole || g.propagate_task_memory);
  assert_int_equal (g.cgroup_cpu_period_ms, 100);
  assert_int_equal (g.n_log_drivers, 0);
  assert_true (task_log_driver_available (&g, "json-file"));
  assert_true (task_log_driver_available (&g, "none"));
  assert_false (task_log_driver_available (&g, "awslogs"));
  assert_int_equal (g.port_range_start, 49153);
  assert_int_equal (g.port_range_end, 65535);
  assert_null (w);
  task_option_gates_free (&g);
  /* the kernel's range is the default when readable */
  char path[] = "/tmp/test_option_gates_XXXXXX";
  int fd = mkstemp (path);
  assert_true (fd >= 0);
  assert_int_equal (write (fd, "32768\t60999\n", 12), 12);
  close (fd);
  assert_int_equal (load (&e0, path, &g, &w, &err), 0);
  assert_int_equal (g.port_range_start, 32768);
  assert_int_equal (g.port_range_end, 60999);
  task_option_gates_free (&g);
  /* every key set */
  struct env e1 = { { { "ECS_DISABLE_PRIVILEGED", "true" },
                      { "ECS_SELINUX_CAPABLE", "1" },
                      { "ECS_APPARMOR_CAPABLE", "t" },
                      { "ECS_ENABLE_TASK_CPU_MEM_LIMIT", "false" },
                      { "ECS_DISABLE_DOCKER_HEALTH_CHECK", "true" },
                      { "ECS_AVAILABLE_LOGGING_DRIVERS", "[\"json-file\",\"syslog\",\"awslogs\",\"syslog\"]" },
                      { "ECS_DYNAMIC_HOST_PORT_RANGE", "40000-40010" } } };
  assert_int_equal (load (&e1, path, &g, &w, &err), 0);
  assert_true (g.disable_privileged && g.selinux_capable && g.apparmor_capable && g.disable_health_check);
  assert_false (g.task_cpu_mem_limit);
  assert_int_equal (g.n_log_drivers, 3);
  assert_true (task_log_driver_available (&g, "awslogs"));
  assert_false (task_log_driver_available (&g, "none"));
  assert_int_equal (g.port_range_start, 40000);
  assert_int_equal (g.port_range_end, 40010);
  task_option_gates_free (&g);
  /* unknown driver: terminal; malformed list or range: default + warning */
  struct env e2 = { { { "ECS_AVAILABLE_LOGGING_DRIVERS", "[\"json-file\",\"nosuch\"]" } } };
  assert_true (load (&e2, path, &g, &w, &err) < 0);
  assert_int_equal (error_kind (&err), ERR_TERMINAL);
  assert_non_null (strstr (error_msg (&err), "unknown logging driver \"nosuch\""));
  error_free (&err);
  task_option_gates_free (&g);
  struct env e3 = { { { "ECS_AVAILABLE_LOGGING_DRIVERS", "json-file" },
                      { "ECS_DYNAMIC_HOST_PORT_RANGE", "9-2" } } };
  assert_int_equal (load (&e3, path, &g, &w, &err), 0);
  assert_int_equal (g.n_log_drivers, 0);
  assert_non_null (strstr (w, "ECS_DYNAMIC_HOST_PORT_RANGE"));
  assert_int_equal (g.port_range_start, 32768);
  free (w);
  task_option_gates_free (&g);
  /* how containers are reported and sized */
  struct env e5 = { { { "ECS_EXCLUDE_IPV6_PORTBINDING", "false" },
                      { "ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE", "true" },
                      { "ECS_PROPAGATE_TASK_MEMORY_LIMIT_CGROUPV2", "true" },
                      { "ECS_CGROUP_CPU_PERIOD", "10ms" } } };
  assert_int_equal (load (&e5, path, &g, &w, &err), 0);
  assert_int_equal (g.cgroup_cpu_period_ms, 10);
  assert_null (w);
  assert_false (g.exclude_ipv6_portbinding);
  assert_true (g.awslogs_execrole && g.propagate_task_memory);
  task_option_gates_free (&g);
  /* a period outside 8ms..100ms or unparsable: 100ms and a warning, as upstream */
  const char *bad_periods[] = { "7ms", "101ms", "1s", "soon" };
  for (size_t i = 0; i < 4; i++)
    {
      struct env ep = { { { "ECS_CGROUP_CPU_PERIOD", bad_periods[i] } } };
      assert_int_equal (load (&ep, path, &g, &w, &err), 0);
      assert_int_equal (g.cgroup_cpu_period_ms, 100);
      assert_non_null (strstr (w, "ECS_CGROUP_CPU_PERIOD"));
      free (w);
      task_option_gates_free (&g);
    }
  struct env e6 = { { { "ECS_EXCLUDE_IPV6_PORTBINDING", "nope" } } };
  assert_true (load (&e6, path, &g, &w, &err) < 0);
  assert_non_null (strstr (error_msg (&err), "ECS_EXCLUDE_IPV6_PORTBINDING"));
  error_free (&err);
  task_option_gates_free (&g);
  struct env e4 = { { { "ECS_DISABLE_PRIVILEGED", "maybe" } } };
  assert_true (load (&e4, path, &g, &w, &err) < 0);
  assert_non_null (strstr (error_msg (&err), "ECS_DISABLE_PRIVILEGED"));
  error_free (&err);
  task_option_gates_free (&g);
  unlink (path);
}

static bool
has (const struct ecs_attribute *a, size_t n, const char *name)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp (a[i].name, name) == 0)
      return true;
  return false;
}

#define C "com.amazonaws.ecs.capability."

static void
test_attributes (void **st)
{
  (void) st;
  struct task_option_gates g;
  task_option_gates_default (&g);
  size_t n;
  struct ecs_attribute *a = ecs_option_attributes (&g, 41, true, &n);
  assert_true (has (a, n, C "privileged-container"));
  assert_true (has (a, n, C "docker-remote-api.1.17"));
  assert_true (has (a, n, C "docker-remote-api.1.25"));
  assert_false (has (a, n, C "docker-remote-api.1.26"));
  assert_false (has (a, n, C "docker-remote-api.1.27"));
  assert_true (has (a, n, C "docker-remote-api.1.30"));
  assert_false (has (a, n, C "docker-remote-api.1.31"));
  assert_true (has (a, n, C "docker-remote-api.1.32"));
  assert_false (has (a, n, C "docker-remote-api.1.33"));
  assert_true (has (a, n, C "logging-driver.json-file"));
  assert_true (has (a, n, C "logging-driver.none"));
  assert_false (has (a, n, C "selinux"));
  assert_true (has (a, n, "ecs.capability.network.container-port-range"));
  assert_true (has (a, n, "ecs.capability.container-health-check"));
  assert_true (has (a, n, "ecs.capability.container-restart-policy"));
  assert_true (has (a, n, "ecs.capability.task-cpu-mem-limit"));
  assert_true (has (a, n, "ecs.capability.increased-task-cpu-limit"));
  assert_false (has (a, n, "ecs.capability.execution-role-awslogs"));
  ecs_attributes_free (a, n);
  g.task_cpu_mem_limit = false;
  g.awslogs_execrole = true;
  a = ecs_option_attributes (&g, 41, true, &n);
  assert_false (has (a, n, "ecs.capability.task-cpu-mem-limit"));
  assert_false (has (a, n, "ecs.capability.increased-task-cpu-limit"));
  assert_true (has (a, n, "ecs.capability.execution-role-awslogs"));
  ecs_attributes_free (a, n);

  g.disable_privileged = g.selinux_capable = g.apparmor_capable = g.disable_health_check = true;
  const char *drv[] = { "json-file", "journald", "sumologic", "awsfirelens" };
  for (size_t i = 0; i < 4; i++)
    g.log_drivers[g.n_log_drivers++] = xstrdup (drv[i]);
  a = ecs_option_attributes (&g, 24, false, &n); /* an old daemon: 1.24 */
  assert_false (has (a, n, C "privileged-container"));
  assert_true (has (a, n, C "selinux"));
  assert_true (has (a, n, C "apparmor"));
  assert_true (has (a, n, C "logging-driver.journald"));
  assert_false (has (a, n, C "logging-driver.sumologic"));   /* needs 1.29 */
  assert_false (has (a, n, C "logging-driver.awsfirelens")); /* no FireLens router */
  assert_false (has (a, n, C "logging-driver.none"));         /* not configured */
  assert_false (has (a, n, "ecs.capability.network.container-port-range"));
  assert_false (has (a, n, "ecs.capability.container-health-check"));
  assert_true (has (a, n, "ecs.capability.container-restart-policy")); /* always */
  ecs_attributes_free (a, n);
  task_option_gates_free (&g);

  assert_string_equal (ecs_cpu_architecture ("aarch64"), "arm64");
  assert_string_equal (ecs_cpu_architecture ("x86_64"), "x86_64");
  /* the user's attributes win over the option attributes */
  struct ecs_attribute *base = xcalloc (1, sizeof *base);
  base[0].name = xstrdup ("ecs.cpu-architecture");
  base[0].value = xstrdup ("mine");
  size_t nb = 1;
  struct ecs_attribute extra[] = { { "ecs.cpu-architecture", "x86_64" }, { C "selinux", NULL } };
  ecs_attributes_add_missing (&base, &nb, extra, 2);
  assert_int_equal (nb, 2);
  assert_string_equal (base[0].value, "mine");
  ecs_attributes_free (base, nb);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_config_keys),
    cmocka_unit_test (test_attributes),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
