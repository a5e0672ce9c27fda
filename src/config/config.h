/* config/config.h - environment + JSON file -> one immutable config struct.
 *
 * Precedence, as the seed: environment > JSON file > defaults (instance
 * identity fills the region later, in main, when both are empty).  A field
 * takes a lower-priority value only while it is still unset.  String values
 * are trimmed.  Any invalid value (bad JSON in ECS_RESERVED_PORTS, unknown
 * log level, unparsable duration or boolean, bad attribute map, unreadable
 * or malformed config file) is an ERR_TERMINAL error whose one-line message
 * names the key and the problem; main exits 5 on it.  Secrets read here
 * (AWS keys, engine auth data) are registered with the log redactor.
 */
#ifndef CONFIG_CONFIG_H
#define CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/error.h"
#include "log/log.h"
#include "task/options.h"

/* Defaults of the durations below (the engine uses them too). */
#define CONFIG_DEFAULT_TASK_CLEANUP_WAIT_MS (3ULL * 3600 * 1000)
#define CONFIG_DEFAULT_CONTAINER_STOP_TIMEOUT_MS 30000ULL

struct config_kv
{
  char *key;
  char *value;
};

/* ECS_LAUNCH_CONCURRENCY when unset (README: how it was chosen). */
#define CONFIG_DEFAULT_LAUNCH_CONCURRENCY 8

/* ECS_IMAGE_PULL_BEHAVIOR */
enum config_pull_behavior
{
  CONFIG_PULL_DEFAULT = 0, /* always pull; a failed pull falls back to a local copy */
  CONFIG_PULL_ALWAYS,      /* always pull; a failed pull stops the task */
  CONFIG_PULL_ONCE,        /* pull unless this image name was pulled successfully before */
  CONFIG_PULL_PREFER_CACHED, /* pull only when no local copy; disables image cleanup */
};

/* Image pulls, automated image cleanup, pre-caching, launch concurrency
   (config_images.c; defaults in the comments, upstream's where it has the
   key; every key also from the JSON file under upstream's Go field name). */
struct config_images
{
  enum config_pull_behavior pull_behavior; /* ECS_IMAGE_PULL_BEHAVIOR (unknown text = default) */
  uint64_t pull_timeout_ms;            /* ECS_IMAGE_PULL_TIMEOUT, 2h (0 = 2h) */
  uint64_t pull_inactivity_timeout_ms; /* ECS_IMAGE_PULL_INACTIVITY_TIMEOUT, 1m (at least 1m) */
  bool cleanup_enabled;                /* !ECS_DISABLE_IMAGE_CLEANUP and not prefer-cached */
  uint64_t cleanup_interval_ms;        /* ECS_IMAGE_CLEANUP_INTERVAL, 30m (below 10m = 30m) */
  uint64_t min_cleanup_age_ms;         /* ECS_IMAGE_MINIMUM_CLEANUP_AGE, 1h */
  int images_per_cycle;                /* ECS_NUM_IMAGES_DELETE_PER_CYCLE, 5 (below 1 = 5) */
  char **exclude;                      /* ECS_EXCLUDE_UNTRACKED_IMAGE, comma-separated, untrimmed */
  size_t n_exclude;
  bool untracked_cleanup;              /* ECS_ENABLE_UNTRACKED_IMAGE_CLEANUP, false */
  uint64_t nonecs_min_age_ms;          /* NON_ECS_IMAGE_MINIMUM_CLEANUP_AGE, 1h (against Created) */
  int nonecs_containers_per_cycle;     /* NONECS_NUM_CONTAINERS_DELETE_PER_CYCLE, 5 (negative = 5) */
  char **precache;                     /* ECS_PRECACHE_IMAGES, comma-separated, trimmed */
  size_t n_precache;
  int launch_concurrency;              /* ECS_LAUNCH_CONCURRENCY (0 = unlimited) */
  bool pull_dependent_upfront;         /* ECS_PULL_DEPENDENT_CONTAINERS_UPFRONT, false (engine/plan.h) */
};

