"""End to end: container options of today's task definitions.

A task definition using the options of the mapping table is registered with
the real AWS CLI, placed by the control plane (which computes its
requiresAttributes and builds the dockerConfig payload as ECS does), run by
the real agent on the real Docker engine, and checked with docker inspect.
A task needing a capability the instance does not advertise is refused at
placement (ATTRIBUTE); a payload asking for what the instance refuses (sent
past placement, as a misbehaving backend would) stops with its reason and
leaves nothing in Docker.
"""
import json
import os
import subprocess
import uuid

from conftest import REGION, wait_for, wait_task_status

MIB = 1024 * 1024
NS = 10 ** 9


def inspect(cid):
    out = subprocess.run(["docker", "inspect", cid], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)[0]


def task_containers(cluster, arn):
    out = subprocess.run(["docker", "ps", "-aq", "--no-trunc", "--filter",
                          "label=com.amazonaws.ecs.cluster=" + cluster, "--filter",
                          "label=com.amazonaws.ecs.task-arn=" + arn], capture_output=True, text=True, timeout=60)
    return out.stdout.split()


def start(make_agent, env):
    a = make_agent(env=env)
    a.wait_registered()
    a.wait_connected()
    return a


def cli_register(cp, tmp_path, td):
    f = tmp_path / ("td-%s.json" % td["family"])
    f.write_text(json.dumps(td))
    r = cp.aws_cli("register-task-definition", "--cli-input-json", "file://" + str(f))["taskDefinition"]
    return r


def cli_run(cp, cluster, td):
    return cp.aws_cli("run-task", "--cluster", cluster, "--task-definition", td)


def stop_clean(a):
    rc = a.stop()
    out = a.output()
    assert rc == 0, out[-3000:]
    assert "Sanitizer" not in out and "runtime error:" not in out, out[-3000:]


ENV = {"ECS_AVAILABLE_LOGGING_DRIVERS": '["json-file","none"]',
       "ECS_DYNAMIC_HOST_PORT_RANGE": "41000-41999",
       # the agent advertises ecs.capability.container-health-check itself (health is
       # reported over TCS); the custom attribute of the same name is kept as a check
       # that the user's attributes still win over the agent's
       "ECS_INSTANCE_ATTRIBUTES": '{"ecs.capability.container-health-check":"test"}'}


