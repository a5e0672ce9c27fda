/* engine/image_untracked.c - steps 4 and 5 of an image cleanup cycle
 * (ECS_ENABLE_UNTRACKED_IMAGE_CLEANUP): the executor of the untracked
 * decisions of engine/images.h.  Runs inside the cycle (pulls still wait).
 *
 * Step 4: every container Docker lists (all) that no task the engine holds
 * knows, by id or by the name the engine chose for it, is inspected one at
 * a time; those the decision allows are removed (-v, no force) until the
 * per-cycle number of removals succeeded.
 * Step 5: every image is listed; the decision orders the untracked,
 * unexcluded, old enough ones by size; each is removed (its tags one by one
 * when it has several, else by id), every successful removal counting
 * against the budget, until the budget is spent.  Failures are logged and
 * skipped.  One Docker call at a time. */
#include "core/util.h"
#include "core/xmalloc.h"
#include "engine/engine_internal.h"
#include "log/log.h"
#include <stdlib.h>
#include <string.h>

/* Bounds of one cycle's work (a host with more is served over cycles). */
#define UNTRACKED_CONTAINERS_MAX 4096

struct untracked_run
{
  int budget;             /* step 5 */
  /* step 4 */
  char **ids;             /* untracked containers still to inspect */
  size_t n_ids, next_id;
  char **removable;       /* inspected and allowed */
  size_t n_removable, next_removable;
  int containers_removed;
  /* step 5 */
  struct docker_image_list *images;
  size_t *order, n_order, next_image;
  const char *refs[64];   /* of the image being removed (borrowed from images) */
  size_t n_refs, next_ref;
  int images_removed;
};

static void containers_next (engine_t *e);
static void images_start (engine_t *e);
static void images_next (engine_t *e);

static void
strv_free_n (char **v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free (v[i]);
  free (v);
}

void
engine_untracked_free (engine_t *e)
{
  struct untracked_run *u = e->untracked;
  if (!u)
    return;
  strv_free_n (u->ids, u->n_ids);
  strv_free_n (u->removable, u->n_removable);
  docker_image_list_free (u->images);
  free (u->order);
  free (u);
  e->untracked = NULL;
}

static void
finish (engine_t *e)
{
  struct untracked_run *u = e->untracked;
  log_info (MOD, "image cleanup (untracked): %d container(s) and %d image reference(s) removed",
            u->containers_removed, u->images_removed);
  engine_untracked_free (e);
  engine_image_cycle_finish (e);
}

/* A container the engine knows: by Docker id or by the name it chose. */
static bool
tracked_container (const engine_t *e, const struct docker_container_summary *s)
{
  for (size_t t = 0; t < e->n_tasks; t++)
    for (size_t c = 0; c < e->tasks[t]->n_containers; c++)
      {
        const struct task_container *k = &e->tasks[t]->containers[c];
        if (k->docker_id && strcmp (k->docker_id, s->id) == 0)
          return true;
        for (size_t j = 0; k->docker_name && j < s->n_names; j++)
          if (strcmp (k->docker_name, s->names[j]) == 0)
            return true;
      }
  return false;
}

/* ---- step 4 --------------------------------------------------------------------- */

static void
container_removed_cb (agent_error_t err, void *data)
{
  struct op *op = data;
  engine_t *e = op->e;
  engine_op_finish (op);
  struct untracked_run *u = e->untracked;
  const char *id = u->removable[u->next_removable - 1];
  if (err)
    log_warn (MOD, "image cleanup: cannot remove untracked container %.12s: %s", id, err->msg);
  else
    {
      log_info (MOD, "image cleanup: removed untracked container %.12s", id);
      u->containers_removed++;
    }
  containers_next (e);
}

static void
container_inspected_cb (const struct docker_container_info *info, agent_error_t err, void *data)
{
  struct op *op = data;
  engine_t *e = op->e;
  engine_op_finish (op);
  struct untracked_run *u = e->untracked;
  const char *id = u->ids[u->next_id - 1];
  if (err)
    log_warn (MOD, "image cleanup: cannot inspect untracked container %.12s: %s", id, err->msg);
  else if (engine_decide_untracked_container (info->status, info->finished_at != NULL, info->finished_at_ns,
                                              engine_wall_ns (), e->cleanup_wait_ms))
    {
      u->removable = xrealloc (u->removable, (u->n_removable + 1) * sizeof *u->removable);
      u->removable[u->n_removable++] = xstrdup (id);
    }
  containers_next (e);
}

static void
containers_next (engine_t *e)
{
  struct untracked_run *u = e->untracked;
  if (e->stopped)
    {
      finish (e);
      return;
    }
  if (u->next_id < u->n_ids)
    {
      struct op *op = engine_op_new (e, OP_UNTRACKED, NULL, 0);
      op->handle = e->ops->inspect (e->ops_ctx, u->ids[u->next_id++], container_inspected_cb, op);
      return;
    }
  if (u->next_removable < u->n_removable && u->containers_removed < e->images_cfg->nonecs_containers_per_cycle)
    {
      const char *id = u->removable[u->next_removable++];
      log_debug (MOD, "image cleanup: removing untracked container %.12s", id);
      struct op *op = engine_op_new (e, OP_UNTRACKED, NULL, 0);
      op->handle = e->ops->remove_idle (e->ops_ctx, id, container_removed_cb, op);
      return;
    }
  images_start (e);
}

