/* fuzz_docker_inspect.c - libFuzzer target for docker_parse_container_inspect
 * (GET /containers/<id>/json) and, on the same bytes, the image inspect,
 * volume and create-response parsers.  Checks the error contract: < 0 iff
 * an error was set (ERR_MALFORMED) and no result; on success the invariants
 * of the typed result hold (the last health log entry's output bounded). */
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
  struct docker_container_info *i = NULL;
  int r = docker_parse_container_inspect (s, size, &i, &err);
  if (r < 0)
    {
      CHECK (i == NULL);
      CHECK (err != NULL && err->kind == ERR_MALFORMED && err->msg);
      error_free (&err);
    }
  else
    {
      CHECK (err == NULL && i && i->id && i->id[0] && i->status);
      for (size_t k = 0; k < i->n_ports; k++)
        CHECK (i->ports[k].bind_ip && (i->ports[k].protocol == TASK_PROTO_TCP || i->ports[k].protocol == TASK_PROTO_UDP));
      for (size_t k = 0; k < i->n_labels; k++)
        CHECK (i->labels[k].key && i->labels[k].value);
      CHECK (!i->health_output || strlen (i->health_output) <= DOCKER_HEALTH_OUTPUT_MAX);
      docker_container_info_free (i);
    }

  struct docker_image_info *img = NULL;
  if (docker_parse_image_inspect (s, size, &img, &err) < 0)
    {
      CHECK (img == NULL && err);
      error_free (&err);
    }
  else
    {
      CHECK (img->id);
      docker_image_info_free (img);
    }
  struct docker_volume_info *v = NULL;
  if (docker_parse_volume (s, size, &v, &err) < 0)
    error_free (&err);
  else
    docker_volume_info_free (v);
  char *id = NULL;
  if (docker_parse_create_response (s, size, &id, &err) < 0)
    {
      CHECK (id == NULL);
      error_free (&err);
    }
  free (id);
  return 0;
}
