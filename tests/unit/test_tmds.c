/* Unit tests for the task metadata and credentials router (tmds/tmds.h,
 * no socket): credentials v1/v2 (200 body, 400 NoIdInRequest /
 * InvalidIdInRequest, 503 CredentialsUninitialized), the v4 / v3 / v2
 * container and task objects checked key by key against upstream's names
 * and JSON types (Docker details from a real inspect body through the
 * Docker parser), the version-specific status codes and error strings for
 * unknown endpoint ids, a container not inspected yet (v3 500, v4 task
 * without Networks), v2 attribution by the caller's address, stats routes
 * (which ids are fetched, unavailable containers as {} in v4 and null in
 * v2/v3, a failed container sample), unknown paths, Health of containers
 * with a Docker health check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "docker/docker.h"
#include "log/log.h"
#include "tmds/tmds_int.h"
#include "state/checkpoint_tasks.h"
#include "test_engine_util.h"

#define ID_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ID_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static const char *const TASK_JSON
    = "{\"arn\":\"arn:aws:ecs:us-west-2:1:task/c/t1\",\"family\":\"web\",\"version\":\"7\","
      "\"desiredStatus\":\"RUNNING\",\"launchType\":\"EC2\",\"serviceName\":\"svc\","
      "\"cpu\":0.5,\"memory\":1024,\"containers\":["
      "{\"name\":\"app\",\"image\":\"busybox:1\",\"cpu\":256,\"memory\":64,"
      "\"containerArn\":\"arn:aws:ecs:us-west-2:1:container/c/t1/5e6f\","
      "\"portMappings\":[{\"containerPort\":80,\"hostPort\":8080}],"
      "\"secrets\":[{\"name\":\"splunk-token\",\"valueFrom\":\"/tok\",\"provider\":\"ssm\","
      "\"region\":\"us-west-2\",\"target\":\"LOG_DRIVER\"}]},"
      "{\"name\":\"init\",\"image\":\"busybox:1\",\"essential\":false,"
      "\"restartPolicy\":{\"enabled\":true,\"restartAttemptPeriod\":60}},"
      "{\"name\":\"late\",\"image\":\"busybox:1\"}],"
      "\"associations\":[{\"name\":\"dev1\",\"type\":\"elastic-inference\","
      "\"content\":{\"value\":\"{\\\"acc\\\":1}\",\"encoding\":\"identity\"},\"containers\":[\"app\",\"init\"]},"
      "{\"name\":\"dev2\",\"type\":\"elastic-inference\",\"content\":{\"value\":\"[2]\"},"
      "\"containers\":[\"app\"]},{\"name\":\"g\",\"type\":\"gpu\",\"containers\":[\"app\"]}]}";

static const char *const INSPECT_A
    = "{\"Id\":\"" ID_A "\",\"Name\":\"/ecs-web-7-app\",\"Image\":\"sha256:1111\","
      "\"Created\":\"2024-05-01T10:00:04.100000000Z\",\"Config\":{\"Image\":\"busybox:1\","
      "\"Labels\":{\"com.amazonaws.ecs.container-name\":\"app\"}},"
      "\"State\":{\"Status\":\"running\",\"Running\":true,\"StartedAt\":\"2024-05-01T10:00:04.9Z\","
      "\"FinishedAt\":\"0001-01-01T00:00:00Z\"},"
      "\"HostConfig\":{\"NetworkMode\":\"bridge\",\"LogConfig\":{\"Type\":\"json-file\","
      "\"Config\":{\"max-size\":\"10m\",\"splunk-token\":\"tok-secret-value\"}}},"
      "\"NetworkSettings\":{\"IPAddress\":\"172.17.0.5\",\"Networks\":{\"bridge\":"
      "{\"IPAddress\":\"172.17.0.5\"}}},"
      "\"Mounts\":[{\"Type\":\"volume\",\"Name\":\"v1\",\"Source\":\"/var/lib/v1\","
      "\"Destination\":\"/data\",\"RW\":true}]}";

static const char *const INSPECT_B
    = "{\"Id\":\"" ID_B "\",\"Name\":\"/ecs-web-7-init\",\"Image\":\"sha256:1111\","
      "\"Created\":\"2024-05-01T10:00:03Z\",\"Config\":{\"Image\":\"busybox:1\"},"
      "\"State\":{\"Status\":\"exited\",\"Running\":false,\"ExitCode\":3,"
      "\"StartedAt\":\"2024-05-01T10:00:03.5Z\",\"FinishedAt\":\"2024-05-01T10:00:03.75Z\"},"
      "\"HostConfig\":{\"NetworkMode\":\"host\"},\"NetworkSettings\":{\"Networks\":{\"host\":{}}}}";

struct fx
{
  struct task *t;
  struct docker_container_info *ia, *ib;
  bool inspected;
  task_creds_store_t *creds;
  struct tmds_config cfg;
  struct tmds_provider prov;
  struct tmds_view v;
};

static size_t
f_count (void *data)
{
  (void) data;
  return 1;
}

static const struct task *
f_at (void *data, size_t i)
{
  (void) i;
  return ((struct fx *) data)->t;
}

static const struct docker_container_info *
f_inspect (void *data, const char *id)
{
  struct fx *f = data;
  if (!f->inspected)
    return NULL;
  if (strcmp (id, ID_A) == 0)
    return f->ia;
  if (strcmp (id, ID_B) == 0)
    return f->ib;
  return NULL;
}

static struct docker_container_info *
parse_inspect (const char *s)
{
  struct docker_container_info *i = NULL;
  agent_error_t err = NULL;
  if (docker_parse_container_inspect (s, strlen (s), &i, &err) < 0)
    fail_msg ("%s", error_msg (&err));
  return i;
}

static int
setup (void **state)
{
  log_init (LOG_NONE, NULL, NULL);
  struct fx *f = xcalloc (1, sizeof *f);
  agent_error_t err = NULL;
  f->t = teu_task (TASK_JSON, &err);
  assert_non_null (f->t);
  struct task *t = f->t;
  t->known_status = TASK_STATUS_RUNNING;
  struct task_container *a = &t->containers[0], *b = &t->containers[1], *l = &t->containers[2];
  free (a->v3_endpoint_id);
  a->v3_endpoint_id = xstrdup ("eid-a");
  free (b->v3_endpoint_id);
  b->v3_endpoint_id = xstrdup ("eid-b");
  a->docker_id = xstrdup (ID_A);
  a->docker_name = xstrdup ("ecs-web-7-app");
  a->known_status = a->desired_status = TASK_STATUS_RUNNING;
  a->known_bindings = xcalloc (1, sizeof *a->known_bindings);
  a->known_bindings[0] = (struct task_port_binding){ 80, 8080, xstrdup ("0.0.0.0"), TASK_PROTO_TCP, 0, 0 };
  a->n_known_bindings = 1;
  b->docker_id = xstrdup (ID_B);
  b->docker_name = xstrdup ("ecs-web-7-init");
  b->known_status = b->desired_status = TASK_STATUS_STOPPED;
  b->has_exit_code = true;
  b->exit_code = 3;
  l->known_status = TASK_STATUS_PULLED; /* pulled, not created */
  t->pull_started_ms = 1714557601500LL;  /* 2024-05-01T10:00:01.5Z */
  t->pull_stopped_ms = 1714557603250LL;  /* 2024-05-01T10:00:03.25Z */
  f->ia = parse_inspect (INSPECT_A);
  f->ib = parse_inspect (INSPECT_B);
  f->inspected = true;
  f->creds = task_creds_store_new ();
  f->cfg = (struct tmds_config){ .cluster = "default", .availability_zone = "us-west-2a" };
  f->prov = (struct tmds_provider){ .task_count = f_count, .task_at = f_at, .data = f };
  f->v = (struct tmds_view){ .cfg = &f->cfg,
                             .prov = &f->prov,
                             .creds = f->creds,
                             .inspect = f_inspect,
                             .inspect_data = f };
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  struct fx *f = *state;
  task_free (f->t);
  docker_container_info_free (f->ia);
  docker_container_info_free (f->ib);
  task_creds_store_free (f->creds);
  free (f);
  log_close ();
  return 0;
}

