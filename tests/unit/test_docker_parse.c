/* test_docker_parse.c - the pure Docker JSON parsers: inspect, list,
 * events, pull progress stream, version negotiation, error mapping, JSON
 * stream splitting, times, image refs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/time.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "docker/docker.h"
#include "helpers/fixture.h"

#define SAMPLES "protocol/samples/"

static const char INSPECT[] =
    "{\"Id\":\"d6c7eeaf\",\"Created\":\"2026-11-29T07:22:49.721431194Z\","
    "\"State\":{\"Status\":\"exited\",\"Running\":false,\"Paused\":false,\"Restarting\":false,"
    "\"OOMKilled\":true,\"Dead\":false,\"Pid\":0,\"ExitCode\":137,\"Error\":\"\","
    "\"StartedAt\":\"2026-11-29T07:22:50.305084539Z\",\"FinishedAt\":\"2026-11-29T07:22:51.5Z\"},"
    "\"Image\":\"sha256:abc\",\"Name\":\"/ecs-sleep5-2-sleep5-f8d2b3c7f9ad98c5d501\","
    "\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"/tmp\",\"Destination\":\"/h\",\"Mode\":\"ro\",\"RW\":false},"
    "{\"Type\":\"volume\",\"Name\":\"vol1\",\"Source\":\"/var/lib/docker/volumes/vol1/_data\","
    "\"Destination\":\"/data\",\"RW\":true}],"
    "\"Config\":{\"Image\":\"busybox:latest\",\"Labels\":{\"ecs-agent-c-test\":\"1\",\"k\":\"v\"}},"
    "\"NetworkSettings\":{\"Ports\":{\"80/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"32772\"},"
    "{\"HostIp\":\"::\",\"HostPort\":\"32768\"}],\"81/udp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"5000\"}],"
    "\"82/tcp\":null}}}";

static void
test_inspect (void **state)
{
  (void) state;
  struct docker_container_info *i = NULL;
  agent_error_t err = NULL;
  assert_int_equal (docker_parse_container_inspect (INSPECT, strlen (INSPECT), &i, &err), 0);
  assert_string_equal (i->id, "d6c7eeaf");
  assert_string_equal (i->name, "ecs-sleep5-2-sleep5-f8d2b3c7f9ad98c5d501");
  assert_string_equal (i->image, "busybox:latest");
  assert_string_equal (i->image_id, "sha256:abc");
  assert_string_equal (i->status, "exited");
  assert_false (i->running);
  assert_true (i->oom_killed);
  assert_int_equal (i->exit_code, 137);
  assert_null (i->error);
  assert_true (i->started_at_ns == 1795936970305084539LL);
  assert_true (i->finished_at_ns == 1795936971500000000LL);
  assert_int_equal (i->n_ports, 3);
  int seen = 0;
  for (size_t k = 0; k < i->n_ports; k++)
    {
      struct task_port_binding *p = &i->ports[k];
      if (p->container_port == 80 && strcmp (p->bind_ip, "0.0.0.0") == 0)
        {
          assert_int_equal (p->protocol, TASK_PROTO_TCP);
          assert_int_equal (p->host_port, 32772);
          seen |= 1;
        }
      if (p->container_port == 80 && strcmp (p->bind_ip, "::") == 0)
        {
          assert_int_equal (p->host_port, 32768);
          seen |= 2;
        }
      if (p->container_port == 81)
        {
          assert_int_equal (p->protocol, TASK_PROTO_UDP);
          assert_string_equal (p->bind_ip, "127.0.0.1");
          assert_int_equal (p->host_port, 5000);
          seen |= 4;
        }
    }
  assert_int_equal (seen, 7);
  assert_int_equal (i->n_labels, 2);
  assert_int_equal (i->n_mounts, 2);
  assert_string_equal (i->mounts[0].type, "bind");
  assert_null (i->mounts[0].name);
  assert_false (i->mounts[0].rw);
  assert_string_equal (i->mounts[1].name, "vol1");
  assert_string_equal (i->mounts[1].destination, "/data");
  assert_true (i->mounts[1].rw);
  docker_container_info_free (i);
}

static void
test_inspect_edge_cases (void **state)
{
  (void) state;
  struct docker_container_info *i = NULL;
  agent_error_t err = NULL;
  const char *bad[] = {
    "",
    "null",
    "[]",
    "\"str\"",
    "{}",
    "{\"Id\":\"\"}",
    "{\"Id\":5}",
    "{\"Id\":\"x\"",
    "{\"Id\":\"x\",\"NetworkSettings\":{\"Ports\":{\"abc/tcp\":[{\"HostPort\":\"1\"}]}}}",
    "{\"Id\":\"x\",\"NetworkSettings\":{\"Ports\":{\"80/tcp\":[{\"HostPort\":\"99999\"}]}}}",
    "{\"Id\":\"x\",\"NetworkSettings\":{\"Ports\":{\"80/tcp\":[{\"HostPort\":\"12a\"}]}}}",
    "{\"Id\":\"x\",\"NetworkSettings\":{\"Ports\":{\"/tcp\":[{\"HostPort\":\"1\"}]}}}",
  };
  for (size_t k = 0; k < ARRAY_SIZE (bad); k++)
    {
      if (docker_parse_container_inspect (bad[k], strlen (bad[k]), &i, &err) == 0)
        fail_msg ("accepted: %s", bad[k]);
      assert_null (i);
      assert_int_equal (error_kind (&err), ERR_MALFORMED);
      error_free (&err);
    }
  assert_true (docker_parse_container_inspect (NULL, 0, &i, &err) < 0);
  error_free (&err);
  /* minimal, wrong types elsewhere tolerated; zero times; exposed-only ports */
  const char *min = "{\"Id\":\"x\",\"Name\":\"noslash\",\"State\":{\"Running\":true,\"ExitCode\":\"7\","
                    "\"StartedAt\":\"0001-01-01T00:00:00Z\",\"FinishedAt\":\"garbage\",\"Error\":\"boom\"},"
                    "\"Config\":{\"Labels\":null},\"Mounts\":[1,{}],"
                    "\"NetworkSettings\":{\"Ports\":{\"80/tcp\":null,\"81\":[{\"HostPort\":\"\"},5]}}}";
  assert_int_equal (docker_parse_container_inspect (min, strlen (min), &i, &err), 0);
  assert_string_equal (i->name, "noslash");
  assert_true (i->running);
  assert_string_equal (i->status, "running");
  assert_int_equal (i->exit_code, 0);
  assert_string_equal (i->error, "boom");
  assert_true (i->started_at_ns == 0);
  assert_true (i->finished_at_ns == 0);
  assert_int_equal (i->n_labels, 0);
  assert_int_equal (i->n_mounts, 1);
  assert_int_equal (i->n_ports, 1);
  assert_int_equal (i->ports[0].container_port, 81);
  assert_int_equal (i->ports[0].protocol, TASK_PROTO_TCP);
  assert_int_equal (i->ports[0].host_port, 0);
  docker_container_info_free (i);
  docker_container_info_free (NULL);
}