def test_every_option_reaches_docker(make_agent, controlplane, cluster_name, test_image, tmp_path):
    a = start(make_agent, ENV)
    cp = controlplane
    web = {
        "name": "web", "image": test_image, "cpu": 64, "memory": 64, "memoryReservation": 32,
        "essential": True, "command": ["sleep", "3600"],
        "dockerLabels": {"team": "payments", "com.amazonaws.ecs.cluster": "spoofed"},
        "user": "1000:1000", "workingDirectory": "/tmp", "hostname": "web1",
        "readonlyRootFilesystem": True,
        "dnsServers": ["10.0.0.2"], "dnsSearchDomains": ["corp.local"],
        "extraHosts": [{"hostname": "db", "ipAddress": "10.0.0.5"}],
        "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 2048}],
        "logConfiguration": {"logDriver": "json-file", "options": {"max-size": "1m", "max-file": "2"}},
        "healthCheck": {"command": ["CMD-SHELL", "true"], "interval": 10, "timeout": 3, "retries": 2,
                        "startPeriod": 1},
        "systemControls": [{"namespace": "net.core.somaxconn", "value": "1024"}],
        "dockerSecurityOptions": ["no-new-privileges"],
        "linuxParameters": {"capabilities": {"add": ["NET_ADMIN"], "drop": ["MKNOD"]},
                            "initProcessEnabled": True, "sharedMemorySize": 128,
                            "devices": [{"hostPath": "/dev/null", "containerPath": "/dev/mynull",
                                         "permissions": ["read", "write"]}],
                            "tmpfs": [{"containerPath": "/scratch", "size": 16, "mountOptions": ["noexec"]}]},
        "portMappings": [{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"},
                         {"containerPort": 5353, "hostPort": 0, "protocol": "udp"}],
    }
    td = cli_register(cp, tmp_path, {"family": "opts-" + uuid.uuid4().hex[:6], "networkMode": "bridge",
                                     "containerDefinitions": [web]})
    names = [x["name"] for x in td["requiresAttributes"]]
    assert "com.amazonaws.ecs.capability.docker-remote-api.1.25" in names
    assert "com.amazonaws.ecs.capability.logging-driver.json-file" in names
    d = cp.aws_cli("describe-task-definition", "--task-definition", td["family"])["taskDefinition"]
    assert d["containerDefinitions"][0]["linuxParameters"] == web["linuxParameters"]
    r = cli_run(cp, cluster_name, td["family"])
    assert r["failures"] == [], r
    arn = r["tasks"][0]["taskArn"]
    try:
        t = wait_task_status(cp, cluster_name, arn, "RUNNING")
    except AssertionError:
        raise AssertionError("\n".join(line for line in a.output().splitlines()
                                        if "level=debug" not in line)[-5000:])

    ids = task_containers(cluster_name, arn)
    assert len(ids) == 1
    i = inspect(ids[0])
    cfg, hc = i["Config"], i["HostConfig"]
    assert cfg["Labels"]["team"] == "payments"
    assert cfg["Labels"]["com.amazonaws.ecs.cluster"] == cluster_name      # the agent's label wins
    assert cfg["Labels"]["com.amazonaws.ecs.task-arn"] == arn
    assert cfg["Labels"]["com.amazonaws.ecs.container-name"] == "web"
    assert cfg["Labels"]["com.amazonaws.ecs.task-definition-family"] == td["family"]
    assert cfg["Labels"]["com.amazonaws.ecs.task-definition-version"] == str(td["revision"])
    assert cfg["User"] == "1000:1000" and cfg["WorkingDir"] == "/tmp" and cfg["Hostname"] == "web1"
    assert cfg["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 10 * NS, "Timeout": 3 * NS,
                                  "Retries": 2, "StartPeriod": 1 * NS}
    assert hc["ReadonlyRootfs"] is True
    assert hc["Memory"] == 64 * MIB and hc["MemoryReservation"] == 32 * MIB and hc["CpuShares"] == 64
    assert hc["Dns"] == ["10.0.0.2"] and hc["DnsSearch"] == ["corp.local"]
    assert hc["ExtraHosts"] == ["db:10.0.0.5"]
    assert hc["Ulimits"] == [{"Name": "nofile", "Soft": 1024, "Hard": 2048}]
    assert hc["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m", "max-file": "2"}}
    assert hc["Sysctls"] == {"net.core.somaxconn": "1024"}
    assert hc["SecurityOpt"] == ["no-new-privileges"]
    assert hc["CapAdd"] == ["NET_ADMIN"] and hc["CapDrop"] == ["MKNOD"]
    assert hc["Init"] is True and hc["ShmSize"] == 128 * MIB
    assert hc["Devices"] == [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/mynull",
                              "CgroupPermissions": "rw"}]
    assert hc["Tmpfs"] == {"/scratch": "size=16m,noexec"}
    assert hc["NetworkMode"] == "bridge"
    # the UDP binding is reported with its protocol
    nb = t["containers"][0].get("networkBindings") or []
    protos = {(b["containerPort"], b["protocol"]) for b in nb}
    assert (8080, "tcp") in protos and (5353, "udp") in protos, nb
    udp = [b for b in nb if b["protocol"] == "udp"][0]
    # host ports picked by the agent inside ECS_DYNAMIC_HOST_PORT_RANGE
    assert all(41000 <= b["hostPort"] <= 41999 for b in nb), nb
    assert i["NetworkSettings"]["Ports"]["5353/udp"][0]["HostPort"] == str(udp["hostPort"])
    # bindings Docker made on "::" are not reported (ECS_EXCLUDE_IPV6_PORTBINDING defaults to true)
    assert all(b["bindIP"] != "::" for b in nb), nb
    # the create asked Docker for the payload's dockerConfig.version (1.25: initProcessEnabled)
    assert "POST /v1.25/containers/create?name=" + i["Name"].lstrip("/") in a.all_logs()

    # host and none network modes, PID / IPC host
    for mode in ("host", "none"):
        fam = "opts-%s-%s" % (mode, uuid.uuid4().hex[:6])
        kw = {"pidMode": "host", "ipcMode": "host"} if mode == "host" else {}
        cli_register(cp, tmp_path, dict({"family": fam, "networkMode": mode, "containerDefinitions": [
            {"name": "main", "image": test_image, "memory": 32, "command": ["sleep", "3600"]}]}, **kw))
        r = cli_run(cp, cluster_name, fam)
        assert r["failures"] == [], r
        marn = r["tasks"][0]["taskArn"]
        wait_task_status(cp, cluster_name, marn, "RUNNING")
        mi = inspect(task_containers(cluster_name, marn)[0])
        assert mi["HostConfig"]["NetworkMode"] == mode
        assert mi["HostConfig"]["CpuShares"] == 2          # no cpu: upstream's minimum is sent
        if mode == "host":
            assert mi["HostConfig"]["PidMode"] == "host" and mi["HostConfig"]["IpcMode"] == "host"

    # a capability the instance does not advertise: refused at placement
    fam = "opts-syslog-" + uuid.uuid4().hex[:6]
    cli_register(cp, tmp_path, {"family": fam, "containerDefinitions": [
        {"name": "main", "image": test_image, "memory": 32, "command": ["sleep", "3600"],
         "logConfiguration": {"logDriver": "syslog"}}]})
    r = cli_run(cp, cluster_name, fam)
    assert r["tasks"] == [] and r["failures"] == [{"arn": a.instance_arn(), "reason": "ATTRIBUTE"}], r
    stop_clean(a)


