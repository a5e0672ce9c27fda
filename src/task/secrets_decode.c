/* task/secrets_decode.c - JSON form of a container's secrets (see secrets_decode.h). */
#include "task/secrets_decode.h"
#include "task/task_decode.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include <stdlib.h>

static int
parse_secret (json_t *o, const char *ipath, struct task_secret *s, agent_error_t *err)
{
  cleanup_free char *provider = NULL;
  if (task_json_string (o, "name", ipath, true, &s->name, err) < 0
      || task_json_string (o, "valueFrom", ipath, true, &s->value_from, err) < 0
      || task_json_string (o, "provider", ipath, true, &provider, err) < 0
      || task_json_string (o, "region", ipath, false, &s->region, err) < 0
      || task_json_string (o, "type", ipath, false, &s->type, err) < 0
      || task_json_string (o, "target", ipath, false, &s->target, err) < 0
      || task_json_string (o, "containerPath", ipath, false, &s->container_path, err) < 0)
    return -ERR_INVALID;
  if (!s->region)
    s->region = xstrdup ("");
  if (!task_secret_provider_parse (provider, &s->provider))
    return error_set (err, ERR_INVALID, "%s.provider must be \"ssm\" or \"asm\"", ipath);
  return 0;
}

int
task_json_container_secrets (json_t *obj, const char *path, struct task_container_secrets *s,
                             agent_error_t *err)
{
  json_t *a = task_json_get (obj, "secrets");
  if (task_json_null (a))
    return 0;
  if (!json_is_array (a))
    return error_set (err, ERR_INVALID, "%s.secrets must be an array", path);
  size_t n = json_array_size (a);
  if (n > TASK_SECRETS_MAX)
    return error_set (err, ERR_INVALID, "%s.secrets has %zu entries; at most %d are accepted", path, n,
                      TASK_SECRETS_MAX);
  s->v = xcalloc (n ? n : 1, sizeof *s->v);
  for (size_t i = 0; i < n; i++)
    {
      json_t *o = json_array_get (a, i);
      cleanup_free char *ipath = xasprintf ("%s.secrets[%zu]", path, i);
      if (!json_is_object (o))
        return error_set (err, ERR_INVALID, "%s must be an object", ipath);
      /* counted first: the free function sees the partly parsed item */
      if (parse_secret (o, ipath, &s->v[s->n++], err) < 0)
        return -ERR_INVALID;
    }
  return 0;
}

static void
put_opt (json_t *o, const char *key, const char *v)
{
  if (v)
    json_object_set_new (o, key, json_string (v));
}

void
task_json_container_secrets_put (json_t *obj, const struct task_container_secrets *s)
{
  if (s->n == 0)
    return;
  json_t *a = json_array ();
  for (size_t i = 0; i < s->n; i++)
    {
      const struct task_secret *x = &s->v[i];
      json_t *o = json_object ();
      put_opt (o, "name", x->name);
      put_opt (o, "valueFrom", x->value_from);
      put_opt (o, "provider", task_secret_provider_str (x->provider));
      put_opt (o, "region", x->region);
      put_opt (o, "type", x->type);
      put_opt (o, "target", x->target);
      put_opt (o, "containerPath", x->container_path);
      json_array_append_new (a, o);
    }
  json_object_set_new (obj, "secrets", a);
}
