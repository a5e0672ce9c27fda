/* tcs/collector.c - container samples, publish rounds and instance status
   (tcs/collector.h). */
#include "tcs/collector.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "docker/stats.h"
#include "log/log.h"
#include "tcs/codec.h"
#include "tcs/metrics.h"
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#define MOD "tcs"
#define MAX_TRACKED 4096

struct tracked
{
  LIST_ENTRY (tracked) link;
  tcs_collector_t *c;
  char *docker_id;
  char *task_arn;
  char *name;
  struct tcs_queue q;
  docker_op_t *op;                /* polling: the stats call in flight */
  docker_stats_stream_t *stream;  /* streaming: the container's stream */
  bool seen;
  bool failing; /* last poll failed (logged once) */
  bool metrics; /* sampled for metrics (not with disable_metrics) */
  bool restart_policy; /* the container has one (tcs_sample_reject) */
  bool rejecting;      /* the last sample was refused (logged once) */
};

struct tcs_collector
{
  uv_loop_t *loop;
  struct tcs_collector_options o;
  char *cluster, *instance_arn;
  uv_timer_t poll_timer; /* polls, or (streaming) the reconcile of the streams */
  enum tcs_sampler_mode mode; /* how the tracked containers are sampled now */
  bool started, freeing;
  LIST_HEAD (, tracked) tracked;
  size_t n_tracked, n_metrics;
  /* instance status */
  enum tcs_instance_status status;
  int64_t started_ms, last_run_ms, last_change_ms, status_updated_ms;
  bool status_reported;
  docker_op_t *ping_op;
  struct tcs_collector_stats stats;
};

