/* engine/log_opts.h - the log options the agent adds to a container's
 * LogConfig.Config after the dockerConfig overlay, as upstream does (pure).
 *
 * Contract: engine_log_options() reads the LogConfig that the container's
 * dockerConfig.hostConfig sets (docker/overlay.h) and fills *l with what
 * the agent adds on top of it, in upstream's order:
 *  - logsAuthStrategy ExecutionRole: awslogs-credentials-endpoint =
 *    "/v2/credentials/<execution credentials id>" (Docker's awslogs driver
 *    asks 169.254.170.2 for it); a task without execution credentials:
 *    -1 and *errmsg (malloc'd) "No execution credentials set for the task".
 *  - driver awslogs: awslogs-endpoint = engine_awslogs_endpoint(region,
 *    ipv6_only) when there is one: in one of the isolated regions upstream
 *    lists (us-iso-east-1, us-iso-west-1, us-isob-east-1, us-isob-west-1,
 *    us-isof-east-1, us-isof-south-1, eu-isoe-west-1, eusc-de-east-1)
 *    "https://logs.<region>.<the partition's DNS suffix>"; else on an
 *    IPv6-only host (config/ipcompat.h) the dual-stack endpoint upstream's
 *    SDK resolver gives, "https://logs.<region>.api.aws" (aws, aws-us-gov)
 *    or "https://logs.<region>.api.amazonwebservices.com.cn" (cn-*).  (The
 *    isolated partitions have no dual-stack endpoint, where upstream's
 *    resolver fails: they keep theirs.)
 *  - option mode "non-blocking" without max-buffer-size: max-buffer-size
 *    "10m".
 * An overlay that does not decode adds nothing (the create refuses it).
 * Keys are static strings, values owned by *l: engine_log_opts_free().
 */
#ifndef ENGINE_LOG_OPTS_H
#define ENGINE_LOG_OPTS_H

#include "docker/docker.h"
#include "task/task.h"

#define ENGINE_LOG_OPTS_MAX 3

struct engine_log_opts
{
  struct docker_label kv[ENGINE_LOG_OPTS_MAX];
  char *owned[ENGINE_LOG_OPTS_MAX];
  size_t n;
};

int engine_log_options (const struct task *t, const struct task_container *c, const char *region,
                        bool ipv6_only, struct engine_log_opts *l, char **errmsg);
void engine_log_opts_free (struct engine_log_opts *l);
/* "https://logs.<region>.<suffix>" for an isolated region, else NULL
   (malloc'd). */
char *engine_awslogs_isolated_endpoint (const char *region);
/* The awslogs-endpoint the agent sets (above), or NULL (malloc'd). */
char *engine_awslogs_endpoint (const char *region, bool ipv6_only);

#endif
