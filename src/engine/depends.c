/* engine/depends.c - dependsOn decisions (see depends.h). */
#include "engine/depends.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include <strings.h>
#include <string.h>

int
engine_stop_timeout_s (const struct task_container *c, uint64_t default_ms)
{
  if (c->life.stop_timeout_s > 0)
    return (int) c->life.stop_timeout_s;
  return (int) ((default_ms + 999) / 1000);
}

enum task_health
engine_health_from_event (const char *action)
{
  const char *s = action ? strchr (action, ':') : NULL;
  if (!s)
    return TASK_HEALTH_UNKNOWN;
  s += strspn (s + 1, " ") + 1;
  if (strcmp (s, "healthy") == 0)
    return TASK_HEALTH_HEALTHY;
  if (strcmp (s, "unhealthy") == 0)
    return TASK_HEALTH_UNHEALTHY;
  return TASK_HEALTH_UNKNOWN;
}

enum task_health
engine_health_from_docker (const char *status)
{
  if (status && strcmp (status, "healthy") == 0)
    return TASK_HEALTH_HEALTHY;
  if (status && strcmp (status, "unhealthy") == 0)
    return TASK_HEALTH_UNHEALTHY;
  return TASK_HEALTH_UNKNOWN;
}

bool
engine_dep_is_met (const struct task *t, const struct task_dependency *d)
{
  const struct task_container *x = task_find_container (t, d->container_name);
  if (!x)
    return false;
  switch (d->condition)
    {
    case TASK_DEP_START: return x->known_status >= TASK_STATUS_RUNNING;
    case TASK_DEP_COMPLETE: return x->known_status == TASK_STATUS_STOPPED;
    case TASK_DEP_SUCCESS:
      return x->known_status == TASK_STATUS_STOPPED && x->has_exit_code && x->exit_code == 0;
    case TASK_DEP_HEALTHY:
      return x->known_status == TASK_STATUS_RUNNING && x->life.health == TASK_HEALTH_HEALTHY;
    }
  return false;
}

bool
engine_dep_met (const struct task *t, size_t i)
{
  const struct task_container *c = &t->containers[i];
  for (size_t k = 0; k < c->life.n_depends_on; k++)
    if (!engine_dep_is_met (t, &c->life.depends_on[k]))
      return false;
  return true;
}

bool
engine_dep_lists (const struct task_container *c, const char *name)
{
  for (size_t k = 0; k < c->life.n_depends_on; k++)
    if (strcmp (c->life.depends_on[k].container_name, name) == 0)
      return true;
  return false;
}

/* "<name>(<image>) (<KNOWN>-><DESIRED>)[ - Exit: <n>]", as upstream prints a container. */
static void
render (struct sbuf *b, const struct task_container *c)
{
  sbuf_printf (b, "%s(%s) (%s->%s)", c->name, c->image ? c->image : "",
               task_container_status_str (c->known_status),
               task_container_status_str (c->desired_status));
  if (c->has_exit_code)
    sbuf_printf (b, " - Exit: %d", c->exit_code);
}

static char *
failure_msg (const struct task_container *dep, const struct task_container *target, const char *how)
{
  struct sbuf b = { 0 };
  if (!dep)
    {
      sbuf_puts (&b, "dependency graph: container ordering dependency [<nil>] for target [");
      render (&b, target);
      sbuf_puts (&b, "] does not exist.");
      return sbuf_steal (&b);
    }
  bool timed_out = strcmp (how, "timeout") == 0;
  sbuf_puts (&b, timed_out ? "dependency graph: container ordering dependency ["
                           : "dependency graph: failed to resolve container ordering dependency [");
  render (&b, dep);
  sbuf_puts (&b, "] for target [");
  render (&b, target);
  sbuf_printf (&b, "]%s", timed_out ? " has timed out." : how);
  return sbuf_steal (&b);
}

bool
engine_dep_failure (const struct task *t, size_t i, int64_t now_ns, char **msg, int64_t *wake_ns)
{
  const struct task_container *c = &t->containers[i];
  *msg = NULL;
  *wake_ns = 0;
  if (c->known_status >= TASK_STATUS_RUNNING || c->desired_status == TASK_STATUS_STOPPED
      || c->desired_status < TASK_STATUS_CREATED)
    return false;
  for (size_t k = 0; k < c->life.n_depends_on; k++)
    {
      const struct task_dependency *d = &c->life.depends_on[k];
      const struct task_container *x = task_find_container (t, d->container_name);
      if (!x)
        {
          *msg = failure_msg (NULL, c, "");
          return true;
        }
      if (engine_dep_is_met (t, d))
        continue;
      if (x->known_status < TASK_STATUS_RUNNING && x->desired_status == TASK_STATUS_STOPPED
          && x->inflight == TASK_ACTION_NONE)
        {
          *msg = failure_msg (x, c, " because dependency will never start");
          return true;
        }
      if (d->condition == TASK_DEP_SUCCESS && x->known_status == TASK_STATUS_STOPPED)
        {
          *msg = failure_msg (x, c, " as dependency did not exit successfully.");
          return true;
        }
      if (d->condition == TASK_DEP_HEALTHY
          && (x->life.health == TASK_HEALTH_UNHEALTHY || x->known_status == TASK_STATUS_STOPPED))
        {
          *msg = failure_msg (x, c, " as dependency is not healthy.");
          return true;
        }
      if (d->condition == TASK_DEP_START || x->life.start_timeout_s == 0 || x->life.started_at_ns == 0
          || x->known_status == TASK_STATUS_STOPPED)
        continue;
      int64_t deadline = x->life.started_at_ns + (int64_t) x->life.start_timeout_s * 1000000000LL;
      if (now_ns > deadline)
        {
          *msg = failure_msg (x, c, "timeout");
          return true;
        }
      if (*wake_ns == 0 || deadline < *wake_ns)
        *wake_ns = deadline;
    }
  return false;
}

static bool
has_docker_health_check (const struct task_container *c)
{
  return task_options_docker_health_check (&c->opts);
}

int
engine_dep_check_admission (const struct task *t, char **reason)
{
  *reason = NULL;
  for (size_t i = 0; i < t->n_containers; i++)
    {
      const struct task_container *c = &t->containers[i];
      for (size_t k = 0; k < c->life.n_depends_on; k++)
        {
          const struct task_dependency *d = &c->life.depends_on[k];
          const struct task_container *x = task_find_container (t, d->container_name);
          if (!x || (d->condition == TASK_DEP_HEALTHY && !has_docker_health_check (x)))
            {
              *reason = xasprintf (ENGINE_DEP_REASON_UNRESOLVABLE "%s", t->arn);
              return -1;
            }
        }
    }
  return 0;
}
