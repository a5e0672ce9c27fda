/* engine/secrets.c - a task's secret resources: when to fetch them (pure
 * predicates used by the planner), the fetch with the execution role, the
 * outcome (values kept, or the task stopped with the reason); see
 * engine/secrets.h. */
#include "aws/secrets_wire.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "engine/engine_internal.h"
#include "engine/secrets.h"
#include "log/log.h"
#include <stdlib.h>
#include <string.h>

/* ---- pure ------------------------------------------------------------------------ */

bool
engine_secrets_ready (const struct task *t, const struct task_container *c)
{
  for (int p = 0; p < TASK_SECRET_N_PROVIDERS; p++)
    if (task_container_secrets_use (&c->secrets, (enum task_secret_provider) p)
        && t->secret_res[p].status != TASK_RES_CREATED)
      return false;
  return true;
}

bool
engine_secrets_pending (const struct task *t)
{
  for (int p = 0; p < TASK_SECRET_N_PROVIDERS; p++)
    if (t->secret_res[p].status == TASK_RES_PENDING)
      return true;
  return false;
}

bool
engine_secrets_needed (const struct task *t, enum task_secret_provider p)
{
  if (t->desired_status == TASK_STATUS_STOPPED || t->removing
      || t->secret_res[p].status != TASK_RES_NONE)
    return false;
  for (size_t i = 0; i < t->n_containers; i++)
    {
      const struct task_container *c = &t->containers[i];
      if (c->known_status < TASK_STATUS_CREATED && c->desired_status != TASK_STATUS_STOPPED
          && task_container_secrets_use (&c->secrets, p))
        return true;
    }
  return false;
}

/* ---- the default fetcher ------------------------------------------------------------ */

static void *
default_fetch (void *ctx, const struct aws_secrets_fetch_req *req, aws_secrets_done_cb cb, void *data)
{
  engine_t *e = ctx;
  return aws_secrets_fetch_start (e->loop, e->http, req, cb, data);
}

static void
default_cancel (void *ctx, void *handle)
{
  (void) ctx;
  aws_secrets_fetch_cancel (handle);
}

static const struct engine_secrets_ops default_ops = { .fetch = default_fetch, .cancel = default_cancel };

void
engine_secrets_init (engine_t *e, const struct engine_options *o)
{
  e->http = o->http;
  if (o->secrets_ops)
    {
      e->secrets_ops = o->secrets_ops;
      e->secrets_ctx = o->secrets_ctx;
    }
  else if (o->http)
    {
      e->secrets_ops = &default_ops;
      e->secrets_ctx = e;
    }
}

void
engine_secrets_cancel (engine_t *e, void *handle)
{
  if (e->secrets_ops && handle)
    e->secrets_ops->cancel (e->secrets_ctx, handle);
}

/* ---- the executor ---------------------------------------------------------------------- */

static const char *
no_creds_text (enum task_secret_provider p)
{
  return p == TASK_SECRET_ASM ? AWS_ASM_NO_CREDS : AWS_SSM_NO_CREDS;
}

static void
resource_failed (engine_t *e, struct task *t, enum task_secret_provider p, const char *text)
{
  struct task_secret_resource *r = &t->secret_res[p];
  task_secret_resource_clear (r);
  r->status = TASK_RES_FAILED;
  cleanup_free char *reason = aws_secrets_reason (text);
  if (t->desired_status == TASK_STATUS_STOPPED)
    log_info (MOD, "task %s: %s secrets not fetched: %s", t->arn, task_secret_provider_str (p), reason);
  else
    log_warn (MOD, "task %s: %s secrets not fetched; stopping the task: %s", t->arn,
              task_secret_provider_str (p), reason);
  if (!t->reason)
    t->reason = xstrdup (reason);
  t->desired_status = TASK_STATUS_STOPPED;
  (void) e;
}

/* Wake the step again after the credentials poll interval. */
static void
wake_for_creds (engine_t *e, struct task *t, enum task_secret_provider p)
{
  uint64_t at = uv_now (e->loop) + ENGINE_SECRETS_CREDS_POLL_MS;
  for (size_t i = 0; i < t->n_containers; i++)
    {
      struct task_container *c = &t->containers[i];
      if (task_container_secrets_use (&c->secrets, p) && (!c->wake_at_ms || c->wake_at_ms > at))
        c->wake_at_ms = at;
    }
  engine_arm_retry (e);
}

/* The execution-role credentials, NULL when absent (then *wait tells
   whether ACS may still send them: a restored task's expected id). */
