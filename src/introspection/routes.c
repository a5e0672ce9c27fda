/* introspection/routes.c - the router and its JSON views (no I/O): turns a
 * path and its query arguments into a status and a body, reading engine
 * state through the provider.  See introspection.h for the contract. */
#include "introspection/introspection.h"
#include "core/time.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include <jansson.h>
#include <string.h>

#define DOCKER_SHORT_ID_LEN 12

static const char *const available_commands[] = { "/v1/metadata", "/v1/tasks", "/license", "/v1/health",
                                                   "/metrics" };

static const char builtin_license[]
    = "Amazon ECS Container Agent (C re-implementation)\n"
      "Licensed under the Apache License, Version 2.0 (the \"License\").\n"
      "You may not use this software except in compliance with the License.\n"
      "A copy of the License is located at http://aws.amazon.com/apache2.0/\n"
      "or in the \"license\" file accompanying this software.  It is distributed\n"
      "on an \"AS IS\" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND,\n"
      "either express or implied.\n";

const char *
introspection_version_string (void)
{
  return "Amazon ECS Agent - v" AGENT_VERSION " (" /* */
#if AGENT_GITDIRTY
         "*"
#endif
         AGENT_GITREV ")";
}

static json_t *
jstr (const char *s)
{
  return json_string (s ? s : "");
}

/* jansson rejects invalid UTF-8; the provider's strings come from Docker and
   ACS and should be valid, but never let one bad byte drop a response. */
static void
set_str (json_t *o, const char *key, const char *s)
{
  json_t *v = jstr (s);
  if (!v)
    v = json_string ("");
  json_object_set_new (o, key, v);
}

static json_t *
container_json (const struct introspection_container *c)
{
  json_t *o = json_object ();
  set_str (o, "DockerId", c->docker_id);
  set_str (o, "DockerName", c->docker_name);
  set_str (o, "Name", c->name);
  set_str (o, "Image", c->image);
  set_str (o, "ImageID", c->image_id);
  if (c->created_at && *c->created_at)
    set_str (o, "CreatedAt", c->created_at);
  if (c->started_at && *c->started_at)
    set_str (o, "StartedAt", c->started_at);
  if (c->n_ports)
    {
      json_t *a = json_array ();
      for (size_t i = 0; i < c->n_ports; i++)
        {
          const struct task_port_binding *p = &c->ports[i];
          json_t *po = json_object ();
          if (p->container_port)
            json_object_set_new (po, "ContainerPort", json_integer (p->container_port));
          set_str (po, "Protocol", task_protocol_str (p->protocol));
          if (p->host_port)
            json_object_set_new (po, "HostPort", json_integer (p->host_port));
          if (p->bind_ip && *p->bind_ip)
            set_str (po, "HostIp", p->bind_ip);
          json_array_append_new (a, po);
        }
      json_object_set_new (o, "Ports", a);
    }
  if (c->n_volumes)
    {
      json_t *a = json_array ();
      for (size_t i = 0; i < c->n_volumes; i++)
        {
          const struct introspection_volume *v = &c->volumes[i];
          json_t *vo = json_object ();
          if (v->docker_name && *v->docker_name)
            set_str (vo, "DockerName", v->docker_name);
          if (v->source && *v->source)
            set_str (vo, "Source", v->source);
          if (v->destination && *v->destination)
            set_str (vo, "Destination", v->destination);
          json_array_append_new (a, vo);
        }
      json_object_set_new (o, "Volumes", a);
    }
  if (c->health_status)
    {
      /* As the task metadata endpoint's Health: status and statusSince. */
      json_t *h = json_object ();
      set_str (h, "status", c->health_status);
      if (c->health_since_ns)
        {
          char ts[TIME_RFC3339_LEN];
          time_rfc3339_format (c->health_since_ns, ts, sizeof ts);
          set_str (h, "statusSince", ts);
        }
      json_object_set_new (o, "Health", h);
    }
  if (c->has_restart_policy)
    json_object_set_new (o, "RestartCount", json_integer (c->restart_count));
  return o;
}

