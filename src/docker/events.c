/* docker/events.c - long-lived /events stream with automatic reconnect.
 *
 * Reconnects pass since=<time of the last delivered event> (or of the start
 * of the stream when none was seen), so the daemon replays what happened
 * while we were disconnected.  Replayed events already delivered are
 * recognised by (timeNano, id, action) in a ring larger than the daemon's
 * own event buffer (256) and dropped.
 */
#include "core/util.h"
#include "core/xmalloc.h"
#include "docker/docker.h"
#include "docker/docker_int.h"
#include "log/log.h"
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SEEN_RING 1024

struct docker_events
{
  docker_client_t *c; /* NULL once stopped */
  char *label_filter;
  char **actions; /* server-side action filter (Docker), NULL = none */
  docker_event_cb on_event;
  docker_events_state_cb on_state;
  void *data;
  http_call_t *call;
  struct docker_json_stream js;
  int64_t since_ns; /* replay point when no event was delivered yet; 0 = none */
  int64_t last_ns;  /* newest delivered event */
  /* Events already delivered (a reconnect replays from `since`): time and a
     64-bit hash of id|action, inline, so that the ring does not pin heap
     pages with a thousand small strings allocated over hours. */
  struct
  {
    int64_t time_ns;
    uint64_t hash;
  } seen[SEEN_RING];
  size_t seen_pos;
  bool connected, stopped, in_cb;
  agent_error_t stream_err;
  uv_timer_t *retry;
  struct backoff bo;
  uint64_t hold_ms;
  uint64_t n_connects;
  docker_op_t *ver_op; /* API version negotiation before the first connect */
  LIST_ENTRY (docker_events) link;
};

static int64_t
wall_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void
retry_close_cb (uv_handle_t *h)
{
  free (h);
}

static void
events_destroy (docker_events_t *ev)
{
  if (ev->retry)
    {
      uv_timer_stop (ev->retry);
      uv_close ((uv_handle_t *) ev->retry, retry_close_cb);
    }
  docker_json_stream_free (&ev->js);
  error_free (&ev->stream_err);
  free (ev->label_filter);
  task_strv_free (ev->actions);
  free (ev);
}

static void
events_unlink (docker_events_t *ev)
{
  docker_client_t *c = ev->c;
  if (c == NULL)
    return;
  LIST_REMOVE (ev, link);
  ev->c = NULL;
}

void
docker_events_stop (docker_events_t *ev)
{
  if (ev == NULL || ev->stopped)
    return;
  ev->stopped = true;
  if (ev->ver_op)
    {
      docker_op_cancel (ev->ver_op);
      ev->ver_op = NULL;
    }
  events_unlink (ev);
  if (ev->call)
    {
      http_call_cancel (ev->call);
      ev->call = NULL;
    }
  if (ev->in_cb)
    return; /* freed when the callback returns */
  events_destroy (ev);
}

void
docker_events_detach_all (docker_client_t *c)
{
  while (!LIST_EMPTY (&c->events))
    docker_events_stop (LIST_FIRST (&c->events));
}

bool
docker_events_connected (const docker_events_t *ev)
{
  return ev && ev->connected;
}

static void events_connect (docker_events_t *ev);

static void
retry_cb (uv_timer_t *t)
{
  docker_events_t *ev = t->data;
  events_connect (ev);
}

static void
schedule_retry (docker_events_t *ev)
{
  uint64_t delay = backoff_next (&ev->bo) + ev->hold_ms;
  ev->hold_ms = 0;
  uv_timer_start (ev->retry, retry_cb, delay, 0);
}

/* Stream down: schedule the reconnect, then tell the user (last: the
   callback may stop the stream). */
static void
events_down (docker_events_t *ev, agent_error_t *err)
{
  bool was = ev->connected;
  ev->connected = false;
  docker_json_stream_free (&ev->js);
  schedule_retry (ev);
  log_msg (was ? LOG_WARN : LOG_DEBUG, "docker", "event stream down, reconnecting: %s",
           error_msg (err));
  if (ev->on_state)
    ev->on_state (false, *err, ev->data);
}

