/* test_docker_stats.c - the container stats parser (docker/stats.h) on the
 * upstream stats samples and on real Docker stats bodies (cgroup v1 and
 * v2), the memory rule, and refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/xmalloc.h"
#include "docker/stats.h"
#include "helpers/fixture.h"

#define SAMPLES "protocol/samples/"

static struct docker_stats *
parse_ok (const char *s, size_t n)
{
  struct docker_stats *st = NULL;
  agent_error_t err = NULL;
  if (docker_parse_stats (s, n, &st, &err) < 0)
    fail_msg ("parse failed: %s", error_msg (&err));
  assert_non_null (st);
  assert_int_equal (st->raw_len, n);
  assert_memory_equal (st->raw, s, n);
  return st;
}

static void
test_upstream_linux_sample (void **state)
{
  (void) state;
  size_t n;
  char *s = test_fixture_shared (SAMPLES "unix_test_stats.json__container-stats-linux.json", &n);
  struct docker_stats *st = parse_ok (s, n);
  assert_int_equal (st->cpu_total, 262857821518ULL);
  assert_int_equal (st->cpu_total / 4, 65714455379ULL); /* upstream's cpuUsage, numCores 4 */
  assert_int_equal (st->n_percpu, 2);
  assert_int_equal (st->online_cpus, 2);
  assert_int_equal (st->blkio_read, 3);
  assert_int_equal (st->blkio_write, 15);
  assert_true (st->has_networks);
  assert_int_equal (st->net.rx_bytes, 1096);
  assert_int_equal (st->net.rx_packets, 14);
  assert_int_equal (st->net.rx_dropped, 1);
  assert_int_equal (st->net.tx_bytes, 8992);
  assert_int_equal (st->net.tx_packets, 123);
  assert_int_equal (st->net.tx_dropped, 10);
  assert_int_equal (st->net.rx_errors + st->net.tx_errors, 0);
  assert_true (st->read_ns < 0 && st->read_ns > -1000); /* 1969-12-31T23:59:59.99999999Z */
  assert_int_equal (docker_stats_memory_bytes (st), 10); /* 30 - cache 20 */
  docker_stats_free (st);
  free (s);
}

static void
test_upstream_mixed_case_and_memory (void **state)
{
  (void) state;
  size_t n;
  char *s = test_fixture_shared (SAMPLES "docker_client_test.go__container-stats-minimal-mixed-case.json",
                                 &n);
  struct docker_stats *st = parse_ok (s, n);
  assert_int_equal (st->mem_usage, 50); /* "Usage" matched like Go does */
  assert_int_equal (st->cpu_system, 100);
  assert_false (st->has_networks);
  docker_stats_free (st);
  free (s);

  s = test_fixture_shared (SAMPLES "utils_test.go__container-stats-memory-usage-rendered.json", &n);
  st = parse_ok (s, n);
  assert_int_equal (st->cpu_total, 100);
  assert_int_equal (st->n_percpu, 4);
  assert_int_equal (docker_stats_memory_bytes (st), 10);
  docker_stats_free (st);
  free (s);

  s = test_fixture_shared (SAMPLES "docker_client_test.go__container-stats-undecodable.txt", &n);
  struct docker_stats *bad = NULL;
  agent_error_t err = NULL;
  assert_true (docker_parse_stats (s, n, &bad, &err) < 0);
  assert_null (bad);
  assert_int_equal (error_kind (&err), ERR_MALFORMED);
  error_free (&err);
  free (s);
}

/* Docker's cgroup v2 form (no percpu_usage, inactive_file instead of
   cache), written after the engine's types for API 1.45 with one-shot
   (precpu empty); the machine the tests run on has a cgroup v1 engine, whose
   real answer is the next test's fixture. */
