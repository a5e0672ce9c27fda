/* state/state.c - checkpoint file (versioned, atomic, durable, coalesced
 * saves off the loop thread) and the persisted state-change queue. */
#include "state/state.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "engine/task.h"
#include "log/log.h"
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define MOD "state"

struct pending_cb
{
  state_saved_cb cb;
  void *data;
  struct pending_cb *next;
};

struct write_job
{
  uv_work_t req;
  state_store_t *s;
  char *buf;
  size_t len;
  uint64_t gen;
  uint64_t max_id;           /* changes with id <= max_id are in this write */
  struct pending_cb *cbs;    /* run when this write completes */
  agent_error_t err;         /* set by the worker thread */
};

struct state_store
{
  uv_loop_t *loop;
  bool enabled;
  char *dir, *path;

  /* metadata */
  char *cluster, *ci_arn, *ec2_id;
  int64_t seq;
  bool has_seq;
  int loaded_version;
  json_t *engine_section;
  state_engine_provider_fn provider;
  void *provider_data;

  /* queue */
  struct state_change **q;
  size_t qn, qcap;
  uint64_t next_id;
  state_changed_cb changed_cb;
  void *changed_data;

  /* saving */
  uv_check_t check;
  uv_idle_t idle;
  uv_timer_t retry;
  struct backoff retry_backoff;
  bool scheduled, dirty;
  struct pending_cb *waiting, **waiting_tail;
  struct write_job *inflight;
  uint64_t writes;
  uint64_t gen;
  uv_mutex_t write_lock; /* serialises file writes (worker vs. save_sync) */
  uint64_t written_gen;  /* guarded by write_lock */

  /* teardown */
  bool freeing;
  int open_handles;
};

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
  for (size_t i = 0; i < c->n_bindings; i++)
    {
      free (c->bindings[i].bind_ip);
      free (c->bindings[i].protocol);
    }
  free (c->bindings);
  free (c);
}

static json_t *
change_to_json (const struct state_change *c)
{
  json_t *o = json_pack ("{s:I,s:s,s:s,s:s}", "Id", (json_int_t) c->id, "Kind",
                         c->kind == STATE_CHANGE_TASK ? "task" : "container", "TaskArn",
                         c->task_arn ? c->task_arn : "", "Status", c->status ? c->status : "");
  if (c->container_name)
    json_object_set_new (o, "ContainerName", json_string (c->container_name));
  if (c->reason)
    json_object_set_new (o, "Reason", json_string (c->reason));
  if (c->has_exit_code)
    json_object_set_new (o, "ExitCode", json_integer (c->exit_code));
  json_t *b = json_array ();
  for (size_t i = 0; i < c->n_bindings; i++)
    json_array_append_new (b, json_pack ("{s:s,s:i,s:i,s:s}", "bindIP",
                                         c->bindings[i].bind_ip ? c->bindings[i].bind_ip : "",
                                         "containerPort", c->bindings[i].container_port, "hostPort",
                                         c->bindings[i].host_port, "protocol",
                                         c->bindings[i].protocol ? c->bindings[i].protocol : "tcp"));
  json_object_set_new (o, "NetworkBindings", b);
  return o;
}

static json_t *
jget (json_t *obj, const char *key)
{
  if (!json_is_object (obj))
    return NULL;
  json_t *v = json_object_get (obj, key);
  if (v)
    return v;
  const char *k;
  json_object_foreach (obj, k, v)
  {
    if (strcasecmp (k, key) == 0)
      return v;
  }
  return NULL;
}

static int
opt_str (json_t *o, const char *key, char **out, agent_error_t *err)
{
  json_t *v = jget (o, key);
  *out = NULL;
  if (!v || json_is_null (v))
    return 0;
  if (!json_is_string (v))
    return error_set (err, ERR_INVALID, "%s must be a string", key);
  *out = xstrdup (json_string_value (v));
  return 0;
}

