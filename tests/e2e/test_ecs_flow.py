"""End to end: the real agent binary, the real Docker engine and the local
control plane, driven through the ECS API (botocore and the real AWS CLI).

The flow tests (registration, run-task with ports, stop with exit codes and
cleanup, essential / non-essential exits, kill -9 restart with adoption) run
twice: on Docker and on Podman (a rootful `podman system service` started by
conftest's podman_service fixture, the agent's DOCKER_HOST pointed at it):
the `runtime` fixture, parametrized with RUNTIMES.

Each test starts its own control plane and agent (fixtures in conftest.py);
every container carries the test label and the per-test cluster label and
is removed by the make_agent fixture whatever the outcome.
"""
import json
import os
import re
import subprocess
import time
import urllib.request

import pytest

from conftest import (RUNTIMES, SECRET, ControlPlane, containers_for, describe_task, free_port,
                      register_task_def, wait_for, wait_task_status)


# --------------------------------------------------------------------------- helpers

def run_task(cp, cluster, td):
    """aws ecs run-task through the real CLI; returns the task ARN."""
    r = cp.aws_cli("run-task", "--cluster", cluster, "--task-definition", td)
    assert not r.get("failures"), r
    return r["tasks"][0]["taskArn"]


def run_task_api(cp, cluster, td):
    """RunTask through botocore (faster than the CLI on a loaded machine)."""
    r = cp.ecs.run_task(cluster=cluster, taskDefinition=td)
    assert not r.get("failures"), r
    return r["tasks"][0]["taskArn"]


def cli_task(cp, cluster, arn):
    return cp.aws_cli("describe-tasks", "--cluster", cluster, "--tasks", arn)["tasks"][0]


def events(cp, kind=None, since=0):
    q = "?since=%d" % since
    if kind:
        q += "&kind=" + kind
    return cp.admin("/_local/events" + q)


def last_seq(cp):
    return cp.admin("/_local/events")["lastSeq"]


def refused_handshakes(cp):
    """How many websocket handshakes the refuse_ws fault has refused so far."""
    with open(cp.log_path) as f:
        return sum(1 for line in f if "note=fault:refuse_ws" in line)


def state_change_events(cp, task_arn, since=0):
    """(kind, status, container-or-None, exitCode, time) of every state change the
    control plane accepted for task_arn, in arrival order (HEAD-style batched
    containers[] in a task state change count as container changes too)."""
    out = []
    for e in events(cp, since=since)["events"]:
        req = e.get("request") or {}
        if e["kind"] == "SubmitTaskStateChange" and req.get("task") == task_arn:
            for c in req.get("containers") or []:
                out.append(("container", c.get("status"), c.get("containerName"), c.get("exitCode"), e["time"]))
            if req.get("status"):
                out.append(("task", req.get("status"), None, None, e["time"]))
        elif e["kind"] == "SubmitContainerStateChange" and req.get("task") == task_arn:
            out.append(("container", req.get("status"), req.get("containerName"), req.get("exitCode"), e["time"]))
    return out


def docker_ids(cluster, task_arn=None):
    """Full ids of the Docker containers of a cluster (or one task)."""
    flt = ["--filter", "label=com.amazonaws.ecs.cluster=" + cluster]
    if task_arn:
        flt += ["--filter", "label=com.amazonaws.ecs.task-arn=" + task_arn]
    return subprocess.run(["docker", "ps", "-aq", "--no-trunc"] + flt, capture_output=True, text=True).stdout.split()


def docker_inspect(cid):
    return json.loads(subprocess.check_output(["docker", "inspect", cid], text=True))[0]


def docker_host_ports(cid, spec):
    """Host ports Docker bound for spec (e.g. '8080/tcp'), from `docker port`."""
    out = subprocess.run(["docker", "port", cid, spec], capture_output=True, text=True).stdout
    return {int(m) for m in re.findall(r":(\d+)\s*$", out, re.M)}


