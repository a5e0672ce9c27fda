/* core/lws_util.c - libwebsockets context creation and teardown on libuv (see lws_util.h). */
#include "core/lws_util.h"
#include "core/xmalloc.h"
#include <stdlib.h>
#include <string.h>

#define LWS_UTIL_MIN_TURNS 3 /* lws chains its closes over several turns */

struct walk
{
  void **v;
  size_t n, cap;
};

static void
walk_collect_cb (uv_handle_t *h, void *arg)
{
  struct walk *w = arg;
  if (w->n == w->cap)
    {
      w->cap = w->cap ? 2 * w->cap : 64;
      w->v = xrealloc (w->v, w->cap * sizeof *w->v);
    }
  w->v[w->n++] = h;
}

static int
ptr_cmp (const void *a, const void *b)
{
  const void *x = *(void *const *) a, *y = *(void *const *) b;
  return x < y ? -1 : x > y;
}

static bool
walk_has (const struct walk *w, void *h)
{
  return w->n && bsearch (&h, w->v, w->n, sizeof *w->v, ptr_cmp) != NULL;
}

static void
walk_take (uv_loop_t *loop, struct walk *w)
{
  uv_walk (loop, walk_collect_cb, w);
  if (w->n)
    qsort (w->v, w->n, sizeof *w->v, ptr_cmp);
}

/* Record the handles present now and not in `before`. */
static void
track_new (uv_loop_t *loop, struct walk *before, struct lws_util_handles *track)
{
  struct walk after = { 0 };
  uv_walk (loop, walk_collect_cb, &after);
  for (size_t i = 0; i < after.n; i++)
    if (!walk_has (before, after.v[i]))
      {
        track->v = xrealloc (track->v, (track->n + 1) * sizeof *track->v);
        track->v[track->n++] = after.v[i];
      }
  free (before->v);
  free (after.v);
}

struct lws_context *
lws_util_context_create (uv_loop_t *loop, struct lws_context_creation_info *info,
                         struct lws_util_handles *track)
{
  void *loops[1] = { loop };
  info->foreign_loops = loops;
  info->options |= LWS_SERVER_OPTION_LIBUV;
  struct walk before = { 0 };
  walk_take (loop, &before);
  struct lws_context *ctx = lws_create_context (info);
  info->foreign_loops = NULL;
  track_new (loop, &before, track);
  return ctx;
}

struct lws_vhost *
lws_util_vhost_create (struct lws_context *ctx, uv_loop_t *loop,
                       const struct lws_context_creation_info *info, struct lws_util_handles *track)
{
  struct walk before = { 0 };
  walk_take (loop, &before);
  struct lws_vhost *vh = lws_create_vhost (ctx, info);
  track_new (loop, &before, track);
  return vh;
}

void
lws_util_handles_free (struct lws_util_handles *track)
{
  free (track->v);
  track->v = NULL;
  track->n = 0;
}

struct lws_util_fin
{
  uv_idle_t idle;
  struct lws_context *ctx;
  struct lws_util_handles track;
  unsigned turns, max_turns;
  bool leaked;
  lws_util_busy_cb busy_cb;
  lws_util_done_cb done_cb;
  void *data;
};

static void
fin_closed_cb (uv_handle_t *h)
{
  struct lws_util_fin *f = h->data;
  lws_util_done_cb cb = f->done_cb;
  bool leaked = f->leaked;
  void *data = f->data;
  lws_util_handles_free (&f->track);
  free (f);
  if (cb)
    cb (leaked, data);
}

static void
fin_idle_cb (uv_idle_t *h)
{
  struct lws_util_fin *f = h->data;
  bool pending = false;
  if (f->track.n)
    {
      struct walk w = { 0 };
      walk_take (h->loop, &w);
      for (size_t i = 0; i < f->track.n && !pending; i++)
        pending = walk_has (&w, f->track.v[i]);
      free (w.v);
    }
  bool busy = f->busy_cb && f->busy_cb (f->data);
  f->turns++;
  if (f->turns < LWS_UTIL_MIN_TURNS || ((pending || busy) && f->turns < f->max_turns))
    return;
  if (pending || busy)
    f->leaked = f->ctx != NULL;
  else if (f->ctx)
    lws_context_destroy (f->ctx); /* second call: frees the context */
  f->ctx = NULL;
  uv_idle_stop (h);
  uv_close ((uv_handle_t *) h, fin_closed_cb);
}

void
lws_util_context_destroy (struct lws_context *ctx, uv_loop_t *loop,
                          struct lws_util_handles *track, unsigned max_turns,
                          lws_util_busy_cb busy_cb, lws_util_done_cb done_cb, void *data)
{
  struct lws_util_fin *f = xcalloc (1, sizeof *f);
  f->ctx = ctx;
  if (track)
    {
      f->track = *track;
      track->v = NULL;
      track->n = 0;
    }
  f->max_turns = max_turns > LWS_UTIL_MIN_TURNS ? max_turns : LWS_UTIL_MIN_TURNS;
  f->busy_cb = busy_cb;
  f->done_cb = done_cb;
  f->data = data;
  if (ctx)
    lws_context_destroy (ctx); /* first call: closes every wsi and handle */
  uv_idle_init (loop, &f->idle);
  f->idle.data = f;
  uv_idle_start (&f->idle, fin_idle_cb);
}