static int
change_from_json (json_t *o, struct state_change **out, agent_error_t *err)
{
  *out = NULL;
  if (!json_is_object (o))
    return error_set (err, ERR_INVALID, "state change must be an object");
  struct state_change *c = xcalloc (1, sizeof *c);
  json_t *id = jget (o, "Id"), *kind = jget (o, "Kind");
  if (!json_is_integer (id) || json_integer_value (id) < 1)
    goto bad;
  c->id = (uint64_t) json_integer_value (id);
  if (json_is_string (kind) && strcmp (json_string_value (kind), "task") == 0)
    c->kind = STATE_CHANGE_TASK;
  else if (json_is_string (kind) && strcmp (json_string_value (kind), "container") == 0)
    c->kind = STATE_CHANGE_CONTAINER;
  else
    goto bad;
  if (opt_str (o, "TaskArn", &c->task_arn, err) < 0 || opt_str (o, "ContainerName", &c->container_name, err) < 0
      || opt_str (o, "Status", &c->status, err) < 0 || opt_str (o, "Reason", &c->reason, err) < 0)
    {
      state_change_free (c);
      return error_wrap (err, "state change");
    }
  if (!c->task_arn || !c->status || (c->kind == STATE_CHANGE_CONTAINER && !c->container_name))
    goto bad;
  json_t *ec = jget (o, "ExitCode");
  if (json_is_integer (ec) && json_integer_value (ec) >= INT32_MIN && json_integer_value (ec) <= INT32_MAX)
    {
      c->has_exit_code = true;
      c->exit_code = (int) json_integer_value (ec);
    }
  else if (ec && !json_is_null (ec))
    goto bad;
  json_t *nb = jget (o, "NetworkBindings");
  if (nb && !json_is_null (nb))
    {
      if (!json_is_array (nb))
        goto bad;
      size_t n = json_array_size (nb);
      c->bindings = xcalloc (n ? n : 1, sizeof *c->bindings);
      for (size_t i = 0; i < n; i++)
        {
          json_t *b = json_array_get (nb, i);
          json_t *cp = jget (b, "containerPort"), *hp = jget (b, "hostPort");
          if (!json_is_object (b) || !json_is_integer (cp) || !json_is_integer (hp)
              || json_integer_value (cp) < 0 || json_integer_value (cp) > 65535
              || json_integer_value (hp) < 0 || json_integer_value (hp) > 65535)
            goto bad;
          struct state_change_binding *sb = &c->bindings[c->n_bindings++];
          sb->container_port = (uint16_t) json_integer_value (cp);
          sb->host_port = (uint16_t) json_integer_value (hp);
          if (opt_str (b, "bindIP", &sb->bind_ip, err) < 0 || opt_str (b, "protocol", &sb->protocol, err) < 0)
            {
              state_change_free (c);
              return error_wrap (err, "state change network binding");
            }
        }
    }
  c->durable = true;
  *out = c;
  return 0;
bad:
  state_change_free (c);
  return error_set (err, ERR_INVALID, "malformed state change entry");
}

/* ---- store ------------------------------------------------------------------- */

static void on_check (uv_check_t *h);
static void on_idle (uv_idle_t *h) { (void) h; }
static void on_retry (uv_timer_t *h);

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
  s->waiting_tail = &s->waiting;
  uv_check_init (loop, &s->check);
  uv_idle_init (loop, &s->idle);
  uv_timer_init (loop, &s->retry);
  s->check.data = s->idle.data = s->retry.data = s;
  s->open_handles = 3;
  uv_mutex_init (&s->write_lock);
  backoff_init (&s->retry_backoff, 500, 30000, 0.2, 2.0);
  return s;
}

static void
free_pending (struct pending_cb *p)
{
  while (p)
    {
      struct pending_cb *n = p->next;
      free (p);
      p = n;
    }
}