static void
test_inspect_real_sample (void **state)
{
  (void) state;
  size_t len;
  agent_error_t err = NULL;
  char *s = test_fixture_repo ("fuzz/corpus/docker_inspect/running-ports-bind.json", &len);
  struct docker_container_info *i = NULL;
  assert_int_equal (docker_parse_container_inspect (s, len, &i, &err), 0);
  assert_true (i->running);
  assert_string_equal (i->status, "running");
  assert_true (i->n_ports >= 2);
  assert_true (i->started_at_ns > 0);
  assert_true (i->finished_at_ns == 0);
  docker_container_info_free (i);
  free (s);
}

static void
test_list (void **state)
{
  (void) state;
  const char *s = "[{\"Id\":\"a1\",\"Names\":[\"/one\",\"two\"],\"Image\":\"busybox\",\"ImageID\":\"sha256:1\","
                  "\"Created\":1700000000,\"State\":\"running\",\"Status\":\"Up 2 seconds\","
                  "\"Labels\":{\"ecs-agent-c-test\":\"1\"}},"
                  "{\"Names\":[\"/noid\"]},5,{\"Id\":\"b2\"}]";
  struct docker_container_list *l = NULL;
  agent_error_t err = NULL;
  assert_int_equal (docker_parse_container_list (s, strlen (s), &l, &err), 0);
  assert_int_equal (l->n, 2);
  assert_string_equal (l->items[0].id, "a1");
  assert_int_equal (l->items[0].n_names, 2);
  assert_string_equal (l->items[0].names[0], "one");
  assert_string_equal (l->items[0].names[1], "two");
  assert_string_equal (l->items[0].state, "running");
  assert_true (l->items[0].created == 1700000000);
  assert_int_equal (l->items[0].n_labels, 1);
  assert_string_equal (l->items[1].id, "b2");
  assert_int_equal (l->items[1].n_names, 0);
  docker_container_list_free (l);

  assert_int_equal (docker_parse_container_list ("[]", 2, &l, &err), 0);
  assert_int_equal (l->n, 0);
  docker_container_list_free (l);
  assert_true (docker_parse_container_list ("{}", 2, &l, &err) < 0);
  assert_int_equal (error_kind (&err), ERR_MALFORMED);
  error_free (&err);
  assert_true (docker_parse_container_list ("[{", 2, &l, &err) < 0);
  error_free (&err);
}

