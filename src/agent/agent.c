#include "agent/agent.h"
#include "aws/credentials.h"
#include "aws/imds.h"
#include "core/exitcodes.h"
#include "core/http.h"
#include "core/memory.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "docker/auth.h"
#include "docker/docker.h"
#include "ecs/ecs.h"
#include "ecs/submitter.h"
#include "engine/cgroup.h"
#include "engine/engine.h"
#include "log/log.h"
#include "state/state.h"
#include "agent/agent_internal.h"
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#define MOD "agent"

char *
agent_version_string (void)
{
  return xasprintf ("Amazon ECS Agent - v%s (%s%s)", AGENT_VERSION, AGENT_GITDIRTY ? "*" : "",
                    AGENT_GITREV);
}

/* ---- end of the run ---- */

void
agent_finish (struct agent *a, int code, agent_error_t *err)
{
  if (a->finished)
    return;
  a->finished = true;
  a->exit_code = code;
  if (err && *err)
    error_move (&a->err, err);
  uv_stop (a->loop);
}

static void
agent_close_walk_cb (uv_handle_t *h, void *arg)
{
  (void) arg;
  if (!uv_is_closing (h))
    uv_close (h, NULL);
}

/* ---- state-change queue adapter for the submitter ---- */

static size_t
agent_queue_count (void *ctx)
{
  struct agent *a = ctx;
  return state_change_count (a->state);
}

static bool
agent_queue_peek (void *ctx, size_t i, struct ecs_state_change *out)
{
  struct agent *a = ctx;
  const struct state_change *c = state_change_peek (a->state, i);
  if (c == NULL)
    return false;
  memset (out, 0, sizeof *out);
  out->id = c->id;
  out->durable = c->durable;
  out->queued_ms = c->queued_ms;
  out->kind = c->kind == STATE_CHANGE_TASK ? ECS_CHANGE_TASK : ECS_CHANGE_CONTAINER;
  out->task_arn = c->task_arn;
  out->container_name = c->container_name;
  out->status = c->status;
  out->reason = c->reason;
  out->has_exit_code = c->has_exit_code;
  out->exit_code = c->exit_code;
  out->bindings = c->bindings;
  out->n_bindings = c->n_bindings;
  out->runtime_id = c->runtime_id;
  out->image_digest = c->image_digest;
  out->task_status = c->task_status;
  out->pull_started_ms = c->pull_started_ms;
  out->pull_stopped_ms = c->pull_stopped_ms;
  out->execution_stopped_ms = c->execution_stopped_ms;
  return true;
}

static void
agent_queue_remove (void *ctx, uint64_t id)
{
  struct agent *a = ctx;
  state_change_remove (a->state, id);
}

static void
agent_state_changed_cb (void *data)
{
  struct agent *a = data;
  if (a->submitter)
    ecs_submitter_wake (a->submitter);
}

/* ---- start-up chain ----

   Three things precede the first RegisterContainerInstance and all start
   together in agent_run: the Docker version query (retried until Docker
   answers), the instance identity from IMDS, and, on a first registration,
   the durable save of the client token (on the store's worker thread).
   agent_maybe_register sends the registration once all three are done, so
   the request never leaves before the token is on disk, and the save (an
   fsync of the file and of its directory) overlaps the two queries instead
   of following them. */

static void agent_maybe_register (struct agent *a);
static void agent_step_register (struct agent *a);
static void agent_step_run (struct agent *a);

static void
agent_retry_timer_cb (uv_timer_t *t)
{
  struct agent *a = t->data;
  void (*fn) (struct agent *) = a->retry_fn;
  a->retry_fn = NULL;
  if (fn)
    fn (a);
}

static void
agent_retry_later (struct agent *a, void (*fn) (struct agent *), struct backoff *b)
{
  a->retry_fn = fn;
  uv_timer_start (&a->retry_timer, agent_retry_timer_cb, backoff_next (b), 0);
}

