/* fuzz_docker_events.c - libFuzzer target for the /events stream: the input
 * is fed to docker_json_stream_feed in pieces (sizes taken from the first
 * byte) and every framed value goes through docker_parse_event.  Checks that
 * split points do not change the values framed, and the event invariants. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "docker/docker.h"
#include "fuzz_util.h"

struct acc
{
  size_t n;
  size_t total;
};

static int
on_value (const char *json, size_t len, void *data)
{
  struct acc *a = data;
  CHECK (strlen (json) == len && len > 0 && json[0] == '{');
  a->n++;
  a->total += len;
  agent_error_t err = NULL;
  struct docker_event *e = NULL;
  if (docker_parse_event (json, len, &e, &err) < 0)
    {
      CHECK (e == NULL && err);
      error_free (&err);
    }
  else
    {
      CHECK (e->action && e->type);
      CHECK (e->kind == docker_event_action_parse (e->action));
      docker_event_free (e);
    }
  return 0;
}

static int
feed (const uint8_t *data, size_t size, size_t step, struct acc *a, int *kind)
{
  struct docker_json_stream s = { 0 };
  agent_error_t err = NULL;
  int r = 0;
  for (size_t off = 0; off < size && r == 0; off += step)
    {
      size_t n = size - off < step ? size - off : step;
      r = docker_json_stream_feed (&s, (const char *) data + off, n, on_value, a, &err);
    }
  *kind = error_kind (&err);
  CHECK ((r < 0) == (err != NULL));
  error_free (&err);
  docker_json_stream_free (&s);
  return r;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size == 0)
    return 0;
  size_t step = (size_t) (data[0] % 17) + 1;
  data++;
  size--;
  struct acc a1 = { 0 }, a2 = { 0 };
  int k1, k2;
  int r1 = feed (data, size, size ? size : 1, &a1, &k1);
  int r2 = feed (data, size, step, &a2, &k2);
  /* the framing does not depend on how the bytes arrive */
  CHECK ((r1 < 0) == (r2 < 0));
  CHECK (a1.n == a2.n && a1.total == a2.total);
  return 0;
}
