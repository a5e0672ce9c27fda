/* test_docker_util.h - shared helpers of the docker client tests: a private
 * uv loop per test, waits that run the loop until a condition holds
 * (bounded: WAIT_FOR, WAIT_RES), and result captures that copy the borrowed
 * results. */
#ifndef TEST_DOCKER_UTIL_H
#define TEST_DOCKER_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include "core/util.h"
#include "core/xmalloc.h"
#include "docker/docker.h"

struct tloop
{
  uv_loop_t loop;
  uv_timer_t tick;
};

/* The test image: $TEST_IMAGE, else what tests/lib/test-image.sh prints
   (it builds the image when missing), read once. */
static inline const char *
test_image (void)
{
  static char image[256];
  if (image[0])
    return image;
  const char *env = getenv ("TEST_IMAGE");
  if (env && *env)
    snprintf (image, sizeof image, "%s", env);
  else
    {
      FILE *p = popen ("sh tests/lib/test-image.sh 2>/dev/null || sh ../tests/lib/test-image.sh", "r");
      if (p)
        {
          if (!fgets (image, sizeof image, p))
            image[0] = '\0';
          pclose (p);
        }
      image[strcspn (image, "\n")] = '\0';
      if (!image[0])
        snprintf (image, sizeof image, "ecs-agent-c-test/busybox:latest");
    }
  return image;
}

static inline void
tloop_tick_cb (uv_timer_t *t)
{
  (void) t;
}

static inline void
tloop_init (struct tloop *l)
{
  assert_int_equal (uv_loop_init (&l->loop), 0);
  uv_timer_init (&l->loop, &l->tick);
  uv_timer_start (&l->tick, tloop_tick_cb, 20, 20);
}

/* Run the loop until cond (an expression, evaluated again after every loop
   turn; the tick wakes the loop every 20 ms) holds, or timeout_ms pass.
   Evaluates to true if cond holds.  The one wait of these suites: tests
   wait on a condition, never for a fixed time. */
#define TLOOP_UNTIL(l, cond, timeout_ms)                                                       \
  __extension__ ({                                                                            \
    uv_update_time (&(l)->loop);                                                              \
    uint64_t tl_end_ = uv_now (&(l)->loop) + (uint64_t) (timeout_ms);                         \
    bool tl_ok_ = true;                                                                       \
    while (!(cond))                                                                           \
      {                                                                                       \
        if (uv_now (&(l)->loop) >= tl_end_)                                                   \
          {                                                                                   \
            tl_ok_ = (cond);                                                                  \
            break;                                                                            \
          }                                                                                   \
        uv_run (&(l)->loop, UV_RUN_ONCE);                                                     \
      }                                                                                       \
    tl_ok_;                                                                                   \
  })

