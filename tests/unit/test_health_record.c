/* Unit tests for a container's Docker health record, the one source every
 * report reads (task/lifecycle.h): task_health_observe as a table (status
 * and statusSince move only on a change, output cut to 1024 bytes on a
 * UTF-8 boundary, exit code kept for UNHEALTHY only), Docker's
 * State.Health -> status, the inspect parser's last Health.Log entry
 * (docker/inspect_extra.c), the checkpoint round trip, and which
 * containers TCS's PublishHealthRequest lists with which values
 * (tcs_task_health_of). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "docker/docker.h"
#include "engine/depends.h"
#include "log/log.h"
#include "task/lifecycle_decode.h"
#include "tcs/collector.h"
#include "test_engine_util.h"

#define T0 1000000000000LL
#define T1 2000000000000LL

static void
test_observe_table (void **state)
{
  (void) state;
  static const struct
  {
    const char *what;
    enum task_health before;
    int64_t since_before;
    enum task_health st;
    const char *output;
    int code;
    bool changed;
    int64_t since_after;
    int code_after;
    const char *output_after;
  } rows[] = {
    { "first UNKNOWN leaves since unset", TASK_HEALTH_UNKNOWN, 0, TASK_HEALTH_UNKNOWN, NULL, 0, false, 0, 0, NULL },
    { "UNKNOWN -> HEALTHY", TASK_HEALTH_UNKNOWN, 0, TASK_HEALTH_HEALTHY, "ok", 0, true, T1, 0, "ok" },
    { "HEALTHY again: since kept", TASK_HEALTH_HEALTHY, T0, TASK_HEALTH_HEALTHY, NULL, 0, false, T0, 0, NULL },
    { "HEALTHY, new output: since kept", TASK_HEALTH_HEALTHY, T0, TASK_HEALTH_HEALTHY, "new", 0, true, T0, 0, "new" },
    { "-> UNHEALTHY keeps the exit code", TASK_HEALTH_HEALTHY, T0, TASK_HEALTH_UNHEALTHY, "bad", 3, true, T1, 3, "bad" },
    { "HEALTHY with a code: not kept", TASK_HEALTH_UNKNOWN, 0, TASK_HEALTH_HEALTHY, "", 1, true, T1, 0, NULL },
    { "-> UNKNOWN (starting)", TASK_HEALTH_UNHEALTHY, T0, TASK_HEALTH_UNKNOWN, NULL, 0, true, T1, 0, NULL },
  };
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
    {
      struct task_container_lifecycle l = { .health = rows[i].before, .health_since_ns = rows[i].since_before };
      bool ch = task_health_observe (&l, rows[i].st, rows[i].output, rows[i].code, T1);
      if (ch != rows[i].changed || l.health != rows[i].st || l.health_since_ns != rows[i].since_after
          || l.health_exit_code != rows[i].code_after
          || (rows[i].output_after ? !l.health_output || strcmp (l.health_output, rows[i].output_after)
                                   : l.health_output != NULL))
        fail_msg ("row %zu (%s): changed %d since %lld code %d output %s", i, rows[i].what, ch,
                  (long long) l.health_since_ns, l.health_exit_code,
                  l.health_output ? l.health_output : "(null)");
      task_container_lifecycle_free (&l);
    }
  /* an exit code change alone is a change; UNHEALTHY -> UNHEALTHY keeps since */
  struct task_container_lifecycle l = { .health = TASK_HEALTH_UNHEALTHY, .health_since_ns = T0, .health_exit_code = 1 };
  assert_true (task_health_observe (&l, TASK_HEALTH_UNHEALTHY, NULL, 2, T1));
  assert_int_equal (l.health_exit_code, 2);
  assert_true (l.health_since_ns == T0);
  assert_false (task_health_observe (&l, TASK_HEALTH_UNHEALTHY, NULL, 2, T1));
  task_container_lifecycle_free (&l);
}

static void
test_observe_output_bound (void **state)
{
  (void) state;
  char big[2000];
  memset (big, 'x', sizeof big);
  big[sizeof big - 1] = '\0';
  struct task_container_lifecycle l = { 0 };
  task_health_observe (&l, TASK_HEALTH_HEALTHY, big, 0, T0);
  assert_int_equal (strlen (l.health_output), TASK_HEALTH_OUTPUT_MAX);
  /* a two-byte character across the bound is left out whole */
  memset (big, 'a', sizeof big);
  big[TASK_HEALTH_OUTPUT_MAX - 1] = (char) 0xC3;
  big[TASK_HEALTH_OUTPUT_MAX] = (char) 0xA9;
  big[TASK_HEALTH_OUTPUT_MAX + 1] = '\0';
  task_health_observe (&l, TASK_HEALTH_HEALTHY, big, 0, T0);
  assert_int_equal (strlen (l.health_output), TASK_HEALTH_OUTPUT_MAX - 1);
  json_t *s = json_string (l.health_output); /* valid UTF-8 */
  assert_non_null (s);
  json_decref (s);
  task_container_lifecycle_free (&l);
  assert_null (l.health_output);
}