static void
test_events (void **state)
{
  (void) state;
  const char *s = "{\"status\":\"die\",\"id\":\"abc\",\"from\":\"busybox\",\"Type\":\"container\","
                  "\"Action\":\"die\",\"Actor\":{\"ID\":\"abc\",\"Attributes\":{\"exitCode\":\"137\","
                  "\"name\":\"x\",\"image\":\"busybox\"}},\"scope\":\"local\",\"time\":1795936970,"
                  "\"timeNano\":1795936970320339066}";
  struct docker_event *e = NULL;
  agent_error_t err = NULL;
  assert_int_equal (docker_parse_event (s, strlen (s), &e, &err), 0);
  assert_int_equal (e->kind, DOCKER_EV_DIE);
  assert_string_equal (e->action, "die");
  assert_string_equal (e->type, "container");
  assert_string_equal (e->id, "abc");
  assert_int_equal (e->exit_code, 137);
  assert_true (e->time_ns == 1795936970320339066LL);
  assert_int_equal (e->n_attributes, 3);
  docker_event_free (e);

  /* old format: status/id/time only */
  s = "{\"status\":\"start\",\"id\":\"def\",\"time\":12}";
  assert_int_equal (docker_parse_event (s, strlen (s), &e, &err), 0);
  assert_int_equal (e->kind, DOCKER_EV_START);
  assert_string_equal (e->id, "def");
  assert_int_equal (e->exit_code, -1);
  assert_true (e->time_ns == 12000000000LL);
  docker_event_free (e);

  /* exec and health events are "other"; bad exitCode ignored */
  s = "{\"Type\":\"container\",\"Action\":\"exec_start: sh -c ls\",\"Actor\":{\"ID\":\"x\","
      "\"Attributes\":{\"exitCode\":\"12x\"}}}";
  assert_int_equal (docker_parse_event (s, strlen (s), &e, &err), 0);
  assert_int_equal (e->kind, DOCKER_EV_OTHER);
  assert_int_equal (e->exit_code, -1);
  docker_event_free (e);

  const char *names[] = { "create", "start", "die", "stop", "kill", "destroy", "oom", "pause",
                          "unpause", "restart" };
  enum docker_event_action kinds[] = { DOCKER_EV_CREATE, DOCKER_EV_START,   DOCKER_EV_DIE,
                                       DOCKER_EV_STOP,   DOCKER_EV_KILL,    DOCKER_EV_DESTROY,
                                       DOCKER_EV_OOM,    DOCKER_EV_PAUSE,   DOCKER_EV_UNPAUSE,
                                       DOCKER_EV_RESTART };
  for (size_t k = 0; k < ARRAY_SIZE (names); k++)
    assert_int_equal (docker_event_action_parse (names[k]), kinds[k]);
  assert_int_equal (docker_event_action_parse ("Die"), DOCKER_EV_OTHER);
  assert_int_equal (docker_event_action_parse (NULL), DOCKER_EV_OTHER);

  const char *bad[] = { "{}", "[]", "{\"Action\":5}", "nope" };
  for (size_t k = 0; k < ARRAY_SIZE (bad); k++)
    {
      assert_true (docker_parse_event (bad[k], strlen (bad[k]), &e, &err) < 0);
      assert_null (e);
      error_free (&err);
    }
}

struct collect
{
  int n;
  char *v[16];
  int stop_at;
};

static int
collect_cb (const char *json, size_t len, void *data)
{
  struct collect *c = data;
  assert_int_equal (strlen (json), len);
  if (c->n < 16)
    c->v[c->n] = xstrdup (json);
  c->n++;
  if (c->stop_at && c->n == c->stop_at)
    return -42;
  return 0;
}

static void
collect_free (struct collect *c)
{
  for (int i = 0; i < c->n && i < 16; i++)
    free (c->v[i]);
  memset (c, 0, sizeof *c);
}