/* Route path; returns the parsed body (JSON) and the status. */
static json_t *
get (struct fx *f, const char *path, const char *peer, int *status, struct tmds_answer *keep)
{
  struct tmds_answer a;
  const char *args[4];
  size_t n = 0;
  char *p = xstrdup (path);
  char *q = strchr (p, '?');
  if (q)
    {
      *q = 0;
      args[n++] = q + 1;
    }
  tmds_route (&f->v, p, args, n, peer, &a);
  *status = a.status;
  json_t *j = NULL;
  if (a.body)
    {
      assert_string_equal (a.ctype, "application/json");
      j = json_loads (a.body, JSON_DECODE_ANY, NULL);
      assert_non_null (j);
    }
  if (keep)
    *keep = a;
  else
    tmds_answer_clear (&a);
  free (p);
  return j;
}

static void
expect_error (struct fx *f, const char *path, int status, const char *msg)
{
  int st;
  json_t *j = get (f, path, "172.17.0.9", &st, NULL);
  assert_int_equal (st, status);
  assert_true (json_is_string (j));
  assert_string_equal (json_string_value (j), msg);
  json_decref (j);
}

/* The answer to path as it is: its status, and its content type and body
   unless NULL. */
static void
expect_raw (struct fx *f, const char *path, int status, const char *ctype, const char *body)
{
  struct tmds_answer a;
  tmds_route (&f->v, path, NULL, 0, "1.2.3.4", &a);
  assert_int_equal (a.status, status);
  if (ctype)
    assert_string_equal (a.ctype, ctype);
  if (body)
    assert_string_equal (a.body, body);
  tmds_answer_clear (&a);
}

/* A 200 answer to path whose JSON, compact, is want. */
static void
expect_compact (struct fx *f, const char *path, const char *want)
{
  int st;
  json_t *j = get (f, path, "1.2.3.4", &st, NULL);
  assert_int_equal (st, 200);
  char *s = json_dumps (j, JSON_COMPACT);
  assert_string_equal (s, want);
  free (s);
  json_decref (j);
}

static const char *
str (json_t *o, const char *k)
{
  json_t *v = json_object_get (o, k);
  if (!json_is_string (v))
    fail_msg ("%s is not a string", k);
  return json_string_value (v);
}

static void
test_credentials (void **state)
{
  struct fx *f = *state;
  struct task_role_credentials *c = xcalloc (1, sizeof *c);
  c->credentials_id = xstrdup ("cid-1");
  c->role_arn = xstrdup ("arn:aws:iam::1:role/app");
  c->access_key_id = xstrdup ("ASIAKEY");
  c->secret_access_key = xstrdup ("sekrit-0123456789");
  c->session_token = xstrdup ("tok-0123456789");
  c->expiration = xstrdup ("2016-03-25T06:17:19.318+0000");
  agent_error_t err = NULL;
  assert_int_equal (task_creds_store_put (f->creds, f->t->arn, TASK_CREDS_TASK_ROLE, c, &err), 0);
  task_creds_store_expect (f->creds, "arn:restored", TASK_CREDS_TASK_ROLE, "cid-2");
  int st;
  struct tmds_answer a;
  json_t *j = get (f, "/v2/credentials/cid-1", "1.2.3.4", &st, &a);
  assert_int_equal (st, 200);
  assert_string_equal (str (j, "RoleArn"), "arn:aws:iam::1:role/app");
  assert_string_equal (str (j, "AccessKeyId"), "ASIAKEY");
  assert_string_equal (str (j, "SecretAccessKey"), "sekrit-0123456789");
  assert_string_equal (str (j, "Token"), "tok-0123456789");
  assert_string_equal (str (j, "Expiration"), "2016-03-25T06:17:19.318+0000");
  assert_int_equal (json_object_size (j), 5);
  assert_true (a.creds_request);
  assert_string_equal (a.creds_path, "/v2/credentials");
  assert_string_equal (a.creds_event, "GetCredentials");
  assert_string_equal (a.creds_task_arn, f->t->arn);
  tmds_answer_clear (&a);
  json_decref (j);
  j = get (f, "/v1/credentials?id=cid-1", "1.2.3.4", &st, NULL);
  assert_int_equal (st, 200);
  json_decref (j);
  static const struct
  {
    const char *path;
    int status;
    const char *code, *message;
  } errs[] = {
    { "/v2/credentials/", 400, "NoIdInRequest", "CredentialsV2Request: No Credential ID in the request" },
    { "/v1/credentials", 400, "NoIdInRequest", "CredentialsV1Request: No Credential ID in the request" },
    { "/v2/credentials/cid-2", 503, "CredentialsUninitialized",
      "CredentialsV2Request: Credentials uninitialized for ID" },
    { "/v1/credentials?id=nope", 400, "InvalidIdInRequest", "CredentialsV1Request: Credentials not found" },
    { "/v2/credentials/../v2/credentials/cid-1", 400, "InvalidIdInRequest",
      "CredentialsV2Request: Credentials not found" },
  };
  for (size_t i = 0; i < sizeof errs / sizeof *errs; i++)
    {
      j = get (f, errs[i].path, "1.2.3.4", &st, NULL);
      assert_int_equal (st, errs[i].status);
      assert_string_equal (str (j, "code"), errs[i].code);
      assert_string_equal (str (j, "message"), errs[i].message);
      json_decref (j);
    }
  /* unknown path */
  expect_raw (f, "/v2/credentials", 404, "text/plain; charset=utf-8", "404 page not found\n");
}