def ecs_with_port_ranges(cp, tmp_path):
    """A botocore ECS client whose model knows containerPortRange (Debian's
    botocore predates it): PortMapping.containerPortRange and
    NetworkBinding.containerPortRange / hostPortRange added to a copy of the
    installed model."""
    import botocore.session
    from conftest import AKID, REGION, SECRET
    base = botocore.session.get_session().get_component("data_loader")
    api = base.determine_latest_version("ecs", "service-2")
    model = base.load_service_model("ecs", "service-2", api)
    model["shapes"]["PortMapping"]["members"]["containerPortRange"] = {"shape": "String"}
    for k in ("containerPortRange", "hostPortRange"):
        model["shapes"]["NetworkBinding"]["members"][k] = {"shape": "String"}
    d = tmp_path / "models" / "ecs" / api
    d.mkdir(parents=True)
    (d / "service-2.json").write_text(json.dumps(model))
    s = botocore.session.get_session()
    s.get_component("data_loader").search_paths.insert(0, str(tmp_path / "models"))
    return s.create_client("ecs", region_name=REGION, endpoint_url=cp.url, aws_access_key_id=AKID,
                           aws_secret_access_key=SECRET)


def test_port_range_reported_as_one_binding(make_agent, controlplane, cluster_name, test_image, tmp_path):
    """A containerPortRange gets contiguous host ports the agent picks in
    ECS_DYNAMIC_HOST_PORT_RANGE, one Docker binding per port, and is reported
    to ECS as one network binding with both ranges, as upstream does; a
    single port mapping next to it is reported on its own."""
    a = start(make_agent, {"ECS_DYNAMIC_HOST_PORT_RANGE": "42000-42999"})
    ecs = ecs_with_port_ranges(controlplane, tmp_path)
    attrs = {x["name"] for x in ecs.describe_container_instances(
        cluster=cluster_name, containerInstances=[a.instance_arn()])["containerInstances"][0]["attributes"]}
    assert "ecs.capability.network.container-port-range" in attrs
    fam = "range-" + uuid.uuid4().hex[:6]
    ecs.register_task_definition(family=fam, networkMode="bridge", containerDefinitions=[
        {"name": "main", "image": test_image, "memory": 32, "command": ["sleep", "3600"],
         "portMappings": [{"containerPortRange": "9000-9002", "protocol": "udp"},
                          {"containerPort": 8080, "protocol": "tcp"}]}])
    r = ecs.run_task(cluster=cluster_name, taskDefinition=fam)
    assert r["failures"] == [], r
    arn = r["tasks"][0]["taskArn"]
    wait_task_status(controlplane, cluster_name, arn, "RUNNING")
    t = ecs.describe_tasks(cluster=cluster_name, tasks=[arn])["tasks"][0]
    nb = t["containers"][0]["networkBindings"]
    ranges = [b for b in nb if "containerPortRange" in b]
    singles = [b for b in nb if "containerPortRange" not in b]
    assert len(ranges) == 1 and len(singles) == 1, nb
    rb = ranges[0]
    assert rb["containerPortRange"] == "9000-9002" and rb["protocol"] == "udp", rb
    lo, hi = (int(x) for x in rb["hostPortRange"].split("-"))
    assert hi - lo == 2 and 42000 <= lo and hi <= 42999, rb
    assert "containerPort" not in rb and "hostPort" not in rb, rb
    assert singles[0]["containerPort"] == 8080 and singles[0]["protocol"] == "tcp"
    assert 42000 <= singles[0]["hostPort"] <= 42999
    assert all(b["bindIP"] != "::" for b in nb), nb
    # Docker has one binding per port of the range, on the reported host ports, and no HostIp asked
    i = inspect(task_containers(cluster_name, arn)[0])
    ports = i["NetworkSettings"]["Ports"]
    for k in range(3):
        got = {p["HostPort"] for p in ports["%d/udp" % (9000 + k)]}
        assert got == {str(lo + k)}, ports
    assert all(b.get("HostIp", "") == "" for bs in i["HostConfig"]["PortBindings"].values() for b in bs)
    # a range wider than ECS_DYNAMIC_HOST_PORT_RANGE (1001 ports for 1000): placed
    # (ECS does not know the agent's range), refused by the agent before anything is made
    wide = "wide-" + uuid.uuid4().hex[:6]
    ecs.register_task_definition(family=wide, networkMode="bridge", containerDefinitions=[
        {"name": "main", "image": test_image, "memory": 32, "command": ["sleep", "3600"],
         "portMappings": [{"containerPortRange": "10000-11000"}]}])
    r = ecs.run_task(cluster=cluster_name, taskDefinition=wide)
    assert r["failures"] == [], r
    warn = r["tasks"][0]["taskArn"]
    t = wait_task_status(controlplane, cluster_name, warn, "STOPPED")
    assert "needs 1001 host ports; ECS_DYNAMIC_HOST_PORT_RANGE 42000-42999 has 1000" in t["stoppedReason"], t
    assert task_containers(cluster_name, warn) == []
    # ECS takes at most 100 port ranges per container (RegisterTaskDefinition refuses more)
    many = [{"containerPortRange": "%d-%d" % (20000 + 2 * k, 20001 + 2 * k)} for k in range(101)]
    try:
        ecs.register_task_definition(family=wide, networkMode="bridge", containerDefinitions=[
            {"name": "main", "image": test_image, "memory": 32, "portMappings": many}])
        raise AssertionError("101 port ranges registered")
    except ecs.exceptions.ClientException as e:
        assert "at most 100 port ranges" in str(e), e
    ecs.stop_task(cluster=cluster_name, task=arn, reason="done")
    wait_task_status(controlplane, cluster_name, arn, "STOPPED")
    stop_clean(a)