static json_t *
task_json (const struct introspection_task *t)
{
  const char *known = task_status_ecs_str (t->known_status);
  const char *desired = task_status_ecs_str (t->desired_status);
  json_t *o = json_object ();
  set_str (o, "Arn", t->arn);
  /* DesiredStatus is omitted while it would contradict what is known. */
  if (!((strcmp (known, "STOPPED") == 0 && strcmp (desired, "STOPPED") != 0)
        || (strcmp (known, "RUNNING") == 0 && strcmp (desired, "PENDING") == 0)))
    set_str (o, "DesiredStatus", desired);
  set_str (o, "KnownStatus", known);
  set_str (o, "Family", t->family);
  set_str (o, "Version", t->version);
  json_t *a = json_array ();
  for (size_t i = 0; i < t->n_containers; i++)
    {
      const struct introspection_container *c = &t->containers[i];
      if (!c->has_docker_record || c->internal)
        continue;
      json_array_append_new (a, container_json (c));
    }
  json_object_set_new (o, "Containers", a);
  return o;
}

/* Go's zero-value TaskResponse, as HEAD writes on every error. */
static json_t *
empty_task_json (void)
{
  json_t *o = json_object ();
  set_str (o, "Arn", "");
  set_str (o, "KnownStatus", "");
  set_str (o, "Family", "");
  set_str (o, "Version", "");
  json_object_set_new (o, "Containers", json_null ());
  return o;
}

enum find_mode
{
  FIND_ALL,
  FIND_ARN,
  FIND_ID,
  FIND_PREFIX,
};

struct find
{
  enum find_mode mode;
  const char *key;
  size_t keylen;
  json_t *all;   /* FIND_ALL: array */
  json_t *found; /* first match */
  size_t n_found;
};

static bool
task_matches (const struct find *f, const struct introspection_task *t)
{
  switch (f->mode)
    {
    case FIND_ALL:
      return true;
    case FIND_ARN:
      return t->arn && strcmp (t->arn, f->key) == 0;
    case FIND_ID:
    case FIND_PREFIX:
      for (size_t i = 0; i < t->n_containers; i++)
        {
          const char *id = t->containers[i].docker_id;
          if (!id || !*id)
            continue;
          if (f->mode == FIND_ID ? strcmp (id, f->key) == 0 : strncmp (id, f->key, f->keylen) == 0)
            return true;
        }
      return false;
    }
  return false;
}

static void
find_cb (const struct introspection_task *t, void *arg)
{
  struct find *f = arg;
  if (!t || !task_matches (f, t))
    return;
  if (f->mode == FIND_ALL)
    {
      json_array_append_new (f->all, task_json (t));
      return;
    }
  if (f->n_found++ == 0)
    f->found = task_json (t);
}

static char *
dump (json_t *j)
{
  char *s = json_dumps (j, JSON_COMPACT);
  json_decref (j);
  if (!s)
    xalloc_die ();
  /* jansson allocates with malloc (default allocators): hand it over as is. */
  return s;
}

static int
route_tasks (const struct introspection_provider *prov, const char *taskarn,
             const char *dockerid, char **body)
{
  struct find f = { 0 };
  if (taskarn && dockerid)
    {
      *body = dump (empty_task_json ());
      return 400;
    }
  if (taskarn)
    {
      f.mode = FIND_ARN;
      f.key = taskarn;
    }
  else if (dockerid)
    {
      f.mode = strlen (dockerid) > DOCKER_SHORT_ID_LEN ? FIND_ID : FIND_PREFIX;
      f.key = dockerid;
      f.keylen = strlen (dockerid);
    }
  else
    {
      f.mode = FIND_ALL;
      f.all = json_array ();
    }
  if (prov && prov->foreach_task)
    prov->foreach_task (prov->data, find_cb, &f);
  if (f.mode == FIND_ALL)
    {
      json_t *o = json_object ();
      json_object_set_new (o, "Tasks", f.all);
      *body = dump (o);
      return 200;
    }
  if (f.n_found == 1)
    {
      *body = dump (f.found);
      return 200;
    }
  if (f.found)
    json_decref (f.found);
  *body = dump (empty_task_json ());
  return f.n_found == 0 ? 404 : 400;
}

