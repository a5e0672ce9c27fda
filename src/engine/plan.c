/* engine/plan.c - pure decisions: desired statuses, next actions, task
 * known status, dependency validation.  No I/O, no clock, no allocation
 * except the reason string of engine_plan_check_dependencies. */
#include "engine/plan.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include <stdlib.h>
#include <string.h>

const char *
engine_action_str (enum task_action a)
{
  switch (a)
    {
    case TASK_ACTION_NONE: return "none";
    case TASK_ACTION_PULL: return "pull";
    case TASK_ACTION_CREATE: return "create";
    case TASK_ACTION_START: return "start";
    case TASK_ACTION_STOP: return "stop";
    case TASK_ACTION_MARK_STOPPED: return "mark-stopped";
    case TASK_ACTION_REMOVE: return "remove";
    case TASK_ACTION_INSPECT: return "inspect";
    }
  return "?";
}

enum task_status
engine_plan_task_status_of (enum task_status s)
{
  return s == TASK_STATUS_PULLED ? TASK_STATUS_NONE : s;
}

/* Name of the container a link points to ("name" or "name:alias"), into buf. */
static const char *
link_target (const char *link, char *buf, size_t len)
{
  const char *colon = strchr (link, ':');
  size_t n = colon ? (size_t) (colon - link) : strlen (link);
  if (n >= len)
    n = len - 1;
  memcpy (buf, link, n);
  buf[n] = '\0';
  return buf;
}

static const struct task_container *
find (const struct task *t, const char *name)
{
  return task_find_container (t, name);
}

bool
engine_plan_update_desired (struct task *t)
{
  bool changed = false;
  for (size_t i = 0; i < t->n_containers; i++)
    {
      const struct task_container *c = &t->containers[i];
      if (c->essential && t->desired_status != TASK_STATUS_STOPPED
          && (c->known_status == TASK_STATUS_STOPPED || c->desired_status == TASK_STATUS_STOPPED))
        {
          t->desired_status = TASK_STATUS_STOPPED;
          changed = true;
        }
    }
  for (size_t i = 0; i < t->n_containers; i++)
    {
      struct task_container *c = &t->containers[i];
      if (c->desired_status < t->desired_status)
        {
          c->desired_status = t->desired_status;
          changed = true;
        }
    }
  return changed;
}

/* True when every link / volumesFrom source / run dependency of c exists
   in Docker (created, with an id). */
static bool
deps_created (const struct task *t, const struct task_container *c)
{
  char buf[256];
  for (size_t i = 0; c->links && c->links[i]; i++)
    {
      const struct task_container *d = find (t, link_target (c->links[i], buf, sizeof buf));
      if (!d || d->known_status < TASK_STATUS_CREATED || !d->docker_id)
        return false;
    }
  for (size_t i = 0; i < c->n_volumes_from; i++)
    {
      const struct task_container *d = find (t, c->volumes_from[i].source_container);
      if (!d || d->known_status < TASK_STATUS_CREATED || !d->docker_id)
        return false;
    }
  for (size_t i = 0; c->run_dependencies && c->run_dependencies[i]; i++)
    {
      const struct task_container *d = find (t, c->run_dependencies[i]);
      if (!d || d->known_status < TASK_STATUS_RUNNING)
        return false;
    }
  return true;
}

/* True when every link target of c is RUNNING (Docker refuses to start a
   container linked to a stopped one). */
static bool
deps_running (const struct task *t, const struct task_container *c)
{
  char buf[256];
  for (size_t i = 0; c->links && c->links[i]; i++)
    {
      const struct task_container *d = find (t, link_target (c->links[i], buf, sizeof buf));
      if (!d || d->known_status != TASK_STATUS_RUNNING)
        return false;
    }
  for (size_t i = 0; c->run_dependencies && c->run_dependencies[i]; i++)
    {
      const struct task_container *d = find (t, c->run_dependencies[i]);
      if (!d || d->known_status < TASK_STATUS_RUNNING)
        return false;
    }
  return true;
}

