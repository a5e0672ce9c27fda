/* engine/plan.c - pure decisions: desired statuses, next actions, task
 * known status, dependency validation.  No I/O, no clock, no allocation
 * except the reason string of engine_plan_check_dependencies. */
#include "engine/plan.h"
#include "engine/depends.h"
#include "engine/secrets.h"
#include "engine/slice.h"
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

/* Length of the container name a link points to ("name" or "name:alias"). */
static size_t
link_target_len (const char *link)
{
  const char *colon = strchr (link, ':');
  return colon ? (size_t) (colon - link) : strlen (link);
}

static const struct task_container *
find (const struct task *t, const char *name)
{
  return task_find_container (t, name);
}

/* The container a link points to (compared exactly, whatever its length). */
static const struct task_container *
find_link (const struct task *t, const char *link)
{
  size_t n = link_target_len (link);
  for (size_t i = 0; i < t->n_containers; i++)
    if (strncmp (t->containers[i].name, link, n) == 0 && t->containers[i].name[n] == '\0')
      return &t->containers[i];
  return NULL;
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
  for (size_t i = 0; c->links && c->links[i]; i++)
    {
      const struct task_container *d = find_link (t, c->links[i]);
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
  for (size_t i = 0; c->links && c->links[i]; i++)
    {
      const struct task_container *d = find_link (t, c->links[i]);
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
  size_t n = strlen (name);
  for (size_t i = 0; d->links && d->links[i]; i++)
    if (link_target_len (d->links[i]) == n && strncmp (d->links[i], name, n) == 0)
      return true;
  for (size_t i = 0; i < d->n_volumes_from; i++)
    if (strcmp (d->volumes_from[i].source_container, name) == 0)
      return true;
  return engine_dep_lists (d, name);
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
  /* The pull waits for every dependency, as the create does, unless
     ECS_PULL_DEPENDENT_CONTAINERS_UPFRONT (then only the create waits). */
  if (c->known_status == TASK_STATUS_NONE && t->pull_upfront)
    return TASK_ACTION_PULL;
  if (c->known_status < TASK_STATUS_RUNNING && !engine_dep_met (t, idx))
    return TASK_ACTION_NONE; /* dependsOn: pull, create and start wait */
  switch (c->known_status)
    {
    case TASK_STATUS_NONE:
      return deps_created (t, c) ? TASK_ACTION_PULL : TASK_ACTION_NONE;
    case TASK_STATUS_PULLED: /* and its secrets fetched (engine/secrets.h), its slice made (engine/slice.h) */
      return deps_created (t, c) && (!t->links_by_address || deps_running (t, c)) && engine_secrets_ready (t, c)
                     && engine_slice_ready (t)
                 ? TASK_ACTION_CREATE
                 : TASK_ACTION_NONE;
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
  if (engine_secrets_pending (t) || t->slice_res == TASK_RES_PENDING) /* its end steps the task */
    return ENGINE_PLAN_NOT_STUCK;
  /* Waiting on a dependsOn condition is not being stuck: an event (exit,
     health) or the dependency's start timeout ends the wait. */
  for (size_t i = 0; i < t->n_containers; i++)
    {
      const struct task_container *c = &t->containers[i];
      if (c->desired_status != TASK_STATUS_STOPPED && c->known_status < c->desired_status
          && c->known_status < TASK_STATUS_RUNNING && !engine_dep_met (t, i))
        return ENGINE_PLAN_NOT_STUCK;
    }
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

/* Depth-first search over links, volumesFrom and run dependencies, with an
   explicit stack: a task's shape (a chain of thousands of links) must never
   decide how deep the C stack goes.  The walk visits containers and edges in
   the same order as a recursive search would, so the first problem found and
   the cycle it prints do not depend on how the walk is implemented.  Names
   are looked up in a sorted index: O((n + e) log n) for n containers and e
   edges. */

enum dep_color
{
  DEP_WHITE = 0, /* not visited */
  DEP_GREY,      /* on the current path */
  DEP_BLACK,     /* done: everything it reaches is valid */
};

struct dep_frame
{
  size_t node;            /* container index */
  size_t edge;            /* next edge of node to follow */
  size_t n_links, n_deps; /* lengths of its links and run dependencies */
  size_t n_dep_on;        /* its dependsOn entries (when the walk follows them) */
};

struct dep_ctx
{
  const struct task *t;
  size_t *by_name; /* container indices sorted by (name, index) */
  unsigned char *color;
  struct dep_frame *stack; /* the current path; a container is on it at most once */
  size_t depth;
  bool with_depends_on; /* follow dependsOn edges too */
};

static int
dep_name_cmp (const char *a, size_t alen, const char *b)
{
  int c = strncmp (a, b, alen);
  if (c != 0)
    return c;
  return b[alen] == '\0' ? 0 : -1;
}

/* First container (lowest index) named exactly name[0..len), or -1. */
static ssize_t
dep_lookup (const struct dep_ctx *x, const char *name, size_t len)
{
  size_t lo = 0, hi = x->t->n_containers;
  while (lo < hi)
    {
      size_t mid = lo + (hi - lo) / 2;
      if (dep_name_cmp (name, len, x->t->containers[x->by_name[mid]].name) > 0)
        lo = mid + 1;
      else
        hi = mid;
    }
  if (lo < x->t->n_containers && dep_name_cmp (name, len, x->t->containers[x->by_name[lo]].name) == 0)
    return (ssize_t) x->by_name[lo];
  return -1;
}

static int
dep_sort_cmp (const void *a, const void *b, void *data)
{
  const struct task *t = data;
  size_t i = *(const size_t *) a, j = *(const size_t *) b;
  int c = strcmp (t->containers[i].name, t->containers[j].name);
  if (c != 0)
    return c;
  return i < j ? -1 : i > j;
}

/* Edge k of the frame's container: links first, then volumesFrom, then
   run dependencies.  False when it has no edge k. */
static bool
dep_edge (const struct task_container *c, const struct dep_frame *f, size_t k, const char **name,
          size_t *len, const char **how)
{
  size_t nl = f->n_links;
  if (k < nl)
    {
      const char *l = c->links[k];
      const char *colon = strchr (l, ':');
      *name = l;
      *len = colon ? (size_t) (colon - l) : strlen (l);
      *how = "links to";
      return true;
    }
  k -= nl;
  if (k < c->n_volumes_from)
    {
      *name = c->volumes_from[k].source_container;
      *len = strlen (*name);
      *how = "mounts volumes from";
      return true;
    }
  k -= c->n_volumes_from;
  if (k < f->n_deps)
    {
      *name = c->run_dependencies[k];
      *len = strlen (*name);
      *how = "depends on";
      return true;
    }
  k -= f->n_deps;
  if (k < f->n_dep_on)
    {
      *name = c->life.depends_on[k].container_name;
      *len = strlen (*name);
      *how = "depends on";
      return true;
    }
  return false;
}

static char *
dep_cycle_reason (const struct dep_ctx *x, size_t target)
{
  const struct task *t = x->t;
  struct sbuf b = { 0 };
  sbuf_puts (&b, "TaskDependencyError: circular dependency: ");
  size_t k = 0;
  while (k < x->depth && x->stack[k].node != target)
    k++;
  for (; k < x->depth; k++)
    sbuf_printf (&b, "%s -> ", t->containers[x->stack[k].node].name);
  sbuf_puts (&b, t->containers[target].name);
  return sbuf_steal (&b);
}

static void
dep_push (struct dep_ctx *x, size_t node)
{
  const struct task_container *c = &x->t->containers[node];
  x->color[node] = DEP_GREY;
  x->stack[x->depth++] = (struct dep_frame){ .node = node,
                                             .n_links = task_strv_len (c->links),
                                             .n_deps = task_strv_len (c->run_dependencies),
                                             .n_dep_on = x->with_depends_on ? c->life.n_depends_on : 0 };
}

/* Walk everything reachable from root.  0, or -1 with *reason. */
static int
dep_walk (struct dep_ctx *x, size_t root, char **reason)
{
  const struct task *t = x->t;
  x->depth = 0;
  dep_push (x, root);
  while (x->depth > 0)
    {
      struct dep_frame *f = &x->stack[x->depth - 1];
      const struct task_container *c = &t->containers[f->node];
      const char *name, *how;
      size_t len;
      if (!dep_edge (c, f, f->edge, &name, &len, &how))
        {
          x->color[f->node] = DEP_BLACK;
          x->depth--;
          continue;
        }
      f->edge++;
      if (len > ENGINE_CONTAINER_NAME_MAX)
        {
          *reason = xasprintf ("TaskDependencyError: container %s %s a container name longer than "
                               "%d characters",
                               c->name, how, ENGINE_CONTAINER_NAME_MAX);
          return -1;
        }
      ssize_t j = dep_lookup (x, name, len);
      if (j < 0)
        {
          *reason = xasprintf ("TaskDependencyError: container %s %s missing container %.*s", c->name,
                               how, (int) len, name);
          return -1;
        }
      if (x->color[j] == DEP_GREY)
        {
          *reason = dep_cycle_reason (x, (size_t) j);
          return -1;
        }
      if (x->color[j] == DEP_WHITE)
        dep_push (x, (size_t) j);
    }
  return 0;
}

int
engine_plan_check_task (const struct task *t, char **reason)
{
  *reason = NULL;
  if (t->n_containers == 0)
    {
      *reason = xstrdup (ENGINE_REASON_NO_CONTAINERS);
      return -1;
    }
  return engine_plan_check_dependencies (t, reason);
}

/* One walk over every container; with_depends_on adds the dependsOn edges. */
static int
dep_check (const struct task *t, bool with_depends_on, char **reason)
{
  size_t n = t->n_containers;
  struct dep_ctx x = { .t = t, .with_depends_on = with_depends_on };
  x.by_name = xcalloc (n, sizeof *x.by_name);
  x.color = xcalloc (n, sizeof *x.color);
  x.stack = xcalloc (n, sizeof *x.stack);
  for (size_t i = 0; i < n; i++)
    x.by_name[i] = i;
  qsort_r (x.by_name, n, sizeof *x.by_name, dep_sort_cmp, (void *) t);
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++)
    if (x.color[i] == DEP_WHITE)
      rc = dep_walk (&x, i, reason);
  free (x.by_name);
  free (x.color);
  free (x.stack);
  return rc;
}

int
engine_plan_check_dependencies (const struct task *t, char **reason)
{
  *reason = NULL;
  if (t->n_containers == 0)
    return 0;
  if (dep_check (t, false, reason) < 0)
    return -1;
  bool any = false;
  for (size_t i = 0; i < t->n_containers && !any; i++)
    any = t->containers[i].life.n_depends_on > 0;
  if (!any)
    return 0;
  /* dependsOn problems (a cycle through them, a missing name, HEALTHY on a
     container without a Docker health check) read as upstream's. */
  char *detail = NULL;
  if (dep_check (t, true, &detail) < 0 || engine_dep_check_admission (t, &detail) < 0)
    {
      free (detail);
      *reason = xasprintf (ENGINE_DEP_REASON_UNRESOLVABLE "%s", t->arn);
      return -1;
    }
  return 0;
}
