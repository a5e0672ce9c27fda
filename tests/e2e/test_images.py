"""End to end: image pulls and launches (#17) with the real agent binary, the
real Docker engine and the local control plane, as a user sees them through
the ECS API.

- ECS_LAUNCH_CONCURRENCY=4: a burst of 50 tasks runs, and Docker's own event
  times never show more than 4 containers created and not yet started.
- ECS_IMAGE_PULL_BEHAVIOR: with the default a task whose image exists only
  locally runs (the failed pull falls back to the local copy); with "always"
  the same task stops with CannotPullContainerError.
"""
import json
import subprocess
import threading
import time

from conftest import register_task_def, wait_for


class DockerEvents:
    """`docker events` for one cluster's containers, collected in a thread."""

    def __init__(self, cluster):
        self.items = []
        self.proc = subprocess.Popen(
            ["docker", "events", "--format", "{{json .}}", "--filter", "type=container",
             "--filter", "label=com.amazonaws.ecs.cluster=" + cluster],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            self.items.append((e.get("timeNano", 0), e.get("Action") or e.get("status"), e.get("id")))

    def of(self, action):
        return {i: t for t, a, i in list(self.items) if a == action}

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def run_tasks(cp, cluster, td, n):
    arns = []
    while len(arns) < n:
        r = cp.ecs.run_task(cluster=cluster, taskDefinition=td, count=min(10, n - len(arns)))
        assert not r.get("failures"), r
        arns += [t["taskArn"] for t in r["tasks"]]
    return arns


def statuses(cp, cluster, arns):
    out = {}
    for i in range(0, len(arns), 100):
        for t in cp.ecs.describe_tasks(cluster=cluster, tasks=arns[i:i + 100])["tasks"]:
            out[t["taskArn"]] = t
    return out


def test_launch_concurrency_limit_bounds_creates_and_starts(make_agent, controlplane, cluster_name, test_image):
    ev = DockerEvents(cluster_name)
    try:
        agent = make_agent(env={"ECS_LAUNCH_CONCURRENCY": "4"})
        agent.wait_connected()
        td = register_task_def(controlplane, "e2e-burst", test_image)
        t0 = time.time()
        arns = run_tasks(controlplane, cluster_name, td, 50)
        wait_for(lambda: all(t.get("lastStatus") == "RUNNING" for t in statuses(controlplane, cluster_name, arns).values()),
                 timeout=300, interval=1.0, what="50 tasks RUNNING")
        took = time.time() - t0
        wait_for(lambda: len(ev.of("start")) >= 50, timeout=30, what="50 docker start events")
        creates, starts = ev.of("create"), ev.of("start")
        edges = sorted([(t, 1) for t in creates.values()] + [(t, -1) for t in starts.values()])
        cur = peak = 0
        for _, d in edges:
            cur += d
            peak = max(peak, cur)
        print("50-task burst with ECS_LAUNCH_CONCURRENCY=4: %.1f s to all RUNNING; "
              "most containers created and not yet started at once: %d" % (took, peak))
        assert len(creates) == 50
        assert 1 <= peak <= 4
    finally:
        ev.stop()


def test_pull_behavior_default_falls_back_always_stops(make_agent, controlplane, cluster_name, test_image):
    # the test image exists only locally: every pull of it fails
    td = register_task_def(controlplane, "e2e-pull", test_image)
    agent = make_agent()
    agent.wait_connected()
    arn = run_tasks(controlplane, cluster_name, td, 1)[0]
    wait_for(lambda: statuses(controlplane, cluster_name, [arn])[arn].get("lastStatus") == "RUNNING",
             timeout=120, what="task RUNNING with the default pull behaviour")
    agent.stop()

    agent2 = make_agent(env={"ECS_IMAGE_PULL_BEHAVIOR": "always"})
    agent2.wait_connected()
    arn2 = run_tasks(controlplane, cluster_name, td, 1)[0]

    def stopped():
        t = statuses(controlplane, cluster_name, [arn2])[arn2]
        return t if t.get("lastStatus") == "STOPPED" else None
    t = wait_for(stopped, timeout=120, what="task STOPPED with pull behaviour always")
    reasons = [c.get("reason") or "" for c in t.get("containers", [])]
    assert any(r.startswith("CannotPullContainerError:") for r in reasons), t
    assert "pull behaviour always" in agent2.all_logs()
