/* aws/imds.c - async EC2 instance metadata client (see imds.h). */
#include "aws/imds.h"
#include "core/time.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MOD "imds"
/* The token PUT is answered at once by IMDS; a hop limit of 1 (containers
   behind a bridge) makes it time out instead: do not wait long. */
#define TOKEN_TIMEOUT_MS 2000
/* After falling back to v1, use v1 for this long before trying v2 again
   (a 401 on a v1 GET switches back to v2 at once). */
#define V1_STICKY_MS (5 * 60 * 1000)

struct imds_client
{
  uv_loop_t *loop;
  http_client_t *http;
  char *base;
  long connect_timeout_ms, timeout_ms, token_ttl_s;
  bool v1_only;
  char *token;
  uint64_t token_expiry_ms; /* monotonic */
  uint64_t v1_until_ms;     /* after a fallback: skip the token PUT until then */
  bool used_v2;
  struct imds_call *calls; /* in flight */
};

enum call_kind
{
  CALL_GET,
  CALL_IDENTITY,
  CALL_CREDS,
};

struct imds_call
{
  imds_client_t *c;
  struct imds_call *prev, *next;
  enum call_kind kind;
  int phase;
  char *path;
  http_call_t *http;
  bool retried_401;
  bool with_token; /* current GET carries the token */
  imds_get_cb get_cb;
  imds_identity_cb id_cb;
  imds_creds_cb creds_cb;
  void *data;
  struct imds_identity id;
  bool starting;
  agent_error_t start_err;
};

static void start_path (struct imds_call *call, const char *path);

static void
call_unlink (struct imds_call *call)
{
  imds_client_t *c = call->c;
  if (call->prev)
    call->prev->next = call->next;
  else if (c->calls == call)
    c->calls = call->next;
  if (call->next)
    call->next->prev = call->prev;
  call->prev = call->next = NULL;
}

static void
call_free (struct imds_call *call)
{
  free (call->path);
  error_free (&call->start_err);
  imds_identity_clear (&call->id);
  free (call);
}

/* Deliver a failure to whichever callback the call has; frees the call. */
static void
call_fail (struct imds_call *call, agent_error_t err)
{
  if (call->starting)
    {
      error_move (&call->start_err, &err);
      return;
    }
  call_unlink (call);
  switch (call->kind)
    {
    case CALL_GET:
      call->get_cb (NULL, 0, err, call->data);
      break;
    case CALL_IDENTITY:
      call->id_cb (NULL, err, call->data);
      break;
    case CALL_CREDS:
      call->creds_cb (NULL, err, call->data);
      break;
    }
  error_free (&err);
  call_free (call);
}

static int
status_error (long status, const char *what, agent_error_t *err)
{
  int kind = status == 404                   ? ERR_NOT_FOUND
             : (status == 401 || status == 403) ? ERR_AUTH
             : status >= 500                 ? ERR_SERVER
                                             : ERR_CLIENT;
  return error_set_status (err, kind, (int) status, "instance metadata %s: HTTP %ld", what, status);
}

static void
step_done (struct imds_call *call, const char *body, size_t len)
{
  imds_client_t *c = call->c;
  agent_error_t err = NULL;
  switch (call->kind)
    {
    case CALL_GET:
      call_unlink (call);
      call->get_cb (body, len, NULL, call->data);
      call_free (call);
      return;
    case CALL_IDENTITY:
      if (call->phase == 0)
        {
          if (imds_identity_parse (body, len, &call->id, &err) < 0)
            {
              call_fail (call, err);
              return;
            }
          call->phase = 1;
          start_path (call, IMDS_PATH_IDENTITY_SIG);
          return;
        }
      free (call->id.signature);
      call->id.signature = xstrndup (body, len);
      call_unlink (call);
      call->id_cb (&call->id, NULL, call->data);
      call_free (call);
      return;
    case CALL_CREDS:
      if (call->phase == 0)
        {
          cleanup_free char *role = imds_first_role (body, len);
          if (!role)
            {
              error_set (&err, ERR_NOT_FOUND, "instance metadata: no IAM role attached to the instance");
              call_fail (call, err);
              return;
            }
          call->phase = 1;
          cleanup_free char *path = xasprintf ("%s%s", IMDS_PATH_ROLES, role);
          start_path (call, path);
          return;
        }
      {
        struct aws_credentials *cr = NULL;
        if (imds_credentials_parse (body, len, &cr, &err) < 0)
          {
            call_fail (call, err);
            return;
          }
        call_unlink (call);
        call->creds_cb (cr, NULL, call->data);
        aws_credentials_free (cr);
        call_free (call);
      }
      return;
    }
  (void) c;
}

