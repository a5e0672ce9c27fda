/* systemd/client.c - libdbus-1 on the uv loop, and the systemd Manager
 * calls' lifecycle (see systemd.h; the messages are built in calls.c).
 *
 * libdbus asks for watches (one per fd and direction: a read and a write
 * watch share the fd, while libuv allows one uv_poll per fd, so each fd has
 * one poll whose events are the union of its enabled watches) and timeouts
 * (uv_timer); dispatching runs from a uv_idle, never from inside a libdbus
 * callback.  Every handle lives in its own allocation, freed by its close
 * callback, so the client can go at once. */
#include "systemd/systemd.h"
#include "systemd/systemd_int.h"
#include "core/util.h"
#include "core/xmalloc.h"
#include "log/log.h"
#include <dbus/dbus.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#define MOD "systemd"

struct fd_poll
{
  uv_poll_t poll;
  systemd_client_t *c;
  int fd;
  DBusWatch *w[2]; /* the watches on this fd */
  int events;      /* uv events polled */
  LIST_ENTRY (fd_poll) link;
};

LIST_HEAD (fd_list, fd_poll);

struct systemd_client
{
  uv_loop_t *loop;
  char *address; /* NULL = default */
  DBusConnection *conn;
  bool bus;      /* a message bus (not systemd's private socket) */
  DBusPendingCall *hello; /* the Hello in flight, NULL = none */
  uv_idle_t *idle;
  struct fd_list fds;
  struct call_list calls;
};

/* ---- loop glue ------------------------------------------------------------------ */

/* Every handle here is the first member of its allocation. */
static void
handle_free_cb (uv_handle_t *h)
{
  free (h);
}

static void
idle_cb (uv_idle_t *h)
{
  systemd_client_t *c = h->data;
  uv_idle_stop (h);
  if (!c->conn)
    return;
  DBusConnection *conn = dbus_connection_ref (c->conn);
  while (dbus_connection_dispatch (conn) == DBUS_DISPATCH_DATA_REMAINS)
    ;
  dbus_connection_unref (conn);
}

static void
want_dispatch (systemd_client_t *c)
{
  if (c->conn && dbus_connection_get_dispatch_status (c->conn) == DBUS_DISPATCH_DATA_REMAINS)
    uv_idle_start (c->idle, idle_cb);
}

static void
dispatch_status_fn (DBusConnection *conn, DBusDispatchStatus st, void *data)
{
  (void) conn;
  systemd_client_t *c = data;
  if (st == DBUS_DISPATCH_DATA_REMAINS)
    uv_idle_start (c->idle, idle_cb);
}

static void poll_cb (uv_poll_t *h, int status, int events);

static void
fd_poll_update (struct fd_poll *p)
{
  int ev = 0;
  for (int i = 0; i < 2; i++)
    if (p->w[i] && dbus_watch_get_enabled (p->w[i]))
      {
        unsigned fl = dbus_watch_get_flags (p->w[i]);
        ev |= (fl & DBUS_WATCH_READABLE ? UV_READABLE : 0) | (fl & DBUS_WATCH_WRITABLE ? UV_WRITABLE : 0);
      }
  if (ev == p->events)
    return;
  p->events = ev;
  if (ev)
    uv_poll_start (&p->poll, ev, poll_cb);
  else
    uv_poll_stop (&p->poll);
}

/* The flags to hand watch w for what the poll saw (0 = nothing for it). */
static unsigned
watch_flags (DBusWatch *w, int status, int events)
{
  if (!w || !dbus_watch_get_enabled (w))
    return 0;
  if (status < 0)
    return DBUS_WATCH_ERROR | DBUS_WATCH_HANGUP;
  unsigned wf = dbus_watch_get_flags (w);
  return ((wf & DBUS_WATCH_READABLE) && (events & (UV_READABLE | UV_DISCONNECT)) ? DBUS_WATCH_READABLE : 0)
         | ((wf & DBUS_WATCH_WRITABLE) && (events & UV_WRITABLE) ? DBUS_WATCH_WRITABLE : 0);
}

static void
poll_cb (uv_poll_t *h, int status, int events)
{
  struct fd_poll *p = h->data;
  if (!p)
    return;
  systemd_client_t *c = p->c;
  /* Both watches of the fd, each once; handling one may remove the other,
     or close this poll (its memory stays until the close callback). */
  DBusWatch *w[2] = { p->w[0], p->w[1] };
  for (int i = 0; i < 2; i++)
    {
      if (!p->poll.data || p->w[i] != w[i])
        continue;
      unsigned fl = watch_flags (w[i], status, events);
      if (fl)
        dbus_watch_handle (w[i], fl);
    }
  want_dispatch (c);
}

