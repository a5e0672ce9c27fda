/* acs/task_codec.c - one ACS Task object -> struct task (see task_codec.h). */
#include "acs/task_codec.h"
#include "task/task_decode.h"
#include "task/lifecycle_decode.h"
#include "task/restart_decode.h"
#include "task/registry_auth_decode.h"
#include "task/secrets_decode.h"
#include "task/options_decode.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include <stdlib.h>
#include <string.h>

/* ---- limits (task_codec.h) ----------------------------------------------------- */

/* Size of obj.key when it is an array, else 0 (the parser reports the type). */
static size_t
array_len (json_t *obj, const char *key)
{
  return json_array_size (task_json_get (obj, key));
}

int
acs_payload_check_limits (json_t *tasks, agent_error_t *err)
{
  size_t n = json_array_size (tasks);
  if (n > ACS_PAYLOAD_MAX_TASKS)
    return error_set (err, ERR_INVALID, "payload carries %zu tasks; at most %d are accepted in one payload",
                      n, ACS_PAYLOAD_MAX_TASKS);
  size_t containers = 0;
  for (size_t i = 0; i < n; i++)
    {
      /* A task over its own limit is refused alone, unread: not counted. */
      size_t c = array_len (json_array_get (tasks, i), "containers");
      containers += c <= ACS_TASK_MAX_CONTAINERS ? c : 0;
    }
  if (containers > ACS_PAYLOAD_MAX_CONTAINERS)
    return error_set (err, ERR_INVALID,
                      "payload carries %zu containers; at most %d are accepted in one payload",
                      containers, ACS_PAYLOAD_MAX_CONTAINERS);
  return 0;
}

/* The per-task limits, before anything else of the task is read. */
static int
check_task_limits (json_t *j, const char *arn, agent_error_t *err)
{
  size_t n = array_len (j, "containers");
  if (n > ACS_TASK_MAX_CONTAINERS)
    return error_set (err, ERR_INVALID, "task %s: %zu containers; at most %d are accepted in a task", arn,
                      n, ACS_TASK_MAX_CONTAINERS);
  n = array_len (j, "volumes");
  if (n > ACS_TASK_MAX_VOLUMES)
    return error_set (err, ERR_INVALID, "task %s: %zu volumes; at most %d are accepted in a task", arn, n,
                      ACS_TASK_MAX_VOLUMES);
  static const char *const refs[] = { "links", "volumesFrom", "mountPoints", "dependsOn" };
  json_t *cs = task_json_get (j, "containers");
  for (size_t i = 0; i < json_array_size (cs); i++)
    for (size_t k = 0; k < sizeof refs / sizeof *refs; k++)
      {
        n = array_len (json_array_get (cs, i), refs[k]);
        if (n > ACS_CONTAINER_MAX_REFS)
          return error_set (err, ERR_INVALID,
                            "task %s: containers[%zu].%s has %zu entries; at most %d are accepted", arn,
                            i, refs[k], n, ACS_CONTAINER_MAX_REFS);
      }
  return 0;
}

/* ---- ACS form ----------------------------------------------------------------- */

/* roleCredentials / executionRoleCredentials (IAMRoleCredentials): absent or
   null = none; *id gets a copy of the credentialsId. */
static int
read_role_credentials (json_t *j, const char *key, struct task_role_credentials **out, char **id,
                       agent_error_t *err)
{
  json_t *o = task_json_get (j, key);
  if (task_json_null (o))
    return 0;
  if (!json_is_object (o))
    return error_set (err, ERR_INVALID, "%s must be an object", key);
  struct task_role_credentials *c = xcalloc (1, sizeof *c);
  *out = c;
  if (task_json_string (o, "credentialsId", key, false, &c->credentials_id, err) < 0
      || task_json_string (o, "roleArn", key, false, &c->role_arn, err) < 0
      || task_json_string (o, "accessKeyId", key, false, &c->access_key_id, err) < 0
      || task_json_string (o, "secretAccessKey", key, false, &c->secret_access_key, err) < 0
      || task_json_string (o, "sessionToken", key, false, &c->session_token, err) < 0
      || task_json_string (o, "expiration", key, false, &c->expiration, err) < 0)
    return -ERR_INVALID;
  if (!c->credentials_id || !*c->credentials_id)
    return error_set (err, ERR_INVALID, "%s.credentialsId is required", key);
  *id = xstrdup (c->credentials_id);
  return 0;
}

