/* state/checkpoint_tasks.c - tasks <-> their checkpoint JSON (see checkpoint_tasks.h). */
#include "state/checkpoint_tasks.h"
#include "task/task_decode.h"
#include "task/options_decode.h"
#include "task/lifecycle_decode.h"
#include "task/restart_decode.h"
#include "task/registry_auth_decode.h"
#include "task/secrets_decode.h"
#include "core/time.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


static void
set_strv (json_t *o, const char *key, char *const *v)
{
  if (!v)
    {
      json_object_set_new (o, key, json_null ());
      return;
    }
  json_t *a = json_array ();
  for (size_t i = 0; v[i]; i++)
    json_array_append_new (a, json_string (v[i]));
  json_object_set_new (o, key, a);
}

static json_t *
container_to_json (const struct task_container *c)
{
  json_t *o = json_object ();
  json_object_set_new (o, "Name", json_string (c->name));
  json_object_set_new (o, "Image", c->image ? json_string (c->image) : json_null ());
  set_strv (o, "Command", c->command);
  json_object_set_new (o, "Cpu", json_integer (c->cpu));
  json_object_set_new (o, "Memory", json_integer (c->memory));
  set_strv (o, "Links", c->links);
  json_t *vf = json_array ();
  for (size_t i = 0; i < c->n_volumes_from; i++)
    json_array_append_new (vf, json_pack ("{s:s,s:b}", "sourceContainer",
                                          c->volumes_from[i].source_container, "readOnly",
                                          c->volumes_from[i].read_only));
  json_object_set_new (o, "volumesFrom", vf);
  json_t *mp = json_array ();
  for (size_t i = 0; i < c->n_mount_points; i++)
    json_array_append_new (mp, json_pack ("{s:s,s:s,s:b}", "sourceVolume",
                                          c->mount_points[i].source_volume, "containerPath",
                                          c->mount_points[i].container_path, "readOnly",
                                          c->mount_points[i].read_only));
  json_object_set_new (o, "mountPoints", mp);
  json_t *pm = json_array ();
  for (size_t i = 0; i < c->n_port_mappings; i++)
    {
      const struct task_port_mapping *m = &c->port_mappings[i];
      json_t *mj = json_pack ("{s:i,s:i,s:s}", "ContainerPort", m->container_port, "HostPort",
                              m->host_port, "Protocol", task_protocol_str (m->protocol));
      if (m->range_start)
        json_object_set_new (mj, "containerPortRange",
                             json_sprintf ("%u-%u", (unsigned) m->range_start, (unsigned) m->range_end));
      json_array_append_new (pm, mj);
    }
  json_object_set_new (o, "portMappings", pm);
  json_object_set_new (o, "Essential", json_boolean (c->essential));
  set_strv (o, "EntryPoint", c->entry_point);
  json_t *env = json_object ();
  for (size_t i = 0; i < c->n_environment; i++)
    json_object_set_new (env, c->environment[i].key, json_string (c->environment[i].value));
  json_object_set_new (o, "environment", env);
  json_t *ov = json_object ();
  set_strv (ov, "command", c->has_override_command ? c->override_command : NULL);
  json_object_set_new (o, "overrides", ov);
  json_object_set_new (o, "desiredStatus", json_string (task_container_status_str (c->desired_status)));
  json_object_set_new (o, "KnownStatus", json_string (task_container_status_str (c->known_status)));
  json_object_set_new (o, "SentStatus", json_string (task_container_status_str (c->sent_status)));
  set_strv (o, "RunDependencies", c->run_dependencies);
  json_object_set_new (o, "IsInternal", json_boolean (c->is_internal));
  json_object_set_new (o, "Reason", c->reason ? json_string (c->reason) : json_null ());
  json_object_set_new (o, "KnownExitCode", c->has_exit_code ? json_integer (c->exit_code) : json_null ());
  json_t *kb = json_array ();
  for (size_t i = 0; i < c->n_known_bindings; i++)
    json_array_append_new (kb, json_pack ("{s:i,s:i,s:s,s:s}", "ContainerPort",
                                          c->known_bindings[i].container_port, "HostPort",
                                          c->known_bindings[i].host_port, "BindIp",
                                          c->known_bindings[i].bind_ip ? c->known_bindings[i].bind_ip : "",
                                          "Protocol",
                                          task_protocol_str (c->known_bindings[i].protocol)));
  json_object_set_new (o, "KnownPortBindings", kb);
  json_object_set_new (o, "DockerId", c->docker_id ? json_string (c->docker_id) : json_null ());
  json_object_set_new (o, "DockerName", c->docker_name ? json_string (c->docker_name) : json_null ());
  json_object_set_new (o, "Restopped", json_boolean (c->restopped));
  if (c->v3_endpoint_id)
    json_object_set_new (o, "V3EndpointID", json_string (c->v3_endpoint_id));
  if (c->image_digest)
    json_object_set_new (o, "ImageDigest", json_string (c->image_digest));
  if (c->container_arn)
    json_object_set_new (o, "ContainerArn", json_string (c->container_arn));
  task_json_container_options_put (o, &c->opts);
  task_json_container_lifecycle_put (o, &c->life, true);
  task_json_container_restart_put (o, &c->restart, true);
  task_json_container_registry_auth_put (o, &c->registry_auth);
  task_json_container_secrets_put (o, &c->secrets);
  return o;
}