static const char V2_ONE_SHOT[] =
    "{\"name\":\"/burn\",\"id\":\"5d1e0f\",\"read\":\"2026-12-03T03:40:01.123456789Z\","
    "\"preread\":\"0001-01-01T00:00:00Z\",\"pids_stats\":{\"current\":2,\"limit\":38197},"
    "\"blkio_stats\":{\"io_service_bytes_recursive\":[{\"major\":8,\"minor\":0,\"op\":\"read\",\"value\":4096},"
    "{\"major\":8,\"minor\":0,\"op\":\"write\",\"value\":8192}],\"io_serviced_recursive\":null},"
    "\"num_procs\":0,\"storage_stats\":{},"
    "\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":51234567000,\"usage_in_kernelmode\":1000,"
    "\"usage_in_usermode\":51233567000},\"system_cpu_usage\":9876543210000000,\"online_cpus\":2,"
    "\"throttling_data\":{\"periods\":0,\"throttled_periods\":0,\"throttled_time\":0}},"
    "\"precpu_stats\":{\"cpu_usage\":{\"total_usage\":0,\"usage_in_kernelmode\":0,\"usage_in_usermode\":0},"
    "\"throttling_data\":{\"periods\":0,\"throttled_periods\":0,\"throttled_time\":0}},"
    "\"memory_stats\":{\"usage\":35651584,\"stats\":{\"active_anon\":33554432,\"anon\":33554432,"
    "\"file\":1048576,\"inactive_file\":1048576,\"shmem\":0},\"limit\":25769803776},"
    "\"networks\":{\"eth0\":{\"rx_bytes\":1256,\"rx_packets\":14,\"rx_errors\":0,\"rx_dropped\":0,"
    "\"tx_bytes\":0,\"tx_packets\":0,\"tx_errors\":0,\"tx_dropped\":0}}}";

static void
test_cgroup_v2_one_shot (void **state)
{
  (void) state;
  struct docker_stats *st = parse_ok (V2_ONE_SHOT, strlen (V2_ONE_SHOT));
  assert_int_equal (st->cpu_total, 51234567000ULL);
  assert_int_equal (st->cpu_system, 9876543210000000ULL);
  assert_int_equal (st->online_cpus, 2);
  assert_int_equal (st->n_percpu, 0);
  assert_int_equal (st->precpu_total, 0);
  assert_int_equal (st->preread_ns, 0);
  assert_int_equal (st->read_ns, 1796269201123456789LL);
  assert_int_equal (st->mem_usage, 35651584);
  assert_int_equal (st->mem_limit, 25769803776ULL);
  assert_true (st->has_mem_inactive_file);
  assert_false (st->has_mem_cache);
  assert_int_equal (docker_stats_memory_bytes (st), 35651584 - 1048576);
  assert_int_equal (st->blkio_read, 4096);
  assert_int_equal (st->blkio_write, 8192);
  assert_int_equal (st->net.rx_bytes, 1256);
  assert_int_equal (st->pids_current, 2);
  docker_stats_free (st);
}

/* A body the Docker 20.10 engine (API 1.41, cgroup v1) of this machine
   answered with one-shot=true for a busybox container burning CPU. */
static void
test_real_engine_cgroup_v1 (void **state)
{
  (void) state;
  size_t n;
  char *s = test_fixture_repo ("fuzz/corpus/docker_stats/docker-20.10-cgroup-v1-one-shot.json", &n);
  struct docker_stats *st = parse_ok (s, n);
  assert_int_equal (st->cpu_total, 731255391ULL);
  assert_int_equal (st->cpu_system, 18805850000000ULL);
  assert_int_equal (st->online_cpus, 2);
  assert_int_equal (st->n_percpu, 2);
  assert_int_equal (st->precpu_total, 0);
  assert_int_equal (st->mem_usage, 2088960);
  assert_int_equal (st->mem_max_usage, 4067328);
  assert_int_equal (st->mem_limit, 25275973632ULL);
  assert_true (st->has_mem_cache && st->has_mem_inactive_file);
  /* inactive_file (1605632) is present and smaller: it wins over cache */
  assert_int_equal (docker_stats_memory_bytes (st), 2088960 - 1605632);
  assert_int_equal (st->blkio_read + st->blkio_write, 0);
  assert_int_equal (st->net.rx_bytes, 572);
  assert_int_equal (st->net.rx_packets, 6);
  assert_int_equal (st->pids_current, 1);
  assert_true (st->read_ns > 0);
  docker_stats_free (st);
  free (s);
}

