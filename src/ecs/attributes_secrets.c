/* ecs/attributes_secrets.c - the capability attributes of container
 * secrets from SSM Parameter Store and Secrets Manager (see ecs.h,
 * ecs_secret_attributes). */
#include "core/util.h"
#include "core/xmalloc.h"
#include "ecs/ecs.h"
#include <stdlib.h>

#define ECAP "ecs.capability."

struct ecs_attribute *
ecs_secret_attributes (size_t *n)
{
  static const char *const names[] = {
    ECAP "secrets.ssm.environment-variables",
    ECAP "secrets.asm.environment-variables",
    ECAP "secrets.ssm.bootstrap.log-driver",
    ECAP "secrets.asm.bootstrap.log-driver",
  };
  struct ecs_attribute *a = xcalloc (ARRAY_SIZE (names), sizeof *a);
  for (size_t i = 0; i < ARRAY_SIZE (names); i++)
    a[i].name = xstrdup (names[i]);
  *n = ARRAY_SIZE (names);
  return a;
}
