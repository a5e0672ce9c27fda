/* engine/images.c - pure image decisions (engine/images.h). */
#include "engine/images.h"
#include <stdio.h>
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