/* FNV-1a, 64 bits: a false match also needs the same nanosecond time. */
static uint64_t
seen_hash (const char *id, const char *action)
{
  uint64_t h = 14695981039346656037ULL;
  for (const char *p = id ? id : ""; *p; p++)
    h = (h ^ (unsigned char) *p) * 1099511628211ULL;
  h = (h ^ '|') * 1099511628211ULL;
  for (const char *p = action ? action : ""; *p; p++)
    h = (h ^ (unsigned char) *p) * 1099511628211ULL;
  return h | 1; /* 0 marks an empty slot */
}

static bool
seen_check_add (docker_events_t *ev, const struct docker_event *e)
{
  uint64_t h = seen_hash (e->id, e->action);
  for (size_t i = 0; i < SEEN_RING; i++)
    if (ev->seen[i].hash == h && ev->seen[i].time_ns == e->time_ns)
      return true;
  ev->seen[ev->seen_pos].time_ns = e->time_ns;
  ev->seen[ev->seen_pos].hash = h;
  ev->seen_pos = (ev->seen_pos + 1) % SEEN_RING;
  return false;
}

/* Podman: a presence-only label filter is applied here, not by the engine. */
static bool
events_filter_here (const docker_events_t *ev)
{
  return ev->c && ev->c->podman && ev->label_filter && !strchr (ev->label_filter, '=');
}

static bool
events_label_ok (const docker_events_t *ev, const struct docker_event *e)
{
  if (!events_filter_here (ev))
    return true;
  for (size_t i = 0; i < e->n_attributes; i++)
    if (e->attributes[i].key && strcmp (e->attributes[i].key, ev->label_filter) == 0)
      return true;
  return false;
}

static int
event_value_cb (const char *json, size_t len, void *data)
{
  docker_events_t *ev = data;
  struct docker_event *e = NULL;
  agent_error_t err = NULL;
  if (docker_parse_event (json, len, &e, &err) < 0)
    {
      log_warn ("docker", "ignoring undecodable docker event: %s", error_msg (&err));
      error_free (&err);
      return 0;
    }
  if (strcmp (e->type, "container") == 0 && events_label_ok (ev, e) && !seen_check_add (ev, e))
    {
      if (e->time_ns > ev->last_ns)
        ev->last_ns = e->time_ns;
      if (ev->on_event)
        ev->on_event (e, ev->data);
    }
  docker_event_free (e);
  return ev->stopped ? -1 : 0;
}

static int
events_data_cb (const char *chunk, size_t len, void *data)
{
  docker_events_t *ev = data;
  agent_error_t err = NULL;
  ev->in_cb = true;
  int r = docker_json_stream_feed (&ev->js, chunk, len, event_value_cb, ev, &err);
  ev->in_cb = false;
  if (ev->stopped)
    {
      error_free (&err);
      events_destroy (ev);
      return -1;
    }
  if (r < 0)
    {
      if (err)
        error_move (&ev->stream_err, &err);
      return -1;
    }
  return 0;
}

static int
events_headers_cb (long status, void *data)
{
  docker_events_t *ev = data;
  if (status != 200)
    return 0; /* the error body goes to events_done_cb */
  ev->connected = true;
  ev->n_connects++;
  backoff_reset (&ev->bo);
  log_debug ("docker", "event stream connected");
  if (ev->on_state)
    {
      ev->in_cb = true;
      ev->on_state (true, NULL, ev->data);
      ev->in_cb = false;
      if (ev->stopped)
        {
          events_destroy (ev);
          return -1;
        }
    }
  return 0;
}

static void
events_done_cb (const struct http_response *resp, agent_error_t terr, void *data)
{
  docker_events_t *ev = data;
  ev->call = NULL;
  agent_error_t err = NULL;
  if (ev->stream_err)
    error_move (&err, &ev->stream_err);
  else if (terr)
    docker_transport_error (ev->c, &err, &terr);
  else if (resp->status != 200)
    docker_error_from_response (&err, resp->status, resp->body, resp->body_len, false);
  else
    error_set (&err, ERR_UNREACHABLE, "docker event stream closed by the daemon");
  events_down (ev, &err);
  error_free (&err);
}

