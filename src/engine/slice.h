/* engine/slice.h - a task's cgroup when Docker uses the systemd cgroup
 * driver: the slice "ecstasks-<task id>.slice" (engine/cgroup.h names it)
 * is made by systemd through its D-Bus API (systemd/systemd.h), as
 * upstream's task cgroup resource does through containerd's cgroups
 * library (NewSystemd: StartTransientUnit; DeleteSystemd: StopUnit), never
 * by writing into /sys/fs/cgroup.
 *
 * Contract:
 *  - engine_slice_props() (pure) lists the unit's properties exactly as the
 *    library builds them for a slice without a pid: Description "cgroup
 *    <unit>", DefaultDependencies=no, MemoryAccounting, CPUAccounting and
 *    IOAccounting yes, Wants=system.slice; MemoryMax (task memory in
 *    bytes) when the task has memory; with task cpu, CPUQuotaPeriodUSec
 *    (the CFS period, only when systemd's Version is >= 242) and
 *    CPUQuotaPerSecUSec (quota x 1 s / period, rounded up to 10 ms);
 *    without, CPUWeight from the spec's CPU shares (engine/cgroup.h:
 *    the containers' cpu, each at least 2, summed) through
 *    engine_cgroup_cpu_weight, as upstream's resource spec asks.  No Delegate: the library sends it only when its
 *    canDelegate is set, which it never is (and systemd refuses it on
 *    slices).
 *  - The slice is started once a container of the task is still to be
 *    created and the task is not stopping (engine_slice_step, run by the
 *    task's step before its actions): the Manager's Version is read first
 *    (once per engine), then StartTransientUnit; creates wait for the
 *    answer (the planner's gate: a PENDING or FAILED slice).  An existing
 *    unit is fine (agent restart).
 *  - A failure (D-Bus error, a job that is not "done", no answer in 30 s,
 *    no connection) is logged with its D-Bus error and stops the task with
 *    upstream's reason ENGINE_SLICE_REASON before any container is created;
 *    a failed job's unit is reset (ResetFailedUnit) as the library does, so
 *    nothing is left behind.
 *  - At cleanup the slice is stopped (StopUnit); a unit already gone is
 *    fine.  The reply is only logged: the task is dropped meanwhile.
 */
#ifndef ENGINE_SLICE_H
#define ENGINE_SLICE_H

#include <stddef.h>
#include "engine/cgroup.h"
#include "systemd/systemd.h"
#include "task/task.h"

#define ENGINE_SLICE_REASON "CgroupError: Agent could not create task's platform resources"
#define ENGINE_SLICE_WANTS "system.slice"
#define ENGINE_SLICE_MAX_PROPS 12
/* systemd knows CPUQuotaPeriodUSec since this version */
#define ENGINE_SLICE_PERIOD_VERSION 242
#define ENGINE_SYSTEMD_VERSION_UNASKED (-2)

struct engine_slice_props
{
  struct systemd_prop v[ENGINE_SLICE_MAX_PROPS];
  size_t n;
  char description[200]; /* v[] points here: the struct is not moved once filled */
};

/* s: the task's spec (engine_cgroup_spec, systemd driver); version: the
   Manager's Version, -1 when unknown. */
void engine_slice_props (const struct engine_cgroup_spec *s, int version,
                         struct engine_slice_props *out);

/* Pure: the planner's gate for creates. */
static inline bool
engine_slice_ready (const struct task *t)
{
  return t->slice_res != TASK_RES_PENDING && t->slice_res != TASK_RES_FAILED;
}

#endif
