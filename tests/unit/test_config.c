/* Unit tests for config/: every key, defaults, precedence, every error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config/config.h"
#include "core/xmalloc.h"

struct fake_env
{
  const char *kv[64];
};

static const char *
fake_getenv (const char *name, void *data)
{
  struct fake_env *e = data;
  for (size_t i = 0; e->kv[i]; i += 2)
    if (strcmp (e->kv[i], name) == 0)
      return e->kv[i + 1];
  return NULL;
}

static int
load (struct agent_config *cfg, struct fake_env *e, agent_error_t *err)
{
  memset (cfg, 0, sizeof *cfg);
  return config_load (cfg, fake_getenv, e, err);
}

static char *
write_tmp (const char *content)
{
  char *path = xstrdup ("/tmp/ecs-config-test-XXXXXX");
  int fd = mkstemp (path);
  assert_true (fd >= 0);
  assert_int_equal (write (fd, content, strlen (content)), (ssize_t) strlen (content));
  close (fd);
  return path;
}

static void
test_defaults (void **state)
{
  (void) state;
  struct fake_env e = { { "ECS_AGENT_CONFIG_FILE_PATH", "/nonexistent/config.json", NULL } };
  struct agent_config cfg;
  agent_error_t err = NULL;
  assert_int_equal (load (&cfg, &e, &err), 0);
  assert_string_equal (cfg.cluster, "default");
  assert_string_equal (cfg.docker_endpoint, "unix:///var/run/docker.sock");
  assert_string_equal (cfg.data_dir, "/data/");
  assert_string_equal (cfg.cgroup_path, "/sys/fs/cgroup");
  assert_false (cfg.checkpoint);
  assert_false (cfg.updates_enabled);
  assert_int_equal (cfg.n_reserved_ports, 5);
  assert_int_equal (cfg.reserved_ports[0], 22);
  assert_int_equal (cfg.reserved_ports[3], 51678);
  assert_int_equal (cfg.log_level, LOG_INFO);
  assert_null (cfg.log_file);
  assert_null (cfg.aws_region);
  assert_null (cfg.api_endpoint);
  assert_true (cfg.task_cleanup_wait_ms == 3ULL * 3600 * 1000);
  assert_true (cfg.container_stop_timeout_ms == 30000);
  assert_true (cfg.container_start_timeout_ms == 180000);
  assert_true (cfg.container_create_timeout_ms == 240000);
  assert_int_equal (cfg.introspection_port, 51678);
  assert_string_equal (cfg.introspection_addr, "0.0.0.0");
  assert_string_equal (cfg.update_download_dir, ".");
  config_free (&cfg);
}

/* ECS_CONTAINER_START_TIMEOUT / ECS_CONTAINER_CREATE_TIMEOUT: upstream's
   defaults (3m / 4m), 0 = default, below the minimum (45s / 1m) = the minimum. */
/* ECS_LOG_ROLLOVER_TYPE / ECS_LOG_MAX_FILE_SIZE_MB / ECS_LOG_MAX_ROLL_COUNT:
   hourly, 5 and 24 by default; a malformed value keeps its default and is
   reported in log_warning (upstream logs it and goes on). */
static void
test_log_rollover (void **state)
{
  (void) state;
  struct agent_config cfg;
  agent_error_t err = NULL;
  struct fake_env e = { { "ECS_AGENT_CONFIG_FILE_PATH", "/nonexistent/config.json", NULL } };
  assert_int_equal (load (&cfg, &e, &err), 0);
  assert_int_equal (cfg.log_rollover, LOG_ROLL_HOURLY);
  assert_true (cfg.log_max_file_size_mb == 5);
  assert_int_equal (cfg.log_max_roll_count, 24);
  assert_null (cfg.log_warning);
  config_free (&cfg);
  struct fake_env e2 = { { "ECS_AGENT_CONFIG_FILE_PATH", "/nonexistent/config.json",
                           "ECS_LOG_ROLLOVER_TYPE", "size", "ECS_LOG_MAX_FILE_SIZE_MB", "0.5",
                           "ECS_LOG_MAX_ROLL_COUNT", "3", NULL } };
  assert_int_equal (load (&cfg, &e2, &err), 0);
  assert_int_equal (cfg.log_rollover, LOG_ROLL_SIZE);
  assert_true (cfg.log_max_file_size_mb == 0.5);
  assert_int_equal (cfg.log_max_roll_count, 3);
  assert_null (cfg.log_warning);
  config_free (&cfg);
  struct fake_env e3 = { { "ECS_AGENT_CONFIG_FILE_PATH", "/nonexistent/config.json",
                           "ECS_LOG_ROLLOVER_TYPE", "daily", "ECS_LOG_MAX_FILE_SIZE_MB", "-1",
                           "ECS_LOG_MAX_ROLL_COUNT", "x", NULL } };
  assert_int_equal (load (&cfg, &e3, &err), 0);
  assert_int_equal (cfg.log_rollover, LOG_ROLL_HOURLY);
  assert_true (cfg.log_max_file_size_mb == 5);
  assert_int_equal (cfg.log_max_roll_count, 24);
  assert_non_null (strstr (cfg.log_warning, "ECS_LOG_ROLLOVER_TYPE"));
  assert_non_null (strstr (cfg.log_warning, "ECS_LOG_MAX_FILE_SIZE_MB"));
  assert_non_null (strstr (cfg.log_warning, "ECS_LOG_MAX_ROLL_COUNT"));
  config_free (&cfg);
}

