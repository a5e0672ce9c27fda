#!/usr/bin/python3
"""fake_systemd.py RECORDS [SOCKET] - a private D-Bus bus (dbus-daemon) with a small
org.freedesktop.systemd1 on it, for tests on hosts where systemd does not
run.  The bus listens on SOCKET (default: a new temporary
folder's "bus").  Prints the bus address as its first stdout line, then serves until
SIGTERM (which also ends its dbus-daemon).

The Manager object (/org/freedesktop/systemd1) answers what the agent calls
(src/systemd/systemd.h): StartTransientUnit, StopUnit, ResetFailedUnit and
Properties.Get(Manager, Version) = "252.38-1~deb12u1"; each call is appended
to RECORDS as one JSON line {"method", "name", "mode", "properties":
[[name, dbus signature, value], ...]}.  Start and stop reply with a job path
and then emit JobRemoved(id, job, unit, result) as systemd does.  Units whose
name contains "failjob" end their start job with result "failed"; a start of
one whose name contains "refuse" is answered
org.freedesktop.DBus.Error.AccessDenied.  StartTransientUnit of a unit that
exists answers org.freedesktop.systemd1.UnitExists, StopUnit of one that does
not org.freedesktop.systemd1.NoSuchUnit, as systemd does.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile

import dbus
import dbus.mainloop.glib
import dbus.service
from gi.repository import GLib

MANAGER = "org.freedesktop.systemd1.Manager"
PATH = "/org/freedesktop/systemd1"


def signature_of(v):
    if isinstance(v, dbus.Boolean):
        return "b"
    if isinstance(v, dbus.UInt64):
        return "t"
    if isinstance(v, dbus.String):
        return "s"
    if isinstance(v, dbus.Array):
        return "a" + (v.signature or "?")
    return type(v).__name__


def plain(v):
    if isinstance(v, dbus.Boolean):
        return bool(v)
    if isinstance(v, (dbus.UInt64, dbus.UInt32, dbus.Int64, dbus.Int32)):
        return int(v)
    if isinstance(v, dbus.Array):
        return [plain(x) for x in v]
    return str(v)


class Manager(dbus.service.Object):
    def __init__(self, bus, records):
        super().__init__(bus, PATH)
        self.records = records
        self.units = set()
        self.job = 0

    def record(self, **kv):
        with open(self.records, "a") as f:
            f.write(json.dumps(kv) + "\n")

    def new_job(self, unit, result):
        self.job += 1
        path = "/org/freedesktop/systemd1/job/%d" % self.job
        jid = self.job
        GLib.idle_add(lambda: self.JobRemoved(dbus.UInt32(jid), dbus.ObjectPath(path), unit, result) and False)
        return dbus.ObjectPath(path)

    @dbus.service.method(MANAGER, in_signature="ssa(sv)a(sa(sv))", out_signature="o")
    def StartTransientUnit(self, name, mode, props, aux):
        self.record(method="StartTransientUnit", name=str(name), mode=str(mode),
                    properties=[[str(k), signature_of(v), plain(v)] for k, v in props], aux=len(aux))
        if "refuse" in name:
            raise dbus.exceptions.DBusException("refused by the test", name="org.freedesktop.DBus.Error.AccessDenied")
        if name in self.units:
            raise dbus.exceptions.DBusException("Unit %s already exists." % name,
                                                name="org.freedesktop.systemd1.UnitExists")
        if "failjob" in name:
            return self.new_job(name, "failed")
        self.units.add(str(name))
        return self.new_job(name, "done")

    @dbus.service.method(MANAGER, in_signature="ss", out_signature="o")
    def StopUnit(self, name, mode):
        self.record(method="StopUnit", name=str(name), mode=str(mode))
        if name not in self.units:
            raise dbus.exceptions.DBusException("Unit %s not loaded." % name,
                                                name="org.freedesktop.systemd1.NoSuchUnit")
        self.units.discard(str(name))
        return self.new_job(name, "done")

    @dbus.service.method(MANAGER, in_signature="s", out_signature="")
    def ResetFailedUnit(self, name):
        self.record(method="ResetFailedUnit", name=str(name))

    @dbus.service.method(dbus.PROPERTIES_IFACE, in_signature="ss", out_signature="v")
    def Get(self, iface, prop):
        self.record(method="Get", name="%s.%s" % (iface, prop))
        if iface == MANAGER and prop == "Version":
            return dbus.String("252.38-1~deb12u1", variant_level=1)
        raise dbus.exceptions.DBusException("no property " + prop,
                                            name="org.freedesktop.DBus.Error.UnknownProperty")

    @dbus.service.signal(MANAGER, signature="uoss")
    def JobRemoved(self, jid, job, unit, result):
        pass


def main():
    records = sys.argv[1]
    d = None
    if len(sys.argv) > 2:
        sock = sys.argv[2]
    else:
        d = tempfile.mkdtemp(prefix="fake-systemd-")
        sock = os.path.join(d, "bus")
    daemon = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address=1",
                               "--address=unix:path=" + sock], stdout=subprocess.PIPE, text=True)
    address = daemon.stdout.readline().strip()
    if not address:
        sys.exit("dbus-daemon printed no address")
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.bus.BusConnection(address)
    name = dbus.service.BusName("org.freedesktop.systemd1", bus)
    Manager(bus, records)
    loop = GLib.MainLoop()

    def stop(*_):
        loop.quit()
    signal.signal(signal.SIGTERM, stop)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, lambda: stop() or False)
    print(address, flush=True)
    try:
        loop.run()
    finally:
        del name
        daemon.terminate()
        daemon.wait(5)
        try:
            os.unlink(sock)
        except OSError:
            pass
        if d:
            os.rmdir(d)


if __name__ == "__main__":
    main()
