/* task/lifecycle.c - lifecycle members of a container (see lifecycle.h). */
#include "task/lifecycle.h"
#include "core/xmalloc.h"
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void
task_container_lifecycle_free (struct task_container_lifecycle *l)
{
  for (size_t i = 0; i < l->n_depends_on; i++)
    free (l->depends_on[i].container_name);
  free (l->depends_on);
  l->depends_on = NULL;
  l->n_depends_on = 0;
  free (l->health_output);
  l->health_output = NULL;
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

/* Length of s cut to at most max bytes without splitting a UTF-8
   sequence. */
static size_t
utf8_cut (const char *s, size_t max)
{
  size_t n = strlen (s);
  if (n <= max)
    return n;
  n = max;
  while (n > 0 && ((unsigned char) s[n] & 0xC0) == 0x80)
    n--;
  return n;
}

bool
task_health_observe (struct task_container_lifecycle *l, enum task_health st, const char *output,
                     int exit_code, int64_t now_ns)
{
  bool changed = false;
  if (st != l->health)
    {
      l->health = st;
      l->health_since_ns = now_ns;
      changed = true;
    }
  int code = st == TASK_HEALTH_UNHEALTHY ? exit_code : 0;
  if (code != l->health_exit_code)
    {
      l->health_exit_code = code;
      changed = true;
    }
  size_t n = output ? utf8_cut (output, TASK_HEALTH_OUTPUT_MAX) : 0;
  if (n == 0)
    {
      changed |= l->health_output != NULL;
      free (l->health_output);
      l->health_output = NULL;
    }
  else if (!l->health_output || strlen (l->health_output) != n || memcmp (l->health_output, output, n) != 0)
    {
      free (l->health_output);
      l->health_output = xstrndup (output, n);
      changed = true;
    }
  return changed;
}