/* ECS_TASK_METADATA_RPS_LIMIT: "<steady>,<burst>", spaces trimmed; any
   malformed or non-positive value gives upstream's default 40,60.  The
   audit log file: ECS_AUDIT_LOGFILE, else beside ECS_LOGFILE. */
static void
test_task_metadata_limit_and_audit (void **state)
{
  (void) state;
  static const struct
  {
    const char *v;
    unsigned steady, burst;
  } rows[] = {
    { NULL, 40, 60 },    { "10,20", 10, 20 }, { " 5 , 7 ", 5, 7 }, { "0,60", 40, 60 },
    { "40,-1", 40, 60 }, { "40", 40, 60 },    { "a,b", 40, 60 },   { "1,2,3", 40, 60 },
    { ",", 40, 60 },     { "99999999999,1", 40, 60 },
  };
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
    {
      unsigned st, bu;
      config_rps_limit (rows[i].v, &st, &bu);
      assert_int_equal (st, rows[i].steady);
      assert_int_equal (bu, rows[i].burst);
    }
  struct fake_env e = { { "ECS_AGENT_CONFIG_FILE_PATH", "/nonexistent/config.json",
                          "ECS_TASK_METADATA_RPS_LIMIT", "3,4", "ECS_LOGFILE", "/log/ecs-agent.log",
                          NULL } };
  struct agent_config cfg;
  agent_error_t err = NULL;
  assert_int_equal (load (&cfg, &e, &err), 0);
  assert_int_equal (cfg.tmds_rps_steady, 3);
  assert_int_equal (cfg.tmds_rps_burst, 4);
  assert_string_equal (cfg.audit_log_file, "/log/audit.log");
  assert_false (cfg.audit_log_disabled);
  config_free (&cfg);
  struct fake_env e2 = { { "ECS_AGENT_CONFIG_FILE_PATH", "/nonexistent/config.json",
                           "ECS_AUDIT_LOGFILE", "/var/log/a.log", "ECS_AUDIT_LOGFILE_DISABLED", "true",
                           NULL } };
  assert_int_equal (load (&cfg, &e2, &err), 0);
  assert_string_equal (cfg.audit_log_file, "/var/log/a.log");
  assert_true (cfg.audit_log_disabled);
  assert_int_equal (cfg.tmds_rps_steady, 40);
  config_free (&cfg);
  struct fake_env e3 = { { "ECS_AGENT_CONFIG_FILE_PATH", "/nonexistent/config.json", NULL } };
  assert_int_equal (load (&cfg, &e3, &err), 0);
  assert_null (cfg.audit_log_file); /* no ECS_LOGFILE: stdout only */
  config_free (&cfg);
  struct fake_env e4 = { { "ECS_AGENT_CONFIG_FILE_PATH", "/nonexistent/config.json",
                           "ECS_AUDIT_LOGFILE_DISABLED", "maybe", NULL } };
  assert_true (load (&cfg, &e4, &err) < 0);
  error_free (&err);
  config_free (&cfg);
}

static void
test_start_create_timeouts (void **state)
{
  (void) state;
  static const struct
  {
    const char *start, *create;
    uint64_t want_start, want_create;
  } rows[] = {
    { "90s", "5m", 90000, 300000 },
    { "0", "0s", 180000, 240000 },
    { "10s", "30s", 45000, 60000 },
    { "1h", "1m", 3600000, 60000 },
  };
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
    {
      struct fake_env e = { { "ECS_AGENT_CONFIG_FILE_PATH", "/nonexistent/config.json",
                              "ECS_CONTAINER_START_TIMEOUT", rows[i].start,
                              "ECS_CONTAINER_CREATE_TIMEOUT", rows[i].create, NULL } };
      struct agent_config cfg;
      agent_error_t err = NULL;
      assert_int_equal (load (&cfg, &e, &err), 0);
      assert_true (cfg.container_start_timeout_ms == rows[i].want_start);
      assert_true (cfg.container_create_timeout_ms == rows[i].want_create);
      config_free (&cfg);
    }
}

