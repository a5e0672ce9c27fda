"""Telemetry end to end: the real agent publishes over TCS to the local
control plane, which verifies every signature and keeps the metrics.

Short periods for the tests: ECS_TCS_TEST_PUBLISH_INTERVAL_MS (publish round)
and ECS_TCS_TEST_POLL_INTERVAL_MS (stats polls with ECS_POLL_METRICS=true); the
production values are 20 s and ECS_POLLING_METRICS_WAIT_DURATION (10 s).  By
default the agent streams stats (one Docker stats stream per container, ~1
sample/s): the metrics test runs in both modes.
"""
import json
import os
import re
import subprocess
import urllib.request

import pytest

from conftest import register_task_def, wait_for, wait_task_status

FAST = {"ECS_TCS_TEST_PUBLISH_INTERVAL_MS": "2000", "ECS_TCS_TEST_POLL_INTERVAL_MS": "700"}


def tcs(cp):
    return cp.admin("/_local/tcs")


def run(cp, cluster, td):
    r = cp.ecs.run_task(cluster=cluster, taskDefinition=td)
    assert not r.get("failures"), r
    return r["tasks"][0]["taskArn"]


def docker_stats(task_arn):
    """{container name in the task: (cpu % of one core, memory MiB)} from `docker stats`."""
    ids = subprocess.run(["docker", "ps", "-q", "--filter", "label=com.amazonaws.ecs.task-arn=" + task_arn],
                         capture_output=True, text=True, timeout=60).stdout.split()
    out = {}
    for cid in ids:
        name = subprocess.run(["docker", "inspect", "-f", '{{index .Config.Labels "com.amazonaws.ecs.container-name"}}', cid],
                              capture_output=True, text=True, timeout=60).stdout.strip()
        s = json.loads(subprocess.run(["docker", "stats", "--no-stream", "--format", "{{json .}}", cid],
                                      capture_output=True, text=True, timeout=60).stdout)
        mem = s["MemUsage"].split("/")[0].strip()
        unit = {"KiB": 1 / 1024.0, "MiB": 1.0, "GiB": 1024.0, "B": 1 / 1048576.0}
        num = next(mem[:-len(u)] for u in ("KiB", "MiB", "GiB", "B") if mem.endswith(u))
        mib = float(num) * next(v for u, v in unit.items() if mem.endswith(u))
        out[name] = (float(s["CPUPerc"].rstrip("%")), mib)
    return out


def ncpu():
    return len(os.sched_getaffinity(0))


def stats_streams(agent):
    """ecs_agent_stats_streams from the agent's /metrics."""
    url = "http://127.0.0.1:%d/metrics" % agent.introspection_port
    with urllib.request.urlopen(url, timeout=5) as r:
        m = re.search(r"^ecs_agent_stats_streams (\S+)$", r.read().decode(), re.M)
    assert m, "no ecs_agent_stats_streams in /metrics"
    return float(m.group(1))


