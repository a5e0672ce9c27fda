"""End to end: the container restart policy (restartPolicy) with the real
agent, Docker and the control plane.

* A container that exits 1 is started again in place: the same Docker
  container (one container for the task, same id), RestartCount 1 in the
  agent's introspection, the task stays RUNNING and the control plane never
  sees the container STOPPED.  Its next exit, with a code listed in
  ignoredExitCodes, stops the task as usual.
* restartAttemptPeriod: an exit within the period after a restart is not
  restarted; the container is reported STOPPED (essential: the task stops).
* kill -9 of the agent while the restarted container runs, the container
  exits while the agent is down: the restarted agent restarts it once
  (its own run counter says three runs), RestartCount goes from 1 to 2 (the
  count survived in the checkpoint).

Debian's AWS CLI and botocore predate restartPolicy, so the task definition
is registered with a SigV4-signed raw call; the control plane runs with its
test-only --min-restart-attempt-period 1 (ECS's minimum is 60 s, and before
the first restart the period counts from the container's first start).
"""
import calendar
import json
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import AKID, REGION, SECRET, ControlPlane, describe_task, wait_for, wait_task_status


@pytest.fixture
def controlplane(tmpdir_path):
    cp = ControlPlane(tmpdir_path, extra_args=["--min-restart-attempt-period", "1"])
    yield cp
    cp.stop()


def register_raw(cp, td):
    data = json.dumps(td).encode()
    req = AWSRequest(method="POST", url=cp.url + "/", data=data,
                     headers={"Content-Type": "application/x-amz-json-1.1",
                              "X-Amz-Target": "AmazonEC2ContainerServiceV20141113.RegisterTaskDefinition"})
    SigV4Auth(Credentials(AKID, SECRET), "ecs", REGION).add_auth(req)
    r = urllib.request.Request(cp.url + "/", data=data, method="POST", headers=dict(req.headers.items()))
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            return json.loads(resp.read())["taskDefinition"]
    except urllib.error.HTTPError as e:
        raise AssertionError("RegisterTaskDefinition: %s" % e.read().decode())


