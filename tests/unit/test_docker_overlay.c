/* Unit tests for docker/overlay.c: the dockerConfig overlay decoded into the
 * generated create body (table: merge rules, canonical names, null,
 * type errors) and docker_create_body's order (generated < overlay <
 * agent overrides: labels, cgroup parent, network / PID / IPC modes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include "core/xmalloc.h"
#include "docker/docker.h"
#include "docker/overlay.h"

struct overlay_case
{
  const char *name;
  enum docker_overlay_target target;
  const char *generated; /* JSON object */
  const char *overlay;
  const char *want;      /* JSON object, NULL = error */
  const char *want_err;  /* substring of the error */
};

static const struct overlay_case cases[] = {
  { "empty is a no-op", DOCKER_OVERLAY_CONFIG, "{\"Image\":\"i\"}", "{}", "{\"Image\":\"i\"}", NULL },
  { "absent is a no-op", DOCKER_OVERLAY_CONFIG, "{\"Image\":\"i\"}", NULL, "{\"Image\":\"i\"}", NULL },
  { "scalar replaces generated", DOCKER_OVERLAY_HOST_CONFIG, "{\"Memory\":1048576}",
    "{\"Memory\":2097152,\"Privileged\":true}", "{\"Memory\":2097152,\"Privileged\":true}", NULL },
  { "case-insensitive key, canonical name", DOCKER_OVERLAY_CONFIG, "{}",
    "{\"HealthCheck\":{\"test\":[\"CMD\",\"true\"],\"interval\":30000000000,\"Retries\":3}}",
    "{\"Healthcheck\":{\"Test\":[\"CMD\",\"true\"],\"Interval\":30000000000,\"Retries\":3}}", NULL },
  { "unknown keys ignored", DOCKER_OVERLAY_HOST_CONFIG, "{}", "{\"NoSuch\":1,\"HostConfig\":{}}", "{}",
    NULL },
  { "array replaces", DOCKER_OVERLAY_HOST_CONFIG, "{\"Binds\":[\"/a:/a\"]}", "{\"Binds\":[\"/b:/b\"]}",
    "{\"Binds\":[\"/b:/b\"]}", NULL },
  { "map merges key by key", DOCKER_OVERLAY_CONFIG, "{\"Labels\":{\"a\":\"1\",\"b\":\"2\"}}",
    "{\"Labels\":{\"b\":\"3\",\"c\":\"4\"}}", "{\"Labels\":{\"a\":\"1\",\"b\":\"3\",\"c\":\"4\"}}", NULL },
  { "struct merges field by field", DOCKER_OVERLAY_HOST_CONFIG,
    "{\"LogConfig\":{\"Type\":\"json-file\",\"Config\":{\"max-size\":\"1m\"}}}",
    "{\"LogConfig\":{\"Config\":{\"max-file\":\"2\"}}}",
    "{\"LogConfig\":{\"Type\":\"json-file\",\"Config\":{\"max-size\":\"1m\",\"max-file\":\"2\"}}}", NULL },
  { "null clears arrays and maps, keeps scalars", DOCKER_OVERLAY_HOST_CONFIG,
    "{\"Binds\":[\"/a:/a\"],\"Memory\":5,\"Tmpfs\":{\"/t\":\"\"}}",
    "{\"Binds\":null,\"Memory\":null,\"Tmpfs\":null}", "{\"Memory\":5}", NULL },
  { "null clears a pointer struct", DOCKER_OVERLAY_CONFIG, "{\"Healthcheck\":{\"Test\":[\"NONE\"]}}",
    "{\"Healthcheck\":null}", "{}", NULL },
  { "strslice from a string", DOCKER_OVERLAY_HOST_CONFIG, "{}", "{\"CapAdd\":\"NET_ADMIN\"}",
    "{\"CapAdd\":[\"NET_ADMIN\"]}", NULL },
  { "typed arrays of structs", DOCKER_OVERLAY_HOST_CONFIG, "{}",
    "{\"Ulimits\":[{\"name\":\"nofile\",\"Soft\":10,\"Hard\":20,\"X\":1}],"
    "\"Devices\":[{\"PathOnHost\":\"/dev/null\",\"PathInContainer\":\"/dev/n\",\"CgroupPermissions\":\"rw\"}]}",
    "{\"Ulimits\":[{\"Name\":\"nofile\",\"Soft\":10,\"Hard\":20}],"
    "\"Devices\":[{\"PathOnHost\":\"/dev/null\",\"PathInContainer\":\"/dev/n\",\"CgroupPermissions\":\"rw\"}]}",
    NULL },
  { "port map", DOCKER_OVERLAY_HOST_CONFIG, "{\"PortBindings\":{\"80/tcp\":[{\"HostPort\":\"1\"}]}}",
    "{\"PortBindings\":{\"53/udp\":[{\"HostPort\":\"53\"}]}}",
    "{\"PortBindings\":{\"80/tcp\":[{\"HostPort\":\"1\"}],\"53/udp\":[{\"HostPort\":\"53\"}]}}", NULL },
  { "string for bool", DOCKER_OVERLAY_HOST_CONFIG, "{}", "{\"Privileged\":\"yes\"}", NULL,
    "cannot unmarshal string into Go struct field HostConfig.Privileged of type bool" },
  { "fraction for int", DOCKER_OVERLAY_HOST_CONFIG, "{}", "{\"ShmSize\":1.5}", NULL, "number 1.5" },
  { "uint16 overflow", DOCKER_OVERLAY_HOST_CONFIG, "{}", "{\"BlkioWeight\":70000}", NULL,
    "number 70000" },
  { "not an object", DOCKER_OVERLAY_CONFIG, "{}", "[1]", NULL, "into Go value of type container.Config" },
  { "syntax error", DOCKER_OVERLAY_CONFIG, "{}", "{\"User\":", NULL, "" },
  { "wrong element type", DOCKER_OVERLAY_HOST_CONFIG, "{}", "{\"Dns\":[1]}", NULL, "HostConfig.Dns" },
  { "wrong nested type", DOCKER_OVERLAY_CONFIG, "{}", "{\"Healthcheck\":{\"Retries\":\"3\"}}", NULL,
    "HealthConfig.Retries" },
};

