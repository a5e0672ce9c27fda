/* task/task_creds.c - the credentials store (see task_creds.h). */
#include "task/task_creds.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

struct node
{
  TAILQ_ENTRY (node) link;
  struct task_creds_entry e;
};

TAILQ_HEAD (node_list, node);

struct task_creds_store
{
  struct node_list nodes;
  size_t n;
};

static void
secret_free (char *s, bool registered)
{
  if (!s)
    return;
  if (registered)
    log_secret_remove (s);
  volatile char *p = s;
  for (size_t i = 0; s[i]; i++)
    p[i] = 0;
  free (s);
}

void
task_role_credentials_free (struct task_role_credentials *c)
{
  if (!c)
    return;
  free (c->credentials_id);
  free (c->role_arn);
  secret_free (c->access_key_id, c->secrets_registered);
  secret_free (c->secret_access_key, c->secrets_registered);
  secret_free (c->session_token, c->secrets_registered);
  free (c->expiration);
  free (c);
}

static void
secret_add (const char *s)
{
  if (s && *s)
    log_secret_add (s);
}

void
task_role_credentials_register_secrets (struct task_role_credentials *c)
{
  if (!c || c->secrets_registered)
    return;
  secret_add (c->access_key_id);
  secret_add (c->secret_access_key);
  secret_add (c->session_token);
  c->secrets_registered = true;
}

static char *
dup_or_null (const char *s)
{
  return s ? xstrdup (s) : NULL;
}

struct task_role_credentials *
task_role_credentials_dup (const struct task_role_credentials *c)
{
  if (!c)
    return NULL;
  struct task_role_credentials *d = xcalloc (1, sizeof *d);
  d->credentials_id = dup_or_null (c->credentials_id);
  d->role_arn = dup_or_null (c->role_arn);
  d->access_key_id = dup_or_null (c->access_key_id);
  d->secret_access_key = dup_or_null (c->secret_access_key);
  d->session_token = dup_or_null (c->session_token);
  d->expiration = dup_or_null (c->expiration);
  if (c->secrets_registered)
    task_role_credentials_register_secrets (d);
  return d;
}

const char *
task_creds_role_name (enum task_creds_role r)
{
  return r == TASK_CREDS_EXECUTION_ROLE ? "TaskExecution" : "TaskApplication";
}

int
task_creds_role_parse (const char *s, enum task_creds_role *out, agent_error_t *err)
{
  if (s && strcmp (s, "TaskApplication") == 0)
    *out = TASK_CREDS_TASK_ROLE;
  else if (s && strcmp (s, "TaskExecution") == 0)
    *out = TASK_CREDS_EXECUTION_ROLE;
  else
    return error_set (err, ERR_INVALID, "unknown role type \"%s\"", s ? s : "");
  return 0;
}

task_creds_store_t *
task_creds_store_new (void)
{
  task_creds_store_t *s = xcalloc (1, sizeof *s);
  TAILQ_INIT (&s->nodes);
  return s;
}

static void
node_free (struct node *n)
{
  free (n->e.credentials_id);
  free (n->e.task_arn);
  task_role_credentials_free (n->e.creds);
  free (n);
}

static void
node_remove (task_creds_store_t *s, struct node *n)
{
  TAILQ_REMOVE (&s->nodes, n, link);
  s->n--;
  node_free (n);
}

void
task_creds_store_free (task_creds_store_t *s)
{
  if (!s)
    return;
  struct node *n;
  while ((n = TAILQ_FIRST (&s->nodes)))
    node_remove (s, n);
  free (s);
}

static struct node *
find (const task_creds_store_t *s, const char *id)
{
  if (!id || !*id)
    return NULL;
  struct node *n;
  TAILQ_FOREACH (n, &s->nodes, link)
  if (strcmp (n->e.credentials_id, id) == 0)
    return n;
  return NULL;
}

/* The entry for id (created if missing and there is room), its task and
   role set to the given ones.  NULL if the store is full. */
static struct node *
upsert (task_creds_store_t *s, const char *task_arn, enum task_creds_role role, const char *id)
{
  struct node *n = find (s, id);
  if (!n)
    {
      if (s->n >= TASK_CREDS_MAX)
        return NULL;
      n = xcalloc (1, sizeof *n);
      n->e.credentials_id = xstrdup (id);
      TAILQ_INSERT_TAIL (&s->nodes, n, link);
      s->n++;
    }
  if (!n->e.task_arn || strcmp (n->e.task_arn, task_arn) != 0)
    {
      free (n->e.task_arn);
      n->e.task_arn = xstrdup (task_arn);
    }
  n->e.role = role;
  return n;
}

int
task_creds_store_put (task_creds_store_t *s, const char *task_arn, enum task_creds_role role,
                      struct task_role_credentials *c, agent_error_t *err)
{
  if (!c || !c->credentials_id || !*c->credentials_id)
    {
      task_role_credentials_free (c);
      return error_set (err, ERR_INVALID, "credentials without a credentialsId");
    }
  if (!task_arn || !*task_arn)
    {
      error_set (err, ERR_INVALID, "credentials %s without a task ARN", c->credentials_id);
      task_role_credentials_free (c);
      return -ERR_INVALID;
    }
  task_role_credentials_register_secrets (c);
  struct node *n = upsert (s, task_arn, role, c->credentials_id);
  if (!n)
    {
      task_role_credentials_free (c);
      return error_set (err, ERR_INVALID, "credentials store full (%d entries)", TASK_CREDS_MAX);
    }
  task_role_credentials_free (n->e.creds);
  n->e.creds = c;
  return 0;
}

void
task_creds_store_expect (task_creds_store_t *s, const char *task_arn, enum task_creds_role role,
                         const char *credentials_id)
{
  if (!task_arn || !*task_arn || !credentials_id || !*credentials_id)
    return;
  struct node *n = find (s, credentials_id);
  if (n && n->e.creds)
    return;
  upsert (s, task_arn, role, credentials_id);
}

const struct task_creds_entry *
task_creds_store_get (const task_creds_store_t *s, const char *id)
{
  struct node *n = find (s, id);
  return n ? &n->e : NULL;
}

const struct task_role_credentials *
task_creds_store_for_task (const task_creds_store_t *s, const char *task_arn,
                           enum task_creds_role role)
{
  if (!task_arn)
    return NULL;
  struct node *n;
  TAILQ_FOREACH (n, &s->nodes, link)
  if (n->e.role == role && n->e.creds && strcmp (n->e.task_arn, task_arn) == 0)
    return n->e.creds;
  return NULL;
}

void
task_creds_store_remove (task_creds_store_t *s, const char *id)
{
  struct node *n = find (s, id);
  if (n)
    node_remove (s, n);
}

size_t
task_creds_store_remove_task (task_creds_store_t *s, const char *task_arn,
                              enum task_creds_role role)
{
  size_t k = 0;
  if (!task_arn)
    return 0;
  struct node *n, *next;
  for (n = TAILQ_FIRST (&s->nodes); n; n = next)
    {
      next = TAILQ_NEXT (n, link);
      if (n->e.role == role && strcmp (n->e.task_arn, task_arn) == 0)
        {
          node_remove (s, n);
          k++;
        }
    }
  return k;
}

size_t
task_creds_store_count (const task_creds_store_t *s)
{
  return s->n;
}
