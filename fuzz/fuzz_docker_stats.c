/* fuzz_docker_stats.c - libFuzzer target for docker_parse_stats (GET
 * /containers/<id>/stats).  Checks the error contract: < 0 iff an error was
 * set (ERR_MALFORMED) and no result; on success the raw body is kept
 * verbatim and the memory rule never exceeds usage. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "docker/stats.h"

#define CHECK(c)                                                                              \
  do                                                                                          \
    {                                                                                         \
      if (!(c))                                                                               \
        abort ();                                                                             \
    }                                                                                         \
  while (0)

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  agent_error_t err = NULL;
  struct docker_stats *st = NULL;
  int r = docker_parse_stats ((const char *) data, size, &st, &err);
  if (r < 0)
    {
      CHECK (st == NULL);
      CHECK (err != NULL && err->kind == ERR_MALFORMED && err->msg);
      error_free (&err);
      return 0;
    }
  CHECK (err == NULL && st && st->raw_len == size && memcmp (st->raw, data, size) == 0);
  CHECK (st->raw[size] == '\0');
  CHECK (docker_stats_memory_bytes (st) <= st->mem_usage);
  docker_stats_free (st);
  return 0;
}
