/* tmds/meta.c - the container and task objects of the metadata endpoints
 * (see tmds.h and README; field names and types are upstream's). */
#include "tmds/tmds_int.h"
#include "core/time.h"
#include "core/xmalloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* RFC 3339 UTC with the fraction's trailing zeros trimmed (Go's
   RFC3339Nano); 0 (never) -> not set. */
static void
set_time (json_t *o, const char *key, int64_t ns)
{
  if (ns == 0)
    return;
  char b[TIME_RFC3339_LEN];
  if (time_rfc3339_format (ns, b, sizeof b) < 0)
    return;
  char *dot = strchr (b, '.');
  if (dot)
    {
      char *z = strchr (dot, 'Z');
      char *e = z;
      while (e > dot + 1 && e[-1] == '0')
        e--;
      if (e == dot + 1)
        e = dot;
      memmove (e, z, strlen (z) + 1);
    }
  json_object_set_new (o, key, json_string (b));
}

static void
set_time_str (json_t *o, const char *key, const char *s)
{
  int64_t ns = 0;
  if (s && time_rfc3339_parse (s, &ns) == 0)
    set_time (o, key, ns);
}

/* A float as Go's JSON encoder prints it: whole values without a
   fraction ("2", not "2.0"). */
json_t *
tmds_json_float (double d)
{
  if (d == (double) (json_int_t) d)
    return json_integer ((json_int_t) d);
  return json_real (d);
}

static json_t *
kv_object (const struct docker_kv *kv, size_t n)
{
  json_t *o = json_object ();
  for (size_t i = 0; i < n; i++)
    json_object_set_new (o, kv[i].key, json_string (kv[i].value ? kv[i].value : ""));
  return o;
}

/* The log options Docker holds, without those a secret of the container
   set (target LOG_DRIVER, task/secrets.h): their values are secrets.
   Upstream answers the task definition's options, which never hold them. */
static json_t *
log_options_json (const struct task_container *c, const struct docker_kv *kv, size_t n)
{
  json_t *o = json_object ();
  for (size_t i = 0; i < n; i++)
    {
      bool secret = false;
      for (size_t k = 0; k < c->secrets.n && !secret; k++)
        secret = task_secret_is_log_driver (&c->secrets.v[k]) && kv[i].key
                 && strcmp (c->secrets.v[k].name, kv[i].key) == 0;
      if (!secret)
        json_object_set_new (o, kv[i].key, json_string (kv[i].value ? kv[i].value : ""));
    }
  return o;
}

static json_t *
ports_json (const struct task_container *c, int version)
{
  json_t *a = json_array ();
  for (size_t i = 0; i < c->n_known_bindings; i++)
    {
      const struct task_port_binding *b = &c->known_bindings[i];
      json_t *p = json_object ();
      if (b->container_port)
        json_object_set_new (p, "ContainerPort", json_integer (b->container_port));
      json_object_set_new (p, "Protocol", json_string (task_protocol_str (b->protocol)));
      if (b->host_port)
        json_object_set_new (p, "HostPort", json_integer (b->host_port));
      if (version >= 4 && b->bind_ip && *b->bind_ip)
        json_object_set_new (p, "HostIp", json_string (b->bind_ip));
      json_array_append_new (a, p);
    }
  return a;
}

/* One entry per Docker network, else one from the network mode and the
   top-level address (host mode gives [""]). */
static json_t *
networks_json (const struct docker_container_info *info)
{
  json_t *a = json_array ();
  for (size_t i = 0; i < info->n_networks; i++)
    json_array_append_new (a, json_pack ("{s:s,s:[s]}", "NetworkMode", info->networks[i].key,
                                         "IPv4Addresses", info->networks[i].value));
  if (info->n_networks == 0)
    json_array_append_new (a, json_pack ("{s:s,s:[s]}", "NetworkMode",
                                         info->network_mode ? info->network_mode : "",
                                         "IPv4Addresses",
                                         info->ip_address ? info->ip_address : ""));
  return a;
}

static json_t *
volumes_json (const struct docker_container_info *info)
{
  json_t *a = json_array ();
  for (size_t i = 0; i < info->n_mounts; i++)
    {
      const struct docker_mount *m = &info->mounts[i];
      json_t *v = json_object ();
      if (m->name && *m->name)
        json_object_set_new (v, "DockerName", json_string (m->name));
      if (m->source && *m->source)
        json_object_set_new (v, "Source", json_string (m->source));
      if (m->destination && *m->destination)
        json_object_set_new (v, "Destination", json_string (m->destination));
      json_array_append_new (a, v);
    }
  return a;
}

static void
set_nonempty_array (json_t *o, const char *key, json_t *a)
{
  if (json_array_size (a) > 0)
    json_object_set_new (o, key, a);
  else
    json_decref (a);
}

/* Upstream's HealthStatus of a container with a Docker health check (every
   version): status (omitted while UNKNOWN), statusSince, exitCode
   (non-zero), output; may be {}. */
static json_t *
health_json (const struct task_container_lifecycle *l)
{
  json_t *h = json_object ();
  if (l->health != TASK_HEALTH_UNKNOWN)
    json_object_set_new (h, "status", json_string (task_health_str (l->health)));
  set_time (h, "statusSince", l->health_since_ns);
  if (l->health_exit_code)
    json_object_set_new (h, "exitCode", json_integer (l->health_exit_code));
  if (l->health_output && *l->health_output)
    {
      json_t *s = json_string (l->health_output);
      if (s)
        json_object_set_new (h, "output", s);
    }
  return h;
}

bool
tmds_container_listed (const struct task_container *c, int version)
{
  if (c->docker_id)
    return true;
  return version >= 4 && c->known_status == TASK_STATUS_PULLED;
}

