/* task/secrets.c - secret definitions and the values of a task's secret
 * resources (see secrets.h). */
#include "task/secrets.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void
task_container_secrets_free (struct task_container_secrets *s)
{
  for (size_t i = 0; i < s->n; i++)
    {
      struct task_secret *x = &s->v[i];
      free (x->name);
      free (x->value_from);
      free (x->region);
      free (x->type);
      free (x->target);
      free (x->container_path);
    }
  free (s->v);
  s->v = NULL;
  s->n = 0;
}

const char *
task_secret_provider_str (enum task_secret_provider p)
{
  return p == TASK_SECRET_ASM ? "asm" : "ssm";
}

bool
task_secret_provider_parse (const char *s, enum task_secret_provider *out)
{
  if (s && strcasecmp (s, "ssm") == 0)
    *out = TASK_SECRET_SSM;
  else if (s && strcasecmp (s, "asm") == 0)
    *out = TASK_SECRET_ASM;
  else
    return false;
  return true;
}

char *
task_secret_key (const struct task_secret *s)
{
  return xasprintf ("%s_%s", s->value_from ? s->value_from : "", s->region ? s->region : "");
}

bool
task_secret_is_env (const struct task_secret *s)
{
  return s->type && strcmp (s->type, TASK_SECRET_TYPE_ENV) == 0;
}

bool
task_secret_is_log_driver (const struct task_secret *s)
{
  return s->target && strcmp (s->target, TASK_SECRET_TARGET_LOG_DRIVER) == 0;
}

bool
task_container_secrets_use (const struct task_container_secrets *s, enum task_secret_provider p)
{
  for (size_t i = 0; i < s->n; i++)
    if (s->v[i].provider == p)
      return true;
  return false;
}

/* ---- values -------------------------------------------------------------- */

static void
value_wipe (char *v)
{
  if (!v)
    return;
  log_secret_remove (v);
  volatile char *p = v;
  for (size_t i = 0; v[i]; i++)
    p[i] = 0;
  free (v);
}

void
task_secret_resource_put (struct task_secret_resource *r, const char *key, const char *value)
{
  log_secret_add (value);
  for (size_t i = 0; i < r->n_values; i++)
    if (strcmp (r->values[i].key, key) == 0)
      {
        value_wipe (r->values[i].value);
        r->values[i].value = xstrdup (value);
        return;
      }
  if (r->n_values == r->cap_values)
    {
      r->cap_values = r->cap_values ? r->cap_values * 2 : 4;
      r->values = xrealloc (r->values, r->cap_values * sizeof *r->values);
    }
  r->values[r->n_values].key = xstrdup (key);
  r->values[r->n_values].value = xstrdup (value);
  r->n_values++;
}

const char *
task_secret_resource_get (const struct task_secret_resource *r, const char *key)
{
  for (size_t i = 0; i < r->n_values; i++)
    if (strcmp (r->values[i].key, key) == 0)
      return r->values[i].value;
  return NULL;
}

void
task_secret_resource_clear (struct task_secret_resource *r)
{
  for (size_t i = 0; i < r->n_values; i++)
    {
      free (r->values[i].key);
      value_wipe (r->values[i].value);
    }
  free (r->values);
  memset (r, 0, sizeof *r);
}
