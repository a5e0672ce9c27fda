/* engine/options_check.c - container options against the instance's gates
 * (see options_check.h). */
#include "engine/options_check.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "docker/overlay.h"
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define REFUSE(...)                                                                                \
  do                                                                                               \
    {                                                                                              \
      *reason = xasprintf (__VA_ARGS__);                                                           \
      return -1;                                                                                   \
    }                                                                                              \
  while (0)

const char *
engine_task_network_mode (const struct task *t)
{
  const char *m = t->opts.network_mode;
  return m && *m ? m : "bridge";
}

static bool
str_in (const char *s, const char *const *set, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp (s, set[i]) == 0)
      return true;
  return false;
}

static const char *const ulimit_names[] = { "core",     "cpu",        "data",  "fsize",   "locks",
                                            "memlock",  "msgqueue",   "nice",  "nofile",  "nproc",
                                            "rss",      "rtprio",     "rttime", "sigpending",
                                            "stack" };

static int
check_ulimits (const struct task_container *c, json_t *hc, char **reason)
{
  size_t i;
  json_t *u;
  json_array_foreach (json_object_get (hc, "Ulimits"), i, u)
  {
    const char *name = json_string_value (json_object_get (u, "Name"));
    json_int_t soft = json_integer_value (json_object_get (u, "Soft"));
    json_int_t hard = json_integer_value (json_object_get (u, "Hard"));
    if (!name || !str_in (name, ulimit_names, ARRAY_SIZE (ulimit_names)))
      REFUSE ("HostConfigError: container %s: unknown ulimit \"%s\"", c->name, name ? name : "");
    if (soft < 0 || hard < 0)
      REFUSE ("HostConfigError: container %s: ulimit %s: negative limit", c->name, name);
    if (soft > hard)
      REFUSE ("HostConfigError: container %s: ulimit %s: soft limit %lld above hard limit %lld",
              c->name, name, (long long) soft, (long long) hard);
  }
  return 0;
}

static int
check_sizes (const struct task_container *c, json_t *hc, char **reason)
{
  static const char *const keys[] = { "Memory", "MemoryReservation", "ShmSize", "CpuShares",
                                      "NanoCpus", "CpuPeriod", "CpuQuota", "KernelMemoryTCP" };
  for (size_t i = 0; i < ARRAY_SIZE (keys); i++)
    {
      json_t *v = json_object_get (hc, keys[i]);
      if (v && json_integer_value (v) < 0)
        REFUSE ("HostConfigError: container %s: %s must not be negative", c->name, keys[i]);
    }
  json_t *sw = json_object_get (hc, "MemorySwap");
  if (sw && json_integer_value (sw) < -1)
    REFUSE ("HostConfigError: container %s: MemorySwap must be -1 or more", c->name);
  json_t *sp = json_object_get (hc, "MemorySwappiness");
  if (sp && (json_integer_value (sp) < -1 || json_integer_value (sp) > 100))
    REFUSE ("HostConfigError: container %s: MemorySwappiness must be in 0..100", c->name);
  size_t i;
  json_t *d;
  json_array_foreach (json_object_get (hc, "Devices"), i, d)
  {
    const char *p = json_string_value (json_object_get (d, "CgroupPermissions"));
    if (p && strspn (p, "rwm") != strlen (p))
      REFUSE ("HostConfigError: container %s: device permissions \"%s\" are not a subset of \"rwm\"",
              c->name, p);
  }
  return 0;
}

static int
check_security (const struct task_container *c, const struct task_option_gates *g, json_t *hc,
                char **reason)
{
  if (json_is_true (json_object_get (hc, "Privileged")) && g->disable_privileged)
    REFUSE ("HostConfigError: container %s: privileged containers are disabled on this instance "
            "(ECS_DISABLE_PRIVILEGED)", c->name);
  size_t i;
  json_t *o;
  json_array_foreach (json_object_get (hc, "SecurityOpt"), i, o)
  {
    const char *s = json_string_value (o);
    if (!s)
      continue;
    if ((strncmp (s, "label:", 6) == 0 || strncmp (s, "label=", 6) == 0) && !g->selinux_capable)
      REFUSE ("HostConfigError: container %s: SELinux security option \"%s\" needs ECS_SELINUX_CAPABLE",
              c->name, s);
    if ((strncmp (s, "apparmor:", 9) == 0 || strncmp (s, "apparmor=", 9) == 0) && !g->apparmor_capable)
      REFUSE ("HostConfigError: container %s: AppArmor security option \"%s\" needs ECS_APPARMOR_CAPABLE",
              c->name, s);
  }
  const char *drv = json_string_value (json_object_get (json_object_get (hc, "LogConfig"), "Type"));
  if (drv && *drv && !task_log_driver_available (g, drv))
    REFUSE ("HostConfigError: container %s: logging driver \"%s\" is not available on this instance "
            "(ECS_AVAILABLE_LOGGING_DRIVERS)", c->name, drv);
  return 0;
}

