/* The long-running services started once the instance is registered:
 * the introspection API (a read-only view over engine/), the ACS session
 * and updates. */
#include "agent/agent_internal.h"
#include "agent/agent.h"
#include "core/xmalloc.h"
#include <strings.h>
#include "acs/codec.h"
#include "acs/manifest.h"
#include "acs/credentials.h"
#include "acs/payload.h"
#include "acs/session.h"
#include "core/exitcodes.h"
#include "introspection/introspection.h"
#include "tmds/tmds.h"
#include "update/update.h"
#include "log/log.h"
#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>

#define MOD "agent"

struct agent_services
{
  introspection_server_t *intro;
  acs_session_t *acs;
  acs_payload_handler_t *payload;
  acs_manifest_handler_t *manifest;
  update_t *update;
  task_creds_store_t *creds; /* task IAM role credentials (task/task_creds.h) */
  tmds_server_t *tmds;       /* task metadata and credentials server */
  char *version;
  char *hash;
};

/* ---- introspection provider over the engine ---- */

static void
agent_intro_foreach_task (void *data, introspection_task_cb cb, void *arg)
{
  struct agent *a = data;
  if (a->engine == NULL)
    return;
  size_t n = engine_task_count (a->engine);
  for (size_t i = 0; i < n; i++)
    {
      const struct task *t = engine_task_at (a->engine, i);
      struct introspection_container *cs = xcalloc (t->n_containers + 1, sizeof *cs);
      for (size_t j = 0; j < t->n_containers; j++)
        {
          const struct task_container *c = &t->containers[j];
          cs[j].name = c->name;
          cs[j].has_docker_record = c->docker_name != NULL || c->docker_id != NULL;
          cs[j].internal = c->is_internal;
          cs[j].docker_id = c->docker_id ? c->docker_id : "";
          cs[j].docker_name = c->docker_name ? c->docker_name : "";
          cs[j].image = c->image;
          cs[j].ports = c->known_bindings;
          cs[j].n_ports = c->n_known_bindings;
          if (c->opts.health_check_type && strcasecmp (c->opts.health_check_type, "docker") == 0)
            {
              cs[j].health_status = task_health_str (c->life.health);
              cs[j].health_since_ns = c->life.health_since_ns;
            }
          cs[j].has_restart_policy = c->restart.enabled;
          cs[j].restart_count = c->restart.count;
        }
      struct introspection_task it = {
        .arn = t->arn,
        .family = t->family,
        .version = t->version,
        .desired_status = t->desired_status,
        .known_status = t->known_status,
        .containers = cs,
        .n_containers = t->n_containers,
      };
      cb (&it, arg);
      free (cs);
    }
}

static const char *
agent_intro_instance_arn (void *data)
{
  struct agent *a = data;
  return state_container_instance_arn (a->state);
}

static void
agent_intro_health (void *data, struct health_verdict *out)
{
  agent_health_verdict (data, out);
}

static enum metrics_status
agent_metric_status (enum task_status s)
{
  return s == TASK_STATUS_RUNNING ? METRIC_STATUS_RUNNING
         : s == TASK_STATUS_STOPPED ? METRIC_STATUS_STOPPED
                                    : METRIC_STATUS_PENDING;
}

static void
agent_intro_metrics (void *data, struct metrics_snapshot *out)
{
  struct agent *a = data;
  size_t n = a->engine ? engine_task_count (a->engine) : 0;
  for (size_t i = 0; i < n; i++)
    {
      const struct task *t = engine_task_at (a->engine, i);
      out->tasks[agent_metric_status (t->known_status)]++;
      for (size_t j = 0; j < t->n_containers; j++)
        if (!t->containers[j].is_internal)
          out->containers[agent_metric_status (t->containers[j].known_status)]++;
    }
  out->state_changes_queued = a->state ? state_change_count (a->state) : 0;
  tcs_session_t *tcs = agent_telemetry_session (a);
  if (tcs)
    {
      const struct tcs_session_stats *st = tcs_session_get_stats (tcs);
      out->tcs_enabled = true;
      out->tcs_connected = tcs_session_connected (tcs);
      out->tcs_connects = st->connects;
      out->tcs_disconnects = st->disconnects;
    }
}

