/* test_introspection_fixture.h - what the introspection unit tests
 * (test_introspection*.c) share: fake engine state behind the provider
 * callbacks, and a harness running the real server on 127.0.0.1 (own uv
 * loop, libcurl through core/http.h on the same loop). Header only. */
#ifndef TEST_INTROSPECTION_FIXTURE_H
#define TEST_INTROSPECTION_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include "core/http.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "introspection/introspection.h"
#include "log/log.h"

/* ------------------------------------------------------------------ */
/* Fake engine state                                                   */
/* ------------------------------------------------------------------ */

#define ID1 "1111111111111111111111111111111111111111111111111111111111111111"
#define ID2 "abcdef1234560000000000000000000000000000000000000000000000000002"
#define ID3 "abcdef1234569999999999999999999999999999999999999999999999999993"
#define ID_INTERNAL "eeee111111111111111111111111111111111111111111111111111111111111"
#define ARN1 "arn:aws:ecs:us-west-2:123456789012:task/11111111-2222-3333-4444-555555555555"
#define ARN2 "arn:aws:ecs:us-west-2:123456789012:task/t2"
#define ARN3 "arn:aws:ecs:us-west-2:123456789012:task/t3"
#define ARN4 "arn:aws:ecs:us-west-2:123456789012:task/t4"
#define CI_ARN "arn:aws:ecs:us-west-2:123456789012:container-instance/ci-1"

static const struct task_port_binding ports1[] = {
  { .container_port = 80, .host_port = 32768, .bind_ip = "0.0.0.0", .protocol = TASK_PROTO_TCP },
  { .container_port = 53, .host_port = 5353, .bind_ip = NULL, .protocol = TASK_PROTO_UDP },
};
static const struct introspection_volume vols1[] = {
  { .docker_name = NULL, .source = "/var/data", .destination = "/data" },
};

static const struct introspection_container cont1[] = {
  { .name = "web", .has_docker_record = true, .docker_id = ID1,
    .docker_name = "ecs-sleep-3-web-e4b1c2", .image = "busybox:latest", .image_id = "sha256:abc",
    .created_at = "2026-11-29T07:00:00Z", .started_at = "2026-11-29T07:00:01Z", .ports = ports1,
    .n_ports = 2, .volumes = vols1, .n_volumes = 1 },
  { .name = "~internal~ecs-emptyvolume-source", .has_docker_record = true, .internal = true,
    .docker_id = ID_INTERNAL, .docker_name = "internal" },
  { .name = "not-created-yet", .has_docker_record = false },
};
static const struct introspection_container cont2[] = {
  { .name = "a", .has_docker_record = true, .docker_id = ID2, .docker_name = "ecs-t2-a" },
  { .name = "creating", .has_docker_record = true, .docker_id = "", .docker_name = "ecs-t2-c" },
};
static const struct introspection_container cont3[] = {
  { .name = "b", .has_docker_record = true, .docker_id = ID3, .docker_name = "ecs-t3-b" },
};

static struct introspection_task fake_tasks[] = {
  { .arn = ARN1, .family = "sleep", .version = "3", .desired_status = TASK_STATUS_RUNNING,
    .known_status = TASK_STATUS_RUNNING, .containers = cont1, .n_containers = 3 },
  /* desired STOPPED while running: shown */
  { .arn = ARN2, .family = "f2", .version = "1", .desired_status = TASK_STATUS_STOPPED,
    .known_status = TASK_STATUS_RUNNING, .containers = cont2, .n_containers = 2 },
  /* known STOPPED, desired RUNNING: DesiredStatus omitted */
  { .arn = ARN3, .family = "f3", .version = "7", .desired_status = TASK_STATUS_RUNNING,
    .known_status = TASK_STATUS_STOPPED, .containers = cont3, .n_containers = 1 },
  /* known CREATED (PENDING), desired RUNNING; no containers */
  { .arn = ARN4, .family = "f4", .version = "2", .desired_status = TASK_STATUS_RUNNING,
    .known_status = TASK_STATUS_CREATED, .containers = NULL, .n_containers = 0 },
};

struct fake
{
  struct introspection_task *tasks;
  size_t n;
  const char *arn;
  unsigned calls;
};

static inline void
fake_foreach (void *data, introspection_task_cb cb, void *arg)
{
  struct fake *f = data;
  f->calls++;
  for (size_t i = 0; i < f->n; i++)
    cb (&f->tasks[i], arg);
}

static const char *
fake_arn (void *data)
{
  struct fake *f = data;
  return f->arn;
}

static struct fake the_fake = { fake_tasks, ARRAY_SIZE (fake_tasks), CI_ARN, 0 };

static inline struct introspection_provider
fake_provider (struct fake *f)
{
  struct introspection_provider p = { .foreach_task = fake_foreach,
                                      .container_instance_arn = fake_arn, .data = f };
  return p;
}

static const struct introspection_config base_cfg = {
  .cluster = "prod",
  .version = "Amazon ECS Agent - v1.2.3 (*abc1234)",
  .license_text = "LICENSE TEXT\n",
};

/* ------------------------------------------------------------------ */
/* Router                                                              */
/* ------------------------------------------------------------------ */

