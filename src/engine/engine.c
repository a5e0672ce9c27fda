/* engine/engine.c - the executor: plans with plan.c, acts through the
 * Docker ops vtable, records state changes, reconciles, cleans up. */
#include "engine/engine.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "docker/auth.h"
#include "engine/plan.h"
#include "log/log.h"
#include "state/state.h"
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MOD "engine"
#define DEFAULT_CLEANUP_WAIT_MS (3ULL * 3600 * 1000)
#define DEFAULT_STOP_TIMEOUT_MS 30000ULL
#define MIN_MEMORY_BYTES (6LL * 1024 * 1024) /* Docker >= 1.x refuses less than 6 MB */
#define MIN_CPU_SHARES 2
#define RESYNC_INTERVAL_MS (10ULL * 60 * 1000)
#define STOP_RETRY_BASE_MS 500ULL
#define STOP_RETRY_MAX_MS 30000ULL
#define CLEANUP_RETRY_BASE_MS 1000ULL
#define CLEANUP_RETRY_MAX_MS (5ULL * 60 * 1000)
#define SAVE_RETRY_BASE_MS 500ULL
#define SAVE_RETRY_MAX_MS 30000ULL

#define LABEL_TASK_ARN "com.amazonaws.ecs.task-arn"
#define LABEL_CONTAINER_NAME "com.amazonaws.ecs.container-name"
#define LABEL_CLUSTER "com.amazonaws.ecs.cluster"
#define LABEL_FAMILY "com.amazonaws.ecs.task-definition-family"
#define LABEL_VERSION "com.amazonaws.ecs.task-definition-version"

enum op_kind
{
  OP_PULL,
  OP_PULL_CHECK_IMAGE,
  OP_VOLUME_CREATE,
  OP_CREATE_SAVE, /* waiting for the save recording the docker name */
  OP_CREATE_SAVE_WAIT, /* that save failed: asked again at due_ms */
  OP_CREATE,
  OP_CREATE_ADOPT, /* 409 on create: inspect by name */
  OP_START,
  OP_START_INSPECT,
  OP_STOP,
  OP_STOP_INSPECT,
  OP_EVENT_INSPECT,
  OP_RECONCILE_LIST,
  OP_RECONCILE_INSPECT,
  OP_REMOVE,
  OP_VOLUME_REMOVE,
};

struct op
{
  engine_t *e;
  enum op_kind kind;
  struct task *t; /* NULL for engine-level ops */
  size_t ci;             /* container (or volume) index */
  void *handle;          /* Docker call handle, NULL while waiting for a save */
  enum task_status status; /* event inspect: reported status */
  char *msg;             /* error text carried between phases */
  uint64_t due_ms;       /* OP_CREATE_SAVE_WAIT: loop ms of the next save request */
  struct op *prev, *next;
};

struct engine
{
  uv_loop_t *loop;
  char *cluster;
  uint64_t cleanup_wait_ms;
  uint64_t stop_timeout_ms;
  state_store_t *state;
  const struct engine_docker_ops *ops;
  void *ops_ctx;
  const struct docker_auth_config *auth;
  struct docker_label *extra_labels;
  size_t n_extra_labels;

  struct task **tasks;
  size_t n_tasks, cap_tasks;

  struct op *ops_head;
  void *events;
  /* Images pulled (or found locally after a failed pull) recently: the
     containers of a burst of tasks share one pull instead of N concurrent
     pulls of the same reference, which dockerd serialises badly. */
  struct
  {
    char *image;
    uint64_t at_ms;
  } recent_pulls[16];
  uv_timer_t cleanup_timer;
  uv_timer_t reconcile_timer;
  uv_timer_t resync_timer;
  uv_timer_t retry_timer; /* failed stops due for another try */
  bool events_seen_connected;
  struct backoff reconcile_backoff;
  struct backoff save_backoff; /* between requests of a save a create waits for */
  bool save_failing;           /* the last such save failed (logged once) */
  int open_handles;
  bool started, ready, stopped, freeing;
  size_t reconcile_pending;

  engine_change_cb change_cb;
  void *change_data;
};

static void task_step (engine_t *e, struct task *t);
static void step_all (engine_t *e);
static void arm_cleanup (engine_t *e);
static void arm_retry (engine_t *e);
static void handle_event_status (engine_t *e, struct task *t, size_t ci,
                                 enum task_status st);

/* ---- small helpers ------------------------------------------------------- */

static int64_t
wall_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void
sanitize_into (struct sbuf *b, const char *s)
{
  for (; s && *s; s++)
    if ((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '-')
      sbuf_append (b, s, 1);
}

static void
hash_hex20 (const char *a, const char *b, const char *c, char out[21])
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
  if (!ctx)
    xalloc_die ();
  EVP_DigestInit_ex (ctx, EVP_sha256 (), NULL);
  EVP_DigestUpdate (ctx, a, strlen (a) + 1);
  EVP_DigestUpdate (ctx, b, strlen (b) + 1);
  if (c)
    EVP_DigestUpdate (ctx, c, strlen (c) + 1);
  EVP_DigestFinal_ex (ctx, md, &mdlen);
  EVP_MD_CTX_free (ctx);
  static const char hex[] = "0123456789abcdef";
  for (int i = 0; i < 10; i++)
    {
      out[2 * i] = hex[md[i] >> 4];
      out[2 * i + 1] = hex[md[i] & 15];
    }
  out[20] = '\0';
}

char *
engine_docker_container_name (const struct task *t, const struct task_container *c)
{
  struct sbuf b = { 0 };
  char h[21];
  hash_hex20 (t->arn, c->name, NULL, h);
  sbuf_puts (&b, "ecs-");
  sanitize_into (&b, t->family);
  sbuf_puts (&b, "-");
  sanitize_into (&b, t->version);
  sbuf_puts (&b, "-");
  sanitize_into (&b, c->name);
  sbuf_printf (&b, "-%s", h);
  return sbuf_steal (&b);
}

char *
engine_docker_volume_name (const struct task *t, const struct task_volume *v)
{
  struct sbuf b = { 0 };
  char h[21];
  hash_hex20 (t->arn, "volume", v->name, h);
  sbuf_puts (&b, "ecs-");
  sanitize_into (&b, t->family);
  sbuf_puts (&b, "-");
  sanitize_into (&b, t->version);
  sbuf_puts (&b, "-");
  sanitize_into (&b, v->name);
  sbuf_printf (&b, "-%s", h);
  return sbuf_steal (&b);
}

static void
set_reason (struct task_container *c, const char *name, const char *msg)
{
  if (c->reason)
    return; /* the first error is sticky */
  c->reason = xasprintf ("%s: %s", name, msg && *msg ? msg : "unknown error");
  size_t n = strlen (c->reason);
  while (n > 0 && (c->reason[n - 1] == '\n' || c->reason[n - 1] == ' '))
    c->reason[--n] = '\0';
}

/* The next delay of a lazily initialised back-off (x2, 20 % jitter). */
static uint64_t
retry_delay_ms (struct backoff *b, uint64_t min_ms, uint64_t max_ms)
{
  if (b->min_ms == 0)
    backoff_init (b, min_ms, max_ms, 0.2, 2.0);
  return backoff_next (b);
}

/* ---- ops bookkeeping --------------------------------------------------------- */

static struct op *
op_new (engine_t *e, enum op_kind kind, struct task *t, size_t ci)
{
  struct op *op = xcalloc (1, sizeof *op);
  op->e = e;
  op->kind = kind;
  op->t = t;
  op->ci = ci;
  op->next = e->ops_head;
  if (e->ops_head)
    e->ops_head->prev = op;
  e->ops_head = op;
  return op;
}

static void
op_unlink (struct op *op)
{
  engine_t *e = op->e;
  if (op->prev)
    op->prev->next = op->next;
  else
    e->ops_head = op->next;
  if (op->next)
    op->next->prev = op->prev;
  op->prev = op->next = NULL;
}

static void
op_free (struct op *op)
{
  free (op->msg);
  free (op);
}

/* The common end of a Docker callback: the op leaves the list and is
   freed.  A caller that still needs op->msg takes it first (op_take_msg). */
static void
op_finish (struct op *op)
{
  op_unlink (op);
  op_free (op);
}

/* Same, for an op that held its container busy (inflight): idle again. */
static void
op_finish_container (struct op *op)
{
  op->t->containers[op->ci].inflight = TASK_ACTION_NONE;
  op_finish (op);
}

static char *
op_take_msg (struct op *op)
{
  char *m = op->msg;
  op->msg = NULL;
  return m;
}

static void on_create_saved (agent_error_t err, void *data);

/* Cancel one op (no callback will run) and free it. */
static void
op_cancel (struct op *op)
{
  engine_t *e = op->e;
  op_unlink (op);
  if (op->kind == OP_CREATE_SAVE)
    state_save_cancel (e->state, on_create_saved, op);
  else if (op->handle)
    e->ops->cancel (e->ops_ctx, op->handle);
  op_free (op);
}

static void
cancel_task_ops (engine_t *e, struct task *t)
{
  struct op *op = e->ops_head;
  while (op)
    {
      struct op *n = op->next;
      if (op->t == t)
        op_cancel (op);
      op = n;
    }
  for (size_t i = 0; i < t->n_containers; i++)
    t->containers[i].inflight = TASK_ACTION_NONE;
}

/* ---- change recording ------------------------------------------------------------ */