static int
agent_intro_start (struct agent *a, agent_error_t *err)
{
  struct introspection_config ic = {
    .listen_addr = a->cfg->introspection_addr,
    .port = a->cfg->introspection_port,
    .cluster = a->cfg->cluster,
    .version = a->services->version,
  };
  struct introspection_provider prov = { .foreach_task = agent_intro_foreach_task,
                                         .container_instance_arn = agent_intro_instance_arn,
                                         .health = agent_intro_health,
                                         .metrics_snapshot = agent_intro_metrics,
                                         .data = a };
  if (introspection_start (a->loop, &ic, &prov, &a->services->intro, err) < 0)
    return error_wrap (err, "introspection server on %s:%d", ic.listen_addr, ic.port);
  log_info (MOD, "Introspection API listening on %s:%d", ic.listen_addr, ic.port);
  return 0;
}

/* libwebsockets' own messages go through our logger (and its redaction). */
static void
agent_lws_log_cb (int level, const char *line)
{
  size_t n = strlen (line);
  while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == ' '))
    n--;
  /* lws errors are mostly about peers (a client's oversized headers, a
     dropped socket): warn, so a remote party cannot fill the error level */
  if (level & (LLL_ERR | LLL_WARN))
    log_warn ("lws", "%.*s", (int) n, line);
  else
    log_debug ("lws", "%.*s", (int) n, line);
}

/* ---- ACS session, payloads, updates ---- */

static void
agent_acs_payload_cb (acs_session_t *s, struct acs_payload *p, void *data)
{
  struct agent *a = data;
  acs_payload_on_payload (s, p, a->services->payload);
}

static void
agent_acs_stage_cb (acs_session_t *s, struct acs_update_message *m, void *data)
{
  struct agent *a = data;
  update_on_stage (s, m, a->services->update);
}

static void
agent_acs_perform_cb (acs_session_t *s, struct acs_update_message *m, void *data)
{
  struct agent *a = data;
  update_on_perform (s, m, a->services->update);
}

/* ---- task IAM role credentials ---- */

static int
agent_set_task_creds_id (void *ctx, const char *task_arn, enum task_creds_role role,
                         const char *id, agent_error_t *err)
{
  struct agent *a = ctx;
  if (!a->engine)
    return error_set (err, ERR_NOT_FOUND, "no task engine");
  return engine_task_set_credentials_id (a->engine, task_arn, role == TASK_CREDS_EXECUTION_ROLE,
                                         id, err);
}

/* IAMRoleCredentialsMessage: stored, the task updated, acknowledged. */
static void
agent_acs_credentials_cb (acs_session_t *s, struct acs_iam_credentials *c, void *data)
{
  struct agent *a = data;
  agent_error_t err = NULL;
  enum acs_creds_outcome o
      = acs_credentials_apply (c, a->services->creds, agent_set_task_creds_id, a, &err);
  const char *arn = c->task_arn ? c->task_arn : "?";
  switch (o)
    {
    case ACS_CREDS_ACK:
      log_info (MOD, "task %s: %s credentials %s received (expire %s)", arn,
                c->role_type, c->creds.credentials_id,
                c->creds.expiration ? c->creds.expiration : "?");
      error_free (&err);
      if (acs_session_send_credentials_ack (s, c->message_id, c->creds.expiration,
                                            c->creds.credentials_id, &err) < 0)
        log_warn (MOD, "credentials ack: %s", error_msg (&err));
      break;
    case ACS_CREDS_INVALID:
      log_warn (MOD, "IAMRoleCredentialsMessage %s for task %s dropped: %s",
                c->message_id ? c->message_id : "?", arn, error_msg (&err));
      break;
    case ACS_CREDS_NO_TASK:
    case ACS_CREDS_NOT_STORED:
      log_warn (MOD, "task %s: credentials not acknowledged: %s", arn, error_msg (&err));
      break;
    }
  error_free (&err);
  acs_iam_credentials_free (c);
}

