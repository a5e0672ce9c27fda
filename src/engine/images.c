/* engine/images.c - pure image decisions (engine/images.h). */
#include "engine/images.h"
#include "core/xmalloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum engine_pull_policy
engine_decide_pull_policy (enum config_pull_behavior b, bool pulled_before)
{
  switch (b)
    {
    case CONFIG_PULL_ONCE:
      return pulled_before ? ENGINE_POLICY_SKIP : ENGINE_POLICY_PULL;
    case CONFIG_PULL_PREFER_CACHED:
      return ENGINE_POLICY_CHECK_LOCAL;
    case CONFIG_PULL_DEFAULT:
    case CONFIG_PULL_ALWAYS:
      break;
    }
  return ENGINE_POLICY_PULL;
}

bool
engine_pull_failure_falls_back (enum config_pull_behavior b)
{
  return b == CONFIG_PULL_DEFAULT || b == CONFIG_PULL_PREFER_CACHED;
}

const char *
engine_pull_behavior_name (enum config_pull_behavior b)
{
  switch (b)
    {
    case CONFIG_PULL_ALWAYS: return "always";
    case CONFIG_PULL_ONCE: return "once";
    case CONFIG_PULL_PREFER_CACHED: return "prefer-cached";
    case CONFIG_PULL_DEFAULT: break;
    }
  return "default";
}

/* ---- progress ---------------------------------------------------------------- */

static ssize_t
layer (struct engine_pull_progress *p, const char *id)
{
  for (size_t i = 0; i < p->n; i++)
    if (strcmp (p->layers[i].id, id) == 0)
      return (ssize_t) i;
  if (p->n >= ENGINE_PULL_LAYERS_MAX || strlen (id) >= sizeof p->layers[0].id)
    return -1;
  size_t i = p->n++;
  snprintf (p->layers[i].id, sizeof p->layers[i].id, "%s", id);
  p->layers[i].current = 0;
  p->layers[i].total = -1;
  p->layers[i].done = false;
  return (ssize_t) i;
}

bool
engine_pull_progress_update (struct engine_pull_progress *p, const struct docker_pull_progress *l,
                             uint64_t now_ms)
{
  if (p->started_ms == 0)
    p->started_ms = p->logged_ms = now_ms ? now_ms : 1;
  if (l->status && l->id)
    {
      /* whole-image lines ("Pulling from library/x", "Digest: ...") have an
         id that is not a layer: only layer statuses create entries */
      bool layer_status = strcmp (l->status, "Pulling fs layer") == 0 || strcmp (l->status, "Waiting") == 0
                          || strcmp (l->status, "Downloading") == 0 || strcmp (l->status, "Verifying Checksum") == 0
                          || strcmp (l->status, "Download complete") == 0 || strcmp (l->status, "Extracting") == 0
                          || strcmp (l->status, "Pull complete") == 0 || strcmp (l->status, "Already exists") == 0;
      ssize_t i = layer_status ? layer (p, l->id) : -1;
      if (i >= 0)
        {
          if (strcmp (l->status, "Downloading") == 0)
            {
              if (l->total >= 0)
                p->layers[i].total = l->total;
              if (l->current >= 0)
                p->layers[i].current = l->current;
            }
          else if (strcmp (l->status, "Download complete") == 0 && p->layers[i].total >= 0)
            p->layers[i].current = p->layers[i].total;
          else if (strcmp (l->status, "Pull complete") == 0 || strcmp (l->status, "Already exists") == 0)
            {
              p->layers[i].done = true;
              if (p->layers[i].total >= 0)
                p->layers[i].current = p->layers[i].total;
            }
        }
    }
  if (now_ms - p->logged_ms < ENGINE_PULL_PROGRESS_LOG_MS)
    return false;
  p->logged_ms = now_ms;
  return true;
}

void
engine_pull_progress_sum (const struct engine_pull_progress *p, struct engine_pull_summary *s)
{
  memset (s, 0, sizeof *s);
  s->layers = p->n;
  for (size_t i = 0; i < p->n; i++)
    {
      s->layers_done += p->layers[i].done;
      if (p->layers[i].total >= 0)
        {
          s->bytes_total += p->layers[i].total;
          s->bytes_done += p->layers[i].current;
        }
    }
}

/* ---- launch concurrency ------------------------------------------------------------ */

bool
engine_decide_launch_slot (int limit, size_t in_flight)
{
  return limit <= 0 || in_flight < (size_t) limit;
}

/* ---- cleanup ------------------------------------------------------------------------ */

bool
engine_image_excluded (const struct image_record *r, const char *const *excluded, size_t n)
{
  for (size_t i = 0; i < r->n_names; i++)
    for (size_t k = 0; k < n; k++)
      if (strcmp (r->names[i], excluded[k]) == 0)
        return true;
  return false;
}

ssize_t
engine_decide_image_to_remove (const struct engine_cleanup_view *v)
{
  ssize_t best = -1;
  int64_t min_age_ns = (int64_t) v->min_age_ms * 1000000LL;
  for (size_t i = 0; i < v->records->n; i++)
    {
      const struct image_record *r = &v->records->v[i];
      if (v->in_use[i] || (v->skip && v->skip[i]) || engine_image_excluded (r, v->excluded, v->n_excluded))
        continue;
      if (v->now_ns - r->pulled_at_ns <= min_age_ns)
        continue;
      if (best < 0 || r->last_used_at_ns < v->records->v[best].last_used_at_ns)
        best = (ssize_t) i;
    }
  return best;
}