def host_default_routes():
    """(IPv4, IPv6) default routes with a gateway, read as the agent reads them."""
    v4 = any(f[1] == "00000000" and f[7] == "00000000" and f[2] != "00000000"
             for f in (line.split() for line in open("/proc/net/route").read().splitlines()[1:]) if len(f) >= 8)
    v6 = False
    if os.path.exists("/proc/net/ipv6_route"):
        v6 = any(f[0] == "0" * 32 and f[1] == "00" and f[4] != "0" * 32
                 for f in (line.split() for line in open("/proc/net/ipv6_route")) if len(f) >= 5)
    return v4, v6


def test_log_options_the_agent_adds(make_agent, controlplane, cluster_name, test_image, tmp_path):
    """After the task definition's log configuration the agent adds, as
    upstream: awslogs-credentials-endpoint (the execution role's credentials)
    for logsAuthStrategy ExecutionRole, which ECS sends for an awslogs
    container of a task with an execution role; max-buffer-size 10m to a
    non-blocking log mode without one."""
    a = start(make_agent, {"ECS_AVAILABLE_LOGGING_DRIVERS": '["json-file","awslogs","none"]',
                           "ECS_ENABLE_AWSLOGS_EXECUTIONROLE_OVERRIDE": "true"})
    cp = controlplane
    attrs = {x["name"] for x in cp.ecs.describe_container_instances(
        cluster=cluster_name, containerInstances=[a.instance_arn()])["containerInstances"][0]["attributes"]}
    assert "ecs.capability.execution-role-awslogs" in attrs
    fam = "logs-" + uuid.uuid4().hex[:6]
    td = cli_register(cp, tmp_path, {
        "family": fam, "executionRoleArn": "arn:aws:iam::123456789012:role/exec", "containerDefinitions": [
            {"name": "aw", "image": test_image, "memory": 32, "command": ["sleep", "3600"],
             "logConfiguration": {"logDriver": "awslogs", "options": {
                 "awslogs-group": "/ecs/test", "awslogs-region": "us-west-2", "mode": "non-blocking"}}},
            {"name": "js", "image": test_image, "memory": 32, "command": ["sleep", "3600"],
             "logConfiguration": {"logDriver": "json-file", "options": {"mode": "non-blocking"}}},
            {"name": "own", "image": test_image, "memory": 32, "command": ["sleep", "3600"],
             "logConfiguration": {"logDriver": "json-file", "options": {
                 "mode": "non-blocking", "max-buffer-size": "2m"}}}]})
    assert "ecs.capability.execution-role-awslogs" in [x["name"] for x in td["requiresAttributes"]]
    r = cli_run(cp, cluster_name, fam)
    assert r["failures"] == [], r
    arn = r["tasks"][0]["taskArn"]
    # every container created (the awslogs one may not start: there is no CloudWatch here)
    wait_for(lambda: len(task_containers(cluster_name, arn)) == 3, 60, what="three containers created")
    logs = {}
    for cid in task_containers(cluster_name, arn):
        i = inspect(cid)
        logs[i["Config"]["Labels"]["com.amazonaws.ecs.container-name"]] = i["HostConfig"]["LogConfig"]
    assert logs["aw"]["Type"] == "awslogs"
    aw = logs["aw"]["Config"]
    assert aw["awslogs-credentials-endpoint"].startswith("/v2/credentials/"), aw
    assert len(aw["awslogs-credentials-endpoint"]) > len("/v2/credentials/")
    assert aw["max-buffer-size"] == "10m" and aw["awslogs-group"] == "/ecs/test"
    # us-west-2 is not an isolated region: an endpoint only on an IPv6-only host
    # (default routes, as upstream detects it), the dual-stack one of the agent's region
    v4, v6 = host_default_routes()
    assert "instance IP compatibility: IPv4 %s, IPv6 %s" % ("yes" if v4 else "no", "yes" if v6 else "no") \
        in a.all_logs()
    if v6 and not v4:
        assert aw["awslogs-endpoint"] == "https://logs.%s.api.aws" % REGION, aw
    else:
        assert "awslogs-endpoint" not in aw, aw
    # (the daemon may add its own default options for json-file)
    assert logs["js"]["Config"]["mode"] == "non-blocking" and logs["js"]["Config"]["max-buffer-size"] == "10m"
    assert logs["own"]["Config"]["max-buffer-size"] == "2m"
    cp.ecs.stop_task(cluster=cluster_name, task=arn, reason="done")
    wait_task_status(cp, cluster_name, arn, "STOPPED")
    stop_clean(a)