static void
test_from_docker (void **state)
{
  (void) state;
  assert_int_equal (engine_health_from_docker ("healthy"), TASK_HEALTH_HEALTHY);
  assert_int_equal (engine_health_from_docker ("unhealthy"), TASK_HEALTH_UNHEALTHY);
  assert_int_equal (engine_health_from_docker ("starting"), TASK_HEALTH_UNKNOWN);
  assert_int_equal (engine_health_from_docker ("none"), TASK_HEALTH_UNKNOWN);
  assert_int_equal (engine_health_from_docker (NULL), TASK_HEALTH_UNKNOWN);
  assert_int_equal (engine_health_from_docker ("HEALTHY"), TASK_HEALTH_UNKNOWN);
}

static struct docker_container_info *
inspect (const char *state_json)
{
  char *s = xasprintf ("{\"Id\":\"abc\",\"Name\":\"/n\",\"State\":%s}", state_json);
  struct docker_container_info *i = NULL;
  agent_error_t err = NULL;
  if (docker_parse_container_inspect (s, strlen (s), &i, &err) < 0)
    fail_msg ("%s", error_msg (&err));
  free (s);
  return i;
}

static void
test_inspect_health_log (void **state)
{
  (void) state;
  struct docker_container_info *i
      = inspect ("{\"Running\":true,\"Health\":{\"Status\":\"unhealthy\",\"FailingStreak\":3,\"Log\":["
                 "{\"Start\":\"2024-05-01T10:00:00Z\",\"ExitCode\":0,\"Output\":\"first\"},"
                 "{\"Start\":\"2024-05-01T10:00:05Z\",\"ExitCode\":7,\"Output\":\"last\\n\"}]}}");
  assert_string_equal (i->health_status, "unhealthy");
  assert_string_equal (i->health_output, "last\n");
  assert_int_equal (i->health_exit_code, 7);
  struct docker_container_info *d = docker_container_info_dup (i);
  assert_string_equal (d->health_output, "last\n");
  assert_ptr_not_equal (d->health_output, i->health_output);
  docker_container_info_free (d);
  docker_container_info_free (i);
  /* no log, an empty log, members of the wrong type: absent */
  static const char *const bad[] = {
    "{\"Health\":{\"Status\":\"starting\"}}",
    "{\"Health\":{\"Status\":\"starting\",\"Log\":[]}}",
    "{\"Health\":{\"Log\":{}}}",
    "{\"Health\":{\"Log\":[1]}}",
    "{\"Health\":{\"Log\":[{\"Output\":5,\"ExitCode\":\"x\"}]}}",
    "{\"Health\":{\"Log\":[{\"ExitCode\":99999999999}]}}",
    "{\"Health\":7}",
    "{}",
  };
  for (size_t k = 0; k < sizeof bad / sizeof *bad; k++)
    {
      i = inspect (bad[k]);
      if (i->health_output || i->health_exit_code)
        fail_msg ("case %zu: output %s code %d", k, i->health_output, i->health_exit_code);
      docker_container_info_free (i);
    }
  /* a long output is bounded already in the parse */
  char *big = xcalloc (1, DOCKER_HEALTH_OUTPUT_MAX + 100);
  memset (big, 'y', DOCKER_HEALTH_OUTPUT_MAX + 50);
  char *st = xasprintf ("{\"Health\":{\"Status\":\"healthy\",\"Log\":[{\"ExitCode\":0,\"Output\":\"%s\"}]}}", big);
  i = inspect (st);
  assert_int_equal (strlen (i->health_output), DOCKER_HEALTH_OUTPUT_MAX);
  docker_container_info_free (i);
  free (st);
  free (big);
}

