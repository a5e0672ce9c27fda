#include "core/error.h"
#include "core/xmalloc.h"
#include <stdio.h>
#include <stdlib.h>

static int
error_vset (agent_error_t *err, int kind, int status, const char *fmt, va_list ap)
{
  if (kind <= 0)
    kind = ERR_GENERIC;
  if (err == NULL)
    return -kind;
  error_free (err);
  struct agent_error_s *e = xcalloc (1, sizeof *e);
  e->kind = kind;
  e->status = status;
  if (vasprintf (&e->msg, fmt, ap) < 0)
    xalloc_die ();
  *err = e;
  return -kind;
}

int
error_set (agent_error_t *err, int kind, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  int r = error_vset (err, kind, 0, fmt, ap);
  va_end (ap);
  return r;
}

int
error_set_status (agent_error_t *err, int kind, int status, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  int r = error_vset (err, kind, status, fmt, ap);
  va_end (ap);
  return r;
}

int
error_wrap (agent_error_t *err, const char *fmt, ...)
{
  if (err == NULL || *err == NULL)
    return -ERR_GENERIC;
  char *ctx = NULL;
  va_list ap;
  va_start (ap, fmt);
  if (vasprintf (&ctx, fmt, ap) < 0)
    xalloc_die ();
  va_end (ap);
  char *msg = xasprintf ("%s: %s", ctx, (*err)->msg);
  free (ctx);
  free ((*err)->msg);
  (*err)->msg = msg;
  return -(*err)->kind;
}

int
error_kind (const agent_error_t *err)
{
  return (err && *err) ? (*err)->kind : 0;
}

const char *
error_msg (const agent_error_t *err)
{
  return (err && *err) ? (*err)->msg : "";
}

void
error_free (agent_error_t *err)
{
  if (err == NULL || *err == NULL)
    return;
  free ((*err)->msg);
  free (*err);
  *err = NULL;
}

void
error_move (agent_error_t *dst, agent_error_t *src)
{
  error_free (dst);
  *dst = *src;
  *src = NULL;
}
