/* aws/json_rpc.c - one AWS JSON 1.1 call (see json_rpc.h). */
#include "aws/json_rpc.h"
#include "aws/sigv4.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define MOD "aws"
/* Longest error text kept from a service answer. */
#define AWS_JSON_MSG_MAX 1024

struct aws_json_call
{
  http_call_t *http;
  struct aws_credentials *creds; /* registered with the log redactor */
  aws_json_done_cb cb;
  void *data;
};

/* ---- pure parts ---------------------------------------------------------- */

bool
aws_json_is_throttle (const char *type)
{
  static const char *const t[] = { "Throttling", "ThrottlingException", "ThrottledException",
                                   "ProvisionedThroughputExceededException", "RequestLimitExceeded",
                                   "TooManyRequestsException", "RequestThrottled",
                                   "RequestThrottledException", "SlowDown", "LimitExceededException" };
  for (size_t i = 0; type && i < ARRAY_SIZE (t); i++)
    if (strcmp (type, t[i]) == 0)
      return true;
  return false;
}

static char *
json_str (json_t *o, const char *key)
{
  json_t *v = json_object_get (o, key);
  if (!json_is_string (v))
    return NULL;
  return xstrndup (json_string_value (v), json_string_length (v));
}

/* One printable line of at most AWS_JSON_MSG_MAX bytes. */
static void
one_line (char *s)
{
  if (!s)
    return;
  if (strlen (s) > AWS_JSON_MSG_MAX)
    s[AWS_JSON_MSG_MAX] = '\0';
  for (char *p = s; *p; p++)
    if ((unsigned char) *p < 0x20 || *p == 0x7f)
      *p = ' ';
}

static const char *
status_text (long status)
{
  switch (status)
    {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Request Entity Too Large";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "unexpected status";
    }
}

int
aws_json_classify (long status, const char *body, size_t len, char **type_out, agent_error_t *err)
{
  if (type_out)
    *type_out = NULL;
  if (status >= 200 && status < 300)
    return 0;
  cleanup_free char *type = NULL, *msg = NULL;
  json_error_t je;
  json_t *root = body && len ? json_loadb (body, len, 0, &je) : NULL;
  if (json_is_object (root))
    {
      cleanup_free char *t = json_str (root, "__type");
      if (!t)
        t = json_str (root, "code");
      if (t)
        {
          /* "com.amazon.coral.service#AccessDeniedException" or
             "AccessDeniedException:http://internal.amazon.com/..." */
          const char *h = strrchr (t, '#');
          type = xstrdup (h ? h + 1 : t);
          char *colon = strchr (type, ':');
          if (colon)
            *colon = '\0';
        }
      msg = json_str (root, "message");
      if (!msg)
        msg = json_str (root, "Message");
    }
  json_decref (root);
  one_line (type);
  one_line (msg);
  int kind;
  if ((type && aws_json_is_throttle (type)) || status == 429 || status >= 500 || status < 400)
    kind = ERR_SERVER;
  else
    kind = ERR_CLIENT;
  int rc;
  if (type && *type)
    rc = error_set_status (err, kind, (int) status, "%s: %s", type, msg ? msg : "");
  else
    rc = error_set_status (err, kind, (int) status, "HTTP %ld: %s", status,
                           msg && *msg ? msg : status_text (status));
  if (type_out && type && *type)
    {
      *type_out = type;
      type = NULL;
    }
  return rc;
}

static const char *
service_prefix (const char *id, char *buf, size_t size)
{
  if (strcmp (id, "ECR") == 0)
    return "api.ecr";
  if (strcmp (id, "SSM") == 0)
    return "ssm";
  if (strcmp (id, "SECRETS_MANAGER") == 0)
    return "secretsmanager";
  size_t n = 0;
  for (const char *p = id; *p && n + 1 < size; p++)
    if (*p != '_' && *p != ' ')
      buf[n++] = (char) tolower ((unsigned char) *p);
  buf[n] = '\0';
  return buf;
}

char *
aws_service_endpoint (const char *service_id, const char *region)
{
  if (!service_id || !*service_id)
    return NULL;
  /* the SDK's variable name: the id upper-cased, spaces as '_' */
  cleanup_free char *var = xasprintf ("AWS_ENDPOINT_URL_%s", service_id);
  for (char *p = var; *p; p++)
    *p = *p == ' ' ? '_' : (char) toupper ((unsigned char) *p);
  const char *v = getenv (var);
  if (v && *v)
    return xstrdup (v);
  v = getenv ("AWS_ENDPOINT_URL");
  if (v && *v)
    return xstrdup (v);
  if (!region || !*region)
    return NULL;
  char buf[64];
  const char *prefix = service_prefix (service_id, buf, sizeof buf);
  bool cn = strncmp (region, "cn-", 3) == 0;
  return xasprintf ("https://%s.%s.amazonaws.com%s", prefix, region, cn ? ".cn" : "");
}

