/* docker/client.c - Docker Engine API calls over core/http.h. */
#include "core/util.h"
#include "core/xmalloc.h"
#include "docker/docker.h"
#include "docker/docker_int.h"
#include "log/log.h"
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

enum op_kind
{
  OP_PING,
  OP_VERSION,
  OP_INFO,
  OP_PULL,
  OP_IMAGE_INSPECT,
  OP_IMAGE_REMOVE,
  OP_CREATE,
  OP_START,
  OP_STOP,
  OP_KILL,
  OP_INSPECT,
  OP_REMOVE,
  OP_LIST,
  OP_VOLUME_CREATE,
  OP_VOLUME_REMOVE,
};

struct docker_op
{
  docker_client_t *c; /* NULL once unlinked (cancelled / client freed) */
  enum op_kind kind;
  const char *what; /* transition name for timeout messages */
  char *method;
  char *path;
  char *body;
  char *auth; /* X-Registry-Auth value (secret) */
  long timeout_ms;
  bool versioned;
  bool internal; /* negotiation op: no user callback */
  void (*cb) (void);
  void *data;
  http_call_t *call;
  agent_error_t err; /* deferred completion */
  bool deferred, waiting_neg;
  bool in_data, cancelled;
  /* pull */
  struct docker_json_stream js;
  bool got_data;
  agent_error_t stream_err;
  uv_timer_t *begin_timer; /* pull begin, then inactivity */
  long begin_ms, inactivity_ms;
  void (*on_progress) (const char *status, const char *id, void *data);
  struct docker_op *prev, *next;
};

static const struct docker_timeouts default_timeouts = {
  .pull_total_ms = 2 * 3600 * 1000L,
  .pull_begin_ms = 5 * 60 * 1000L,
  .pull_inactivity_ms = 5 * 60 * 1000L,
  .create_ms = 60 * 1000L,
  .start_ms = 60 * 1000L,
  .stop_margin_ms = 30 * 1000L,
  .remove_ms = 5 * 60 * 1000L,
  .inspect_ms = 10 * 1000L,
  .other_ms = 30 * 1000L,
  .connect_ms = 5 * 1000L,
};

/* ---- helpers ----------------------------------------------------------- */

char *
docker_escape (const char *s, const char *keep)
{
  static const char hex[] = "0123456789ABCDEF";
  struct sbuf b = { 0 };
  for (const unsigned char *p = (const unsigned char *) s; *p; p++)
    {
      if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')
          || *p == '-' || *p == '_' || *p == '.' || *p == '~' || (keep && strchr (keep, *p)))
        sbuf_append (&b, (const char *) p, 1);
      else
        {
          char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };
          sbuf_append (&b, e, 3);
        }
    }
  return sbuf_steal (&b);
}

char *
docker_url (const docker_client_t *c, bool versioned, const char *path)
{
  if (versioned && c->api)
    return xasprintf ("%s/v%s%s", c->base_url, c->api, path);
  return xasprintf ("%s%s", c->base_url, path);
}

int
docker_transport_error (const docker_client_t *c, agent_error_t *err, const agent_error_t *in)
{
  int kind = error_kind (in);
  if (kind == ERR_UNREACHABLE)
    return error_set (err, ERR_UNREACHABLE, "Cannot connect to the Docker daemon at %s: %s",
                      c ? c->host : "docker", error_msg (in));
  if (kind == 0)
    kind = ERR_GENERIC;
  return error_set (err, kind, "docker: %s", error_msg (in));
}

/* Go's time.Duration.String() for whole milliseconds. */
static void
go_duration (long ms, char *buf, size_t len)
{
  if (ms < 1000)
    {
      snprintf (buf, len, "%ldms", ms);
      return;
    }
  long h = ms / 3600000, m = (ms / 60000) % 60, s = (ms / 1000) % 60, frac = ms % 1000;
  char sec[32];
  if (frac)
    {
      snprintf (sec, sizeof sec, "%ld.%03ld", s, frac);
      size_t n = strlen (sec);
      while (sec[n - 1] == '0')
        sec[--n] = '\0';
    }
  else
    snprintf (sec, sizeof sec, "%ld", s);
  if (h)
    snprintf (buf, len, "%ldh%ldm%ss", h, m, sec);
  else if (m)
    snprintf (buf, len, "%ldm%ss", m, sec);
  else
    snprintf (buf, len, "%ss", sec);
}

static int
timeout_error (agent_error_t *err, const char *what, long ms)
{
  char d[64];
  go_duration (ms, d, sizeof d);
  return error_set (err, ERR_TIMEOUT, "Could not transition to %s; timed out after waiting %s",
                    what, d);
}

/* ---- op lifecycle ------------------------------------------------------ */