static void
test_every_env_key (void **state)
{
  (void) state;
  struct fake_env e = { {
      "ECS_AGENT_CONFIG_FILE_PATH", "/nonexistent",
      "ECS_CLUSTER", "  prod  ",
      "ECS_RESERVED_PORTS", "[22, 80]",
      "ECS_RESERVED_PORTS_UDP", "[53]",
      "ECS_ENGINE_AUTH_TYPE", " docker ",
      "ECS_ENGINE_AUTH_DATA", "{\"https://index.docker.io/v1/\":{\"username\":\"u\",\"password\":\"p4ssw0rd\"}}",
      "AWS_DEFAULT_REGION", " eu-west-1 ",
      "AWS_ACCESS_KEY_ID", "AKIDEXAMPLE",
      "AWS_SECRET_ACCESS_KEY", "secretsecret",
      "AWS_SESSION_TOKEN", "tokentoken",
      "DOCKER_HOST", "tcp://127.0.0.1:2375",
      "ECS_LOGLEVEL", "DEBUG",
      "ECS_LOGFILE", "/tmp/x.log",
      "ECS_DATADIR", "/var/lib/ecs", "ECS_CGROUP_PATH", " /host/cgroup ",
      "ECS_UPDATES_ENABLED", "true",
      "ECS_UPDATE_DOWNLOAD_DIR", "/var/cache/ecs",
      "ECS_BACKEND_HOST", "http://127.0.0.1:8080",
      "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", "1m30s",
      "ECS_CONTAINER_STOP_TIMEOUT", "10s",
      "ECS_RESERVED_MEMORY", "256",
      "ECS_INSTANCE_ATTRIBUTES", "{\"stack\":\"prod\",\"tier\":\"web\"}",
      "ECS_INTROSPECTION_LISTEN_ADDR", "127.0.0.1",
      "ECS_INTROSPECTION_PORT", "5000",
      "AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1234",
      NULL } };
  struct agent_config cfg;
  agent_error_t err = NULL;
  assert_int_equal (load (&cfg, &e, &err), 0);
  assert_string_equal (cfg.cluster, "prod");
  assert_int_equal (cfg.n_reserved_ports, 2);
  assert_int_equal (cfg.reserved_ports[1], 80);
  assert_int_equal (cfg.n_reserved_ports_udp, 1);
  assert_int_equal (cfg.reserved_ports_udp[0], 53);
  assert_string_equal (cfg.engine_auth_type, "docker");
  assert_non_null (strstr (cfg.engine_auth_data, "p4ssw0rd"));
  assert_string_equal (cfg.aws_region, "eu-west-1");
  assert_string_equal (cfg.access_key_id, "AKIDEXAMPLE");
  assert_string_equal (cfg.docker_endpoint, "tcp://127.0.0.1:2375");
  assert_int_equal (cfg.log_level, LOG_DEBUG);
  assert_string_equal (cfg.log_file, "/tmp/x.log");
  assert_string_equal (cfg.data_dir, "/var/lib/ecs");
  assert_string_equal (cfg.cgroup_path, "/host/cgroup");
  assert_true (cfg.checkpoint); /* default: on when ECS_DATADIR is given */
  assert_true (cfg.updates_enabled);
  assert_string_equal (cfg.update_download_dir, "/var/cache/ecs");
  assert_string_equal (cfg.api_endpoint, "http://127.0.0.1:8080");
  assert_true (cfg.task_cleanup_wait_ms == 90000);
  assert_true (cfg.container_stop_timeout_ms == 10000);
  assert_true (cfg.reserved_memory_mib == 256);
  assert_int_equal (cfg.n_instance_attributes, 2);
  assert_string_equal (cfg.introspection_addr, "127.0.0.1");
  assert_int_equal (cfg.introspection_port, 5000);
  assert_string_equal (cfg.imds_endpoint, "http://127.0.0.1:1234");
  /* secrets are registered with the redactor */
  char *line = log_redact (xstrdup ("key secretsecret and tokentoken and p4ssw0rd"));
  assert_null (strstr (line, "secretsecret"));
  assert_null (strstr (line, "tokentoken"));
  free (line);
  config_free (&cfg);
}

static void
test_checkpoint_explicit_off (void **state)
{
  (void) state;
  struct fake_env e = { { "ECS_AGENT_CONFIG_FILE_PATH", "/nonexistent", "ECS_DATADIR", "/d",
                          "ECS_CHECKPOINT", "false", NULL } };
  struct agent_config cfg;
  agent_error_t err = NULL;
  assert_int_equal (load (&cfg, &e, &err), 0);
  assert_false (cfg.checkpoint);
  config_free (&cfg);
}

static void
test_blank_env_does_not_override (void **state)
{
  (void) state;
  cleanup_free char *path = write_tmp ("{\"Cluster\":\"fromfile\"}");
  struct fake_env e = { { "ECS_AGENT_CONFIG_FILE_PATH", path, "ECS_CLUSTER", "   ", NULL } };
  struct agent_config cfg;
  agent_error_t err = NULL;
  assert_int_equal (load (&cfg, &e, &err), 0);
  assert_string_equal (cfg.cluster, "fromfile");
  config_free (&cfg);
  unlink (path);
}

