/* agent/health.c - the facts behind GET /v1/health (core/health.h decides).
 *
 * The agent sees every part, so it gathers them here without making the
 * modules depend on each other: the ACS session's connect and disconnect
 * callbacks (services.c) note the session state; a timer pings the Docker
 * engine every ECS_HEALTH_DOCKER_INTERVAL (10 s) and notes when it last
 * answered; the state store says whether its last write worked
 * (state_store_healthy), and the same timer probes that the data directory
 * takes a write (state_probe_writable: one tiny file written, synced and
 * removed off the loop per interval, so a read-only or full data directory
 * shows without waiting for a checkpoint write); the state-change queue's length and the
 * submitter's counters say whether changes leave the queue.  A change of a
 * part's condition is logged once (failing / recovered), not every ping.
 *
 * Under systemd (NOTIFY_SOCKET set: the unit's Type=notify) the same
 * verdict drives the service notifications (core/sdnotify.h): READY=1 once
 * the agent is healthy and the engine answered a ping, then, when the unit
 * sets WatchdogSec (WATCHDOG_USEC), WATCHDOG=1 every half interval ONLY
 * while the verdict is healthy: an agent that cannot do its job stops
 * feeding the watchdog and systemd restarts it.  STATUS= names the failing
 * parts when the verdict changes; STOPPING=1 at shutdown. */
#include "agent/agent_internal.h"
#include "core/sdnotify.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MOD "health"

struct agent_health
{
  struct agent *a;
  uv_timer_t timer;
  docker_op_t *ping;
  state_probe_t *probe;
  char *probe_error;
  struct health_facts facts;
  struct health_bounds bounds;
  uint64_t interval_ms;
  char *docker_error;
  uint64_t queue_out;  /* submitted + dropped at the last look */
  bool last_failing[HEALTH_N_PARTS];
  /* systemd notifications */
  struct sdnotify notify;
  uv_timer_t notify_timer;
  uint64_t watchdog_ms; /* WATCHDOG_USEC / 1000; 0 = no watchdog */
  bool ready_sent, notify_failing, last_healthy;
};

static void agent_health_observe (struct agent_health *h, struct health_verdict *v);

static void
agent_health_ping_cb (agent_error_t err, void *data)
{
  struct agent_health *h = data;
  h->ping = NULL;
  uint64_t now = uv_now (h->a->loop);
  if (err)
    {
      h->facts.docker_fail_ms = now;
      free (h->docker_error);
      h->docker_error = xstrdup (error_msg (&err));
    }
  else
    h->facts.docker_ok_ms = now;
  struct health_verdict v;
  agent_health_observe (h, &v);
}

static void
agent_health_probe_cb (agent_error_t err, void *data)
{
  struct agent_health *h = data;
  h->probe = NULL;
  free (h->probe_error);
  h->probe_error = err ? xstrdup (error_msg (&err)) : NULL;
  h->facts.probe_failing = err != NULL;
  struct health_verdict v;
  agent_health_observe (h, &v);
}

static void
agent_health_timer_cb (uv_timer_t *t)
{
  struct agent_health *h = t->data;
  if (h->ping == NULL && h->a->docker)
    h->ping = docker_ping (h->a->docker, agent_health_ping_cb, h);
  if (h->probe == NULL && h->a->state)
    h->probe = state_probe_writable (h->a->state, agent_health_probe_cb, h);
}

/* One notification; a failure is logged once until one works again. */
static void
agent_health_notify (struct agent_health *h, const char *msg)
{
  agent_error_t err = NULL;
  if (sdnotify_send (&h->notify, msg, &err) < 0)
    {
      if (!h->notify_failing)
        log_warn (MOD, "systemd notification failed: %s", error_msg (&err));
      h->notify_failing = true;
      error_free (&err);
      return;
    }
  if (h->notify_failing)
    log_info (MOD, "systemd notifications work again");
  h->notify_failing = false;
}

static void
agent_health_notify_timer_cb (uv_timer_t *t)
{
  struct agent_health *h = t->data;
  struct health_verdict v;
  agent_health_observe (h, &v);
  /* READY only once the engine really answered (the verdict alone gives
     the first ping its grace) */
  bool healthy = v.healthy && h->facts.docker_ok_ms != 0;
  if (healthy != h->last_healthy)
    {
      char status[HEALTH_N_PARTS * 16 + 64] = "STATUS=healthy";
      if (!healthy)
        {
          size_t n = (size_t) snprintf (status, sizeof status, "STATUS=unhealthy:");
          for (int p = 0; p < HEALTH_N_PARTS && n < sizeof status; p++)
            if (v.failing[p])
              n += (size_t) snprintf (status + n, sizeof status - n, " %s", health_part_name (p));
          if (v.healthy && n < sizeof status)
            snprintf (status + n, sizeof status - n, " waiting for the engine's first answer");
        }
      agent_health_notify (h, status);
      h->last_healthy = healthy;
    }
  if (!healthy)
    return;
  if (!h->ready_sent)
    {
      agent_health_notify (h, "READY=1\nSTATUS=healthy");
      h->ready_sent = !h->notify_failing;
      if (h->ready_sent)
        log_info (MOD, "told systemd the agent is ready");
      if (h->ready_sent && h->watchdog_ms == 0)
        uv_timer_stop (&h->notify_timer); /* nothing more to say until STOPPING */
      return;
    }
  if (h->watchdog_ms)
    agent_health_notify (h, "WATCHDOG=1");
}

