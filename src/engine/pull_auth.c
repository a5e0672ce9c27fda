/* engine/pull_auth.c - registry credentials for pulls with
 * registryAuthentication (see pull_auth.h), and the pull itself. */
#include "engine/pull_auth.h"
#include "aws/json_rpc.h"
#include "aws/registry_auth.h"
#include "core/xmalloc.h"
#include "docker/auth.h"
#include "engine/engine_internal.h"
#include "log/log.h"
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MOD "engine"

/* ---- pure ------------------------------------------------------------------ */

static bool
exec_creds_present (const struct task_role_credentials *c)
{
  return c && c->access_key_id && *c->access_key_id && c->secret_access_key && *c->secret_access_key;
}

struct engine_pull_auth_choice
engine_pull_auth_choose (const struct task_registry_auth *a, const struct task_role_credentials *exec,
                         bool have_instance)
{
  struct engine_pull_auth_choice r = { ENGINE_PULL_AUTH_ENGINE, NULL, NULL };
  switch (a ? a->type : TASK_REGISTRY_AUTH_NONE)
    {
    case TASK_REGISTRY_AUTH_ECR:
      if (a->use_execution_role)
        r.kind = exec_creds_present (exec) ? ENGINE_PULL_AUTH_ECR_EXEC : ENGINE_PULL_AUTH_FAIL_PULL;
      else
        r.kind = have_instance ? ENGINE_PULL_AUTH_ECR_INSTANCE : ENGINE_PULL_AUTH_FAIL_PULL;
      if (r.kind == ENGINE_PULL_AUTH_FAIL_PULL)
        {
          r.err_name = ENGINE_ECR_ERROR_NAME;
          r.err_msg = ENGINE_ECR_NO_CREDS;
        }
      break;
    case TASK_REGISTRY_AUTH_ASM:
      r.kind = exec_creds_present (exec) ? ENGINE_PULL_AUTH_ASM : ENGINE_PULL_AUTH_FAIL_TASK;
      if (r.kind == ENGINE_PULL_AUTH_FAIL_TASK)
        r.err_msg = ENGINE_ASM_NO_CREDS;
      break;
    default:
      break;
    }
  return r;
}

char *
engine_pull_auth_task_reason (const char *text)
{
  const char *s = text ? text : "";
  char *out = xmalloc (strlen (s) + 1);
  size_t n = 0;
  bool space = false;
  for (; *s; s++)
    {
      if (isspace ((unsigned char) *s))
        {
          space = n > 0;
          continue;
        }
      if (space)
        out[n++] = ' ';
      space = false;
      out[n++] = *s;
    }
  out[n] = '\0';
  if (n > 0)
    out[0] = (char) toupper ((unsigned char) out[0]);
  return out;
}

/* ---- the provider ------------------------------------------------------------ */

struct auth_job;

/* Secrets Manager answers of a task, by "<task arn>\n<parameter>\n<region>". */
struct asm_result
{
  char *key;
  char *task_arn;
  struct aws_registry_creds creds;
  LIST_ENTRY (asm_result) link;
};

struct engine_pull_auth
{
  aws_ecr_cache_t *ecr;
  LIST_HEAD (, asm_result) asm_results;
  LIST_HEAD (, auth_job) jobs;
};

/* One AWS call, shared by the pulls (ops) waiting for the same key. */
struct auth_job
{
  engine_t *e;
  bool ecr; /* else Secrets Manager */
  char *key;
  char *task_arn; /* ASM: the results belong to this task */
  char *secret_id;
  char *endpoint, *region, *body;
  struct aws_credentials *creds; /* execution role (copied); NULL = the instance's */
  bool waiting_instance;
  aws_json_call_t *call;
  uv_timer_t *fail_timer; /* a failure known at once, reported on the next turn; or the
                             poll of a wait for execution-role credentials */
  char *fail_msg;
  uint64_t wait_until; /* a wait for execution-role credentials: loop ms it gives up */
  struct op **waiters;
  size_t n_waiters;
  LIST_ENTRY (auth_job) link;
};

static struct engine_pull_auth *
pull_auth_of (engine_t *e)
{
  if (!e->pull_auth)
    {
      e->pull_auth = xcalloc (1, sizeof *e->pull_auth);
      e->pull_auth->ecr = aws_ecr_cache_new ();
      LIST_INIT (&e->pull_auth->asm_results);
      LIST_INIT (&e->pull_auth->jobs);
    }
  return e->pull_auth;
}

static void instance_creds_cb (const struct aws_credentials *creds, agent_error_t err, void *data);