static void
store_destroy (state_store_t *s)
{
  free (s->dir);
  free (s->path);
  free (s->cluster);
  free (s->ci_arn);
  free (s->ec2_id);
  if (s->engine_section)
    json_decref (s->engine_section);
  for (size_t i = 0; i < s->qn; i++)
    state_change_free (s->q[i]);
  free (s->q);
  free_pending (s->waiting);
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
on_close (uv_handle_t *h)
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
  uv_close ((uv_handle_t *) &s->check, on_close);
  uv_close ((uv_handle_t *) &s->idle, on_close);
  uv_close ((uv_handle_t *) &s->retry, on_close);
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

/* ---- load -------------------------------------------------------------------- */

static void
clear_loaded (state_store_t *s)
{
  free (s->cluster);
  free (s->ci_arn);
  free (s->ec2_id);
  s->cluster = s->ci_arn = s->ec2_id = NULL;
  s->seq = 0;
  s->has_seq = false;
  if (s->engine_section)
    json_decref (s->engine_section);
  s->engine_section = NULL;
  for (size_t i = 0; i < s->qn; i++)
    state_change_free (s->q[i]);
  s->qn = 0;
  s->next_id = 1;
  s->loaded_version = 0;
}

static int
terminal (agent_error_t *err, const char *name, const char *what)
{
  return error_set (err, ERR_TERMINAL,
                    "checkpoint %s: %s; refusing to start (repair or delete the file to start fresh)",
                    name, what);
}

int
state_load_buffer (state_store_t *s, const char *data, size_t len, const char *name,
                   agent_error_t *err)
{
  clear_loaded (s);
  if (len == 0)
    return terminal (err, name, "file is empty (truncated)");
  json_error_t jerr;
  json_t *root = json_loadb (data, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!root)
    {
      cleanup_free char *m = xasprintf ("corrupt or truncated JSON at line %d column %d: %s",
                                        jerr.line, jerr.column, jerr.text);
      return terminal (err, name, m);
    }
  int rc = 0;
  cleanup_free char *msg = NULL;
  json_t *ver = jget (root, "Version");
  json_t *d = jget (root, "Data");
  if (!json_is_object (root) || !json_is_integer (ver))
    {
      rc = terminal (err, name, "no integer \"Version\" at the top level");
      goto out;
    }
  json_int_t v = json_integer_value (ver);
  if (v != 1 && v != 2 && v != STATE_VERSION)
    {
      msg = xasprintf ("state version %" PRId64 " is not supported (this agent reads upstream "
                       "versions 1 and 2 and its own version %d)",
                       (int64_t) v, STATE_VERSION);
      rc = terminal (err, name, msg);
      goto out;
    }
  if (!json_is_object (d))
    {
      rc = terminal (err, name, "no \"Data\" object");
      goto out;
    }
  agent_error_t e = NULL;
  if (opt_str (d, "Cluster", &s->cluster, &e) < 0 || opt_str (d, "ContainerInstanceArn", &s->ci_arn, &e) < 0
      || opt_str (d, "EC2InstanceID", &s->ec2_id, &e) < 0)
    {
      rc = terminal (err, name, error_msg (&e));
      error_free (&e);
      goto out;
    }
  if (v >= 2)
    {
      json_t *seq = jget (d, "ACSSeqNum");
      if (json_is_integer (seq))
        {
          s->seq = json_integer_value (seq);
          s->has_seq = true;
        }
      else if (seq && !json_is_null (seq))
        {
          rc = terminal (err, name, "ACSSeqNum must be an integer");
          goto out;
        }
    }
  json_t *te = jget (d, "TaskEngine");
  if (te && !json_is_null (te))
    {
      struct engine_task **tasks = NULL;
      size_t n = 0;
      if (engine_tasks_from_json (te, &tasks, &n, &e) < 0)
        {
          rc = terminal (err, name, error_msg (&e));
          error_free (&e);
          goto out;
        }
      for (size_t i = 0; i < n; i++)
        engine_task_free (tasks[i]);
      free (tasks);
      s->engine_section = json_incref (te);
    }
  json_t *sc = jget (d, "StateChanges");
  if (sc && !json_is_null (sc))
    {
      json_t *q = jget (sc, "Queue"), *next = jget (sc, "NextId");
      if (!json_is_object (sc) || (q && !json_is_null (q) && !json_is_array (q))
          || (next && !json_is_integer (next)))
        {
          rc = terminal (err, name, "malformed StateChanges");
          goto out;
        }
      uint64_t max_id = 0;
      for (size_t i = 0; i < json_array_size (q); i++)
        {
          struct state_change *c;
          if (change_from_json (json_array_get (q, i), &c, &e) < 0)
            {
              msg = xasprintf ("StateChanges.Queue[%zu]: %s", i, error_msg (&e));
              error_free (&e);
              rc = terminal (err, name, msg);
              goto out;
            }
          if (c->id <= max_id)
            {
              state_change_free (c);
              rc = terminal (err, name, "StateChanges ids are not increasing");
              goto out;
            }
          max_id = c->id;
          if (s->qn == s->qcap)
            {
              s->qcap = s->qcap ? 2 * s->qcap : 16;
              s->q = xrealloc (s->q, s->qcap * sizeof *s->q);
            }
          s->q[s->qn++] = c;
        }
      s->next_id = max_id + 1;
      if (json_is_integer (next) && (uint64_t) json_integer_value (next) > s->next_id)
        s->next_id = (uint64_t) json_integer_value (next);
    }
  const char *k;
  json_t *val;
  json_object_foreach (d, k, val)
  {
    static const char *const known[] = { "Cluster", "ContainerInstanceArn", "EC2InstanceID", "ACSSeqNum",
                                         "TaskEngine", "StateChanges" };
    bool ok = false;
    for (size_t i = 0; i < ARRAY_SIZE (known); i++)
      ok |= strcasecmp (k, known[i]) == 0;
    if (!ok)
      log_warn (MOD, "checkpoint %s: ignoring unknown key Data.%s", name, k);
  }
  s->loaded_version = (int) v;
out:
  json_decref (root);
  if (rc < 0)
    clear_loaded (s);
  return rc;
}

int
state_load (state_store_t *s, agent_error_t *err)
{
  if (!s->enabled)
    return 0;
  cleanup_free char *data = NULL;
  size_t len = 0;
  agent_error_t e = NULL;
  if (util_read_file (s->path, &data, &len, &e) < 0)
    {
      if (error_kind (&e) == ERR_NOT_FOUND)
        {
          error_free (&e);
          clear_loaded (s);
          log_info (MOD, "no checkpoint at %s: fresh start", s->path);
          return 0;
        }
      int rc = error_set (err, ERR_TERMINAL, "checkpoint %s: %s", s->path, error_msg (&e));
      error_free (&e);
      return rc;
    }
  int rc = state_load_buffer (s, data, len, s->path, err);
  if (rc == 0)
    log_info (MOD, "loaded checkpoint %s (version %d, %zu queued state changes)", s->path,
              s->loaded_version, s->qn);
  return rc;
}

/* ---- metadata ---------------------------------------------------------------- */

const char *state_cluster (const state_store_t *s) { return s->cluster; }
const char *state_container_instance_arn (const state_store_t *s) { return s->ci_arn; }
const char *state_ec2_instance_id (const state_store_t *s) { return s->ec2_id; }
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
  state_engine_section_release (s);
}

