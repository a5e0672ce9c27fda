/* docker/image_list.c - GET /images/json: the call and its parser (the
 * untracked-image step of the image cleanup lists every image with it).
 * Entries without an Id are skipped; members of the wrong type read as
 * absent (size and created 0, no tags). */
#include "docker/docker_int.h"
#include "core/xmalloc.h"
#include <stdlib.h>
#include <string.h>

/* At most this many entries are kept from one answer (a bound, not a
   limit any real engine reaches). */
#define IMAGE_LIST_MAX 65536
#define IMAGE_TAGS_MAX 1024

void
docker_image_list_free (struct docker_image_list *l)
{
  if (l == NULL)
    return;
  for (size_t i = 0; i < l->n; i++)
    {
      struct docker_image_summary *s = &l->items[i];
      free (s->id);
      for (size_t k = 0; k < s->n_repo_tags; k++)
        free (s->repo_tags[k]);
      free (s->repo_tags);
    }
  free (l->items);
  free (l);
}

static int64_t
int_member (json_t *o, const char *key)
{
  json_t *v = json_object_get (o, key);
  return json_is_integer (v) ? (int64_t) json_integer_value (v) : 0;
}

static char **
tags_read (json_t *a, size_t *n)
{
  *n = 0;
  if (!json_is_array (a) || json_array_size (a) == 0)
    return NULL;
  size_t cap = json_array_size (a) < IMAGE_TAGS_MAX ? json_array_size (a) : IMAGE_TAGS_MAX;
  char **v = xcalloc (cap, sizeof *v);
  size_t i;
  json_t *e;
  json_array_foreach (a, i, e)
  {
    if (*n >= cap)
      break;
    const char *t = json_string_value (e);
    if (t && t[0] && strcmp (t, "<none>:<none>") != 0)
      v[(*n)++] = xstrdup (t);
  }
  if (*n == 0)
    {
      free (v);
      return NULL;
    }
  return v;
}

int
docker_parse_image_list (const char *s, size_t len, struct docker_image_list **out,
                         agent_error_t *err)
{
  *out = NULL;
  if (s == NULL)
    return error_set (err, ERR_MALFORMED, "image list: empty response");
  json_error_t jerr;
  json_t *root = json_loadb (s, len, 0, &jerr);
  if (root == NULL)
    return error_set (err, ERR_MALFORMED, "image list: invalid JSON: %s", jerr.text);
  if (!json_is_array (root))
    {
      json_decref (root);
      return error_set (err, ERR_MALFORMED, "image list: expected a JSON array");
    }
  struct docker_image_list *l = xcalloc (1, sizeof *l);
  size_t cap = json_array_size (root) < IMAGE_LIST_MAX ? json_array_size (root) : IMAGE_LIST_MAX;
  if (cap)
    l->items = xcalloc (cap, sizeof *l->items);
  size_t k;
  json_t *e;
  json_array_foreach (root, k, e)
  {
    if (l->n >= cap)
      break;
    const char *id = json_is_object (e) ? json_string_value (json_object_get (e, "Id")) : NULL;
    if (id == NULL || id[0] == '\0')
      continue;
    struct docker_image_summary *i = &l->items[l->n++];
    i->id = xstrdup (id);
    i->repo_tags = tags_read (json_object_get (e, "RepoTags"), &i->n_repo_tags);
    i->size = int_member (e, "Size");
    i->created = int_member (e, "Created");
  }
  json_decref (root);
  *out = l;
  return 0;
}

docker_op_t *
docker_image_list (docker_client_t *c, const char *label_filter, docker_image_list_cb cb,
                   void *data)
{
  char *path = docker_label_filter_path ("/images/json", label_filter);
  if (!path)
    {
      docker_op_t *op = docker_op_new (c, DOCKER_OP_LIST, "GET", xstrdup (""), 0,
                                       docker_op_cb_image_list (cb), data);
      agent_error_t err = NULL;
      error_set (&err, ERR_INVALID, "image list: the label filter is not valid UTF-8");
      return docker_op_fail_later (op, &err);
    }
  docker_op_t *op = docker_op_new (c, DOCKER_OP_LIST, "GET", path, c->t.other_ms,
                                   docker_op_cb_image_list (cb), data);
  op->what = "listed images";
  docker_op_send (op);
  return op;
}
