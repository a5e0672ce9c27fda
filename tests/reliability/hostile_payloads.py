#!/usr/bin/python3
"""Hostile ACS payloads at their real size (issue 20, items 1 and 2): the
bounded versions run in `make test` (tests/e2e/test_hostile_payloads.py,
tests/unit/test_acs_payload.c, tests/unit/test_engine_plan.c); this driver
sends what was reported, against the real agent binary and the local
control plane:

    tests/reliability/hostile_payloads.py [--agent BIN] [--keep] [--only NAME...]

  chain20k   a task whose 20,000 containers form one links chain (1-8 MB;
             overflowed the stack of the recursive dependency check under
             ASan, before the ack, on every restart)
  chain30k   the same with volumesFrom, 30,000 containers (release build)
  wide60k    one task of 60,000 containers (minutes in the O(n^2)
             duplicate-name check)
  tasks20k   one payload of 20,000 one-container tasks (stalled introspection
             for 5 s)
  restore30k a checkpoint holding a task whose 30,000 containers form a links
             chain: restoring runs the same dependency check at start

For each payload: the agent stays up, the payload is refused with a reason
(the task reported STOPPED with "at most N", or the payload acknowledged
without running anything); the time from RunTask to the STOPPED report and
the slowest answer of introspection (/v1/metadata polled every 10 ms) are
printed, not asserted: decoding a frame of several MB (JSON, before any
limit can be checked) still holds the loop for a second or more.  Every
payload case ends with a normal task that must reach RUNNING.  restore30k
requires the agent to restore the checkpoint and connect; whether a normal
task then runs within 2 minutes is printed (the 30,000 STOPPED reports of
that task are each followed by a checkpoint write).  Exit status 0 iff
every case passed; a JSON summary is the last line of stdout.

The payload builders and the introspection probe below are shared with
tests/e2e/test_hostile_payloads.py, which imports this module.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from harness import ControlPlane, Agent, docker_cleanup, wait_for, log  # noqa: E402


class LagProbe:
    """Polls introspection /v1/metadata every 10 ms from a thread (each
    request allowed `timeout` seconds); records the slowest answer, the
    answers and the failures."""

    def __init__(self, port, timeout=10):
        self.url = "http://127.0.0.1:%d/v1/metadata" % port
        self.timeout = timeout
        self.worst = 0.0
        self.samples = 0
        self.errors = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            t0 = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=self.timeout) as r:
                    r.read()
                self.samples += 1
            except Exception:  # noqa: BLE001 - counted, reported by the caller
                self.errors += 1
            self.worst = max(self.worst, time.monotonic() - t0)
            self._stop.wait(0.01)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(self.timeout + 5)


def admin_post(cp, path, body, timeout=300):
    """ControlPlane.admin with a longer timeout (sending a 20,000-task frame
    takes a while)."""
    req = urllib.request.Request(cp.url + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read().decode() or "null")


def register(cp, family, containers, **kw):
    """A task definition of these containers (no per-container memory: the
    task-level memory is what placement checks); returns family:revision."""
    r = cp.ecs.register_task_definition(family=family, containerDefinitions=containers, memory="512", **kw)
    return "%s:%d" % (r["taskDefinition"]["family"], r["taskDefinition"]["revision"])


def run_task(cp, cluster, td):
    r = cp.ecs.run_task(cluster=cluster, taskDefinition=td)
    assert not r.get("failures"), r
    return r["tasks"][0]["taskArn"]


def acked(cp, message_id):
    """Has the agent sent the AckRequest of this payload?"""
    return any(e["message"].get("messageId") == message_id
               for e in cp.admin("/_local/events?kind=AckRequest")["events"])


def task_of(cp, cluster, arn):
    return cp.ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0]


def chain(n, image, how="links"):
    """n containers c0..c<n-1>, each linked to (how="links") or mounting the
    volumes of (how="volumesFrom") the next one; how="none": independent."""
    cs = []
    for i in range(n):
        c = {"name": "c%d" % i, "image": image, "cpu": 0, "essential": True}
        if i + 1 < n and how != "none":
            if how == "links":
                c["links"] = ["c%d" % (i + 1)]
            else:
                c["volumesFrom"] = [{"sourceContainer": "c%d" % (i + 1)}]
        cs.append(c)
    return cs


def payload_tasks(cluster, n, image, per=1, desired="RUNNING", tag=""):
    """n ACS tasks of `per` chained containers each; ARNs in cluster, their
    ids tag followed by the task's number in hex (32 characters in all)."""
    return [{"arn": "arn:aws:ecs:us-west-2:123456789012:task/%s/%s%0*x" % (cluster, tag, 32 - len(tag), i),
             "family": "f", "version": "1", "desiredStatus": desired, "containers": chain(per, image)}
            for i in range(n)]


def payload_message(message_id, seq, tasks):
    """A PayloadMessage for the control plane's /_local/acs/send."""
    return {"type": "PayloadMessage", "message": {"messageId": message_id, "seqNum": seq, "tasks": tasks}}


def case_task(rig, image, containers, res):
    cp, cluster, a = rig["cp"], rig["cluster"], rig["agent"]
    td = register(cp, "big" + uuid.uuid4().hex[:6], containers)
    with LagProbe(a.introspection_port, timeout=30) as probe:
        t0 = time.monotonic()
        arn = run_task(cp, cluster, td)
        t = wait_for(lambda: (lambda x: x if x["lastStatus"] == "STOPPED" else None)(task_of(cp, cluster, arn)),
                     300, what="STOPPED report")
        res["stopped_after_s"] = round(time.monotonic() - t0, 3)
    res["reason"] = t.get("stoppedReason")
    res["worst_introspection_s"] = round(probe.worst, 3)
    res["probe_errors"] = probe.errors
    ok = "at most" in (t.get("stoppedReason") or "")
    if not ok:
        res["problem"] = "no limit reason: %r" % t.get("stoppedReason")
    return ok