static void
test_overlay_table (void **st)
{
  (void) st;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    {
      const struct overlay_case *c = &cases[i];
      json_t *dst = json_loads (c->generated, 0, NULL);
      agent_error_t err = NULL;
      int rc = docker_overlay_apply (dst, c->overlay, c->target, &err);
      if (c->want)
        {
          if (rc < 0)
            fail_msg ("%s: %s", c->name, error_msg (&err));
          json_t *want = json_loads (c->want, 0, NULL);
          if (!json_equal (dst, want))
            {
              char *got = json_dumps (dst, JSON_COMPACT | JSON_SORT_KEYS);
              fail_msg ("%s: got %s", c->name, got);
            }
          json_decref (want);
        }
      else
        {
          if (rc >= 0)
            fail_msg ("%s: accepted", c->name);
          if (!strstr (error_msg (&err), c->want_err))
            fail_msg ("%s: error %s", c->name, error_msg (&err));
          error_free (&err);
        }
      json_decref (dst);
    }
}

static json_t *
body_of (const struct docker_create_opts *o, agent_error_t *err)
{
  char *b = docker_create_body (o, err);
  if (!b)
    return NULL;
  json_t *j = json_loads (b, 0, NULL);
  free (b);
  return j;
}

/* Generated fields lose to the overlay; the agent's labels, cgroup parent
   and modes win over it. */