/* The memory rule as a table. */
static void
test_memory_rule (void **state)
{
  (void) state;
  static const struct
  {
    uint64_t usage;
    bool has_inactive;
    uint64_t inactive;
    bool has_cache;
    uint64_t cache;
    uint64_t want;
  } t[] = {
    { 100, false, 0, false, 0, 100 },  /* neither: usage */
    { 100, true, 30, false, 0, 70 },   /* v2 */
    { 100, true, 30, true, 50, 70 },   /* inactive_file wins */
    { 100, true, 200, true, 50, 50 },  /* inactive_file too big: cache */
    { 100, false, 0, true, 20, 80 },   /* v1 */
    { 100, false, 0, true, 100, 100 }, /* not smaller: usage */
    { 0, true, 0, true, 0, 0 },
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    {
      struct docker_stats st = { .mem_usage = t[i].usage,
                                 .has_mem_inactive_file = t[i].has_inactive,
                                 .mem_inactive_file = t[i].inactive,
                                 .has_mem_cache = t[i].has_cache,
                                 .mem_cache = t[i].cache };
      assert_int_equal (docker_stats_memory_bytes (&st), t[i].want);
    }
}

static void
test_refusals (void **state)
{
  (void) state;
  static const char *const bad[] = {
    "[]",
    "\"x\"",
    "{\"memory_stats\":{\"usage\":-1}}",
    "{\"memory_stats\":{\"usage\":1.5}}",
    "{\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":\"12\"}}}",
    "{\"cpu_stats\":{\"online_cpus\":99999999999}}",
    "{\"read\":\"yesterday\"}",
    "{\"read\":12}",
    "{\"networks\":{\"eth0\":{\"rx_bytes\":true}}}",
    "{\"blkio_stats\":{\"io_service_bytes_recursive\":[{\"op\":\"Read\",\"value\":-3}]}}",
    "{\"a\":1",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      struct docker_stats *st = NULL;
      agent_error_t err = NULL;
      if (docker_parse_stats (bad[i], strlen (bad[i]), &st, &err) >= 0)
        fail_msg ("accepted: %s", bad[i]);
      assert_null (st);
      assert_int_equal (error_kind (&err), ERR_MALFORMED);
      error_free (&err);
    }
  /* empty object and nulls: every number 0 */
  const char *ok = "{\"cpu_stats\":null,\"memory_stats\":{\"usage\":null},\"networks\":null}";
  struct docker_stats *st = parse_ok (ok, strlen (ok));
  assert_int_equal (st->cpu_total + st->mem_usage, 0);
  assert_false (st->has_networks);
  docker_stats_free (st);
}

/* ---- Podman (docker_parse_stats_podman) ---- */

static struct docker_stats *
podman_ok (struct docker_stats_cache *cache, const char *s, size_t n)
{
  struct docker_stats *st = NULL;
  agent_error_t err = NULL;
  if (docker_parse_stats_podman (cache, s, n, &st, &err) < 0)
    fail_msg ("podman parse failed: %s", error_msg (&err));
  assert_non_null (st);
  assert_int_equal (strlen (st->raw), st->raw_len);
  return st;
}

/* A Podman 4.3 sample of container id (Podman's spelling "Id", empty precpu). */
static char *
podman_body (const char *id, int sec, unsigned long long total, unsigned long long system)
{
  return xasprintf ("{\"read\":\"2026-12-03T10:00:%02d.5Z\",\"preread\":\"0001-01-01T00:00:00Z\","
                    "\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":%llu,\"percpu_usage\":[%llu]},"
                    "\"system_cpu_usage\":%llu,\"online_cpus\":1,\"cpu\":0},"
                    "\"precpu_stats\":{\"cpu_usage\":{\"total_usage\":0},\"cpu\":0},"
                    "\"memory_stats\":{\"usage\":4096,\"limit\":8192},\"name\":\"c\",\"Id\":\"%s\"}",
                    sec, total, total, system, id);
}

/* The real body of Podman 4.3.1's compatible API: parsed, id renamed. */
static void
test_podman_real_body (void **state)
{
  (void) state;
  size_t n;
  char *s = test_fixture_repo ("fuzz/corpus/docker_stats/podman-4.3-one-shot.json", &n);
  struct docker_stats *st = podman_ok (NULL, s, n);
  assert_string_equal (st->id, "d94049cd64d43af5b6f6411d4edafc7e5d79cac72f78ba7d9efe05158aa27b1d");
  assert_non_null (strstr (st->raw, "\"id\":\"d94049cd"));
  assert_null (strstr (st->raw, "\"Id\""));
  assert_int_equal (st->cpu_total, 44415431ULL);
  assert_int_equal (st->cpu_system, 768971975505ULL);
  assert_int_equal (st->online_cpus, 2);
  assert_int_equal (st->precpu_total, 0);
  assert_int_equal (st->mem_usage, 458752);
  assert_int_equal (st->mem_limit, 25276071936ULL);
  assert_int_equal (docker_stats_memory_bytes (st), 458752); /* no "stats": usage as is */
  assert_int_equal (st->pids_current, 1);
  assert_true (st->has_networks);
  assert_int_equal (st->net.rx_bytes, 382);
  assert_true (st->read_ns > 0);
  docker_stats_free (st);
  free (s);
}

/* The next sample of the same container gets the previous one's cpu_stats
   as precpu_stats and its read time as preread; an older sample, another
   container or no cache does not. */
static void
test_podman_precpu_from_previous_sample (void **state)
{
  (void) state;
  struct docker_stats_cache cache = { 0 };
  char *b1 = podman_body ("aaa", 10, 1000, 500000);
  char *b2 = podman_body ("aaa", 20, 3000, 700000);
  char *other = podman_body ("bbb", 30, 9000, 900000);
  char *older = podman_body ("aaa", 5, 500, 100000);

  struct docker_stats *st = podman_ok (&cache, b1, strlen (b1));
  assert_int_equal (st->precpu_total, 0); /* first sample: nothing earlier */
  assert_int_equal (st->preread_ns, 0);
  int64_t read1 = st->read_ns;
  docker_stats_free (st);

  st = podman_ok (&cache, b2, strlen (b2));
  assert_int_equal (st->cpu_total, 3000);
  assert_int_equal (st->precpu_total, 1000);
  assert_int_equal (st->precpu_system, 500000);
  assert_int_equal (st->preread_ns, read1);
  assert_non_null (strstr (st->raw, "\"preread\":\"2026-12-03T10:00:10.5Z\""));
  docker_stats_free (st);

  st = podman_ok (&cache, other, strlen (other)); /* another container: its own entry */
  assert_int_equal (st->precpu_total, 0);
  docker_stats_free (st);

  st = podman_ok (&cache, older, strlen (older)); /* not after the remembered sample */
  assert_int_equal (st->precpu_total, 0);
  docker_stats_free (st);

  st = podman_ok (NULL, b2, strlen (b2)); /* no cache: as Podman sent it */
  assert_int_equal (st->precpu_total, 0);
  docker_stats_free (st);

  /* a Docker-spelled body goes through unchanged in meaning */
  const char *dock = "{\"id\":\"ccc\",\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":7}}}";
  st = podman_ok (&cache, dock, strlen (dock));
  assert_string_equal (st->id, "ccc");
  assert_int_equal (st->cpu_total, 7);
  docker_stats_free (st);

  docker_stats_cache_clear (&cache);
  free (b1);
  free (b2);
  free (other);
  free (older);
}