static void agent_step_docker (struct agent *a);

/* The cgroup driver names the task cgroups (engine/cgroup.h); without an
   answer the agent keeps cgroupfs names. */
static void
agent_docker_info_cb (const struct docker_info *info, agent_error_t err, void *data)
{
  struct agent *a = data;
  a->docker_op = NULL;
  if (err)
    log_warn (MOD, "docker info: %s (task cgroups named for the cgroupfs driver)", error_msg (&err));
  else
    {
      a->cgroup_systemd = info->cgroup_driver && strcmp (info->cgroup_driver, "systemd") == 0;
      log_info (MOD, "Docker cgroup driver: %s", info->cgroup_driver ? info->cgroup_driver : "?");
    }
  a->docker_ready = true;
  agent_maybe_register (a);
}

static void
agent_docker_version_cb (const struct docker_version_info *v, agent_error_t err, void *data)
{
  struct agent *a = data;
  a->docker_op = NULL;
  if (err)
    {
      log_warn (MOD, "Docker is not answering yet: %s", error_msg (&err));
      agent_retry_later (a, agent_step_docker, &a->docker_backoff);
      return;
    }
  free (a->docker_version);
  a->docker_version = xstrdup (v->version);
  log_info (MOD, "container runtime: %s %s, API %s", v->podman ? "podman" : "docker", v->version,
            docker_client_api_version (a->docker) ? docker_client_api_version (a->docker) : "?");
  a->docker_op = docker_info (a->docker, agent_docker_info_cb, a);
}

static void
agent_step_docker (struct agent *a)
{
  a->docker_op = docker_version (a->docker, agent_docker_version_cb, a);
}

static void
agent_identity_cb (const struct imds_identity *id, agent_error_t err, void *data)
{
  struct agent *a = data;
  a->imds_op = NULL;
  a->identity_done = true;
  const char *saved = state_ec2_instance_id (a->state);
  if (err)
    log_info (MOD, "No instance identity document (not on EC2?): %s", error_msg (&err));
  else
    {
      a->ident.instance_id = xstrdup (id->instance_id);
      a->ident.region = xstrdup (id->region);
      a->ident.document = xstrdup (id->document);
      a->ident.signature = xstrdup (id->signature);
    }
  if (saved && *saved && (a->ident.instance_id == NULL || strcmp (saved, a->ident.instance_id) != 0))
    {
      /* Drops the ARN and the client token: agent_maybe_register makes and
         saves a new token before registering this instance. */
      log_warn (MOD, "EC2 instance id changed (%s -> %s): registering as a new instance", saved,
                a->ident.instance_id ? a->ident.instance_id : "unknown");
      state_discard_instance (a->state);
    }
  if (a->ident.instance_id)
    state_set_ec2_instance_id (a->state, a->ident.instance_id);
  if (a->region == NULL)
    a->region = xstrdup (a->ident.region ? a->ident.region : "us-west-2");
  if (a->cfg->propagate_tags_ec2 && !a->tags_done)
    {
      agent_tags_fetch (a, agent_maybe_register); /* registers once they are read */
      return;
    }
  agent_maybe_register (a);
}

static void
agent_step_identity (struct agent *a)
{
  agent_error_t err = NULL;
  a->imds_op = imds_get_identity (a->imds, agent_identity_cb, a, &err);
  if (a->imds_op == NULL)
    {
      agent_identity_cb (NULL, err, a);
      error_free (&err);
    }
}

/* The store calls back only once the ARN is on disk; while saving fails it
   retries with back-off (and says so once), so a full disk at first start
   delays the start instead of ending it.  err is part of the callback type
   only: the store passes NULL, always (src/state/state.h), so there is no
   failure to handle here. */
static void
agent_registered_save_cb (agent_error_t err, void *data)
{
  struct agent *a = data;
  (void) err;
  agent_step_run (a);
}

