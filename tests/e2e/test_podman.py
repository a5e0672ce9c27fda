"""What is particular to Podman, against a rootful `podman system service`
(conftest's podman_service fixture: the test image loaded into Podman's
store, the agent's DOCKER_HOST pointed at Podman's socket).

The task flows themselves (registration, run-task with ports, stop and exit
codes, essential exits, kill -9 restart with adoption) are test_ecs_flow's,
run once per engine (the `runtime` fixture).  Here:
  - volumes: a host path and an agent-made task volume (an empty `host`,
    created through Podman's /volumes/create) shared by two containers;
  - telemetry: Podman's stats answer (docker/stats.c normalises it) gives
    the TCS session CPU and memory numbers for a running task;
  - pull with registry auth (ECS_ENGINE_AUTH_TYPE docker) from the private
    registry of tests/lib/registry.sh, the image absent from Podman's store;
  - events with since: the Podman service stops (its containers run on,
    held by conmon), a container is killed meanwhile, the service comes
    back: the agent's event stream resumes with since= and the task stops
    with the exit code;
  - links: Podman 4.3 refuses HostConfig.Links (400 "link is not
    supported"); the client makes each link /etc/hosts entries with the
    running target's address, and a container reaches its link by alias;
  - capabilities: the registered attributes leave out what Podman does not
    do (logging drivers its API refuses, health checks).
Podman missing or unable to run a container here: the fixture SKIPS with
the exact failure (counted as skipped), never passes silently."""
import json
import os
import re

import pytest

from conftest import register_task_def, wait_for, wait_task_status

TCS_FAST = {"ECS_TCS_TEST_PUBLISH_INTERVAL_MS": "2000", "ECS_TCS_TEST_POLL_INTERVAL_MS": "700"}


@pytest.fixture
def runtime(podman_service):
    """Every test of this file runs on Podman (make_agent sets DOCKER_HOST)."""
    from conftest import Runtime
    return Runtime("podman", podman_service["host"], podman_service["env"])


def container(task, name):
    return [c for c in task["containers"] if c["name"] == name][0]


def test_runtime_logged_volumes_on_podman(runtime, make_agent, test_image, tmpdir_path):
    agent = make_agent()
    agent.wait_connected()
    wait_for(lambda: "container runtime: podman" in agent.all_logs(), 30, what="runtime logged")
    host_dir = os.path.join(tmpdir_path, "hostvol")
    os.makedirs(host_dir)
    td = register_task_def(agent.cp, "podman-vols", test_image, containers=[
        {"name": "writer", "essential": False,
         "command": ["sh", "-c", "echo from-writer > /shared/f && echo on-host > /host/f"],
         "mountPoints": [{"sourceVolume": "scratch", "containerPath": "/shared"},
                         {"sourceVolume": "hostdir", "containerPath": "/host"}]},
        {"name": "reader", "essential": True,
         "dependsOn": [{"containerName": "writer", "condition": "SUCCESS"}],
         "command": ["sh", "-c", "test \"$(cat /shared/f)\" = from-writer && exit 7; exit 1"],
         "mountPoints": [{"sourceVolume": "scratch", "containerPath": "/shared"}]},
    ], volumes=[{"name": "scratch", "host": {}}, {"name": "hostdir", "host": {"sourcePath": host_dir}}])
    arn = agent.cp.ecs.run_task(cluster=agent.cluster, taskDefinition=td)["tasks"][0]["taskArn"]
    try:
        t = wait_task_status(agent.cp, agent.cluster, arn, "STOPPED", timeout=90)
        t = wait_for(lambda: (lambda t: t if "exitCode" in container(t, "reader") else None)(
            agent.cp.ecs.describe_tasks(cluster=agent.cluster, tasks=[arn])["tasks"][0]), 20, what="exit code")
    except AssertionError as e:
        raise AssertionError("%s\n%s" % (e, agent.all_logs()[-6000:])) from None
    assert container(t, "writer")["exitCode"] == 0, t
    assert container(t, "reader")["exitCode"] == 7, t  # it read what the writer wrote
    with open(os.path.join(host_dir, "f")) as f:
        assert f.read().strip() == "on-host"


