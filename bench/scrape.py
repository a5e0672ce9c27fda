#!/usr/bin/python3
"""scrape.py - the cost of GET /metrics (run by bench/run.sh; alone:
/usr/bin/python3 bench/scrape.py).

A fresh agent on its own cluster gets BENCH_SCRAPE_TASKS busybox tasks (so the
exposition has task, container and Docker-call series), then:
  - one scrape's cost: BENCH_SCRAPE_REQUESTS scrapes back to back on one
    keep-alive connection, the agent's CPU time per scrape and the wall
    latency p50/p99, and the response size;
  - idle CPU with a scrape every 15 s (as a Prometheus server would) against
    idle CPU without scrapes, each over BENCH_SCRAPE_IDLE_SECONDS.
Knobs: BENCH_SCRAPE_TASKS [10], BENCH_SCRAPE_REQUESTS [1000],
BENCH_SCRAPE_IDLE_SECONDS [60], AGENT_BIN, BENCH_IMAGE.
Writes out/bench/scrape.json and prints one table row.
"""
import http.client
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_lib as B  # noqa: E402

N = int(os.environ.get("BENCH_SCRAPE_TASKS", "10"))
REQUESTS = int(os.environ.get("BENCH_SCRAPE_REQUESTS", "1000"))
IDLE = float(os.environ.get("BENCH_SCRAPE_IDLE_SECONDS", "60"))
INTERVAL = 15.0


def scrape(conn):
    conn.request("GET", "/metrics")
    r = conn.getresponse()
    body = r.read()
    assert r.status == 200, r.status
    return body


def idle_cpu(agent, port, scrape_every):
    s0 = agent.sample()
    end = time.time() + IDLE
    nxt = time.time()
    while time.time() < end:
        if scrape_every and time.time() >= nxt:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            scrape(c)
            c.close()
            nxt += scrape_every
        time.sleep(min(1.0, max(0.0, end - time.time())))  # the measurement window
    s1 = agent.sample()
    return (s1["cpu"] - s0["cpu"]) / (s1["t"] - s0["t"]) * 100.0


def main():
    os.makedirs(B.OUT, exist_ok=True)
    cp = B.ControlPlane()
    cluster = B.new_cluster(cp, "bench-scrape")
    agent = B.Agent(cp, "scrape", cluster)
    res = {"tasks": N}
    try:
        agent.wait_connected(60)
        port = int(agent.env["ECS_INTROSPECTION_PORT"])
        r = cp.ecs.register_task_definition(family="bench-scrape", containerDefinitions=[{
            "name": "main", "image": B.IMAGE, "cpu": 10, "memory": 32, "essential": True,
            "command": B.LONG_CMD}])["taskDefinition"]
        td = "%s:%d" % (r["family"], r["revision"])
        arns = cp.admin("/_local/bench/run_tasks", {"cluster": cluster, "taskDefinition": td, "count": N})["taskArns"]
        cp.events.wait_all(arns, cp.events.running_at, 60 + 3 * N, "RUNNING of %d tasks" % N, interval=0.2)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        body = scrape(conn)
        lat = []
        s0 = agent.sample()
        for _ in range(REQUESTS):
            t0 = time.perf_counter()
            body = scrape(conn)
            lat.append((time.perf_counter() - t0) * 1000.0)
        s1 = agent.sample()
        conn.close()
        lat.sort()
        res.update({"bytes": len(body), "cpu_ms_per_scrape": (s1["cpu"] - s0["cpu"]) * 1000.0 / REQUESTS,
                    "p50_ms": lat[len(lat) // 2], "p99_ms": lat[int(len(lat) * 0.99) - 1]})
        res["idle_cpu_pct_no_scrape"] = idle_cpu(agent, port, 0)
        res["idle_cpu_pct_scrape_15s"] = idle_cpu(agent, port, INTERVAL)
        cp.admin("/_local/bench/stop_tasks", {"cluster": cluster, "tasks": arns})
    finally:
        agent.stop()
        B.docker_rm_label("label=com.amazonaws.ecs.cluster=" + cluster)
        cp.stop()
    with open(os.path.join(B.OUT, "scrape.json"), "w") as f:
        json.dump(res, f, indent=1)
    print("| metrics scrape | %d tasks | %d bytes, agent CPU %.3f ms/scrape, p50 %.3f ms p99 %.3f ms | "
          "idle CPU %.3f %% without scrapes, %.3f %% with one every 15 s |"
          % (N, res["bytes"], res["cpu_ms_per_scrape"], res["p50_ms"], res["p99_ms"],
             res["idle_cpu_pct_no_scrape"], res["idle_cpu_pct_scrape_15s"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
