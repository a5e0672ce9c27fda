"""Fleet benchmark (issue 19): BENCH_FLEET_AGENTS (20) real agents x BENCH_FLEET_TASKS (10)
tasks through one service against one control plane, then a control-plane restart.

    AGENT_BIN=out/amazon-ecs-agent TEST_IMAGE=... /usr/bin/python3 bench/fleet.py

Prints one JSON line: time to all tasks RUNNING, the agents' reconnect delays after the
restart (min/p50/p90/max, seconds after the new process is up), the control plane's CPU
seconds over the whole run and p50/p99/max latency (ms) per API operation from its
request log; also written to out/bench/fleet.json.  bench/run.sh runs it after bench.py.
"""

import json
import os
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))

from fleet import Fleet, summary  # noqa: E402


def main():
    n = int(os.environ.get("BENCH_FLEET_AGENTS", "20"))
    t = int(os.environ.get("BENCH_FLEET_TASKS", "10"))
    image = os.environ.get("TEST_IMAGE") or os.environ.get("BENCH_IMAGE")
    if not image:
        sys.exit("set TEST_IMAGE (tests/lib/test-image.sh) or BENCH_IMAGE")
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        f = Fleet(tmp, n)
        try:
            f.wait_all_connected(300)
            secs = f.run_service(image, t, timeout=1200)
            delays = f.restart_controlplane(300)
            out = {"agents": n, "tasksPerAgent": t, "allRunningSeconds": round(secs, 1),
                   "reconnectSeconds": summary(delays), "controlPlane": f.stats()}
        finally:
            f.scale_down_and_stop(1200)
    print(json.dumps(out))
    os.makedirs(os.path.join(ROOT, "out", "bench"), exist_ok=True)
    with open(os.path.join(ROOT, "out", "bench", "fleet.json"), "w") as fh:
        json.dump(out, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