static void
timer_free_cb (uv_handle_t *h)
{
  free (h);
}

static void
op_unlink (docker_op_t *op)
{
  docker_client_t *c = op->c;
  if (c == NULL)
    return;
  if (op->prev)
    op->prev->next = op->next;
  else
    c->ops = op->next;
  if (op->next)
    op->next->prev = op->prev;
  op->prev = op->next = NULL;
  if (c->neg_op == op)
    c->neg_op = NULL;
  op->c = NULL;
}

/* Free an op that is unlinked and whose http call is gone. */
static void
op_destroy (docker_op_t *op)
{
  if (op->begin_timer)
    {
      uv_timer_stop (op->begin_timer);
      uv_close ((uv_handle_t *) op->begin_timer, timer_free_cb);
    }
  free (op->auth); /* stays registered as a log secret (dedup'd there) */
  free (op->method);
  free (op->path);
  free (op->body);
  error_free (&op->err);
  error_free (&op->stream_err);
  docker_json_stream_free (&op->js);
  free (op);
}

/* Invoke the user callback with a result (or error) and free the op.  The
   op is unlinked first, so the callback may free the client. */
static void
op_complete (docker_op_t *op, const void *result, agent_error_t err)
{
  op_unlink (op);
  op->cancelled = true; /* docker_op_cancel from inside the callback: no-op */
  if (!op->internal && op->cb)
    switch (op->kind)
      {
      case OP_PING:
      case OP_PULL:
      case OP_IMAGE_REMOVE:
      case OP_START:
      case OP_STOP:
      case OP_KILL:
      case OP_REMOVE:
      case OP_VOLUME_REMOVE:
        ((docker_done_cb) op->cb) (err, op->data);
        break;
      case OP_VERSION:
        ((docker_version_cb) op->cb) (result, err, op->data);
        break;
      case OP_INFO:
        ((docker_info_cb) op->cb) (result, err, op->data);
        break;
      case OP_IMAGE_INSPECT:
        ((docker_image_cb) op->cb) (result, err, op->data);
        break;
      case OP_CREATE:
        ((docker_create_cb) op->cb) (result, err, op->data);
        break;
      case OP_INSPECT:
        ((docker_inspect_cb) op->cb) (result, err, op->data);
        break;
      case OP_LIST:
        ((docker_list_cb) op->cb) (result, err, op->data);
        break;
      case OP_VOLUME_CREATE:
        ((docker_volume_cb) op->cb) (result, err, op->data);
        break;
      }
  op_destroy (op);
}

static void
defer_cb (uv_timer_t *t)
{
  docker_client_t *c = t->data;
  while (c)
    {
      docker_op_t *op = NULL;
      for (docker_op_t *o = c->ops; o; o = o->next)
        if (o->deferred)
          op = o; /* oldest last in the list: keep submission order */
      if (op == NULL)
        break;
      agent_error_t err = op->err;
      op->err = NULL;
      op_complete (op, NULL, err);
      error_free (&err);
      c = t->data; /* NULL if the callback freed the client */
    }
}

/* Complete op with err on a later loop turn. */
static docker_op_t *
op_fail_later (docker_op_t *op, agent_error_t *err)
{
  error_move (&op->err, err);
  if (op->err == NULL)
    error_set (&op->err, ERR_GENERIC, "docker: internal error");
  op->deferred = true;
  op->waiting_neg = false;
  if (op->c)
    uv_timer_start (op->c->defer, defer_cb, 0, 0);
  return op;
}

static docker_op_t *
op_new (docker_client_t *c, enum op_kind kind, const char *method, char *path, long timeout_ms,
        void (*cb) (void), void *data)
{
  docker_op_t *op = xcalloc (1, sizeof *op);
  op->c = c;
  op->kind = kind;
  op->method = xstrdup (method);
  op->path = path;
  op->timeout_ms = timeout_ms;
  op->versioned = kind != OP_PING && kind != OP_VERSION;
  op->cb = cb;
  op->data = data;
  op->next = c->ops;
  if (c->ops)
    c->ops->prev = op;
  c->ops = op;
  return op;
}

void
docker_op_cancel (docker_op_t *op)
{
  if (op == NULL || op->cancelled)
    return;
  op->cancelled = true;
  op_unlink (op);
  if (op->call)
    {
      http_call_cancel (op->call);
      op->call = NULL;
    }
  if (op->in_data)
    return; /* freed by the data callback when it returns */
  op_destroy (op);
}

/* ---- response handling ------------------------------------------------- */

static bool
status_ok (const docker_op_t *op, long status)
{
  if (status == 200 || status == 201 || status == 204)
    return true;
  if (status == 304 && (op->kind == OP_START || op->kind == OP_STOP))
    return true;
  return false;
}