void
state_set_engine_provider (state_store_t *s, state_engine_provider_fn fn, void *data)
{
  s->provider = fn;
  s->provider_data = data;
}

json_t *
state_engine_section (const state_store_t *s)
{
  return s->engine_section;
}

void
state_engine_section_release (state_store_t *s)
{
  if (s->engine_section)
    json_decref (s->engine_section);
  s->engine_section = NULL;
}

/* ---- serialise ---------------------------------------------------------------- */

static char *
serialise (state_store_t *s, size_t *len)
{
  json_t *d = json_object ();
  if (s->cluster)
    json_object_set_new (d, "Cluster", json_string (s->cluster));
  if (s->ci_arn)
    json_object_set_new (d, "ContainerInstanceArn", json_string (s->ci_arn));
  if (s->ec2_id)
    json_object_set_new (d, "EC2InstanceID", json_string (s->ec2_id));
  if (s->has_seq)
    json_object_set_new (d, "ACSSeqNum", json_integer (s->seq));
  json_t *te = NULL;
  if (s->provider)
    te = s->provider (s->provider_data);
  else if (s->engine_section)
    te = json_incref (s->engine_section); /* not consumed yet: keep it */
  if (te)
    json_object_set_new (d, "TaskEngine", te);
  json_t *q = json_array ();
  for (size_t i = 0; i < s->qn; i++)
    json_array_append_new (q, change_to_json (s->q[i]));
  json_object_set_new (d, "StateChanges", json_pack ("{s:I,s:o}", "NextId", (json_int_t) s->next_id, "Queue", q));
  json_t *root = json_pack ("{s:i,s:o}", "Version", STATE_VERSION, "Data", d);
  char *buf = json_dumps (root, JSON_COMPACT);
  json_decref (root);
  if (!buf)
    xalloc_die ();
  *len = strlen (buf);
  return buf;
}

