"""A fault-injecting proxy between the agent and the Docker engine.

The agent is pointed at DOCKER_HOST=unix://<proxy socket>; every connection is
forwarded byte for byte to the real engine (/var/run/docker.sock).  The test
controls the proxy from its own process (it runs in a thread):

    p = DockerProxy("/tmp/x.sock").start()
    p.cut(match="/events")    # close every connection whose last request
                              # path contains /events (the events stream)
    p.cut()                   # close every connection
    p.refuse(5.0)             # for 5 s: stop listening (connect() fails)
    p.blackhole(5.0)          # for 5 s: accept, read, never answer
    p.rewrite("/info", old, new)  # the engine's answers to requests whose
                              # path contains /info: old bytes -> new (same
                              # length: Content-Length stays true)
    p.stats()                 # counters
    p.stop()

It never touches the host daemon itself: cutting a stream closes the proxy's
two sockets, the engine only sees a client going away.

Standalone (for poking at it by hand):
    python3 dockerproxy.py /tmp/x.sock [--upstream /var/run/docker.sock]
      then on stdin: "cut", "cut /events", "refuse 5", "blackhole 5", "stats", "quit"
"""
import os
import re
import selectors
import socket
import sys
import threading
import time

REQ_LINE = re.compile(rb"(GET|POST|PUT|DELETE|HEAD) (\S+) HTTP/1\.[01]\r\n")


class _Conn:
    __slots__ = ("client", "upstream", "last_path", "paths", "opened", "c2u", "u2c", "blackholed", "held")

    def __init__(self, client, upstream):
        self.client = client
        self.upstream = upstream
        self.last_path = ""
        self.paths = []
        self.opened = time.time()
        self.c2u = bytearray()  # pending bytes client -> upstream
        self.u2c = bytearray()
        self.blackholed = False
        self.held = bytearray()  # engine answers held back while blackholed