/* Task-role credentials go when the task is known STOPPED, execution-role
   ones when the task leaves state (upstream). */
static void
agent_task_change_cb (const struct task *t, const struct task_container *c, void *data)
{
  struct agent *a = data;
  if (!a->services)
    return;
  /* the metadata server refreshes the container's Docker details (c NULL
     and the task gone: it drops those of removed containers) */
  if (c || engine_find_task_by_arn (a->engine, t->arn) == NULL)
    tmds_container_changed (a->services->tmds, t, c);
  if (c || !a->services->creds)
    return;
  if (t->known_status >= TASK_STATUS_STOPPED
      && task_creds_store_remove_task (a->services->creds, t->arn, TASK_CREDS_TASK_ROLE))
    log_info (MOD, "task %s stopped: its task role credentials are dropped", t->arn);
  if (engine_find_task_by_arn (a->engine, t->arn) == NULL
      && task_creds_store_remove_task (a->services->creds, t->arn, TASK_CREDS_EXECUTION_ROLE))
    log_info (MOD, "task %s removed: its execution role credentials are dropped", t->arn);
}

/* ---- task metadata and credentials server ---- */

static size_t
agent_tmds_task_count (void *data)
{
  struct agent *a = data;
  return a->engine ? engine_task_count (a->engine) : 0;
}

static const struct task *
agent_tmds_task_at (void *data, size_t i)
{
  struct agent *a = data;
  return engine_task_at (a->engine, i);
}

static ecs_client_t *
agent_tmds_ecs (void *data)
{
  return ((struct agent *) data)->ecs;
}

static int
agent_tmds_start (struct agent *a, agent_error_t *err)
{
  struct tmds_config tc = {
    .listen_addr = a->cfg->tmds_addr,
    .port = a->cfg->tmds_port,
    .cluster = a->cfg->cluster,
    /* the zone ECS answered at registration (upstream's), else the identity document's */
    .availability_zone = a->cfg->disable_task_metadata_az ? NULL
                         : a->availability_zone                ? a->availability_zone
                                                               : a->ident.availability_zone,
    .no_stats = a->cfg->disable_metrics,
    .rps_steady = a->cfg->tmds_rps_steady,
    .rps_burst = a->cfg->tmds_rps_burst,
  };
  struct tmds_provider prov = { .task_count = agent_tmds_task_count,
                                .task_at = agent_tmds_task_at,
                                .container_instance_arn = agent_intro_instance_arn,
                                .ecs = agent_tmds_ecs,
                                .data = a };
  if (tmds_start (a->loop, &tc, &prov, a->services->creds, a->docker, &a->services->tmds, err) < 0)
    return -1;
  log_info (MOD, "Task metadata and credentials server listening on %s:%d", tc.listen_addr,
            tc.port);
  return 0;
}

/* Restored tasks: their ids are known, their credentials come again from
   ACS (the first connection asks with sendCredentials=true). */
static void
agent_creds_start (struct agent *a)
{
  struct agent_services *sv = a->services;
  sv->creds = task_creds_store_new ();
  if (!a->engine)
    return;
  size_t n = engine_task_count (a->engine);
  for (size_t i = 0; i < n; i++)
    {
      const struct task *t = engine_task_at (a->engine, i);
      if (t->known_status < TASK_STATUS_STOPPED)
        task_creds_store_expect (sv->creds, t->arn, TASK_CREDS_TASK_ROLE, t->credentials_id);
      task_creds_store_expect (sv->creds, t->arn, TASK_CREDS_EXECUTION_ROLE,
                               t->execution_credentials_id);
    }
  engine_set_change_cb (a->engine, agent_task_change_cb, a);
  /* ECR / Secrets Manager registry credentials of pulls, secrets */
  engine_set_aws_credentials (a->engine, a->creds, sv->creds);
}

