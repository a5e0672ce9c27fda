"""Control-plane call latency with a big state (issue 19: durable state without stalls;
10,000 tasks and a 30 MiB task definition do not slow ordinary calls).

    /usr/bin/python3 bench/cp_state_latency.py [--repo DIR] [--td-mib 30] [--tasks 0] [--calls 50]

Starts `python3 -m controlplane` from --repo (default: this repository) with a
state dir, registers one task definition of --td-mib MiB (environment
variables), optionally places --tasks tasks (StartTask, 10 at a time; every
other batch is then stopped), then times --calls rounds of mutating calls
(CreateCluster of an existing cluster, SubmitTaskStateChange,
UpdateContainerInstancesState) and of ordinary reads (DescribeTasks of one
task by id, ListTasks of the cluster's RUNNING / STOPPED tasks and of the
instance's, DescribeClusters, DescribeContainerInstances) with botocore and
prints p50/p99/max per operation in ms as one JSON line: "client" as botocore
sees it (its own overhead included), "server" from the control plane's request
log (handler time only).  Point --repo at an export of an older revision
(git archive <rev> controlplane | tar -x -C DIR) to compare.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import botocore.session
from botocore.config import Config

AKID, SECRET, REGION = "AKIDBENCH", "bench-secret", "us-west-2"


def _stats(lat):
    if not lat:
        return None
    lat = sorted(lat)
    return {"p50": round(statistics.median(lat), 2), "p99": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 2),
            "max": round(lat[-1], 2)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", default=os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))
    ap.add_argument("--td-mib", type=float, default=30)
    ap.add_argument("--tasks", type=int, default=0)
    ap.add_argument("--calls", type=int, default=50)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="cp-bench-") as sd:
        log_path = os.path.join(sd, "server.log")
        log = open(log_path, "wb")
        p = subprocess.Popen(["/usr/bin/python3", "-m", "controlplane", "--listen", "127.0.0.1:0",
                              "--access-key", AKID, "--secret-key", SECRET, "--state-dir", sd,
                              "--log-level", "WARNING"], cwd=a.repo, stdout=subprocess.PIPE, stderr=log)
        try:
            url = "http://" + json.loads(p.stdout.readline())["listen"]
            s = botocore.session.Session()
            s.set_credentials(AKID, SECRET)
            ecs = s.create_client("ecs", region_name=REGION, endpoint_url=url,
                                  config=Config(retries={"max_attempts": 0}, read_timeout=300,
                                                parameter_validation=False))
            ecs.create_cluster(clusterName="bench")
            inst = ecs.register_container_instance(
                cluster="bench", totalResources=[{"name": "CPU", "type": "INTEGER", "integerValue": 1 << 20},
                                                 {"name": "MEMORY", "type": "INTEGER", "integerValue": 1 << 30}]
            )["containerInstance"]["containerInstanceArn"]
            ecs.register_task_definition(family="small", containerDefinitions=[
                {"name": "a", "image": "busybox", "memory": 1}])
            n_env = int(a.td_mib * 1024)
            t0 = time.monotonic()
            ecs.register_task_definition(family="big", containerDefinitions=[
                {"name": "a", "image": "busybox", "memory": 16,
                 "environment": [{"name": "E%d" % i, "value": "v" * 1000} for i in range(n_env)]}])
            reg_ms = (time.monotonic() - t0) * 1000
            tasks = []
            t0 = time.monotonic()
            for i in range(a.tasks // 10):
                batch = [t["taskArn"] for t in ecs.start_task(cluster="bench", taskDefinition="small",
                                                              containerInstances=[inst] * 10)["tasks"]]
                tasks += batch
                if i % 2:
                    for arn in batch:
                        ecs.submit_task_state_change(cluster="bench", task=arn, status="STOPPED")
            setup_ms = (time.monotonic() - t0) * 1000
            t = ecs.start_task(cluster="bench", taskDefinition="small", containerInstances=[inst])["tasks"][0]
            tid = t["taskArn"].rsplit("/", 1)[-1]
            ops = {
                "CreateCluster": lambda: ecs.create_cluster(clusterName="bench"),
                "SubmitTaskStateChange": lambda: ecs.submit_task_state_change(
                    cluster="bench", task=t["taskArn"], status="RUNNING"),
                "UpdateContainerInstancesState": lambda: ecs.update_container_instances_state(
                    cluster="bench", containerInstances=[inst], status="ACTIVE"),
                "DescribeTasks": lambda: ecs.describe_tasks(cluster="bench", tasks=[tid]),
                "ListTasks": lambda: ecs.list_tasks(cluster="bench"),
                "ListTasks STOPPED": lambda: ecs.list_tasks(cluster="bench", desiredStatus="STOPPED"),
                "ListTasks instance": lambda: ecs.list_tasks(cluster="bench", containerInstance=inst),
                "DescribeClusters": lambda: ecs.describe_clusters(clusters=["bench"]),
                "DescribeContainerInstances": lambda: ecs.describe_container_instances(
                    cluster="bench", containerInstances=[inst]),
            }
            out = {"tdMiB": a.td_mib, "tasks": len(tasks), "registerBigTdMs": round(reg_ms, 1),
                   "placeTasksS": round(setup_ms / 1000, 1)}
            for name, fn in ops.items():
                lat = []
                log.flush()
                before = os.path.getsize(log_path)
                for _ in range(a.calls):
                    t0 = time.monotonic()
                    fn()
                    lat.append((time.monotonic() - t0) * 1000)
                time.sleep(0.2)  # the server writes its log line after answering
                with open(log_path, "rb") as f:
                    f.seek(before)
                    srv = [float(m) for m in re.findall(rb" op=\S+ status=200 ([0-9.]+)ms", f.read())]
                out[name] = {"client": _stats(lat), "server": _stats(srv)}
            print(json.dumps(out))
        finally:
            p.terminate()
            p.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