@pytest.mark.parametrize("sampling", ["stream", "poll"])
def test_metrics_of_three_tasks_match_docker_stats(controlplane, make_agent, cluster_name, sampling):
    cp = controlplane
    img = os.environ.get("TEST_IMAGE") or "ecs-agent-c-test/busybox:latest"
    burn = register_task_def(cp, "burn", img, [{"name": "burn", "command": ["sh", "-c", "while :; do :; done"],
                                                 "cpu": 10, "memory": 64, "essential": True}])
    hold = register_task_def(cp, "hold", img, [{"name": "hold", "memory": 128, "essential": True, "cpu": 10,
                                                 "command": ["sh", "-c", "x=$(head -c 33554432 /dev/zero | tr '\\0' a); "
                                                             "while :; do sleep 600; done"]}])
    idle = register_task_def(cp, "idle", img)
    agent = make_agent(env=dict(FAST, ECS_POLL_METRICS="true") if sampling == "poll" else FAST)
    agent.wait_connected()
    arns = {n: run(cp, cluster_name, td) for n, td in (("burn", burn), ("hold", hold), ("idle", idle))}
    for a in arns.values():
        wait_task_status(cp, cluster_name, a, "RUNNING")

    def all_reported():
        t = tcs(cp)["tasks"]
        return t if all(a in t and t[a].get("cpuUtilization") is not None for a in arns.values()) else None
    t = wait_for(all_reported, 60, what="metrics for the 3 tasks")
    assert t[arns["burn"]]["family"] == "burn"

    # the burner: our CPU is a percent of every usable core; docker's of one core
    def burner_agrees():
        ours = tcs(cp)["tasks"][arns["burn"]]["containers"]["burn"]["latest"]["cpuAvg"] * ncpu()
        theirs = docker_stats(arns["burn"])["burn"][0]
        # a loaded machine (CI) may give the burner well under a core: an idle
        # container reads ~0, so 15 % tells the burner apart
        return (ours, theirs) if ours > 15 and abs(ours - theirs) < 40 else None
    print("burner CPU (ours x ncpu, docker):", wait_for(burner_agrees, 60, interval=1,
                                                        what="burner CPU agrees with docker stats"))

    def holder_agrees():
        ours = tcs(cp)["tasks"][arns["hold"]]["containers"]["hold"]["latest"]["memoryAvgMiB"]
        theirs = docker_stats(arns["hold"])["hold"][1]
        return (ours, theirs) if ours >= 32 and abs(ours - theirs) < 8 else None
    print("holder MiB (ours, docker):", wait_for(holder_agrees, 60, interval=1,
                                                 what="holder memory agrees with docker stats"))

    # bridge-mode tasks carry networkStatsSet (Docker's per-container counters)
    for n, a in arns.items():
        net = tcs(cp)["tasks"][a]["containers"][n if n != "idle" else "main"]["latest"]["network"]
        assert net and net["rxBytes"]["sampleCount"] >= 1, (n, net)
        assert set(net) >= {"rxBytes", "rxPackets", "rxErrors", "rxDropped", "txBytes", "txPackets",
                            "txErrors", "txDropped"}, net

    idle_cpu = tcs(cp)["tasks"][arns["idle"]]["cpuUtilization"]
    assert idle_cpu < 5, idle_cpu
    # describe-clusters statistics, through the real CLI
    d = cp.aws_cli("describe-clusters", "--clusters", cluster_name, "--include", "STATISTICS")
    stats = {s["name"]: s["value"] for s in d["clusters"][0]["statistics"]}
    assert int(stats["tasksWithMetricsCount"]) >= 3 and float(stats["CPUUtilization"]) > 0, stats
    counts = tcs(cp)["counts"]
    assert counts.get("badSignature", 0) == 0 and counts.get("undecodable", 0) == 0, counts
    # one stats stream per running container when streaming, none when polling;
    # a stopped task's stream closes
    assert stats_streams(agent) == (3 if sampling == "stream" else 0)
    cp.ecs.stop_task(cluster=cluster_name, task=arns["idle"])
    wait_task_status(cp, cluster_name, arns["idle"], "STOPPED")
    want = 2 if sampling == "stream" else 0
    wait_for(lambda: stats_streams(agent) == want, 10, interval=0.2, what="%d stats streams open" % want)
    assert agent.alive()
    # a clean stop with both sessions up: exit 0, nothing leaked (ASan builds check leaks at exit)
    rc = agent.stop()
    out = agent.output()
    assert rc == 0, out[-3000:]
    assert "Sanitizer" not in out and "runtime error:" not in out, out[-3000:]


def test_metrics_disabled_sends_idle_reports(controlplane, make_agent, cluster_name):
    cp = controlplane
    img = os.environ.get("TEST_IMAGE") or "ecs-agent-c-test/busybox:latest"
    td = register_task_def(cp, "quiet", img)
    agent = make_agent(env=dict(FAST, ECS_DISABLE_METRICS="true"))
    agent.wait_connected()
    arn = run(cp, cluster_name, td)
    wait_task_status(cp, cluster_name, arn, "RUNNING")
    before = tcs(cp)["counts"].get("idle", 0)
    wait_for(lambda: tcs(cp)["counts"].get("idle", 0) >= before + 3, 30, what="idle reports")
    assert arn not in tcs(cp)["tasks"]
    assert tcs(cp)["lastMetadata"]["idle"] is True


