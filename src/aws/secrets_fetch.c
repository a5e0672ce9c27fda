/* aws/secrets_fetch.c - the calls of a secret resource's fetch, their
 * retries and the outcome (see secrets_fetch.h). */
#include "aws/secrets_fetch.h"
#include "aws/json_rpc.h"
#include "aws/secrets_wire.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include <stdlib.h>
#include <string.h>

#define MOD "secrets"

struct fcall
{
  aws_secrets_fetch_t *f;
  char *region;
  char *body;
  struct aws_asm_ref ref; /* Secrets Manager */
  char *key;              /* Secrets Manager: where the value goes */
  int attempts;
  uint64_t due_ms; /* loop ms of the next attempt, 0 = none due */
  struct backoff backoff;
  aws_json_call_t *call;
  char *error; /* the call's final error text, NULL = none */
  bool done;
};

struct aws_secrets_fetch
{
  uv_loop_t *loop;
  http_client_t *http;
  struct aws_credentials *creds;
  bool insecure;
  enum task_secret_provider provider;
  struct fcall *calls;
  size_t n_calls, n_done;
  struct task_secret_resource values;
  aws_secrets_done_cb done;
  void *data;
  uv_timer_t timer; /* retries due, and the end of a fetch with no call */
  bool finished;    /* done called (or cancelled): nothing more happens */
};

static void fetch_timer_cb (uv_timer_t *h);

static void
fetch_closed_cb (uv_handle_t *h)
{
  aws_secrets_fetch_t *f = h->data;
  for (size_t i = 0; i < f->n_calls; i++)
    {
      struct fcall *c = &f->calls[i];
      aws_json_call_cancel (c->call);
      free (c->region);
      free (c->body);
      aws_asm_ref_clear (&c->ref);
      free (c->key);
      free (c->error);
    }
  free (f->calls);
  task_secret_resource_clear (&f->values);
  aws_credentials_free (f->creds);
  free (f);
}

static void
fetch_free (aws_secrets_fetch_t *f)
{
  f->finished = true;
  for (size_t i = 0; i < f->n_calls; i++)
    {
      aws_json_call_cancel (f->calls[i].call);
      f->calls[i].call = NULL;
    }
  uv_timer_stop (&f->timer);
  uv_close ((uv_handle_t *) &f->timer, fetch_closed_cb);
}

void
aws_secrets_fetch_cancel (aws_secrets_fetch_t *f)
{
  if (f && !f->finished)
    fetch_free (f);
}

/* Every call ended: the values, or the errors joined with ";". */
static void
fetch_finish (aws_secrets_fetch_t *f)
{
  struct sbuf b = { 0 };
  for (size_t i = 0; i < f->n_calls; i++)
    if (f->calls[i].error)
      sbuf_printf (&b, "%s%s", b.len ? ";" : "", f->calls[i].error);
  cleanup_free char *errors = b.len ? sbuf_steal (&b) : NULL;
  sbuf_free (&b);
  f->finished = true;
  f->done (errors ? NULL : &f->values, errors, f->data);
  fetch_free (f);
}

static void
call_ended (struct fcall *c, char *error)
{
  c->error = error;
  c->done = true;
  c->f->n_done++;
  if (c->f->n_done == c->f->n_calls)
    fetch_finish (c->f);
}

static const char *
service_name (enum task_secret_provider p)
{
  return p == TASK_SECRET_ASM ? "Secrets Manager" : "SSM Parameter Store";
}

/* The text of a call's final error. */
static char *
call_error_text (const struct fcall *c, const char *e)
{
  if (c->f->provider == TASK_SECRET_SSM)
    return aws_ssm_error_text (c->region, e);
  return aws_asm_error_text (c->ref.secret_id, aws_secrets_is_not_found (e), e);
}

static bool
retriable (int kind)
{
  return kind == ERR_SERVER || kind == ERR_UNREACHABLE || kind == ERR_TIMEOUT || kind == ERR_IO
         || kind == ERR_GENERIC;
}

/* A 2xx answer: the values it carries, or the call's error. */
static char *
call_answered (struct fcall *c, const char *body, size_t len)
{
  aws_secrets_fetch_t *f = c->f;
  agent_error_t err = NULL;
  char *error = NULL;
  if (f->provider == TASK_SECRET_SSM)
    {
      struct aws_ssm_response r;
      if (aws_ssm_parse_response (body, len, &r, &err) < 0)
        error = call_error_text (c, error_msg (&err));
      else
        {
          char *invalid = aws_ssm_apply (&r, c->region, &f->values);
          if (invalid)
            error = call_error_text (c, invalid);
          free (invalid);
          aws_ssm_response_clear (&r);
        }
    }
  else
    {
      char *ss = NULL, *value = NULL, *etext = NULL;
      if (aws_asm_parse_response (body, len, &ss, &err) < 0)
        error = call_error_text (c, error_msg (&err));
      else if (aws_asm_extract (ss, c->ref.json_key, &value, &etext) < 0)
        error = etext;
      else
        task_secret_resource_put (&f->values, c->key, value);
      if (value)
        {
          memset (value, 0, strlen (value));
          free (value);
        }
      if (ss)
        {
          memset (ss, 0, strlen (ss));
          free (ss);
        }
    }
  error_free (&err);
  return error;
}

static void call_start (struct fcall *c);

