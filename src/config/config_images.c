/* config/config_images.c - the keys of image pulls, automated image
 * cleanup (tracked and untracked), image pre-caching and the launch
 * concurrency limit.  Upstream's keys keep upstream's defaults and
 * clamping (an unknown pull behaviour is "default"; a cleanup interval
 * below 10 minutes is 30 minutes; fewer than one image per cycle is five;
 * an inactivity timeout below one minute is one minute); a value that does
 * not parse at all is an ERR_TERMINAL error naming the key, like every
 * other key of this agent.
 *
 * Each key is read from the environment first, else from the JSON config
 * file under upstream's Go field name (matched case-insensitively):
 * durations as Go writes them (integer nanoseconds) or as text ("30m"),
 * booleans as true/false (or 0/1), ImagePullBehavior as upstream's number
 * (0 default, 1 always, 2 once, 3 prefer-cached) or its text, lists as
 * arrays of strings.  A member that is null counts as absent.  The two
 * keys upstream does not have get file names in the same style
 * (LaunchConcurrency, PrecacheImages). */
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

/* The file member of one key, NULL when absent or null. */
static json_t *
file_member (json_t *file, const char *name)
{
  json_t *v = file ? config_file_get (file, name) : NULL;
  return v && !json_is_null (v) ? v : NULL;
}

static int
file_error (agent_error_t *err, const char *name, const char *want)
{
  return error_set (err, ERR_TERMINAL, "config file key %s: expected %s", name, want);
}

static int
get_int (config_getenv_fn env, void *d, json_t *file, const char *key, const char *fkey, int *field,
         agent_error_t *err)
{
  if (config_env (env, d, key))
    return env_int (env, d, key, field, err);
  json_t *v = file_member (file, fkey);
  if (v == NULL)
    return 0;
  if (!json_is_integer (v) || json_integer_value (v) < -1000000 || json_integer_value (v) > 1000000)
    return file_error (err, fkey, "an integer");
  *field = (int) json_integer_value (v);
  return 0;
}

static int
get_duration (config_getenv_fn env, void *d, json_t *file, const char *key, const char *fkey,
              uint64_t *field, bool *set, agent_error_t *err)
{
  if (config_env (env, d, key))
    return config_env_duration (env, d, key, field, set, err);
  json_t *v = file_member (file, fkey);
  if (v == NULL)
    return 0;
  if (json_is_integer (v) && json_integer_value (v) >= 0) /* Go: nanoseconds */
    *field = (uint64_t) json_integer_value (v) / 1000000;
  else if (!json_is_string (v) || config_parse_duration (json_string_value (v), field, err) < 0)
    {
      error_free (err);
      return file_error (err, fkey, "a duration (nanoseconds, or text such as \"30m\")");
    }
  *set = true;
  return 0;
}

static int
get_bool (config_getenv_fn env, void *d, json_t *file, const char *key, const char *fkey, bool *field,
          agent_error_t *err)
{
  bool ignored;
  if (config_env (env, d, key))
    return config_env_bool (env, d, key, field, &ignored, err);
  json_t *v = file_member (file, fkey);
  if (v == NULL)
    return 0;
  if (json_is_boolean (v))
    *field = json_is_true (v);
  else if (json_is_integer (v) && (json_integer_value (v) == 0 || json_integer_value (v) == 1))
    *field = json_integer_value (v) == 1;
  else
    return file_error (err, fkey, "true or false");
  return 0;
}

static int
get_list (config_getenv_fn env, void *d, json_t *file, const char *key, const char *fkey, bool trim,
          char ***out, size_t *n, agent_error_t *err)
{
  if (config_env (env, d, key))
    {
      env_list (env, d, key, trim, out, n);
      return 0;
    }
  json_t *v = file_member (file, fkey);
  if (v == NULL)
    return 0;
  if (!json_is_array (v))
    return file_error (err, fkey, "an array of strings");
  size_t i;
  json_t *e;
  json_array_foreach (v, i, e)
  if (!json_is_string (e))
    return file_error (err, fkey, "an array of strings");
  json_array_foreach (v, i, e)
  {
    const char *t = json_string_value (e);
    cleanup_free char *dup = NULL;
    if (trim)
      {
        while (isspace ((unsigned char) *t))
          t++;
        dup = xstrdup (t);
        size_t l = strlen (dup);
        while (l > 0 && isspace ((unsigned char) dup[l - 1]))
          dup[--l] = '\0';
        t = dup;
      }
    if (*t == '\0')
      continue;
    *out = xrealloc (*out, (*n + 1) * sizeof **out);
    (*out)[(*n)++] = xstrdup (t);
  }
  return 0;
}

/* Unknown text is default, as upstream. */
static void
behavior_from_text (const char *v, enum config_pull_behavior *b)
{
  *b = CONFIG_PULL_DEFAULT;
  if (strcmp (v, "always") == 0)
    *b = CONFIG_PULL_ALWAYS;
  else if (strcmp (v, "once") == 0)
    *b = CONFIG_PULL_ONCE;
  else if (strcmp (v, "prefer-cached") == 0)
    *b = CONFIG_PULL_PREFER_CACHED;
}

