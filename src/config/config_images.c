/* config/config_images.c - the keys of image pulls, automated image
 * cleanup, image pre-caching and the launch concurrency limit.  Upstream's
 * keys keep upstream's defaults and clamping (an unknown pull behaviour is
 * "default"; a cleanup interval below 10 minutes is 30 minutes; fewer than
 * one image per cycle is five; an inactivity timeout below one minute is
 * one minute); a value that does not parse at all is an ERR_TERMINAL error
 * naming the key, like every other key of this agent. */
#include "config/config_int.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MIN_MS (60ULL * 1000)

static int
env_int (config_getenv_fn env, void *d, const char *key, int *field, agent_error_t *err)
{
  const char *v = config_env (env, d, key);
  if (v == NULL)
    return 0;
  char *end;
  errno = 0;
  long n = strtol (v, &end, 10);
  while (isspace ((unsigned char) *end))
    end++;
  if (errno || *end || end == v || n < -1000000 || n > 1000000)
    return error_set (err, ERR_TERMINAL, "%s: \"%s\" is not an integer", key, v);
  *field = (int) n;
  return 0;
}

/* Comma-separated list; trim: strip blanks around items; empty items dropped. */
static void
env_list (config_getenv_fn env, void *d, const char *key, bool trim, char ***out, size_t *n)
{
  const char *v = config_env (env, d, key);
  if (v == NULL)
    return;
  const char *p = v;
  for (;;)
    {
      const char *comma = strchr (p, ',');
      const char *end = comma ? comma : p + strlen (p);
      const char *b = p, *e = end;
      if (trim)
        {
          while (b < e && isspace ((unsigned char) *b))
            b++;
          while (e > b && isspace ((unsigned char) e[-1]))
            e--;
        }
      if (e > b)
        {
          *out = xrealloc (*out, (*n + 1) * sizeof **out);
          (*out)[(*n)++] = xstrndup (b, (size_t) (e - b));
        }
      if (!comma)
        break;
      p = comma + 1;
    }
}

int
config_images_load (struct config_images *ci, config_getenv_fn env, void *d, agent_error_t *err)
{
  bool set_timeout = false, set_inact = false, set_interval = false, set_age = false,
       disabled = false, ignored;
  ci->pull_behavior = CONFIG_PULL_DEFAULT;
  const char *v = config_env (env, d, "ECS_IMAGE_PULL_BEHAVIOR");
  if (v && strcmp (v, "always") == 0)
    ci->pull_behavior = CONFIG_PULL_ALWAYS;
  else if (v && strcmp (v, "once") == 0)
    ci->pull_behavior = CONFIG_PULL_ONCE;
  else if (v && strcmp (v, "prefer-cached") == 0)
    ci->pull_behavior = CONFIG_PULL_PREFER_CACHED;
  ci->images_per_cycle = 5;
  ci->launch_concurrency = CONFIG_DEFAULT_LAUNCH_CONCURRENCY;
  if (config_env_duration (env, d, "ECS_IMAGE_PULL_TIMEOUT", &ci->pull_timeout_ms, &set_timeout, err) < 0
      || config_env_duration (env, d, "ECS_IMAGE_PULL_INACTIVITY_TIMEOUT", &ci->pull_inactivity_timeout_ms, &set_inact, err) < 0
      || config_env_duration (env, d, "ECS_IMAGE_CLEANUP_INTERVAL", &ci->cleanup_interval_ms, &set_interval, err) < 0
      || config_env_duration (env, d, "ECS_IMAGE_MINIMUM_CLEANUP_AGE", &ci->min_cleanup_age_ms, &set_age, err) < 0
      || config_env_bool (env, d, "ECS_DISABLE_IMAGE_CLEANUP", &disabled, &ignored, err) < 0
      || config_env_bool (env, d, "ECS_PULL_DEPENDENT_CONTAINERS_UPFRONT", &ci->pull_dependent_upfront,
                          &ignored, err) < 0
      || env_int (env, d, "ECS_NUM_IMAGES_DELETE_PER_CYCLE", &ci->images_per_cycle, err) < 0
      || env_int (env, d, "ECS_LAUNCH_CONCURRENCY", &ci->launch_concurrency, err) < 0)
    return -1;
  if (!set_timeout || ci->pull_timeout_ms == 0)
    ci->pull_timeout_ms = 2 * 60 * MIN_MS;
  if (!set_inact || ci->pull_inactivity_timeout_ms < MIN_MS)
    ci->pull_inactivity_timeout_ms = MIN_MS;
  if (!set_interval || ci->cleanup_interval_ms < 10 * MIN_MS)
    ci->cleanup_interval_ms = 30 * MIN_MS;
  if (!set_age)
    ci->min_cleanup_age_ms = 60 * MIN_MS;
  if (ci->images_per_cycle < 1)
    ci->images_per_cycle = 5;
  if (ci->launch_concurrency < 0)
    return error_set (err, ERR_TERMINAL, "ECS_LAUNCH_CONCURRENCY: %d is negative (0 = unlimited)",
                      ci->launch_concurrency);
  ci->cleanup_enabled = !disabled && ci->pull_behavior != CONFIG_PULL_PREFER_CACHED;
  env_list (env, d, "ECS_EXCLUDE_UNTRACKED_IMAGE", false, &ci->exclude, &ci->n_exclude);
  env_list (env, d, "ECS_PRECACHE_IMAGES", true, &ci->precache, &ci->n_precache);
  return 0;
}

void
config_images_free (struct config_images *ci)
{
  for (size_t i = 0; i < ci->n_exclude; i++)
    free (ci->exclude[i]);
  free (ci->exclude);
  for (size_t i = 0; i < ci->n_precache; i++)
    free (ci->precache[i]);
  free (ci->precache);
  memset (ci, 0, sizeof *ci);
}