static struct fd_poll *
fd_poll_find (systemd_client_t *c, int fd)
{
  struct fd_poll *p;
  LIST_FOREACH (p, &c->fds, link)
  if (p->fd == fd)
    return p;
  return NULL;
}

static dbus_bool_t
add_watch_fn (DBusWatch *w, void *data)
{
  systemd_client_t *c = data;
  int fd = dbus_watch_get_unix_fd (w);
  struct fd_poll *p = fd_poll_find (c, fd);
  if (!p)
    {
      p = xcalloc (1, sizeof *p);
      if (uv_poll_init (c->loop, &p->poll, fd) < 0)
        {
          free (p);
          return FALSE;
        }
      p->poll.data = p;
      p->c = c;
      p->fd = fd;
      LIST_INSERT_HEAD (&c->fds, p, link);
    }
  int slot = p->w[0] ? 1 : 0;
  if (p->w[slot])
    return FALSE;
  p->w[slot] = w;
  dbus_watch_set_data (w, p, NULL);
  fd_poll_update (p);
  return TRUE;
}

static void
fd_poll_close (struct fd_poll *p)
{
  LIST_REMOVE (p, link);
  p->poll.data = NULL;
  uv_close ((uv_handle_t *) &p->poll, handle_free_cb);
}

static void
remove_watch_fn (DBusWatch *w, void *data)
{
  (void) data;
  struct fd_poll *p = dbus_watch_get_data (w);
  if (!p)
    return;
  dbus_watch_set_data (w, NULL, NULL);
  for (int i = 0; i < 2; i++)
    if (p->w[i] == w)
      p->w[i] = NULL;
  if (!p->w[0] && !p->w[1])
    fd_poll_close (p);
  else
    fd_poll_update (p);
}

static void
toggle_watch_fn (DBusWatch *w, void *data)
{
  (void) data;
  struct fd_poll *p = dbus_watch_get_data (w);
  if (p)
    fd_poll_update (p);
}

static void
timeout_cb (uv_timer_t *h)
{
  DBusTimeout *t = h->data;
  if (t)
    dbus_timeout_handle (t);
}

static void
timer_sync (DBusTimeout *t, uv_timer_t *tm)
{
  uv_timer_stop (tm);
  if (dbus_timeout_get_enabled (t))
    {
      uint64_t ms = (uint64_t) dbus_timeout_get_interval (t);
      uv_timer_start (tm, timeout_cb, ms, ms);
    }
}

static dbus_bool_t
add_timeout_fn (DBusTimeout *t, void *data)
{
  systemd_client_t *c = data;
  uv_timer_t *tm = xcalloc (1, sizeof *tm);
  uv_timer_init (c->loop, tm);
  tm->data = t;
  dbus_timeout_set_data (t, tm, NULL);
  timer_sync (t, tm);
  return TRUE;
}

static void
remove_timeout_fn (DBusTimeout *t, void *data)
{
  (void) data;
  uv_timer_t *tm = dbus_timeout_get_data (t);
  if (!tm)
    return;
  dbus_timeout_set_data (t, NULL, NULL);
  tm->data = NULL;
  uv_close ((uv_handle_t *) tm, handle_free_cb);
}

static void
toggle_timeout_fn (DBusTimeout *t, void *data)
{
  (void) data;
  uv_timer_t *tm = dbus_timeout_get_data (t);
  if (tm)
    timer_sync (t, tm);
}

/* ---- calls ------------------------------------------------------------------------ */

static void
call_free (struct systemd_call *k)
{
  if (k->pending)
    {
      dbus_pending_call_cancel (k->pending);
      dbus_pending_call_unref (k->pending);
    }
  if (k->timer)
    {
      k->timer->data = NULL;
      uv_close ((uv_handle_t *) k->timer, handle_free_cb);
    }
  if (k->msg)
    dbus_message_unref (k->msg);
  free (k->unit);
  free (k->job);
  free (k->err);
  free (k);
}

/* The call is over: it leaves the list, its callback runs, it is freed. */
static void
call_end (struct systemd_call *k, int version, const char *err_name, const char *err_msg)
{
  TAILQ_REMOVE (&k->c->calls, k, link);
  if (k->kind == CALL_VERSION)
    k->vcb (version, err_name, err_msg, k->data);
  else
    k->cb (err_name, err_msg, k->data);
  call_free (k);
}