struct agent_config
{
  char *cluster;          /* ECS_CLUSTER; "default" if unset */
  bool cluster_defaulted; /* no cluster configured: "default", created if missing */
  char *api_endpoint;     /* ECS_BACKEND_HOST; NULL = derive from region */
  char *docker_endpoint;  /* DOCKER_HOST; unix:///var/run/docker.sock */
  char *aws_region;       /* AWS_DEFAULT_REGION (or AWS_REGION); NULL = from IMDS, else us-west-2 */
  int *reserved_ports;    /* ECS_RESERVED_PORTS */
  size_t n_reserved_ports;
  int *reserved_ports_udp; /* ECS_RESERVED_PORTS_UDP */
  size_t n_reserved_ports_udp;
  char *data_dir;         /* ECS_DATADIR, default /data/ */
  char *cgroup_path;      /* ECS_CGROUP_PATH, default /sys/fs/cgroup (task cgroups) */
  bool checkpoint;        /* ECS_CHECKPOINT; default: true iff ECS_DATADIR set */
  char *engine_auth_type; /* ECS_ENGINE_AUTH_TYPE: docker | dockercfg */
  char *engine_auth_data; /* ECS_ENGINE_AUTH_DATA, raw JSON (secret) */
  bool updates_enabled;   /* ECS_UPDATES_ENABLED */
  char *update_download_dir; /* ECS_UPDATE_DOWNLOAD_DIR, default "." */
  enum log_level log_level;  /* ECS_LOGLEVEL, then -loglevel */
  char *log_file;            /* ECS_LOGFILE */
  /* ECS_LOG_ROLLOVER_TYPE (size | hourly, default hourly),
     ECS_LOG_MAX_FILE_SIZE_MB (default 5), ECS_LOG_MAX_ROLL_COUNT (default
     24): how the log file and the audit log file roll (log_set_rollover);
     a malformed value keeps its default and leaves log_warning */
  enum log_rollover log_rollover;
  double log_max_file_size_mb;
  int log_max_roll_count;
  char *log_warning; /* for main to log; NULL = none */
  uint64_t task_cleanup_wait_ms;   /* ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION, default 3h */
  uint64_t container_stop_timeout_ms; /* ECS_CONTAINER_STOP_TIMEOUT, default 30s */
  uint64_t container_start_timeout_ms;  /* ECS_CONTAINER_START_TIMEOUT, 3m (0 = 3m, at least 45s) */
  uint64_t container_create_timeout_ms; /* ECS_CONTAINER_CREATE_TIMEOUT, 4m (0 = 4m, at least 1m) */
  uint64_t reserved_memory_mib;    /* ECS_RESERVED_MEMORY */
  struct config_kv *instance_attributes; /* ECS_INSTANCE_ATTRIBUTES, JSON object of strings */
  size_t n_instance_attributes;
  /* ECS_CONTAINER_INSTANCE_TAGS (JSON object of strings): the container
     instance's tags, sent with every registration */
  struct config_kv *instance_tags;
  size_t n_instance_tags;
  /* ECS_CONTAINER_INSTANCE_PROPAGATE_TAGS_FROM=ec2_instance: the EC2
     instance's tags (instance metadata tags/instance) are added to them */
  bool propagate_tags_ec2;
  char *introspection_addr; /* ECS_INTROSPECTION_LISTEN_ADDR, default 0.0.0.0 */
  int introspection_port;   /* ECS_INTROSPECTION_PORT, default 51678 */
  /* The task metadata and credentials server (tmds/tmds.h); upstream
     listens on 127.0.0.1:51679 without a key, these move it (tests). */
  char *tmds_addr; /* ECS_TASK_METADATA_LISTEN_ADDR, default 127.0.0.1 */
  int tmds_port;   /* ECS_TASK_METADATA_PORT, default 51679 */
  /* ECS_TASK_METADATA_RPS_LIMIT "<steady>,<burst>" (default 40,60; a
     malformed value or one <= 0 gives the default, as upstream) */
  unsigned tmds_rps_steady, tmds_rps_burst;
  /* The credentials audit log (log/log.h log_audit): ECS_AUDIT_LOGFILE,
     default audit.log next to ECS_LOGFILE (upstream: /log/audit.log beside
     /log/ecs-agent.log), none without ECS_LOGFILE; ECS_AUDIT_LOGFILE_DISABLED
     keeps it to stdout. */
  char *audit_log_file;
  bool audit_log_disabled;
  bool task_iam_role;              /* ECS_ENABLE_TASK_IAM_ROLE: capability only */
  bool task_iam_role_network_host; /* ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST: capability only */
  /* GET /v1/health bounds (core/health.h); 0 = the defaults there */
  uint64_t health_acs_grace_ms;       /* ECS_HEALTH_ACS_GRACE, default 3m */
  uint64_t health_docker_interval_ms; /* ECS_HEALTH_DOCKER_INTERVAL, default 10s (bound 3x) */
  uint64_t health_queue_stall_ms;     /* ECS_HEALTH_QUEUE_STALL, default 5m */
  char *imds_endpoint;      /* AWS_EC2_METADATA_SERVICE_ENDPOINT */
  char *access_key_id;      /* AWS_ACCESS_KEY_ID (secret) */
  char *secret_access_key;  /* AWS_SECRET_ACCESS_KEY (secret) */
  char *session_token;      /* AWS_SESSION_TOKEN (secret) */
  bool insecure;            /* -k */
  bool spot_instance_draining; /* ECS_ENABLE_SPOT_INSTANCE_DRAINING */
  bool disable_metrics;     /* ECS_DISABLE_METRICS: no CPU/memory telemetry (idle reports),
                               and the task metadata stats routes fail as upstream's */
  bool disable_task_metadata_az; /* ECS_DISABLE_TASK_METADATA_AZ: no AvailabilityZone in
                                    the task metadata answers */
  bool poll_metrics;        /* ECS_POLL_METRICS: poll stats instead of streaming them */
  uint64_t polling_metrics_wait_ms; /* ECS_POLLING_METRICS_WAIT_DURATION (config_polling_metrics_wait) */
  char *metrics_warning;    /* that value ignored or clamped, for main to log; NULL = none */
  char *config_file;        /* the file that was read, NULL if none */
  /* Container option gates (config_options.c): ECS_DISABLE_PRIVILEGED,
     ECS_SELINUX_CAPABLE, ECS_APPARMOR_CAPABLE, ECS_AVAILABLE_LOGGING_DRIVERS
     (unknown name: ERR_TERMINAL; malformed: default + warning),
     ECS_DYNAMIC_HOST_PORT_RANGE (unparsable: default + warning),
     ECS_ENABLE_TASK_CPU_MEM_LIMIT, ECS_DISABLE_DOCKER_HEALTH_CHECK. */
  struct task_option_gates gates;
  char *gates_warning; /* a value ignored for its default, for main to log; NULL = none */
  struct config_images images;
};

