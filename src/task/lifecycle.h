/* task/lifecycle.h - the container lifecycle members of today's task
 * definitions (dependsOn, startTimeout, stopTimeout) and what the engine
 * keeps about a container's life (first start time, Docker health status).
 *
 * Contract:
 *  - struct task_container_lifecycle lives in every task_container (its
 *    .life member); task_container_lifecycle_free() releases it.
 *  - Decoded from the ACS form and the checkpoint form by
 *    task_json_container_lifecycle() (task/lifecycle_decode.h), written back
 *    by task_json_container_lifecycle_put(); the engine's fields
 *    (StartedAtNs, Health*) only exist in the checkpoint form.
 *  - Health: one record per container (status, since, last output, exit
 *    code), written by the engine from Docker's health_status events and
 *    from every inspect; read by introspection, the task metadata
 *    endpoints and TCS.
 *  - Conditions: START, COMPLETE, SUCCESS, HEALTHY (ACS spelling,
 *    case-insensitive on input).  Timeouts are whole seconds, 0 = none.
 */
#ifndef TASK_LIFECYCLE_H
#define TASK_LIFECYCLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* At most this many dependsOn entries per container (as links). */
#define TASK_DEPENDS_ON_MAX 64
/* Largest startTimeout / stopTimeout accepted, seconds (ECS allows 120;
   anything up to a day is read as given). */
#define TASK_TIMEOUT_MAX_S 86400

enum task_dep_condition
{
  TASK_DEP_START = 0,
  TASK_DEP_COMPLETE,
  TASK_DEP_SUCCESS,
  TASK_DEP_HEALTHY,
};

enum task_health
{
  TASK_HEALTH_UNKNOWN = 0, /* no check, Docker "starting", or not seen yet */
  TASK_HEALTH_HEALTHY,
  TASK_HEALTH_UNHEALTHY,
};

struct task_dependency
{
  char *container_name;
  enum task_dep_condition condition;
};

struct task_container_lifecycle
{
  struct task_dependency *depends_on;
  size_t n_depends_on;
  uint32_t start_timeout_s; /* startTimeout: how long dependents wait on it */
  uint32_t stop_timeout_s;  /* stopTimeout: replaces ECS_CONTAINER_STOP_TIMEOUT */

  /* --- engine fields (checkpoint only) --- */
  int64_t started_at_ns; /* unix ns of the first start seen, 0 = never */
  enum task_health health;
  int64_t health_since_ns; /* unix ns of the last change of health, 0 = never */
  int health_exit_code;    /* last check's exit code, kept only while UNHEALTHY */
  char *health_output;     /* last check's output (at most TASK_HEALTH_OUTPUT_MAX bytes), or NULL */
};

/* Docker's health check output kept per container, bytes (as upstream). */
#define TASK_HEALTH_OUTPUT_MAX 1024

void task_container_lifecycle_free (struct task_container_lifecycle *l);

/* "START" "COMPLETE" "SUCCESS" "HEALTHY". */
const char *task_dep_condition_str (enum task_dep_condition c);
/* Case-insensitive; < 0 when unknown. */
int task_dep_condition_parse (const char *s, enum task_dep_condition *out);
/* "UNKNOWN" "HEALTHY" "UNHEALTHY". */
const char *task_health_str (enum task_health h);
/* Case-insensitive; NULL -> UNKNOWN; < 0 when unknown. */
int task_health_parse (const char *s, enum task_health *out);

/* One observation of a container's Docker health (from an inspect) into
   its record, as upstream keeps it: status and statusSince (now_ns) move
   only when the status changes (a first UNKNOWN leaves since at 0); the output is the last check's, cut to
   TASK_HEALTH_OUTPUT_MAX bytes (back to a UTF-8 boundary; NULL when empty);
   the exit code is kept for UNHEALTHY only (else 0).  True when anything
   changed. */
bool task_health_observe (struct task_container_lifecycle *l, enum task_health st,
                          const char *output, int exit_code, int64_t now_ns);

#endif