static void
fail_timer_closed_cb (uv_handle_t *h)
{
  free (h);
}

static void
job_free (struct auth_job *j)
{
  LIST_REMOVE (j, link);
  if (j->waiting_instance)
    aws_creds_fetch_cancel (j->e->instance_creds, instance_creds_cb, j);
  aws_json_call_cancel (j->call);
  if (j->fail_timer)
    {
      uv_timer_stop (j->fail_timer);
      uv_close ((uv_handle_t *) j->fail_timer, fail_timer_closed_cb);
    }
  free (j->fail_msg);
  if (j->creds)
    {
      log_secret_remove (j->creds->access_key_id);
      log_secret_remove (j->creds->secret_access_key);
      if (j->creds->session_token)
        log_secret_remove (j->creds->session_token);
    }
  aws_credentials_free (j->creds);
  free (j->key);
  free (j->task_arn);
  free (j->secret_id);
  free (j->endpoint);
  free (j->region);
  free (j->body);
  free (j->waiters);
  free (j);
}

static void
asm_result_free (struct asm_result *r)
{
  LIST_REMOVE (r, link);
  aws_registry_creds_clear (&r->creds);
  free (r->key);
  free (r->task_arn);
  free (r);
}

void
engine_pull_auth_free (engine_t *e)
{
  struct engine_pull_auth *pa = e->pull_auth;
  if (!pa)
    return;
  while (!LIST_EMPTY (&pa->jobs))
    job_free (LIST_FIRST (&pa->jobs));
  while (!LIST_EMPTY (&pa->asm_results))
    asm_result_free (LIST_FIRST (&pa->asm_results));
  aws_ecr_cache_free (pa->ecr);
  free (pa);
  e->pull_auth = NULL;
}

/* Answers of tasks the engine no longer holds are dropped. */
static void
asm_results_prune (engine_t *e)
{
  for (struct asm_result *r = LIST_FIRST (&e->pull_auth->asm_results), *n; r; r = n)
    {
      n = LIST_NEXT (r, link);
      if (!engine_find_task_by_arn (e, r->task_arn))
        asm_result_free (r);
    }
}

static double
random01 (void)
{
  return (double) random () / ((double) RAND_MAX + 1.0);
}

/* ---- the pull ------------------------------------------------------------------ */

/* Pull the image of op's container with the X-Registry-Auth value auth
   (NULL = none).  op becomes an OP_PULL. */
static void
pull_with (engine_t *e, struct op *op, const char *auth)
{
  struct task_container *c = &op->t->containers[op->ci];
  op->kind = OP_PULL;
  op->handle = NULL;
  if (op->progress == NULL)
    op->progress = xcalloc (1, sizeof *op->progress);
  op->progress->started_ms = op->progress->logged_ms = uv_now (e->loop);
  if (!op->t->pull_started_ms) /* pullStartedAt: the task's first pull */
    op->t->pull_started_ms = engine_wall_ns () / 1000000;
  struct docker_pull_opts o = { .image = c->image, .registry_auth = auth, .on_progress = engine_pull_progress_cb };
  log_info (MOD, "task %s container %s: pulling %s", op->t->arn, c->name, c->image);
  op->handle = e->ops->pull (e->ops_ctx, &o, engine_pull_done_cb, op);
}

static struct auth_job *job_new (engine_t *e, bool ecr, const char *key, const struct task *t,
                                 const struct task_registry_auth *ra);
static void job_wait (struct auth_job *j, struct op *op);
static void job_fail_later (struct auth_job *j, const char *msg);

static void
pull_with_creds (engine_t *e, struct op *op, const struct aws_registry_creds *rc)
{
  char *auth = docker_auth_encode (rc->username, rc->password, NULL, rc->serveraddress);
  if (!auth)
    {
      const struct task_registry_auth *ra = &op->t->containers[op->ci].registry_auth;
      cleanup_free char *fkey = xasprintf ("!%p", (void *) op);
      struct auth_job *j = job_new (e, ra->type == TASK_REGISTRY_AUTH_ECR, fkey, op->t, ra);
      job_wait (j, op);
      job_fail_later (j, "the registry credentials are not valid UTF-8");
      return;
    }
  log_secret_add (auth);
  pull_with (e, op, auth);
  log_secret_remove (auth);
  free (auth);
}

/* A Secrets Manager failure: the task stops with the reason, before its
   containers are created. */
static void
asm_failed (engine_t *e, struct op *op, const char *text)
{
  struct task *t = op->t;
  engine_op_finish_container (op);
  engine_refuse_task (e, t, engine_pull_auth_task_reason (text));
  engine_arm_cleanup (e);
  engine_task_step (e, t);
}

