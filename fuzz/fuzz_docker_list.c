/* fuzz_docker_list.c - libFuzzer target for docker_parse_container_list
 * (GET /containers/json) and docker_error_from_response on the same bytes
 * (error bodies of any status). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "docker/docker.h"
#include "fuzz_util.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *s = (const char *) data;
  agent_error_t err = NULL;
  struct docker_container_list *l = NULL;
  if (docker_parse_container_list (s, size, &l, &err) < 0)
    {
      CHECK (l == NULL && err && err->kind == ERR_MALFORMED);
      error_free (&err);
    }
  else
    {
      CHECK (err == NULL && l);
      for (size_t k = 0; k < l->n; k++)
        {
          CHECK (l->items[k].id && l->items[k].id[0]);
          for (size_t j = 0; j < l->items[k].n_names; j++)
            CHECK (l->items[k].names[j]);
        }
      docker_container_list_free (l);
    }
  static const long statuses[] = { 400, 401, 403, 404, 409, 500, 502 };
  long st = statuses[size % (sizeof statuses / sizeof statuses[0])];
  int r = docker_error_from_response (&err, st, s, size, size & 1);
  CHECK (r < 0 && err && err->msg && err->status == st);
  CHECK (strlen (err->msg) <= 64 * 1024 + size);
  error_free (&err);
  return 0;
}