static int
route_health (const struct introspection_provider *prov, char **body)
{
  json_t *o = json_object ();
  if (!prov || !prov->health)
    {
      json_object_set_new (o, "Healthy", json_false ());
      set_str (o, "Detail", "no health source");
      *body = dump (o);
      return 503;
    }
  struct health_verdict v;
  prov->health (prov->data, &v);
  json_t *failing = json_array ();
  json_t *checks = json_object ();
  for (int p = 0; p < HEALTH_N_PARTS; p++)
    {
      json_t *c = json_object ();
      json_object_set_new (c, "Healthy", json_boolean (!v.failing[p]));
      set_str (c, "Detail", v.detail[p]);
      json_object_set_new (checks, health_part_name (p), c);
      if (v.failing[p])
        json_array_append_new (failing, json_string (health_part_name (p)));
    }
  json_object_set_new (o, "Healthy", json_boolean (v.healthy));
  json_object_set_new (o, "Failing", failing);
  json_object_set_new (o, "Checks", checks);
  *body = dump (o);
  return v.healthy ? 200 : 503;
}

int
introspection_route (const struct introspection_config *cfg,
                     const struct introspection_provider *prov, const char *path,
                     const char *const *args, size_t n_args, char **body,
                     const char **content_type)
{
  *content_type = "application/json";
  if (!path)
    path = "/";
  if (strcmp (path, "/v1/metadata") == 0)
    {
      const char *arn = NULL;
      if (prov && prov->container_instance_arn)
        arn = prov->container_instance_arn (prov->data);
      if (!arn && cfg)
        arn = cfg->container_instance_arn;
      json_t *o = json_object ();
      set_str (o, "Cluster", cfg && cfg->cluster ? cfg->cluster : "default");
      json_object_set_new (o, "ContainerInstanceArn", arn ? jstr (arn) : json_null ());
      if (!json_object_get (o, "ContainerInstanceArn"))
        json_object_set_new (o, "ContainerInstanceArn", json_null ());
      set_str (o, "Version",
               cfg && cfg->version ? cfg->version : introspection_version_string ());
      *body = dump (o);
      return 200;
    }
  if (strcmp (path, "/v1/tasks") == 0)
    {
      /* A filter past the argument limit would be ignored, answering more
         than was asked: refuse the request instead. */
      if (n_args > INTROSPECTION_MAX_QUERY_ARGS)
        {
          *body = dump (empty_task_json ());
          return 400;
        }
      /* First occurrence wins (Go's Values.Get); presence counts, as HEAD. */
      const char *taskarn = NULL, *dockerid = NULL;
      for (size_t i = 0; i < n_args; i++)
        {
          const char *a = args[i];
          if (!a)
            continue;
          const char *eq = strchr (a, '=');
          size_t nlen = eq ? (size_t) (eq - a) : strlen (a);
          const char *val = eq ? eq + 1 : "";
          if (nlen == 7 && memcmp (a, "taskarn", 7) == 0 && !taskarn)
            taskarn = val;
          else if (nlen == 8 && memcmp (a, "dockerid", 8) == 0 && !dockerid)
            dockerid = val;
        }
      return route_tasks (prov, taskarn, dockerid, body);
    }
  if (strcmp (path, "/v1/health") == 0)
    return route_health (prov, body);
  if (strcmp (path, "/metrics") == 0)
    {
      struct metrics_snapshot snap = { 0 };
      if (prov && prov->metrics_snapshot)
        prov->metrics_snapshot (prov->data, &snap);
      struct sbuf b = { 0 };
      metrics_write (&b, &snap);
      *body = sbuf_steal (&b);
      *content_type = METRICS_CONTENT_TYPE;
      return 200;
    }
  if (strcmp (path, "/license") == 0)
    {
      *content_type = "text/plain; charset=utf-8";
      *body = xstrdup (cfg && cfg->license_text ? cfg->license_text : builtin_license);
      return 200;
    }
  json_t *o = json_object ();
  json_t *a = json_array ();
  for (size_t i = 0; i < ARRAY_SIZE (available_commands); i++)
    json_array_append_new (a, json_string (available_commands[i]));
  json_object_set_new (o, "AvailableCommands", a);
  *body = dump (o);
  return 200;
}