json_t *
state_task_to_json (const struct task *t)
{
  json_t *o = json_object ();
  json_object_set_new (o, "Arn", json_string (t->arn));
  json_object_set_new (o, "Family", json_string (t->family ? t->family : ""));
  json_object_set_new (o, "Version", json_string (t->version ? t->version : ""));
  json_t *cs = json_array ();
  for (size_t i = 0; i < t->n_containers; i++)
    json_array_append_new (cs, container_to_json (&t->containers[i]));
  json_object_set_new (o, "Containers", cs);
  json_t *vs = json_array ();
  for (size_t i = 0; i < t->n_volumes; i++)
    {
      const struct task_volume *v = &t->volumes[i];
      json_t *host = json_object ();
      if (v->source_path)
        json_object_set_new (host, "sourcePath", json_string (v->source_path));
      json_t *vj = json_pack ("{s:s,s:o}", "name", v->name, "host", host);
      if (v->docker_name)
        json_object_set_new (vj, "DockerName", json_string (v->docker_name));
      json_object_set_new (vj, "Created", json_boolean (v->created));
      json_array_append_new (vs, vj);
    }
  json_object_set_new (o, "volumes", vs);
  json_object_set_new (o, "DesiredStatus", json_string (task_status_str (t->desired_status)));
  json_object_set_new (o, "KnownStatus", json_string (task_status_str (t->known_status)));
  char tb[48];
  time_rfc3339_format (t->known_time_ns, tb, sizeof tb);
  json_object_set_new (o, "KnownTime", json_string (tb));
  /* a task's PENDING report is remembered as SentStatus PULLED */
  json_object_set_new (o, "SentStatus", json_string (t->sent_status == TASK_STATUS_PULLED
                                                       ? task_container_status_str (t->sent_status)
                                                       : task_status_str (t->sent_status)));
  json_object_set_new (o, "StartSequenceNumber", json_integer (t->start_seq));
  /* Unix ms (this agent's own keys: upstream writes RFC 3339 times) */
  if (t->pull_started_ms)
    json_object_set_new (o, "PullStartedAtMs", json_integer (t->pull_started_ms));
  if (t->pull_stopped_ms)
    json_object_set_new (o, "PullStoppedAtMs", json_integer (t->pull_stopped_ms));
  if (t->execution_stopped_ms)
    json_object_set_new (o, "ExecutionStoppedAtMs", json_integer (t->execution_stopped_ms));
  json_object_set_new (o, "StopSequenceNumber", json_integer (t->stop_seq));
  json_object_set_new (o, "Reason", t->reason ? json_string (t->reason) : json_null ());
  /* The ids only: the credentials stay in memory (task/task_creds.h). */
  if (t->execution_credentials_id)
    json_object_set_new (o, "executionCredentialsID", json_string (t->execution_credentials_id));
  if (t->credentials_id)
    json_object_set_new (o, "credentialsID", json_string (t->credentials_id));
  if (t->launch_type)
    json_object_set_new (o, "LaunchType", json_string (t->launch_type));
  if (t->service_name)
    json_object_set_new (o, "ServiceName", json_string (t->service_name));
  json_object_set_new (o, "EnableFaultInjection", json_boolean (t->fault_injection));
  task_json_task_options_put (o, &t->opts);
  return o;
}

static int
get_status (json_t *obj, const char *key, const char *path, enum task_status *out,
            agent_error_t *err)
{
  cleanup_free char *s = NULL;
  if (task_json_string (obj, key, path, false, &s, err) < 0)
    return -ERR_INVALID;
  if (task_status_parse (s, out, err) < 0)
    return error_wrap (err, "%s.%s", path, key);
  return 0;
}

