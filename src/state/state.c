/* state/state.c - the store: metadata, coalesced durable saves off the loop
 * thread (retried with back-off while they fail) and the persisted
 * state-change queue.  The file format and reading are in state_file.c. */
#include "state/state_internal.h"
#include "core/metrics.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MOD "state"

/* A failed write is retried after STATE_RETRY_MIN_MS, doubling (with 20 %
   jitter) up to STATE_RETRY_MAX_MS while it keeps failing.  Saves requested
   meanwhile only join the next attempt: they never shorten the wait. */
#define STATE_RETRY_MIN_MS 250
#define STATE_RETRY_MAX_MS 10000
#define STATE_RETRY_JITTER 0.2
#define STATE_RETRY_MULT 2.0

/* ---- state changes ----------------------------------------------------------- */

struct state_change *
state_change_new (enum state_change_kind kind, const char *task_arn, const char *container_name,
                  const char *status, const char *reason)
{
  struct state_change *c = xcalloc (1, sizeof *c);
  c->kind = kind;
  c->task_arn = xstrdup (task_arn);
  c->container_name = xstrdup (container_name);
  c->status = xstrdup (status);
  c->reason = reason && *reason ? xstrdup (reason) : NULL;
  return c;
}

void
state_change_free (struct state_change *c)
{
  if (!c)
    return;
  free (c->task_arn);
  free (c->container_name);
  free (c->status);
  free (c->reason);
  free (c->runtime_id);
  free (c->image_digest);
  free (c->task_status);
  for (size_t i = 0; i < c->n_bindings; i++)
    {
      free (c->bindings[i].bind_ip);
    }
  free (c->bindings);
  free (c);
}

/* ---- store ------------------------------------------------------------------- */

static void state_check_cb (uv_check_t *h);
static void state_idle_cb (uv_idle_t *h) { (void) h; }
static void state_retry_cb (uv_timer_t *h);

state_store_t *
state_store_new (uv_loop_t *loop, const char *data_dir, bool enabled, agent_error_t *err)
{
  if (enabled)
    {
      struct stat st;
      if (!data_dir || !*data_dir)
        {
          error_set (err, ERR_TERMINAL, "checkpointing enabled but no data directory configured");
          return NULL;
        }
      if (stat (data_dir, &st) < 0)
        {
          error_set_status (err, ERR_TERMINAL, errno, "data directory %s: %s", data_dir, strerror (errno));
          return NULL;
        }
      if (!S_ISDIR (st.st_mode))
        {
          error_set (err, ERR_TERMINAL, "data directory %s is not a directory", data_dir);
          return NULL;
        }
    }
  state_store_t *s = xcalloc (1, sizeof *s);
  s->loop = loop;
  s->enabled = enabled;
  s->dir = xstrdup (enabled ? data_dir : "");
  if (enabled)
    {
      size_t n = strlen (data_dir);
      s->path = xasprintf ("%s%s%s", data_dir, n && data_dir[n - 1] == '/' ? "" : "/", STATE_FILE_NAME);
    }
  else
    s->path = xstrdup ("");
  s->next_id = 1;
  STAILQ_INIT (&s->waiting);
  uv_check_init (loop, &s->check);
  uv_idle_init (loop, &s->idle);
  uv_timer_init (loop, &s->retry);
  s->check.data = s->idle.data = s->retry.data = s;
  s->open_handles = 3;
  uv_mutex_init (&s->write_lock);
  backoff_init (&s->retry_backoff, STATE_RETRY_MIN_MS, STATE_RETRY_MAX_MS, STATE_RETRY_JITTER,
                STATE_RETRY_MULT);
  return s;
}

static void
free_pending (struct pending_list *l)
{
  struct pending_cb *p;
  while ((p = STAILQ_FIRST (l)))
    {
      STAILQ_REMOVE_HEAD (l, link);
      free (p);
    }
}

void
state_drop_loaded_tasks (state_store_t *s)
{
  for (size_t i = 0; i < s->n_loaded_tasks; i++)
    task_free (s->loaded_tasks[i]);
  free (s->loaded_tasks);
  s->loaded_tasks = NULL;
  s->n_loaded_tasks = 0;
}

static void
store_destroy (state_store_t *s)
{
  free (s->dir);
  free (s->path);
  free (s->cluster);
  free (s->ci_arn);
  free (s->ec2_id);
  free (s->client_token);
  state_drop_loaded_tasks (s);
  image_records_free (&s->loaded_images);
  for (size_t i = 0; i < s->qn; i++)
    state_change_free (s->q[i]);
  free (s->q);
  free_pending (&s->waiting);
  uv_mutex_destroy (&s->write_lock);
  free (s);
}