/* Registration is idempotent across restarts: a client token is saved
   before the first RegisterContainerInstance and sent with it, so an agent
   that registered but could not save the ARN (full disk, kill -9) gets the
   same container instance back on its next start, not a second one.
   The token is made and its save started at the very beginning of the run
   (agent_start_client_token), before the Docker and IMDS queries; the save
   that carries it comes back here (err: see agent_registered_save_cb). */
static void
agent_token_saved_cb (agent_error_t err, void *data)
{
  struct agent *a = data;
  (void) err;
  a->token_saving = false;
  agent_maybe_register (a);
}

/* true: a token was made and is being saved (agent_token_saved_cb resumes).
   Only a first registration needs one: a restored ARN re-registers the
   instance it names.  Made before IMDS answers, the token is saved without
   the EC2 instance id (the ARN's save adds it): only a data directory
   moved to another EC2 instance right after a crash between registering
   and saving the ARN would bring the token to an instance it was not made
   on; on the same instance, or off EC2, the guarantee is the same. */
/* A random token in the UUID version 4 layout, as upstream's. */
static char *
agent_new_token (void)
{
  char hex[33];
  util_random_hex (hex, 16);
  return xasprintf ("%.8s-%.4s-4%.3s-a%.3s-%.12s", hex, hex + 8, hex + 13, hex + 17, hex + 20);
}

static bool
agent_start_client_token (struct agent *a)
{
  if (state_client_token (a->state) || state_container_instance_arn (a->state))
    return false;
  cleanup_free char *tok = agent_new_token ();
  state_set_client_token (a->state, tok);
  a->token_saving = true;
  state_save (a->state, agent_token_saved_cb, a);
  return true;
}

/* Called whenever one of the steps before registration finishes: the last
   one to finish sends the registration.  A token dropped meanwhile (the EC2
   instance id changed) is replaced, and saved, first. */
static void
agent_maybe_register (struct agent *a)
{
  if (a->finished || !a->docker_ready || !a->identity_done || a->token_saving
      || (a->cfg->propagate_tags_ec2 && !a->tags_done))
    return;
  if (agent_start_client_token (a))
    return;
  agent_step_register (a);
}

static void agent_register_cb (const char *arn, agent_error_t err, void *data);

static void
agent_create_cluster_cb (const char *body, size_t len, agent_error_t err, void *data)
{
  struct agent *a = data;
  (void) body;
  (void) len;
  a->ecs_op = NULL;
  if (err)
    {
      agent_error_t e = NULL;
      error_set (&e, error_kind (&err), "creating the default cluster: %s", error_msg (&err));
      agent_finish (a, error_kind (&err) == ERR_CLIENT ? EXIT_TERMINAL : EXIT_ERROR, &e);
      return;
    }
  agent_step_register (a);
}

static void
agent_register_cb (const char *arn, agent_error_t err, void *data)
{
  struct agent *a = data;
  a->ecs_op = NULL;
  if (err && a->cfg->cluster_defaulted && !a->tried_create_cluster)
    {
      /* 1.1.0: no cluster configured and registering into "default" failed:
         create "default" and register again */
      log_info (MOD, "Registration into the default cluster failed (%s); creating it",
                error_msg (&err));
      a->tried_create_cluster = true;
      a->ecs_op = ecs_call_raw (a->ecs, "CreateCluster", "{\"clusterName\":\"default\"}",
                                agent_create_cluster_cb, a);
      return;
    }
  if (err)
    {
      agent_error_t e = NULL;
      error_set (&e, error_kind (&err), "registering the container instance: %s",
                 error_msg (&err));
      agent_finish (a, error_kind (&err) == ERR_CLIENT ? EXIT_TERMINAL : EXIT_ERROR, &e);
      return;
    }
  const char *az = ecs_client_availability_zone (a->ecs);
  if (az)
    {
      free (a->availability_zone);
      a->availability_zone = xstrdup (az);
    }
  log_info (MOD, "Registered container instance %s in cluster %s%s%s", arn, a->cfg->cluster,
            az ? ", availability zone " : "", az ? az : "");
  state_set_container_instance_arn (a->state, arn);
  state_set_cluster (a->state, a->cfg->cluster);
  state_save (a->state, agent_registered_save_cb, a);
}

