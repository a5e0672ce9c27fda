/* ecs/attributes_options.c - the capability attributes of the container
 * options this agent runs (see ecs.h, ecs_option_attributes). */
#include "core/util.h"
#include "core/xmalloc.h"
#include "ecs/ecs.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#define CAP "com.amazonaws.ecs.capability."
#define ECAP "ecs.capability."

/* The Docker API minor version each logging driver needs (upstream's
   table); 0 = never advertised (awsfirelens needs a FireLens router this
   agent does not run). */
static int
driver_min_minor (const char *d)
{
  static const struct
  {
    const char *name;
    int minor;
  } t[] = { { "json-file", 18 }, { "syslog", 18 }, { "journald", 19 }, { "none", 19 },
            { "gelf", 20 },      { "fluentd", 20 }, { "awslogs", 21 }, { "splunk", 22 },
            { "logentries", 25 }, { "sumologic", 29 } };
  for (size_t i = 0; i < ARRAY_SIZE (t); i++)
    if (strcmp (t[i].name, d) == 0)
      return t[i].minor;
  return 0;
}

bool
ecs_docker_api_version_advertised (int minor)
{
  return minor >= 17 && minor < 33 && minor != 26 && minor != 27 && minor != 31;
}

static void
add (struct ecs_attribute **a, size_t *n, const char *name, const char *value)
{
  *a = xrealloc (*a, (*n + 1) * sizeof **a);
  (*a)[*n].name = xstrdup (name);
  (*a)[*n].value = value ? xstrdup (value) : NULL;
  (*n)++;
}

const char *
ecs_cpu_architecture (const char *machine)
{
  if (!machine)
    return "x86_64";
  if (strcmp (machine, "aarch64") == 0 || strcmp (machine, "arm64") == 0)
    return "arm64";
  return machine;
}

size_t
ecs_option_drivers (const struct task_option_gates *g, int api_minor, const char **out,
                    size_t max)
{
  static const char *const def[] = { "json-file", "none" };
  size_t k = 0;
  size_t n = g->n_log_drivers ? g->n_log_drivers : ARRAY_SIZE (def);
  for (size_t i = 0; i < n && k < max; i++)
    {
      const char *d = g->n_log_drivers ? g->log_drivers[i] : def[i];
      int m = driver_min_minor (d);
      if (m && api_minor >= m)
        out[k++] = d;
    }
  return k;
}

struct ecs_attribute *
ecs_option_attributes (const struct task_option_gates *g, int api_minor, bool port_ranges,
                       size_t *n)
{
  struct ecs_attribute *a = NULL;
  *n = 0;
  if (!g->disable_privileged)
    add (&a, n, CAP "privileged-container", NULL);
  for (int m = 17; m <= api_minor; m++)
    if (ecs_docker_api_version_advertised (m))
      {
        cleanup_free char *nm = xasprintf (CAP "docker-remote-api.1.%d", m);
        add (&a, n, nm, NULL);
      }
  const char *drv[TASK_LOG_DRIVERS_MAX];
  size_t nd = ecs_option_drivers (g, api_minor, drv, ARRAY_SIZE (drv));
  for (size_t i = 0; i < nd; i++)
    {
      cleanup_free char *nm = xasprintf (CAP "logging-driver.%s", drv[i]);
      add (&a, n, nm, NULL);
    }
  if (g->selinux_capable)
    add (&a, n, CAP "selinux", NULL);
  if (g->apparmor_capable)
    add (&a, n, CAP "apparmor", NULL);
  if (port_ranges)
    add (&a, n, ECAP "network.container-port-range", NULL);
  if (g->task_cpu_mem_limit && api_minor >= 22)
    {
      add (&a, n, ECAP "task-cpu-mem-limit", NULL);
      /* task cpu above upstream's old 10 vCPU maximum (engine/cgroup.h has none) */
      add (&a, n, ECAP "increased-task-cpu-limit", NULL);
    }
  /* dependsOn (engine/depends.h) */
  add (&a, n, ECAP "container-ordering", NULL);
  /* restartPolicy (engine/restart.h), always */
  add (&a, n, ECAP "container-restart-policy", NULL);
  /* container health reaches ECS over TCS (tcs/collector.h) */
  if (!g->disable_health_check)
    add (&a, n, ECAP "container-health-check", NULL);
  /* logsAuthStrategy ExecutionRole (engine/log_opts.h) */
  if (g->awslogs_execrole)
    add (&a, n, ECAP "execution-role-awslogs", NULL);
  return a;
}

void
ecs_attributes_add_missing (struct ecs_attribute **a, size_t *n, const struct ecs_attribute *extra,
                            size_t n_extra)
{
  for (size_t i = 0; i < n_extra; i++)
    {
      bool have = false;
      for (size_t k = 0; k < *n && !have; k++)
        have = strcmp ((*a)[k].name, extra[i].name) == 0;
      if (!have)
        add (a, n, extra[i].name, extra[i].value);
    }
}

const char *
ecs_host_machine (char *buf, size_t len)
{
  struct utsname u;
  if (uname (&u) < 0)
    return NULL;
  snprintf (buf, len, "%s", u.machine);
  return buf;
}
