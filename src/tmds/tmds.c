/* tmds/tmds.c - the task metadata and credentials server: introspection's
 * HTTP server with this module's router, the Docker inspect cache the
 * metadata reads, and the one-shot stats calls of the stats routes (see
 * tmds.h). */
#include "tmds/tmds_int.h"
#include "docker/stats.h"
#include "introspection/introspection.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include <jansson.h>
#include "log/log.h"
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#define MOD "tmds"
#define DEFAULT_MAX_CONNS 1024

struct icache
{
  TAILQ_ENTRY (icache) link;
  struct tmds_server *s;
  char *docker_id;
  struct docker_container_info *info; /* last successful inspect, NULL if none */
  docker_op_t *op;                    /* inspect in flight */
  bool again;                         /* changed while inspecting: once more */
  /* the last stats sample served (network_rate_stats); read_ns 0 = none */
  int64_t last_read_ns;
  uint64_t last_rx, last_tx;
  struct tmds_net_rate last_rate;
};

TAILQ_HEAD (icache_list, icache);

struct stats_req;

struct stats_item
{
  struct stats_req *req;
  docker_op_t *op;
  char *raw;
  struct tmds_net_rate rate;
};

struct stats_req
{
  TAILQ_ENTRY (stats_req) link;
  struct tmds_server *s;
  struct introspection_reply *reply;
  struct tmds_answer a;
  struct stats_item *items;
  size_t outstanding;
};

TAILQ_HEAD (stats_list, stats_req);

struct tags_req;

struct tags_item
{
  struct tags_req *req;
  ecs_call_t *call;
  char *arn;
  char *body; /* NULL: failed */
  size_t len;
  char *error;
  int status;
};

struct tags_req
{
  TAILQ_ENTRY (tags_req) link;
  struct tmds_server *s;
  struct introspection_reply *reply;
  struct tmds_answer a;
  struct tags_item items[2]; /* container instance, task */
  int outstanding;
};

TAILQ_HEAD (tags_list, tags_req);

struct tmds_server
{
  uv_loop_t *loop;
  struct tmds_config cfg;
  char *addr, *cluster, *az;
  struct tmds_provider prov;
  const task_creds_store_t *creds;
  docker_client_t *docker;
  introspection_server_t *http;
  struct icache_list cache;
  struct stats_list stats;
  size_t stats_inflight;
  struct tags_list tags;
  struct tmds_throttle *throttle;
  char rate_header[32]; /* X-Rate-Limit-Limit */
  void (*done_cb) (void *);
  void *done_arg;
};

/* ---- Docker inspect cache ---- */

static struct icache *
cache_find (struct tmds_server *s, const char *id)
{
  struct icache *e;
  TAILQ_FOREACH (e, &s->cache, link)
  if (strcmp (e->docker_id, id) == 0)
    return e;
  return NULL;
}

static const struct docker_container_info *
cache_inspect (void *data, const char *docker_id)
{
  struct icache *e = cache_find (data, docker_id);
  return e ? e->info : NULL;
}

static void cache_refresh (struct icache *e);

static void
cache_inspect_cb (const struct docker_container_info *info, agent_error_t err, void *data)
{
  struct icache *e = data;
  e->op = NULL;
  if (err)
    log_debug (MOD, "inspect %.12s: %s", e->docker_id, error_msg (&err));
  else if (info)
    {
      docker_container_info_free (e->info);
      e->info = docker_container_info_dup (info);
    }
  if (e->again)
    cache_refresh (e);
}

static void
cache_refresh (struct icache *e)
{
  e->again = false;
  if (!e->s->docker)
    return;
  e->op = docker_container_inspect (e->s->docker, e->docker_id, cache_inspect_cb, e);
}

static void
cache_free (struct tmds_server *s, struct icache *e)
{
  TAILQ_REMOVE (&s->cache, e, link);
  docker_op_cancel (e->op);
  docker_container_info_free (e->info);
  free (e->docker_id);
  free (e);
}