static void
agent_step_register (struct agent *a)
{
  agent_error_t err = NULL;
  cleanup_free char *endpoint = NULL;
  if (ecs_endpoint_url (a->cfg->api_endpoint, a->region, &endpoint, &err) < 0)
    {
      error_wrap (&err, "ECS endpoint");
      agent_finish (a, EXIT_TERMINAL, &err);
      return;
    }
  struct ecs_client_options eo = { .endpoint = endpoint, .region = a->region,
                                   .insecure = a->cfg->insecure, .creds = a->creds };
  if (a->ecs == NULL)
    a->ecs = ecs_client_new (a->loop, a->http, &eo, &err);
  if (a->ecs == NULL)
    {
      agent_finish (a, EXIT_TERMINAL, &err);
      return;
    }
  log_info (MOD, "ECS endpoint %s, region %s", endpoint, a->region);

  int64_t mem = 0;
  if (ecs_host_memory_mib (uv_get_total_memory (), (int64_t) a->cfg->reserved_memory_mib, &mem,
                           &err) < 0)
    {
      error_wrap (&err, "ECS_RESERVED_MEMORY");
      agent_finish (a, EXIT_TERMINAL, &err);
      return;
    }
  uint16_t *tcp = xcalloc (a->cfg->n_reserved_ports + 1, sizeof *tcp);
  for (size_t i = 0; i < a->cfg->n_reserved_ports; i++)
    tcp[i] = (uint16_t) a->cfg->reserved_ports[i];
  uint16_t *udp = xcalloc (a->cfg->n_reserved_ports_udp + 1, sizeof *udp);
  for (size_t i = 0; i < a->cfg->n_reserved_ports_udp; i++)
    udp[i] = (uint16_t) a->cfg->reserved_ports_udp[i];

  /* capabilities: docker-remote-api versions served, logging drivers,
     the option gates (ecs/attributes_options.c) */
  const char *api = docker_client_api_version (a->docker);
  int maxminor = 17;
  if (api && strncmp (api, "1.", 2) == 0)
    maxminor = atoi (api + 2);
  char *versions[64];
  size_t nv = 0;
  for (int m = 17; m <= maxminor && nv < ARRAY_SIZE (versions); m++)
    if (ecs_docker_api_version_advertised (m))
      versions[nv++] = xasprintf ("1.%d", m);
  const char *drivers[TASK_LOG_DRIVERS_MAX];
  size_t n_drivers = ecs_option_drivers (&a->gates, maxminor, drivers, ARRAY_SIZE (drivers));
  /* only what holds on the runtime (Podman: ecs/attributes_runtime.c) */
  const struct ecs_runtime rt = { .podman = docker_client_is_podman (a->docker) };
  n_drivers = ecs_runtime_log_drivers (&rt, drivers, n_drivers);
  size_t n_user = a->cfg->n_instance_attributes;
  struct ecs_attribute *user = xcalloc (n_user + 1, sizeof *user);
  for (size_t i = 0; i < n_user; i++)
    {
      user[i].name = a->cfg->instance_attributes[i].key;
      user[i].value = a->cfg->instance_attributes[i].value;
    }
  size_t n_attrs = 0;
  struct ecs_attribute *attrs = NULL;
  const char *ci_arn = state_container_instance_arn (a->state);
  int n_sent = ecs_custom_attributes_sent (user, n_user, ci_arn && *ci_arn, &err);
  if (n_sent >= 0)
    attrs = ecs_standard_attributes ((const char *const *) versions, nv, drivers, n_drivers, user,
                                     (size_t) n_sent, &n_attrs, &err);
  if (attrs)
    {
      size_t n_opt = 0;
      struct ecs_attribute *opt = ecs_option_attributes (&a->gates, maxminor, true, &n_opt);
      ecs_runtime_attributes_filter (&rt, opt, &n_opt);
      char mach[65];
      struct ecs_attribute arch = { "ecs.cpu-architecture",
                                    ecs_cpu_architecture (ecs_host_machine (mach, sizeof mach)) };
      ecs_attributes_add_missing (&attrs, &n_attrs, opt, n_opt);
      ecs_attributes_add_missing (&attrs, &n_attrs, &arch, 1);
      ecs_attributes_free (opt, n_opt);
      struct ecs_attribute *ep = ecs_endpoint_attributes (
          a->cfg->task_iam_role, a->cfg->task_iam_role_network_host, maxminor, &n_opt);
      ecs_attributes_add_missing (&attrs, &n_attrs, ep, n_opt);
      ecs_attributes_free (ep, n_opt);
      struct ecs_attribute *ra = ecs_registry_auth_attributes (maxminor, &n_opt);
      ecs_attributes_add_missing (&attrs, &n_attrs, ra, n_opt);
      ecs_attributes_free (ra, n_opt);
      struct ecs_attribute *sec = ecs_secret_attributes (&n_opt);
      ecs_attributes_add_missing (&attrs, &n_attrs, sec, n_opt);
      ecs_attributes_free (sec, n_opt);
    }
  free (user);
  for (size_t i = 0; i < nv; i++)
    free (versions[i]);
  if (attrs == NULL && err)
    {
      free (tcp);
      free (udp);
      agent_finish (a, EXIT_TERMINAL, &err);
      return;
    }
  cleanup_free char *hash = xasprintf ("%s%s", AGENT_GITDIRTY ? "*" : "", AGENT_GITREV);
  struct ecs_register_req req = {
    .cluster = a->cfg->cluster,
    .instance_identity_document = a->ident.document,
    .instance_identity_signature = a->ident.signature,
    .container_instance_arn = state_container_instance_arn (a->state),
    .cpu = ecs_host_cpu_units (),
    .memory_mib = mem,
    .ports_tcp = tcp,
    .n_ports_tcp = a->cfg->n_reserved_ports,
    .ports_udp = udp,
    .n_ports_udp = a->cfg->n_reserved_ports_udp,
    .send_ports_udp = true,
    .agent_version = AGENT_VERSION,
    .agent_hash = hash,
    .docker_version = a->docker_version,
    .attributes = attrs,
    .n_attributes = n_attrs,
  };
  /* A re-registration names its instance, which makes it idempotent; it
     carries a fresh token all the same, as upstream's every registration. */
  cleanup_free char *rereg_token = state_container_instance_arn (a->state) ? agent_new_token () : NULL;
  req.client_token = rereg_token ? rereg_token : state_client_token (a->state);
  struct ecs_attribute *tags = agent_registration_tags (a, &req.n_tags);
  req.tags = tags;
  a->ecs_op = ecs_register_container_instance (a->ecs, &req, agent_register_cb, a);
  free (tags);
  ecs_attributes_free (attrs, n_attrs);
  free (tcp);
  free (udp);
}