static void op_send (docker_op_t *op);
static void neg_finish (docker_client_t *c, agent_error_t *err);

static void
op_http_done_cb (const struct http_response *resp, agent_error_t terr, void *data)
{
  docker_op_t *op = data;
  docker_client_t *c = op->c;
  op->call = NULL;
  agent_error_t err = NULL;
  void *result = NULL;
  char *id = NULL;

  if (op->kind == OP_PULL && op->stream_err)
    error_move (&err, &op->stream_err);
  else if (terr)
    {
      if (error_kind (&terr) == ERR_TIMEOUT)
        timeout_error (&err, op->what ? op->what : "done", op->timeout_ms);
      else if (error_kind (&terr) == ERR_CANCELLED && op->kind == OP_PULL)
        error_set (&err, ERR_MALFORMED, "image pull: invalid progress stream");
      else
        docker_transport_error (c, &err, &terr);
    }
  else if (!status_ok (op, resp->status))
    docker_error_from_response (&err, resp->status, resp->body, resp->body_len,
                                op->kind == OP_PULL);
  else
    {
      const char *b = resp->body;
      size_t n = resp->body_len;
      switch (op->kind)
        {
        case OP_PING:
        case OP_IMAGE_REMOVE:
        case OP_START:
        case OP_STOP:
        case OP_KILL:
        case OP_REMOVE:
        case OP_VOLUME_REMOVE:
          break;
        case OP_PULL:
          if (!docker_json_stream_empty (&op->js))
            error_set (&err, ERR_MALFORMED, "image pull: truncated progress stream");
          break;
        case OP_VERSION:
          {
            struct docker_version_info *v = NULL;
            if (docker_parse_version (b, n, &v, &err) == 0)
              {
                char *api = NULL;
                if (docker_api_version_negotiate (v->api_version, v->min_api_version, &api, &err)
                    == 0)
                  {
                    if (c)
                      {
                        if (c->api == NULL || strcmp (c->api, api) != 0)
                          log_info ("docker", "using Docker API version %s (daemon %s, API %s)",
                                    api, v->version ? v->version : "?", v->api_version);
                        free (c->api);
                        c->api = api;
                        api = NULL;
                      }
                    free (api);
                  }
              }
            result = v;
            break;
          }
        case OP_INFO:
          docker_parse_info (b, n, (struct docker_info **) &result, &err);
          break;
        case OP_IMAGE_INSPECT:
          docker_parse_image_inspect (b, n, (struct docker_image_info **) &result, &err);
          break;
        case OP_CREATE:
          docker_parse_create_response (b, n, &id, &err);
          result = id;
          break;
        case OP_INSPECT:
          docker_parse_container_inspect (b, n, (struct docker_container_info **) &result, &err);
          break;
        case OP_LIST:
          docker_parse_container_list (b, n, (struct docker_container_list **) &result, &err);
          break;
        case OP_VOLUME_CREATE:
          docker_parse_volume (b, n, (struct docker_volume_info **) &result, &err);
          break;
        }
    }

  if (op->kind == OP_VERSION && c && c->neg_op == op)
    neg_finish (c, &err);
  if (op->kind == OP_VERSION && err && result)
    {
      docker_version_info_free (result);
      result = NULL;
    }
  enum op_kind kind = op->kind;
  op_complete (op, err ? NULL : result, err); /* frees op */
  error_free (&err);
  switch (kind)
    {
    case OP_VERSION:
      docker_version_info_free (result);
      break;
    case OP_INFO:
      docker_info_free (result);
      break;
    case OP_IMAGE_INSPECT:
      docker_image_info_free (result);
      break;
    case OP_CREATE:
      free (id);
      break;
    case OP_INSPECT:
      docker_container_info_free (result);
      break;
    case OP_LIST:
      docker_container_list_free (result);
      break;
    case OP_VOLUME_CREATE:
      docker_volume_info_free (result);
      break;
    default:
      break;
    }
}

/* Negotiation finished (err NULL = c->api set): resume or fail waiters. */
static void
neg_finish (docker_client_t *c, agent_error_t *err)
{
  c->neg_op = NULL;
  for (docker_op_t *o = c->ops; o; o = o->next)
    {
      if (!o->waiting_neg)
        continue;
      o->waiting_neg = false;
      if (*err == NULL && c->api)
        op_send (o);
      else
        {
          agent_error_t e = NULL;
          error_set (&e, error_kind (err) ? error_kind (err) : ERR_GENERIC,
                     "docker API version negotiation: %s", error_msg (err));
          op_fail_later (o, &e);
        }
    }
}

