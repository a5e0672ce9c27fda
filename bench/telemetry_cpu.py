#!/usr/bin/python3
"""telemetry_cpu.py - the agent's CPU with N running tasks, telemetry on and off
(run by bench/run.sh after bench.py; alone: /usr/bin/python3 bench/telemetry_cpu.py).

For each mode ("on": metrics streamed, the default: one stats stream per
container, ~1 sample/s; "poll": ECS_POLL_METRICS=true, one one-shot stats call per
container every ECS_POLLING_METRICS_WAIT_DURATION (10 s); "off":
ECS_DISABLE_METRICS=true; "health": ECS_DISABLE_METRICS=true with a Docker
health check in every task, run every 5 s)
a fresh agent on its own cluster gets N long-running busybox tasks in one payload;
once they run and TCS has seen a publish round (metrics for every task, an idle
report, or every container HEALTHY), the agent's CPU time (utime+stime) is
measured over BENCH_TELEMETRY_SECONDS, with its RSS and open file descriptors
at the end (on: N stats streams open on the Docker socket).  health - off is what
tracking and publishing the health of N healthy containers costs the agent; on -
poll what streaming costs over polling.  Production periods, not shortened
(publish every 20 s).

Knobs: BENCH_TELEMETRY_TASKS [50], BENCH_TELEMETRY_SECONDS [120],
BENCH_TELEMETRY_MODES [on poll off health], AGENT_BIN, BENCH_IMAGE.
Writes out/bench/telemetry.json and prints one line per mode.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_lib as B  # noqa: E402

N = B.env_int("BENCH_TELEMETRY_TASKS", 50)
SECONDS = B.env_int("BENCH_TELEMETRY_SECONDS", 120)


def measure(cp, mode):
    extra = os.environ.get("BENCH_AGENT_ENV", "")
    os.environ["BENCH_AGENT_ENV"] = extra + {"on": "", "poll": " ECS_POLL_METRICS=true"}.get(
        mode, " ECS_DISABLE_METRICS=true")
    cluster = B.new_cluster(cp, "bench-tcs-" + mode)
    agent = B.Agent(cp, "tcs-" + mode, cluster)
    os.environ["BENCH_AGENT_ENV"] = extra
    try:
        agent.wait_connected(60)
        if mode == "health":
            r = cp.ecs.register_task_definition(family="bench-tcs-health", containerDefinitions=[{
                "name": "main", "image": B.IMAGE, "cpu": 10, "memory": 32, "essential": True,
                "command": B.LONG_CMD, "healthCheck": {"command": ["CMD", "true"], "interval": 5,
                                                       "timeout": 2, "retries": 1, "startPeriod": 0}}])
            td = "%s:%d" % (r["taskDefinition"]["family"], r["taskDefinition"]["revision"])
        else:
            td = B.register_td(cp, "bench-tcs", B.LONG_CMD)
        arns = cp.admin("/_local/bench/run_tasks", {"cluster": cluster, "taskDefinition": td, "count": N})["taskArns"]
        cp.events.wait_all(arns, cp.events.running_at, 60 + 3 * N, "RUNNING of %d tasks" % N, interval=0.2)
        if mode in ("on", "poll"):
            B.wait_for(lambda: all(a in cp.admin("/_local/tcs")["tasks"] for a in arns), 120,
                       "metrics for all %d tasks" % N, interval=1)
        elif mode == "health":
            def healthy():
                ts = cp.admin("/_local/tcs")["tasks"]
                return all(ts.get(a, {}).get("containers", {}).get("main", {}).get("health", {})
                           .get("healthStatus") == "HEALTHY" for a in arns)
            B.wait_for(healthy, 180, "all %d containers HEALTHY over TCS" % N, interval=1)
        else:
            idle0 = cp.admin("/_local/tcs")["counts"].get("idle", 0)
            B.wait_for(lambda: cp.admin("/_local/tcs")["counts"].get("idle", 0) > idle0, 60,
                       "an idle report", interval=1)
        s0 = agent.sample()
        end = time.time() + SECONDS
        while time.time() < end:
            time.sleep(min(1.0, max(0.0, end - time.time())))  # the measurement window
            s1 = agent.sample()
        el = s1["t"] - s0["t"]
        tcs = cp.admin("/_local/tcs")["counts"]
        r = {"tasks": N, "seconds": el, "cpu_s": s1["cpu"] - s0["cpu"],
             "cpu_pct": (s1["cpu"] - s0["cpu"]) / el * 100.0, "rss_kib": s1["Rss"],
             "fds": len(os.listdir("/proc/%d/fd" % agent.pid)),
             "tcs_messages": tcs.get("PublishMetricsRequest", 0) + tcs.get("PublishHealthRequest", 0),
             "bad_signatures": tcs.get("badSignature", 0)}
        cp.admin("/_local/bench/stop_tasks", {"cluster": cluster, "tasks": arns})
        return r
    finally:
        agent.stop()
        B.docker_rm_label("label=com.amazonaws.ecs.cluster=" + cluster)


def main():
    os.makedirs(B.OUT, exist_ok=True)
    cp = B.ControlPlane()
    res = {}
    try:
        for mode in os.environ.get("BENCH_TELEMETRY_MODES", "on poll off health").split():
            res[mode] = measure(cp, mode)
            B.log("telemetry %s, %d tasks: agent CPU %.3f %% of a core over %.0f s (RSS %d KiB, %d fds)"
                  % (mode, N, res[mode]["cpu_pct"], res[mode]["seconds"], res[mode]["rss_kib"],
                     res[mode]["fds"]))
    finally:
        cp.stop()
    with open(os.path.join(B.OUT, "telemetry.json"), "w") as f:
        json.dump(res, f, indent=1)
    if "on" in res and "off" in res:
        print("| telemetry | %d tasks | agent CPU metrics streamed %.3f %% | off %.3f %% | on - off %.3f %% of a core |"
              % (N, res["on"]["cpu_pct"], res["off"]["cpu_pct"], res["on"]["cpu_pct"] - res["off"]["cpu_pct"]))
    if "poll" in res and "off" in res:
        print("| telemetry | %d tasks | agent CPU metrics polled %.3f %% | off %.3f %% | poll - off %.3f %% of a core |"
              % (N, res["poll"]["cpu_pct"], res["off"]["cpu_pct"], res["poll"]["cpu_pct"] - res["off"]["cpu_pct"]))
    if "on" in res and "poll" in res:
        print("| stats streams | %d open | RSS %d KiB streamed vs %d KiB polled (%+d KiB) |"
              % (N, res["on"]["rss_kib"], res["poll"]["rss_kib"], res["on"]["rss_kib"] - res["poll"]["rss_kib"]))
    if "health" in res and "off" in res:
        print("| health tracking | %d healthy containers | agent CPU %.3f %% vs %.3f %% without checks | +%.3f %% of a core"
              ", RSS %+d KiB |" % (N, res["health"]["cpu_pct"], res["off"]["cpu_pct"],
                               res["health"]["cpu_pct"] - res["off"]["cpu_pct"],
                               res["health"]["rss_kib"] - res["off"]["rss_kib"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