static void
agent_creds_cb (const struct aws_credentials *creds, agent_error_t err, void *data)
{
  (void) data;
  (void) creds;
  if (err)
    log_warn (MOD, "no AWS credentials yet: %s", error_msg (&err));
}

static void
agent_step_run (struct agent *a)
{
  agent_error_t err = NULL;
  /* systemd makes the task slices (engine/slice.h); the connection is
     made by the first one */
  if (a->cgroup_systemd && a->gates.task_cpu_mem_limit && !a->systemd)
    a->systemd = systemd_client_new (a->loop, NULL);
  struct engine_options eo = {
    .cluster = a->cfg->cluster,
    .region = a->region,
    .cleanup_wait_ms = a->cfg->task_cleanup_wait_ms,
    .stop_timeout_ms = a->cfg->container_stop_timeout_ms,
    .state = a->state,
    .docker = a->docker,
    .auth = a->auth,
    .gates = &a->gates,
    .cgroup_root = a->gates.task_cpu_mem_limit ? a->cfg->cgroup_path : NULL,
    .cgroup_systemd = a->cgroup_systemd,
    .systemd = a->systemd,
    .pick_host_ports = true,
    .pull_behavior = a->cfg->images.pull_behavior,
    .launch_concurrency = a->cfg->images.launch_concurrency,
    .pull_dependent_upfront = a->cfg->images.pull_dependent_upfront,
    .links_by_address = docker_client_is_podman (a->docker),
    .images = &a->cfg->images,
    .http = a->http, /* secrets from SSM and Secrets Manager (engine/secrets.h) */
  };
  struct engine_label extra[8];
  size_t n_extra = 0;
  const char *labels = getenv ("ECS_AGENT_EXTRA_CONTAINER_LABEL"); /* k=v, tests label their containers */
  cleanup_free char *lcopy = xstrdup (labels);
  if (lcopy && strchr (lcopy, '='))
    {
      char *eq = strchr (lcopy, '=');
      *eq = '\0';
      extra[n_extra].key = lcopy;
      extra[n_extra].value = eq + 1;
      n_extra++;
    }
  eo.extra_labels = extra;
  eo.n_extra_labels = n_extra;
  a->engine = engine_new (a->loop, &eo, &err);
  if (a->engine == NULL || engine_start (a->engine, &err) < 0)
    {
      agent_finish (a, EXIT_TERMINAL, &err);
      return;
    }
  struct ecs_change_queue q = { .ctx = a,
                                .count = agent_queue_count,
                                .peek = agent_queue_peek,
                                .remove = agent_queue_remove };
  struct ecs_submitter_options so = { .cluster = a->cfg->cluster };
  a->submitter = ecs_submitter_new (a->loop, a->ecs, &q, &so, &err);
  if (a->submitter == NULL)
    {
      agent_finish (a, EXIT_TERMINAL, &err);
      return;
    }
  state_set_changed_cb (a->state, agent_state_changed_cb, a);
  ecs_submitter_wake (a->submitter);
  if (agent_services_start (a, &err) < 0)
    {
      agent_finish (a, EXIT_TERMINAL, &err);
      return;
    }
}