void
systemd_call_cancel (struct systemd_call *k)
{
  if (!k)
    return;
  TAILQ_REMOVE (&k->c->calls, k, link);
  call_free (k);
}

static void
fail_later_cb (uv_timer_t *h)
{
  struct systemd_call *k = h->data;
  call_end (k, -1, k->err_name, k->err ? k->err : "");
}

/* k fails on the next loop turn (never from inside the caller's call);
   msg is taken. */
static void
call_fail_later (struct systemd_call *k, const char *name, char *msg)
{
  if (k->pending)
    {
      dbus_pending_call_cancel (k->pending);
      dbus_pending_call_unref (k->pending);
      k->pending = NULL;
    }
  free (k->err);
  k->err = msg;
  k->err_name = name;
  if (!k->timer)
    {
      k->timer = xcalloc (1, sizeof *k->timer);
      uv_timer_init (k->c->loop, k->timer);
      k->timer->data = k;
    }
  uv_timer_start (k->timer, fail_later_cb, 0, 0);
}

/* Close and release the connection (no call of ours left on it). */
static void
close_connection (systemd_client_t *c)
{
  if (c->hello)
    {
      dbus_pending_call_cancel (c->hello);
      dbus_pending_call_unref (c->hello);
      c->hello = NULL;
    }
  if (c->conn)
    {
      DBusConnection *conn = c->conn;
      c->conn = NULL;
      dbus_connection_close (conn);
      dbus_connection_unref (conn);
    }
}

/* The connection is gone: every call fails (a callback may start a new
   call, on a new connection). */
static void call_transmit (systemd_client_t *c, struct systemd_call *k);

static void
drop_connection (systemd_client_t *c, const char *why)
{
  close_connection (c);
  /* A call not answered yet is sent once more on a new connection (a peer
     that restarted, as go-systemd's connection per call would see it);
     one waiting for its job, or sent again already, fails.  Both on the
     next loop turn at the earliest. */
  struct systemd_call *k;
  TAILQ_FOREACH (k, &c->calls, link)
  {
    if (k->err || (!k->pending && !k->job))
      continue; /* failing already, or being sent now */
    if (k->pending && k->msg && !k->resent)
      {
        dbus_pending_call_cancel (k->pending);
        dbus_pending_call_unref (k->pending);
        k->pending = NULL;
        k->resent = true;
        call_transmit (c, k);
      }
    else
      call_fail_later (k, SYSTEMD_ERR_DISCONNECTED, xstrdup (why));
  }
}

static void
job_timer_cb (uv_timer_t *h)
{
  struct systemd_call *k = h->data;
  cleanup_free char *msg
      = xasprintf ("timed out while waiting for %s(%s) completion signal from dbus after %ds",
                   k->kind == CALL_START ? "StartTransientUnit" : "StopUnit", k->unit,
                   SYSTEMD_JOB_TIMEOUT_MS / 1000);
  call_end (k, -1, SYSTEMD_ERR_JOB_TIMEOUT, msg);
}

static void
job_removed (systemd_client_t *c, DBusMessage *m)
{
  dbus_uint32_t id;
  const char *job, *unit, *result;
  if (!dbus_message_get_args (m, NULL, DBUS_TYPE_UINT32, &id, DBUS_TYPE_OBJECT_PATH, &job, DBUS_TYPE_STRING,
                              &unit, DBUS_TYPE_STRING, &result, DBUS_TYPE_INVALID))
    return;
  struct systemd_call *k;
  TAILQ_FOREACH (k, &c->calls, link)
  if (k->job && strcmp (k->job, job) == 0)
    {
      if (k->kind == CALL_START && strcmp (result, "done") != 0)
        {
          cleanup_free char *msg = xasprintf ("error creating systemd unit `%s`: got `%s`", k->unit, result);
          call_end (k, -1, SYSTEMD_ERR_JOB, msg);
        }
      else
        call_end (k, -1, NULL, NULL);
      return;
    }
}

static DBusHandlerResult
filter_fn (DBusConnection *conn, DBusMessage *m, void *data)
{
  (void) conn;
  systemd_client_t *c = data;
  if (dbus_message_is_signal (m, DBUS_INTERFACE_LOCAL, "Disconnected"))
    {
      log_warn (MOD, "D-Bus connection to systemd lost");
      drop_connection (c, "the D-Bus connection was closed");
      return DBUS_HANDLER_RESULT_HANDLED;
    }
  if (dbus_message_is_signal (m, SD_MANAGER, "JobRemoved"))
    job_removed (c, m);
  return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
}