/* ECS_POLLING_METRICS_WAIT_DURATION as upstream reads it (pure): a Go
   duration; unset, 0 or unparsable (*warning says so) -> 10 s; with
   poll_metrics clamped to 5..20 s (*warning says so; upstream clamps only
   when polling).  *warning is malloc'd or NULL. */
#define CONFIG_POLLING_METRICS_WAIT_DEFAULT_MS 10000
#define CONFIG_POLLING_METRICS_WAIT_MIN_MS 5000
#define CONFIG_POLLING_METRICS_WAIT_MAX_MS 20000
uint64_t config_polling_metrics_wait (const char *value, bool poll_metrics, char **warning);

/* getenv-like lookup, so tests can feed a fixed environment. */
typedef const char *(*config_getenv_fn) (const char *name, void *data);

/* Fill cfg (zeroed by the caller) from env and the JSON file named by
   ECS_AGENT_CONFIG_FILE_PATH (default /etc/ecs_container_agent/config.json). */
int config_load (struct agent_config *cfg, config_getenv_fn env, void *env_data,
                 agent_error_t *err);
/* Uses the process environment. */
int config_load_env (struct agent_config *cfg, agent_error_t *err);
#define CONFIG_TMDS_RPS_STEADY 40
#define CONFIG_TMDS_RPS_BURST 60
/* ECS_TASK_METADATA_RPS_LIMIT's value (NULL = unset) -> steady, burst. */
void config_rps_limit (const char *v, unsigned *steady, unsigned *burst);

void config_free (struct agent_config *cfg);

/* The option gates alone (config_load calls it): fills *x->gates;
   proc_port_range = the file holding the kernel's ephemeral port range
   (the default of ECS_DYNAMIC_HOST_PORT_RANGE), NULL = none. */
struct config_options_ctx
{
  struct task_option_gates *gates;
  const char *proc_port_range;
  char *warning; /* malloc'd, caller frees */
};
int config_load_options (struct config_options_ctx *x, config_getenv_fn env, void *env_data,
                         agent_error_t *err);

/* Go-style duration ("3h", "1m30s", "250ms", "10s"). */
int config_parse_duration (const char *s, uint64_t *ms, agent_error_t *err);
/* Go strconv.ParseBool. */
int config_parse_bool (const char *s, bool *out, agent_error_t *err);

#endif