def http_get(port, path="/", timeout=3):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
        return r.status, r.read().decode()


def container_of(task, name):
    return [c for c in task["containers"] if c["name"] == name][0]


def httpd(name, host_port, text):
    return {"name": name, "cpu": 10, "memory": 32, "essential": True,
            "entryPoint": ["/bin/sh", "-c"],
            "command": ["mkdir -p /www && echo %s > /www/index.html && exec httpd -f -p 8080 -h /www" % text],
            "portMappings": [{"containerPort": 8080, "hostPort": host_port, "protocol": "tcp"}]}


def sleeper(name="main", essential=True):
    return {"name": name, "cpu": 10, "memory": 32, "essential": essential, "command": ["sleep", "3600"]}


@pytest.fixture
def controlplane(tmpdir_path, request):
    """The conftest control plane, with extra command-line flags from indirect
    parametrization (e.g. a short --imds-cred-lifetime)."""
    cp = ControlPlane(tmpdir_path, extra_args=getattr(request, "param", ()))
    yield cp
    cp.stop()


def stop_clean(a):
    """SIGTERM: exit 0 with the checkpoint saved, and no sanitizer report."""
    rc = a.stop()
    out = a.output()
    assert rc == 0, out[-3000:]
    assert "Sanitizer" not in out and "runtime error:" not in out, out[-3000:]


def start_agent(make_agent, env=None, **kw):
    a = make_agent(env=env, **kw)
    a.wait_registered()
    a.wait_connected()
    return a


# --------------------------------------------------------------------------- registration

@pytest.mark.parametrize("runtime", RUNTIMES, indirect=True)
def test_register_appears_in_cli_list_container_instances(runtime, make_agent, controlplane, cluster_name):
    a = start_agent(make_agent)
    arns = controlplane.aws_cli("list-container-instances", "--cluster", cluster_name)["containerInstanceArns"]
    assert len(arns) == 1
    arn = arns[0]
    assert re.match(r"^arn:aws:ecs:us-west-2:\d+:container-instance/%s/[0-9a-f]{32}$" % cluster_name, arn), arn
    ci = controlplane.aws_cli("describe-container-instances", "--cluster", cluster_name,
                              "--container-instances", arn)["containerInstances"][0]
    assert ci["status"] == "ACTIVE" and ci["agentConnected"] is True
    regd = {r["name"]: r for r in ci["registeredResources"]}
    assert regd["CPU"]["integerValue"] > 0 and regd["MEMORY"]["integerValue"] > 0
    assert ci["versionInfo"].get("agentVersion")
    # the checkpoint holds the same ARN
    assert arn in open(os.path.join(a.data_dir, "ecs_agent_data.json")).read()
    stop_clean(a)


# --------------------------------------------------------------------------- run-task

@pytest.mark.parametrize("runtime", RUNTIMES, indirect=True)
def test_run_task_network_bindings_fixed_and_dynamic(runtime, make_agent, controlplane, cluster_name, test_image):
    a = start_agent(make_agent)
    fixed = free_port()
    td = register_task_def(controlplane, "web", test_image,
                           [httpd("fixed", fixed, "hello-fixed"), httpd("dynamic", 0, "hello-dynamic")])
    arn = run_task(controlplane, cluster_name, td)
    wait_task_status(controlplane, cluster_name, arn, "RUNNING")
    t = cli_task(controlplane, cluster_name, arn)
    assert t["lastStatus"] == "RUNNING" and t["desiredStatus"] == "RUNNING"

    ids = runtime.ids(cluster_name, arn)
    assert len(ids) == 2, containers_for(cluster_name)
    by_name = {}
    for cid in ids:
        info = runtime.inspect(cid)
        assert info["State"]["Running"], info["State"]
        by_name[info["Config"]["Labels"]["com.amazonaws.ecs.container-name"]] = info

    for name, want_text in (("fixed", "hello-fixed"), ("dynamic", "hello-dynamic")):
        c = container_of(t, name)
        assert c["lastStatus"] == "RUNNING", c
        nb = c.get("networkBindings") or []
        assert len(nb) >= 1, c
        host_ports = {b["hostPort"] for b in nb}
        assert all(b["containerPort"] == 8080 and b.get("protocol", "tcp") == "tcp" for b in nb), nb
        assert len(host_ports) == 1, nb
        hp = host_ports.pop()
        if name == "fixed":
            assert hp == fixed
        else:
            assert hp != 0
        # the reported port is the one Docker bound ...
        assert runtime.host_ports(by_name[name]["Id"], "8080/tcp") == {hp}
        # ... and it answers HTTP
        status, body = wait_for(lambda: http_get(hp), 15, what="HTTP on port %d" % hp)
        assert status == 200 and body.strip() == want_text
    stop_clean(a)


