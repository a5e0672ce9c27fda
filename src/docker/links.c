/* docker/links.c - links as /etc/hosts entries on Podman (docker/links.h):
 * the pure rewrite of a create body, and the inspects of the link targets
 * that come before such a create (docker_links_begin, from client.c). */
#include "docker/links.h"
#include "core/xmalloc.h"
#include "docker/docker_int.h"
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

void
docker_links_strv_free (char **v)
{
  for (size_t i = 0; v && v[i]; i++)
    free (v[i]);
  free (v);
}

static size_t
strv_len (const char *const *v)
{
  size_t n = 0;
  while (v && v[n])
    n++;
  return n;
}

static json_t *
body_object (const char *body, agent_error_t *err)
{
  json_t *root = body ? json_loads (body, 0, NULL) : NULL;
  if (!json_is_object (root))
    {
      json_decref (root);
      error_set (err, ERR_INVALID, "container create: the request body is not a JSON object");
      return NULL;
    }
  return root;
}

static char *
body_dump (json_t *root, agent_error_t *err)
{
  char *out = json_dumps (root, JSON_COMPACT);
  if (out == NULL)
    error_set (err, ERR_INVALID, "container create: cannot encode request");
  return out;
}

int
docker_links_take (const char *body, char **out_body, char ***links, agent_error_t *err)
{
  *out_body = NULL;
  *links = NULL;
  json_t *root = body_object (body, err);
  if (root == NULL)
    return -1;
  json_t *hc = json_object_get (root, "HostConfig");
  json_t *l = json_is_object (hc) ? json_object_get (hc, "Links") : NULL;
  size_t n = json_is_array (l) ? json_array_size (l) : 0;
  if (l && !json_is_array (l) && !json_is_null (l))
    n = (size_t) -1;
  char **v = NULL;
  if (n != (size_t) -1 && n > 0)
    {
      v = xcalloc (n + 1, sizeof *v);
      for (size_t i = 0; i < n && v; i++)
        {
          json_t *s = json_array_get (l, i);
          if (!json_is_string (s))
            {
              docker_links_strv_free (v);
              v = NULL;
              n = (size_t) -1;
              break;
            }
          v[i] = xstrdup (json_string_value (s));
        }
    }
  if (n == (size_t) -1)
    {
      json_decref (root);
      return error_set (err, ERR_INVALID, "container create: HostConfig.Links is not a list of strings");
    }
  if (l)
    json_object_del (hc, "Links");
  *out_body = body_dump (root, err);
  json_decref (root);
  if (*out_body == NULL)
    {
      docker_links_strv_free (v);
      return -1;
    }
  *links = v;
  return 0;
}

const char *
docker_links_address (const struct docker_container_info *i)
{
  if (i->ip_address && i->ip_address[0])
    return i->ip_address;
  for (size_t k = 0; k < i->n_networks; k++)
    if (i->networks[k].value && i->networks[k].value[0])
      return i->networks[k].value;
  return NULL;
}

static void
hosts_add (char ***v, size_t *n, char *entry)
{
  for (size_t i = 0; i < *n; i++)
    if (strcmp ((*v)[i], entry) == 0)
      {
        free (entry);
        return;
      }
  *v = xrealloc (*v, (*n + 2) * sizeof **v);
  (*v)[(*n)++] = entry;
  (*v)[*n] = NULL;
}

char **
docker_links_hosts (const char *const *links, const char *const *addrs)
{
  char **v = xcalloc (1, sizeof *v);
  size_t n = 0;
  for (size_t i = 0; links && links[i]; i++)
    {
      const char *l = links[i];
      while (*l == '/')
        l++;
      const char *colon = strchr (l, ':');
      size_t name_len = colon ? (size_t) (colon - l) : strlen (l);
      const char *alias = colon ? colon + 1 : NULL;
      if (alias && strrchr (alias, '/'))
        alias = strrchr (alias, '/') + 1;
      if (alias && *alias)
        hosts_add (&v, &n, xasprintf ("%s:%s", alias, addrs[i]));
      if (name_len > 0
          && !(alias && strlen (alias) == name_len && strncmp (alias, l, name_len) == 0))
        hosts_add (&v, &n, xasprintf ("%.*s:%s", (int) name_len, l, addrs[i]));
    }
  return v;
}