/* Every key of the v4 container object, with its JSON type. */
static void
check_v4_container_a (json_t *c)
{
  assert_string_equal (str (c, "DockerId"), ID_A);
  assert_string_equal (str (c, "Name"), "app");
  assert_string_equal (str (c, "DockerName"), "ecs-web-7-app");
  assert_string_equal (str (c, "Image"), "busybox:1");
  assert_string_equal (str (c, "ImageID"), "sha256:1111");
  json_t *p = json_array_get (json_object_get (c, "Ports"), 0);
  assert_int_equal (json_integer_value (json_object_get (p, "ContainerPort")), 80);
  assert_int_equal (json_integer_value (json_object_get (p, "HostPort")), 8080);
  assert_string_equal (str (p, "Protocol"), "tcp");
  assert_string_equal (str (p, "HostIp"), "0.0.0.0");
  assert_string_equal (str (json_object_get (c, "Labels"), "com.amazonaws.ecs.container-name"), "app");
  assert_string_equal (str (c, "DesiredStatus"), "RUNNING");
  assert_string_equal (str (c, "KnownStatus"), "RUNNING");
  assert_null (json_object_get (c, "ExitCode"));
  assert_null (json_object_get (c, "RestartCount")); /* no restart policy */
  json_t *lim = json_object_get (c, "Limits");
  assert_true (json_is_number (json_object_get (lim, "CPU")));
  assert_int_equal (json_number_value (json_object_get (lim, "CPU")), 256);
  assert_true (json_is_integer (json_object_get (lim, "Memory")));
  assert_int_equal (json_integer_value (json_object_get (lim, "Memory")), 64);
  assert_string_equal (str (c, "CreatedAt"), "2024-05-01T10:00:04.1Z");
  assert_string_equal (str (c, "StartedAt"), "2024-05-01T10:00:04.9Z");
  assert_null (json_object_get (c, "FinishedAt")); /* Docker's zero time */
  assert_string_equal (str (c, "Type"), "NORMAL");
  json_t *n = json_array_get (json_object_get (c, "Networks"), 0);
  assert_string_equal (str (n, "NetworkMode"), "bridge");
  assert_string_equal (json_string_value (json_array_get (json_object_get (n, "IPv4Addresses"), 0)),
                       "172.17.0.5");
  json_t *vol = json_array_get (json_object_get (c, "Volumes"), 0);
  assert_string_equal (str (vol, "DockerName"), "v1");
  assert_string_equal (str (vol, "Source"), "/var/lib/v1");
  assert_string_equal (str (vol, "Destination"), "/data");
  assert_string_equal (str (c, "LogDriver"), "json-file");
  assert_string_equal (str (json_object_get (c, "LogOptions"), "max-size"), "10m");
  assert_string_equal (str (c, "ContainerARN"), "arn:aws:ecs:us-west-2:1:container/c/t1/5e6f");
  /* nothing beyond upstream's keys */
  static const char *const keys[]
      = { "DockerId", "Name",      "DockerName", "Image",        "ImageID",  "Ports",
          "Labels",   "DesiredStatus", "KnownStatus", "Limits",   "CreatedAt", "StartedAt",
          "Type",     "Networks",  "Volumes",    "LogDriver",    "LogOptions", "ContainerARN" };
  assert_int_equal (json_object_size (c), sizeof keys / sizeof *keys);
  for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
    assert_non_null (json_object_get (c, keys[i]));
  /* an option a secret set is not answered (its value is the secret's) */
  assert_null (json_object_get (json_object_get (c, "LogOptions"), "splunk-token"));
}

