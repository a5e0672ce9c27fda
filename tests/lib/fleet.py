"""Many real agents against one local control plane (tests/e2e/test_fleet.py, bench/fleet.py).

Fleet(tmp, n_agents) starts a control plane on fixed free ports (so a restart keeps
its address), then n agents, each with its own data dir, log dir and introspection
port, all in one cluster on this Docker engine.  run_service() makes a service of
n_agents * tasks_per_agent sleepers spread over the instances and waits until every
task RUNNING; restart_controlplane() restarts the control plane and measures when
each agent's ACS websocket comes back; stats() reads the control plane's CPU time
and per-operation latencies from its request log.
"""

import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

from conftest import (AKID, PY, REGION, SECRET, TEST_LABEL, Agent, docker_cleanup,  # noqa: E402
                      free_port, wait_for)

_LOG_LINE = re.compile(r" op=(\S+) status=(\d+) ([\d.]+)ms")


class FleetControlPlane:
    """The control plane on fixed ports, restartable in place (same URL for the agents)."""

    def __init__(self, tmp, extra_args=()):
        self.tmp = tmp
        self.state_dir = os.path.join(tmp, "cp-state")
        os.makedirs(self.state_dir, exist_ok=True)
        self.port, self.imds_port = free_port(), free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.imds_url = "http://127.0.0.1:%d" % self.imds_port
        self.extra_args = list(extra_args)
        self.log_path = os.path.join(tmp, "controlplane.log")
        self.proc = None
        self._client = None
        self.cpu_before_restarts = 0.0
        self.start()

    def start(self):
        self.log = open(self.log_path, "a")
        args = [PY, "-m", "controlplane", "--listen", "127.0.0.1:%d" % self.port,
                "--imds-listen", "127.0.0.1:%d" % self.imds_port, "--region", REGION,
                "--access-key", AKID, "--secret-key", SECRET, "--state-dir", self.state_dir,
                "--log-level", "WARNING"] + self.extra_args
        deadline = time.time() + 30
        while True:   # the old socket may linger a moment after a restart
            self.launched_at = time.time()
            self.proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=self.log, text=True)
            line = self.proc.stdout.readline()
            if line:
                break
            self.proc.wait(10)
            if time.time() > deadline:
                raise RuntimeError("control plane did not start: " + open(self.log_path).read()[-3000:])
            time.sleep(0.2)  # retry interval of this bounded wait for the port to be free
        self.started_at = time.time()

    def cpu_seconds(self):
        """CPU time (user + system) of the running control plane process."""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.cpu_before_restarts += self.cpu_seconds()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.proc.stdout.close()
            self.log.close()

    @property
    def ecs(self):
        if self._client is None:
            import botocore.session
            from botocore.config import Config
            s = botocore.session.get_session()
            self._client = s.create_client("ecs", region_name=REGION, endpoint_url=self.url,
                                           aws_access_key_id=AKID, aws_secret_access_key=SECRET,
                                           config=Config(retries={"max_attempts": 10}, read_timeout=60))
        return self._client

    def admin(self, path):
        import urllib.request
        with urllib.request.urlopen(self.url + path, timeout=30) as r:
            return json.loads(r.read())

    def latencies(self):
        """{op: [ms, ...]} of every ECS API call in the request log."""
        out = {}
        with open(self.log_path, errors="replace") as f:
            for line in f:
                m = _LOG_LINE.search(line)
                if m and m.group(1) not in ("-", "ws", "admin", "console") and not m.group(1).startswith("console"):
                    out.setdefault(m.group(1), []).append(float(m.group(3)))
        return out


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))] if v else None