static int
pull_line_cb (const char *json, size_t len, void *data)
{
  docker_op_t *op = data;
  char *status = NULL, *id = NULL;
  agent_error_t err = NULL;
  if (docker_parse_pull_line (json, len, &status, &id, &err) < 0)
    {
      if (op->stream_err == NULL)
        error_move (&op->stream_err, &err);
      error_free (&err);
      return -1;
    }
  if (op->on_progress && status)
    op->on_progress (status, id, op->data);
  free (status);
  free (id);
  return op->cancelled ? -1 : 0;
}

/* No first byte within begin_ms, or no byte for inactivity_ms. */
static void
pull_timeout_cb (uv_timer_t *t)
{
  docker_op_t *op = t->data;
  if (op->call == NULL)
    return;
  http_call_cancel (op->call);
  op->call = NULL;
  agent_error_t err = NULL;
  if (op->got_data)
    {
      char d[64];
      go_duration (op->inactivity_ms, d, sizeof d);
      error_set (&err, ERR_TIMEOUT, "image pull inactivity timeout: no progress for %s", d);
    }
  else
    timeout_error (&err, "pullBegin", op->begin_ms);
  op_complete (op, NULL, err);
  error_free (&err);
}

static int
pull_data_cb (const char *chunk, size_t len, void *data)
{
  docker_op_t *op = data;
  op->got_data = true;
  if (op->begin_timer)
    {
      /* from now on the timer watches inactivity */
      if (op->inactivity_ms > 0)
        uv_timer_start (op->begin_timer, pull_timeout_cb, (uint64_t) op->inactivity_ms, 0);
      else
        uv_timer_stop (op->begin_timer);
    }
  agent_error_t err = NULL;
  op->in_data = true;
  int r = docker_json_stream_feed (&op->js, chunk, len, pull_line_cb, op, &err);
  op->in_data = false;
  if (op->cancelled)
    {
      error_free (&err);
      op_destroy (op);
      return -1;
    }
  if (r < 0)
    {
      if (err && op->stream_err == NULL)
        error_move (&op->stream_err, &err);
      error_free (&err);
      return -1;
    }
  return 0;
}


static void
op_start_negotiation (docker_client_t *c)
{
  if (c->neg_op)
    return;
  docker_op_t *n = op_new (c, OP_VERSION, "GET", xstrdup ("/version"), c->t.other_ms, NULL, NULL);
  n->internal = true;
  c->neg_op = n;
  op_send (n);
}

static void
op_send (docker_op_t *op)
{
  docker_client_t *c = op->c;
  if (op->versioned && c->api == NULL)
    {
      op->waiting_neg = true;
      op_start_negotiation (c);
      return;
    }
  char *url = docker_url (c, op->versioned, op->path);
  struct http_header hdr[2];
  size_t nh = 0;
  if (op->body)
    hdr[nh++] = (struct http_header){ "Content-Type", "application/json" };
  if (op->auth)
    hdr[nh++] = (struct http_header){ "X-Registry-Auth", op->auth };
  struct http_request req = {
    .method = op->method,
    .url = url,
    .unix_socket = c->unix_socket,
    .headers = hdr,
    .n_headers = nh,
    .body = op->body,
    .body_len = op->body ? strlen (op->body) : 0,
    .timeout_ms = op->timeout_ms,
    .connect_timeout_ms = c->t.connect_ms,
    .on_done = op_http_done_cb,
    .data = op,
  };
  if (op->kind == OP_PULL)
    req.on_data = pull_data_cb;
  log_debug ("docker", "%s %s", op->method, op->path);
  agent_error_t err = NULL;
  op->call = http_call_start (c->http, &req, &err);
  free (url);
  if (op->call == NULL)
    {
      agent_error_t e2 = NULL;
      docker_transport_error (c, &e2, &err);
      error_free (&err);
      if (op == c->neg_op)
        neg_finish (c, &e2);
      op_fail_later (op, &e2);
      error_free (&e2);
      return;
    }
  if (op->kind == OP_PULL && (c->t.pull_begin_ms > 0 || c->t.pull_inactivity_ms > 0))
    {
      op->begin_ms = c->t.pull_begin_ms;
      op->inactivity_ms = c->t.pull_inactivity_ms;
      op->begin_timer = xcalloc (1, sizeof *op->begin_timer);
      uv_timer_init (c->loop, op->begin_timer);
      op->begin_timer->data = op;
      if (op->begin_ms > 0)
        uv_timer_start (op->begin_timer, pull_timeout_cb, (uint64_t) op->begin_ms, 0);
    }
}

/* ---- client ------------------------------------------------------------ */

