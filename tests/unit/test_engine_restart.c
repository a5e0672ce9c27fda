/* Unit tests for the restart policy: the decision of engine/restart.c as a
 * table (policy x desired status x exit code x period x tracker), the ACS
 * form of restartPolicy (task/restart_decode.c: accepted and refused
 * members) and the checkpoint round trip of the policy and its tracker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include "engine/restart.h"
#include "state/checkpoint_tasks.h"
#include "test_engine_util.h"

#define SEC 1000000000LL
#define T0 (1700000000LL * SEC) /* first start of the container */

/* One essential container "app" with the given restartPolicy member
   (NULL: none), known RUNNING since T0 with a Docker id. */
static struct task *
app (const char *policy)
{
  char buf[600];
  snprintf (buf, sizeof buf,
            "{\"arn\":\"t\",\"desiredStatus\":\"RUNNING\",\"containers\":["
            "{\"name\":\"app\",\"image\":\"img\",\"essential\":true%s%s}]}",
            policy ? ",\"restartPolicy\":" : "", policy ? policy : "");
  struct task *t = teu_task_must (buf);
  struct task_container *c = &t->containers[0];
  c->known_status = c->desired_status = TASK_STATUS_RUNNING;
  c->docker_id = xstrdup ("abc");
  c->life.started_at_ns = T0;
  return t;
}

#define ON60 "{\"enabled\":true,\"ignoredExitCodes\":[0,42],\"restartAttemptPeriod\":60}"
#define NO ENGINE_RESTART_NO
#define YES ENGINE_RESTART_YES
#define REDO ENGINE_RESTART_REDO

static void
test_decision_table (void **st)
{
  (void) st;
  static const struct
  {
    const char *policy;
    enum task_status desired, task_desired, known;
    bool has_id;
    bool has_code;
    int code;
    uint32_t count;
    int64_t last; /* lastRestartAt, 0 = none */
    int64_t started_at; /* Docker StartedAt of the run that ended, 0 = unknown */
    int64_t now;
    enum engine_restart_verdict want;
  } rows[] = {
    /* policy absent or disabled */
    { NULL, 3, 3, 3, true, true, 1, 0, 0, 0, T0 + 100 * SEC, NO },
    { "{\"enabled\":false,\"restartAttemptPeriod\":0}", 3, 3, 3, true, true, 1, 0, 0, 0, T0 + 100 * SEC, NO },
    /* eligible: first exit after the period since the first start */
    { ON60, 3, 3, 3, true, true, 1, 0, 0, 0, T0 + 60 * SEC, YES },
    { ON60, 3, 3, 3, true, true, 137, 0, 0, 0, T0 + 61 * SEC, YES },
    /* within the period since the first start */
    { ON60, 3, 3, 3, true, true, 1, 0, 0, 0, T0 + 59 * SEC, NO },
    /* ignored exit codes */
    { ON60, 3, 3, 3, true, true, 0, 0, 0, 0, T0 + 100 * SEC, NO },
    { ON60, 3, 3, 3, true, true, 42, 0, 0, 0, T0 + 100 * SEC, NO },
    { ON60, 3, 3, 3, true, true, 43, 0, 0, 0, T0 + 100 * SEC, YES },
    /* no exit code known */
    { ON60, 3, 3, 3, true, false, 0, 0, 0, 0, T0 + 100 * SEC, NO },
    /* desired STOPPED (container or task) */
    { ON60, 4, 3, 3, true, true, 1, 0, 0, 0, T0 + 100 * SEC, NO },
    { ON60, 3, 4, 3, true, true, 1, 0, 0, 0, T0 + 100 * SEC, NO },
    /* not known RUNNING, or never created */
    { ON60, 3, 3, 2, true, true, 1, 0, 0, 0, T0 + 100 * SEC, NO },
    { ON60, 3, 3, 3, false, true, 1, 0, 0, 0, T0 + 100 * SEC, NO },
    /* after a restart the period counts from lastRestartAt */
    { ON60, 3, 3, 3, true, true, 1, 1, T0 + 100 * SEC, T0 + 100 * SEC, T0 + 159 * SEC, NO },
    { ON60, 3, 3, 3, true, true, 1, 1, T0 + 100 * SEC, T0 + 100 * SEC, T0 + 160 * SEC, YES },
    { ON60, 3, 3, 3, true, true, 1, 7, T0 + 100 * SEC, 0, T0 + 500 * SEC, YES },
    /* a restart saved but never started (this run predates it): redo,
       whatever the period and the code say */
    { ON60, 3, 3, 3, true, true, 1, 1, T0 + 100 * SEC, T0, T0 + 101 * SEC, REDO },
    { ON60, 3, 3, 3, true, true, 42, 1, T0 + 100 * SEC, T0, T0 + 101 * SEC, REDO },
    /* ... but not when told to stop */
    { ON60, 4, 3, 3, true, true, 1, 1, T0 + 100 * SEC, T0, T0 + 101 * SEC, NO },
    /* the run began after the restart: a new exit */
    { ON60, 3, 3, 3, true, true, 1, 1, T0 + 100 * SEC, T0 + 100 * SEC + 1, T0 + 101 * SEC, NO },
    /* period 0 (absent): no wait */
    { "{\"enabled\":true}", 3, 3, 3, true, true, 0, 0, 0, 0, T0, YES },
    { "{\"enabled\":true}", 3, 3, 3, true, true, 1, 3, T0, T0, T0, YES },
  };
  for (size_t i = 0; i < ARRAY_SIZE (rows); i++)
    {
      struct task *t = app (rows[i].policy);
      struct task_container *c = &t->containers[0];
      c->desired_status = rows[i].desired;
      t->desired_status = rows[i].task_desired;
      c->known_status = rows[i].known;
      if (!rows[i].has_id)
        {
          free (c->docker_id);
          c->docker_id = NULL;
        }
      c->restart.count = rows[i].count;
      c->restart.last_restart_at_ns = rows[i].last;
      struct engine_restart_obs o = { .has_exit_code = rows[i].has_code, .exit_code = rows[i].code,
                                      .started_at_ns = rows[i].started_at };
      enum engine_restart_verdict got = engine_restart_decide (t, 0, &o, rows[i].now);
      if (got != rows[i].want)
        fail_msg ("row %zu: got %s, want %s", i, engine_restart_verdict_str (got),
                  engine_restart_verdict_str (rows[i].want));
      task_free (t);
    }
}