static void
test_v4 (void **state)
{
  struct fx *f = *state;
  int st;
  json_t *c = get (f, "/v4/eid-a", "x", &st, NULL);
  assert_int_equal (st, 200);
  check_v4_container_a (c);
  json_decref (c);
  json_t *t = get (f, "/v4/eid-a/task", "x", &st, NULL);
  assert_int_equal (st, 200);
  assert_string_equal (str (t, "Cluster"), "default");
  assert_string_equal (str (t, "TaskARN"), "arn:aws:ecs:us-west-2:1:task/c/t1");
  assert_string_equal (str (t, "Family"), "web");
  assert_string_equal (str (t, "Revision"), "7");
  assert_string_equal (str (t, "DesiredStatus"), "RUNNING");
  assert_string_equal (str (t, "KnownStatus"), "RUNNING");
  assert_string_equal (str (t, "AvailabilityZone"), "us-west-2a");
  assert_true (json_is_false (json_object_get (t, "FaultInjectionEnabled")));
  assert_string_equal (str (t, "LaunchType"), "EC2");
  assert_string_equal (str (t, "ServiceName"), "svc");
  json_t *tl = json_object_get (t, "Limits");
  assert_true (json_is_real (json_object_get (tl, "CPU")));
  assert_true (json_real_value (json_object_get (tl, "CPU")) == 0.5);
  assert_true (json_is_integer (json_object_get (tl, "Memory")));
  assert_int_equal (json_integer_value (json_object_get (tl, "Memory")), 1024);
  assert_string_equal (str (t, "PullStartedAt"), "2024-05-01T10:00:01.5Z");
  assert_string_equal (str (t, "PullStoppedAt"), "2024-05-01T10:00:03.25Z");
  assert_null (json_object_get (t, "ExecutionStoppedAt")); /* no essential container stopped */
  json_t *cs = json_object_get (t, "Containers");
  assert_int_equal (json_array_size (cs), 3); /* v4 lists the pulled one too */
  check_v4_container_a (json_array_get (cs, 0));
  json_t *b = json_array_get (cs, 1);
  assert_string_equal (str (b, "KnownStatus"), "STOPPED");
  assert_int_equal (json_integer_value (json_object_get (b, "ExitCode")), 3);
  assert_true (json_is_integer (json_object_get (b, "RestartCount"))); /* restart policy: shown */
  assert_int_equal (json_integer_value (json_object_get (b, "RestartCount")), 0);
  assert_string_equal (str (b, "FinishedAt"), "2024-05-01T10:00:03.75Z");
  json_t *bn = json_array_get (json_object_get (b, "Networks"), 0);
  assert_string_equal (str (bn, "NetworkMode"), "host");
  assert_string_equal (json_string_value (json_array_get (json_object_get (bn, "IPv4Addresses"), 0)), "");
  json_t *l = json_array_get (cs, 2);
  assert_string_equal (str (l, "DockerId"), "");
  assert_string_equal (str (l, "KnownStatus"), "PULLED");
  json_decref (t);
  /* the sibling's own endpoint */
  c = get (f, "/v4/eid-b", "x", &st, NULL);
  assert_int_equal (st, 200);
  assert_string_equal (str (c, "Name"), "init");
  json_decref (c);
  /* unknown ids: 404 with upstream's strings; empty id; unknown sub-path */
  expect_error (f, "/v4/nope", 404,
                "V4 container metadata handler: unable to get container ID from request: unable to "
                "get docker ID from v3 endpoint ID: nope");
  expect_error (f, "/v4/", 404,
                "V4 container metadata handler: unable to get container ID from request: unable to "
                "get docker ID from v3 endpoint ID: ");
  expect_error (f, "/v4/nope/task", 404,
                "V4 task metadata handler: unable to get task arn from request: unable to get task "
                "Arn from v3 endpoint ID: nope");
  /* container stats: the task is looked up first (upstream's tmdsstate.go) */
  expect_error (f, "/v4/nope/stats", 404,
                "V4 container stats handler: unable to get task arn from request: unable to get task "
                "Arn from v3 endpoint ID: nope");
  expect_error (f, "/v4/nope/taskWithTags", 404,
                "V4 task metadata handler: unable to get task arn from request: unable to get task "
                "Arn from v3 endpoint ID: nope");
  expect_error (f, "/v4/nope/task/stats", 404,
                "V4 task stats handler: unable to get task arn from request: unable to get task Arn "
                "from v3 endpoint ID: nope");
  /* the pulled container has no Docker id yet: its endpoint is unknown */
  cleanup_free char *late = xasprintf ("/v4/%s", f->t->containers[2].v3_endpoint_id);
  expect_raw (f, late, 404, NULL, NULL);
  expect_raw (f, "/v4/eid-a/nothing", 404, NULL, NULL);
}

static void
test_v3_and_not_inspected (void **state)
{
  struct fx *f = *state;
  int st;
  json_t *c = get (f, "/v3/eid-a", "x", &st, NULL);
  assert_int_equal (st, 200);
  assert_null (json_object_get (c, "LogDriver")); /* v4 only */
  assert_null (json_object_get (json_array_get (json_object_get (c, "Ports"), 0), "HostIp"));
  assert_non_null (json_object_get (c, "Networks"));
  json_decref (c);
  json_t *t = get (f, "/v3/eid-a/task", "x", &st, NULL);
  assert_int_equal (st, 200);
  assert_int_equal (json_array_size (json_object_get (t, "Containers")), 2); /* not the pulled one */
  assert_null (json_object_get (t, "FaultInjectionEnabled"));
  assert_null (json_object_get (t, "LaunchType")); /* v4 only */
  assert_null (json_object_get (t, "ServiceName"));
  assert_non_null (json_object_get (t, "Limits")); /* every version */
  assert_string_equal (str (t, "PullStartedAt"), "2024-05-01T10:00:01.5Z");
  assert_null (json_object_get (json_array_get (json_object_get (t, "Containers"), 0), "ContainerARN"));
  json_decref (t);
  expect_error (f, "/v3/nope", 500,
                "V3 container metadata handler: unable to get container ID from request: unable to "
                "get docker ID from v3 endpoint ID: nope");
  expect_error (f, "/v3/nope/task", 500,
                "V3 task metadata handler: unable to get task arn from request: unable to get task "
                "Arn from v3 endpoint ID: nope");
  expect_error (f, "/v3/nope/stats", 400,
                "V3 container stats handler: unable to get task arn from request: unable to get task "
                "Arn from v3 endpoint ID: nope");
  expect_error (f, "/v3/nope/task/stats", 400,
                "V3 task stats handler: unable to get task arn from request: unable to get task "
                "Arn from v3 endpoint ID: nope");
  expect_error (f, "/v3/nope/taskWithTags", 500,
                "V3 task metadata handler: unable to get task arn from request: unable to get task "
                "Arn from v3 endpoint ID: nope");
  /* no Docker network settings yet (upstream's GetContainerNetworkMetadata):
     v3 and v4 container 500 with their texts, v3 task leaves the container
     out, v4 task lists it without Networks */
  f->inspected = false;
  expect_error (f, "/v3/eid-a", 500, "Unable to generate network response for container '" ID_A "'");
  expect_error (f, "/v4/eid-a", 500, "unable to generate network response for container '" ID_A "'");
  t = get (f, "/v3/eid-a/task", "x", &st, NULL);
  assert_int_equal (st, 200);
  assert_null (json_object_get (t, "Containers"));
  assert_string_equal (str (t, "TaskARN"), "arn:aws:ecs:us-west-2:1:task/c/t1");
  json_decref (t);
  t = get (f, "/v4/eid-a/task", "x", &st, NULL);
  assert_int_equal (st, 200);
  json_t *a = json_array_get (json_object_get (t, "Containers"), 0);
  assert_null (json_object_get (a, "Networks"));
  assert_string_equal (str (a, "ImageID"), "");
  json_decref (t);
}