docker_client_t *
docker_client_new (uv_loop_t *loop, const char *docker_host, agent_error_t *err)
{
  if (docker_host == NULL || docker_host[0] == '\0')
    docker_host = DOCKER_DEFAULT_HOST;
  char *sock = NULL, *base = NULL;
  if (strncmp (docker_host, "unix://", 7) == 0)
    {
      if (docker_host[7] != '/')
        {
          error_set (err, ERR_INVALID, "invalid DOCKER_HOST %s: unix socket path must be absolute",
                     docker_host);
          return NULL;
        }
      sock = xstrdup (docker_host + 7);
      base = xstrdup ("http://localhost");
    }
  else if (strncmp (docker_host, "tcp://", 6) == 0 || strncmp (docker_host, "http://", 7) == 0)
    {
      const char *hp = docker_host + (docker_host[0] == 't' ? 6 : 7);
      size_t n = strcspn (hp, "/");
      if (n == 0)
        {
          error_set (err, ERR_INVALID, "invalid DOCKER_HOST %s: missing host", docker_host);
          return NULL;
        }
      base = xasprintf ("http://%.*s", (int) n, hp);
    }
  else
    {
      error_set (err, ERR_INVALID, "invalid DOCKER_HOST %s: expected unix:// or tcp://",
                 docker_host);
      return NULL;
    }
  docker_client_t *c = xcalloc (1, sizeof *c);
  c->loop = loop;
  c->http = http_client_new (loop);
  c->host = xstrdup (docker_host);
  c->unix_socket = sock;
  c->base_url = base;
  c->t = default_timeouts;
  c->defer = xcalloc (1, sizeof *c->defer);
  uv_timer_init (loop, c->defer);
  c->defer->data = c;
  return c;
}

void
docker_client_free (docker_client_t *c)
{
  if (c == NULL)
    return;
  docker_events_detach_all (c);
  while (c->ops)
    docker_op_cancel (c->ops);
  http_client_free (c->http);
  uv_timer_stop (c->defer);
  c->defer->data = NULL;
  uv_close ((uv_handle_t *) c->defer, timer_free_cb);
  free (c->host);
  free (c->unix_socket);
  free (c->base_url);
  free (c->api);
  free (c);
}

void
docker_client_get_timeouts (const docker_client_t *c, struct docker_timeouts *out)
{
  *out = c->t;
}

void
docker_client_set_timeouts (docker_client_t *c, const struct docker_timeouts *t)
{
  c->t = *t;
}

const char *
docker_client_api_version (const docker_client_t *c)
{
  return c->api;
}

size_t
docker_client_active (const docker_client_t *c)
{
  size_t n = 0;
  for (docker_op_t *o = c->ops; o; o = o->next)
    if (!o->internal)
      n++;
  return n;
}

/* ---- calls ------------------------------------------------------------- */

#define CB(f) ((void (*) (void)) (f))

static docker_op_t *
simple (docker_client_t *c, enum op_kind kind, const char *method, char *path, long timeout_ms,
        const char *what, void (*cb) (void), void *data)
{
  docker_op_t *op = op_new (c, kind, method, path, timeout_ms, cb, data);
  op->what = what;
  op_send (op);
  return op;
}

static docker_op_t *
invalid (docker_client_t *c, enum op_kind kind, void (*cb) (void), void *data, const char *msg)
{
  docker_op_t *op = op_new (c, kind, "GET", xstrdup (""), 0, cb, data);
  agent_error_t err = NULL;
  error_set (&err, ERR_INVALID, "%s", msg);
  return op_fail_later (op, &err);
}

docker_op_t *
docker_ping (docker_client_t *c, docker_done_cb cb, void *data)
{
  return simple (c, OP_PING, "GET", xstrdup ("/_ping"), c->t.other_ms, "pinged", CB (cb), data);
}

docker_op_t *
docker_version (docker_client_t *c, docker_version_cb cb, void *data)
{
  return simple (c, OP_VERSION, "GET", xstrdup ("/version"), c->t.other_ms, "version", CB (cb),
                 data);
}

docker_op_t *
docker_info (docker_client_t *c, docker_info_cb cb, void *data)
{
  return simple (c, OP_INFO, "GET", xstrdup ("/info"), c->t.other_ms, "info", CB (cb), data);
}

docker_op_t *
docker_image_pull (docker_client_t *c, const struct docker_pull_opts *o, docker_done_cb cb,
                   void *data)
{
  if (o == NULL || o->image == NULL || o->image[0] == '\0')
    return invalid (c, OP_PULL, CB (cb), data, "image pull: no image");
  char *ref = docker_image_ref_normalize (o->image);
  char *eref = docker_escape (ref, NULL);
  char *path = xasprintf ("/images/create?fromImage=%s", eref);
  free (ref);
  free (eref);
  docker_op_t *op = op_new (c, OP_PULL, "POST", path, c->t.pull_total_ms, CB (cb), data);
  op->what = "pulled";
  op->on_progress = o->on_progress;
  if (o->registry_auth && o->registry_auth[0])
    {
      op->auth = xstrdup (o->registry_auth);
      log_secret_add (op->auth);
    }
  log_info ("docker", "pulling image %s", o->image);
  op_send (op);
  return op;
}

