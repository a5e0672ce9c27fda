/* state/state.c - checkpoint file (versioned, atomic, durable, coalesced
 * saves off the loop thread) and the persisted state-change queue. */
#include "state/state.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "state/checkpoint_tasks.h"
#include "log/log.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <unistd.h>

#define MOD "state"

/* A failed write is retried after STATE_RETRY_MIN_MS, doubling (with 20 %
   jitter) up to STATE_RETRY_MAX_MS while it keeps failing.  Saves requested
   meanwhile only join the next attempt: they never shorten the wait. */
#define STATE_RETRY_MIN_MS 250
#define STATE_RETRY_MAX_MS 10000
#define STATE_RETRY_JITTER 0.2
#define STATE_RETRY_MULT 2.0

struct pending_cb
{
  state_saved_cb cb;
  void *data;
  STAILQ_ENTRY (pending_cb) link;
};
STAILQ_HEAD (pending_list, pending_cb);

struct write_job
{
  uv_work_t req;
  state_store_t *s;
  char *buf;
  size_t len;
  uint64_t gen;
  uint64_t max_id;           /* changes with id <= max_id are in this write */
  struct pending_list cbs;   /* run when this write is durable */
  agent_error_t err;         /* set by the worker thread */
};

struct state_store
{
  uv_loop_t *loop;
  bool enabled;
  char *dir, *path;

  /* metadata */
  char *cluster, *ci_arn, *ec2_id;
  char *client_token; /* registration idempotency token, saved before registering */
  int64_t seq;
  bool has_seq;
  int loaded_version;
  struct task **loaded_tasks; /* from the checkpoint, until the engine takes them */
  size_t n_loaded_tasks;
  state_task_provider_fn provider;
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
  bool failing;             /* the last write failed (logged once) */
  uint64_t failed_writes;   /* since the condition began */
  struct pending_list waiting;
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
                                         task_protocol_str (c->bindings[i].protocol)));
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
          struct task_port_binding *sb = &c->bindings[c->n_bindings++];
          sb->container_port = (uint16_t) json_integer_value (cp);
          sb->host_port = (uint16_t) json_integer_value (hp);
          cleanup_free char *proto = NULL;
          if (opt_str (b, "bindIP", &sb->bind_ip, err) < 0 || opt_str (b, "protocol", &proto, err) < 0
              || task_protocol_parse (proto, &sb->protocol, err) < 0)
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

static void
drop_loaded_tasks (state_store_t *s)
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
  drop_loaded_tasks (s);
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
  free (s->client_token);
  s->cluster = s->ci_arn = s->ec2_id = s->client_token = NULL;
  s->seq = 0;
  s->has_seq = false;
  drop_loaded_tasks (s);
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
      || opt_str (d, "EC2InstanceID", &s->ec2_id, &e) < 0
      || opt_str (d, "ClientToken", &s->client_token, &e) < 0)
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
      struct task **tasks = NULL;
      size_t n = 0;
      if (state_tasks_from_json (te, &tasks, &n, &e) < 0)
        {
          rc = terminal (err, name, error_msg (&e));
          error_free (&e);
          goto out;
        }
      s->loaded_tasks = tasks;
      s->n_loaded_tasks = n;
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
                                         "ClientToken", "TaskEngine", "StateChanges" };
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

/* Reads the checkpoint without ever blocking or reading without bound:
   O_NOFOLLOW refuses a symbolic link (saves replace the path by a regular
   file anyway), O_NONBLOCK makes opening a FIFO return at once, fstat
   refuses anything but a regular file, and at most STATE_FILE_MAX_BYTES
   are read.  ERR_NOT_FOUND when the file does not exist; ERR_TERMINAL with
   one line naming the file otherwise. */