static void
events_version_cb (const struct docker_version_info *v, agent_error_t err, void *data)
{
  docker_events_t *ev = data;
  (void) v;
  ev->ver_op = NULL;
  if (err || ev->c->api == NULL)
    {
      agent_error_t e = NULL;
      error_set (&e, err ? err->kind : ERR_GENERIC, "docker API version negotiation: %s",
                 err ? err->msg : "failed");
      events_down (ev, &e);
      error_free (&e);
      return;
    }
  events_connect (ev);
}

static void
events_connect (docker_events_t *ev)
{
  docker_client_t *c = ev->c;
  if (c->api == NULL)
    {
      /* the stream uses the negotiated version like every other call */
      ev->ver_op = docker_version (c, events_version_cb, ev);
      return;
    }
  json_t *f = json_object ();
  json_object_set_new (f, "type", json_pack ("[s]", "container"));
  if (ev->label_filter && !events_filter_here (ev))
    json_object_set_new (f, "label", json_pack ("[s]", ev->label_filter));
  if (ev->actions && ev->actions[0] && !c->podman)
    {
      json_t *a = json_array ();
      for (size_t i = 0; ev->actions[i]; i++)
        json_array_append_new (a, json_string (ev->actions[i]));
      json_object_set_new (f, "event", a);
    }
  char *fs = json_dumps (f, JSON_COMPACT);
  json_decref (f);
  char *efs = docker_escape (fs, NULL);
  free (fs);
  int64_t since = ev->last_ns > 0 ? ev->last_ns : ev->since_ns;
  char *path;
  if (since > 0)
    path = xasprintf ("/events?filters=%s&since=%lld.%09lld", efs,
                      (long long) (since / 1000000000LL), (long long) (since % 1000000000LL));
  else
    path = xasprintf ("/events?filters=%s", efs);
  free (efs);
  /* after the first attempt, a reconnect must replay from here at least */
  if (ev->since_ns == 0)
    ev->since_ns = wall_ns ();
  agent_error_t err = NULL;
  ev->call = docker_stream_get (c, path, events_data_cb, events_headers_cb, events_done_cb, ev, &err);
  free (path);
  if (ev->call == NULL)
    {
      events_down (ev, &err);
      error_free (&err);
    }
}

docker_events_t *
docker_events_start (docker_client_t *c, const struct docker_events_opts *o)
{
  docker_events_t *ev = xcalloc (1, sizeof *ev);
  ev->c = c;
  ev->label_filter = o->label_filter && o->label_filter[0] ? xstrdup (o->label_filter) : NULL;
  ev->actions = o->actions ? task_strv_dup ((char *const *) o->actions) : NULL;
  ev->on_event = o->on_event;
  ev->on_state = o->on_state;
  ev->data = o->data;
  ev->since_ns = o->since_ns > 0 ? o->since_ns : 0;
  backoff_init (&ev->bo, o->backoff_min_ms ? o->backoff_min_ms : 200,
                o->backoff_max_ms ? o->backoff_max_ms : 2000, 0.2, 1.5);
  ev->retry = xcalloc (1, sizeof *ev->retry);
  uv_timer_init (c->loop, ev->retry);
  ev->retry->data = ev;
  LIST_INSERT_HEAD (&c->events, ev, link);
  /* connect on the next loop turn: callbacks never run inside this call */
  uv_timer_start (ev->retry, retry_cb, 0, 0);
  return ev;
}

void
docker_events_test_drop (docker_events_t *ev, uint64_t hold_ms)
{
  if (ev == NULL || ev->stopped)
    return;
  ev->hold_ms = hold_ms;
  if (ev->call == NULL)
    {
      if (uv_is_active ((uv_handle_t *) ev->retry))
        schedule_retry (ev);
      return;
    }
  http_call_cancel (ev->call);
  ev->call = NULL;
  agent_error_t err = NULL;
  error_set (&err, ERR_UNREACHABLE, "event stream dropped (test hook)");
  events_down (ev, &err);
  error_free (&err);
}