docker_op_t *
docker_image_inspect (docker_client_t *c, const char *image, docker_image_cb cb, void *data)
{
  if (image == NULL || image[0] == '\0')
    return invalid (c, OP_IMAGE_INSPECT, CB (cb), data, "image inspect: no image");
  char *e = docker_escape (image, "/:@");
  char *path = xasprintf ("/images/%s/json", e);
  free (e);
  return simple (c, OP_IMAGE_INSPECT, "GET", path, c->t.inspect_ms, "inspecting", CB (cb), data);
}

docker_op_t *
docker_image_remove (docker_client_t *c, const char *image, bool force, docker_done_cb cb,
                     void *data)
{
  if (image == NULL || image[0] == '\0')
    return invalid (c, OP_IMAGE_REMOVE, CB (cb), data, "image remove: no image");
  char *e = docker_escape (image, "/:@");
  char *path = xasprintf ("/images/%s%s", e, force ? "?force=1" : "");
  free (e);
  return simple (c, OP_IMAGE_REMOVE, "DELETE", path, c->t.remove_ms, "removing", CB (cb), data);
}

static json_t *
strv_json (const char *const *v)
{
  json_t *a = json_array ();
  for (size_t i = 0; v[i]; i++)
    json_array_append_new (a, json_string (v[i]));
  return a;
}

static bool
utf8_ok (const char *s)
{
  if (s == NULL)
    return true;
  json_t *j = json_string (s);
  json_decref (j);
  return j != NULL;
}

static bool
strv_utf8_ok (const char *const *v)
{
  for (size_t i = 0; v && v[i]; i++)
    if (!utf8_ok (v[i]))
      return false;
  return true;
}

static bool
labels_utf8_ok (const struct docker_label *l, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (!utf8_ok (l[i].key) || !utf8_ok (l[i].value))
      return false;
  return true;
}

/* Every string of the request must be valid UTF-8 (JSON): nothing is
   silently dropped. */
static bool
create_opts_utf8_ok (const struct docker_create_opts *o)
{
  if (!utf8_ok (o->image) || !utf8_ok (o->name) || !utf8_ok (o->network_mode)
      || !strv_utf8_ok (o->cmd) || !strv_utf8_ok (o->entrypoint) || !strv_utf8_ok (o->env)
      || !strv_utf8_ok (o->links) || !strv_utf8_ok (o->binds) || !strv_utf8_ok (o->volumes_from)
      || !strv_utf8_ok (o->volumes) || !labels_utf8_ok (o->labels, o->n_labels))
    return false;
  for (size_t i = 0; i < o->n_ports; i++)
    if (!utf8_ok (o->ports[i].proto) || !utf8_ok (o->ports[i].host_ip))
      return false;
  return true;
}

static int
merge_extra (json_t *dst, const char *text, const char *what, agent_error_t *err)
{
  if (text == NULL || text[0] == '\0')
    return 0;
  json_error_t jerr;
  json_t *x = json_loads (text, 0, &jerr);
  if (!json_is_object (x))
    {
      json_decref (x);
      return error_set (err, ERR_INVALID, "invalid %s JSON: %s", what,
                        x ? "not an object" : jerr.text);
    }
  json_object_update (dst, x);
  json_decref (x);
  return 0;
}