static void
test_json_stream (void **state)
{
  (void) state;
  struct docker_json_stream s = { 0 };
  struct collect c = { 0 };
  agent_error_t err = NULL;
  /* split at every byte boundary: same values */
  const char *text = "{\"a\":1}\r\n{\"b\":\"x}\\\"{\"}{\"c\":{\"d\":[1,2]}}\n  {\"e\":\"\xc3\xa9\"}\n";
  size_t n = strlen (text);
  for (size_t cut = 0; cut <= n; cut++)
    {
      assert_int_equal (docker_json_stream_feed (&s, text, cut, collect_cb, &c, &err), 0);
      assert_int_equal (docker_json_stream_feed (&s, text + cut, n - cut, collect_cb, &c, &err), 0);
      assert_int_equal (c.n, 4);
      assert_string_equal (c.v[0], "{\"a\":1}");
      assert_string_equal (c.v[1], "{\"b\":\"x}\\\"{\"}");
      assert_string_equal (c.v[3], "{\"e\":\"\xc3\xa9\"}");
      assert_true (docker_json_stream_empty (&s));
      collect_free (&c);
    }
  /* byte by byte */
  for (size_t k = 0; k < n; k++)
    assert_int_equal (docker_json_stream_feed (&s, text + k, 1, collect_cb, &c, &err), 0);
  assert_int_equal (c.n, 4);
  collect_free (&c);

  /* truncated tail stays buffered */
  assert_int_equal (docker_json_stream_feed (&s, "{\"a\":", 5, collect_cb, &c, &err), 0);
  assert_false (docker_json_stream_empty (&s));
  docker_json_stream_free (&s);

  /* garbage */
  assert_true (docker_json_stream_feed (&s, "hello", 5, collect_cb, &c, &err) < 0);
  assert_int_equal (error_kind (&err), ERR_MALFORMED);
  error_free (&err);
  docker_json_stream_free (&s);
  assert_true (docker_json_stream_feed (&s, "{\"a\":1}[1]", 10, collect_cb, &c, &err) < 0);
  assert_int_equal (c.n, 1);
  error_free (&err);
  collect_free (&c);
  docker_json_stream_free (&s);
  assert_true (docker_json_stream_feed (&s, "{\"a\" 1}", 7, collect_cb, &c, &err) < 0);
  error_free (&err);
  docker_json_stream_free (&s);

  /* callback stop is passed up */
  c.stop_at = 2;
  assert_int_equal (docker_json_stream_feed (&s, "{}{}{}", 6, collect_cb, &c, &err), -42);
  assert_int_equal (c.n, 2);
  collect_free (&c);
  docker_json_stream_free (&s);

  /* an endless value is refused */
  char *big = xmalloc (1100 * 1024);
  memset (big, ' ', 1100 * 1024);
  big[0] = '{';
  big[1] = '"';
  memset (big + 2, 'a', 1100 * 1024 - 2);
  assert_true (docker_json_stream_feed (&s, big, 1100 * 1024, collect_cb, &c, &err) < 0);
  error_free (&err);
  docker_json_stream_free (&s);
  free (big);
}

/* A stream with its own bound (stats streams): a value up to max_value
   passes, one byte more ends the stream, the buffer never holds more than
   max_value + one chunk; the settings survive docker_json_stream_free;
   unchecked streams hand on the framed text without a jansson parse. */
static void
test_json_stream_bound (void **state)
{
  (void) state;
  struct
  {
    size_t max, value_len, chunk;
    bool ok;
  } t[] = {
    { 64, 64, 7, true },   { 64, 65, 7, false }, { 64, 65, 1, false },
    { 64, 10, 64, true },  { 4096, 4096, 1000, true }, { 4096, 5000, 1000, false },
  };
  for (size_t i = 0; i < ARRAY_SIZE (t); i++)
    {
      struct docker_json_stream s = { .max_value = t[i].max };
      struct collect c = { 0 };
      agent_error_t err = NULL;
      /* {"a":"xxx..."} of value_len bytes */
      char *v = xmalloc (t[i].value_len + 1);
      memset (v, 'x', t[i].value_len);
      memcpy (v, "{\"a\":\"", 6);
      v[t[i].value_len - 2] = '"';
      v[t[i].value_len - 1] = '}';
      v[t[i].value_len] = '\0';
      int rc = 0;
      for (size_t off = 0; off < t[i].value_len && rc == 0; off += t[i].chunk)
        {
          size_t n = t[i].value_len - off < t[i].chunk ? t[i].value_len - off : t[i].chunk;
          rc = docker_json_stream_feed (&s, v + off, n, collect_cb, &c, &err);
          if (s.len > t[i].max + t[i].chunk)
            fail_msg ("row %zu: %zu bytes buffered", i, s.len);
        }
      if ((rc == 0) != t[i].ok || (t[i].ok && c.n != 1))
        fail_msg ("row %zu: rc %d, %d values", i, rc, c.n);
      if (!t[i].ok)
        assert_int_equal (error_kind (&err), ERR_MALFORMED);
      error_free (&err);
      docker_json_stream_free (&s);
      assert_int_equal (s.max_value, t[i].max);
      collect_free (&c);
      free (v);
    }
  /* unchecked: framed but not validated (the consumer parses) */
  struct docker_json_stream s = { .unchecked = true };
  struct collect c = { 0 };
  agent_error_t err = NULL;
  assert_int_equal (docker_json_stream_feed (&s, "{\"a\" 1}{\"b\":2}", 14, collect_cb, &c, &err), 0);
  assert_int_equal (c.n, 2);
  assert_string_equal (c.v[0], "{\"a\" 1}");
  assert_string_equal (c.v[1], "{\"b\":2}");
  collect_free (&c);
  docker_json_stream_free (&s);
  assert_true (s.unchecked);
}

