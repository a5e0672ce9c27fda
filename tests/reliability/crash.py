#!/usr/bin/python3
"""Crash anywhere: task churn through the local control plane while the agent
is kill -9'd at random (seeded) instants and restarted each time.

    tests/reliability/crash.py --instants 200 [--seed N] [--agent BIN] [--settle-every K]

For every instant: churn (run long / short / two-container tasks, stop
running ones) for a random 0.05-4 s while a timer kill -9s the agent at a
random point of it; the agent is restarted on the same data dir (and, one
time in seven, kill -9'd again 0-1.5 s into that recovery and restarted).  Every
--settle-every instants (default 1) churn pauses and the invariants of
harness.py must hold within --settle-timeout seconds: Docker and the agent
agree (no orphan, no duplicate), every placed task is RUNNING or reported
STOPPED, state changes arrived in order, nothing ran twice, the agent does
not exit (checkpoint loads: never exit 5), one container instance.

Importable: run(instants, seed, ...) returns a result dict (pytest uses it).
Exit status 0 iff no problem; a JSON summary is the last line of stdout.
"""
import argparse
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Rig, Churn, AgentDied, log, seeded  # noqa: E402


def run(instants=200, seed=1, settle_every=1, settle_timeout=90, max_running=6, workdir=None,
        keep=False, agent_env=None, verbose=True, stop_on_problem=True, early_kill=0.15):
    rng = seeded(seed)
    rig = Rig(workdir=workdir, agent_env=agent_env, keep=keep)
    res = {"seed": seed, "instants_planned": instants, "instants_done": 0, "kills": 0, "restarts": 0,
           "settles": 0, "problems": [], "ops": {}, "kill_delays": [], "max_rss_kb": 0,
           "workdir": rig.dir, "cluster": rig.cluster}
    say = log if verbose else (lambda m: None)
    t0 = time.time()
    try:
        rig.register_families()
        rig.start_agent()
        churn = Churn(rig, rng, max_running=max_running)
        for i in range(instants):
            window = rng.uniform(0.05, 4.0)
            kill_at = rng.uniform(0.0, window)
            res["kill_delays"].append(round(kill_at, 3))
            pid = rig.agent.proc.pid
            rss = harness.rss_kb(pid) or 0
            res["max_rss_kb"] = max(res["max_rss_kb"], rss)
            killed = threading.Event()

            def killer():
                rig.kill9()
                killed.set()
            timer = threading.Timer(kill_at, killer)
            start = time.time()
            timer.start()
            steps = []
            while time.time() - start < window:
                try:
                    steps.append(churn.step())
                except Exception as e:  # noqa: BLE001 - placement may fail while the agent is down
                    steps.append("op failed: %s" % e)
                time.sleep(rng.uniform(0.0, 0.4))  # random churn instants, not a synchronisation
            killed.wait(30)
            timer.join()
            rc = rig.agent.proc.returncode
            res["kills"] += 1
            if rc != -9:
                res["problems"].append("instant %d: agent had already exited (%s) before kill -9:\n%s" % (
                    i, rc, rig.agent.output()[-3000:]))
                break
            say("instant %d/%d: kill -9 at %.2fs of %.2fs (rss %d kB) after %s" % (
                i + 1, instants, kill_at, window, rss, "; ".join(steps[-6:])))
            rig.start_agent(wait=False)
            res["restarts"] += 1
            if rng.random() < early_kill:
                # crash again during recovery (checkpoint load, reconciliation,
                # re-registration, the first payload)
                time.sleep(rng.uniform(0.0, 1.5))  # random kill instant, not a synchronisation
                rc2 = rig.kill9()
                res["kills"] += 1
                res["early_kills"] = res.get("early_kills", 0) + 1
                if rc2 != -9:
                    res["problems"].append("instant %d: agent exited (%s) during recovery:\n%s" % (
                        i, rc2, rig.agent.output()[-3000:]))
                    break
                rig.start_agent(wait=False)
                res["restarts"] += 1
            try:
                rig.wait_connected(timeout=settle_timeout)
            except AgentDied as e:
                res["problems"].append("instant %d: I6 agent exited with %s after restart:\n%s" % (i, e.rc, e.output))
                break
            except AssertionError as e:
                res["problems"].append("instant %d: %s" % (i, e))
                break
            res["instants_done"] = i + 1
            if (i + 1) % settle_every == 0 or i + 1 == instants:
                probs = rig.settle(timeout=settle_timeout)
                res["settles"] += 1
                if probs:
                    res["problems"].append("instant %d (seed %d): not consistent after %ss:\n  %s" % (
                        i, seed, settle_timeout, "\n  ".join(probs[:30])))
                    say("PROBLEMS:\n  " + "\n  ".join(probs[:30]))
                    if stop_on_problem:
                        break
        res["ops"] = dict(churn.ops)
        # finally: a clean SIGTERM must still work and save the checkpoint
        if not res["problems"] and rig.agent.alive():
            rc = rig.agent.stop()
            if rc != 0:
                res["problems"].append("final SIGTERM: exit %s\n%s" % (rc, rig.agent.output()[-3000:]))
        res["docker_events"] = dict(rig.events.events)
        res["created_twice"] = {"%s/%s" % k: v for k, v in rig.events.created_twice().items()}
        if res["created_twice"]:
            say("note: containers created more than once (only one started): %s" % res["created_twice"])
        res["sanitizer_reports"] = sanitizer_reports(rig.agent.output())
        if res["sanitizer_reports"]:
            res["problems"].append("sanitizer reports in agent output:\n" + "\n".join(res["sanitizer_reports"][:5]))
    finally:
        res["seconds"] = round(time.time() - t0, 1)
        rig.close()
    return res


def sanitizer_reports(text):
    keys = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "SUMMARY: UndefinedBehavior")
    return [line for line in text.splitlines() if any(k in line for k in keys)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instants", type=int, default=200)
    ap.add_argument("--seed", type=int, default=int(os.environ.get("CRASH_SEED", "1")))
    ap.add_argument("--settle-every", type=int, default=1)
    ap.add_argument("--settle-timeout", type=float, default=90)
    ap.add_argument("--max-running", type=int, default=6)
    ap.add_argument("--agent", help="agent binary (default $AGENT_BIN or out/amazon-ecs-agent)")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (logs, checkpoint)")
    ap.add_argument("--keep-going", action="store_true", help="do not stop at the first inconsistency")
    a = ap.parse_args(argv)
    if a.agent:
        os.environ["AGENT_BIN"] = os.path.abspath(a.agent)
    res = run(a.instants, a.seed, a.settle_every, a.settle_timeout, a.max_running, keep=a.keep,
              stop_on_problem=not a.keep_going)
    for p in res["problems"]:
        print("PROBLEM: " + p)
    summary = {k: v for k, v in res.items() if k not in ("kill_delays",)}
    print(json.dumps(summary, sort_keys=True))
    return 0 if not res["problems"] and res["instants_done"] == a.instants else 1


if __name__ == "__main__":
    sys.exit(main())
