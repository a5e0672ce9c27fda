/* state/state_file.c - the checkpoint file: reading it without blocking or
 * reading without bound, parsing (our version and upstream's 1 and 2) and
 * serialising the store (see state.h for the format). */
#include "state/state_internal.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include "state/checkpoint_images.h"
#include "state/checkpoint_tasks.h"
#include "task/task_decode.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MOD "state"

/* ---- state changes as JSON ----------------------------------------------------- */

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
    {
      const struct task_port_binding *x = &c->bindings[i];
      json_t *e = json_pack ("{s:s,s:i,s:i,s:s}", "bindIP", x->bind_ip ? x->bind_ip : "",
                             "containerPort", x->container_port, "hostPort", x->host_port,
                             "protocol", task_protocol_str (x->protocol));
      if (x->container_port_end) /* a reported range: its ends */
        {
          json_object_set_new (e, "containerPortEnd", json_integer (x->container_port_end));
          json_object_set_new (e, "hostPortEnd", json_integer (x->host_port_end));
        }
      json_array_append_new (b, e);
    }
  json_object_set_new (o, "NetworkBindings", b);
  if (c->runtime_id)
    json_object_set_new (o, "RuntimeId", json_string (c->runtime_id));
  if (c->image_digest)
    json_object_set_new (o, "ImageDigest", json_string (c->image_digest));
  if (c->task_status)
    json_object_set_new (o, "TaskStatus", json_string (c->task_status));
  if (c->pull_started_ms)
    json_object_set_new (o, "PullStartedAtMs", json_integer (c->pull_started_ms));
  if (c->pull_stopped_ms)
    json_object_set_new (o, "PullStoppedAtMs", json_integer (c->pull_stopped_ms));
  if (c->execution_stopped_ms)
    json_object_set_new (o, "ExecutionStoppedAtMs", json_integer (c->execution_stopped_ms));
  return o;
}

static int
change_from_json (json_t *o, struct state_change **out, agent_error_t *err)
{
  *out = NULL;
  if (!json_is_object (o))
    return error_set (err, ERR_INVALID, "state change must be an object");
  struct state_change *c = xcalloc (1, sizeof *c);
  json_t *id = task_json_get (o, "Id"), *kind = task_json_get (o, "Kind");
  if (!json_is_integer (id) || json_integer_value (id) < 1)
    goto bad;
  c->id = (uint64_t) json_integer_value (id);
  if (json_is_string (kind) && strcmp (json_string_value (kind), "task") == 0)
    c->kind = STATE_CHANGE_TASK;
  else if (json_is_string (kind) && strcmp (json_string_value (kind), "container") == 0)
    c->kind = STATE_CHANGE_CONTAINER;
  else
    goto bad;
  if (task_json_string (o, "TaskArn", "", false, &c->task_arn, err) < 0
      || task_json_string (o, "ContainerName", "", false, &c->container_name, err) < 0
      || task_json_string (o, "Status", "", false, &c->status, err) < 0
      || task_json_string (o, "Reason", "", false, &c->reason, err) < 0
      || task_json_port_bindings (o, "NetworkBindings", "", true, &c->bindings, &c->n_bindings,
                                  err) < 0
      || task_json_string (o, "RuntimeId", "", false, &c->runtime_id, err) < 0
      || task_json_string (o, "ImageDigest", "", false, &c->image_digest, err) < 0
      || task_json_string (o, "TaskStatus", "", false, &c->task_status, err) < 0
      || task_json_int_range (o, "PullStartedAtMs", "", 0, INT64_MAX, false, &c->pull_started_ms, err) < 0
      || task_json_int_range (o, "PullStoppedAtMs", "", 0, INT64_MAX, false, &c->pull_stopped_ms, err) < 0
      || task_json_int_range (o, "ExecutionStoppedAtMs", "", 0, INT64_MAX, false,
                              &c->execution_stopped_ms, err) < 0)
    {
      state_change_free (c);
      return error_wrap (err, "state change");
    }
  if (!c->task_arn || !c->status || (c->kind == STATE_CHANGE_CONTAINER && !c->container_name))
    goto bad;
  json_t *ec = task_json_get (o, "ExitCode");
  if (json_is_integer (ec) && json_integer_value (ec) >= INT32_MIN && json_integer_value (ec) <= INT32_MAX)
    {
      c->has_exit_code = true;
      c->exit_code = (int) json_integer_value (ec);
    }
  else if (!task_json_null (ec))
    goto bad;
  c->durable = true;
  *out = c;
  return 0;
bad:
  state_change_free (c);
  return error_set (err, ERR_INVALID, "malformed state change entry");
}