# --------------------------------------------------------------------------- stop-task

@pytest.mark.parametrize("runtime", RUNTIMES, indirect=True)
def test_stop_task_exit_codes_and_cleanup(runtime, make_agent, controlplane, cluster_name, test_image):
    a = start_agent(make_agent, env={"ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION": "3s"})
    td = register_task_def(controlplane, "stopme", test_image, [
        # traps TERM and exits 0 (sh as PID 1 has no default TERM action: it must trap it)
        {"name": "trapper", "cpu": 10, "memory": 32, "essential": True,
         "command": ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"]},
        # sleep as PID 1 ignores TERM: killed after ECS_CONTAINER_STOP_TIMEOUT
        {"name": "sleeper", "cpu": 10, "memory": 32, "essential": True, "command": ["sleep", "3600"]},
    ])
    arn = run_task(controlplane, cluster_name, td)
    wait_task_status(controlplane, cluster_name, arn, "RUNNING")
    assert len(runtime.ids(cluster_name, arn)) == 2

    r = controlplane.aws_cli("stop-task", "--cluster", cluster_name, "--task", arn, "--reason", "e2e stop")
    assert r["task"]["desiredStatus"] == "STOPPED"
    wait_task_status(controlplane, cluster_name, arn, "STOPPED", timeout=60)
    # exit codes may arrive just after the task status: wait for both
    wait_for(lambda: all("exitCode" in c for c in describe_task(controlplane, cluster_name, arn)["containers"]),
             20, what="exit codes")
    t = cli_task(controlplane, cluster_name, arn)
    assert t["lastStatus"] == "STOPPED" and t["stoppedReason"] == "e2e stop"
    assert container_of(t, "trapper")["exitCode"] == 0, t
    assert container_of(t, "sleeper")["exitCode"] in (137, 143), t
    assert all(c["lastStatus"] == "STOPPED" for c in t["containers"]), t

    # removed from Docker after ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION
    wait_for(lambda: not runtime.ids(cluster_name, arn), 40, what="containers removed\n" + a.output()[-2000:])
    stop_clean(a)


# --------------------------------------------------------------------------- essential / non-essential

@pytest.mark.parametrize("runtime", RUNTIMES, indirect=True)
def test_essential_exit_stops_task_nonessential_does_not(runtime, make_agent, controlplane, cluster_name, test_image):
    a = start_agent(make_agent)
    td_ess = register_task_def(controlplane, "essential", test_image, [
        {"name": "quitter", "cpu": 10, "memory": 32, "essential": True, "command": ["sh", "-c", "sleep 2; exit 3"]},
        sleeper("companion"),
    ])
    td_non = register_task_def(controlplane, "nonessential", test_image, [
        {"name": "oneshot", "cpu": 10, "memory": 32, "essential": False, "command": ["sh", "-c", "sleep 1; exit 5"]},
        sleeper("keeper"),
    ])
    ess = run_task_api(controlplane, cluster_name, td_ess)
    non = run_task_api(controlplane, cluster_name, td_non)

    # essential container exits -> the whole task stops, exit code reported
    wait_task_status(controlplane, cluster_name, ess, "STOPPED", timeout=60)
    wait_for(lambda: all("exitCode" in c for c in describe_task(controlplane, cluster_name, ess)["containers"]),
             20, what="exit codes")
    t = describe_task(controlplane, cluster_name, ess)
    assert container_of(t, "quitter")["exitCode"] == 3, t
    assert container_of(t, "companion")["exitCode"] in (137, 143), t
    for cid in runtime.ids(cluster_name, ess):
        assert not runtime.inspect(cid)["State"]["Running"]

    # non-essential container exits -> reported, task keeps running
    c = wait_for(lambda: (lambda c: c if c.get("lastStatus") == "STOPPED" else None)(
        container_of(describe_task(controlplane, cluster_name, non), "oneshot")), 60, what="oneshot STOPPED")
    assert c["exitCode"] == 5, c
    # the agent decides whether the task stops when it records the container
    # STOPPED, before it reports it: its own view already holds the decision
    mine = [t for t in a.introspect("/v1/tasks")["Tasks"] if t["Arn"] == non]
    assert mine and mine[0]["KnownStatus"] == "RUNNING" and mine[0].get("DesiredStatus") == "RUNNING", mine
    t = describe_task(controlplane, cluster_name, non)
    assert t["lastStatus"] == "RUNNING" and t["desiredStatus"] == "RUNNING", t
    assert container_of(t, "keeper")["lastStatus"] == "RUNNING"
    running = [cid for cid in runtime.ids(cluster_name, non) if runtime.inspect(cid)["State"]["Running"]]
    assert len(running) == 1
    stop_clean(a)


# --------------------------------------------------------------------------- instance role credentials

@pytest.mark.parametrize("controlplane", [["--imds-cred-lifetime", "10"]], indirect=True,
                         ids=["cred-lifetime-10s"])
def test_instance_role_credentials_rotated_no_secret_in_logs(make_agent, controlplane, cluster_name,
                                                             test_image):
    a = make_agent(start=False)
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        a.env.pop(k, None)
    a.start()
    a.wait_registered()
    a.wait_connected()
    td = register_task_def(controlplane, "creds", test_image)
    first = run_task_api(controlplane, cluster_name, td)
    wait_task_status(controlplane, cluster_name, first, "RUNNING")

    issued_before = controlplane.admin("/_local/state")["imds"]["credentials"]
    assert issued_before, "the agent never fetched role credentials"
    rot = controlplane.admin("/_local/imds/rotate", {})
    # every credential issued before the rotation expires (10 s lifetime): from
    # then on only credentials fetched again from the metadata service are accepted
    # (Expiration has whole seconds: a second of margin past it)
    def expired():
        st = controlplane.admin("/_local/state")["imds"]["credentials"]
        old = [c for c in st if c["AccessKeyId"] in {b["AccessKeyId"] for b in issued_before}]
        return all(c["Expiration"] < time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
                   for c in old)
    wait_for(expired, 30, interval=0.5, what="old credentials expired")

    second = run_task_api(controlplane, cluster_name, td)
    wait_task_status(controlplane, cluster_name, second, "RUNNING")
    controlplane.ecs.stop_task(cluster=cluster_name, task=first)
    wait_task_status(controlplane, cluster_name, first, "STOPPED", timeout=60)
    assert a.alive()
    assert a.wait_connected()
    stop_clean(a)  # shutdown logs are checked too

    issued = controlplane.admin("/_local/state")["imds"]["credentials"]
    assert rot["AccessKeyId"] in {c["AccessKeyId"] for c in issued}
    assert len(issued) >= 2
    logs = a.all_logs()
    # role credentials (no static keys in the env), fetched again after the rotation
    assert "instance role credentials obtained" in logs and "instance role credentials rotated" in logs
    for c in issued:
        for secret in (c["SecretAccessKey"], c["Token"]):
            assert secret and secret not in logs
            # not even a recognisable chunk of it
            assert secret[:16] not in logs
    assert SECRET not in logs


# --------------------------------------------------------------------------- ACS websocket faults

@pytest.mark.parametrize("mode", [True, "abort"], ids=["close", "abort"])
def test_websocket_dropped_reconnects_nothing_lost(make_agent, controlplane, cluster_name, test_image, mode):
    a = start_agent(make_agent)
    inst = a.instance_arn()
    td = register_task_def(controlplane, "ws", test_image)
    before = run_task_api(controlplane, cluster_name, td)
    wait_task_status(controlplane, cluster_name, before, "RUNNING")

    seq = last_seq(controlplane)
    # drop the websocket and refuse handshakes until told otherwise: the agent is cut off
    controlplane.admin("/_local/faults", {"drop_ws": mode, "refuse_ws": 120})
    wait_for(lambda: events(controlplane, "ws_disconnect", seq)["events"], 10, what="ws_disconnect")
    during = run_task_api(controlplane, cluster_name, td)
    placed_at = time.time()
    assert not controlplane.ecs.describe_container_instances(
        cluster=cluster_name, containerInstances=[inst])["containerInstances"][0]["agentConnected"]
    # a few refused reconnection attempts (the control plane's request log
    # notes each refused handshake)
    wait_for(lambda: refused_handshakes(controlplane) >= 2, 30, what="two refused reconnection attempts")
    assert a.alive() and not events(controlplane, "ws_connect", seq)["events"]
    controlplane.admin("/_local/faults", {"refuse_ws": 0})

    # the agent reconnects once handshakes are accepted again, receives the
    # pending payload and runs the task
    wait_task_status(controlplane, cluster_name, during, "RUNNING", timeout=60)
    conns = events(controlplane, "ws_connect", seq)["events"]
    assert conns and conns[0]["time"] > placed_at, conns
    a.wait_connected()

    # nothing lost, nothing doubled
    for arn in (before, during):
        assert describe_task(controlplane, cluster_name, arn)["lastStatus"] == "RUNNING"
        assert len(docker_ids(cluster_name, arn)) == 1, containers_for(cluster_name)
    wait_for(lambda: not controlplane.admin("/_local/state")["pendingPayloads"].get(inst), 20,
             what="every payload acknowledged")
    after = run_task_api(controlplane, cluster_name, td)
    wait_task_status(controlplane, cluster_name, after, "RUNNING")
    assert len(docker_ids(cluster_name)) == 3
    stop_clean(a)


def test_malformed_and_unknown_acs_frames_session_goes_on(make_agent, controlplane, cluster_name, test_image):
    a = start_agent(make_agent)
    seq = last_seq(controlplane)
    frames = [
        "this is not json",
        "{",
        "[]",
        "null",
        '{"type": 42, "message": {}}',
        '{"type": "NoSuchMessageType", "message": {"messageId": "x1"}}',
        '{"type": "PayloadMessage"}',
        '{"type": "PayloadMessage", "message": "not an object"}',
        '{"type": "PayloadMessage", "message": {"messageId": "bad-1", "tasks": "nope"}}',
        '{"type": "PayloadMessage", "message": {"messageId": "bad-2", "tasks": [{"arn": 7}]}}',
        '{"type": "HeartbeatMessage", "message": {"healthy": "maybe"}}',
        '{"type": "StageUpdateMessage", "message": {}}',
        '{"type": "CloseMessag", "message": {"message": "typo"}}',
        "\u00e9\u00e8" * 100,
        '{"type": "PayloadMessage", "message": {"messageId": "' + "x" * 20000 + '", "tasks": []}}',
    ]
    for f in frames:
        r = controlplane.admin("/_local/faults", {"send_raw": f})
        assert r["applied"]["send_raw"] == 1, r
    # the session goes on: no disconnect, and a task sent afterwards runs
    td = register_task_def(controlplane, "afterjunk", test_image)
    arn = run_task_api(controlplane, cluster_name, td)
    wait_task_status(controlplane, cluster_name, arn, "RUNNING")
    assert len(docker_ids(cluster_name, arn)) == 1
    evs = events(controlplane, since=seq)["events"]
    assert not [e for e in evs if e["kind"] in ("ws_disconnect", "ws_connect")], evs
    acks = [e for e in evs if e["kind"] == "AckRequest" and e["matched"]]
    assert acks, "the real payload was not acknowledged"
    stop_clean(a)


# --------------------------------------------------------------------------- ECS API errors

def test_state_changes_delivered_in_order_after_500s(make_agent, controlplane, cluster_name, test_image):
    a = start_agent(make_agent)
    outage = 8
    td_short = register_task_def(controlplane, "short", test_image, [
        {"name": "short", "cpu": 10, "memory": 32, "essential": True, "command": ["sh", "-c", "sleep 2; exit 7"]},
    ])
    td_long = register_task_def(controlplane, "long", test_image, [sleeper("a"), sleeper("b")])
    seq = last_seq(controlplane)
    t0 = time.time()  # the fault starts after this and lasts `outage` seconds
    controlplane.admin("/_local/faults", {"api_error": {
        "status": 500, "code": "ServerException", "message": "injected outage", "seconds": outage,
        "operations": ["SubmitTaskStateChange", "SubmitContainerStateChange"]}})
    short = run_task_api(controlplane, cluster_name, td_short)
    long_ = run_task_api(controlplane, cluster_name, td_long)

    # the short task runs and exits in Docker while ECS hears nothing
    def short_exited():
        ids = docker_ids(cluster_name, short)
        return ids and not docker_inspect(ids[0])["State"]["Running"] and docker_inspect(ids[0])["State"]["FinishedAt"]
    wait_for(short_exited, outage + 20, what="short task exited in Docker")
    if time.time() < t0 + outage - 3:
        assert describe_task(controlplane, cluster_name, short)["lastStatus"] == "PENDING"
        assert describe_task(controlplane, cluster_name, long_)["lastStatus"] == "PENDING"

    # after the outage everything arrives
    wait_task_status(controlplane, cluster_name, short, "STOPPED", timeout=outage + 90)
    wait_task_status(controlplane, cluster_name, long_, "RUNNING", timeout=60)
    t = wait_for(lambda: (lambda t: t if "exitCode" in t["containers"][0] else None)(
        describe_task(controlplane, cluster_name, short)), 30, what="exit code")
    assert t["containers"][0]["exitCode"] == 7
    assert t["containers"][0]["lastStatus"] == "STOPPED"

    rank = {"PENDING": 0, "RUNNING": 1, "STOPPED": 2}
    for arn, final in ((short, "STOPPED"), (long_, "RUNNING")):
        evs = state_change_events(controlplane, arn, since=seq)
        assert evs, arn
        # nothing was accepted during the outage
        assert all(e[4] >= t0 + outage for e in evs), evs
        # per task and per container, statuses only move forward, in order
        by_entity = {}
        for kind, status, cname, _, _ in evs:
            by_entity.setdefault((kind, cname), []).append(rank[status])
        for ent, seqs in by_entity.items():
            assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), (arn, ent, evs)
        task_statuses = [s for k, s, _, _, _ in evs if k == "task"]
        assert task_statuses[-1] == final, evs
        # a container's change never comes after its task stopped
        if final == "STOPPED":
            last_task = max(i for i, e in enumerate(evs) if e[0] == "task")
            assert all(e[0] == "task" for e in evs[last_task:]), evs
    stop_clean(a)