static void
test_pull_lines (void **state)
{
  (void) state;
  struct docker_pull_progress p;
  agent_error_t err = NULL;
  const char *ok = "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":1},\"id\":\"a1\"}";
  assert_int_equal (docker_parse_pull_line (ok, strlen (ok), &p, &err), 0);
  assert_string_equal (p.status, "Downloading");
  assert_string_equal (p.id, "a1");
  assert_int_equal (p.current, 1);
  assert_int_equal (p.total, -1);
  docker_pull_progress_clear (&p);
  const char *both = "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":512,\"total\":2048},\"id\":\"b2\"}";
  assert_int_equal (docker_parse_pull_line (both, strlen (both), &p, &err), 0);
  assert_int_equal (p.current, 512);
  assert_int_equal (p.total, 2048);
  docker_pull_progress_clear (&p);
  const char *bad = "{\"status\":\"Extracting\",\"progressDetail\":{\"current\":-5,\"total\":\"x\"}}";
  assert_int_equal (docker_parse_pull_line (bad, strlen (bad), &p, &err), 0);
  assert_int_equal (p.current, -1);
  assert_int_equal (p.total, -1);
  assert_null (p.id);
  docker_pull_progress_clear (&p);

  struct
  {
    const char *line;
    int kind;
    const char *msg;
  } errs[] = {
    { "{\"error\":\"toomanyrequests: Rate exceeded\"}", ERR_SERVER, "toomanyrequests: Rate exceeded" },
    { "{\"errorDetail\":{\"message\":\"unauthorized: authentication required\"},\"error\":\"x\"}",
      ERR_AUTH, "unauthorized: authentication required" },
    { "{\"errorDetail\":{\"code\":404,\"message\":\"boom\"}}", ERR_NOT_FOUND, "boom" },
    { "{\"error\":\"manifest for x not found: manifest unknown\"}", ERR_NOT_FOUND,
      "manifest for x not found: manifest unknown" },
    { "{\"error\":null,\"errorDetail\":{}}", ERR_SERVER, "image pull failed" },
  };
  for (size_t k = 0; k < ARRAY_SIZE (errs); k++)
    {
      assert_true (docker_parse_pull_line (errs[k].line, strlen (errs[k].line), &p, &err) < 0);
      assert_int_equal (error_kind (&err), errs[k].kind);
      assert_string_equal (error_msg (&err), errs[k].msg);
      assert_null (p.status);
      error_free (&err);
    }
  assert_true (docker_parse_pull_line ("[]", 2, &p, &err) < 0);
  assert_int_equal (error_kind (&err), ERR_MALFORMED);
  error_free (&err);
}

static int
pull_sample_cb (const char *json, size_t len, void *data)
{
  agent_error_t *e = data;
  struct docker_pull_progress p;
  int r = docker_parse_pull_line (json, len, &p, e);
  docker_pull_progress_clear (&p);
  return r;
}

static void
test_pull_samples (void **state)
{
  (void) state;
  struct
  {
    const char *file;
    int kind;
  } cases[] = {
    { SAMPLES "docker_client_test.go__image-pull-stream-complete.json", 0 },
    { SAMPLES "docker_client_test.go__image-pull-stream-in-progress.json", 0 },
    { SAMPLES "docker_client_test.go__image-pull-stream-error-rate-exceeded.json", ERR_SERVER },
  };
  for (size_t k = 0; k < ARRAY_SIZE (cases); k++)
    {
      size_t len;
      agent_error_t err = NULL;
      char *s = test_fixture_shared (cases[k].file, &len);
      struct docker_json_stream js = { 0 };
      agent_error_t lerr = NULL;
      int r = docker_json_stream_feed (&js, s, len, pull_sample_cb, &lerr, &err);
      if (cases[k].kind == 0)
        assert_int_equal (r, 0);
      else
        {
          assert_true (r < 0);
          assert_int_equal (error_kind (&lerr), cases[k].kind);
          assert_string_equal (error_msg (&lerr), "toomanyrequests: Rate exceeded");
        }
      error_free (&lerr);
      error_free (&err);
      docker_json_stream_free (&js);
      free (s);
    }
}