/* Bursts (a payload of 50 tasks: 50 Docker calls at once, their JSON and
   curl handles) leave freed memory in glibc's heap, which RSS keeps.  Every
   couple of seconds, if enough HTTP transfers finished since the last look
   (nothing to do at idle, and no heap walk), hand the free pages back to
   the kernel, so RSS follows the live heap within seconds of a burst.
   When a period passes without a finished transfer after some work
   (start-up, a launch, a stop), the work is over: the code it ran goes
   back to the kernel too (core/memory.h), which takes the idle static
   agent from ~5.1 to ~3 MiB of RSS (bench: footprint). */
#define AGENT_TRIM_PERIOD_MS 2000
#define AGENT_TRIM_TRANSFERS 16
#define AGENT_RELEASE_TRANSFERS 4
#define AGENT_MMAP_THRESHOLD (16 * 1024)

static void
agent_trim_timer_cb (uv_timer_t *t)
{
  struct agent *a = t->data;
  uint64_t n = http_transfer_count ();
  bool quiet = n == a->trim_seen;
  a->trim_seen = n;
  if (n - a->trim_transfers >= AGENT_TRIM_TRANSFERS)
    {
      a->trim_transfers = n;
      memory_release_heap ();
    }
  if (quiet && n - a->release_transfers >= AGENT_RELEASE_TRANSFERS)
    {
      a->release_transfers = n;
      memory_release_heap ();
      memory_release_code ();
    }
}