static void
test_file_and_precedence (void **state)
{
  (void) state;
  cleanup_free char *path = write_tmp (
      "{\"cluster\":\" filecluster \",\"APIENDPOINT\":\"https://x\",\"AWSRegion\":\"us-east-1\","
      "\"ReservedPorts\":[1,2,3],\"DataDir\":\"/fd\",\"Checkpoint\":true,\"EngineAuthType\":\"dockercfg\","
      "\"EngineAuthData\":{\"reg\":{\"auth\":\"dTpw\"}},\"UpdatesEnabled\":true,"
      "\"UpdateDownloadDir\":\"/u\",\"DockerEndpoint\":\"unix:///x.sock\",\"Unknown\":1,"
      "\"TaskCleanupWaitDuration\":\"2m\",\"ReservedMemory\":64,\"InstanceAttributes\":{\"a\":\"b\"}}");
  struct fake_env e = { { "ECS_AGENT_CONFIG_FILE_PATH", path, "ECS_CLUSTER", "envcluster",
                          "ECS_CHECKPOINT", "false", NULL } };
  struct agent_config cfg;
  agent_error_t err = NULL;
  assert_int_equal (load (&cfg, &e, &err), 0);
  assert_string_equal (cfg.cluster, "envcluster"); /* env wins */
  assert_string_equal (cfg.api_endpoint, "https://x");
  assert_string_equal (cfg.aws_region, "us-east-1");
  assert_int_equal (cfg.n_reserved_ports, 3);
  assert_string_equal (cfg.data_dir, "/fd");
  assert_false (cfg.checkpoint); /* explicit env false wins */
  assert_string_equal (cfg.engine_auth_type, "dockercfg");
  assert_non_null (strstr (cfg.engine_auth_data, "dTpw"));
  assert_true (cfg.updates_enabled);
  assert_string_equal (cfg.update_download_dir, "/u");
  assert_string_equal (cfg.docker_endpoint, "unix:///x.sock");
  assert_true (cfg.task_cleanup_wait_ms == 120000);
  assert_true (cfg.reserved_memory_mib == 64);
  assert_int_equal (cfg.n_instance_attributes, 1);
  assert_string_equal (cfg.config_file, path);
  config_free (&cfg);
  unlink (path);
}

static void
test_file_whitespace_only_ignored (void **state)
{
  (void) state;
  cleanup_free char *path = write_tmp ("  \n\t ");
  struct fake_env e = { { "ECS_AGENT_CONFIG_FILE_PATH", path, NULL } };
  struct agent_config cfg;
  agent_error_t err = NULL;
  assert_int_equal (load (&cfg, &e, &err), 0);
  assert_string_equal (cfg.cluster, "default");
  config_free (&cfg);
  unlink (path);
}

struct bad_case
{
  const char *key, *value, *expect; /* expect: substring of the message */
};

