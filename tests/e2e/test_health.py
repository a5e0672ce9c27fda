"""GET /v1/health and -healthcheck: 200 only while every part the agent needs
works, 503 naming each failing part, back to 200 when it recovers.

  acs         the control plane refuses the ACS websocket (its /_local/faults
              API) and drops the connection: past ECS_HEALTH_ACS_GRACE, 503
              naming "acs"; refusal lifted, the session reconnects: 200;
  docker      the agent's DOCKER_HOST is a proxy (tests/reliability/
              dockerproxy.py) that refuses connections for a while: 503
              naming "docker", then 200 when it listens again;
  queue       the control plane fails SubmitTaskStateChange /
              SubmitContainerStateChange while a task starts: changes stay
              queued past ECS_HEALTH_QUEUE_STALL, 503 naming "queue"; fault
              cleared, the queue drains: 200;
  checkpoint  the data directory is a small tmpfs that fills up while a task
              starts: the checkpoint write fails, 503 naming "checkpoint";
              space freed: 200;
              the data directory (a tmpfs) is remounted read-only while
              nothing changes (no task, no checkpoint write is due): the
              periodic probe fails, 503 naming "checkpoint"; remounted
              read-write: 200.
-healthcheck (the image's HEALTHCHECK) exits 0 on 200 and 1 on 503.
The systemd watchdog (Type=notify, WatchdogSec): a fake NOTIFY_SOCKET
listener gets READY=1 once healthy, WATCHDOG=1 only while healthy (none
while Docker is unreachable: the gap exceeds WatchdogSec, so systemd would
restart the agent), and STOPPING=1 at shutdown."""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from conftest import agent_bin, register_task_def, wait_for

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reliability"))

from dockerproxy import DockerProxy  # noqa: E402

FAST = {
    "ECS_HEALTH_ACS_GRACE": "2s",
    "ECS_HEALTH_DOCKER_INTERVAL": "500ms",
    "ECS_HEALTH_QUEUE_STALL": "2s",
}


def health(agent):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/v1/health" % agent.introspection_port, timeout=5) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode())
    except (urllib.error.URLError, ConnectionError):
        return None, None


def wait_health(agent, healthy, part=None, timeout=60):
    def check():
        st, body = health(agent)
        if st is None:
            return None
        if healthy:
            return body if st == 200 and body["Healthy"] is True and body["Failing"] == [] else None
        return body if st == 503 and part in body["Failing"] and not body["Checks"][part]["Healthy"] else None

    return wait_for(check, timeout, interval=0.2,
                    what="health %s %s: last %r\n%s" % ("200" if healthy else "503", part or "",
                                                       health(agent), agent.output()[-3000:]))


def healthcheck(agent):
    env = dict(agent.env)
    env.pop("ECS_LOGFILE", None)
    return subprocess.run([agent_bin(), "-healthcheck"], env=env, capture_output=True, text=True, timeout=30)


def start_healthy(make_agent, env=None):
    agent = make_agent(env=dict(FAST, **(env or {})))
    agent.wait_connected()
    body = wait_health(agent, True)
    assert set(body["Checks"]) == {"acs", "docker", "checkpoint", "queue"}
    return agent


def test_acs_gone_past_grace(make_agent):
    agent = start_healthy(make_agent)
    r = healthcheck(agent)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["Healthy"] is True
    agent.cp.admin("/_local/faults", {"refuse_ws": 600, "drop_ws": "abort"})
    body = wait_health(agent, False, "acs")
    assert "disconnected" in body["Checks"]["acs"]["Detail"]
    r = healthcheck(agent)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "acs" in json.loads(r.stdout)["Failing"]
    agent.cp.admin("/_local/faults/clear", {})
    wait_health(agent, True, timeout=150)  # the session's reconnect back-off
    assert "acs failing" in agent.all_logs() and "acs recovered" in agent.all_logs()


def test_docker_unreachable(make_agent, tmpdir_path):
    proxy = DockerProxy(os.path.join(tmpdir_path, "docker.sock")).start()
    try:
        agent = start_healthy(make_agent, {"DOCKER_HOST": proxy.docker_host})
        proxy.refuse(6.0)
        body = wait_health(agent, False, "docker", timeout=6)
        assert "ping failed" in body["Checks"]["docker"]["Detail"]
        assert body["Checks"]["acs"]["Healthy"] is True
        wait_health(agent, True, timeout=30)
        agent.stop()
    finally:
        proxy.stop()


def test_queue_stuck(make_agent, test_image):
    agent = start_healthy(make_agent)
    agent.cp.admin("/_local/faults", {"api_error": {"operations": ["SubmitTaskStateChange",
                                                                   "SubmitContainerStateChange"]}})
    td = register_task_def(agent.cp, "health-q", test_image)
    agent.cp.ecs.run_task(cluster=agent.cluster, taskDefinition=td)
    body = wait_health(agent, False, "queue", timeout=90)
    assert "queued" in body["Checks"]["queue"]["Detail"]
    agent.cp.admin("/_local/faults/clear", {})
    wait_health(agent, True, timeout=90)