def test_refused_options_stop_the_task_before_anything_is_created(make_agent, controlplane, cluster_name,
                                                                   test_image, tmp_path):
    # The instance claims (as custom attributes) capabilities its gates refuse,
    # so ECS places the tasks; the agent refuses them before creating anything.
    claimed = {"com.amazonaws.ecs.capability.privileged-container": "claimed",
               "com.amazonaws.ecs.capability.logging-driver.syslog": "claimed",
               "ecs.capability.task-eni": "claimed"}
    a = start(make_agent, {"ECS_DISABLE_PRIVILEGED": "true", "ECS_INSTANCE_ATTRIBUTES": json.dumps(claimed)})
    cp = controlplane
    ci = cp.ecs.describe_container_instances(cluster=cluster_name, containerInstances=[a.instance_arn()])[
        "containerInstances"][0]
    attrs = {x["name"]: x.get("value") for x in ci["attributes"]}
    # the agent itself does not advertise privileged-container (only the claim is there)
    assert attrs["com.amazonaws.ecs.capability.privileged-container"] == "claimed"
    assert "com.amazonaws.ecs.capability.logging-driver.json-file" in attrs
    assert "ecs.cpu-architecture" in attrs

    def main(**kw):
        return dict({"name": "main", "image": test_image, "memory": 32, "command": ["sleep", "3600"]}, **kw)

    cases = [
        ({"containerDefinitions": [main(name="ok"), main(privileged=True)]},
         "privileged containers are disabled on this instance"),
        ({"containerDefinitions": [main(logConfiguration={"logDriver": "syslog"})]},
         "logging driver \"syslog\" is not available"),
        ({"networkMode": "awsvpc", "containerDefinitions": [main()]}, "network mode \"awsvpc\""),
    ]
    arns = []
    for n, (td, reason) in enumerate(cases):
        td["family"] = "refused-%d-%s" % (n, uuid.uuid4().hex[:6])
        cli_register(cp, tmp_path, td)
        r = cli_run(cp, cluster_name, td["family"])
        assert r["failures"] == [], r
        arns.append((r["tasks"][0]["taskArn"], reason))
    for arn, reason in arns:
        t = wait_task_status(cp, cluster_name, arn, "STOPPED")
        assert reason in (t.get("stoppedReason") or ""), t
        assert task_containers(cluster_name, arn) == []       # nothing was created
    # the agent and other tasks are unaffected
    assert a.alive()
    fam = "after-" + uuid.uuid4().hex[:6]
    cp.ecs.register_task_definition(family=fam, containerDefinitions=[main()])
    r = cp.ecs.run_task(cluster=cluster_name, taskDefinition=fam)
    wait_task_status(cp, cluster_name, r["tasks"][0]["taskArn"], "RUNNING")
    stop_clean(a)


