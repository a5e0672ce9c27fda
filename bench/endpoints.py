#!/usr/bin/python3
"""endpoints.py - the cost of the task endpoints (run by bench/run.sh after
bench.py; alone: /usr/bin/python3 bench/endpoints.py).

For each mode a fresh agent on its own cluster gets N long-running busybox
tasks in one payload: "plain" tasks, then tasks with a task role (their
containers get the metadata and credentials variables, the agent holds N
credential sets, the metadata server keeps each container's Docker details).
Once all run, the agent idles BENCH_ENDPOINTS_IDLE_SECONDS and its RSS and CPU
are sampled.  In "role" mode the latency of a credentials request
(GET /v2/credentials/<id> on one keep-alive connection to 127.0.0.1, as an
SDK inside a container makes it after the DNAT) and of a v4 task metadata
request is then measured over BENCH_ENDPOINTS_REQUESTS requests each.

Knobs: BENCH_ENDPOINTS_TASKS [50], BENCH_ENDPOINTS_IDLE_SECONDS [30],
BENCH_ENDPOINTS_REQUESTS [1000], AGENT_BIN, BENCH_IMAGE.
Writes out/bench/endpoints.json and prints one table row.
"""

import http.client
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_lib as B  # noqa: E402

N = B.env_int("BENCH_ENDPOINTS_TASKS", 50)
IDLE = B.env_int("BENCH_ENDPOINTS_IDLE_SECONDS", 30)
REQS = B.env_int("BENCH_ENDPOINTS_REQUESTS", 1000)
ROLE = "arn:aws:iam::123456789012:role/bench"


def latency(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    times = []
    for _ in range(REQS):
        t0 = time.perf_counter()
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        times.append((time.perf_counter() - t0) * 1000.0)
        if r.status != 200:
            raise RuntimeError("%s answered %d" % (path, r.status))
    conn.close()
    return {"p50_ms": B.pct(times, 50), "p99_ms": B.pct(times, 99), "requests": len(times)}


def measure(cp, mode):
    port = B.free_port()
    extra = os.environ.get("BENCH_AGENT_ENV", "")
    # the limiter (40 r/s per caller and path by default) would answer most
    # of the back-to-back requests 429: lifted, the server itself is measured
    os.environ["BENCH_AGENT_ENV"] = extra + (" ECS_TASK_METADATA_PORT=%d ECS_ENABLE_TASK_IAM_ROLE=true"
                                             " ECS_TASK_METADATA_RPS_LIMIT=1000000,1000000" % port)
    cluster = B.new_cluster(cp, "bench-ep-" + mode)
    agent = B.Agent(cp, "endpoints-" + mode, cluster)
    os.environ["BENCH_AGENT_ENV"] = extra
    try:
        agent.wait_connected(60)
        kw = {"taskRoleArn": ROLE} if mode == "role" else {}
        r = cp.ecs.register_task_definition(family="bench-ep-" + mode, containerDefinitions=[{
            "name": "main", "image": B.IMAGE, "cpu": 10, "memory": 32, "essential": True,
            "command": B.LONG_CMD}], **kw)["taskDefinition"]
        td = "%s:%d" % (r["family"], r["revision"])
        arns = cp.admin("/_local/bench/run_tasks", {"cluster": cluster, "taskDefinition": td, "count": N})["taskArns"]
        cp.events.wait_all(arns, cp.events.running_at, 60 + 3 * N, "RUNNING of %d tasks" % N, interval=0.2)
        s0 = agent.sample()
        end = time.time() + IDLE
        while time.time() < end:
            time.sleep(min(1.0, max(0.0, end - time.time())))  # the measurement window
        s1 = agent.sample()
        el = s1["t"] - s0["t"]
        res = {"tasks": N, "rss_kib": s1["Rss"], "cpu_pct": (s1["cpu"] - s0["cpu"]) / el * 100.0}
        if mode == "role":
            cid = B.docker_ids("label=com.amazonaws.ecs.task-arn=" + arns[0])[0]
            env = dict(e.split("=", 1) for e in json.loads(subprocess.check_output(
                ["docker", "inspect", cid], timeout=60))[0]["Config"]["Env"])
            eid = env["ECS_CONTAINER_METADATA_URI_V4"].rsplit("/", 1)[1]
            res["credentials"] = latency(port, env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"])
            res["v4_task"] = latency(port, "/v4/%s/task" % eid)
            res["rss_after_requests_kib"] = agent.sample()["Rss"]
        cp.admin("/_local/bench/stop_tasks", {"cluster": cluster, "tasks": arns})
        return res
    finally:
        agent.stop()
        B.docker_rm_label("label=com.amazonaws.ecs.cluster=" + cluster)


def main():
    os.makedirs(B.OUT, exist_ok=True)
    cp = B.ControlPlane()
    res = {}
    try:
        for mode in ("plain", "role"):
            res[mode] = measure(cp, mode)
            B.log("endpoints %s, %d tasks: RSS %d KiB, CPU %.3f %% of a core"
                  % (mode, N, res[mode]["rss_kib"], res[mode]["cpu_pct"]))
    finally:
        cp.stop()
    with open(os.path.join(B.OUT, "endpoints.json"), "w") as f:
        json.dump(res, f, indent=1)
    c, t = res["role"]["credentials"], res["role"]["v4_task"]
    print("| endpoints | %d tasks | idle RSS plain %d KiB, with task roles %d KiB (%+.1f KiB/task) | "
          "credentials GET p50 %.3f ms p99 %.3f ms | v4 task p50 %.3f ms p99 %.3f ms |"
          % (N, res["plain"]["rss_kib"], res["role"]["rss_kib"],
             (res["role"]["rss_kib"] - res["plain"]["rss_kib"]) / float(N), c["p50_ms"], c["p99_ms"],
             t["p50_ms"], t["p99_ms"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
