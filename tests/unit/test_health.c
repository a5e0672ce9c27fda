/* Unit tests for core/health: the verdict as a table (facts + time ->
 * which parts fail), no I/O. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "core/health.h"

#define ARRAY_SIZE(a) (sizeof (a) / sizeof ((a)[0]))
#define S 1000ULL /* ms per s */
#define T0 (1000 * S) /* the agent's start */

/* A healthy agent at T0 + 100 s: connected, pinged 1 s ago, checkpoint
   working, queue empty. */
static struct health_facts
healthy (void)
{
  return (struct health_facts){
    .started_ms = T0,
    .acs_connected = true,
    .acs_changed_ms = T0 + 5 * S,
    .docker_ok_ms = T0 + 99 * S,
    .checkpoint_enabled = true,
  };
}

static const struct health_bounds bounds = {
  .acs_grace_ms = 60 * S, .docker_max_age_ms = 30 * S, .queue_stall_ms = 120 * S
};

enum mod
{
  M_NONE,
  M_ACS_DOWN_10S,      /* disconnected 10 s ago: within grace */
  M_ACS_DOWN_61S,      /* disconnected 61 s ago: past grace */
  M_ACS_NEVER_EARLY,   /* never connected, 50 s after start */
  M_ACS_NEVER_LATE,    /* never connected, 100 s after start */
  M_DOCKER_FAILED,     /* the last ping failed */
  M_DOCKER_RECOVERED,  /* failed, then answered */
  M_DOCKER_STALE,      /* last answer 31 s old (ping stuck) */
  M_DOCKER_NONE_EARLY, /* no ping answered yet, 20 s after start */
  M_DOCKER_NONE_LATE,  /* no ping answered yet, 100 s after start */
  M_CKPT_FAILING,
  M_CKPT_FAILING_OFF,  /* checkpointing disabled: a failing flag is ignored */
  M_PROBE_FAILING,     /* no write failed, but the data directory probe did */
  M_PROBE_FAILING_OFF, /* checkpointing disabled: the probe is ignored too */
  M_CKPT_AND_PROBE,    /* both: the write failure is named */
  M_QUEUE_MOVING,      /* 3 queued, last out 10 s ago */
  M_QUEUE_STUCK,       /* 3 queued, nothing out for 121 s */
  M_ALL_BAD,
};

static void
apply (struct health_facts *f, enum mod m, uint64_t *now)
{
  *now = T0 + 100 * S;
  switch (m)
    {
    case M_NONE:
      break;
    case M_ACS_DOWN_10S:
      f->acs_connected = false;
      f->acs_changed_ms = *now - 10 * S;
      break;
    case M_ACS_DOWN_61S:
      f->acs_connected = false;
      f->acs_changed_ms = *now - 61 * S;
      break;
    case M_ACS_NEVER_EARLY:
      f->acs_connected = false;
      f->acs_changed_ms = 0;
      *now = T0 + 50 * S;
      f->docker_ok_ms = *now - S;
      break;
    case M_ACS_NEVER_LATE:
      f->acs_connected = false;
      f->acs_changed_ms = 0;
      break;
    case M_DOCKER_FAILED:
      f->docker_fail_ms = *now - 500;
      break;
    case M_DOCKER_RECOVERED:
      f->docker_fail_ms = *now - 20 * S;
      break;
    case M_DOCKER_STALE:
      f->docker_ok_ms = *now - 31 * S;
      break;
    case M_DOCKER_NONE_EARLY:
      f->docker_ok_ms = 0;
      *now = T0 + 20 * S;
      break;
    case M_DOCKER_NONE_LATE:
      f->docker_ok_ms = 0;
      break;
    case M_CKPT_FAILING:
      f->checkpoint_failing = true;
      break;
    case M_CKPT_FAILING_OFF:
      f->checkpoint_failing = true;
      f->checkpoint_enabled = false;
      break;
    case M_PROBE_FAILING:
      f->probe_failing = true;
      f->probe_error = "creating /data/.health-probe: Read-only file system";
      break;
    case M_PROBE_FAILING_OFF:
      f->probe_failing = true;
      f->checkpoint_enabled = false;
      break;
    case M_CKPT_AND_PROBE:
      f->probe_failing = true;
      f->checkpoint_failing = true;
      break;
    case M_QUEUE_MOVING:
      f->queue_len = 3;
      f->queue_progress_ms = *now - 10 * S;
      break;
    case M_QUEUE_STUCK:
      f->queue_len = 3;
      f->queue_progress_ms = *now - 121 * S;
      break;
    case M_ALL_BAD:
      f->acs_connected = false;
      f->acs_changed_ms = *now - 90 * S;
      f->docker_fail_ms = *now - S;
      f->docker_error = "connection refused";
      f->checkpoint_failing = true;
      f->queue_len = 1;
      f->queue_progress_ms = *now - 200 * S;
      break;
    }
}