def test_telemetry_stats_on_podman(runtime, make_agent, test_image):
    agent = make_agent(env=TCS_FAST)
    agent.wait_connected()
    td = register_task_def(agent.cp, "podman-burn", test_image, containers=[
        {"name": "burn", "essential": True, "cpu": 10, "memory": 64, "command": ["sh", "-c", "x=$(head -c 8388608 /dev/zero | tr '\\0' a); while :; do :; done"]}])
    arn = agent.cp.ecs.run_task(cluster=agent.cluster, taskDefinition=td)["tasks"][0]["taskArn"]
    wait_task_status(agent.cp, agent.cluster, arn, "RUNNING")

    def reported():
        t = agent.cp.admin("/_local/tcs")["tasks"].get(arn)
        c = t and t.get("containers", {}).get("burn", {}).get("latest")
        return c if c and c.get("cpuAvg", 0) > 1 and c.get("memoryAvgMiB", 0) >= 8 else None
    try:
        c = wait_for(reported, 60, interval=0.5, what="TCS metrics of the task on Podman")
    except AssertionError as e:
        logs = "\n".join(line for line in agent.all_logs().splitlines() if "tcs" in line or "stats" in line)
        raise AssertionError("%s\n%s\n%s" % (e, logs[-3000:], json.dumps(agent.cp.admin("/_local/tcs"))[:3000])) from None
    # a busy loop (on a loaded machine: some of a core) holding an 8 MiB string
    assert c["cpuAvg"] > 1 and c["memoryAvgMiB"] >= 8, c
    assert "stats of container" not in agent.all_logs() or "are back" in agent.all_logs()
    # Podman's stats stream writes a sample every 5 s (4.3.1): telemetry polls it even with
    # ECS_POLL_METRICS=false (the default)
    assert "metrics polled: Podman's stats stream" in agent.all_logs()


def test_links_reach_the_target_by_alias_on_podman(runtime, make_agent, test_image):
    """Podman refuses HostConfig.Links: the client writes each link as
    /etc/hosts entries (alias and the target's name) with the address of the
    running target (docker/links.h).  app reaches db's httpd by the alias and
    by db's name, and the two entries are all Links became."""
    agent = make_agent()
    agent.wait_connected()
    probe = ("i=0; while [ $i -lt 150 ]; do "
             "if [ \"$(wget -qO- http://database:8080/id)\" = linked-db ]; then "
             "n=$(awk '$2 ~ /^ecs-.*-db-/ {print $2; exit}' /etc/hosts); "
             "[ -n \"$n\" ] && [ \"$(wget -qO- http://$n:8080/id)\" = linked-db ] && exit 7; exit 3; fi; "
             "i=$((i+1)); sleep 0.2; done; exit 1")
    td = register_task_def(agent.cp, "podman-links", test_image, containers=[
        {"name": "db", "essential": True,
         "command": ["sh", "-c", "mkdir -p /www && echo linked-db > /www/id && exec httpd -f -p 8080 -h /www"]},
        {"name": "app", "essential": True, "links": ["db:database"], "command": ["sh", "-c", probe]}])
    arn = agent.cp.ecs.run_task(cluster=agent.cluster, taskDefinition=td)["tasks"][0]["taskArn"]
    try:
        wait_task_status(agent.cp, agent.cluster, arn, "STOPPED", timeout=90)
        t = wait_for(lambda: (lambda t: t if "exitCode" in container(t, "app") else None)(
            agent.cp.ecs.describe_tasks(cluster=agent.cluster, tasks=[arn])["tasks"][0]), 20, what="exit code")
    except AssertionError as e:
        raise AssertionError("%s\n%s" % (e, agent.all_logs()[-6000:])) from None
    assert container(t, "app")["exitCode"] == 7, (t, agent.all_logs()[-4000:])
    assert "link is not supported" not in agent.all_logs()


