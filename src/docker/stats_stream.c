/* docker/stats_stream.c - one long-lived GET /containers/<id>/stats?stream=true
 * per container (docker/stats.h): samples split by the JSON stream framer
 * with a bounded buffer, a silence watchdog, reopen with back-off.
 *
 * One timer per stream: while a transfer is open it is the silence
 * watchdog (armed for silence_ms and, when it fires before the stream went
 * silent, re-armed for the rest: no timer call per sample); while the
 * stream is down it is the reopen delay.
 */
#include "core/metrics.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "docker/docker_int.h"
#include "docker/stats.h"
#include <stdlib.h>
#include <string.h>

#define ERROR_BODY_MAX 4096

/* streams started and not stopped, in the process (the metric) */
static size_t stats_streams_live;

struct docker_stats_stream
{
  docker_client_t *c; /* NULL once stopped */
  uv_loop_t *loop;
  char *id;
  struct docker_stats_stream_opts o;
  http_call_t *call;
  long status;      /* of the open transfer; 0 before its headers */
  struct sbuf ebody; /* an error answer's body (bounded) */
  struct docker_json_stream js;
  agent_error_t stream_err;
  uv_timer_t *timer;
  uint64_t last_ms; /* last sample, or the opening before the first */
  unsigned failures; /* consecutive, reset by a sample */
  bool stopped;
  LIST_ENTRY (docker_stats_stream) link;
};

uint64_t
docker_stats_stream_backoff_ms (unsigned failures, uint64_t min_ms, uint64_t max_ms,
                                double jitter_unit)
{
  uint64_t d = min_ms;
  for (unsigned i = 1; i < failures && d < max_ms; i++)
    d *= 2;
  if (d > max_ms)
    d = max_ms;
  if (jitter_unit < 0)
    jitter_unit = 0;
  if (jitter_unit > 1)
    jitter_unit = 1;
  return d + (uint64_t) (jitter_unit * 0.5 * (double) d);
}

bool
docker_stats_stream_silent (uint64_t now_ms, uint64_t last_ms, uint64_t silence_ms,
                            uint64_t *rearm_ms)
{
  uint64_t quiet = now_ms > last_ms ? now_ms - last_ms : 0;
  if (quiet >= silence_ms)
    return true;
  if (rearm_ms)
    *rearm_ms = silence_ms - quiet;
  return false;
}

static void
timer_close_cb (uv_handle_t *h)
{
  docker_stats_stream_t *s = h->data;
  free (h);
  docker_json_stream_free (&s->js);
  sbuf_free (&s->ebody);
  error_free (&s->stream_err);
  free (s->id);
  free (s);
}

void
docker_stats_stream_stop (docker_stats_stream_t *s)
{
  if (s == NULL || s->stopped)
    return;
  s->stopped = true;
  if (s->c)
    LIST_REMOVE (s, link);
  s->c = NULL;
  http_call_cancel (s->call);
  s->call = NULL;
  metrics_set (METRIC_STATS_STREAMS, (double) --stats_streams_live);
  uv_timer_stop (s->timer);
  /* freed once the timer is closed: a callback that stopped the stream
     returns into code that still reads it */
  uv_close ((uv_handle_t *) s->timer, timer_close_cb);
}

void
docker_stats_streams_detach_all (docker_client_t *c)
{
  while (!LIST_EMPTY (&c->stats_streams))
    docker_stats_stream_stop (LIST_FIRST (&c->stats_streams));
}

size_t
docker_stats_streams_open (const docker_client_t *c)
{
  size_t n = 0;
  const docker_stats_stream_t *s;
  LIST_FOREACH (s, &c->stats_streams, link)
    n += s->call != NULL;
  return n;
}

static void stream_open (docker_stats_stream_t *s);

static void
reopen_cb (uv_timer_t *t)
{
  stream_open (t->data);
}

/* The transfer is over (its call already gone): tell the user, reopen later. */
static void
stream_down (docker_stats_stream_t *s, agent_error_t *err)
{
  docker_json_stream_free (&s->js);
  sbuf_free (&s->ebody);
  s->status = 0;
  s->failures++;
  uint64_t delay = docker_stats_stream_backoff_ms (s->failures, s->o.backoff_min_ms,
                                                   s->o.backoff_max_ms, util_random_unit ());
  uv_timer_start (s->timer, reopen_cb, delay, 0);
  if (s->o.on_error)
    s->o.on_error (*err, s->o.data);
}

static void
silence_cb (uv_timer_t *t)
{
  docker_stats_stream_t *s = t->data;
  uint64_t rearm = 0;
  if (!docker_stats_stream_silent (uv_now (s->loop), s->last_ms, s->o.silence_ms, &rearm))
    {
      uv_timer_start (s->timer, silence_cb, rearm, 0);
      return;
    }
  http_call_cancel (s->call);
  s->call = NULL;
  agent_error_t err = NULL;
  error_set (&err, ERR_TIMEOUT, "no stats sample for %llu ms: stream abandoned",
             (unsigned long long) s->o.silence_ms);
  stream_down (s, &err);
  error_free (&err);
}

