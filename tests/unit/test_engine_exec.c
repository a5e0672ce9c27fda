/* Unit tests of the engine as a whole (executor, observations,
 * reconciliation, cleanup) against a fake Docker (struct
 * engine_docker_ops, every callback kept with its real type): ordering,
 * state changes, save-before-create, errors as reasons, essential
 * semantics, cleanup, reconciliation and adoption after a crash,
 * sequence-number holds, retries (stop, cleanup, save, container list). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include "engine/engine.h"
#include "engine/decide.h"
#include "engine/plan.h"
#include "docker/auth.h"
#include "helpers/child.h"
#include "docker/overlay.h"
#include "state/state.h"
#include "log/log.h"
#include "test_engine_util.h"

/* ---- the fake Docker ------------------------------------------------------ */

enum fk
{
  F_PULL,
  F_IMG,
  F_CREATE,
  F_START,
  F_STOP,
  F_INSPECT,
  F_REMOVE,
  F_LIST,
  F_VCREATE,
  F_VREMOVE,
  F_RMI,
  F_EVENT,
};

struct fctr
{
  char id[65];
  char *name;
  char *image;
  char *task_arn, *cname;
  char *state; /* created running exited */
  int exit_code;
  bool started_once;
  int64_t started_ns; /* wall clock of the last start (Docker's StartedAt) */
  bool staged;
  struct task_port_binding ports[4];
  size_t n_ports;
  char **cmd, **links, **binds, **vfrom, **env;
  int64_t cpu, mem;
  size_t n_labels;
  bool test_label;
  const char *health, *health_output; /* State.Health.Status and its last log entry, or NULL */
  int health_exit_code;
  char *body; /* the create request's JSON body */
};

/* The callback of a queued call, with its real type (one member set). */
struct fcb
{
  docker_done_cb done;
  docker_image_cb image;
  docker_create_cb create;
  docker_inspect_cb inspect;
  docker_list_cb list;
  docker_volume_cb volume;
};

struct fcall
{
  enum fk kind;
  struct fcb cb;
  void *data;
  char *arg;
  int grace;
  bool cancelled;
  struct fcall *next;
};

struct fake
{
  uv_loop_t *loop;
  uv_timer_t timer;
  struct fcall *head, **tail;
  struct fctr ctrs[64];
  size_t n_ctrs;
  char *images[16];
  size_t n_images;
  char *volumes[128];
  size_t n_volumes;
  bool pull_fails, create_fails, start_fails;
  int start_fail_kind;        /* start_fails: this kind and text instead of a refusal */
  const char *start_fail_msg;
  bool start_fail_runs;       /* start_fails, yet the container runs (a lost answer) */
  bool unreachable; /* stop, inspect and removals fail as with the socket refused */
  int list_failures; /* the next n container lists fail (daemon not up yet) */
  int n_list;
  int stop_exit_code;
  docker_event_cb ev_cb;
  docker_events_state_cb ev_state_cb;
  void *ev_data;
  bool events_on;
  char log[8192]; /* "pull:img create:name start:name stop:name ..." */
  int n_create, n_pull, n_remove, n_vcreate, n_vremove, n_stop;
  const char *state_path; /* checked at create: the name must be on disk */
  bool name_on_disk_at_create;
  bool checked_create;
  /* A start of a container that ran before (a restart): the checkpoint's
     "RestartCount" text at that moment, when state_path is set. */
  char restart_on_disk_at_start[64];
  char create_api[16], start_api[16]; /* the last create's / start's API version ("-" = none) */
  int launch_now, launch_max; /* pulls, creates and starts queued, and their most at once */
  int inspect_now, inspect_max, n_inspect; /* container inspects queued, their most at once, all */
  char *last_auth; /* X-Registry-Auth of the last pull, NULL = none */
};

static void
flog (struct fake *f, const char *what, const char *arg)
{
  size_t n = strlen (f->log);
  snprintf (f->log + n, sizeof f->log - n, "%s:%s ", what, arg ? arg : "");
}

static struct fctr *
fctr_find (struct fake *f, const char *id_or_name)
{
  for (size_t i = 0; i < f->n_ctrs; i++)
    if (f->ctrs[i].state && (strcmp (f->ctrs[i].id, id_or_name) == 0 || strcmp (f->ctrs[i].name, id_or_name) == 0))
      return &f->ctrs[i];
  return NULL;
}

static bool
has_image (struct fake *f, const char *img)
{
  for (size_t i = 0; i < f->n_images; i++)
    if (strcmp (f->images[i], img) == 0)
      return true;
  return false;
}

static void fake_tick (uv_timer_t *t);

static void *
enqueue (struct fake *f, enum fk kind, struct fcb cb, void *data, const char *arg)
{
  struct fcall *c = xcalloc (1, sizeof *c);
  c->kind = kind;
  c->cb = cb;
  c->data = data;
  c->arg = xstrdup (arg);
  *f->tail = c;
  f->tail = &c->next;
  if (kind == F_PULL || kind == F_CREATE || kind == F_START)
    {
      f->launch_now++;
      if (f->launch_now > f->launch_max)
        f->launch_max = f->launch_now;
    }
  if (kind == F_INSPECT)
    {
      f->n_inspect++;
      if (++f->inspect_now > f->inspect_max)
        f->inspect_max = f->inspect_now;
    }
  uv_timer_start (&f->timer, fake_tick, 0, 0);
  return c;
}

static void
emit_event (struct fake *f, const char *id, enum docker_event_action kind)
{
  if (f->events_on)
    {
      struct fcall *c = enqueue (f, F_EVENT, (struct fcb){ 0 }, NULL, id);
      c->grace = kind;
    }
}

static void
fill_info (struct fctr *k, struct docker_container_info *i)
{
  memset (i, 0, sizeof *i);
  i->id = k->id;
  i->name = k->name;
  i->status = k->state;
  i->running = strcmp (k->state, "running") == 0;
  i->exit_code = k->exit_code;
  i->ports = k->ports;
  i->n_ports = i->running ? k->n_ports : 0;
  i->started_at_ns = k->started_ns ? k->started_ns : k->started_once ? 1 : 0;
  static struct docker_kv labels[2];
  labels[0] = (struct docker_kv){ "com.amazonaws.ecs.task-arn", k->task_arn };
  labels[1] = (struct docker_kv){ "com.amazonaws.ecs.container-name", k->cname };
  i->labels = labels;
  i->n_labels = 2;
  i->health_status = (char *) k->health;
  i->health_output = (char *) k->health_output;
  i->health_exit_code = k->health_exit_code;
}

static char **
dupv (const char *const *v)
{
  return task_strv_dup ((char *const *) v);
}

