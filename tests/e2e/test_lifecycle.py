"""End to end: container lifecycle (dependsOn with a Docker health check).

A three-container task registered with the real AWS CLI: `db` turns
healthy after a few seconds, `migrate` depends on `db` HEALTHY and exits,
`app` depends on `migrate` SUCCESS.  The containers start in that order
(Docker's order of events, and those of its State timestamps that causality
orders), the task reaches RUNNING, the agent's
introspection shows db's health, and a stop goes in reverse order.  With
`migrate` exiting 1, `app` is never created and the task stops with the
dependency-graph reason.
"""
import json
import subprocess
import time
import uuid

from conftest import wait_for, wait_task_status, describe_task


def inspect(cid):
    out = subprocess.run(["docker", "inspect", cid], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)[0]


def by_name(cluster, arn):
    out = subprocess.run(["docker", "ps", "-aq", "--no-trunc", "--filter",
                          "label=com.amazonaws.ecs.cluster=" + cluster, "--filter",
                          "label=com.amazonaws.ecs.task-arn=" + arn], capture_output=True, text=True,
                         timeout=60).stdout.split()
    return {inspect(i)["Config"]["Labels"]["com.amazonaws.ecs.container-name"]: inspect(i) for i in out}


def ns(s):
    """Docker's RFC 3339 time (fraction of 0..9 digits) -> comparable text."""
    head, _, frac = s.rstrip("Z").partition(".")
    return head + "." + frac.ljust(9, "0")


def stop_clean(a):
    rc = a.stop()
    out = a.output()
    assert rc == 0, out[-3000:]
    assert "Sanitizer" not in out and "runtime error:" not in out, out[-3000:]


# A shell that exits at once on SIGTERM (PID 1 ignores it otherwise).
SERVE = "trap 'exit 0' TERM; sleep 3600 & wait"


def chain(image, family, migrate_exit):
    return {
        "family": family,
        "containerDefinitions": [
            {"name": "db", "image": image, "memory": 32, "essential": True,
             "command": ["sh", "-c", "sleep 2; touch /tmp/ready; " + SERVE],
             "healthCheck": {"command": ["CMD-SHELL", "test -f /tmp/ready"], "interval": 5, "timeout": 2,
                             "retries": 1, "startPeriod": 0}},
            {"name": "migrate", "image": image, "memory": 32, "essential": False,
             "command": ["sh", "-c", "exit %d" % migrate_exit],
             "dependsOn": [{"containerName": "db", "condition": "HEALTHY"}]},
            {"name": "app", "image": image, "memory": 32, "essential": True,
             "command": ["sh", "-c", SERVE],
             "dependsOn": [{"containerName": "migrate", "condition": "SUCCESS"},
                           {"containerName": "db", "condition": "START"}]},
        ]}


def register(cp, tmp_path, td):
    f = tmp_path / ("td-%s.json" % td["family"])
    f.write_text(json.dumps(td))
    return cp.aws_cli("register-task-definition", "--cli-input-json", "file://" + str(f))["taskDefinition"]


class EventLog:
    """Docker's container events of one cluster, as the daemon publishes
    them (a live `docker events`: the daemon's buffer keeps only its last
    256 events, and other tests share the daemon)."""

    def __init__(self, cluster, path):
        self.path = path
        self.out = open(path, "w")
        self.proc = subprocess.Popen(["docker", "events", "--since", str(int(time.time()) - 1), "--filter",
                                      "type=container", "--filter", "label=com.amazonaws.ecs.cluster=" + cluster,
                                      "--format", "{{json .}}"], stdout=self.out, stderr=subprocess.DEVNULL)

    def seq(self):
        """(container id, action) in the order Docker published them."""
        with open(self.path) as f:
            return [(e["Actor"]["ID"], e["Action"]) for e in
                    (json.loads(line) for line in f if line.strip())]

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.out.close()


