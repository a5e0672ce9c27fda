/* state/checkpoint_images.c - image records <-> checkpoint JSON
 * (state/checkpoint_images.h). */
#include "state/checkpoint_images.h"
#include "core/time.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "task/task_decode.h"
#include <stdlib.h>
#include <string.h>

static const struct
{
  const char *name;
  unsigned bit;
} managed_keys[] = { { "AWS_REGION", IMAGE_ENV_AWS_REGION },
                     { "AWS_DEFAULT_REGION", IMAGE_ENV_AWS_DEFAULT_REGION } };

json_t *
state_images_to_json (const struct image_records *l)
{
  json_t *arr = json_array ();
  for (size_t i = 0; i < l->n; i++)
    {
      const struct image_record *r = &l->v[i];
      json_t *names = json_array ();
      for (size_t k = 0; k < r->n_names; k++)
        json_array_append_new (names, json_string (r->names[k]));
      char pulled[TIME_RFC3339_LEN], used[TIME_RFC3339_LEN];
      time_rfc3339_format (r->pulled_at_ns, pulled, sizeof pulled);
      time_rfc3339_format (r->last_used_at_ns, used, sizeof used);
      json_t *o = json_pack ("{s:{s:s,s:o,s:I},s:s,s:s,s:b}", "Image", "ImageID", r->id, "Names", names,
                             "Size", (json_int_t) r->size, "PulledAt", pulled, "LastUsedAt", used,
                             "PullSucceeded", r->pull_succeeded);
      if (r->env_known) /* absent: not read yet (an inspect before the next create reads it) */
        {
          json_t *keys = json_array ();
          for (size_t k = 0; k < ARRAY_SIZE (managed_keys); k++)
            if (r->managed_env & managed_keys[k].bit)
              json_array_append_new (keys, json_string (managed_keys[k].name));
          json_object_set_new (o, "ManagedEnvKeys", keys);
        }
      json_array_append_new (arr, o);
    }
  return json_pack ("{s:o}", "ImageStates", arr);
}

static int
read_time (json_t *o, const char *key, const char *path, int64_t *out, agent_error_t *err)
{
  cleanup_free char *s = NULL;
  if (task_json_string (o, key, path, false, &s, err) < 0)
    return -1;
  if (s && time_rfc3339_parse (s, out) < 0)
    return error_set (err, ERR_INVALID, "%s.%s: not an RFC 3339 time", path, key);
  return 0;
}

static int
read_one (json_t *o, const char *path, struct image_record *r, agent_error_t *err)
{
  json_t *img = task_json_get (o, "Image");
  if (!json_is_object (o) || !json_is_object (img))
    return error_set (err, ERR_INVALID, "%s: expected an object with an Image object", path);
  cleanup_free char *ipath = xasprintf ("%s.Image", path);
  char **names = NULL;
  int64_t size = 0;
  if (task_json_string (img, "ImageID", ipath, true, &r->id, err) < 0
      || task_json_strv (img, "Names", ipath, &names, err) < 0
      || task_json_int_range (img, "Size", ipath, 0, INT64_MAX, false, &size, err) < 0
      || read_time (o, "PulledAt", path, &r->pulled_at_ns, err) < 0
      || read_time (o, "LastUsedAt", path, &r->last_used_at_ns, err) < 0
      || task_json_bool (o, "PullSucceeded", path, &r->pull_succeeded, err) < 0)
    {
      task_strv_free (names);
      return -1;
    }
  r->size = size;
  json_t *keys = task_json_get (o, "ManagedEnvKeys");
  if (!task_json_null (keys)) /* a checkpoint from before the field: unknown */
    {
      if (!json_is_array (keys))
        {
          task_strv_free (names);
          return error_set (err, ERR_INVALID, "%s.ManagedEnvKeys: expected an array of names", path);
        }
      r->env_known = true;
      size_t k;
      json_t *v;
      json_array_foreach (keys, k, v)
      {
        for (size_t m = 0; m < ARRAY_SIZE (managed_keys); m++)
          if (json_is_string (v) && strcmp (json_string_value (v), managed_keys[m].name) == 0)
            r->managed_env |= managed_keys[m].bit;
      }
    }
  for (size_t k = 0; names && names[k]; k++)
    if (r->n_names < IMAGE_RECORD_NAMES_MAX)
      {
        r->names = xrealloc (r->names, (r->n_names + 1) * sizeof *r->names);
        r->names[r->n_names++] = xstrdup (names[k]);
      }
  task_strv_free (names);
  return 0;
}

int
state_images_from_json (json_t *j, struct image_records *out, agent_error_t *err)
{
  json_t *arr = task_json_get (j, "ImageStates");
  if (!json_is_object (j) || (!task_json_null (arr) && !json_is_array (arr)))
    return error_set (err, ERR_INVALID, "ImageManager: expected {\"ImageStates\": [...]}");
  if (json_array_size (arr) > IMAGE_RECORDS_MAX)
    return error_set (err, ERR_INVALID, "ImageManager.ImageStates: more than %d images",
                      IMAGE_RECORDS_MAX);
  for (size_t i = 0; i < json_array_size (arr); i++)
    {
      cleanup_free char *path = xasprintf ("ImageManager.ImageStates[%zu]", i);
      struct image_record r = { 0 };
      if (read_one (json_array_get (arr, i), path, &r, err) < 0)
        {
          image_record_clear (&r);
          image_records_free (out);
          return -1;
        }
      if (image_records_find (out, r.id))
        {
          image_record_clear (&r);
          image_records_free (out);
          return error_set (err, ERR_INVALID, "%s: image id listed twice", path);
        }
      image_records_push (out, &r);
    }
  return 0;
}
