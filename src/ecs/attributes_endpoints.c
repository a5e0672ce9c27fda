/* ecs/attributes_endpoints.c - the capability attributes of the task IAM
 * role credentials endpoint (see ecs.h, ecs_endpoint_attributes). */
#include "core/xmalloc.h"
#include "ecs/ecs.h"
#include <stdlib.h>

#define CAP "com.amazonaws.ecs.capability."

struct ecs_attribute *
ecs_endpoint_attributes (bool task_iam_role, bool task_iam_role_network_host, int api_minor,
                         size_t *n)
{
  struct ecs_attribute *a = xcalloc (3, sizeof *a);
  *n = 0;
  if (api_minor < 19)
    return a;
  if (task_iam_role)
    a[(*n)++].name = xstrdup (CAP "task-iam-role");
  if (task_iam_role_network_host)
    a[(*n)++].name = xstrdup (CAP "task-iam-role-network-host");
  return a;
}
