/* engine/image_cleanup.c - automated image cleanup and image pre-caching:
 * the executor of the image decisions of engine/images.h.
 *
 * Cleanup (upstream's cycle): every interval, while no pull runs (a cycle
 * waits for running pulls, pulls wait for the cycle), up to N times the
 * record engine_decide_image_to_remove() picks has each of its names
 * removed from Docker (by id when it has none); "removed" or "no such
 * image" drops the name, a record left without names is forgotten; any
 * other error skips that record for the rest of the cycle.  One Docker call
 * at a time; the records and the tasks are looked at afresh before each.
 *
 * Pre-caching: at start each configured image is pulled (registry
 * credentials as for tasks' pulls), recorded, and exempt from cleanup; a
 * task's container naming it while the pull runs waits for that pull. */
#include "core/util.h"
#include "core/xmalloc.h"
#include "docker/auth.h"
#include "engine/engine_internal.h"
#include "log/log.h"
#include <stdlib.h>
#include <string.h>

/* The agent's own image is never removed (upstream's rule). */
static const char *const always_excluded[] = { "amazon/amazon-ecs-agent:latest" };

#define PRECACHE_ATTEMPTS 5
#define PRECACHE_RETRY_MIN_MS 1100ULL
#define PRECACHE_RETRY_MAX_MS 5000ULL

struct image_cycle
{
  int tries, removed;
  char **skip; /* ids failed this cycle */
  size_t n_skip;
  char *id;    /* record being removed */
  char *name;  /* name being removed (NULL: by id) */
};

static void cycle_next (engine_t *e);

static void
cycle_free (struct image_cycle *c)
{
  if (!c)
    return;
  for (size_t i = 0; i < c->n_skip; i++)
    free (c->skip[i]);
  free (c->skip);
  free (c->id);
  free (c->name);
  free (c);
}

void
engine_image_cycle_free (engine_t *e)
{
  engine_untracked_free (e);
  cycle_free (e->image_cycle);
  e->image_cycle = NULL;
}

bool
engine_image_pull_running (const engine_t *e)
{
  const struct op *o;
  TAILQ_FOREACH (o, &e->ops_list, link)
  if (o->kind == OP_PULL || o->kind == OP_PULL_AUTH || o->kind == OP_PRECACHE)
    return true;
  return false;
}

const char **
engine_image_excluded_list (const engine_t *e, size_t *n)
{
  const struct config_images *ci = e->images_cfg;
  size_t cap = ARRAY_SIZE (always_excluded) + ci->n_exclude + ci->n_precache, k = 0;
  const char **v = xcalloc (cap ? cap : 1, sizeof *v);
  for (size_t i = 0; i < ARRAY_SIZE (always_excluded); i++)
    v[k++] = always_excluded[i];
  for (size_t i = 0; i < ci->n_exclude; i++)
    v[k++] = ci->exclude[i];
  for (size_t i = 0; i < ci->n_precache; i++)
    v[k++] = ci->precache[i];
  *n = k;
  return v;
}