static void
notify (engine_t *e, const struct task *t, const struct task_container *c)
{
  if (e->change_cb)
    e->change_cb (t, c, e->change_data);
}

static void
emit_container_change (engine_t *e, struct task *t, struct task_container *c)
{
  if (c->is_internal)
    return;
  if (c->known_status != TASK_STATUS_RUNNING && c->known_status != TASK_STATUS_STOPPED)
    return;
  if (c->known_status <= c->sent_status)
    return;
  struct state_change *ch = state_change_new (STATE_CHANGE_CONTAINER, t->arn, c->name,
                                              task_container_status_str (c->known_status), c->reason);
  if (c->known_status == TASK_STATUS_STOPPED && c->has_exit_code)
    {
      ch->has_exit_code = true;
      ch->exit_code = c->exit_code;
    }
  if (c->n_known_bindings)
    {
      ch->bindings = task_port_bindings_dup (c->known_bindings, c->n_known_bindings);
      ch->n_bindings = c->n_known_bindings;
    }
  c->sent_status = c->known_status;
  state_change_push (e->state, ch);
}

static void
emit_task_change (engine_t *e, struct task *t)
{
  if (t->known_status != TASK_STATUS_RUNNING && t->known_status != TASK_STATUS_STOPPED)
    return;
  if (t->known_status <= t->sent_status)
    return;
  struct state_change *ch = state_change_new (STATE_CHANGE_TASK, t->arn, NULL,
                                              task_status_str (t->known_status), t->reason);
  t->sent_status = t->known_status;
  state_change_push (e->state, ch);
}

/* Metadata from an inspect. */
struct meta
{
  bool has_exit_code;
  int exit_code;
  const char *error_name, *error_msg;
  const struct docker_port *ports;
  size_t n_ports;
  bool has_ports;
};

static void
meta_from_info (struct meta *m, const struct docker_container_info *info)
{
  memset (m, 0, sizeof *m);
  if (!info)
    return;
  if (!info->running)
    {
      m->has_exit_code = true;
      m->exit_code = info->exit_code;
    }
  if (info->oom_killed)
    {
      m->error_name = "OutOfMemoryError";
      m->error_msg = "Container killed due to memory usage";
    }
  else if (info->error && *info->error)
    {
      m->error_name = "DockerStateError";
      m->error_msg = info->error;
    }
  m->ports = info->ports;
  m->n_ports = info->n_ports;
  m->has_ports = true;
}

static void
set_bindings (struct task_container *c, const struct docker_port *ports, size_t n)
{
  for (size_t i = 0; i < c->n_known_bindings; i++)
    free (c->known_bindings[i].bind_ip);
  free (c->known_bindings);
  c->known_bindings = NULL;
  c->n_known_bindings = 0;
  if (n == 0)
    return;
  c->known_bindings = xcalloc (n, sizeof *c->known_bindings);
  for (size_t i = 0; i < n; i++)
    {
      struct task_port_binding *b = &c->known_bindings[c->n_known_bindings++];
      b->container_port = ports[i].container_port;
      b->host_port = ports[i].host_port;
      b->bind_ip = xstrdup (ports[i].host_ip ? ports[i].host_ip : "");
      b->protocol = ports[i].proto && strcmp (ports[i].proto, "udp") == 0 ? TASK_PROTO_UDP : TASK_PROTO_TCP;
    }
}

static void issue_stop (engine_t *e, struct task *t, size_t ci);

/* Apply a status reported for container ci (by an op result, an event or
   reconciliation).  Returns true if the known status moved. */
static bool
apply_change (engine_t *e, struct task *t, size_t ci, enum task_status st,
              const struct meta *m)
{
  struct task_container *c = &t->containers[ci];
  switch (engine_plan_accept_change (c, st))
    {
    case ENGINE_CHANGE_IGNORE:
      return false;
    case ENGINE_CHANGE_RESTOP:
      log_warn (MOD, "task %s container %s: STOPPED container reports RUNNING; stopping it again",
                t->arn, c->name);
      c->restopped = true;
      if (c->docker_id && c->inflight == TASK_ACTION_NONE)
        issue_stop (e, t, ci);
      return false;
    case ENGINE_CHANGE_APPLY:
      break;
    }
  log_info (MOD, "task %s container %s: %s -> %s", t->arn, c->name,
            task_container_status_str (c->known_status), task_container_status_str (st));
  c->known_status = st;
  if (m)
    {
      if (st == TASK_STATUS_STOPPED && m->has_exit_code)
        {
          c->has_exit_code = true;
          c->exit_code = m->exit_code;
        }
      if (m->error_name)
        set_reason (c, m->error_name, m->error_msg);
      if (m->has_ports && (st == TASK_STATUS_RUNNING || m->n_ports))
        set_bindings (c, m->ports, m->n_ports);
    }
  emit_container_change (e, t, c);
  notify (e, t, c);
  return true;
}

/* A Docker error on a forward transition: record the reason and stop the
   container (it is then marked STOPPED by the planner). */
static void
transition_failed (engine_t *e, struct task *t, size_t ci, const char *name, const char *msg)
{
  struct task_container *c = &t->containers[ci];
  log_warn (MOD, "task %s container %s: %s: %s", t->arn, c->name, name, msg);
  set_reason (c, name, msg);
  c->desired_status = TASK_STATUS_STOPPED;
}

/* Common tail of every op callback touching a container (which has set
   inflight back to NONE before applying its result). */
static void
container_idle (engine_t *e, struct task *t, size_t ci)
{
  struct task_container *c = &t->containers[ci];
  if (c->inflight == TASK_ACTION_NONE && c->pending_event != TASK_STATUS_NONE)
    {
      enum task_status st = c->pending_event;
      c->pending_event = TASK_STATUS_NONE;
      handle_event_status (e, t, ci, st);
    }
  task_step (e, t);
}

/* ---- pull ---------------------------------------------------------------------------- */

#define ENGINE_PULL_REUSE_MS 10000

static void
pull_remember (engine_t *e, const char *image)
{
  size_t slot = 0;
  for (size_t i = 0; i < ARRAY_SIZE (e->recent_pulls); i++)
    {
      if (e->recent_pulls[i].image && strcmp (e->recent_pulls[i].image, image) == 0)
        {
          slot = i;
          break;
        }
      if (e->recent_pulls[i].at_ms < e->recent_pulls[slot].at_ms)
        slot = i;
    }
  free (e->recent_pulls[slot].image);
  e->recent_pulls[slot].image = xstrdup (image);
  e->recent_pulls[slot].at_ms = uv_now (e->loop);
}

static bool
pull_recent (engine_t *e, const char *image)
{
  for (size_t i = 0; i < ARRAY_SIZE (e->recent_pulls); i++)
    if (e->recent_pulls[i].image && strcmp (e->recent_pulls[i].image, image) == 0)
      return uv_now (e->loop) - e->recent_pulls[i].at_ms < ENGINE_PULL_REUSE_MS;
  return false;
}

static bool
pull_inflight (engine_t *e, const char *image)
{
  for (struct op *o = e->ops_head; o; o = o->next)
    if ((o->kind == OP_PULL || o->kind == OP_PULL_CHECK_IMAGE) && o->t
        && strcmp (o->t->containers[o->ci].image, image) == 0)
      return true;
  return false;
}

static void
on_pull_image_checked (const struct docker_image_info *img, agent_error_t err, void *data)
{
  struct op *op = data;
  engine_t *e = op->e;
  struct task *t = op->t;
  size_t ci = op->ci;
  cleanup_free char *msg = op_take_msg (op);
  op_finish_container (op);
  struct task_container *c = &t->containers[ci];
  if (!err && img)
    {
      log_warn (MOD, "task %s container %s: pull of %s failed (%s); using the local image", t->arn,
                c->name, c->image, msg);
      pull_remember (e, c->image);
      apply_change (e, t, ci, TASK_STATUS_PULLED, NULL);
    }
  else if (c->known_status < TASK_STATUS_STOPPED)
    transition_failed (e, t, ci, "CannotPullContainerError", msg);
  container_idle (e, t, ci);
  step_all (e); /* containers waiting for this image's pull */
}

static void
on_pull_done (agent_error_t err, void *data)
{
  struct op *op = data;
  engine_t *e = op->e;
  struct task *t = op->t;
  size_t ci = op->ci;
  struct task_container *c = &t->containers[ci];
  if (err && c->known_status < TASK_STATUS_PULLED)
    {
      /* No registry here may be reachable: an image that is present
         locally is good enough (prefer-cached fallback). */
      op->msg = xstrdup (err->msg);
      op->kind = OP_PULL_CHECK_IMAGE;
      op->handle = e->ops->inspect_image (e->ops_ctx, c->image, on_pull_image_checked, op);
      return;
    }
  op_finish_container (op);
  if (!err)
    {
      pull_remember (e, c->image);
      apply_change (e, t, ci, TASK_STATUS_PULLED, NULL);
    }
  container_idle (e, t, ci);
  step_all (e); /* containers waiting for this image's pull */
}

/* Returns true when the container moved to PULLED at once (image pulled
   moments ago); false when a pull was issued or the container waits for
   the pull of the same image already in flight. */