static void
maybe_destroy (state_store_t *s)
{
  if (s->freeing && s->open_handles == 0 && !s->inflight)
    store_destroy (s);
}

static void
state_close_cb (uv_handle_t *h)
{
  state_store_t *s = h->data;
  s->open_handles--;
  maybe_destroy (s);
}

void
state_store_free (state_store_t *s)
{
  if (!s)
    return;
  s->freeing = true;
  uv_close ((uv_handle_t *) &s->check, state_close_cb);
  uv_close ((uv_handle_t *) &s->idle, state_close_cb);
  uv_close ((uv_handle_t *) &s->retry, state_close_cb);
}

bool
state_enabled (const state_store_t *s)
{
  return s->enabled;
}

const char *
state_path (const state_store_t *s)
{
  return s->path;
}

int
state_loaded_version (const state_store_t *s)
{
  return s->loaded_version;
}

/* ---- metadata ---------------------------------------------------------------- */

const char *state_cluster (const state_store_t *s) { return s->cluster; }
const char *state_container_instance_arn (const state_store_t *s) { return s->ci_arn; }
const char *state_ec2_instance_id (const state_store_t *s) { return s->ec2_id; }
const char *state_client_token (const state_store_t *s) { return s->client_token; }
int64_t state_acs_seq_num (const state_store_t *s) { return s->seq; }
bool state_has_acs_seq_num (const state_store_t *s) { return s->has_seq; }

static void
replace (char **dst, const char *v)
{
  char *n = v ? xstrdup (v) : NULL;
  free (*dst);
  *dst = n;
}

void state_set_cluster (state_store_t *s, const char *v) { replace (&s->cluster, v); }
void state_set_container_instance_arn (state_store_t *s, const char *v) { replace (&s->ci_arn, v); }
void state_set_ec2_instance_id (state_store_t *s, const char *v) { replace (&s->ec2_id, v); }
void state_set_client_token (state_store_t *s, const char *v) { replace (&s->client_token, v); }

void
state_set_acs_seq_num (state_store_t *s, int64_t seq)
{
  if (!s->has_seq || seq > s->seq)
    {
      s->seq = seq;
      s->has_seq = true;
    }
}

void
state_discard_instance (state_store_t *s)
{
  replace (&s->ci_arn, NULL);
  replace (&s->client_token, NULL);
  state_drop_loaded_tasks (s);
}

void
state_set_task_provider (state_store_t *s, state_task_provider_fn fn, void *data)
{
  s->provider = fn;
  s->provider_data = data;
}

void
state_set_image_provider (state_store_t *s, state_image_provider_fn fn, void *data)
{
  s->image_provider = fn;
  s->image_provider_data = data;
}

void
state_take_images (state_store_t *s, struct image_records *out)
{
  *out = s->loaded_images;
  memset (&s->loaded_images, 0, sizeof s->loaded_images);
}

size_t
state_loaded_task_count (const state_store_t *s)
{
  return s->n_loaded_tasks;
}

void
state_take_tasks (state_store_t *s, struct task ***tasks, size_t *n)
{
  *tasks = s->loaded_tasks;
  *n = s->n_loaded_tasks;
  s->loaded_tasks = NULL;
  s->n_loaded_tasks = 0;
}

/* Runs on a libuv worker thread: touches only the job and the write lock. */
static void
state_write_work_cb (uv_work_t *req)
{
  struct write_job *j = req->data;
  state_store_t *s = j->s;
  if (j->tree)
    {
      /* The text of a large checkpoint takes milliseconds: not on the loop. */
      j->buf = state_serialise_text (j->tree, &j->len);
      j->tree = NULL;
    }
  uv_mutex_lock (&s->write_lock);
  if (j->gen > s->written_gen)
    {
      uint64_t t0 = util_now_ns ();
      j->wrote = true;
      if (util_write_file_atomic_timed (s->path, j->buf, j->len, 0600, &j->fsync_ns, &j->err) == 0)
        s->written_gen = j->gen;
      j->write_ns = util_now_ns () - t0;
    }
  uv_mutex_unlock (&s->write_lock);
}

static void schedule (state_store_t *s);