static void
hello_notify (DBusPendingCall *pc, void *data)
{
  systemd_client_t *c = data;
  DBusMessage *r = dbus_pending_call_steal_reply (pc);
  dbus_pending_call_unref (pc);
  c->hello = NULL;
  const char *name = NULL;
  if (r && c->conn && dbus_message_get_type (r) == DBUS_MESSAGE_TYPE_METHOD_RETURN
      && dbus_message_get_args (r, NULL, DBUS_TYPE_STRING, &name, DBUS_TYPE_INVALID))
    dbus_bus_set_unique_name (c->conn, name);
  if (r)
    dbus_message_unref (r);
}

static int
open_one (systemd_client_t *c, const char *address, bool bus, char **errmsg)
{
  DBusError de;
  dbus_error_init (&de);
  DBusConnection *conn = dbus_connection_open_private (address, &de);
  if (!conn)
    {
      *errmsg = xasprintf ("%s: %s", address, de.message ? de.message : "cannot connect");
      dbus_error_free (&de);
      return -1;
    }
  c->conn = conn;
  c->bus = bus;
  dbus_connection_set_exit_on_disconnect (conn, FALSE);
  dbus_connection_set_watch_functions (conn, add_watch_fn, remove_watch_fn, toggle_watch_fn, c, NULL);
  dbus_connection_set_timeout_functions (conn, add_timeout_fn, remove_timeout_fn, toggle_timeout_fn, c, NULL);
  dbus_connection_set_dispatch_status_function (conn, dispatch_status_fn, c, NULL);
  dbus_connection_add_filter (conn, filter_fn, c, NULL);
  if (bus)
    {
      DBusMessage *hello = dbus_message_new_method_call (DBUS_SERVICE_DBUS, DBUS_PATH_DBUS, DBUS_INTERFACE_DBUS,
                                                         "Hello");
      if (dbus_connection_send_with_reply (conn, hello, &c->hello, DBUS_TIMEOUT_USE_DEFAULT) && c->hello)
        dbus_pending_call_set_notify (c->hello, hello_notify, c, NULL);
      dbus_message_unref (hello);
      const char *rule = JOB_MATCH;
      DBusMessage *add = dbus_message_new_method_call (DBUS_SERVICE_DBUS, DBUS_PATH_DBUS, DBUS_INTERFACE_DBUS,
                                                       "AddMatch");
      dbus_message_append_args (add, DBUS_TYPE_STRING, &rule, DBUS_TYPE_INVALID);
      dbus_connection_send (conn, add, NULL);
      dbus_message_unref (add);
    }
  log_info (MOD, "connected to %s (%s)", address, bus ? "system bus" : "systemd's private socket");
  return 0;
}

static int
ensure_connected (systemd_client_t *c, char **errmsg)
{
  if (c->conn && dbus_connection_get_is_connected (c->conn))
    return 0;
  if (c->conn)
    { /* closed before its Disconnected was dispatched: the calls on it fail */
      drop_connection (c, "the D-Bus connection was closed");
      if (c->conn && dbus_connection_get_is_connected (c->conn))
        return 0; /* made again for a call sent once more */
    }
  if (c->address)
    return open_one (c, c->address, true, errmsg);
  const char *env = getenv ("DBUS_SYSTEM_BUS_ADDRESS");
  const char *sys = env && *env ? env : SYSTEMD_DEFAULT_SYSTEM_BUS;
  if (open_one (c, sys, true, errmsg) == 0)
    return 0;
  if (geteuid () != 0)
    return -1;
  char *first = *errmsg;
  *errmsg = NULL;
  if (open_one (c, SYSTEMD_PRIVATE_SOCKET, false, errmsg) == 0)
    {
      free (first);
      return 0;
    }
  char *both = xasprintf ("%s; %s", first, *errmsg);
  free (first);
  free (*errmsg);
  *errmsg = both;
  return -1;
}

static void reply_notify (DBusPendingCall *pc, void *data);

/* Send m (consumed) for call k; a failure is reported on the next loop turn. */
/* Send k->msg on the connection (made if needed); a failure is reported
   on the next loop turn. */
static void
call_transmit (systemd_client_t *c, struct systemd_call *k)
{
  char *errmsg = NULL;
  int rc = ensure_connected (c, &errmsg);
  if (rc < 0 || !dbus_connection_send_with_reply (c->conn, k->msg, &k->pending, -1) || !k->pending)
    call_fail_later (k, rc < 0 ? SYSTEMD_ERR_CONNECT : SYSTEMD_ERR_DISCONNECTED,
                     errmsg ? errmsg : xstrdup ("the D-Bus connection is closed"));
  else
    {
      free (errmsg);
      dbus_pending_call_set_notify (k->pending, reply_notify, k, NULL);
    }
  /* a send may find the peer gone (a write fails): libdbus then queues its
     Disconnected without telling the dispatch status function */
  want_dispatch (c);
}