/* Create body.  Exported via the test of the request text only indirectly. */
static char *
create_body (const struct docker_create_opts *o, agent_error_t *err)
{
  if (!create_opts_utf8_ok (o))
    {
      error_set (err, ERR_INVALID, "container create: a string is not valid UTF-8");
      return NULL;
    }
  json_t *cfg = json_object ();
  json_t *hc = json_object ();
  json_object_set_new (cfg, "Image", json_string (o->image));
  if (o->cmd)
    json_object_set_new (cfg, "Cmd", strv_json (o->cmd));
  if (o->entrypoint && o->entrypoint[0])
    json_object_set_new (cfg, "Entrypoint", strv_json (o->entrypoint));
  if (o->env && o->env[0])
    json_object_set_new (cfg, "Env", strv_json (o->env));
  if (o->n_labels)
    {
      json_t *l = json_object ();
      for (size_t i = 0; i < o->n_labels; i++)
        if (o->labels[i].key)
          json_object_set_new (l, o->labels[i].key,
                               json_string (o->labels[i].value ? o->labels[i].value : ""));
      json_object_set_new (cfg, "Labels", l);
    }
  if (o->volumes && o->volumes[0])
    {
      json_t *v = json_object ();
      for (size_t i = 0; o->volumes[i]; i++)
        json_object_set_new (v, o->volumes[i], json_object ());
      json_object_set_new (cfg, "Volumes", v);
    }
  if (o->n_ports)
    {
      json_t *exp = json_object ();
      json_t *pb = json_object ();
      for (size_t i = 0; i < o->n_ports; i++)
        {
          const struct docker_port_spec *p = &o->ports[i];
          char key[48];
          snprintf (key, sizeof key, "%u/%.16s", (unsigned) p->container_port,
                    p->proto ? p->proto : "tcp");
          json_object_set_new (exp, key, json_object ());
          if (p->expose_only)
            continue;
          json_t *arr = json_object_get (pb, key);
          if (arr == NULL)
            {
              arr = json_array ();
              json_object_set_new (pb, key, arr);
            }
          json_t *b = json_object ();
          if (p->host_ip)
            json_object_set_new (b, "HostIp", json_string (p->host_ip));
          char hp[8];
          snprintf (hp, sizeof hp, "%u", (unsigned) p->host_port);
          json_object_set_new (b, "HostPort", json_string (p->host_port ? hp : ""));
          json_array_append_new (arr, b);
        }
      json_object_set_new (cfg, "ExposedPorts", exp);
      json_object_set_new (hc, "PortBindings", pb);
    }
  if (o->links && o->links[0])
    json_object_set_new (hc, "Links", strv_json (o->links));
  if (o->binds && o->binds[0])
    json_object_set_new (hc, "Binds", strv_json (o->binds));
  if (o->volumes_from && o->volumes_from[0])
    json_object_set_new (hc, "VolumesFrom", strv_json (o->volumes_from));
  if (o->memory > 0)
    json_object_set_new (hc, "Memory", json_integer (o->memory));
  if (o->cpu_shares > 0)
    json_object_set_new (hc, "CpuShares", json_integer (o->cpu_shares));
  if (o->network_mode)
    json_object_set_new (hc, "NetworkMode", json_string (o->network_mode));
  char *out = NULL;
  if (merge_extra (cfg, o->extra_config_json, "docker config", err) == 0
      && merge_extra (hc, o->extra_host_config_json, "docker host config", err) == 0)
    {
      /* an extra config may carry its own HostConfig: ours wins only where unset */
      json_t *xhc = json_object_get (cfg, "HostConfig");
      if (json_is_object (xhc))
        {
          json_object_update_missing (hc, xhc);
        }
      json_object_set (cfg, "HostConfig", hc);
      out = json_dumps (cfg, JSON_COMPACT);
      if (out == NULL)
        error_set (err, ERR_INVALID, "container create: cannot encode request");
    }
  json_decref (hc);
  json_decref (cfg);
  return out;
}

docker_op_t *
docker_container_create (docker_client_t *c, const struct docker_create_opts *o,
                         docker_create_cb cb, void *data)
{
  if (o == NULL || o->image == NULL || o->image[0] == '\0')
    return invalid (c, OP_CREATE, CB (cb), data, "container create: no image");
  agent_error_t err = NULL;
  char *body = create_body (o, &err);
  if (body == NULL)
    {
      docker_op_t *op = op_new (c, OP_CREATE, "POST", xstrdup (""), 0, CB (cb), data);
      return op_fail_later (op, &err);
    }
  char *path;
  if (o->name && o->name[0])
    {
      char *e = docker_escape (o->name, NULL);
      path = xasprintf ("/containers/create?name=%s", e);
      free (e);
    }
  else
    path = xstrdup ("/containers/create");
  docker_op_t *op = op_new (c, OP_CREATE, "POST", path, c->t.create_ms, CB (cb), data);
  op->what = "created";
  op->body = body;
  op_send (op);
  return op;
}

static char *
ctr_path (const char *id, const char *suffix)
{
  char *e = docker_escape (id, NULL);
  char *p = xasprintf ("/containers/%s%s", e, suffix);
  free (e);
  return p;
}

docker_op_t *
docker_container_start (docker_client_t *c, const char *id, docker_done_cb cb, void *data)
{
  if (id == NULL || id[0] == '\0')
    return invalid (c, OP_START, CB (cb), data, "container start: no id");
  return simple (c, OP_START, "POST", ctr_path (id, "/start"), c->t.start_ms, "started", CB (cb),
                 data);
}

