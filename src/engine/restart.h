/* engine/restart.h - the restart policy's decision (restartPolicy): should
 * a container seen STOPPED be started again in place?  Pure: no I/O, no
 * clock (the caller passes now), no allocation.
 *
 * Contract:
 *  - engine_restart_decide() is asked when a STOPPED change of a container
 *    known RUNNING is about to be recorded (a die event, an inspect).
 *  - RESTART: the caller adds one to the tracker's count, sets its
 *    lastRestartAt to now, saves the checkpoint, and only then starts the
 *    same Docker container; the STOPPED change is dropped when the start
 *    succeeds and recorded as a normal stop when it fails.
 *  - REDO: the tracker records a restart that this run of the container
 *    predates (the agent stopped after saving the restart and before
 *    Docker started it): start it again without counting it twice.
 *  - NO: the STOPPED change is recorded as usual.
 */
#ifndef ENGINE_RESTART_H
#define ENGINE_RESTART_H

#include <stdbool.h>
#include <stdint.h>
#include "task/task.h"

enum engine_restart_verdict
{
  ENGINE_RESTART_NO = 0,
  ENGINE_RESTART_YES,
  ENGINE_RESTART_REDO,
};

/* What the STOPPED change says about the container. */
struct engine_restart_obs
{
  bool has_exit_code; /* from the inspect, else the die event's exitCode */
  int exit_code;
  int64_t started_at_ns; /* Docker's StartedAt of the run that ended, 0 = unknown */
};

/* Container ci of t was observed STOPPED (o) at unix ns now. */
enum engine_restart_verdict engine_restart_decide (const struct task *t, size_t ci,
                                                   const struct engine_restart_obs *o, int64_t now_ns);
/* "no", "restart", "redo" (log lines, tests). */
const char *engine_restart_verdict_str (enum engine_restart_verdict v);

#endif