static bool
depends_on (const struct task_container *d, const char *name)
{
  char buf[256];
  for (size_t i = 0; d->links && d->links[i]; i++)
    if (strcmp (link_target (d->links[i], buf, sizeof buf), name) == 0)
      return true;
  for (size_t i = 0; i < d->n_volumes_from; i++)
    if (strcmp (d->volumes_from[i].source_container, name) == 0)
      return true;
  return false;
}

enum task_action
engine_plan_container_action (const struct task *t, size_t idx)
{
  const struct task_container *c = &t->containers[idx];
  if (t->removing)
    return TASK_ACTION_NONE;
  if (c->inflight != TASK_ACTION_NONE)
    {
      /* Heading to STOPPED with only a pull outstanding: stop waiting. */
      if (c->inflight == TASK_ACTION_PULL && c->desired_status == TASK_STATUS_STOPPED
          && c->known_status < TASK_STATUS_STOPPED)
        return TASK_ACTION_MARK_STOPPED;
      return TASK_ACTION_NONE;
    }
  if (c->known_status >= c->desired_status)
    return TASK_ACTION_NONE;
  if (c->desired_status == TASK_STATUS_STOPPED)
    {
      if (c->known_status != TASK_STATUS_RUNNING)
        return TASK_ACTION_MARK_STOPPED;
      /* Reverse dependency order: dependents that are stopping go first. */
      for (size_t i = 0; i < t->n_containers; i++)
        {
          const struct task_container *d = &t->containers[i];
          if (i == idx || d->known_status == TASK_STATUS_STOPPED
              || d->desired_status != TASK_STATUS_STOPPED)
            continue;
          if (depends_on (d, c->name))
            return TASK_ACTION_NONE;
        }
      return TASK_ACTION_STOP;
    }
  if (t->hold)
    return TASK_ACTION_NONE;
  switch (c->known_status)
    {
    case TASK_STATUS_NONE:
      return TASK_ACTION_PULL;
    case TASK_STATUS_PULLED:
      return deps_created (t, c) ? TASK_ACTION_CREATE : TASK_ACTION_NONE;
    case TASK_STATUS_CREATED:
      return deps_running (t, c) ? TASK_ACTION_START : TASK_ACTION_NONE;
    default:
      return TASK_ACTION_NONE;
    }
}

size_t
engine_plan_actions (const struct task *t, enum task_action *out)
{
  size_t n = 0;
  for (size_t i = 0; i < t->n_containers; i++)
    {
      out[i] = engine_plan_container_action (t, i);
      if (out[i] != TASK_ACTION_NONE)
        n++;
    }
  return n;
}

enum task_status
engine_plan_task_known (const struct task *t)
{
  enum task_status min;
  if (t->n_containers == 0)
    min = engine_plan_task_status_of (t->desired_status);
  else
    {
      min = TASK_STATUS_STOPPED;
      for (size_t i = 0; i < t->n_containers; i++)
        {
          enum task_status s = engine_plan_task_status_of (t->containers[i].known_status);
          if (s < min)
            min = s;
        }
    }
  return min > t->known_status ? min : t->known_status;
}

bool
engine_plan_task_done (const struct task *t)
{
  if (t->known_status == TASK_STATUS_STOPPED)
    return true;
  for (size_t i = 0; i < t->n_containers; i++)
    if (t->containers[i].known_status < t->containers[i].desired_status)
      return false;
  return engine_plan_task_known (t) >= engine_plan_task_status_of (t->desired_status);
}

