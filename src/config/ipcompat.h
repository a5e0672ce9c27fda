/* config/ipcompat.h - the instance's IP compatibility (IPv4 and IPv6
 * default routes), as upstream's determineIPCompatibility
 * (agent/config + ecs-agent/utils/net DetermineIPCompatibility).
 *
 * Contract:
 *  - config_ip_compat_parse() (pure) reads the kernel's route tables as
 *    /proc/net/route and /proc/net/ipv6_route show them: a family is
 *    compatible when some route of it is a default route as upstream
 *    defines one, a gateway and every address as destination (0.0.0.0/0,
 *    ::/0).  Lines that do not parse are skipped.
 *  - config_ip_compat_detect() is the thin adapter: reads the two files
 *    below proc_net ("/proc/net" in the agent); no ipv6_route (IPv6
 *    disabled) means no IPv6; an unreadable route file is an error, on
 *    which the caller falls back to IPv4-only as upstream does.
 *  - IPv6-only = IPv6 compatible and not IPv4 compatible: the agent then
 *    gives awslogs containers the dual-stack CloudWatch Logs endpoint
 *    (engine/log_opts.h).
 *  - config_ip_compat_apply() (pure) puts that into the gates: ipv6_only,
 *    and ECS_EXCLUDE_IPV6_PORTBINDING's default false on an IPv6-only host
 *    (upstream's setIPv6PortBindingDefault: there the "::" bindings are the
 *    ones reported); a value given explicitly stays.
 */
#ifndef CONFIG_IPCOMPAT_H
#define CONFIG_IPCOMPAT_H

#include <stdbool.h>
#include "core/error.h"
#include "task/options.h"

struct config_ip_compat
{
  bool ipv4; /* an IPv4 default route with a gateway */
  bool ipv6; /* an IPv6 default route with a gateway */
};

void config_ip_compat_parse (const char *route_v4, const char *route_v6, struct config_ip_compat *out);
int config_ip_compat_detect (const char *proc_net, struct config_ip_compat *out, agent_error_t *err);

static inline bool
config_ip_compat_ipv6_only (const struct config_ip_compat *c)
{
  return c->ipv6 && !c->ipv4;
}

void config_ip_compat_apply (const struct config_ip_compat *c, struct task_option_gates *g);

#endif