def cgroup_file(task_id, v1_ctl, v1_name, v2_name):
    root = "/sys/fs/cgroup"
    if os.path.exists(os.path.join(root, "cgroup.controllers")):
        return os.path.join(root, "ecs", task_id, v2_name)
    return os.path.join(root, v1_ctl, "ecs", task_id, v1_name)


def test_task_cpu_memory_through_the_task_cgroup(make_agent, controlplane, cluster_name, test_image):
    a = start(make_agent, {"ECS_CGROUP_CPU_PERIOD": "50ms"})
    cp = controlplane
    attrs = {x["name"] for x in cp.ecs.describe_container_instances(
        cluster=cluster_name, containerInstances=[a.instance_arn()])["containerInstances"][0]["attributes"]}
    assert "ecs.capability.task-cpu-mem-limit" in attrs
    assert "ecs.capability.increased-task-cpu-limit" in attrs
    fam = "cg-" + uuid.uuid4().hex[:6]
    cp.ecs.register_task_definition(family=fam, cpu="256", memory="128", containerDefinitions=[
        {"name": "main", "image": test_image, "memory": 32, "command": ["sleep", "3600"]}])
    arn = cp.ecs.run_task(cluster=cluster_name, taskDefinition=fam)["tasks"][0]["taskArn"]
    wait_task_status(cp, cluster_name, arn, "RUNNING")
    task_id = arn.rsplit("/", 1)[1]
    i = inspect(task_containers(cluster_name, arn)[0])
    assert i["HostConfig"]["CgroupParent"] == "/ecs/" + task_id
    quota = cgroup_file(task_id, "cpu", "cpu.cfs_quota_us", "cpu.max")
    limit = cgroup_file(task_id, "memory", "memory.limit_in_bytes", "memory.max")
    # 0.25 vCPU of the 50 ms CFS period ECS_CGROUP_CPU_PERIOD asks for
    if quota.endswith("cpu.max"):
        assert open(quota).read().split() == ["12500", "50000"]
    else:
        assert open(quota).read().strip() == "12500"
        assert open(os.path.join(os.path.dirname(quota), "cpu.cfs_period_us")).read().strip() == "50000"
    assert open(limit).read().strip() == str(128 * MIB)
    cp.ecs.stop_task(cluster=cluster_name, task=arn, reason="done")
    wait_task_status(cp, cluster_name, arn, "STOPPED")
    # removed with the task at cleanup (ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION=10s in these tests)
    wait_for(lambda: not os.path.exists(os.path.dirname(quota)) and not os.path.exists(os.path.dirname(limit)),
             90, what="task cgroup removed at cleanup")
    # a container's memory above the task's: the task stops with upstream's
    # ResourceInitError text before anything is created; the agent goes on
    big = "cgbig-" + uuid.uuid4().hex[:6]
    cp.ecs.register_task_definition(family=big, cpu="256", memory="128", containerDefinitions=[
        {"name": "ok", "image": test_image, "memory": 64, "command": ["sleep", "3600"]},
        {"name": "main", "image": test_image, "memory": 256, "command": ["sleep", "3600"]}])
    barn = cp.ecs.run_task(cluster=cluster_name, taskDefinition=big)["tasks"][0]["taskArn"]
    t = wait_task_status(cp, cluster_name, barn, "STOPPED")
    assert t["stoppedReason"] == (
        "resource cannot be initialized for task %s: cgroup resource: unable to build resource spec for task: "
        "task memory spec builder: container memory limit(256) greater than task memory limit(128)" % barn), t
    assert task_containers(cluster_name, barn) == []
    assert not os.path.exists(os.path.dirname(cgroup_file(barn.rsplit("/", 1)[1], "memory", "x", "x")))
    # no task cpu: the task cgroup gets the containers' CPU shares (upstream's
    # implicit CPU spec; each at least 2), no quota
    sh = "cgsh-" + uuid.uuid4().hex[:6]
    cp.ecs.register_task_definition(family=sh, memory="128", containerDefinitions=[
        {"name": "main", "image": test_image, "cpu": 512, "memory": 32, "command": ["sleep", "3600"]},
        {"name": "side", "image": test_image, "memory": 32, "command": ["sleep", "3600"]}])
    sarn = cp.ecs.run_task(cluster=cluster_name, taskDefinition=sh)["tasks"][0]["taskArn"]
    wait_task_status(cp, cluster_name, sarn, "RUNNING")
    shares = cgroup_file(sarn.rsplit("/", 1)[1], "cpu", "cpu.shares", "cpu.weight")
    want = "20" if shares.endswith("cpu.weight") else "514"  # 1 + (514 - 2) x 9999 / 262142 on v2
    assert open(shares).read().strip() == want
    quota_sh = os.path.join(os.path.dirname(shares), "cpu.max" if shares.endswith("cpu.weight") else "cpu.cfs_quota_us")
    assert open(quota_sh).read().split()[0] in ("max", "-1")
    cp.ecs.stop_task(cluster=cluster_name, task=sarn, reason="done")
    wait_task_status(cp, cluster_name, sarn, "STOPPED")
    assert a.alive()
    stop_clean(a)


