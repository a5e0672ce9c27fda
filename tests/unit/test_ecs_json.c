/* Unit tests for the pure parts of ecs/: endpoint derivation, user agent,
 * request JSON builders, response and error parsing (incl. malformed),
 * host resources, capability attributes, backoff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/util.h"
#include "core/xmalloc.h"
#include "ecs/ecs.h"

static json_t *
parse (const char *s)
{
  json_error_t je;
  json_t *j = json_loads (s, 0, &je);
  if (!j)
    fail_msg ("invalid JSON %s: %s", s, je.text);
  return j;
}

static void
assert_json_eq (const char *got, const char *want)
{
  json_t *a = parse (got), *b = parse (want);
  if (!json_equal (a, b))
    fail_msg ("JSON differs\n got: %s\nwant: %s", got, want);
  json_decref (a);
  json_decref (b);
}

/* ---- endpoints ---- */

static void
test_endpoint (void **state)
{
  char *u = NULL;
  agent_error_t err = NULL;
  assert_int_equal (ecs_endpoint_url (NULL, "us-west-2", &u, &err), 0);
  assert_string_equal (u, "https://ecs.us-west-2.amazonaws.com");
  free (u);
  assert_int_equal (ecs_endpoint_url ("", "eu-central-1", &u, &err), 0);
  assert_string_equal (u, "https://ecs.eu-central-1.amazonaws.com");
  free (u);
  assert_int_equal (ecs_endpoint_url (NULL, "cn-north-1", &u, &err), 0);
  assert_string_equal (u, "https://ecs.cn-north-1.amazonaws.com.cn");
  free (u);
  assert_int_equal (ecs_endpoint_url ("http://127.0.0.1:4567/", "us-west-2", &u, &err), 0);
  assert_string_equal (u, "http://127.0.0.1:4567");
  free (u);
  assert_int_equal (ecs_endpoint_url ("https://ecs.example.com", NULL, &u, &err), 0);
  assert_string_equal (u, "https://ecs.example.com");
  free (u);
  assert_int_equal (ecs_endpoint_url ("  ecs-beta.example.com:8443 ", "us-east-1", &u, &err), 0);
  assert_string_equal (u, "https://ecs-beta.example.com:8443");
  free (u);
  assert_int_equal (ecs_endpoint_url ("HTTP://Host", NULL, &u, &err), 0);
  assert_string_equal (u, "HTTP://Host");
  free (u);
  /* errors */
  assert_true (ecs_endpoint_url (NULL, NULL, &u, &err) < 0);
  assert_int_equal (error_kind (&err), ERR_INVALID);
  assert_null (u);
  error_free (&err);
  assert_true (ecs_endpoint_url ("", "", &u, &err) < 0);
  error_free (&err);
  assert_true (ecs_endpoint_url ("ftp://x", "us-west-2", &u, &err) < 0);
  error_free (&err);
  assert_true (ecs_endpoint_url ("https://", "us-west-2", &u, &err) < 0);
  error_free (&err);
  assert_true (ecs_endpoint_url (NULL, "us west/2", &u, &err) < 0);
  error_free (&err);
}

static void
test_user_agent (void **state)
{
  char *ua = ecs_user_agent ("1.1.0", "4d9f982", false);
  assert_string_equal (ua, "Amazon ECS Agent - v1.1.0 (4d9f982) (+http://aws.amazon.com/ecs/)");
  free (ua);
  ua = ecs_user_agent ("0.1.0", NULL, true);
  assert_string_equal (ua, "Amazon ECS Agent - v0.1.0 (*UNKNOWN) (+http://aws.amazon.com/ecs/)");
  free (ua);
}

/* ---- builders ---- */