# --------------------------------------------------------------------------- restart

@pytest.mark.parametrize("runtime", RUNTIMES, indirect=True)
def test_kill9_restart_same_instance_tasks_tracked(runtime, make_agent, controlplane, cluster_name, test_image):
    a = start_agent(make_agent)
    inst = a.instance_arn()
    td = register_task_def(controlplane, "survivor", test_image, [sleeper("main"), sleeper("side")])
    t1 = run_task_api(controlplane, cluster_name, td)
    wait_task_status(controlplane, cluster_name, t1, "RUNNING")
    ids_before = sorted(runtime.ids(cluster_name, t1))
    assert len(ids_before) == 2

    seq = last_seq(controlplane)
    a.kill9()
    a.start()
    wait_for(lambda: a.introspect("/v1/metadata").get("ContainerInstanceArn") == inst, 60,
             what="introspection after restart\n" + a.output()[-2000:])
    a.wait_connected()
    arns = controlplane.ecs.list_container_instances(cluster=cluster_name)["containerInstanceArns"]
    assert arns == [inst]

    def tracked():
        ts = [t for t in a.introspect("/v1/tasks")["Tasks"] if t["Arn"] == t1]
        return ts[0] if ts and ts[0]["KnownStatus"] == "RUNNING" else None
    t = wait_for(tracked, 30, what="task tracked after restart")
    assert sorted(c["DockerId"] for c in t["Containers"]) == ids_before
    # the payload sent on reconnection (t1 again) is handled: acknowledged
    wait_for(lambda: events(controlplane, "AckRequest", seq)["events"], 30, what="ack of the reconnect payload")
    assert sorted(runtime.ids(cluster_name, t1)) == ids_before

    # still under control: a new task runs, the old one stops.  Placed after
    # the reconnect payload, its containers run only after anything that
    # payload could (wrongly) have re-created was asked of Docker
    t2 = run_task_api(controlplane, cluster_name, td)
    wait_task_status(controlplane, cluster_name, t2, "RUNNING")
    assert sorted(runtime.ids(cluster_name, t1)) == ids_before
    assert len(runtime.ids(cluster_name)) == 4, containers_for(cluster_name)
    controlplane.ecs.stop_task(cluster=cluster_name, task=t1)
    wait_task_status(controlplane, cluster_name, t1, "STOPPED", timeout=60)
    assert len(runtime.ids(cluster_name, t2)) == 2
    stop_clean(a)