static bool
docker_id_held (struct tmds_server *s, const char *id)
{
  size_t n = s->prov.task_count (s->prov.data);
  for (size_t i = 0; i < n; i++)
    {
      const struct task *t = s->prov.task_at (s->prov.data, i);
      for (size_t k = 0; k < t->n_containers; k++)
        if (t->containers[k].docker_id && strcmp (t->containers[k].docker_id, id) == 0)
          return true;
    }
  return false;
}

void
tmds_container_changed (tmds_server_t *s, const struct task *t, const struct task_container *c)
{
  (void) t;
  if (!s)
    return;
  if (!c)
    {
      struct icache *e, *next;
      for (e = TAILQ_FIRST (&s->cache); e; e = next)
        {
          next = TAILQ_NEXT (e, link);
          if (!docker_id_held (s, e->docker_id))
            cache_free (s, e);
        }
      return;
    }
  if (!c->docker_id)
    return;
  struct icache *e = cache_find (s, c->docker_id);
  if (!e)
    {
      e = xcalloc (1, sizeof *e);
      e->s = s;
      e->docker_id = xstrdup (c->docker_id);
      TAILQ_INSERT_TAIL (&s->cache, e, link);
    }
  if (e->op)
    e->again = true;
  else
    cache_refresh (e);
}

/* ---- stats requests ---- */

static void
stats_req_free (struct stats_req *r)
{
  struct tmds_server *s = r->s;
  TAILQ_REMOVE (&s->stats, r, link);
  for (size_t i = 0; i < r->a.n_stats_ids; i++)
    {
      if (r->items[i].op)
        {
          docker_op_cancel (r->items[i].op);
          s->stats_inflight--;
        }
      free (r->items[i].raw);
    }
  free (r->items);
  tmds_answer_clear (&r->a);
  free (r);
}

static void
stats_finish (struct stats_req *r)
{
  const char **raws = xcalloc (r->a.n_stats_ids + 1, sizeof *raws);
  struct tmds_net_rate *rates = xcalloc (r->a.n_stats_ids + 1, sizeof *rates);
  for (size_t i = 0; i < r->a.n_stats_ids; i++)
    {
      raws[i] = r->items[i].raw;
      rates[i] = r->items[i].rate;
    }
  tmds_stats_answer (&r->a, raws, rates);
  free (raws);
  free (rates);
  char *body = r->a.body;
  r->a.body = NULL;
  introspection_reply_send (r->reply, r->a.status, body, r->a.ctype);
  stats_req_free (r);
}

/* The rate against the container's previous sample, then this sample
   becomes the previous one.  Samples read at the same instant (two
   requests answered by one daemon sample) repeat the last rate. */
static void
note_sample (struct tmds_server *s, const char *id, const struct docker_stats *st,
             struct tmds_net_rate *out)
{
  struct icache *e = cache_find (s, id);
  if (!e || !st->has_networks || st->read_ns <= 0)
    return;
  if (st->read_ns == e->last_read_ns)
    {
      *out = e->last_rate;
      return;
    }
  *out = tmds_net_rate_between (e->last_read_ns, e->last_rx, e->last_tx, st->read_ns,
                                st->net.rx_bytes, st->net.tx_bytes);
  e->last_read_ns = st->read_ns;
  e->last_rx = st->net.rx_bytes;
  e->last_tx = st->net.tx_bytes;
  e->last_rate = *out;
}

static void
stats_cb (const struct docker_stats *st, agent_error_t err, void *data)
{
  struct stats_item *it = data;
  struct stats_req *r = it->req;
  it->op = NULL;
  r->s->stats_inflight--;
  if (!err && st && st->raw)
    {
      it->raw = xstrdup (st->raw);
      note_sample (r->s, r->a.stats_ids[it - r->items], st, &it->rate);
    }
  if (--r->outstanding == 0)
    stats_finish (r);
}

static void
stats_cancel_cb (void *arg)
{
  stats_req_free (arg);
}