static void
test_build_register_first (void **state)
{
  uint16_t tcp[] = { 22, 2375, 2376, 51678 };
  struct ecs_register_req r = {
    .cluster = "default",
    .instance_identity_document = "{\n  \"instanceId\" : \"i-0123\"}",
    .instance_identity_signature = "abc==",
    .cpu = 2048,
    .memory_mib = 3768,
    .ports_tcp = tcp,
    .n_ports_tcp = 4,
  };
  char *s = ecs_build_register (&r);
  assert_json_eq (s, "{\"cluster\":\"default\",\"instanceIdentityDocument\":\"{\\n  \\\"instanceId\\\" : "
                     "\\\"i-0123\\\"}\",\"instanceIdentityDocumentSignature\":\"abc==\","
                     "\"totalResources\":[{\"integerValue\":2048,\"name\":\"CPU\",\"type\":\"INTEGER\"},"
                     "{\"integerValue\":3768,\"name\":\"MEMORY\",\"type\":\"INTEGER\"},"
                     "{\"name\":\"PORTS\",\"stringSetValue\":[\"22\",\"2375\",\"2376\",\"51678\"],"
                     "\"type\":\"STRINGSET\"}]}");
  free (s);
}

static void
test_build_register_full (void **state)
{
  uint16_t tcp[] = { 22 };
  uint16_t udp[] = { 53, 161 };
  struct ecs_attribute attrs[] = {
    { "com.amazonaws.ecs.capability.docker-remote-api.1.17", NULL },
    { "stack", "prod" },
  };
  struct ecs_register_req r = {
    .cluster = NULL, /* -> default */
    .container_instance_arn = "arn:aws:ecs:us-west-2:123:container-instance/abc",
    .cpu = 1024, .memory_mib = 100, .ports_tcp = tcp, .n_ports_tcp = 1,
    .ports_udp = udp, .n_ports_udp = 2, .send_ports_udp = true,
    .agent_version = "0.1.0", .agent_hash = "*abc", .docker_version = "DockerVersion: 24.0.5",
    .attributes = attrs, .n_attributes = 2, .client_token = "tok-1",
  };
  char *s = ecs_build_register (&r);
  assert_json_eq (s, "{\"cluster\":\"default\",\"instanceIdentityDocument\":\"\","
                     "\"instanceIdentityDocumentSignature\":\"\","
                     "\"containerInstanceArn\":\"arn:aws:ecs:us-west-2:123:container-instance/abc\","
                     "\"totalResources\":[{\"integerValue\":1024,\"name\":\"CPU\",\"type\":\"INTEGER\"},"
                     "{\"integerValue\":100,\"name\":\"MEMORY\",\"type\":\"INTEGER\"},"
                     "{\"name\":\"PORTS\",\"stringSetValue\":[\"22\"],\"type\":\"STRINGSET\"},"
                     "{\"name\":\"PORTS_UDP\",\"stringSetValue\":[\"53\",\"161\"],\"type\":\"STRINGSET\"}],"
                     "\"versionInfo\":{\"agentVersion\":\"0.1.0\",\"agentHash\":\"*abc\","
                     "\"dockerVersion\":\"DockerVersion: 24.0.5\"},"
                     "\"attributes\":[{\"name\":\"com.amazonaws.ecs.capability.docker-remote-api.1.17\"},"
                     "{\"name\":\"stack\",\"value\":\"prod\"}],\"clientToken\":\"tok-1\"}");
  free (s);
  /* empty UDP list still sent when asked; empty TCP list is [] */
  struct ecs_register_req r2 = { .cluster = "c", .send_ports_udp = true };
  s = ecs_build_register (&r2);
  assert_json_eq (s, "{\"cluster\":\"c\",\"instanceIdentityDocument\":\"\","
                     "\"instanceIdentityDocumentSignature\":\"\",\"totalResources\":[{\"integerValue\":0,\"name\":\"CPU\","
                     "\"type\":\"INTEGER\"},{\"integerValue\":0,\"name\":\"MEMORY\",\"type\":\"INTEGER\"},"
                     "{\"name\":\"PORTS\",\"stringSetValue\":[],\"type\":\"STRINGSET\"},"
                     "{\"name\":\"PORTS_UDP\",\"stringSetValue\":[],\"type\":\"STRINGSET\"}]}");
  free (s);
  /* identity document present but signature missing -> "" */
  struct ecs_register_req r3 = { .cluster = "c", .instance_identity_document = "" };
  s = ecs_build_register (&r3);
  json_t *j = parse (s);
  assert_string_equal (json_string_value (json_object_get (j, "instanceIdentityDocument")), "");
  assert_string_equal (json_string_value (json_object_get (j, "instanceIdentityDocumentSignature")), "");
  json_decref (j);
  free (s);
}