static void
test_version_negotiation (void **state)
{
  (void) state;
  assert_true (docker_api_version_cmp ("1.41", "1.9") > 0);
  assert_true (docker_api_version_cmp ("1.9", "1.41") < 0);
  assert_int_equal (docker_api_version_cmp ("1.41", "1.41"), 0);
  assert_true (docker_api_version_cmp ("2.0", "1.99") > 0);
  assert_true (docker_api_version_cmp ("1.41.1", "1.41") > 0);

  char *v = NULL;
  agent_error_t err = NULL;
  assert_int_equal (docker_api_version_negotiate ("1.41", "1.12", &v, &err), 0);
  assert_string_equal (v, "1.41"); /* Docker 20.10 */
  free (v);
  assert_int_equal (docker_api_version_negotiate ("1.50", "1.24", &v, &err), 0);
  assert_string_equal (v, "1.50"); /* Docker 28.x */
  free (v);
  assert_int_equal (docker_api_version_negotiate ("1.52", "1.44", &v, &err), 0);
  assert_string_equal (v, DOCKER_API_MAX); /* newer daemon: our max */
  free (v);
  assert_true (docker_api_version_negotiate ("1.60", "1.55", &v, &err) < 0); /* min above ours */
  assert_null (v);
  error_free (&err);
  assert_true (docker_api_version_negotiate ("1.18", "1.12", &v, &err) < 0); /* too old */
  error_free (&err);
  assert_true (docker_api_version_negotiate ("abc", NULL, &v, &err) < 0);
  assert_int_equal (error_kind (&err), ERR_MALFORMED);
  error_free (&err);
  assert_int_equal (docker_api_version_negotiate ("1.41", NULL, &v, &err), 0);
  free (v);

  /* a create with dockerConfig.version: max(version, daemon minimum, ours) */
  struct
  {
    const char *want, *daemon_min, *negotiated, *got; /* got NULL: refused */
  } vc[] = {
    { "1.17", "1.12", "1.41", "1.24" }, /* below the agent's own minimum */
    { "1.25", "1.12", "1.41", "1.25" },
    { "1.19", "1.24", "1.50", "1.24" }, /* Docker >= 25: no difference */
    { "1.30", "1.40", "1.50", "1.40" }, /* daemon minimum above */
    { "1.41", "1.12", "1.41", "1.41" },
    { "1.25", NULL, "1.41", "1.25" },   /* no minimum given */
    { "1.44", "1.12", "1.41", NULL },   /* the daemon does not serve it */
    { "latest", "1.12", "1.41", NULL },
    { "", "1.12", "1.41", NULL },
  };
  for (size_t i = 0; i < sizeof vc / sizeof *vc; i++)
    {
      int rc = docker_api_version_for (vc[i].want, vc[i].daemon_min, vc[i].negotiated, &v, &err);
      if (vc[i].got)
        {
          assert_int_equal (rc, 0);
          assert_string_equal (v, vc[i].got);
          free (v);
          continue;
        }
      assert_true (rc < 0);
      assert_null (v);
      assert_int_equal (strncmp (error_msg (&err), DOCKER_API_VERSION_MSG_PREFIX,
                                 strlen (DOCKER_API_VERSION_MSG_PREFIX)),
                        0);
      error_free (&err);
    }

  const char *ver = "{\"Version\":\"28.0.1\",\"ApiVersion\":\"1.48\",\"MinAPIVersion\":\"1.24\","
                    "\"Os\":\"linux\",\"Arch\":\"amd64\",\"KernelVersion\":\"6.1\"}";
  struct docker_version_info *vi = NULL;
  assert_int_equal (docker_parse_version (ver, strlen (ver), &vi, &err), 0);
  assert_string_equal (vi->version, "28.0.1");
  assert_string_equal (vi->api_version, "1.48");
  assert_string_equal (vi->min_api_version, "1.24");
  assert_false (vi->podman);
  docker_version_info_free (vi);
  /* Podman 4.3's compatible /version (abridged): detected by its component */
  const char *pod = "{\"Components\":[{\"Name\":\"Podman Engine\",\"Version\":\"4.3.1\"},"
                    "{\"Name\":\"Conmon\"},{\"Name\":7}],\"Version\":\"4.3.1\","
                    "\"ApiVersion\":\"1.41\",\"MinAPIVersion\":\"1.24\"}";
  assert_int_equal (docker_parse_version (pod, strlen (pod), &vi, &err), 0);
  assert_true (vi->podman);
  assert_string_equal (vi->api_version, "1.41");
  docker_version_info_free (vi);
  const char *dock = "{\"Components\":[{\"Name\":\"Engine\"},{\"Name\":\"containerd\"}],"
                     "\"Components2\":1,\"ApiVersion\":\"1.41\"}";
  assert_int_equal (docker_parse_version (dock, strlen (dock), &vi, &err), 0);
  assert_false (vi->podman);
  docker_version_info_free (vi);
  assert_true (docker_parse_version ("{\"Version\":\"x\"}", 15, &vi, &err) < 0);
  error_free (&err);
  assert_true (docker_parse_version ("{\"ApiVersion\":\"1.4x\"}", 21, &vi, &err) < 0);
  error_free (&err);
}