char *
docker_links_add_hosts (const char *body, const char *const *hosts, agent_error_t *err)
{
  json_t *root = body_object (body, err);
  if (root == NULL)
    return NULL;
  json_t *hc = json_object_get (root, "HostConfig");
  if (!json_is_object (hc))
    {
      hc = json_object ();
      json_object_set_new (root, "HostConfig", hc);
    }
  json_t *eh = json_object_get (hc, "ExtraHosts");
  if (!json_is_array (eh))
    {
      eh = json_array ();
      json_object_set_new (hc, "ExtraHosts", eh);
    }
  for (size_t i = 0; hosts && hosts[i]; i++)
    json_array_append_new (eh, json_string (hosts[i]));
  char *out = body_dump (root, err);
  json_decref (root);
  return out;
}

/* ---- the inspects before a create (client side) -------------------------- */

struct docker_links_job
{
  char **links;  /* from the body, which no longer has them */
  char **addrs;  /* one per link, filled in order */
  size_t n, next;
  docker_op_t *child; /* the inspect in flight */
};

static void
job_free (struct docker_links_job *j)
{
  docker_links_strv_free (j->links);
  for (size_t i = 0; i < j->n; i++)
    free (j->addrs[i]);
  free (j->addrs);
  free (j);
}

void
docker_links_op_free (docker_op_t *op)
{
  struct docker_links_job *j = op->links_job;
  if (j == NULL)
    return;
  op->links_job = NULL;
  if (j->child)
    docker_op_cancel (j->child);
  job_free (j);
}

/* A link's target name: up to the ':' (a leading '/' dropped). */
static char *
link_target (const char *l)
{
  while (*l == '/')
    l++;
  return xstrndup (l, strcspn (l, ":"));
}

static void links_inspect_next (docker_op_t *op);

static void
links_fail (docker_op_t *op, agent_error_t *err)
{
  docker_links_op_free (op);
  docker_op_fail_later (op, err);
}

static void
links_inspect_cb (const struct docker_container_info *info, agent_error_t err, void *data)
{
  docker_op_t *op = data;
  struct docker_links_job *j = op->links_job;
  j->child = NULL;
  cleanup_free char *target = link_target (j->links[j->next]);
  agent_error_t e = NULL;
  if (err)
    {
      /* a missing target is the task's problem, not a missing image */
      int kind = error_kind (&err);
      error_set (&e, kind == ERR_NOT_FOUND || kind == ERR_CONFLICT ? ERR_CLIENT : kind,
                 "link to %s (on Podman an /etc/hosts entry with its address): %s", target,
                 error_msg (&err));
      links_fail (op, &e);
      return;
    }
  const char *addr = docker_links_address (info);
  if (addr == NULL)
    {
      error_set (&e, ERR_CLIENT,
                 "link to %s: the container has no IP address (on Podman a link is an /etc/hosts "
                 "entry with the linked container's address: it must run on a bridge network)",
                 target);
      links_fail (op, &e);
      return;
    }
  j->addrs[j->next++] = xstrdup (addr);
  links_inspect_next (op);
}

static void
links_inspect_next (docker_op_t *op)
{
  struct docker_links_job *j = op->links_job;
  if (j->next < j->n)
    {
      cleanup_free char *target = link_target (j->links[j->next]);
      j->child = docker_container_inspect (op->c, target, links_inspect_cb, op);
      return;
    }
  char **hosts = docker_links_hosts ((const char *const *) j->links, (const char *const *) j->addrs);
  agent_error_t err = NULL;
  char *body = docker_links_add_hosts (op->body, (const char *const *) hosts, &err);
  docker_links_strv_free (hosts);
  if (body == NULL)
    {
      links_fail (op, &err);
      return;
    }
  free (op->body);
  op->body = body;
  docker_links_op_free (op);
  docker_op_send (op);
}

bool
docker_links_begin (docker_op_t *op)
{
  op->links_checked = true;
  char *body = NULL;
  char **links = NULL;
  agent_error_t err = NULL;
  if (docker_links_take (op->body, &body, &links, &err) < 0)
    {
      docker_op_fail_later (op, &err);
      return true;
    }
  free (op->body);
  op->body = body;
  if (links == NULL)
    return false;
  struct docker_links_job *j = xcalloc (1, sizeof *j);
  j->links = links;
  j->n = strv_len ((const char *const *) links);
  j->addrs = xcalloc (j->n, sizeof *j->addrs);
  op->links_job = j;
  links_inspect_next (op);
  return true;
}