docker_op_t *
docker_container_stop (docker_client_t *c, const char *id, int grace_s, docker_done_cb cb,
                       void *data)
{
  if (id == NULL || id[0] == '\0')
    return invalid (c, OP_STOP, CB (cb), data, "container stop: no id");
  if (grace_s < 0)
    grace_s = 0;
  char suffix[32];
  snprintf (suffix, sizeof suffix, "/stop?t=%d", grace_s);
  return simple (c, OP_STOP, "POST", ctr_path (id, suffix),
                 (long) grace_s * 1000 + c->t.stop_margin_ms, "stopped", CB (cb), data);
}

docker_op_t *
docker_container_kill (docker_client_t *c, const char *id, const char *signal, docker_done_cb cb,
                       void *data)
{
  if (id == NULL || id[0] == '\0')
    return invalid (c, OP_KILL, CB (cb), data, "container kill: no id");
  char *es = docker_escape (signal ? signal : "KILL", NULL);
  char *suffix = xasprintf ("/kill?signal=%s", es);
  free (es);
  docker_op_t *op = simple (c, OP_KILL, "POST", ctr_path (id, suffix), c->t.other_ms, "stopped",
                            CB (cb), data);
  free (suffix);
  return op;
}

docker_op_t *
docker_container_inspect (docker_client_t *c, const char *id, docker_inspect_cb cb, void *data)
{
  if (id == NULL || id[0] == '\0')
    return invalid (c, OP_INSPECT, CB (cb), data, "container inspect: no id");
  return simple (c, OP_INSPECT, "GET", ctr_path (id, "/json"), c->t.inspect_ms, "inspecting",
                 CB (cb), data);
}

docker_op_t *
docker_container_remove (docker_client_t *c, const char *id, bool remove_volumes, bool force,
                         docker_done_cb cb, void *data)
{
  if (id == NULL || id[0] == '\0')
    return invalid (c, OP_REMOVE, CB (cb), data, "container remove: no id");
  char suffix[32];
  snprintf (suffix, sizeof suffix, "?v=%d&force=%d", remove_volumes ? 1 : 0, force ? 1 : 0);
  return simple (c, OP_REMOVE, "DELETE", ctr_path (id, suffix), c->t.remove_ms, "removing",
                 CB (cb), data);
}

docker_op_t *
docker_container_list (docker_client_t *c, const char *label_filter, docker_list_cb cb,
                       void *data)
{
  char *path;
  if (label_filter && label_filter[0])
    {
      json_t *f = json_pack ("{s:[s]}", "label", label_filter);
      char *fs = json_dumps (f, JSON_COMPACT);
      json_decref (f);
      char *e = docker_escape (fs, NULL);
      free (fs);
      path = xasprintf ("/containers/json?all=1&filters=%s", e);
      free (e);
    }
  else
    path = xstrdup ("/containers/json?all=1");
  return simple (c, OP_LIST, "GET", path, c->t.other_ms, "listed", CB (cb), data);
}

docker_op_t *
docker_volume_create (docker_client_t *c, const char *name, const char *driver,
                      const struct docker_label *labels, size_t n_labels, docker_volume_cb cb,
                      void *data)
{
  if (!utf8_ok (name) || !utf8_ok (driver) || !labels_utf8_ok (labels, n_labels))
    return invalid (c, OP_VOLUME_CREATE, CB (cb), data, "volume create: a string is not valid UTF-8");
  json_t *b = json_object ();
  if (name && name[0])
    json_object_set_new (b, "Name", json_string (name));
  json_object_set_new (b, "Driver", json_string (driver && driver[0] ? driver : "local"));
  if (n_labels)
    {
      json_t *l = json_object ();
      for (size_t i = 0; i < n_labels; i++)
        if (labels[i].key)
          json_object_set_new (l, labels[i].key,
                               json_string (labels[i].value ? labels[i].value : ""));
      json_object_set_new (b, "Labels", l);
    }
  char *body = json_dumps (b, JSON_COMPACT);
  json_decref (b);
  if (body == NULL)
    return invalid (c, OP_VOLUME_CREATE, CB (cb), data, "volume create: invalid name or labels");
  docker_op_t *op = op_new (c, OP_VOLUME_CREATE, "POST", xstrdup ("/volumes/create"),
                            c->t.other_ms, CB (cb), data);
  op->what = "created";
  op->body = body;
  op_send (op);
  return op;
}

docker_op_t *
docker_volume_remove (docker_client_t *c, const char *name, bool force, docker_done_cb cb,
                      void *data)
{
  if (name == NULL || name[0] == '\0')
    return invalid (c, OP_VOLUME_REMOVE, CB (cb), data, "volume remove: no name");
  char *e = docker_escape (name, NULL);
  char *path = xasprintf ("/volumes/%s%s", e, force ? "?force=1" : "");
  free (e);
  return simple (c, OP_VOLUME_REMOVE, "DELETE", path, c->t.other_ms, "removing", CB (cb), data);
}
