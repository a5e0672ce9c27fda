/* Unit tests for core/metrics: recording, the text exposition (HELP/TYPE
 * once per family and before its samples, cumulative histogram buckets
 * ending in +Inf = _count, label escaping), process figures, and the cost
 * of a scrape (printed; timing claims live in bench/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "core/metrics.h"
#include "core/util.h"

static char *
scrape (const struct metrics_snapshot *snap)
{
  struct sbuf b = { 0 };
  metrics_write (&b, snap);
  return sbuf_steal (&b);
}

/* The value of the sample line that starts with `prefix ` (exact series). */
static double
value_of (const char *text, const char *series)
{
  size_t n = strlen (series);
  for (const char *p = text; p && *p;)
    {
      if (strncmp (p, series, n) == 0 && p[n] == ' ')
        return strtod (p + n + 1, NULL);
      p = strchr (p, '\n');
      if (p)
        p++;
    }
  fail_msg ("series %s not found", series);
  return -1;
}

static void
test_escape (void **state)
{
  (void) state;
  static const struct
  {
    const char *in, *out;
  } cases[] = {
    { "plain", "plain" },
    { "a\"b", "a\\\"b" },
    { "back\\slash", "back\\\\slash" },
    { "two\nlines", "two\\nlines" },
    { "", "" },
    { "\\\"\n", "\\\\\\\"\\n" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      struct sbuf b = { 0 };
      metrics_escape_label (&b, cases[i].in);
      char *s = sbuf_steal (&b);
      assert_string_equal (s, cases[i].out);
      free (s);
    }
}

static void
test_counters_and_snapshot (void **state)
{
  (void) state;
  metrics_reset ();
  metrics_count (METRIC_STATE_CHANGES_SUBMITTED, 3);
  metrics_count (METRIC_STATE_CHANGES_RETRIED, 2);
  metrics_count (METRIC_IMAGE_PULL_BYTES, 12345);
  metrics_count (METRIC_N_COUNTERS, 1); /* out of range: ignored */
  metrics_set (METRIC_ACS_CONNECTED, 1);
  metrics_docker_call (METRIC_DOCKER_CREATE, METRIC_OUTCOME_OK, 0.02);
  metrics_docker_call (METRIC_DOCKER_CREATE, METRIC_OUTCOME_CONFLICT, 0.002);
  metrics_docker_call (METRIC_DOCKER_N_OPS, METRIC_OUTCOME_TIMEOUT, 31); /* -> other */
  struct metrics_snapshot snap = { .tasks = { 1, 2, 3 }, .containers = { 4, 5, 6 },
                                   .state_changes_queued = 7 };
  char *t = scrape (&snap);
  assert_int_equal (value_of (t, "ecs_agent_state_changes_submitted_total"), 3);
  assert_int_equal (value_of (t, "ecs_agent_state_changes_failed_total{reason=\"retriable\"}"), 2);
  assert_int_equal (value_of (t, "ecs_agent_state_changes_failed_total{reason=\"rejected\"}"), 0);
  assert_int_equal (value_of (t, "ecs_agent_image_pull_bytes_total"), 12345);
  assert_int_equal (value_of (t, "ecs_agent_acs_connected"), 1);
  assert_int_equal (value_of (t, "ecs_agent_tasks{status=\"PENDING\"}"), 1);
  assert_int_equal (value_of (t, "ecs_agent_tasks{status=\"STOPPED\"}"), 3);
  assert_int_equal (value_of (t, "ecs_agent_containers{status=\"RUNNING\"}"), 5);
  assert_int_equal (value_of (t, "ecs_agent_state_changes_queued"), 7);
  assert_int_equal (
      value_of (t, "ecs_agent_docker_api_calls_total{operation=\"create\",outcome=\"ok\"}"), 1);
  assert_int_equal (
      value_of (t, "ecs_agent_docker_api_calls_total{operation=\"create\",outcome=\"conflict\"}"), 1);
  assert_int_equal (
      value_of (t, "ecs_agent_docker_api_calls_total{operation=\"other\",outcome=\"timeout\"}"), 1);
  /* create: 0.002 in le=0.0025, 0.02 in le=0.025 -> cumulative */
  assert_int_equal (value_of (t, "ecs_agent_docker_api_call_duration_seconds_bucket{operation=\"create\",le=\"0.001\"}"), 0);
  assert_int_equal (value_of (t, "ecs_agent_docker_api_call_duration_seconds_bucket{operation=\"create\",le=\"0.0025\"}"), 1);
  assert_int_equal (value_of (t, "ecs_agent_docker_api_call_duration_seconds_bucket{operation=\"create\",le=\"0.025\"}"), 2);
  assert_int_equal (value_of (t, "ecs_agent_docker_api_call_duration_seconds_bucket{operation=\"create\",le=\"+Inf\"}"), 2);
  assert_int_equal (value_of (t, "ecs_agent_docker_api_call_duration_seconds_count{operation=\"create\"}"), 2);
  assert_true (value_of (t, "ecs_agent_docker_api_call_duration_seconds_sum{operation=\"create\"}") > 0.0219);
  /* 31 s is past 30: only in le=60 and up */
  assert_int_equal (value_of (t, "ecs_agent_docker_api_call_duration_seconds_bucket{operation=\"other\",le=\"30\"}"), 0);
  assert_int_equal (value_of (t, "ecs_agent_docker_api_call_duration_seconds_bucket{operation=\"other\",le=\"60\"}"), 1);
  assert_true (value_of (t, "process_resident_memory_bytes") > 0);
  assert_true (value_of (t, "process_open_fds") >= 3);
  assert_true (value_of (t, "process_cpu_seconds_total") >= 0);
  free (t);
  metrics_reset ();
  t = scrape (NULL);
  assert_int_equal (value_of (t, "ecs_agent_state_changes_submitted_total"), 0);
  free (t);
}

/* Structure of the whole text: every sample's family was announced by
   # HELP then # TYPE (once each) before it; histogram buckets of one
   series are non-decreasing and end with +Inf equal to _count. */
static void
test_structure (void **state)
{
  (void) state;
  metrics_reset ();
  for (int i = 0; i < 1000; i++)
    metrics_observe (METRIC_LAUNCH_SECONDS, (double) (i % 200) / 10.0);
  metrics_observe (METRIC_LAUNCH_SECONDS, -1); /* clock went back: counted as 0 */
  char *t = scrape (NULL);
  char families[64][96];
  size_t nf = 0;
  char cur[96] = "", type[16] = "";
  unsigned long long last_bucket = 0, inf = 0;
  bool in_buckets = false;
  char *save = NULL;
  for (char *line = strtok_r (t, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    {
      char name[96];
      if (strncmp (line, "# HELP ", 7) == 0)
        {
          assert_int_equal (sscanf (line + 7, "%95s", name), 1);
          for (size_t i = 0; i < nf; i++)
            if (strcmp (families[i], name) == 0)
              fail_msg ("family %s announced twice", name);
          assert_true (nf < 64);
          strcpy (families[nf++], name);
          strcpy (cur, name);
          type[0] = '\0';
          continue;
        }
      if (strncmp (line, "# TYPE ", 7) == 0)
        {
          assert_int_equal (sscanf (line + 7, "%95s %15s", name, type), 2);
          assert_string_equal (name, cur);
          assert_true (strcmp (type, "counter") == 0 || strcmp (type, "gauge") == 0
                       || strcmp (type, "histogram") == 0);
          continue;
        }
      assert_true (line[0] != '#');
      size_t n = strcspn (line, "{ ");
      assert_true (n < sizeof name);
      memcpy (name, line, n);
      name[n] = '\0';
      assert_true (type[0] != '\0');
      if (strcmp (type, "histogram") == 0)
        {
          size_t cl = strlen (cur);
          assert_memory_equal (name, cur, cl);
          const char *suffix = name + cl;
          assert_true (strcmp (suffix, "_bucket") == 0 || strcmp (suffix, "_sum") == 0
                       || strcmp (suffix, "_count") == 0);
          unsigned long long v = strtoull (strrchr (line, ' ') + 1, NULL, 10);
          if (strcmp (suffix, "_bucket") == 0)
            {
              if (in_buckets)
                assert_true (v >= last_bucket);
              in_buckets = true;
              last_bucket = v;
              if (strstr (line, "le=\"+Inf\""))
                {
                  inf = v;
                  in_buckets = false;
                }
            }
          else if (strcmp (suffix, "_count") == 0)
            assert_int_equal (v, inf);
        }
      else
        assert_string_equal (name, cur);
    }
  assert_true (nf >= 15);
  free (t);
  t = scrape (NULL);
  assert_int_equal (value_of (t, "ecs_agent_task_launch_seconds_count"), 1001);
  assert_int_equal (value_of (t, "ecs_agent_task_launch_seconds_bucket{le=\"0.001\"}"), 6); /* 5 zeros + the clamped one */
  assert_int_equal (value_of (t, "ecs_agent_task_launch_seconds_bucket{le=\"+Inf\"}"), 1001);
  free (t);
}

/* One scrape's cost, printed for the record (bench/ holds the claim). */
static void
test_scrape_cost (void **state)
{
  (void) state;
  struct timespec a, b;
  size_t bytes = 0;
  clock_gettime (CLOCK_MONOTONIC, &a);
  for (int i = 0; i < 200; i++)
    {
      char *t = scrape (NULL);
      bytes = strlen (t);
      free (t);
    }
  clock_gettime (CLOCK_MONOTONIC, &b);
  double us = ((double) (b.tv_sec - a.tv_sec) * 1e9 + (double) (b.tv_nsec - a.tv_nsec)) / 1e3 / 200;
  printf ("one scrape: %.1f us, %zu bytes\n", us, bytes);
  assert_true (bytes > 1000);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_escape),
    cmocka_unit_test (test_counters_and_snapshot),
    cmocka_unit_test (test_structure),
    cmocka_unit_test (test_scrape_cost),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