class Fleet:
    def __init__(self, tmp, n_agents, env=None):
        self.tmp = tmp
        self.cluster = "fleet-" + uuid.uuid4().hex[:8]
        self.cp = FleetControlPlane(tmp)
        self.cp.ecs.create_cluster(clusterName=self.cluster)
        self.agents = []
        for i in range(n_agents):
            d = os.path.join(tmp, "agent%02d" % i)
            os.makedirs(d)
            a = Agent(self.cp, d, self.cluster, dict({"ECS_LOGLEVEL": "info"}, **(env or {})))
            self.agents.append(a.start())

    def instances(self):
        return self.cp.ecs.list_container_instances(cluster=self.cluster)["containerInstanceArns"]

    def connected(self):
        arns = self.instances()
        n = 0
        for i in range(0, len(arns), 100):
            d = self.cp.ecs.describe_container_instances(cluster=self.cluster, containerInstances=arns[i:i + 100])
            n += sum(1 for ci in d["containerInstances"] if ci.get("agentConnected"))
        return n

    def wait_all_connected(self, timeout=180):
        wait_for(lambda: self.connected() == len(self.agents), timeout,
                 what="%d agents connected" % len(self.agents))

    def run_service(self, image, tasks_per_agent, timeout=600):
        self.cp.ecs.register_task_definition(family="fleet", containerDefinitions=[
            {"name": "main", "image": image, "cpu": 1, "memory": 8, "command": ["sleep", "3600"]}])
        self.desired = len(self.agents) * tasks_per_agent
        t0 = time.time()
        self.cp.ecs.create_service(cluster=self.cluster, serviceName="fleet", taskDefinition="fleet",
                                   desiredCount=self.desired,
                                   placementStrategy=[{"type": "spread", "field": "instanceId"}])
        wait_for(lambda: self.service()["runningCount"] == self.desired, timeout,
                 what="%d service tasks RUNNING" % self.desired, interval=1.0)
        return time.time() - t0

    def service(self):
        return self.cp.ecs.describe_services(cluster=self.cluster, services=["fleet"])["services"][0]

    def task_arns(self):
        arns, tok = [], None
        while True:
            kw = {"cluster": self.cluster, "serviceName": "fleet"}
            if tok:
                kw["nextToken"] = tok
            r = self.cp.ecs.list_tasks(**kw)
            arns += r["taskArns"]
            tok = r.get("nextToken")
            if not tok:
                return arns

    def restart_controlplane(self, timeout=180):
        """Restart in place; returns each agent's reconnect delay (s) after the new process is up."""
        seq = self.cp.admin("/_local/events?kind=ws_connect")["lastSeq"]
        self.cp.stop()
        self.cp.start()
        up = self.cp.started_at
        self.cp._client = None
        self.wait_all_connected(timeout)
        evs = self.cp.admin("/_local/events?kind=ws_connect&since=%d" % seq)["events"]
        first = {}
        for e in evs:   # (a connection the old process took while shutting down does not count)
            if e["time"] >= self.cp.launched_at:
                first.setdefault(e["containerInstanceArn"], e["time"])
        return sorted(t - up for t in first.values())

    def stats(self):
        lat = self.cp.latencies()
        return {
            "cpuSeconds": round(self.cp.cpu_before_restarts + self.cp.cpu_seconds(), 2),
            "ops": {op: {"n": len(v), "p50": round(statistics.median(v), 1), "p99": round(pct(v, 99), 1),
                         "max": round(max(v), 1)} for op, v in sorted(lat.items())},
        }

    def scale_down_and_stop(self, timeout=600):
        try:
            self.cp.ecs.update_service(cluster=self.cluster, service="fleet", desiredCount=0)
            wait_for(lambda: self.service()["runningCount"] == 0 and not self.task_arns(), timeout,
                     what="service scaled to 0", interval=1.0)
            self.cp.ecs.delete_service(cluster=self.cluster, service="fleet")
        finally:
            self.close()

    def close(self):
        """Stops the agents and the control plane, then removes the fleet's containers
        (conftest.docker_cleanup: one Docker is removing already, 409 "Removal In
        Progress", is waited on, bounded), also when a stop failed."""
        try:
            for a in self.agents:
                if a.alive():
                    a.stop()
            self.cp.stop()
        finally:
            docker_cleanup(self.cluster)


def summary(values):
    return {"n": len(values), "min": round(min(values), 2), "p50": round(statistics.median(values), 2),
            "p90": round(pct(values, 90), 2), "max": round(max(values), 2)} if values else {}


__all__ = ["Fleet", "FleetControlPlane", "summary", "TEST_LABEL"]
