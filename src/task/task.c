/* task/task.c - the task model: status names, lookups, free (see task.h). */
#include "task/task.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- status names ------------------------------------------------------- */

static const char *const status_names[] = { "NONE", "PULLED", "CREATED", "RUNNING", "STOPPED" };

const char *
task_container_status_str (enum task_status s)
{
  if ((unsigned) s < ARRAY_SIZE (status_names))
    return status_names[s];
  return "NONE";
}

const char *
task_status_str (enum task_status s)
{
  if (s == TASK_STATUS_PULLED)
    return "NONE";
  return task_container_status_str (s);
}

const char *
task_status_ecs_str (enum task_status s)
{
  if (s == TASK_STATUS_RUNNING)
    return "RUNNING";
  if (s == TASK_STATUS_STOPPED)
    return "STOPPED";
  return "PENDING";
}

int
task_status_parse (const char *s, enum task_status *out, agent_error_t *err)
{
  if (s == NULL)
    {
      *out = TASK_STATUS_NONE;
      return 0;
    }
  for (size_t i = 0; i < ARRAY_SIZE (status_names); i++)
    if (strcasecmp (s, status_names[i]) == 0)
      {
        *out = (enum task_status) i;
        return 0;
      }
  if (strcasecmp (s, "UNKNOWN") == 0)
    {
      *out = TASK_STATUS_NONE;
      return 0;
    }
  if (strcasecmp (s, "DEAD") == 0)
    {
      *out = TASK_STATUS_STOPPED;
      return 0;
    }
  return error_set (err, ERR_INVALID, "unknown status \"%s\"", s);
}

const char *
task_protocol_str (enum task_protocol p)
{
  return p == TASK_PROTO_UDP ? "udp" : "tcp";
}

/* ---- small helpers -------------------------------------------------------- */

size_t
task_strv_len (char *const *v)
{
  size_t n = 0;
  if (v)
    while (v[n])
      n++;
  return n;
}

char **
task_strv_dup (char *const *v)
{
  if (!v)
    return NULL;
  size_t n = task_strv_len (v);
  char **r = xcalloc (n + 1, sizeof *r);
  for (size_t i = 0; i < n; i++)
    r[i] = xstrdup (v[i]);
  return r;
}

void
task_strv_free (char **v)
{
  if (!v)
    return;
  for (size_t i = 0; v[i]; i++)
    free (v[i]);
  free (v);
}

static void
container_clear (struct task_container *c)
{
  free (c->name);
  free (c->image);
  task_strv_free (c->command);
  task_strv_free (c->entry_point);
  for (size_t i = 0; i < c->n_environment; i++)
    {
      free (c->environment[i].key);
      free (c->environment[i].value);
    }
  free (c->environment);
  task_strv_free (c->links);
  free (c->port_mappings);
  for (size_t i = 0; i < c->n_mount_points; i++)
    {
      free (c->mount_points[i].source_volume);
      free (c->mount_points[i].container_path);
    }
  free (c->mount_points);
  for (size_t i = 0; i < c->n_volumes_from; i++)
    free (c->volumes_from[i].source_container);
  free (c->volumes_from);
  task_strv_free (c->override_command);
  task_strv_free (c->run_dependencies);
  free (c->reason);
  free (c->docker_id);
  free (c->docker_name);
  for (size_t i = 0; i < c->n_known_bindings; i++)
    free (c->known_bindings[i].bind_ip);
  free (c->known_bindings);
  free (c->v3_endpoint_id);
  free (c->image_digest);
  free (c->container_arn);
  task_container_options_free (&c->opts);
  task_container_lifecycle_free (&c->life);
  task_container_restart_free (&c->restart);
  task_registry_auth_free (&c->registry_auth);
  task_container_secrets_free (&c->secrets);
  memset (c, 0, sizeof *c);
}

void
task_free (struct task *t)
{
  if (!t)
    return;
  free (t->arn);
  free (t->family);
  free (t->version);
  for (size_t i = 0; i < t->n_containers; i++)
    container_clear (&t->containers[i]);
  free (t->containers);
  for (size_t i = 0; i < t->n_volumes; i++)
    {
      free (t->volumes[i].name);
      free (t->volumes[i].source_path);
      free (t->volumes[i].docker_name);
    }
  free (t->volumes);
  free (t->reason);
  free (t->credentials_id);
  free (t->execution_credentials_id);
  free (t->launch_type);
  free (t->service_name);
  task_role_credentials_free (t->payload_role_creds);
  task_role_credentials_free (t->payload_exec_creds);
  task_options_free (&t->opts);
  for (size_t p = 0; p < TASK_SECRET_N_PROVIDERS; p++)
    task_secret_resource_clear (&t->secret_res[p]);
  free (t);
}

void
task_freep (struct task **t)
{
  task_free (*t);
  *t = NULL;
}

struct task_container *
task_find_container (const struct task *t, const char *name)
{
  if (!t || !name)
    return NULL;
  for (size_t i = 0; i < t->n_containers; i++)
    if (strcmp (t->containers[i].name, name) == 0)
      return &t->containers[i];
  return NULL;
}

struct task_volume *
task_find_volume (const struct task *t, const char *name)
{
  if (!t || !name)
    return NULL;
  for (size_t i = 0; i < t->n_volumes; i++)
    if (strcmp (t->volumes[i].name, name) == 0)
      return &t->volumes[i];
  return NULL;
}