static void
test_create_body_order (void **st)
{
  (void) st;
  const char *cmd[] = { "sh", NULL };
  struct docker_label labels[] = { { "com.amazonaws.ecs.task-arn", "arn:t" },
                                   { "com.amazonaws.ecs.container-name", "web" } };
  struct docker_create_opts o = {
    .image = "busybox",
    .cmd = cmd,
    .memory = 64 << 20,
    .cpu_shares = 256,
    .labels = labels,
    .n_labels = 2,
    .extra_config_json = "{\"User\":\"1000\",\"Cmd\":[\"top\"],\"Labels\":{\"team\":\"x\","
                         "\"com.amazonaws.ecs.task-arn\":\"spoofed\"}}",
    .extra_host_config_json = "{\"Memory\":134217728,\"CgroupParent\":\"/user\",\"NetworkMode\":"
                              "\"bridge\",\"PidMode\":\"\",\"ReadonlyRootfs\":true}",
    .network_mode = "host",
    .pid_mode = "host",
    .ipc_mode = "none",
    .cgroup_parent = "/ecs/task1",
  };
  agent_error_t err = NULL;
  json_t *b = body_of (&o, &err);
  assert_non_null (b);
  json_t *hc = json_object_get (b, "HostConfig");
  assert_string_equal (json_string_value (json_object_get (b, "User")), "1000");
  assert_string_equal (json_string_value (json_array_get (json_object_get (b, "Cmd"), 0)), "top");
  json_t *l = json_object_get (b, "Labels");
  assert_string_equal (json_string_value (json_object_get (l, "team")), "x");
  assert_string_equal (json_string_value (json_object_get (l, "com.amazonaws.ecs.task-arn")), "arn:t");
  assert_string_equal (json_string_value (json_object_get (l, "com.amazonaws.ecs.container-name")), "web");
  assert_int_equal (json_integer_value (json_object_get (hc, "Memory")), 134217728);
  assert_int_equal (json_integer_value (json_object_get (hc, "CpuShares")), 256);
  assert_true (json_is_true (json_object_get (hc, "ReadonlyRootfs")));
  assert_string_equal (json_string_value (json_object_get (hc, "CgroupParent")), "/ecs/task1");
  assert_string_equal (json_string_value (json_object_get (hc, "NetworkMode")), "host");
  assert_string_equal (json_string_value (json_object_get (hc, "PidMode")), "host");
  assert_string_equal (json_string_value (json_object_get (hc, "IpcMode")), "none");
  json_decref (b);

  /* the agent's log options land in the overlay's LogConfig.Config, over
     same-named ones; without a log driver (no LogConfig.Type) none is added */
  struct docker_label lo[] = { { "max-buffer-size", "10m" },
                               { "awslogs-credentials-endpoint", "/v2/credentials/x" } };
  o.log_options = lo;
  o.n_log_options = 2;
  o.extra_host_config_json = "{\"LogConfig\":{\"Type\":\"awslogs\",\"Config\":{\"mode\":"
                             "\"non-blocking\",\"awslogs-credentials-endpoint\":\"/mine\"}}}";
  b = body_of (&o, &err);
  assert_non_null (b);
  json_t *lc = json_object_get (json_object_get (b, "HostConfig"), "LogConfig");
  assert_string_equal (json_string_value (json_object_get (lc, "Type")), "awslogs");
  json_t *lcc = json_object_get (lc, "Config");
  assert_int_equal (json_object_size (lcc), 3);
  assert_string_equal (json_string_value (json_object_get (lcc, "mode")), "non-blocking");
  assert_string_equal (json_string_value (json_object_get (lcc, "max-buffer-size")), "10m");
  assert_string_equal (json_string_value (json_object_get (lcc, "awslogs-credentials-endpoint")),
                       "/v2/credentials/x");
  json_decref (b);
  o.extra_host_config_json = NULL;
  o.n_log_options = 1;
  b = body_of (&o, &err);
  assert_null (json_object_get (json_object_get (b, "HostConfig"), "LogConfig"));
  json_decref (b);
  o.n_log_options = 0;

  /* an overlay that does not decode fails the body with upstream's names */
  o.extra_host_config_json = "{\"Privileged\":\"yes\"}";
  assert_null (body_of (&o, &err));
  assert_non_null (strstr (error_msg (&err), "HostConfigError: Unable to decode given host config"));
  error_free (&err);
  o.extra_host_config_json = NULL;
  o.extra_config_json = "{\"Env\":{}}";
  assert_null (body_of (&o, &err));
  assert_non_null (strstr (error_msg (&err), "DockerClientConfigError: Unable decode given docker config"));
  error_free (&err);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_overlay_table),
    cmocka_unit_test (test_create_body_order),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