/* The cache is bounded: past DOCKER_STATS_CACHE_N containers the one with
   the oldest sample is forgotten. */
static void
test_podman_cache_bound (void **state)
{
  (void) state;
  struct docker_stats_cache cache = { 0 };
  for (int i = 0; i <= DOCKER_STATS_CACHE_N; i++)
    {
      char id[16];
      snprintf (id, sizeof id, "c%d", i);
      /* c0 has the oldest sample (second 0), the others later ones */
      char *b = podman_body (id, i == 0 ? 0 : 1, 100, 1000);
      docker_stats_free (podman_ok (&cache, b, strlen (b)));
      free (b);
    }
  size_t used = 0;
  for (size_t i = 0; i < DOCKER_STATS_CACHE_N; i++)
    used += cache.e[i].id != NULL;
  assert_int_equal (used, DOCKER_STATS_CACHE_N);
  char *b = podman_body ("c0", 50, 200, 2000);
  struct docker_stats *st = podman_ok (&cache, b, strlen (b));
  assert_int_equal (st->precpu_total, 0); /* forgotten */
  docker_stats_free (st);
  free (b);
  b = podman_body ("c1", 50, 200, 2000);
  st = podman_ok (&cache, b, strlen (b));
  assert_int_equal (st->precpu_total, 100); /* kept */
  docker_stats_free (st);
  free (b);
  docker_stats_cache_clear (&cache);
}

