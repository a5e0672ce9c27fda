#!/usr/bin/python3
"""Fault injection scenarios: the Docker engine (through dockerproxy.py) and
the control plane (through its /_local/faults API) misbehave while tasks run;
the agent must recover and report the truth.  Nothing lost, nothing run
twice, memory bounded.

Docker engine:
  docker_events_cut      the events stream is cut repeatedly, also while a
                         container exits and while one is killed behind the
                         agent's back
  docker_unreachable     the socket refuses connections for a while during
                         two runs; a stop right after
  docker_unreachable_at_stop
                         StopTask while the engine is unreachable: never
                         reported STOPPED while the container runs
  docker_rm              a running container is removed (docker rm -f):
                         essential -> task STOPPED, non-essential -> container
                         STOPPED with a reason, task stays RUNNING
  docker_hung            the engine stops answering for a while
  docker_unreachable_at_cleanup
                         the engine is unreachable when a stopped task's
                         containers are due for removal: retried, not leaked
Control plane:
  ws_drops               the ACS websocket is closed / cut repeatedly around
                         RunTask and StopTask
  ws_refused             handshakes refused for a while
  api_errors             ECS API 500s, then throttling, for a while
  api_slow               every agent API call delayed by seconds
  acs_garbage            malformed, unknown and invalid ACS messages
  acs_oversize           frames of 1 MiB and beyond the 16 MiB limit
  payload_repeated       the same payload delivered again and again

Every scenario ends with Rig.settle() (the invariants of harness.py).

    tests/reliability/faults.py [--rounds N] [--seed S] [--only name,...]

runs every scenario N times on one agent (the long run) and prints the
counts of faults injected and the agent's RSS; importable by pytest.
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Rig, log, seeded  # noqa: E402

AGENT_OPS = ["SubmitTaskStateChange", "SubmitContainerStateChange", "DiscoverPollEndpoint",
             "RegisterContainerInstance", "SubmitAttachmentStateChanges"]
# ASan's quarantine would hide any growth we want to see (and show growth that
# is not there): keep it small for the RSS measurements.
ASAN_SMALL = "detect_leaks=1:quarantine_size_mb=16:malloc_context_size=10"


class Counts(dict):
    def add(self, k, n=1):
        self[k] = self.get(k, 0) + n


def short(arn):
    return arn.rsplit("/", 1)[-1][:12]


def wait_task(rig, arn, status, timeout=60):
    deadline = time.time() + timeout
    t = None
    while time.time() < deadline:
        t = rig.cp_tasks().get(arn)
        if t and t["lastStatus"] == status:
            return t
        if not rig.agent.alive():
            raise AssertionError("agent exited (%s) waiting for %s %s\n%s" % (
                rig.agent.proc.returncode, short(arn), status, rig.agent.output()[-3000:]))
        time.sleep(0.3)  # poll interval of this wait
    raise AssertionError("task %s not %s after %ss (last %s)" % (short(arn), status, timeout,
                                                                t and t["lastStatus"]))


def container_of(rig, arn, name="main"):
    for c in harness.docker_containers(rig.cluster):
        if c["task"] == arn and c["cname"] == name:
            return c
    return None


def fault(rig, spec, counts=None, key=None):
    r = rig.cp.admin("/_local/faults", spec)
    if counts is not None:
        counts.add(key or next(iter(spec)))
    return r


def clear(rig):
    rig.cp.admin("/_local/faults/clear", {})


SETTLE = 90   # settle timeout of the current run
SCALE = 1.0   # fault window scale of the current run


def settle_or_fail(rig, what, timeout=90):
    timeout = min(timeout, SETTLE)
    probs = rig.settle(timeout=timeout)
    if probs:
        raise AssertionError("%s: not consistent after %ss:\n  %s" % (what, timeout, "\n  ".join(probs[:30])))


# ================================================================ Docker engine
def docker_events_cut(rig, rng, c):
    a = rig.run_task("long")
    wait_task(rig, a, "RUNNING")
    for _ in range(3):
        c.add("docker_events_cut", rig.proxy.cut("/events") and 1)
        time.sleep(rng.uniform(0.1, 0.8))  # random fault instant, not a synchronisation
    # an exit while the stream is down or being re-established
    b = rig.run_task("short", 1)
    wait_task(rig, b, "RUNNING", 60)
    t_end = time.time() + 2.5
    while time.time() < t_end:
        c.add("docker_events_cut", rig.proxy.cut("/events") and 1)
        time.sleep(rng.uniform(0.2, 0.6))  # random fault instant, not a synchronisation
    tb = wait_task(rig, b, "STOPPED", 60)
    ex = [x.get("exitCode") for x in tb["containers"] if x["name"] == "main"]
    if ex != [3]:
        raise AssertionError("short task exit code reported %s, expected [3]" % ex)
    # a container killed behind the agent's back while the socket is down
    ca = container_of(rig, a)
    rig.proxy.refuse(3)
    c.add("docker_refused")
    subprocess.run(["docker", "kill", ca["id"]], capture_output=True, timeout=30)
    c.add("docker_kill_behind_back")
    ta = wait_task(rig, a, "STOPPED", 60)
    ct = [x for x in ta["containers"] if x["name"] == "main"][0]
    if ct.get("exitCode") != 137:
        raise AssertionError("killed container reported exit %s (want 137): %s" % (ct.get("exitCode"), ct))
    c.add("docker_cut_all", 1 if rig.proxy.cut() else 0)
    settle_or_fail(rig, "docker_events_cut")


def docker_unreachable(rig, rng, c):
    a = rig.run_task("long")
    wait_task(rig, a, "RUNNING")
    secs = rng.uniform(5, 9) * SCALE
    rig.proxy.refuse(secs)
    c.add("docker_refused")
    b = rig.run_task("long")
    s = rig.run_task("short", 0)
    # the outage ends by itself; the stop comes once the agent is back on the
    # engine (its event stream runs through the proxy again)
    harness.wait_for(lambda: rig.proxy.listener is not None, secs + 30, what="proxy listening again")
    harness.wait_for(lambda: any("/events" in p for p in rig.proxy.stream_paths()), 60,
                     what="the agent's Docker event stream open again")
    rig.stop_task(a)
    wait_task(rig, a, "STOPPED", 90)
    wait_task(rig, s, "STOPPED", 90)
    # b was placed while the engine was unreachable: it may run once the engine
    # is back, or fail - but then reported STOPPED with the reason
    deadline = time.time() + 90
    while True:
        tb = rig.cp_tasks()[b]
        if tb["lastStatus"] == "RUNNING":
            c.add("task_survived_outage")
            rig.stop_task(b)
            break
        if tb["lastStatus"] == "STOPPED":
            reasons = [x.get("reason") for x in tb["containers"]]
            if not all(reasons):
                raise AssertionError("task failed by the outage reported without a reason: %s" % tb["containers"])
            c.add("task_failed_by_outage_with_reason")
            break
        if time.time() > deadline:
            raise AssertionError("task placed during the outage is %s after 90 s" % tb["lastStatus"])
        time.sleep(0.3)  # poll interval of this wait
    settle_or_fail(rig, "docker_unreachable")


def docker_unreachable_at_stop(rig, rng, c):
    """StopTask arrives while the engine is unreachable: `docker stop` fails.
    The task must not be reported STOPPED while its container still runs
    (ECS would release its ports and memory): the stop is retried."""
    a = rig.run_task("long")
    wait_task(rig, a, "RUNNING")
    rig.proxy.refuse(max(3.0, 6 * SCALE))
    c.add("docker_refused_at_stop")
    rig.stop_task(a)
    wait_task(rig, a, "STOPPED", 90)
    settle_or_fail(rig, "docker_unreachable_at_stop", 90)


def docker_unreachable_at_cleanup(rig, rng, c):
    """The engine is unreachable exactly when a stopped task's containers are
    due for removal (ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION after STOPPED): the
    removal must be retried, not forgotten (else Docker keeps a container no
    one knows about, forever)."""
    a = rig.run_task("long")
    wait_task(rig, a, "RUNNING")
    rig.stop_task(a)
    wait_task(rig, a, "STOPPED")
    cleanup = rig.cleanup_wait_s
    time.sleep(max(0.0, cleanup - 3))  # fault instant: the outage starts 3 s before the removal is due
    rig.proxy.refuse(8)
    c.add("docker_refused_at_cleanup")
    harness.wait_for(lambda: rig.proxy.listener is not None, 40, what="proxy listening again")
    # the removal that failed during the outage is retried
    harness.wait_for(lambda: not [x for x in harness.docker_containers(rig.cluster) if x["task"] == a], 90,
                     what="the containers of cleaned-up task %s removed" % short(a))
    settle_or_fail(rig, "docker_unreachable_at_cleanup", 90)
    left = [x for x in harness.docker_containers(rig.cluster) if x["task"] == a]
    if left:
        raise AssertionError("container of cleaned-up task %s still in Docker: %s" % (short(a), left))


def docker_rm(rig, rng, c):
    a = rig.run_task("long")
    p = rig.run_task("pair", 40)
    wait_task(rig, a, "RUNNING")
    wait_task(rig, p, "RUNNING")
    subprocess.run(["docker", "rm", "-f", container_of(rig, a)["id"]], capture_output=True, timeout=30)
    c.add("docker_rm_essential")
    ta = wait_task(rig, a, "STOPPED", 60)
    ct = [x for x in ta["containers"] if x["name"] == "main"][0]
    if not ct.get("reason") and ct.get("exitCode") is None:
        raise AssertionError("removed container reported STOPPED without reason or exit code: %s" % ct)
    side = container_of(rig, p, "side")
    subprocess.run(["docker", "rm", "-f", side["id"]], capture_output=True, timeout=30)
    c.add("docker_rm_nonessential")
    deadline = time.time() + 60
    while True:
        tp = rig.cp_tasks()[p]
        sc = [x for x in tp["containers"] if x["name"] == "side"][0]
        if sc["lastStatus"] == "STOPPED":
            break
        if time.time() > deadline:
            raise AssertionError("removed non-essential container not reported STOPPED: %s" % tp)
        time.sleep(0.3)  # poll interval of this wait
    if tp["lastStatus"] != "RUNNING" or tp["desiredStatus"] != "RUNNING":
        raise AssertionError("task stopped because a NON-essential container went away: %s/%s" % (
            tp["lastStatus"], tp["desiredStatus"]))
    rig.stop_task(p)
    wait_task(rig, p, "STOPPED", 60)
    settle_or_fail(rig, "docker_rm")


def docker_hung(rig, rng, c):
    a = rig.run_task("long")
    wait_task(rig, a, "RUNNING")
    rig.proxy.blackhole(rng.uniform(4, 7) * SCALE)
    c.add("docker_hung")
    b = rig.run_task("long")
    rig.stop_task(a)
    wait_task(rig, a, "STOPPED", 120)
    wait_task(rig, b, "RUNNING", 120)
    rig.stop_task(b)
    settle_or_fail(rig, "docker_hung", 120)


# ================================================================ control plane
def ws_drops(rig, rng, c, n=8):
    n = max(3, int(n * SCALE))
    live = []
    for i in range(n):
        r = rng.random()
        if r < 0.5 or not live:
            arn = rig.run_task("long" if rng.random() < 0.6 else "short", rng.choice([0, 1]))
            if rig.task_kind[arn] == "long":
                live.append(arn)
        else:
            arn = live.pop(rng.randrange(len(live)))
            rig.stop_task(arn)
        time.sleep(rng.uniform(0.0, 0.3))  # random fault instant, not a synchronisation
        mode = "abort" if rng.random() < 0.4 else True
        fault(rig, {"drop_ws": mode}, c, "ws_drop_abort" if mode == "abort" else "ws_drop_close")
        time.sleep(rng.uniform(0.2, 1.5) * SCALE)  # random fault instant, not a synchronisation
    for arn in live:
        rig.stop_task(arn)
    settle_or_fail(rig, "ws_drops", 120)


def ws_refused(rig, rng, c):
    fault(rig, {"refuse_ws": 6 * SCALE, "drop_ws": True}, c, "ws_refused")
    a = rig.run_task("long")
    wait_task(rig, a, "RUNNING", 90)
    rig.stop_task(a)
    settle_or_fail(rig, "ws_refused", 120)


def api_errors(rig, rng, c):
    fault(rig, {"api_error": {"seconds": 8 * SCALE, "operations": AGENT_OPS}}, c, "api_500_window")
    a = rig.run_task("long")
    s = rig.run_task("short", 0)
    time.sleep(3 * SCALE)  # fault instant: the drop falls inside the error window
    fault(rig, {"drop_ws": True}, c, "ws_drop_close")  # reconnect needs DiscoverPollEndpoint
    wait_task(rig, a, "RUNNING", 90)
    wait_task(rig, s, "STOPPED", 90)
    fault(rig, {"api_throttle": {"seconds": 8 * SCALE, "operations": AGENT_OPS}}, c, "api_throttle_window")
    rig.stop_task(a)
    b = rig.run_task("short", 1)
    wait_task(rig, a, "STOPPED", 90)
    wait_task(rig, b, "STOPPED", 90)
    settle_or_fail(rig, "api_errors", 120)


def api_slow(rig, rng, c):
    fault(rig, {"api_delay_ms": {"ms": int(3000 * SCALE), "operations": AGENT_OPS}}, c, "api_slow_window")
    a = rig.run_task("long")
    s = rig.run_task("short", 0)
    fault(rig, {"drop_ws": True}, c, "ws_drop_close")
    wait_task(rig, a, "RUNNING", 90)
    wait_task(rig, s, "STOPPED", 90)
    rig.stop_task(a)
    wait_task(rig, a, "STOPPED", 90)
    rig.cp.admin("/_local/faults", {"api_delay_ms": 0})
    settle_or_fail(rig, "api_slow", 120)


GARBAGE = [
    "", "{", "}", "null", "[]", "42", "\"str\"", "not json at all", "{\"type\":1}",
    "{\"type\":\"PayloadMessage\"}", "{\"type\":\"PayloadMessage\",\"message\":\"x\"}",
    "{\"type\":\"PayloadMessage\",\"message\":{\"tasks\":\"nope\",\"messageId\":5}}",
    "{\"type\":\"PayloadMessage\",\"message\":{\"messageId\":\"m1\",\"tasks\":[{\"arn\":null}]}}",
    "{\"type\":\"PayloadMessage\",\"message\":{\"messageId\":\"m2\",\"tasks\":[{\"arn\":\"x\",\"containers\":[{}]}]}}",
    "{\"type\":\"PayloadMessage\",\"message\":{\"messageId\":\"m3\",\"seqNum\":-9223372036854775808,\"tasks\":[]}}",
    "{\"type\":\"HeartbeatMessage\",\"message\":{\"healthy\":\"maybe\"}}",
    "{\"type\":\"IAMRoleCredentialsMessage\",\"message\":{\"roleCredentials\":{}}}",
    "{\"type\":\"StageUpdateMessage\",\"message\":{\"updateInfo\":{\"location\":\"http://127.0.0.1:9/x\",\"signature\":\"00\"}}}",
    "{\"type\":\"CloseMessage\",\"message\":{}}",
    "{\"type\":\"TotallyUnknownMessage\",\"message\":{\"a\":[1,2,{\"b\":null}]}}",
    "{\"type\":\"\",\"message\":{}}",
    "\u0000\u0001\u0002binary\ufffd",
    "{\"type\":\"PayloadMessage\",\"message\":" + "[" * 5000 + "]" * 5000 + "}",
    "{\"a\":" * 2000 + "1" + "}" * 2000,
    "{\"type\":\"PayloadMessage\",\"message\":{\"messageId\":\"m4\",\"tasks\":[" +
    ",".join(["{\"arn\":\"arn:aws:ecs:us-west-2:1:task/c/%d\",\"desiredStatus\":\"BOGUS\",\"containers\":[]}" % i
              for i in range(50)]) + "]}}",
    "{\"type\":\"PayloadMessage\",\"message\":{\"messageId\":\"m5\",\"tasks\":[{\"arn\":\"a\",\"family\":\"f\","
    "\"version\":\"1\",\"desiredStatus\":\"RUNNING\",\"containers\":[{\"name\":\"c\",\"image\":\"\",\"memory\":-1,"
    "\"cpu\":1e308,\"portMappings\":[{\"containerPort\":99999999,\"hostPort\":-5}]}]}]}}",
]


def acs_garbage(rig, rng, c):
    frames = list(GARBAGE)
    rng.shuffle(frames)
    for f in frames:
        fault(rig, {"send_raw": f}, c, "acs_malformed")
        time.sleep(0.05)  # pacing of the injected frames, not a synchronisation
    for typ in ("NoSuchMessage", "TaskManifestMessage", "RefreshTokenMessage", "AttachTaskNetworkInterfacesMessage"):
        rig.cp.admin("/_local/acs/send", {"type": typ, "message": {"weird": ["x"] * 10}})
        c.add("acs_unknown")
    rig.acs_roundtrip()  # every frame above has been handled
    if not rig.agent.alive():
        raise AssertionError("agent died on malformed ACS input (%s)\n%s" % (rig.agent.proc.returncode,
                                                                            rig.agent.output()[-3000:]))
    a = rig.run_task("long")
    wait_task(rig, a, "RUNNING", 90)
    rig.stop_task(a)
    settle_or_fail(rig, "acs_garbage", 90)


def acs_oversize(rig, rng, c):
    for size in ((1 << 20, 8 << 20, (16 << 20) + 4096) if SCALE >= 1 else (1 << 20, (16 << 20) + 4096)):
        body = "{\"type\":\"PayloadMessage\",\"message\":{\"messageId\":\"big\",\"pad\":\"" + "A" * size + "\",\"tasks\":[]}}"
        try:
            fault(rig, {"send_raw": body}, c, "acs_oversize")
        except Exception as e:  # noqa: BLE001 - the CP may refuse a body over its own limit
            log("oversize %d not sent: %s" % (size, e))
        # handled (the one over the limit by dropping the connection) before the next
        rig.acs_roundtrip()
    if not rig.agent.alive():
        raise AssertionError("agent died on an oversize ACS frame\n" + rig.agent.output()[-3000:])
    a = rig.run_task("long")
    wait_task(rig, a, "RUNNING", 90)
    rig.stop_task(a)
    settle_or_fail(rig, "acs_oversize", 90)


def payload_repeated(rig, rng, c):
    a = rig.run_task("long")
    s = rig.run_task("short", 1)
    for _ in range(4):
        fault(rig, {"duplicate_payload": True}, c, "payload_repeated")
        time.sleep(rng.uniform(0.0, 0.3))  # random fault instant, not a synchronisation
    wait_task(rig, a, "RUNNING", 60)
    wait_task(rig, s, "STOPPED", 60)
    for _ in range(3):  # the STOPPED payload of s repeated after the fact too
        fault(rig, {"duplicate_payload": True}, c, "payload_repeated")
    rig.stop_task(a)
    for _ in range(3):
        fault(rig, {"duplicate_payload": True}, c, "payload_repeated")
        time.sleep(rng.uniform(0.0, 0.5))  # random fault instant, not a synchronisation
    wait_task(rig, a, "STOPPED", 60)
    settle_or_fail(rig, "payload_repeated", 60)


def reset(rig):
    """After a failed scenario: stop every task and remove containers the
    agent does not know or that still run for a task reported STOPPED, so
    the next scenario is judged on its own."""
    try:
        stopping = rig.desired_running()
        for arn in stopping:
            rig.stop_task(arn)
        try:
            harness.wait_for(lambda: all(rig.cp_tasks()[a]["lastStatus"] == "STOPPED" for a in stopping), 30,
                             what="the tasks stopped by the reset reported STOPPED")
        except AssertionError as e:  # best effort: what is still running is removed below
            log("reset after failure: %s" % e)
        known = set()
        for t in rig.agent.introspect("/v1/tasks").get("Tasks") or []:
            known.update(x.get("DockerId") for x in t.get("Containers") or [])
        stopped = {a for a, t in rig.cp_tasks().items() if t["lastStatus"] == "STOPPED"}
        for x in harness.docker_containers(rig.cluster):
            if x["id"] not in known or (x["running"] and x["task"] in stopped):
                subprocess.run(["docker", "rm", "-f", x["id"]], capture_output=True, timeout=30)
    except Exception as e:  # noqa: BLE001
        log("reset after failure: %r" % e)


DOCKER_SCENARIOS = [docker_events_cut, docker_unreachable, docker_rm, docker_hung, docker_unreachable_at_stop,
                    docker_unreachable_at_cleanup]
CP_SCENARIOS = [ws_drops, ws_refused, api_errors, api_slow, acs_garbage, acs_oversize, payload_repeated]
ALL = {f.__name__: f for f in DOCKER_SCENARIOS + CP_SCENARIOS}


def run(names, rounds=1, seed=1, verbose=True, rss_growth_limit_kb=64 * 1024, cleanup_wait="10s",
        settle_timeout=90, scale=1.0):
    """One rig, every named scenario `rounds` times.  Returns a result dict.
    scale < 1 shortens the fault windows (the bounded runs of make test)."""
    global SETTLE, SCALE
    SETTLE, SCALE = settle_timeout, scale
    rng = seeded(seed)
    need_proxy = any(ALL[n] in DOCKER_SCENARIOS for n in names)
    rig = Rig(agent_env={"ASAN_OPTIONS": ASAN_SMALL, "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION": cleanup_wait},
              docker_proxy=need_proxy, cp_args=["--resend-interval", "3"])
    c = Counts()
    res = {"seed": seed, "rounds": rounds, "scenarios": {}, "problems": [], "rss_kb": []}
    say = log if verbose else (lambda m: None)
    t0 = time.time()
    try:
        rig.register_families()
        rig.start_agent()
        # warm-up, so the RSS baseline includes one task's worth of everything
        w = rig.run_task("long")
        wait_task(rig, w, "RUNNING")
        rig.stop_task(w)
        wait_task(rig, w, "STOPPED")
        base = harness.rss_kb(rig.agent.proc.pid)
        res["rss_kb"].append(base)
        for r in range(rounds):
            for n in names:
                ts = time.time()
                try:
                    ALL[n](rig, rng, c)
                    ok = True
                except AssertionError as e:
                    ok = False
                    res["problems"].append("round %d %s: %s" % (r, n, e))
                    reset(rig)
                finally:
                    clear(rig)
                    if rig.proxy:
                        rig.proxy.refuse_until = 0
                        rig.proxy.blackhole_until = 0
                rss = harness.rss_kb(rig.agent.proc.pid) if rig.agent.alive() else None
                res["rss_kb"].append(rss)
                s = res["scenarios"].setdefault(n, {"ok": 0, "failed": 0, "seconds": 0.0})
                s["ok" if ok else "failed"] += 1
                s["seconds"] = round(s["seconds"] + time.time() - ts, 1)
                say("round %d %-18s %s in %.1fs, rss %s kB" % (r, n, "ok" if ok else "FAILED",
                                                               time.time() - ts, rss))
                if not rig.agent.alive():
                    res["problems"].append("agent exited (%s)\n%s" % (rig.agent.proc.returncode,
                                                                     rig.agent.output()[-3000:]))
                    return res
        final = harness.rss_kb(rig.agent.proc.pid)
        res["rss_base_kb"], res["rss_final_kb"] = base, final
        res["rss_max_kb"] = max(x for x in res["rss_kb"] if x)
        if base and final and final - base > rss_growth_limit_kb:
            res["problems"].append("RSS grew from %d kB to %d kB over the fault runs" % (base, final))
        rc = rig.agent.stop()
        if rc != 0:
            res["problems"].append("SIGTERM after the faults: exit %s\n%s" % (rc, rig.agent.output()[-3000:]))
        from crash import sanitizer_reports
        rep = sanitizer_reports(rig.agent.output())
        if rep:
            res["problems"].append("sanitizer reports:\n" + "\n".join(rep[:10]))
    finally:
        res["faults_injected"] = dict(c)
        res["faults_total"] = sum(c.values())
        if rig.proxy:
            res["proxy"] = {k: v for k, v in rig.proxy.stats().items() if k != "open_paths"}
        res["seconds"] = round(time.time() - t0, 1)
        rig.close()
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", default="", help="comma-separated scenario names")
    ap.add_argument("--agent")
    a = ap.parse_args(argv)
    if a.agent:
        os.environ["AGENT_BIN"] = os.path.abspath(a.agent)
    names = [n for n in a.only.split(",") if n] or list(ALL)
    res = run(names, a.rounds, a.seed)
    for p in res["problems"]:
        print("PROBLEM: " + p)
    print(json.dumps(res, sort_keys=True))
    return 0 if not res["problems"] else 1


if __name__ == "__main__":
    sys.exit(main())