static json_t *
container_json (const struct tmds_view *v, const struct task_container *c, int version,
                bool network_required)
{
  const struct docker_container_info *info
      = c->docker_id && v->inspect ? v->inspect (v->inspect_data, c->docker_id) : NULL;
  if (version >= 3 && c->docker_id && network_required
      && (!info || !info->has_network_settings))
    return NULL;
  json_t *o = json_object ();
  json_object_set_new (o, "DockerId", json_string (c->docker_id ? c->docker_id : ""));
  json_object_set_new (o, "Name", json_string (c->name));
  json_object_set_new (o, "DockerName", json_string (c->docker_name ? c->docker_name : ""));
  json_object_set_new (o, "Image", json_string (c->image ? c->image : ""));
  json_object_set_new (o, "ImageID", json_string (info && info->image_id ? info->image_id : ""));
  set_nonempty_array (o, "Ports", ports_json (c, version));
  if (info && info->n_labels)
    json_object_set_new (o, "Labels", kv_object (info->labels, info->n_labels));
  json_object_set_new (o, "DesiredStatus",
                       json_string (task_container_status_str (c->desired_status)));
  json_object_set_new (o, "KnownStatus", json_string (task_container_status_str (c->known_status)));
  if (c->has_exit_code)
    json_object_set_new (o, "ExitCode", json_integer (c->exit_code));
  if (version >= 4 && c->restart.enabled) /* upstream: only with a restart policy */
    json_object_set_new (o, "RestartCount", json_integer (c->restart.count));
  uint32_t cpu = c->cpu < 2 ? 2 : c->cpu;
  /* CPU is a float upstream, printed as Go prints it: units are whole
     numbers, so "256", never "256.0" */
  json_object_set_new (o, "Limits", json_pack ("{s:I,s:I}", "CPU", (json_int_t) cpu, "Memory",
                                               (json_int_t) c->memory));
  if (info)
    {
      set_time_str (o, "CreatedAt", info->created);
      set_time (o, "StartedAt", info->started_at_ns);
      set_time (o, "FinishedAt", info->finished_at_ns);
    }
  json_object_set_new (o, "Type", json_string (c->is_internal ? "EMPTY_HOST_VOLUME" : "NORMAL"));
  if (version >= 3 && info && info->has_network_settings)
    json_object_set_new (o, "Networks", networks_json (info));
  if (task_options_docker_health_check (&c->opts))
    json_object_set_new (o, "Health", health_json (&c->life));
  if (info)
    set_nonempty_array (o, "Volumes", volumes_json (info));
  if (version >= 4 && c->container_arn && *c->container_arn)
    json_object_set_new (o, "ContainerARN", json_string (c->container_arn));
  if (version >= 4 && info && info->log_driver && *info->log_driver)
    {
      json_object_set_new (o, "LogDriver", json_string (info->log_driver));
      if (info->n_log_options)
        json_object_set_new (o, "LogOptions", log_options_json (c, info->log_options, info->n_log_options));
    }
  return o;
}

json_t *
tmds_container_json (const struct tmds_view *v, const struct task_container *c, int version)
{
  return container_json (v, c, version, true);
}

json_t *
tmds_task_json (const struct tmds_view *v, const struct task *t, int version)
{
  json_t *o = json_object ();
  json_object_set_new (o, "Cluster", json_string (v->cfg->cluster ? v->cfg->cluster : ""));
  json_object_set_new (o, "TaskARN", json_string (t->arn));
  json_object_set_new (o, "Family", json_string (t->family ? t->family : ""));
  json_object_set_new (o, "Revision", json_string (t->version ? t->version : ""));
  json_object_set_new (o, "DesiredStatus", json_string (task_status_str (t->desired_status)));
  json_object_set_new (o, "KnownStatus", json_string (task_status_str (t->known_status)));
  json_t *cs = json_array ();
  for (size_t i = 0; i < t->n_containers; i++)
    {
      const struct task_container *c = &t->containers[i];
      if (!tmds_container_listed (c, version))
        continue;
      /* v4 lists a container without network settings, without Networks;
         v3 leaves it out (upstream's v3 task handler skips it with a warning) */
      json_t *cj = container_json (v, c, version, version < 4);
      if (cj)
        json_array_append_new (cs, cj);
    }
  set_nonempty_array (o, "Containers", cs);
  json_t *limits = json_object ();
  if (t->opts.cpu > 0)
    json_object_set_new (limits, "CPU", tmds_json_float (t->opts.cpu));
  if (t->opts.memory_mib > 0)
    json_object_set_new (limits, "Memory", json_integer (t->opts.memory_mib));
  if (json_object_size (limits) > 0)
    json_object_set_new (o, "Limits", limits);
  else
    json_decref (limits);
  set_time (o, "PullStartedAt", t->pull_started_ms * 1000000);
  set_time (o, "PullStoppedAt", t->pull_stopped_ms * 1000000);
  set_time (o, "ExecutionStoppedAt", t->execution_stopped_ms * 1000000);
  if (v->cfg->availability_zone && *v->cfg->availability_zone)
    json_object_set_new (o, "AvailabilityZone", json_string (v->cfg->availability_zone));
  if (version >= 4)
    {
      if (t->launch_type && *t->launch_type)
        json_object_set_new (o, "LaunchType", json_string (t->launch_type));
      if (t->service_name && *t->service_name)
        json_object_set_new (o, "ServiceName", json_string (t->service_name));
      json_object_set_new (o, "FaultInjectionEnabled", json_boolean (t->fault_injection));
    }
  return o;
}
