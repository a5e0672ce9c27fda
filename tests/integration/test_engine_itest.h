/* test_engine_itest.h - shared fixture of the engine integration tests:
 * a private uv loop, the real Docker client, a state store in a temp dir,
 * an engine labelling everything ecs-agent-c-test=1 plus a per-run label
 * that teardown uses to remove (only) this run's containers and volumes. */
#ifndef TEST_ENGINE_ITEST_H
#define TEST_ENGINE_ITEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include "core/util.h"
#include "core/xmalloc.h"
#include "docker/docker.h"
#include "engine/engine.h"
#include "engine/plan.h"
#include "log/log.h"
#include "state/state.h"
#include "test_engine_util.h"

struct it
{
  uv_loop_t loop;
  uv_timer_t tick; /* keeps uv_run(ONCE) from blocking forever */
  char dir[64];
  char run[17]; /* per-run label value */
  char *image;
  docker_client_t *docker;
  state_store_t *state;
  engine_t *e;
  uint64_t cleanup_ms;
  const struct engine_docker_ops *ops; /* NULL = default */
  void *ops_ctx;
  const struct docker_auth_config *auth;
  const struct config_images *images; /* image cleanup / pre-caching, NULL = off */
  char *extra_cleanup; /* shell command run at teardown */
  const char *cgroup_root;         /* task cgroups (engine.h), NULL = off */
  bool cgroup_systemd;             /* Docker's driver taken as systemd */
  struct systemd_client *systemd;  /* its slices (engine/slice.h) */
};

static inline void
it_tick (uv_timer_t *t)
{
  (void) t;
}

static inline const char *
it_image (void)
{
  static char img[256];
  if (img[0])
    return img;
  const char *env = getenv ("TEST_IMAGE");
  if (env && *env)
    snprintf (img, sizeof img, "%s", env);
  else
    {
      FILE *p = popen ("sh tests/lib/test-image.sh 2>/dev/null || sh ../tests/lib/test-image.sh", "r");
      if (p)
        {
          if (!fgets (img, sizeof img, p))
            img[0] = '\0';
          pclose (p);
        }
      img[strcspn (img, "\n")] = '\0';
      if (!img[0])
        snprintf (img, sizeof img, "ecs-agent-c-test/busybox:latest");
    }
  return img;
}

static inline void
it_state_up (struct it *x)
{
  agent_error_t err = NULL;
  x->state = state_store_new (&x->loop, x->dir, true, &err);
  if (!x->state)
    fail_msg ("%s", error_msg (&err));
  if (state_load (x->state, &err) < 0)
    fail_msg ("%s", error_msg (&err));
}

static inline void
it_engine_up (struct it *x)
{
  agent_error_t err = NULL;
  struct engine_label extra[] = { { "ecs-agent-c-test", "1" }, { "ecs-agent-c-test-run", x->run } };
  struct engine_options o = {
    .cluster = "engine-itest",
    .cleanup_wait_ms = x->cleanup_ms ? x->cleanup_ms : 3600 * 1000,
    .stop_timeout_ms = 2000,
    .state = x->state,
    .docker = x->docker,
    .ops = x->ops,
    .ops_ctx = x->ops_ctx,
    .extra_labels = extra,
    .n_extra_labels = 2,
    .auth = x->auth,
    .images = x->images,
    .cgroup_root = x->cgroup_root,
    .cgroup_systemd = x->cgroup_systemd,
    .systemd = x->systemd,
  };
  x->e = engine_new (&x->loop, &o, &err);
  if (!x->e)
    fail_msg ("%s", error_msg (&err));
  if (engine_start (x->e, &err) < 0)
    fail_msg ("%s", error_msg (&err));
  uint64_t deadline = util_now_ms () + 30000;
  while (!engine_ready (x->e) && util_now_ms () < deadline)
    uv_run (&x->loop, UV_RUN_ONCE);
  assert_true (engine_ready (x->e));
}

/* Free engine and store as a crash would: no shutdown work at all. */
static inline void
it_engine_down (struct it *x)
{
  engine_free (x->e);
  x->e = NULL;
  state_store_free (x->state);
  x->state = NULL;
  for (int i = 0; i < 20; i++)
    uv_run (&x->loop, UV_RUN_NOWAIT);
}

static inline int
it_setup (void **st)
{
  struct it *x = xcalloc (1, sizeof *x);
  uv_loop_init (&x->loop);
  uv_timer_init (&x->loop, &x->tick);
  uv_timer_start (&x->tick, it_tick, 50, 50);
  strcpy (x->dir, "/tmp/ecs-engine-itest-XXXXXX");
  assert_non_null (mkdtemp (x->dir));
  util_random_hex (x->run, 8);
  x->image = xstrdup (it_image ());
  agent_error_t err = NULL;
  x->docker = docker_client_new (&x->loop, NULL, &err);
  assert_non_null (x->docker);
  it_state_up (x);
  *st = x;
  return 0;
}

