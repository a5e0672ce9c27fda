"""The task flows on Podman: the agent with DOCKER_HOST pointed at a rootful
`podman system service` (Docker-compatible API) started by the fixture, the
test image loaded into Podman's store.

Podman needs `[containers] default_ulimits = []` (a containers.conf given
through CONTAINERS_CONF): its default NOFILE ulimit is above this sandbox's
hard limit (`error setting rlimit type 7: operation not permitted`).  When
Podman is not installed or cannot run a container here, the tests are
skipped with the exact failure as the reason (counted as skipped), never
silently passed."""
import os
import shutil
import signal
import socket
import subprocess

import pytest

from conftest import TEST_LABEL, register_task_def, wait_for, wait_task_status

CONF = "[containers]\ndefault_ulimits = []\n"


def _ping(sock):
    try:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(2)
        s.connect(sock)
        s.sendall(b"GET /_ping HTTP/1.0\r\nHost: d\r\n\r\n")
        data = s.recv(256)
        s.close()
        return data.startswith(b"HTTP/1.") and b" 200 " in data.split(b"\r\n")[0] + b" "
    except OSError:
        return False


@pytest.fixture(scope="module")
def podman(tmp_path_factory, test_image):
    if not shutil.which("podman"):
        pytest.skip("podman is not installed (apt-get install podman)")
    d = str(tmp_path_factory.mktemp("podman"))
    conf = os.path.join(d, "containers.conf")
    with open(conf, "w") as f:
        f.write(CONF)
    env = dict(os.environ, CONTAINERS_CONF=conf)
    save = subprocess.Popen(["docker", "save", test_image], stdout=subprocess.PIPE)
    try:
        load = subprocess.run(["podman", "load"], stdin=save.stdout, env=env, capture_output=True, text=True,
                              timeout=300)
    finally:
        # our end of the pipe closed: a podman that stops reading (it failed)
        # ends docker save with SIGPIPE instead of leaving it blocked forever
        save.stdout.close()
        try:
            save.wait(60)
        except subprocess.TimeoutExpired:
            save.kill()
            save.wait()
    if load.returncode != 0:
        pytest.skip("podman load failed: " + load.stderr[-1000:])
    run = subprocess.run(["podman", "run", "--rm", "--label", TEST_LABEL, test_image, "true"], env=env,
                         capture_output=True, text=True, timeout=120)
    if run.returncode != 0:
        pytest.skip("podman cannot run a container here: " + run.stderr[-1000:])
    sock = os.path.join(d, "podman.sock")
    log = open(os.path.join(d, "service.log"), "w")
    proc = subprocess.Popen(["podman", "system", "service", "--time=0", "unix://" + sock], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: _ping(sock), 30, what="podman system service on " + sock)
        yield {"sock": sock, "env": env, "host": "unix://" + sock}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        ids = subprocess.run(["podman", "ps", "-aq", "--filter", "label=" + TEST_LABEL], env=env,
                             capture_output=True, text=True, timeout=120).stdout.split()
        if ids:
            subprocess.run(["podman", "rm", "-f"] + ids, env=env, capture_output=True, timeout=180)


def podman_containers(podman, cluster):
    out = subprocess.run(["podman", "ps", "-a", "--filter", "label=com.amazonaws.ecs.cluster=" + cluster,
                          "--format", "{{.ID}} {{.Names}} {{.State}}"], env=podman["env"],
                         capture_output=True, text=True, timeout=120).stdout
    return [line.split() for line in out.splitlines() if line.strip()]


def test_task_flows_on_podman(podman, make_agent, test_image):
    agent = make_agent(env={"DOCKER_HOST": podman["host"]})
    agent.wait_connected()
    wait_for(lambda: "container runtime: podman" in agent.all_logs(), 30, what="runtime logged")

    # run-task with a dynamic host port, reported in the network bindings
    td = register_task_def(agent.cp, "podman-web", test_image, containers=[
        {"name": "web", "image": test_image, "memory": 32, "essential": True,
         "command": ["sh", "-c", "mkdir -p /www && echo hello > /www/index.html && httpd -f -p 8080 -h /www"],
         "portMappings": [{"containerPort": 8080, "hostPort": 0}]}])
    arn = agent.cp.ecs.run_task(cluster=agent.cluster, taskDefinition=td)["tasks"][0]["taskArn"]
    t = wait_task_status(agent.cp, agent.cluster, arn, "RUNNING")
    nb = t["containers"][0].get("networkBindings") or []
    assert nb and nb[0]["containerPort"] == 8080 and nb[0]["hostPort"] > 0, t["containers"][0]
    cs = podman_containers(podman, agent.cluster)
    assert len(cs) == 1 and cs[0][2].lower() in ("running", "up"), cs  # podman 4.3 prints "Up ..."
    port = nb[0]["hostPort"]

    def served():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
                return b"hello" in s.recv(4096)
        except OSError:
            return False

    wait_for(served, 30, what="the task's port answers through Podman")

    # kill -9 and restart: the running task is adopted, not duplicated
    agent.kill9()
    agent.start()
    agent.wait_connected()
    wait_for(lambda: agent.introspect("/v1/tasks?taskarn=" + arn).get("KnownStatus") == "RUNNING", 60,
             what="task adopted after restart")
    assert len(podman_containers(podman, agent.cluster)) == 1

    # stop: STOPPED with the exit code Podman reports
    agent.cp.ecs.stop_task(cluster=agent.cluster, task=arn)
    t = wait_task_status(agent.cp, agent.cluster, arn, "STOPPED")
    assert t["containers"][0].get("exitCode") is not None, t


def test_essential_exit_on_podman(podman, make_agent, test_image):
    agent = make_agent(env={"DOCKER_HOST": podman["host"]})
    agent.wait_connected()
    # essential container exits: the task stops with its exit code
    td2 = register_task_def(agent.cp, "podman-exit", test_image, containers=[
        {"name": "main", "image": test_image, "memory": 32, "essential": True,
         "command": ["sh", "-c", "sleep 1; exit 3"]}])
    arn2 = agent.cp.ecs.run_task(cluster=agent.cluster, taskDefinition=td2)["tasks"][0]["taskArn"]
    try:
        t2 = wait_task_status(agent.cp, agent.cluster, arn2, "STOPPED", timeout=60)
    except AssertionError as e:
        raise AssertionError("%s\n%s" % (e, agent.all_logs()[-6000:])) from None
    assert t2["containers"][0].get("exitCode") == 3, t2