static char *
trim_dup (const char *s)
{
  size_t n = strlen (s);
  while (n > 0 && isspace ((unsigned char) s[n - 1]))
    n--;
  return xstrndup (s, n);
}

/* An empty string means none. */
static void
empty_to_null (char **s)
{
  if (*s && !**s)
    {
      free (*s);
      *s = NULL;
    }
}

static int
parse_checkpoint_container (json_t *cj, const char *path, struct task_container *c,
                            agent_error_t *err)
{
  if (task_json_container_common (cj, path, c, err) < 0
      || task_json_container_lifecycle (cj, path, true, &c->life, err) < 0
      || task_json_container_restart (cj, path, true, &c->restart, err) < 0
      || task_json_container_registry_auth (cj, path, &c->registry_auth, err) < 0
      || task_json_container_secrets (cj, path, &c->secrets, err) < 0)
    return -ERR_INVALID;
  if (get_status (cj, "desiredStatus", path, &c->desired_status, err) < 0
      || get_status (cj, "KnownStatus", path, &c->known_status, err) < 0
      || get_status (cj, "SentStatus", path, &c->sent_status, err) < 0
      || task_json_strv (cj, "RunDependencies", path, &c->run_dependencies, err) < 0
      || task_json_string (cj, "DockerId", path, false, &c->docker_id, err) < 0
      || task_json_string (cj, "DockerName", path, false, &c->docker_name, err) < 0
      || task_json_bool (cj, "Restopped", path, &c->restopped, err) < 0
      || task_json_string (cj, "V3EndpointID", path, false, &c->v3_endpoint_id, err) < 0
      || task_json_string (cj, "ImageDigest", path, false, &c->image_digest, err) < 0
      || task_json_string (cj, "ContainerArn", path, false, &c->container_arn, err) < 0)
    return -ERR_INVALID;
  json_t *internal = task_json_get (cj, "IsInternal");
  if (json_is_boolean (internal))
    c->is_internal = json_is_true (internal);
  else if (json_is_string (internal)) /* later agents: "NORMAL" / "EMPTY_HOST_VOLUME" ... */
    c->is_internal = strcasecmp (json_string_value (internal), "NORMAL") != 0;
  else if (!task_json_null (internal))
    return error_set (err, ERR_INVALID, "%s.IsInternal must be a boolean", path);
  /* Reason (ours) or ApplyingError {"name","error"} (upstream). */
  json_t *reason = task_json_get (cj, "Reason");
  if (json_is_string (reason))
    c->reason = xstrdup (json_string_value (reason));
  else if (!task_json_null (reason))
    return error_set (err, ERR_INVALID, "%s.Reason must be a string", path);
  else
    {
      json_t *ae = task_json_get (cj, "ApplyingError");
      if (json_is_object (ae))
        {
          json_t *name = task_json_get (ae, "name"), *msg = task_json_get (ae, "error");
          if ((!task_json_null (name) && !json_is_string (name)) || (!task_json_null (msg) && !json_is_string (msg)))
            return error_set (err, ERR_INVALID, "%s.ApplyingError: name and error must be strings", path);
          cleanup_free char *m = trim_dup (json_is_string (msg) ? json_string_value (msg) : "");
          const char *nm = json_is_string (name) && json_string_length (name) ? json_string_value (name)
                                                                             : "UnknownError";
          c->reason = xasprintf ("%s: %s", nm, m);
        }
      else if (!task_json_null (ae))
        return error_set (err, ERR_INVALID, "%s.ApplyingError must be an object", path);
    }
  json_t *ec = task_json_get (cj, "KnownExitCode");
  if (json_is_integer (ec))
    {
      json_int_t v = json_integer_value (ec);
      if (v < INT32_MIN || v > INT32_MAX)
        return error_set (err, ERR_INVALID, "%s.KnownExitCode out of range", path);
      c->has_exit_code = true;
      c->exit_code = (int) v;
    }
  else if (!task_json_null (ec))
    return error_set (err, ERR_INVALID, "%s.KnownExitCode must be an integer or null", path);
  /* KnownPortBindings, else KnownPortBindingsUnsafe. */
  const char *kb = task_json_null (task_json_get (cj, "KnownPortBindings"))
                       ? "KnownPortBindingsUnsafe"
                       : "KnownPortBindings";
  if (task_json_port_bindings (cj, kb, path, false, &c->known_bindings, &c->n_known_bindings,
                               err) < 0)
    return -ERR_INVALID;
  empty_to_null (&c->docker_id);
  empty_to_null (&c->docker_name);
  return 0;
}

