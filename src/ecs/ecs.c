/* ecs/ecs.c - the async ECS JSON 1.1 client (see ecs.h). */
#include "ecs/ecs.h"
#include "aws/sigv4.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#define MOD "ecs"

struct ecs_client
{
  uv_loop_t *loop;
  http_client_t *http;
  char *endpoint; /* no trailing '/' */
  char *url;      /* endpoint + "/" */
  char *region;
  bool insecure;
  char *user_agent;
  aws_creds_provider_t *creds;
  long timeout_ms;
  struct ecs_retry_policy retry;
  time_t (*now) (void);
  LIST_HEAD (ecs_call_list, ecs_call) calls; /* in flight */
  char *availability_zone; /* from the last registration */
};

enum op_kind
{
  OP_REGISTER,
  OP_DISCOVER,
  OP_SUBMIT,
  OP_CREATE_CLUSTER,
  OP_RAW,
};

struct ecs_call
{
  ecs_client_t *c;
  LIST_ENTRY (ecs_call) link;
  bool linked; /* on c->calls */
  enum op_kind kind;
  char *op;
  char *body;
  long timeout_ms;
  int attempt;
  int max_retries;
  bool expired_retry_done;
  struct backoff bo;
  uv_timer_t *timer;
  http_call_t *http;
  bool waiting_creds;
  /* register: create the default cluster once when it does not exist */
  bool may_create_cluster;
  char *register_body;
  ecs_register_cb reg_cb;
  ecs_discover_cb disc_cb;
  ecs_submit_cb sub_cb;
  ecs_raw_cb raw_cb;
  void *data;
};

/* ---- client -------------------------------------------------------------- */

ecs_client_t *
ecs_client_new (uv_loop_t *loop, http_client_t *http, const struct ecs_client_options *opts,
                agent_error_t *err)
{
  if (!loop || !http || !opts || !opts->creds)
    {
      error_set (err, ERR_INVALID, "ecs client: loop, http client and credentials are required");
      return NULL;
    }
  if (!opts->region || !*opts->region)
    {
      error_set (err, ERR_INVALID, "ecs client: region is required");
      return NULL;
    }
  char *ep = NULL;
  if (ecs_endpoint_url (opts->endpoint, opts->region, &ep, err) < 0)
    return NULL;
  ecs_client_t *c = xcalloc (1, sizeof *c);
  LIST_INIT (&c->calls);
  c->loop = loop;
  c->http = http;
  c->endpoint = ep;
  /* POST / : keep any base path the endpoint carries */
  const char *host = strstr (ep, "://") + 3;
  (void) host;
  c->url = xasprintf ("%s/", ep);
  c->region = xstrdup (opts->region);
  c->insecure = opts->insecure;
  c->user_agent = opts->user_agent ? xstrdup (opts->user_agent)
                                   : ecs_user_agent (AGENT_VERSION, AGENT_GITREV, AGENT_GITDIRTY);
  c->creds = opts->creds;
  c->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 42000;
  c->retry = opts->retry;
  if (c->retry.max_retries == 0)
    c->retry.max_retries = 3;
  if (c->retry.min_ms == 0)
    c->retry.min_ms = 100;
  if (c->retry.max_ms == 0)
    c->retry.max_ms = 5000;
  if (c->retry.jitter == 0)
    c->retry.jitter = 0.2;
  if (c->retry.mult == 0)
    c->retry.mult = 2.0;
  c->now = opts->now;
  return c;
}

const char *
ecs_client_endpoint (const ecs_client_t *c)
{
  return c->endpoint;
}

const char *
ecs_client_availability_zone (const ecs_client_t *c)
{
  return c->availability_zone;
}

/* ---- calls ----------------------------------------------------------------- */

static void attempt (struct ecs_call *call);

static void
timer_closed_cb (uv_handle_t *h)
{
  free (h);
}

static void
call_unlink (struct ecs_call *call)
{
  if (call->linked)
    LIST_REMOVE (call, link);
  call->linked = false;
}

static void creds_cb (const struct aws_credentials *creds, agent_error_t err, void *data);