static void
mark_durable (state_store_t *s, uint64_t max_id)
{
  bool any = false;
  for (size_t i = 0; i < s->qn; i++)
    if (!s->q[i]->durable && s->q[i]->id <= max_id)
      {
        s->q[i]->durable = true;
        any = true;
      }
  if (any && s->changed_cb)
    s->changed_cb (s->changed_data);
}

/* Runs every callback of l (err NULL: the write is durable) and empties l.
   A callback may call state_save: it lands on s->waiting, not on l. */
static void
run_cbs (struct pending_list *l)
{
  struct pending_cb *p;
  while ((p = STAILQ_FIRST (l)))
    {
      STAILQ_REMOVE_HEAD (l, link);
      if (p->cb)
        p->cb (NULL, p->data);
      free (p);
    }
}

/* The condition changed from working to failing: one line, not one per
   attempt (the retry keeps the store busy at most once per back-off). */
static void
write_failed (state_store_t *s, const agent_error_t err)
{
  s->failed_writes++;
  if (!s->failing)
    {
      s->failing = true;
      log_error (MOD, "saving the checkpoint %s fails: %s; retrying with back-off (up to %d s), "
                 "work that waits for a save is held until it succeeds",
                 s->path, err->msg, STATE_RETRY_MAX_MS / 1000);
    }
}

static void
write_recovered (state_store_t *s)
{
  backoff_reset (&s->retry_backoff);
  if (s->failing)
    {
      log_info (MOD, "saving the checkpoint %s works again (after %" PRIu64 " failed attempts)",
                s->path, s->failed_writes);
      s->failing = false;
      s->failed_writes = 0;
    }
}

static void
state_write_done_cb (uv_work_t *req, int status)
{
  struct write_job *j = req->data;
  state_store_t *s = j->s;
  s->inflight = NULL;
  if (status == UV_ECANCELED && !j->err)
    error_set (&j->err, ERR_CANCELLED, "checkpoint write cancelled");
  if (s->freeing)
    {
      free_pending (&j->cbs);
      goto done;
    }
  s->writes++;
  if (j->wrote)
    {
      /* the metrics registry belongs to the loop: recorded here, not by the worker */
      metrics_count (j->err ? METRIC_CHECKPOINT_WRITES_FAILED : METRIC_CHECKPOINT_WRITES_OK, 1);
      if (!j->err)
        {
          metrics_observe (METRIC_CHECKPOINT_WRITE_SECONDS, (double) j->write_ns / 1e9);
          metrics_observe (METRIC_CHECKPOINT_FSYNC_SECONDS, (double) j->fsync_ns / 1e9);
        }
    }
  if (j->err)
    {
      /* Nothing of this write is durable: its callbacks wait (ahead of the
         newer ones) for the next attempt, after the back-off. */
      write_failed (s, j->err);
      STAILQ_CONCAT (&j->cbs, &s->waiting);
      STAILQ_CONCAT (&s->waiting, &j->cbs);
      s->dirty = true;
      uv_timer_start (&s->retry, state_retry_cb, backoff_next (&s->retry_backoff), 0);
    }
  else
    {
      write_recovered (s);
      mark_durable (s, j->max_id);
      run_cbs (&j->cbs);
    }
  if (s->dirty && !s->freeing && !uv_is_active ((uv_handle_t *) &s->retry))
    schedule (s);
done:
  if (j->tree)
    json_decref (j->tree); /* cancelled before the worker ran */
  free (j->buf);
  error_free (&j->err);
  free (j);
  maybe_destroy (s);
}

static void
state_retry_cb (uv_timer_t *h)
{
  state_store_t *s = h->data;
  s->dirty = true;
  schedule (s);
}

static void
schedule (state_store_t *s)
{
  if (s->freeing || s->scheduled || s->inflight)
    return;
  s->scheduled = true;
  uv_check_start (&s->check, state_check_cb);
  uv_idle_start (&s->idle, state_idle_cb); /* keep the loop from blocking in poll */
}