/* ---- run ---- */

static int
agent_init (struct agent *a, const struct agent_config *cfg, agent_error_t *err)
{
  a->cfg = cfg;
  /* Buffers of 16 KiB and more (curl's per-transfer buffer, a checkpoint
     being serialised) come from mmap and go back to the kernel when freed:
     a burst of 50 concurrent Docker calls no longer spreads them through
     the heap, where the few long-lived objects allocated meanwhile would
     keep the pages resident (RSS after 500 tasks of churn: +10 % -> see
     the benchmark in the README). */
  mallopt (M_MMAP_THRESHOLD, AGENT_MMAP_THRESHOLD);
  /* One malloc arena for every thread.  The threadpool's workers (ACS frame
     decoding, checkpoint serialisation) and curl's resolver threads would
     otherwise each get an arena of their own, whose pages stay resident
     and which hold the tasks decoded there: 300 KiB more RSS with 50 tasks
     (glibc's malloc_stats: four 132 KiB arenas 55-80 % touched).  The
     workers allocate little, so the shared lock costs nothing measurable. */
  mallopt (M_ARENA_MAX, 1);
  a->loop = xcalloc (1, sizeof *a->loop);
  uv_loop_init (a->loop);
  a->http = http_client_new (a->loop);
  uv_timer_init (a->loop, &a->retry_timer);
  a->retry_timer.data = a;
  uv_timer_init (a->loop, &a->trim_timer);
  a->trim_timer.data = a;
  uv_timer_start (&a->trim_timer, agent_trim_timer_cb, AGENT_TRIM_PERIOD_MS, AGENT_TRIM_PERIOD_MS);
  uv_unref ((uv_handle_t *) &a->trim_timer);
  backoff_init (&a->docker_backoff, 500, 30000, 0.2, 2.0);
  agent_signals_start (a);
  a->region = xstrdup (cfg->aws_region);

  if (agent_task_cgroups_init (a, err) < 0)
    return -1;
  agent_ip_compat_init (a);
  if (docker_auth_parse (cfg->engine_auth_type, cfg->engine_auth_data, &a->auth, err) < 0)
    {
      error_wrap (err, "ECS_ENGINE_AUTH_DATA");
      (*err)->kind = ERR_TERMINAL;
      return -1;
    }
  a->state = state_store_new (a->loop, cfg->data_dir, cfg->checkpoint, err);
  if (a->state == NULL)
    return error_wrap (err, "ECS_DATADIR");
  if (state_load (a->state, err) < 0)
    return -1;
  const char *saved = state_cluster (a->state);
  if (saved && *saved && strcmp (saved, cfg->cluster) != 0)
    return error_set (err, ERR_TERMINAL,
                      "checkpoint %s belongs to cluster \"%s\" but ECS_CLUSTER is \"%s\"; delete "
                      "the checkpoint file to move this instance",
                      state_path (a->state), saved, cfg->cluster);
  a->docker = docker_client_new (a->loop, cfg->docker_endpoint, err);
  if (a->docker == NULL)
    {
      error_wrap (err, "DOCKER_HOST");
      (*err)->kind = ERR_TERMINAL;
      return -1;
    }
  agent_health_start (a);
  struct docker_timeouts dt;
  docker_client_get_timeouts (a->docker, &dt);
  dt.pull_total_ms = (long) cfg->images.pull_timeout_ms;
  dt.pull_inactivity_ms = (long) cfg->images.pull_inactivity_timeout_ms;
  dt.start_ms = (long) cfg->container_start_timeout_ms;
  dt.create_ms = (long) cfg->container_create_timeout_ms;
  docker_client_set_timeouts (a->docker, &dt);
  struct imds_options io = { .endpoint = cfg->imds_endpoint };
  a->imds = imds_client_new (a->loop, a->http, &io, err);
  if (a->imds == NULL)
    return -1;
  struct aws_creds_options co = { .access_key_id = cfg->access_key_id,
                                  .secret_access_key = cfg->secret_access_key,
                                  .session_token = cfg->session_token,
                                  .imds_endpoint = cfg->imds_endpoint };
  a->creds = aws_creds_provider_new (a->loop, a->http, &co, err);
  if (a->creds == NULL)
    return -1;
  aws_creds_fetch (a->creds, agent_creds_cb, a);
  return 0;
}