static void
test_build_discover (void **state)
{
  char *s = ecs_build_discover ("arn:aws:ecs:us-west-2:123456789012:container-instance/abc", "default");
  /* the SigV4 worked example's body (1.1.0's members) plus the zoneId
     today's upstream sends, empty, for ACS and TCS discovery */
  assert_string_equal (s, "{\"cluster\":\"default\",\"containerInstance\":\"arn:aws:ecs:us-west-2:"
                          "123456789012:container-instance/abc\",\"zoneId\":\"\"}");
  free (s);
}

static void
test_build_task_change (void **state)
{
  struct ecs_task_state_change c = { .cluster = "default", .task_arn = "arn:t/1", .status = "RUNNING" };
  char *s = ecs_build_task_state_change (&c);
  assert_json_eq (s, "{\"cluster\":\"default\",\"task\":\"arn:t/1\",\"status\":\"RUNNING\",\"reason\":\"\"}");
  free (s);
  /* long reason cut at 1024 bytes; invalid UTF-8 replaced */
  char big[3000];
  memset (big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  big[0] = (char) 0xff;
  c.reason = big;
  c.status = "STOPPED";
  s = ecs_build_task_state_change (&c);
  json_t *j = parse (s);
  const char *r = json_string_value (json_object_get (j, "reason"));
  assert_int_equal (strlen (r), 1024);
  assert_int_equal (r[0], '?');
  json_decref (j);
  free (s);
}

/* Today's form: container changes batched in containers[], the Docker id,
   digest and the task timestamps (epoch seconds). */
static void
test_build_task_change_batched (void **state)
{
  struct task_port_binding nb[] = { { .bind_ip = "0.0.0.0", .container_port = 80, .host_port = 32768 } };
  char longid[400];
  memset (longid, 'a', sizeof longid - 1);
  longid[sizeof longid - 1] = '\0';
  struct ecs_container_state_change cs[] = {
    { .container_name = "web", .status = "RUNNING", .bindings = nb, .n_bindings = 1,
      .runtime_id = "4f3c", .image_digest = "sha256:00ff" },
    { .container_name = "side", .status = "STOPPED", .has_exit_code = true, .exit_code = 2,
      .reason = "boom", .runtime_id = longid },
  };
  struct ecs_task_state_change c = { .cluster = "prod", .task_arn = "arn:t/1", .status = "STOPPED",
                                     .reason = "Essential container in task exited",
                                     .containers = cs, .n_containers = 2,
                                     .pull_started_ms = 1764750000123, .pull_stopped_ms = 1764750002000,
                                     .execution_stopped_ms = 1764750009999 };
  char *s = ecs_build_task_state_change (&c);
  json_t *j = parse (s);
  assert_string_equal (json_string_value (json_object_get (j, "status")), "STOPPED");
  assert_true (json_is_real (json_object_get (j, "pullStartedAt")));
  assert_true (strstr (s, "\"pullStartedAt\":1764750000.123") != NULL);
  assert_true (strstr (s, "\"pullStoppedAt\":1764750002.0") != NULL);
  assert_true (strstr (s, "\"executionStoppedAt\":1764750009.999") != NULL);
  json_t *a = json_object_get (j, "containers");
  assert_int_equal (json_array_size (a), 2);
  json_t *w = json_array_get (a, 0), *sd = json_array_get (a, 1);
  assert_string_equal (json_string_value (json_object_get (w, "containerName")), "web");
  assert_string_equal (json_string_value (json_object_get (w, "runtimeId")), "4f3c");
  assert_string_equal (json_string_value (json_object_get (w, "imageDigest")), "sha256:00ff");
  assert_int_equal (json_array_size (json_object_get (w, "networkBindings")), 1);
  assert_null (json_object_get (w, "exitCode"));
  assert_int_equal (json_integer_value (json_object_get (sd, "exitCode")), 2);
  assert_string_equal (json_string_value (json_object_get (sd, "reason")), "boom");
  assert_int_equal (strlen (json_string_value (json_object_get (sd, "runtimeId"))), 255);
  assert_null (json_object_get (sd, "imageDigest"));
  assert_int_equal (json_array_size (json_object_get (sd, "networkBindings")), 0);
  json_decref (j);
  free (s);
  /* no containers, no timestamps: neither member is sent */
  struct ecs_task_state_change p = { .task_arn = "arn:t/1", .status = "PENDING" };
  s = ecs_build_task_state_change (&p);
  assert_json_eq (s, "{\"cluster\":\"default\",\"task\":\"arn:t/1\",\"status\":\"PENDING\",\"reason\":\"\"}");
  free (s);
}

static void
test_build_container_change (void **state)
{
  struct task_port_binding nb[] = {
    { .bind_ip = "0.0.0.0", .container_port = 80, .host_port = 32768, .protocol = TASK_PROTO_TCP },
    { .bind_ip = "::", .container_port = 53, .host_port = 53, .protocol = TASK_PROTO_UDP },
  };
  struct ecs_container_state_change c = {
    .cluster = "default", .task_arn = "arn:t/1", .container_name = "web", .status = "STOPPED",
    .has_exit_code = true, .exit_code = 137, .reason = "CannotStartContainerError: boom",
    .bindings = nb, .n_bindings = 2,
  };
  char *s = ecs_build_container_state_change (&c);
  assert_json_eq (s, "{\"cluster\":\"default\",\"task\":\"arn:t/1\",\"containerName\":\"web\","
                     "\"status\":\"STOPPED\",\"exitCode\":137,\"reason\":\"CannotStartContainerError: boom\","
                     "\"networkBindings\":[{\"bindIP\":\"0.0.0.0\",\"containerPort\":80,\"hostPort\":32768,"
                     "\"protocol\":\"tcp\"},{\"bindIP\":\"::\",\"containerPort\":53,\"hostPort\":53,\"protocol\":\"udp\"}]}");
  free (s);
  /* no exit code, no reason, no bindings -> [] */
  struct ecs_container_state_change c2 = { .cluster = "c", .task_arn = "t", .container_name = "n",
                                           .status = "RUNNING", .reason = "" };
  s = ecs_build_container_state_change (&c2);
  assert_json_eq (s, "{\"cluster\":\"c\",\"task\":\"t\",\"containerName\":\"n\",\"status\":\"RUNNING\","
                     "\"networkBindings\":[]}");
  free (s);
  /* reason cut at 255 bytes without splitting a UTF-8 sequence */
  char r[600] = "";
  for (int i = 0; i < 127; i++)
    strcat (r, "a");
  for (int i = 0; i < 100; i++)
    strcat (r, "\xc3\xa9"); /* é, 2 bytes: 127 + 2*64 = 255 */
  c2.reason = r;
  s = ecs_build_container_state_change (&c2);
  json_t *j = parse (s);
  const char *got = json_string_value (json_object_get (j, "reason"));
  assert_int_equal (strlen (got), 255);
  json_decref (j);
  free (s);
  char r2[600] = "";
  for (int i = 0; i < 128; i++)
    strcat (r2, "a");
  for (int i = 0; i < 100; i++)
    strcat (r2, "\xc3\xa9"); /* 128 + 2*63 = 254, next would be 256 */
  c2.reason = r2;
  s = ecs_build_container_state_change (&c2);
  j = parse (s);
  assert_int_equal (strlen (json_string_value (json_object_get (j, "reason"))), 254);
  json_decref (j);
  free (s);
}

/* ---- parsers ---- */

static void
test_parse_register (void **state)
{
  struct ecs_register_resp r;
  agent_error_t err = NULL;
  const char *ok = "{\"containerInstance\":{\"containerInstanceArn\":\"arn:ci/1\",\"attributes\":["
                   "{\"name\":\"x\"},{\"name\":\"ecs.availability-zone\",\"value\":\"us-west-2a\"}]}}";
  assert_int_equal (ecs_parse_register_resp (ok, strlen (ok), &r, &err), 0);
  assert_string_equal (r.container_instance_arn, "arn:ci/1");
  assert_string_equal (r.availability_zone, "us-west-2a");
  ecs_register_resp_clear (&r);
  const char *bad[] = {
    "", "null", "[]", "{}", "{\"containerInstance\":null}", "{\"containerInstance\":{}}",
    "{\"containerInstance\":{\"containerInstanceArn\":5}}",
    "{\"containerInstance\":{\"containerInstanceArn\":\"\"}}", "{\"containerInstance\":",
    "{\"containerInstance\":{\"containerInstanceArn\":\"a\\u0000b\",\"attributes\":7}}x",
  };
  for (size_t i = 0; i < ARRAY_SIZE (bad); i++)
    {
      assert_true (ecs_parse_register_resp (bad[i], strlen (bad[i]), &r, &err) < 0);
      assert_int_equal (error_kind (&err), ERR_MALFORMED);
      assert_null (r.container_instance_arn);
      error_free (&err);
    }
  /* attributes of the wrong type are ignored */
  const char *odd = "{\"containerInstance\":{\"containerInstanceArn\":\"a\",\"attributes\":[1,null,"
                    "{\"name\":\"ecs.availability-zone\",\"value\":3}]}}";
  assert_int_equal (ecs_parse_register_resp (odd, strlen (odd), &r, &err), 0);
  assert_null (r.availability_zone);
  ecs_register_resp_clear (&r);
  assert_true (ecs_parse_register_resp (NULL, 0, &r, &err) < 0);
  error_free (&err);
}

static void
test_parse_discover (void **state)
{
  struct ecs_discover_resp r;
  agent_error_t err = NULL;
  const char *ok = "{\"endpoint\":\"https://ecs-a-1.us-west-2.amazonaws.com/\","
                   "\"telemetryEndpoint\":\"https://ecs-t-1.us-west-2.amazonaws.com/\"}";
  assert_int_equal (ecs_parse_discover_resp (ok, strlen (ok), &r, &err), 0);
  assert_string_equal (r.endpoint, "https://ecs-a-1.us-west-2.amazonaws.com/");
  assert_string_equal (r.telemetry_endpoint, "https://ecs-t-1.us-west-2.amazonaws.com/");
  ecs_discover_resp_clear (&r);
  const char *old = "{\"endpoint\":\"http://127.0.0.1:1/\",\"telemetryEndpoint\":\"\"}";
  assert_int_equal (ecs_parse_discover_resp (old, strlen (old), &r, &err), 0);
  assert_null (r.telemetry_endpoint);
  ecs_discover_resp_clear (&r);
  const char *bad[] = { "{}", "{\"endpoint\":\"\"}", "{\"endpoint\":1}", "x", "[\"endpoint\"]", "" };
  for (size_t i = 0; i < ARRAY_SIZE (bad); i++)
    {
      assert_true (ecs_parse_discover_resp (bad[i], strlen (bad[i]), &r, &err) < 0);
      assert_int_equal (error_kind (&err), ERR_MALFORMED);
      assert_null (r.endpoint);
      error_free (&err);
    }
}

static void
test_parse_cluster (void **state)
{
  char *n = NULL;
  agent_error_t err = NULL;
  const char *ok = "{\"cluster\":{\"clusterName\":\"default\",\"status\":\"ACTIVE\"}}";
  assert_int_equal (ecs_parse_cluster_name (ok, strlen (ok), &n, &err), 0);
  assert_string_equal (n, "default");
  free (n);
  assert_true (ecs_parse_cluster_name ("{\"cluster\":{}}", 14, &n, &err) < 0);
  assert_null (n);
  error_free (&err);
}

static void
check_classify (long status, const char *body, int kind, const char *msg)
{
  agent_error_t err = NULL;
  int rc = ecs_classify_response (status, body, body ? strlen (body) : 0, &err);
  if (kind == 0)
    {
      assert_int_equal (rc, 0);
      assert_null (err);
      return;
    }
  assert_true (rc < 0);
  if (error_kind (&err) != kind)
    fail_msg ("status %ld body %s: kind %d, want %d (%s)", status, body, error_kind (&err), kind,
              error_msg (&err));
  assert_string_equal (error_msg (&err), msg);
  assert_int_equal (err->status, status);
  error_free (&err);
}

static void
test_classify (void **state)
{
  check_classify (200, "{}", 0, NULL);
  check_classify (204, "", 0, NULL);
  check_classify (400,
                  "{\"__type\":\"com.amazonaws.ecs.v20141113#ClientException\",\"message\":\"bad cluster\"}",
                  ERR_CLIENT, "ClientException: bad cluster");
  check_classify (500, "{\"__type\":\"ClientException\",\"message\":\"odd\"}", ERR_CLIENT,
                  "ClientException: odd");
  check_classify (400, "{\"__type\":\"x#InvalidParameterException\",\"Message\":\"m\"}", ERR_CLIENT,
                  "InvalidParameterException: m");
  check_classify (400, "{\"__type\":\"x#ThrottlingException\",\"message\":\"Rate exceeded\"}", ERR_SERVER,
                  "ThrottlingException: Rate exceeded");
  check_classify (400, "{\"__type\":\"Throttling\",\"message\":\"slow\"}", ERR_SERVER, "Throttling: slow");
  check_classify (400, "{\"__type\":\"ProvisionedThroughputExceededException\"}", ERR_SERVER,
                  "ProvisionedThroughputExceededException: ");
  check_classify (429, "", ERR_SERVER, "HTTP 429: Too Many Requests");
  check_classify (500, "{\"__type\":\"com.amazonaws.ecs#ServerException\",\"message\":\"x\"}", ERR_SERVER,
                  "ServerException: x");
  check_classify (503, "", ERR_SERVER, "HTTP 503: Service Unavailable");
  check_classify (502, "<html>bad gateway</html>", ERR_SERVER, "HTTP 502: Bad Gateway");
  check_classify (403, "{\"__type\":\"com.amazon.coral.service#ExpiredTokenException\",\"message\":\"e\"}",
                  ERR_AUTH, "ExpiredTokenException: e");
  check_classify (403,
                  "{\"__type\":\"com.amazon.coral.service#InvalidSignatureException\",\"message\":\"sig\"}",
                  ERR_CLIENT, "InvalidSignatureException: sig");
  check_classify (404, NULL, ERR_CLIENT, "HTTP 404: Not Found");
  check_classify (418, "", ERR_CLIENT, "HTTP 418: unexpected status");
  check_classify (400, "{\"__type\":\"a:b#Code:http://internal\",\"message\":\"m\\nline\"}", ERR_CLIENT,
                  "Code: m line");
  check_classify (400, "[1,2]", ERR_CLIENT, "HTTP 400: Bad Request");
  check_classify (0, "", ERR_SERVER, "HTTP 0: unexpected status");
  /* the ECS-specific refinements of aws_json_classify's kind */
  check_classify (403, "{\"__type\":\"ExpiredToken\",\"message\":\"old\"}", ERR_AUTH, "ExpiredToken: old");
  check_classify (400, "{\"code\":\"ExpiredTokenException\"}", ERR_AUTH, "ExpiredTokenException: ");
  check_classify (500, "{\"__type\":\"ExpiredTokenException\",\"message\":\"e\"}", ERR_SERVER,
                  "ExpiredTokenException: e");
  check_classify (429, "{\"__type\":\"x#ClientException\",\"message\":\"c\"}", ERR_CLIENT,
                  "ClientException: c");
  check_classify (400, "{\"__type\":\"x#AccessDeniedException\",\"message\":\"no\"}", ERR_CLIENT,
                  "AccessDeniedException: no");
  check_classify (401, "", ERR_CLIENT, "HTTP 401: Unauthorized");
  check_classify (409, "{\"message\":\"busy\"}", ERR_CLIENT, "HTTP 409: busy");
  assert_true (ecs_error_retriable (ERR_AUTH));
  assert_true (ecs_error_retriable (ERR_SERVER));
  assert_true (ecs_error_retriable (ERR_TIMEOUT));
  assert_true (ecs_error_retriable (ERR_UNREACHABLE));
  assert_false (ecs_error_retriable (ERR_CLIENT));
  assert_false (ecs_error_retriable (ERR_MALFORMED));
}

/* ---- host resources ---- */

static void
test_host_resources (void **state)
{
  int64_t cpu = ecs_host_cpu_units ();
  assert_true (cpu >= 1024);
  assert_int_equal (cpu % 1024, 0);

  int64_t mem = 0;
  agent_error_t err = NULL;
  const uint64_t total = 3858868ull * 1024; /* MemTotal: 3858868 kB */
  assert_int_equal (ecs_host_memory_mib (total, 0, &mem, &err), 0);
  assert_int_equal (mem, 3768);
  assert_int_equal (ecs_host_memory_mib (total, 768, &mem, &err), 0);
  assert_int_equal (mem, 3000);
  assert_true (ecs_host_memory_mib (total, 4000, &mem, &err) < 0);
  assert_int_equal (error_kind (&err), ERR_INVALID);
  error_free (&err);
  assert_true (ecs_host_memory_mib (total, -1, &mem, &err) < 0);
  error_free (&err);
  /* unknown -> 0 MiB (upstream), reserved > 0 then fails */
  assert_int_equal (ecs_host_memory_mib (0, 0, &mem, &err), 0);
  assert_int_equal (mem, 0);
  assert_true (ecs_host_memory_mib (0, 1, &mem, &err) < 0);
  error_free (&err);
  /* this host, as the agent asks */
  assert_int_equal (ecs_host_memory_mib (uv_get_total_memory (), 0, &mem, &err), 0);
  assert_true (mem > 0);
  assert_int_equal (ecs_host_cpu_units (), (int64_t) uv_available_parallelism () * 1024);
}

static const char *
attr_value (const struct ecs_attribute *a, size_t n, const char *name, bool *found)
{
  *found = false;
  for (size_t i = 0; i < n; i++)
    if (strcmp (a[i].name, name) == 0)
      {
        *found = true;
        return a[i].value;
      }
  return NULL;
}

static void
test_attributes (void **state)
{
  const char *v[] = { "1.17", "1.18", "1.43" };
  const char *d[] = { "json-file", "awslogs" };
  size_t n = 0;
  agent_error_t err = NULL;
  /* quotes and backslashes pass through unchanged (they used to become '_') */
  const struct ecs_attribute user[] = { { "stack", "prod" }, { "team", "a \"b\" \\c" } };
  struct ecs_attribute *a = ecs_standard_attributes (v, 3, d, 2, user, 2, &n, &err);
  assert_non_null (a);
  bool f;
  attr_value (a, n, "com.amazonaws.ecs.capability.docker-remote-api.1.17", &f);
  assert_true (f);
  attr_value (a, n, "com.amazonaws.ecs.capability.docker-remote-api.1.43", &f);
  assert_true (f);
  attr_value (a, n, "com.amazonaws.ecs.capability.logging-driver.awslogs", &f);
  assert_true (f);
  attr_value (a, n, "com.amazonaws.ecs.capability.logging-driver.none", &f);
  assert_false (f);
  /* privileged-container depends on ECS_DISABLE_PRIVILEGED:
     ecs_option_attributes (tests/unit/test_option_gates.c) */
  attr_value (a, n, "com.amazonaws.ecs.capability.privileged-container", &f);
  assert_false (f);
  assert_string_equal (attr_value (a, n, "ecs.os-type", &f), "linux");
  assert_string_equal (attr_value (a, n, "stack", &f), "prod");
  assert_string_equal (a[n - 1].name, "team");
  assert_string_equal (a[n - 1].value, "a \"b\" \\c");
  /* and reach the request as JSON strings */
  struct ecs_register_req rr = { .cluster = "c", .attributes = a, .n_attributes = n };
  char *body = ecs_build_register (&rr);
  json_t *j = json_loads (body, 0, NULL);
  json_t *last = json_array_get (json_object_get (j, "attributes"), n - 1);
  assert_string_equal (json_string_value (json_object_get (last, "value")), "a \"b\" \\c");
  json_decref (j);
  free (body);
  ecs_attributes_free (a, n);

  a = ecs_standard_attributes (NULL, 0, NULL, 0, NULL, 0, &n, &err);
  attr_value (a, n, "com.amazonaws.ecs.capability.logging-driver.json-file", &f);
  assert_true (f);
  attr_value (a, n, "com.amazonaws.ecs.capability.logging-driver.none", &f);
  assert_true (f);
  ecs_attributes_free (a, n);

  char long_name[130], long_value[130];
  memset (long_name, 'k', 129);
  long_name[129] = '\0';
  memset (long_value, 'v', 129);
  long_value[129] = '\0';
  const struct ecs_attribute bad[] = { { "", "x" }, { NULL, "x" }, { "a b", "x" }, { "a\"b", "x" },
                                       { "a", NULL }, { long_name, "x" }, { "a", long_value } };
  for (size_t i = 0; i < ARRAY_SIZE (bad); i++)
    {
      a = ecs_standard_attributes (v, 1, NULL, 0, &bad[i], 1, &n, &err);
      assert_null (a);
      assert_int_equal (error_kind (&err), ERR_INVALID);
      error_free (&err);
      /* checked on a re-registration too, though none is sent then */
      assert_int_equal (ecs_custom_attributes_sent (&bad[i], 1, true, &err), -1);
      assert_int_equal (error_kind (&err), ERR_INVALID);
      error_free (&err);
    }
  /* ECS_INSTANCE_ATTRIBUTES go with the first registration only, as upstream */
  const struct ecs_attribute custom[] = { { "stack", "blue" }, { "rack", "r1" } };
  assert_int_equal (ecs_custom_attributes_sent (custom, 2, false, &err), 2);
  assert_int_equal (ecs_custom_attributes_sent (custom, 2, true, &err), 0);
  assert_int_equal (ecs_custom_attributes_sent (NULL, 0, false, &err), 0);
  assert_null (err);
}

static void
test_backoff (void **state)
{
  struct backoff b;
  backoff_init (&b, 1000, 30000, 0.2, 1.3);
  uint64_t expect = 1000;
  for (int i = 0; i < 30; i++)
    {
      uint64_t d = backoff_next (&b);
      assert_true (d >= expect);
      assert_true (d <= expect + expect / 5 + 1);
      double nx = (double) expect * 1.3;
      expect = nx > 30000 ? 30000 : (uint64_t) nx;
    }
  assert_int_equal (b.cur_ms, 30000);
  backoff_reset (&b);
  assert_int_equal (b.cur_ms, 1000);
  backoff_init (&b, 100, 5000, 0, 2.0);
  assert_int_equal (backoff_next (&b), 100);
  assert_int_equal (backoff_next (&b), 200);
  assert_int_equal (backoff_next (&b), 400);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_endpoint),
    cmocka_unit_test (test_user_agent),
    cmocka_unit_test (test_build_register_first),
    cmocka_unit_test (test_build_register_full),
    cmocka_unit_test (test_build_discover),
    cmocka_unit_test (test_build_task_change),
    cmocka_unit_test (test_build_task_change_batched),
    cmocka_unit_test (test_build_container_change),
    cmocka_unit_test (test_parse_register),
    cmocka_unit_test (test_parse_discover),
    cmocka_unit_test (test_parse_cluster),
    cmocka_unit_test (test_classify),
    cmocka_unit_test (test_host_resources),
    cmocka_unit_test (test_attributes),
    cmocka_unit_test (test_backoff),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
