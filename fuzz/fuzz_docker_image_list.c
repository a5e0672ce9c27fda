/* fuzz_docker_image_list.c - libFuzzer target for docker_parse_image_list
 * (GET /images/json, read by the untracked step of the image cleanup). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "docker/docker.h"
#include "fuzz_util.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  agent_error_t err = NULL;
  struct docker_image_list *l = NULL;
  if (docker_parse_image_list ((const char *) data, size, &l, &err) < 0)
    {
      CHECK (l == NULL && err && err->kind == ERR_MALFORMED);
      error_free (&err);
      return 0;
    }
  CHECK (err == NULL && l);
  for (size_t k = 0; k < l->n; k++)
    {
      CHECK (l->items[k].id && l->items[k].id[0]);
      for (size_t j = 0; j < l->items[k].n_repo_tags; j++)
        CHECK (l->items[k].repo_tags[j] && l->items[k].repo_tags[j][0]
               && strcmp (l->items[k].repo_tags[j], "<none>:<none>") != 0);
    }
  docker_image_list_free (l);
  return 0;
}