static void
get_done (const struct http_response *resp, agent_error_t herr, void *data)
{
  struct imds_call *call = data;
  call->http = NULL;
  agent_error_t err = NULL;
  if (herr)
    {
      /* herr belongs to the http module: copy it */
      error_set_status (&err, error_kind (&herr), herr->status, "%s", error_msg (&herr));
      error_wrap (&err, "instance metadata GET %s", call->path);
      call_fail (call, err);
      return;
    }
  if (resp->status == 401 && !call->retried_401)
    {
      /* token expired or revoked, or v2 is required after a v1 fallback:
         get a (new) token once */
      imds_client_t *c = call->c;
      free (c->token);
      c->token = NULL;
      c->v1_until_ms = 0;
      call->retried_401 = true;
      cleanup_free char *p = xstrdup (call->path);
      start_path (call, p);
      return;
    }
  if (resp->status != 200)
    {
      if (call->kind == CALL_IDENTITY && call->phase == 1)
        {
          /* signature unavailable: ECS accepts an empty one */
          step_done (call, "", 0);
          return;
        }
      status_error (resp->status, call->path, &err);
      call_fail (call, err);
      return;
    }
  step_done (call, resp->body ? resp->body : "", resp->body ? resp->body_len : 0);
}

static void
do_get (struct imds_call *call, bool with_token)
{
  imds_client_t *c = call->c;
  cleanup_free char *url = xasprintf ("%s%s", c->base, call->path);
  struct http_header h[1];
  size_t nh = 0;
  if (with_token && c->token)
    {
      h[nh].name = "X-aws-ec2-metadata-token";
      h[nh].value = c->token;
      nh++;
    }
  call->with_token = nh > 0;
  c->used_v2 = call->with_token;
  struct http_request req = {
    .method = "GET", .url = url, .headers = h, .n_headers = nh,
    .timeout_ms = c->timeout_ms, .connect_timeout_ms = c->connect_timeout_ms,
    .on_done = get_done, .data = call,
  };
  agent_error_t err = NULL;
  call->http = http_call_start (c->http, &req, &err);
  if (!call->http)
    call_fail (call, err);
}

static void
token_done (const struct http_response *resp, agent_error_t herr, void *data)
{
  struct imds_call *call = data;
  imds_client_t *c = call->c;
  call->http = NULL;
  if (herr)
    {
      int k = error_kind (&herr);
      if (k == ERR_TIMEOUT || k == ERR_UNREACHABLE)
        {
          log_debug (MOD, "IMDSv2 token request failed (%s), falling back to IMDSv1", error_msg (&herr));
          c->v1_until_ms = util_now_ms () + V1_STICKY_MS;
          do_get (call, false);
          return;
        }
      agent_error_t err = NULL;
      /* herr belongs to the http module: copy it */
      error_set_status (&err, error_kind (&herr), herr->status, "%s", error_msg (&herr));
      error_wrap (&err, "instance metadata token");
      call_fail (call, err);
      return;
    }
  if (resp->status == 403 || resp->status == 404 || resp->status == 405)
    {
      log_debug (MOD, "IMDSv2 token refused (HTTP %ld), falling back to IMDSv1", resp->status);
      c->v1_until_ms = util_now_ms () + V1_STICKY_MS;
      do_get (call, false);
      return;
    }
  if (resp->status != 200 || !resp->body || resp->body_len == 0)
    {
      agent_error_t err = NULL;
      status_error (resp->status, "token", &err);
      call_fail (call, err);
      return;
    }
  free (c->token);
  c->token = xstrndup (resp->body, resp->body_len);
  /* trim trailing whitespace */
  for (size_t n = strlen (c->token); n && isspace ((unsigned char) c->token[n - 1]); n--)
    c->token[n - 1] = '\0';
  log_secret_add (c->token);
  uint64_t ttl_ms = (uint64_t) c->token_ttl_s * 1000;
  c->token_expiry_ms = util_now_ms () + (ttl_ms > 120000 ? ttl_ms - 60000 : ttl_ms / 2);
  do_get (call, true);
}

