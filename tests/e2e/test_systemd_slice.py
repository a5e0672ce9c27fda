"""Task cgroups under Docker's systemd cgroup driver, end to end: the real
agent, the local control plane, real Docker behind tests/reliability/
dockerproxy.py (which makes /info say CgroupDriver systemd), and systemd's
D-Bus API played by tests/lib/fake_systemd.py on a private dbus-daemon that
the agent reaches through DBUS_SYSTEM_BUS_ADDRESS (as upstream's library
does).  A task with cpu and memory gets the slice ecstasks-<task id>.slice
from StartTransientUnit with upstream's properties before its container is
created (CgroupParent), and StopUnit at cleanup.

This host's Docker really uses cgroupfs: it makes the slice's folder below
each controller itself for the container, which the test removes."""
import glob
import json
import os
import subprocess
import sys
import uuid

from conftest import wait_for, wait_task_status

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reliability"))

from dockerproxy import DockerProxy  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def records(path, method):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [r for r in map(json.loads, f) if r["method"] == method]


def test_task_slice_through_systemd_dbus(make_agent, controlplane, cluster_name, test_image, tmpdir_path):
    rec = os.path.join(tmpdir_path, "systemd-calls.jsonl")
    fake = subprocess.Popen(["/usr/bin/python3", os.path.join(ROOT, "tests/lib/fake_systemd.py"), rec],
                            stdout=subprocess.PIPE, text=True)
    proxy = DockerProxy(os.path.join(tmpdir_path, "docker.sock")).start()
    unit = None
    try:
        address = fake.stdout.readline().strip()
        assert address.startswith("unix:"), "tests/lib/fake_systemd.py printed no bus address"
        proxy.rewrite("/info", b'"CgroupDriver":"cgroupfs"', b'"CgroupDriver":"systemd" ')
        a = make_agent(env={"DOCKER_HOST": proxy.docker_host, "DBUS_SYSTEM_BUS_ADDRESS": address})
        a.wait_registered()
        a.wait_connected()
        assert "Docker cgroup driver: systemd" in a.all_logs()
        cp = controlplane
        fam = "slice-" + uuid.uuid4().hex[:6]
        cp.ecs.register_task_definition(family=fam, cpu="256", memory="128", containerDefinitions=[
            {"name": "main", "image": test_image, "memory": 32, "command": ["sleep", "3600"]}])
        arn = cp.ecs.run_task(cluster=cluster_name, taskDefinition=fam)["tasks"][0]["taskArn"]
        task_id = arn.rsplit("/", 1)[1]
        unit = "ecstasks-%s.slice" % task_id
        wait_task_status(cp, cluster_name, arn, "RUNNING")

        starts = records(rec, "StartTransientUnit")
        assert [s["name"] for s in starts] == [unit], starts
        assert starts[0]["mode"] == "replace"
        # 0.25 vCPU of the default 100 ms period, 128 MiB; systemd 252 knows CPUQuotaPeriodUSec
        assert starts[0]["properties"] == [
            ["Description", "s", "cgroup " + unit], ["DefaultDependencies", "b", False],
            ["MemoryAccounting", "b", True], ["CPUAccounting", "b", True], ["IOAccounting", "b", True],
            ["Wants", "as", ["system.slice"]], ["MemoryMax", "t", 128 * 1024 * 1024],
            ["CPUQuotaPeriodUSec", "t", 100000], ["CPUQuotaPerSecUSec", "t", 250000]], starts[0]
        assert [g["name"] for g in records(rec, "Get")] == ["org.freedesktop.systemd1.Manager.Version"]
        out = subprocess.run(["docker", "ps", "-aq", "--no-trunc", "--filter", "label=com.amazonaws.ecs.task-arn=" + arn],
                             capture_output=True, text=True, timeout=60).stdout.split()
        assert len(out) == 1
        parent = subprocess.run(["docker", "inspect", "-f", "{{.HostConfig.CgroupParent}}", out[0]],
                                capture_output=True, text=True, timeout=60).stdout.strip()
        assert parent == unit
        # nothing written by the agent for the slice
        assert not os.path.exists("/sys/fs/cgroup/ecstasks.slice/" + unit)
        assert records(rec, "StopUnit") == []

        cp.ecs.stop_task(cluster=cluster_name, task=arn, reason="done")
        wait_task_status(cp, cluster_name, arn, "STOPPED")
        # cleanup (ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION=10s in these tests)
        stops = wait_for(lambda: records(rec, "StopUnit"), 90, what="StopUnit at cleanup")
        assert [(s["name"], s["mode"]) for s in stops] == [(unit, "replace")]
        wait_for(lambda: "task cgroup %s stopped" % unit in a.all_logs(), 30, what="StopUnit answered")
        rc = a.stop()
        assert rc == 0, a.output()[-3000:]
    finally:
        proxy.stop()
        fake.terminate()
        fake.wait(10)
        if unit:  # what Docker's cgroupfs driver made for the container's parent
            for d in glob.glob("/sys/fs/cgroup/%s" % unit) + glob.glob("/sys/fs/cgroup/*/%s" % unit):
                try:
                    os.rmdir(d)
                except OSError:
                    pass
