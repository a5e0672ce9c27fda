/* fuzz_task.c - libFuzzer target for the task parsers and the planner.
 *
 * Input: JSON text.  It is fed to acs_task_from_json() (ACS form) and
 * to state_task_from_json() (checkpoint form).  For every accepted task:
 * the error contract holds (err set iff < 0, ERR_INVALID), the checkpoint
 * codec round-trips (to_json -> from_json -> to_json gives the same JSON),
 * the pure planner runs over it (dependency check, desired propagation,
 * actions, known status, stuck detection) with its invariants (statuses
 * never move backwards under a simulated run), the restart policy's
 * decision runs for each container, and Docker names are computed.  No crash, leak or UB (ASan + UBSan).
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/xmalloc.h"
#include "engine/engine.h"
#include "engine/plan.h"
#include "engine/restart.h"
#include "task/task.h"
#include "acs/task_codec.h"
#include "state/checkpoint_tasks.h"
#include "log/log.h"

static void
check_round_trip (const struct task *t)
{
  json_t *a = state_task_to_json (t);
  char *sa = json_dumps (a, JSON_COMPACT | JSON_SORT_KEYS);
  struct task *r = NULL;
  agent_error_t err = NULL;
  if (state_task_from_json (a, &r, &err) < 0)
    {
      fprintf (stderr, "round trip rejected: %s\n%s\n", error_msg (&err), sa);
      abort ();
    }
  json_t *b = state_task_to_json (r);
  char *sb = json_dumps (b, JSON_COMPACT | JSON_SORT_KEYS);
  if (strcmp (sa, sb) != 0)
    {
      fprintf (stderr, "round trip differs:\n%s\n%s\n", sa, sb);
      abort ();
    }
  free (sa);
  free (sb);
  json_decref (a);
  json_decref (b);
  task_free (r);
}

static void
exercise_plan (struct task *t)
{
  char *reason = NULL;
  int dep = engine_plan_check_dependencies (t, &reason);
  if ((dep < 0) != (reason != NULL))
    abort ();
  free (reason);
  for (size_t i = 0; i < t->n_containers; i++)
    {
      free (engine_docker_container_name (t, &t->containers[i]));
      t->containers[i].known_status = TASK_STATUS_NONE;
      t->containers[i].inflight = TASK_ACTION_NONE;
    }
  for (size_t i = 0; i < t->n_volumes; i++)
    free (engine_docker_volume_name (t, &t->volumes[i]));
  if (dep < 0 || t->n_containers > 64)
    return;
  t->known_status = TASK_STATUS_NONE;
  if (t->desired_status == TASK_STATUS_NONE)
    t->desired_status = TASK_STATUS_RUNNING;
  enum task_action acts[64];
  enum task_status prev[64] = { 0 };
  for (int round = 0; round < 40 && t->known_status != TASK_STATUS_STOPPED; round++)
    {
      engine_plan_update_desired (t);
      engine_plan_actions (t, acts);
      for (size_t i = 0; i < t->n_containers; i++)
        {
          struct task_container *c = &t->containers[i];
          switch (acts[i])
            {
            case TASK_ACTION_PULL: c->known_status = TASK_STATUS_PULLED; break;
            case TASK_ACTION_CREATE:
              c->known_status = TASK_STATUS_CREATED;
              if (!c->docker_id)
                c->docker_id = xstrdup ("fuzz");
              break;
            case TASK_ACTION_START: c->known_status = TASK_STATUS_RUNNING; break;
            case TASK_ACTION_STOP:
            case TASK_ACTION_MARK_STOPPED: c->known_status = TASK_STATUS_STOPPED; break;
            default: break;
            }
          if (c->known_status < prev[i])
            abort ();
          struct engine_restart_obs ro = { .has_exit_code = true, .exit_code = round - 1,
                                           .started_at_ns = round };
          if ((unsigned) engine_restart_decide (t, i, &ro, (int64_t) round * 1000000000LL)
              > ENGINE_RESTART_REDO)
            abort ();
          prev[i] = c->known_status;
        }
      enum task_status k = engine_plan_task_known (t);
      if (k < t->known_status)
        abort ();
      t->known_status = k;
      switch (engine_plan_stuck (t))
        {
        case ENGINE_PLAN_STUCK_STOP_TASK: t->desired_status = TASK_STATUS_STOPPED; break;
        case ENGINE_PLAN_STUCK_FORCE_STOP: t->known_status = TASK_STATUS_STOPPED; break;
        default: break;
        }
      if (t->known_status == TASK_STATUS_RUNNING)
        t->desired_status = TASK_STATUS_STOPPED;
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static int init;
  if (!init)
    {
      log_set_level (LOG_NONE);
      init = 1;
    }
  json_t *j = json_loadb ((const char *) data, size, 0, NULL);
  if (!j)
    return 0;
  for (int form = 0; form < 2; form++)
    {
      struct task *t = NULL;
      agent_error_t err = NULL;
      int rc = form == 0 ? acs_task_from_json (j, &t, &err) : state_task_from_json (j, &t, &err);
      if ((rc < 0) != (t == NULL) || (rc < 0) != (err != NULL))
        abort ();
      if (rc < 0)
        {
          if (error_kind (&err) != ERR_INVALID || !error_msg (&err)[0])
            abort ();
          error_free (&err);
          continue;
        }
      check_round_trip (t);
      exercise_plan (t);
      task_free (t);
    }
  json_decref (j);
  return 0;
}
