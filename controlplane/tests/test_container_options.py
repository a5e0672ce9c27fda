"""Container options in the control plane: register-task-definition keeps
them and computes requiresAttributes, placement refuses an instance missing
one (ATTRIBUTE), and the ACS payload carries them in dockerConfig as the real
backend does (controlplane/container_options.py)."""
import asyncio
import json

from conftest import AcsClient, run

CAP = "com.amazonaws.ecs.capability."

TD = {"family": "opts", "networkMode": "bridge", "pidMode": "host", "containerDefinitions": [{
    "name": "web", "image": "busybox", "memory": 64, "memoryReservation": 32, "cpu": 10,
    "dockerLabels": {"team": "payments"}, "user": "1000:1000", "workingDirectory": "/srv",
    "hostname": "web1", "readonlyRootFilesystem": True, "privileged": False,
    "dnsServers": ["10.0.0.2"], "dnsSearchDomains": ["corp.local"],
    "extraHosts": [{"hostname": "db", "ipAddress": "10.0.0.5"}],
    "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 2048}],
    "logConfiguration": {"logDriver": "json-file", "options": {"max-size": "1m"}},
    "healthCheck": {"command": ["CMD-SHELL", "true"], "interval": 10, "startPeriod": 2},
    "systemControls": [{"namespace": "net.core.somaxconn", "value": "1024"}],
    "linuxParameters": {"capabilities": {"add": ["NET_ADMIN"], "drop": ["MKNOD"]},
                        "initProcessEnabled": True, "sharedMemorySize": 128,
                        "tmpfs": [{"containerPath": "/scratch", "size": 16, "mountOptions": ["noexec"]}]},
    "portMappings": [{"containerPort": 8080, "protocol": "tcp"},
                     {"containerPort": 5353, "hostPort": 5353, "protocol": "udp"}]}]}


def test_register_describe_requires_attributes(cp):
    ecs = cp.client()
    r = ecs.register_task_definition(**TD)["taskDefinition"]
    d = ecs.describe_task_definition(taskDefinition="opts")["taskDefinition"]
    cd = d["containerDefinitions"][0]
    for k in ("dockerLabels", "ulimits", "logConfiguration", "linuxParameters", "extraHosts",
              "systemControls", "readonlyRootFilesystem", "user", "workingDirectory"):
        assert cd[k] == TD["containerDefinitions"][0][k], k
    assert d["pidMode"] == "host"
    names = [a["name"] for a in r["requiresAttributes"]]
    assert CAP + "docker-remote-api.1.25" in names          # initProcessEnabled
    assert CAP + "logging-driver.json-file" in names
    assert "ecs.capability.container-health-check" in names
    # (containerPortRange: Debian's botocore model predates it)
    assert CAP + "privileged-container" not in names


def test_placement_and_payload(cp):
    ecs = cp.client()
    ecs.create_cluster(clusterName="opts")
    inst = cp.register_instance(ecs, "opts")
    ecs.register_task_definition(**TD)
    r = ecs.run_task(cluster="opts", taskDefinition="opts")
    assert r["tasks"] == []
    assert r["failures"] == [{"arn": inst, "reason": "ATTRIBUTE"}]
    # an instance advertising every required attribute gets it
    names = [a["name"] for a in ecs.describe_task_definition(taskDefinition="opts")[
        "taskDefinition"]["requiresAttributes"]]
    ecs.create_cluster(clusterName="opts2")
    inst = ecs.register_container_instance(
        cluster="opts2", attributes=[{"name": n} for n in names],
        totalResources=[{"name": "CPU", "type": "INTEGER", "integerValue": 2048},
                        {"name": "MEMORY", "type": "INTEGER", "integerValue": 4096}],
        versionInfo={"agentVersion": "1.1.0", "agentHash": "abc", "dockerVersion": "DockerVersion: 20.10"},
    )["containerInstance"]["containerInstanceArn"]

    async def scenario():
        c = await AcsClient(cp, "opts2", inst).connect()
        await c.ack(await c.wait_type("PayloadMessage"))
        rr = await asyncio.get_event_loop().run_in_executor(
            None, lambda: ecs.run_task(cluster="opts2", taskDefinition="opts"))
        assert rr["failures"] == [] and len(rr["tasks"]) == 1
        p = await c.wait_type("PayloadMessage", pred=lambda f: f["message"]["tasks"])
        await c.ack(p)
        await c.close()
        return p["message"]["tasks"][0]

    task = run(scenario())
    assert task["pidMode"] == "host" and task["networkMode"] == "bridge"
    c = task["containers"][0]
    assert c["healthCheckType"] == "docker"
    assert c["portMappings"][1] == {"containerPort": 5353, "hostPort": 5353, "protocol": "udp"}
    dc = c["dockerConfig"]
    assert dc["version"] == "1.25"
    cfg, host = json.loads(dc["config"]), json.loads(dc["hostConfig"])
    assert cfg["Labels"] == {"team": "payments"} and cfg["User"] == "1000:1000"
    assert cfg["WorkingDir"] == "/srv" and cfg["Hostname"] == "web1"
    assert cfg["HealthCheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 10 * 10**9,
                                  "Timeout": 5 * 10**9, "Retries": 3, "StartPeriod": 2 * 10**9}
    assert host["CapAdd"] == ["NET_ADMIN"] and host["CapDrop"] == ["MKNOD"]
    assert host["NetworkMode"] == "bridge" and host["ReadonlyRootfs"] is True
    assert host["MemoryReservation"] == 32 * 2**20 and host["ShmSize"] == 128 * 2**20
    assert host["Ulimits"] == [{"Name": "nofile", "Soft": 1024, "Hard": 2048}]
    assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m"}}
    assert host["Dns"] == ["10.0.0.2"] and host["DnsSearch"] == ["corp.local"]
    assert host["ExtraHosts"] == ["db:10.0.0.5"] and host["Init"] is True
    assert host["Sysctls"] == {"net.core.somaxconn": "1024"}
    assert host["Tmpfs"] == {"/scratch": "size=16m,noexec"}


