/* core/health.h - whether the agent can do its job: the facts and the verdict.
 *
 * Contract: the agent (src/agent/health.c) gathers a struct health_facts
 * from the modules that know each part (ACS session state, the Docker
 * engine's answers to a periodic ping, the state store's last write, the
 * state-change queue and the submitter's progress); health_decide() is a
 * pure function of those facts, the bounds and the time, so the rules are
 * table-tested without I/O.  The parts:
 *   acs         connected, or disconnected (or never connected since start)
 *               for no longer than acs_grace_ms;
 *   docker      the engine answered the last ping, and that answer is no
 *               older than docker_max_age_ms (the first ping gets that long
 *               from start);
 *   checkpoint  checkpointing is off, or the last checkpoint write worked
 *               (a failing write is retried by the store; the part fails
 *               from the first failure until a write works again) and the
 *               last periodic probe of the data directory (a small file
 *               written and removed every docker interval, state.h
 *               state_probe_writable) worked: a read-only or full data
 *               directory fails the part without waiting for a state
 *               change to write;
 *   queue       the state-change queue is empty, or an entry left it (ECS
 *               acknowledged or rejected it) within queue_stall_ms (the
 *               clock starts when the queue stops being empty).
 * Times are milliseconds of one monotonic clock (the loop's uv_now). */
#ifndef CORE_HEALTH_H
#define CORE_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum health_part
{
  HEALTH_ACS,
  HEALTH_DOCKER,
  HEALTH_CHECKPOINT,
  HEALTH_QUEUE,
  HEALTH_N_PARTS,
};

#define HEALTH_DEFAULT_ACS_GRACE_MS (3ULL * 60 * 1000)
#define HEALTH_DEFAULT_DOCKER_INTERVAL_MS 10000ULL
#define HEALTH_DEFAULT_QUEUE_STALL_MS (5ULL * 60 * 1000)
#define HEALTH_DETAIL_MAX 160

struct health_facts
{
  uint64_t started_ms;       /* when the agent started (grace for first facts) */
  bool acs_connected;
  uint64_t acs_changed_ms;   /* last connect or disconnect; 0 = never connected */
  uint64_t docker_ok_ms;     /* last answered ping; 0 = none yet */
  uint64_t docker_fail_ms;   /* last failed ping; 0 = none */
  const char *docker_error;  /* the last failure's message (borrowed), may be NULL */
  bool checkpoint_enabled;
  bool checkpoint_failing;   /* the last write failed */
  bool probe_failing;        /* the last data directory probe failed */
  const char *probe_error;   /* its message (borrowed), may be NULL */
  size_t queue_len;
  uint64_t queue_progress_ms; /* last entry out, or when the queue became non-empty */
};

struct health_bounds
{
  uint64_t acs_grace_ms;      /* 0 = HEALTH_DEFAULT_ACS_GRACE_MS */
  uint64_t docker_max_age_ms; /* 0 = 3 x HEALTH_DEFAULT_DOCKER_INTERVAL_MS */
  uint64_t queue_stall_ms;    /* 0 = HEALTH_DEFAULT_QUEUE_STALL_MS */
};

struct health_verdict
{
  bool healthy;
  bool failing[HEALTH_N_PARTS];
  char detail[HEALTH_N_PARTS][HEALTH_DETAIL_MAX]; /* why, for each part (ok or not) */
};

/* Lower-case name of a part ("acs", "docker", "checkpoint", "queue"). */
const char *health_part_name (enum health_part p);
void health_decide (const struct health_facts *f, const struct health_bounds *b, uint64_t now_ms,
                    struct health_verdict *out);

#endif