static void
start_path (struct imds_call *call, const char *path)
{
  imds_client_t *c = call->c;
  if (call->path != path)
    {
      free (call->path);
      call->path = xstrdup (path);
    }
  if (c->v1_only || (c->v1_until_ms && util_now_ms () < c->v1_until_ms))
    {
      do_get (call, false);
      return;
    }
  if (c->token && util_now_ms () < c->token_expiry_ms)
    {
      do_get (call, true);
      return;
    }
  cleanup_free char *url = xasprintf ("%s%s", c->base, IMDS_PATH_TOKEN);
  char ttl[32];
  snprintf (ttl, sizeof ttl, "%ld", c->token_ttl_s);
  struct http_header h[] = { { "X-aws-ec2-metadata-token-ttl-seconds", ttl } };
  struct http_request req = {
    .method = "PUT", .url = url, .headers = h, .n_headers = 1, .body = "", .body_len = 0,
    .timeout_ms = c->timeout_ms < TOKEN_TIMEOUT_MS ? c->timeout_ms : TOKEN_TIMEOUT_MS, .connect_timeout_ms = c->connect_timeout_ms,
    .on_done = token_done, .data = call,
  };
  agent_error_t err = NULL;
  call->http = http_call_start (c->http, &req, &err);
  if (!call->http)
    call_fail (call, err);
}

imds_client_t *
imds_client_new (uv_loop_t *loop, http_client_t *http, const struct imds_options *opts,
                 agent_error_t *err)
{
  if (!loop || !http)
    {
      error_set (err, ERR_INVALID, "imds: loop and http client required");
      return NULL;
    }
  struct imds_options def = { 0 };
  if (!opts)
    opts = &def;
  const char *base = opts->endpoint;
  if (!base || !*base)
    base = getenv ("AWS_EC2_METADATA_SERVICE_ENDPOINT");
  if (!base || !*base)
    base = IMDS_DEFAULT_ENDPOINT;
  if (!strstr (base, "://"))
    {
      error_set (err, ERR_INVALID, "imds: endpoint must be an http URL: %s", base);
      return NULL;
    }
  imds_client_t *c = xcalloc (1, sizeof *c);
  c->loop = loop;
  c->http = http;
  c->base = xstrdup (base);
  for (size_t n = strlen (c->base); n && c->base[n - 1] == '/'; n--)
    c->base[n - 1] = '\0';
  c->connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 1000;
  c->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 5000;
  c->token_ttl_s = opts->token_ttl_s > 0 ? opts->token_ttl_s : 21600;
  c->v1_only = opts->v1_only;
  return c;
}

const char *
imds_client_endpoint (const imds_client_t *c)
{
  return c->base;
}

bool
imds_client_used_v2 (const imds_client_t *c)
{
  return c->used_v2;
}

void
imds_call_cancel (imds_call_t *call)
{
  if (!call)
    return;
  if (call->http)
    http_call_cancel (call->http);
  call->http = NULL;
  call_unlink (call);
  call_free (call);
}

void
imds_client_free (imds_client_t *c)
{
  if (!c)
    return;
  while (c->calls)
    imds_call_cancel (c->calls);
  if (c->token)
    {
      log_secret_remove (c->token);
      free (c->token);
    }
  free (c->base);
  free (c);
}

static struct imds_call *
call_new (imds_client_t *c, enum call_kind kind, void *data)
{
  struct imds_call *call = xcalloc (1, sizeof *call);
  call->c = c;
  call->kind = kind;
  call->data = data;
  call->next = c->calls;
  if (c->calls)
    c->calls->prev = call;
  c->calls = call;
  return call;
}

/* A failure while the first step is being started is returned to the
   caller (NULL + err) instead of through the callback. */
static imds_call_t *
call_begin (struct imds_call *call, const char *path, agent_error_t *err)
{
  if (!path || path[0] != '/')
    {
      error_set (err, ERR_INVALID, "imds: path must start with '/': %s", path ? path : "(null)");
      call_unlink (call);
      call_free (call);
      return NULL;
    }
  call->starting = true;
  start_path (call, path);
  call->starting = false;
  if (call->start_err)
    {
      error_move (err, &call->start_err);
      call_unlink (call);
      call_free (call);
      return NULL;
    }
  return call;
}

imds_call_t *
imds_get (imds_client_t *c, const char *path, imds_get_cb cb, void *data, agent_error_t *err)
{
  struct imds_call *call = call_new (c, CALL_GET, data);
  call->get_cb = cb;
  return call_begin (call, path, err);
}

imds_call_t *
imds_get_identity (imds_client_t *c, imds_identity_cb cb, void *data, agent_error_t *err)
{
  struct imds_call *call = call_new (c, CALL_IDENTITY, data);
  call->id_cb = cb;
  return call_begin (call, IMDS_PATH_IDENTITY_DOC, err);
}