static const struct task_role_credentials *
exec_creds (engine_t *e, const struct task *t, bool *wait)
{
  *wait = false;
  if (!t->execution_credentials_id)
    return NULL;
  if (!e->creds) /* the agent hands the store over once its services start */
    {
      *wait = true;
      return NULL;
    }
  const struct task_role_credentials *c
      = task_creds_store_for_task (e->creds, t->arn, TASK_CREDS_EXECUTION_ROLE);
  if (c && c->access_key_id && c->secret_access_key)
    return c;
  *wait = task_creds_store_get (e->creds, t->execution_credentials_id) != NULL;
  return NULL;
}

static void
start_fetch (engine_t *e, struct task *t, enum task_secret_provider p,
             const struct task_role_credentials *rc)
{
  size_t n = 0;
  for (size_t i = 0; i < t->n_containers; i++)
    n += t->containers[i].secrets.n;
  cleanup_free const struct task_secret **v = xcalloc (n ? n : 1, sizeof *v);
  size_t k = 0;
  for (size_t i = 0; i < t->n_containers; i++)
    for (size_t j = 0; j < t->containers[i].secrets.n; j++)
      if (t->containers[i].secrets.v[j].provider == p)
        v[k++] = &t->containers[i].secrets.v[j];
  struct aws_credentials ac = { .access_key_id = rc->access_key_id,
                                .secret_access_key = rc->secret_access_key,
                                .session_token = rc->session_token };
  struct aws_secrets_fetch_req req = { .provider = p, .secrets = v, .n = k, .creds = &ac };
  struct op *op = engine_op_new (e, OP_SECRETS, t, (size_t) p);
  t->secret_res[p].status = TASK_RES_PENDING;
  log_info (MOD, "task %s: fetching %zu secrets from %s", t->arn, k,
            p == TASK_SECRET_ASM ? "Secrets Manager" : "SSM Parameter Store");
  op->handle = e->secrets_ops->fetch (e->secrets_ctx, &req, engine_secrets_done_cb, op);
}

bool
engine_secrets_step (engine_t *e, struct task *t)
{
  bool changed = false;
  for (int i = 0; i < TASK_SECRET_N_PROVIDERS; i++)
    {
      enum task_secret_provider p = (enum task_secret_provider) i;
      struct task_secret_resource *r = &t->secret_res[p];
      bool waiting = r->status == TASK_RES_PENDING && r->creds_wait_until_ms;
      if (!waiting && !engine_secrets_needed (t, p))
        continue;
      if (t->desired_status == TASK_STATUS_STOPPED)
        { /* stopping while waiting for credentials: give up quietly */
          r->status = TASK_RES_NONE;
          r->creds_wait_until_ms = 0;
          continue;
        }
      changed = true;
      if (!e->secrets_ops)
        {
          resource_failed (e, t, p, p == TASK_SECRET_ASM ? "ASM secret resource: no AWS client"
                                                          : "ssm secret resource: no AWS client");
          continue;
        }
      bool wait;
      const struct task_role_credentials *rc = exec_creds (e, t, &wait);
      uint64_t now = uv_now (e->loop);
      if (!rc && wait && (!r->creds_wait_until_ms || now < r->creds_wait_until_ms))
        {
          if (!r->creds_wait_until_ms)
            {
              log_info (MOD, "task %s: waiting for its execution role credentials to fetch its secrets",
                        t->arn);
              r->creds_wait_until_ms = now + ENGINE_SECRETS_CREDS_WAIT_MS;
            }
          r->status = TASK_RES_PENDING;
          wake_for_creds (e, t, p);
          continue;
        }
      r->creds_wait_until_ms = 0;
      if (!rc)
        resource_failed (e, t, p, no_creds_text (p));
      else
        start_fetch (e, t, p, rc);
    }
  return changed;
}

void
engine_secrets_done_cb (struct task_secret_resource *values, const char *err_text, void *data)
{
  struct op *op = data;
  engine_t *e = op->e;
  struct task *t = op->t;
  enum task_secret_provider p = (enum task_secret_provider) op->ci;
  engine_op_finish (op);
  if (err_text)
    resource_failed (e, t, p, err_text);
  else
    {
      struct task_secret_resource *r = &t->secret_res[p];
      task_secret_resource_clear (r);
      *r = *values;
      memset (values, 0, sizeof *values);
      r->status = TASK_RES_CREATED;
      r->creds_wait_until_ms = 0;
      log_info (MOD, "task %s: %s secrets fetched (%zu values)", t->arn, task_secret_provider_str (p),
                r->n_values);
    }
  engine_task_step (e, t);
}