def test_tcs_dropped_refused_silent_does_not_disturb_acs(controlplane, make_agent, cluster_name):
    cp = controlplane
    img = os.environ.get("TEST_IMAGE") or "ecs-agent-c-test/busybox:latest"
    agent = make_agent(env=dict(FAST, ECS_TCS_TEST_HEARTBEAT_TIMEOUT_MS="1500"))
    agent.wait_connected()
    wait_for(lambda: tcs(cp)["counts"].get("connects", 0) >= 1, 30, what="TCS connected")

    # dropped (close 1000 and an abnormal code): reconnects
    for code in (1000, 4000):
        n = tcs(cp)["counts"]["connects"]
        cp.admin("/_local/tcs", {"drop": code})
        wait_for(lambda: tcs(cp)["counts"]["connects"] > n, 30, what="reconnect after drop %d" % code)

    # refused for a while: retries with back-off, then reconnects
    cp.admin("/_local/tcs", {"refuse": 4})
    n = tcs(cp)["counts"]["connects"]
    cp.admin("/_local/tcs", {"drop": 1000})
    wait_for(lambda: tcs(cp)["counts"]["connects"] > n, 60, what="reconnect after refusals")

    # silent (no heartbeat, no ack): the heartbeat timeout recycles the connection
    cp.admin("/_local/tcs", {"silent": True})
    n = tcs(cp)["counts"]["connects"]
    wait_for(lambda: tcs(cp)["counts"]["connects"] > n + 1, 60, what="reconnects while TCS is silent")
    cp.admin("/_local/tcs", {"silent": False})

    # ACS and task management unaffected all along
    td = register_task_def(cp, "during", img)
    arn = run(cp, cluster_name, td)
    wait_task_status(cp, cluster_name, arn, "RUNNING")
    assert agent.alive()
    logs = agent.all_logs()
    assert "no message from TCS within the heartbeat timeout" in logs
    assert "AddressSanitizer" not in logs and "runtime error" not in logs


def test_container_health_published_and_changes(controlplane, make_agent, cluster_name):
    cp = controlplane
    img = os.environ.get("TEST_IMAGE") or "ecs-agent-c-test/busybox:latest"
    td = register_task_def(cp, "checked", img, [{
        "name": "app", "memory": 32, "cpu": 10, "essential": True,
        "command": ["sh", "-c", "touch /tmp/ok; while :; do sleep 600; done"],
        "healthCheck": {"command": ["CMD-SHELL", "test -f /tmp/ok"], "interval": 5, "timeout": 2,
                        "retries": 1, "startPeriod": 0}}])
    # health flows without metrics; ECS_DISABLE_DOCKER_HEALTH_CHECK only withdraws the
    # capability (as upstream): the task is not refused and its health is still published
    agent = make_agent(env=dict(FAST, ECS_DISABLE_METRICS="true", ECS_DISABLE_DOCKER_HEALTH_CHECK="true"))
    agent.wait_connected()
    attrs = {x["name"] for x in cp.ecs.describe_container_instances(
        cluster=cluster_name, containerInstances=[agent.instance_arn()])["containerInstances"][0]["attributes"]}
    assert "ecs.capability.container-health-check" not in attrs
    assert "ecs.capability.container-ordering" in attrs
    # ECS would now place no such task here; the test places one anyway (as a task placed
    # before the switch was turned on would be found), through a custom attribute
    cp.ecs.put_attributes(cluster=cluster_name, attributes=[{
        "name": "ecs.capability.container-health-check", "targetType": "container-instance",
        "targetId": agent.instance_arn()}])
    arn = run(cp, cluster_name, td)
    wait_task_status(cp, cluster_name, arn, "RUNNING")

    def entry():
        t = tcs(cp)["tasks"].get(arn)
        return (t or {}).get("containers", {}).get("app", {}).get("health", {})

    def health():
        return entry().get("healthStatus")
    wait_for(lambda: health() == "HEALTHY", 60, what="HEALTHY published")
    healthy_since = entry().get("statusSince")
    assert healthy_since
    d = cp.ecs.describe_tasks(cluster=cluster_name, tasks=[arn])["tasks"][0]
    assert d["containers"][0].get("healthStatus") == "HEALTHY", d["containers"]
    assert d.get("healthStatus") == "HEALTHY", d            # the task's, from its essential containers
    cid = subprocess.run(["docker", "ps", "-q", "--filter", "label=com.amazonaws.ecs.task-arn=" + arn],
                         capture_output=True, text=True, timeout=60).stdout.split()[0]
    subprocess.run(["docker", "exec", cid, "rm", "/tmp/ok"], check=True, timeout=60)
    wait_for(lambda: health() == "UNHEALTHY", 60, what="UNHEALTHY published")
    assert cp.ecs.describe_tasks(cluster=cluster_name, tasks=[arn])["tasks"][0].get("healthStatus") == "UNHEALTHY"
    # statusSince moved with the status, and stays while it does not change
    unhealthy_since = entry().get("statusSince")
    assert unhealthy_since != healthy_since, (healthy_since, unhealthy_since)
    n = tcs(cp)["counts"].get("PublishHealthRequest", 0)
    wait_for(lambda: tcs(cp)["counts"].get("PublishHealthRequest", 0) >= n + 2, 30, what="two more rounds")
    assert entry().get("statusSince") == unhealthy_since
    assert tcs(cp)["counts"].get("PublishHealthRequest", 0) >= 2
    assert agent.alive()