/* Stop everything the call has pending and free it (no callback). */
static void
call_destroy (struct ecs_call *call)
{
  if (call->http)
    http_call_cancel (call->http);
  call->http = NULL;
  if (call->waiting_creds)
    aws_creds_fetch_cancel (call->c->creds, creds_cb, call);
  call_unlink (call);
  if (call->timer)
    {
      uv_timer_stop (call->timer);
      uv_close ((uv_handle_t *) call->timer, timer_closed_cb);
    }
  free (call->op);
  free (call->body);
  free (call->register_body);
  free (call);
}

void
ecs_call_cancel (ecs_call_t *call)
{
  if (call)
    call_destroy (call);
}

void
ecs_client_free (ecs_client_t *c)
{
  if (!c)
    return;
  while (!LIST_EMPTY (&c->calls))
    call_destroy (LIST_FIRST (&c->calls));
  free (c->endpoint);
  free (c->url);
  free (c->region);
  free (c->user_agent);
  free (c->availability_zone);
  free (c);
}

/* Final outcome: run the callback, then free.  The call is unlinked first so
   the callback may free the client or cancel other calls. */
static void
call_finish (struct ecs_call *call, const char *body, size_t len, agent_error_t err)
{
  call_unlink (call);
  switch (call->kind)
    {
    case OP_REGISTER:
    case OP_CREATE_CLUSTER:
      {
        if (err)
          call->reg_cb (NULL, err, call->data);
        else if (call->kind == OP_REGISTER)
          {
            struct ecs_register_resp r;
            agent_error_t perr = NULL;
            if (ecs_parse_register_resp (body, len, &r, &perr) < 0)
              call->reg_cb (NULL, perr, call->data);
            else
              {
                if (r.availability_zone && *r.availability_zone)
                  {
                    free (call->c->availability_zone);
                    call->c->availability_zone = xstrdup (r.availability_zone);
                  }
                call->reg_cb (r.container_instance_arn, NULL, call->data);
              }
            error_free (&perr);
            ecs_register_resp_clear (&r);
          }
        else
          {
            char *name = NULL;
            agent_error_t perr = NULL;
            if (ecs_parse_cluster_name (body, len, &name, &perr) < 0)
              call->reg_cb (NULL, perr, call->data);
            else
              call->reg_cb (name, NULL, call->data);
            error_free (&perr);
            free (name);
          }
        break;
      }
    case OP_DISCOVER:
      if (err)
        call->disc_cb (NULL, NULL, err, call->data);
      else
        {
          struct ecs_discover_resp r;
          agent_error_t perr = NULL;
          if (ecs_parse_discover_resp (body, len, &r, &perr) < 0)
            call->disc_cb (NULL, NULL, perr, call->data);
          else
            call->disc_cb (r.endpoint, r.telemetry_endpoint, NULL, call->data);
          error_free (&perr);
          ecs_discover_resp_clear (&r);
        }
      break;
    case OP_SUBMIT:
      call->sub_cb (err, call->data);
      break;
    case OP_RAW:
      call->raw_cb (err ? NULL : body, err ? 0 : len, err, call->data);
      break;
    }
  /* The call is unlinked: destroy without touching the client. */
  if (call->timer)
    {
      uv_timer_stop (call->timer);
      uv_close ((uv_handle_t *) call->timer, timer_closed_cb);
      call->timer = NULL;
    }
  free (call->op);
  free (call->body);
  free (call->register_body);
  free (call);
}

static void
timer_cb (uv_timer_t *t)
{
  attempt (t->data);
}

/* A failed attempt: retry later if retriable and allowed, else report. */
static void
attempt_failed (struct ecs_call *call, agent_error_t err)
{
  int kind = error_kind (&err);
  if (kind == ERR_AUTH && !call->expired_retry_done)
    {
      /* expired session token: drop cached credentials, retry at once */
      call->expired_retry_done = true;
      aws_creds_invalidate (call->c->creds);
    }
  if (ecs_error_retriable (kind)
      && (call->max_retries < 0 || call->attempt <= call->max_retries))
    {
      uint64_t d = backoff_next (&call->bo);
      log_debug (MOD, "%s failed (%s); retry %d in %llu ms", call->op, error_msg (&err),
                 call->attempt, (unsigned long long) d);
      error_free (&err);
      uv_timer_start (call->timer, timer_cb, d, 0);
      return;
    }
  error_wrap (&err, "%s", call->op);
  call_finish (call, NULL, 0, err);
  /* call_finish does not free err: the callback borrowed it */
  error_free (&err);
}