/* Image keys: upstream's defaults and clamping, lists. */
static void
test_image_keys (void **state)
{
  (void) state;
  struct agent_config cfg;
  agent_error_t err = NULL;
  struct fake_env d = { { "ECS_AGENT_CONFIG_FILE_PATH", "/nonexistent", NULL } };
  assert_int_equal (load (&cfg, &d, &err), 0);
  const struct config_images *ci = &cfg.images;
  assert_int_equal (ci->pull_behavior, CONFIG_PULL_DEFAULT);
  assert_int_equal (ci->pull_timeout_ms, 2 * 3600 * 1000);
  assert_int_equal (ci->pull_inactivity_timeout_ms, 60 * 1000);
  assert_true (ci->cleanup_enabled);
  assert_int_equal (ci->cleanup_interval_ms, 30 * 60 * 1000);
  assert_int_equal (ci->min_cleanup_age_ms, 3600 * 1000);
  assert_int_equal (ci->images_per_cycle, 5);
  assert_int_equal (ci->n_exclude, 0);
  assert_int_equal (ci->n_precache, 0);
  assert_int_equal (ci->launch_concurrency, CONFIG_DEFAULT_LAUNCH_CONCURRENCY);
  assert_false (ci->pull_dependent_upfront);
  config_free (&cfg);

  struct fake_env e = { { "ECS_AGENT_CONFIG_FILE_PATH", "/nonexistent",
                          "ECS_IMAGE_PULL_BEHAVIOR", "once",
                          "ECS_IMAGE_PULL_TIMEOUT", "10m",
                          "ECS_IMAGE_PULL_INACTIVITY_TIMEOUT", "30s", /* below 1m: 1m */
                          "ECS_IMAGE_CLEANUP_INTERVAL", "5m",         /* below 10m: 30m */
                          "ECS_IMAGE_MINIMUM_CLEANUP_AGE", "0",
                          "ECS_NUM_IMAGES_DELETE_PER_CYCLE", "0",     /* below 1: 5 */
                          "ECS_EXCLUDE_UNTRACKED_IMAGE", "a:1, b:2,,c",
                          "ECS_PRECACHE_IMAGES", " busybox:1 ,reg:5000/x:2,",
                          "ECS_LAUNCH_CONCURRENCY", "0",
                          "ECS_PULL_DEPENDENT_CONTAINERS_UPFRONT", "true",
                          NULL } };
  assert_int_equal (load (&cfg, &e, &err), 0);
  assert_int_equal (ci->pull_behavior, CONFIG_PULL_ONCE);
  assert_int_equal (ci->pull_timeout_ms, 600 * 1000);
  assert_int_equal (ci->pull_inactivity_timeout_ms, 60 * 1000);
  assert_int_equal (ci->cleanup_interval_ms, 30 * 60 * 1000);
  assert_int_equal (ci->min_cleanup_age_ms, 0);
  assert_int_equal (ci->images_per_cycle, 5);
  assert_int_equal (ci->n_exclude, 3); /* not trimmed, empty items dropped */
  assert_string_equal (ci->exclude[0], "a:1");
  assert_string_equal (ci->exclude[1], " b:2");
  assert_string_equal (ci->exclude[2], "c");
  assert_int_equal (ci->n_precache, 2);
  assert_string_equal (ci->precache[0], "busybox:1");
  assert_string_equal (ci->precache[1], "reg:5000/x:2");
  assert_int_equal (ci->launch_concurrency, 0);
  assert_true (ci->pull_dependent_upfront);
  config_free (&cfg);

  static const struct
  {
    const char *behavior, *disable;
    enum config_pull_behavior want;
    bool cleanup;
  } rows[] = {
    { "always", NULL, CONFIG_PULL_ALWAYS, true },
    { "prefer-cached", NULL, CONFIG_PULL_PREFER_CACHED, false },
    { "sometimes", NULL, CONFIG_PULL_DEFAULT, true },
    { "default", "true", CONFIG_PULL_DEFAULT, false },
  };
  for (size_t i = 0; i < ARRAY_SIZE (rows); i++)
    {
      struct fake_env f = { { "ECS_AGENT_CONFIG_FILE_PATH", "/nonexistent", "ECS_IMAGE_PULL_BEHAVIOR",
                              rows[i].behavior, rows[i].disable ? "ECS_DISABLE_IMAGE_CLEANUP" : NULL,
                              rows[i].disable, NULL } };
      assert_int_equal (load (&cfg, &f, &err), 0);
      assert_int_equal (ci->pull_behavior, rows[i].want);
      assert_int_equal (ci->cleanup_enabled, rows[i].cleanup);
      config_free (&cfg);
    }
}

/* Image keys from the JSON config file (upstream's Go field names, any
   case; durations in nanoseconds or as text), the environment winning. */