static int64_t
wall_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
uuid4 (char out[37])
{
  char h[33];
  util_random_hex (h, 16);
  h[12] = '4';
  h[16] = "89ab"[h[16] % 4];
  snprintf (out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
}

static void
tracked_free (struct tracked *t)
{
  LIST_REMOVE (t, link);
  t->c->n_tracked--;
  docker_op_cancel (t->op);
  docker_stats_stream_stop (t->stream);
  free (t->docker_id);
  free (t->task_arn);
  free (t->name);
  free (t);
}

static struct tracked *
tracked_find (tcs_collector_t *c, const char *id)
{
  struct tracked *t;
  LIST_FOREACH (t, &c->tracked, link)
    if (strcmp (t->docker_id, id) == 0)
      return t;
  return NULL;
}

/* A poll failed or a stream ended: logged when the condition changes. */
static void
sample_failed (struct tracked *t, agent_error_t err)
{
  t->c->stats.poll_errors++;
  if (!t->failing)
    log_info (MOD, "stats of container %s (%s): %s%s", t->name, t->docker_id,
              err ? error_msg (&err) : "no answer", t->stream ? " (reopening with back-off)" : "");
  t->failing = true;
}

static void
sample_got (struct tracked *t, const struct docker_stats *st)
{
  tcs_collector_t *c = t->c;
  if (t->failing)
    log_info (MOD, "stats of container %s are back", t->name);
  t->failing = false;
  const char *why = tcs_sample_reject (st, c->o.ncpu, c->o.cgroup_v1, t->restart_policy);
  if (why)
    {
      c->stats.rejected++;
      if (!t->rejecting)
        log_info (MOD, "stats of container %s: sample not used: %s", t->name, why);
      t->rejecting = true;
      return;
    }
  t->rejecting = false;
  if (tcs_queue_push (&t->q, st, c->o.ncpu) == 0)
    c->stats.samples++;
}

static void
stats_cb (const struct docker_stats *st, agent_error_t err, void *data)
{
  struct tracked *t = data;
  t->op = NULL;
  if (!st)
    sample_failed (t, err);
  else
    sample_got (t, st);
}

static void
stream_sample_cb (const struct docker_stats *st, void *data)
{
  struct tracked *t = data;
  /* Docker keeps a stopped container's stream open with zeroed samples
     ("read" is the zero time) until it is closed: not a sample (with a
     restart policy, tcs_sample_reject refuses it as upstream does) */
  if (st->read_ns == 0 && !t->restart_policy)
    return;
  sample_got (t, st);
}

static void
stream_error_cb (agent_error_t err, void *data)
{
  sample_failed (data, err);
}

enum tcs_sampler_mode
tcs_sampler_mode_of (bool disable_metrics, bool poll_metrics, bool podman)
{
  if (disable_metrics)
    return TCS_SAMPLER_NONE;
  if (poll_metrics || podman)
    return TCS_SAMPLER_POLL;
  return TCS_SAMPLER_STREAM;
}

size_t
tcs_sampler_queue_cap (enum tcs_sampler_mode mode, uint64_t publish_ms, uint64_t poll_ms)
{
  if (mode == TCS_SAMPLER_STREAM || poll_ms == 0)
    return TCS_QUEUE_MAX;
  size_t cap = (size_t) (publish_ms / poll_ms) * 4;
  return cap < 4 ? 4 : cap > TCS_QUEUE_MAX ? TCS_QUEUE_MAX : cap;
}

static bool
task_tracked (const struct task *task)
{
  return task->arn && task->arn[0] && task->family && task->family[0]
         && task->known_status < TASK_STATUS_STOPPED;
}

static void
poll_cb (uv_timer_t *h)
{
  tcs_collector_t *c = h->data;
  struct tracked *t, *tmp;
  /* Podman is known from the client's /version, read before telemetry starts */
  c->mode = tcs_sampler_mode_of (c->o.disable_metrics, c->o.poll_metrics,
                                 docker_client_is_podman (c->o.docker));
  LIST_FOREACH (t, &c->tracked, link)
    t->seen = false;
  size_t nt = engine_task_count (c->o.engine);
  for (size_t i = 0; i < nt; i++)
    {
      const struct task *task = engine_task_at (c->o.engine, i);
      if (!task_tracked (task))
        continue;
      for (size_t k = 0; k < task->n_containers; k++)
        {
          const struct task_container *ct = &task->containers[k];
          if (ct->is_internal || !ct->docker_id || ct->known_status != TASK_STATUS_RUNNING
              || c->mode == TCS_SAMPLER_NONE)
            continue;
          t = tracked_find (c, ct->docker_id);
          if (!t)
            {
              if (c->n_tracked >= MAX_TRACKED)
                continue;
              t = xcalloc (1, sizeof *t);
              t->c = c;
              t->docker_id = xstrdup (ct->docker_id);
              t->task_arn = xstrdup (task->arn);
              t->name = xstrdup (ct->name);
              tcs_queue_init (&t->q, tcs_sampler_queue_cap (c->mode, c->o.publish_interval_ms,
                                                            c->o.poll_interval_ms));
              t->metrics = true;
              LIST_INSERT_HEAD (&c->tracked, t, link);
              c->n_tracked++;
            }
          t->seen = true;
          t->restart_policy = ct->restart.enabled;
        }
    }
  for (t = LIST_FIRST (&c->tracked); t; t = tmp)
    {
      tmp = LIST_NEXT (t, link);
      if (!t->seen)
        tracked_free (t);
    }
  c->stats.tracked = c->n_tracked;
  c->n_metrics = 0;
  LIST_FOREACH (t, &c->tracked, link)
    {
      c->n_metrics += t->metrics;
      if (t->metrics && c->mode == TCS_SAMPLER_STREAM && !t->stream)
        {
          c->stats.streams_opened++;
          struct docker_stats_stream_opts so = { .on_sample = stream_sample_cb,
                                                 .on_error = stream_error_cb,
                                                 .data = t,
                                                 .silence_ms = c->o.stream_silence_ms };
          t->stream = docker_stats_stream_start (c->o.docker, t->docker_id, &so);
        }
      else if (t->metrics && c->mode == TCS_SAMPLER_POLL && !t->op)
        {
          c->stats.polls++;
          t->op = docker_container_stats (c->o.docker, t->docker_id, true, stats_cb, t);
        }
    }
}

tcs_collector_t *
tcs_collector_new (uv_loop_t *loop, const struct tcs_collector_options *o, agent_error_t *err)
{
  if (!loop || !o || !o->engine || !o->docker)
    {
      error_set (err, ERR_INVALID, "tcs_collector_new: engine and docker client required");
      return NULL;
    }
  tcs_collector_t *c = xcalloc (1, sizeof *c);
  c->loop = loop;
  c->o = *o;
  if (!c->o.poll_interval_ms)
    c->o.poll_interval_ms = 10000;
  if (!c->o.publish_interval_ms)
    c->o.publish_interval_ms = 20000;
  if (!c->o.reconcile_interval_ms)
    c->o.reconcile_interval_ms = 1000;
  if (!c->o.ncpu)
    {
      cpu_set_t set;
      c->o.ncpu = sched_getaffinity (0, sizeof set, &set) == 0 ? (unsigned) CPU_COUNT (&set) : 1;
    }
  c->cluster = xstrdup (o->cluster ? o->cluster : "default");
  c->instance_arn = xstrdup (o->container_instance_arn ? o->container_instance_arn : "");
  c->o.cluster = c->o.container_instance_arn = NULL;
  LIST_INIT (&c->tracked);
  c->status = TCS_STATUS_INITIALIZING;
  c->started_ms = c->last_run_ms = c->last_change_ms = wall_ms ();
  c->status_reported = true; /* nothing to report before the first check */
  uv_timer_init (loop, &c->poll_timer);
  c->poll_timer.data = c;
  return c;
}

void
tcs_collector_start (tcs_collector_t *c)
{
  if (c->started)
    return;
  c->started = true;
  c->mode = tcs_sampler_mode_of (c->o.disable_metrics, c->o.poll_metrics,
                                 docker_client_is_podman (c->o.docker));
  if (c->mode == TCS_SAMPLER_STREAM)
    { /* streams open as soon as a container runs, close when it stops */
      uv_timer_start (&c->poll_timer, poll_cb, 0, c->o.reconcile_interval_ms);
      return;
    }
  uint64_t first = (uint64_t) (util_random_unit () * 0.8 * (double) c->o.poll_interval_ms);
  uv_timer_start (&c->poll_timer, poll_cb, first, c->o.poll_interval_ms);
}

static void
closed_cb (uv_handle_t *h)
{
  tcs_collector_t *c = h->data;
  free (c->cluster);
  free (c->instance_arn);
  free (c);
}

void
tcs_collector_free (tcs_collector_t *c)
{
  if (!c || c->freeing)
    return;
  c->freeing = true;
  while (!LIST_EMPTY (&c->tracked))
    tracked_free (LIST_FIRST (&c->tracked));
  docker_op_cancel (c->ping_op);
  uv_close ((uv_handle_t *) &c->poll_timer, closed_cb);
}

const struct tcs_collector_stats *
tcs_collector_get_stats (const tcs_collector_t *c)
{
  return &c->stats;
}

/* ---- publish ---- */

/* The metrics of one task's tracked containers into tm (containers array
   allocated); false when none has both sets. */
static bool
task_metrics (tcs_collector_t *c, const struct task *task, struct tcs_task_metric *tm)
{
  memset (tm, 0, sizeof *tm);
  tm->task_arn = task->arn;
  tm->family = task->family;
  tm->version = task->version;
  for (size_t k = 0; k < task->n_containers; k++)
    {
      const struct task_container *ct = &task->containers[k];
      struct tracked *t = ct->docker_id ? tracked_find (c, ct->docker_id) : NULL;
      if (!t || !t->metrics)
        continue;
      struct tcs_container_metric m = { .name = ct->name };
      if (!tcs_queue_cpu_set (&t->q, &m.cpu) || !tcs_queue_mem_set (&t->q, &m.mem))
        continue;
      m.has_storage = tcs_queue_storage_sets (&t->q, &m.storage_read, &m.storage_write);
      /* networkStatsSet: bridge-mode tasks only (never host / none; awsvpc is not run here) */
      const char *nm = task->opts.network_mode;
      if (!nm || !*nm || strcmp (nm, "bridge") == 0)
        m.has_network = tcs_queue_network_sets (&t->q, &m.network);
      m.has_restart = ct->restart.enabled;
      m.restart_count = ct->restart.count;
      tm->containers = xrealloc (tm->containers, (tm->n_containers + 1) * sizeof m);
      tm->containers[tm->n_containers++] = m;
    }
  return tm->n_containers > 0;
}

static void
queue_all (tcs_session_t *s, char **msgs, size_t n)
{
  for (size_t i = 0; i < n; i++)
    tcs_session_queue (s, msgs[i]);
  free (msgs);
}

static enum tcs_health_status
tcs_health_of (enum task_health h)
{
  switch (h)
    {
    case TASK_HEALTH_HEALTHY: return TCS_HEALTH_HEALTHY;
    case TASK_HEALTH_UNHEALTHY: return TCS_HEALTH_UNHEALTHY;
    default: return TCS_HEALTH_UNKNOWN;
    }
}

bool
tcs_task_health_of (const struct task *task, int64_t now_ms, struct tcs_task_health *h)
{
  *h = (struct tcs_task_health){ task->arn, task->family, task->version, NULL, 0 };
  if (!task_tracked (task))
    return false;
  for (size_t k = 0; k < task->n_containers; k++)
    {
      const struct task_container *ct = &task->containers[k];
      if (ct->is_internal || !ct->docker_id || ct->known_status != TASK_STATUS_RUNNING
          || ct->desired_status == TASK_STATUS_STOPPED || !task_options_docker_health_check (&ct->opts))
        continue;
      /* statusSince: when the status last changed; now before any change */
      int64_t since = ct->life.health_since_ns ? ct->life.health_since_ns / 1000000 : now_ms;
      h->containers = xrealloc (h->containers, (h->n_containers + 1) * sizeof *h->containers);
      h->containers[h->n_containers++]
          = (struct tcs_container_health){ ct->name, tcs_health_of (ct->life.health), since };
    }
  return h->n_containers > 0;
}

/* PublishHealthRequest for every task with such containers; nothing when
   there is none. */
static void
publish_health (tcs_collector_t *c, tcs_session_t *s, int64_t now)
{
  size_t nt = engine_task_count (c->o.engine), n = 0;
  struct tcs_task_health *th = xcalloc (nt + 1, sizeof *th);
  for (size_t i = 0; i < nt; i++)
    if (tcs_task_health_of (engine_task_at (c->o.engine, i), now, &th[n]))
      n++;
  if (n > 0)
    {
      char id[37];
      uuid4 (id);
      struct tcs_meta meta = { c->cluster, c->instance_arn, id };
      char **msgs = NULL;
      size_t nm = tcs_health_batches (&meta, th, n, now, &msgs);
      queue_all (s, msgs, nm);
    }
  for (size_t i = 0; i <= n && i <= nt; i++)
    free (th[i].containers); /* slot n: a task left out, containers NULL */
  free (th);
}

void
tcs_collector_publish (tcs_collector_t *c, tcs_session_t *s)
{
  char id[37];
  uuid4 (id);
  struct tcs_meta meta = { .cluster = c->cluster,
                           .container_instance = c->instance_arn,
                           .message_id = id };
  int64_t now = wall_ms ();
  char **msgs = NULL;
  if (!c->status_reported)
    {
      char rid[37];
      uuid4 (rid);
      struct tcs_meta sm = meta;
      sm.message_id = rid;
      tcs_session_queue (s, tcs_encode_instance_status (&sm, c->status, c->status_updated_ms,
                                                        c->last_change_ms, now));
      c->status_reported = true;
    }
  publish_health (c, s, now);
  if (c->n_metrics == 0)
    {
      c->stats.idle_rounds++;
      size_t nm = tcs_metrics_batches (&meta, NULL, 0, now, &msgs);
      queue_all (s, msgs, nm);
      return;
    }
  size_t nt = engine_task_count (c->o.engine), n = 0;
  struct tcs_task_metric *tms = xcalloc (nt + 1, sizeof *tms);
  for (size_t i = 0; i < nt; i++)
    {
      const struct task *task = engine_task_at (c->o.engine, i);
      if (task_tracked (task) && task_metrics (c, task, &tms[n]))
        n++;
      else
        free (tms[n].containers);
    }
  if (n > 0)
    {
      c->stats.rounds_sent++;
      size_t nm = tcs_metrics_batches (&meta, tms, n, now, &msgs);
      queue_all (s, msgs, nm);
      struct tracked *t;
      LIST_FOREACH (t, &c->tracked, link)
        tcs_queue_mark_sent (&t->q);
    }
  for (size_t i = 0; i < n; i++)
    free (tms[i].containers);
  free (tms);
}

/* ---- instance status ---- */

static void
ping_cb (agent_error_t err, void *data)
{
  tcs_collector_t *c = data;
  c->ping_op = NULL;
  int64_t now = wall_ms ();
  enum tcs_instance_status st = err ? TCS_STATUS_IMPAIRED : TCS_STATUS_OK;
  /* upstream reports the time of the previous run as lastUpdated */
  c->status_updated_ms = c->last_run_ms;
  c->last_run_ms = now;
  if (st != c->status)
    {
      c->last_change_ms = now;
      log_info (MOD, "container runtime status %s", tcs_instance_status_str (st));
    }
  c->status = st;
  c->status_reported = false;
}

void
tcs_collector_instance_check (tcs_collector_t *c)
{
  if (!c || c->freeing || c->ping_op)
    return;
  c->ping_op = docker_ping (c->o.docker, ping_cb, c);
}
