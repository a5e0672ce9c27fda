#!/usr/bin/python3
"""state_change_calls.py - the state-change calls an agent makes for one
scripted scenario, side by side with the upstream Go agent (issue 16):

    /usr/bin/python3 bench/state_change_calls.py [--upstream PATH|auto|none] [--reps N]

The same scenario runs against each agent in turn, each on its own cluster of
one local control plane (bench/cp_bench.py, as `make bench`) and the real
Docker engine, with a private registry (tests/lib/registry.sh) so the images
are really pulled and have a registry digest:

  two-container  the task of tests/e2e/test_state_changes.py (main + side,
                 both essential, `sleep 3600`): RunTask, RUNNING reported,
                 StopTask, STOPPED reported
  exit-nonzero   one essential container that runs `exit 3`: RunTask, STOPPED
                 reported with its exit code

For each: the SubmitTaskStateChange / SubmitContainerStateChange calls the
control plane accepted for the task and the changes they carry (a task change
counts one, every containers[] entry one), the sequence of (task status,
[container statuses]) sent, the field names seen, and the latency from the
RunTask answer to the RUNNING submission and from the StopTask answer to the
STOPPED submission (server receive times, median of --reps).

The upstream agent: --upstream PATH, or `auto` (the default) runs
bench/upstream_agent.sh (builds upstream 1.105.1 from its sources through the
Go module proxy, cached); when it cannot be had the table says so and only
this agent is measured (never silently). Writes out/bench/state_changes.json
and prints a Markdown table.

Knobs: AGENT_BIN [out/amazon-ecs-agent], BENCH_IMAGE (the base image), and
bench.py's BENCH_AGENT_ENV.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_lib as B  # noqa: E402

KINDS = ("SubmitTaskStateChange", "SubmitContainerStateChange")


def registry_info():
    r = subprocess.run([os.path.join(B.ROOT, "tests", "lib", "registry.sh"), "start"], capture_output=True,
                       text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError("tests/lib/registry.sh start failed: " + r.stderr[-2000:])
    info = {}
    with open(r.stdout.strip().splitlines()[-1]) as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            if k:
                info[k] = v
    return info


def registry_image(reg):
    """A registry image of the bench image, pushed under a fresh name and removed locally, so the
    agent really pulls it (and learns its digest)."""
    d = tempfile.mkdtemp(prefix="ecs-sc-img-")
    target = "127.0.0.1:%s/ecs-agent-c-test/state-changes-%s:latest" % (reg["port"], uuid.uuid4().hex[:10])
    env = dict(os.environ, DOCKER_BUILDKIT="0", DOCKER_CONFIG=os.path.join(d, "docker-config"))
    try:
        with open(os.path.join(d, "Dockerfile"), "w") as f:
            f.write("FROM %s\nLABEL bench=%s\n" % (B.IMAGE, uuid.uuid4().hex))
        subprocess.run(["docker", "build", "-q", "--label", B.TEST_LABEL, "-t", target, d], env=env, check=True,
                       capture_output=True, timeout=300)
        subprocess.run(["docker", "login", "-u", reg["user"], "--password-stdin", "127.0.0.1:" + reg["port"]],
                       input=reg["password"], text=True, env=env, check=True, capture_output=True, timeout=60)
        subprocess.run(["docker", "push", target], env=env, check=True, capture_output=True, timeout=300)
    finally:
        subprocess.run(["docker", "rmi", "-f", target], env=env, capture_output=True, timeout=120)
        shutil.rmtree(d, ignore_errors=True)
    return target


def upstream_binary(arg):
    if arg == "none":
        return None, "not asked for (--upstream none)"
    if arg != "auto":
        return arg, None
    r = subprocess.run(["sh", os.path.join(B.ROOT, "bench", "upstream_agent.sh")], capture_output=True, text=True,
                       timeout=3600)
    if r.returncode == 0 and r.stdout.strip():
        return r.stdout.strip().splitlines()[-1], None
    return None, "bench/upstream_agent.sh failed: " + " ".join(r.stderr.split())[:400]


def calls(cp, arn, since):
    out = []
    for e in cp.admin("/_local/events?since=%d" % since)["events"]:
        req = e.get("request") or {}
        if e["kind"] in KINDS and req.get("task") == arn:
            out.append({"kind": e["kind"], "time": e["time"], "request": req})
    return out


def first(cs, status):
    """Server time of the first submission reporting the task (or, as a container change, all of it) at status."""
    for c in cs:
        r = c["request"]
        if c["kind"] == "SubmitTaskStateChange" and r.get("status") == status:
            return c["time"]
    return None


def summarize(cs):
    changes = 0
    seq, fields, cfields = [], set(), set()
    for c in cs:
        r = c["request"]
        if c["kind"] == "SubmitTaskStateChange":
            ctrs = r.get("containers") or []
            changes += 1 + len(ctrs)
            fields |= set(k for k in r if k not in ("cluster", "task"))
            for x in ctrs:
                cfields |= set(x)
            seq.append("T:%s[%s]" % (r.get("status"), ",".join(
                "%s:%s%s" % (x.get("containerName"), x.get("status"),
                             (":%s" % x["exitCode"]) if "exitCode" in x else "") for x in ctrs)))
        else:
            changes += 1
            cfields |= set(k for k in r if k not in ("cluster", "task"))
            seq.append("C:%s:%s" % (r.get("containerName"), r.get("status")))
    return {"calls": len(cs), "changes": changes, "sequence": seq, "task_fields": sorted(fields), "requests": cs,
            "container_fields": sorted(cfields),
            "pull_timestamps_on": [i for i, c in enumerate(cs) if c["request"].get("pullStartedAt")]}


def register(cp, family, image, defs):
    for d in defs:
        d.setdefault("image", image)
    r = cp.ecs.register_task_definition(family=family, containerDefinitions=defs)
    return "%s:%d" % (r["taskDefinition"]["family"], r["taskDefinition"]["revision"])


def wait_status(cp, arn, since, status, timeout):
    return B.wait_for(lambda: first(calls(cp, arn, since), status), timeout, "%s of %s reported" % (status, arn),
                      interval=0.02)


def run_agent(cp, reg, label, binary, reps):
    cluster = B.new_cluster(cp, "bench-sc-" + label)
    auth = {"127.0.0.1:" + reg["port"]: {"username": reg["user"], "password": reg["password"]}}
    agent = B.Agent(cp, "sc-" + label, cluster, binary=binary, env={
        "ECS_ENGINE_AUTH_TYPE": "docker", "ECS_ENGINE_AUTH_DATA": json.dumps(auth),
        "ECS_LOGLEVEL": "info"})
    res = {"two-container": [], "exit-nonzero": []}
    try:
        agent.wait_connected(120)
        for _ in range(reps):
            image = registry_image(reg)
            try:
                since = cp.events.seq
                cp.events.poll()
                td = register(cp, "bench-sc-two", image, [
                    {"name": "main", "cpu": 10, "memory": 32, "essential": True, "command": ["sleep", "3600"]},
                    {"name": "side", "cpu": 10, "memory": 32, "essential": True, "command": ["sleep", "3600"]}])
                t0 = time.time()
                arn = cp.ecs.run_task(cluster=cluster, taskDefinition=td)["tasks"][0]["taskArn"]
                t_run = time.time()
                running = wait_status(cp, arn, since, "RUNNING", 120)
                time.sleep(1.0)  # let anything after RUNNING (a late batch) arrive before the stop
                t1 = time.time()
                cp.ecs.stop_task(cluster=cluster, task=arn)
                t_stop = time.time()
                stopped = wait_status(cp, arn, since, "STOPPED", 120)
                time.sleep(2.0)  # calls after STOPPED, if any
                s = summarize(calls(cp, arn, since))
                s.update(run_to_running_ms=(running - t_run) * 1000, runtask_call_ms=(t_run - t0) * 1000,
                         stop_to_stopped_ms=(stopped - t_stop) * 1000, stoptask_call_ms=(t_stop - t1) * 1000)
                res["two-container"].append(s)

                since = cp.events.seq
                cp.events.poll()
                td = register(cp, "bench-sc-exit", image, [
                    {"name": "main", "cpu": 10, "memory": 32, "essential": True, "command": ["sh", "-c", "exit 3"]}])
                arn = cp.ecs.run_task(cluster=cluster, taskDefinition=td)["tasks"][0]["taskArn"]
                t_run = time.time()
                stopped = wait_status(cp, arn, since, "STOPPED", 120)
                time.sleep(2.0)
                cs = calls(cp, arn, since)
                s = summarize(cs)
                s["run_to_stopped_ms"] = (stopped - t_run) * 1000
                s["exit_codes"] = [x.get("exitCode") for c in cs for x in (c["request"].get("containers") or [])
                                   if x.get("status") == "STOPPED"] + \
                    [c["request"].get("exitCode") for c in cs if c["kind"] == "SubmitContainerStateChange"
                     and c["request"].get("status") == "STOPPED"]
                s["task_reasons"] = [c["request"].get("reason") for c in cs if c["request"].get("reason")]
                res["exit-nonzero"].append(s)
            finally:
                subprocess.run(["docker", "rmi", "-f", image], capture_output=True, timeout=120)
    finally:
        rc = agent.stop()
        B.docker_rm_label("label=com.amazonaws.ecs.cluster=" + cluster)
        res["agent_exit"] = rc
    return res


def med(rs, key):
    v = [r[key] for r in rs if r.get(key) is not None]
    return statistics.median(v) if v else None


def table(results, upstream_note):
    agents = [a for a in ("upstream", "this") if a in results]
    head = "| scenario | metric | " + " | ".join(
        "upstream 1.105.1" if a == "upstream" else "this agent" for a in agents) + " |"
    lines = [head, "|---|---|" + "---|" * len(agents)]

    def row(sc, name, fn, per_rep=True):
        def cell(rs):
            if not per_rep:
                return fn(rs)
            seen = []  # the distinct values over the repetitions, with how many showed each
            for r in rs:
                v = fn([r])
                for s in seen:
                    if s[0] == v:
                        s[1] += 1
                        break
                else:
                    seen.append([v, 1])
            if len(seen) == 1:
                return seen[0][0]
            return "; ".join("%s (%d of %d)" % (v, n, len(rs)) for v, n in seen)
        lines.append("| %s | %s | %s |" % (sc, name, " | ".join(cell(results[a][sc]) for a in agents)))

    for sc in ("two-container", "exit-nonzero"):
        row(sc, "calls (STSC + SCSC)", lambda rs: "%s (%s)" % (rs[0]["calls"], ", ".join(
            "%dx %s" % (sum(1 for q in rs[0]["sequence"] if q.startswith(p)), k)
            for p, k in (("T:", "STSC"), ("C:", "SCSC")) if any(q.startswith(p) for q in rs[0]["sequence"]))))
        row(sc, "changes carried", lambda rs: str(rs[0]["changes"]))
        row(sc, "sequence (container order within a call aside)", lambda rs: " ".join(
            q.split("[")[0] + "[" + ",".join(sorted(q.split("[")[1].rstrip("]").split(","))) + "]" if "[" in q else q
            for q in rs[0]["sequence"]))
        row(sc, "task fields", lambda rs: ", ".join(rs[0]["task_fields"]))
        row(sc, "container fields", lambda rs: ", ".join(rs[0]["container_fields"]))
        row(sc, "calls with pullStartedAt", lambda rs: ", ".join(str(i + 1) for i in rs[0]["pull_timestamps_on"])
            + " of %d" % rs[0]["calls"])
    for key, sc, name in (("run_to_running_ms", "two-container", "RunTask answer → RUNNING received, ms (median)"),
                          ("stop_to_stopped_ms", "two-container", "StopTask answer → STOPPED received, ms (median)"),
                          ("run_to_stopped_ms", "exit-nonzero", "RunTask answer → STOPPED received, ms (median)")):
        row(sc, name, lambda rs, key=key: "%.0f (n=%d)" % (med(rs, key), len(rs)), per_rep=False)
    row("exit-nonzero", "exit codes / task reason", lambda rs: "%s / %s" % (rs[0]["exit_codes"], rs[0]["task_reasons"]))
    if upstream_note:
        lines.append("")
        lines.append("upstream: " + upstream_note)
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", default="auto", help="the upstream binary, auto (bench/upstream_agent.sh) or none")
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    os.makedirs(B.OUT, exist_ok=True)
    up_bin, up_note = upstream_binary(a.upstream)
    B.log("upstream agent: %s" % (up_bin or up_note))
    subprocess.run([os.path.join(B.ROOT, "bench", "image.sh")], check=True, capture_output=True, timeout=600)
    reg = registry_info()
    cp = B.ControlPlane()
    results = {}
    try:
        if up_bin:
            results["upstream"] = run_agent(cp, reg, "upstream", up_bin, a.reps)
        results["this"] = run_agent(cp, reg, "this", B.AGENT_BIN, a.reps)
    finally:
        cp.stop()
    results["upstream_note"] = up_note
    with open(os.path.join(B.OUT, "state_changes.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(table(results, up_note))
    return 0


if __name__ == "__main__":
    sys.exit(main())