static void
test_image_keys_file (void **state)
{
  (void) state;
  cleanup_free char *path = write_tmp (
      "{\"ImagePullBehavior\":2,\"ImagePullTimeout\":600000000000,\"imagepullinactivitytimeout\":\"3m\","
      "\"ImageCleanupInterval\":\"15m\",\"MinimumImageDeletionAge\":1800000000000,"
      "\"NonECSMinimumImageDeletionAge\":\"2h\",\"NumImagesToDeletePerCycle\":7,"
      "\"NumNonECSContainersToDeletePerCycle\":3,\"ImageCleanupDisabled\":false,"
      "\"DeleteNonECSImagesEnabled\":true,\"ImageCleanupExclusionList\":[\"a:1\",\" b:2\"],"
      "\"DependentContainersPullUpfront\":true,\"LaunchConcurrency\":3,"
      "\"PrecacheImages\":[\" busybox:1 \",\"\"],\"Cluster\":\"c\"}");
  struct fake_env e = { { "ECS_AGENT_CONFIG_FILE_PATH", path, NULL } };
  struct agent_config cfg;
  agent_error_t err = NULL;
  if (load (&cfg, &e, &err) < 0)
    fail_msg ("%s", error_msg (&err));
  const struct config_images *ci = &cfg.images;
  assert_int_equal (ci->pull_behavior, CONFIG_PULL_ONCE);
  assert_int_equal (ci->pull_timeout_ms, 600 * 1000);
  assert_int_equal (ci->pull_inactivity_timeout_ms, 180 * 1000);
  assert_int_equal (ci->cleanup_interval_ms, 15 * 60 * 1000);
  assert_int_equal (ci->min_cleanup_age_ms, 30 * 60 * 1000);
  assert_int_equal (ci->nonecs_min_age_ms, 2 * 3600 * 1000);
  assert_int_equal (ci->images_per_cycle, 7);
  assert_int_equal (ci->nonecs_containers_per_cycle, 3);
  assert_true (ci->cleanup_enabled);
  assert_true (ci->untracked_cleanup);
  assert_int_equal (ci->n_exclude, 2);
  assert_string_equal (ci->exclude[1], " b:2"); /* untrimmed, as from the environment */
  assert_true (ci->pull_dependent_upfront);
  assert_int_equal (ci->launch_concurrency, 3);
  assert_int_equal (ci->n_precache, 1);
  assert_string_equal (ci->precache[0], "busybox:1");
  config_free (&cfg);

  /* every key given in the environment too: the environment wins */
  struct fake_env f = { { "ECS_AGENT_CONFIG_FILE_PATH", path,
                          "ECS_IMAGE_PULL_BEHAVIOR", "always",
                          "ECS_IMAGE_PULL_TIMEOUT", "20m",
                          "ECS_IMAGE_PULL_INACTIVITY_TIMEOUT", "5m",
                          "ECS_IMAGE_CLEANUP_INTERVAL", "40m",
                          "ECS_IMAGE_MINIMUM_CLEANUP_AGE", "10m",
                          "NON_ECS_IMAGE_MINIMUM_CLEANUP_AGE", "0",
                          "ECS_NUM_IMAGES_DELETE_PER_CYCLE", "2",
                          "NONECS_NUM_CONTAINERS_DELETE_PER_CYCLE", "0",
                          "ECS_DISABLE_IMAGE_CLEANUP", "true",
                          "ECS_ENABLE_UNTRACKED_IMAGE_CLEANUP", "false",
                          "ECS_EXCLUDE_UNTRACKED_IMAGE", "z:9",
                          "ECS_PULL_DEPENDENT_CONTAINERS_UPFRONT", "false",
                          "ECS_LAUNCH_CONCURRENCY", "0",
                          "ECS_PRECACHE_IMAGES", "alpine:3",
                          NULL } };
  if (load (&cfg, &f, &err) < 0)
    fail_msg ("%s", error_msg (&err));
  assert_int_equal (ci->pull_behavior, CONFIG_PULL_ALWAYS);
  assert_int_equal (ci->pull_timeout_ms, 20 * 60 * 1000);
  assert_int_equal (ci->pull_inactivity_timeout_ms, 5 * 60 * 1000);
  assert_int_equal (ci->cleanup_interval_ms, 40 * 60 * 1000);
  assert_int_equal (ci->min_cleanup_age_ms, 10 * 60 * 1000);
  assert_int_equal (ci->nonecs_min_age_ms, 0);
  assert_int_equal (ci->images_per_cycle, 2);
  assert_int_equal (ci->nonecs_containers_per_cycle, 0);
  assert_false (ci->cleanup_enabled);
  assert_false (ci->untracked_cleanup);
  assert_int_equal (ci->n_exclude, 1);
  assert_string_equal (ci->exclude[0], "z:9");
  assert_false (ci->pull_dependent_upfront);
  assert_int_equal (ci->launch_concurrency, 0);
  assert_int_equal (ci->n_precache, 1);
  assert_string_equal (ci->precache[0], "alpine:3");
  config_free (&cfg);
  unlink (path);

  /* behaviour as text; the untracked keys' defaults (off, 1h, 5) */
  cleanup_free char *p2 = write_tmp ("{\"ImagePullBehavior\":\"prefer-cached\",\"ImageCleanupExclusionList\":null}");
  struct fake_env g = { { "ECS_AGENT_CONFIG_FILE_PATH", p2, NULL } };
  if (load (&cfg, &g, &err) < 0)
    fail_msg ("%s", error_msg (&err));
  assert_int_equal (ci->pull_behavior, CONFIG_PULL_PREFER_CACHED);
  assert_false (ci->cleanup_enabled);
  assert_false (ci->untracked_cleanup);
  assert_int_equal (ci->nonecs_min_age_ms, 3600 * 1000);
  assert_int_equal (ci->nonecs_containers_per_cycle, 5);
  assert_int_equal (ci->n_exclude, 0);
  config_free (&cfg);
  unlink (p2);

  /* wrong types name the key */
  static const struct
  {
    const char *json, *expect;
  } bad[] = {
    { "{\"ImagePullBehavior\":7}", "ImagePullBehavior" },
    { "{\"ImagePullTimeout\":true}", "ImagePullTimeout" },
    { "{\"ImageCleanupInterval\":\"soon\"}", "ImageCleanupInterval" },
    { "{\"ImageCleanupDisabled\":\"yes\"}", "ImageCleanupDisabled" },
    { "{\"NumImagesToDeletePerCycle\":\"5\"}", "NumImagesToDeletePerCycle" },
    { "{\"ImageCleanupExclusionList\":\"a:1\"}", "ImageCleanupExclusionList" },
    { "{\"ImageCleanupExclusionList\":[1]}", "ImageCleanupExclusionList" },
    { "{\"LaunchConcurrency\":-2}", "ECS_LAUNCH_CONCURRENCY" },
  };
  for (size_t i = 0; i < ARRAY_SIZE (bad); i++)
    {
      cleanup_free char *p3 = write_tmp (bad[i].json);
      struct fake_env h = { { "ECS_AGENT_CONFIG_FILE_PATH", p3, NULL } };
      int r = load (&cfg, &h, &err);
      if (r >= 0 || strstr (error_msg (&err), bad[i].expect) == NULL)
        fail_msg ("%s: r=%d msg=%s", bad[i].json, r, error_msg (&err));
      assert_int_equal (error_kind (&err), ERR_TERMINAL);
      error_free (&err);
      config_free (&cfg);
      unlink (p3);
    }
}