static void
agent_teardown (struct agent *a)
{
  agent_services_stop (a);
  if (a->engine)
    engine_stop (a->engine);
  if (a->state && a->exit_code != EXIT_TERMINAL && state_enabled (a->state)
      && state_container_instance_arn (a->state))
    {
      agent_error_t err = NULL;
      if (state_save_sync (a->state, &err) < 0)
        {
          /* What was acknowledged is on disk already; a restart once the
             disk works again is safe: retriable, not terminal. */
          log_crit (MOD, "final checkpoint save failed: %s", error_msg (&err));
          if (a->exit_code == EXIT_OK)
            {
              a->exit_code = EXIT_ERROR;
              error_move (&a->err, &err);
            }
          error_free (&err);
        }
      else
        log_info (MOD, "Checkpoint saved to %s", state_path (a->state));
    }
  if (a->creds)
    aws_creds_fetch_cancel (a->creds, agent_creds_cb, a);
  agent_health_stop (a);
  if (a->docker_op)
    docker_op_cancel (a->docker_op);
  if (a->imds_op)
    imds_call_cancel (a->imds_op);
  if (a->ecs_op)
    ecs_call_cancel (a->ecs_op);
  if (a->submitter)
    ecs_submitter_free (a->submitter);
  if (a->engine)
    engine_free (a->engine);
  systemd_client_free (a->systemd);
  if (a->ecs)
    ecs_client_free (a->ecs);
  if (a->creds)
    aws_creds_provider_free (a->creds);
  if (a->imds)
    imds_client_free (a->imds);
  if (a->docker)
    docker_client_free (a->docker);
  if (a->state)
    state_store_free (a->state);
  agent_tags_free (a);
  free (a->availability_zone);
  /* let in-flight closes and the state writer finish, then close the rest */
  uv_run (a->loop, UV_RUN_NOWAIT);
  if (a->http)
    http_client_free (a->http);
  uv_walk (a->loop, agent_close_walk_cb, NULL);
  for (int i = 0; i < 100 && uv_run (a->loop, UV_RUN_NOWAIT) != 0; i++)
    uv_sleep (10);
  if (uv_loop_close (a->loop) != 0)
    log_warn (MOD, "event loop still had handles at exit");
  free (a->loop);
  docker_auth_config_free (a->auth);
  free (a->docker_version);
  free (a->region);
  free (a->ident.instance_id);
  free (a->ident.region);
  free (a->ident.document);
  free (a->ident.signature);
}

int
agent_run (const struct agent_config *cfg, agent_error_t *err)
{
  struct agent a = { 0 };
  if (agent_init (&a, cfg, err) < 0)
    {
      a.exit_code = error_kind (err) == ERR_TERMINAL ? EXIT_TERMINAL : EXIT_ERROR;
      a.finished = true;
      agent_teardown (&a);
      return a.exit_code;
    }
  log_info (MOD, "Starting %s, cluster %s", AGENT_VERSION, cfg->cluster);
  /* the steps before registration run side by side (see the start-up chain) */
  agent_start_client_token (&a);
  agent_step_docker (&a);
  agent_step_identity (&a);
  uv_run (a.loop, UV_RUN_DEFAULT);
  agent_teardown (&a);
  if (a.err)
    error_move (err, &a.err);
  return a.exit_code;
}