static bool
issue_pull (engine_t *e, struct task *t, size_t ci)
{
  struct task_container *c = &t->containers[ci];
  if (pull_recent (e, c->image))
    {
      apply_change (e, t, ci, TASK_STATUS_PULLED, NULL);
      return true;
    }
  if (pull_inflight (e, c->image))
    return false;
  c->inflight = TASK_ACTION_PULL;
  struct op *op = op_new (e, OP_PULL, t, ci);
  cleanup_free char *auth = e->auth ? docker_auth_for_image (e->auth, c->image) : NULL;
  struct docker_pull_opts o = { .image = c->image, .registry_auth = auth };
  log_info (MOD, "task %s container %s: pulling %s", t->arn, c->name, c->image);
  op->handle = e->ops->pull (e->ops_ctx, &o, on_pull_done, op);
  return false;
}

/* ---- create ------------------------------------------------------------------------- */

struct strv_builder
{
  char **v;
  size_t n, cap;
};

static void
sv_add (struct strv_builder *b, char *s)
{
  if (b->n + 2 > b->cap)
    {
      b->cap = b->cap ? b->cap * 2 : 8;
      b->v = xrealloc (b->v, b->cap * sizeof *b->v);
    }
  b->v[b->n++] = s;
  b->v[b->n] = NULL;
}

static const char *const *
sv_get (struct strv_builder *b)
{
  return (const char *const *) b->v;
}

static void
sv_free (struct strv_builder *b)
{
  for (size_t i = 0; i < b->n; i++)
    free (b->v[i]);
  free (b->v);
}

static void on_create_done (const char *id, agent_error_t err, void *data);

/* Labels for a container (or, c NULL, a volume). */
static struct docker_label *
make_labels (engine_t *e, const struct task *t, const struct task_container *c, size_t *n)
{
  struct docker_label *l = xcalloc (5 + e->n_extra_labels, sizeof *l);
  size_t k = 0;
  l[k++] = (struct docker_label){ LABEL_TASK_ARN, t->arn };
  if (c)
    l[k++] = (struct docker_label){ LABEL_CONTAINER_NAME, c->name };
  l[k++] = (struct docker_label){ LABEL_CLUSTER, e->cluster };
  l[k++] = (struct docker_label){ LABEL_FAMILY, t->family };
  l[k++] = (struct docker_label){ LABEL_VERSION, t->version };
  for (size_t i = 0; i < e->n_extra_labels; i++)
    l[k++] = e->extra_labels[i];
  *n = k;
  return l;
}

static int
build_create (engine_t *e, struct task *t, struct task_container *c, struct docker_create_opts *o,
              struct strv_builder *env, struct strv_builder *links, struct strv_builder *binds,
              struct strv_builder *vfrom, struct docker_port_spec **ports, struct docker_label **labels,
              char **errmsg)
{
  memset (o, 0, sizeof *o);
  o->name = c->docker_name;
  o->image = c->image;
  o->cmd = (const char *const *) task_container_effective_command (c);
  if (c->entry_point && c->entry_point[0])
    o->entrypoint = (const char *const *) c->entry_point;
  for (size_t i = 0; i < c->n_environment; i++)
    sv_add (env, xasprintf ("%s=%s", c->environment[i].key, c->environment[i].value));
  o->env = env->v ? sv_get (env) : (const char *const *) NULL;
  if (c->n_environment == 0)
    o->env = NULL;
  *ports = xcalloc (c->n_port_mappings + 1, sizeof **ports);
  for (size_t i = 0; i < c->n_port_mappings; i++)
    {
      (*ports)[i].container_port = c->port_mappings[i].container_port;
      (*ports)[i].proto = task_protocol_str (c->port_mappings[i].protocol);
      (*ports)[i].host_ip = "0.0.0.0";
      (*ports)[i].host_port = c->port_mappings[i].host_port;
    }
  o->ports = *ports;
  o->n_ports = c->n_port_mappings;
  for (size_t i = 0; c->links && c->links[i]; i++)
    {
      const char *l = c->links[i];
      const char *colon = strchr (l, ':');
      cleanup_free char *target = colon ? xstrndup (l, (size_t) (colon - l)) : xstrdup (l);
      const char *alias = colon ? colon + 1 : target;
      struct task_container *d = task_find_container (t, target);
      if (!d || !d->docker_name)
        {
          *errmsg = xasprintf ("Link target not available: %s", target);
          return -1;
        }
      sv_add (links, xasprintf ("%s:%s", d->docker_name, alias));
    }
  o->links = links->v ? sv_get (links) : NULL;
  for (size_t i = 0; i < c->n_mount_points; i++)
    {
      const struct task_mount_point *m = &c->mount_points[i];
      const struct task_volume *v = task_find_volume (t, m->source_volume);
      if (!v)
        {
          *errmsg = xasprintf ("Invalid volume referenced: %s", m->source_volume);
          return -1;
        }
      const char *src = v->source_path ? v->source_path : v->docker_name;
      if (!src || !*src || !m->container_path || !*m->container_path)
        {
          *errmsg = xasprintf ("Unable to resolve volume mounts; invalid path: %s:%s", src ? src : "",
                               m->container_path ? m->container_path : "");
          return -1;
        }
      sv_add (binds, xasprintf ("%s:%s%s", src, m->container_path, m->read_only ? ":ro" : ""));
    }
  o->binds = binds->v ? sv_get (binds) : NULL;
  for (size_t i = 0; i < c->n_volumes_from; i++)
    {
      struct task_container *d = task_find_container (t, c->volumes_from[i].source_container);
      if (!d || !d->docker_name)
        {
          *errmsg = xasprintf ("Volumes-from source not available: %s", c->volumes_from[i].source_container);
          return -1;
        }
      sv_add (vfrom, xasprintf ("%s%s", d->docker_name, c->volumes_from[i].read_only ? ":ro" : ""));
    }
  o->volumes_from = vfrom->v ? sv_get (vfrom) : NULL;
  if (c->cpu)
    o->cpu_shares = c->cpu < MIN_CPU_SHARES ? MIN_CPU_SHARES : c->cpu;
  if (c->memory)
    {
      int64_t bytes = (int64_t) c->memory * 1024 * 1024;
      o->memory = bytes < MIN_MEMORY_BYTES ? MIN_MEMORY_BYTES : bytes;
    }
  *labels = make_labels (e, t, c, &o->n_labels);
  o->labels = *labels;
  (void) e;
  return 0;
}

static void
do_create (engine_t *e, struct task *t, size_t ci)
{
  struct task_container *c = &t->containers[ci];
  struct docker_create_opts o;
  struct strv_builder env = { 0 }, links = { 0 }, binds = { 0 }, vfrom = { 0 };
  struct docker_port_spec *ports = NULL;
  struct docker_label *labels = NULL;
  char *errmsg = NULL;
  if (build_create (e, t, c, &o, &env, &links, &binds, &vfrom, &ports, &labels, &errmsg) < 0)
    {
      transition_failed (e, t, ci, "HostConfigError", errmsg);
      free (errmsg);
      c->inflight = TASK_ACTION_NONE;
    }
  else
    {
      struct op *op = op_new (e, OP_CREATE, t, ci);
      log_info (MOD, "task %s container %s: creating %s", t->arn, c->name, c->docker_name);
      op->handle = e->ops->create (e->ops_ctx, &o, on_create_done, op);
    }
  sv_free (&env);
  sv_free (&links);
  sv_free (&binds);
  sv_free (&vfrom);
  free (ports);
  free (labels);
}

static bool
volumes_ready (const struct task *t, const struct task_container *c)
{
  for (size_t i = 0; i < c->n_mount_points; i++)
    {
      const struct task_volume *v = task_find_volume (t, c->mount_points[i].source_volume);
      if (v && !v->source_path && !v->created)
        return false;
    }
  return true;
}

static void create_continue (engine_t *e, struct task *t, size_t ci);

static void
on_volume_created (const struct docker_volume_info *vol, agent_error_t err, void *data)
{
  struct op *op = data;
  engine_t *e = op->e;
  struct task *t = op->t;
  size_t vi = op->ci;
  op_finish (op);
  struct task_volume *v = &t->volumes[vi];
  if (err)
    {
      /* Fail every container waiting for this volume. */
      for (size_t i = 0; i < t->n_containers; i++)
        {
          struct task_container *c = &t->containers[i];
          if (c->inflight != TASK_ACTION_CREATE)
            continue;
          for (size_t m = 0; m < c->n_mount_points; m++)
            if (strcmp (c->mount_points[m].source_volume, v->name) == 0)
              {
                transition_failed (e, t, i, "CannotCreateVolumeError", err->msg);
                c->inflight = TASK_ACTION_NONE;
                break;
              }
        }
      task_step (e, t);
      return;
    }
  (void) vol;
  v->created = true;
  log_info (MOD, "task %s: created volume %s", t->arn, v->docker_name);
  state_save (e->state, NULL, NULL);
  for (size_t i = 0; i < t->n_containers; i++)
    if (t->containers[i].inflight == TASK_ACTION_CREATE && volumes_ready (t, &t->containers[i]))
      {
        /* Only containers not yet past this phase (no op of theirs in flight). */
        bool busy = false;
        for (struct op *o = e->ops_head; o; o = o->next)
          if (o->t == t && o->ci == i
              && (o->kind == OP_CREATE_SAVE || o->kind == OP_CREATE_SAVE_WAIT || o->kind == OP_CREATE
                  || o->kind == OP_CREATE_ADOPT))
            busy = true;
        if (!busy)
          create_continue (e, t, i);
      }
}

static bool
volume_create_inflight (engine_t *e, struct task *t, size_t vi)
{
  for (struct op *o = e->ops_head; o; o = o->next)
    if (o->t == t && o->kind == OP_VOLUME_CREATE && o->ci == vi)
      return true;
  return false;
}