static void
test_decode (void **st)
{
  (void) st;
  static const struct
  {
    const char *member;
    const char *err; /* NULL = accepted */
  } rows[] = {
    { "null", NULL },
    { "{}", NULL },
    { "{\"enabled\":true,\"ignoredExitCodes\":[],\"restartAttemptPeriod\":1800}", NULL },
    { "{\"Enabled\":true,\"IgnoredExitCodes\":null}", NULL },
    { "[]", "containers[0].restartPolicy must be an object" },
    { "{\"enabled\":\"yes\"}", "containers[0].restartPolicy.enabled must be a boolean" },
    { "{\"enabled\":true,\"ignoredExitCodes\":{}}", "containers[0].restartPolicy.ignoredExitCodes must be an array" },
    { "{\"enabled\":true,\"ignoredExitCodes\":[1,\"2\"]}",
      "containers[0].restartPolicy.ignoredExitCodes[1] must be an integer" },
    { "{\"enabled\":true,\"ignoredExitCodes\":[1.5]}",
      "containers[0].restartPolicy.ignoredExitCodes[0] must be an integer" },
    { "{\"enabled\":true,\"ignoredExitCodes\":[99999999999]}",
      "containers[0].restartPolicy.ignoredExitCodes[0] must be an integer" },
    { "{\"enabled\":true,\"restartAttemptPeriod\":-1}", "restartPolicy.restartAttemptPeriod must be in 0..86400" },
    { "{\"enabled\":true,\"restartAttemptPeriod\":\"60\"}", "restartPolicy.restartAttemptPeriod must be an integer" },
  };
  for (size_t i = 0; i < ARRAY_SIZE (rows); i++)
    {
      char buf[600];
      snprintf (buf, sizeof buf,
                "{\"arn\":\"t\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"a\",\"image\":\"i\","
                "\"restartPolicy\":%s}]}",
                rows[i].member);
      agent_error_t err = NULL;
      struct task *t = teu_task (buf, &err);
      if (rows[i].err == NULL)
        {
          if (!t)
            fail_msg ("row %zu: %s", i, error_msg (&err));
          task_free (t);
          continue;
        }
      if (t || !strstr (error_msg (&err), rows[i].err))
        fail_msg ("row %zu: got %s", i, t ? "accepted" : error_msg (&err));
      error_free (&err);
    }
  /* The values as sent. */
  struct task *t = app (ON60);
  const struct task_container_restart *r = &t->containers[0].restart;
  assert_true (r->enabled);
  assert_int_equal (r->attempt_period_s, 60);
  assert_int_equal (r->n_ignored_exit_codes, 2);
  assert_true (task_restart_code_ignored (r, 42));
  assert_false (task_restart_code_ignored (r, 1));
  task_free (t);
  /* Too many ignored codes (ECS allows 50). */
  struct sbuf b = { 0 };
  sbuf_puts (&b, "{\"arn\":\"t\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"a\",\"image\":\"i\","
                 "\"restartPolicy\":{\"enabled\":true,\"ignoredExitCodes\":[");
  for (int i = 0; i <= TASK_RESTART_IGNORED_MAX; i++)
    sbuf_printf (&b, "%s%d", i ? "," : "", i);
  sbuf_puts (&b, "]}}]}");
  char *text = sbuf_steal (&b);
  agent_error_t err = NULL;
  assert_null (teu_task (text, &err));
  assert_non_null (strstr (error_msg (&err), "at most 50"));
  error_free (&err);
  free (text);
}