/* The job is over: every waiter gets the result (creds, or the error). */
static void
job_done (struct auth_job *j, const struct aws_registry_creds *rc, const char *errmsg)
{
  engine_t *e = j->e;
  struct op **w = j->waiters;
  size_t n = j->n_waiters;
  j->waiters = NULL;
  j->n_waiters = 0;
  bool ecr = j->ecr;
  job_free (j);
  for (size_t i = 0; i < n; i++)
    {
      struct op *op = w[i];
      if (rc)
        pull_with_creds (e, op, rc);
      else if (ecr)
        engine_pull_auth_failed (op, ENGINE_ECR_ERROR_NAME, errmsg);
      else if (op->t->desired_status != TASK_STATUS_STOPPED)
        asm_failed (e, op, errmsg);
      else
        {
          engine_op_finish_container (op);
          engine_task_step (e, op->t);
        }
    }
  free (w);
}

static void
call_done_cb (const char *body, size_t len, agent_error_t err, void *data)
{
  struct auth_job *j = data;
  struct engine_pull_auth *pa = j->e->pull_auth;
  j->call = NULL;
  struct aws_registry_creds rc = { 0 };
  agent_error_t perr = NULL;
  cleanup_free char *msg = NULL;
  if (j->ecr)
    {
      if (err)
        msg = xstrdup (error_msg (&err));
      else if (aws_ecr_parse_response (body, len, &rc, &perr) < 0)
        msg = xstrdup (error_msg (&perr));
      else
        aws_ecr_cache_put (pa->ecr, j->key, &rc, time (NULL));
    }
  else
    {
      const char *which = NULL;
      if (err)
        msg = xasprintf ("asm fetching secret from the service for %s: %s", j->secret_id,
                         error_msg (&err));
      else if (aws_sm_parse_registry_secret (body, len, &rc, &which, &perr) < 0)
        msg = which ? xasprintf ("asm fetching %s: %s", which, error_msg (&perr))
                    : xasprintf ("asm fetching authorization data: %s", error_msg (&perr));
      else
        {
          asm_results_prune (j->e);
          struct asm_result *r = xcalloc (1, sizeof *r);
          r->key = xstrdup (j->key);
          r->task_arn = xstrdup (j->task_arn);
          r->creds = rc; /* registered already */
          memset (&rc, 0, sizeof rc);
          LIST_INSERT_HEAD (&pa->asm_results, r, link);
          job_done (j, &r->creds, NULL);
          return;
        }
    }
  error_free (&perr);
  if (msg)
    log_warn (MOD, "%s: %s", j->ecr ? "ECR GetAuthorizationToken" : "Secrets Manager", msg);
  job_done (j, msg ? NULL : &rc, msg);
  aws_registry_creds_clear (&rc);
}

static void
fail_timer_cb (uv_timer_t *t)
{
  struct auth_job *j = t->data;
  cleanup_free char *msg = j->fail_msg;
  j->fail_msg = NULL;
  job_done (j, NULL, msg);
}

/* Report msg to the waiters from the loop, never from inside the pull
   that started the job (the engine is in the middle of a step then). */
static void
job_fail_later (struct auth_job *j, const char *msg)
{
  free (j->fail_msg);
  j->fail_msg = xstrdup (msg);
  if (!j->fail_timer)
    {
      j->fail_timer = xcalloc (1, sizeof *j->fail_timer);
      uv_timer_init (j->e->loop, j->fail_timer);
      j->fail_timer->data = j;
    }
  uv_timer_start (j->fail_timer, fail_timer_cb, 0, 0);
}

/* Poll of a wait for the execution-role credentials ACS has not sent yet
   (a task restored from the checkpoint): the pull goes on once they are in
   the store; after ENGINE_EXEC_CREDS_WAIT_MS it fails as without them. */
static void
wait_tick_cb (uv_timer_t *t)
{
  struct auth_job *j = t->data;
  engine_t *e = j->e;
  struct op *op = j->n_waiters ? j->waiters[0] : NULL;
  const struct task_role_credentials *c
      = op && e->creds
            ? task_creds_store_for_task (e->creds, op->t->arn, TASK_CREDS_EXECUTION_ROLE)
            : NULL;
  if (op && exec_creds_present (c))
    {
      j->n_waiters = 0;
      job_free (j);
      op->handle = NULL;
      engine_op_pull (e, op);
      return;
    }
  if (uv_now (e->loop) >= j->wait_until)
    {
      uv_timer_stop (t);
      cleanup_free char *msg = j->fail_msg;
      j->fail_msg = NULL;
      job_done (j, NULL, msg);
    }
}