static void
agent_acs_manifest_cb (acs_session_t *s, struct acs_task_manifest *m, void *data)
{
  struct agent *a = data;
  acs_manifest_on_manifest (a->services->manifest, s, m);
}

static void
agent_acs_stop_verification_cb (acs_session_t *s, struct acs_task_stop_verification_ack *m,
                                void *data)
{
  struct agent *a = data;
  acs_manifest_on_stop_ack (a->services->manifest, s, m);
}

static void
agent_acs_heartbeat_cb (acs_session_t *s, void *data)
{
  (void) s;
  agent_telemetry_heartbeat (data);
}

static void
agent_acs_inactive_cb (acs_session_t *s, void *data)
{
  (void) s;
  agent_telemetry_inactive (data);
}

static void
agent_acs_connected_cb (acs_session_t *s, void *data)
{
  (void) s;
  agent_health_note_acs (data, true);
  metrics_count (METRIC_ACS_CONNECTS, 1);
  metrics_set (METRIC_ACS_CONNECTED, 1);
  log_info (MOD, "ACS session connected");
}

static void
agent_acs_disconnected_cb (acs_session_t *s, const agent_error_t *err, void *data)
{
  (void) s;
  agent_health_note_acs (data, false);
  metrics_count (METRIC_ACS_DISCONNECTS, 1);
  metrics_set (METRIC_ACS_CONNECTED, 0);
  if (err && *err)
    log_warn (MOD, "ACS session ended: %s", error_msg (err));
  else
    log_info (MOD, "ACS session closed");
}

static void
agent_update_perform_cb (void *data)
{
  struct agent *a = data;
  log_info (MOD, "update staged: exiting with code %d for the supervisor", EXIT_UPDATE);
  agent_finish (a, EXIT_UPDATE, NULL);
}

static int
agent_acs_start (struct agent *a, agent_error_t *err)
{
  struct agent_services *sv = a->services;
  struct update_options uo = { .enabled = a->cfg->updates_enabled,
                               .download_dir = a->cfg->update_download_dir,
                               .http = a->http,
                               .on_perform = agent_update_perform_cb,
                               .data = a };
  sv->update = update_new (a->loop, &uo, err);
  if (sv->update == NULL)
    return error_wrap (err, "updates");
  struct acs_payload_options po = {
    .engine = a->engine,
    .state = a->state,
    .creds = sv->creds,
    .marker_dir = a->cfg->checkpoint ? a->cfg->data_dir : NULL,
    .test_abort_message_id = getenv ("ECS_AGENT_TEST_ABORT_PAYLOAD"), /* tests only */
  };
  sv->payload = acs_payload_handler_new (&po);
  sv->manifest = acs_manifest_handler_new (a->engine);
  sv->hash = xasprintf ("%s%s", AGENT_GITDIRTY ? "*" : "", AGENT_GITREV);
  struct acs_session_options so = {
    .ecs = a->ecs,
    .creds = a->creds,
    .http = a->http,
    .region = a->region,
    .cluster = a->cfg->cluster,
    .container_instance_arn = state_container_instance_arn (a->state),
    .agent_version = AGENT_VERSION,
    .agent_hash = sv->hash,
    .docker_version = a->docker_version,
    .seq_num = state_acs_seq_num (a->state),
    .insecure = a->cfg->insecure,
    .handlers = { .on_payload = agent_acs_payload_cb,
                  .on_stage_update = agent_acs_stage_cb,
                  .on_perform_update = agent_acs_perform_cb,
                  .on_credentials = agent_acs_credentials_cb,
                  .on_task_manifest = agent_acs_manifest_cb,
                  .on_task_stop_verification_ack = agent_acs_stop_verification_cb,
                  .on_connected = agent_acs_connected_cb,
                  .on_disconnected = agent_acs_disconnected_cb,
                  .on_heartbeat = agent_acs_heartbeat_cb,
                  .on_inactive = agent_acs_inactive_cb,
                  .data = a },
  };
  const char *hb = getenv ("ECS_ACS_HEARTBEAT_TIMEOUT_MS"); /* tests: shorter liveness window */
  if (hb && atoll (hb) > 0)
    so.heartbeat_timeout_ms = so.heartbeat_jitter_ms = (uint64_t) atoll (hb);
  const char *ttl = getenv ("ECS_ACS_TEST_CONNECTION_TTL_MS"); /* tests: a shorter forced reconnect */
  if (ttl && atoll (ttl) > 0)
    so.connection_ttl_ms = so.connection_ttl_jitter_ms = (uint64_t) atoll (ttl);
  sv->acs = acs_session_new (a->loop, &so, err);
  if (sv->acs == NULL)
    return error_wrap (err, "ACS session");
  acs_payload_handler_set_session (sv->payload, sv->acs);
  update_set_session (sv->update, sv->acs);
  if (acs_session_start (sv->acs, err) < 0)
    return error_wrap (err, "ACS session");
  return 0;
}

