/* core/metrics.h - the agent's Prometheus metrics: a fixed-size registry
 * and its text exposition (format 0.0.4).
 *
 * Contract:
 *  - One process-wide registry of plain numbers, written and read on the
 *    loop thread only (a value measured on a worker thread is handed to the
 *    loop first).  Every family, label value and histogram bucket is fixed
 *    at compile time: recording is an array increment, nothing allocates,
 *    and a scrape walks the arrays once, writing into the response buffer
 *    only (process figures come from getrusage, /proc/self/statm read into
 *    a stack buffer and getdents64 over /proc/self/fd: no heap either).
 *  - Modules record where the event happens with one call
 *    (metrics_count (METRIC_STATE_CHANGES_SUBMITTED, 1),
 *    metrics_docker_call (op, outcome, seconds), metrics_observe (...)).
 *  - Figures the registry cannot see (tasks and containers by status, the
 *    state-change queue's length) are read by the caller at scrape time and
 *    passed in struct metrics_snapshot.
 *  - Exposition: every family has one # HELP and one # TYPE line; label
 *    values are escaped (backslash, double quote, newline); histograms
 *    have cumulative _bucket lines ending with le="+Inf", then _sum and
 *    _count.
 */
#ifndef CORE_METRICS_H
#define CORE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/util.h"

/* Counters and gauges without labels, or with one fixed label value each. */
enum metrics_counter
{
  METRIC_STATE_CHANGES_SUBMITTED,   /* acknowledged by ECS */
  METRIC_STATE_CHANGES_RETRIED,     /* a retriable submission failure */
  METRIC_STATE_CHANGES_REJECTED,    /* a non-retriable rejection (dropped) */
  METRIC_ACS_CONNECTS,              /* ACS sessions established */
  METRIC_ACS_DISCONNECTS,           /* ACS sessions ended */
  METRIC_IMAGE_PULLS_OK,
  METRIC_IMAGE_PULLS_FAILED,
  METRIC_IMAGE_PULL_BYTES,          /* layer bytes downloaded */
  METRIC_CHECKPOINT_WRITES_OK,
  METRIC_CHECKPOINT_WRITES_FAILED,
  METRIC_N_COUNTERS,
};

enum metrics_gauge
{
  METRIC_ACS_CONNECTED, /* 1 while the ACS session is up */
  METRIC_STATS_STREAMS, /* Docker stats streams open (telemetry, streaming mode) */
  METRIC_N_GAUGES,
};

enum metrics_histogram
{
  METRIC_LAUNCH_SECONDS,          /* payload received -> task RUNNING queued for ECS */
  METRIC_CHECKPOINT_FSYNC_SECONDS, /* fsync of one checkpoint write (file + directory) */
  METRIC_CHECKPOINT_WRITE_SECONDS, /* the whole durable write */
  METRIC_N_HISTOGRAMS,
};

/* Docker Engine API operations (label operation=). */
enum metrics_docker_op
{
  METRIC_DOCKER_PING,
  METRIC_DOCKER_VERSION,
  METRIC_DOCKER_INFO,
  METRIC_DOCKER_PULL,
  METRIC_DOCKER_IMAGE_INSPECT,
  METRIC_DOCKER_IMAGE_REMOVE,
  METRIC_DOCKER_CREATE,
  METRIC_DOCKER_START,
  METRIC_DOCKER_STOP,
  METRIC_DOCKER_KILL,
  METRIC_DOCKER_INSPECT,
  METRIC_DOCKER_REMOVE,
  METRIC_DOCKER_LIST,
  METRIC_DOCKER_VOLUME_CREATE,
  METRIC_DOCKER_VOLUME_REMOVE,
  METRIC_DOCKER_STATS,
  METRIC_DOCKER_OTHER,
  METRIC_DOCKER_N_OPS,
};

/* How a Docker call ended (label outcome=). */
enum metrics_outcome
{
  METRIC_OUTCOME_OK,
  METRIC_OUTCOME_NOT_FOUND,
  METRIC_OUTCOME_CONFLICT,
  METRIC_OUTCOME_ERROR,       /* the engine answered with another error */
  METRIC_OUTCOME_UNREACHABLE,
  METRIC_OUTCOME_TIMEOUT,
  METRIC_N_OUTCOMES,
};

/* Upper bounds (seconds) of every histogram's buckets; +Inf is implicit. */
#define METRICS_N_BUCKETS 16

/* Task statuses shown (label status=): PENDING (not yet running), RUNNING, STOPPED. */
enum metrics_status
{
  METRIC_STATUS_PENDING,
  METRIC_STATUS_RUNNING,
  METRIC_STATUS_STOPPED,
  METRIC_N_STATUSES,
};

struct metrics_snapshot
{
  uint64_t tasks[METRIC_N_STATUSES];      /* by known status */
  uint64_t containers[METRIC_N_STATUSES]; /* by known status */
  uint64_t state_changes_queued;
  bool tcs_enabled;   /* a TCS session exists (telemetry on): the tcs series are shown */
  bool tcs_connected;
  uint64_t tcs_connects, tcs_disconnects;
};

void metrics_count (enum metrics_counter c, uint64_t n);
void metrics_set (enum metrics_gauge g, double v);
void metrics_observe (enum metrics_histogram h, double seconds);
void metrics_docker_call (enum metrics_docker_op op, enum metrics_outcome o, double seconds);

/* Current value (tests). */
uint64_t metrics_counter_value (enum metrics_counter c);
/* Forget every recorded value (tests). */
void metrics_reset (void);

/* Append the whole exposition to out. */
void metrics_write (struct sbuf *out, const struct metrics_snapshot *snap);
/* Append v as a Prometheus label value (escaped, without quotes). */
void metrics_escape_label (struct sbuf *out, const char *v);

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
