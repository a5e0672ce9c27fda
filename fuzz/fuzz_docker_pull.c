/* fuzz_docker_pull.c - libFuzzer target for the image pull progress stream
 * (POST /images/create body): framing by docker_json_stream_feed, each line
 * through docker_parse_pull_line.  An "error"/"errorDetail" line must end
 * the stream with a typed error that carries a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "docker/docker.h"
#include "fuzz_util.h"

static int
on_line (const char *json, size_t len, void *data)
{
  agent_error_t *perr = data;
  struct docker_pull_progress p;
  int r = docker_parse_pull_line (json, len, &p, perr);
  if (r < 0)
    {
      CHECK (p.status == NULL && p.id == NULL);
      CHECK (*perr && (*perr)->msg && (*perr)->kind > 0);
      return r;
    }
  CHECK (p.current >= -1 && p.total >= -1);
  docker_pull_progress_clear (&p);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct docker_json_stream s = { 0 };
  agent_error_t err = NULL, line_err = NULL;
  size_t half = size / 2;
  int r = docker_json_stream_feed (&s, (const char *) data, half, on_line, &line_err, &err);
  if (r == 0)
    r = docker_json_stream_feed (&s, (const char *) data + half, size - half, on_line, &line_err,
                                 &err);
  if (r < 0)
    CHECK (err != NULL || line_err != NULL);
  else
    (void) docker_json_stream_empty (&s);
  error_free (&err);
  error_free (&line_err);
  docker_json_stream_free (&s);
  return 0;
}