static void
containers_listed_cb (const struct docker_container_list *list, agent_error_t err, void *data)
{
  struct op *op = data;
  engine_t *e = op->e;
  engine_op_finish (op);
  struct untracked_run *u = e->untracked;
  if (err)
    log_warn (MOD, "image cleanup: cannot list containers: %s", err->msg);
  for (size_t i = 0; list && i < list->n && u->n_ids < UNTRACKED_CONTAINERS_MAX; i++)
    if (!tracked_container (e, &list->items[i]))
      {
        u->ids = xrealloc (u->ids, (u->n_ids + 1) * sizeof *u->ids);
        u->ids[u->n_ids++] = xstrdup (list->items[i].id);
      }
  containers_next (e);
}

/* ---- step 5 --------------------------------------------------------------------- */

static void
image_removed_cb (agent_error_t err, void *data)
{
  struct op *op = data;
  engine_t *e = op->e;
  engine_op_finish (op);
  struct untracked_run *u = e->untracked;
  const char *ref = u->refs[u->next_ref - 1];
  if (err)
    log_warn (MOD, "image cleanup: cannot remove untracked image %s: %s", ref, err->msg);
  else
    {
      log_info (MOD, "image cleanup: removed untracked image %s", ref);
      u->images_removed++;
    }
  images_next (e);
}

static void
images_next (engine_t *e)
{
  struct untracked_run *u = e->untracked;
  if (e->stopped)
    {
      finish (e);
      return;
    }
  if (u->next_ref >= u->n_refs)
    {
      /* the next image, while the budget lasts (an image's tags all go) */
      if (u->images_removed >= u->budget || u->next_image >= u->n_order)
        {
          finish (e);
          return;
        }
      const struct docker_image_summary *img = &u->images->items[u->order[u->next_image++]];
      u->n_refs = engine_untracked_image_refs (img, u->refs, ARRAY_SIZE (u->refs));
      u->next_ref = 0;
    }
  struct op *op = engine_op_new (e, OP_UNTRACKED, NULL, 0);
  op->handle = e->ops->image_remove (e->ops_ctx, u->refs[u->next_ref++], image_removed_cb, op);
}

static void
images_listed_cb (const struct docker_image_list *list, agent_error_t err, void *data)
{
  struct op *op = data;
  engine_t *e = op->e;
  engine_op_finish (op);
  struct untracked_run *u = e->untracked;
  if (err || !list)
    {
      log_warn (MOD, "image cleanup: cannot list images: %s", err ? err->msg : "no answer");
      finish (e);
      return;
    }
  /* keep the list: the order and the references point into it */
  u->images = xcalloc (1, sizeof *u->images);
  u->images->n = list->n;
  u->images->items = xcalloc (list->n ? list->n : 1, sizeof *u->images->items);
  for (size_t i = 0; i < list->n; i++)
    {
      struct docker_image_summary *d = &u->images->items[i];
      const struct docker_image_summary *s = &list->items[i];
      d->id = xstrdup (s->id);
      d->size = s->size;
      d->created = s->created;
      d->n_repo_tags = s->n_repo_tags;
      d->repo_tags = s->n_repo_tags ? xcalloc (s->n_repo_tags, sizeof *d->repo_tags) : NULL;
      for (size_t k = 0; k < s->n_repo_tags; k++)
        d->repo_tags[k] = xstrdup (s->repo_tags[k]);
    }
  size_t n_excl;
  cleanup_free const char **excl = engine_image_excluded_list (e, &n_excl);
  struct engine_untracked_view v = { .images = u->images, .records = &e->images, .excluded = excl,
                                     .n_excluded = n_excl, .now_ns = engine_wall_ns (),
                                     .min_age_ms = e->images_cfg->nonecs_min_age_ms };
  u->order = xcalloc (list->n ? list->n : 1, sizeof *u->order);
  u->n_order = engine_untracked_images_order (&v, u->order);
  log_debug (MOD, "image cleanup: %zu untracked image(s) may go, budget %d", u->n_order, u->budget);
  images_next (e);
}

static void
images_start (engine_t *e)
{
  struct untracked_run *u = e->untracked;
  if (u->budget <= 0)
    {
      finish (e);
      return;
    }
  struct op *op = engine_op_new (e, OP_UNTRACKED, NULL, 0);
  op->handle = e->ops->image_list (e->ops_ctx, NULL, images_listed_cb, op);
}

void
engine_untracked_run (engine_t *e, int tracked_tries)
{
  engine_untracked_free (e);
  struct untracked_run *u = e->untracked = xcalloc (1, sizeof *u);
  u->budget = engine_untracked_image_budget (e->images_cfg->images_per_cycle, tracked_tries);
  struct op *op = engine_op_new (e, OP_UNTRACKED, NULL, 0);
  op->handle = e->ops->list_by_label (e->ops_ctx, NULL, containers_listed_cb, op);
}