def case_tasks(rig, n, res):
    cp, cluster, a = rig["cp"], rig["cluster"], rig["agent"]
    tasks = payload_tasks(cluster, n, "none-such:never-pulled")
    mid = str(uuid.uuid4())
    with LagProbe(a.introspection_port, timeout=30) as probe:
        t0 = time.monotonic()
        admin_post(cp, "/_local/acs/send", payload_message(mid, 1, tasks))
        wait_for(lambda: acked(cp, mid), 300, what="ack of the %d-task payload" % n)
        res["acked_after_s"] = round(time.monotonic() - t0, 3)
    res["worst_introspection_s"] = round(probe.worst, 3)
    res["probe_errors"] = probe.errors
    running = [t for t in a.introspect("/v1/tasks")["Tasks"] if t.get("DesiredStatus") == "RUNNING"]
    res["agent_tasks_running"] = len(running)
    if running:
        res["problem"] = "%d tasks of the refused payload were accepted" % len(running)
    return not running


def case_restore(rig, image, n, res):
    """A checkpoint with an n-container links chain task (as a pre-limit
    agent could have written it): the agent restores it and stays up."""
    a = rig["agent"]
    a.stop()
    path = os.path.join(a.data_dir, "ecs_agent_data.json")
    with open(path) as f:
        st = json.load(f)
    te = st["Data"].setdefault("TaskEngine", {})
    arn = "arn:aws:ecs:us-west-2:123456789012:task/%s/%032x" % (rig["cluster"], 7)
    te.setdefault("Tasks", []).append({
        "Arn": arn, "Family": "restore", "Version": "1", "DesiredStatus": "STOPPED", "KnownStatus": "NONE",
        "Containers": [{"Name": "c%d" % i, "Image": image, "Essential": True, "DesiredStatus": "STOPPED",
                        "KnownStatus": "NONE", "Links": ["c%d" % (i + 1)] if i + 1 < n else None}
                       for i in range(n)]})
    with open(path, "w") as f:
        json.dump(st, f)
    t0 = time.monotonic()
    a.start()
    a.wait_connected(timeout=300)
    res["connected_after_s"] = round(time.monotonic() - t0, 3)
    t = [x for x in a.introspect("/v1/tasks")["Tasks"] if x["Arn"] == arn]
    res["restored"] = bool(t)
    res["known"] = t[0]["KnownStatus"] if t else None
    res["followup_required"] = False
    return a.alive()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--agent")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    if args.agent:
        os.environ["AGENT_BIN"] = os.path.abspath(args.agent)
    image = harness.test_image()
    tmp = tempfile.mkdtemp(prefix="ecs-hostile-")
    cp = ControlPlane(tmp)
    cluster = "hostile-" + uuid.uuid4().hex[:8]
    cp.ecs.create_cluster(clusterName=cluster)
    a = Agent(cp, tmp, cluster, env={"ECS_LOGLEVEL": "info"})
    a.start()
    a.wait_registered(timeout=120)
    a.wait_connected(timeout=120)
    rig = {"cp": cp, "cluster": cluster, "agent": a}
    cases = [
        ("chain20k", lambda r: case_task(rig, image, chain(20000, image), r)),
        ("chain30k", lambda r: case_task(rig, image, chain(30000, image, "volumesFrom"), r)),
        ("wide60k", lambda r: case_task(rig, image, chain(60000, image, "none"), r)),
        ("tasks20k", lambda r: case_tasks(rig, 20000, r)),
        ("restore30k", lambda r: case_restore(rig, image, 30000, r)),
    ]
    results = {}
    ok_all = True
    try:
        for name, fn in cases:
            if args.only and name not in args.only:
                continue
            res = {}
            log("case %s" % name)
            try:
                ok = fn(res)
            except Exception as e:  # noqa: BLE001 - reported in the summary
                ok = False
                res["problem"] = repr(e)[:500]
            if not a.alive():
                ok = False
                res["problem"] = "agent died (exit %s): %s" % (a.proc.returncode, a.output()[-1500:])
                a.start()
                a.wait_connected(timeout=120)
            else:
                td = "fine" + uuid.uuid4().hex[:6]
                r = cp.ecs.register_task_definition(family=td, containerDefinitions=[
                    {"name": "main", "image": image, "memory": 32, "essential": True,
                     "command": ["sleep", "3600"]}])
                arn = run_task(cp, cluster, "%s:%d" % (td, r["taskDefinition"]["revision"]))
                t0 = time.monotonic()
                try:
                    wait_for(lambda: task_of(cp, cluster, arn)["lastStatus"] == "RUNNING", 120,
                             what="a normal task RUNNING")
                    res["normal_task_running_after_s"] = round(time.monotonic() - t0, 3)
                except AssertionError as e:
                    res["normal_task_running_after_s"] = None
                    if res.get("followup_required", True):
                        ok = False
                        res["problem"] = str(e)[:300]
                cp.ecs.stop_task(cluster=cluster, task=arn)
            res["ok"] = ok
            ok_all &= ok
            results[name] = res
            log("case %s: %s" % (name, json.dumps(res)))
    finally:
        rc = a.stop()
        results["agent_exit"] = rc
        cp.stop()
        docker_cleanup(cluster)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({"ok": ok_all, "cases": results}))
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