int
agent_services_start (struct agent *a, agent_error_t *err)
{
  lws_set_log_level (LLL_ERR | LLL_WARN | (log_get_level () >= LOG_DEBUG ? LLL_NOTICE : 0),
                     agent_lws_log_cb);
  a->services = xcalloc (1, sizeof *a->services);
  a->services->version = agent_version_string ();
  agent_creds_start (a);
  if (agent_intro_start (a, err) < 0 || agent_tmds_start (a, err) < 0)
    return -1;
  /* upstream starts telemetry just before the ACS session */
  if (agent_telemetry_start (a, err) < 0)
    return -1;
  if (agent_acs_start (a, err) < 0)
    return -1;
  agent_spot_start (a);
  return 0;
}

acs_session_t *
agent_services_acs (const struct agent *a)
{
  return a->services ? a->services->acs : NULL;
}

static void
agent_service_stopped_cb (void *data)
{
  struct agent *a = data;
  a->services_stopping--;
}

/* The ACS session and the introspection server stop asynchronously (close
   frame, then libwebsockets releases its handles and context): run the loop
   until both are done, bounded, before the rest of the teardown closes
   whatever handles remain. */
#define SERVICES_STOP_MAX_MS 5000

void
agent_services_stop (struct agent *a)
{
  struct agent_services *s = a->services;
  if (s == NULL)
    return;
  a->services_stopping = 0;
  agent_spot_stop (a);
  agent_telemetry_stop_begin (a);
  if (s->acs)
    {
      a->services_stopping++;
      acs_session_stop (s->acs, agent_service_stopped_cb, a);
    }
  if (s->intro)
    {
      a->services_stopping++;
      introspection_stop (s->intro, agent_service_stopped_cb, a);
      s->intro = NULL; /* frees itself once stopped */
    }
  if (s->tmds)
    {
      a->services_stopping++;
      tmds_stop (s->tmds, agent_service_stopped_cb, a);
      s->tmds = NULL; /* frees itself once stopped */
    }
  uv_update_time (a->loop);
  uint64_t deadline = uv_now (a->loop) + SERVICES_STOP_MAX_MS;
  while (a->services_stopping > 0 && uv_now (a->loop) < deadline)
    if (uv_run (a->loop, UV_RUN_ONCE) == 0)
      break;
  if (a->services_stopping > 0)
    log_warn (MOD, "ACS / TCS session / introspection server did not stop in time");
  agent_telemetry_free (a);
  if (s->acs)
    acs_session_free (s->acs);
  if (s->payload)
    acs_payload_handler_free (s->payload);
  acs_manifest_handler_free (s->manifest);
  if (s->update)
    update_free (s->update);
  if (a->engine)
    {
      engine_set_change_cb (a->engine, NULL, NULL);
      engine_set_aws_credentials (a->engine, a->creds, NULL); /* the store goes */
    }
  task_creds_store_free (s->creds);
  free (s->hash);
  free (s->version);
  free (s);
  a->services = NULL;
}