static inline void
it_docker_cleanup (struct it *x)
{
  char cmd[512];
  snprintf (cmd, sizeof cmd,
            "ids=$(docker ps -aq --filter label=ecs-agent-c-test-run=%s); [ -z \"$ids\" ] || docker rm -f -v $ids >/dev/null 2>&1;"
            "vs=$(docker volume ls -q --filter label=ecs-agent-c-test-run=%s); [ -z \"$vs\" ] || docker volume rm -f $vs >/dev/null 2>&1; true",
            x->run, x->run);
  if (system (cmd) != 0)
    print_message ("cleanup command failed\n");
}

static inline int
it_teardown (void **st)
{
  struct it *x = *st;
  if (x->e || x->state)
    it_engine_down (x);
  docker_client_free (x->docker);
  uv_close ((uv_handle_t *) &x->tick, NULL);
  uv_run (&x->loop, UV_RUN_DEFAULT);
  assert_int_equal (uv_loop_close (&x->loop), 0);
  it_docker_cleanup (x);
  if (x->extra_cleanup && system (x->extra_cleanup) != 0)
    print_message ("extra cleanup failed\n");
  free (x->extra_cleanup);
  char cmd[128];
  snprintf (cmd, sizeof cmd, "rm -rf '%s'", x->dir);
  if (system (cmd) != 0)
    print_message ("rm failed\n");
  free (x->image);
  free (x);
  return 0;
}

static inline const struct task *
it_task (struct it *x, const char *arn)
{
  return engine_find_task_by_arn (x->e, arn);
}

static inline bool
it_wait_task (struct it *x, const char *arn, enum task_status want, int timeout_ms)
{
  uint64_t deadline = util_now_ms () + (uint64_t) timeout_ms;
  while (util_now_ms () < deadline)
    {
      const struct task *t = it_task (x, arn);
      if (t && t->known_status >= want)
        return true;
      uv_run (&x->loop, UV_RUN_ONCE);
    }
  const struct task *t = it_task (x, arn);
  print_message ("task %s: known %s (wanted %s)\n", arn, t ? task_status_str (t->known_status) : "gone",
                 task_status_str (want));
  for (size_t i = 0; t && i < t->n_containers; i++)
    print_message ("  %s: known %s desired %s reason %s\n", t->containers[i].name,
                   task_container_status_str (t->containers[i].known_status),
                   task_container_status_str (t->containers[i].desired_status),
                   t->containers[i].reason ? t->containers[i].reason : "-");
  return false;
}

static inline bool
it_wait_container (struct it *x, const char *arn, const char *name, enum task_status want, int timeout_ms)
{
  uint64_t deadline = util_now_ms () + (uint64_t) timeout_ms;
  while (util_now_ms () < deadline)
    {
      const struct task *t = it_task (x, arn);
      const struct task_container *c = t ? task_find_container (t, name) : NULL;
      if (c && c->known_status >= want)
        return true;
      uv_run (&x->loop, UV_RUN_ONCE);
    }
  return false;
}

/* Run the loop until pred(x, data) holds (true) or timeout_ms pass (false). */
typedef bool (*it_pred_fn) (struct it *x, void *data);
static inline bool
it_wait_until (struct it *x, it_pred_fn pred, void *data, int timeout_ms)
{
  uint64_t deadline = util_now_ms () + (uint64_t) timeout_ms;
  while (!pred (x, data))
    {
      if (util_now_ms () >= deadline)
        return false;
      uv_run (&x->loop, UV_RUN_ONCE);
    }
  return true;
}

/* Add a task from a printf-style ACS JSON template. */
static inline void
it_add (struct it *x, const char *json)
{
  agent_error_t err = NULL;
  struct task *t = teu_task (json, &err);
  if (!t)
    fail_msg ("%s", error_msg (&err));
  assert_int_equal (engine_task_add (x->e, t, &err), 0);
}

/* Count Docker containers carrying this run's label and the task ARN. */
static inline int
it_count_containers (struct it *x, const char *arn, const char *extra_filter)
{
  char cmd[768];
  snprintf (cmd, sizeof cmd,
            "docker ps -aq --filter label=ecs-agent-c-test-run=%s --filter 'label=com.amazonaws.ecs.task-arn=%s' %s | wc -l",
            x->run, arn, extra_filter ? extra_filter : "");
  FILE *p = popen (cmd, "r");
  int n = -1;
  if (p)
    {
      if (fscanf (p, "%d", &n) != 1)
        n = -1;
      pclose (p);
    }
  return n;
}

#endif
