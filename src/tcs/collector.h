/* tcs/collector.h - what telemetry reports: container samples from Docker,
 * publish rounds, instance status.
 *
 * Contract:
 *  - Tracked containers: those of the engine's tasks (non-empty ARN and
 *    family, task not known STOPPED) whose container is known RUNNING and
 *    has a Docker id.  How they are sampled (tcs_sampler_mode_of):
 *    - streaming (default): each tracked container has one stats stream
 *      (docker/stats.h docker_stats_stream_*: ~1 sample/s, abandoned after
 *      18 s of silence, reopened with back-off 1 s -> 10 s); the tracked
 *      set is reconciled every reconcile_interval_ms (1 s), so a stream
 *      opens within that of the container running and closes within that
 *      of it stopping (or its task leaving, or tcs_collector_free).  A
 *      zero-time sample (a stopped container's, Docker keeps the stream
 *      open) is not used.  Queues hold TCS_QUEUE_MAX (80) samples.
 *    - polling (poll_metrics, and always on Podman: its stream writes a
 *      sample every 5 s, not every second (4.3.1), so the 18 s silence and
 *      ~1/s contract do not hold): every poll_interval_ms (after a random
 *      first delay up to 80 % of it) each tracked container gets ONE
 *      one-shot stats call (never two at a time for one container); queues
 *      sized for publish-interval / poll-interval x 4 samples.  No transfer
 *      stays open between polls.
 *    - none with disable_metrics.
 *    A sample is pushed into the container's queue (tcs/metrics.h) unless
 *    upstream's rules refuse it (tcs_sample_reject: logged once per
 *    container); a failing poll / stream is logged when the condition
 *    changes (failing, back).  Containers that are no longer tracked are
 *    dropped with their queue.
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

enum tcs_sampler_mode
{
  TCS_SAMPLER_NONE,   /* disable_metrics */
  TCS_SAMPLER_POLL,   /* one-shot polls */
  TCS_SAMPLER_STREAM, /* one stats stream per container */
};
/* Pure: the sampling of the configuration (see the contract). */
enum tcs_sampler_mode tcs_sampler_mode_of (bool disable_metrics, bool poll_metrics, bool podman);
/* Pure: a tracked container's queue size in that mode. */
size_t tcs_sampler_queue_cap (enum tcs_sampler_mode mode, uint64_t publish_ms, uint64_t poll_ms);

struct tcs_collector_options
{
  engine_t *engine;
  docker_client_t *docker;
  bool disable_metrics;
  bool poll_metrics;            /* ECS_POLL_METRICS: poll instead of streams */
  uint64_t poll_interval_ms;    /* 0 = 10 s */
  uint64_t reconcile_interval_ms; /* streaming: 0 = 1 s */
  uint64_t stream_silence_ms;   /* streaming: 0 = 18 s (tests shorten it) */
  uint64_t publish_interval_ms; /* 0 = 20 s: sizes the sample queues */
  unsigned ncpu;                /* 0 = CPUs in this process' affinity mask */
  bool cgroup_v1;               /* the host's cgroups are v1 (a sample needs percpu_usage) */
  const char *cluster;
  const char *container_instance_arn;
};

struct tcs_collector_stats
{
  uint64_t polls;          /* stats calls made */
  uint64_t streams_opened; /* stats streams started (one per container tracked) */
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