/* ---- untracked cleanup ---------------------------------------------------------- */

bool
engine_decide_untracked_container (const char *status, bool finished_known, int64_t finished_ns,
                                   int64_t now_ns, uint64_t wait_ms)
{
  if (status == NULL || !finished_known)
    return false;
  if (strcmp (status, "exited") != 0 && strcmp (status, "dead") != 0 && strcmp (status, "created") != 0)
    return false;
  if (finished_ns == 0) /* Docker's zero time (year 1): older than any wait */
    return true;
  return now_ns - finished_ns > (int64_t) wait_ms * 1000000LL;
}

int
engine_untracked_image_budget (int per_cycle, int tracked_tries)
{
  if (per_cycle <= 0)
    return 0;
  if (tracked_tries >= per_cycle)
    return 1;
  return per_cycle - (tracked_tries > 0 ? tracked_tries : 0);
}

static bool
tag_excluded (const struct docker_image_summary *img, const char *const *excluded, size_t n)
{
  for (size_t i = 0; i < img->n_repo_tags; i++)
    for (size_t k = 0; k < n; k++)
      if (strcmp (img->repo_tags[i], excluded[k]) == 0)
        return true;
  return false;
}

struct order_key
{
  int64_t size;
  size_t index;
};

static int
order_key_cmp (const void *a, const void *b)
{
  const struct order_key *x = a, *y = b;
  if (x->size != y->size)
    return x->size < y->size ? -1 : 1;
  return x->index < y->index ? -1 : x->index > y->index;
}

size_t
engine_untracked_images_order (const struct engine_untracked_view *v, size_t *order)
{
  if (v->images == NULL || v->images->n == 0)
    return 0;
  struct order_key *keys = xcalloc (v->images->n, sizeof *keys);
  size_t n = 0;
  int64_t min_age_ns = (int64_t) v->min_age_ms * 1000000LL;
  for (size_t i = 0; i < v->images->n; i++)
    {
      const struct docker_image_summary *img = &v->images->items[i];
      if ((v->records && image_records_find (v->records, img->id))
          || tag_excluded (img, v->excluded, v->n_excluded))
        continue;
      if (v->now_ns - img->created * 1000000000LL <= min_age_ns)
        continue; /* not old enough (skipped, not counted) */
      keys[n++] = (struct order_key){ img->size, i };
    }
  qsort (keys, n, sizeof *keys, order_key_cmp);
  for (size_t i = 0; i < n; i++)
    order[i] = keys[i].index;
  free (keys);
  return n;
}

size_t
engine_untracked_image_refs (const struct docker_image_summary *img, const char **refs, size_t max)
{
  if (max == 0)
    return 0;
  if (img->n_repo_tags <= 1)
    {
      refs[0] = img->id;
      return 1;
    }
  size_t n = img->n_repo_tags < max ? img->n_repo_tags : max;
  for (size_t i = 0; i < n; i++)
    refs[i] = img->repo_tags[i];
  return n;
}

/* ---- image digests ------------------------------------------------------------ */

static bool
is_sha256_digest (const char *d)
{
  if (strncmp (d, "sha256:", 7) != 0 || strlen (d) != 7 + 64)
    return false;
  for (const char *p = d + 7; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
      return false;
  return true;
}

const char *
engine_pull_status_digest (const char *status)
{
  if (!status || strncmp (status, "Digest: ", 8) != 0)
    return NULL;
  return is_sha256_digest (status + 8) ? status + 8 : NULL;
}

/* image's repository: without "@digest" and ":tag" (a ':' after the last '/'),
   with docker.io/ and library/ taken off so Hub names compare equal. */
static void
repo_of (const char *image, char *out, size_t len)
{
  snprintf (out, len, "%s", image);
  char *at = strchr (out, '@');
  if (at)
    *at = '\0';
  char *slash = strrchr (out, '/'), *colon = strrchr (out, ':');
  if (colon && (!slash || colon > slash))
    *colon = '\0';
  const char *p = out;
  if (strncmp (p, "docker.io/", 10) == 0)
    p += 10;
  else if (strncmp (p, "index.docker.io/", 16) == 0)
    p += 16;
  if (strncmp (p, "library/", 8) == 0)
    p += 8;
  memmove (out, p, strlen (p) + 1);
}

const char *
engine_repo_digest_for (const char *image, char *const *digests, size_t n)
{
  if (!image || !digests)
    return NULL;
  char want[512], have[512];
  repo_of (image, want, sizeof want);
  const char *only = NULL;
  size_t valid = 0;
  for (size_t i = 0; i < n; i++)
    {
      const char *at = digests[i] ? strrchr (digests[i], '@') : NULL;
      if (!at || !is_sha256_digest (at + 1))
        continue;
      valid++;
      only = at + 1;
      repo_of (digests[i], have, sizeof have);
      if (strcmp (have, want) == 0)
        return at + 1;
    }
  return valid == 1 ? only : NULL;
}

enum engine_create_image
engine_decide_create_image (bool region_wanted, const struct image_record *r, bool record_in_flight,
                            bool inspect_failed)
{
  if (!region_wanted)
    return ENGINE_CREATE_IMAGE_READY;
  if (record_in_flight) /* a pull step's inspect: the record may move to a new id */
    return ENGINE_CREATE_IMAGE_WAIT;
  if ((r && r->env_known) || inspect_failed)
    return ENGINE_CREATE_IMAGE_READY;
  return ENGINE_CREATE_IMAGE_INSPECT;
}