static void
job_wait_exec_creds (struct auth_job *j, const char *fail_msg)
{
  j->fail_msg = xstrdup (fail_msg);
  j->wait_until = uv_now (j->e->loop) + ENGINE_EXEC_CREDS_WAIT_MS;
  j->fail_timer = xcalloc (1, sizeof *j->fail_timer);
  uv_timer_init (j->e->loop, j->fail_timer);
  j->fail_timer->data = j;
  uv_timer_start (j->fail_timer, wait_tick_cb, ENGINE_EXEC_CREDS_POLL_MS, ENGINE_EXEC_CREDS_POLL_MS);
}

/* The task's execution-role credentials are known by id but have not come
   (yet) from ACS. */
static bool
exec_creds_expected (const engine_t *e, const struct task *t)
{
  if (!e->creds || !t->execution_credentials_id || !*t->execution_credentials_id)
    return false;
  const struct task_creds_entry *en = task_creds_store_get (e->creds, t->execution_credentials_id);
  return en && !en->creds;
}

static void
job_call (struct auth_job *j, const struct aws_credentials *creds)
{
  struct aws_json_request req = {
    .endpoint = j->endpoint, .region = j->region,
    .service = j->ecr ? AWS_ECR_SIGNING_NAME : AWS_SM_SIGNING_NAME,
    .target = j->ecr ? AWS_ECR_TARGET : AWS_SM_TARGET, .body = j->body, .creds = creds,
    .timeout_ms = j->ecr ? ENGINE_ECR_CALL_TIMEOUT_MS : ENGINE_ASM_CALL_TIMEOUT_MS,
  };
  agent_error_t err = NULL;
  j->call = aws_json_call_start (j->e->http, &req, call_done_cb, j, &err);
  if (!j->call)
    {
      cleanup_free char *msg = j->ecr ? xstrdup (error_msg (&err))
                                      : xasprintf ("asm fetching secret from the service for %s: %s",
                                                   j->secret_id, error_msg (&err));
      error_free (&err);
      job_fail_later (j, msg);
    }
}

static void
instance_creds_cb (const struct aws_credentials *creds, agent_error_t err, void *data)
{
  struct auth_job *j = data;
  j->waiting_instance = false;
  if (!creds)
    {
      cleanup_free char *msg = xasprintf ("no instance credentials: %s",
                                          err ? error_msg (&err) : "unknown error");
      job_fail_later (j, msg);
      return;
    }
  job_call (j, creds);
}

static struct auth_job *
job_find (struct engine_pull_auth *pa, const char *key)
{
  struct auth_job *j;
  LIST_FOREACH (j, &pa->jobs, link)
  if (strcmp (j->key, key) == 0)
    return j;
  return NULL;
}

static void
job_wait (struct auth_job *j, struct op *op)
{
  j->waiters = xrealloc (j->waiters, (j->n_waiters + 1) * sizeof *j->waiters);
  j->waiters[j->n_waiters++] = op;
  op->kind = OP_PULL_AUTH;
  op->handle = j;
}

void
engine_pull_auth_cancel (struct op *op)
{
  struct auth_job *j = op->handle;
  op->handle = NULL;
  if (!j)
    return;
  for (size_t i = 0; i < j->n_waiters; i++)
    if (j->waiters[i] == op)
      {
        j->waiters[i] = j->waiters[--j->n_waiters];
        break;
      }
  if (j->n_waiters == 0)
    job_free (j);
}

static struct aws_credentials *
role_creds (const struct task_role_credentials *c)
{
  struct aws_credentials a = { .access_key_id = c->access_key_id,
                               .secret_access_key = c->secret_access_key,
                               .session_token = c->session_token && *c->session_token ? c->session_token
                                                                                      : NULL };
  struct aws_credentials *d = aws_credentials_dup (&a);
  aws_credentials_register_secrets (d);
  return d;
}

static struct auth_job *
job_new (engine_t *e, bool ecr, const char *key, const struct task *t,
         const struct task_registry_auth *ra)
{
  struct auth_job *j = xcalloc (1, sizeof *j);
  j->e = e;
  j->ecr = ecr;
  j->key = xstrdup (key);
  j->task_arn = xstrdup (t->arn);
  j->secret_id = xstrdup (ra->credentials_parameter ? ra->credentials_parameter : "");
  j->region = xstrdup (ra->region ? ra->region : "");
  LIST_INSERT_HEAD (&e->pull_auth->jobs, j, link);
  return j;
}

