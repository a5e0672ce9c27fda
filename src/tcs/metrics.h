/* tcs/metrics.h - telemetry samples and statistic sets (pure, no I/O).
 *
 * Contract:
 *  - A tcs_queue holds the latest samples of one container (bounded ring;
 *    the oldest is dropped when full).  tcs_queue_push turns a Docker stats
 *    sample into the values upstream's stats engine computes: cpuUsage =
 *    total_usage / ncpu (integer division), CPU percent = 100 * d(cpuUsage)
 *    / d(read ns) against the previous sample (NaN for the first one; the
 *    previous value when read did not advance), memory in MiB (floor of
 *    docker_stats_memory_bytes), cumulative storage read/write bytes, the
 *    network counters summed over the interfaces and the rx/tx byte rates
 *    (1e9 * d(bytes) / d(read ns), NaN for the first sample, when read did
 *    not advance or a counter went back).  A sample with ncpu 0 is refused
 *    (tcs_sample_reject gives the whole rule).
 *  - A set (tcs_queue_cpu_set & co) is computed over the samples NOT YET
 *    SENT, and exists only when the queue holds >= 2 samples (sent or not)
 *    and >= 1 unsent non-NaN value.  tcs_queue_mark_sent marks them all.
 *  - ULong sets clamp each of min/max/sum at 2^63-1, the rest in overflow*.
 */
#ifndef TCS_METRICS_H
#define TCS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "docker/stats.h"

#define TCS_QUEUE_MAX 80

struct tcs_sample
{
  int64_t read_ns;
  uint64_t cpu_usage;  /* ns, total_usage / ncpu */
  double cpu_percent;  /* NaN for the first sample */
  uint64_t mem_mib;
  uint64_t storage_read, storage_write;
  bool has_net;                  /* Docker's stats had "networks" */
  struct docker_net_stats net;   /* summed over the interfaces */
  double rx_bps, tx_bps;         /* bytes/s vs the previous sample; NaN when none */
  bool sent;
};

struct tcs_queue
{
  struct tcs_sample s[TCS_QUEUE_MAX];
  size_t cap;   /* <= TCS_QUEUE_MAX; 0 = TCS_QUEUE_MAX */
  size_t start; /* index of the oldest */
  size_t n;
};

/* CWStatsSet: min, max, sum of double values, sampleCount. */
struct tcs_cw_set
{
  double min, max, sum;
  int64_t count;
};



/* ULongStatsSet. */
struct tcs_ulong_set
{
  uint64_t min, max, sum;
  uint64_t overflow_min, overflow_max, overflow_sum;
  int64_t count;
};

/* networkStatsSet: ULong sets of the cumulative counters, UDouble CW sets
   of the byte rates (rate_ok false when no unsent sample has a rate). */
struct tcs_net_sets
{
  struct tcs_ulong_set rx_bytes, rx_packets, rx_errors, rx_dropped;
  struct tcs_ulong_set tx_bytes, tx_packets, tx_errors, tx_dropped;
  struct tcs_cw_set rx_bps, tx_bps;
  bool rate_ok;
};

/* Upstream's rules for a Docker sample it does not use (the stream is
   restarted there; here the sample is dropped): ncpu 0, cgroup v1 with no
   percpu_usage, or a container with a restart policy whose sample has the
   zero "read" time (Docker answers so while the container restarts).
   Returns why, or NULL when the sample is good. */
const char *tcs_sample_reject (const struct docker_stats *st, unsigned ncpu, bool cgroup_v1,
                               bool restart_policy);

void tcs_queue_init (struct tcs_queue *q, size_t cap);
/* < 0 (sample refused) when ncpu is 0. */
int tcs_queue_push (struct tcs_queue *q, const struct docker_stats *st, unsigned ncpu);
/* The i-th sample, oldest first. */
const struct tcs_sample *tcs_queue_at (const struct tcs_queue *q, size_t i);
size_t tcs_queue_unsent (const struct tcs_queue *q);
bool tcs_queue_cpu_set (const struct tcs_queue *q, struct tcs_cw_set *out);
bool tcs_queue_mem_set (const struct tcs_queue *q, struct tcs_cw_set *out);
bool tcs_queue_storage_sets (const struct tcs_queue *q, struct tcs_ulong_set *read,
                             struct tcs_ulong_set *write);
/* Over the unsent samples with network counters (>= 2 samples queued). */
bool tcs_queue_network_sets (const struct tcs_queue *q, struct tcs_net_sets *out);
void tcs_queue_mark_sent (struct tcs_queue *q);

/* A ULong set over raw values (exposed for tests). */
void tcs_ulong_set_of (const uint64_t *v, size_t n, struct tcs_ulong_set *out);

#endif
