/* engine/create_opts.c - task container -> docker create options (pure). */
#include "engine/create_opts.h"
#include "engine/options_check.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include <stdlib.h>
#include <string.h>

static void
sv_add (struct engine_strv *b, char *s)
{
  if (b->n + 2 > b->cap)
    {
      b->cap = b->cap ? b->cap * 2 : 8;
      b->v = xrealloc (b->v, b->cap * sizeof *b->v);
    }
  b->v[b->n++] = s;
  b->v[b->n] = NULL;
}

static const char *const *
sv_get (const struct engine_strv *b)
{
  return (const char *const *) b->v;
}

static void
sv_free (struct engine_strv *b)
{
  for (size_t i = 0; i < b->n; i++)
    free (b->v[i]);
  free (b->v);
  memset (b, 0, sizeof *b);
}

void
engine_create_req_free (struct engine_create_req *r)
{
  sv_free (&r->env);
  sv_free (&r->links);
  sv_free (&r->binds);
  sv_free (&r->vfrom);
  free (r->ports);
  free (r->labels);
  free (r->log_opts);
  engine_log_opts_free (&r->log);
  free (r->log_all);
  memset (r, 0, sizeof *r);
}

static int
add_links (const struct task *t, const struct task_container *c, struct engine_create_req *r,
           char **errmsg)
{
  for (size_t i = 0; c->links && c->links[i]; i++)
    {
      const char *l = c->links[i];
      const char *colon = strchr (l, ':');
      cleanup_free char *target = colon ? xstrndup (l, (size_t) (colon - l)) : xstrdup (l);
      const char *alias = colon ? colon + 1 : target;
      const struct task_container *d = task_find_container (t, target);
      if (!d || !d->docker_name)
        {
          *errmsg = xasprintf ("Link target not available: %s", target);
          return -1;
        }
      sv_add (&r->links, xasprintf ("%s:%s", d->docker_name, alias));
    }
  return 0;
}

static int
add_binds (const struct task *t, const struct task_container *c, struct engine_create_req *r,
           char **errmsg)
{
  for (size_t i = 0; i < c->n_mount_points; i++)
    {
      const struct task_mount_point *m = &c->mount_points[i];
      const struct task_volume *v = task_find_volume (t, m->source_volume);
      if (!v)
        {
          *errmsg = xasprintf ("Invalid volume referenced: %s", m->source_volume);
          return -1;
        }
      const char *src = v->source_path ? v->source_path : v->docker_name;
      if (!src || !*src || !m->container_path || !*m->container_path)
        {
          *errmsg = xasprintf ("Unable to resolve volume mounts; invalid path: %s:%s", src ? src : "",
                               m->container_path ? m->container_path : "");
          return -1;
        }
      sv_add (&r->binds, xasprintf ("%s:%s%s", src, m->container_path, m->read_only ? ":ro" : ""));
    }
  for (size_t i = 0; i < c->n_volumes_from; i++)
    {
      const struct task_container *d = task_find_container (t, c->volumes_from[i].source_container);
      if (!d || !d->docker_name)
        {
          *errmsg = xasprintf ("Volumes-from source not available: %s", c->volumes_from[i].source_container);
          return -1;
        }
      sv_add (&r->vfrom, xasprintf ("%s%s", d->docker_name, c->volumes_from[i].read_only ? ":ro" : ""));
    }
  return 0;
}

/* The task definition's environment, then the task endpoints' variables
   (as upstream: written over same-named task-definition values). */
static bool
env_has (const struct task_container *c, const char *key)
{
  for (size_t i = 0; i < c->n_environment; i++)
    if (strcmp (c->environment[i].key, key) == 0)
      return true;
  for (size_t i = 0; i < c->secrets.n; i++)
    if (task_secret_is_env (&c->secrets.v[i]) && strcmp (c->secrets.v[i].name, key) == 0)
      return true;
  return false;
}

/* A secret's value from its task resource ("" when the resource lacks it,
   as upstream: a parameter SSM did not return is empty). */
static const char *
secret_value (const struct task *t, const struct task_secret *s)
{
  cleanup_free char *key = task_secret_key (s);
  const char *v = task_secret_resource_get (&t->secret_res[s->provider], key);
  return v ? v : "";
}

