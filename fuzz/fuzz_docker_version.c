/* fuzz_docker_version.c - libFuzzer target for GET /version and /info
 * parsing plus API version negotiation, and the small string helpers
 * (RFC 3339 times, image reference normalisation, version comparison). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "core/time.h"
#include "core/xmalloc.h"
#include "docker/docker.h"
#include "fuzz_util.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *s = (const char *) data;
  agent_error_t err = NULL;
  struct docker_version_info *v = NULL;
  if (docker_parse_version (s, size, &v, &err) < 0)
    {
      CHECK (v == NULL && err);
      error_free (&err);
    }
  else
    {
      CHECK (v->api_version);
      char *api = NULL;
      if (docker_api_version_negotiate (v->api_version, v->min_api_version, &api, &err) == 0)
        {
          CHECK (api && docker_api_version_cmp (api, DOCKER_API_MAX) <= 0);
          CHECK (docker_api_version_cmp (api, DOCKER_API_MIN) >= 0);
          CHECK (docker_api_version_cmp (api, v->api_version) <= 0);
          free (api);
        }
      else
        {
          CHECK (api == NULL && err);
          error_free (&err);
        }
      docker_version_info_free (v);
    }
  struct docker_info *i = NULL;
  if (docker_parse_info (s, size, &i, &err) < 0)
    error_free (&err);
  else
    docker_info_free (i);

  /* helpers on the input as a C string */
  char *str = xstrndup (s, size);
  int64_t ns;
  if (time_rfc3339_parse (str, &ns) == 0)
    {
      char tb[TIME_RFC3339_LEN];
      CHECK (time_rfc3339_format (ns, tb, sizeof tb) > 0);
      int64_t back;
      CHECK (time_rfc3339_parse (tb, &back) == 0 && back == ns);
    }
  char *ref = docker_image_ref_normalize (str);
  CHECK (ref && strlen (ref) >= strlen (str));
  free (ref);
  size_t half = strlen (str) / 2;
  char *b = xstrdup (str + half);
  str[half] = '\0';
  int c1 = docker_api_version_cmp (str, b), c2 = docker_api_version_cmp (b, str);
  CHECK ((c1 > 0) == (c2 < 0) && (c1 == 0) == (c2 == 0));
  free (b);
  free (str);
  return 0;
}