static void
on_create_saved (agent_error_t err, void *data)
{
  struct op *op = data;
  engine_t *e = op->e;
  struct task *t = op->t;
  size_t ci = op->ci;
  op_finish (op);
  struct task_container *c = &t->containers[ci];
  if (err)
    {
      /* The name must be on disk before the container exists.  The store
         retries its write with back-off; the request is made again after
         a back-off of our own, never at once (that would spin). */
      if (!e->save_failing)
        log_warn (MOD, "checkpoint save failing (%s): creates wait for it", err->msg);
      e->save_failing = true;
      struct op *again = op_new (e, OP_CREATE_SAVE_WAIT, t, ci);
      again->due_ms = uv_now (e->loop) + retry_delay_ms (&e->save_backoff, SAVE_RETRY_BASE_MS, SAVE_RETRY_MAX_MS);
      arm_retry (e);
      return;
    }
  if (e->save_failing)
    {
      log_info (MOD, "checkpoint save succeeded again: waiting creates go on");
      e->save_failing = false;
      backoff_reset (&e->save_backoff);
    }
  if (c->desired_status == TASK_STATUS_STOPPED)
    {
      c->inflight = TASK_ACTION_NONE;
      container_idle (e, t, ci); /* told to stop meanwhile: never create */
      return;
    }
  do_create (e, t, ci);
  if (c->inflight == TASK_ACTION_NONE)
    task_step (e, t);
}

/* Phase 2 of a create: volumes ready -> durable save of the name -> create. */
static void
create_continue (engine_t *e, struct task *t, size_t ci)
{
  struct task_container *c = &t->containers[ci];
  if (!c->docker_name)
    c->docker_name = engine_docker_container_name (t, c);
  struct op *op = op_new (e, OP_CREATE_SAVE, t, ci);
  state_save (e->state, on_create_saved, op);
}

static void
issue_create (engine_t *e, struct task *t, size_t ci)
{
  struct task_container *c = &t->containers[ci];
  c->inflight = TASK_ACTION_CREATE;
  if (!c->docker_name)
    c->docker_name = engine_docker_container_name (t, c);
  bool wait = false;
  for (size_t m = 0; m < c->n_mount_points; m++)
    {
      struct task_volume *v = task_find_volume (t, c->mount_points[m].source_volume);
      if (!v || v->source_path || v->created)
        continue;
      wait = true;
      size_t vi = (size_t) (v - t->volumes);
      if (volume_create_inflight (e, t, vi))
        continue;
      if (!v->docker_name)
        v->docker_name = engine_docker_volume_name (t, v);
      struct op *op = op_new (e, OP_VOLUME_CREATE, t, vi);
      size_t nl;
      cleanup_free struct docker_label *labels = make_labels (e, t, NULL, &nl);
      op->handle = e->ops->volume_create (e->ops_ctx, v->docker_name, labels, nl, on_volume_created, op);
    }
  if (!wait)
    create_continue (e, t, ci);
}

static bool
label_is (const struct docker_kv *l, size_t n, const char *key, const char *value)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp (l[i].key, key) == 0)
      return value && l[i].value && strcmp (l[i].value, value) == 0;
  return false;
}

static enum task_status
status_of_info (const struct docker_container_info *info)
{
  if (info->running)
    return TASK_STATUS_RUNNING;
  if (info->status && strcmp (info->status, "created") == 0)
    return TASK_STATUS_CREATED;
  return TASK_STATUS_STOPPED;
}

/* Adopt an existing Docker container as container ci (after a crash). */
static void
adopt (engine_t *e, struct task *t, size_t ci, const struct docker_container_info *info)
{
  struct task_container *c = &t->containers[ci];
  free (c->docker_id);
  c->docker_id = xstrdup (info->id);
  log_info (MOD, "task %s container %s: adopted existing Docker container %s (%s)", t->arn, c->name,
            info->name ? info->name : "", info->status ? info->status : "");
  struct meta m;
  meta_from_info (&m, info);
  enum task_status st = status_of_info (info);
  /* Walk through the intermediate statuses so every change is recorded. */
  if (st >= TASK_STATUS_CREATED)
    apply_change (e, t, ci, TASK_STATUS_CREATED, NULL);
  if (st >= TASK_STATUS_RUNNING && st != TASK_STATUS_STOPPED)
    apply_change (e, t, ci, TASK_STATUS_RUNNING, &m);
  if (st == TASK_STATUS_STOPPED)
    apply_change (e, t, ci, TASK_STATUS_STOPPED, &m);
}

static void
on_create_adopt (const struct docker_container_info *info, agent_error_t err, void *data)
{
  struct op *op = data;
  engine_t *e = op->e;
  struct task *t = op->t;
  size_t ci = op->ci;
  cleanup_free char *msg = op_take_msg (op);
  op_finish_container (op);
  struct task_container *c = &t->containers[ci];
  if (!err && info && label_is (info->labels, info->n_labels, LABEL_TASK_ARN, t->arn)
      && label_is (info->labels, info->n_labels, LABEL_CONTAINER_NAME, c->name))
    adopt (e, t, ci, info);
  else
    transition_failed (e, t, ci, "CannotCreateContainerError", msg);
  container_idle (e, t, ci);
}

static void
on_create_done (const char *id, agent_error_t err, void *data)
{
  struct op *op = data;
  engine_t *e = op->e;
  struct task *t = op->t;
  size_t ci = op->ci;
  struct task_container *c = &t->containers[ci];
  if (err
      && (err->kind == ERR_CONFLICT || err->kind == ERR_UNREACHABLE || err->kind == ERR_TIMEOUT
          || err->kind == ERR_MALFORMED || err->kind == ERR_SERVER))
    {
      /* Name in use: ours from before a crash?  Or the answer was lost
         (daemon unreachable, timeout): the create may have happened all the
         same.  Inspect by name and adopt rather than leave an orphan. */
      op->msg = xstrdup (err->msg);
      op->kind = OP_CREATE_ADOPT;
      op->handle = e->ops->inspect (e->ops_ctx, c->docker_name, on_create_adopt, op);
      return;
    }
  op_finish_container (op);
  if (err)
    transition_failed (e, t, ci, "CannotCreateContainerError", err->msg);
  else
    {
      free (c->docker_id);
      c->docker_id = xstrdup (id);
      apply_change (e, t, ci, TASK_STATUS_CREATED, NULL);
    }
  container_idle (e, t, ci);
}

/* ---- start / stop ------------------------------------------------------------------ */

static void
on_start_inspect (const struct docker_container_info *info, agent_error_t err, void *data)
{
  struct op *op = data;
  engine_t *e = op->e;
  struct task *t = op->t;
  size_t ci = op->ci;
  op_finish_container (op);
  struct meta m;
  meta_from_info (&m, err ? NULL : info);
  if (err)
    log_warn (MOD, "task %s container %s: inspect after start: %s", t->arn, t->containers[ci].name, err->msg);
  apply_change (e, t, ci, TASK_STATUS_RUNNING, &m);
  if (!err && info && !info->running)
    apply_change (e, t, ci, TASK_STATUS_STOPPED, &m); /* already exited */
  container_idle (e, t, ci);
}

static void
on_start_done (agent_error_t err, void *data)
{
  struct op *op = data;
  engine_t *e = op->e;
  struct task *t = op->t;
  size_t ci = op->ci;
  struct task_container *c = &t->containers[ci];
  if (!err && c->n_port_mappings > 0)
    {
      /* The host ports Docker picked are only known from an inspect. */
      op->kind = OP_START_INSPECT;
      op->handle = e->ops->inspect (e->ops_ctx, c->docker_id, on_start_inspect, op);
      return;
    }
  op_finish_container (op);
  if (err)
    transition_failed (e, t, ci, "CannotStartContainerError", err->msg);
  else
    apply_change (e, t, ci, TASK_STATUS_RUNNING, NULL); /* an exit right away comes as a die event */
  container_idle (e, t, ci);
}

static void
issue_start (engine_t *e, struct task *t, size_t ci)
{
  struct task_container *c = &t->containers[ci];
  if (!c->docker_id)
    {
      transition_failed (e, t, ci, "CannotStartContainerError", "Container not recorded as created");
      return;
    }
  c->inflight = TASK_ACTION_START;
  struct op *op = op_new (e, OP_START, t, ci);
  log_info (MOD, "task %s container %s: starting %s", t->arn, c->name, c->docker_name);
  op->handle = e->ops->start (e->ops_ctx, c->docker_id, on_start_done, op);
}

/* A stop that did not provably stop the container (the daemon unreachable,
   timing out, or answering that it still runs): the container keeps its
   known status (reporting STOPPED would let ECS release its ports and
   memory while it runs) and the stop is tried again after a back-off. */
static void
stop_retry_later (engine_t *e, struct task *t, size_t ci, const char *msg)
{
  struct task_container *c = &t->containers[ci];
  uint64_t d = retry_delay_ms (&c->stop_backoff, STOP_RETRY_BASE_MS, STOP_RETRY_MAX_MS);
  c->retry_at_ms = uv_now (e->loop) + d;
  log_warn (MOD, "task %s container %s: stop not confirmed (%s); retrying in %llu ms", t->arn, c->name,
            msg && *msg ? msg : "container still running", (unsigned long long) d);
  arm_retry (e);
}

