/* engine/create_opts.h - a task container as Docker create options (pure).
 *
 * Contract: engine_create_req_build() translates container c of task t
 * (its Docker name already chosen) into docker_create_opts: command
 * (override first), entry point, environment (the task definition's,
 * then ECS_CONTAINER_METADATA_URI(_V4) and ECS_AGENT_URI with the
 * container's endpoint id, and AWS_CONTAINER_CREDENTIALS_RELATIVE_URI when
 * the task has a task role, written over same-named task-definition
 * values as upstream does; AWS_REGION / AWS_DEFAULT_REGION with
 * engine_create_req_build_region), port mappings (no host IP: every
 * address), the container's secrets (task/secrets.h) with the values of
 * the task's resources: type ENVIRONMENT_VARIABLE as variables written
 * over same-named ones (a value the resource lacks is ""), target
 * LOG_DRIVER with a non-empty value as log options, links and volumesFrom by the targets' Docker names, binds for
 * mount points (host path or the empty volume's Docker name), CPU shares
 * (always sent, clamped to 2..262144 as upstream: a cpu of 0 sends 2),
 * memory (MiB -> bytes; 0 = no limit; else at least 6 MiB: upstream's
 * floor is 4 MiB, which today's Docker refuses), labels as given, the
 * log options of engine/log_opts.h (region as below) and the create's
 * Docker API version from dockerConfig.version.
 * A target or volume that cannot be resolved: -1 and *errmsg (malloc'd).
 * The request owns every string and array it points to; free it with
 * engine_create_req_free() (also after an error). */
#ifndef ENGINE_CREATE_OPTS_H
#define ENGINE_CREATE_OPTS_H

#include "docker/docker.h"
#include "engine/log_opts.h"
#include "task/task.h"

/* Docker refuses less memory than this. */
#define ENGINE_MIN_MEMORY_BYTES (6LL * 1024 * 1024)
#define ENGINE_MIN_CPU_SHARES 2
#define ENGINE_MAX_CPU_SHARES 262144
/* Where containers reach the task metadata and credentials endpoints. */
#define ENGINE_TASK_ENDPOINT "http://169.254.170.2"

struct engine_strv
{
  char **v; /* NULL-terminated once non-empty */
  size_t n, cap;
};

struct engine_create_req
{
  struct docker_create_opts opts;
  struct engine_strv env, links, binds, vfrom;
  struct docker_port_spec *ports;
  struct docker_label *labels;
  struct docker_label *log_opts; /* pointing into the task's secret values */
  size_t n_log_opts;
  struct engine_log_opts log; /* the agent's own (engine/log_opts.h) */
  struct docker_label *log_all; /* log, then log_opts: what the create gets */
};

/* labels (n_labels) is taken over by r, whatever the result. */
int engine_create_req_build (const struct task *t, const struct task_container *c,
                             struct docker_label *labels, size_t n_labels,
                             struct engine_create_req *r, char **errmsg);
/* The same, and (region not NULL) AWS_REGION and AWS_DEFAULT_REGION = region
   for a non-internal container when neither name is set by its task
   definition (environment or an env secret) nor by the image's own ENV
   (image_env: the IMAGE_ENV_* bits of its record's ManagedEnvKeys, 0 when
   it sets neither); the engine passes its configured region.  Either name
   set anywhere keeps both out, as upstream. */
int engine_create_req_build_region (const struct task *t, const struct task_container *c,
                                    const char *region, unsigned image_env,
                                    struct docker_label *labels, size_t n_labels,
                                    struct engine_create_req *r, char **errmsg);
/* The same with what the engine knows of its host: region and image_env as
   above, and ipv6_only for the awslogs endpoint (engine/log_opts.h). */
int engine_create_req_build_host (const struct task *t, const struct task_container *c,
                                  const char *region, unsigned image_env, bool ipv6_only,
                                  struct docker_label *labels, size_t n_labels,
                                  struct engine_create_req *r, char **errmsg);
/* Would the agent inject the region into c, as far as the task definition
   tells (region set, not internal, neither name in its environment or env
   secrets)?  The image's ENV is the other half (engine/images.h). */
bool engine_create_region_wanted (const struct task_container *c, const char *region);
void engine_create_req_free (struct engine_create_req *r);

#endif
