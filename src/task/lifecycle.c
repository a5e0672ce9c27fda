/* task/lifecycle.c - lifecycle members of a container (see lifecycle.h). */
#include "task/lifecycle.h"
#include <stdlib.h>
#include <strings.h>

void
task_container_lifecycle_free (struct task_container_lifecycle *l)
{
  for (size_t i = 0; i < l->n_depends_on; i++)
    free (l->depends_on[i].container_name);
  free (l->depends_on);
  l->depends_on = NULL;
  l->n_depends_on = 0;
}

static const char *const conditions[] = { "START", "COMPLETE", "SUCCESS", "HEALTHY" };
static const char *const healths[] = { "UNKNOWN", "HEALTHY", "UNHEALTHY" };

const char *
task_dep_condition_str (enum task_dep_condition c)
{
  return (unsigned) c < sizeof conditions / sizeof *conditions ? conditions[c] : "?";
}

int
task_dep_condition_parse (const char *s, enum task_dep_condition *out)
{
  for (size_t i = 0; s && i < sizeof conditions / sizeof *conditions; i++)
    if (strcasecmp (s, conditions[i]) == 0)
      {
        *out = (enum task_dep_condition) i;
        return 0;
      }
  return -1;
}

const char *
task_health_str (enum task_health h)
{
  return (unsigned) h < sizeof healths / sizeof *healths ? healths[h] : "?";
}

int
task_health_parse (const char *s, enum task_health *out)
{
  if (!s)
    {
      *out = TASK_HEALTH_UNKNOWN;
      return 0;
    }
  for (size_t i = 0; i < sizeof healths / sizeof *healths; i++)
    if (strcasecmp (s, healths[i]) == 0)
      {
        *out = (enum task_health) i;
        return 0;
      }
  return -1;
}