imds_call_t *
imds_get_role_credentials (imds_client_t *c, imds_creds_cb cb, void *data, agent_error_t *err)
{
  struct imds_call *call = call_new (c, CALL_CREDS, data);
  call->creds_cb = cb;
  return call_begin (call, IMDS_PATH_ROLES, err);
}

/* ---- parsers ---- */

static char *
jdup (json_t *o, const char *key)
{
  json_t *v = json_object_get (o, key);
  return json_is_string (v) ? xstrndup (json_string_value (v), json_string_length (v)) : NULL;
}

int
imds_identity_parse (const char *doc, size_t len, struct imds_identity *out, agent_error_t *err)
{
  memset (out, 0, sizeof *out);
  json_error_t je;
  json_t *root = json_loadb (doc ? doc : "", doc ? len : 0, JSON_REJECT_DUPLICATES, &je);
  if (!root || !json_is_object (root))
    {
      json_decref (root);
      return error_set (err, ERR_MALFORMED, "instance identity document: not a JSON object (%s)",
                        root ? "wrong type" : je.text);
    }
  out->instance_id = jdup (root, "instanceId");
  out->region = jdup (root, "region");
  out->availability_zone = jdup (root, "availabilityZone");
  out->account_id = jdup (root, "accountId");
  out->instance_type = jdup (root, "instanceType");
  json_decref (root);
  if (!out->instance_id || !out->region || !*out->region)
    {
      imds_identity_clear (out);
      return error_set (err, ERR_MALFORMED, "instance identity document: missing instanceId or region");
    }
  out->document = xstrndup (doc, len);
  out->signature = xstrdup ("");
  return 0;
}

void
imds_identity_clear (struct imds_identity *id)
{
  if (!id)
    return;
  free (id->instance_id);
  free (id->region);
  free (id->availability_zone);
  free (id->account_id);
  free (id->instance_type);
  free (id->document);
  free (id->signature);
  memset (id, 0, sizeof *id);
}

int
imds_parse_time (const char *s, time_t *out)
{
  int64_t ns;
  if (time_rfc3339_parse (s, &ns) < 0)
    return -1;
  int64_t secs = ns / 1000000000LL;
  *out = (time_t) (ns % 1000000000LL < 0 ? secs - 1 : secs);
  return 0;
}

int
imds_credentials_parse (const char *json, size_t len, struct aws_credentials **out,
                        agent_error_t *err)
{
  *out = NULL;
  json_error_t je;
  json_t *root = json_loadb (json ? json : "", json ? len : 0, 0, &je);
  if (!root || !json_is_object (root))
    {
      json_decref (root);
      return error_set (err, ERR_MALFORMED, "role credentials: not a JSON object");
    }
  json_t *code = json_object_get (root, "Code");
  if (json_is_string (code) && strcmp (json_string_value (code), "Success") != 0)
    {
      int rc = error_set (err, ERR_AUTH, "role credentials: Code %s", json_string_value (code));
      json_decref (root);
      return rc;
    }
  cleanup_free char *ak = jdup (root, "AccessKeyId");
  cleanup_free char *sk = jdup (root, "SecretAccessKey");
  cleanup_free char *tok = jdup (root, "Token");
  cleanup_free char *exp = jdup (root, "Expiration");
  json_decref (root);
  if (!ak || !*ak || !sk || !*sk)
    return error_set (err, ERR_MALFORMED, "role credentials: missing AccessKeyId or SecretAccessKey");
  time_t t = 0;
  if (exp && *exp && imds_parse_time (exp, &t) < 0)
    return error_set (err, ERR_MALFORMED, "role credentials: bad Expiration");
  struct aws_credentials *c = xcalloc (1, sizeof *c);
  c->access_key_id = ak;
  c->secret_access_key = sk;
  c->session_token = tok && *tok ? tok : NULL;
  c->expiration = t;
  ak = sk = NULL;
  if (c->session_token)
    tok = NULL;
  *out = c;
  return 0;
}

char *
imds_first_role (const char *body, size_t len)
{
  const char *p = body, *end = body + len;
  while (p < end)
    {
      const char *nl = memchr (p, '\n', (size_t) (end - p));
      const char *e = nl ? nl : end;
      const char *s = p;
      while (s < e && isspace ((unsigned char) *s))
        s++;
      const char *t = e;
      while (t > s && isspace ((unsigned char) t[-1]))
        t--;
      if (t > s && memchr (s, '/', (size_t) (t - s)) == NULL && memchr (s, '\0', (size_t) (t - s)) == NULL)
        return xstrndup (s, (size_t) (t - s));
      p = e + 1;
    }
  return NULL;
}
