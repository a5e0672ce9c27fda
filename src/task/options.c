/* task/options.c - container options and gates (see options.h). */
#include "task/options.h"
#include "task/task.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void
task_container_options_free (struct task_container_options *o)
{
  free (o->dc_config);
  free (o->dc_host_config);
  free (o->dc_version);
  free (o->health_check_type);
  free (o->logs_auth_strategy);
  memset (o, 0, sizeof *o);
}

bool
task_options_logs_execution_role (const struct task_container_options *o)
{
  return o->logs_auth_strategy && strcasecmp (o->logs_auth_strategy, "ExecutionRole") == 0;
}

bool
task_options_docker_health_check (const struct task_container_options *o)
{
  return o->health_check_type && strcasecmp (o->health_check_type, "docker") == 0;
}

void
task_options_free (struct task_options *o)
{
  free (o->network_mode);
  free (o->pid_mode);
  free (o->ipc_mode);
  for (size_t i = 0; i < o->n_associations; i++)
    {
      struct task_association *as = &o->associations[i];
      free (as->name);
      free (as->type);
      free (as->content);
      free (as->encoding);
      task_strv_free (as->containers);
    }
  free (o->associations);
  memset (o, 0, sizeof *o);
}

void
task_option_gates_free (struct task_option_gates *g)
{
  for (size_t i = 0; i < g->n_log_drivers; i++)
    free (g->log_drivers[i]);
  memset (g, 0, sizeof *g);
}

void
task_option_gates_copy (struct task_option_gates *dst, const struct task_option_gates *src)
{
  *dst = *src;
  for (size_t i = 0; i < src->n_log_drivers; i++)
    dst->log_drivers[i] = xstrdup (src->log_drivers[i]);
}

void
task_option_gates_default (struct task_option_gates *g)
{
  memset (g, 0, sizeof *g);
  g->port_range_start = 49153;
  g->port_range_end = 65535;
  g->task_cpu_mem_limit = true;
  g->exclude_ipv6_portbinding = true;
  g->cgroup_cpu_period_ms = 100;
}

static const char *const known_drivers[] = { "json-file", "syslog",    "journald", "gelf",
                                              "fluentd",   "awslogs",   "splunk",   "logentries",
                                              "sumologic", "none",      "awsfirelens" };

bool
task_log_driver_known (const char *name)
{
  for (size_t i = 0; name && i < ARRAY_SIZE (known_drivers); i++)
    if (strcmp (name, known_drivers[i]) == 0)
      return true;
  return false;
}

bool
task_log_driver_available (const struct task_option_gates *g, const char *driver)
{
  if (!driver)
    return false;
  if (g->n_log_drivers == 0)
    return strcmp (driver, "json-file") == 0 || strcmp (driver, "none") == 0;
  for (size_t i = 0; i < g->n_log_drivers; i++)
    if (strcmp (g->log_drivers[i], driver) == 0)
      return true;
  return false;
}

static int
parse_port (const char *s, size_t len, uint16_t *out)
{
  if (len == 0 || len > 5)
    return -1;
  unsigned v = 0;
  for (size_t i = 0; i < len; i++)
    {
      if (s[i] < '0' || s[i] > '9')
        return -1;
      v = v * 10 + (unsigned) (s[i] - '0');
    }
  if (v < 1 || v > 65535)
    return -1;
  *out = (uint16_t) v;
  return 0;
}

int
task_port_range_parse (const char *s, uint16_t *start, uint16_t *end, agent_error_t *err)
{
  const char *dash = s ? strchr (s, '-') : NULL;
  uint16_t a, b;
  if (!dash || parse_port (s, (size_t) (dash - s), &a) < 0
      || parse_port (dash + 1, strlen (dash + 1), &b) < 0 || a > b)
    return error_set (err, ERR_INVALID, "\"%s\" is not a port range start-end (1-65535)",
                      s ? s : "");
  *start = a;
  *end = b;
  return 0;
}