# --------------------------------------------------------------------------- duplicates

def test_duplicate_payload_runs_once(make_agent, controlplane, cluster_name, test_image):
    a = start_agent(make_agent)
    td = register_task_def(controlplane, "dup", test_image)
    arn = run_task_api(controlplane, cluster_name, td)
    # re-sent at once (while the first copy is being handled) ...
    r = controlplane.admin("/_local/faults", {"duplicate_payload": True})
    assert r["applied"]["duplicate_payload"] == 1, r
    wait_task_status(controlplane, cluster_name, arn, "RUNNING")
    # ... and again once it runs: acknowledged again, nothing new started
    seq = last_seq(controlplane)
    controlplane.admin("/_local/faults", {"duplicate_payload": True})
    wait_for(lambda: events(controlplane, "AckRequest", seq)["events"], 15, what="ack of the duplicate")
    # a task placed after the duplicate runs only after anything the
    # duplicate could (wrongly) have started was asked of Docker
    later = run_task_api(controlplane, cluster_name, td)
    wait_task_status(controlplane, cluster_name, later, "RUNNING")
    assert len(docker_ids(cluster_name, arn)) == 1, containers_for(cluster_name)
    assert len(docker_ids(cluster_name)) == 2, containers_for(cluster_name)
    tasks = a.introspect("/v1/tasks")["Tasks"]
    assert sorted(t["Arn"] for t in tasks) == sorted([arn, later])
    runs = [e for e in state_change_events(controlplane, arn) if e[0] == "task" and e[1] == "RUNNING"]
    assert len(runs) == 1, runs
    stop_clean(a)
