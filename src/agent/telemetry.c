/* agent/telemetry.c - the telemetry service: the TCS session (tcs/session.h)
 * fed by the collector (tcs/collector.h) over the engine and Docker;
 * started with the other services after registration, stopped with them. */
#include "agent/agent_internal.h"
#include <linux/magic.h>
#include <sys/vfs.h>
#include "core/xmalloc.h"
#include "log/log.h"
#include "state/state.h"
#include "tcs/collector.h"
#include "tcs/session.h"
#include <stdlib.h>

#define MOD "agent"

struct agent_telemetry
{
  tcs_session_t *tcs;
  tcs_collector_t *collector;
  char *hash;
};

static void
agent_tcs_publish_cb (tcs_session_t *s, void *data)
{
  struct agent *a = data;
  tcs_collector_publish (a->telemetry->collector, s);
}

/* Tests shorten the publish and poll periods (milliseconds). */
static uint64_t
env_ms (const char *name)
{
  const char *v = getenv (name);
  return v && atoll (v) > 0 ? (uint64_t) atoll (v) : 0;
}

/* Whether /sys/fs/cgroup is the unified (v2) hierarchy. */
static bool
agent_cgroup_v2 (void)
{
  struct statfs f;
  return statfs ("/sys/fs/cgroup", &f) == 0 && f.f_type == CGROUP2_SUPER_MAGIC;
}

int
agent_telemetry_start (struct agent *a, agent_error_t *err)
{
  struct agent_telemetry *t = xcalloc (1, sizeof *t);
  a->telemetry = t;
  t->hash = xasprintf ("%s%s", AGENT_GITDIRTY ? "*" : "", AGENT_GITREV);
  uint64_t publish_ms = env_ms ("ECS_TCS_TEST_PUBLISH_INTERVAL_MS");
  uint64_t poll_ms = env_ms ("ECS_TCS_TEST_POLL_INTERVAL_MS");
  struct tcs_collector_options co = {
    .engine = a->engine,
    .docker = a->docker,
    .disable_metrics = a->cfg->disable_metrics,
    .poll_metrics = a->cfg->poll_metrics,
    .stream_silence_ms = env_ms ("ECS_TCS_TEST_STREAM_SILENCE_MS"),
    .cgroup_v1 = !agent_cgroup_v2 (),
    .poll_interval_ms = poll_ms ? poll_ms : a->cfg->polling_metrics_wait_ms,
    .publish_interval_ms = publish_ms,
    .cluster = a->cfg->cluster,
    .container_instance_arn = state_container_instance_arn (a->state),
  };
  t->collector = tcs_collector_new (a->loop, &co, err);
  if (!t->collector)
    return error_wrap (err, "telemetry");
  struct tcs_session_options so = {
    .ecs = a->ecs,
    .endpoint = getenv ("ECS_TCS_TEST_ENDPOINT"), /* tests: fixed endpoint */
    .creds = a->creds,
    .region = a->region,
    .cluster = a->cfg->cluster,
    .container_instance_arn = state_container_instance_arn (a->state),
    .agent_version = AGENT_VERSION,
    .agent_hash = t->hash,
    .docker_version = a->docker_version,
    .insecure = a->cfg->insecure,
    .publish_interval_ms = publish_ms,
    .heartbeat_timeout_ms = env_ms ("ECS_TCS_TEST_HEARTBEAT_TIMEOUT_MS"),
    .heartbeat_jitter_ms = env_ms ("ECS_TCS_TEST_HEARTBEAT_TIMEOUT_MS"),
    .on_publish = agent_tcs_publish_cb,
    .data = a,
  };
  t->tcs = tcs_session_new (a->loop, &so, err);
  if (!t->tcs)
    return error_wrap (err, "TCS session");
  tcs_collector_start (t->collector);
  if (tcs_session_start (t->tcs, err) < 0)
    return error_wrap (err, "TCS session");
  log_info (MOD, "telemetry started (metrics %s)",
            a->cfg->disable_metrics ? "disabled"
            : docker_client_is_podman (a->docker)
                ? "polled: Podman's stats stream writes a sample every 5 s"
            : a->cfg->poll_metrics ? "polled (ECS_POLL_METRICS)"
                                   : "streamed");
  return 0;
}

void
agent_telemetry_heartbeat (struct agent *a)
{
  if (a->telemetry)
    tcs_collector_instance_check (a->telemetry->collector);
}

void
agent_telemetry_inactive (struct agent *a)
{
  if (a->telemetry)
    tcs_session_disconnect (a->telemetry->tcs, "container instance is inactive");
}

static void
agent_tcs_stopped_cb (void *data)
{
  struct agent *a = data;
  a->services_stopping--;
}

void
agent_telemetry_stop_begin (struct agent *a)
{
  struct agent_telemetry *t = a->telemetry;
  if (t && t->tcs)
    {
      a->services_stopping++;
      tcs_session_stop (t->tcs, agent_tcs_stopped_cb, a);
    }
}

void
agent_telemetry_free (struct agent *a)
{
  struct agent_telemetry *t = a->telemetry;
  if (!t)
    return;
  tcs_session_free (t->tcs);
  tcs_collector_free (t->collector);
  free (t->hash);
  free (t);
  a->telemetry = NULL;
}

tcs_session_t *
agent_telemetry_session (const struct agent *a)
{
  return a->telemetry ? a->telemetry->tcs : NULL;
}