/* /v1/health: the provider's verdict as 200/503 and a JSON body naming
   every failing part; no provider -> 503. */
static bool fake_health_docker_failing;

static inline void
fake_health (void *data, struct health_verdict *out)
{
  (void) data;
  struct health_facts f = { .started_ms = 1, .acs_connected = true, .acs_changed_ms = 1,
                            .docker_ok_ms = 1000, .checkpoint_enabled = true };
  if (fake_health_docker_failing)
    {
      f.docker_fail_ms = 1500;
      f.docker_error = "connection refused";
    }
  health_decide (&f, NULL, 2000, out);
}

/* ------------------------------------------------------------------ */
/* Server harness                                                      */
/* ------------------------------------------------------------------ */

struct harness
{
  uv_loop_t loop;
  uv_timer_t tick;
  http_client_t *http;
  introspection_server_t *srv;
  struct fake fake;
  bool stopped;
};

static inline void
tick_cb (uv_timer_t *t)
{
  (void) t;
}

static inline void
harness_init (struct harness *h)
{
  memset (h, 0, sizeof *h);
  assert_int_equal (uv_loop_init (&h->loop), 0);
  /* Keeps UV_RUN_ONCE from blocking forever while we poll conditions. */
  uv_timer_init (&h->loop, &h->tick);
  uv_timer_start (&h->tick, tick_cb, 20, 20);
  h->http = http_client_new (&h->loop);
  h->fake = the_fake;
}

static inline introspection_server_t *
harness_start (struct harness *h, const struct introspection_config *cfg)
{
  struct introspection_provider p = fake_provider (&h->fake);
  agent_error_t err = NULL;
  introspection_server_t *s = NULL;
  if (introspection_start (&h->loop, cfg, &p, &s, &err) < 0)
    fail_msg ("introspection_start: %s", error_msg (&err));
  return s;
}

static inline void
stopped_cb (void *arg)
{
  *(bool *) arg = true;
}

typedef bool (*pred_fn) (void *arg);

static inline bool
run_until (struct harness *h, pred_fn pred, void *arg, uint64_t timeout_ms)
{
  uint64_t t0 = util_now_ms ();
  while (!pred (arg))
    {
      if (util_now_ms () - t0 > timeout_ms)
        return false;
      uv_run (&h->loop, UV_RUN_ONCE);
    }
  return true;
}

static inline bool
flag_set (void *arg)
{
  return *(bool *) arg;
}

static inline void
close_walk_cb (uv_handle_t *hd, void *arg)
{
  (void) arg;
  if (!uv_is_closing (hd))
    fail_msg ("handle type %d left open on the loop", (int) hd->type);
}

static inline void
harness_finish (struct harness *h)
{
  if (h->srv)
    introspection_stop (h->srv, stopped_cb, &h->stopped);
  else
    h->stopped = true;
  h->srv = NULL;
  http_client_free (h->http);
  uv_timer_stop (&h->tick);
  uv_close ((uv_handle_t *) &h->tick, NULL);
  uv_run (&h->loop, UV_RUN_DEFAULT);
  assert_true (h->stopped);
  uv_walk (&h->loop, close_walk_cb, NULL);
  assert_int_equal (uv_loop_close (&h->loop), 0);
}

struct fetch
{
  bool done;
  long status;
  char *body;
  int err_kind;
  char *ctype;
};

static inline void
fetch_done (const struct http_response *resp, agent_error_t err, void *data)
{
  struct fetch *f = data;
  f->done = true;
  if (err)
    f->err_kind = err->kind;
  if (resp)
    {
      f->status = resp->status;
      f->body = xstrdup (resp->body);
      f->ctype = xstrdup (resp->content_type);
    }
}

static inline void
fetch_free (struct fetch *f)
{
  free (f->body);
  free (f->ctype);
  memset (f, 0, sizeof *f);
}

static inline void
fetch_ex (struct harness *h, int port, const char *method, const char *pathq,
          const struct http_header *hdrs, size_t n_hdrs, const char *body, struct fetch *f)
{
  memset (f, 0, sizeof *f);
  cleanup_free char *url = xasprintf ("http://127.0.0.1:%d%s", port, pathq);
  struct http_request req = { .method = method, .url = url, .headers = hdrs,
                              .n_headers = n_hdrs, .body = body, .body_len = body ? strlen (body) : 0,
                              .timeout_ms = 10000, .on_done = fetch_done, .data = f };
  agent_error_t err = NULL;
  if (!http_call_start (h->http, &req, &err))
    fail_msg ("http_call_start: %s", error_msg (&err));
  assert_true (run_until (h, flag_set, &f->done, 15000));
}

static inline void
fetch (struct harness *h, int port, const char *pathq, struct fetch *f)
{
  fetch_ex (h, port, NULL, pathq, NULL, 0, NULL, f);
}

static inline struct introspection_config
local_cfg (void)
{
  struct introspection_config c = base_cfg;
  c.listen_addr = "127.0.0.1";
  c.port = 0;
  c.no_retry = true;
  return c;
}

/* ------------------------------------------------------------------ */
/* Server tests                                                        */
/* ------------------------------------------------------------------ */

#endif /* TEST_INTROSPECTION_FIXTURE_H */