static void
test_checkpoint_round_trip (void **state)
{
  (void) state;
  struct task_container_lifecycle l = { .health = TASK_HEALTH_UNHEALTHY, .health_since_ns = T0 };
  task_health_observe (&l, TASK_HEALTH_UNHEALTHY, "boom", 4, T1);
  json_t *o = json_object ();
  task_json_container_lifecycle_put (o, &l, true);
  assert_string_equal (json_string_value (json_object_get (o, "HealthOutput")), "boom");
  assert_int_equal (json_integer_value (json_object_get (o, "HealthExitCode")), 4);
  /* the ACS form never carries them */
  json_t *acs = json_object ();
  task_json_container_lifecycle_put (acs, &l, false);
  assert_int_equal (json_object_size (acs), 0);
  json_decref (acs);
  struct task_container_lifecycle r = { 0 };
  agent_error_t err = NULL;
  assert_int_equal (task_json_container_lifecycle (o, "c", true, &r, &err), 0);
  assert_int_equal (r.health, TASK_HEALTH_UNHEALTHY);
  assert_true (r.health_since_ns == T0);
  assert_int_equal (r.health_exit_code, 4);
  assert_string_equal (r.health_output, "boom");
  task_container_lifecycle_free (&r);
  /* an older checkpoint without them */
  json_object_del (o, "HealthOutput");
  json_object_del (o, "HealthExitCode");
  assert_int_equal (task_json_container_lifecycle (o, "c", true, &r, &err), 0);
  assert_null (r.health_output);
  assert_int_equal (r.health_exit_code, 0);
  task_container_lifecycle_free (&r);
  json_object_set_new (o, "HealthExitCode", json_string ("x"));
  assert_true (task_json_container_lifecycle (o, "c", true, &r, &err) < 0);
  error_free (&err);
  task_container_lifecycle_free (&r);
  json_decref (o);
  task_container_lifecycle_free (&l);
}

static const char *const TASK_JSON
    = "{\"arn\":\"arn:aws:ecs:us-west-2:1:task/c/t1\",\"family\":\"web\",\"version\":\"7\","
      "\"desiredStatus\":\"RUNNING\",\"containers\":["
      "{\"name\":\"db\",\"image\":\"busybox\",\"healthCheckType\":\"docker\"},"
      "{\"name\":\"web\",\"image\":\"busybox\",\"healthCheckType\":\"DOCKER\"},"
      "{\"name\":\"plain\",\"image\":\"busybox\"},"
      "{\"name\":\"gone\",\"image\":\"busybox\",\"healthCheckType\":\"docker\"},"
      "{\"name\":\"leaving\",\"image\":\"busybox\",\"healthCheckType\":\"docker\"},"
      "{\"name\":\"new\",\"image\":\"busybox\",\"healthCheckType\":\"docker\"}]}";

static void
test_tcs_selection (void **state)
{
  (void) state;
  agent_error_t err = NULL;
  struct task *t = teu_task (TASK_JSON, &err);
  assert_non_null (t);
  t->known_status = TASK_STATUS_RUNNING;
  for (size_t i = 0; i < t->n_containers; i++)
    {
      struct task_container *c = &t->containers[i];
      c->docker_id = xasprintf ("id%zu", i);
      c->known_status = c->desired_status = TASK_STATUS_RUNNING;
    }
  t->containers[0].life.health = TASK_HEALTH_HEALTHY;
  t->containers[0].life.health_since_ns = 5000000000LL; /* 5000 ms */
  t->containers[3].known_status = t->containers[3].desired_status = TASK_STATUS_STOPPED;
  t->containers[4].desired_status = TASK_STATUS_STOPPED;
  t->containers[5].known_status = TASK_STATUS_CREATED;
  struct tcs_task_health h;
  assert_true (tcs_task_health_of (t, 9000, &h));
  assert_int_equal (h.n_containers, 2);
  assert_string_equal (h.containers[0].name, "db");
  assert_int_equal (h.containers[0].status, TCS_HEALTH_HEALTHY);
  assert_true (h.containers[0].since_ms == 5000);
  assert_string_equal (h.containers[1].name, "web");
  assert_int_equal (h.containers[1].status, TCS_HEALTH_UNKNOWN);
  assert_true (h.containers[1].since_ms == 9000); /* no change yet: now */
  assert_string_equal (h.task_arn, t->arn);
  assert_string_equal (h.family, "web");
  assert_string_equal (h.version, "7");
  free (h.containers);
  /* a stopped task lists nothing */
  t->known_status = TASK_STATUS_STOPPED;
  assert_false (tcs_task_health_of (t, 9000, &h));
  assert_null (h.containers);
  task_free (t);
}

int
main (void)
{
  log_init (LOG_NONE, NULL, NULL);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_observe_table),
    cmocka_unit_test (test_observe_output_bound),
    cmocka_unit_test (test_from_docker),
    cmocka_unit_test (test_inspect_health_log),
    cmocka_unit_test (test_checkpoint_round_trip),
    cmocka_unit_test (test_tcs_selection),
  };
  int rc = cmocka_run_group_tests (tests, NULL, NULL);
  log_close ();
  return rc;
}
