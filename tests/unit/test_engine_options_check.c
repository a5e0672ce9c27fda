/* Unit tests for engine/options_check.c (pure): which tasks this instance
 * refuses before creating anything, one table row per gate and bad input;
 * and for the option members of the ACS / checkpoint task forms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include "engine/create_opts.h"
#include "engine/options_check.h"
#include "test_engine_util.h"

enum gate
{
  G_DEFAULT,
  G_NO_PRIV,
  G_SELINUX,
  G_APPARMOR,
  G_SYSLOG,
  G_NO_HEALTH,
  G_SMALL_RANGE,
};

struct check_case
{
  const char *name;
  enum gate gate;
  const char *task_extra; /* members of the task object, "" or ",k:v" */
  const char *container_extra;
  const char *want_reason; /* NULL = accepted; else substring */
};

#define HC(s) ",\"dockerConfig\":{\"version\":\"1.25\",\"config\":\"{}\",\"hostConfig\":\"" s "\"}"
#define CF(s) ",\"dockerConfig\":{\"config\":\"" s "\"}"

static const struct check_case cases[] = {
  { "plain", G_DEFAULT, "", "", NULL },
  { "every option of the example payload", G_SYSLOG, "",
    CF ("{\\\"User\\\":\\\"1000:1000\\\",\\\"WorkingDir\\\":\\\"/srv\\\",\\\"Labels\\\":{\\\"team\\\":\\\"p\\\"},"
        "\\\"HealthCheck\\\":{\\\"Test\\\":[\\\"CMD-SHELL\\\",\\\"true\\\"],\\\"Interval\\\":30000000000}}")
    ",\"healthCheckType\":\"docker\"", NULL },
  { "privileged allowed by default", G_DEFAULT, "", HC ("{\\\"Privileged\\\":true}"), NULL },
  { "privileged disabled", G_NO_PRIV, "", HC ("{\\\"Privileged\\\":true}"), "ECS_DISABLE_PRIVILEGED" },
  { "privileged false with the gate", G_NO_PRIV, "", HC ("{\\\"Privileged\\\":false}"), NULL },
  { "selinux label refused", G_DEFAULT, "", HC ("{\\\"SecurityOpt\\\":[\\\"label:type:x\\\"]}"),
    "ECS_SELINUX_CAPABLE" },
  { "selinux label allowed", G_SELINUX, "", HC ("{\\\"SecurityOpt\\\":[\\\"label:type:x\\\"]}"), NULL },
  { "apparmor refused", G_DEFAULT, "", HC ("{\\\"SecurityOpt\\\":[\\\"apparmor=p\\\"]}"),
    "ECS_APPARMOR_CAPABLE" },
  { "apparmor allowed", G_APPARMOR, "", HC ("{\\\"SecurityOpt\\\":[\\\"apparmor=p\\\"]}"), NULL },
  { "log driver not available", G_DEFAULT, "",
    HC ("{\\\"LogConfig\\\":{\\\"Type\\\":\\\"syslog\\\"}}"), "logging driver \"syslog\"" },
  { "log driver available", G_SYSLOG, "", HC ("{\\\"LogConfig\\\":{\\\"Type\\\":\\\"syslog\\\"}}"), NULL },
  { "json-file by default", G_DEFAULT, "",
    HC ("{\\\"LogConfig\\\":{\\\"Type\\\":\\\"json-file\\\",\\\"Config\\\":{\\\"max-size\\\":\\\"1m\\\"}}}"), NULL },
  { "malformed hostConfig", G_DEFAULT, "", HC ("{\\\"Privileged\\\":\\\"yes\\\"}"),
    "HostConfigError: container web: Unable to decode given host config" },
  { "malformed config", G_DEFAULT, "", CF ("{\\\"User\\\":5}"),
    "DockerClientConfigError: container web: Unable decode given docker config" },
  { "truncated config", G_DEFAULT, "", CF ("{\\\"User\\\":"), "Unable decode given docker config" },
  { "unknown ulimit", G_DEFAULT, "", HC ("{\\\"Ulimits\\\":[{\\\"Name\\\":\\\"nofiles\\\",\\\"Soft\\\":1,\\\"Hard\\\":1}]}"),
    "unknown ulimit \"nofiles\"" },
  { "negative ulimit", G_DEFAULT, "", HC ("{\\\"Ulimits\\\":[{\\\"Name\\\":\\\"nofile\\\",\\\"Soft\\\":-5,\\\"Hard\\\":1}]}"),
    "negative limit" },
  { "soft above hard", G_DEFAULT, "", HC ("{\\\"Ulimits\\\":[{\\\"Name\\\":\\\"nofile\\\",\\\"Soft\\\":5,\\\"Hard\\\":1}]}"),
    "soft limit 5 above hard limit 1" },
  { "overflowing size", G_DEFAULT, "", HC ("{\\\"ShmSize\\\":99999999999999999999}"), "Unable to decode" },
  { "negative size", G_DEFAULT, "", HC ("{\\\"ShmSize\\\":-1}"), "ShmSize must not be negative" },
  { "device permissions", G_DEFAULT, "", HC ("{\\\"Devices\\\":[{\\\"PathOnHost\\\":\\\"/dev/null\\\",\\\"CgroupPermissions\\\":\\\"rwx\\\"}]}"),
    "not a subset of \"rwm\"" },
  { "health check type without check", G_DEFAULT, "", ",\"healthCheckType\":\"docker\"",
    "docker health check is nil while container health check type is DOCKER" },
  /* as upstream: the switch only stops advertising the capability */
  { "health checks disabled: accepted", G_NO_HEALTH, "",
    CF ("{\\\"Healthcheck\\\":{\\\"Test\\\":[\\\"CMD\\\",\\\"true\\\"]}}") ",\"healthCheckType\":\"docker\"",
    NULL },
  { "health checks disabled, check missing", G_NO_HEALTH, "", ",\"healthCheckType\":\"docker\"",
    "docker health check is nil while container health check type is DOCKER" },
  { "host network", G_DEFAULT, ",\"networkMode\":\"host\"", HC ("{\\\"NetworkMode\\\":\\\"host\\\"}"), NULL },
  { "none network", G_DEFAULT, ",\"networkMode\":\"none\"", "", NULL },
  { "awsvpc refused", G_DEFAULT, ",\"networkMode\":\"awsvpc\"", "", "network mode \"awsvpc\"" },
  { "conflicting network modes", G_DEFAULT, ",\"networkMode\":\"host\"",
    HC ("{\\\"NetworkMode\\\":\\\"bridge\\\"}"), "contradicts" },
  { "pid host", G_DEFAULT, ",\"pidMode\":\"host\",\"ipcMode\":\"none\"", "", NULL },
  { "pid task refused", G_DEFAULT, ",\"pidMode\":\"task\"", "", "pidMode \"task\"" },
  { "ipc task refused", G_DEFAULT, ",\"ipcMode\":\"task\"", "", "ipcMode \"task\"" },
  { "port range fits", G_SMALL_RANGE, "",
    ",\"portMappings\":[{\"containerPortRange\":\"9000-9009\",\"protocol\":\"udp\"}]", NULL },
  { "port range too wide", G_SMALL_RANGE, "",
    ",\"portMappings\":[{\"containerPortRange\":\"9000-9010\"}]", "needs 11 host ports" },
  { "port range with host port", G_DEFAULT, "",
    ",\"portMappings\":[{\"containerPortRange\":\"9000-9001\",\"hostPort\":5}]", "cannot have a hostPort" },
};