/* Runs on a libuv worker thread: touches only the job and the write lock. */
static void
work_write (uv_work_t *req)
{
  struct write_job *j = req->data;
  state_store_t *s = j->s;
  uv_mutex_lock (&s->write_lock);
  if (j->gen > s->written_gen)
    {
      if (util_write_file_atomic (s->path, j->buf, j->len, 0600, &j->err) == 0)
        s->written_gen = j->gen;
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

static bool
has_nondurable (const state_store_t *s)
{
  for (size_t i = 0; i < s->qn; i++)
    if (!s->q[i]->durable)
      return true;
  return false;
}

static void
run_cbs (struct pending_cb *p, agent_error_t err)
{
  while (p)
    {
      struct pending_cb *n = p->next;
      if (p->cb)
        {
          agent_error_t copy = NULL;
          if (err)
            error_set_status (&copy, err->kind, err->status, "%s", err->msg);
          p->cb (copy, p->data);
          error_free (&copy);
        }
      free (p);
      p = n;
    }
}

static void
after_write (uv_work_t *req, int status)
{
  struct write_job *j = req->data;
  state_store_t *s = j->s;
  s->inflight = NULL;
  if (status == UV_ECANCELED && !j->err)
    error_set (&j->err, ERR_CANCELLED, "checkpoint write cancelled");
  if (s->freeing)
    {
      free_pending (j->cbs);
      goto done;
    }
  s->writes++;
  if (j->err)
    {
      log_error (MOD, "checkpoint write failed: %s", j->err->msg);
      run_cbs (j->cbs, j->err);
      if (has_nondurable (s))
        {
          s->dirty = true;
          uv_timer_start (&s->retry, on_retry, backoff_next (&s->retry_backoff), 0);
        }
    }
  else
    {
      backoff_reset (&s->retry_backoff);
      mark_durable (s, j->max_id);
      run_cbs (j->cbs, NULL);
    }
  if (s->dirty && !s->freeing && !uv_is_active ((uv_handle_t *) &s->retry))
    schedule (s);
done:
  free (j->buf);
  error_free (&j->err);
  free (j);
  maybe_destroy (s);
}

static void
on_retry (uv_timer_t *h)
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
  uv_check_start (&s->check, on_check);
  uv_idle_start (&s->idle, on_idle); /* keep the loop from blocking in poll */
}

static void
on_check (uv_check_t *h)
{
  state_store_t *s = h->data;
  uv_check_stop (&s->check);
  uv_idle_stop (&s->idle);
  s->scheduled = false;
  if (s->freeing || s->inflight)
    return;
  struct pending_cb *cbs = s->waiting;
  s->waiting = NULL;
  s->waiting_tail = &s->waiting;
  if (!s->dirty && !cbs)
    return;
  s->dirty = false;
  if (!s->enabled)
    {
      mark_durable (s, s->next_id - 1);
      run_cbs (cbs, NULL);
      return;
    }
  uv_timer_stop (&s->retry);
  struct write_job *j = xcalloc (1, sizeof *j);
  j->s = s;
  j->buf = serialise (s, &j->len);
  j->gen = ++s->gen;
  j->max_id = s->next_id - 1;
  j->cbs = cbs;
  j->req.data = j;
  s->inflight = j;
  int rc = uv_queue_work (s->loop, &j->req, work_write, after_write);
  if (rc < 0)
    {
      /* Cannot happen with a live loop; write inline as a fallback. */
      work_write (&j->req);
      after_write (&j->req, 0);
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
      *s->waiting_tail = p;
      s->waiting_tail = &p->next;
    }
  if (!uv_is_active ((uv_handle_t *) &s->retry))
    schedule (s);
  else if (cb)
    {
      /* A retry is pending: try now rather than making the caller wait. */
      uv_timer_stop (&s->retry);
      schedule (s);
    }
}

static void
cancel_in (struct pending_cb **head, state_saved_cb cb, void *data)
{
  for (struct pending_cb *p = *head; p; p = p->next)
    if (p->cb == cb && p->data == data)
      p->cb = NULL; /* kept in the list (tail pointers stay valid), never run */
}

void
state_save_cancel (state_store_t *s, state_saved_cb cb, void *data)
{
  cancel_in (&s->waiting, cb, data);
  if (s->inflight)
    cancel_in (&s->inflight->cbs, cb, data);
}

int
state_save_sync (state_store_t *s, agent_error_t *err)
{
  if (!s->enabled)
    return 0;
  size_t len;
  cleanup_free char *buf = serialise (s, &len);
  uint64_t max_id = s->next_id - 1;
  uv_mutex_lock (&s->write_lock);
  uint64_t gen = ++s->gen;
  int rc = util_write_file_atomic (s->path, buf, len, 0600, err);
  if (rc == 0)
    s->written_gen = gen;
  uv_mutex_unlock (&s->write_lock);
  if (rc < 0)
    return error_wrap (err, "saving checkpoint");
  s->writes++;
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
state_set_changed_cb (state_store_t *s, state_changed_cb cb, void *data)
{
  s->changed_cb = cb;
  s->changed_data = data;
}