static void
on_stop_inspect (const struct docker_container_info *info, agent_error_t err, void *data)
{
  struct op *op = data;
  engine_t *e = op->e;
  struct task *t = op->t;
  size_t ci = op->ci;
  cleanup_free char *msg = op_take_msg (op);
  op_finish_container (op);
  struct task_container *c = &t->containers[ci];
  bool gone = err && err->kind == ERR_NOT_FOUND;
  if ((err && !gone) || (!err && info && info->running))
    {
      stop_retry_later (e, t, ci, msg ? msg : err ? err->msg : NULL);
      container_idle (e, t, ci);
      return;
    }
  struct meta m;
  meta_from_info (&m, err ? NULL : info);
  if (msg && gone)
    set_reason (c, "CannotStopContainerError", msg);
  c->retry_at_ms = 0;
  backoff_reset (&c->stop_backoff);
  apply_change (e, t, ci, TASK_STATUS_STOPPED, &m);
  container_idle (e, t, ci);
}

static void
on_stop_done (agent_error_t err, void *data)
{
  struct op *op = data;
  engine_t *e = op->e;
  struct task_container *c = &op->t->containers[op->ci];
  if (err)
    {
      log_warn (MOD, "task %s container %s: stop failed: %s", op->t->arn, c->name, err->msg);
      if (err->kind != ERR_NOT_FOUND)
        op->msg = xstrdup (err->msg);
    }
  op->kind = OP_STOP_INSPECT;
  op->handle = e->ops->inspect (e->ops_ctx, c->docker_id, on_stop_inspect, op);
}

static void
issue_stop (engine_t *e, struct task *t, size_t ci)
{
  struct task_container *c = &t->containers[ci];
  c->inflight = TASK_ACTION_STOP;
  struct op *op = op_new (e, OP_STOP, t, ci);
  log_info (MOD, "task %s container %s: stopping %s", t->arn, c->name, c->docker_name);
  op->handle = e->ops->stop (e->ops_ctx, c->docker_id, (int) ((e->stop_timeout_ms + 999) / 1000),
                             on_stop_done, op);
}

/* ---- events -------------------------------------------------------------------------- */

static void
on_event_inspect (const struct docker_container_info *info, agent_error_t err, void *data)
{
  struct op *op = data;
  engine_t *e = op->e;
  struct task *t = op->t;
  size_t ci = op->ci;
  enum task_status st = op->status;
  op_finish_container (op);
  struct task_container *c = &t->containers[ci];
  struct meta m;
  meta_from_info (&m, err ? NULL : info);
  if (err && err->kind == ERR_NOT_FOUND && st != TASK_STATUS_NONE)
    st = TASK_STATUS_NONE; /* gone before we could look: handled as vanished below */
  if (st == TASK_STATUS_NONE)
    {
      /* Resync (event stream reconnected, periodic check): whatever Docker says. */
      if (err && err->kind == ERR_NOT_FOUND)
        {
          if (c->known_status != TASK_STATUS_STOPPED)
            set_reason (c, "ContainerVanishedError", "No container matching saved ID found");
          st = TASK_STATUS_STOPPED;
        }
      else if (err)
        log_warn (MOD, "task %s container %s: inspect: %s", t->arn, c->name, err->msg);
      else
        {
          st = status_of_info (info);
          if (st == TASK_STATUS_STOPPED && c->known_status == TASK_STATUS_CREATED && info->started_at_ns > 0)
            apply_change (e, t, ci, TASK_STATUS_RUNNING, &m);
        }
      if (st != TASK_STATUS_NONE)
        apply_change (e, t, ci, st, &m);
      container_idle (e, t, ci);
      return;
    }
  if (err)
    log_warn (MOD, "task %s container %s: inspect after event: %s", t->arn, c->name, err->msg);
  if (st == TASK_STATUS_RUNNING && !err && info && !info->running)
    st = TASK_STATUS_STOPPED; /* started and already gone */
  if (st == TASK_STATUS_STOPPED && c->known_status < TASK_STATUS_RUNNING
      && c->desired_status != TASK_STATUS_STOPPED)
    apply_change (e, t, ci, TASK_STATUS_RUNNING, &m); /* ran, however briefly */
  apply_change (e, t, ci, st, &m);
  container_idle (e, t, ci);
}

static void
handle_event_status (engine_t *e, struct task *t, size_t ci, enum task_status st)
{
  struct task_container *c = &t->containers[ci];
  if (c->inflight != TASK_ACTION_NONE)
    {
      if (st > c->pending_event)
        c->pending_event = st;
      return;
    }
  if (engine_plan_accept_change (c, st) == ENGINE_CHANGE_IGNORE || !c->docker_id)
    return;
  c->inflight = TASK_ACTION_INSPECT;
  struct op *op = op_new (e, OP_EVENT_INSPECT, t, ci);
  op->status = st;
  op->handle = e->ops->inspect (e->ops_ctx, c->docker_id, on_event_inspect, op);
}

static bool
find_by_id (const engine_t *e, const char *id, struct task **tp, size_t *ci)
{
  for (size_t i = 0; i < e->n_tasks; i++)
    for (size_t k = 0; k < e->tasks[i]->n_containers; k++)
      {
        const char *d = e->tasks[i]->containers[k].docker_id;
        if (d && strcmp (d, id) == 0)
          {
            *tp = e->tasks[i];
            *ci = k;
            return true;
          }
      }
  return false;
}

static void
on_docker_event (const struct docker_event *ev, void *data)
{
  engine_t *e = data;
  if (e->stopped || !ev->id)
    return;
  enum task_status st;
  switch (ev->kind)
    {
    case DOCKER_EV_CREATE: st = TASK_STATUS_CREATED; break;
    case DOCKER_EV_START: st = TASK_STATUS_RUNNING; break;
    case DOCKER_EV_DIE: st = TASK_STATUS_STOPPED; break;
    case DOCKER_EV_OOM: st = TASK_STATUS_NONE; break;
    default: return; /* kill/stop precede die; die is what tells us it exited */
    }
  struct task *t;
  size_t ci;
  if (!find_by_id (e, ev->id, &t, &ci) || t->removing)
    return;
  struct task_container *c = &t->containers[ci];
  log_debug (MOD, "event %s for task %s container %s", ev->action ? ev->action : "?", t->arn,
             c->name);
  if (ev->kind == DOCKER_EV_OOM)
    {
      /* the die that follows carries the exit code; the reason is this */
      set_reason (c, "OutOfMemoryError", "Container killed due to memory usage");
      return;
    }
  if (ev->kind == DOCKER_EV_DIE && e->ready && ev->exit_code >= 0 && c->inflight == TASK_ACTION_NONE
      && c->known_status == TASK_STATUS_RUNNING && c->docker_id)
    {
      /* The die event carries everything a STOPPED report needs; an inspect
         of a container that has just died waits for dockerd to finish the
         exit (tens to hundreds of ms), so report straight from the event. */
      struct meta m = { .has_exit_code = true, .exit_code = ev->exit_code };
      apply_change (e, t, ci, TASK_STATUS_STOPPED, &m);
      task_step (e, t);
      return;
    }
  handle_event_status (e, t, ci, st);
  task_step (e, t);
}

/* Inspect every live container and take Docker's word for its status:
   after the event stream reconnected (events may have been lost) and
   periodically while tasks run (upstream's 10-minute check). */
static void
resync_all (engine_t *e)
{
  if (!e->ready || e->stopped)
    return;
  for (size_t i = 0; i < e->n_tasks; i++)
    {
      struct task *t = e->tasks[i];
      if (t->removing)
        continue;
      for (size_t k = 0; k < t->n_containers; k++)
        {
          struct task_container *c = &t->containers[k];
          if (!c->docker_id || c->inflight != TASK_ACTION_NONE || c->known_status < TASK_STATUS_CREATED
              || c->known_status == TASK_STATUS_STOPPED)
            continue;
          c->inflight = TASK_ACTION_INSPECT;
          struct op *op = op_new (e, OP_EVENT_INSPECT, t, k);
          op->status = TASK_STATUS_NONE;
          op->handle = e->ops->inspect (e->ops_ctx, c->docker_id, on_event_inspect, op);
        }
    }
}

/* The daemon answers again (its event stream reconnected): stops and
   cleanups waiting for their back-off go now. */
static void
retry_now (engine_t *e)
{
  bool any = false;
  for (size_t i = 0; i < e->n_tasks; i++)
    {
      struct task *t = e->tasks[i];
      if (t->cleanup_retry_ns)
        {
          t->cleanup_retry_ns = 0;
          any = true;
        }
      for (size_t k = 0; k < t->n_containers; k++)
        if (t->containers[k].retry_at_ms)
          {
            t->containers[k].retry_at_ms = 0;
            any = true;
          }
    }
  if (!any)
    return;
  uv_timer_stop (&e->retry_timer);
  step_all (e);
  arm_cleanup (e);
  arm_retry (e); /* saves a create waits for */
}

static void
on_resync_timer (uv_timer_t *h)
{
  resync_all (h->data);
}

static void
on_events_state (bool connected, agent_error_t err, void *data)
{
  engine_t *e = data;
  if (connected)
    {
      log_info (MOD, "docker event stream connected");
      if (e->events_seen_connected)
        {
          retry_now (e);
          resync_all (e);
        }
      e->events_seen_connected = true;
    }
  else
    log_warn (MOD, "docker event stream broke: %s (reconnecting)", err ? err->msg : "eof");
}

/* ---- the step ---------------------------------------------------------------------- */