int
state_task_from_json (json_t *j, struct task **out, agent_error_t *err)
{
  *out = NULL;
  if (!json_is_object (j))
    return error_set (err, ERR_INVALID, "task must be a JSON object");
  cleanup_task struct task *t = xcalloc (1, sizeof *t);
  if (task_json_string (j, "Arn", "task", true, &t->arn, err) < 0
      || task_json_string (j, "Family", "task", false, &t->family, err) < 0
      || task_json_string (j, "Version", "task", false, &t->version, err) < 0)
    return -ERR_INVALID;
  if (!t->family)
    t->family = xstrdup ("");
  if (!t->version)
    t->version = xstrdup ("");
  cleanup_free char *kt = NULL;
  int64_t ss, sts;
  if (get_status (j, "DesiredStatus", "task", &t->desired_status, err) < 0
      || get_status (j, "KnownStatus", "task", &t->known_status, err) < 0
      || get_status (j, "SentStatus", "task", &t->sent_status, err) < 0
      || task_json_string (j, "KnownTime", "task", false, &kt, err) < 0
      || task_json_int_range (j, "StartSequenceNumber", "task", 0, INT64_MAX, false, &ss, err) < 0
      || task_json_int_range (j, "StopSequenceNumber", "task", 0, INT64_MAX, false, &sts, err) < 0
      || task_json_int_range (j, "PullStartedAtMs", "task", 0, INT64_MAX, false, &t->pull_started_ms, err) < 0
      || task_json_int_range (j, "PullStoppedAtMs", "task", 0, INT64_MAX, false, &t->pull_stopped_ms, err) < 0
      || task_json_int_range (j, "ExecutionStoppedAtMs", "task", 0, INT64_MAX, false,
                              &t->execution_stopped_ms, err) < 0
      || task_json_string (j, "Reason", "task", false, &t->reason, err) < 0
      || task_json_string (j, "credentialsID", "task", false, &t->credentials_id, err) < 0
      || task_json_string (j, "executionCredentialsID", "task", false,
                           &t->execution_credentials_id, err) < 0
      || task_json_string (j, "LaunchType", "task", false, &t->launch_type, err) < 0
      || task_json_string (j, "ServiceName", "task", false, &t->service_name, err) < 0
      || task_json_bool (j, "EnableFaultInjection", "task", &t->fault_injection, err) < 0)
    return error_wrap (err, "task %s", t->arn);
  empty_to_null (&t->credentials_id);
  empty_to_null (&t->execution_credentials_id);
  t->start_seq = ss;
  t->stop_seq = sts;
  if (kt && time_rfc3339_parse (kt, &t->known_time_ns) < 0)
    return error_set (err, ERR_INVALID, "task %s: KnownTime \"%s\" is not an RFC 3339 time", t->arn, kt);
  if (task_json_volumes (j, t, true, err) < 0 || task_json_task_options (j, "task", &t->opts, err) < 0)
    return error_wrap (err, "task %s", t->arn);
  json_t *cs = task_json_get (j, "Containers");
  if (!task_json_null (cs) && !json_is_array (cs))
    return error_set (err, ERR_INVALID, "task %s: Containers must be an array", t->arn);
  size_t n = json_array_size (cs);
  t->containers = xcalloc (n ? n : 1, sizeof *t->containers);
  for (size_t i = 0; i < n; i++)
    {
      json_t *cj = json_array_get (cs, i);
      cleanup_free char *path = xasprintf ("Containers[%zu]", i);
      if (!json_is_object (cj))
        return error_set (err, ERR_INVALID, "task %s: %s must be an object", t->arn, path);
      struct task_container *c = &t->containers[t->n_containers++];
      if (parse_checkpoint_container (cj, path, c, err) < 0)
        return error_wrap (err, "task %s", t->arn);
    }
  if (task_json_check_refs (t, err) < 0)
    return error_wrap (err, "task %s", t->arn);
  task_assign_endpoint_ids (t); /* checkpoints written before endpoint ids */
  *out = t;
  t = NULL;
  return 0;
}

