/* core/health.c - the health verdict (pure; see health.h). */
#include "core/health.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const part_names[HEALTH_N_PARTS] = {
  [HEALTH_ACS] = "acs",
  [HEALTH_DOCKER] = "docker",
  [HEALTH_CHECKPOINT] = "checkpoint",
  [HEALTH_QUEUE] = "queue",
};

const char *
health_part_name (enum health_part p)
{
  return (unsigned) p < HEALTH_N_PARTS ? part_names[p] : "?";
}

static uint64_t
since (uint64_t now, uint64_t t)
{
  return now > t ? now - t : 0;
}

static void set (struct health_verdict *v, enum health_part p, bool failing, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

/* Record one part's verdict and why; a failing part makes the whole unhealthy. */
static void
set (struct health_verdict *v, enum health_part p, bool failing, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (v->detail[p], sizeof v->detail[p], fmt, ap);
  va_end (ap);
  v->failing[p] = failing;
  if (failing)
    v->healthy = false;
}

static void
decide_acs (const struct health_facts *f, uint64_t grace, uint64_t now, struct health_verdict *v)
{
  if (f->acs_connected)
    {
      set (v, HEALTH_ACS, false, "connected");
      return;
    }
  bool ever = f->acs_changed_ms != 0;
  uint64_t down = since (now, ever ? f->acs_changed_ms : f->started_ms);
  set (v, HEALTH_ACS, down > grace, "%s for %llu s (grace %llu s)",
       ever ? "disconnected" : "not connected since start", (unsigned long long) (down / 1000),
       (unsigned long long) (grace / 1000));
}

static void
decide_docker (const struct health_facts *f, uint64_t max_age, uint64_t now,
               struct health_verdict *v)
{
  if (f->docker_fail_ms != 0 && f->docker_fail_ms >= f->docker_ok_ms)
    {
      set (v, HEALTH_DOCKER, true, "last ping failed %llu s ago: %s",
           (unsigned long long) (since (now, f->docker_fail_ms) / 1000),
           f->docker_error ? f->docker_error : "no answer");
      return;
    }
  if (f->docker_ok_ms == 0)
    {
      uint64_t waited = since (now, f->started_ms);
      set (v, HEALTH_DOCKER, waited > max_age, "no ping answered yet (%llu s since start)",
           (unsigned long long) (waited / 1000));
      return;
    }
  uint64_t age = since (now, f->docker_ok_ms);
  set (v, HEALTH_DOCKER, age > max_age, "last ping answered %llu ms ago (bound %llu ms)",
       (unsigned long long) age, (unsigned long long) max_age);
}

static void
decide_checkpoint (const struct health_facts *f, struct health_verdict *v)
{
  if (!f->checkpoint_enabled)
    set (v, HEALTH_CHECKPOINT, false, "checkpointing disabled");
  else if (f->checkpoint_failing)
    set (v, HEALTH_CHECKPOINT, true, "the last checkpoint write failed (retrying)");
  else if (f->probe_failing)
    set (v, HEALTH_CHECKPOINT, true, "the data directory takes no write: %s",
         f->probe_error ? f->probe_error : "probe failed");
  else
    set (v, HEALTH_CHECKPOINT, false, "writable");
}

static void
decide_queue (const struct health_facts *f, uint64_t stall, uint64_t now, struct health_verdict *v)
{
  if (f->queue_len == 0)
    {
      set (v, HEALTH_QUEUE, false, "empty");
      return;
    }
  uint64_t idle = since (now, f->queue_progress_ms);
  set (v, HEALTH_QUEUE, idle > stall, "%zu state changes queued, none submitted for %llu s (bound %llu s)",
       f->queue_len, (unsigned long long) (idle / 1000), (unsigned long long) (stall / 1000));
}

void
health_decide (const struct health_facts *f, const struct health_bounds *b, uint64_t now_ms,
               struct health_verdict *out)
{
  memset (out, 0, sizeof *out);
  out->healthy = true;
  uint64_t grace = b && b->acs_grace_ms ? b->acs_grace_ms : HEALTH_DEFAULT_ACS_GRACE_MS;
  uint64_t max_age
      = b && b->docker_max_age_ms ? b->docker_max_age_ms : 3 * HEALTH_DEFAULT_DOCKER_INTERVAL_MS;
  uint64_t stall = b && b->queue_stall_ms ? b->queue_stall_ms : HEALTH_DEFAULT_QUEUE_STALL_MS;
  decide_acs (f, grace, now_ms, out);
  decide_docker (f, max_age, now_ms, out);
  decide_checkpoint (f, out);
  decide_queue (f, stall, now_ms, out);
}