/* ---- load -------------------------------------------------------------------- */

void
state_clear_loaded (state_store_t *s)
{
  free (s->cluster);
  free (s->ci_arn);
  free (s->ec2_id);
  free (s->client_token);
  s->cluster = s->ci_arn = s->ec2_id = s->client_token = NULL;
  s->seq = 0;
  s->has_seq = false;
  state_drop_loaded_tasks (s);
  image_records_free (&s->loaded_images);
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
  state_clear_loaded (s);
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
  json_t *ver = task_json_get (root, "Version");
  json_t *d = task_json_get (root, "Data");
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
  if (task_json_string (d, "Cluster", "", false, &s->cluster, &e) < 0
      || task_json_string (d, "ContainerInstanceArn", "", false, &s->ci_arn, &e) < 0
      || task_json_string (d, "EC2InstanceID", "", false, &s->ec2_id, &e) < 0
      || task_json_string (d, "ClientToken", "", false, &s->client_token, &e) < 0)
    {
      rc = terminal (err, name, error_msg (&e));
      error_free (&e);
      goto out;
    }
  if (v >= 2)
    {
      json_t *seq = task_json_get (d, "ACSSeqNum");
      if (json_is_integer (seq))
        {
          s->seq = json_integer_value (seq);
          s->has_seq = true;
        }
      else if (!task_json_null (seq))
        {
          rc = terminal (err, name, "ACSSeqNum must be an integer");
          goto out;
        }
    }
  json_t *te = task_json_get (d, "TaskEngine");
  if (!task_json_null (te))
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
  json_t *im = task_json_get (d, "ImageManager");
  if (!task_json_null (im) && state_images_from_json (im, &s->loaded_images, &e) < 0)
    {
      rc = terminal (err, name, error_msg (&e));
      error_free (&e);
      goto out;
    }
  json_t *sc = task_json_get (d, "StateChanges");
  if (!task_json_null (sc))
    {
      json_t *q = task_json_get (sc, "Queue"), *next = task_json_get (sc, "NextId");
      if (!json_is_object (sc) || (!task_json_null (q) && !json_is_array (q))
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
                                         "ClientToken", "TaskEngine", "StateChanges", "ImageManager" };
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
    state_clear_loaded (s);
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
          state_clear_loaded (s);
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

/* ---- serialise ---------------------------------------------------------------- */

json_t *
state_serialise_tree (state_store_t *s)
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
  const struct image_records *images = &s->loaded_images; /* not taken yet: keep them */
  if (s->image_provider)
    s->image_provider (s->image_provider_data, &images);
  if (images && images->n > 0)
    json_object_set_new (d, "ImageManager", state_images_to_json (images));
  json_t *q = json_array ();
  for (size_t i = 0; i < s->qn; i++)
    json_array_append_new (q, change_to_json (s->q[i]));
  json_object_set_new (d, "StateChanges", json_pack ("{s:I,s:o}", "NextId", (json_int_t) s->next_id, "Queue", q));
  return json_pack ("{s:i,s:o}", "Version", STATE_VERSION, "Data", d);
}

char *
state_serialise_text (json_t *root, size_t *len)
{
  char *buf = json_dumps (root, JSON_COMPACT);
  json_decref (root);
  if (!buf)
    xalloc_die ();
  *len = strlen (buf);
  return buf;
}

char *
state_serialise (state_store_t *s, size_t *len)
{
  return state_serialise_text (state_serialise_tree (s), len);
}