static void
gates_for (enum gate g, struct task_option_gates *o)
{
  task_option_gates_default (o);
  switch (g)
    {
    case G_NO_PRIV: o->disable_privileged = true; break;
    case G_SELINUX: o->selinux_capable = true; break;
    case G_APPARMOR: o->apparmor_capable = true; break;
    case G_SYSLOG:
      o->log_drivers[o->n_log_drivers++] = xstrdup ("json-file");
      o->log_drivers[o->n_log_drivers++] = xstrdup ("syslog");
      break;
    case G_NO_HEALTH: o->disable_health_check = true; break;
    case G_SMALL_RANGE: o->port_range_start = 50000; o->port_range_end = 50009; break;
    default: break;
    }
}

static void
test_check_table (void **st)
{
  (void) st;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    {
      const struct check_case *c = &cases[i];
      char *js = xasprintf ("{\"arn\":\"t\",\"desiredStatus\":\"RUNNING\"%s,\"containers\":["
                            "{\"name\":\"web\",\"image\":\"busybox\"%s}]}",
                            c->task_extra, c->container_extra);
      agent_error_t err = NULL;
      struct task *t = teu_task (js, &err);
      if (!t)
        fail_msg ("%s: %s", c->name, error_msg (&err));
      struct task_option_gates g;
      gates_for (c->gate, &g);
      char *reason = NULL;
      int rc = engine_options_check (t, &g, &reason);
      if (!c->want_reason && rc != 0)
        fail_msg ("%s: refused: %s", c->name, reason);
      if (c->want_reason && (rc == 0 || !strstr (reason, c->want_reason)))
        fail_msg ("%s: reason %s", c->name, reason ? reason : "(accepted)");
      free (reason);
      task_option_gates_free (&g);
      task_free (t);
      free (js);
    }
}