TMPFS_BYTES = 1 << 20


def test_checkpoint_unwritable(make_agent, test_image):
    agent = make_agent(env=FAST, start=False)
    subprocess.check_call(["mount", "-t", "tmpfs", "-o", "size=%d,mode=0700" % TMPFS_BYTES, "tmpfs",
                           agent.data_dir])
    filler = os.path.join(agent.data_dir, ".filler")
    try:
        agent.start()
        agent.wait_connected()
        wait_health(agent, True)
        with open(filler, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError:
                pass
        td = register_task_def(agent.cp, "health-ckpt", test_image)
        agent.cp.ecs.run_task(cluster=agent.cluster, taskDefinition=td)
        body = wait_health(agent, False, "checkpoint", timeout=90)
        assert "write failed" in body["Checks"]["checkpoint"]["Detail"]
        os.unlink(filler)
        wait_health(agent, True, timeout=90)
        agent.stop()
    finally:
        if agent.alive():
            agent.stop()
        subprocess.call(["umount", "-l", agent.data_dir])


def test_datadir_read_only_without_a_write(make_agent):
    agent = make_agent(env=FAST, start=False)
    subprocess.check_call(["mount", "-t", "tmpfs", "-o", "size=%d,mode=0700" % TMPFS_BYTES, "tmpfs",
                           agent.data_dir])
    try:
        agent.start()
        agent.wait_connected()
        wait_health(agent, True)
        subprocess.check_call(["mount", "-o", "remount,ro", agent.data_dir])
        body = wait_health(agent, False, "checkpoint", timeout=30)
        detail = body["Checks"]["checkpoint"]["Detail"]
        assert "takes no write" in detail and "Read-only file system" in detail, detail
        r = healthcheck(agent)
        assert r.returncode == 1 and "checkpoint" in json.loads(r.stdout)["Failing"], r.stdout + r.stderr
        subprocess.check_call(["mount", "-o", "remount,rw", agent.data_dir])
        wait_health(agent, True, timeout=30)
        logs = agent.all_logs()
        assert "checkpoint failing" in logs and "checkpoint recovered" in logs
        agent.stop()
    finally:
        if agent.alive():
            agent.stop()
        subprocess.call(["umount", "-l", agent.data_dir])


class NotifyListener:
    """systemd's side of NOTIFY_SOCKET: every datagram, with its arrival time."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setblocking(False)
        self.got = []

    def poll(self):
        while True:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                return self.got
            self.got.append((time.monotonic(), data.decode()))

    def first(self, pred, start=0):
        """Index of the first message from `start` on matching pred, or None."""
        for i, (_, m) in enumerate(self.poll()[start:], start):
            if pred(m):
                return i
        return None

    def close(self):
        self.sock.close()


def test_systemd_watchdog_fed_only_while_healthy(make_agent, tmpdir_path):
    proxy = DockerProxy(os.path.join(tmpdir_path, "docker.sock")).start()
    notify = NotifyListener(os.path.join(tmpdir_path, "notify.sock"))
    wd_s = 2.0
    try:
        agent = make_agent(env=dict(FAST, DOCKER_HOST=proxy.docker_host, NOTIFY_SOCKET=notify.path,
                                    WATCHDOG_USEC=str(int(wd_s * 1e6))))
        ready = wait_for(lambda: notify.first(lambda m: "READY=1" in m), 60, what="READY=1\n" + agent.output()[-2000:])
        assert health(agent)[0] == 200
        # fed while healthy
        wait_for(lambda: sum(1 for _, m in notify.poll()[ready:] if m == "WATCHDOG=1") >= 3, 20,
                 what="three WATCHDOG=1")
        proxy.refuse(8.0)
        wait_health(agent, False, "docker", timeout=10)
        bad = wait_for(lambda: notify.first(lambda m: m.startswith("STATUS=unhealthy") and "docker" in m, ready),
                       10, what="STATUS=unhealthy naming docker")
        good = wait_for(lambda: notify.first(lambda m: m == "STATUS=healthy", bad), 40, what="STATUS=healthy")
        wait_for(lambda: notify.first(lambda m: m == "WATCHDOG=1", good), 10, what="WATCHDOG=1 after recovery")
        msgs = notify.poll()
        assert not [m for _, m in msgs[bad:good] if m == "WATCHDOG=1"], msgs[bad:good]
        last_fed = max(t for t, m in msgs[:bad] if m == "WATCHDOG=1")
        next_fed = min(t for t, m in msgs[good:] if m == "WATCHDOG=1")
        assert next_fed - last_fed > wd_s, (last_fed, next_fed)  # systemd would have restarted it
        n = len(notify.poll())
        assert agent.stop() == 0
        assert notify.first(lambda m: m == "STOPPING=1", n) is not None, notify.poll()[n:]
        logs = agent.all_logs()
        assert "systemd watchdog: 2000 ms" in logs and "told systemd the agent is ready" in logs
    finally:
        notify.close()
        proxy.stop()