static void
test_v2 (void **state)
{
  struct fx *f = *state;
  int st;
  json_t *t = get (f, "/v2/metadata", "172.17.0.5", &st, NULL);
  assert_int_equal (st, 200);
  assert_string_equal (str (t, "TaskARN"), f->t->arn);
  json_t *a = json_array_get (json_object_get (t, "Containers"), 0);
  assert_null (json_object_get (a, "Networks")); /* v2 has none */
  json_decref (t);
  t = get (f, "/v2/metadata/", "172.17.0.5", &st, NULL);
  assert_int_equal (st, 200);
  json_decref (t);
  json_t *c = get (f, "/v2/metadata/" ID_B, "10.9.9.9", &st, NULL);
  assert_int_equal (st, 200);
  assert_string_equal (str (c, "Name"), "init");
  json_decref (c);
  expect_error (f, "/v2/metadata", 400,
                "Unable to get task arn from request: unable to associate '172.17.0.9' with task");
  expect_error (f, "/v2/stats", 400,
                "Unable to get task arn from request: unable to associate '172.17.0.9' with task");
  expect_error (f, "/v2/metadata/" ID_A "x", 400, "Unable to get task arn from docker id: " ID_A "x");
}

static void
test_stats (void **state)
{
  struct fx *f = *state;
  int st;
  struct tmds_answer a;
  /* v4 task stats: the running container is fetched, the stopped one is
     listed unavailable ({} in v4) */
  assert_null (get (f, "/v4/eid-a/task/stats", "x", &st, &a));
  assert_int_equal (a.n_stats_ids, 2);
  assert_string_equal (a.stats_ids[0], ID_A);
  assert_string_equal (a.stats_ids[1], "!" ID_B);
  const char *raws[2] = { "{\"read\":\"2024-05-01T10:00:05Z\",\"cpu_stats\":{}}", NULL };
  tmds_stats_answer (&a, raws, NULL);
  assert_int_equal (a.status, 200);
  json_t *j = json_loads (a.body, 0, NULL);
  assert_string_equal (str (json_object_get (j, ID_A), "read"), "2024-05-01T10:00:05Z");
  assert_true (json_is_object (json_object_get (j, ID_B)));
  assert_int_equal (json_object_size (json_object_get (j, ID_B)), 0);
  json_decref (j);
  tmds_answer_clear (&a);
  /* v2 task stats by address: null for the unavailable one */
  assert_null (get (f, "/v2/stats", "172.17.0.5", &st, &a));
  tmds_stats_answer (&a, raws, NULL);
  j = json_loads (a.body, 0, NULL);
  assert_true (json_is_null (json_object_get (j, ID_B)));
  json_decref (j);
  tmds_answer_clear (&a);
  /* one container: a sample, or the version's error */
  assert_null (get (f, "/v4/eid-a/stats", "x", &st, &a));
  assert_int_equal (a.n_stats_ids, 1);
  const char *none[1] = { NULL };
  tmds_stats_answer (&a, none, NULL);
  assert_int_equal (a.status, 500);
  assert_string_equal (a.body, "\"Unable to get container stats for: " ID_A "\"");
  tmds_answer_clear (&a);
  assert_null (get (f, "/v3/eid-b/stats", "x", &st, &a));
  tmds_stats_answer (&a, none, NULL);
  assert_int_equal (a.status, 400);
  tmds_answer_clear (&a);
  assert_null (get (f, "/v2/stats/" ID_A, "x", &st, &a));
  tmds_stats_answer (&a, raws, NULL);
  assert_int_equal (a.status, 200);
  tmds_answer_clear (&a);
}

/* ECS_DISABLE_METRICS: no container is tracked, as upstream's stats engine
   tracks none: container stats fail (v4 500, v3/v2 400), task stats list
   every container as unavailable. */
static void
test_stats_metrics_disabled (void **state)
{
  struct fx *f = *state;
  int st;
  struct tmds_answer a;
  f->cfg.no_stats = true;
  assert_null (get (f, "/v4/eid-a/stats", "x", &st, &a));
  assert_int_equal (a.n_stats_ids, 1);
  assert_string_equal (a.stats_ids[0], "!" ID_A);
  const char *raws[2] = { NULL, NULL };
  tmds_stats_answer (&a, raws, NULL);
  assert_int_equal (a.status, 500);
  tmds_answer_clear (&a);
  assert_null (get (f, "/v3/eid-a/stats", "x", &st, &a));
  tmds_stats_answer (&a, raws, NULL);
  assert_int_equal (a.status, 400);
  tmds_answer_clear (&a);
  assert_null (get (f, "/v4/eid-a/task/stats", "x", &st, &a));
  assert_int_equal (a.n_stats_ids, 2);
  assert_string_equal (a.stats_ids[0], "!" ID_A);
  tmds_stats_answer (&a, raws, NULL);
  assert_int_equal (a.status, 200);
  json_t *j = json_loads (a.body, 0, NULL);
  assert_int_equal (json_object_size (json_object_get (j, ID_A)), 0);
  json_decref (j);
  tmds_answer_clear (&a);
  f->cfg.no_stats = false;
}

/* ECS_DISABLE_TASK_METADATA_AZ: the agent passes no zone; the answers then
   carry no AvailabilityZone. */
static void
test_no_availability_zone (void **state)
{
  struct fx *f = *state;
  int st;
  const char *az = f->cfg.availability_zone;
  f->cfg.availability_zone = NULL;
  json_t *t = get (f, "/v4/eid-a/task", "x", &st, NULL);
  assert_int_equal (st, 200);
  assert_null (json_object_get (t, "AvailabilityZone"));
  json_decref (t);
  f->cfg.availability_zone = az;
}

/* Health: only containers with a Docker health check, every version, from
   the container's health record (status omitted while UNKNOWN). */