char **
task_container_effective_command (const struct task_container *c)
{
  if (c->has_override_command && c->override_command)
    return c->override_command;
  return c->command;
}

/* ---- shared pieces of both parsers --------------------------------------- */

int
task_protocol_parse (const char *s, enum task_protocol *out, agent_error_t *err)
{
  *out = TASK_PROTO_TCP;
  if (s == NULL || *s == '\0' || strcasecmp (s, "tcp") == 0)
    return 0;
  if (strcasecmp (s, "udp") == 0)
    {
      *out = TASK_PROTO_UDP;
      return 0;
    }
  return error_set (err, ERR_INVALID, "protocol must be \"tcp\" or \"udp\", not \"%s\"", s);
}

struct task_port_binding *
task_port_bindings_dup (const struct task_port_binding *b, size_t n)
{
  struct task_port_binding *r = xcalloc (n ? n : 1, sizeof *r);
  for (size_t i = 0; i < n; i++)
    {
      r[i] = b[i];
      r[i].bind_ip = b[i].bind_ip ? xstrdup (b[i].bind_ip) : NULL;
    }
  return r;
}

void
task_port_bindings_free (struct task_port_binding *b, size_t n)
{
  for (size_t i = 0; b && i < n; i++)
    free (b[i].bind_ip);
  free (b);
}

char *
task_new_endpoint_id (void)
{
  char h[33];
  util_random_hex (h, 16);
  /* version 4, variant 10xx */
  h[12] = '4';
  static const char variant[] = "89ab";
  h[16] = variant[strtol ((char[]){ h[16], 0 }, NULL, 16) & 3];
  return xasprintf ("%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
}

void
task_assign_endpoint_ids (struct task *t)
{
  for (size_t i = 0; i < t->n_containers; i++)
    if (!t->containers[i].v3_endpoint_id || !*t->containers[i].v3_endpoint_id)
      {
        free (t->containers[i].v3_endpoint_id);
        t->containers[i].v3_endpoint_id = task_new_endpoint_id ();
      }
}

static bool
binding_ip_eq (const struct task_port_binding *x, const struct task_port_binding *y)
{
  return strcmp (x->bind_ip ? x->bind_ip : "", y->bind_ip ? y->bind_ip : "") == 0;
}

/* The binding of container port cp in used-free b[] on the same address
   and protocol as like, bound to host port hp; -1 when there is none. */
static long
binding_find (const struct task_port_binding *b, size_t n, const bool *skip,
              const struct task_port_binding *like, unsigned cp, unsigned hp)
{
  for (size_t j = 0; j < n; j++)
    if (!skip[j] && b[j].container_port == cp && b[j].host_port == hp
        && b[j].protocol == like->protocol && binding_ip_eq (&b[j], like))
      return (long) j;
  return -1;
}

struct task_port_binding *
task_port_bindings_report (const struct task_container *c, const struct task_port_binding *b,
                           size_t n, bool exclude_ipv6, size_t *n_out)
{
  *n_out = 0;
  if (n == 0)
    return NULL;
  bool *skip = xcalloc (n, sizeof *skip);
  for (size_t i = 0; i < n; i++)
    skip[i] = exclude_ipv6 && b[i].bind_ip && strcmp (b[i].bind_ip, "::") == 0;
  struct task_port_binding *ranges = xcalloc (n, sizeof *ranges);
  size_t nr = 0;
  for (size_t m = 0; c && m < c->n_port_mappings; m++)
    {
      const struct task_port_mapping *pm = &c->port_mappings[m];
      if (!pm->range_start || pm->range_end < pm->range_start)
        continue;
      unsigned width = (unsigned) pm->range_end - pm->range_start;
      cleanup_free long *idx = xcalloc (width + 1, sizeof *idx);
      for (size_t i = 0; i < n; i++)
        {
          if (skip[i] || b[i].container_port != pm->range_start || b[i].protocol != pm->protocol
              || !b[i].host_port || (unsigned) b[i].host_port + width > 65535)
            continue;
          /* every port of the range on the next host port, same address */
          bool whole = true;
          for (unsigned k = 0; k <= width && whole; k++)
            {
              idx[k] = binding_find (b, n, skip, &b[i], pm->range_start + k, b[i].host_port + k);
              whole = idx[k] >= 0;
            }
          if (!whole)
            continue;
          ranges[nr] = b[i];
          ranges[nr].bind_ip = b[i].bind_ip ? xstrdup (b[i].bind_ip) : NULL;
          ranges[nr].container_port_end = pm->range_end;
          ranges[nr].host_port_end = (uint16_t) (b[i].host_port + width);
          nr++;
          for (unsigned k = 0; k <= width; k++)
            skip[idx[k]] = true;
        }
    }
  struct task_port_binding *out = xcalloc (n, sizeof *out);
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (!skip[i])
      {
        out[k] = b[i];
        out[k].bind_ip = b[i].bind_ip ? xstrdup (b[i].bind_ip) : NULL;
        out[k].container_port_end = out[k].host_port_end = 0;
        k++;
      }
  memcpy (out + k, ranges, nr * sizeof *ranges);
  k += nr;
  free (ranges);
  free (skip);
  if (k == 0)
    {
      free (out);
      return NULL;
    }
  *n_out = k;
  return out;
}