class DockerProxy:
    def __init__(self, path, upstream="/var/run/docker.sock", log=None):
        self.path = path
        self.upstream = upstream
        self.log = log
        self.sel = selectors.DefaultSelector()
        self.lock = threading.RLock()
        self.conns = []
        self.listener = None
        self.refuse_until = 0.0
        self.blackhole_until = 0.0
        self.thread = None
        self.running = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self.counters = {"accepted": 0, "refused_window": 0, "cuts": 0, "conns_cut": 0, "requests": 0,
                         "upstream_errors": 0, "blackholed": 0}
        self.requests = []  # (time, method, path), bounded
        self._pending = []  # callables to run on the proxy thread
        self.rewrites = []  # (path part, old bytes, new bytes)

    # ------------------------------------------------------------ control
    def start(self):
        self._listen()
        self.sel.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        self.running = True
        self.thread = threading.Thread(target=self._loop, name="dockerproxy", daemon=True)
        self.thread.start()
        return self

    @property
    def docker_host(self):
        return "unix://" + self.path

    def _note(self, msg):
        if self.log:
            self.log("dockerproxy: " + msg)

    def _listen(self):
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(self.path)
        os.chmod(self.path, 0o600)
        s.listen(128)
        s.setblocking(False)
        self.listener = s
        self.sel.register(s, selectors.EVENT_READ, ("listen", None))

    def _unlisten(self):
        if self.listener is not None:
            try:
                self.sel.unregister(self.listener)
            except (KeyError, ValueError):
                pass
            self.listener.close()
            self.listener = None
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass

    def _wake(self):
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def _call(self, fn):
        """Run fn on the proxy thread (selector state is not thread-safe)."""
        done = threading.Event()
        box = {}

        def run():
            try:
                box["r"] = fn()
            finally:
                done.set()
        with self.lock:
            self._pending.append(run)
        self._wake()
        if not done.wait(10):
            raise RuntimeError("docker proxy thread not responding")
        return box.get("r")

    def cut(self, match=None):
        """Close every connection (or those whose request paths contain match).
        Returns how many were closed."""
        def do():
            victims = [c for c in self.conns if match is None or match in c.last_path
                       or any(match in p for p in c.paths)]
            for c in victims:
                self._close(c)
            self.counters["cuts"] += 1
            self.counters["conns_cut"] += len(victims)
            self._note("cut %d connection(s) matching %r" % (len(victims), match))
            return len(victims)
        return self._call(do)

    def refuse(self, seconds):
        """Stop listening for `seconds` (connects fail with ENOENT/ECONNREFUSED)
        and cut what is open."""
        def do():
            self.refuse_until = time.time() + seconds
            self._unlisten()
            for c in list(self.conns):
                self._close(c)
            self.counters["refused_window"] += 1
            self._note("refusing for %.1fs" % seconds)
        self._call(do)

    def blackhole(self, seconds):
        """For `seconds`: the engine's answers are held back (a hung daemon);
        delivered when the window ends, unless the client gave up."""
        def do():
            self.blackhole_until = time.time() + seconds
            for c in self.conns:
                c.blackholed = True
            self.counters["blackholed"] += 1
            self._note("blackhole for %.1fs" % seconds)
        self._call(do)

    def rewrite(self, match, old, new):
        """Replace old by new (bytes of the same length) in the engine's
        answers on connections whose last request path contains match."""
        if len(old) != len(new):
            raise ValueError("a rewrite keeps the length (Content-Length)")
        with self.lock:
            self.rewrites.append((match, old, new))
        return self

    def stats(self):
        with self.lock:
            d = dict(self.counters)
            d["open"] = len(self.conns)
            d["open_paths"] = [c.last_path for c in self.conns]
            return d

    def stream_paths(self):
        with self.lock:
            return [c.last_path for c in self.conns]

    def stop(self):
        if not self.running:
            return
        def do():
            self.running = False
            for c in list(self.conns):
                self._close(c)
            self._unlisten()
        try:
            self._call(do)
        except RuntimeError:
            pass
        self.thread.join(5)
        os.close(self._wake_r)
        os.close(self._wake_w)

    # ------------------------------------------------------------ loop
    def _close(self, c):
        for s in (c.client, c.upstream):
            if s is None:
                continue
            try:
                self.sel.unregister(s)
            except (KeyError, ValueError):
                pass
            try:
                s.close()
            except OSError:
                pass
        with self.lock:
            if c in self.conns:
                self.conns.remove(c)

    def _accept(self):
        try:
            cs, _ = self.listener.accept()
        except (BlockingIOError, OSError):
            return
        cs.setblocking(False)
        us = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            us.connect(self.upstream)
        except OSError as e:
            self.counters["upstream_errors"] += 1
            self._note("upstream connect failed: %s" % e)
            cs.close()
            us.close()
            return
        us.setblocking(False)
        c = _Conn(cs, us)
        c.blackholed = time.time() < self.blackhole_until
        with self.lock:
            self.conns.append(c)
        self.counters["accepted"] += 1
        self.sel.register(cs, selectors.EVENT_READ, ("client", c))
        self.sel.register(us, selectors.EVENT_READ, ("upstream", c))

    def _sniff(self, c, data):
        for m in REQ_LINE.finditer(data):
            path = m.group(2).decode("latin-1")
            c.last_path = path
            c.paths = (c.paths + [path])[-8:]
            self.counters["requests"] += 1
            self.requests.append((time.time(), m.group(1).decode(), path))
            if len(self.requests) > 5000:
                del self.requests[:1000]

    def _update_interest(self, c):
        for s, out, kind in ((c.client, c.u2c, "client"), (c.upstream, c.c2u, "upstream")):
            ev = selectors.EVENT_READ | (selectors.EVENT_WRITE if out else 0)
            try:
                self.sel.modify(s, ev, (kind, c))
            except (KeyError, ValueError):
                pass

    def _flush(self, sock, buf):
        while buf:
            try:
                n = sock.send(buf)
            except BlockingIOError:
                return True
            except OSError:
                return False
            del buf[:n]
        return True

    def _loop(self):
        while self.running:
            now = time.time()
            if self.listener is None and now >= self.refuse_until and self.running:
                self._listen()
                self._note("listening again")
            if now >= self.blackhole_until:
                for c in list(self.conns):
                    if c.blackholed:
                        c.blackholed = False
                        c.u2c.extend(c.held)
                        del c.held[:]
                        if not self._flush(c.client, c.u2c):
                            self._close(c)
                            continue
                        self._update_interest(c)
            timeout = 0.2
            for key, mask in self.sel.select(timeout):
                kind, c = key.data
                if kind == "wake":
                    try:
                        os.read(self._wake_r, 4096)
                    except BlockingIOError:
                        pass
                    with self.lock:
                        todo, self._pending[:] = list(self._pending), []
                    for fn in todo:
                        fn()
                    continue
                if kind == "listen":
                    self._accept()
                    continue
                if c not in self.conns:
                    continue
                src, dst, out = (c.client, c.upstream, c.c2u) if kind == "client" else (c.upstream, c.client, c.u2c)
                if mask & selectors.EVENT_WRITE:
                    # dst of the other direction: flush what we hold for this socket
                    pend = c.u2c if kind == "client" else c.c2u
                    if not self._flush(src, pend):
                        self._close(c)
                        continue
                if mask & selectors.EVENT_READ:
                    try:
                        data = src.recv(65536)
                    except BlockingIOError:
                        data = None
                    except OSError:
                        data = b""
                    if data == b"":
                        # half-close is enough for HTTP: close both
                        if kind == "upstream" and c.u2c:
                            self._flush(c.client, c.u2c)
                        self._close(c)
                        continue
                    if data:
                        if kind == "client":
                            self._sniff(c, data)
                        if kind == "upstream":
                            with self.lock:
                                for match, old, new in self.rewrites:
                                    if match in c.last_path:
                                        data = data.replace(old, new)
                        if c.blackholed and kind == "upstream":
                            c.held.extend(data)
                            continue
                        out.extend(data)
                        if not self._flush(dst, out):
                            self._close(c)
                            continue
                self._update_interest(c)
        for c in list(self.conns):
            self._close(c)


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path")
    ap.add_argument("--upstream", default="/var/run/docker.sock")
    a = ap.parse_args(argv)
    p = DockerProxy(a.path, a.upstream, log=lambda m: print(m, flush=True)).start()
    print("listening on unix://%s" % a.path, flush=True)
    for line in sys.stdin:
        w = line.split()
        if not w:
            continue
        if w[0] == "cut":
            print(p.cut(w[1] if len(w) > 1 else None), flush=True)
        elif w[0] == "refuse":
            p.refuse(float(w[1]))
        elif w[0] == "blackhole":
            p.blackhole(float(w[1]))
        elif w[0] == "stats":
            print(p.stats(), flush=True)
        elif w[0] == "quit":
            break
    p.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