static bool
task_held (const engine_t *e, const struct task *t)
{
  if (t->start_seq == 0 || t->desired_status == TASK_STATUS_STOPPED)
    return false;
  for (size_t i = 0; i < e->n_tasks; i++)
    {
      const struct task *u = e->tasks[i];
      if (u != t && u->stop_seq != 0 && u->stop_seq <= t->start_seq
          && u->known_status != TASK_STATUS_STOPPED)
        return true;
    }
  return false;
}

static void
task_became_stopped (engine_t *e, struct task *t)
{
  log_info (MOD, "task %s stopped%s%s", t->arn, t->reason ? ": " : "", t->reason ? t->reason : "");
  arm_cleanup (e);
  if (t->stop_seq)
    {
      /* Tasks held behind this stop may go now. */
      for (size_t i = 0; i < e->n_tasks; i++)
        if (e->tasks[i] != t && e->tasks[i]->hold)
          task_step (e, e->tasks[i]);
    }
}

static void
task_step (engine_t *e, struct task *t)
{
  if (!e->ready || e->stopped || t->removing)
    return;
  bool dirty = false;
  for (int round = 0; round < 64; round++)
    {
      bool again = false;
      dirty |= engine_plan_update_desired (t);
      t->hold = task_held (e, t);
      for (size_t i = 0; i < t->n_containers; i++)
        {
          enum task_action a = engine_plan_container_action (t, i);
          switch (a)
            {
            case TASK_ACTION_NONE:
            case TASK_ACTION_REMOVE:
            case TASK_ACTION_INSPECT:
              break;
            case TASK_ACTION_MARK_STOPPED:
              apply_change (e, t, i, TASK_STATUS_STOPPED, NULL);
              again = dirty = true;
              break;
            case TASK_ACTION_PULL:
              if (issue_pull (e, t, i))
                again = true;
              dirty = true;
              break;
            case TASK_ACTION_CREATE:
              issue_create (e, t, i);
              dirty = true;
              break;
            case TASK_ACTION_START:
              issue_start (e, t, i);
              again = dirty = true;
              break;
            case TASK_ACTION_STOP:
              if (t->containers[i].retry_at_ms)
                break; /* an earlier stop failed: the retry timer calls again */
              issue_stop (e, t, i);
              dirty = true;
              break;
            }
        }
      enum task_status k = engine_plan_task_known (t);
      if (k > t->known_status)
        {
          log_info (MOD, "task %s: %s -> %s", t->arn, task_status_str (t->known_status),
                    task_status_str (k));
          t->known_status = k;
          t->known_time_ns = wall_ns ();
          emit_task_change (e, t);
          notify (e, t, NULL);
          dirty = true;
          if (k == TASK_STATUS_STOPPED)
            {
              task_became_stopped (e, t);
              break;
            }
        }
      switch (engine_plan_stuck (t))
        {
        case ENGINE_PLAN_NOT_STUCK:
          break;
        case ENGINE_PLAN_STUCK_STOP_TASK:
          log_warn (MOD, "task %s cannot progress; stopping it", t->arn);
          t->desired_status = TASK_STATUS_STOPPED;
          again = dirty = true;
          break;
        case ENGINE_PLAN_STUCK_FORCE_STOP:
          if (!t->reason)
            t->reason = xstrdup (ENGINE_REASON_TASK_STATE);
          t->known_status = TASK_STATUS_STOPPED;
          t->known_time_ns = wall_ns ();
          emit_task_change (e, t);
          notify (e, t, NULL);
          task_became_stopped (e, t);
          dirty = true;
          break;
        }
      if (!again || t->known_status == TASK_STATUS_STOPPED)
        break;
    }
  if (dirty)
    state_save (e->state, NULL, NULL);
}

static void
step_all (engine_t *e)
{
  /* task_step never removes tasks, so indices stay valid. */
  for (size_t i = 0; i < e->n_tasks; i++)
    task_step (e, e->tasks[i]);
}

/* ---- stop retries ----------------------------------------------------------------------- */

static void
on_retry_timer (uv_timer_t *h)
{
  engine_t *e = h->data;
  if (e->stopped)
    return;
  uint64_t now = uv_now (e->loop);
  for (size_t i = 0; i < e->n_tasks; i++)
    for (size_t k = 0; k < e->tasks[i]->n_containers; k++)
      {
        struct task_container *c = &e->tasks[i]->containers[k];
        if (c->retry_at_ms && c->retry_at_ms <= now)
          c->retry_at_ms = 0;
      }
  for (struct op *o = e->ops_head; o; o = o->next)
    if (o->kind == OP_CREATE_SAVE_WAIT && o->due_ms <= now)
      {
        o->kind = OP_CREATE_SAVE;
        state_save (e->state, on_create_saved, o);
      }
  step_all (e);
  arm_retry (e);
}

static void
arm_retry (engine_t *e)
{
  if (e->stopped || e->freeing)
    return;
  uint64_t best = UINT64_MAX;
  for (size_t i = 0; i < e->n_tasks; i++)
    for (size_t k = 0; k < e->tasks[i]->n_containers; k++)
      {
        uint64_t at = e->tasks[i]->containers[k].retry_at_ms;
        if (at && at < best)
          best = at;
      }
  for (const struct op *o = e->ops_head; o; o = o->next)
    if (o->kind == OP_CREATE_SAVE_WAIT && o->due_ms < best)
      best = o->due_ms;
  uv_timer_stop (&e->retry_timer);
  if (best == UINT64_MAX)
    return;
  uint64_t now = uv_now (e->loop);
  uv_timer_start (&e->retry_timer, on_retry_timer, best > now ? best - now : 0, 0);
}

/* ---- cleanup --------------------------------------------------------------------------- */

static void drop_task (engine_t *e, struct task *t);

static bool
task_removal_pending (engine_t *e, struct task *t)
{
  for (struct op *o = e->ops_head; o; o = o->next)
    if (o->t == t)
      return true;
  return false;
}

static void on_volume_removed (agent_error_t err, void *data);

/* A removal round left something in Docker (the daemon unreachable, timing
   out or refusing): the task stays in state, and so in the checkpoint, and
   its cleanup is tried again after a back-off, never forgotten. */
static void
removal_retry_later (engine_t *e, struct task *t)
{
  t->removal_failed = false;
  t->removing = false;
  uint64_t d = retry_delay_ms (&t->cleanup_backoff, CLEANUP_RETRY_BASE_MS, CLEANUP_RETRY_MAX_MS);
  t->cleanup_retry_ns = wall_ns () + (int64_t) d * 1000000LL;
  log_warn (MOD, "task %s: cleanup incomplete; retrying in %llu ms", t->arn, (unsigned long long) d);
  arm_cleanup (e);
}

/* Errors after which a removal is retried: anything but "not there" (done)
   and a request Docker will refuse again the same way. */
static bool
removal_retriable (agent_error_t err)
{
  return err && err->kind != ERR_NOT_FOUND && err->kind != ERR_CLIENT && err->kind != ERR_INVALID
         && err->kind != ERR_AUTH;
}

static void
removal_progress (engine_t *e, struct task *t)
{
  if (task_removal_pending (e, t))
    return;
  if (t->removal_failed)
    {
      removal_retry_later (e, t);
      return;
    }
  /* Containers gone: now the task's empty volumes, one at a time. */
  for (size_t i = 0; i < t->n_volumes; i++)
    {
      struct task_volume *v = &t->volumes[i];
      if (v->source_path || !v->created || !v->docker_name)
        continue;
      v->created = false;
      struct op *op = op_new (e, OP_VOLUME_REMOVE, t, i);
      op->handle = e->ops->volume_remove (e->ops_ctx, v->docker_name, on_volume_removed, op);
      return;
    }
  drop_task (e, t);
}

static void
on_volume_removed (agent_error_t err, void *data)
{
  struct op *op = data;
  engine_t *e = op->e;
  struct task *t = op->t;
  if (err && err->kind != ERR_NOT_FOUND)
    log_warn (MOD, "task %s: removing volume %s: %s", t->arn, t->volumes[op->ci].docker_name, err->msg);
  if (removal_retriable (err))
    {
      t->volumes[op->ci].created = true;
      t->removal_failed = true;
    }
  op_finish (op);
  removal_progress (e, t);
}

static void
on_removed (agent_error_t err, void *data)
{
  struct op *op = data;
  engine_t *e = op->e;
  struct task *t = op->t;
  struct task_container *c = &t->containers[op->ci];
  if (err && err->kind != ERR_NOT_FOUND)
    log_warn (MOD, "task %s container %s: remove: %s", t->arn, c->name, err->msg);
  if (removal_retriable (err))
    t->removal_failed = true;
  op_finish (op);
  removal_progress (e, t);
}

static void
start_task_cleanup (engine_t *e, struct task *t)
{
  log_info (MOD, "task %s: cleaning up", t->arn);
  cancel_task_ops (e, t);
  t->removing = true;
  t->cleanup_due = true;
  for (size_t i = 0; i < t->n_containers; i++)
    {
      struct task_container *c = &t->containers[i];
      /* No id but a name: a create was attempted and its answer lost; the
         deterministic name finds the container if it exists (404 is fine). */
      const char *ref = c->docker_id ? c->docker_id : c->docker_name;
      if (!ref)
        continue;
      struct op *op = op_new (e, OP_REMOVE, t, i);
      op->handle = e->ops->remove (e->ops_ctx, ref, on_removed, op);
    }
  removal_progress (e, t);
}

