/* test_tmds_fixture.h - the fixture of the task metadata and credentials
 * router unit tests (test_tmds*.c, tmds/tmds.h, no socket): tasks and
 * containers with Docker details from a real inspect body through the Docker
 * parser, fake stats, a request helper and answer checks (errors, raw and
 * compact bodies). Header only. */
#ifndef TEST_TMDS_FIXTURE_H
#define TEST_TMDS_FIXTURE_H

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

static inline size_t
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

static inline struct docker_container_info *
parse_inspect (const char *s)
{
  struct docker_container_info *i = NULL;
  agent_error_t err = NULL;
  if (docker_parse_container_inspect (s, strlen (s), &i, &err) < 0)
    fail_msg ("%s", error_msg (&err));
  return i;
}

static inline int
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

static inline int
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
static inline json_t *
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

static inline void
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
static inline void
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
static inline void
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

#endif /* TEST_TMDS_FIXTURE_H */
