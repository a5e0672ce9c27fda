/* test_engine_fake_docker.h - the fake Docker of the engine unit tests
 * (test_engine_exec*.c): struct engine_docker_ops with every callback kept
 * with its real type, answering on the loop's next turns; its containers,
 * images, volumes and events, and a log of the calls made. Header only. */
#ifndef TEST_ENGINE_FAKE_DOCKER_H
#define TEST_ENGINE_FAKE_DOCKER_H

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
  int ev_exit;     /* F_EVENT: the die's exitCode, -1 = none */
  int64_t ev_time; /* F_EVENT: timeNano, 0 = none */
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
  const char *image_env; /* one Config.Env entry of every image, NULL = none */
  int n_img;             /* image inspects answered */
};

static inline void
flog (struct fake *f, const char *what, const char *arg)
{
  size_t n = strlen (f->log);
  snprintf (f->log + n, sizeof f->log - n, "%s:%s ", what, arg ? arg : "");
}

static inline struct fctr *
fctr_find (struct fake *f, const char *id_or_name)
{
  for (size_t i = 0; i < f->n_ctrs; i++)
    if (f->ctrs[i].state && (strcmp (f->ctrs[i].id, id_or_name) == 0 || strcmp (f->ctrs[i].name, id_or_name) == 0))
      return &f->ctrs[i];
  return NULL;
}

static inline bool
has_image (struct fake *f, const char *img)
{
  for (size_t i = 0; i < f->n_images; i++)
    if (strcmp (f->images[i], img) == 0)
      return true;
  return false;
}

static inline void fake_tick (uv_timer_t *t);

static inline void *
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

static inline void
emit_event (struct fake *f, const char *id, enum docker_event_action kind)
{
  if (f->events_on)
    {
      struct fcall *c = enqueue (f, F_EVENT, (struct fcb){ 0 }, NULL, id);
      c->grace = kind;
      c->ev_exit = -1;
    }
}

/* An event as the stream replays it after a (re)connect: with its exit
   code and time; first: delivered before every call already queued. */
static inline void
emit_event_replayed (struct fake *f, const char *id, enum docker_event_action kind, int exit_code,
                     int64_t time_ns, bool first)
{
  assert_true (f->events_on);
  struct fcall *c = enqueue (f, F_EVENT, (struct fcb){ 0 }, NULL, id);
  c->grace = kind;
  c->ev_exit = exit_code;
  c->ev_time = time_ns;
  if (first && f->head != c)
    {
      struct fcall **p = &f->head;
      while (*p != c)
        p = &(*p)->next;
      *p = NULL; /* c was last */
      f->tail = p;
      c->next = f->head;
      f->head = c;
    }
}

static inline void
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

static inline char **
dupv (const char *const *v)
{
  return task_strv_dup ((char *const *) v);
}

static inline void
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
            char *env[] = { (char *) f->image_env };
            struct docker_image_info img = { .id = id, .size = 1000, .env = env,
                                             .n_env = f->image_env != NULL };
            f->n_img++;
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
                                         .action = "event", .type = "container", .exit_code = c->ev_exit,
                                         .time_ns = c->ev_time };
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

static inline void *
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

static inline void *
fake_inspect_image (void *ctx, const char *image, docker_image_cb cb, void *data)
{
  return enqueue (ctx, F_IMG, (struct fcb){ .image = cb }, data, image);
}

static inline void *
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

static inline void *
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

static inline void *
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

static inline void *
fake_inspect (void *ctx, const char *id, docker_inspect_cb cb, void *data)
{
  return enqueue (ctx, F_INSPECT, (struct fcb){ .inspect = cb }, data, id);
}

static inline void *
fake_remove (void *ctx, const char *id, docker_done_cb cb, void *data)
{
  struct fake *f = ctx;
  f->n_remove++;
  return enqueue (ctx, F_REMOVE, (struct fcb){ .done = cb }, data, id);
}

static inline void *
fake_list (void *ctx, const char *filter, docker_list_cb cb, void *data)
{
  return enqueue (ctx, F_LIST, (struct fcb){ .list = cb }, data, filter);
}

static inline void *
fake_vcreate (void *ctx, const char *name, const struct docker_label *l, size_t n, docker_volume_cb cb, void *data)
{
  struct fake *f = ctx;
  (void) l;
  (void) n;
  f->n_vcreate++;
  flog (f, "vcreate", name);
  return enqueue (ctx, F_VCREATE, (struct fcb){ .volume = cb }, data, name);
}

static inline void *
fake_vremove (void *ctx, const char *name, docker_done_cb cb, void *data)
{
  struct fake *f = ctx;
  f->n_vremove++;
  return enqueue (ctx, F_VREMOVE, (struct fcb){ .done = cb }, data, name);
}

static inline void
fake_cancel (void *ctx, void *h)
{
  (void) ctx;
  ((struct fcall *) h)->cancelled = true;
}

static inline void *
fake_events_start (void *ctx, const struct docker_events_opts *o)
{
  struct fake *f = ctx;
  f->ev_cb = o->on_event;
  f->ev_state_cb = o->on_state;
  f->ev_data = o->data;
  f->events_on = true;
  return f;
}

static inline void
fake_events_stop (void *ctx, void *s)
{
  struct fake *f = ctx;
  (void) s;
  f->events_on = false;
}

static inline void *
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
static inline void
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

static inline struct fctr *
fake_by_cname (struct fake *f, const char *cname)
{
  for (size_t i = 0; i < f->n_ctrs; i++)
    if (f->ctrs[i].cname && strcmp (f->ctrs[i].cname, cname) == 0)
      return &f->ctrs[i];
  return NULL;
}

#endif /* TEST_ENGINE_FAKE_DOCKER_H */