def test_no_task_cgroup_root_turns_task_limits_off_unless_asked_for(make_agent, controlplane, cluster_name,
                                                                     test_image, tmp_path):
    """A cgroup root the agent cannot write (the agent in a container with a
    read-only /sys/fs/cgroup): task limits are turned off with a warning, the
    capability is not advertised and tasks still run, as upstream; asked for
    explicitly (ECS_ENABLE_TASK_CPU_MEM_LIMIT=true) it ends the agent with the
    terminal exit code 5."""
    root = tmp_path / "no-cgroup"        # no cpu or memory controller below it
    root.mkdir()
    a = start(make_agent, {"ECS_CGROUP_PATH": str(root)})
    cp = controlplane
    attrs = {x["name"] for x in cp.ecs.describe_container_instances(
        cluster=cluster_name, containerInstances=[a.instance_arn()])["containerInstances"][0]["attributes"]}
    assert "ecs.capability.task-cpu-mem-limit" not in attrs
    assert "ecs.capability.increased-task-cpu-limit" not in attrs
    assert "task cpu and memory limits disabled" in a.all_logs()
    fam = "nocg-" + uuid.uuid4().hex[:6]
    # task limits off: task memory is ignored, as upstream, so a container
    # above it is no reason to refuse the task
    cp.ecs.register_task_definition(family=fam, memory="128", containerDefinitions=[
        {"name": "main", "image": test_image, "memory": 256, "command": ["sleep", "3600"]}])
    arn = cp.ecs.run_task(cluster=cluster_name, taskDefinition=fam)["tasks"][0]["taskArn"]
    wait_task_status(cp, cluster_name, arn, "RUNNING")
    assert inspect(task_containers(cluster_name, arn)[0])["HostConfig"].get("CgroupParent", "") == ""
    cp.ecs.stop_task(cluster=cluster_name, task=arn, reason="done")
    wait_task_status(cp, cluster_name, arn, "STOPPED")
    stop_clean(a)

    b = make_agent(env={"ECS_CGROUP_PATH": str(root), "ECS_ENABLE_TASK_CPU_MEM_LIMIT": "true"})
    wait_for(lambda: not b.alive(), 30, what="the agent to end")
    assert b.proc.wait(timeout=10) == 5, b.output()[-3000:]
    assert "task cgroup root cannot be made" in b.all_logs()