/* Secrets of type ENVIRONMENT_VARIABLE over same-named variables; those
   whose target is LOG_DRIVER, when not empty, become log options. */
static void
add_secrets (const struct task *t, const struct task_container *c, struct engine_create_req *r)
{
  for (size_t i = 0; i < c->secrets.n; i++)
    {
      const struct task_secret *s = &c->secrets.v[i];
      const char *v = secret_value (t, s);
      if (task_secret_is_env (s))
        {
          size_t n = strlen (s->name), k = 0;
          while (k < r->env.n && !(strncmp (r->env.v[k], s->name, n) == 0 && r->env.v[k][n] == '='))
            k++;
          if (k < r->env.n)
            {
              free (r->env.v[k]);
              r->env.v[k] = xasprintf ("%s=%s", s->name, v);
            }
          else
            sv_add (&r->env, xasprintf ("%s=%s", s->name, v));
        }
      if (task_secret_is_log_driver (s) && *v)
        {
          r->log_opts = xrealloc (r->log_opts, (r->n_log_opts + 1) * sizeof *r->log_opts);
          r->log_opts[r->n_log_opts++] = (struct docker_label){ .key = s->name, .value = v };
        }
    }
}

bool
engine_create_region_wanted (const struct task_container *c, const char *region)
{
  return region && !c->is_internal && !env_has (c, "AWS_REGION") && !env_has (c, "AWS_DEFAULT_REGION");
}

static void
add_env (const struct task *t, const struct task_container *c, const char *region, unsigned image_env,
         struct engine_create_req *r)
{
  const char *keys[6] = { 0 };
  char *vals[6] = { 0 };
  size_t n = 0;
  if (c->v3_endpoint_id)
    {
      keys[n] = "ECS_CONTAINER_METADATA_URI";
      vals[n++] = xasprintf ("%s/v3/%s", ENGINE_TASK_ENDPOINT, c->v3_endpoint_id);
      keys[n] = "ECS_CONTAINER_METADATA_URI_V4";
      vals[n++] = xasprintf ("%s/v4/%s", ENGINE_TASK_ENDPOINT, c->v3_endpoint_id);
      keys[n] = "ECS_AGENT_URI";
      vals[n++] = xasprintf ("%s/api/%s", ENGINE_TASK_ENDPOINT, c->v3_endpoint_id);
    }
  if (t->credentials_id)
    {
      keys[n] = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI";
      vals[n++] = xasprintf ("/v2/credentials/%s", t->credentials_id);
    }
  /* the region, unless the task definition (or an env secret) or the
     image's own ENV sets either name */
  if (engine_create_region_wanted (c, region) && image_env == 0)
    {
      keys[n] = "AWS_REGION";
      vals[n++] = xstrdup (region);
      keys[n] = "AWS_DEFAULT_REGION";
      vals[n++] = xstrdup (region);
    }
  for (size_t i = 0; i < c->n_environment; i++)
    {
      bool ours = false;
      for (size_t k = 0; k < n && !ours; k++)
        ours = strcmp (c->environment[i].key, keys[k]) == 0;
      if (!ours)
        sv_add (&r->env, xasprintf ("%s=%s", c->environment[i].key, c->environment[i].value));
    }
  for (size_t k = 0; k < n; k++)
    {
      sv_add (&r->env, xasprintf ("%s=%s", keys[k], vals[k]));
      free (vals[k]);
    }
}

int
engine_create_req_build (const struct task *t, const struct task_container *c,
                         struct docker_label *labels, size_t n_labels, struct engine_create_req *r,
                         char **errmsg)
{
  return engine_create_req_build_region (t, c, NULL, 0, labels, n_labels, r, errmsg);
}

int
engine_create_req_build_region (const struct task *t, const struct task_container *c,
                                const char *region, unsigned image_env, struct docker_label *labels,
                                size_t n_labels, struct engine_create_req *r, char **errmsg)
{
  return engine_create_req_build_host (t, c, region, image_env, false, labels, n_labels, r, errmsg);
}

