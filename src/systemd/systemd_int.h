/* systemd/systemd_int.h - what client.c and calls.c share (not for other
 * modules): the Manager's names and a call in flight.
 *
 *   client.c   libdbus-1 on the uv loop, the connection, a call's life
 *              (sent, answered, its job waited for, failed, sent again)
 *   calls.c    the messages of the Manager calls, systemd_version_parse
 */
#ifndef SYSTEMD_SYSTEMD_INT_H
#define SYSTEMD_SYSTEMD_INT_H

#include <dbus/dbus.h>
#include <stdbool.h>
#include <sys/queue.h>
#include <uv.h>
#include "systemd/systemd.h"

#define SD_DEST "org.freedesktop.systemd1"
#define SD_PATH "/org/freedesktop/systemd1"
#define SD_MANAGER "org.freedesktop.systemd1.Manager"
#define JOB_MATCH "type='signal',interface='org.freedesktop.systemd1.Manager',member='JobRemoved'"

enum call_kind
{
  CALL_START,
  CALL_STOP,
  CALL_RESET,
  CALL_VERSION,
};

struct systemd_call
{
  systemd_client_t *c;
  enum call_kind kind;
  char *unit;
  DBusPendingCall *pending; /* the method call in flight, NULL after its reply */
  char *job;                /* the job waited for (JobRemoved), NULL = none */
  uv_timer_t *timer;        /* job wait limit, or the failure reported on the next turn */
  const char *err_name;     /* that failure: its name (static) and text */
  char *err;
  DBusMessage *msg;         /* the call, kept until its reply: sent again once on a new connection */
  bool resent;
  systemd_done_cb cb;
  systemd_version_cb vcb;
  void *data;
  TAILQ_ENTRY (systemd_call) link;
};

TAILQ_HEAD (call_list, systemd_call);

/* Send m (taken) for k (its kind, unit, callbacks set) on c: listed, sent
   (the connection made if needed); a failure is reported on the next loop
   turn. */
struct systemd_call *systemd_call_send (systemd_client_t *c, struct systemd_call *k, DBusMessage *m);

#endif