/* Podman's answer for a container that is not running: 200, empty body. */
static void
test_podman_empty_and_refusals (void **state)
{
  (void) state;
  static const char *const empty[] = { "", " \n", "\r\n" };
  for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++)
    {
      struct docker_stats *st = NULL;
      agent_error_t err = NULL;
      assert_true (docker_parse_stats_podman (NULL, empty[i], strlen (empty[i]), &st, &err) < 0);
      assert_null (st);
      assert_int_equal (error_kind (&err), ERR_NOT_FOUND);
      error_free (&err);
    }
  static const char *const bad[] = { "[]", "{", "{\"Id\":\"x\",\"memory_stats\":{\"usage\":-1}}" };
  struct docker_stats_cache cache = { 0 };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      struct docker_stats *st = NULL;
      agent_error_t err = NULL;
      assert_true (docker_parse_stats_podman (&cache, bad[i], strlen (bad[i]), &st, &err) < 0);
      assert_null (st);
      assert_int_equal (error_kind (&err), ERR_MALFORMED);
      error_free (&err);
    }
  for (size_t i = 0; i < DOCKER_STATS_CACHE_N; i++)
    assert_null (cache.e[i].id); /* a refused sample is not remembered */
  docker_stats_cache_clear (&cache);
}

/* Reopening a stats stream: 1 s doubling to 10 s, +0..50 % jitter. */
static void
test_stream_backoff_table (void **state)
{
  (void) state;
  struct
  {
    unsigned failures;
    double jitter;
    uint64_t want;
  } t[] = {
    { 1, 0, 1000 },  { 2, 0, 2000 },  { 3, 0, 4000 },   { 4, 0, 8000 },
    { 5, 0, 10000 }, { 9, 0, 10000 }, { 200, 0, 10000 }, { 1, 1, 1500 },
    { 3, 0.5, 5000 }, { 5, 1, 15000 }, { 0, 0, 1000 },  { 2, 2, 3000 }, /* jitter clamped to 1 */
  };
  for (size_t i = 0; i < ARRAY_SIZE (t); i++)
    {
      uint64_t got = docker_stats_stream_backoff_ms (t[i].failures, DOCKER_STATS_STREAM_BACKOFF_MIN_MS,
                                                     DOCKER_STATS_STREAM_BACKOFF_MAX_MS, t[i].jitter);
      if (got != t[i].want)
        fail_msg ("row %zu: %llu ms, want %llu", i, (unsigned long long) got,
                  (unsigned long long) t[i].want);
    }
}

/* The silence watchdog: abandoned after 18 s without a sample, else looked
   at again when the 18 s would be up. */
static void
test_stream_silence_table (void **state)
{
  (void) state;
  struct
  {
    uint64_t now, last;
    bool silent;
    uint64_t rearm;
  } t[] = {
    { 18000, 0, true, 0 },      { 17999, 0, false, 1 },    { 20000, 5000, false, 3000 },
    { 23000, 5000, true, 0 },   { 5000, 5000, false, 18000 }, { 4000, 5000, false, 18000 },
    { 100000, 0, true, 0 },
  };
  for (size_t i = 0; i < ARRAY_SIZE (t); i++)
    {
      uint64_t rearm = 0;
      bool s = docker_stats_stream_silent (t[i].now, t[i].last, DOCKER_STATS_STREAM_SILENCE_MS, &rearm);
      if (s != t[i].silent || (!s && rearm != t[i].rearm))
        fail_msg ("row %zu: silent %d rearm %llu", i, s, (unsigned long long) rearm);
    }
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_upstream_linux_sample),
    cmocka_unit_test (test_stream_backoff_table),
    cmocka_unit_test (test_stream_silence_table),
    cmocka_unit_test (test_upstream_mixed_case_and_memory),
    cmocka_unit_test (test_cgroup_v2_one_shot),
    cmocka_unit_test (test_real_engine_cgroup_v1),
    cmocka_unit_test (test_memory_rule),
    cmocka_unit_test (test_refusals),
    cmocka_unit_test (test_podman_real_body),
    cmocka_unit_test (test_podman_precpu_from_previous_sample),
    cmocka_unit_test (test_podman_cache_bound),
    cmocka_unit_test (test_podman_empty_and_refusals),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