static void
test_error_mapping (void **state)
{
  (void) state;
  agent_error_t err = NULL;
  struct
  {
    long status;
    const char *body;
    bool pull;
    int kind;
    const char *msg;
  } cases[] = {
    { 404, "{\"message\":\"No such container: abc\"}", false, ERR_NOT_FOUND, "No such container: abc" },
    { 409, "{\"message\":\"Conflict. The container name \\\"/x\\\" is already in use\"}", false,
      ERR_CONFLICT, "Conflict. The container name \"/x\" is already in use" },
    { 500, "{\"message\":\"Head \\\"http://127.0.0.1:5000/v2/a/manifests/latest\\\": no basic auth "
           "credentials\"}",
      true, ERR_AUTH, NULL },
    { 500, "{\"message\":\"unauthorized: authentication required\"}", true, ERR_AUTH,
      "unauthorized: authentication required" },
    { 500, "{\"message\":\"unauthorized: authentication required\"}", false, ERR_SERVER, NULL },
    { 404, "{\"message\":\"manifest for x not found: manifest unknown\"}", true, ERR_NOT_FOUND, NULL },
    { 500, "{\"message\":\"driver failed\"}", false, ERR_SERVER, "driver failed" },
    { 400, "{\"message\":\"bad parameter\"}", false, ERR_CLIENT, "bad parameter" },
    { 502, "<html>Bad gateway</html>\n", false, ERR_SERVER, "<html>Bad gateway</html>" },
    { 500, "", false, ERR_SERVER, "docker: HTTP status 500" },
    { 401, "{}", true, ERR_AUTH, "docker: HTTP status 401" },
  };
  for (size_t k = 0; k < ARRAY_SIZE (cases); k++)
    {
      int r = docker_error_from_response (&err, cases[k].status, cases[k].body,
                                          strlen (cases[k].body), cases[k].pull);
      assert_int_equal (r, -cases[k].kind);
      assert_int_equal (error_kind (&err), cases[k].kind);
      assert_int_equal (err->status, cases[k].status);
      if (cases[k].msg)
        assert_string_equal (error_msg (&err), cases[k].msg);
      error_free (&err);
    }
}

static void
test_time_and_refs (void **state)
{
  (void) state;
  int64_t ns;
  assert_int_equal (time_rfc3339_parse ("1970-01-01T00:00:01Z", &ns), 0);
  assert_true (ns == 1000000000LL);
  assert_int_equal (time_rfc3339_parse ("1970-01-01T01:00:01.5+01:00", &ns), 0);
  assert_true (ns == 1500000000LL);
  assert_int_equal (time_rfc3339_parse ("2026-11-29T07:22:50.3050845391234Z", &ns), 0);
  assert_true (ns == 1795936970305084539LL);
  assert_int_equal (time_rfc3339_parse ("0001-01-01T00:00:00Z", &ns), 0);
  assert_true (ns == 0);
  const char *bad[] = { "", "2026", "2026-13-01T00:00:00Z", "2026-01-01T00:00:00", "2026-01-01T00:00:00.Z",
                        "9999-01-01T00:00:00Z", "2026-01-01T00:00:00Zjunk" };
  for (size_t k = 0; k < ARRAY_SIZE (bad); k++)
    assert_true (time_rfc3339_parse (bad[k], &ns) < 0);
  assert_true (time_rfc3339_parse (NULL, &ns) < 0);

  struct
  {
    const char *in, *out;
  } refs[] = {
    { "busybox", "busybox:latest" },
    { "busybox:1.36", "busybox:1.36" },
    { "localhost:5000/a/b", "localhost:5000/a/b:latest" },
    { "localhost:5000/a/b:t", "localhost:5000/a/b:t" },
    { "a/b@sha256:0123", "a/b@sha256:0123" },
  };
  for (size_t k = 0; k < ARRAY_SIZE (refs); k++)
    {
      char *r = docker_image_ref_normalize (refs[k].in);
      assert_string_equal (r, refs[k].out);
      free (r);
    }
  assert_null (docker_image_ref_normalize (NULL));
}

