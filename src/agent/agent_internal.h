/* agent/agent_internal.h - the agent context shared by agent.c and
 * services.c (ACS session, introspection, updates).  Not for other modules. */
#ifndef AGENT_AGENT_INTERNAL_H
#define AGENT_AGENT_INTERNAL_H

#include <stdbool.h>
#include <uv.h>
#include "aws/credentials.h"
#include "aws/imds.h"
#include "config/config.h"
#include "core/health.h"
#include "core/http.h"
#include "core/util.h"
#include "docker/docker.h"
#include "ecs/ecs.h"
#include "systemd/systemd.h"
#include "ecs/submitter.h"
#include "engine/engine.h"
#include "state/state.h"
#include "acs/session.h"
#include "tcs/session.h"

struct agent_services;
struct agent_health;
struct agent_telemetry;
struct agent_spot;

/* TERM INT QUIT HUP USR1 USR2 ALRM (signals.c) */
#define AGENT_N_SIGNALS 7

struct agent
{
  const struct agent_config *cfg;
  /* cfg->gates with task_cpu_mem_limit as found at start (agent_init);
     borrows cfg's strings, never freed on its own */
  struct task_option_gates gates;
  uv_loop_t *loop;
  http_client_t *http;
  docker_client_t *docker;
  state_store_t *state;
  engine_t *engine;
  aws_creds_provider_t *creds;
  imds_client_t *imds;
  ecs_client_t *ecs;
  ecs_submitter_t *submitter;
  struct docker_auth_config *auth;
  struct agent_services *services;
  struct agent_health *health; /* health.c */
  struct agent_telemetry *telemetry; /* telemetry.c */
  struct agent_spot *spot;           /* spot.c */

  docker_op_t *docker_op;
  imds_call_t *imds_op;
  ecs_call_t *ecs_op;
  uv_timer_t retry_timer;
  uv_timer_t trim_timer;
  uint64_t trim_transfers;    /* http_transfer_count () at the last heap trim */
  uint64_t trim_seen;         /* ... at the last tick of the trim timer */
  uint64_t release_transfers; /* ... when code pages were last released */
  void (*retry_fn) (struct agent *);
  struct backoff docker_backoff;
  uv_signal_t signals[AGENT_N_SIGNALS]; /* signals.c */

  char *docker_version;
  bool cgroup_systemd; /* Docker's /info CgroupDriver is systemd */
  systemd_client_t *systemd; /* then, with task limits: systemd's D-Bus API (engine/slice.h) */
  bool docker_ready;   /* /version and then /info answered: registration may go on */
  char *region;
  struct imds_identity ident;

  bool identity_done; /* the IMDS identity query answered (or failed) */
  /* instance_tags.c: EC2 tags to propagate (ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM) */
  bool tags_done;
  void (*tags_done_fn) (struct agent *);
  struct config_kv *ec2_tags;
  size_t n_ec2_tags;
  char *tag_buf;   /* the key list as IMDS sent it (tag_keys point into it) */
  char **tag_keys;
  size_t n_tag_keys, tag_next;
  char *availability_zone; /* from RegisterContainerInstance's answer */
  bool token_saving;  /* a new client token is not durable yet */
  bool tried_create_cluster;
  bool finished;
  int services_stopping; /* asynchronous stops (ACS, introspection) not yet done */
  int exit_code;
  agent_error_t err;
};

/* End the run with this exit code (first call wins); stops the loop. */
void agent_finish (struct agent *a, int code, agent_error_t *err);

/* instance_tags.c: read the EC2 instance's tags from IMDS (a->imds_op),
   then call done; the tags to register with (configured ones first, then
   EC2's not configured), pointers into a->cfg and a: free the array only;
   agent_tags_free releases what the fetch kept. */
void agent_tags_fetch (struct agent *a, void (*done) (struct agent *));
struct ecs_attribute *agent_registration_tags (const struct agent *a, size_t *n);
void agent_tags_free (struct agent *a);

/* services.c: introspection, ACS session, updates. */
int agent_services_start (struct agent *a, agent_error_t *err);
void agent_services_stop (struct agent *a);
/* telemetry.c: the TCS session and its collector.  stop_begin counts in
   services_stopping like the other asynchronous stops; free after. */
int agent_telemetry_start (struct agent *a, agent_error_t *err);
void agent_telemetry_heartbeat (struct agent *a);
void agent_telemetry_inactive (struct agent *a);
void agent_telemetry_stop_begin (struct agent *a);
void agent_telemetry_free (struct agent *a);
/* The TCS session, NULL when telemetry is off or not started (metrics). */
tcs_session_t *agent_telemetry_session (const struct agent *a);
/* spot.c: ECS_ENABLE_SPOT_INSTANCE_DRAINING (no-op when off). */
void agent_spot_start (struct agent *a);
void agent_spot_stop (struct agent *a);
/* The ACS session, NULL while the services are not started. */
acs_session_t *agent_services_acs (const struct agent *a);

/* health.c: the facts behind /v1/health.  start pings Docker on a timer;
   note_acs records the ACS session's state; verdict gathers the rest and
   decides (core/health.h).  stop cancels the ping and frees. */
void agent_health_start (struct agent *a);
void agent_health_stop (struct agent *a);
void agent_health_note_acs (struct agent *a, bool connected);
void agent_health_verdict (struct agent *a, struct health_verdict *v);

/* signals.c: what each signal does (see there); handles on a->loop. */
void agent_signals_start (struct agent *a);

/* host.c, at start, before the engine exists: a->gates from the config,
   task limits turned off when no task cgroup root can be made (< 0,
   terminal, when ECS_ENABLE_TASK_CPU_MEM_LIMIT was set true); then
   a->gates.ipv6_only from the default routes (config/ipcompat.h). */
int agent_task_cgroups_init (struct agent *a, agent_error_t *err);
void agent_ip_compat_init (struct agent *a);

#endif
