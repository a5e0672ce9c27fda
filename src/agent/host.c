/* agent/host.c - what the agent learns of its host before it runs tasks:
 * whether task cgroups can be made, and the instance's IP compatibility
 * (see agent_internal.h). */
#include "agent/agent.h"
#include "config/ipcompat.h"
#include "core/error.h"
#include "engine/cgroup.h"
#include "log/log.h"
#include "agent/agent_internal.h"

#define MOD "agent"

/* Task-level cpu and memory limits need the tasks' parent cgroup: when it
   cannot be made (a read-only /sys/fs/cgroup in a container, no cpu or
   memory controller), the limits are turned off with a warning and the
   capability is not advertised, as upstream does; only an explicit
   ECS_ENABLE_TASK_CPU_MEM_LIMIT=true makes that fatal (terminal). */
int
agent_task_cgroups_init (struct agent *a, agent_error_t *err)
{
  a->gates = a->cfg->gates;
  if (!a->gates.task_cpu_mem_limit)
    return 0;
  agent_error_t cerr = NULL;
  if (engine_cgroup_init (a->cfg->cgroup_path, &cerr) == 0)
    return 0;
  if (a->gates.task_cpu_mem_limit_set)
    {
      error_move (err, &cerr);
      error_wrap (err, "ECS_ENABLE_TASK_CPU_MEM_LIMIT is true but the task cgroup root cannot be made");
      (*err)->kind = ERR_TERMINAL;
      return -1;
    }
  log_warn (MOD, "task cpu and memory limits disabled: %s", error_msg (&cerr));
  error_free (&cerr);
  a->gates.task_cpu_mem_limit = false;
  return 0;
}

/* The instance's IP compatibility from its default routes, as upstream's
   config determineIPCompatibility: unreadable routes fall back to
   IPv4-only with a warning.  IPv6-only gives awslogs containers the
   dual-stack CloudWatch Logs endpoint (engine/log_opts.h). */
void
agent_ip_compat_init (struct agent *a)
{
  struct config_ip_compat ipc;
  agent_error_t ierr = NULL;
  if (config_ip_compat_detect ("/proc/net", &ipc, &ierr) < 0)
    {
      log_warn (MOD, "instance IP compatibility unknown, taken as IPv4-only: %s", error_msg (&ierr));
      error_free (&ierr);
      return;
    }
  config_ip_compat_apply (&ipc, &a->gates);
  log_info (MOD, "instance IP compatibility: IPv4 %s, IPv6 %s", ipc.ipv4 ? "yes" : "no", ipc.ipv6 ? "yes" : "no");
}