static void start_create_cluster (struct ecs_call *call);

static void
http_done (const struct http_response *resp, agent_error_t herr, void *data)
{
  struct ecs_call *call = data;
  call->http = NULL;
  if (herr)
    {
      agent_error_t err = NULL;
      /* herr belongs to the http module: copy it */
      error_set_status (&err, error_kind (&herr), herr->status, "%s", error_msg (&herr));
      attempt_failed (call, err);
      return;
    }
  agent_error_t err = NULL;
  if (ecs_classify_response (resp->status, resp->body, resp->body_len, &err) < 0)
    {
      if (call->kind == OP_REGISTER && call->may_create_cluster
          && strncmp (error_msg (&err), "ClusterNotFoundException", 24) == 0)
        {
          error_free (&err);
          start_create_cluster (call);
          return;
        }
      attempt_failed (call, err);
      return;
    }
  if (call->kind == OP_CREATE_CLUSTER && call->register_body)
    {
      /* the default cluster exists now: register again */
      log_info (MOD, "created cluster default");
      call->kind = OP_REGISTER;
      free (call->op);
      call->op = xstrdup ("RegisterContainerInstance");
      free (call->body);
      call->body = call->register_body;
      call->register_body = NULL;
      call->may_create_cluster = false;
      call->attempt = 0;
      backoff_reset (&call->bo);
      attempt (call);
      return;
    }
  call_finish (call, resp->body ? resp->body : "", resp->body ? resp->body_len : 0, NULL);
}

static void
creds_cb (const struct aws_credentials *creds, agent_error_t cerr, void *data)
{
  struct ecs_call *call = data;
  ecs_client_t *c = call->c;
  call->waiting_creds = false;
  agent_error_t err = NULL;
  if (!creds)
    {
      error_set (&err, ERR_AUTH, "no AWS credentials: %s", cerr ? error_msg (&cerr) : "unknown");
      attempt_failed (call, err);
      return;
    }
  cleanup_free char *target = xasprintf (ECS_TARGET_PREFIX "%s", call->op);
  struct http_header sh[] = { { "X-Amz-Target", target } };
  struct aws_sigv4_input in = {
    .method = "POST", .url = c->url, .headers = sh, .n_headers = 1, .body = call->body,
    .body_len = strlen (call->body), .region = c->region, .service = "ecs",
    .now = c->now ? c->now () : time (NULL),
  };
  struct aws_sigv4_output out;
  if (aws_sigv4_sign (&in, creds, &out, &err) < 0)
    {
      error_wrap (&err, "signing");
      /* not retriable: a bug or bad credentials */
      if (error_kind (&err) == ERR_AUTH)
        err->kind = ERR_CLIENT;
      call->max_retries = 0;
      attempt_failed (call, err);
      return;
    }
  struct http_header h[16];
  size_t nh = 0;
  h[nh++] = (struct http_header){ "Content-Type", ECS_CONTENT_TYPE };
  h[nh++] = (struct http_header){ "X-Amz-Target", target };
  h[nh++] = (struct http_header){ "User-Agent", c->user_agent };
  for (size_t i = 0; i < out.n_headers && nh < ARRAY_SIZE (h); i++)
    h[nh++] = out.headers[i];
  struct http_request req = {
    .method = "POST", .url = c->url, .headers = h, .n_headers = nh, .body = call->body,
    .body_len = strlen (call->body), .timeout_ms = call->timeout_ms,
    .connect_timeout_ms = 30000, .insecure = c->insecure, .on_done = http_done, .data = call,
  };
  call->attempt++;
  call->http = http_call_start (c->http, &req, &err);
  aws_sigv4_output_free (&out);
  if (!call->http)
    attempt_failed (call, err);
}