def test_depends_on_healthy_success_order(make_agent, controlplane, cluster_name, test_image, tmp_path):
    a = make_agent()
    a.wait_registered()
    a.wait_connected()
    cp = controlplane
    td = register(cp, tmp_path, chain(test_image, "life-" + uuid.uuid4().hex[:6], 0))
    events = EventLog(cluster_name, str(tmp_path / "events.jsonl"))
    try:
        r = cp.aws_cli("run-task", "--cluster", cluster_name, "--task-definition", td["family"])
        assert r["failures"] == [], r
        arn = r["tasks"][0]["taskArn"]
        try:
            wait_task_status(cp, cluster_name, arn, "RUNNING", timeout=120)
        except AssertionError:
            raise AssertionError(a.output()[-4000:])
        c = by_name(cluster_name, arn)
        assert set(c) == {"db", "migrate", "app"}
        mig_die, app_create = (c["migrate"]["Id"], "die"), (c["app"]["Id"], "create")
        seq = wait_for(lambda: (lambda q: q if mig_die in q and app_create in q else None)(events.seq()), 30,
                       what="migrate's die and app's create in Docker's events")
    finally:
        events.close()
    db, mig, app = c["db"]["State"], c["migrate"]["State"], c["app"]["State"]
    assert db["Health"]["Status"] == "healthy"
    assert mig["ExitCode"] == 0
    # What the agent guarantees, in the order Docker published its events (no
    # clock involved): app is created only once migrate has died (exit 0).
    assert seq.index(mig_die) < seq.index(app_create), "%s\n%s" % (seq, a.all_logs()[-8000:])
    # Docker's times that causality orders: db started before migrate (which
    # waited for db's health), migrate's exit (containerd's exit time, taken
    # before the die event) before app's start.  Not migrate's StartedAt
    # against its FinishedAt: dockerd reads its clock for StartedAt only once
    # containerd's start has returned (moby daemon/start.go, SetRunning in
    # container/state.go) while FinishedAt is the exit time containerd
    # reports (daemon/monitor.go), and `exit 0` can be over by then: under
    # load FinishedAt came up to 1.3 ms before StartedAt (CI saw 1.1 ms).
    order = (ns(db["StartedAt"]), ns(mig["StartedAt"]), ns(mig["FinishedAt"]), ns(app["StartedAt"]))
    assert order[0] < order[1] and order[2] <= order[3], "%s\n%s" % (order, a.all_logs()[-8000:])
    healthy_at = min(ns(l["End"]) for l in db["Health"]["Log"] if l["ExitCode"] == 0)
    assert healthy_at < ns(mig["StartedAt"])

    # introspection shows db's health
    tasks = a.introspect("/v1/tasks")["Tasks"]
    mine = [t for t in tasks if t["Arn"] == arn][0]
    dbc = [x for x in mine["Containers"] if x["Name"] == "db"][0]
    assert dbc["Health"]["status"] == "HEALTHY" and dbc["Health"]["statusSince"]

    # stop: app (which lists db) stops before db; migrate has exited already
    cp.aws_cli("stop-task", "--cluster", cluster_name, "--task", arn)
    wait_task_status(cp, cluster_name, arn, "STOPPED", timeout=120)
    c = by_name(cluster_name, arn)
    assert ns(c["app"]["State"]["FinishedAt"]) <= ns(c["db"]["State"]["FinishedAt"])
    stop_clean(a)


def test_depends_on_success_fails(make_agent, controlplane, cluster_name, test_image, tmp_path):
    a = make_agent()
    a.wait_registered()
    a.wait_connected()
    cp = controlplane
    td = register(cp, tmp_path, chain(test_image, "life-" + uuid.uuid4().hex[:6], 1))
    r = cp.aws_cli("run-task", "--cluster", cluster_name, "--task-definition", td["family"])
    assert r["failures"] == [], r
    arn = r["tasks"][0]["taskArn"]
    t = wait_task_status(cp, cluster_name, arn, "STOPPED", timeout=120)
    c = by_name(cluster_name, arn)
    assert "app" not in c, "app was created although migrate failed"
    assert c["migrate"]["State"]["ExitCode"] == 1
    appc = [x for x in t["containers"] if x["name"] == "app"][0]
    assert appc["lastStatus"] == "STOPPED"
    assert appc.get("exitCode") == 143
    assert appc["reason"].startswith("CannotStartContainerError: dependency graph: failed to resolve "
                                     "container ordering dependency [migrate("), appc
    # (ECS keeps the first 255 characters of a reason; the agent's log has it whole)
    assert "Exit: 1] for target [app(" in appc["reason"]
    assert "as dependency did not exit successfully." in a.output()
    stop_clean(a)