static int
sample_cb (const char *json, size_t len, void *data)
{
  docker_stats_stream_t *s = data;
  struct docker_stats st;
  agent_error_t err = NULL;
  if (docker_parse_stats_view (json, len, &st, &err) < 0)
    {
      error_move (&s->stream_err, &err);
      return -1;
    }
  s->last_ms = uv_now (s->loop);
  s->failures = 0;
  if (s->o.on_sample)
    s->o.on_sample (&st, s->o.data);
  docker_stats_clear_view (&st);
  return s->stopped ? -1 : 0;
}

static int
stream_headers_cb (long status, void *data)
{
  docker_stats_stream_t *s = data;
  s->status = status;
  return 0;
}

static int
stream_data_cb (const char *chunk, size_t len, void *data)
{
  docker_stats_stream_t *s = data;
  if (s->status != 200)
    { /* an error answer: keep the start of its body for the message */
      if (s->ebody.len < ERROR_BODY_MAX)
        sbuf_append (&s->ebody, chunk, len < ERROR_BODY_MAX ? len : ERROR_BODY_MAX);
      return 0;
    }
  agent_error_t err = NULL;
  int r = docker_json_stream_feed (&s->js, chunk, len, sample_cb, s, &err);
  if (s->stopped)
    {
      error_free (&err);
      return -1;
    }
  if (r < 0 && err && !s->stream_err)
    {
      if (error_kind (&err) == ERR_MALFORMED && strstr (error_msg (&err), "too large"))
        error_set (&s->stream_err, ERR_MALFORMED,
                   "stats stream: a sample is larger than %zu bytes", s->o.max_sample_bytes);
      else
        error_move (&s->stream_err, &err);
    }
  error_free (&err);
  return r < 0 ? -1 : 0;
}

static void
stream_done_cb (const struct http_response *resp, agent_error_t terr, void *data)
{
  docker_stats_stream_t *s = data;
  s->call = NULL;
  agent_error_t err = NULL;
  if (s->stream_err)
    error_move (&err, &s->stream_err);
  else if (terr)
    docker_transport_error (s->c, &err, &terr);
  else if (resp->status != 200)
    docker_error_from_response (&err, resp->status, s->ebody.s, s->ebody.len, false);
  else
    error_set (&err, ERR_UNREACHABLE, "stats stream closed by the daemon");
  stream_down (s, &err);
  error_free (&err);
}

static void
stream_open (docker_stats_stream_t *s)
{
  docker_client_t *c = s->c;
  char *e = docker_escape (s->id, NULL);
  char *path = xasprintf ("/containers/%s/stats?stream=true", e);
  free (e);
  agent_error_t err = NULL;
  s->status = 0;
  s->call = docker_stream_get (c, path, stream_data_cb, stream_headers_cb, stream_done_cb, s, &err);
  free (path);
  if (s->call == NULL)
    {
      stream_down (s, &err);
      error_free (&err);
      return;
    }
  s->last_ms = uv_now (s->loop);
  uv_timer_start (s->timer, silence_cb, s->o.silence_ms, 0);
}

docker_stats_stream_t *
docker_stats_stream_start (docker_client_t *c, const char *id,
                           const struct docker_stats_stream_opts *o)
{
  docker_stats_stream_t *s = xcalloc (1, sizeof *s);
  s->c = c;
  s->loop = c->loop;
  s->id = xstrdup (id ? id : "");
  s->o = *o;
  if (!s->o.silence_ms)
    s->o.silence_ms = DOCKER_STATS_STREAM_SILENCE_MS;
  if (!s->o.backoff_min_ms)
    s->o.backoff_min_ms = DOCKER_STATS_STREAM_BACKOFF_MIN_MS;
  if (!s->o.backoff_max_ms)
    s->o.backoff_max_ms = DOCKER_STATS_STREAM_BACKOFF_MAX_MS;
  if (!s->o.max_sample_bytes)
    s->o.max_sample_bytes = DOCKER_STATS_STREAM_MAX_SAMPLE;
  s->js.max_value = s->o.max_sample_bytes;
  s->js.unchecked = true; /* docker_parse_stats parses each sample */
  s->timer = xcalloc (1, sizeof *s->timer);
  uv_timer_init (c->loop, s->timer);
  s->timer->data = s;
  LIST_INSERT_HEAD (&c->stats_streams, s, link);
  metrics_set (METRIC_STATS_STREAMS, (double) ++stats_streams_live);
  /* open on the next loop turn: no callback runs inside this call */
  uv_timer_start (s->timer, reopen_cb, 0, 0);
  return s;
}
