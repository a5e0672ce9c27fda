/* ecs/attributes_registry.c - the capability attributes of registry
 * authentication (see ecs.h, ecs_registry_auth_attributes). */
#include "core/xmalloc.h"
#include "ecs/ecs.h"
#include <stdlib.h>

struct ecs_attribute *
ecs_registry_auth_attributes (int api_minor, size_t *n)
{
  struct ecs_attribute *a = xcalloc (4, sizeof *a);
  *n = 0;
  /* ECR endpointOverride and Secrets Manager credentials: always */
  a[(*n)++].name = xstrdup ("ecs.capability.private-registry-authentication.secretsmanager");
  a[(*n)++].name = xstrdup ("ecs.capability.ecr-endpoint");
  if (api_minor >= 19)
    {
      a[(*n)++].name = xstrdup ("com.amazonaws.ecs.capability.ecr-auth");
      a[(*n)++].name = xstrdup ("ecs.capability.execution-role-ecr-pull");
    }
  return a;
}
