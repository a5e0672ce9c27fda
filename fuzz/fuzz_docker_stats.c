/* fuzz_docker_stats.c - libFuzzer target for docker_parse_stats (GET
 * /containers/<id>/stats).  Checks the error contract: < 0 iff an error was
 * set (ERR_MALFORMED) and no result; on success the raw body is kept
 * verbatim and the memory rule never exceeds usage.  The same input goes
 * through docker_parse_stats_podman too, with one cache kept across inputs
 * (so samples fill each other's precpu_stats): < 0 iff an error was set
 * (ERR_NOT_FOUND only for a blank body), and its raw body parses again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "docker/stats.h"
#include "fuzz_util.h"

static void
podman_one (const uint8_t *data, size_t size)
{
  static struct docker_stats_cache cache;
  agent_error_t err = NULL;
  struct docker_stats *st = NULL;
  if (docker_parse_stats_podman (&cache, (const char *) data, size, &st, &err) < 0)
    {
      CHECK (st == NULL);
      CHECK (err != NULL && (err->kind == ERR_MALFORMED || err->kind == ERR_NOT_FOUND) && err->msg);
      error_free (&err);
      return;
    }
  CHECK (err == NULL && st && st->raw[st->raw_len] == '\0');
  struct docker_stats *again = NULL;
  CHECK (docker_parse_stats (st->raw, st->raw_len, &again, &err) == 0);
  CHECK (again->cpu_total == st->cpu_total && again->precpu_total == st->precpu_total);
  docker_stats_free (again);
  docker_stats_free (st);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  agent_error_t err = NULL;
  struct docker_stats *st = NULL;
  podman_one (data, size);
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