static void
fake_tick (uv_timer_t *t)
{
  struct fake *f = t->data;
  /* Process what is queued now; new work lands behind. */
  struct fcall *list = f->head;
  f->head = NULL;
  f->tail = &f->head;
  while (list)
    {
      struct fcall *c = list;
      list = c->next;
      if (c->kind == F_PULL || c->kind == F_CREATE || c->kind == F_START)
        f->launch_now--;
      if (c->kind == F_INSPECT)
        f->inspect_now--;
      if (c->cancelled)
        goto next;
      agent_error_t err = NULL;
      if (f->unreachable && (c->kind == F_STOP || c->kind == F_INSPECT || c->kind == F_REMOVE || c->kind == F_VREMOVE))
        {
          error_set (&err, ERR_UNREACHABLE, "Cannot connect to the Docker daemon");
          if (c->kind == F_INSPECT)
            c->cb.inspect (NULL, err, c->data);
          else
            c->cb.done (err, c->data);
          error_free (&err);
          goto next;
        }
      switch (c->kind)
        {
        case F_PULL:
          if (f->pull_fails)
            error_set (&err, ERR_NOT_FOUND, "pull access denied for %s", c->arg);
          else if (!has_image (f, c->arg))
            f->images[f->n_images++] = xstrdup (c->arg);
          c->cb.done (err, c->data);
          break;
        case F_IMG:
          {
            char id[128];
            snprintf (id, sizeof id, "sha256:%s", c->arg); /* one id per image string */
            struct docker_image_info img = { .id = id, .size = 1000 };
            if (!has_image (f, c->arg))
              error_set (&err, ERR_NOT_FOUND, "No such image: %s", c->arg);
            c->cb.image (err ? NULL : &img, err, c->data);
            break;
          }
        case F_CREATE:
          {
            struct fctr *k = fctr_find (f, c->arg);
            const char *id = NULL;
            if (k)
              error_set (&err, ERR_CONFLICT, "Conflict. The container name \"/%s\" is already in use", c->arg);
            else if (f->create_fails)
              error_set (&err, ERR_SERVER, "create exploded");
            else
              {
                for (size_t i = 0; i < f->n_ctrs; i++) /* staged by fake_create */
                  if (!f->ctrs[i].state && f->ctrs[i].staged && strcmp (f->ctrs[i].name, c->arg) == 0)
                    k = &f->ctrs[i];
                assert_non_null (k);
                k->staged = false;
                k->state = "created";
                id = k->id;
                emit_event (f, id, DOCKER_EV_CREATE);
              }
            c->cb.create (id, err, c->data);
            break;
          }
        case F_START:
          {
            struct fctr *k = fctr_find (f, c->arg);
            if (!k)
              error_set (&err, ERR_NOT_FOUND, "No such container: %s", c->arg);
            else if (f->start_fails)
              {
                error_set (&err, f->start_fail_kind ? f->start_fail_kind : ERR_SERVER, "%s",
                           f->start_fail_msg ? f->start_fail_msg : "OCI runtime create failed");
                if (f->start_fail_runs)
                  k->state = "running";
              }
            else
              {
                k->state = "running";
                k->started_once = true;
                struct timespec ts;
                clock_gettime (CLOCK_REALTIME, &ts);
                k->started_ns = (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
                emit_event (f, k->id, DOCKER_EV_START);
              }
            c->cb.done (err, c->data);
            break;
          }
        case F_STOP:
          {
            struct fctr *k = fctr_find (f, c->arg);
            if (!k)
              error_set (&err, ERR_NOT_FOUND, "No such container: %s", c->arg);
            else if (strcmp (k->state, "running") == 0)
              {
                k->state = "exited";
                k->exit_code = f->stop_exit_code;
                emit_event (f, k->id, DOCKER_EV_DIE);
              }
            c->cb.done (err, c->data);
            break;
          }
        case F_INSPECT:
          {
            struct fctr *k = fctr_find (f, c->arg);
            struct docker_container_info info;
            if (!k)
              error_set (&err, ERR_NOT_FOUND, "No such container: %s", c->arg);
            else
              fill_info (k, &info);
            c->cb.inspect (err ? NULL : &info, err, c->data);
            break;
          }
        case F_REMOVE:
          {
            struct fctr *k = fctr_find (f, c->arg);
            if (!k)
              error_set (&err, ERR_NOT_FOUND, "No such container: %s", c->arg);
            else
              k->state = NULL;
            c->cb.done (err, c->data);
            break;
          }
        case F_LIST:
          {
            f->n_list++;
            if (f->list_failures > 0)
              {
                f->list_failures--;
                error_set (&err, ERR_UNREACHABLE, "Cannot connect to the Docker daemon");
                c->cb.list (NULL, err, c->data);
                break;
              }
            struct docker_container_summary items[64];
            char *names[64];
            struct docker_kv labels[64][2];
            size_t n = 0;
            for (size_t i = 0; i < f->n_ctrs; i++)
              {
                struct fctr *k = &f->ctrs[i];
                if (!k->state)
                  continue;
                memset (&items[n], 0, sizeof items[n]);
                items[n].id = k->id;
                names[n] = k->name;
                items[n].names = &names[n];
                items[n].n_names = 1;
                items[n].state = k->state;
                labels[n][0] = (struct docker_kv){ "com.amazonaws.ecs.task-arn", k->task_arn };
                labels[n][1] = (struct docker_kv){ "com.amazonaws.ecs.container-name", k->cname };
                items[n].labels = labels[n];
                items[n].n_labels = 2;
                n++;
              }
            struct docker_container_list l = { items, n };
            c->cb.list (&l, NULL, c->data);
            break;
          }
        case F_VCREATE:
          {
            struct docker_volume_info v = { .name = c->arg };
            assert_true (f->n_volumes < 128);
            f->volumes[f->n_volumes++] = xstrdup (c->arg);
            c->cb.volume (&v, NULL, c->data);
            break;
          }
        case F_VREMOVE:
          {
            bool found = false;
            for (size_t i = 0; i < f->n_volumes; i++)
              if (f->volumes[i] && strcmp (f->volumes[i], c->arg) == 0)
                {
                  free (f->volumes[i]);
                  f->volumes[i] = NULL;
                  found = true;
                }
            if (!found)
              error_set (&err, ERR_NOT_FOUND, "no such volume");
            c->cb.done (err, c->data);
            break;
          }
        case F_RMI:
          {
            bool found = false;
            for (size_t i = 0; i < f->n_images; i++)
              if (f->images[i] && strcmp (f->images[i], c->arg) == 0)
                {
                  free (f->images[i]);
                  f->images[i] = f->images[--f->n_images];
                  found = true;
                  break;
                }
            if (!found)
              error_set (&err, ERR_NOT_FOUND, "No such image: %s", c->arg);
            c->cb.done (err, c->data);
            break;
          }
        case F_EVENT:
          if (f->events_on && f->ev_cb)
            {
              struct docker_event ev = { .kind = (enum docker_event_action) c->grace, .id = c->arg,
                                         .action = "event", .type = "container", .exit_code = -1 };
              f->ev_cb (&ev, f->ev_data);
            }
          break;
        }
      error_free (&err);
    next:
      free (c->arg);
      free (c);
    }
}

static void *
fake_pull (void *ctx, const struct docker_pull_opts *o, docker_done_cb cb, void *data)
{
  struct fake *f = ctx;
  f->n_pull++;
  flog (f, "pull", o->image);
  free (f->last_auth);
  f->last_auth = o->registry_auth ? xstrdup (o->registry_auth) : NULL;
  /* a registry image announces its digest on the stream, as Docker does */
  if (strncmp (o->image, "registry.test/", 14) == 0 && o->on_progress)
    {
      struct docker_pull_progress p = {
        .status = (char *) "Digest: sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        .current = -1, .total = -1 };
      o->on_progress (&p, data);
    }
  return enqueue (f, F_PULL, (struct fcb){ .done = cb }, data, o->image);
}

static void *
fake_inspect_image (void *ctx, const char *image, docker_image_cb cb, void *data)
{
  return enqueue (ctx, F_IMG, (struct fcb){ .image = cb }, data, image);
}

static void *
fake_create (void *ctx, const struct docker_create_opts *o, docker_create_cb cb, void *data)
{
  struct fake *f = ctx;
  f->n_create++;
  flog (f, "create", o->name);
  snprintf (f->create_api, sizeof f->create_api, "%s", o->api_version ? o->api_version : "-");
  if (f->state_path)
    {
      char *text = NULL;
      size_t len;
      agent_error_t err = NULL;
      f->checked_create = true;
      f->name_on_disk_at_create = util_read_file (f->state_path, &text, &len, &err) == 0
                                  && strstr (text, o->name) != NULL;
      free (text);
      error_free (&err);
    }
  if (!fctr_find (f, o->name) && !f->create_fails)
    {
      /* Stage the container now so the test can inspect the request. */
      struct fctr *k = &f->ctrs[f->n_ctrs++];
      memset (k, 0, sizeof *k);
      snprintf (k->id, sizeof k->id, "%064zx", (size_t) 0xc0ffee00 + f->n_ctrs);
      k->name = xstrdup (o->name);
      k->staged = true;
      k->image = xstrdup (o->image);
      for (size_t i = 0; i < o->n_labels; i++)
        {
          if (strcmp (o->labels[i].key, "com.amazonaws.ecs.task-arn") == 0)
            k->task_arn = xstrdup (o->labels[i].value);
          if (strcmp (o->labels[i].key, "com.amazonaws.ecs.container-name") == 0)
            k->cname = xstrdup (o->labels[i].value);
          if (strcmp (o->labels[i].key, "ecs-agent-c-test") == 0)
            k->test_label = true;
        }
      k->n_labels = o->n_labels;
      k->cmd = dupv (o->cmd);
      k->links = dupv (o->links);
      k->binds = dupv (o->binds);
      k->vfrom = dupv (o->volumes_from);
      k->env = dupv (o->env);
      agent_error_t berr = NULL;
      k->body = docker_create_body (o, &berr);
      error_free (&berr);
      k->cpu = o->cpu_shares;
      k->mem = o->memory;
      for (size_t i = 0; i < o->n_ports && i < 4; i++)
        {
          k->ports[i].container_port = o->ports[i].container_port;
          k->ports[i].host_port = o->ports[i].host_port ? o->ports[i].host_port : (uint16_t) (40000 + i);
          k->ports[i].bind_ip = (char *) "0.0.0.0";
          k->ports[i].protocol = TASK_PROTO_TCP;
          k->n_ports++;
        }
    }
  return enqueue (f, F_CREATE, (struct fcb){ .create = cb }, data, o->name);
}

static void *
fake_start (void *ctx, const char *id, const char *api_version, docker_done_cb cb, void *data)
{
  struct fake *f = ctx;
  struct fctr *k = fctr_find (f, id);
  flog (f, "start", k ? k->cname : id);
  snprintf (f->start_api, sizeof f->start_api, "%s", api_version ? api_version : "-");
  if (f->state_path && k && k->started_once)
    {
      char *text = NULL;
      size_t len;
      agent_error_t err = NULL;
      const char *rc = NULL;
      if (util_read_file (f->state_path, &text, &len, &err) == 0)
        rc = strstr (text, "\"RestartCount\":");
      snprintf (f->restart_on_disk_at_start, sizeof f->restart_on_disk_at_start, "%.16s", rc ? rc : "none");
      free (text);
      error_free (&err);
    }
  return enqueue (ctx, F_START, (struct fcb){ .done = cb }, data, id);
}

static void *
fake_stop (void *ctx, const char *id, int grace, docker_done_cb cb, void *data)
{
  struct fake *f = ctx;
  struct fctr *k = fctr_find (f, id);
  f->n_stop++;
  flog (f, "stop", k ? k->cname : id);
  struct fcall *c = enqueue (ctx, F_STOP, (struct fcb){ .done = cb }, data, id);
  c->grace = grace;
  return c;
}

static void *
fake_inspect (void *ctx, const char *id, docker_inspect_cb cb, void *data)
{
  return enqueue (ctx, F_INSPECT, (struct fcb){ .inspect = cb }, data, id);
}

static void *
fake_remove (void *ctx, const char *id, docker_done_cb cb, void *data)
{
  struct fake *f = ctx;
  f->n_remove++;
  return enqueue (ctx, F_REMOVE, (struct fcb){ .done = cb }, data, id);
}

static void *
fake_list (void *ctx, const char *filter, docker_list_cb cb, void *data)
{
  return enqueue (ctx, F_LIST, (struct fcb){ .list = cb }, data, filter);
}

static void *
fake_vcreate (void *ctx, const char *name, const struct docker_label *l, size_t n, docker_volume_cb cb, void *data)
{
  struct fake *f = ctx;
  (void) l;
  (void) n;
  f->n_vcreate++;
  flog (f, "vcreate", name);
  return enqueue (ctx, F_VCREATE, (struct fcb){ .volume = cb }, data, name);
}

static void *
fake_vremove (void *ctx, const char *name, docker_done_cb cb, void *data)
{
  struct fake *f = ctx;
  f->n_vremove++;
  return enqueue (ctx, F_VREMOVE, (struct fcb){ .done = cb }, data, name);
}

static void
fake_cancel (void *ctx, void *h)
{
  (void) ctx;
  ((struct fcall *) h)->cancelled = true;
}

static void *
fake_events_start (void *ctx, const struct docker_events_opts *o)
{
  struct fake *f = ctx;
  f->ev_cb = o->on_event;
  f->ev_state_cb = o->on_state;
  f->ev_data = o->data;
  f->events_on = true;
  return f;
}

static void
fake_events_stop (void *ctx, void *s)
{
  struct fake *f = ctx;
  (void) s;
  f->events_on = false;
}

static void *
fake_image_remove (void *ctx, const char *image, docker_done_cb cb, void *data)
{
  struct fake *f = ctx;
  flog (f, "rmi", image);
  return enqueue (ctx, F_RMI, (struct fcb){ .done = cb }, data, image);
}

static const struct engine_docker_ops fake_ops = {
  fake_pull, fake_inspect_image, fake_create, fake_start, fake_stop, fake_inspect, fake_remove,
  fake_list, fake_vcreate, fake_vremove, fake_image_remove, fake_cancel, fake_events_start, fake_events_stop,
  NULL, NULL, /* no untracked cleanup */
};

/* The container exits on its own. */
static void
fake_exit (struct fake *f, const char *cname, int code)
{
  for (size_t i = 0; i < f->n_ctrs; i++)
    {
      struct fctr *k = &f->ctrs[i];
      if (k->state && k->cname && strcmp (k->cname, cname) == 0 && strcmp (k->state, "running") == 0)
        {
          k->state = "exited";
          k->exit_code = code;
          emit_event (f, k->id, DOCKER_EV_DIE);
          return;
        }
    }
  fail_msg ("no running container %s", cname);
}

static struct fctr *
fake_by_cname (struct fake *f, const char *cname)
{
  for (size_t i = 0; i < f->n_ctrs; i++)
    if (f->ctrs[i].cname && strcmp (f->ctrs[i].cname, cname) == 0)
      return &f->ctrs[i];
  return NULL;
}

/* ---- fixture ---------------------------------------------------------------- */

struct fx
{
  uv_loop_t loop;
  char dir[64];
  struct fake fake;
  state_store_t *state;
  engine_t *e;
  uint64_t cleanup_ms;
  enum config_pull_behavior pull_behavior;
  int launch_limit;
  const struct config_images *images;
  const struct engine_secrets_ops *secrets_ops; /* secret resources (test_secrets_*) */
  void *secrets_ctx;
  task_creds_store_t *creds;
  http_client_t *http; /* the engine's AWS calls (test_pull_auth_fetch) */
};

static void
fake_free (struct fake *f)
{
  for (size_t i = 0; i < f->n_ctrs; i++)
    {
      struct fctr *k = &f->ctrs[i];
      free (k->name);
      free (k->image);
      free (k->task_arn);
      free (k->cname);
      task_strv_free (k->cmd);
      task_strv_free (k->links);
      task_strv_free (k->binds);
      task_strv_free (k->vfrom);
      task_strv_free (k->env);
      free (k->body);
    }
  for (size_t i = 0; i < f->n_images; i++)
    free (f->images[i]);
  for (size_t i = 0; i < f->n_volumes; i++)
    free (f->volumes[i]);
  free (f->last_auth);
  while (f->head)
    {
      struct fcall *c = f->head;
      f->head = c->next;
      free (c->arg);
      free (c);
    }
}

static void
engine_up (struct fx *x)
{
  agent_error_t err = NULL;
  struct engine_label extra[] = { { "ecs-agent-c-test", "1" } };
  struct engine_options o = {
    .cluster = "unit",
    .cleanup_wait_ms = x->cleanup_ms ? x->cleanup_ms : 3600 * 1000,
    .stop_timeout_ms = 2000,
    .state = x->state,
    .ops = &fake_ops,
    .ops_ctx = &x->fake,
    .extra_labels = extra,
    .n_extra_labels = 1,
    .pull_behavior = x->pull_behavior,
    .launch_concurrency = x->launch_limit,
    .images = x->images,
    .secrets_ops = x->secrets_ops,
    .secrets_ctx = x->secrets_ctx,
    .http = x->http,
  };
  x->e = engine_new (&x->loop, &o, &err);
  assert_non_null (x->e);
  engine_set_aws_credentials (x->e, NULL, x->creds);
  assert_int_equal (engine_start (x->e, &err), 0);
  for (int i = 0; i < 1000 && !engine_ready (x->e); i++)
    uv_run (&x->loop, UV_RUN_ONCE);
  assert_true (engine_ready (x->e));
}

static void
state_up (struct fx *x)
{
  agent_error_t err = NULL;
  x->state = state_store_new (&x->loop, x->dir, true, &err);
  assert_non_null (x->state);
  if (state_load (x->state, &err) < 0)
    fail_msg ("%s", error_msg (&err));
}

static void
teardown_engine (struct fx *x)
{
  engine_free (x->e);
  x->e = NULL;
  state_store_free (x->state);
  x->state = NULL;
  uv_run (&x->loop, UV_RUN_DEFAULT);
}

static int
setup (void **st)
{
  struct fx *x = xcalloc (1, sizeof *x);
  uv_loop_init (&x->loop);
  strcpy (x->dir, "/tmp/ecs-engine-unit-XXXXXX");
  assert_non_null (mkdtemp (x->dir));
  x->fake.loop = &x->loop;
  x->fake.tail = &x->fake.head;
  x->fake.stop_exit_code = 137;
  uv_timer_init (&x->loop, &x->fake.timer);
  x->fake.timer.data = &x->fake;
  x->fake.images[x->fake.n_images++] = xstrdup ("local-only");
  state_up (x);
  *st = x;
  return 0;
}

static int
teardown (void **st)
{
  struct fx *x = *st;
  if (x->e || x->state)
    teardown_engine (x);
  uv_close ((uv_handle_t *) &x->fake.timer, NULL);
  uv_run (&x->loop, UV_RUN_DEFAULT);
  fake_free (&x->fake);
  assert_int_equal (uv_loop_close (&x->loop), 0);
  cleanup_free char *cmd = xasprintf ("rm -rf '%s'", x->dir);
  assert_int_equal (system (cmd), 0);
  free (x);
  return 0;
}

static void
add (struct fx *x, const char *json)
{
  agent_error_t err = NULL;
  struct task *t = teu_task (json, &err);
  if (!t)
    fail_msg ("%s", error_msg (&err));
  assert_int_equal (engine_task_add (x->e, t, &err), 0);
}

static const struct task *
task_of (struct fx *x, const char *arn)
{
  return engine_find_task_by_arn (x->e, arn);
}

static bool
spin_task (struct fx *x, const char *arn, enum task_status want)
{
  for (int i = 0; i < 5000; i++)
    {
      const struct task *t = task_of (x, arn);
      if (t && t->known_status >= want)
        return true;
      uv_run (&x->loop, UV_RUN_ONCE);
    }
  return false;
}

/* n turns of the loop that do not wait: what is ready runs, nothing blocks. */
static void
run_turns (struct fx *x, int n)
{
  for (int i = 0; i < n; i++)
    uv_run (&x->loop, UV_RUN_NOWAIT);
}

/* Run until the engine holds no task (cleanup done), at most 20000 turns. */
static void
spin_until_no_tasks (struct fx *x)
{
  for (int i = 0; i < 20000 && engine_task_count (x->e) > 0; i++)
    uv_run (&x->loop, UV_RUN_ONCE);
}

static void
on_spin_done (uv_timer_t *h)
{
  *(bool *) h->data = true;
}

/* Run the loop for ms milliseconds of loop time; returns how many turns it took. */
static int
spin_for (struct fx *x, uint64_t ms)
{
  bool done = false;
  int turns = 0;
  uv_timer_t tm;
  uv_timer_init (&x->loop, &tm);
  tm.data = &done;
  uv_timer_start (&tm, on_spin_done, ms, 0);
  while (!done)
    {
      uv_run (&x->loop, UV_RUN_ONCE);
      turns++;
    }
  uv_close ((uv_handle_t *) &tm, NULL);
  uv_run (&x->loop, UV_RUN_NOWAIT);
  return turns;
}

/* Queue rendered as "C:name:STATUS[:exit]" / "T:STATUS" lines joined by ' '. */
static char *
queue_str (struct fx *x)
{
  struct sbuf b = { 0 };
  for (size_t i = 0; i < state_change_count (x->state); i++)
    {
      const struct state_change *c = state_change_peek (x->state, i);
      if (c->kind == STATE_CHANGE_TASK)
        sbuf_printf (&b, "T:%s ", c->status);
      else if (c->has_exit_code)
        sbuf_printf (&b, "C:%s:%s:%d ", c->container_name, c->status, c->exit_code);
      else
        sbuf_printf (&b, "C:%s:%s ", c->container_name, c->status);
    }
  return sbuf_steal (&b);
}

#define SLEEP5 "{\"arn\":\"arn:t1\",\"family\":\"sleep5\",\"version\":\"2\",\"desiredStatus\":\"RUNNING\"," \
               "\"containers\":[{\"name\":\"sleep5\",\"image\":\"busybox\",\"command\":[\"sleep\",\"5\"]," \
               "\"cpu\":10,\"memory\":10,\"essential\":true,\"environment\":{\"A\":\"1\"}," \
               "\"portMappings\":[{\"containerPort\":8080,\"hostPort\":0}]}]}"

/* ---- tests -------------------------------------------------------------------- */

static void
test_run_to_completion (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  x->fake.state_path = state_path (x->state);
  add (x, SLEEP5);
  assert_true (spin_task (x, "arn:t1", TASK_STATUS_RUNNING));
  const struct task *t = task_of (x, "arn:t1");
  const struct task_container *c = &t->containers[0];
  assert_int_equal (c->known_status, TASK_STATUS_RUNNING);
  assert_non_null (c->docker_id);
  assert_int_equal (strncmp (c->docker_name, "ecs-sleep5-2-sleep5-", 20), 0);
  /* The create request. */
  struct fctr *k = fake_by_cname (&x->fake, "sleep5");
  assert_string_equal (k->name, c->docker_name);
  assert_string_equal (k->cmd[0], "sleep");
  assert_int_equal (k->cpu, 10);
  assert_int_equal (k->mem, 10 * 1024 * 1024);
  assert_string_equal (k->env[0], "A=1");
  assert_int_equal (k->n_labels, 6); /* five ECS labels + the extra test label */
  assert_true (k->test_label);
  /* Save-before-create: the Docker name was on disk when create ran. */
  assert_true (x->fake.checked_create);
  assert_true (x->fake.name_on_disk_at_create);
  /* Port bindings learnt from the inspect after start. */
  assert_int_equal (c->n_known_bindings, 1);
  assert_int_equal (c->known_bindings[0].container_port, 8080);
  assert_int_equal (c->known_bindings[0].host_port, 40000);
  cleanup_free char *q1 = queue_str (x);
  assert_string_equal (q1, "C:sleep5:RUNNING T:RUNNING ");
  assert_int_equal (state_change_peek (x->state, 0)->n_bindings, 1);
  assert_int_equal (state_change_peek (x->state, 0)->bindings[0].host_port, 40000);
  /* It exits: exit code recorded, task stops (essential). */
  fake_exit (&x->fake, "sleep5", 0);
  assert_true (spin_task (x, "arn:t1", TASK_STATUS_STOPPED));
  cleanup_free char *q2 = queue_str (x);
  assert_string_equal (q2, "C:sleep5:RUNNING T:RUNNING C:sleep5:STOPPED:0 T:STOPPED ");
  /* Every change becomes durable. */
  for (int i = 0; i < 1000 && !state_change_peek (x->state, 3)->durable; i++)
    uv_run (&x->loop, UV_RUN_ONCE);
  assert_true (state_change_peek (x->state, 3)->durable);
  assert_int_equal (x->fake.n_create, 1);
  assert_int_equal (x->fake.n_pull, 1);
}

/* Today's state changes: PENDING once the images are there (a digest
   known), the Docker id and digest on container changes, the pull and
   execution-stopped timestamps on task changes. */
static void
test_pending_and_fields (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  add (x, "{\"arn\":\"arn:tp\",\"family\":\"app\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\","
          "\"containers\":[{\"name\":\"app\",\"image\":\"registry.test/app:1\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:tp", TASK_STATUS_RUNNING));
  const struct task *t = task_of (x, "arn:tp");
  const struct task_container *c = &t->containers[0];
  const char *digest = "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
  assert_string_equal (c->image_digest, digest);
  cleanup_free char *q1 = queue_str (x);
  assert_string_equal (q1, "C:app:PENDING T:PENDING C:app:RUNNING T:RUNNING ");
  const struct state_change *cp = state_change_peek (x->state, 0), *tp = state_change_peek (x->state, 1),
                            *cr = state_change_peek (x->state, 2), *tr = state_change_peek (x->state, 3);
  assert_string_equal (cp->image_digest, digest);
  assert_string_equal (cp->task_status, "PENDING");
  assert_string_equal (cr->runtime_id, c->docker_id);
  assert_string_equal (cr->image_digest, digest);
  assert_true (tp->pull_started_ms > 0 && tp->pull_stopped_ms >= tp->pull_started_ms);
  assert_int_equal (tr->pull_started_ms, tp->pull_started_ms);
  assert_int_equal (tr->execution_stopped_ms, 0);
  /* container changes carry the task's time stamps as they were (a batch
     without a task change sends them, as upstream's drain does) */
  assert_int_equal (cp->pull_started_ms, tp->pull_started_ms);
  assert_int_equal (cp->pull_stopped_ms, tp->pull_stopped_ms);
  assert_int_equal (cr->pull_stopped_ms, tp->pull_stopped_ms);
  assert_int_equal (cr->execution_stopped_ms, 0);
  assert_int_equal (t->sent_status, TASK_STATUS_RUNNING);
  fake_exit (&x->fake, "app", 1);
  assert_true (spin_task (x, "arn:tp", TASK_STATUS_STOPPED));
  cleanup_free char *q2 = queue_str (x);
  assert_string_equal (q2, "C:app:PENDING T:PENDING C:app:RUNNING T:RUNNING C:app:STOPPED:1 T:STOPPED ");
  const struct state_change *ts = state_change_peek (x->state, 5);
  assert_true (ts->execution_stopped_ms >= tr->pull_stopped_ms);
  /* the essential container's stop set executionStoppedAt before its change */
  assert_int_equal (state_change_peek (x->state, 4)->execution_stopped_ms, t->execution_stopped_ms);
  assert_int_equal (ts->execution_stopped_ms, t->execution_stopped_ms);
}

static void
test_duplicate_and_stop (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  add (x, SLEEP5);
  add (x, SLEEP5); /* duplicate payload: no-op */
  assert_true (spin_task (x, "arn:t1", TASK_STATUS_RUNNING));
  add (x, SLEEP5); /* again, while running */
  run_turns (x, 50);
  assert_int_equal (x->fake.n_create, 1);
  assert_int_equal (x->fake.n_pull, 1);
  assert_int_equal (engine_task_count (x->e), 1);
  /* Desired STOPPED: docker stop, exit 137 recorded. */
  add (x, "{\"arn\":\"arn:t1\",\"desiredStatus\":\"STOPPED\"}");
  assert_true (spin_task (x, "arn:t1", TASK_STATUS_STOPPED));
  assert_int_equal (x->fake.n_stop, 1);
  const struct task *t = task_of (x, "arn:t1");
  assert_int_equal (t->containers[0].exit_code, 137);
  cleanup_free char *q = queue_str (x);
  assert_string_equal (q, "C:sleep5:RUNNING T:RUNNING C:sleep5:STOPPED:137 T:STOPPED ");
  /* A later RUNNING for a stopped task is ignored (desired only rises). */
  add (x, SLEEP5);
  run_turns (x, 50);
  assert_int_equal (task_of (x, "arn:t1")->desired_status, TASK_STATUS_STOPPED);
  assert_int_equal (x->fake.n_create, 1);
}

static void
test_pull_failures (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  x->fake.pull_fails = true;
  /* Image present locally: pull failure is not fatal. */
  add (x, "{\"arn\":\"arn:local\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"local-only\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:local", TASK_STATUS_RUNNING));
  assert_null (task_of (x, "arn:local")->containers[0].reason);
  /* Image absent: CannotPullContainerError, STOPPED, never created. */
  add (x, "{\"arn\":\"arn:absent\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"nowhere\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:absent", TASK_STATUS_STOPPED));
  const struct task_container *c = &task_of (x, "arn:absent")->containers[0];
  assert_int_equal (c->known_status, TASK_STATUS_STOPPED);
  assert_int_equal (strncmp (c->reason, "CannotPullContainerError: pull access denied for nowhere", 56), 0);
  assert_null (c->docker_id);
  assert_int_equal (x->fake.n_create, 1);
  /* The reason travels with the STOPPED change. */
  const struct state_change *last_c = NULL;
  for (size_t i = 0; i < state_change_count (x->state); i++)
    if (state_change_peek (x->state, i)->container_name
        && strcmp (state_change_peek (x->state, i)->task_arn, "arn:absent") == 0)
      last_c = state_change_peek (x->state, i);
  assert_non_null (last_c);
  assert_string_equal (last_c->status, "STOPPED");
  assert_non_null (strstr (last_c->reason, "CannotPullContainerError"));
}

static void
test_create_and_start_failures (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  x->fake.create_fails = true;
  add (x, "{\"arn\":\"arn:cf\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"busybox\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:cf", TASK_STATUS_STOPPED));
  assert_string_equal (task_of (x, "arn:cf")->containers[0].reason, "CannotCreateContainerError: create exploded");
  x->fake.create_fails = false;
  x->fake.start_fails = true;
  add (x, "{\"arn\":\"arn:sf\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"busybox\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:sf", TASK_STATUS_STOPPED));
  assert_string_equal (task_of (x, "arn:sf")->containers[0].reason,
                       "CannotStartContainerError: OCI runtime create failed");
  assert_int_equal (x->fake.n_stop, 0); /* refused: nothing to stop */
  /* the start's deadline expired but the container runs: a stop is forced */
  x->fake.start_fail_kind = ERR_TIMEOUT;
  x->fake.start_fail_msg = "Could not transition to started; timed out after waiting 3m0s";
  x->fake.start_fail_runs = true;
  add (x, "{\"arn\":\"arn:st\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"busybox\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:st", TASK_STATUS_STOPPED));
  const struct task_container *c = &task_of (x, "arn:st")->containers[0];
  assert_string_equal (c->reason, "DockerTimeoutError: Could not transition to started; timed out after waiting 3m0s");
  assert_int_equal (x->fake.n_stop, 1);
  struct fctr *k = fctr_find (&x->fake, c->docker_id);
  assert_non_null (k);
  assert_string_equal (k->state, "exited");
  /* an EOF from Docker: forced too; another refusal: not */
  x->fake.start_fail_kind = ERR_UNREACHABLE;
  x->fake.start_fail_msg = "Post \"http://docker/containers/x/start\": EOF";
  add (x, "{\"arn\":\"arn:eof\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"busybox\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:eof", TASK_STATUS_STOPPED));
  assert_int_equal (x->fake.n_stop, 2);
  x->fake.start_fail_kind = ERR_SERVER;
  x->fake.start_fail_msg = "port is already allocated";
  x->fake.start_fail_runs = false;
  add (x, "{\"arn\":\"arn:pa\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"busybox\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:pa", TASK_STATUS_STOPPED));
  assert_int_equal (x->fake.n_stop, 2);
}

static void
test_dependency_failures (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  json_t *j = teu_load_protocol_json ("samples/circular_dependency.json__task-circular-dependency.json");
  assert_non_null (j); /* fixture from $SHARED_DIR/protocol: missing fails */
  struct task *t = NULL;
  agent_error_t err = NULL;
  assert_int_equal (state_task_from_json (j, &t, &err), 0);
  json_decref (j);
  assert_int_equal (engine_task_add (x->e, t, &err), 0);
  const struct task *ct = task_of (x, "arn:aws:ecs:us-west-2:123456789012:task/12345678-90ab-cdef-1234-56780abcdef1-circular-dependency");
  assert_int_equal (ct->known_status, TASK_STATUS_STOPPED);
  assert_non_null (strstr (ct->reason, "circular dependency"));
  /* First (and only) state change: the task STOPPED, with the reason. */
  assert_int_equal (state_change_count (x->state), 1);
  assert_int_equal (state_change_peek (x->state, 0)->kind, STATE_CHANGE_TASK);
  assert_string_equal (state_change_peek (x->state, 0)->status, "STOPPED");
  assert_non_null (strstr (state_change_peek (x->state, 0)->reason, "TaskDependencyError"));
  add (x, "{\"arn\":\"arn:missing\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"web\",\"image\":\"busybox\",\"links\":[\"db\"]}]}");
  assert_int_equal (task_of (x, "arn:missing")->known_status, TASK_STATUS_STOPPED);
  assert_non_null (strstr (task_of (x, "arn:missing")->reason, "missing container db"));
  /* A task without containers is refused, never reported RUNNING. */
  add (x, "{\"arn\":\"arn:empty\",\"desiredStatus\":\"RUNNING\",\"containers\":[]}");
  assert_int_equal (task_of (x, "arn:empty")->known_status, TASK_STATUS_STOPPED);
  assert_string_equal (task_of (x, "arn:empty")->reason, ENGINE_REASON_NO_CONTAINERS);
  for (size_t i = 0; i < state_change_count (x->state); i++)
    if (strcmp (state_change_peek (x->state, i)->task_arn, "arn:empty") == 0)
      assert_string_equal (state_change_peek (x->state, i)->status, "STOPPED");
  const struct state_change *last = state_change_peek (x->state, state_change_count (x->state) - 1);
  assert_string_equal (last->task_arn, "arn:empty");
  assert_string_equal (last->status, "STOPPED");
  assert_non_null (last->reason);
  run_turns (x, 50);
  assert_int_equal (x->fake.n_pull, 0);
  assert_int_equal (x->fake.n_create, 0);
}

#define LINKED "{\"arn\":\"arn:l\",\"family\":\"web\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\",\"containers\":[" \
               "{\"name\":\"web\",\"image\":\"busybox\",\"essential\":true,\"links\":[\"db:database\"]," \
               "\"volumesFrom\":[{\"sourceContainer\":\"data\",\"readOnly\":true}],\"mountPoints\":[" \
               "{\"sourceVolume\":\"scratch\",\"containerPath\":\"/scratch\"},{\"sourceVolume\":\"host\",\"containerPath\":\"/h\",\"readOnly\":true}]}," \
               "{\"name\":\"db\",\"image\":\"busybox\",\"essential\":false}," \
               "{\"name\":\"data\",\"image\":\"busybox\",\"essential\":false,\"mountPoints\":[{\"sourceVolume\":\"scratch\",\"containerPath\":\"/s\"}]}]," \
               "\"volumes\":[{\"name\":\"scratch\",\"host\":{}},{\"name\":\"host\",\"host\":{\"sourcePath\":\"/tmp\"}}]}"

static void
test_links_volumes_essential_cleanup (void **st)
{
  struct fx *x = *st;
  x->cleanup_ms = 300;
  engine_up (x);
  add (x, LINKED);
  assert_true (spin_task (x, "arn:l", TASK_STATUS_RUNNING));
  const struct task *t = task_of (x, "arn:l");
  /* Order: db started before web was started; data created before web. */
  const char *log = x->fake.log;
  const char *start_db = strstr (log, "start:db"), *start_web = strstr (log, "start:web");
  assert_non_null (start_db);
  assert_non_null (start_web);
  assert_true (start_db < start_web);
  cleanup_free char *data_name = xstrdup (t->containers[2].docker_name);
  cleanup_free char *want_create_data = xasprintf ("create:%s", data_name);
  cleanup_free char *want_create_web = xasprintf ("create:%s", t->containers[0].docker_name);
  assert_true (strstr (log, want_create_data) < strstr (log, want_create_web));
  /* One Docker volume for the empty volume, created once, before use. */
  assert_int_equal (x->fake.n_vcreate, 1);
  struct fctr *web = fake_by_cname (&x->fake, "web");
  cleanup_free char *link = xasprintf ("%s:database", t->containers[1].docker_name);
  assert_string_equal (web->links[0], link);
  cleanup_free char *vf = xasprintf ("%s:ro", data_name);
  assert_string_equal (web->vfrom[0], vf);
  cleanup_free char *bind0 = xasprintf ("%s:/scratch", t->volumes[0].docker_name);
  assert_string_equal (web->binds[0], bind0);
  assert_string_equal (web->binds[1], "/tmp:/h:ro");
  /* A non-essential container exiting does not stop the task. */
  fake_exit (&x->fake, "db", 3);
  run_turns (x, 50);
  t = task_of (x, "arn:l");
  assert_int_equal (t->known_status, TASK_STATUS_RUNNING);
  assert_int_equal (t->containers[1].known_status, TASK_STATUS_STOPPED);
  assert_int_equal (t->containers[1].exit_code, 3);
  assert_int_equal (t->containers[0].known_status, TASK_STATUS_RUNNING);
  /* The essential one exiting stops the rest. */
  fake_exit (&x->fake, "web", 1);
  assert_true (spin_task (x, "arn:l", TASK_STATUS_STOPPED));
  t = task_of (x, "arn:l");
  assert_int_equal (t->containers[0].exit_code, 1);
  assert_int_equal (t->containers[2].known_status, TASK_STATUS_STOPPED);
  assert_int_equal (t->containers[2].exit_code, 137);
  cleanup_free char *q = queue_str (x);
  /* container changes always precede their task's */
  assert_non_null (strstr (q, "C:web:STOPPED:1 "));
  assert_true (strstr (q, "C:data:STOPPED:137 ") < strstr (q, "T:STOPPED"));
  /* Cleanup after the wait: containers and the volume removed, task dropped. */
  spin_until_no_tasks (x);
  assert_int_equal (engine_task_count (x->e), 0);
  assert_int_equal (x->fake.n_remove, 3);
  assert_int_equal (x->fake.n_vremove, 1);
  for (size_t i = 0; i < x->fake.n_ctrs; i++)
    assert_null (x->fake.ctrs[i].state);
}

/* Crash recovery: checkpoint says "about to create X" (name, no id) and X
   exists -> adopted, not created again; an id Docker no longer knows ->
   ContainerVanishedError; one that died meanwhile -> its real exit code. */
static void
test_reconcile_after_crash (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  add (x, "{\"arn\":\"arn:r\",\"family\":\"r\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\",\"containers\":["
          "{\"name\":\"a\",\"image\":\"busybox\",\"essential\":true},{\"name\":\"b\",\"image\":\"busybox\"},"
          "{\"name\":\"c\",\"image\":\"busybox\"}]}");
  assert_true (spin_task (x, "arn:r", TASK_STATUS_RUNNING));
  run_turns (x, 100);
  cleanup_free char *ida = xstrdup (task_of (x, "arn:r")->containers[0].docker_id);
  /* "Crash": free everything without any shutdown work; then doctor the
     world: a's id forgotten by the checkpoint, b vanished, c died (exit 9). */
  teardown_engine (x);
  x->fake.events_on = false;
  char *text = NULL;
  size_t len;
  agent_error_t err = NULL;
  cleanup_free char *path = xasprintf ("%s/%s", x->dir, STATE_FILE_NAME);
  assert_int_equal (util_read_file (path, &text, &len, &err), 0);
  json_t *root = json_loads (text, 0, NULL);
  free (text);
  json_t *ctrs = json_object_get (json_array_get (json_object_get (json_object_get (json_object_get (root, "Data"), "TaskEngine"), "Tasks"), 0), "Containers");
  json_object_set_new (json_array_get (ctrs, 0), "DockerId", json_null ());
  json_object_set_new (json_array_get (ctrs, 0), "KnownStatus", json_string ("PULLED"));
  json_object_set_new (json_array_get (ctrs, 0), "SentStatus", json_string ("NONE"));
  char *out = json_dumps (root, JSON_COMPACT);
  assert_int_equal (util_write_file_atomic (path, out, strlen (out), 0600, &err), 0);
  free (out);
  json_decref (root);
  fake_by_cname (&x->fake, "b")->state = NULL;
  struct fctr *kc = fake_by_cname (&x->fake, "c");
  kc->state = "exited";
  kc->exit_code = 9;
  size_t creates_before = (size_t) x->fake.n_create;
  size_t changes_before = 0;

  state_up (x);
  changes_before = state_change_count (x->state);
  engine_up (x);
  const struct task *t = task_of (x, "arn:r");
  assert_non_null (t);
  assert_string_equal (t->containers[0].docker_id, ida); /* adopted */
  assert_int_equal (t->containers[0].known_status, TASK_STATUS_RUNNING);
  assert_int_equal (t->containers[1].known_status, TASK_STATUS_STOPPED);
  assert_string_equal (t->containers[1].reason, "ContainerVanishedError: No container matching saved ID found");
  assert_int_equal (t->containers[2].known_status, TASK_STATUS_STOPPED);
  assert_int_equal (t->containers[2].exit_code, 9);
  run_turns (x, 100);
  assert_int_equal ((size_t) x->fake.n_create, creates_before); /* never created twice */
  /* The new changes were queued (a RUNNING re-report for the adopted one,
     STOPPED for b and c). */
  cleanup_free char *q = queue_str (x);
  assert_true (state_change_count (x->state) > changes_before);
  assert_non_null (strstr (q, "C:b:STOPPED"));
  assert_non_null (strstr (q, "C:c:STOPPED:9"));
}

/* The create of a container that already exists with our labels (created
   just before a crash, name saved) is adopted on 409. */
static void
test_conflict_adopt (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  agent_error_t err = NULL;
  struct task *t = teu_task ("{\"arn\":\"arn:cf2\",\"family\":\"f\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\","
                                    "\"containers\":[{\"name\":\"c\",\"image\":\"busybox\",\"essential\":true}]}", &err);
  char *name = engine_docker_container_name (t, &t->containers[0]);
  struct fctr *k = &x->fake.ctrs[x->fake.n_ctrs++];
  memset (k, 0, sizeof *k);
  snprintf (k->id, sizeof k->id, "%064x", 0xabc);
  k->name = name;
  k->task_arn = xstrdup ("arn:cf2");
  k->cname = xstrdup ("c");
  k->state = "created";
  assert_int_equal (engine_task_add (x->e, t, &err), 0);
  assert_true (spin_task (x, "arn:cf2", TASK_STATUS_RUNNING));
  assert_string_equal (task_of (x, "arn:cf2")->containers[0].docker_id, k->id);
  assert_null (task_of (x, "arn:cf2")->containers[0].reason);
}

/* Sequence numbers: a task started in payload N waits until tasks stopped
   in payloads <= N have stopped. */
static void
test_sequence_hold (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  agent_error_t err = NULL;
  struct task *a = teu_task ("{\"arn\":\"arn:A\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"a\",\"image\":\"busybox\",\"essential\":true}]}", &err);
  a->start_seq = 1;
  assert_int_equal (engine_task_add (x->e, a, &err), 0);
  assert_true (spin_task (x, "arn:A", TASK_STATUS_RUNNING));
  struct task *stop = teu_task ("{\"arn\":\"arn:A\",\"desiredStatus\":\"STOPPED\"}", &err);
  stop->stop_seq = 5;
  struct task *b = teu_task ("{\"arn\":\"arn:B\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"b\",\"image\":\"busybox\",\"essential\":true}]}", &err);
  b->start_seq = 5;
  x->fake.log[0] = '\0';
  assert_int_equal (engine_task_add (x->e, stop, &err), 0);
  assert_int_equal (engine_task_add (x->e, b, &err), 0);
  assert_true (task_of (x, "arn:B")->hold);
  assert_true (spin_task (x, "arn:B", TASK_STATUS_RUNNING));
  assert_int_equal (task_of (x, "arn:A")->known_status, TASK_STATUS_STOPPED);
  /* B's first Docker call (its image was pulled moments ago for A, so the
     pull is shared and B starts at create) comes after A's stop */
  const char *stop_a = strstr (x->fake.log, "stop:a"), *first_b = strstr (x->fake.log, "create:");
  assert_non_null (stop_a);
  assert_non_null (first_b);
  assert_true (stop_a < first_b);
}

/* A burst of tasks using one image shares one pull. */
static void
test_pull_shared (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  agent_error_t err = NULL;
  x->fake.log[0] = '\0';
  for (int i = 0; i < 5; i++)
    {
      cleanup_free char *json = xasprintf ("{\"arn\":\"arn:P%d\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"shared-image\",\"essential\":true}]}", i);
      assert_int_equal (engine_task_add (x->e, teu_task (json, &err), &err), 0);
    }
  for (int i = 0; i < 5; i++)
    {
      cleanup_free char *arn = xasprintf ("arn:P%d", i);
      assert_true (spin_task (x, arn, TASK_STATUS_RUNNING));
    }
  int pulls = 0;
  for (const char *p = x->fake.log; (p = strstr (p, "pull:")); p++)
    pulls++;
  assert_int_equal (pulls, 1);
}

/* ECS_LAUNCH_CONCURRENCY: a burst of tasks never has more pulls, creates
   and starts in flight than the limit, and every task still runs. */
static void
test_launch_limit (void **st)
{
  struct fx *x = *st;
  x->launch_limit = 2;
  engine_up (x);
  agent_error_t err = NULL;
  for (int i = 0; i < 12; i++)
    {
      cleanup_free char *json = xasprintf ("{\"arn\":\"arn:L%d\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"img%d\",\"essential\":true},{\"name\":\"d\",\"image\":\"img%d\",\"essential\":true}]}", i, i, i);
      assert_int_equal (engine_task_add (x->e, teu_task (json, &err), &err), 0);
    }
  for (int i = 0; i < 12; i++)
    {
      cleanup_free char *arn = xasprintf ("arn:L%d", i);
      assert_true (spin_task (x, arn, TASK_STATUS_RUNNING));
    }
  assert_int_equal (x->fake.n_create, 24);
  assert_true (x->fake.launch_max <= 2);
  assert_true (x->fake.launch_max >= 1);
}

/* Pre-cache pulls hold launch slots like tasks' pulls: with the limit at
   1, three pre-cached images and a task never have two pulls, creates or
   starts in flight, and all of them complete. */
static void
test_precache_launch_limit (void **st)
{
  struct fx *x = *st;
  static char *precache[] = { (char *) "pre1", (char *) "pre2", (char *) "pre3" };
  struct config_images ci = { .cleanup_enabled = false, .images_per_cycle = 5, .precache = precache,
                              .n_precache = 3 };
  x->images = &ci;
  x->launch_limit = 1;
  engine_up (x);
  add (x, "{\"arn\":\"arn:pl\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"task-img\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:pl", TASK_STATUS_RUNNING));
  for (int i = 0; i < 200 && !(has_image (&x->fake, "pre1") && has_image (&x->fake, "pre2") && has_image (&x->fake, "pre3")); i++)
    spin_for (x, 10);
  assert_true (has_image (&x->fake, "pre1"));
  assert_true (has_image (&x->fake, "pre2"));
  assert_true (has_image (&x->fake, "pre3"));
  assert_int_equal (x->fake.n_pull, 4);
  assert_int_equal (x->fake.launch_max, 1);
}

/* Without a limit the same burst runs its calls side by side. */
static void
test_launch_unlimited (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  agent_error_t err = NULL;
  for (int i = 0; i < 12; i++)
    {
      cleanup_free char *json = xasprintf ("{\"arn\":\"arn:U%d\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"img%d\",\"essential\":true}]}", i, i);
      assert_int_equal (engine_task_add (x->e, teu_task (json, &err), &err), 0);
    }
  for (int i = 0; i < 12; i++)
    {
      cleanup_free char *arn = xasprintf ("arn:U%d", i);
      assert_true (spin_task (x, arn, TASK_STATUS_RUNNING));
    }
  assert_true (x->fake.launch_max >= 12);
}

/* ECS_IMAGE_PULL_BEHAVIOR=always: a failed pull stops the task even with a
   local copy. */
static void
test_pull_behaviour_always (void **st)
{
  struct fx *x = *st;
  x->pull_behavior = CONFIG_PULL_ALWAYS;
  engine_up (x);
  x->fake.images[x->fake.n_images++] = xstrdup ("local-only");
  x->fake.pull_fails = true;
  add (x, "{\"arn\":\"arn:a\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"local-only\",\"essential\":false},{\"name\":\"e\",\"image\":\"local-only\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:a", TASK_STATUS_STOPPED));
  const struct task *t = task_of (x, "arn:a");
  assert_int_equal (t->desired_status, TASK_STATUS_STOPPED);
  assert_int_equal (strncmp (t->containers[0].reason, "CannotPullContainerError: pull access denied", 44), 0);
  assert_int_equal (x->fake.n_create, 0);
}

static void
test_pull_behaviour_once (void **st)
{
  struct fx *x = *st;
  x->pull_behavior = CONFIG_PULL_ONCE;
  engine_up (x);
  add (x, "{\"arn\":\"arn:o1\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"img-once\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:o1", TASK_STATUS_RUNNING));
  assert_int_equal (x->fake.n_pull, 1);
  /* past the pull-sharing window the record decides: no second pull */
  spin_for (x, ENGINE_PULL_REUSE_MS + 50);
  add (x, "{\"arn\":\"arn:o2\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"img-once\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:o2", TASK_STATUS_RUNNING));
  assert_int_equal (x->fake.n_pull, 1);
}

/* A task whose image another task pulled moments ago shares that pull;
   with the default behaviour (upstream pulls again) its task changes still
   carry pullStartedAt / pullStoppedAt, and its containers the digest the
   pull reported (so PENDING is sent), even once the first task is gone.
   With "once" (upstream does not pull a pulled image) they carry none. */
static void
test_pull_shared_timestamps (void **st)
{
  struct fx *x = *st;
  x->cleanup_ms = 100;
  engine_up (x);
  add (x, "{\"arn\":\"arn:r1\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"registry.test/shared:1\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:r1", TASK_STATUS_RUNNING));
  int64_t r1_stopped = task_of (x, "arn:r1")->pull_stopped_ms;
  fake_exit (&x->fake, "c", 0);
  assert_true (spin_task (x, "arn:r1", TASK_STATUS_STOPPED));
  spin_until_no_tasks (x); /* r1 is gone: no container to borrow the digest from */
  assert_int_equal (engine_task_count (x->e), 0);
  add (x, "{\"arn\":\"arn:r2\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"registry.test/shared:1\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:r2", TASK_STATUS_RUNNING));
  assert_int_equal (x->fake.n_pull, 1);
  const struct task *t2 = task_of (x, "arn:r2");
  assert_true (t2->pull_started_ms >= r1_stopped && t2->pull_stopped_ms >= t2->pull_started_ms);
  assert_string_equal (t2->containers[0].image_digest,
                       "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
  int tasks = 0, pending = 0;
  for (size_t i = 0; i < state_change_count (x->state); i++)
    {
      const struct state_change *ch = state_change_peek (x->state, i);
      if (strcmp (ch->task_arn, "arn:r2") != 0)
        continue;
      if (ch->kind == STATE_CHANGE_TASK)
        {
          assert_int_equal (ch->pull_started_ms, t2->pull_started_ms);
          assert_int_equal (ch->pull_stopped_ms, t2->pull_stopped_ms);
          tasks++;
          pending += strcmp (ch->status, "PENDING") == 0;
        }
    }
  assert_int_equal (tasks, 2); /* PENDING, RUNNING */
  assert_int_equal (pending, 1);
}

static void
test_pull_once_no_timestamps (void **st)
{
  struct fx *x = *st;
  x->pull_behavior = CONFIG_PULL_ONCE;
  engine_up (x);
  add (x, "{\"arn\":\"arn:q1\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"img-q\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:q1", TASK_STATUS_RUNNING));
  add (x, "{\"arn\":\"arn:q2\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"img-q\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:q2", TASK_STATUS_RUNNING));
  assert_int_equal (x->fake.n_pull, 1);
  assert_true (task_of (x, "arn:q1")->pull_started_ms > 0);
  assert_int_equal (task_of (x, "arn:q2")->pull_started_ms, 0);
  assert_int_equal (task_of (x, "arn:q2")->pull_stopped_ms, 0);
}

/* prefer-cached: a local copy is used without pulling; none -> pull. */
static void
test_pull_behaviour_prefer_cached (void **st)
{
  struct fx *x = *st;
  x->pull_behavior = CONFIG_PULL_PREFER_CACHED;
  engine_up (x);
  x->fake.images[x->fake.n_images++] = xstrdup ("cached");
  add (x, "{\"arn\":\"arn:c1\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"cached\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:c1", TASK_STATUS_RUNNING));
  assert_int_equal (x->fake.n_pull, 0);
  add (x, "{\"arn\":\"arn:c2\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"remote\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:c2", TASK_STATUS_RUNNING));
  assert_int_equal (x->fake.n_pull, 1);
}

static bool
fake_has_image (struct fx *x, const char *img)
{
  return has_image (&x->fake, img);
}

/* Image cleanup: an image whose task was removed goes once it is older
   than the minimum age; an image a task still holds, an excluded one and
   a pre-cached one stay; the records follow, in the checkpoint too. */
static void
test_image_cleanup (void **st)
{
  struct fx *x = *st;
  static char *exclude[] = { (char *) "keep" };
  static char *precache[] = { (char *) "pre" };
  struct config_images ci = { .cleanup_enabled = true, .cleanup_interval_ms = 100, .min_cleanup_age_ms = 0,
                              .images_per_cycle = 5, .exclude = exclude, .n_exclude = 1,
                              .precache = precache, .n_precache = 1 };
  x->images = &ci;
  x->cleanup_ms = 200;
  engine_up (x);
  add (x, "{\"arn\":\"arn:old\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"o\",\"image\":\"old\",\"essential\":true}]}");
  add (x, "{\"arn\":\"arn:held\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"h\",\"image\":\"held\",\"essential\":true}]}");
  add (x, "{\"arn\":\"arn:keep\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"k\",\"image\":\"keep\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:old", TASK_STATUS_RUNNING));
  assert_true (spin_task (x, "arn:held", TASK_STATUS_RUNNING));
  assert_true (spin_task (x, "arn:keep", TASK_STATUS_RUNNING));
  assert_true (fake_has_image (x, "pre"));
  fake_exit (&x->fake, "o", 0);
  fake_exit (&x->fake, "k", 0);
  assert_true (spin_task (x, "arn:old", TASK_STATUS_STOPPED));
  for (int i = 0; i < 200 && (engine_find_task_by_arn (x->e, "arn:old") || fake_has_image (x, "old")); i++)
    spin_for (x, 20);
  assert_null (engine_find_task_by_arn (x->e, "arn:old"));
  assert_false (fake_has_image (x, "old"));
  spin_for (x, 300); /* more cycles: nothing else goes */
  assert_true (fake_has_image (x, "held"));
  assert_true (fake_has_image (x, "keep"));
  assert_true (fake_has_image (x, "pre"));
  /* the records are checkpointed: held, keep, pre (old forgotten) */
  state_save_sync (x->state, NULL);
  cleanup_free char *text = NULL;
  cleanup_free char *path = xasprintf ("%s", state_path (x->state));
  assert_int_equal (util_read_file (path, &text, NULL, NULL), 0);
  assert_non_null (strstr (text, "\"ImageManager\""));
  assert_non_null (strstr (text, "sha256:held"));
  assert_non_null (strstr (text, "sha256:pre"));
  assert_null (strstr (text, "sha256:old"));
}

/* A STOPPED container that Docker says is running again is stopped once. */
static void
test_restop_once (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  add (x, "{\"arn\":\"arn:rs\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"m\",\"image\":\"busybox\",\"essential\":false},"
          "{\"name\":\"k\",\"image\":\"busybox\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:rs", TASK_STATUS_RUNNING));
  fake_exit (&x->fake, "m", 0);
  run_turns (x, 50);
  assert_int_equal (task_of (x, "arn:rs")->containers[0].known_status, TASK_STATUS_STOPPED);
  /* Someone runs "docker start" on it. */
  struct fctr *m = fake_by_cname (&x->fake, "m");
  m->state = "running";
  emit_event (&x->fake, m->id, DOCKER_EV_START);
  run_turns (x, 50);
  assert_int_equal (x->fake.n_stop, 1);
  assert_string_equal (m->state, "exited");
  assert_int_equal (task_of (x, "arn:rs")->containers[0].known_status, TASK_STATUS_STOPPED);
  assert_true (task_of (x, "arn:rs")->containers[0].restopped);
  m->state = "running";
  emit_event (&x->fake, m->id, DOCKER_EV_START);
  run_turns (x, 50);
  assert_int_equal (x->fake.n_stop, 1); /* only once */
}

static void
test_find_by_docker_id (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  add (x, SLEEP5);
  assert_true (spin_task (x, "arn:t1", TASK_STATUS_RUNNING));
  const struct task *t = task_of (x, "arn:t1");
  const struct task_container *c = NULL;
  assert_ptr_equal (engine_find_task_by_docker_id (x->e, t->containers[0].docker_id, &c), t);
  assert_ptr_equal (c, &t->containers[0]);
  char shortid[13];
  memcpy (shortid, t->containers[0].docker_id, 12);
  shortid[12] = '\0';
  assert_ptr_equal (engine_find_task_by_docker_id (x->e, shortid, NULL), t);
  assert_null (engine_find_task_by_docker_id (x->e, "abc", NULL));
  assert_null (engine_find_task_by_arn (x->e, "nope"));
  assert_int_equal (engine_task_count (x->e), 1);
  assert_ptr_equal (engine_task_at (x->e, 0), t);
  assert_null (engine_task_at (x->e, 1));
}

/* Tasks added before engine_start wait for the reconciliation; the engine
   refuses ARN-less tasks. */
static void
test_add_before_start (void **st)
{
  struct fx *x = *st;
  agent_error_t err = NULL;
  struct engine_options o = { .cluster = "unit", .state = x->state, .ops = &fake_ops, .ops_ctx = &x->fake };
  x->e = engine_new (&x->loop, &o, &err);
  add (x, SLEEP5);
  run_turns (x, 20);
  assert_int_equal (x->fake.n_pull, 0);
  assert_int_equal (engine_start (x->e, &err), 0);
  assert_true (spin_task (x, "arn:t1", TASK_STATUS_RUNNING));
  struct task *bad = xcalloc (1, sizeof *bad);
  assert_true (engine_task_add (x->e, bad, &err) < 0);
  assert_int_equal (error_kind (&err), ERR_INVALID);
  error_free (&err);
  assert_true (engine_task_add (x->e, NULL, &err) < 0);
  error_free (&err);
}

/* Events lost while the stream was down: on reconnect the engine inspects
   its live containers and learns that one exited (exit code), one vanished. */
static void
test_resync_after_reconnect (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  add (x, "{\"arn\":\"arn:rc\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"a\",\"image\":\"busybox\"},"
          "{\"name\":\"b\",\"image\":\"busybox\"},{\"name\":\"k\",\"image\":\"busybox\",\"essential\":true}]}");
  assert_true (spin_task (x, "arn:rc", TASK_STATUS_RUNNING));
  assert_non_null (x->fake.ev_state_cb);
  x->fake.ev_state_cb (true, NULL, x->fake.ev_data); /* first connect */
  agent_error_t err = NULL;
  error_set (&err, ERR_UNREACHABLE, "connection reset");
  x->fake.ev_state_cb (false, err, x->fake.ev_data);
  error_free (&err);
  x->fake.events_on = false; /* the events below are lost */
  struct fctr *a = fake_by_cname (&x->fake, "a");
  a->state = "exited";
  a->exit_code = 42;
  fake_by_cname (&x->fake, "b")->state = NULL;
  x->fake.events_on = true;
  x->fake.ev_state_cb (true, NULL, x->fake.ev_data); /* reconnected */
  run_turns (x, 100);
  const struct task *t = task_of (x, "arn:rc");
  assert_int_equal (t->containers[0].known_status, TASK_STATUS_STOPPED);
  assert_int_equal (t->containers[0].exit_code, 42);
  assert_int_equal (t->containers[1].known_status, TASK_STATUS_STOPPED);
  assert_string_equal (t->containers[1].reason, "ContainerVanishedError: No container matching saved ID found");
  assert_int_equal (t->containers[2].known_status, TASK_STATUS_RUNNING);
  assert_int_equal (t->known_status, TASK_STATUS_RUNNING);
}

/* The start asks Docker for the container's dockerConfig.version as the
   create does (upstream's startContainer: WithVersion of the payload's
   version); without one both use the negotiated version. */
static void
test_start_uses_payload_api_version (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  struct
  {
    const char *arn, *dc, *want;
  } rows[] = {
    { "arn:V1", ",\"dockerConfig\":{\"version\":\"1.25\"}", "1.25" },
    { "arn:V2", ",\"dockerConfig\":{\"version\":\"1.17\"}", "1.17" },
    { "arn:V3", "", "-" },
  };
  for (size_t i = 0; i < ARRAY_SIZE (rows); i++)
    {
      agent_error_t err = NULL;
      cleanup_free char *json = xasprintf ("{\"arn\":\"%s\",\"desiredStatus\":\"RUNNING\",\"containers\":["
                                           "{\"name\":\"v%zu\",\"image\":\"busybox\",\"essential\":true%s}]}",
                                           rows[i].arn, i, rows[i].dc);
      assert_int_equal (engine_task_add (x->e, teu_task (json, &err), &err), 0);
      assert_true (spin_task (x, rows[i].arn, TASK_STATUS_RUNNING));
      assert_string_equal (x->fake.create_api, rows[i].want);
      assert_string_equal (x->fake.start_api, rows[i].want);
    }
}

/* Steady-state inspects are bounded: after a reconnect every live
   container is inspected, never more than ENGINE_STEADY_MAX_INFLIGHT at
   once; each inspect feeds the health record of a container with a
   Docker health check (status, output, exit code while unhealthy). */
static void
test_steady_inspects_bounded (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  agent_error_t err = NULL;
  for (int i = 0; i < 6; i++)
    {
      cleanup_free char *json = xasprintf ("{\"arn\":\"arn:S%d\",\"desiredStatus\":\"RUNNING\",\"containers\":["
                                           "{\"name\":\"c%d\",\"image\":\"busybox\",\"essential\":true,\"healthCheckType\":\"docker\","
                                           "\"dockerConfig\":{\"config\":\"{\\\"Healthcheck\\\":{\\\"Test\\\":[\\\"CMD\\\",\\\"true\\\"]}}\"}},"
                                           "{\"name\":\"d%d\",\"image\":\"busybox\",\"essential\":true}]}", i, i, i);
      assert_int_equal (engine_task_add (x->e, teu_task (json, &err), &err), 0);
    }
  for (int i = 0; i < 6; i++)
    {
      cleanup_free char *arn = xasprintf ("arn:S%d", i);
      assert_true (spin_task (x, arn, TASK_STATUS_RUNNING));
    }
  struct fctr *k0 = fake_by_cname (&x->fake, "c0"), *k1 = fake_by_cname (&x->fake, "c1");
  k0->health = "healthy";
  k0->health_output = "ok";
  k1->health = "unhealthy";
  k1->health_output = "refused";
  k1->health_exit_code = 7;
  x->fake.ev_state_cb (true, NULL, x->fake.ev_data); /* first connect */
  x->fake.ev_state_cb (false, NULL, x->fake.ev_data);
  x->fake.inspect_max = x->fake.inspect_now = 0;
  int before = x->fake.n_inspect;
  x->fake.ev_state_cb (true, NULL, x->fake.ev_data); /* reconnected: all 12 due */
  run_turns (x, 200);
  assert_int_equal (x->fake.n_inspect - before, 12);
  assert_true (x->fake.inspect_max <= ENGINE_STEADY_MAX_INFLIGHT);
  assert_true (x->fake.inspect_max >= 2);
  const struct task_container *c0 = &task_of (x, "arn:S0")->containers[0];
  assert_int_equal (c0->life.health, TASK_HEALTH_HEALTHY);
  assert_string_equal (c0->life.health_output, "ok");
  assert_int_equal (c0->life.health_exit_code, 0);
  const struct task_container *c1 = &task_of (x, "arn:S1")->containers[0];
  assert_int_equal (c1->life.health, TASK_HEALTH_UNHEALTHY);
  assert_string_equal (c1->life.health_output, "refused");
  assert_int_equal (c1->life.health_exit_code, 7);
  assert_true (c1->life.health_since_ns > 0);
  /* a container without a health check keeps none */
  assert_int_equal (task_of (x, "arn:S1")->containers[1].life.health, TASK_HEALTH_UNKNOWN);
  /* each is scheduled for its next steady-state inspect, 5 min + < 30 s on */
  for (int i = 0; i < 6; i++)
    {
      cleanup_free char *arn = xasprintf ("arn:S%d", i);
      const struct task_container *c = &task_of (x, arn)->containers[1];
      uint64_t now = uv_now (&x->loop);
      assert_true (c->steady_at_ms > now + ENGINE_STEADY_INTERVAL_MS - 10000);
      assert_true (c->steady_at_ms <= now + ENGINE_STEADY_INTERVAL_MS + ENGINE_STEADY_JITTER_MS);
    }
}

/* The upstream 1.1.0 v1 checkpoint through the whole engine: it loads,
   nothing in it exists in Docker any more -> every container that was not
   already stopped is reported vanished, nothing is created, and the old
   stopped tasks are cleaned up (their STOPPED time is years ago). */
static void
test_upstream_v1_checkpoint_in_engine (void **st)
{
  struct fx *x = *st;
  size_t len = 0;
  char *data = teu_read_protocol ("fixtures/agent-1.1.0/statemanager/testdata/v1/1/ecs_agent_data.json", &len);
  assert_non_null (data); /* fixture from $SHARED_DIR/protocol: missing fails */
  cleanup_free char *path = xasprintf ("%s/%s", x->dir, STATE_FILE_NAME);
  agent_error_t err = NULL;
  assert_int_equal (util_write_file_atomic (path, data, len, 0600, &err), 0);
  free (data);
  state_store_free (x->state);
  state_up (x);
  x->cleanup_ms = 1000;
  engine_up (x);
  /* (the two tasks stopped in 2015 may already be gone: cleanup is due) */
  const struct task *dv = task_of (x, "arn:aws:ecs:us-west-2:1234567890:task/86601083-0fad-4985-abf1-c097d3db0a89");
  assert_non_null (dv);
  assert_int_equal (dv->known_status, TASK_STATUS_STOPPED);
  const struct task_container *c1 = task_find_container (dv, "consumer1");
  assert_string_equal (c1->reason, "ContainerVanishedError: No container matching saved ID found");
  /* consumer1/2 STOPPED changes + the task's; the internal helper never reports. */
  cleanup_free char *q = queue_str (x);
  assert_non_null (strstr (q, "C:consumer1:STOPPED"));
  assert_non_null (strstr (q, "C:consumer2:STOPPED"));
  assert_null (strstr (q, "internal"));
  assert_non_null (strstr (q, "T:STOPPED"));
  spin_until_no_tasks (x);
  assert_int_equal (engine_task_count (x->e), 0);
  assert_int_equal (x->fake.n_create, 0);
  assert_int_equal (x->fake.n_pull, 0);
  /* The rewritten checkpoint is ours (version 100) and still loads. */
  teardown_engine (x);
  state_up (x);
  assert_int_equal (state_loaded_version (x->state), STATE_VERSION);
}

/* Freeing the engine at any point (ops in flight, a save pending before a
   create) is clean: no leak, no late callback (ASan). */
static void
test_free_at_any_point (void **st)
{
  struct fx *x = *st;
  for (int k = 0; k < 24; k++)
    {
      engine_up (x);
      cleanup_free char *json = xasprintf ("{\"arn\":\"arn:f%d\",\"desiredStatus\":\"RUNNING\",\"volumes\":[{\"name\":\"v\",\"host\":{}}],"
                                           "\"containers\":[{\"name\":\"a\",\"image\":\"busybox\",\"essential\":true,"
                                           "\"mountPoints\":[{\"sourceVolume\":\"v\",\"containerPath\":\"/v\"}]},"
                                           "{\"name\":\"b\",\"image\":\"busybox\",\"links\":[\"a\"]}]}", k);
      add (x, json);
      run_turns (x, k);
      engine_free (x->e);
      x->e = NULL;
      run_turns (x, 5);
    }
}

/* A stop the daemon never received (socket refused, inspect refused too)
   leaves the container RUNNING, as it is, and is retried with back-off
   until the daemon answers; only then is STOPPED reported, with the real
   exit code. */
static void
test_stop_retried_while_unreachable (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  add (x, SLEEP5);
  assert_true (spin_task (x, "arn:t1", TASK_STATUS_RUNNING));
  x->fake.unreachable = true;
  add (x, "{\"arn\":\"arn:t1\",\"desiredStatus\":\"STOPPED\"}");
  spin_for (x, 1700); /* tries at 0, ~0.5 s and ~1.5 s */
  const struct task *t = task_of (x, "arn:t1");
  assert_int_equal (t->known_status, TASK_STATUS_RUNNING);
  assert_int_equal (t->containers[0].known_status, TASK_STATUS_RUNNING);
  assert_null (t->containers[0].reason);
  assert_true (x->fake.n_stop >= 2 && x->fake.n_stop <= 4);
  cleanup_free char *q1 = queue_str (x);
  assert_string_equal (q1, "C:sleep5:RUNNING T:RUNNING ");
  x->fake.unreachable = false;
  assert_true (spin_task (x, "arn:t1", TASK_STATUS_STOPPED));
  t = task_of (x, "arn:t1");
  assert_int_equal (t->containers[0].exit_code, 137);
  /* back-off reset after the confirmed stop */
  assert_int_equal (t->containers[0].stop_backoff.cur_ms, t->containers[0].stop_backoff.min_ms);
  assert_int_equal (t->containers[0].stop_backoff.min_ms, 500);
  cleanup_free char *q2 = queue_str (x);
  assert_string_equal (q2, "C:sleep5:RUNNING T:RUNNING C:sleep5:STOPPED:137 T:STOPPED ");
}

/* Cleanup while the daemon is unreachable: the task stays in state (and in
   the checkpoint) and removal is retried until Docker confirms it. */
static void
test_cleanup_retried_while_unreachable (void **st)
{
  struct fx *x = *st;
  x->cleanup_ms = 100;
  engine_up (x);
  add (x, LINKED);
  assert_true (spin_task (x, "arn:l", TASK_STATUS_RUNNING));
  fake_exit (&x->fake, "web", 0);
  assert_true (spin_task (x, "arn:l", TASK_STATUS_STOPPED));
  x->fake.unreachable = true;
  spin_for (x, 1500);
  assert_int_equal (engine_task_count (x->e), 1);
  assert_true (x->fake.n_remove >= 6); /* two rounds of three */
  x->fake.unreachable = false;
  spin_until_no_tasks (x);
  assert_int_equal (engine_task_count (x->e), 0);
  for (size_t i = 0; i < x->fake.n_ctrs; i++)
    assert_null (x->fake.ctrs[i].state);
  for (size_t i = 0; i < x->fake.n_volumes; i++)
    assert_null (x->fake.volumes[i]);
}

/* Docker unreachable at start-up: the container list fails twice, then
   answers.  Reconciliation is retried (on its back-off timer) and
   completes; a checkpointed container is then reconciled as usual. */
static void
test_reconcile_retried_after_list_failure (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  add (x, SLEEP5);
  assert_true (spin_task (x, "arn:t1", TASK_STATUS_RUNNING));
  teardown_engine (x);
  state_up (x);
  x->fake.list_failures = 2;
  x->fake.n_list = 0;
  engine_up (x);
  assert_int_equal (x->fake.n_list, 3);
  assert_int_equal (x->fake.list_failures, 0);
  const struct task *t = task_of (x, "arn:t1");
  assert_non_null (t);
  assert_int_equal (t->containers[0].known_status, TASK_STATUS_RUNNING);
  assert_int_equal (x->fake.n_create, 1);
  /* and it still drives tasks */
  fake_exit (&x->fake, "sleep5", 4);
  assert_true (spin_task (x, "arn:t1", TASK_STATUS_STOPPED));
  assert_int_equal (task_of (x, "arn:t1")->containers[0].exit_code, 4);
}

/* The checkpoint cannot be written (a directory sits where the file goes)
   while a create waits for the save of its name: no create, and no busy
   loop (the store retries its write after a back-off and calls the engine
   back only once it succeeds); once the disk recovers the container is
   created, its name on disk first. */
static void
test_save_failure_backs_off (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  x->fake.state_path = state_path (x->state);
  (void) unlink (state_path (x->state)); /* may not be written yet */
  assert_int_equal (mkdir (state_path (x->state), 0700), 0);
  add (x, SLEEP5);
  int turns = spin_for (x, 1500);
  assert_int_equal (x->fake.n_create, 0);
  assert_int_equal (task_of (x, "arn:t1")->containers[0].inflight, TASK_ACTION_CREATE);
  assert_true (turns < 200); /* a retry at once would take thousands */
  assert_int_equal (rmdir (state_path (x->state)), 0);
  assert_true (spin_task (x, "arn:t1", TASK_STATUS_RUNNING));
  assert_int_equal (x->fake.n_create, 1);
  assert_true (x->fake.name_on_disk_at_create);
}

/* ---- restart policy ---------------------------------------------------------- */

#define RESTARTER(arn, period) \
  "{\"arn\":\"" arn "\",\"family\":\"rp\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\"," \
  "\"containers\":[{\"name\":\"r\",\"image\":\"busybox\",\"essential\":true," \
  "\"restartPolicy\":{\"enabled\":true,\"ignoredExitCodes\":[5],\"restartAttemptPeriod\":" period "}}]}"

static int
count_in_log (struct fx *x, const char *what)
{
  int n = 0;
  for (const char *p = x->fake.log; (p = strstr (p, what)) != NULL; p += strlen (what))
    n++;
  return n;
}

/* The tracker as the checkpoint file has it: RestartCount, -1 if absent. */
static json_int_t
disk_restart_count (struct fx *x)
{
  char *text = NULL;
  size_t len;
  agent_error_t err = NULL;
  cleanup_free char *path = xasprintf ("%s/%s", x->dir, STATE_FILE_NAME);
  assert_int_equal (util_read_file (path, &text, &len, &err), 0);
  json_t *root = json_loads (text, 0, NULL);
  free (text);
  json_t *c = json_array_get (json_object_get (json_array_get (json_object_get (json_object_get (json_object_get (root, "Data"), "TaskEngine"), "Tasks"), 0), "Containers"), 0);
  json_t *n = json_object_get (json_object_get (c, "RestartTracker"), "RestartCount");
  json_int_t v = n ? json_integer_value (n) : -1;
  json_decref (root);
  return v;
}

/* Exit 1 restarts the same container in place (saved first, nothing sent
   to ECS); an ignored exit code stops the task as usual. */
static void
test_restart_in_place (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  x->fake.state_path = state_path (x->state);
  add (x, RESTARTER ("arn:rp", "0"));
  assert_true (spin_task (x, "arn:rp", TASK_STATUS_RUNNING));
  run_turns (x, 50);
  const struct task *t = task_of (x, "arn:rp");
  cleanup_free char *id = xstrdup (t->containers[0].docker_id);
  assert_int_equal (count_in_log (x, "start:r "), 1);
  fake_exit (&x->fake, "r", 1);
  for (int i = 0; i < 5000 && count_in_log (x, "start:r ") < 2; i++)
    uv_run (&x->loop, UV_RUN_ONCE);
  run_turns (x, 100);
  t = task_of (x, "arn:rp");
  assert_int_equal (count_in_log (x, "start:r "), 2);
  assert_int_equal (x->fake.n_create, 1);
  assert_string_equal (t->containers[0].docker_id, id);
  assert_string_equal (fake_by_cname (&x->fake, "r")->state, "running");
  assert_int_equal (t->containers[0].known_status, TASK_STATUS_RUNNING);
  assert_int_equal (t->known_status, TASK_STATUS_RUNNING);
  assert_int_equal (t->containers[0].restart.count, 1);
  assert_true (t->containers[0].restart.last_restart_at_ns > 0);
  assert_int_equal (disk_restart_count (x), 1);
  /* Persist before acting: the count was on disk when Docker was asked. */
  assert_string_equal (x->fake.restart_on_disk_at_start, "\"RestartCount\":1");
  cleanup_free char *q1 = queue_str (x);
  assert_string_equal (q1, "C:r:RUNNING T:RUNNING ");
  /* Again (period 0): a second restart. */
  fake_exit (&x->fake, "r", 3);
  for (int i = 0; i < 200 && count_in_log (x, "start:r ") < 3; i++)
    uv_run (&x->loop, UV_RUN_ONCE);
  run_turns (x, 100);
  assert_int_equal (task_of (x, "arn:rp")->containers[0].restart.count, 2);
  /* An ignored code: a normal stop, the task stops (essential). */
  fake_exit (&x->fake, "r", 5);
  assert_true (spin_task (x, "arn:rp", TASK_STATUS_STOPPED));
  cleanup_free char *q2 = queue_str (x);
  assert_string_equal (q2, "C:r:RUNNING T:RUNNING C:r:STOPPED:5 T:STOPPED ");
  assert_int_equal (count_in_log (x, "start:r "), 3);
  assert_int_equal (task_of (x, "arn:rp")->containers[0].restart.count, 2);
}

/* Within the attempt period (counted from the first start) no restart; a
   restart whose start fails is a normal stop. */
static void
test_restart_period_and_failure (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  add (x, RESTARTER ("arn:rp1", "3600"));
  add (x, RESTARTER ("arn:rp2", "0"));
  assert_true (spin_task (x, "arn:rp1", TASK_STATUS_RUNNING));
  assert_true (spin_task (x, "arn:rp2", TASK_STATUS_RUNNING));
  run_turns (x, 50);
  struct fctr *k1 = NULL;
  for (size_t i = 0; i < x->fake.n_ctrs; i++)
    if (strcmp (x->fake.ctrs[i].task_arn, "arn:rp1") == 0)
      k1 = &x->fake.ctrs[i];
  assert_non_null (k1);
  k1->state = "exited";
  k1->exit_code = 1;
  emit_event (&x->fake, k1->id, DOCKER_EV_DIE);
  assert_true (spin_task (x, "arn:rp1", TASK_STATUS_STOPPED));
  assert_int_equal (task_of (x, "arn:rp1")->containers[0].restart.count, 0);
  assert_int_equal (task_of (x, "arn:rp1")->containers[0].exit_code, 1);
  /* rp2: the restart's start fails. */
  x->fake.start_fails = true;
  struct fctr *k2 = NULL;
  for (size_t i = 0; i < x->fake.n_ctrs; i++)
    if (strcmp (x->fake.ctrs[i].task_arn, "arn:rp2") == 0)
      k2 = &x->fake.ctrs[i];
  k2->state = "exited";
  k2->exit_code = 2;
  emit_event (&x->fake, k2->id, DOCKER_EV_DIE);
  assert_true (spin_task (x, "arn:rp2", TASK_STATUS_STOPPED));
  const struct task *t = task_of (x, "arn:rp2");
  assert_int_equal (t->containers[0].restart.count, 1); /* the attempt counts */
  assert_int_equal (t->containers[0].known_status, TASK_STATUS_STOPPED);
  assert_int_equal (t->containers[0].exit_code, 2);
}

/* A crash after the tracker was saved but before Docker started the
   container: the restart is made once at reconciliation, not counted
   twice; a container that ran since then and died is judged anew. */
static void
test_restart_redo_after_crash (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  add (x, RESTARTER ("arn:rc", "3600"));
  assert_true (spin_task (x, "arn:rc", TASK_STATUS_RUNNING));
  run_turns (x, 100);
  teardown_engine (x);
  x->fake.events_on = false;
  /* The checkpoint says restart 1 was decided (after this run began). */
  char *text = NULL;
  size_t len;
  agent_error_t err = NULL;
  cleanup_free char *path = xasprintf ("%s/%s", x->dir, STATE_FILE_NAME);
  assert_int_equal (util_read_file (path, &text, &len, &err), 0);
  json_t *root = json_loads (text, 0, NULL);
  free (text);
  json_t *c = json_array_get (json_object_get (json_array_get (json_object_get (json_object_get (json_object_get (root, "Data"), "TaskEngine"), "Tasks"), 0), "Containers"), 0);
  struct fctr *k = fake_by_cname (&x->fake, "r");
  json_object_set_new (c, "RestartTracker", json_pack ("{s:i,s:I}", "RestartCount", 1, "LastRestartAtNs",
                                                       (json_int_t) k->started_ns + 1));
  char *out = json_dumps (root, JSON_COMPACT);
  assert_int_equal (util_write_file_atomic (path, out, strlen (out), 0600, &err), 0);
  free (out);
  json_decref (root);
  k->state = "exited";
  k->exit_code = 1;
  int starts = count_in_log (x, "start:r ");
  state_up (x);
  engine_up (x);
  for (int i = 0; i < 200 && count_in_log (x, "start:r ") < starts + 1; i++)
    uv_run (&x->loop, UV_RUN_ONCE);
  run_turns (x, 100);
  const struct task *t = task_of (x, "arn:rc");
  assert_int_equal (count_in_log (x, "start:r "), starts + 1);
  assert_int_equal (t->containers[0].restart.count, 1);
  assert_int_equal (t->containers[0].known_status, TASK_STATUS_RUNNING);
  assert_string_equal (k->state, "running");
}

/* ---- registry authentication (engine/pull_auth.h) ------------------------------ */

#define AUTH_TASK(arn, image, auth)                                                                   \
  "{\"arn\":\"" arn "\",\"family\":\"auth\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\","          \
  "\"containers\":[{\"name\":\"c\",\"image\":\"" image "\",\"essential\":true,"                        \
  "\"registryAuthentication\":" auth "}]}"
#define ECR_EXEC "{\"type\":\"ecr\",\"ecrAuthData\":{\"registryId\":\"123\",\"region\":\"us-west-2\",\"useExecutionRole\":true}}"
#define ASM_AUTH(p) "{\"type\":\"asm\",\"asmAuthData\":{\"credentialsParameter\":\"" p "\",\"region\":\"us-west-2\"}}"

/* Without execution-role credentials: ECR fails the container with
   upstream's text, Secrets Manager stops the task before any create. */
static void
test_pull_auth_no_credentials (void **st)
{
  struct fx *x = *st;
  engine_up (x);
  task_creds_store_t *store = task_creds_store_new ();
  engine_set_aws_credentials (x->e, NULL, store);
  add (x, AUTH_TASK ("arn:ecr0", "ecr-missing", ECR_EXEC));
  assert_true (spin_task (x, "arn:ecr0", TASK_STATUS_STOPPED));
  const struct task *t = task_of (x, "arn:ecr0");
  assert_string_equal (t->containers[0].reason,
                       "CannotPullECRContainerError: engine ecr credentials: not found");
  add (x, AUTH_TASK ("arn:asm0", "asm-img", ASM_AUTH ("reg-ok")));
  assert_true (spin_task (x, "arn:asm0", TASK_STATUS_STOPPED));
  t = task_of (x, "arn:asm0");
  assert_string_equal (t->reason, "Asm resource: unable to find execution role credentials");
  assert_null (t->containers[0].reason);
  assert_int_equal (x->fake.n_create, 0);
  assert_null (strstr (x->fake.log, "asm-img"));
  teardown_engine (x);
  task_creds_store_free (store);
}

/* ECR answers "AWS:pw-<n>" (n counts its calls) unless the registry id is
   "denied"; Secrets Manager knows reg-ok, reg-denied and reg-bad. */
static const char *AUTH_PY
    = "import json, base64, time, http.server\n"
      "n = [0]\n"
      "class H(http.server.BaseHTTPRequestHandler):\n"
      "    protocol_version = 'HTTP/1.1'\n"
      "    def reply(self, code, obj):\n"
      "        b = json.dumps(obj).encode()\n"
      "        self.send_response(code)\n"
      "        self.send_header('Content-Length', str(len(b)))\n"
      "        self.end_headers()\n"
      "        self.wfile.write(b)\n"
      "    def do_POST(self):\n"
      "        req = json.loads(self.rfile.read(int(self.headers.get('Content-Length') or 0)) or b'{}')\n"
      "        t = self.headers.get('X-Amz-Target', '')\n"
      "        if t.endswith('GetAuthorizationToken'):\n"
      "            if req.get('registryIds') == ['denied']:\n"
      "                return self.reply(400, {'__type': 'AccessDeniedException', 'message': 'User is not authorized'})\n"
      "            n[0] += 1\n"
      "            tok = base64.b64encode(('AWS:pw-%d' % n[0]).encode()).decode()\n"
      "            return self.reply(200, {'authorizationData': [{'authorizationToken': tok,\n"
      "                'expiresAt': time.time() + 43200, 'proxyEndpoint': 'http://registry.test:5000'}]})\n"
      "        sid = req.get('SecretId')\n"
      "        if sid == 'reg-ok':\n"
      "            return self.reply(200, {'SecretString': json.dumps({'Username': 'privuser', 'password': 'priv-pass'})})\n"
      "        if sid == 'reg-bad':\n"
      "            return self.reply(200, {'SecretString': '[]'})\n"
      "        self.reply(400, {'__type': 'AccessDeniedException', 'Message': 'not allowed'})\n"
      "    def log_message(self, *a):\n"
      "        pass\n"
      "s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)\n"
      "s.daemon_threads = True\n"
      "print('127.0.0.1:%d' % s.server_address[1], flush=True)\n"
      "s.serve_forever()\n";

static void
put_exec_creds (task_creds_store_t *store, const char *arn, const char *id)
{
  struct task_role_credentials *c = xcalloc (1, sizeof *c);
  c->credentials_id = xstrdup (id);
  c->role_arn = xstrdup ("arn:aws:iam::1:role/exec");
  c->access_key_id = xstrdup ("AKIDEXEC");
  c->secret_access_key = xstrdup ("SECRETEXEC");
  c->session_token = xstrdup ("TOKENEXEC");
  agent_error_t err = NULL;
  assert_int_equal (task_creds_store_put (store, arn, TASK_CREDS_EXECUTION_ROLE, c, &err), 0);
}

static void
test_pull_auth_fetch (void **st)
{
  struct fx *x = *st;
  struct test_child srv = { 0 };
  char *argv[] = { "/usr/bin/python3", "-c", (char *) AUTH_PY, NULL };
  if (test_child_start (&srv, argv) < 0)
    {
      test_child_stop (&srv);
      fail_msg ("could not start the local ECR / Secrets Manager server");
    }
  cleanup_free char *base = xasprintf ("http://%s", srv.line);
  setenv ("AWS_ENDPOINT_URL_SECRETS_MANAGER", base, 1);
  x->http = http_client_new (&x->loop);
  engine_up (x);
  task_creds_store_t *store = task_creds_store_new ();
  engine_set_aws_credentials (x->e, NULL, store);
  const char *arns[] = { "arn:e1", "arn:d1", "arn:s1", "arn:s2", "arn:s3" };
  for (size_t i = 0; i < ARRAY_SIZE (arns); i++)
    {
      char id[16];
      snprintf (id, sizeof id, "cid-%zu", i);
      put_exec_creds (store, arns[i], id);
    }
  /* two containers of one registry: one token call, both pulls use it */
  cleanup_free char *ecr = xasprintf ("{\"type\":\"ecr\",\"ecrAuthData\":{\"registryId\":\"123\","
                                      "\"region\":\"us-west-2\",\"endpointOverride\":\"%s\","
                                      "\"useExecutionRole\":true}}", base);
  cleanup_free char *e1 = xasprintf (
      "{\"arn\":\"arn:e1\",\"family\":\"auth\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\","
      "\"containers\":[{\"name\":\"a\",\"image\":\"ecr/img1\",\"essential\":true,\"registryAuthentication\":%s},"
      "{\"name\":\"b\",\"image\":\"ecr/img2\",\"essential\":true,\"registryAuthentication\":%s}]}", ecr, ecr);
  add (x, e1);
  assert_true (spin_task (x, "arn:e1", TASK_STATUS_RUNNING));
  cleanup_free char *want1 = docker_auth_encode ("AWS", "pw-1", NULL, "http://registry.test:5000");
  assert_string_equal (x->fake.last_auth, want1);
  assert_int_equal (x->fake.n_pull, 2);
  assert_null (task_of (x, "arn:e1")->containers[0].reason);
  /* ECR refuses: the pull fails with upstream's error name, no local image */
  cleanup_free char *denied = xasprintf ("{\"type\":\"ecr\",\"ecrAuthData\":{\"registryId\":\"denied\","
                                         "\"region\":\"us-west-2\",\"endpointOverride\":\"%s\","
                                         "\"useExecutionRole\":true}}", srv.line); /* scheme-less */
  cleanup_free char *d1 = xasprintf (AUTH_TASK ("arn:d1", "ecr/img3", "%s"), denied);
  add (x, d1);
  assert_true (spin_task (x, "arn:d1", TASK_STATUS_STOPPED));
  /* https:// was put in front of the scheme-less override: a TLS error, not the answer */
  assert_non_null (strstr (task_of (x, "arn:d1")->containers[0].reason, "CannotPullECRContainerError: "));
  assert_null (strstr (x->fake.log, "ecr/img3"));
  cleanup_free char *denied2 = xasprintf ("{\"type\":\"ecr\",\"ecrAuthData\":{\"registryId\":\"denied\","
                                          "\"region\":\"us-west-2\",\"endpointOverride\":\"%s\"}}", base);
  cleanup_free char *d2 = xasprintf (AUTH_TASK ("arn:d2", "ecr/img4", "%s"), denied2);
  /* the instance's credentials: none here */
  add (x, d2);
  assert_true (spin_task (x, "arn:d2", TASK_STATUS_STOPPED));
  assert_string_equal (task_of (x, "arn:d2")->containers[0].reason,
                       "CannotPullECRContainerError: engine ecr credentials: not found");
  /* the execution role is denied by ECR */
  cleanup_free char *denied3 = xasprintf ("{\"type\":\"ecr\",\"ecrAuthData\":{\"registryId\":\"denied\","
                                          "\"region\":\"us-west-2\",\"endpointOverride\":\"%s\","
                                          "\"useExecutionRole\":true}}", base);
  /* Secrets Manager */
  add (x, AUTH_TASK ("arn:s1", "priv/img", ASM_AUTH ("reg-ok")));
  assert_true (spin_task (x, "arn:s1", TASK_STATUS_RUNNING));
  cleanup_free char *want2 = docker_auth_encode ("privuser", "priv-pass", NULL, NULL);
  assert_string_equal (x->fake.last_auth, want2);
  int creates = x->fake.n_create;
  add (x, AUTH_TASK ("arn:s2", "priv/img2", ASM_AUTH ("reg-denied")));
  assert_true (spin_task (x, "arn:s2", TASK_STATUS_STOPPED));
  assert_string_equal (task_of (x, "arn:s2")->reason,
                       "Asm fetching secret from the service for reg-denied: AccessDeniedException: not allowed");
  assert_null (task_of (x, "arn:s2")->containers[0].reason);
  cleanup_free char *s3 = xasprintf (AUTH_TASK ("arn:s3", "ecr/img6", "%s"), denied3);
  add (x, s3);
  assert_true (spin_task (x, "arn:s3", TASK_STATUS_STOPPED));
  assert_string_equal (task_of (x, "arn:s3")->containers[0].reason,
                       "CannotPullECRContainerError: AccessDeniedException: User is not authorized");
  assert_int_equal (x->fake.n_create, creates);
  /* a task whose execution-role credentials are known by id only (restored
     from the checkpoint): its pull waits for ACS to send them */
  task_creds_store_expect (store, "arn:w1", TASK_CREDS_EXECUTION_ROLE, "cid-w1");
  cleanup_free char *w1 = xasprintf (
      "{\"arn\":\"arn:w1\",\"family\":\"auth\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\","
      "\"executionRoleCredentials\":{\"credentialsId\":\"cid-w1\"},"
      "\"containers\":[{\"name\":\"c\",\"image\":\"ecr/img7\",\"essential\":true,"
      "\"registryAuthentication\":%s}]}", ecr);
  add (x, w1);
  spin_for (x, 600);
  assert_null (strstr (x->fake.log, "ecr/img7"));
  assert_int_equal (task_of (x, "arn:w1")->containers[0].known_status, TASK_STATUS_NONE);
  put_exec_creds (store, "arn:w1", "cid-w1");
  assert_true (spin_task (x, "arn:w1", TASK_STATUS_RUNNING));
  assert_non_null (strstr (x->fake.log, "pull:ecr/img7"));
  assert_null (task_of (x, "arn:w1")->containers[0].reason);
  /* no secret ever reached the fake's log of calls */
  assert_null (strstr (x->fake.log, "pw-1"));
  assert_null (strstr (x->fake.log, "priv-pass"));
  teardown_engine (x);
  http_client_free (x->http);
  x->http = NULL;
  uv_run (&x->loop, UV_RUN_DEFAULT);
  task_creds_store_free (store);
  unsetenv ("AWS_ENDPOINT_URL_SECRETS_MANAGER");
  test_child_stop (&srv);
}

/* ---- secret resources (engine/secrets.h) ------------------------------------ */

/* A fake fetcher: each fetch waits until the test answers it. */
struct fsec_fetch
{
  enum task_secret_provider provider;
  size_t n_secrets;
  char names[256];     /* valueFrom of each secret, ' '-separated */
  char akid[64];       /* the credentials' access key id */
  aws_secrets_done_cb cb;
  void *data;
  bool open, cancelled;
};

struct fsec
{
  struct fsec_fetch f[8];
  size_t n;
};

static void *
fsec_fetch (void *ctx, const struct aws_secrets_fetch_req *req, aws_secrets_done_cb cb, void *data)
{
  struct fsec *s = ctx;
  assert_true (s->n < ARRAY_SIZE (s->f));
  struct fsec_fetch *f = &s->f[s->n++];
  memset (f, 0, sizeof *f);
  f->provider = req->provider;
  for (size_t i = 0; i < req->n; i++)
    if (req->secrets[i]->provider == req->provider)
      {
        size_t l = strlen (f->names);
        snprintf (f->names + l, sizeof f->names - l, "%s%s", l ? " " : "", req->secrets[i]->value_from);
        f->n_secrets++;
      }
  snprintf (f->akid, sizeof f->akid, "%s", req->creds && req->creds->access_key_id ? req->creds->access_key_id : "");
  f->cb = cb;
  f->data = data;
  f->open = true;
  return f;
}

static void
fsec_cancel (void *ctx, void *handle)
{
  (void) ctx;
  struct fsec_fetch *f = handle;
  f->open = false;
  f->cancelled = true;
}

static const struct engine_secrets_ops fsec_ops = { fsec_fetch, fsec_cancel };

/* Answer fetch i with key=value pairs (NULL-terminated), or with error. */
static void
fsec_answer (struct fsec *s, size_t i, const char *const *kv, const char *error)
{
  assert_true (i < s->n && s->f[i].open);
  s->f[i].open = false;
  struct task_secret_resource r = { 0 };
  for (size_t k = 0; kv && kv[k]; k += 2)
    task_secret_resource_put (&r, kv[k], kv[k + 1]);
  s->f[i].cb (error ? NULL : &r, error, s->f[i].data);
  task_secret_resource_clear (&r);
}

static void
secrets_fixture (struct fx *x, struct fsec *s, const char *arn)
{
  x->secrets_ops = &fsec_ops;
  x->secrets_ctx = s;
  x->creds = task_creds_store_new ();
  if (!arn)
    return;
  struct task_role_credentials *c = xcalloc (1, sizeof *c);
  c->credentials_id = xstrdup ("exec-1");
  c->role_arn = xstrdup ("arn:aws:iam::1:role/exec");
  c->access_key_id = xstrdup ("AKIDEXEC");
  c->secret_access_key = xstrdup ("exec-secret-key");
  c->session_token = xstrdup ("exec-token");
  agent_error_t err = NULL;
  assert_int_equal (task_creds_store_put (x->creds, arn, TASK_CREDS_EXECUTION_ROLE, c, &err), 0);
}

#define SECRET_TASK(arn, exec)                                                                          \
  "{\"arn\":\"" arn "\",\"family\":\"sec\",\"version\":\"1\",\"desiredStatus\":\"RUNNING\"," exec         \
  "\"containers\":[{\"name\":\"app\",\"image\":\"busybox\",\"essential\":true,"                           \
  "\"environment\":{\"A\":\"1\",\"DB\":\"plain\"},"                                                      \
  "\"dockerConfig\":{\"hostConfig\":\"{\\\"LogConfig\\\":{\\\"Type\\\":\\\"json-file\\\","                  \
  "\\\"Config\\\":{\\\"tag\\\":\\\"x\\\"}}}\"},"                                                         \
  "\"secrets\":[{\"name\":\"DB\",\"valueFrom\":\"/db\",\"provider\":\"ssm\",\"region\":\"r1\","          \
  "\"type\":\"ENVIRONMENT_VARIABLE\"},"                                                                  \
  "{\"name\":\"MISSING\",\"valueFrom\":\"/none\",\"provider\":\"ssm\",\"region\":\"r1\","                \
  "\"type\":\"ENVIRONMENT_VARIABLE\"},"                                                                  \
  "{\"name\":\"fluentd-token\",\"valueFrom\":\"arn:aws:secretsmanager:r1:1:secret:tok\","                \
  "\"provider\":\"asm\",\"region\":\"r1\",\"target\":\"LOG_DRIVER\"},"                                  \
  "{\"name\":\"empty-opt\",\"valueFrom\":\"/empty\",\"provider\":\"ssm\",\"region\":\"r1\","             \
  "\"target\":\"LOG_DRIVER\"}]},"                                                                        \
  "{\"name\":\"side\",\"image\":\"busybox\",\"essential\":false}]}"

#define EXEC_CREDS                                                                                      \
  "\"executionRoleCredentials\":{\"credentialsId\":\"exec-1\",\"accessKeyId\":\"AKIDEXEC\","             \
  "\"secretAccessKey\":\"exec-secret-key\",\"sessionToken\":\"exec-token\"},"

static void
secrets_teardown (struct fx *x)
{
  teardown_engine (x);
  task_creds_store_free (x->creds);
  x->creds = NULL;
}

/* Both resources are fetched with the execution role while the images are
   pulled; the container using them is created only once both are there,
   with the values injected; nothing of them reaches the checkpoint. */
static void
test_secrets_injected (void **st)
{
  struct fx *x = *st;
  struct fsec s = { 0 };
  secrets_fixture (x, &s, "arn:sec1");
  engine_up (x);
  add (x, SECRET_TASK ("arn:sec1", EXEC_CREDS));
  for (int i = 0; i < 5000 && task_of (x, "arn:sec1")->containers[1].known_status < TASK_STATUS_RUNNING; i++)
    uv_run (&x->loop, UV_RUN_ONCE);
  run_turns (x, 100);
  assert_int_equal (s.n, 2);
  assert_int_equal (s.f[0].provider, TASK_SECRET_SSM);
  assert_string_equal (s.f[0].names, "/db /none /empty");
  assert_string_equal (s.f[0].akid, "AKIDEXEC");
  assert_int_equal (s.f[1].provider, TASK_SECRET_ASM);
  assert_string_equal (s.f[1].names, "arn:aws:secretsmanager:r1:1:secret:tok");
  /* the side container runs; app is pulled and waits */
  const struct task *t = task_of (x, "arn:sec1");
  assert_int_equal (t->containers[1].known_status, TASK_STATUS_RUNNING);
  assert_int_equal (t->containers[0].known_status, TASK_STATUS_PULLED);
  assert_int_equal (x->fake.n_create, 1);
  fsec_answer (&s, 0, (const char *const[]){ "/db_r1", "db-secret-value", "/empty_r1", "", NULL }, NULL);
  run_turns (x, 100);
  assert_int_equal (x->fake.n_create, 1);
  fsec_answer (&s, 1, (const char *const[]){ "arn:aws:secretsmanager:r1:1:secret:tok_r1", "tok-secret-value", NULL },
               NULL);
  assert_true (spin_task (x, "arn:sec1", TASK_STATUS_RUNNING));
  struct fctr *k = fake_by_cname (&x->fake, "app");
  assert_non_null (k);
  cleanup_free char *env = NULL;
  {
    struct sbuf b = { 0 };
    for (size_t i = 0; k->env[i]; i++)
      sbuf_printf (&b, "%s|", k->env[i]);
    env = sbuf_steal (&b);
  }
  assert_non_null (strstr (env, "|DB=db-secret-value|"));
  assert_null (strstr (env, "DB=plain"));
  assert_non_null (strstr (env, "MISSING=|"));
  assert_true (strncmp (env, "A=1|", 4) == 0);
  json_t *body = json_loads (k->body, 0, NULL);
  json_t *lc = json_object_get (json_object_get (json_object_get (body, "HostConfig"), "LogConfig"), "Config");
  assert_string_equal (json_string_value (json_object_get (lc, "fluentd-token")), "tok-secret-value");
  assert_string_equal (json_string_value (json_object_get (lc, "tag")), "x");
  assert_null (json_object_get (lc, "empty-opt")); /* empty values are not log options */
  json_decref (body);
  /* never in the checkpoint */
  for (int i = 0; i < 200; i++)
    run_turns (x, 1);
  char *text = NULL;
  size_t len;
  agent_error_t err = NULL;
  cleanup_free char *path = xasprintf ("%s/%s", x->dir, STATE_FILE_NAME);
  assert_int_equal (util_read_file (path, &text, &len, &err), 0);
  assert_null (strstr (text, "db-secret-value"));
  assert_null (strstr (text, "tok-secret-value"));
  assert_non_null (strstr (text, "arn:aws:secretsmanager:r1:1:secret:tok"));
  free (text);
  /* held as log secrets */
  char *line = log_redact (xstrdup ("v=db-secret-value"));
  assert_null (strstr (line, "db-secret-value"));
  free (line);
  /* dropped with the task at cleanup */
  add (x, "{\"arn\":\"arn:sec1\",\"desiredStatus\":\"STOPPED\"}");
  assert_true (spin_task (x, "arn:sec1", TASK_STATUS_STOPPED));
  secrets_teardown (x);
}

/* A failed fetch stops the task with the reason; the container that needs
   the secrets is never created and reports STOPPED without a reason. */
static void
test_secrets_failure (void **st)
{
  struct fx *x = *st;
  struct fsec s = { 0 };
  secrets_fixture (x, &s, "arn:sec2");
  engine_up (x);
  add (x, SECRET_TASK ("arn:sec2", EXEC_CREDS));
  run_turns (x, 200);
  assert_int_equal (s.n, 2);
  fsec_answer (&s, 0, NULL, "fetching secret data from SSM Parameter Store in r1: invalid parameters: /none");
  assert_true (spin_task (x, "arn:sec2", TASK_STATUS_STOPPED));
  const struct task *t = task_of (x, "arn:sec2");
  assert_string_equal (t->reason,
                       "Fetching secret data from SSM Parameter Store in r1: invalid parameters: /none");
  assert_null (t->containers[0].reason);
  assert_int_equal (t->containers[0].known_status, TASK_STATUS_STOPPED);
  assert_null (t->containers[0].docker_id);
  assert_null (fake_by_cname (&x->fake, "app"));
  /* the other fetch may still answer: nothing happens */
  fsec_answer (&s, 1, NULL, "secret x: AccessDeniedException: no: AccessDeniedException: no");
  run_turns (x, 50);
  assert_string_equal (task_of (x, "arn:sec2")->reason,
                       "Fetching secret data from SSM Parameter Store in r1: invalid parameters: /none");
  bool seen = false;
  for (size_t i = 0; i < state_change_count (x->state); i++)
    {
      const struct state_change *c = state_change_peek (x->state, i);
      if (c->kind == STATE_CHANGE_CONTAINER && strcmp (c->container_name, "app") == 0)
        assert_null (c->reason);
      if (c->kind == STATE_CHANGE_TASK && strcmp (c->status, "STOPPED") == 0)
        {
          seen = true;
          assert_string_equal (c->reason,
                               "Fetching secret data from SSM Parameter Store in r1: invalid parameters: /none");
        }
    }
  assert_true (seen);
  secrets_teardown (x);
}

/* Without execution-role credentials the task stops at once. */
static void
test_secrets_no_execution_role (void **st)
{
  struct fx *x = *st;
  struct fsec s = { 0 };
  secrets_fixture (x, &s, NULL);
  engine_up (x);
  add (x, SECRET_TASK ("arn:sec3", ""));
  assert_true (spin_task (x, "arn:sec3", TASK_STATUS_STOPPED));
  assert_int_equal (s.n, 0);
  assert_string_equal (task_of (x, "arn:sec3")->reason,
                       "Ssm secret resource: unable to find execution role credentials");
  assert_null (fake_by_cname (&x->fake, "app"));
  secrets_teardown (x);
}

/* After an agent restart, a task not yet CREATED fetches again (values are
   never saved); a restored task whose credentials ACS has not re-sent waits
   for them. */
static void
test_secrets_refetched_after_restart (void **st)
{
  struct fx *x = *st;
  struct fsec s = { 0 };
  secrets_fixture (x, &s, "arn:sec4");
  engine_up (x);
  add (x, SECRET_TASK ("arn:sec4", EXEC_CREDS));
  run_turns (x, 200);
  assert_int_equal (s.n, 2);
  fsec_answer (&s, 0, (const char *const[]){ "/db_r1", "db-secret-value", NULL }, NULL);
  cleanup_free char *path = xasprintf ("%s/%s", x->dir, STATE_FILE_NAME);
  bool saved = false;
  for (int i = 0; i < 5000 && !saved; i++)
    {
      char *text = NULL;
      size_t len;
      agent_error_t err = NULL;
      saved = util_read_file (path, &text, &len, &err) == 0 && strstr (text, "arn:sec4");
      if (saved)
        assert_null (strstr (text, "db-secret-value"));
      free (text);
      error_free (&err);
      uv_run (&x->loop, UV_RUN_ONCE);
    }
  assert_true (saved);
  teardown_engine (x); /* the agent stops: the open fetch is cancelled */
  assert_true (s.f[1].cancelled);
  /* restarted: the credentials are expected only, then arrive */
  task_creds_store_free (x->creds);
  x->creds = task_creds_store_new ();
  task_creds_store_expect (x->creds, "arn:sec4", TASK_CREDS_EXECUTION_ROLE, "exec-1");
  state_up (x);
  engine_up (x);
  run_turns (x, 200);
  assert_int_equal (s.n, 2);
  const struct task *t = task_of (x, "arn:sec4");
  assert_int_equal (t->secret_res[TASK_SECRET_SSM].status, TASK_RES_PENDING);
  assert_int_equal (t->secret_res[TASK_SECRET_SSM].n_values, 0);
  assert_int_equal (t->containers[0].known_status < TASK_STATUS_CREATED, true);
  struct task_role_credentials *c = xcalloc (1, sizeof *c);
  c->credentials_id = xstrdup ("exec-1");
  c->access_key_id = xstrdup ("AKIDEXEC2");
  c->secret_access_key = xstrdup ("exec-secret-key2");
  agent_error_t err = NULL;
  assert_int_equal (task_creds_store_put (x->creds, "arn:sec4", TASK_CREDS_EXECUTION_ROLE, c, &err), 0);
  for (int i = 0; i < 5000 && s.n < 4; i++)
    uv_run (&x->loop, UV_RUN_ONCE);
  assert_int_equal (s.n, 4);
  assert_string_equal (s.f[2].akid, "AKIDEXEC2");
  fsec_answer (&s, 2, (const char *const[]){ "/db_r1", "db-secret-value", NULL }, NULL);
  fsec_answer (&s, 3, (const char *const[]){ "arn:aws:secretsmanager:r1:1:secret:tok_r1", "tok", NULL }, NULL);
  assert_true (spin_task (x, "arn:sec4", TASK_STATUS_RUNNING));
  add (x, "{\"arn\":\"arn:sec4\",\"desiredStatus\":\"STOPPED\"}");
  assert_true (spin_task (x, "arn:sec4", TASK_STATUS_STOPPED));
  secrets_teardown (x);
}

int
main (void)
{
  log_set_level (getenv ("TEST_DEBUG") ? LOG_DEBUG : LOG_WARN);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_run_to_completion, setup, teardown),
    cmocka_unit_test_setup_teardown (test_duplicate_and_stop, setup, teardown),
    cmocka_unit_test_setup_teardown (test_pending_and_fields, setup, teardown),
    cmocka_unit_test_setup_teardown (test_pull_failures, setup, teardown),
    cmocka_unit_test_setup_teardown (test_create_and_start_failures, setup, teardown),
    cmocka_unit_test_setup_teardown (test_steady_inspects_bounded, setup, teardown),
    cmocka_unit_test_setup_teardown (test_dependency_failures, setup, teardown),
    cmocka_unit_test_setup_teardown (test_links_volumes_essential_cleanup, setup, teardown),
    cmocka_unit_test_setup_teardown (test_reconcile_after_crash, setup, teardown),
    cmocka_unit_test_setup_teardown (test_conflict_adopt, setup, teardown),
    cmocka_unit_test_setup_teardown (test_pull_shared, setup, teardown),
    cmocka_unit_test_setup_teardown (test_launch_limit, setup, teardown),
    cmocka_unit_test_setup_teardown (test_image_cleanup, setup, teardown),
    cmocka_unit_test_setup_teardown (test_launch_unlimited, setup, teardown),
    cmocka_unit_test_setup_teardown (test_precache_launch_limit, setup, teardown),
    cmocka_unit_test_setup_teardown (test_pull_behaviour_always, setup, teardown),
    cmocka_unit_test_setup_teardown (test_pull_behaviour_once, setup, teardown),
    cmocka_unit_test_setup_teardown (test_pull_shared_timestamps, setup, teardown),
    cmocka_unit_test_setup_teardown (test_pull_once_no_timestamps, setup, teardown),
    cmocka_unit_test_setup_teardown (test_pull_behaviour_prefer_cached, setup, teardown),
    cmocka_unit_test_setup_teardown (test_sequence_hold, setup, teardown),
    cmocka_unit_test_setup_teardown (test_restop_once, setup, teardown),
    cmocka_unit_test_setup_teardown (test_find_by_docker_id, setup, teardown),
    cmocka_unit_test_setup_teardown (test_add_before_start, setup, teardown),
    cmocka_unit_test_setup_teardown (test_resync_after_reconnect, setup, teardown),
    cmocka_unit_test_setup_teardown (test_upstream_v1_checkpoint_in_engine, setup, teardown),
    cmocka_unit_test_setup_teardown (test_free_at_any_point, setup, teardown),
    cmocka_unit_test_setup_teardown (test_stop_retried_while_unreachable, setup, teardown),
    cmocka_unit_test_setup_teardown (test_cleanup_retried_while_unreachable, setup, teardown),
    cmocka_unit_test_setup_teardown (test_reconcile_retried_after_list_failure, setup, teardown),
    cmocka_unit_test_setup_teardown (test_save_failure_backs_off, setup, teardown),
    cmocka_unit_test_setup_teardown (test_restart_in_place, setup, teardown),
    cmocka_unit_test_setup_teardown (test_secrets_injected, setup, teardown),
    cmocka_unit_test_setup_teardown (test_secrets_failure, setup, teardown),
    cmocka_unit_test_setup_teardown (test_secrets_no_execution_role, setup, teardown),
    cmocka_unit_test_setup_teardown (test_secrets_refetched_after_restart, setup, teardown),
    cmocka_unit_test_setup_teardown (test_restart_period_and_failure, setup, teardown),
    cmocka_unit_test_setup_teardown (test_restart_redo_after_crash, setup, teardown),
    cmocka_unit_test_setup_teardown (test_pull_auth_no_credentials, setup, teardown),
    cmocka_unit_test_setup_teardown (test_pull_auth_fetch, setup, teardown),
    cmocka_unit_test_setup_teardown (test_start_uses_payload_api_version, setup, teardown),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
