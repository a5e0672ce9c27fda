/* systemd/calls.c - the systemd Manager calls the agent makes: their
 * messages (StartTransientUnit's "(sv)" properties), handed to the client
 * (client.c) to send and to follow (see systemd.h). */
#include "systemd/systemd.h"
#include "systemd/systemd_int.h"
#include "core/xmalloc.h"
#include <dbus/dbus.h>
#include <stdlib.h>
#include <string.h>

static struct systemd_call *
call_new (enum call_kind kind, const char *unit, systemd_done_cb cb, void *data)
{
  struct systemd_call *k = xcalloc (1, sizeof *k);
  k->kind = kind;
  k->unit = unit ? xstrdup (unit) : NULL;
  k->cb = cb;
  k->data = data;
  return k;
}

static DBusMessage *
manager_call (const char *method)
{
  return dbus_message_new_method_call (SD_DEST, SD_PATH, SD_MANAGER, method);
}

static void
append_prop (DBusMessageIter *arr, const struct systemd_prop *p)
{
  DBusMessageIter st, var, sub;
  static const char *const sig[] = { "b", "t", "s", "as" };
  dbus_message_iter_open_container (arr, DBUS_TYPE_STRUCT, NULL, &st);
  dbus_message_iter_append_basic (&st, DBUS_TYPE_STRING, &p->name);
  dbus_message_iter_open_container (&st, DBUS_TYPE_VARIANT, sig[p->type], &var);
  dbus_bool_t b = p->b;
  dbus_uint64_t t = p->u64;
  switch (p->type)
    {
    case SYSTEMD_PROP_BOOL:
      dbus_message_iter_append_basic (&var, DBUS_TYPE_BOOLEAN, &b);
      break;
    case SYSTEMD_PROP_U64:
      dbus_message_iter_append_basic (&var, DBUS_TYPE_UINT64, &t);
      break;
    case SYSTEMD_PROP_STRING:
      dbus_message_iter_append_basic (&var, DBUS_TYPE_STRING, &p->s);
      break;
    case SYSTEMD_PROP_STRINGS:
      dbus_message_iter_open_container (&var, DBUS_TYPE_ARRAY, "s", &sub);
      for (size_t i = 0; i < p->n_strings && i < SYSTEMD_PROP_MAX_STRINGS; i++)
        dbus_message_iter_append_basic (&sub, DBUS_TYPE_STRING, &p->strings[i]);
      dbus_message_iter_close_container (&var, &sub);
      break;
    }
  dbus_message_iter_close_container (&st, &var);
  dbus_message_iter_close_container (arr, &st);
}

struct systemd_call *
systemd_start_transient_unit (systemd_client_t *c, const char *name, const struct systemd_prop *props, size_t n,
                              systemd_done_cb cb, void *data)
{
  DBusMessage *m = manager_call ("StartTransientUnit");
  const char *mode = "replace";
  DBusMessageIter it, arr, aux;
  dbus_message_iter_init_append (m, &it);
  dbus_message_iter_append_basic (&it, DBUS_TYPE_STRING, &name);
  dbus_message_iter_append_basic (&it, DBUS_TYPE_STRING, &mode);
  dbus_message_iter_open_container (&it, DBUS_TYPE_ARRAY, "(sv)", &arr);
  for (size_t i = 0; i < n; i++)
    append_prop (&arr, &props[i]);
  dbus_message_iter_close_container (&it, &arr);
  dbus_message_iter_open_container (&it, DBUS_TYPE_ARRAY, "(sa(sv))", &aux);
  dbus_message_iter_close_container (&it, &aux);
  return systemd_call_send (c, call_new (CALL_START, name, cb, data), m);
}

struct systemd_call *
systemd_stop_unit (systemd_client_t *c, const char *name, systemd_done_cb cb, void *data)
{
  DBusMessage *m = manager_call ("StopUnit");
  const char *mode = "replace";
  dbus_message_append_args (m, DBUS_TYPE_STRING, &name, DBUS_TYPE_STRING, &mode, DBUS_TYPE_INVALID);
  return systemd_call_send (c, call_new (CALL_STOP, name, cb, data), m);
}

struct systemd_call *
systemd_reset_failed_unit (systemd_client_t *c, const char *name, systemd_done_cb cb, void *data)
{
  DBusMessage *m = manager_call ("ResetFailedUnit");
  dbus_message_append_args (m, DBUS_TYPE_STRING, &name, DBUS_TYPE_INVALID);
  return systemd_call_send (c, call_new (CALL_RESET, name, cb, data), m);
}

struct systemd_call *
systemd_manager_version (systemd_client_t *c, systemd_version_cb cb, void *data)
{
  DBusMessage *m = dbus_message_new_method_call (SD_DEST, SD_PATH, DBUS_INTERFACE_PROPERTIES, "Get");
  const char *iface = SD_MANAGER, *prop = "Version";
  dbus_message_append_args (m, DBUS_TYPE_STRING, &iface, DBUS_TYPE_STRING, &prop, DBUS_TYPE_INVALID);
  struct systemd_call *k = call_new (CALL_VERSION, NULL, NULL, data);
  k->vcb = cb;
  return systemd_call_send (c, k, m);
}

int
systemd_version_parse (const char *s)
{
  while (*s == '"' || *s == 'v')
    s++;
  if (*s < '0' || *s > '9')
    return -1;
  long v = 0;
  for (; *s >= '0' && *s <= '9' && v < 1000000; s++)
    v = v * 10 + (*s - '0');
  return (int) v;
}