static void
test_health (void **state)
{
  struct fx *f = *state;
  struct task_container *a = &f->t->containers[0];
  a->opts.health_check_type = xstrdup ("DOCKER");
  a->life.health = TASK_HEALTH_UNHEALTHY;
  a->life.health_since_ns = 1714557604500000000LL; /* 2024-05-01T10:00:04.5Z */
  a->life.health_exit_code = 2;
  a->life.health_output = xstrdup ("curl: (7) refused\n");
  static const char *const paths[] = { "/v4/eid-a", "/v3/eid-a", "/v2/metadata/" ID_A };
  for (size_t i = 0; i < 3; i++)
    {
      int st;
      json_t *c = get (f, paths[i], "x", &st, NULL);
      assert_int_equal (st, 200);
      json_t *h = json_object_get (c, "Health");
      assert_true (json_is_object (h));
      assert_string_equal (str (h, "status"), "UNHEALTHY");
      assert_string_equal (str (h, "statusSince"), "2024-05-01T10:00:04.5Z");
      assert_int_equal (json_integer_value (json_object_get (h, "exitCode")), 2);
      assert_string_equal (str (h, "output"), "curl: (7) refused\n");
      assert_int_equal (json_object_size (h), 4);
      json_decref (c);
    }
  /* the task object too; the sibling without a check has none */
  int st;
  json_t *t = get (f, "/v4/eid-a/task", "x", &st, NULL);
  json_t *cs = json_object_get (t, "Containers");
  assert_non_null (json_object_get (json_array_get (cs, 0), "Health"));
  assert_null (json_object_get (json_array_get (cs, 1), "Health"));
  json_decref (t);
  /* UNKNOWN, never changed: {} */
  a->life.health = TASK_HEALTH_UNKNOWN;
  a->life.health_since_ns = 0;
  a->life.health_exit_code = 0;
  free (a->life.health_output);
  a->life.health_output = NULL;
  json_t *c = get (f, "/v4/eid-a", "x", &st, NULL);
  assert_int_equal (json_object_size (json_object_get (c, "Health")), 0);
  assert_true (json_is_object (json_object_get (c, "Health")));
  json_decref (c);
}

/* network_rate_stats: v4 bridge tasks only, from two samples; the task
   fields that come and go (Limits, ExecutionStoppedAt, fault injection). */
static void
test_v4_rates_and_task_fields (void **state)
{
  struct fx *f = *state;
  struct tmds_net_rate r = tmds_net_rate_between (0, 0, 0, 2000000000LL, 100, 100);
  assert_false (r.set); /* first sample */
  r = tmds_net_rate_between (1000000000LL, 1000, 500, 3000000000LL, 5000, 1500);
  assert_true (r.set);
  assert_true (r.rx_bytes_per_sec == 2000.0 && r.tx_bytes_per_sec == 500.0);
  assert_false (tmds_net_rate_between (1000000000LL, 1000, 500, 3000000000LL, 10, 1500).set);
  assert_false (tmds_net_rate_between (3000000000LL, 1, 1, 3000000000LL, 2, 2).set);
  int st;
  struct tmds_answer a;
  const char *raws[1] = { "{\"read\":\"2024-05-01T10:00:05Z\",\"networks\":{}}" };
  struct tmds_net_rate rates[1] = { { true, 2000.0, 0.25 } };
  assert_null (get (f, "/v4/eid-a/stats", "x", &st, &a));
  assert_true (a.net_rates);
  tmds_stats_answer (&a, raws, rates);
  json_t *j = json_loads (a.body, 0, NULL);
  json_t *nr = json_object_get (j, "network_rate_stats");
  assert_true (json_is_integer (json_object_get (nr, "rx_bytes_per_sec"))); /* Go prints 2000 */
  assert_int_equal (json_integer_value (json_object_get (nr, "rx_bytes_per_sec")), 2000);
  assert_true (json_real_value (json_object_get (nr, "tx_bytes_per_sec")) == 0.25);
  json_decref (j);
  tmds_answer_clear (&a);
  /* v3: Docker's keys only */
  assert_null (get (f, "/v3/eid-a/stats", "x", &st, &a));
  tmds_stats_answer (&a, raws, rates);
  j = json_loads (a.body, 0, NULL);
  assert_null (json_object_get (j, "network_rate_stats"));
  json_decref (j);
  tmds_answer_clear (&a);
  /* host mode: none */
  f->t->opts.network_mode = xstrdup ("host");
  assert_null (get (f, "/v4/eid-a/task/stats", "x", &st, &a));
  assert_false (a.net_rates);
  tmds_answer_clear (&a);
  /* task fields */
  f->t->opts.cpu = 2;
  f->t->opts.memory_mib = 0;
  f->t->fault_injection = true;
  f->t->execution_stopped_ms = 1714557610000LL;
  json_t *t = get (f, "/v4/eid-a/task", "x", &st, NULL);
  json_t *lim = json_object_get (t, "Limits");
  assert_true (json_is_integer (json_object_get (lim, "CPU"))); /* 2, not 2.0 */
  assert_null (json_object_get (lim, "Memory"));
  assert_true (json_is_true (json_object_get (t, "FaultInjectionEnabled")));
  assert_string_equal (str (t, "ExecutionStoppedAt"), "2024-05-01T10:00:10Z");
  json_decref (t);
  f->t->opts.cpu = 0;
  t = get (f, "/v4/eid-a/task", "x", &st, NULL);
  assert_null (json_object_get (t, "Limits")); /* both 0: omitted */
  json_decref (t);
}

/* The task fields the metadata reads survive a checkpoint round trip. */
static void
test_fields_checkpointed (void **state)
{
  struct fx *f = *state;
  f->t->fault_injection = true;
  f->t->execution_stopped_ms = 1714557610000LL;
  json_t *j = state_task_to_json (f->t);
  struct task *back = NULL;
  agent_error_t err = NULL;
  assert_int_equal (state_task_from_json (j, &back, &err), 0);
  assert_string_equal (back->launch_type, "EC2");
  assert_string_equal (back->service_name, "svc");
  assert_true (back->fault_injection);
  assert_true (back->pull_started_ms == f->t->pull_started_ms);
  assert_true (back->pull_stopped_ms == f->t->pull_stopped_ms);
  assert_true (back->execution_stopped_ms == f->t->execution_stopped_ms);
  assert_string_equal (back->containers[0].container_arn, "arn:aws:ecs:us-west-2:1:container/c/t1/5e6f");
  assert_null (back->containers[1].container_arn);
  task_free (back);
  json_decref (j);
}

/* The legacy associations routes: the names of this container's
   associations of a type (null when none, as upstream's Go writes an empty
   list), one association's content as it is, 400 with upstream's strings,
   and the associations kept by the checkpoint. */