static void
test_misc_parsers (void **state)
{
  (void) state;
  agent_error_t err = NULL;
  char *id = NULL;
  assert_int_equal (docker_parse_create_response ("{\"Id\":\"abc\",\"Warnings\":[]}", 26, &id, &err), 0);
  assert_string_equal (id, "abc");
  free (id);
  assert_true (docker_parse_create_response ("{\"Warnings\":[]}", 15, &id, &err) < 0);
  error_free (&err);

  const char *vol = "{\"Name\":\"v1\",\"Driver\":\"local\",\"Mountpoint\":\"/var/lib/docker/volumes/v1/_data\","
                    "\"Labels\":{\"a\":\"b\"},\"Scope\":\"local\"}";
  struct docker_volume_info *v = NULL;
  assert_int_equal (docker_parse_volume (vol, strlen (vol), &v, &err), 0);
  assert_string_equal (v->name, "v1");
  assert_string_equal (v->mountpoint, "/var/lib/docker/volumes/v1/_data");
  assert_int_equal (v->n_labels, 1);
  docker_volume_info_free (v);
  assert_true (docker_parse_volume ("{}", 2, &v, &err) < 0);
  error_free (&err);

  const char *img = "{\"Id\":\"sha256:1\",\"RepoTags\":[\"a:b\",7],\"RepoDigests\":[],\"Size\":42,"
                    "\"Config\":{\"Labels\":{\"ecs-agent-c-test\":\"1\"},"
                    "\"Env\":[\"PATH=/bin\",3,\"AWS_REGION=xx-image-1\"]}}";
  struct docker_image_info *ii = NULL;
  assert_int_equal (docker_parse_image_inspect (img, strlen (img), &ii, &err), 0);
  assert_string_equal (ii->id, "sha256:1");
  assert_int_equal (ii->n_repo_tags, 1);
  assert_true (ii->size == 42);
  assert_int_equal (ii->n_labels, 1);
  assert_int_equal (ii->n_env, 2); /* Config.Env, non-strings skipped */
  assert_string_equal (ii->env[1], "AWS_REGION=xx-image-1");
  docker_image_info_free (ii);
  assert_true (docker_parse_image_inspect ("{}", 2, &ii, &err) < 0);
  error_free (&err);

  const char *info = "{\"ID\":\"X\",\"Containers\":3,\"ContainersRunning\":1,\"NCPU\":2,"
                     "\"ServerVersion\":\"20.10.24\",\"CgroupVersion\":\"2\",\"MemTotal\":1e3}";
  struct docker_info *di = NULL;
  assert_int_equal (docker_parse_info (info, strlen (info), &di, &err), 0);
  assert_true (di->containers == 3);
  assert_true (di->ncpu == 2);
  assert_true (di->mem_total == 1000);
  assert_string_equal (di->server_version, "20.10.24");
  docker_info_free (di);
  assert_true (docker_parse_info ("x", 1, &di, &err) < 0);
  error_free (&err);
}

/* GET /images/json: ids, tags (the "<none>:<none>" placeholder dropped),
   sizes, creation times; entries without an Id skipped; errors. */
static void
test_image_list (void **st)
{
  (void) st;
  const char *s = "[{\"Created\":1700000000,\"Id\":\"sha256:aaaa\",\"RepoTags\":[\"busybox:latest\",\"busybox:1\"],"
                  "\"Size\":4261550},{\"Created\":5,\"Id\":\"sha256:cccc\",\"RepoTags\":[\"<none>:<none>\"],\"Size\":10},"
                  "{\"Id\":\"\"},{\"RepoTags\":[\"x:1\"]},7,"
                  "{\"Id\":\"sha256:dddd\",\"RepoTags\":[1,\"x:1\"],\"Size\":\"big\",\"Created\":null}]";
  struct docker_image_list *l = NULL;
  agent_error_t err = NULL;
  assert_int_equal (docker_parse_image_list (s, strlen (s), &l, &err), 0);
  assert_int_equal (l->n, 3);
  assert_string_equal (l->items[0].id, "sha256:aaaa");
  assert_int_equal (l->items[0].n_repo_tags, 2);
  assert_string_equal (l->items[0].repo_tags[1], "busybox:1");
  assert_int_equal (l->items[0].size, 4261550);
  assert_int_equal (l->items[0].created, 1700000000);
  assert_int_equal (l->items[1].n_repo_tags, 0);
  assert_null (l->items[1].repo_tags);
  assert_int_equal (l->items[2].n_repo_tags, 1);
  assert_string_equal (l->items[2].repo_tags[0], "x:1");
  assert_int_equal (l->items[2].size, 0);
  assert_int_equal (l->items[2].created, 0);
  docker_image_list_free (l);
  assert_int_equal (docker_parse_image_list ("[]", 2, &l, &err), 0);
  assert_int_equal (l->n, 0);
  docker_image_list_free (l);
  assert_true (docker_parse_image_list ("{}", 2, &l, &err) < 0);
  assert_int_equal (error_kind (&err), ERR_MALFORMED);
  error_free (&err);
  assert_true (docker_parse_image_list ("[", 1, &l, &err) < 0);
  assert_null (l);
  error_free (&err);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_inspect),
    cmocka_unit_test (test_inspect_edge_cases),
    cmocka_unit_test (test_inspect_real_sample),
    cmocka_unit_test (test_list),
    cmocka_unit_test (test_events),
    cmocka_unit_test (test_json_stream),
    cmocka_unit_test (test_json_stream_bound),
    cmocka_unit_test (test_pull_lines),
    cmocka_unit_test (test_pull_samples),
    cmocka_unit_test (test_version_negotiation),
    cmocka_unit_test (test_error_mapping),
    cmocka_unit_test (test_time_and_refs),
    cmocka_unit_test (test_misc_parsers),
    cmocka_unit_test (test_image_list),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