/* The options survive the checkpoint form; the create options carry the
   overlay, the modes and an expanded port range. */
static void
test_checkpoint_and_create (void **st)
{
  (void) st;
  const char *js = "{\"arn\":\"t\",\"desiredStatus\":\"RUNNING\",\"networkMode\":\"host\","
                   "\"pidMode\":\"host\",\"cpu\":0.5,\"memory\":256,\"containers\":[{\"name\":\"web\","
                   "\"image\":\"busybox\",\"healthCheckType\":\"docker\",\"portMappings\":["
                   "{\"containerPortRange\":\"7000-7002\",\"protocol\":\"udp\"},{\"containerPort\":80}],"
                   "\"dockerConfig\":{\"config\":\"{\\\"User\\\":\\\"1\\\"}\",\"hostConfig\":\"{}\","
                   "\"version\":\"1.24\"}}]}";
  agent_error_t err = NULL;
  struct task *t = teu_task (js, &err);
  assert_non_null (t);
  json_t *cj = state_task_to_json (t);
  struct task *t2 = NULL;
  assert_int_equal (state_task_from_json (cj, &t2, &err), 0);
  json_decref (cj);
  assert_string_equal (t2->opts.network_mode, "host");
  assert_string_equal (t2->opts.pid_mode, "host");
  assert_true (t2->opts.cpu == 0.5);
  assert_int_equal (t2->opts.memory_mib, 256);
  const struct task_container *c = &t2->containers[0];
  assert_true (c->opts.has_docker_config);
  assert_string_equal (c->opts.dc_config, "{\"User\":\"1\"}");
  assert_string_equal (c->opts.dc_host_config, "{}");
  assert_string_equal (c->opts.dc_version, "1.24");
  assert_string_equal (c->opts.health_check_type, "docker");
  assert_int_equal (c->port_mappings[0].range_start, 7000);
  assert_int_equal (c->port_mappings[0].range_end, 7002);

  t2->containers[0].docker_name = xstrdup ("ecs-web");
  struct engine_create_req r;
  char *errmsg = NULL;
  assert_int_equal (engine_create_req_build (t2, &t2->containers[0], NULL, 0, &r, &errmsg), 0);
  assert_string_equal (r.opts.extra_config_json, "{\"User\":\"1\"}");
  assert_string_equal (r.opts.network_mode, "host");
  assert_string_equal (r.opts.pid_mode, "host");
  assert_null (r.opts.ipc_mode);
  assert_int_equal (r.opts.n_ports, 4);
  assert_int_equal (r.opts.ports[0].container_port, 7000);
  assert_int_equal (r.opts.ports[0].host_port, 7000); /* host mode: same port */
  assert_string_equal (r.opts.ports[2].proto, "udp");
  assert_int_equal (r.opts.ports[3].container_port, 80);
  assert_string_equal (r.opts.ports[3].proto, "tcp");
  engine_create_req_free (&r);
  task_free (t);
  task_free (t2);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_check_table),
    cmocka_unit_test (test_checkpoint_and_create),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