def test_capabilities_on_podman(runtime, make_agent):
    """Only what holds on Podman is registered (ecs/attributes_runtime.c):
    of the configured logging drivers those its compatible API takes, no
    container-health-check (Podman runs health checks from systemd timers);
    privileged containers and the API versions stay."""
    drivers = ["json-file", "syslog", "awslogs", "gelf", "journald", "none"]
    agent = make_agent(env={"ECS_AVAILABLE_LOGGING_DRIVERS": json.dumps(drivers)})
    agent.wait_connected()
    ci = agent.cp.ecs.describe_container_instances(cluster=agent.cluster,
                                                   containerInstances=[agent.instance_arn()])
    attrs = {a["name"] for a in ci["containerInstances"][0]["attributes"]}
    cap = "com.amazonaws.ecs.capability."
    logging = {a[len(cap + "logging-driver."):] for a in attrs if a.startswith(cap + "logging-driver.")}
    assert logging == {"json-file", "journald", "none"}, sorted(attrs)
    assert "ecs.capability.container-health-check" not in attrs, sorted(attrs)
    assert cap + "privileged-container" in attrs, sorted(attrs)
    assert {cap + "docker-remote-api.1.17", cap + "docker-remote-api.1.32"} <= attrs, sorted(attrs)


def test_pull_with_registry_auth_on_podman(runtime, podman_service, make_agent):
    reg = podman_service["registry"]
    image = reg["image"]  # 127.0.0.1:<port>/ecs-agent-c-test/busybox:latest
    runtime.cli("rmi", "-f", image)
    assert runtime.cli("image", "exists", image).returncode != 0
    auth = {"127.0.0.1:" + reg["port"]: {"username": reg["user"], "password": reg["password"]}}
    agent = make_agent(env={"ECS_ENGINE_AUTH_TYPE": "docker", "ECS_ENGINE_AUTH_DATA": json.dumps(auth)})
    agent.wait_connected()
    td = register_task_def(agent.cp, "podman-pull", image, containers=[
        {"name": "main", "image": image, "essential": True, "command": ["sleep", "3600"]}])
    arn = agent.cp.ecs.run_task(cluster=agent.cluster, taskDefinition=td)["tasks"][0]["taskArn"]
    try:
        try:
            wait_task_status(agent.cp, agent.cluster, arn, "RUNNING", timeout=120)
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, agent.all_logs()[-5000:])) from None
        assert runtime.cli("image", "exists", image).returncode == 0  # pulled into Podman's store
        assert reg["password"] not in agent.all_logs()
        agent.cp.ecs.stop_task(cluster=agent.cluster, task=arn)
        wait_task_status(agent.cp, agent.cluster, arn, "STOPPED", timeout=60)
    finally:
        agent.stop()
        runtime.cleanup(agent.cluster)
        runtime.cli("rmi", "-f", image)


def test_event_stream_resumes_with_since_across_a_service_restart(runtime, podman_service, make_agent, test_image):
    agent = make_agent()
    agent.wait_connected()
    td = register_task_def(agent.cp, "podman-since", test_image, containers=[
        {"name": "main", "essential": True, "command": ["sleep", "3600"]}])
    arn = agent.cp.ecs.run_task(cluster=agent.cluster, taskDefinition=td)["tasks"][0]["taskArn"]
    wait_task_status(agent.cp, agent.cluster, arn, "RUNNING")
    cid = runtime.ids(agent.cluster, arn)[0]
    wait_for(lambda: "event stream connected" in agent.all_logs(), 30, what="event stream connected")
    podman_service["stop"]()
    try:
        wait_for(lambda: "event stream down" in agent.all_logs(), 30, what="the agent sees the stream break")
        # the podman CLI works without the service (libpod directly)
        r = runtime.cli("kill", "--signal", "KILL", cid)
        assert r.returncode == 0, r.stderr
        wait_for(lambda: runtime.inspect(cid)["State"]["Status"] == "exited", 30, what="container exited")
    finally:
        podman_service["start"]()
    try:
        t = wait_task_status(agent.cp, agent.cluster, arn, "STOPPED", timeout=90)
        t = wait_for(lambda: (lambda t: t if "exitCode" in t["containers"][0] else None)(
            agent.cp.ecs.describe_tasks(cluster=agent.cluster, tasks=[arn])["tasks"][0]), 20, what="exit code")
    except AssertionError as e:
        raise AssertionError("%s\n%s" % (e, agent.all_logs()[-5000:])) from None
    assert t["containers"][0]["exitCode"] == 137, t
    # the die happened while the service was down: only the stream's replay
    # from since= delivers it as an event, after the stream reconnected
    logs = agent.all_logs()
    down = logs.find("event stream down")
    back = logs.find("event stream connected", down)
    assert 0 <= down < back, logs[-3000:]
    assert re.search(r"event die for task %s container main" % re.escape(arn), logs[back:]), logs[-3000:]