void
engine_op_pull (engine_t *e, struct op *op)
{
  struct task *t = op->t;
  struct task_container *c = &t->containers[op->ci];
  const struct task_registry_auth *ra = &c->registry_auth;
  if (ra->type == TASK_REGISTRY_AUTH_NONE)
    {
      cleanup_free char *auth = e->auth ? docker_auth_for_image (e->auth, c->image) : NULL;
      pull_with (e, op, auth);
      return;
    }
  struct engine_pull_auth *pa = pull_auth_of (e);
  bool ecr = ra->type == TASK_REGISTRY_AUTH_ECR;
  const struct task_role_credentials *exec
      = e->creds ? task_creds_store_for_task (e->creds, t->arn, TASK_CREDS_EXECUTION_ROLE) : NULL;
  struct engine_pull_auth_choice ch = engine_pull_auth_choose (ra, exec, e->instance_creds != NULL);
  const char *fail = ch.err_msg;
  if (!fail && !e->http)
    fail = "no AWS client to fetch registry credentials";
  bool by_exec_role = !ecr || ra->use_execution_role;
  if (fail && ch.err_msg && by_exec_role && exec_creds_expected (e, t))
    {
      cleanup_free char *wkey = xasprintf ("!wait%p", (void *) op);
      struct auth_job *w = job_new (e, ecr, wkey, t, ra);
      job_wait (w, op);
      log_info (MOD, "task %s container %s: waiting for the execution role credentials to pull %s",
                t->arn, c->name, c->image);
      job_wait_exec_creds (w, ch.err_msg);
      return;
    }
  if (fail)
    {
      /* a job of its own, only to report the failure from the loop */
      cleanup_free char *fkey = xasprintf ("!%p", (void *) op);
      job_wait (job_new (e, ecr, fkey, t, ra), op);
      cleanup_free char *msg = ecr || ch.kind == ENGINE_PULL_AUTH_FAIL_TASK
                                   ? xstrdup (fail)
                                   : xasprintf ("asm fetching secret from the service for %s: %s",
                                                ra->credentials_parameter, fail);
      job_fail_later (op->handle, msg);
      return;
    }
  bool by_exec = ch.kind != ENGINE_PULL_AUTH_ECR_INSTANCE;
  cleanup_free char *key
      = ecr ? aws_ecr_cache_key (by_exec ? exec->credentials_id : "", by_exec ? exec->role_arn : "",
                                 ra->region, ra->registry_id, ra->endpoint_override)
            : xasprintf ("%s\n%s\n%s", t->arn, ra->credentials_parameter, ra->region);
  if (ecr)
    {
      const struct aws_registry_creds *hit = aws_ecr_cache_get (pa->ecr, key, time (NULL), random01 ());
      if (hit)
        {
          pull_with_creds (e, op, hit);
          return;
        }
    }
  else
    {
      struct asm_result *r;
      LIST_FOREACH (r, &pa->asm_results, link)
      if (strcmp (r->key, key) == 0)
        {
          pull_with_creds (e, op, &r->creds);
          return;
        }
    }
  struct auth_job *j = job_find (pa, key);
  if (j)
    {
      job_wait (j, op);
      return;
    }
  j = job_new (e, ecr, key, t, ra);
  job_wait (j, op);
  agent_error_t err = NULL;
  j->endpoint = ecr ? aws_ecr_endpoint (ra->endpoint_override, ra->region, &err)
                    : aws_service_endpoint ("SECRETS_MANAGER", ra->region);
  if (!j->endpoint)
    {
      cleanup_free char *msg
          = ecr ? xstrdup (error_msg (&err))
                : xasprintf ("asm fetching secret from the service for %s: no Secrets Manager "
                             "endpoint for region '%s'", ra->credentials_parameter, ra->region);
      error_free (&err);
      job_fail_later (j, msg);
      return;
    }
  j->body = ecr ? aws_ecr_request_body (ra->registry_id)
                : aws_sm_registry_request_body (ra->credentials_parameter);
  log_info (MOD, "task %s container %s: fetching registry credentials for %s (%s)", t->arn, c->name,
            c->image, ecr ? "ECR" : "Secrets Manager");
  if (!by_exec)
    {
      j->waiting_instance = true;
      aws_creds_fetch (e->instance_creds, instance_creds_cb, j); /* may answer at once */
      return;
    }
  j->creds = role_creds (exec);
  job_call (j, j->creds);
}
