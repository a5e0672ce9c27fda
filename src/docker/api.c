/* docker/api.c - pure string helpers of the Docker API: comparing and
 * negotiating API versions ("1.41"), normalising image references. */
#include "core/xmalloc.h"
#include "docker/docker.h"
#include "docker/docker_int.h"
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

int
docker_api_version_cmp (const char *a, const char *b)
{
  if (a == NULL || b == NULL)
    return (a != NULL) - (b != NULL);
  while (*a || *b)
    {
      long x = 0, y = 0;
      while (isdigit ((unsigned char) *a))
        {
          if (x < 1000000)
            x = x * 10 + (*a - '0');
          a++;
        }
      while (isdigit ((unsigned char) *b))
        {
          if (y < 1000000)
            y = y * 10 + (*b - '0');
          b++;
        }
      if (x != y)
        return x < y ? -1 : 1;
      /* skip one separator (or garbage char) */
      if (*a)
        a++;
      if (*b)
        b++;
    }
  return 0;
}

bool
docker_api_version_valid (const char *v)
{
  if (v == NULL || !isdigit ((unsigned char) *v))
    return false;
  for (const char *p = v; *p; p++)
    if (!isdigit ((unsigned char) *p) && *p != '.')
      return false;
  return strlen (v) < 16;
}

int
docker_api_version_negotiate (const char *daemon_api, const char *daemon_min, char **out,
                              agent_error_t *err)
{
  *out = NULL;
  if (!docker_api_version_valid (daemon_api))
    return error_set (err, ERR_MALFORMED, "docker version: invalid ApiVersion");
  const char *v = docker_api_version_cmp (daemon_api, DOCKER_API_MAX) < 0 ? daemon_api
                                                                         : DOCKER_API_MAX;
  if (docker_api_version_cmp (v, DOCKER_API_MIN) < 0)
    return error_set (err, ERR_GENERIC,
                      "docker API version %s is too old (this agent needs at least %s)",
                      daemon_api, DOCKER_API_MIN);
  if (docker_api_version_valid (daemon_min) && docker_api_version_cmp (v, daemon_min) < 0)
    return error_set (err, ERR_GENERIC,
                      "docker daemon requires API version >= %s (this agent supports <= %s)",
                      daemon_min, DOCKER_API_MAX);
  *out = xstrdup (v);
  return 0;
}

int
docker_api_version_for (const char *want, const char *daemon_min, const char *negotiated,
                        char **out, agent_error_t *err)
{
  *out = NULL;
  if (!docker_api_version_valid (want))
    return error_set (err, ERR_INVALID, DOCKER_API_VERSION_MSG_PREFIX "\"%.20s\" is not a version",
                      want ? want : "");
  if (negotiated && docker_api_version_cmp (want, negotiated) > 0)
    return error_set (err, ERR_INVALID,
                      DOCKER_API_VERSION_MSG_PREFIX "%s is not served by the daemon (at most %s)",
                      want, negotiated);
  const char *v = docker_api_version_cmp (want, DOCKER_API_MIN) < 0 ? DOCKER_API_MIN : want;
  if (docker_api_version_valid (daemon_min) && docker_api_version_cmp (v, daemon_min) < 0)
    v = daemon_min;
  *out = xstrdup (v);
  return 0;
}

char *
docker_image_ref_normalize (const char *image)
{
  if (image == NULL)
    return NULL;
  if (strchr (image, '@'))
    return xstrdup (image);
  const char *slash = strrchr (image, '/');
  const char *last = slash ? slash + 1 : image;
  if (strchr (last, ':'))
    return xstrdup (image);
  return xasprintf ("%s:latest", image);
}