/* 0: deferred (reply kept); else answered in a. */
static int
stats_start (struct tmds_server *s, struct tmds_answer *a, struct introspection_reply *reply)
{
  struct stats_req *r = xcalloc (1, sizeof *r);
  r->s = s;
  r->reply = reply;
  r->a = *a;
  memset (a, 0, sizeof *a);
  r->items = xcalloc (r->a.n_stats_ids + 1, sizeof *r->items);
  TAILQ_INSERT_TAIL (&s->stats, r, link);
  for (size_t i = 0; i < r->a.n_stats_ids; i++)
    {
      r->items[i].req = r;
      const char *id = r->a.stats_ids[i];
      if (id[0] == '!' || !s->docker || s->stats_inflight >= TMDS_MAX_STATS_INFLIGHT)
        continue; /* not tracked, or over the bound: unavailable */
      r->items[i].op = docker_container_stats (s->docker, id, false, stats_cb, &r->items[i]);
      s->stats_inflight++;
      r->outstanding++;
    }
  if (r->outstanding > 0)
    {
      introspection_reply_on_cancel (reply, stats_cancel_cb, r);
      return 0;
    }
  const char **raws = xcalloc (r->a.n_stats_ids + 1, sizeof *raws);
  tmds_stats_answer (&r->a, raws, NULL);
  free (raws);
  *a = r->a;
  memset (&r->a, 0, sizeof r->a);
  stats_req_free (r);
  return a->status;
}

/* ---- ...WithTags: ListTagsForResource of the instance and the task ---- */

static void
tags_req_free (struct tags_req *r)
{
  TAILQ_REMOVE (&r->s->tags, r, link);
  for (int i = 0; i < 2; i++)
    {
      if (r->items[i].call)
        ecs_call_cancel (r->items[i].call);
      free (r->items[i].arn);
      free (r->items[i].body);
      free (r->items[i].error);
    }
  tmds_answer_clear (&r->a);
  free (r);
}

static void
tags_answer (struct tags_req *r)
{
  struct tmds_tags_result res[2];
  for (int i = 0; i < 2; i++)
    res[i] = (struct tmds_tags_result){ .resource_arn = r->items[i].arn,
                                        .body = r->items[i].body,
                                        .len = r->items[i].len,
                                        .error = r->items[i].error,
                                        .status = r->items[i].status };
  tmds_tags_answer (&r->a, res);
}

static void
tags_finish (struct tags_req *r)
{
  tags_answer (r);
  char *body = r->a.body;
  r->a.body = NULL;
  introspection_reply_send (r->reply, r->a.status, body, r->a.ctype);
  tags_req_free (r);
}

static void
tags_cb (const char *body, size_t len, agent_error_t err, void *data)
{
  struct tags_item *it = data;
  it->call = NULL;
  if (err)
    {
      it->error = xstrdup (error_msg (&err));
      it->status = err->status;
      log_debug (MOD, "ListTagsForResource %s: %s", it->arn ? it->arn : "-", error_msg (&err));
    }
  else
    {
      it->body = xmalloc (len + 1);
      memcpy (it->body, body ? body : "", len);
      it->body[len] = 0;
      it->len = len;
    }
  if (--it->req->outstanding == 0)
    tags_finish (it->req);
}

static void
tags_cancel_cb (void *arg)
{
  tags_req_free (arg);
}

/* Ask for both tag sets: 0 when the reply is kept until they are in,
   else (no call could be made) the status, the answer in a. */