static int
read_checkpoint (const char *path, char **out, size_t *len, agent_error_t *err)
{
  *out = NULL;
  *len = 0;
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (fd < 0)
    {
      int e = errno;
      if (e == ENOENT)
        return error_set_status (err, ERR_NOT_FOUND, e, "no checkpoint at %s", path);
      if (e == ELOOP)
        return terminal (err, path, "is a symbolic link, not a regular file");
      cleanup_free char *m = xasprintf ("cannot open: %s", strerror (e));
      return terminal (err, path, m);
    }
  struct stat st;
  int rc = 0;
  if (fstat (fd, &st) < 0)
    {
      cleanup_free char *m = xasprintf ("cannot stat: %s", strerror (errno));
      rc = terminal (err, path, m);
    }
  else if (!S_ISREG (st.st_mode))
    {
      const char *what = S_ISDIR (st.st_mode)    ? "is a directory"
                         : S_ISFIFO (st.st_mode) ? "is a FIFO"
                         : S_ISCHR (st.st_mode)  ? "is a character device"
                         : S_ISBLK (st.st_mode)  ? "is a block device"
                         : S_ISSOCK (st.st_mode) ? "is a socket"
                                                 : "is not a regular file";
      cleanup_free char *m = xasprintf ("%s, not a regular file", what);
      rc = terminal (err, path, m);
    }
  else if (st.st_size > (off_t) STATE_FILE_MAX_BYTES)
    {
      cleanup_free char *m = xasprintf ("%lld bytes, more than the %u MiB a checkpoint may have",
                                        (long long) st.st_size, STATE_FILE_MAX_BYTES >> 20);
      rc = terminal (err, path, m);
    }
  if (rc < 0)
    {
      close (fd);
      return rc;
    }
  /* The size may change under us: read at most one byte past the cap. */
  size_t cap = (size_t) st.st_size + 1;
  if (cap > (size_t) STATE_FILE_MAX_BYTES + 1)
    cap = (size_t) STATE_FILE_MAX_BYTES + 1;
  char *buf = xmalloc (cap + 1);
  size_t n = 0;
  while (n < cap)
    {
      ssize_t r = read (fd, buf + n, cap - n);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        {
          cleanup_free char *m = xasprintf ("read failed: %s", strerror (errno));
          rc = terminal (err, path, m);
          break;
        }
      if (r == 0)
        break;
      n += (size_t) r;
      if (n == cap && cap <= (size_t) STATE_FILE_MAX_BYTES)
        {
          /* grew while we read: widen up to the cap */
          size_t ncap = cap * 2 > (size_t) STATE_FILE_MAX_BYTES + 1 ? (size_t) STATE_FILE_MAX_BYTES + 1
                                                                    : cap * 2;
          buf = xrealloc (buf, ncap + 1);
          cap = ncap;
        }
    }
  close (fd);
  if (rc == 0 && n > (size_t) STATE_FILE_MAX_BYTES)
    {
      cleanup_free char *m = xasprintf ("more than the %u MiB a checkpoint may have",
                                        STATE_FILE_MAX_BYTES >> 20);
      rc = terminal (err, path, m);
    }
  if (rc < 0)
    {
      free (buf);
      return rc;
    }
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return 0;
}

int
state_load (state_store_t *s, agent_error_t *err)
{
  if (!s->enabled)
    return 0;
  cleanup_free char *data = NULL;
  size_t len = 0;
  agent_error_t e = NULL;
  if (read_checkpoint (s->path, &data, &len, &e) < 0)
    {
      if (error_kind (&e) == ERR_NOT_FOUND)
        {
          error_free (&e);
          clear_loaded (s);
          log_info (MOD, "no checkpoint at %s: fresh start", s->path);
          return 0;
        }
      error_move (err, &e);
      return -ERR_TERMINAL;
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
  drop_loaded_tasks (s);
}

void
state_set_task_provider (state_store_t *s, state_task_provider_fn fn, void *data)
{
  s->provider = fn;
  s->provider_data = data;
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
  if (s->client_token)
    json_object_set_new (d, "ClientToken", json_string (s->client_token));
  if (s->has_seq)
    json_object_set_new (d, "ACSSeqNum", json_integer (s->seq));
  struct task *const *tasks = s->loaded_tasks; /* not taken yet: keep them */
  size_t n_tasks = s->n_loaded_tasks;
  if (s->provider)
    s->provider (s->provider_data, &tasks, &n_tasks);
  if (s->provider || n_tasks > 0)
    json_object_set_new (d, "TaskEngine", state_tasks_to_json (tasks, n_tasks));
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
after_write (uv_work_t *req, int status)
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
  if (j->err)
    {
      /* Nothing of this write is durable: its callbacks wait (ahead of the
         newer ones) for the next attempt, after the back-off. */
      write_failed (s, j->err);
      STAILQ_CONCAT (&j->cbs, &s->waiting);
      STAILQ_CONCAT (&s->waiting, &j->cbs);
      s->dirty = true;
      uv_timer_start (&s->retry, on_retry, backoff_next (&s->retry_backoff), 0);
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
  j->buf = serialise (s, &j->len);
  j->gen = ++s->gen;
  j->max_id = s->next_id - 1;
  STAILQ_INIT (&j->cbs);
  STAILQ_CONCAT (&j->cbs, &cbs);
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
  cleanup_free char *buf = serialise (s, &len);
  uint64_t max_id = s->next_id - 1;
  uv_mutex_lock (&s->write_lock);
  uint64_t gen = ++s->gen;
  int rc = util_write_file_atomic (s->path, buf, len, 0600, err);
  if (rc == 0)
    s->written_gen = gen;
  uv_mutex_unlock (&s->write_lock);
  s->writes++;
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