static int
get_behavior (config_getenv_fn env, void *d, json_t *file, enum config_pull_behavior *b,
              agent_error_t *err)
{
  const char *v = config_env (env, d, "ECS_IMAGE_PULL_BEHAVIOR");
  if (v)
    {
      behavior_from_text (v, b);
      return 0;
    }
  json_t *j = file_member (file, "ImagePullBehavior");
  if (j == NULL)
    return 0;
  if (json_is_string (j))
    {
      behavior_from_text (json_string_value (j), b);
      return 0;
    }
  if (!json_is_integer (j) || json_integer_value (j) < 0 || json_integer_value (j) > 3)
    return file_error (err, "ImagePullBehavior", "0, 1, 2 or 3 (default, always, once, prefer-cached)");
  static const enum config_pull_behavior by_number[] = { CONFIG_PULL_DEFAULT, CONFIG_PULL_ALWAYS,
                                                         CONFIG_PULL_ONCE, CONFIG_PULL_PREFER_CACHED };
  *b = by_number[json_integer_value (j)];
  return 0;
}

int
config_images_load (struct config_images *ci, config_getenv_fn env, void *d, json_t *file,
                    agent_error_t *err)
{
  bool set_timeout = false, set_inact = false, set_interval = false, set_age = false,
       set_nonecs_age = false, disabled = false;
  ci->pull_behavior = CONFIG_PULL_DEFAULT;
  ci->images_per_cycle = 5;
  ci->nonecs_containers_per_cycle = 5;
  ci->launch_concurrency = CONFIG_DEFAULT_LAUNCH_CONCURRENCY;
  if (get_behavior (env, d, file, &ci->pull_behavior, err) < 0
      || get_duration (env, d, file, "ECS_IMAGE_PULL_TIMEOUT", "ImagePullTimeout", &ci->pull_timeout_ms,
                       &set_timeout, err) < 0
      || get_duration (env, d, file, "ECS_IMAGE_PULL_INACTIVITY_TIMEOUT", "ImagePullInactivityTimeout",
                       &ci->pull_inactivity_timeout_ms, &set_inact, err) < 0
      || get_duration (env, d, file, "ECS_IMAGE_CLEANUP_INTERVAL", "ImageCleanupInterval",
                       &ci->cleanup_interval_ms, &set_interval, err) < 0
      || get_duration (env, d, file, "ECS_IMAGE_MINIMUM_CLEANUP_AGE", "MinimumImageDeletionAge",
                       &ci->min_cleanup_age_ms, &set_age, err) < 0
      || get_duration (env, d, file, "NON_ECS_IMAGE_MINIMUM_CLEANUP_AGE", "NonECSMinimumImageDeletionAge",
                       &ci->nonecs_min_age_ms, &set_nonecs_age, err) < 0
      || get_bool (env, d, file, "ECS_DISABLE_IMAGE_CLEANUP", "ImageCleanupDisabled", &disabled, err) < 0
      || get_bool (env, d, file, "ECS_ENABLE_UNTRACKED_IMAGE_CLEANUP", "DeleteNonECSImagesEnabled",
                   &ci->untracked_cleanup, err) < 0
      || get_bool (env, d, file, "ECS_PULL_DEPENDENT_CONTAINERS_UPFRONT", "DependentContainersPullUpfront",
                   &ci->pull_dependent_upfront, err) < 0
      || get_int (env, d, file, "ECS_NUM_IMAGES_DELETE_PER_CYCLE", "NumImagesToDeletePerCycle",
                  &ci->images_per_cycle, err) < 0
      || get_int (env, d, file, "NONECS_NUM_CONTAINERS_DELETE_PER_CYCLE", "NumNonECSContainersToDeletePerCycle",
                  &ci->nonecs_containers_per_cycle, err) < 0
      || get_int (env, d, file, "ECS_LAUNCH_CONCURRENCY", "LaunchConcurrency", &ci->launch_concurrency, err) < 0
      || get_list (env, d, file, "ECS_EXCLUDE_UNTRACKED_IMAGE", "ImageCleanupExclusionList", false,
                   &ci->exclude, &ci->n_exclude, err) < 0
      || get_list (env, d, file, "ECS_PRECACHE_IMAGES", "PrecacheImages", true, &ci->precache,
                   &ci->n_precache, err) < 0)
    return -1;
  if (!set_timeout || ci->pull_timeout_ms == 0)
    ci->pull_timeout_ms = 2 * 60 * MIN_MS;
  if (!set_inact || ci->pull_inactivity_timeout_ms < MIN_MS)
    ci->pull_inactivity_timeout_ms = MIN_MS;
  if (!set_interval || ci->cleanup_interval_ms < 10 * MIN_MS)
    ci->cleanup_interval_ms = 30 * MIN_MS;
  if (!set_age)
    ci->min_cleanup_age_ms = 60 * MIN_MS;
  if (!set_nonecs_age)
    ci->nonecs_min_age_ms = 60 * MIN_MS;
  if (ci->images_per_cycle < 1)
    ci->images_per_cycle = 5;
  if (ci->nonecs_containers_per_cycle < 0)
    ci->nonecs_containers_per_cycle = 5;
  if (ci->launch_concurrency < 0)
    return error_set (err, ERR_TERMINAL, "ECS_LAUNCH_CONCURRENCY: %d is negative (0 = unlimited)",
                      ci->launch_concurrency);
  ci->cleanup_enabled = !disabled && ci->pull_behavior != CONFIG_PULL_PREFER_CACHED;
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