static void
test_env_errors (void **state)
{
  (void) state;
  static const struct bad_case cases[] = {
    { "ECS_RESERVED_PORTS", "[22, 80", "ECS_RESERVED_PORTS" },
    { "ECS_RESERVED_PORTS", "22", "JSON array" },
    { "ECS_RESERVED_PORTS", "[70000]", "port number" },
    { "ECS_RESERVED_PORTS", "[\"a\"]", "port number" },
    { "ECS_RESERVED_PORTS_UDP", "{}", "ECS_RESERVED_PORTS_UDP" },
    { "ECS_LOGLEVEL", "verbose", "ECS_LOGLEVEL: unknown log level \"verbose\"" },
    { "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", "3 hours", "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION" },
    { "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", "10", "missing unit" },
    { "ECS_CONTAINER_STOP_TIMEOUT", "x", "ECS_CONTAINER_STOP_TIMEOUT" },
    { "ECS_CHECKPOINT", "yes", "ECS_CHECKPOINT" },
    { "ECS_UPDATES_ENABLED", "maybe", "ECS_UPDATES_ENABLED" },
    { "ECS_RESERVED_MEMORY", "-5", "ECS_RESERVED_MEMORY" },
    { "ECS_RESERVED_MEMORY", "12MB", "ECS_RESERVED_MEMORY" },
    { "ECS_INSTANCE_ATTRIBUTES", "[1]", "ECS_INSTANCE_ATTRIBUTES" },
    { "ECS_INSTANCE_ATTRIBUTES", "{\"a\":1}", "not a string" },
    { "ECS_ENGINE_AUTH_TYPE", "basic", "ECS_ENGINE_AUTH_TYPE" },
    { "ECS_ENGINE_AUTH_DATA", "{\"x\": \"supersecretvalue\"", "ECS_ENGINE_AUTH_DATA" },
    { "ECS_INTROSPECTION_PORT", "99999", "ECS_INTROSPECTION_PORT" },
    { "ECS_IMAGE_PULL_TIMEOUT", "2 hours", "ECS_IMAGE_PULL_TIMEOUT" },
    { "ECS_IMAGE_PULL_INACTIVITY_TIMEOUT", "soon", "ECS_IMAGE_PULL_INACTIVITY_TIMEOUT" },
    { "ECS_IMAGE_CLEANUP_INTERVAL", "1", "ECS_IMAGE_CLEANUP_INTERVAL" },
    { "ECS_IMAGE_MINIMUM_CLEANUP_AGE", "x", "ECS_IMAGE_MINIMUM_CLEANUP_AGE" },
    { "ECS_DISABLE_IMAGE_CLEANUP", "nah", "ECS_DISABLE_IMAGE_CLEANUP" },
    { "ECS_NUM_IMAGES_DELETE_PER_CYCLE", "five", "ECS_NUM_IMAGES_DELETE_PER_CYCLE" },
    { "ECS_LAUNCH_CONCURRENCY", "many", "ECS_LAUNCH_CONCURRENCY" },
    { "ECS_LAUNCH_CONCURRENCY", "-1", "ECS_LAUNCH_CONCURRENCY" },
  };
  for (size_t i = 0; i < ARRAY_SIZE (cases); i++)
    {
      struct fake_env e = { { "ECS_AGENT_CONFIG_FILE_PATH", "/nonexistent", cases[i].key,
                              cases[i].value, NULL } };
      struct agent_config cfg;
      agent_error_t err = NULL;
      int r = load (&cfg, &e, &err);
      if (r >= 0 || strstr (error_msg (&err), cases[i].expect) == NULL)
        fail_msg ("%s=%s: r=%d msg=%s", cases[i].key, cases[i].value, r, error_msg (&err));
      assert_int_equal (error_kind (&err), ERR_TERMINAL);
      assert_null (strchr (error_msg (&err), '\n'));
      assert_null (strstr (error_msg (&err), "supersecretvalue"));
      error_free (&err);
      config_free (&cfg);
    }
}

