/* engine/options_check.h - whether this instance runs what a task asks for
 * (pure).
 *
 * Contract: engine_options_check() looks at every container option of task
 * t (task/options.h) against the instance's gates and returns 0, or -1 with
 * *reason (malloc'd, "<ErrorName>: <message>") for the first thing refused.
 * The engine calls it when a task is added, before anything of the task is
 * created, and stops a refused task with that reason.  Refused:
 *  - a dockerConfig fragment Docker's types do not decode (syntax, type,
 *    range: DockerClientConfigError / HostConfigError as upstream names them);
 *  - healthCheckType "docker" without a health check (with
 *    ECS_DISABLE_DOCKER_HEALTH_CHECK health checks are still accepted and
 *    tracked: only the capability attribute goes, as upstream);
 *  - Privileged with ECS_DISABLE_PRIVILEGED; an SELinux (label) or AppArmor
 *    security option without ECS_SELINUX_CAPABLE / ECS_APPARMOR_CAPABLE; a
 *    log driver not in ECS_AVAILABLE_LOGGING_DRIVERS;
 *  - an unknown ulimit name, negative sizes or limits, soft above hard,
 *    device permissions outside "rwm";
 *  - network mode other than bridge/host/none (awsvpc needs ENIs), a
 *    hostConfig NetworkMode that contradicts the task's, pidMode/ipcMode
 *    "task" (this agent has no namespace pause container) or unknown;
 *  - a containerPortRange wider than ECS_DYNAMIC_HOST_PORT_RANGE, or with a
 *    hostPort.
 */
#ifndef ENGINE_OPTIONS_CHECK_H
#define ENGINE_OPTIONS_CHECK_H

#include "task/options.h"
#include "task/task.h"

int engine_options_check (const struct task *t, const struct task_option_gates *g, char **reason);

/* The task's network mode with the default applied: "bridge", "host",
   "none" or what was given. */
const char *engine_task_network_mode (const struct task *t);

#endif