int
state_tasks_from_json (json_t *te, struct task ***tasks_out, size_t *n_out,
                        agent_error_t *err)
{
  *tasks_out = NULL;
  *n_out = 0;
  if (task_json_null (te))
    return 0;
  if (!json_is_object (te))
    return error_set (err, ERR_INVALID, "TaskEngine must be an object");
  json_t *ts = task_json_get (te, "Tasks");
  if (!task_json_null (ts) && !json_is_array (ts))
    return error_set (err, ERR_INVALID, "TaskEngine.Tasks must be an array");
  size_t n = json_array_size (ts);
  struct task **tasks = xcalloc (n + 1, sizeof *tasks);
  size_t got = 0;
  int rc = 0;
  for (size_t i = 0; i < n; i++)
    {
      if ((rc = state_task_from_json (json_array_get (ts, i), &tasks[got], err)) < 0)
        {
          error_wrap (err, "TaskEngine.Tasks[%zu]", i);
          goto fail;
        }
      for (size_t k = 0; k < got; k++)
        if (strcmp (tasks[k]->arn, tasks[got]->arn) == 0)
          {
            rc = error_set (err, ERR_INVALID, "TaskEngine.Tasks[%zu]: duplicate task %s", i,
                            tasks[got]->arn);
            got++;
            goto fail;
          }
      got++;
    }
  /* Upstream: docker ids live in IdToContainer / IdToTask. */
  json_t *itc = task_json_get (te, "IdToContainer");
  json_t *itt = task_json_get (te, "IdToTask");
  if (!task_json_null (itc) && !json_is_object (itc))
    {
      rc = error_set (err, ERR_INVALID, "TaskEngine.IdToContainer must be an object");
      goto fail;
    }
  if (!task_json_null (itt) && !json_is_object (itt))
    {
      rc = error_set (err, ERR_INVALID, "TaskEngine.IdToTask must be an object");
      goto fail;
    }
  const char *id;
  json_t *entry;
  json_object_foreach (itc, id, entry)
  {
    json_t *arnj = json_object_get (itt, id);
    if (!json_is_string (arnj))
      {
        rc = error_set (err, ERR_INVALID, "TaskEngine.IdToContainer: docker id %s has no task in IdToTask", id);
        goto fail;
      }
    struct task *t = NULL;
    for (size_t k = 0; k < got; k++)
      if (strcmp (tasks[k]->arn, json_string_value (arnj)) == 0)
        t = tasks[k];
    if (!t)
      {
        rc = error_set (err, ERR_INVALID, "TaskEngine.IdToTask: docker id %s names task %s, which is not in Tasks",
                        id, json_string_value (arnj));
        goto fail;
      }
    json_t *cj = task_json_get (entry, "Container");
    json_t *nm = task_json_get (cj, "Name");
    struct task_container *c = json_is_string (nm) ? task_find_container (t, json_string_value (nm)) : NULL;
    if (!c)
      {
        rc = error_set (err, ERR_INVALID, "TaskEngine.IdToContainer: docker id %s names a container not in task %s",
                        id, t->arn);
        goto fail;
      }
    json_t *did = task_json_get (entry, "DockerId"), *dn = task_json_get (entry, "DockerName");
    if ((!task_json_null (did) && !json_is_string (did)) || (!task_json_null (dn) && !json_is_string (dn)))
      {
        rc = error_set (err, ERR_INVALID, "TaskEngine.IdToContainer.%s: DockerId/DockerName must be strings", id);
        goto fail;
      }
    free (c->docker_id);
    c->docker_id = xstrdup (json_is_string (did) && json_string_length (did) ? json_string_value (did) : id);
    if (json_is_string (dn) && json_string_length (dn))
      {
        free (c->docker_name);
        c->docker_name = xstrdup (json_string_value (dn));
      }
  }
  json_object_foreach (itt, id, entry)
  {
    if (!json_is_string (entry))
      {
        rc = error_set (err, ERR_INVALID, "TaskEngine.IdToTask.%s must be a string", id);
        goto fail;
      }
  }
  *tasks_out = tasks;
  *n_out = got;
  return 0;
fail:
  for (size_t k = 0; k < got; k++)
    task_free (tasks[k]);
  free (tasks);
  return rc < 0 ? rc : -ERR_INVALID;
}


json_t *
state_tasks_to_json (struct task *const *tasks, size_t n)
{
  json_t *a = json_array ();
  for (size_t i = 0; i < n; i++)
    json_array_append_new (a, state_task_to_json (tasks[i]));
  return json_pack ("{s:o}", "Tasks", a);
}
