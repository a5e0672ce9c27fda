/* fuzz_docker_auth.c - libFuzzer target for registry credentials:
 * docker_auth_parse (both types), matching an image to an entry, and the
 * X-Registry-Auth encoding.  Input: first byte picks the type, the rest up
 * to the first newline is the auth data, after it the image reference.
 * Checks that an error message never contains a password / auth value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "core/xmalloc.h"
#include "docker/auth.h"
#include "fuzz_util.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size == 0)
    return 0;
  static const char *types[] = { "docker", "dockercfg", "", "other" };
  const char *type = types[data[0] % 4];
  char *in = xstrndup ((const char *) data + 1, size - 1);
  char *nl = strchr (in, '\n');
  const char *image = "busybox";
  if (nl)
    {
      *nl = '\0';
      image = nl + 1;
    }
  struct docker_auth_config *cfg = NULL;
  agent_error_t err = NULL;
  if (docker_auth_parse (type, in, &cfg, &err) < 0)
    {
      CHECK (cfg == NULL && err && err->kind == ERR_INVALID);
      /* the message may name a registry key, never the secret values */
      CHECK (strstr (err->msg, "\"password\"") == NULL);
      error_free (&err);
    }
  else
    {
      for (size_t i = 0; i < cfg->n; i++)
        CHECK (cfg->entries[i].key && cfg->entries[i].serveraddress);
      const struct docker_auth_entry *e = docker_auth_lookup (cfg, image);
      char *h = docker_auth_for_image (cfg, image);
      CHECK ((e == NULL) == (h == NULL));
      if (h)
        CHECK (strlen (h) % 4 == 0 && strpbrk (h, "+/") == NULL);
      free (h);
      docker_auth_config_free (cfg);
    }
  char *reg = docker_auth_image_registry (image);
  CHECK (reg && reg[0]);
  free (reg);
  free (in);
  return 0;
}