static void
drop_task (engine_t *e, struct task *t)
{
  for (size_t i = 0; i < e->n_tasks; i++)
    if (e->tasks[i] == t)
      {
        memmove (&e->tasks[i], &e->tasks[i + 1], (e->n_tasks - i - 1) * sizeof *e->tasks);
        e->n_tasks--;
        break;
      }
  log_info (MOD, "task %s: removed from state", t->arn);
  notify (e, t, NULL);
  task_free (t);
  state_save (e->state, NULL, NULL);
}

static int64_t
cleanup_deadline_ns (const engine_t *e, const struct task *t)
{
  int64_t d = t->known_time_ns + (int64_t) e->cleanup_wait_ms * 1000000LL;
  return t->cleanup_retry_ns > d ? t->cleanup_retry_ns : d;
}

static void
on_cleanup_timer (uv_timer_t *h)
{
  engine_t *e = h->data;
  if (e->stopped)
    return;
  int64_t now = wall_ns ();
  for (size_t i = 0; i < e->n_tasks;)
    {
      struct task *t = e->tasks[i];
      if (t->known_status == TASK_STATUS_STOPPED && !t->removing && cleanup_deadline_ns (e, t) <= now)
        {
          size_t before = e->n_tasks;
          start_task_cleanup (e, t);
          if (e->n_tasks < before)
            continue; /* dropped synchronously */
        }
      i++;
    }
  arm_cleanup (e);
}

static void
arm_cleanup (engine_t *e)
{
  if (e->stopped || e->freeing)
    return;
  int64_t best = INT64_MAX;
  for (size_t i = 0; i < e->n_tasks; i++)
    {
      const struct task *t = e->tasks[i];
      if (t->known_status == TASK_STATUS_STOPPED && !t->removing)
        {
          int64_t d = cleanup_deadline_ns (e, t);
          if (d < best)
            best = d;
        }
    }
  uv_timer_stop (&e->cleanup_timer);
  if (best == INT64_MAX)
    return;
  int64_t wait_ns = best - wall_ns ();
  uint64_t ms = wait_ns <= 0 ? 0 : (uint64_t) (wait_ns / 1000000) + 1;
  uv_timer_start (&e->cleanup_timer, on_cleanup_timer, ms, 0);
}

/* ---- reconciliation --------------------------------------------------------------------- */

static void reconcile_start (engine_t *e);
static void reconcile_timer_cb (uv_timer_t *h);

static void
reconcile_done_one (engine_t *e)
{
  if (--e->reconcile_pending > 0)
    return;
  log_info (MOD, "reconciliation with Docker done (%zu tasks)", e->n_tasks);
  e->ready = true;
  step_all (e);
  arm_cleanup (e);
  state_save (e->state, NULL, NULL);
}

static void
on_reconcile_inspect (const struct docker_container_info *info, agent_error_t err, void *data)
{
  struct op *op = data;
  engine_t *e = op->e;
  struct task *t = op->t;
  size_t ci = op->ci;
  op_finish_container (op);
  struct task_container *c = &t->containers[ci];
  if (err && err->kind == ERR_NOT_FOUND)
    {
      if (c->known_status != TASK_STATUS_STOPPED)
        {
          set_reason (c, "ContainerVanishedError", "No container matching saved ID found");
          apply_change (e, t, ci, TASK_STATUS_STOPPED, NULL);
        }
    }
  else if (err)
    {
      /* Docker trouble: leave it; events / later steps will tell. */
      log_warn (MOD, "task %s container %s: reconcile inspect: %s", t->arn, c->name, err->msg);
    }
  else
    {
      struct meta m;
      meta_from_info (&m, info);
      enum task_status st = status_of_info (info);
      if (st >= TASK_STATUS_CREATED)
        apply_change (e, t, ci, TASK_STATUS_CREATED, NULL);
      if (st == TASK_STATUS_RUNNING)
        apply_change (e, t, ci, TASK_STATUS_RUNNING, &m);
      if (st == TASK_STATUS_STOPPED)
        {
          if (c->known_status < TASK_STATUS_RUNNING && c->known_status >= TASK_STATUS_CREATED
              && info->started_at_ns > 0)
            apply_change (e, t, ci, TASK_STATUS_RUNNING, &m);
          apply_change (e, t, ci, TASK_STATUS_STOPPED, &m);
        }
    }
  reconcile_done_one (e);
}

static void
on_reconcile_list (const struct docker_container_list *list, agent_error_t err, void *data)
{
  struct op *op = data;
  engine_t *e = op->e;
  op_finish (op);
  if (err)
    {
      uint64_t wait = backoff_next (&e->reconcile_backoff);
      log_warn (MOD, "reconciliation: listing containers failed: %s (retrying in %" PRIu64 " ms)",
                err->msg, wait);
      uv_timer_start (&e->reconcile_timer, reconcile_timer_cb, wait, 0);
      return;
    }
  e->reconcile_pending = 1; /* guard while issuing */
  for (size_t i = 0; i < e->n_tasks; i++)
    {
      struct task *t = e->tasks[i];
      for (size_t k = 0; k < t->n_containers; k++)
        {
          struct task_container *c = &t->containers[k];
          if (!c->docker_id)
            for (size_t j = 0; j < list->n; j++)
              {
                const struct docker_container_summary *s = &list->items[j];
                bool by_name = false;
                for (size_t n = 0; c->docker_name && n < s->n_names; n++)
                  if (strcmp (s->names[n], c->docker_name) == 0)
                    by_name = true;
                bool by_label = label_is (s->labels, s->n_labels, LABEL_TASK_ARN, t->arn)
                                && label_is (s->labels, s->n_labels, LABEL_CONTAINER_NAME, c->name);
                if (by_name || by_label)
                  {
                    c->docker_id = xstrdup (s->id);
                    if (!c->docker_name && s->n_names)
                      c->docker_name = xstrdup (s->names[0]);
                    log_info (MOD, "task %s container %s: found Docker container %s created before a restart",
                              t->arn, c->name, s->id);
                    break;
                  }
              }
          if (!c->docker_id)
            continue;
          c->inflight = TASK_ACTION_INSPECT;
          e->reconcile_pending++;
          struct op *iop = op_new (e, OP_RECONCILE_INSPECT, t, k);
          iop->handle = e->ops->inspect (e->ops_ctx, c->docker_id, on_reconcile_inspect, iop);
        }
    }
  reconcile_done_one (e);
}

static void
reconcile_start (engine_t *e)
{
  if (e->stopped)
    return;
  struct op *op = op_new (e, OP_RECONCILE_LIST, NULL, 0);
  op->handle = e->ops->list_by_label (e->ops_ctx, LABEL_TASK_ARN, on_reconcile_list, op);
}

/* The back-off after a failed container list has elapsed: list again. */
static void
reconcile_timer_cb (uv_timer_t *h)
{
  reconcile_start (h->data);
}

/* ---- public API ---------------------------------------------------------------------------- */

static void
provider (void *data, struct task *const **tasks, size_t *n)
{
  engine_t *e = data;
  *tasks = e->tasks;
  *n = e->n_tasks;
}

static void add_task_array (engine_t *e, struct task *t);
static void fail_task_dependencies (engine_t *e, struct task *t, char *reason);

/* Tasks restored from the checkpoint (state_load kept the section). */
static int
restore_tasks (engine_t *e, agent_error_t *err)
{
  if (state_loaded_task_count (e->state) > 0)
    {
      struct task **tasks = NULL;
      size_t n = 0;
      state_take_tasks (e->state, &tasks, &n);
      for (size_t i = 0; i < n; i++)
        {
          struct task *t = tasks[i];
          if (t->desired_status == TASK_STATUS_PULLED)
            t->desired_status = TASK_STATUS_NONE;
          if (t->known_status == TASK_STATUS_PULLED)
            t->known_status = TASK_STATUS_NONE;
          add_task_array (e, t);
          char *reason = NULL;
          if (t->known_status != TASK_STATUS_STOPPED && engine_plan_check_task (t, &reason) < 0)
            fail_task_dependencies (e, t, reason);
        }
      free (tasks);
      log_info (MOD, "restored %zu tasks from the checkpoint", n);
    }
  return 0;
}

static void engine_destroy (engine_t *e);

engine_t *
engine_new (uv_loop_t *loop, const struct engine_options *opts, agent_error_t *err)
{
  if (!opts || !opts->state)
    {
      error_set (err, ERR_INVALID, "engine: a state store is required");
      return NULL;
    }
  if (!opts->ops && !opts->docker)
    {
      error_set (err, ERR_INVALID, "engine: a Docker client or ops are required");
      return NULL;
    }
  engine_t *e = xcalloc (1, sizeof *e);
  e->loop = loop;
  e->cluster = xstrdup (opts->cluster && *opts->cluster ? opts->cluster : "default");
  e->cleanup_wait_ms = opts->cleanup_wait_ms ? opts->cleanup_wait_ms : DEFAULT_CLEANUP_WAIT_MS;
  e->stop_timeout_ms = opts->stop_timeout_ms ? opts->stop_timeout_ms : DEFAULT_STOP_TIMEOUT_MS;
  e->state = opts->state;
  e->ops = opts->ops ? opts->ops : &engine_docker_ops_default;
  e->ops_ctx = opts->ops ? opts->ops_ctx : opts->docker;
  e->auth = opts->auth;
  if (opts->n_extra_labels)
    {
      e->extra_labels = xcalloc (opts->n_extra_labels, sizeof *e->extra_labels);
      for (size_t i = 0; i < opts->n_extra_labels; i++)
        {
          e->extra_labels[i].key = xstrdup (opts->extra_labels[i].key);
          e->extra_labels[i].value = xstrdup (opts->extra_labels[i].value ? opts->extra_labels[i].value : "");
        }
      e->n_extra_labels = opts->n_extra_labels;
    }
  if (restore_tasks (e, err) < 0)
    {
      engine_destroy (e);
      return NULL;
    }
  state_set_task_provider (e->state, provider, e);
  uv_timer_init (loop, &e->cleanup_timer);
  uv_timer_init (loop, &e->reconcile_timer);
  uv_timer_init (loop, &e->resync_timer);
  uv_timer_init (loop, &e->retry_timer);
  e->cleanup_timer.data = e->reconcile_timer.data = e->resync_timer.data = e->retry_timer.data = e;
  e->open_handles = 4;
  backoff_init (&e->reconcile_backoff, 200, 5000, 0.2, 1.5);
  return e;
}