static int
tags_start (struct tmds_server *s, struct tmds_answer *a, struct introspection_reply *reply)
{
  struct tags_req *r = xcalloc (1, sizeof *r);
  r->s = s;
  r->reply = reply;
  r->a = *a;
  memset (a, 0, sizeof *a);
  TAILQ_INSERT_TAIL (&s->tags, r, link);
  const char *ci = s->prov.container_instance_arn ? s->prov.container_instance_arn (s->prov.data)
                                                  : NULL;
  ecs_client_t *ecs = s->prov.ecs ? s->prov.ecs (s->prov.data) : NULL;
  const char *arns[2] = { ci, r->a.tags_task_arn };
  /* each call counts until its callback (which never runs inside
     ecs_call_raw), so none finishes the request early */
  r->outstanding = 3;
  for (int i = 0; i < 2; i++)
    {
      struct tags_item *it = &r->items[i];
      it->req = r;
      it->arn = arns[i] ? xstrdup (arns[i]) : NULL;
      if (!arns[i] || !*arns[i] || !ecs)
        {
          it->error = xstrdup (!ecs ? "no ECS client" : "the container instance is not registered");
          r->outstanding--;
          continue;
        }
      json_t *j = json_pack ("{s:s}", "resourceArn", arns[i]);
      cleanup_free char *req = json_dumps (j, JSON_COMPACT);
      json_decref (j);
      it->call = ecs_call_raw (ecs, "ListTagsForResource", req, tags_cb, it);
    }
  if (--r->outstanding == 0)
    {
      tags_answer (r);
      *a = r->a;
      memset (&r->a, 0, sizeof r->a);
      tags_req_free (r);
      return a->status;
    }
  introspection_reply_on_cancel (reply, tags_cancel_cb, r);
  return 0;
}

/* ---- requests ---- */

static int64_t
wall_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int
tmds_handle (void *data, const struct introspection_request *rq, struct introspection_reply *reply,
             char **body, const char **ctype)
{
  struct tmds_server *s = data;
  struct tmds_view v = { .cfg = &s->cfg,
                         .prov = &s->prov,
                         .creds = s->creds,
                         .inspect = cache_inspect,
                         .inspect_data = s };
  const char *ci_arn = s->prov.container_instance_arn
                          ? s->prov.container_instance_arn (s->prov.data)
                          : NULL;
  /* upstream's limiter headers, on every answer */
  introspection_reply_add_header (reply, "X-Rate-Limit-Limit", s->rate_header);
  introspection_reply_add_header (reply, "X-Rate-Limit-Duration", "1");
  introspection_reply_add_header (reply, "X-Rate-Limit-Request-Forwarded-For",
                                  rq->forwarded_for ? rq->forwarded_for : "");
  introspection_reply_add_header (reply, "X-Rate-Limit-Request-Remote-Addr",
                                  rq->remote_addr ? rq->remote_addr : "");
  if (!tmds_throttle_allow (s->throttle, rq->peer_ip, rq->path, (int64_t) uv_hrtime ()))
    {
      char *entry = tmds_audit_entry (wall_ns (), 429, rq->remote_addr, rq->path,
                                      rq->user_agent, NULL, NULL, s->cluster, ci_arn);
      log_audit (entry);
      free (entry);
      *body = xstrdup ("You have reached maximum request limit.");
      *ctype = "text/plain; charset=utf-8";
      return 429;
    }
  struct tmds_answer a;
  tmds_route (&v, rq->path, rq->args, rq->n_args, rq->peer_ip, &a);
  if (a.creds_request)
    {
      /* the credentials id is the secret: the entry names the path without it */
      char *entry = tmds_audit_entry (wall_ns (), a.status, rq->remote_addr, a.creds_path,
                                      rq->user_agent, a.creds_task_arn, a.creds_event, s->cluster,
                                      ci_arn);
      log_audit (entry);
      free (entry);
    }
  else
    log_debug (MOD, "request method=%s path=%s status=%d peer=%s", rq->method, rq->path,
               a.body ? a.status : 0, rq->peer_ip);
  if (a.want_tags && tags_start (s, &a, reply) == 0)
    return 0;
  if (!a.body && stats_start (s, &a, reply) == 0)
    return 0;
  *body = a.body;
  *ctype = a.ctype;
  a.body = NULL;
  int status = a.status;
  tmds_answer_clear (&a);
  return status;
}

static void
tmds_unused_foreach (void *data, introspection_task_cb cb, void *arg)
{
  (void) data;
  (void) cb;
  (void) arg;
}

