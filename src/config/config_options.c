/* config/config_options.c - the keys that gate container options
 * (task/options.h), read by config_load() (see config.h). */
#include "config/config.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *
env_value (config_getenv_fn env, void *d, const char *key)
{
  const char *v = env (key, d);
  if (v == NULL)
    return NULL;
  for (const char *p = v; *p; p++)
    if (!isspace ((unsigned char) *p))
      return v;
  return NULL;
}

static int
env_bool (config_getenv_fn env, void *d, const char *key, bool *out, agent_error_t *err)
{
  const char *v = env_value (env, d, key);
  if (v && config_parse_bool (v, out, err) < 0)
    {
      error_wrap (err, "%s", key);
      (*err)->kind = ERR_TERMINAL;
      return -1;
    }
  return 0;
}

/* /proc/sys/net/ipv4/ip_local_port_range ("a\tb"), else 49153-65535. */
static void
default_port_range (struct task_option_gates *g, const char *proc_path)
{
  g->port_range_start = 49153;
  g->port_range_end = 65535;
  FILE *f = proc_path ? fopen (proc_path, "re") : NULL;
  if (!f)
    return;
  unsigned a, b;
  if (fscanf (f, "%u %u", &a, &b) == 2 && a >= 1 && a <= b && b <= 65535)
    {
      g->port_range_start = (uint16_t) a;
      g->port_range_end = (uint16_t) b;
    }
  fclose (f);
}

static int
log_drivers (struct config_options_ctx *x, const char *v, agent_error_t *err)
{
  struct task_option_gates *g = x->gates;
  json_error_t jerr;
  json_t *a = json_loads (v, 0, &jerr);
  if (!json_is_array (a))
    {
      json_decref (a);
      free (x->warning);
      x->warning = xasprintf ("ECS_AVAILABLE_LOGGING_DRIVERS: not a JSON array of names; using the "
                              "default [\"json-file\",\"none\"]");
      return 0;
    }
  size_t i;
  json_t *e;
  json_array_foreach (a, i, e)
  {
    const char *name = json_string_value (e);
    if (!name || !task_log_driver_known (name))
      {
        error_set (err, ERR_TERMINAL, "ECS_AVAILABLE_LOGGING_DRIVERS: unknown logging driver %s%s%s",
                   name ? "\"" : "", name ? name : "(not a string)", name ? "\"" : "");
        json_decref (a);
        return -1;
      }
    bool dup = false;
    for (size_t k = 0; k < g->n_log_drivers; k++)
      dup = dup || strcmp (g->log_drivers[k], name) == 0;
    if (!dup && g->n_log_drivers < TASK_LOG_DRIVERS_MAX)
      g->log_drivers[g->n_log_drivers++] = xstrdup (name);
  }
  json_decref (a);
  return 0;
}

int
config_load_options (struct config_options_ctx *x, config_getenv_fn env, void *d,
                     agent_error_t *err)
{
  struct task_option_gates *g = x->gates;
  task_option_gates_free (g);
  task_option_gates_default (g);
  default_port_range (g, x->proc_port_range);
  if (env_bool (env, d, "ECS_DISABLE_PRIVILEGED", &g->disable_privileged, err) < 0
      || env_bool (env, d, "ECS_SELINUX_CAPABLE", &g->selinux_capable, err) < 0
      || env_bool (env, d, "ECS_APPARMOR_CAPABLE", &g->apparmor_capable, err) < 0
      || env_bool (env, d, "ECS_ENABLE_TASK_CPU_MEM_LIMIT", &g->task_cpu_mem_limit, err) < 0
      || env_bool (env, d, "ECS_DISABLE_DOCKER_HEALTH_CHECK", &g->disable_health_check, err) < 0
      || env_bool (env, d, "ECS_EXCLUDE_IPV6_PORTBINDING", &g->exclude_ipv6_portbinding, err) < 0
      || env_bool (env, d, "ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE", &g->awslogs_execrole, err) < 0
      || env_bool (env, d, "ECS_PROPAGATE_TASK_MEMORY_LIMIT_CGROUPV2", &g->propagate_task_memory,
                   err) < 0)
    return -1;
  g->task_cpu_mem_limit_set = env_value (env, d, "ECS_ENABLE_TASK_CPU_MEM_LIMIT") != NULL;
  g->exclude_ipv6_portbinding_set = env_value (env, d, "ECS_EXCLUDE_IPV6_PORTBINDING") != NULL;
  const char *v = env_value (env, d, "ECS_AVAILABLE_LOGGING_DRIVERS");
  if (v && log_drivers (x, v, err) < 0)
    return -1;
  /* as upstream: a period outside 8ms..100ms (or unparsable) keeps 100ms */
  v = env_value (env, d, "ECS_CGROUP_CPU_PERIOD");
  if (v)
    {
      agent_error_t perr = NULL;
      uint64_t ms = 0;
      if (config_parse_duration (v, &ms, &perr) < 0 || ms < 8 || ms > 100)
        {
          free (x->warning);
          x->warning = xasprintf ("ECS_CGROUP_CPU_PERIOD: %s; using 100ms",
                                  perr ? error_msg (&perr) : "outside 8ms..100ms");
          error_free (&perr);
        }
      else
        g->cgroup_cpu_period_ms = (uint32_t) ms;
    }
  v = env_value (env, d, "ECS_DYNAMIC_HOST_PORT_RANGE");
  if (v)
    {
      agent_error_t perr = NULL;
      uint16_t a, b;
      if (task_port_range_parse (v, &a, &b, &perr) < 0)
        {
          free (x->warning);
          x->warning = xasprintf ("ECS_DYNAMIC_HOST_PORT_RANGE: %s; using %u-%u", error_msg (&perr),
                                  g->port_range_start, g->port_range_end);
          error_free (&perr);
        }
      else
        {
          g->port_range_start = a;
          g->port_range_end = b;
        }
    }
  return 0;
}
