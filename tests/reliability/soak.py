#!/usr/bin/python3
"""Soak: N tasks through one agent, RSS sampled from /proc all along.

    tests/reliability/soak.py --tasks 1000 [--concurrency 10] [--seed S]

Most tasks are short (the essential container exits at once, exit 3), one
in five is a long one stopped with StopTask a moment later, one in ten has
two containers.  At most --concurrency tasks are in flight.  At the end
every task must be reported STOPPED (in order, once), the agent must forget
them after the cleanup wait (introspection /v1/tasks empty, Docker holds no
container of the cluster), and the RSS must be bounded: the final RSS (after
cleanup) may exceed the peak of the first half of the run by at most
--rss-slack-mb, which catches a per-task leak of more than a few KiB.
Prints a JSON summary (RSS first/peak/final, tasks/s) as its last line.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Rig, log, seeded  # noqa: E402

ASAN_SMALL = "detect_leaks=1:quarantine_size_mb=16:malloc_context_size=10"


def run(tasks=1000, concurrency=10, seed=1, rss_slack_mb=24, verbose=True, cleanup_wait="10s"):
    rng = seeded(seed)
    rig = Rig(agent_env={"ASAN_OPTIONS": ASAN_SMALL, "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION": cleanup_wait,
                         "ECS_LOGLEVEL": "info"})
    say = log if verbose else (lambda m: None)
    res = {"tasks": tasks, "concurrency": concurrency, "seed": seed, "problems": [], "rss_samples": []}
    t0 = time.time()
    try:
        rig.register_families()
        rig.start_agent()
        pid = rig.agent.proc.pid
        placed, stopped = [], set()
        inflight = {}   # arn -> (kind, placed_at)
        to_stop = {}    # long arn -> time to stop it
        seq = 0
        last_sample = 0
        n_started = 0
        last_progress = time.time()
        while len(stopped) < tasks:
            now = time.time()
            # place
            while n_started < tasks and len(inflight) < concurrency:
                r = rng.random()
                kind = "long" if r < 0.2 else ("pair" if r < 0.3 else "short")
                try:
                    arn = rig.run_task(kind, 0 if kind == "short" else (1 if kind == "pair" else None))
                except Exception as e:  # noqa: BLE001
                    res["problems"].append("RunTask failed: %s" % e)
                    break
                n_started += 1
                placed.append(arn)
                inflight[arn] = (kind, now)
                if kind == "long":
                    to_stop[arn] = now + rng.uniform(0.5, 3.0)
            for arn, when in list(to_stop.items()):
                if now >= when:
                    rig.stop_task(arn)
                    del to_stop[arn]
            # learn what stopped
            evs = rig.cp.admin("/_local/events?since=%d&kind=SubmitTaskStateChange" % seq)
            seq = evs["lastSeq"]
            for e in evs["events"]:
                req = e.get("request") or {}
                if req.get("status") == "STOPPED" and req.get("task") in inflight:
                    stopped.add(req["task"])
                    del inflight[req["task"]]
                    last_progress = now
            if now - last_sample >= 1.0:
                last_sample = now
                rss = harness.rss_kb(pid)
                res["rss_samples"].append((round(now - t0, 1), len(stopped), rss))
                if len(res["rss_samples"]) % 15 == 0:
                    say("soak: %d/%d stopped, %d in flight, rss %s kB" % (len(stopped), tasks, len(inflight), rss))
            if not rig.agent.alive():
                res["problems"].append("agent exited (%s)\n%s" % (rig.agent.proc.returncode, rig.agent.output()[-3000:]))
                return res
            if now - last_progress > 120:
                # fall back on DescribeTasks: maybe the STOPPED came in another shape
                stuck = {a: t for a, t in rig.cp_tasks().items() if a in inflight}
                for a, t in stuck.items():
                    if t["lastStatus"] == "STOPPED":
                        stopped.add(a)
                        del inflight[a]
                if inflight:
                    res["problems"].append("no progress for 120 s; in flight: %s" % {
                        a.rsplit("/", 1)[-1]: (stuck.get(a) or {}).get("lastStatus") for a in inflight})
                    break
                last_progress = now
            time.sleep(0.2)  # poll interval of the events and RSS samples
        res["run_seconds"] = round(time.time() - t0, 1)
        res["tasks_per_second"] = round(len(stopped) / max(0.1, res["run_seconds"]), 2)
        # everything reported, in order, once
        probs = rig.check_event_order()
        probs += ["I5 ran twice: %s" % (k,) for k in rig.events.run_twice()]
        if probs:
            res["problems"] += probs[:20]
        # the agent forgets stopped tasks after the cleanup wait
        deadline = time.time() + 120
        n_intro = None
        while time.time() < deadline:
            n_intro = len(rig.agent.introspect("/v1/tasks").get("Tasks") or [])
            left = harness.docker_containers(rig.cluster)
            if n_intro == 0 and not left:
                break
            time.sleep(2)  # poll interval of this wait
        else:
            res["problems"].append("after cleanup: agent still knows %s tasks, Docker holds %d containers" % (
                n_intro, len(left)))
        # the final RSS and checkpoint size once the agent has saved its state without the tasks
        try:
            harness.wait_for(rig.checkpoint_empty, 60, what="a checkpoint saved with no task and no queued change")
        except AssertionError as e:
            res["problems"].append("after cleanup: %s" % e)
        final = harness.rss_kb(pid)
        rs = [s[2] for s in res["rss_samples"] if s[2]]
        half = [s[2] for s in res["rss_samples"] if s[2] and s[1] <= tasks // 2] or rs[:1]
        res["rss_first_kb"] = rs[0] if rs else None
        res["rss_peak_first_half_kb"] = max(half) if half else None
        res["rss_peak_kb"] = max(rs) if rs else None
        res["rss_final_kb"] = final
        ck = os.path.join(rig.agent.data_dir, "ecs_agent_data.json")
        res["checkpoint_bytes"] = os.path.getsize(ck) if os.path.exists(ck) else None
        if final and res["rss_peak_first_half_kb"] and final > res["rss_peak_first_half_kb"] + rss_slack_mb * 1024:
            res["problems"].append("RSS not bounded: final %d kB > first-half peak %d kB + %d MiB" % (
                final, res["rss_peak_first_half_kb"], rss_slack_mb))
        rc = rig.agent.stop()
        if rc != 0:
            res["problems"].append("SIGTERM after the soak: exit %s\n%s" % (rc, rig.agent.output()[-3000:]))
        from crash import sanitizer_reports
        rep = sanitizer_reports(rig.agent.output())
        if rep:
            res["problems"].append("sanitizer reports:\n" + "\n".join(rep[:10]))
        res["tasks_stopped"] = len(stopped)
        res["docker_events"] = dict(rig.events.events)
    finally:
        res["seconds"] = round(time.time() - t0, 1)
        rig.close()
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rss-slack-mb", type=int, default=24)
    ap.add_argument("--agent")
    a = ap.parse_args(argv)
    if a.agent:
        os.environ["AGENT_BIN"] = os.path.abspath(a.agent)
    res = run(a.tasks, a.concurrency, a.seed, a.rss_slack_mb)
    for p in res["problems"]:
        print("PROBLEM: " + p)
    out = dict(res)
    samples = out.pop("rss_samples")
    out["rss_curve"] = samples[:: max(1, len(samples) // 40)]
    print(json.dumps(out, sort_keys=True))
    return 0 if not res["problems"] else 1


if __name__ == "__main__":
    sys.exit(main())