int
acs_task_from_json (json_t *j, struct task **out, agent_error_t *err)
{
  *out = NULL;
  if (!json_is_object (j))
    return error_set (err, ERR_INVALID, "task must be a JSON object");
  cleanup_task struct task *t = xcalloc (1, sizeof *t);
  char *ds = NULL;
  if (task_json_string (j, "arn", "", true, &t->arn, err) < 0
      || task_json_string (j, "family", "", false, &t->family, err) < 0
      || task_json_string (j, "version", "", false, &t->version, err) < 0
      || task_json_string (j, "desiredStatus", "", false, &ds, err) < 0
      || task_json_string (j, "launchType", "", false, &t->launch_type, err) < 0
      || task_json_string (j, "serviceName", "", false, &t->service_name, err) < 0
      || task_json_bool (j, "enableFaultInjection", "", &t->fault_injection, err) < 0)
    {
      free (ds);
      return -ERR_INVALID;
    }
  if (!t->family)
    t->family = xstrdup ("");
  if (!t->version)
    t->version = xstrdup ("");
  int rc = task_status_parse (ds, &t->desired_status, err);
  free (ds);
  if (rc < 0)
    return error_wrap (err, "task %s: desiredStatus", t->arn);
  if (check_task_limits (j, t->arn, err) < 0)
    return -ERR_INVALID;
  if (t->desired_status == TASK_STATUS_PULLED)
    t->desired_status = TASK_STATUS_NONE;
  if (task_json_volumes (j, t, false, err) < 0 || task_json_task_options (j, "", &t->opts, err) < 0)
    return error_wrap (err, "task %s", t->arn);
  json_t *cs = task_json_get (j, "containers");
  if (!task_json_null (cs) && !json_is_array (cs))
    return error_set (err, ERR_INVALID, "task %s: containers must be an array", t->arn);
  size_t n = json_array_size (cs);
  t->containers = xcalloc (n ? n : 1, sizeof *t->containers);
  for (size_t i = 0; i < n; i++)
    {
      json_t *cj = json_array_get (cs, i);
      cleanup_free char *path = xasprintf ("containers[%zu]", i);
      if (!json_is_object (cj))
        return error_set (err, ERR_INVALID, "task %s: %s must be an object", t->arn, path);
      struct task_container *c = &t->containers[t->n_containers++];
      if (task_json_container_common (cj, path, c, err) < 0
          || task_json_container_lifecycle (cj, path, false, &c->life, err) < 0
          || task_json_container_restart (cj, path, false, &c->restart, err) < 0
          || task_json_container_registry_auth (cj, path, &c->registry_auth, err) < 0
          || task_json_string (cj, "containerArn", path, false, &c->container_arn, err) < 0
          || task_json_container_secrets (cj, path, &c->secrets, err) < 0)
        return error_wrap (err, "task %s", t->arn);
      if (!c->image || !*c->image)
        return error_set (err, ERR_INVALID, "task %s: %s.image is required", t->arn, path);
    }
  if (task_json_check_refs (t, err) < 0)
    return error_wrap (err, "task %s", t->arn);
  if (read_role_credentials (j, "roleCredentials", &t->payload_role_creds, &t->credentials_id,
                             err) < 0
      || read_role_credentials (j, "executionRoleCredentials", &t->payload_exec_creds,
                                &t->execution_credentials_id, err) < 0)
    return error_wrap (err, "task %s", t->arn);
  task_assign_endpoint_ids (t);
  *out = t;
  t = NULL;
  return 0;
}

/* ---- checkpoint form --------------------------------------------------------- */
