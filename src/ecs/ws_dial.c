/* ecs/ws_dial.c - endpoint and credentials before a session websocket's
   connect (see ws_dial.h). */
#include "ecs/ws_dial.h"
#include "core/xmalloc.h"
#include <stdlib.h>

static void
failed (struct ecs_ws_dial *d, agent_error_t *e)
{
  d->cb (NULL, e, d->data);
}

static void
creds_cb (const struct aws_credentials *creds, agent_error_t err, void *data)
{
  struct ecs_ws_dial *d = data;
  d->creds_pending = false;
  if (*d->stopping)
    return;
  if (!creds)
    {
      agent_error_t e = NULL;
      error_set (&e, ERR_AUTH, "no credentials for the %s handshake: %s", d->what,
                 err ? error_msg (&err) : "unknown error");
      failed (d, &e);
      return;
    }
  d->cb (creds, NULL, d->data);
}

static void
fetch_creds (struct ecs_ws_dial *d, const char *endpoint)
{
  char *ep = xstrdup (endpoint); /* endpoint may be d->endpoint */
  free (d->endpoint);
  d->endpoint = ep;
  d->creds_pending = true;
  aws_creds_fetch (d->creds, creds_cb, d);
}

static void
discover_cb (const char *endpoint, const char *telemetry_endpoint, agent_error_t err, void *data)
{
  struct ecs_ws_dial *d = data;
  d->op = NULL;
  if (*d->stopping)
    return;
  const char *ep = d->telemetry ? telemetry_endpoint : endpoint;
  if (err || !ep || !*ep)
    {
      agent_error_t e = NULL;
      error_set (&e, err ? error_kind (&err) : ERR_MALFORMED, "DiscoverPollEndpoint: %s",
                 err ? error_msg (&err) : d->telemetry ? "no telemetryEndpoint" : "no endpoint");
      failed (d, &e);
      return;
    }
  fetch_creds (d, ep);
}

bool
ecs_ws_dial_busy (const struct ecs_ws_dial *d)
{
  return d->op || d->creds_pending;
}

void
ecs_ws_dial_start (struct ecs_ws_dial *d)
{
  if (ecs_ws_dial_busy (d))
    return;
  if (d->endpoint_fixed)
    {
      fetch_creds (d, d->endpoint_fixed);
      return;
    }
  d->op = ecs_discover_poll_endpoint (d->ecs, d->instance_arn, d->cluster, discover_cb, d);
}

void
ecs_ws_dial_cancel (struct ecs_ws_dial *d)
{
  if (d->op)
    {
      ecs_call_cancel (d->op);
      d->op = NULL;
    }
  if (d->creds_pending)
    {
      aws_creds_fetch_cancel (d->creds, creds_cb, d);
      d->creds_pending = false;
    }
}

void
ecs_ws_dial_clear (struct ecs_ws_dial *d)
{
  ecs_ws_dial_cancel (d);
  free (d->endpoint);
  d->endpoint = NULL;
}