/* NOTIFY_SOCKET (and WATCHDOG_USEC) from systemd: set up the notifier. */
static void
agent_health_notify_start (struct agent_health *h)
{
  h->notify.fd = -1;
  uv_timer_init (h->a->loop, &h->notify_timer);
  h->notify_timer.data = h;
  const char *sock = getenv ("NOTIFY_SOCKET");
  if (sock == NULL || *sock == '\0')
    return;
  agent_error_t err = NULL;
  if (sdnotify_open (&h->notify, sock, &err) < 0)
    {
      log_warn (MOD, "systemd notifications off: %s", error_msg (&err));
      error_free (&err);
      return;
    }
  uint64_t usec = sdnotify_watchdog_usec (getenv ("WATCHDOG_USEC"), getenv ("WATCHDOG_PID"),
                                          getpid ());
  h->watchdog_ms = usec / 1000;
  if (usec && h->watchdog_ms < 2)
    h->watchdog_ms = 2;
  /* feed the watchdog every half interval (sd_watchdog_enabled(3)); before
     READY without a watchdog, look every second */
  uint64_t every = h->watchdog_ms ? h->watchdog_ms / 2 : 1000;
  if (h->watchdog_ms)
    log_info (MOD, "systemd watchdog: %llu ms, fed every %llu ms while healthy",
              (unsigned long long) h->watchdog_ms, (unsigned long long) every);
  else
    log_info (MOD, "systemd notifications on (no watchdog)");
  uv_timer_start (&h->notify_timer, agent_health_notify_timer_cb, every, every);
  uv_unref ((uv_handle_t *) &h->notify_timer);
}

void
agent_health_start (struct agent *a)
{
  struct agent_health *h = xcalloc (1, sizeof *h);
  h->a = a;
  h->interval_ms = a->cfg->health_docker_interval_ms ? a->cfg->health_docker_interval_ms
                                                     : HEALTH_DEFAULT_DOCKER_INTERVAL_MS;
  h->bounds.acs_grace_ms = a->cfg->health_acs_grace_ms;
  h->bounds.docker_max_age_ms = 3 * h->interval_ms;
  h->bounds.queue_stall_ms = a->cfg->health_queue_stall_ms;
  uv_update_time (a->loop);
  h->facts.started_ms = uv_now (a->loop);
  uv_timer_init (a->loop, &h->timer);
  h->timer.data = h;
  uv_timer_start (&h->timer, agent_health_timer_cb, 0, h->interval_ms);
  uv_unref ((uv_handle_t *) &h->timer);
  a->health = h;
  agent_health_notify_start (h);
}

/* The notify timer closes first, then the ping timer frees h. */
static void
agent_health_timer_closed_cb (uv_handle_t *handle);

static void
agent_health_notify_closed_cb (uv_handle_t *handle)
{
  struct agent_health *h = handle->data;
  uv_close ((uv_handle_t *) &h->timer, agent_health_timer_closed_cb);
}

static void
agent_health_timer_closed_cb (uv_handle_t *handle)
{
  struct agent_health *h = handle->data;
  free (h->docker_error);
  free (h->probe_error);
  free (h);
}

void
agent_health_stop (struct agent *a)
{
  struct agent_health *h = a->health;
  if (h == NULL)
    return;
  a->health = NULL;
  if (h->ping)
    docker_op_cancel (h->ping);
  state_probe_detach (h->probe);
  h->probe = NULL;
  if (h->notify.fd >= 0)
    agent_health_notify (h, "STOPPING=1");
  sdnotify_close (&h->notify);
  uv_timer_stop (&h->timer);
  uv_timer_stop (&h->notify_timer);
  uv_close ((uv_handle_t *) &h->notify_timer, agent_health_notify_closed_cb);
}

void
agent_health_note_acs (struct agent *a, bool connected)
{
  struct agent_health *h = a->health;
  if (h == NULL)
    return;
  h->facts.acs_connected = connected;
  h->facts.acs_changed_ms = uv_now (a->loop);
}

/* Refresh the facts the agent reads rather than being told (checkpoint,
   queue), decide, and log each part whose condition changed. */
static void
agent_health_observe (struct agent_health *h, struct health_verdict *v)
{
  struct agent *a = h->a;
  uint64_t now = uv_now (a->loop);
  struct health_facts *f = &h->facts;
  f->checkpoint_enabled = a->state && state_enabled (a->state);
  f->checkpoint_failing = a->state && !state_store_healthy (a->state);
  size_t len = a->state ? state_change_count (a->state) : 0;
  uint64_t out = 0;
  if (a->submitter)
    {
      struct ecs_submitter_stats st;
      ecs_submitter_stats (a->submitter, &st);
      out = st.submitted + st.dropped;
    }
  /* progress: the queue was empty at the last look, or an entry left it */
  if (len == 0 || f->queue_len == 0 || out != h->queue_out)
    f->queue_progress_ms = now;
  f->queue_len = len;
  h->queue_out = out;
  f->docker_error = h->docker_error;
  f->probe_error = h->probe_error;
  health_decide (f, &h->bounds, now, v);
  for (int p = 0; p < HEALTH_N_PARTS; p++)
    {
      if (v->failing[p] == h->last_failing[p])
        continue;
      h->last_failing[p] = v->failing[p];
      if (v->failing[p])
        log_warn (MOD, "%s failing: %s", health_part_name (p), v->detail[p]);
      else
        log_info (MOD, "%s recovered: %s", health_part_name (p), v->detail[p]);
    }
}

void
agent_health_verdict (struct agent *a, struct health_verdict *v)
{
  if (a->health == NULL)
    {
      memset (v, 0, sizeof *v);
      return;
    }
  agent_health_observe (a->health, v);
}