static void
test_verdict_table (void **state)
{
  (void) state;
  static const struct
  {
    enum mod m;
    bool acs, docker, ckpt, queue; /* expected failing */
    const char *detail_part;       /* substring of the changed part's detail */
  } cases[] = {
    { M_NONE, false, false, false, false, "connected" },
    { M_ACS_DOWN_10S, false, false, false, false, "disconnected for 10 s (grace 60 s)" },
    { M_ACS_DOWN_61S, true, false, false, false, "disconnected for 61 s" },
    { M_ACS_NEVER_EARLY, false, false, false, false, "not connected since start" },
    { M_ACS_NEVER_LATE, true, false, false, false, "not connected since start for 100 s" },
    { M_DOCKER_FAILED, false, true, false, false, "last ping failed" },
    { M_DOCKER_RECOVERED, false, false, false, false, "answered 1000 ms ago" },
    { M_DOCKER_STALE, false, true, false, false, "answered 31000 ms ago" },
    { M_DOCKER_NONE_EARLY, false, false, false, false, "no ping answered yet" },
    { M_DOCKER_NONE_LATE, false, true, false, false, "no ping answered yet (100 s" },
    { M_CKPT_FAILING, false, false, true, false, "write failed" },
    { M_CKPT_FAILING_OFF, false, false, false, false, "disabled" },
    { M_PROBE_FAILING, false, false, true, false, "takes no write: creating /data/.health-probe: Read-only" },
    { M_PROBE_FAILING_OFF, false, false, false, false, "disabled" },
    { M_CKPT_AND_PROBE, false, false, true, false, "write failed" },
    { M_QUEUE_MOVING, false, false, false, false, "3 state changes queued" },
    { M_QUEUE_STUCK, false, false, false, true, "none submitted for 121 s" },
    { M_ALL_BAD, true, true, true, true, "connection refused" },
  };
  for (size_t i = 0; i < ARRAY_SIZE (cases); i++)
    {
      struct health_facts f = healthy ();
      uint64_t now;
      apply (&f, cases[i].m, &now);
      struct health_verdict v;
      health_decide (&f, &bounds, now, &v);
      bool want[HEALTH_N_PARTS] = { cases[i].acs, cases[i].docker, cases[i].ckpt, cases[i].queue };
      bool any = false;
      for (int p = 0; p < HEALTH_N_PARTS; p++)
        {
          if (v.failing[p] != want[p])
            fail_msg ("case %zu: part %s failing=%d, want %d (%s)", i, health_part_name (p),
                      v.failing[p], want[p], v.detail[p]);
          any |= want[p];
          assert_true (v.detail[p][0] != '\0');
        }
      assert_int_equal (v.healthy, !any);
      bool found = false;
      for (int p = 0; p < HEALTH_N_PARTS; p++)
        found |= strstr (v.detail[p], cases[i].detail_part) != NULL;
      if (!found)
        fail_msg ("case %zu: no detail contains \"%s\"", i, cases[i].detail_part);
    }
}

/* Zero bounds take the defaults; a clock behind a fact's time (facts noted
   after `now` was read) never underflows into a huge age. */
static void
test_defaults_and_clock (void **state)
{
  (void) state;
  struct health_facts f = healthy ();
  f.acs_connected = false;
  f.acs_changed_ms = T0 + 10 * S;
  struct health_verdict v;
  health_decide (&f, NULL, T0 + 10 * S + HEALTH_DEFAULT_ACS_GRACE_MS, &v);
  assert_false (v.failing[HEALTH_ACS]);
  health_decide (&f, NULL, T0 + 10 * S + HEALTH_DEFAULT_ACS_GRACE_MS + 1, &v);
  assert_true (v.failing[HEALTH_ACS]);
  struct health_bounds zero = { 0 };
  f = healthy ();
  health_decide (&f, &zero, T0 + 99 * S + 3 * HEALTH_DEFAULT_DOCKER_INTERVAL_MS, &v);
  assert_false (v.failing[HEALTH_DOCKER]);
  health_decide (&f, &zero, T0 + 99 * S + 3 * HEALTH_DEFAULT_DOCKER_INTERVAL_MS + 1, &v);
  assert_true (v.failing[HEALTH_DOCKER]);
  f = healthy ();
  f.queue_len = 1;
  f.queue_progress_ms = T0 + 200 * S; /* after now */
  health_decide (&f, &bounds, T0 + 100 * S, &v);
  assert_true (v.healthy);
  assert_string_equal (health_part_name (HEALTH_QUEUE), "queue");
  assert_string_equal (health_part_name (HEALTH_N_PARTS), "?");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_verdict_table),
    cmocka_unit_test (test_defaults_and_clock),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
