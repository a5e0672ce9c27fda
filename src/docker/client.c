/* docker/client.c - the client and the op machinery: an op's lifecycle
 * (create, send, complete exactly once, cancel, deferred failure), API
 * version negotiation before the first versioned call, response to result
 * and the streamed pull.  The endpoint calls that build ops are in calls.c.
 */
#include "core/util.h"
#include "core/xmalloc.h"
#include "docker/docker.h"
#include "docker/docker_int.h"
#include "log/log.h"
#include <curl/curl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* Time limits used until docker_client_set_timeouts: upstream's defaults. */
static const struct docker_timeouts default_timeouts = {
  .pull_total_ms = 2 * 3600 * 1000L,
  .pull_begin_ms = 5 * 60 * 1000L,
  .pull_inactivity_ms = 60 * 1000L,
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
docker_label_filter_path (const char *base, const char *label_filter)
{
  if (!label_filter || !label_filter[0])
    return xstrdup (base);
  json_t *f = json_pack ("{s:[s]}", "label", label_filter);
  if (f == NULL) /* not UTF-8 */
    return NULL;
  char *fs = json_dumps (f, JSON_COMPACT);
  json_decref (f);
  char *esc = docker_escape (fs, NULL);
  free (fs);
  char *path = xasprintf ("%s%cfilters=%s", base, strchr (base, '?') ? '&' : '?', esc);
  free (esc);
  return path;
}

char *
docker_escape (const char *s, const char *keep)
{
  struct sbuf b = { 0 };
  sbuf_puts (&b, "");
  while (*s)
    {
      size_t n = keep ? strcspn (s, keep) : strlen (s);
      if (n > 0)
        {
          char *e = curl_easy_escape (NULL, s, (int) n);
          if (e == NULL)
            xalloc_die ();
          sbuf_puts (&b, e);
          curl_free (e);
          s += n;
        }
      if (*s)
        sbuf_append (&b, s++, 1); /* a kept character */
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

http_call_t *
docker_stream_get (docker_client_t *c, const char *path, http_data_cb on_data, http_headers_cb on_headers,
                   http_done_cb on_done, void *data, agent_error_t *err)
{
  char *url = docker_url (c, true, path);
  struct http_request req = {
    .method = "GET",
    .url = url,
    .unix_socket = c->unix_socket,
    .connect_timeout_ms = c->t.connect_ms,
    .on_data = on_data,
    .on_headers = on_headers,
    .on_done = on_done,
    .data = data,
  };
  agent_error_t herr = NULL;
  http_call_t *call = http_call_start (c->http, &req, &herr);
  free (url);
  if (call == NULL)
    {
      docker_transport_error (c, err, &herr);
      error_free (&herr);
    }
  return call;
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
  return error_set (err, ERR_TIMEOUT, DOCKER_TIMEOUT_MSG_PREFIX "%s; timed out after waiting %s",
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
  TAILQ_REMOVE (&c->ops, op, link);
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
  docker_links_op_free (op);
  free (op->layers);
  free (op->auth); /* stays registered as a log secret (dedup'd there) */
  free (op->method);
  free (op->path);
  free (op->body);
  free (op->api_want);
  error_free (&op->err);
  error_free (&op->stream_err);
  docker_json_stream_free (&op->js);
  free (op);
}

/* A parsed response body; the member is named by the op's cb.type. */
union op_result
{
  struct docker_version_info *version;
  struct docker_info *info;
  struct docker_image_info *image;
  char *id;
  struct docker_container_info *inspect;
  struct docker_container_list *list;
  struct docker_volume_info *volume;
  struct docker_stats *stats;
  struct docker_image_list *image_list;
};

static void
op_result_free (enum docker_result_type type, union op_result *r)
{
  switch (type)
    {
    case DOCKER_RES_DONE:
      break;
    case DOCKER_RES_VERSION:
      docker_version_info_free (r->version);
      break;
    case DOCKER_RES_INFO:
      docker_info_free (r->info);
      break;
    case DOCKER_RES_IMAGE:
      docker_image_info_free (r->image);
      break;
    case DOCKER_RES_CREATE:
      free (r->id);
      break;
    case DOCKER_RES_INSPECT:
      docker_container_info_free (r->inspect);
      break;
    case DOCKER_RES_LIST:
      docker_container_list_free (r->list);
      break;
    case DOCKER_RES_VOLUME:
      docker_volume_info_free (r->volume);
      break;
    case DOCKER_RES_STATS:
      docker_stats_free (r->stats);
      break;
    case DOCKER_RES_IMAGE_LIST:
      docker_image_list_free (r->image_list);
      break;
    }
  *r = (union op_result){ 0 };
}

/* Invoke the user callback with a result (r NULL on error) and free the op.
   The op is unlinked first, so the callback may free the client. */
static void
op_complete (docker_op_t *op, const union op_result *r, agent_error_t err)
{
  docker_op_record_metrics (op, &err);
  op_unlink (op);
  op->cancelled = true; /* docker_op_cancel from inside the callback: no-op */
  const struct docker_op_cb *cb = &op->cb;
  void *d = op->data;
  if (!op->internal)
    switch (cb->type)
      {
      case DOCKER_RES_DONE:
        if (cb->fn.done)
          cb->fn.done (err, d);
        break;
      case DOCKER_RES_VERSION:
        if (cb->fn.version)
          cb->fn.version (r ? r->version : NULL, err, d);
        break;
      case DOCKER_RES_INFO:
        if (cb->fn.info)
          cb->fn.info (r ? r->info : NULL, err, d);
        break;
      case DOCKER_RES_IMAGE:
        if (cb->fn.image)
          cb->fn.image (r ? r->image : NULL, err, d);
        break;
      case DOCKER_RES_CREATE:
        if (cb->fn.create)
          cb->fn.create (r ? r->id : NULL, err, d);
        break;
      case DOCKER_RES_INSPECT:
        if (cb->fn.inspect)
          cb->fn.inspect (r ? r->inspect : NULL, err, d);
        break;
      case DOCKER_RES_LIST:
        if (cb->fn.list)
          cb->fn.list (r ? r->list : NULL, err, d);
        break;
      case DOCKER_RES_VOLUME:
        if (cb->fn.volume)
          cb->fn.volume (r ? r->volume : NULL, err, d);
        break;
      case DOCKER_RES_STATS:
        if (cb->fn.stats)
          cb->fn.stats (r ? r->stats : NULL, err, d);
        break;
      case DOCKER_RES_IMAGE_LIST:
        if (cb->fn.image_list)
          cb->fn.image_list (r ? r->image_list : NULL, err, d);
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
      docker_op_t *op = NULL, *o;
      TAILQ_FOREACH (o, &c->ops, link)
        if (o->deferred)
          {
            op = o; /* the oldest first: keep submission order */
            break;
          }
      if (op == NULL)
        break;
      agent_error_t err = op->err;
      op->err = NULL;
      op_complete (op, NULL, err);
      error_free (&err);
      c = t->data; /* NULL if the callback freed the client */
    }
}

docker_op_t *
docker_op_fail_later (docker_op_t *op, agent_error_t *err)
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

docker_op_t *
docker_op_new (docker_client_t *c, enum docker_op_kind kind, const char *method, char *path,
               long timeout_ms, struct docker_op_cb cb, void *data)
{
  docker_op_t *op = xcalloc (1, sizeof *op);
  op->c = c;
  op->kind = kind;
  op->method = xstrdup (method);
  op->path = path;
  op->timeout_ms = timeout_ms;
  op->versioned = kind != DOCKER_OP_PING && kind != DOCKER_OP_VERSION;
  op->started_ns = util_now_ns ();
  op->cb = cb;
  op->data = data;
  TAILQ_INSERT_TAIL (&c->ops, op, link);
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
  if (status == 304 && (op->kind == DOCKER_OP_START || op->kind == DOCKER_OP_STOP))
    return true;
  return false;
}

static void neg_finish (docker_client_t *c, agent_error_t *err);

/* A /version answer: (re)negotiate the client's API version from it. */
static int
negotiate_from (docker_client_t *c, const struct docker_version_info *v, agent_error_t *err)
{
  char *api = NULL;
  if (docker_api_version_negotiate (v->api_version, v->min_api_version, &api, err) < 0)
    return -1;
  if (c)
    {
      if (c->api == NULL || strcmp (c->api, api) != 0)
        log_info ("docker", "using Docker API version %s (daemon %s, API %s)", api,
                  v->version ? v->version : "?", v->api_version);
      free (c->api);
      c->api = api;
      api = NULL;
      free (c->api_min);
      c->api_min = v->min_api_version ? xstrdup (v->min_api_version) : NULL;
      c->podman = v->podman;
    }
  free (api);
  return 0;
}

/* A successful response body into r, by the op's result type. */
static void
op_parse (docker_op_t *op, const char *b, size_t n, union op_result *r, agent_error_t *err)
{
  switch (op->cb.type)
    {
    case DOCKER_RES_DONE:
      if (op->kind == DOCKER_OP_PULL && !docker_json_stream_empty (&op->js))
        error_set (err, ERR_MALFORMED, "image pull: truncated progress stream");
      break;
    case DOCKER_RES_VERSION:
      if (docker_parse_version (b, n, &r->version, err) == 0)
        negotiate_from (op->c, r->version, err);
      break;
    case DOCKER_RES_INFO:
      docker_parse_info (b, n, &r->info, err);
      break;
    case DOCKER_RES_IMAGE:
      docker_parse_image_inspect (b, n, &r->image, err);
      break;
    case DOCKER_RES_CREATE:
      docker_parse_create_response (b, n, &r->id, err);
      break;
    case DOCKER_RES_INSPECT:
      docker_parse_container_inspect (b, n, &r->inspect, err);
      break;
    case DOCKER_RES_LIST:
      docker_parse_container_list (b, n, &r->list, err);
      break;
    case DOCKER_RES_VOLUME:
      docker_parse_volume (b, n, &r->volume, err);
      break;
    case DOCKER_RES_STATS:
      if (op->c && op->c->podman)
        {
          if (op->c->stats_cache == NULL)
            op->c->stats_cache = xcalloc (1, sizeof *op->c->stats_cache);
          docker_parse_stats_podman (op->c->stats_cache, b, n, &r->stats, err);
        }
      else
        docker_parse_stats (b, n, &r->stats, err);
      break;
    case DOCKER_RES_IMAGE_LIST:
      docker_parse_image_list (b, n, &r->image_list, err);
      break;
    }
}

static void
op_http_done_cb (const struct http_response *resp, agent_error_t terr, void *data)
{
  docker_op_t *op = data;
  docker_client_t *c = op->c;
  op->call = NULL;
  agent_error_t err = NULL;
  union op_result r = { 0 };

  if (op->kind == DOCKER_OP_PULL && op->stream_err)
    error_move (&err, &op->stream_err);
  else if (terr)
    {
      if (error_kind (&terr) == ERR_TIMEOUT)
        timeout_error (&err, op->what ? op->what : "done", op->timeout_ms);
      else if (error_kind (&terr) == ERR_CANCELLED && op->kind == DOCKER_OP_PULL)
        error_set (&err, ERR_MALFORMED, "image pull: invalid progress stream");
      else
        docker_transport_error (c, &err, &terr);
    }
  else if (!status_ok (op, resp->status))
    docker_error_from_response (&err, resp->status, resp->body, resp->body_len,
                                op->kind == DOCKER_OP_PULL);
  else
    op_parse (op, resp->body, resp->body_len, &r, &err);

  if (op->kind == DOCKER_OP_VERSION && c && c->neg_op == op)
    neg_finish (c, &err);
  enum docker_result_type type = op->cb.type;
  if (err)
    op_result_free (type, &r); /* a half-parsed result never reaches the callback */
  op_complete (op, err ? NULL : &r, err); /* frees op */
  error_free (&err);
  op_result_free (type, &r);
}

/* Negotiation finished (err NULL = c->api set): resume or fail waiters. */
static void
neg_finish (docker_client_t *c, agent_error_t *err)
{
  c->neg_op = NULL;
  docker_op_t *o;
  TAILQ_FOREACH (o, &c->ops, link)
    {
      if (!o->waiting_neg)
        continue;
      o->waiting_neg = false;
      if (*err == NULL && c->api)
        docker_op_send (o);
      else
        {
          agent_error_t e = NULL;
          error_set (&e, error_kind (err) ? error_kind (err) : ERR_GENERIC,
                     "docker API version negotiation: %s", error_msg (err));
          docker_op_fail_later (o, &e);
        }
    }
}

/* ---- pull progress stream ---------------------------------------------- */

static int
pull_line_cb (const char *json, size_t len, void *data)
{
  docker_op_t *op = data;
  struct docker_pull_progress p;
  agent_error_t err = NULL;
  if (docker_parse_pull_line (json, len, &p, &err) < 0)
    {
      if (op->stream_err == NULL)
        error_move (&op->stream_err, &err);
      error_free (&err);
      return -1;
    }
  if (p.status && p.id)
    docker_pull_count_bytes (op, p.status, p.id, p.total);
  if (op->on_progress && p.status)
    op->on_progress (&p, op->data);
  docker_pull_progress_clear (&p);
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
      /* upstream's text (CannotPullContainerError: ...) */
      error_set (&err, ERR_TIMEOUT, "inactivity time exceeded timeout while pulling image");
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

/* ---- send and negotiation ---------------------------------------------- */

static void
op_start_negotiation (docker_client_t *c)
{
  if (c->neg_op)
    return;
  docker_op_t *n = docker_op_new (c, DOCKER_OP_VERSION, "GET", xstrdup ("/version"), c->t.other_ms,
                                  docker_op_cb_version (NULL), NULL);
  n->internal = true;
  c->neg_op = n;
  docker_op_send (n);
}

void
docker_op_send (docker_op_t *op)
{
  docker_client_t *c = op->c;
  if (op->versioned && c->api == NULL)
    {
      op->waiting_neg = true;
      op_start_negotiation (c);
      return;
    }
  if (op->kind == DOCKER_OP_CREATE && c->podman && !op->links_checked && docker_links_begin (op))
    return; /* Podman has no links: hosts entries instead (docker/links.h) */
  char *url;
  if (op->api_want) /* a create with the payload's API version */
    {
      char *v = NULL;
      agent_error_t verr = NULL;
      if (docker_api_version_for (op->api_want, c->api_min, c->api, &v, &verr) < 0)
        {
          docker_op_fail_later (op, &verr);
          return;
        }
      url = xasprintf ("%s/v%s%s", c->base_url, v, op->path);
      free (v);
    }
  else
    url = docker_url (c, op->versioned, op->path);
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
  if (op->kind == DOCKER_OP_PULL)
    req.on_data = pull_data_cb;
  log_debug ("docker", "%s %s", op->method, url + strlen (c->base_url)); /* with the API version */
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
      docker_op_fail_later (op, &e2);
      error_free (&e2);
      return;
    }
  if (op->kind == DOCKER_OP_PULL && (c->t.pull_begin_ms > 0 || c->t.pull_inactivity_ms > 0))
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
  TAILQ_INIT (&c->ops);
  LIST_INIT (&c->events);
  LIST_INIT (&c->stats_streams);
  return c;
}

void
docker_client_free (docker_client_t *c)
{
  if (c == NULL)
    return;
  docker_events_detach_all (c);
  docker_stats_streams_detach_all (c);
  while (!TAILQ_EMPTY (&c->ops))
    docker_op_cancel (TAILQ_FIRST (&c->ops));
  http_client_free (c->http);
  uv_timer_stop (c->defer);
  c->defer->data = NULL;
  uv_close ((uv_handle_t *) c->defer, timer_free_cb);
  free (c->host);
  free (c->unix_socket);
  free (c->base_url);
  free (c->api);
  if (c->stats_cache)
    docker_stats_cache_clear (c->stats_cache);
  free (c->stats_cache);
  free (c->api_min);
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

bool
docker_client_is_podman (const docker_client_t *c)
{
  return c->podman;
}

size_t
docker_client_active (const docker_client_t *c)
{
  size_t n = 0;
  docker_op_t *o;
  TAILQ_FOREACH (o, &c->ops, link)
    if (!o->internal)
      n++;
  return n;
}