def docker_events(cid, since, until):
    out = subprocess.run(["docker", "events", "--since", str(since), "--until", str(until), "--filter",
                          "container=" + cid, "--format", "{{json .}}"], capture_output=True, text=True,
                         timeout=60).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_stop_timeout_kills_after_grace(make_agent, controlplane, cluster_name, test_image, tmp_path):
    """stopTimeout 2 s against a container that ignores SIGTERM (PID 1 without a
    handler): Docker sends SIGTERM, then SIGKILL about 2 s later (exit 137),
    not after the agent's 30 s default."""
    a = make_agent()
    a.wait_registered()
    a.wait_connected()
    cp = controlplane
    td = register(cp, tmp_path, {"family": "stopt-" + uuid.uuid4().hex[:6], "containerDefinitions": [
        {"name": "stubborn", "image": test_image, "memory": 32, "essential": True,
         "command": ["sleep", "3600"], "stopTimeout": 2}]})
    assert td["containerDefinitions"][0]["stopTimeout"] == 2
    r = cp.aws_cli("run-task", "--cluster", cluster_name, "--task-definition", td["family"])
    arn = r["tasks"][0]["taskArn"]
    wait_task_status(cp, cluster_name, arn, "RUNNING", timeout=120)
    since = int(time.time()) - 1
    cp.aws_cli("stop-task", "--cluster", cluster_name, "--task", arn)
    wait_task_status(cp, cluster_name, arn, "STOPPED", timeout=60)
    c = by_name(cluster_name, arn)["stubborn"]
    assert c["State"]["ExitCode"] == 137
    evs = docker_events(c["Id"], since, int(time.time()) + 1)
    kills = [e for e in evs if e.get("Action") == "kill"]
    term = [e for e in kills if e["Actor"]["Attributes"].get("signal") == "15"][0]
    die = [e for e in evs if e.get("Action") == "die"][0]
    grace = (die["timeNano"] - term["timeNano"]) / 1e9
    assert 1.5 <= grace < 10, grace
    stop_clean(a)


# Exits 42 on SIGUSR1; SIGTERM would kill sh (exit 143).
USR1 = "trap 'exit 42' USR1; sleep 3600 & wait"


def test_stop_signal_label_and_image(make_agent, controlplane, cluster_name, test_image, tmp_path):
    """The stop signal reaches the container: from the project's docker label
    (ecs-agent-c.stop-signal) and from an image's STOPSIGNAL (image built here)."""
    tag = "ecs-agent-c-test/stopsignal:" + uuid.uuid4().hex[:8]
    (tmp_path / "Dockerfile").write_text("FROM %s\nSTOPSIGNAL SIGUSR1\nLABEL ecs-agent-c-test=1\n" % test_image)
    b = subprocess.run(["docker", "build", "-q", "-t", tag, str(tmp_path)], capture_output=True, text=True,
                       timeout=120)
    assert b.returncode == 0, b.stderr
    try:
        a = make_agent()
        a.wait_registered()
        a.wait_connected()
        cp = controlplane
        td = register(cp, tmp_path, {"family": "sig-" + uuid.uuid4().hex[:6], "containerDefinitions": [
            {"name": "bylabel", "image": test_image, "memory": 32, "essential": True,
             "command": ["sh", "-c", USR1], "stopTimeout": 20,
             "dockerLabels": {"ecs-agent-c.stop-signal": "SIGUSR1"}},
            {"name": "byimage", "image": tag, "memory": 32, "essential": True,
             "command": ["sh", "-c", USR1], "stopTimeout": 20}]})
        r = cp.aws_cli("run-task", "--cluster", cluster_name, "--task-definition", td["family"])
        arn = r["tasks"][0]["taskArn"]
        wait_task_status(cp, cluster_name, arn, "RUNNING", timeout=120)
        c = by_name(cluster_name, arn)
        assert c["bylabel"]["Config"]["StopSignal"] == "SIGUSR1"
        assert "StopSignal" in c["byimage"]["Config"]  # the image's, untouched by the agent
        cp.aws_cli("stop-task", "--cluster", cluster_name, "--task", arn)
        wait_task_status(cp, cluster_name, arn, "STOPPED", timeout=60)
        c = by_name(cluster_name, arn)
        assert c["bylabel"]["State"]["ExitCode"] == 42
        assert c["byimage"]["State"]["ExitCode"] == 42
        stop_clean(a)
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, timeout=60)