static void
test_associations (void **state)
{
  struct fx *f = *state;
  expect_compact (f, "/v4/eid-a/associations/elastic-inference",
                  "{\"Associations\":[\"dev1\",\"dev2\"]}");
  expect_compact (f, "/v3/eid-b/associations/elastic-inference", "{\"Associations\":[\"dev1\"]}");
  expect_compact (f, "/v4/eid-b/associations/gpu", "{\"Associations\":null}");
  expect_raw (f, "/v4/eid-a/associations/elastic-inference/dev1", 200, "application/json", "{\"acc\":1}");
  /* by task: any container of it */
  expect_raw (f, "/v3/eid-b/associations/elastic-inference/dev2", 200, NULL, "[2]");
  expect_error (f, "/v3/eid-a/associations/elastic-inference/nope", 400,
                "Unable to write container association response: unable to get association from "
                "association type elastic-inference and association name nope");
  expect_error (f, "/v4/nope/associations/elastic-inference", 400,
                "V4 container associations handler: unable to get container id from request: "
                "unable to get docker ID from v3 endpoint ID: nope");
  expect_error (f, "/v3/nope/associations/gpu/g", 400,
                "V3 container associations handler: unable to get task arn from request: "
                "unable to get task Arn from v3 endpoint ID: nope");
  /* the name is everything after the type (upstream's ".+"); an empty one
     is the route without a name, after the endpoint id */
  expect_error (f, "/v4/eid-a/associations/gpu/g/x", 400,
                "Unable to write container association response: unable to get association from "
                "association type gpu and association name g/x");
  expect_error (f, "/v4/eid-a/associations/gpu/", 400,
                "V4 container associations handler: unable to get association name from request");
  expect_error (f, "/v3/eid-b/associations/elastic-inference/", 400,
                "V3 container associations handler: unable to get association name from request");
  expect_error (f, "/v3/nope/associations/gpu/", 400,
                "V3 container associations handler: unable to get task arn from request: "
                "unable to get task Arn from v3 endpoint ID: nope");
  expect_raw (f, "/v4/eid-a/associations", 404, NULL, NULL);

  json_t *cj = state_task_to_json (f->t);
  struct task *back = NULL;
  agent_error_t err = NULL;
  assert_int_equal (state_task_from_json (cj, &back, &err), 0);
  assert_int_equal (back->opts.n_associations, 3);
  assert_string_equal (back->opts.associations[0].name, "dev1");
  assert_string_equal (back->opts.associations[0].type, "elastic-inference");
  assert_string_equal (back->opts.associations[0].content, "{\"acc\":1}");
  assert_string_equal (back->opts.associations[0].encoding, "identity");
  assert_string_equal (back->opts.associations[0].containers[1], "init");
  assert_null (back->opts.associations[2].content);
  task_free (back);
  json_decref (cj);
}

/* ...WithTags: the task object, then the two tag sets (v4 lists failed
   calls in Errors, v2/v3 just leave the tags out). */
static void
test_with_tags (void **state)
{
  struct fx *f = *state;
  int st;
  struct tmds_answer a;
  json_t *j = get (f, "/v4/eid-a/task", "x", &st, &a);
  assert_false (a.want_tags);
  tmds_answer_clear (&a);
  json_decref (j);
  j = get (f, "/v4/eid-a/taskWithTags", "x", &st, &a);
  json_decref (j);
  assert_true (a.want_tags);
  assert_string_equal (a.tags_task_arn, f->t->arn);
  struct tmds_tags_result r[2] = {
    { .resource_arn = "arn:ci", .body = "{\"tags\":[{\"key\":\"team\",\"value\":\"a\"}]}" },
    { .resource_arn = f->t->arn, .body = "{\"tags\":[{\"key\":\"env\",\"value\":\"prod\"},{\"key\":\"x\"}]}" },
  };
  r[0].len = strlen (r[0].body);
  r[1].len = strlen (r[1].body);
  tmds_tags_answer (&a, r);
  assert_int_equal (a.status, 200);
  j = json_loads (a.body, 0, NULL);
  assert_string_equal (str (json_object_get (j, "ContainerInstanceTags"), "team"), "a");
  assert_string_equal (str (json_object_get (j, "TaskTags"), "env"), "prod");
  assert_string_equal (str (json_object_get (j, "TaskTags"), "x"), "");
  assert_null (json_object_get (j, "Errors"));
  assert_string_equal (str (j, "TaskARN"), f->t->arn); /* the task object itself */
  assert_non_null (json_object_get (j, "Containers"));
  json_decref (j);
  tmds_answer_clear (&a);
  /* failures: v4 Errors with upstream's fields, 200 still; empty tags omitted */
  j = get (f, "/v4/eid-a/taskWithTags", "x", &st, &a);
  json_decref (j);
  struct tmds_tags_result bad[2] = {
    { .resource_arn = "arn:ci",
      .error = "ListTagsForResource: AccessDeniedException: not allowed",
      .status = 400 },
    { .resource_arn = f->t->arn, .body = "{\"tags\":[]}" },
  };
  bad[1].len = strlen (bad[1].body);
  tmds_tags_answer (&a, bad);
  assert_int_equal (a.status, 200);
  j = json_loads (a.body, 0, NULL);
  assert_null (json_object_get (j, "TaskTags"));
  assert_null (json_object_get (j, "ContainerInstanceTags"));
  json_t *e = json_array_get (json_object_get (j, "Errors"), 0);
  assert_int_equal (json_array_size (json_object_get (j, "Errors")), 1);
  assert_string_equal (str (e, "ErrorField"), "ContainerInstanceTags");
  assert_string_equal (str (e, "ErrorCode"), "AccessDeniedException");
  assert_string_equal (str (e, "ErrorMessage"), "not allowed");
  assert_int_equal (json_integer_value (json_object_get (e, "StatusCode")), 400);
  assert_string_equal (str (e, "ResourceARN"), "arn:ci");
  json_decref (j);
  tmds_answer_clear (&a);
  /* v3 and v2: no Errors; a malformed body is a failure */
  j = get (f, "/v3/eid-a/taskWithTags", "x", &st, &a);
  json_decref (j);
  struct tmds_tags_result mal[2] = {
    { .resource_arn = "arn:ci", .body = "{\"tags\":[{\"key\":1}]}" },
    { .resource_arn = f->t->arn, .error = "no ECS client" },
  };
  mal[0].len = strlen (mal[0].body);
  tmds_tags_answer (&a, mal);
  j = json_loads (a.body, 0, NULL);
  assert_null (json_object_get (j, "Errors"));
  assert_null (json_object_get (j, "ContainerInstanceTags"));
  assert_string_equal (str (j, "TaskARN"), f->t->arn);
  json_decref (j);
  tmds_answer_clear (&a);
  j = get (f, "/v2/metadataWithTags", "172.17.0.5", &st, &a);
  json_decref (j);
  assert_true (a.want_tags);
  tmds_answer_clear (&a);
  j = get (f, "/v4/nope/taskWithTags", "x", &st, &a);
  assert_int_equal (st, 404);
  assert_false (a.want_tags);
  json_decref (j);
  tmds_answer_clear (&a);
}

