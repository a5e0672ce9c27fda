/* The long-running services started once the instance is registered:
 * the introspection API (a read-only view over engine/), the ACS session
 * and updates. */
#include "agent/agent_internal.h"
#include "agent/agent.h"
#include "core/xmalloc.h"
#include "introspection/introspection.h"
#include "log/log.h"
#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>

#define MOD "agent"

struct agent_services
{
  introspection_server_t *intro;
  char *version;
};

/* ---- introspection provider over the engine ---- */

static void
agent_intro_foreach_task (void *data, introspection_task_cb cb, void *arg)
{
  struct agent *a = data;
  if (a->engine == NULL)
    return;
  size_t n = engine_task_count (a->engine);
  for (size_t i = 0; i < n; i++)
    {
      const struct engine_task *t = engine_task_at (a->engine, i);
      struct introspection_container *cs = xcalloc (t->n_containers + 1, sizeof *cs);
      size_t nports = 0;
      for (size_t j = 0; j < t->n_containers; j++)
        nports += t->containers[j].n_known_bindings;
      struct introspection_port *ports = xcalloc (nports + 1, sizeof *ports);
      size_t pi = 0;
      for (size_t j = 0; j < t->n_containers; j++)
        {
          const struct engine_container *c = &t->containers[j];
          cs[j].name = c->name;
          cs[j].has_docker_record = c->docker_name != NULL || c->docker_id != NULL;
          cs[j].internal = c->is_internal;
          cs[j].docker_id = c->docker_id ? c->docker_id : "";
          cs[j].docker_name = c->docker_name ? c->docker_name : "";
          cs[j].image = c->image;
          cs[j].ports = ports + pi;
          for (size_t k = 0; k < c->n_known_bindings; k++, pi++)
            {
              ports[pi].container_port = c->known_bindings[k].container_port;
              ports[pi].host_port = c->known_bindings[k].host_port;
              ports[pi].bind_ip = c->known_bindings[k].bind_ip;
              ports[pi].protocol = engine_protocol_str (c->known_bindings[k].protocol);
            }
          cs[j].n_ports = c->n_known_bindings;
        }
      struct introspection_task it = {
        .arn = t->arn,
        .family = t->family,
        .version = t->version,
        .desired_status = (int) t->desired_status,
        .known_status = (int) t->known_status,
        .containers = cs,
        .n_containers = t->n_containers,
      };
      cb (&it, arg);
      free (ports);
      free (cs);
    }
}

static const char *
agent_intro_instance_arn (void *data)
{
  struct agent *a = data;
  return state_container_instance_arn (a->state);
}

static int
agent_intro_start (struct agent *a, agent_error_t *err)
{
  struct introspection_config ic = {
    .listen_addr = a->cfg->introspection_addr,
    .port = a->cfg->introspection_port,
    .cluster = a->cfg->cluster,
    .version = a->services->version,
  };
  struct introspection_provider prov = { .foreach_task = agent_intro_foreach_task,
                                         .container_instance_arn = agent_intro_instance_arn,
                                         .data = a };
  if (introspection_start (a->loop, &ic, &prov, &a->services->intro, err) < 0)
    return error_wrap (err, "introspection server on %s:%d", ic.listen_addr, ic.port);
  log_info (MOD, "Introspection API listening on %s:%d", ic.listen_addr, ic.port);
  return 0;
}

/* libwebsockets' own messages go through our logger (and its redaction). */
static void
agent_lws_log_cb (int level, const char *line)
{
  size_t n = strlen (line);
  while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == ' '))
    n--;
  if (level & LLL_ERR)
    log_error ("lws", "%.*s", (int) n, line);
  else if (level & LLL_WARN)
    log_warn ("lws", "%.*s", (int) n, line);
  else
    log_debug ("lws", "%.*s", (int) n, line);
}

int
agent_services_start (struct agent *a, agent_error_t *err)
{
  lws_set_log_level (LLL_ERR | LLL_WARN | (log_get_level () >= LOG_DEBUG ? LLL_NOTICE : 0),
                     agent_lws_log_cb);
  a->services = xcalloc (1, sizeof *a->services);
  a->services->version = agent_version_string ();
  if (agent_intro_start (a, err) < 0)
    return -1;
  return 0;
}

void
agent_services_stop (struct agent *a)
{
  struct agent_services *s = a->services;
  if (s == NULL)
    return;
  introspection_stop (s->intro, NULL, NULL);
  free (s->version);
  free (s);
  a->services = NULL;
}