def test_awslogs_with_execution_role(cp):
    """An awslogs container of a task definition with an execution role
    travels with logsAuthStrategy ExecutionRole (the agent then points the
    driver at the execution role's credentials); without the role it does
    not (the attribute it needs: controlplane/query.py)."""
    from controlplane import container_options as co
    cd = {"name": "web", "image": "busybox", "memory": 32,
          "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "g"}}}
    with_role = {"family": "l", "executionRoleArn": "arn:aws:iam::123456789012:role/exec",
                 "containerDefinitions": [cd]}
    assert CAP + "logging-driver.awslogs" in [a["name"] for a in co.requires_attributes(with_role)]
    assert co.logs_execution_role(cd, with_role)
    without = {"family": "l", "containerDefinitions": [cd]}
    assert not co.logs_execution_role(cd, without)
    json_file = dict(cd, logConfiguration={"logDriver": "json-file"})
    assert not co.logs_execution_role(json_file, with_role)


def test_increased_task_cpu_limit_required_above_ten_vcpu(cp):
    """ECS requires ecs.capability.increased-task-cpu-limit for a task cpu
    above the agent's old 10 vCPU maximum (10240 units), up to 192 vCPU."""
    ecs = cp.client()
    rows = [("10240", False), ("10 vCPU", False), ("16384", True), ("196608", True), ("256", False), (None, False)]
    for n, (cpu, needed) in enumerate(rows):
        kw = {"cpu": cpu} if cpu else {}
        td = ecs.register_task_definition(family="bigcpu%d" % n, containerDefinitions=[
            {"name": "c", "image": "busybox", "memory": 32}], **kw)["taskDefinition"]
        names = [a["name"] for a in td["requiresAttributes"]]
        assert ("ecs.capability.increased-task-cpu-limit" in names) == needed, (cpu, names)


def test_port_range_rules(cp):
    """containerPortRange as ECS's model documents it: at most 100 ranges per
    container, bridge/awsvpc only, 1 <= first < last <= 65535, no port in two
    mappings, no containerPort/hostPort beside a range."""
    def reg(maps, mode="bridge"):
        return cp.raw_call("RegisterTaskDefinition", {
            "family": "ranges", "networkMode": mode, "containerDefinitions": [
                {"name": "c", "image": "busybox", "memory": 32, "portMappings": maps}]})

    hundred = [{"containerPortRange": "%d-%d" % (10000 + 2 * i, 10001 + 2 * i)} for i in range(100)]
    st, body = reg(hundred)
    assert st == 200, body
    names = [a["name"] for a in body["taskDefinition"]["requiresAttributes"]]
    assert "ecs.capability.network.container-port-range" in names
    refused = [
        (hundred + [{"containerPortRange": "20000-20001"}], None, "at most 100 port ranges"),
        ([{"containerPortRange": "9000-9002"}], "host", "only with the bridge and awsvpc"),
        ([{"containerPortRange": "9002-9000"}], None, "1 <= first < last <= 65535"),
        ([{"containerPortRange": "0-10"}], None, "1 <= first < last <= 65535"),
        ([{"containerPortRange": "9000-70000"}], None, "1 <= first < last <= 65535"),
        ([{"containerPortRange": "abc"}], None, "1 <= first < last <= 65535"),
        ([{"containerPortRange": "9000-9010"}, {"containerPortRange": "9010-9020"}], None, "Port 9010"),
        ([{"containerPortRange": "9000-9010"}, {"containerPort": 9005}], None, "Port 9005"),
        ([{"containerPortRange": "9000-9010", "hostPort": 9000}], None, "not both"),
    ]
    for maps, mode, text in refused:
        st, body = reg(maps, mode or "bridge")
        assert st == 400 and body["__type"].endswith("ClientException"), (maps, body)
        assert text in body["message"], body
    st, body = reg([{"containerPortRange": "9000-9002"}, {"containerPort": 8080}], "awsvpc")
    assert st == 200, body