/* The limiter: a bucket per (address, path) starting with burst tokens,
   refilled at rate per second, never above burst; the table bounded. */
static void
test_throttle (void **state)
{
  (void) state;
  struct tmds_throttle *t = tmds_throttle_new (40, 60, 4);
  int64_t now = 5000000000LL;
  for (int i = 0; i < 60; i++)
    assert_true (tmds_throttle_allow (t, "172.17.0.2", "/v4/e/task", now));
  assert_false (tmds_throttle_allow (t, "172.17.0.2", "/v4/e/task", now)); /* burst spent */
  /* another path, another caller: their own buckets */
  assert_true (tmds_throttle_allow (t, "172.17.0.2", "/v4/e", now));
  assert_true (tmds_throttle_allow (t, "172.17.0.3", "/v4/e/task", now));
  /* 25 ms later: one token (40/s) */
  now += 25000000LL;
  assert_true (tmds_throttle_allow (t, "172.17.0.2", "/v4/e/task", now));
  assert_false (tmds_throttle_allow (t, "172.17.0.2", "/v4/e/task", now));
  /* one second: 40 tokens, not more */
  now += 1000000000LL;
  int ok = 0;
  for (int i = 0; i < 100; i++)
    ok += tmds_throttle_allow (t, "172.17.0.2", "/v4/e/task", now);
  assert_int_equal (ok, 40);
  /* an hour idle: back to the burst, not beyond */
  now += 3600LL * 1000000000LL;
  ok = 0;
  for (int i = 0; i < 100; i++)
    ok += tmds_throttle_allow (t, "172.17.0.2", "/v4/e/task", now);
  assert_int_equal (ok, 60);
  /* keys do not run together: "a b" + "c" vs "a" + "b c" */
  assert_true (tmds_throttle_allow (t, "a", "b c", now));
  assert_int_equal (tmds_throttle_buckets (t), 4);
  for (int i = 0; i < 100; i++)
    {
      char ip[32];
      snprintf (ip, sizeof ip, "10.0.0.%d", i);
      assert_true (tmds_throttle_allow (t, ip, "/v2/metadata", now));
    }
  assert_int_equal (tmds_throttle_buckets (t), 4); /* bounded */
  assert_true (tmds_throttle_rate (t) == 40.0);
  tmds_throttle_free (t);
}

/* Audit entries: upstream's fields, "-" for empty ones, never the id. */
static void
test_audit_entry (void **state)
{
  (void) state;
  int64_t ns = 1714557604123456789LL; /* 2024-05-01T10:00:04.123Z */
  char *e = tmds_audit_entry (ns, 200, "172.17.0.2:40000", "/v2/credentials", "aws-sdk-go/1.0",
                              "arn:aws:ecs:us-west-2:1:task/c/t1", "GetCredentials", "default",
                              "arn:aws:ecs:us-west-2:1:container-instance/c/i1");
  assert_string_equal (e, "2024-05-01T10:00:04Z 200 172.17.0.2:40000 \"/v2/credentials\" "
                          "\"aws-sdk-go/1.0\" arn:aws:ecs:us-west-2:1:task/c/t1 GetCredentials 2 "
                          "default arn:aws:ecs:us-west-2:1:container-instance/c/i1");
  free (e);
  e = tmds_audit_entry (ns, 400, "1.2.3.4:5", "/v1/credentials", "", NULL, NULL, "default", NULL);
  assert_string_equal (e, "2024-05-01T10:00:04Z 400 1.2.3.4:5 \"/v1/credentials\" \"-\" - ");
  free (e);
  /* a 429 on a credentials path: the id stays out; a hostile User-Agent is escaped */
  e = tmds_audit_entry (ns, 429, "1.2.3.4:5", "/v2/credentials/secret-id", "x\"\ny", NULL, NULL,
                        "default", NULL);
  assert_null (strstr (e, "secret-id"));
  assert_null (strchr (e, '\n'));
  assert_string_equal (e, "2024-05-01T10:00:04Z 429 1.2.3.4:5 \"/v2/credentials\" \"x\\\"\\ny\" - ");
  free (e);
  e = tmds_audit_entry (ns, 200, "1.2.3.4:5", "/v2/credentials", "ua", "arn:t", "GetCredentialsExecutionRole",
                        NULL, NULL);
  assert_string_equal (e, "2024-05-01T10:00:04Z 200 1.2.3.4:5 \"/v2/credentials\" \"ua\" arn:t "
                          "GetCredentialsExecutionRole 2 - -");
  free (e);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_credentials, setup, teardown),
    cmocka_unit_test_setup_teardown (test_v4, setup, teardown),
    cmocka_unit_test_setup_teardown (test_v3_and_not_inspected, setup, teardown),
    cmocka_unit_test_setup_teardown (test_v2, setup, teardown),
    cmocka_unit_test_setup_teardown (test_stats, setup, teardown),
    cmocka_unit_test_setup_teardown (test_stats_metrics_disabled, setup, teardown),
    cmocka_unit_test_setup_teardown (test_no_availability_zone, setup, teardown),
    cmocka_unit_test_setup_teardown (test_health, setup, teardown),
    cmocka_unit_test_setup_teardown (test_v4_rates_and_task_fields, setup, teardown),
    cmocka_unit_test_setup_teardown (test_fields_checkpointed, setup, teardown),
    cmocka_unit_test_setup_teardown (test_with_tags, setup, teardown),
    cmocka_unit_test_setup_teardown (test_associations, setup, teardown),
    cmocka_unit_test (test_throttle),
    cmocka_unit_test (test_audit_entry),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
