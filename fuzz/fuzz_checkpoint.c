/* fuzz_checkpoint.c - libFuzzer target for the checkpoint loader
 * (state_load_buffer: upstream versions 1/2 and our version 100, the
 * TaskEngine section, the state-change queue).
 *
 * Input: the bytes of an ecs_agent_data.json.  Checked: the error contract
 * (< 0 iff err set, and then ERR_TERMINAL naming the file, with nothing half
 * loaded), and for an accepted file that the tasks loaded from the
 * TaskEngine section round-trip through the checkpoint codec, that queued
 * changes have increasing ids and are durable.  No crash, leak or UB.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/error.h"
#include "task/task.h"
#include "state/checkpoint_tasks.h"
#include "log/log.h"
#include "state/state.h"

static uv_loop_t loop;
static state_store_t *store;

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (!store)
    {
      log_set_level (LOG_NONE);
      uv_loop_init (&loop);
      store = state_store_new (&loop, NULL, false, NULL);
    }
  agent_error_t err = NULL;
  int rc = state_load_buffer (store, (const char *) data, size, "fuzz.json", &err);
  if ((rc < 0) != (err != NULL))
    abort ();
  if (rc < 0)
    {
      if (error_kind (&err) != ERR_TERMINAL || !strstr (error_msg (&err), "fuzz.json"))
        abort ();
      if (state_cluster (store) || state_change_count (store) || state_loaded_task_count (store))
        abort ();
      error_free (&err);
      return 0;
    }
  uint64_t last = 0;
  for (size_t i = 0; i < state_change_count (store); i++)
    {
      const struct state_change *c = state_change_peek (store, i);
      if (c->id <= last || !c->durable || !c->task_arn || !c->status)
        abort ();
      last = c->id;
    }
  struct task **tasks = NULL;
  size_t n = 0;
  state_take_tasks (store, &tasks, &n);
  for (size_t i = 0; i < n; i++)
    {
      json_t *j = state_task_to_json (tasks[i]);
      struct task *r = NULL;
      if (state_task_from_json (j, &r, &err) < 0)
        abort (); /* what we write, we read back */
      task_free (r);
      json_decref (j);
      task_free (tasks[i]);
    }
  free (tasks);
  return 0;
}