static void
test_file_errors (void **state)
{
  (void) state;
  static const char *const bad[] = {
    "{\"Cluster\": ",           "[1,2]",
    "{\"Cluster\": 5}",         "{\"Checkpoint\": \"yes\"}",
    "{\"ReservedPorts\": [-1]}", "{\"TaskCleanupWaitDuration\": \"soon\"}",
    "{\"ReservedMemory\": \"x\"}",
    "{\"EngineAuthData\": {\"r\": {\"auth\": \"supersecretvalue\" x}}}",
  };
  for (size_t i = 0; i < ARRAY_SIZE (bad); i++)
    {
      cleanup_free char *path = write_tmp (bad[i]);
      struct fake_env e = { { "ECS_AGENT_CONFIG_FILE_PATH", path, NULL } };
      struct agent_config cfg;
      agent_error_t err = NULL;
      if (load (&cfg, &e, &err) >= 0)
        fail_msg ("accepted %s", bad[i]);
      assert_int_equal (error_kind (&err), ERR_TERMINAL);
      assert_null (strstr (error_msg (&err), "supersecretvalue"));
      error_free (&err);
      config_free (&cfg);
      unlink (path);
    }
}

/* ECS_POLLING_METRICS_WAIT_DURATION as upstream: Go durations, 10 s when
   unset / 0 / unparsable (with a warning), clamped to 5..20 s only when
   polling (with upstream's warning). */
static void
test_polling_metrics_wait_table (void **state)
{
  (void) state;
  struct
  {
    const char *v;
    bool poll;
    uint64_t want;
    const char *warning; /* substring, NULL = none */
  } t[] = {
    { NULL, true, 10000, NULL },
    { "", true, 10000, NULL },
    { "0", true, 10000, NULL },
    { "0s", false, 10000, NULL },
    { "15s", true, 15000, NULL },
    { " 7s ", true, 7000, NULL },
    { "1m", true, 20000, "greater than the maximum of 20s. Setting polling interval to maximum." },
    { "1s", true, 5000, "(1s) is less than the minimum of 5s. Setting polling interval to minimum." },
    { "1m", false, 60000, NULL }, /* streaming: not clamped (upstream) */
    { "1s", false, 1000, NULL },
    { "500ms", true, 5000, "less than the minimum" },
    { "20s", true, 20000, NULL },
    { "5s", true, 5000, NULL },
    { "1m30", true, 10000, "Could not parse duration value: 1m30 for Environment Variable "
                           "ECS_POLLING_METRICS_WAIT_DURATION" },
    { "ten", false, 10000, "using 10s" },
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    {
      char *w = NULL;
      uint64_t ms = config_polling_metrics_wait (t[i].v, t[i].poll, &w);
      if (ms != t[i].want || (t[i].warning == NULL) != (w == NULL)
          || (w && !strstr (w, t[i].warning)))
        fail_msg ("row %zu: %llu ms, warning %s", i, (unsigned long long) ms, w ? w : "(none)");
      free (w);
    }
}

static void
test_duration_and_bool (void **state)
{
  (void) state;
  uint64_t ms;
  agent_error_t err = NULL;
  assert_int_equal (config_parse_duration ("3h", &ms, &err), 0);
  assert_true (ms == 10800000);
  assert_int_equal (config_parse_duration ("1h2m3s", &ms, &err), 0);
  assert_true (ms == 3723000);
  assert_int_equal (config_parse_duration ("250ms", &ms, &err), 0);
  assert_true (ms == 250);
  assert_int_equal (config_parse_duration ("1.5s", &ms, &err), 0);
  assert_true (ms == 1500);
  assert_int_equal (config_parse_duration ("0", &ms, &err), 0);
  assert_true (ms == 0);
  assert_true (config_parse_duration ("h", &ms, &err) < 0);
  error_free (&err);
  assert_true (config_parse_duration ("", &ms, &err) < 0);
  error_free (&err);
  bool b;
  const char *yes[] = { "1", "t", "T", "TRUE", "true", "True", " true " };
  for (size_t i = 0; i < ARRAY_SIZE (yes); i++)
    {
      assert_int_equal (config_parse_bool (yes[i], &b, &err), 0);
      assert_true (b);
    }
  const char *no[] = { "0", "f", "F", "FALSE", "false", "False" };
  for (size_t i = 0; i < ARRAY_SIZE (no); i++)
    {
      assert_int_equal (config_parse_bool (no[i], &b, &err), 0);
      assert_false (b);
    }
  assert_true (config_parse_bool ("TRue", &b, &err) < 0);
  error_free (&err);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_defaults),
    cmocka_unit_test (test_every_env_key),
    cmocka_unit_test (test_start_create_timeouts),
    cmocka_unit_test (test_task_metadata_limit_and_audit),
    cmocka_unit_test (test_checkpoint_explicit_off),
    cmocka_unit_test (test_blank_env_does_not_override),
    cmocka_unit_test (test_file_and_precedence),
    cmocka_unit_test (test_file_whitespace_only_ignored),
    cmocka_unit_test (test_image_keys),
    cmocka_unit_test (test_image_keys_file),
    cmocka_unit_test (test_env_errors),
    cmocka_unit_test (test_log_rollover),
    cmocka_unit_test (test_file_errors),
    cmocka_unit_test (test_duration_and_bool),
    cmocka_unit_test (test_polling_metrics_wait_table),
  };
  int r = cmocka_run_group_tests (tests, NULL, NULL);
  log_close ();
  return r;
}