static void
attempt (struct ecs_call *call)
{
  call->waiting_creds = true;
  /* may call creds_cb synchronously */
  aws_creds_fetch (call->c->creds, creds_cb, call);
}

static void
start_create_cluster (struct ecs_call *call)
{
  log_info (MOD, "cluster default not found: creating it");
  call->register_body = call->body;
  call->body = xstrdup ("{\"clusterName\":\"default\"}");
  call->kind = OP_CREATE_CLUSTER;
  free (call->op);
  call->op = xstrdup ("CreateCluster");
  call->attempt = 0;
  backoff_reset (&call->bo);
  attempt (call);
}

static struct ecs_call *
call_new (ecs_client_t *c, enum op_kind kind, const char *op, char *body, void *data)
{
  struct ecs_call *call = xcalloc (1, sizeof *call);
  call->c = c;
  call->kind = kind;
  call->op = xstrdup (op);
  call->body = body;
  call->data = data;
  call->timeout_ms = c->timeout_ms;
  call->max_retries = c->retry.max_retries;
  backoff_init (&call->bo, c->retry.min_ms, c->retry.max_ms, c->retry.jitter, c->retry.mult);
  call->timer = xcalloc (1, sizeof *call->timer);
  uv_timer_init (c->loop, call->timer);
  call->timer->data = call;
  LIST_INSERT_HEAD (&c->calls, call, link);
  call->linked = true;
  /* first attempt from the loop: callbacks never run inside the caller */
  uv_timer_start (call->timer, timer_cb, 0, 0);
  return call;
}

ecs_call_t *
ecs_register_container_instance (ecs_client_t *c, const struct ecs_register_req *req,
                                 ecs_register_cb cb, void *data)
{
  struct ecs_call *call
      = call_new (c, OP_REGISTER, "RegisterContainerInstance", ecs_build_register (req), data);
  call->reg_cb = cb;
  call->may_create_cluster = !req->cluster || !*req->cluster || strcmp (req->cluster, "default") == 0;
  return call;
}

ecs_call_t *
ecs_create_cluster (ecs_client_t *c, const char *name, ecs_register_cb cb, void *data)
{
  json_t *o = json_pack ("{s:s}", "clusterName", name && *name ? name : "default");
  char *body = o ? json_dumps (o, JSON_COMPACT) : xstrdup ("{\"clusterName\":\"default\"}");
  json_decref (o);
  struct ecs_call *call = call_new (c, OP_CREATE_CLUSTER, "CreateCluster", body, data);
  call->reg_cb = cb;
  return call;
}

ecs_call_t *
ecs_discover_poll_endpoint (ecs_client_t *c, const char *instance_arn, const char *cluster,
                            ecs_discover_cb cb, void *data)
{
  struct ecs_call *call = call_new (c, OP_DISCOVER, "DiscoverPollEndpoint",
                                    ecs_build_discover (instance_arn, cluster), data);
  call->disc_cb = cb;
  call->timeout_ms = c->timeout_ms * 3;
  return call;
}

ecs_call_t *
ecs_submit_task_state_change (ecs_client_t *c, const struct ecs_task_state_change *chg,
                              ecs_submit_cb cb, void *data)
{
  struct ecs_call *call = call_new (c, OP_SUBMIT, "SubmitTaskStateChange",
                                    ecs_build_task_state_change (chg), data);
  call->sub_cb = cb;
  return call;
}

ecs_call_t *
ecs_submit_container_state_change (ecs_client_t *c, const struct ecs_container_state_change *chg,
                                   ecs_submit_cb cb, void *data)
{
  struct ecs_call *call = call_new (c, OP_SUBMIT, "SubmitContainerStateChange",
                                    ecs_build_container_state_change (chg), data);
  call->sub_cb = cb;
  return call;
}

ecs_call_t *
ecs_call_raw (ecs_client_t *c, const char *operation, const char *json_body, ecs_raw_cb cb,
              void *data)
{
  struct ecs_call *call
      = call_new (c, OP_RAW, operation, xstrdup (json_body ? json_body : "{}"), data);
  call->raw_cb = cb;
  return call;
}
