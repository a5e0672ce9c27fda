/* state/probe.c - is the data directory writable right now (state.h,
 * state_probe_writable)?  One small file written and removed on a libuv
 * worker thread; the answer comes back on the loop. */
#include "state/state_internal.h"
#include "core/xmalloc.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROBE_NAME ".health-probe"

struct state_probe
{
  uv_work_t req;
  char *path;        /* <DataDir>/.health-probe */
  agent_error_t err; /* set by the worker */
  state_probe_cb cb; /* NULL once detached */
  void *data;
};

/* Worker thread: create, write, sync, close, remove. */
static void
state_probe_work_cb (uv_work_t *req)
{
  struct state_probe *p = req->data;
  int fd = open (p->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    {
      error_set (&p->err, ERR_IO, "creating %s: %s", p->path, strerror (errno));
      return;
    }
  const char *step = NULL;
  int e = 0;
  if (write (fd, "1", 1) != 1)
    step = "writing", e = errno ? errno : EIO;
  else if (fdatasync (fd) < 0)
    step = "syncing", e = errno;
  if (close (fd) < 0 && step == NULL)
    step = "closing", e = errno;
  if (unlink (p->path) < 0 && step == NULL)
    step = "removing", e = errno;
  if (step)
    error_set (&p->err, ERR_IO, "%s %s: %s", step, p->path, strerror (e));
}

static void
state_probe_done_cb (uv_work_t *req, int status)
{
  struct state_probe *p = req->data;
  if (status == UV_ECANCELED && p->err == NULL)
    error_set (&p->err, ERR_CANCELLED, "data directory probe cancelled");
  if (p->cb)
    p->cb (p->err, p->data);
  error_free (&p->err);
  free (p->path);
  free (p);
}

state_probe_t *
state_probe_writable (state_store_t *s, state_probe_cb cb, void *data)
{
  if (!s->enabled || s->dir == NULL)
    return NULL;
  struct state_probe *p = xcalloc (1, sizeof *p);
  p->path = xasprintf ("%s/%s", s->dir, PROBE_NAME);
  p->cb = cb;
  p->data = data;
  p->req.data = p;
  if (uv_queue_work (s->loop, &p->req, state_probe_work_cb, state_probe_done_cb) < 0)
    {
      /* cannot happen with a live loop */
      free (p->path);
      free (p);
      return NULL;
    }
  return p;
}

void
state_probe_detach (state_probe_t *p)
{
  if (p)
    p->cb = NULL;
}
