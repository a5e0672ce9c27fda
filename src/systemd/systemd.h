/* systemd/systemd.h - the few calls of systemd's D-Bus API the agent makes
 * (org.freedesktop.systemd1.Manager on /org/freedesktop/systemd1), over
 * libdbus-1 on the agent's uv loop: never blocks but for the connect() of
 * a unix socket.
 *
 * Contract:
 *  - systemd_client_new() does no I/O: the connection is made by the first
 *    call and again by the first call after it dropped.  Address: the one
 *    given, else the system bus as upstream's library (go-systemd's dbus
 *    NewWithContext) reaches it: $DBUS_SYSTEM_BUS_ADDRESS, else
 *    unix:path=/var/run/dbus/system_bus_socket, and when that cannot be
 *    reached and the agent is root, systemd's private socket
 *    unix:path=/run/systemd/private (no bus there: no Hello, no AddMatch).
 *    On a bus the client says Hello and asks for the Manager's JobRemoved
 *    signals before its first call (messages keep their order).  When the
 *    connection drops (the bus or systemd restarted), a call not answered
 *    yet is sent once more on a new connection; one waiting for its job
 *    fails with SYSTEMD_ERR_DISCONNECTED.
 *  - Every call returns a handle (never NULL) and calls its callback exactly
 *    once, later on the loop, unless systemd_call_cancel(handle) came
 *    first.  err_name is NULL on success, else the D-Bus error name
 *    (org.freedesktop.systemd1.NoSuchUnit, ...) or one of SYSTEMD_ERR_*,
 *    with err_msg its text.
 *  - start_transient_unit / stop_unit call the method with mode "replace"
 *    and wait for the job's JobRemoved signal as go-systemd does: success
 *    when its result is "done" (stop: any result).  A start answered
 *    org.freedesktop.systemd1.UnitExists succeeds at once (the unit is
 *    there, as containerd's cgroups library treats a slice it asked for
 *    without a pid).  The job is waited for SYSTEMD_JOB_TIMEOUT_MS.
 *  - systemd_manager_version() reads the Manager's Version property: the
 *    leading number of "252.22-1~deb12u1" (value in the callback, -1 when
 *    unknown).
 *  - systemd_client_free() cancels every call (no callback) and closes the
 *    connection.
 */
#ifndef SYSTEMD_SYSTEMD_H
#define SYSTEMD_SYSTEMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define SYSTEMD_JOB_TIMEOUT_MS 30000
#define SYSTEMD_DEFAULT_SYSTEM_BUS "unix:path=/var/run/dbus/system_bus_socket"
#define SYSTEMD_PRIVATE_SOCKET "unix:path=/run/systemd/private"

/* Errors of the client itself (not D-Bus names). */
#define SYSTEMD_ERR_CONNECT "systemd.ConnectFailed"
#define SYSTEMD_ERR_DISCONNECTED "systemd.Disconnected"
#define SYSTEMD_ERR_JOB "systemd.JobFailed"
#define SYSTEMD_ERR_JOB_TIMEOUT "systemd.JobTimeout"
#define SYSTEMD_ERR_REPLY "systemd.BadReply"

typedef struct systemd_client systemd_client_t;
struct systemd_call;

/* One unit property, "(sv)" of StartTransientUnit. */
enum systemd_prop_type
{
  SYSTEMD_PROP_BOOL,     /* "b" */
  SYSTEMD_PROP_U64,      /* "t" */
  SYSTEMD_PROP_STRING,   /* "s" */
  SYSTEMD_PROP_STRINGS,  /* "as" */
};

#define SYSTEMD_PROP_MAX_STRINGS 4

struct systemd_prop
{
  const char *name;
  enum systemd_prop_type type;
  bool b;
  uint64_t u64;
  const char *s;
  const char *strings[SYSTEMD_PROP_MAX_STRINGS];
  size_t n_strings;
};

typedef void (*systemd_done_cb) (const char *err_name, const char *err_msg, void *data);
typedef void (*systemd_version_cb) (int version, const char *err_name, const char *err_msg, void *data);

/* address NULL = the default above (copied). */
systemd_client_t *systemd_client_new (uv_loop_t *loop, const char *address);
void systemd_client_free (systemd_client_t *c);

struct systemd_call *systemd_start_transient_unit (systemd_client_t *c, const char *name,
                                                   const struct systemd_prop *props, size_t n,
                                                   systemd_done_cb cb, void *data);
struct systemd_call *systemd_stop_unit (systemd_client_t *c, const char *name, systemd_done_cb cb, void *data);
/* ResetFailedUnit (no job): after a failed start, as the library does. */
struct systemd_call *systemd_reset_failed_unit (systemd_client_t *c, const char *name, systemd_done_cb cb,
                                                void *data);
struct systemd_call *systemd_manager_version (systemd_client_t *c, systemd_version_cb cb, void *data);
void systemd_call_cancel (struct systemd_call *call);

/* Pure: "v252.1" / "252.22-1~deb12u1" -> 252; -1 when no leading number
   (go-systemd's systemdVersionAtoi). */
int systemd_version_parse (const char *s);

#endif
