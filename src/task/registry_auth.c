/* task/registry_auth.c - a container's registry authentication (see
 * registry_auth.h and registry_auth_decode.h). */
#include "task/registry_auth.h"
#include "task/registry_auth_decode.h"
#include "task/task_decode.h"
#include "core/xmalloc.h"
#include <stdlib.h>
#include <string.h>

void
task_registry_auth_free (struct task_registry_auth *a)
{
  free (a->registry_id);
  free (a->endpoint_override);
  free (a->credentials_parameter);
  free (a->region);
  memset (a, 0, sizeof *a);
}

const char *
task_registry_auth_type_str (enum task_registry_auth_type t)
{
  switch (t)
    {
    case TASK_REGISTRY_AUTH_ECR: return "ecr";
    case TASK_REGISTRY_AUTH_ASM: return "asm";
    default: return "";
    }
}

static int
data_object (json_t *ra, const char *key, const char *rpath, json_t **out, agent_error_t *err)
{
  json_t *d = task_json_get (ra, key);
  if (task_json_null (d))
    d = NULL; /* members read as absent: the pull reports what is missing */
  else if (!json_is_object (d))
    return error_set (err, ERR_INVALID, "%s.%s must be an object", rpath, key);
  *out = d;
  return 0;
}

int
task_json_container_registry_auth (json_t *obj, const char *path, struct task_registry_auth *a,
                                   agent_error_t *err)
{
  memset (a, 0, sizeof *a);
  json_t *ra = task_json_get (obj, "registryAuthentication");
  if (task_json_null (ra))
    return 0;
  cleanup_free char *rpath = xasprintf ("%s%sregistryAuthentication", path, *path ? "." : "");
  if (!json_is_object (ra))
    return error_set (err, ERR_INVALID, "%s must be an object", rpath);
  cleanup_free char *type = NULL;
  if (task_json_string (ra, "type", rpath, false, &type, err) < 0)
    return -ERR_INVALID;
  json_t *d;
  if (type && strcmp (type, "ecr") == 0)
    {
      cleanup_free char *dpath = xasprintf ("%s.ecrAuthData", rpath);
      if (data_object (ra, "ecrAuthData", rpath, &d, err) < 0
          || task_json_string (d, "registryId", dpath, false, &a->registry_id, err) < 0
          || task_json_string (d, "region", dpath, false, &a->region, err) < 0
          || task_json_string (d, "endpointOverride", dpath, false, &a->endpoint_override, err) < 0
          || task_json_bool (d, "useExecutionRole", dpath, &a->use_execution_role, err) < 0)
        {
          task_registry_auth_free (a);
          return -ERR_INVALID;
        }
      a->type = TASK_REGISTRY_AUTH_ECR;
    }
  else if (type && strcmp (type, "asm") == 0)
    {
      cleanup_free char *dpath = xasprintf ("%s.asmAuthData", rpath);
      if (data_object (ra, "asmAuthData", rpath, &d, err) < 0
          || task_json_string (d, "credentialsParameter", dpath, false, &a->credentials_parameter,
                               err) < 0
          || task_json_string (d, "region", dpath, false, &a->region, err) < 0)
        {
          task_registry_auth_free (a);
          return -ERR_INVALID;
        }
      a->type = TASK_REGISTRY_AUTH_ASM;
    }
  if (a->type != TASK_REGISTRY_AUTH_NONE)
    {
      char **m[] = { &a->registry_id, &a->endpoint_override, &a->credentials_parameter, &a->region };
      for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (!*m[i])
          *m[i] = xstrdup ("");
    }
  return 0;
}

void
task_json_container_registry_auth_put (json_t *obj, const struct task_registry_auth *a)
{
  json_t *ra;
  if (a->type == TASK_REGISTRY_AUTH_ECR)
    ra = json_pack ("{s:s,s:{s:s,s:s,s:s,s:b}}", "type", "ecr", "ecrAuthData", "registryId",
                    a->registry_id ? a->registry_id : "", "region", a->region ? a->region : "",
                    "endpointOverride", a->endpoint_override ? a->endpoint_override : "",
                    "useExecutionRole", a->use_execution_role);
  else if (a->type == TASK_REGISTRY_AUTH_ASM)
    ra = json_pack ("{s:s,s:{s:s,s:s}}", "type", "asm", "asmAuthData", "credentialsParameter",
                    a->credentials_parameter ? a->credentials_parameter : "", "region",
                    a->region ? a->region : "");
  else
    return;
  if (ra)
    json_object_set_new (obj, "registryAuthentication", ra);
}