int
tmds_start (uv_loop_t *loop, const struct tmds_config *cfg, const struct tmds_provider *prov,
            const task_creds_store_t *creds, docker_client_t *docker, tmds_server_t **out,
            agent_error_t *err)
{
  *out = NULL;
  if (!prov || !prov->task_count || !prov->task_at)
    return error_set (err, ERR_INVALID, "task metadata server: a task provider is required");
  struct tmds_server *s = xcalloc (1, sizeof *s);
  s->loop = loop;
  s->cfg = *cfg;
  s->addr = xstrdup (cfg->listen_addr && *cfg->listen_addr ? cfg->listen_addr : TMDS_DEFAULT_ADDR);
  s->cluster = xstrdup (cfg->cluster ? cfg->cluster : "default");
  s->az = cfg->availability_zone ? xstrdup (cfg->availability_zone) : NULL;
  s->cfg.listen_addr = s->addr;
  s->cfg.cluster = s->cluster;
  s->cfg.availability_zone = s->az;
  s->prov = *prov;
  s->creds = creds;
  s->docker = docker;
  TAILQ_INIT (&s->cache);
  TAILQ_INIT (&s->stats);
  TAILQ_INIT (&s->tags);
  unsigned rate = cfg->rps_steady ? cfg->rps_steady : 40, burst = cfg->rps_burst ? cfg->rps_burst : 60;
  s->throttle = tmds_throttle_new (rate, burst, TMDS_THROTTLE_MAX_BUCKETS);
  snprintf (s->rate_header, sizeof s->rate_header, "%.2f", (double) rate);
  struct introspection_config ic = {
    .listen_addr = s->addr,
    .port = cfg->port < 0 ? TMDS_DEFAULT_PORT : cfg->port,
    .cluster = s->cluster,
    .max_connections = cfg->max_connections ? cfg->max_connections : DEFAULT_MAX_CONNS,
    .read_timeout_s = cfg->read_timeout_s,
  };
  struct introspection_provider ip = { .foreach_task = tmds_unused_foreach,
                                       .handle = tmds_handle,
                                       .data = s };
  if (introspection_start (loop, &ic, &ip, &s->http, err) < 0)
    {
      tmds_throttle_free (s->throttle);
      free (s->addr);
      free (s->cluster);
      free (s->az);
      free (s);
      return error_wrap (err, "task metadata server");
    }
  /* containers restored with a Docker id: their details now */
  size_t n = prov->task_count (prov->data);
  for (size_t i = 0; i < n; i++)
    {
      const struct task *t = prov->task_at (prov->data, i);
      for (size_t k = 0; k < t->n_containers; k++)
        tmds_container_changed (s, t, &t->containers[k]);
    }
  *out = s;
  return 0;
}

static void
tmds_http_stopped_cb (void *arg)
{
  struct tmds_server *s = arg;
  while (!TAILQ_EMPTY (&s->stats))
    stats_req_free (TAILQ_FIRST (&s->stats));
  while (!TAILQ_EMPTY (&s->tags))
    tags_req_free (TAILQ_FIRST (&s->tags));
  while (!TAILQ_EMPTY (&s->cache))
    cache_free (s, TAILQ_FIRST (&s->cache));
  void (*done) (void *) = s->done_cb;
  void *done_arg = s->done_arg;
  tmds_throttle_free (s->throttle);
  free (s->addr);
  free (s->cluster);
  free (s->az);
  free (s);
  if (done)
    done (done_arg);
}

void
tmds_stop (tmds_server_t *s, void (*done_cb) (void *arg), void *arg)
{
  if (!s)
    {
      if (done_cb)
        done_cb (arg);
      return;
    }
  s->done_cb = done_cb;
  s->done_arg = arg;
  /* Docker and ECS calls end now (the ECS client may go before the
     server is released); pending replies are cancelled by the server */
  struct icache *e;
  TAILQ_FOREACH (e, &s->cache, link)
  {
    docker_op_cancel (e->op);
    e->op = NULL;
  }
  struct tags_req *t;
  TAILQ_FOREACH (t, &s->tags, link)
  for (int i = 0; i < 2; i++)
    {
      if (t->items[i].call)
        ecs_call_cancel (t->items[i].call);
      t->items[i].call = NULL;
    }
  introspection_stop (s->http, tmds_http_stopped_cb, s);
}

int
tmds_port (const tmds_server_t *s)
{
  return s ? introspection_port (s->http) : 0;
}
