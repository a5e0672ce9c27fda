/* agent/spot.c - spot instance draining (ECS_ENABLE_SPOT_INSTANCE_DRAINING):
 * once registered, the instance metadata service's spot instance-action
 * path is polled every second; when it announces an interruption the
 * instance is set DRAINING with UpdateContainerInstancesState (ECS then
 * moves service tasks away) and polling ends.  A failed update is retried
 * on the next poll.  Errors are logged on change, not on every poll. */
#include "agent/agent_internal.h"
#include "aws/spot.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include "state/state.h"
#include <jansson.h>
#include <stdlib.h>

#define MOD "agent"
#define SPOT_POLL_MS 1000

struct agent_spot
{
  struct agent *a;
  uv_timer_t timer;
  imds_call_t *imds_op;
  ecs_call_t *ecs_op;
  bool done, failing;
};

static void spot_poll_cb (uv_timer_t *t);

static void
spot_update_cb (const char *body, size_t len, agent_error_t err, void *data)
{
  (void) body;
  (void) len;
  struct agent_spot *sp = data;
  sp->ecs_op = NULL;
  if (err)
    {
      log_warn (MOD, "setting the instance DRAINING failed: %s; retrying", error_msg (&err));
      return;
    }
  log_info (MOD, "container instance set to DRAINING (spot interruption)");
  sp->done = true;
  uv_timer_stop (&sp->timer);
}

static void
spot_action_cb (const char *body, size_t len, agent_error_t err, void *data)
{
  struct agent_spot *sp = data;
  sp->imds_op = NULL;
  if (err)
    {
      /* 404: no interruption announced (the normal answer) */
      if (error_kind (&err) != ERR_NOT_FOUND && !sp->failing)
        log_info (MOD, "spot instance-action: %s", error_msg (&err));
      sp->failing = error_kind (&err) != ERR_NOT_FOUND;
      return;
    }
  sp->failing = false;
  struct aws_spot_action act;
  agent_error_t perr = NULL;
  if (aws_spot_action_parse (body, len, &act, &perr) < 0)
    {
      log_warn (MOD, "%s", error_msg (&perr));
      error_free (&perr);
      return;
    }
  if (sp->ecs_op)
    return;
  struct agent *a = sp->a;
  log_info (MOD, "spot interruption announced (%s): draining the container instance", act.action);
  json_t *req = json_pack ("{s:s,s:[s],s:s}", "cluster", a->cfg->cluster, "containerInstances",
                           state_container_instance_arn (a->state) ? state_container_instance_arn (a->state) : "",
                           "status", "DRAINING");
  char *s = json_dumps (req, JSON_COMPACT);
  json_decref (req);
  sp->ecs_op = ecs_call_raw (a->ecs, "UpdateContainerInstancesState", s, spot_update_cb, sp);
  free (s);
}

static void
spot_poll_cb (uv_timer_t *t)
{
  struct agent_spot *sp = t->data;
  if (sp->done || sp->imds_op || sp->ecs_op)
    return;
  agent_error_t err = NULL;
  sp->imds_op = imds_get (sp->a->imds, AWS_SPOT_ACTION_PATH, spot_action_cb, sp, &err);
  if (!sp->imds_op)
    error_free (&err);
}

void
agent_spot_start (struct agent *a)
{
  if (!a->cfg->spot_instance_draining || a->spot || !a->imds || !a->ecs)
    return;
  struct agent_spot *sp = xcalloc (1, sizeof *sp);
  sp->a = a;
  a->spot = sp;
  uv_timer_init (a->loop, &sp->timer);
  sp->timer.data = sp;
  uv_timer_start (&sp->timer, spot_poll_cb, 0, SPOT_POLL_MS);
  log_info (MOD, "spot instance draining enabled: polling the instance-action notice every %d ms",
            SPOT_POLL_MS);
}

static void
spot_closed_cb (uv_handle_t *h)
{
  free (h->data);
}

void
agent_spot_stop (struct agent *a)
{
  struct agent_spot *sp = a->spot;
  if (!sp)
    return;
  a->spot = NULL;
  if (sp->imds_op)
    imds_call_cancel (sp->imds_op);
  if (sp->ecs_op)
    ecs_call_cancel (sp->ecs_op);
  uv_close ((uv_handle_t *) &sp->timer, spot_closed_cb);
}