/* TLOOP_UNTIL that fails the test, naming the condition, on timeout. */
#define WAIT_FOR(l, cond, timeout_ms)                                                         \
  do                                                                                          \
    {                                                                                         \
      if (!TLOOP_UNTIL ((l), (cond), (timeout_ms)))                                           \
        fail_msg ("%s:%d: not within %d ms: %s", __FILE__, __LINE__, (int) (timeout_ms),      \
                  #cond);                                                                     \
    }                                                                                         \
  while (0)

/* The pause between two polls of a condition that only a request can
   observe (e.g. inspect until a container exits): keeps the loop running.
   Only inside such a wait-until loop, never as synchronisation. */
static inline void
tloop_poll_pause (struct tloop *l, uint64_t ms)
{
  uv_update_time (&l->loop);
  uint64_t until = uv_now (&l->loop) + ms;
  TLOOP_UNTIL (l, uv_now (&l->loop) >= until, ms);
}

/* Run the loop until *flag or timeout; true if the flag was set. */
static inline bool
tloop_until (struct tloop *l, const bool *flag, uint64_t timeout_ms)
{
  return TLOOP_UNTIL (l, *flag, timeout_ms);
}

static inline void
tloop_close_walk_cb (uv_handle_t *h, void *arg)
{
  (void) arg;
  if (!uv_is_closing (h))
    uv_close (h, NULL);
}

/* Close the tick, drain, and require every other handle to be closed by
   its owner (leak check); returns uv_loop_close's result. */
static inline int
tloop_close (struct tloop *l)
{
  uv_close ((uv_handle_t *) &l->tick, NULL);
  for (int i = 0; i < 100 && uv_run (&l->loop, UV_RUN_NOWAIT); i++)
    ;
  int r = uv_loop_close (&l->loop);
  if (r != 0)
    {
      /* report, then force-close so the process can go on */
      uv_walk (&l->loop, tloop_close_walk_cb, NULL);
      uv_run (&l->loop, UV_RUN_DEFAULT);
      uv_loop_close (&l->loop);
    }
  return r;
}

/* ---- result captures --------------------------------------------------- */

struct res
{
  bool done;
  int calls; /* how many times the callback ran (must be 1) */
  int kind;
  int status;
  char *msg;
  char *id;
  /* inspect */
  bool running, oom_killed;
  int exit_code;
  char *name, *state;
  int64_t started_ns, finished_ns;
  size_t n_ports;
  struct
  {
    uint16_t cport, hport;
    char proto[8], ip[64];
  } ports[16];
  size_t n_labels;
  char labels[16][128];
  size_t n_mounts;
  struct
  {
    char dst[128], src[256];
    bool rw;
  } mounts[8];
  /* list */
  size_t n_items;
  char *items[64];
  /* version */
  char *api, *min_api, *version;
};

static inline void
res_reset (struct res *r)
{
  free (r->msg);
  free (r->id);
  free (r->name);
  free (r->state);
  free (r->api);
  free (r->min_api);
  free (r->version);
  for (size_t i = 0; i < r->n_items && i < 64; i++)
    free (r->items[i]);
  memset (r, 0, sizeof *r);
}

static inline void
res_err (struct res *r, agent_error_t err)
{
  r->done = true;
  r->calls++;
  r->kind = error_kind (&err);
  r->status = err ? err->status : 0;
  free (r->msg);
  r->msg = err ? xstrdup (err->msg) : NULL;
}

static inline void
res_done_cb (agent_error_t err, void *data)
{
  res_err (data, err);
}

static inline void
res_create_cb (const char *id, agent_error_t err, void *data)
{
  struct res *r = data;
  r->id = xstrdup (id);
  res_err (r, err);
}

static inline void
res_inspect_cb (const struct docker_container_info *i, agent_error_t err, void *data)
{
  struct res *r = data;
  if (i)
    {
      r->id = xstrdup (i->id);
      r->name = xstrdup (i->name);
      r->state = xstrdup (i->status);
      r->running = i->running;
      r->oom_killed = i->oom_killed;
      r->exit_code = i->exit_code;
      r->started_ns = i->started_at_ns;
      r->finished_ns = i->finished_at_ns;
      for (size_t k = 0; k < i->n_ports && k < 16; k++)
        {
          r->ports[k].cport = i->ports[k].container_port;
          r->ports[k].hport = i->ports[k].host_port;
          snprintf (r->ports[k].proto, sizeof r->ports[k].proto, "%s", task_protocol_str (i->ports[k].protocol));
          snprintf (r->ports[k].ip, sizeof r->ports[k].ip, "%s", i->ports[k].bind_ip);
          r->n_ports++;
        }
      for (size_t k = 0; k < i->n_labels && k < 16; k++)
        {
          snprintf (r->labels[k], sizeof r->labels[k], "%s=%s", i->labels[k].key,
                    i->labels[k].value);
          r->n_labels++;
        }
      for (size_t k = 0; k < i->n_mounts && k < 8; k++)
        {
          snprintf (r->mounts[k].dst, sizeof r->mounts[k].dst, "%s",
                    i->mounts[k].destination ? i->mounts[k].destination : "");
          snprintf (r->mounts[k].src, sizeof r->mounts[k].src, "%s",
                    i->mounts[k].source ? i->mounts[k].source : "");
          r->mounts[k].rw = i->mounts[k].rw;
          r->n_mounts++;
        }
    }
  res_err (r, err);
}

static inline void
res_list_cb (const struct docker_container_list *l, agent_error_t err, void *data)
{
  struct res *r = data;
  for (size_t k = 0; l && k < l->n && r->n_items < 64; k++)
    r->items[r->n_items++] = xstrdup (l->items[k].id);
  res_err (r, err);
}

static inline void
res_version_cb (const struct docker_version_info *v, agent_error_t err, void *data)
{
  struct res *r = data;
  if (v)
    {
      r->api = xstrdup (v->api_version);
      r->min_api = xstrdup (v->min_api_version);
      r->version = xstrdup (v->version);
    }
  res_err (r, err);
}

static inline void
res_volume_cb (const struct docker_volume_info *v, agent_error_t err, void *data)
{
  struct res *r = data;
  if (v)
    {
      r->id = xstrdup (v->name);
      r->name = xstrdup (v->mountpoint ? v->mountpoint : "");
    }
  res_err (r, err);
}

static inline void
res_image_cb (const struct docker_image_info *i, agent_error_t err, void *data)
{
  struct res *r = data;
  if (i)
    r->id = xstrdup (i->id);
  res_err (r, err);
}

#define WAIT_RES(l, r, ms)                                                                    \
  do                                                                                          \
    {                                                                                         \
      if (!tloop_until ((l), &(r)->done, (ms)))                                               \
        fail_msg ("%s:%d: no callback within %d ms", __FILE__, __LINE__, (int) (ms));         \
      assert_int_equal ((r)->calls, 1);                                                       \
    }                                                                                         \
  while (0)

#define ASSERT_OK(r)                                                                          \
  do                                                                                          \
    {                                                                                         \
      if ((r)->kind != 0)                                                                     \
        fail_msg ("%s:%d: unexpected error kind %d: %s", __FILE__, __LINE__, (r)->kind,       \
                  (r)->msg);                                                                  \
    }                                                                                         \
  while (0)

#endif