static void
add_task_array (engine_t *e, struct task *t)
{
  if (e->n_tasks == e->cap_tasks)
    {
      e->cap_tasks = e->cap_tasks ? 2 * e->cap_tasks : 16;
      e->tasks = xrealloc (e->tasks, e->cap_tasks * sizeof *e->tasks);
    }
  e->tasks[e->n_tasks++] = t;
}

/* Refuse a task that cannot run (no containers, dependencies that cannot
   be satisfied): recorded STOPPED with the reason, never run. */
static void
fail_task_dependencies (engine_t *e, struct task *t, char *reason)
{
  log_warn (MOD, "task %s: %s", t->arn, reason);
  free (t->reason);
  t->reason = reason;
  t->desired_status = TASK_STATUS_STOPPED;
  for (size_t i = 0; i < t->n_containers; i++)
    {
      struct task_container *c = &t->containers[i];
      c->desired_status = TASK_STATUS_STOPPED;
      if (!c->docker_id)
        c->known_status = TASK_STATUS_STOPPED;
    }
  if (t->known_status != TASK_STATUS_STOPPED)
    {
      bool any_docker = false;
      for (size_t i = 0; i < t->n_containers; i++)
        any_docker |= t->containers[i].docker_id != NULL;
      if (!any_docker)
        {
          t->known_status = TASK_STATUS_STOPPED;
          t->known_time_ns = wall_ns ();
          emit_task_change (e, t);
          notify (e, t, NULL);
        }
    }
}

int
engine_start (engine_t *e, agent_error_t *err)
{
  if (e->started)
    return 0;
  e->started = true;
  struct docker_events_opts eo = {
    .since_ns = wall_ns () - 1000000000LL,
    .label_filter = LABEL_TASK_ARN,
    .on_event = on_docker_event,
    .on_state = on_events_state,
    .data = e,
  };
  e->events = e->ops->events_start (e->ops_ctx, &eo);
  reconcile_start (e);
  uv_timer_start (&e->resync_timer, on_resync_timer, RESYNC_INTERVAL_MS, RESYNC_INTERVAL_MS);
  uv_unref ((uv_handle_t *) &e->resync_timer); /* never keeps the loop alive by itself */
  return 0;
}

bool
engine_ready (const engine_t *e)
{
  return e->ready;
}

void
engine_stop (engine_t *e)
{
  if (!e || e->stopped)
    return;
  e->stopped = true;
  while (e->ops_head)
    op_cancel (e->ops_head);
  for (size_t i = 0; i < e->n_tasks; i++)
    for (size_t k = 0; k < e->tasks[i]->n_containers; k++)
      e->tasks[i]->containers[k].inflight = TASK_ACTION_NONE;
  if (e->events)
    e->ops->events_stop (e->ops_ctx, e->events);
  e->events = NULL;
  uv_timer_stop (&e->cleanup_timer);
  uv_timer_stop (&e->reconcile_timer);
  uv_timer_stop (&e->resync_timer);
  uv_timer_stop (&e->retry_timer);
}

static void
engine_destroy (engine_t *e)
{
  for (size_t i = 0; i < e->n_tasks; i++)
    task_free (e->tasks[i]);
  free (e->tasks);
  for (size_t i = 0; i < e->n_extra_labels; i++)
    {
      free ((char *) e->extra_labels[i].key);
      free ((char *) e->extra_labels[i].value);
    }
  free (e->extra_labels);
  for (size_t i = 0; i < ARRAY_SIZE (e->recent_pulls); i++)
    free (e->recent_pulls[i].image);
  free (e->cluster);
  free (e);
}

static void
on_engine_close (uv_handle_t *h)
{
  engine_t *e = h->data;
  if (--e->open_handles == 0)
    engine_destroy (e);
}

void
engine_free (engine_t *e)
{
  if (!e)
    return;
  engine_stop (e);
  e->freeing = true;
  /* Last serialisation point: the store must not call back into us. */
  state_set_task_provider (e->state, NULL, NULL);
  uv_close ((uv_handle_t *) &e->cleanup_timer, on_engine_close);
  uv_close ((uv_handle_t *) &e->reconcile_timer, on_engine_close);
  uv_close ((uv_handle_t *) &e->resync_timer, on_engine_close);
  uv_close ((uv_handle_t *) &e->retry_timer, on_engine_close);
}

int
engine_task_add (engine_t *e, struct task *task, agent_error_t *err)
{
  if (!task || !task->arn || !*task->arn)
    {
      task_free (task);
      return error_set (err, ERR_INVALID, "engine_task_add: task without an ARN");
    }
  if (e->stopped)
    {
      task_free (task);
      return error_set (err, ERR_CANCELLED, "engine stopped");
    }
  struct task *old = (struct task *) engine_find_task_by_arn (e, task->arn);
  if (old)
    {
      enum task_status want = engine_plan_task_status_of (task->desired_status);
      if (want > old->desired_status)
        {
          log_info (MOD, "task %s: desired %s -> %s", old->arn, task_status_str (old->desired_status),
                    task_status_str (want));
          old->desired_status = want;
          if (want == TASK_STATUS_STOPPED && task->stop_seq && !old->stop_seq)
            old->stop_seq = task->stop_seq;
          task_step (e, old);
          state_save (e->state, NULL, NULL);
        }
      else
        log_debug (MOD, "task %s: already known with desired %s; ignored", old->arn,
                   task_status_str (old->desired_status));
      task_free (task);
      return 0;
    }
  struct task *t = task;
  if (t->desired_status == TASK_STATUS_PULLED)
    t->desired_status = TASK_STATUS_NONE;
  t->known_status = t->sent_status = TASK_STATUS_NONE;
  for (size_t i = 0; i < t->n_containers; i++)
    {
      struct task_container *c = &t->containers[i];
      c->known_status = c->sent_status = TASK_STATUS_NONE;
      c->inflight = TASK_ACTION_NONE;
      c->pending_event = TASK_STATUS_NONE;
      if (c->desired_status > TASK_STATUS_NONE && c->desired_status != TASK_STATUS_STOPPED)
        c->desired_status = TASK_STATUS_NONE; /* raised from the task's */
    }
  log_info (MOD, "task %s (%s:%s): added, desired %s, %zu containers", t->arn, t->family, t->version,
            task_status_str (t->desired_status), t->n_containers);
  add_task_array (e, t);
  char *reason = NULL;
  /* (A stop for a task never seen carries no containers: nothing to refuse.) */
  int rc = t->desired_status == TASK_STATUS_STOPPED && t->n_containers == 0
               ? 0
               : engine_plan_check_task (t, &reason);
  if (rc < 0)
    {
      fail_task_dependencies (e, t, reason);
      arm_cleanup (e);
    }
  else
    task_step (e, t);
  state_save (e->state, NULL, NULL);
  return 0;
}

size_t
engine_task_count (const engine_t *e)
{
  return e->n_tasks;
}

const struct task *
engine_task_at (const engine_t *e, size_t i)
{
  return i < e->n_tasks ? e->tasks[i] : NULL;
}

const struct task *
engine_find_task_by_arn (const engine_t *e, const char *arn)
{
  if (!arn)
    return NULL;
  for (size_t i = 0; i < e->n_tasks; i++)
    if (strcmp (e->tasks[i]->arn, arn) == 0)
      return e->tasks[i];
  return NULL;
}

const struct task *
engine_find_task_by_docker_id (const engine_t *e, const char *id, const struct task_container **cout)
{
  if (cout)
    *cout = NULL;
  if (!id)
    return NULL;
  size_t n = strlen (id);
  bool exact = n == 64;
  if (n < 12)
    return NULL;
  const struct task *found = NULL;
  const struct task_container *fc = NULL;
  for (size_t i = 0; i < e->n_tasks; i++)
    for (size_t k = 0; k < e->tasks[i]->n_containers; k++)
      {
        const struct task_container *c = &e->tasks[i]->containers[k];
        if (!c->docker_id)
          continue;
        if (exact ? strcmp (c->docker_id, id) == 0 : strncmp (c->docker_id, id, n) == 0)
          {
            if (found && fc != c)
              return NULL; /* ambiguous prefix */
            found = e->tasks[i];
            fc = c;
          }
      }
  if (cout)
    *cout = fc;
  return found;
}

void
engine_set_change_cb (engine_t *e, engine_change_cb cb, void *data)
{
  e->change_cb = cb;
  e->change_data = data;
}