static void
test_checkpoint_round_trip (void **st)
{
  (void) st;
  struct task *t = app (ON60);
  t->containers[0].restart.count = 3;
  t->containers[0].restart.last_restart_at_ns = T0 + 5 * SEC;
  json_t *j = state_task_to_json (t);
  struct task *u = NULL;
  agent_error_t err = NULL;
  if (state_task_from_json (j, &u, &err) < 0)
    fail_msg ("%s", error_msg (&err));
  const struct task_container_restart *r = &u->containers[0].restart;
  assert_true (r->enabled);
  assert_int_equal (r->attempt_period_s, 60);
  assert_int_equal (r->n_ignored_exit_codes, 2);
  assert_int_equal (r->ignored_exit_codes[0], 0);
  assert_int_equal (r->ignored_exit_codes[1], 42);
  assert_int_equal (r->count, 3);
  assert_int_equal (r->last_restart_at_ns, T0 + 5 * SEC);
  json_decref (j);
  task_free (u);
  task_free (t);
  /* No policy: nothing written, nothing read back. */
  t = app (NULL);
  j = state_task_to_json (t);
  json_t *cj = json_array_get (json_object_get (j, "Containers"), 0);
  if (!cj)
    cj = json_array_get (json_object_get (j, "containers"), 0);
  assert_non_null (cj);
  assert_null (json_object_get (cj, "restartPolicy"));
  assert_null (json_object_get (cj, "RestartTracker"));
  assert_int_equal (state_task_from_json (j, &u, &err), 0);
  assert_false (u->containers[0].restart.enabled);
  assert_int_equal (u->containers[0].restart.count, 0);
  json_decref (j);
  task_free (u);
  task_free (t);
  /* A bad tracker is refused, naming the field. */
  const char *bad = "{\"arn\":\"t\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"a\",\"image\":\"i\","
                    "\"RestartTracker\":{\"RestartCount\":-1}}]}";
  json_t *bj = json_loads (bad, 0, NULL);
  assert_non_null (bj);
  assert_true (state_task_from_json (bj, &u, &err) < 0);
  assert_non_null (strstr (error_msg (&err), "RestartTracker.RestartCount"));
  error_free (&err);
  json_decref (bj);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_decision_table),
    cmocka_unit_test (test_decode),
    cmocka_unit_test (test_checkpoint_round_trip),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
