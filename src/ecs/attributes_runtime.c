/* ecs/attributes_runtime.c - the capabilities that hold on the detected
 * container runtime (see ecs.h, ecs_runtime_capability_holds). */
#include "core/xmalloc.h"
#include "ecs/ecs.h"
#include <stdlib.h>
#include <string.h>

#define CAP "com.amazonaws.ecs.capability."
#define ECAP "ecs.capability."

/* Podman 4.3's compatible API, as checked by creating containers against
   `podman system service`: LogConfig.Type json-file (its k8s-file),
   journald and none are taken; syslog, gelf, fluentd, awslogs, splunk
   (and the rest Docker ships as plugins) fail the create with "invalid log
   driver".  Health checks are run by systemd timers Podman sets up for
   each container: the compatible API service alone never runs them (the
   status stays "starting", the log says "unable to get systemd
   connection"), so a task's health could never be reported. */
static bool
podman_log_driver (const char *d)
{
  static const char *const ok[] = { "json-file", "journald", "none" };
  for (size_t i = 0; i < ARRAY_SIZE (ok); i++)
    if (strcmp (d, ok[i]) == 0)
      return true;
  return false;
}

bool
ecs_runtime_capability_holds (const struct ecs_runtime *rt, const char *name)
{
  if (!rt->podman)
    return true;
  if (strncmp (name, CAP "logging-driver.", strlen (CAP "logging-driver.")) == 0)
    return podman_log_driver (name + strlen (CAP "logging-driver."));
  if (strcmp (name, ECAP "container-health-check") == 0)
    return false;
  return true;
}

size_t
ecs_runtime_log_drivers (const struct ecs_runtime *rt, const char **drivers, size_t n)
{
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (!rt->podman || podman_log_driver (drivers[i]))
      drivers[k++] = drivers[i];
  return k;
}

void
ecs_runtime_attributes_filter (const struct ecs_runtime *rt, struct ecs_attribute *a, size_t *n)
{
  size_t k = 0;
  for (size_t i = 0; i < *n; i++)
    if (ecs_runtime_capability_holds (rt, a[i].name))
      a[k++] = a[i];
    else
      {
        free ((char *) a[i].name);
        free ((char *) a[i].value);
      }
  *n = k;
}