int
engine_create_req_build_host (const struct task *t, const struct task_container *c,
                              const char *region, unsigned image_env, bool ipv6_only,
                              struct docker_label *labels, size_t n_labels,
                              struct engine_create_req *r, char **errmsg)
{
  memset (r, 0, sizeof *r);
  r->labels = labels;
  struct docker_create_opts *o = &r->opts;
  o->name = c->docker_name;
  o->image = c->image;
  o->cmd = (const char *const *) task_container_effective_command (c);
  if (c->entry_point && c->entry_point[0])
    o->entrypoint = (const char *const *) c->entry_point;
  add_env (t, c, region, image_env, r);
  add_secrets (t, c, r);
  o->env = r->env.n ? sv_get (&r->env) : NULL;
  o->log_options = r->log_opts;
  o->n_log_options = r->n_log_opts;
  /* a containerPortRange expands to one binding per port, host port 0
     (Docker picks) unless in host mode, where host = container port; no
     HostIp: Docker publishes on every address, as upstream asks */
  size_t np = 0;
  for (size_t i = 0; i < c->n_port_mappings; i++)
    {
      const struct task_port_mapping *m = &c->port_mappings[i];
      np += m->range_start ? (size_t) (m->range_end - m->range_start) + 1 : 1;
    }
  bool host_net = strcmp (engine_task_network_mode (t), "host") == 0;
  r->ports = xcalloc (np + 1, sizeof *r->ports);
  size_t k = 0;
  for (size_t i = 0; i < c->n_port_mappings; i++)
    {
      const struct task_port_mapping *m = &c->port_mappings[i];
      unsigned lo = m->range_start ? m->range_start : m->container_port;
      unsigned hi = m->range_start ? m->range_end : m->container_port;
      for (unsigned p = lo; p <= hi; p++, k++)
        {
          r->ports[k].container_port = (uint16_t) p;
          r->ports[k].proto = task_protocol_str (m->protocol);
          r->ports[k].host_port = m->range_start ? (host_net ? (uint16_t) p : 0) : m->host_port;
        }
    }
  o->ports = r->ports;
  o->n_ports = np;
  if (add_links (t, c, r, errmsg) < 0 || add_binds (t, c, r, errmsg) < 0)
    return -1;
  o->links = r->links.v ? sv_get (&r->links) : NULL;
  o->binds = r->binds.v ? sv_get (&r->binds) : NULL;
  o->volumes_from = r->vfrom.v ? sv_get (&r->vfrom) : NULL;
  /* always sent, clamped (a cpu of 0 gives the minimum, as upstream) */
  o->cpu_shares = c->cpu < ENGINE_MIN_CPU_SHARES   ? ENGINE_MIN_CPU_SHARES
                  : c->cpu > ENGINE_MAX_CPU_SHARES ? ENGINE_MAX_CPU_SHARES
                                                   : c->cpu;
  if (c->memory)
    {
      int64_t bytes = (int64_t) c->memory * 1024 * 1024;
      o->memory = bytes < ENGINE_MIN_MEMORY_BYTES ? ENGINE_MIN_MEMORY_BYTES : bytes;
    }
  o->labels = r->labels;
  o->n_labels = n_labels;
  /* dockerConfig overlay, then the task's modes over it (docker/overlay.h) */
  o->extra_config_json = c->opts.dc_config;
  o->extra_host_config_json = c->opts.dc_host_config;
  const char *nm = engine_task_network_mode (t);
  if (strcmp (nm, "host") == 0 || strcmp (nm, "none") == 0)
    o->network_mode = nm;
  if (t->opts.pid_mode && *t->opts.pid_mode)
    o->pid_mode = t->opts.pid_mode;
  if (t->opts.ipc_mode && *t->opts.ipc_mode)
    o->ipc_mode = t->opts.ipc_mode;
  /* the agent's log options first, then the log-driver secrets (upstream's order) */
  if (engine_log_options (t, c, region, ipv6_only, &r->log, errmsg) < 0)
    return -1;
  size_t nl = r->log.n + r->n_log_opts;
  r->log_all = xcalloc (nl ? nl : 1, sizeof *r->log_all);
  memcpy (r->log_all, r->log.kv, r->log.n * sizeof *r->log_all);
  if (r->n_log_opts)
    memcpy (r->log_all + r->log.n, r->log_opts, r->n_log_opts * sizeof *r->log_all);
  o->log_options = r->log_all;
  o->n_log_options = nl;
  o->api_version = c->opts.dc_version;
  return 0;
}