static int
str_cmp (const void *a, const void *b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* in_use[i]: a container of a task the engine still holds (running, or
   stopped and not yet removed) names one of record i's image strings.
   The containers' images are sorted once, each name is then a binary
   search: no step grows with records x containers. */
static bool *
records_in_use (const engine_t *e)
{
  size_t n = 0;
  for (size_t t = 0; t < e->n_tasks; t++)
    n += e->tasks[t]->n_containers;
  const char **images = xcalloc (n ? n : 1, sizeof *images);
  size_t k = 0;
  for (size_t t = 0; t < e->n_tasks; t++)
    for (size_t c = 0; c < e->tasks[t]->n_containers; c++)
      if (e->tasks[t]->containers[c].image)
        images[k++] = e->tasks[t]->containers[c].image;
  n = k;
  qsort (images, n, sizeof *images, str_cmp);
  bool *in_use = xcalloc (e->images.n ? e->images.n : 1, sizeof *in_use);
  for (size_t i = 0; i < e->images.n; i++)
    {
      const struct image_record *r = &e->images.v[i];
      for (size_t m = 0; m < r->n_names && !in_use[i]; m++)
        in_use[i] = n && bsearch (&r->names[m], images, n, sizeof *images, str_cmp) != NULL;
    }
  free (images);
  return in_use;
}

static void
arm (engine_t *e, uint64_t ms)
{
  if (!e->stopped && !e->freeing)
    uv_timer_start (&e->image_timer, engine_image_timer_cb, ms, 0);
}

void
engine_image_cycle_finish (engine_t *e)
{
  cycle_free (e->image_cycle);
  e->image_cycle = NULL;
  arm (e, e->images_cfg->cleanup_interval_ms);
  if (e->launch_deferred) /* pulls that waited for the cycle */
    uv_timer_start (&e->launch_timer, engine_launch_timer_cb, 0, 0);
}

/* Step 3 is over: steps 4-5 when untracked cleanup is on (and the ops
   have its calls), then the cycle ends. */
static void
cycle_end (engine_t *e)
{
  struct image_cycle *c = e->image_cycle;
  log_info (MOD, "image cleanup: %d image(s) removed, %zu record(s) kept", c->removed, e->images.n);
  state_save (e->state, NULL, NULL);
  if (e->images_cfg->untracked_cleanup && e->ops->image_list && e->ops->remove_idle && !e->stopped)
    engine_untracked_run (e, c->tries);
  else
    engine_image_cycle_finish (e);
}

static void
image_removed_cb (agent_error_t err, void *data)
{
  struct op *op = data;
  engine_t *e = op->e;
  engine_op_finish (op);
  struct image_cycle *c = e->image_cycle;
  struct image_record *r = image_records_find (&e->images, c->id);
  if (err && err->kind != ERR_NOT_FOUND)
    {
      log_warn (MOD, "image cleanup: cannot remove %s (%s): %s; skipped this cycle",
                c->name ? c->name : c->id, c->id, err->msg);
      c->skip = xrealloc (c->skip, (c->n_skip + 1) * sizeof *c->skip);
      c->skip[c->n_skip++] = xstrdup (c->id);
    }
  else if (r)
    {
      log_info (MOD, "image cleanup: removed %s", c->name ? c->name : c->id);
      if (c->name)
        image_record_drop_name (r, c->name);
      if (c->name == NULL || r->n_names == 0)
        {
          /* by id, or its last name is gone (Docker removed the image with
             its last tag): the record goes */
          image_records_remove (&e->images, r);
          c->removed++;
        }
      else
        {
          /* the next name of the same record */
          free (c->name);
          c->name = xstrdup (r->names[0]);
          struct op *next = engine_op_new (e, OP_IMAGE_REMOVE, NULL, 0);
          next->handle = e->ops->image_remove (e->ops_ctx, c->name, image_removed_cb, next);
          return;
        }
    }
  state_save (e->state, NULL, NULL);
  cycle_next (e);
}

static void
cycle_next (engine_t *e)
{
  struct image_cycle *c = e->image_cycle;
  if (c->tries >= e->images_cfg->images_per_cycle || e->stopped)
    {
      cycle_end (e);
      return;
    }
  bool *skip = xcalloc (e->images.n ? e->images.n : 1, sizeof *skip);
  for (size_t i = 0; i < e->images.n; i++)
    for (size_t k = 0; k < c->n_skip; k++)
      skip[i] |= strcmp (e->images.v[i].id, c->skip[k]) == 0;
  cleanup_free bool *in_use = records_in_use (e);
  size_t n_excl;
  cleanup_free const char **excl = engine_image_excluded_list (e, &n_excl);
  struct engine_cleanup_view v = { .records = &e->images, .in_use = in_use, .skip = skip,
                                   .excluded = excl, .n_excluded = n_excl, .now_ns = engine_wall_ns (),
                                   .min_age_ms = e->images_cfg->min_cleanup_age_ms };
  ssize_t pick = engine_decide_image_to_remove (&v);
  free (skip);
  if (pick < 0)
    {
      cycle_end (e);
      return;
    }
  c->tries++;
  const struct image_record *r = &e->images.v[pick];
  free (c->id);
  free (c->name);
  c->id = xstrdup (r->id);
  c->name = r->n_names ? xstrdup (r->names[0]) : NULL;
  struct op *op = engine_op_new (e, OP_IMAGE_REMOVE, NULL, 0);
  op->handle = e->ops->image_remove (e->ops_ctx, c->name ? c->name : c->id, image_removed_cb, op);
}

void
engine_image_timer_cb (uv_timer_t *h)
{
  engine_t *e = h->data;
  if (e->stopped || e->image_cycle || !e->images_cfg || !e->images_cfg->cleanup_enabled)
    return;
  if (engine_image_pull_running (e))
    {
      arm (e, 1000); /* running pulls finish first */
      return;
    }
  e->image_cycle = xcalloc (1, sizeof *e->image_cycle);
  log_debug (MOD, "image cleanup: cycle starts (%zu records)", e->images.n);
  cycle_next (e);
}

/* ---- pre-caching ------------------------------------------------------------------- */

static void precache_pull (engine_t *e, size_t i);

static void
precache_arm (engine_t *e)
{
  uint64_t best = UINT64_MAX, now = uv_now (e->loop);
  for (size_t i = 0; i < e->images_cfg->n_precache; i++)
    if (e->precache[i].due_ms && e->precache[i].due_ms < best)
      best = e->precache[i].due_ms;
  if (best != UINT64_MAX && !e->stopped && !e->freeing)
    uv_timer_start (&e->precache_timer, engine_precache_timer_cb, best > now ? best - now : 0, 0);
}

void
engine_precache_timer_cb (uv_timer_t *h)
{
  engine_t *e = h->data;
  if (e->stopped)
    return;
  uint64_t now = uv_now (e->loop);
  for (size_t i = 0; i < e->images_cfg->n_precache; i++)
    if (e->precache[i].due_ms && e->precache[i].due_ms <= now)
      {
        e->precache[i].due_ms = 0;
        precache_pull (e, i);
      }
  precache_arm (e);
}

static void
precache_done_cb (agent_error_t err, void *data)
{
  struct op *op = data;
  engine_t *e = op->e;
  size_t i = op->ci;
  const char *image = e->images_cfg->precache[i];
  uint64_t started = op->progress->started_ms;
  struct engine_pull_summary sum;
  engine_pull_progress_sum (op->progress, &sum);
  engine_op_finish (op);
  struct engine_precache *p = &e->precache[i];
  if (err && ++p->attempts < PRECACHE_ATTEMPTS)
    {
      uint64_t d = engine_retry_delay_ms (&p->backoff, PRECACHE_RETRY_MIN_MS, PRECACHE_RETRY_MAX_MS);
      if (p->attempts == 1)
        log_warn (MOD, "pre-caching %s: pull failed (%s); trying again with back-off", image, err->msg);
      p->due_ms = uv_now (e->loop) + d;
      precache_arm (e);
    }
  else if (err)
    log_error (MOD, "pre-caching %s: pull failed %d times, giving up: %s", image, PRECACHE_ATTEMPTS,
               err->msg);
  else
    {
      log_info (MOD, "pre-cached %s in %.1f s (%zu layers, %lld bytes downloaded)", image,
                (double) (uv_now (e->loop) - started) / 1000.0, sum.layers, (long long) sum.bytes_done);
      engine_pull_cache_remember (&e->pulls, image, NULL, uv_now (e->loop));
      engine_issue_image_record (e, image, true);
    }
  engine_step_all (e); /* containers that waited for this pull */
}

/* Pre-cache pulls hold a launch slot like tasks' pulls, and wait for a
   running cleanup cycle like them: false = it waits (launch timer). */
static bool
precache_may_start (engine_t *e)
{
  if (!e->image_cycle && engine_decide_launch_slot (e->launch_limit, engine_ops_count (e, engine_op_is_launch)))
    return true;
  e->launch_deferred = true;
  return false;
}

void
engine_precache_resume (engine_t *e)
{
  if (!e->images_cfg || !e->precache || e->stopped)
    return;
  for (size_t i = 0; i < e->images_cfg->n_precache; i++)
    if (e->precache[i].waiting)
      precache_pull (e, i);
}

/* Pre-cache pull progress: a debug line at most every
   ENGINE_PULL_PROGRESS_LOG_MS, as for tasks' pulls. */
static void
precache_progress_cb (const struct docker_pull_progress *p, void *data)
{
  struct op *op = data;
  if (!engine_pull_progress_update (op->progress, p, uv_now (op->e->loop)))
    return;
  struct engine_pull_summary s;
  engine_pull_progress_sum (op->progress, &s);
  log_debug (MOD, "pre-caching %s: %zu/%zu layers done, %lld of %lld bytes downloaded", op->msg,
             s.layers_done, s.layers, (long long) s.bytes_done, (long long) s.bytes_total);
}

static void
precache_pull (engine_t *e, size_t i)
{
  const char *image = e->images_cfg->precache[i];
  e->precache[i].waiting = !precache_may_start (e);
  if (e->precache[i].waiting)
    return;
  struct op *op = engine_op_new (e, OP_PRECACHE, NULL, i);
  op->msg = xstrdup (image);
  op->progress = xcalloc (1, sizeof *op->progress);
  op->progress->started_ms = op->progress->logged_ms = uv_now (e->loop);
  cleanup_free char *auth = e->auth ? docker_auth_for_image (e->auth, image) : NULL;
  struct docker_pull_opts o = { .image = image, .registry_auth = auth, .on_progress = precache_progress_cb };
  if (e->precache[i].attempts == 0)
    log_info (MOD, "pre-caching %s", image);
  op->handle = e->ops->pull (e->ops_ctx, &o, precache_done_cb, op);
}

void
engine_images_start (engine_t *e)
{
  if (!e->images_cfg)
    return;
  e->precache = xcalloc (e->images_cfg->n_precache ? e->images_cfg->n_precache : 1, sizeof *e->precache);
  for (size_t i = 0; i < e->images_cfg->n_precache; i++)
    precache_pull (e, i);
  if (e->images_cfg->cleanup_enabled)
    arm (e, e->images_cfg->cleanup_interval_ms);
}

bool
engine_precache_in_flight (const engine_t *e, const char *image)
{
  const struct op *o;
  TAILQ_FOREACH (o, &e->ops_list, link)
  if (o->kind == OP_PRECACHE && o->msg && strcmp (o->msg, image) == 0)
    return true;
  return false;
}

void
engine_issue_image_record (engine_t *e, const char *image, bool pull_succeeded)
{
  struct op *op = engine_op_new (e, OP_IMAGE_RECORD, NULL, 0);
  op->msg = xstrdup (image);
  op->flag = pull_succeeded;
  op->handle = e->ops->inspect_image (e->ops_ctx, image, engine_image_recorded_cb, op);
}

/* A task that went away: its images were last used now. */
void
engine_images_task_removed (engine_t *e, const struct task *t)
{
  int64_t now = engine_wall_ns ();
  for (size_t c = 0; c < t->n_containers; c++)
    {
      struct image_record *r = image_records_find_name (&e->images, t->containers[c].image);
      if (r)
        r->last_used_at_ns = now;
    }
}