static void
state_check_cb (uv_check_t *h)
{
  state_store_t *s = h->data;
  uv_check_stop (&s->check);
  uv_idle_stop (&s->idle);
  s->scheduled = false;
  if (s->freeing || s->inflight)
    return;
  if (!s->dirty && STAILQ_EMPTY (&s->waiting))
    return;
  s->dirty = false;
  struct pending_list cbs = STAILQ_HEAD_INITIALIZER (cbs);
  STAILQ_CONCAT (&cbs, &s->waiting);
  if (!s->enabled)
    {
      mark_durable (s, s->next_id - 1);
      run_cbs (&cbs);
      return;
    }
  struct write_job *j = xcalloc (1, sizeof *j);
  j->s = s;
  j->tree = state_serialise_tree (s);
  j->gen = ++s->gen;
  j->max_id = s->next_id - 1;
  STAILQ_INIT (&j->cbs);
  STAILQ_CONCAT (&j->cbs, &cbs);
  j->req.data = j;
  s->inflight = j;
  int rc = uv_queue_work (s->loop, &j->req, state_write_work_cb, state_write_done_cb);
  if (rc < 0)
    {
      /* Cannot happen with a live loop; write inline as a fallback. */
      state_write_work_cb (&j->req);
      state_write_done_cb (&j->req, 0);
    }
}

void
state_save (state_store_t *s, state_saved_cb cb, void *data)
{
  if (s->freeing)
    return;
  s->dirty = true;
  if (cb)
    {
      struct pending_cb *p = xcalloc (1, sizeof *p);
      p->cb = cb;
      p->data = data;
      STAILQ_INSERT_TAIL (&s->waiting, p, link);
    }
  /* While a retry is pending the request joins it: asking again never
     shortens the back-off (a caller that saves again from its callback, or
     on every loop turn, cannot turn a full disk into a busy loop). */
  if (!uv_is_active ((uv_handle_t *) &s->retry))
    schedule (s);
}

static void
cancel_in (struct pending_list *l, state_saved_cb cb, void *data)
{
  struct pending_cb *p;
  STAILQ_FOREACH (p, l, link)
  if (p->cb == cb && p->data == data)
    p->cb = NULL; /* kept in the list, never run */
}

void
state_save_cancel (state_store_t *s, state_saved_cb cb, void *data)
{
  cancel_in (&s->waiting, cb, data);
  if (s->inflight)
    cancel_in (&s->inflight->cbs, cb, data);
}

bool
state_store_healthy (const state_store_t *s)
{
  return !s->failing;
}

int
state_save_sync (state_store_t *s, agent_error_t *err)
{
  if (!s->enabled)
    return 0;
  size_t len;
  cleanup_free char *buf = state_serialise (s, &len);
  uint64_t max_id = s->next_id - 1;
  uv_mutex_lock (&s->write_lock);
  uint64_t gen = ++s->gen;
  int rc = util_write_file_atomic (s->path, buf, len, 0600, err);
  if (rc == 0)
    s->written_gen = gen;
  uv_mutex_unlock (&s->write_lock);
  s->writes++;
  metrics_count (rc < 0 ? METRIC_CHECKPOINT_WRITES_FAILED : METRIC_CHECKPOINT_WRITES_OK, 1);
  if (rc < 0)
    return error_wrap (err, "saving checkpoint");
  write_recovered (s);
  mark_durable (s, max_id);
  return 0;
}

uint64_t
state_write_count (const state_store_t *s)
{
  return s->writes;
}

/* ---- queue -------------------------------------------------------------------- */

void
state_change_push (state_store_t *s, struct state_change *c)
{
  c->id = s->next_id++;
  c->durable = false;
  c->queued_ms = uv_now (s->loop);
  if (s->qn == s->qcap)
    {
      s->qcap = s->qcap ? 2 * s->qcap : 16;
      s->q = xrealloc (s->q, s->qcap * sizeof *s->q);
    }
  s->q[s->qn++] = c;
  state_save (s, NULL, NULL);
}

size_t
state_change_count (const state_store_t *s)
{
  return s->qn;
}

const struct state_change *
state_change_peek (const state_store_t *s, size_t i)
{
  return i < s->qn ? s->q[i] : NULL;
}

void
state_change_pop_front (state_store_t *s)
{
  if (s->qn == 0)
    return;
  state_change_free (s->q[0]);
  memmove (s->q, s->q + 1, (s->qn - 1) * sizeof *s->q);
  s->qn--;
  state_save (s, NULL, NULL);
}

void
state_change_remove (state_store_t *s, uint64_t id)
{
  for (size_t i = 0; i < s->qn; i++)
    if (s->q[i]->id == id)
      {
        state_change_free (s->q[i]);
        memmove (s->q + i, s->q + i + 1, (s->qn - i - 1) * sizeof *s->q);
        s->qn--;
        state_save (s, NULL, NULL);
        return;
      }
}

void
state_set_changed_cb (state_store_t *s, state_changed_cb cb, void *data)
{
  s->changed_cb = cb;
  s->changed_data = data;
}