struct systemd_call *
systemd_call_send (systemd_client_t *c, struct systemd_call *k, DBusMessage *m)
{
  k->c = c;
  k->msg = m;
  TAILQ_INSERT_TAIL (&c->calls, k, link);
  call_transmit (c, k);
  return k;
}

static void
reply_notify (DBusPendingCall *pc, void *data)
{
  struct systemd_call *k = data;
  DBusMessage *r = dbus_pending_call_steal_reply (pc);
  dbus_pending_call_unref (pc);
  k->pending = NULL;
  if (k->msg)
    {
      dbus_message_unref (k->msg);
      k->msg = NULL;
    }
  if (!r)
    {
      call_end (k, -1, SYSTEMD_ERR_REPLY, "no reply");
      return;
    }
  if (dbus_message_get_type (r) == DBUS_MESSAGE_TYPE_ERROR)
    {
      const char *name = dbus_message_get_error_name (r), *text = NULL;
      dbus_message_get_args (r, NULL, DBUS_TYPE_STRING, &text, DBUS_TYPE_INVALID);
      if (k->kind == CALL_START && name && strcmp (name, "org.freedesktop.systemd1.UnitExists") == 0)
        call_end (k, -1, NULL, NULL); /* asked without a pid: the unit is there */
      else
        call_end (k, -1, name ? name : SYSTEMD_ERR_REPLY, text ? text : "");
      dbus_message_unref (r);
      return;
    }
  const char *job = NULL;
  switch (k->kind)
    {
    case CALL_START:
    case CALL_STOP:
      if (!dbus_message_get_args (r, NULL, DBUS_TYPE_OBJECT_PATH, &job, DBUS_TYPE_INVALID))
        call_end (k, -1, SYSTEMD_ERR_REPLY, "the reply carries no job");
      else
        {
          k->job = xstrdup (job);
          k->timer = xcalloc (1, sizeof *k->timer);
          uv_timer_init (k->c->loop, k->timer);
          k->timer->data = k;
          uv_timer_start (k->timer, job_timer_cb, SYSTEMD_JOB_TIMEOUT_MS, 0);
        }
      break;
    case CALL_RESET:
      call_end (k, -1, NULL, NULL);
      break;
    case CALL_VERSION:
      {
        DBusMessageIter it, v;
        const char *s = NULL;
        if (dbus_message_iter_init (r, &it) && dbus_message_iter_get_arg_type (&it) == DBUS_TYPE_VARIANT)
          {
            dbus_message_iter_recurse (&it, &v);
            if (dbus_message_iter_get_arg_type (&v) == DBUS_TYPE_STRING)
              dbus_message_iter_get_basic (&v, &s);
          }
        int ver = s ? systemd_version_parse (s) : -1;
        if (ver < 0)
          call_end (k, -1, SYSTEMD_ERR_REPLY, "can't parse version");
        else
          call_end (k, ver, NULL, NULL);
        break;
      }
    }
  dbus_message_unref (r);
}

/* ---- the client ------------------------------------------------------------------------ */

systemd_client_t *
systemd_client_new (uv_loop_t *loop, const char *address)
{
  systemd_client_t *c = xcalloc (1, sizeof *c);
  c->loop = loop;
  c->address = address ? xstrdup (address) : NULL;
  c->idle = xcalloc (1, sizeof *c->idle);
  uv_idle_init (loop, c->idle);
  c->idle->data = c;
  LIST_INIT (&c->fds);
  TAILQ_INIT (&c->calls);
  return c;
}

void
systemd_client_free (systemd_client_t *c)
{
  if (!c)
    return;
  while (!TAILQ_EMPTY (&c->calls))
    systemd_call_cancel (TAILQ_FIRST (&c->calls));
  close_connection (c);
  /* closing removed the watches already, unless libdbus kept some */
  while (!LIST_EMPTY (&c->fds))
    {
      struct fd_poll *p = LIST_FIRST (&c->fds);
      for (int i = 0; i < 2; i++)
        if (p->w[i])
          dbus_watch_set_data (p->w[i], NULL, NULL);
      fd_poll_close (p);
    }
  c->idle->data = NULL;
  uv_close ((uv_handle_t *) c->idle, handle_free_cb);
  free (c->address);
  free (c);
}
