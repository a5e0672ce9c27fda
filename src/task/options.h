/* task/options.h - the container options of today's task definitions, as
 * the ACS payload carries them, and the instance's gates on them.
 *
 * Contract:
 *  - struct task_container_options: per container, the dockerConfig member
 *    kept verbatim (config and hostConfig are JSON object texts, decoded
 *    only when the create body is built: docker/overlay.h),
 *    healthCheckType and logsAuthStrategy.  struct task_options: per task, networkMode, pidMode,
 *    ipcMode, the task-level cpu (vCPU) / memory (MiB) and the payload's
 *    associations (Elastic Inference accelerators: name, type, content
 *    value, containers; served by the task metadata server's legacy
 *    associations routes, tmds/tmds.h).
 *  - Decoded from the ACS form and the checkpoint form by
 *    task_json_container_options() / task_json_task_options()
 *    (task/task_decode.h), written back by task_options_*_to_json().
 *  - struct task_option_gates: what this instance accepts (config keys
 *    ECS_DISABLE_PRIVILEGED, ECS_SELINUX_CAPABLE, ECS_APPARMOR_CAPABLE,
 *    ECS_AVAILABLE_LOGGING_DRIVERS, ECS_DYNAMIC_HOST_PORT_RANGE,
 *    ECS_ENABLE_TASK_CPU_MEM_LIMIT, ECS_DISABLE_DOCKER_HEALTH_CHECK) and
 *    how it reports and sizes containers (ECS_EXCLUDE_IPV6_PORTBINDING,
 *    ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE,
 *    ECS_PROPAGATE_TASK_MEMORY_LIMIT_CGROUPV2, ECS_CGROUP_CPU_PERIOD); the engine refuses a task
 *    asking for more than it accepts (engine/options_check.h).
 */
#ifndef TASK_OPTIONS_H
#define TASK_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/error.h"

/* The logging drivers upstream knows (ECS_AVAILABLE_LOGGING_DRIVERS). */
#define TASK_LOG_DRIVERS_MAX 16

struct task_container_options
{
  bool has_docker_config;
  char *dc_config;      /* dockerConfig.config: JSON object text, NULL = absent */
  char *dc_host_config; /* dockerConfig.hostConfig */
  char *dc_version;     /* dockerConfig.version, e.g. "1.25" */
  char *health_check_type; /* "docker" or NULL */
  char *logs_auth_strategy; /* logsAuthStrategy: "ExecutionRole" or NULL */
};

/* logsAuthStrategy "ExecutionRole" (any case): the log driver gets the
   execution role's credentials endpoint (engine/log_opts.h). */
bool task_options_logs_execution_role (const struct task_container_options *o);

/* healthCheckType "docker" (any case): the container's Docker health is
   tracked and reported (TCS, task metadata, introspection). */
bool task_options_docker_health_check (const struct task_container_options *o);

/* One entry of the payload's associations (ACS Association). */
struct task_association
{
  char *name;
  char *type;     /* e.g. "elastic-inference" */
  char *content;  /* content.value, served as it is */
  char *encoding; /* content.encoding ("identity", "base64"), kept for the checkpoint */
  char **containers; /* names of the task's containers it belongs to; NULL-terminated or NULL */
};

struct task_options
{
  char *network_mode; /* bridge (NULL/"" = bridge), host, none, awsvpc */
  char *pid_mode;     /* NULL, host, task */
  char *ipc_mode;     /* NULL, host, none, task */
  double cpu;         /* task cpu in vCPU (ACS: cpu units / 1024); 0 = none */
  int64_t memory_mib; /* task memory; 0 = none */
  struct task_association *associations;
  size_t n_associations;
};

struct task_option_gates
{
  bool disable_privileged; /* ECS_DISABLE_PRIVILEGED */
  bool selinux_capable;    /* ECS_SELINUX_CAPABLE */
  bool apparmor_capable;   /* ECS_APPARMOR_CAPABLE */
  /* ECS_AVAILABLE_LOGGING_DRIVERS; n = 0 means the default json-file, none */
  char *log_drivers[TASK_LOG_DRIVERS_MAX];
  size_t n_log_drivers;
  uint16_t port_range_start, port_range_end; /* ECS_DYNAMIC_HOST_PORT_RANGE */
  bool task_cpu_mem_limit;     /* ECS_ENABLE_TASK_CPU_MEM_LIMIT (default true) */
  bool task_cpu_mem_limit_set; /* ... given explicitly: no cgroup root is fatal */
  bool disable_health_check;   /* ECS_DISABLE_DOCKER_HEALTH_CHECK: capability not advertised (nothing refused) */
  bool exclude_ipv6_portbinding; /* ECS_EXCLUDE_IPV6_PORTBINDING (default true; false on an IPv6-only host): "::" bindings not reported */
  bool exclude_ipv6_portbinding_set; /* ... given explicitly */
  bool awslogs_execrole;         /* ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE: advertise execution-role-awslogs */
  bool propagate_task_memory;    /* ECS_PROPAGATE_TASK_MEMORY_LIMIT_CGROUPV2 */
  uint32_t cgroup_cpu_period_ms; /* ECS_CGROUP_CPU_PERIOD: task CFS period, 8..100 (default 100) */
  bool ipv6_only;                /* detected at start (config/ipcompat.h), not a key */
};

void task_container_options_free (struct task_container_options *o);
void task_options_free (struct task_options *o);
void task_option_gates_free (struct task_option_gates *g);
/* Deep copy (the engine keeps its own). */
void task_option_gates_copy (struct task_option_gates *dst, const struct task_option_gates *src);
/* Defaults: logging drivers json-file + none, port range 49153-65535,
   task cpu/mem limit on with a 100 ms CPU period, IPv6 bindings
   excluded, everything else off. */
void task_option_gates_default (struct task_option_gates *g);

/* The names upstream accepts in ECS_AVAILABLE_LOGGING_DRIVERS. */
bool task_log_driver_known (const char *name);
/* Whether g lists driver (the default list when none was configured). */
bool task_log_driver_available (const struct task_option_gates *g, const char *driver);
/* "start-end" with 1 <= start <= end <= 65535.  < 0 (ERR_INVALID) otherwise. */
int task_port_range_parse (const char *s, uint16_t *start, uint16_t *end, agent_error_t *err);

#endif