def docker(*args):
    out = subprocess.run(["docker"] + list(args), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def task_containers(cluster, arn):
    return docker("ps", "-aq", "--no-trunc", "--filter", "label=com.amazonaws.ecs.cluster=" + cluster,
                  "--filter", "label=com.amazonaws.ecs.task-arn=" + arn).split()


def state(cid):
    return json.loads(docker("inspect", cid))[0]["State"]


def started_at(cid):
    """Docker's State.StartedAt of cid as unix seconds."""
    s = state(cid)["StartedAt"].rstrip("Z")
    head, _, frac = s.partition(".")
    return calendar.timegm(time.strptime(head, "%Y-%m-%dT%H:%M:%S")) + float("0." + (frac or "0"))


def introspected(a, arn, name):
    for t in a.introspect("/v1/tasks")["Tasks"]:
        if t["Arn"] == arn:
            return [c for c in t["Containers"] if c["Name"] == name][0]
    return None


def restart_count(a, arn, name):
    c = introspected(a, arn, name)
    return c.get("RestartCount") if c else None


# Each run of the container counts itself in its own writable layer (kept
# across docker start): run 1 exits 1 after $RUN1 s (longer than the period:
# the first restart counts from the first start), run 2 exits with $CODE2 at
# once or, with WAIT2=1, once /tmp/go exists; later runs serve until stopped.
RUNS = ("n=$(cat /tmp/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /tmp/n; "
        "case $n in 1) sleep $RUN1; exit 1;; "
        "2) while [ \"$WAIT2\" = 1 ] && [ ! -f /tmp/go ]; do sleep 0.1; done; exit $CODE2;; "
        "*) trap 'exit 0' TERM; sleep 3600 & wait;; esac")


def run_restarter(a, cp, cluster, image, code2, period, ignored, wait2=True):
    a.wait_registered()
    a.wait_connected()
    td = register_raw(cp, {"family": "rp-" + uuid.uuid4().hex[:6], "containerDefinitions": [
        {"name": "app", "image": image, "memory": 32, "essential": True,
         "environment": [{"name": "CODE2", "value": str(code2)}, {"name": "RUN1", "value": str(period + 2)},
                         {"name": "WAIT2", "value": "1" if wait2 else "0"}],
         "command": ["sh", "-c", RUNS],
         "restartPolicy": {"enabled": True, "ignoredExitCodes": ignored, "restartAttemptPeriod": period}}]})
    assert td["containerDefinitions"][0]["restartPolicy"]["restartAttemptPeriod"] == period
    r = cp.aws_cli("run-task", "--cluster", cluster, "--task-definition", td["family"])
    assert r["failures"] == [], r
    arn = r["tasks"][0]["taskArn"]
    wait_task_status(cp, cluster, arn, "RUNNING", timeout=120)
    return arn


def assert_never_stopped(cp, cluster, arn):
    t = describe_task(cp, cluster, arn)
    assert t["lastStatus"] == "RUNNING", t
    c = t["containers"][0]
    assert c["lastStatus"] == "RUNNING" and "exitCode" not in c, c


def stop_clean(a):
    rc = a.stop()
    out = a.output()
    assert rc == 0, out[-3000:]
    assert "Sanitizer" not in out and "runtime error:" not in out, out[-3000:]


def test_restart_in_place_then_ignored_code_stops(make_agent, controlplane, cluster_name, test_image):
    a = make_agent()
    cp = controlplane
    arn = run_restarter(a, cp, cluster_name, test_image, code2=7, period=1, ignored=[7])
    ids = task_containers(cluster_name, arn)
    assert len(ids) == 1
    assert restart_count(a, arn, "app") == 0
    # run 1 exits 1: restarted in place
    wait_for(lambda: restart_count(a, arn, "app") == 1, 60, what="RestartCount 1\n" + a.output()[-3000:])
    wait_for(lambda: docker("exec", ids[0], "cat", "/tmp/n").strip() == "2", 30, what="second run")
    assert task_containers(cluster_name, arn) == ids  # the same container, no new one
    assert state(ids[0])["Running"]
    assert introspected(a, arn, "app")["DockerId"] == ids[0]
    assert_never_stopped(cp, cluster_name, arn)
    # run 2 exits 7 (ignored): a normal stop, the task stops
    docker("exec", ids[0], "touch", "/tmp/go")
    t = wait_task_status(cp, cluster_name, arn, "STOPPED", timeout=60)
    assert t["containers"][0]["exitCode"] == 7, t
    assert state(ids[0])["ExitCode"] == 7
    assert "restarting it in place (restart 1)" in a.all_logs()
    stop_clean(a)


def test_restart_attempt_period_blocks_second_restart(make_agent, controlplane, cluster_name, test_image):
    a = make_agent()
    cp = controlplane
    # period 5 s: run 1 lasts 7 s (restarted), run 2 exits 5 at once (within 5 s of the restart)
    arn = run_restarter(a, cp, cluster_name, test_image, code2=5, period=5, ignored=[], wait2=False)
    ids = task_containers(cluster_name, arn)
    t = wait_task_status(cp, cluster_name, arn, "STOPPED", timeout=60)
    assert t["containers"][0]["exitCode"] == 5, t
    assert task_containers(cluster_name, arn) == ids
    assert docker("inspect", "-f", "{{.State.ExitCode}}", ids[0]).strip() == "5"
    logs = a.all_logs()
    assert "restarting it in place (restart 1)" in logs and "not restarted (restart policy)" in logs
    # the checkpoint still says one restart
    c = introspected(a, arn, "app")
    assert c is None or c["RestartCount"] == 1
    stop_clean(a)


def test_agent_killed_no_double_restart(make_agent, controlplane, cluster_name, test_image):
    a = make_agent()
    cp = controlplane
    arn = run_restarter(a, cp, cluster_name, test_image, code2=1, period=1, ignored=[])
    ids = task_containers(cluster_name, arn)
    wait_for(lambda: restart_count(a, arn, "app") == 1, 60, what="RestartCount 1\n" + a.output()[-3000:])
    wait_for(lambda: docker("exec", ids[0], "cat", "/tmp/n").strip() == "2", 30, what="second run")
    # the next exit must come more than the period (1 s) after this restart
    wait_for(lambda: time.time() - started_at(ids[0]) > 2.0, 30, what="2 s past the restart")
    a.kill9()
    # run 2 exits 1 while the agent is down
    docker("exec", ids[0], "touch", "/tmp/go")
    wait_for(lambda: not state(ids[0])["Running"], 30, what="container exited")
    assert state(ids[0])["ExitCode"] == 1
    a.start()
    try:
        wait_for(lambda: restart_count(a, arn, "app") == 2, 60, what="RestartCount 2")
    except AssertionError as e:
        raise AssertionError("%s\n%s" % (e, a.all_logs()[-6000:]))
    wait_for(lambda: state(ids[0])["Running"], 30, what="container running again")
    assert docker("exec", ids[0], "cat", "/tmp/n").strip() == "3"  # started once more, not twice
    assert task_containers(cluster_name, arn) == ids
    assert_never_stopped(cp, cluster_name, arn)
    # a second agent start changes nothing
    assert a.stop() == 0
    a.start()
    a.wait_connected()
    wait_for(lambda: introspected(a, arn, "app") is not None, 60, what="task restored")
    assert restart_count(a, arn, "app") == 2
    # the container runs on (CI once found it not running here: the logs say why)
    st = state(ids[0])
    assert st["Running"], "%s\n%s" % (st, a.all_logs()[-8000:])
    assert docker("exec", ids[0], "cat", "/tmp/n").strip() == "3"
    assert_never_stopped(cp, cluster_name, arn)
    cp.aws_cli("stop-task", "--cluster", cluster_name, "--task", arn)
    wait_task_status(cp, cluster_name, arn, "STOPPED", timeout=60)
    assert restart_count(a, arn, "app") in (2, None)
    stop_clean(a)