/* ---- the call ------------------------------------------------------------ */

static void
call_free (aws_json_call_t *call)
{
  if (!call)
    return;
  if (call->creds)
    {
      const struct aws_credentials *c = call->creds;
      if (c->access_key_id)
        log_secret_remove (c->access_key_id);
      if (c->secret_access_key)
        log_secret_remove (c->secret_access_key);
      if (c->session_token)
        log_secret_remove (c->session_token);
    }
  aws_credentials_free (call->creds);
  free (call);
}

static void
call_http_done_cb (const struct http_response *resp, agent_error_t herr, void *data)
{
  aws_json_call_t *call = data;
  call->http = NULL;
  agent_error_t err = NULL;
  if (herr)
    error_set_status (&err, error_kind (&herr), herr->status, "%s", error_msg (&herr));
  else
    aws_json_classify (resp->status, resp->body, resp->body_len, NULL, &err);
  if (err)
    call->cb (NULL, 0, err, call->data);
  else
    call->cb (resp->body ? resp->body : "", resp->body ? resp->body_len : 0, NULL, call->data);
  error_free (&err);
  call_free (call);
}

/* scheme://host[:port][/path]: POST to the path, "/" when there is none. */
static char *
call_url (const char *endpoint, agent_error_t *err)
{
  const char *sep = strstr (endpoint, "://");
  if (!sep || (strncmp (endpoint, "http://", 7) != 0 && strncmp (endpoint, "https://", 8) != 0)
      || sep[3] == '\0' || sep[3] == '/')
    {
      error_set (err, ERR_INVALID, "invalid endpoint %s: want http(s)://host[:port][/path]", endpoint);
      return NULL;
    }
  if (strchr (sep + 3, '/'))
    return xstrdup (endpoint);
  return xasprintf ("%s/", endpoint);
}

aws_json_call_t *
aws_json_call_start (http_client_t *http, const struct aws_json_request *req, aws_json_done_cb cb,
                     void *data, agent_error_t *err)
{
  if (!http || !req || !cb || !req->endpoint || !req->region || !*req->region || !req->service
      || !req->target || !req->creds || !req->creds->access_key_id || !req->creds->secret_access_key)
    {
      error_set (err, ERR_INVALID, "aws json call: http client, endpoint, region, service, target "
                                   "and credentials are required");
      return NULL;
    }
  cleanup_free char *url = call_url (req->endpoint, err);
  if (!url)
    return NULL;
  const char *body = req->body ? req->body : "{}";
  size_t body_len = strlen (body);
  struct http_header sh[] = { { "X-Amz-Target", req->target } };
  struct aws_sigv4_input in = {
    .method = "POST", .url = url, .headers = sh, .n_headers = 1, .body = body,
    .body_len = body_len, .region = req->region, .service = req->service, .now = time (NULL),
  };
  struct aws_sigv4_output out;
  if (aws_sigv4_sign (&in, req->creds, &out, err) < 0)
    {
      error_wrap (err, "%s: signing", req->target);
      return NULL;
    }
  aws_json_call_t *call = xcalloc (1, sizeof *call);
  call->creds = aws_credentials_dup (req->creds);
  aws_credentials_register_secrets (call->creds);
  call->cb = cb;
  call->data = data;
  struct http_header h[16];
  size_t nh = 0;
  h[nh++] = (struct http_header){ "Content-Type", AWS_JSON_CONTENT_TYPE };
  h[nh++] = (struct http_header){ "X-Amz-Target", req->target };
  h[nh++] = (struct http_header){ "User-Agent", "amazon-ecs-agent/" AGENT_VERSION };
  for (size_t i = 0; i < out.n_headers && nh < ARRAY_SIZE (h); i++)
    h[nh++] = out.headers[i];
  struct http_request hr = {
    .method = "POST", .url = url, .headers = h, .n_headers = nh, .body = body,
    .body_len = body_len, .timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : 30000,
    .connect_timeout_ms = 10000, .insecure = req->insecure, .on_done = call_http_done_cb, .data = call,
  };
  call->http = http_call_start (http, &hr, err);
  aws_sigv4_output_free (&out);
  if (!call->http)
    {
      error_wrap (err, "%s", req->target);
      call_free (call);
      return NULL;
    }
  return call;
}

void
aws_json_call_cancel (aws_json_call_t *call)
{
  if (!call || !call->http)
    return; /* NULL, or its callback is running (call_free follows) */
  http_call_cancel (call->http);
  call_free (call);
}