static int
check_modes (const struct task *t, char **reason)
{
  static const char *const nets[] = { "bridge", "host", "none" };
  const char *nm = engine_task_network_mode (t);
  if (!str_in (nm, nets, ARRAY_SIZE (nets)))
    REFUSE ("TaskOptionsError: network mode \"%s\" is not supported by this agent (bridge, host, none)", nm);
  static const char *const pids[] = { "", "host" };
  static const char *const ipcs[] = { "", "host", "none" };
  if (t->opts.pid_mode && !str_in (t->opts.pid_mode, pids, ARRAY_SIZE (pids)))
    REFUSE ("TaskOptionsError: pidMode \"%s\" is not supported by this agent (host)", t->opts.pid_mode);
  if (t->opts.ipc_mode && !str_in (t->opts.ipc_mode, ipcs, ARRAY_SIZE (ipcs)))
    REFUSE ("TaskOptionsError: ipcMode \"%s\" is not supported by this agent (host, none)",
            t->opts.ipc_mode);
  return 0;
}

static int
check_ports (const struct task *t, const struct task_container *c,
             const struct task_option_gates *g, char **reason)
{
  unsigned avail = (unsigned) g->port_range_end - g->port_range_start + 1;
  for (size_t i = 0; i < c->n_port_mappings; i++)
    {
      const struct task_port_mapping *m = &c->port_mappings[i];
      if (!m->range_start)
        continue;
      unsigned n = (unsigned) m->range_end - m->range_start + 1;
      if (m->host_port)
        REFUSE ("HostConfigError: container %s: containerPortRange %u-%u cannot have a hostPort",
                c->name, m->range_start, m->range_end);
      if (strcmp (engine_task_network_mode (t), "bridge") == 0 && n > avail)
        REFUSE ("HostConfigError: container %s: containerPortRange %u-%u needs %u host ports; "
                "ECS_DYNAMIC_HOST_PORT_RANGE %u-%u has %u",
                c->name, m->range_start, m->range_end, n, g->port_range_start, g->port_range_end, avail);
    }
  return 0;
}

static int
check_container (const struct task *t, const struct task_container *c,
                 const struct task_option_gates *g, char **reason)
{
  json_t *cfg = NULL, *hc = NULL;
  agent_error_t err = NULL;
  if (docker_overlay_check (c->opts.dc_config, DOCKER_OVERLAY_CONFIG, &cfg, &err) < 0)
    {
      *reason = xasprintf ("DockerClientConfigError: container %s: Unable decode given docker config: %s",
                           c->name, error_msg (&err));
      error_free (&err);
      return -1;
    }
  if (docker_overlay_check (c->opts.dc_host_config, DOCKER_OVERLAY_HOST_CONFIG, &hc, &err) < 0)
    {
      *reason = xasprintf ("HostConfigError: container %s: Unable to decode given host config: %s",
                           c->name, error_msg (&err));
      error_free (&err);
      json_decref (cfg);
      return -1;
    }
  int rc = 0;
  /* ECS_DISABLE_DOCKER_HEALTH_CHECK refuses nothing (upstream only stops
     advertising the capability) */
  bool docker_hc = task_options_docker_health_check (&c->opts);
  const char *hnm = json_string_value (json_object_get (hc, "NetworkMode"));
  if (docker_hc && !json_object_get (cfg, "Healthcheck"))
    {
      *reason = xasprintf ("DockerClientConfigError: container %s: docker health check is nil while "
                           "container health check type is DOCKER", c->name);
      rc = -1;
    }
  else if (hnm && *hnm && strcmp (hnm, engine_task_network_mode (t)) != 0)
    {
      *reason = xasprintf ("HostConfigError: container %s: NetworkMode \"%s\" contradicts the task's "
                           "network mode \"%s\"", c->name, hnm, engine_task_network_mode (t));
      rc = -1;
    }
  else
    rc = check_security (c, g, hc, reason) < 0 || check_ulimits (c, hc, reason) < 0
                 || check_sizes (c, hc, reason) < 0 || check_ports (t, c, g, reason) < 0
             ? -1
             : 0;
  json_decref (cfg);
  json_decref (hc);
  return rc;
}

int
engine_options_check (const struct task *t, const struct task_option_gates *g, char **reason)
{
  *reason = NULL;
  if (check_modes (t, reason) < 0)
    return -1;
  for (size_t i = 0; i < t->n_containers; i++)
    if (check_container (t, &t->containers[i], g, reason) < 0)
      return -1;
  return 0;
}
