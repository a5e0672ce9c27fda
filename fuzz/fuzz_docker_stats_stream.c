/* fuzz_docker_stats_stream.c - libFuzzer target for the stats stream's
 * framing (docker/stats_stream.c): Docker's streamed body split by the JSON
 * stream framer with a small bound and no jansson check (unchecked: each
 * value goes to docker_parse_stats_view, as the stream does), fed in chunks
 * whose size comes from the first input byte.  Checks: the buffer never
 * holds more than the bound plus one chunk, every value handed on is
 * NUL-terminated, at most the bound and starts with '{', a failed feed
 * sets ERR_MALFORMED, docker_parse_stats_view keeps its contract on each
 * value (the body borrowed, nothing left allocated on failure). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "docker/docker.h"
#include "docker/stats.h"

#define CHECK(c)                                                                              \
  do                                                                                          \
    {                                                                                         \
      if (!(c))                                                                               \
        abort ();                                                                             \
    }                                                                                         \
  while (0)

#define BOUND 4096

static int
value_cb (const char *json, size_t len, void *data)
{
  (void) data;
  CHECK (len > 0 && len <= BOUND && json[0] == '{' && json[len] == '\0');
  struct docker_stats st;
  agent_error_t err = NULL;
  if (docker_parse_stats_view (json, len, &st, &err) < 0)
    {
      CHECK (st.id == NULL && st.raw == NULL && err != NULL && err->kind == ERR_MALFORMED);
      error_free (&err);
      return 0;
    }
  CHECK (err == NULL && st.raw == json && st.raw_len == len);
  CHECK (docker_stats_memory_bytes (&st) <= st.mem_usage);
  docker_stats_clear_view (&st);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (size == 0)
    return 0;
  size_t chunk = (size_t) data[0] * 8 + 1;
  data++;
  size--;
  struct docker_json_stream js = { .max_value = BOUND, .unchecked = true };
  agent_error_t err = NULL;
  for (size_t off = 0; off < size; off += chunk)
    {
      size_t n = size - off < chunk ? size - off : chunk;
      int r = docker_json_stream_feed (&js, (const char *) data + off, n, value_cb, NULL, &err);
      CHECK (js.len <= BOUND + chunk);
      if (r < 0)
        {
          CHECK (err != NULL && err->kind == ERR_MALFORMED);
          error_free (&err);
          break;
        }
      CHECK (err == NULL);
    }
  docker_json_stream_free (&js);
  return 0;
}