static void
call_done_cb (const char *body, size_t len, agent_error_t err, void *data)
{
  struct fcall *c = data;
  aws_secrets_fetch_t *f = c->f;
  c->call = NULL;
  if (!err)
    {
      if (c->attempts > 1)
        log_info (MOD, "%s in %s answered again", service_name (f->provider), c->region);
      call_ended (c, call_answered (c, body, len));
      return;
    }
  if (retriable (err->kind) && c->attempts < AWS_SECRETS_ATTEMPTS)
    {
      uint64_t d = backoff_next (&c->backoff);
      if (c->attempts == 1)
        log_warn (MOD, "%s in %s failing (%s); retrying", service_name (f->provider), c->region,
                  err->msg);
      c->due_ms = uv_now (f->loop) + d;
      uint64_t next = UINT64_MAX;
      for (size_t i = 0; i < f->n_calls; i++)
        if (f->calls[i].due_ms && f->calls[i].due_ms < next)
          next = f->calls[i].due_ms;
      uint64_t now = uv_now (f->loop);
      uv_timer_start (&f->timer, fetch_timer_cb, next > now ? next - now : 0, 0);
      return;
    }
  call_ended (c, call_error_text (c, err->msg));
}

static void
call_start (struct fcall *c)
{
  aws_secrets_fetch_t *f = c->f;
  bool asm_ = f->provider == TASK_SECRET_ASM;
  cleanup_free char *endpoint = aws_service_endpoint (asm_ ? "SECRETS_MANAGER" : "SSM", c->region);
  c->attempts++;
  c->due_ms = 0;
  agent_error_t err = NULL;
  if (endpoint)
    {
      struct aws_json_request req = { .endpoint = endpoint,
                                      .region = c->region,
                                      .service = asm_ ? "secretsmanager" : "ssm",
                                      .target = asm_ ? AWS_ASM_TARGET : AWS_SSM_TARGET,
                                      .body = c->body,
                                      .creds = f->creds,
                                      .timeout_ms = AWS_SECRETS_CALL_TIMEOUT_MS,
                                      .insecure = f->insecure };
      c->call = aws_json_call_start (f->http, &req, call_done_cb, c, &err);
      if (c->call)
        return;
    }
  else
    error_set (&err, ERR_INVALID, "no endpoint for region \"%s\"", c->region);
  /* no call could be made: a client that cannot be created */
  char *text = xasprintf ("unable to create %s client in %s: %s", asm_ ? "Secrets Manager" : "SSM",
                          c->region, error_msg (&err));
  error_free (&err);
  call_ended (c, text);
}

static void
fetch_timer_cb (uv_timer_t *h)
{
  aws_secrets_fetch_t *f = h->data;
  if (f->finished)
    return;
  if (f->n_done == f->n_calls) /* no call to make */
    {
      fetch_finish (f);
      return;
    }
  uint64_t now = uv_now (f->loop);
  for (size_t i = 0; i < f->n_calls && !f->finished; i++)
    if (f->calls[i].due_ms && f->calls[i].due_ms <= now)
      call_start (&f->calls[i]);
  if (f->finished)
    return;
  uint64_t next = UINT64_MAX;
  for (size_t i = 0; i < f->n_calls; i++)
    if (f->calls[i].due_ms && f->calls[i].due_ms < next)
      next = f->calls[i].due_ms;
  if (next != UINT64_MAX)
    uv_timer_start (&f->timer, fetch_timer_cb, next > now ? next - now : 0, 0);
}

static void
plan_calls (aws_secrets_fetch_t *f, const struct aws_secrets_fetch_req *req)
{
  if (req->provider == TASK_SECRET_SSM)
    {
      struct aws_ssm_batch *b = NULL;
      size_t nb = aws_ssm_plan (req->secrets, req->n, NULL, &b);
      f->calls = xcalloc (nb ? nb : 1, sizeof *f->calls);
      for (size_t i = 0; i < nb; i++)
        {
          f->calls[i].region = xstrdup (b[i].region);
          f->calls[i].body = aws_ssm_request_body (&b[i]);
        }
      f->n_calls = nb;
      free (b);
      return;
    }
  size_t *idx = NULL;
  size_t k = aws_asm_plan (req->secrets, req->n, NULL, &idx);
  f->calls = xcalloc (k ? k : 1, sizeof *f->calls);
  for (size_t i = 0; i < k; i++)
    {
      const struct task_secret *s = req->secrets[idx[i]];
      struct fcall *c = &f->calls[i];
      c->region = xstrdup (s->region);
      c->key = task_secret_key (s);
      if (aws_asm_parse_value_from (s->value_from, &c->ref, &c->error) == 0)
        c->body = aws_asm_request_body (&c->ref);
      else
        c->done = true; /* its error is known already */
    }
  f->n_calls = k;
  free (idx);
}

aws_secrets_fetch_t *
aws_secrets_fetch_start (uv_loop_t *loop, http_client_t *http, const struct aws_secrets_fetch_req *req,
                         aws_secrets_done_cb done, void *data)
{
  aws_secrets_fetch_t *f = xcalloc (1, sizeof *f);
  f->loop = loop;
  f->http = http;
  f->creds = req->creds ? aws_credentials_dup (req->creds) : NULL;
  f->insecure = req->insecure;
  f->provider = req->provider;
  f->done = done;
  f->data = data;
  uv_timer_init (loop, &f->timer);
  f->timer.data = f;
  plan_calls (f, req);
  for (size_t i = 0; i < f->n_calls; i++)
    {
      struct fcall *c = &f->calls[i];
      c->f = f;
      backoff_init (&c->backoff, AWS_SECRETS_RETRY_MIN_MS, AWS_SECRETS_RETRY_MAX_MS, 0.2, 2.0);
      if (c->done)
        f->n_done++;
      else
        c->due_ms = 1; /* due at once: started from the timer, never before start returns */
    }
  uv_timer_start (&f->timer, fetch_timer_cb, 0, 0);
  return f;
}
