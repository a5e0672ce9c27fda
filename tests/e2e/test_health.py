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
              space freed: 200.
-healthcheck (the image's HEALTHCHECK) exits 0 on 200 and 1 on 503."""
import json
import os
import subprocess
import sys
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
