/* task/image_record.c - the list of image records (task/image_record.h). */
#include "task/image_record.h"
#include "core/xmalloc.h"
#include <stdlib.h>
#include <string.h>

struct image_record *
image_records_find (const struct image_records *l, const char *id)
{
  for (size_t i = 0; id && i < l->n; i++)
    if (l->v[i].id && strcmp (l->v[i].id, id) == 0)
      return &l->v[i];
  return NULL;
}

static bool
has_name (const struct image_record *r, const char *name)
{
  for (size_t i = 0; i < r->n_names; i++)
    if (strcmp (r->names[i], name) == 0)
      return true;
  return false;
}

struct image_record *
image_records_find_name (const struct image_records *l, const char *name)
{
  for (size_t i = 0; name && i < l->n; i++)
    if (has_name (&l->v[i], name))
      return &l->v[i];
  return NULL;
}

unsigned
image_env_managed_keys (char *const *env, size_t n)
{
  unsigned m = 0;
  for (size_t i = 0; env && i < n; i++)
    {
      if (env[i] == NULL)
        continue;
      if (strncmp (env[i], "AWS_REGION=", 11) == 0)
        m |= IMAGE_ENV_AWS_REGION;
      else if (strncmp (env[i], "AWS_DEFAULT_REGION=", 19) == 0)
        m |= IMAGE_ENV_AWS_DEFAULT_REGION;
    }
  return m;
}

void
image_record_set_env (struct image_record *r, char *const *env, size_t n)
{
  r->managed_env = image_env_managed_keys (env, n);
  r->env_known = true;
}

void
image_record_drop_name (struct image_record *r, const char *name)
{
  for (size_t i = 0; i < r->n_names; i++)
    if (strcmp (r->names[i], name) == 0)
      {
        free (r->names[i]);
        memmove (&r->names[i], &r->names[i + 1], (r->n_names - i - 1) * sizeof *r->names);
        r->n_names--;
        return;
      }
}

void
image_records_push (struct image_records *l, struct image_record *r)
{
  if (l->n == l->cap)
    {
      l->cap = l->cap ? 2 * l->cap : 8;
      l->v = xrealloc (l->v, l->cap * sizeof *l->v);
    }
  l->v[l->n++] = *r;
  memset (r, 0, sizeof *r);
}

struct image_record *
image_records_add (struct image_records *l, const char *id, const char *name, int64_t size,
                   int64_t now_ns, bool pull_succeeded)
{
  for (size_t i = 0; i < l->n; i++)
    if (strcmp (l->v[i].id, id) != 0)
      image_record_drop_name (&l->v[i], name);
  struct image_record *r = image_records_find (l, id);
  if (r == NULL)
    {
      if (l->n >= IMAGE_RECORDS_MAX)
        return NULL;
      struct image_record n = { .id = xstrdup (id), .pulled_at_ns = now_ns, .last_used_at_ns = now_ns };
      image_records_push (l, &n);
      r = &l->v[l->n - 1];
    }
  if (!has_name (r, name))
    {
      if (r->n_names >= IMAGE_RECORD_NAMES_MAX)
        image_record_drop_name (r, r->names[0]);
      r->names = xrealloc (r->names, (r->n_names + 1) * sizeof *r->names);
      r->names[r->n_names++] = xstrdup (name);
    }
  if (size > 0)
    r->size = size;
  r->pull_succeeded |= pull_succeeded;
  return r;
}

void
image_record_clear (struct image_record *r)
{
  for (size_t i = 0; i < r->n_names; i++)
    free (r->names[i]);
  free (r->names);
  free (r->id);
  memset (r, 0, sizeof *r);
}

void
image_records_remove (struct image_records *l, struct image_record *r)
{
  size_t i = (size_t) (r - l->v);
  if (i >= l->n)
    return;
  image_record_clear (r);
  memmove (&l->v[i], &l->v[i + 1], (l->n - i - 1) * sizeof *l->v);
  l->n--;
}

void
image_records_free (struct image_records *l)
{
  for (size_t i = 0; i < l->n; i++)
    image_record_clear (&l->v[i]);
  free (l->v);
  memset (l, 0, sizeof *l);
}