enum engine_plan_stuck
engine_plan_stuck (const struct task *t)
{
  if (t->known_status == TASK_STATUS_STOPPED || t->removing)
    return ENGINE_PLAN_NOT_STUCK;
  for (size_t i = 0; i < t->n_containers; i++)
    if (t->containers[i].inflight != TASK_ACTION_NONE)
      return ENGINE_PLAN_NOT_STUCK;
  if (engine_plan_task_done (t))
    return ENGINE_PLAN_NOT_STUCK;
  if (t->hold && t->desired_status != TASK_STATUS_STOPPED)
    return ENGINE_PLAN_NOT_STUCK;
  for (size_t i = 0; i < t->n_containers; i++)
    if (engine_plan_container_action (t, i) != TASK_ACTION_NONE)
      return ENGINE_PLAN_NOT_STUCK;
  return t->desired_status == TASK_STATUS_STOPPED ? ENGINE_PLAN_STUCK_FORCE_STOP
                                                    : ENGINE_PLAN_STUCK_STOP_TASK;
}

enum engine_change_verdict
engine_plan_accept_change (const struct task_container *c, enum task_status reported)
{
  if (reported > c->known_status)
    return ENGINE_CHANGE_APPLY;
  if (c->known_status == TASK_STATUS_STOPPED && reported == TASK_STATUS_RUNNING && !c->restopped)
    return ENGINE_CHANGE_RESTOP;
  return ENGINE_CHANGE_IGNORE;
}

/* ---- dependency validation ---------------------------------------------- */

struct dep_ctx
{
  const struct task *t;
  int *color; /* 0 white, 1 grey (on stack), 2 black */
  size_t *stack;
  size_t depth;
  char *reason;
};

static ssize_t
index_of (const struct task *t, const char *name)
{
  for (size_t i = 0; i < t->n_containers; i++)
    if (strcmp (t->containers[i].name, name) == 0)
      return (ssize_t) i;
  return -1;
}

static int dfs (struct dep_ctx *x, size_t i);

static int
visit_edge (struct dep_ctx *x, size_t from, const char *target, const char *how)
{
  const struct task *t = x->t;
  ssize_t j = index_of (t, target);
  if (j < 0)
    {
      x->reason = xasprintf ("TaskDependencyError: container %s %s missing container %s",
                             t->containers[from].name, how, target);
      return -1;
    }
  if (x->color[j] == 1)
    {
      struct sbuf b = { 0 };
      sbuf_puts (&b, "TaskDependencyError: circular dependency: ");
      size_t k = 0;
      while (k < x->depth && x->stack[k] != (size_t) j)
        k++;
      for (; k < x->depth; k++)
        sbuf_printf (&b, "%s -> ", t->containers[x->stack[k]].name);
      sbuf_puts (&b, target);
      x->reason = sbuf_steal (&b);
      return -1;
    }
  if (x->color[j] == 0)
    return dfs (x, (size_t) j);
  return 0;
}

static int
dfs (struct dep_ctx *x, size_t i)
{
  const struct task_container *c = &x->t->containers[i];
  char buf[256];
  x->color[i] = 1;
  x->stack[x->depth++] = i;
  for (size_t k = 0; c->links && c->links[k]; k++)
    if (visit_edge (x, i, link_target (c->links[k], buf, sizeof buf), "links to") < 0)
      return -1;
  for (size_t k = 0; k < c->n_volumes_from; k++)
    if (visit_edge (x, i, c->volumes_from[k].source_container, "mounts volumes from") < 0)
      return -1;
  for (size_t k = 0; c->run_dependencies && c->run_dependencies[k]; k++)
    if (visit_edge (x, i, c->run_dependencies[k], "depends on") < 0)
      return -1;
  x->depth--;
  x->color[i] = 2;
  return 0;
}

int
engine_plan_check_dependencies (const struct task *t, char **reason)
{
  *reason = NULL;
  if (t->n_containers == 0)
    return 0;
  struct dep_ctx x = { .t = t };
  x.color = xcalloc (t->n_containers, sizeof *x.color);
  x.stack = xcalloc (t->n_containers, sizeof *x.stack);
  int rc = 0;
  for (size_t i = 0; i < t->n_containers && rc == 0; i++)
    if (x.color[i] == 0)
      rc = dfs (&x, i);
  free (x.color);
  free (x.stack);
  *reason = x.reason;
  return rc;
}
