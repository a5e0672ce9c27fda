/* tcs/collector.h - what telemetry reports: container samples from Docker,
 * publish rounds, instance status.
 *
 * Contract:
 *  - Tracked containers: those of the engine's tasks (non-empty ARN and
 *    family, task not known STOPPED) whose container is known RUNNING and
 *    has a Docker id.  Every poll_interval_ms (after a random first delay
 *    up to 80 % of it) each tracked container gets ONE one-shot stats call
 *    (docker/stats.h; never two at a time for one container), its sample
 *    pushed into the container's queue (tcs/metrics.h, sized for
 *    publish-interval / poll-interval x 4 samples) unless upstream's
 *    rules refuse it (tcs_sample_reject: logged once per container).  Containers that are
 *    no longer tracked are dropped with their queue.  No transfer stays
 *    open between polls.  With disable_metrics no stats are sampled.
 *  - tcs_collector_publish builds one round as upstream's stats engine:
 *    no tracked container -> one idle PublishMetricsRequest; else the
 *    CPU/memory (and storage; network for bridge-mode tasks, from Docker's
 *    per-container network counters) sets of each container that has both
 *    CPU and memory sets, by task, in batches (tcs/codec.h); tracked
 *    containers but no set -> nothing; after a non-empty round every
 *    sample is marked sent.  A pending instance status (see below) is
 *    queued with the round.
 *  - Health: each round publishes one PublishHealthRequest per 10 tasks
 *    with running containers (not desired STOPPED) whose task definition
 *    sets healthCheckType "docker", also with disable_metrics: status and
 *    statusSince from the container's health record, the one the engine
 *    keeps from Docker's events and inspects (task/lifecycle.h; UNKNOWN and
 *    statusSince now until Docker reports a status); nothing when no
 *    container has a health check.  No Docker call of its own for health.
 *  - tcs_collector_instance_check (on each ACS heartbeat) pings Docker:
 *    OK or IMPAIRED (INITIALIZING before the first run); the result waits
 *    to be published with the next round.
 *  - tcs_collector_free cancels calls in flight and frees once its timer
 *    closed (run the loop afterwards).
 */
#ifndef TCS_COLLECTOR_H
#define TCS_COLLECTOR_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>
#include "core/error.h"
#include "docker/docker.h"
#include "engine/engine.h"
#include "tcs/codec.h"
#include "tcs/session.h"

typedef struct tcs_collector tcs_collector_t;

struct tcs_collector_options
{
  engine_t *engine;
  docker_client_t *docker;
  bool disable_metrics;
  uint64_t poll_interval_ms;    /* 0 = 10 s */
  uint64_t publish_interval_ms; /* 0 = 20 s: sizes the sample queues */
  unsigned ncpu;                /* 0 = CPUs in this process' affinity mask */
  bool cgroup_v1;               /* the host's cgroups are v1 (a sample needs percpu_usage) */
  const char *cluster;
  const char *container_instance_arn;
};

struct tcs_collector_stats
{
  uint64_t polls;          /* stats calls made */
  uint64_t samples;        /* samples queued */
  uint64_t poll_errors;
  uint64_t rejected;       /* samples refused (tcs_sample_reject) */
  uint64_t tracked;        /* containers tracked now */
  uint64_t rounds_sent;    /* non-idle rounds */
  uint64_t idle_rounds;
};

tcs_collector_t *tcs_collector_new (uv_loop_t *loop, const struct tcs_collector_options *o,
                                    agent_error_t *err);
void tcs_collector_start (tcs_collector_t *c);
void tcs_collector_free (tcs_collector_t *c);
void tcs_collector_publish (tcs_collector_t *c, tcs_session_t *s);
void tcs_collector_instance_check (tcs_collector_t *c);
const struct tcs_collector_stats *tcs_collector_get_stats (const tcs_collector_t *c);
/* The health entries of one task as the round publishes them (above);
   h->containers is malloc'd (free it), NULL when false (none). */
bool tcs_task_health_of (const struct task *task, int64_t now_ms, struct tcs_task_health *h);

#endif
