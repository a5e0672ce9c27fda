/* engine/cgroup.h - the per-task cgroup that enforces task-level cpu and
 * memory (ECS_ENABLE_TASK_CPU_MEM_LIMIT), as upstream's task cgroup root.
 *
 * Contract:
 *  - engine_cgroup_spec() (pure): the task's cgroup, named after the task
 *    id (the ARN's last component) by Docker's cgroup driver: cgroupfs
 *    "/ecs/<task id>" (a path below each controller), systemd the slice
 *    "ecstasks-<task id>.slice" as upstream (systemd nests a slice under
 *    the one its name's '-' prefixes name: the folder is
 *    "/ecstasks.slice/ecstasks-<id>.slice", one level more per '-' of an
 *    old dashed task id); its CPU quota (task vCPU x the CFS period,
 *    ECS_CGROUP_CPU_PERIOD, 100 ms by default; at least the kernel's 1 ms;
 *    none when the task has no cpu; then, as upstream's implicit CPU spec,
 *    CPU shares: the sum of its containers' cpu, each at least 2, at most
 *    the kernel's 262144 in all) and memory limit (task MiB in bytes; none
 *    when 0).  Every container of the task gets it as Docker's
 *    CgroupParent (engine_cgroup_apply).
 *  - engine_cgroup_init() makes the tasks' parent, root/ecs (v2, with the
 *    cpu and memory controllers enabled for it) or root/cpu/ecs and
 *    root/memory/ecs (v1): the agent calls it once at start and turns task
 *    limits off when it fails (a read-only /sys/fs/cgroup in a container),
 *    as upstream does unless the key was set explicitly.
 *  - Under the systemd driver the slice is systemd's to make and remove
 *    (engine/slice.h, through D-Bus): nothing below is written for it, and
 *    engine_cgroup_prepare() only computes the spec (and whether root is
 *    cgroup v2).
 *  - engine_cgroup_create() (cgroupfs driver) makes it (and its parent
 *    root/ecs) under root ("/sys/fs/cgroup" in the
 *    agent; a test folder in tests) and writes the limits: cgroup v2 when
 *    root holds cgroup.controllers (root/ecs/<id>: cpu.max or cpu.weight, memory.max, the
 *    cpu and memory controllers enabled for root/ecs), else v1
 *    (root/cpu/ecs/<id>: cpu.cfs_period_us, cpu.cfs_quota_us or cpu.shares;
 *    root/memory/ecs/<id>: memory.limit_in_bytes).  Idempotent: called
 *    before each container create of the task.  A few mkdir/write calls on
 *    cgroupfs, done on the loop.
 *  - engine_cgroup_remove() removes root/<every controller>/ecs/<id> (v1)
 *    or root/ecs/<id> (v2) when the task is cleaned up; a missing one is
 *    fine; a busy one is reported (< 0) and left.
 */
#ifndef ENGINE_CGROUP_H
#define ENGINE_CGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include "core/error.h"
#include "task/task.h"

#define ENGINE_CGROUP_CPU_PERIOD_US 100000

struct engine_cgroup_spec
{
  char path[480];       /* below root (or each v1 controller): "/ecs/<task id>" */
  char parent[160];     /* Docker's CgroupParent: path (cgroupfs) or the slice (systemd) */
  bool systemd;         /* Docker uses the systemd cgroup driver */
  bool v2;              /* set by engine_cgroup_create: root is cgroup v2 */
  int64_t cpu_period_us; /* CFS period */
  int64_t cpu_quota_us; /* 0 = no quota */
  int64_t cpu_shares;   /* without a task cpu: the containers' shares (0 with a quota) */
  int64_t memory_bytes; /* 0 = no limit */
};

/* How the task cgroups are made. */
struct engine_cgroup_cfg
{
  bool systemd;           /* Docker's cgroup driver is systemd (its /info CgroupDriver) */
  int64_t cpu_period_us;  /* CFS period (ECS_CGROUP_CPU_PERIOD); 0 = 100 ms */
};

/* Whether the task's limits fit its cgroup (pure), as upstream's
   buildLinuxMemorySpec: with a task memory, a container whose memory
   (hard limit, MiB) is above it refuses the whole task: -1 and *reason
   (malloc'd) "resource cannot be initialized for task <arn>: cgroup
   resource: unable to build resource spec for task: task memory spec
   builder: container memory limit(<c>) greater than task memory
   limit(<t>)", upstream's ResourceInitError text.  The engine asks it when
   a task is added with task limits on (a cgroup root), before anything is
   created.  Task cpu has no agent-side maximum (upstream dropped its
   10 vCPU one when it started advertising
   ecs.capability.increased-task-cpu-limit): the quota is cpu x period. */
int engine_cgroup_check (const struct task *t, char **reason);

/* cgroup v2's cpu.weight (1..10000) for cgroup v1 CPU shares (2..262144),
   the conversion runc and systemd's CPUWeight use: 1 + (shares - 2) x
   9999 / 262142. */
uint64_t engine_cgroup_cpu_weight (int64_t shares);

/* < 0 (ERR_INVALID) when the ARN has no usable task id. */
int engine_cgroup_spec (const struct task *t, const struct engine_cgroup_cfg *cfg,
                        struct engine_cgroup_spec *out, agent_error_t *err);
int engine_cgroup_init (const char *root, agent_error_t *err);
int engine_cgroup_create (const char *root, struct engine_cgroup_spec *s, agent_error_t *err);
int engine_cgroup_remove (const char *root, const struct engine_cgroup_spec *s, agent_error_t *err);

/* Both steps for a container create: nothing when root is NULL; else the
   spec into *s and (cgroupfs driver) the cgroup made, or -1 with *errmsg
   (malloc'd). */
int engine_cgroup_prepare (const char *root, const struct engine_cgroup_cfg *cfg, const struct task *t,
                           struct engine_cgroup_spec *s, char **errmsg);
/* What a prepared s (nothing when not made) sets in a create: CgroupParent,
   and, with propagate_memory (ECS_PROPAGATE_TASK_MEMORY_LIMIT_CGROUPV2) on
   cgroup v2, the task memory as the limit of a container without one. */
struct docker_create_opts;
void engine_cgroup_apply (const struct engine_cgroup_spec *s, bool propagate_memory,
                          struct docker_create_opts *o);

#endif
