"""Task IAM role credentials and the task metadata endpoints, end to end: the
real agent and the local control plane (role credentials minted per task,
rotated every few seconds), real Docker, and this host's forwarding of
169.254.170.2 (scripts/task-endpoints-net.sh, set up and removed by the test,
pointed at this agent's ECS_TASK_METADATA_PORT).

From inside a busybox container on the bridge network: its credentials
through AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (rotated keys served after a
rotation, an unknown id refused, the id gone once the task stopped), v4 / v3 /
v2 metadata with this task's own values (DockerId, Image, ImageID, Limits,
Networks, statuses, the ExitCode of a finished sibling), stats; a
host-network container reaches them too, and sees its Docker health check's
Health (status, statusSince, output, exitCode while unhealthy) in v4/v3/v2.  Bad input: unknown ids, path
traversal, a 1 MB header, 500 idle connections, the credentials port from
another network namespace: clear answers, the agent and its ACS session
unaffected.
"""
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import ROOT, ControlPlane, register_task_def, wait_for, wait_task_status

NET = os.path.join(ROOT, "scripts", "task-endpoints-net.sh")
ROLE = "arn:aws:iam::123456789012:role/app"


@pytest.fixture
def rig(make_agent):
    agent = make_agent(env={"ECS_ENABLE_TASK_IAM_ROLE": "true",
                            "ECS_ENABLE_TASK_IAM_ROLE_NETWORK_HOST": "true"}, start=False)
    r = subprocess.run([NET, "setup", str(agent.tmds_port)], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        # what setup installed before failing goes too (it would send
        # 169.254.170.2 to this port in every later run)
        subprocess.run([NET, "remove", str(agent.tmds_port)], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    try:
        agent.start()
        agent.wait_connected()
        yield agent
    finally:
        subprocess.run([NET, "remove", str(agent.tmds_port)], capture_output=True, timeout=60)


@pytest.fixture
def controlplane(tmpdir_path):
    """The control plane with role credentials lasting 9 s (rotated every ~6 s)."""
    cp = ControlPlane(tmpdir_path, ["--role-credentials-lifetime", "9"])
    yield cp
    cp.stop()


def run_role_task(cp, cluster, image, family, network_mode=None):
    kw = {"taskRoleArn": ROLE}
    if network_mode:
        kw["networkMode"] = network_mode
    td = register_task_def(cp, family, image, containers=[
        {"name": "main", "cpu": 64, "memory": 48, "essential": True, "command": ["sleep", "3600"]},
        {"name": "sib", "cpu": 0, "memory": 16, "essential": False, "command": ["sh", "-c", "exit 3"]},
    ], **kw)
    r = cp.ecs.run_task(cluster=cluster, taskDefinition=td)
    assert r["tasks"], r["failures"]
    arn = r["tasks"][0]["taskArn"]
    wait_task_status(cp, cluster, arn, "RUNNING")
    return arn


def container_of(cluster, arn, name):
    out = subprocess.run(["docker", "ps", "-aq", "--no-trunc", "--filter", "label=com.amazonaws.ecs.task-arn=" + arn,
                          "--filter", "label=com.amazonaws.ecs.container-name=" + name],
                         capture_output=True, text=True, timeout=60).stdout.split()
    assert len(out) == 1, out
    return out[0]


def inspect(cid):
    return json.loads(subprocess.check_output(["docker", "inspect", cid], timeout=60))[0]


def env_of(cid):
    return dict(e.split("=", 1) for e in inspect(cid)["Config"]["Env"])


def in_container(cid, script):
    """Run sh -c script in the container; (exit code, stdout)."""
    r = subprocess.run(["docker", "exec", cid, "sh", "-c", script], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout


def wget_json(cid, url_expr):
    rc, out = in_container(cid, 'wget -qO- "%s"' % url_expr)
    assert rc == 0, (url_expr, out)
    return json.loads(out)


def host_get(agent, path, headers=None, with_headers=False):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (agent.tmds_port, path), headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            out = r.status, r.read().decode(), r.headers
    except urllib.error.HTTPError as e:
        out = e.code, e.read().decode(), e.headers
    return out if with_headers else out[:2]


def audit_lines(agent):
    path = os.path.join(agent.log_dir, "audit.log")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return f.read().splitlines()


def test_bridge_container_credentials_and_metadata(rig, test_image):
    agent, cp = rig, rig.cp
    arn = run_role_task(cp, agent.cluster, test_image, "ep-bridge")
    main = container_of(agent.cluster, arn, "main")
    sib = container_of(agent.cluster, arn, "sib")
    env = env_of(main)
    rel = env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]
    assert rel.startswith("/v2/credentials/")
    eid = env["ECS_CONTAINER_METADATA_URI_V4"].rsplit("/", 1)[1]
    assert env["ECS_CONTAINER_METADATA_URI"] == "http://169.254.170.2/v3/" + eid
    assert env["ECS_AGENT_URI"] == "http://169.254.170.2/api/" + eid
    assert env_of(sib)["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] == rel
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-west-2"  # the agent's region

    # credentials, from inside the container through 169.254.170.2
    c1 = wget_json(main, "http://169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
    assert set(c1) == {"RoleArn", "AccessKeyId", "SecretAccessKey", "Token", "Expiration"}
    assert c1["RoleArn"] == ROLE and c1["AccessKeyId"].startswith("ASIA")
    # rotated by the control plane (lifetime 9 s): new keys under the same id
    c2 = wait_for(lambda: (lambda c: c if c["AccessKeyId"] != c1["AccessKeyId"] else None)(
        wget_json(main, "http://169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")),
        timeout=40, what="rotated credentials")
    assert c2["Expiration"] > c1["Expiration"]
    wait_for(lambda: cp.admin("/_local/events?kind=IAMRoleCredentialsAckRequest")["events"], 20,
             what="credentials ack")
    # an id that is not this task's (nor any task's): refused
    rc, out = in_container(main, "wget -qO- http://169.254.170.2/v2/credentials/not-a-task-id 2>&1")
    assert rc != 0 and "400" in out
    # the audit log (beside ECS_LOGFILE): one line per credentials request, the id never in it
    ip = inspect(main)["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    cid = rel.rsplit("/", 1)[1]
    lines = wait_for(lambda: (lambda ls: ls if any(" 400 " in x for x in ls) else None)(audit_lines(agent)),
                     20, what="audit lines")
    ok = [x for x in lines if " 200 " in x]
    assert ok and all(cid not in x and "not-a-task-id" not in x for x in lines), lines
    f = ok[0].split(" ")
    assert f[1] == "200" and f[2].startswith(ip + ":") and f[3] == '"/v2/credentials"', ok[0]
    assert ok[0].endswith(" %s GetCredentials 2 %s %s" % (arn, agent.cluster, agent.instance_arn())), ok[0]
    bad = [x for x in lines if " 400 " in x][0]
    assert bad.endswith(' - ') and '"/v2/credentials"' in bad, bad
    assert ok[0] in agent.output()  # stdout gets the same lines

    # v4 container / task / stats
    info = inspect(main)
    ip = info["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    c = wget_json(main, "$ECS_CONTAINER_METADATA_URI_V4")
    assert c["DockerId"] == main and c["Name"] == "main" and c["Image"] == test_image
    assert c["ImageID"] == info["Image"] and c["DockerName"] == info["Name"].lstrip("/")
    assert c["Limits"] == {"CPU": 64, "Memory": 48}
    assert c["KnownStatus"] == "RUNNING" and c["DesiredStatus"] == "RUNNING" and c["Type"] == "NORMAL"
    assert c["Networks"] == [{"NetworkMode": "bridge", "IPv4Addresses": [ip]}]
    assert c["Labels"]["com.amazonaws.ecs.task-arn"] == arn
    assert c["StartedAt"].endswith("Z") and c["CreatedAt"].endswith("Z")
    assert c["LogDriver"] == info["HostConfig"]["LogConfig"]["Type"]
    desc = cp.ecs.describe_tasks(cluster=agent.cluster, tasks=[arn])["tasks"][0]
    assert c["ContainerARN"] == [x for x in desc["containers"] if x["name"] == "main"][0]["containerArn"]

    def task_with_finished_sibling():
        t = wget_json(main, "$ECS_CONTAINER_METADATA_URI_V4/task")
        s = [x for x in t["Containers"] if x["Name"] == "sib"]
        return t if s and s[0]["KnownStatus"] == "STOPPED" and s[0].get("ExitCode") == 3 else None
    t = wait_for(task_with_finished_sibling, 30, what="sibling STOPPED with its exit code in /task")
    assert t["TaskARN"] == arn and t["Family"] == "ep-bridge" and t["Cluster"] == agent.cluster
    assert t["KnownStatus"] == "RUNNING" and t["FaultInjectionEnabled"] is False
    assert t["LaunchType"] == "EC2" and "Limits" not in t  # no task-level cpu/memory
    assert t["PullStartedAt"].endswith("Z") and t["PullStoppedAt"] >= t["PullStartedAt"]
    assert "ExecutionStoppedAt" not in t  # the essential container runs
    s = [x for x in t["Containers"] if x["Name"] == "sib"][0]
    assert s["DockerId"] == sib and "FinishedAt" in s
    st = wget_json(main, "$ECS_CONTAINER_METADATA_URI_V4/stats")
    assert st["id"] == main and "cpu_stats" in st and "memory_stats" in st
    # the second sample has a previous one: bytes per second of a bridge container
    st = wget_json(main, "$ECS_CONTAINER_METADATA_URI_V4/stats")
    rates = st["network_rate_stats"]
    assert set(rates) == {"rx_bytes_per_sec", "tx_bytes_per_sec"} and rates["rx_bytes_per_sec"] >= 0
    ts = wget_json(main, "$ECS_CONTAINER_METADATA_URI_V4/task/stats")
    assert set(ts) == {main, sib} and ts[main]["id"] == main and ts[sib] == {}
    # ...WithTags: ECS ListTagsForResource on the task and the instance, asked by the agent
    cp.ecs.tag_resource(resourceArn=arn, tags=[{"key": "team", "value": "blue"}])
    cp.ecs.tag_resource(resourceArn=agent.instance_arn(), tags=[{"key": "rack", "value": "r7"}])
    tt = wget_json(main, "$ECS_CONTAINER_METADATA_URI_V4/taskWithTags")
    assert tt["TaskTags"] == {"team": "blue"} and tt["ContainerInstanceTags"] == {"rack": "r7"}, tt
    assert tt["TaskARN"] == arn and "Errors" not in tt and tt["Containers"]
    assert wget_json(main, "$ECS_CONTAINER_METADATA_URI/taskWithTags")["TaskTags"] == {"team": "blue"}
    assert wget_json(main, "http://169.254.170.2/v2/metadataWithTags")["ContainerInstanceTags"] == {"rack": "r7"}
    # v3
    c3 = wget_json(main, "$ECS_CONTAINER_METADATA_URI")
    assert c3["DockerId"] == main and "LogDriver" not in c3 and c3["Networks"]
    t3 = wget_json(main, "$ECS_CONTAINER_METADATA_URI/task")
    assert t3["TaskARN"] == arn and "FaultInjectionEnabled" not in t3
    ts3 = wget_json(main, "$ECS_CONTAINER_METADATA_URI/task/stats")
    assert ts3[sib] is None and "network_rate_stats" not in ts3[main]  # v4 only
    # v2: the task found by the caller's bridge address
    t2 = wget_json(main, "http://169.254.170.2/v2/metadata")
    assert t2["TaskARN"] == arn and all("Networks" not in x for x in t2["Containers"])
    c2m = wget_json(main, "http://169.254.170.2/v2/metadata/" + sib)
    assert c2m["Name"] == "sib" and c2m["ExitCode"] == 3
    s2 = wget_json(main, "http://169.254.170.2/v2/stats")
    assert s2[main]["id"] == main and s2[sib] is None

    # the task stops: its credentials id is gone
    cp.ecs.stop_task(cluster=agent.cluster, task=arn, reason="test")
    wait_task_status(cp, agent.cluster, arn, "STOPPED")
    wait_for(lambda: host_get(agent, rel)[0] == 400, 30, what="credentials gone after STOPPED")
    assert json.loads(host_get(agent, rel)[1])["code"] == "InvalidIdInRequest"
    # until cleanup the endpoint answers: the essential container's stop time
    st, body = host_get(agent, "/v4/%s/task" % eid)
    assert st == 200 and json.loads(body)["ExecutionStoppedAt"] >= t["PullStoppedAt"], body


def test_host_network_container(rig, test_image):
    agent, cp = rig, rig.cp
    arn = run_role_task(cp, agent.cluster, test_image, "ep-host", network_mode="host")
    main = container_of(agent.cluster, arn, "main")
    c = wget_json(main, "http://169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
    assert c["RoleArn"] == ROLE
    m = wget_json(main, "$ECS_CONTAINER_METADATA_URI_V4")
    assert m["DockerId"] == main
    assert m["Networks"][0]["NetworkMode"] == "host"
    for _ in range(2):  # host mode: never a network rate
        assert "network_rate_stats" not in wget_json(main, "$ECS_CONTAINER_METADATA_URI_V4/stats")
    t = wget_json(main, "$ECS_CONTAINER_METADATA_URI_V4/task")
    assert t["TaskARN"] == arn


def test_bad_input_leaves_agent_and_acs_unaffected(rig, test_image):
    agent, cp = rig, rig.cp
    arn = run_role_task(cp, agent.cluster, test_image, "ep-bad")
    main = container_of(agent.cluster, arn, "main")
    rel = env_of(main)["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]
    st, body = host_get(agent, "/v4/unknown-endpoint/task")
    assert st == 404 and "unable to get task Arn from v3 endpoint ID: unknown-endpoint" in body
    assert host_get(agent, "/v3/unknown-endpoint")[0] == 500
    assert host_get(agent, "/v2/credentials/")[0] == 400
    for p in ("/v2/credentials/../../../etc/passwd", "/v4/../../etc/shadow", "/v2/metadata/../../x"):
        st, body = host_get(agent, p)
        assert st in (400, 404) and "root:" not in body, (p, st, body)
    # a 1 MB header: the connection is refused or closed, nothing else happens
    s = socket.create_connection(("127.0.0.1", agent.tmds_port), timeout=10)
    try:
        s.sendall(b"GET /v2/credentials/x HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n")
    except OSError:
        pass
    try:
        resp = s.recv(4096)
    except OSError:
        resp = b""
    s.close()
    assert not resp.startswith(b"HTTP/1.1 200")
    # 500 idle connections, then a real request is still answered
    idle = []
    try:
        for _ in range(500):
            idle.append(socket.create_connection(("127.0.0.1", agent.tmds_port), timeout=10))
        st, body = host_get(agent, rel)
        assert st == 200 and json.loads(body)["RoleArn"] == ROLE
    finally:
        for x in idle:
            x.close()
    # the credentials port from another network namespace (a container on
    # the bridge) is not reachable except through 169.254.170.2
    rc, _ = in_container(main, "wget -qO- -T 5 http://172.17.0.1:%d/v2/credentials/x" % agent.tmds_port)
    assert rc != 0
    # the agent, its ACS session and its task are fine
    assert agent.alive()
    agent.wait_connected(timeout=10)
    assert agent.introspect("/v1/metadata")["Cluster"] == agent.cluster
    assert wget_json(main, "http://169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")["RoleArn"] == ROLE


def test_health_in_metadata(rig, test_image):
    """Health of a container with a Docker health check in v4, v3 and v2 metadata, from the
    agent's one health record: status, statusSince, the check's output, the exit code while
    UNHEALTHY; a container without a check has no Health."""
    agent, cp = rig, rig.cp
    td = register_task_def(cp, "ep-health", test_image, containers=[
        {"name": "main", "cpu": 64, "memory": 48, "essential": True,
         "command": ["sh", "-c", "touch /tmp/ok; exec sleep 3600"],
         "healthCheck": {"command": ["CMD-SHELL", "echo probe-out; test -f /tmp/ok"], "interval": 5,
                         "timeout": 2, "retries": 1, "startPeriod": 0}},
        {"name": "sib", "cpu": 0, "memory": 16, "essential": False, "command": ["sleep", "3600"]},
    ], taskRoleArn=ROLE, networkMode="host")
    r = cp.ecs.run_task(cluster=agent.cluster, taskDefinition=td)
    assert r["tasks"], r["failures"]
    arn = r["tasks"][0]["taskArn"]
    wait_task_status(cp, agent.cluster, arn, "RUNNING")
    main = container_of(agent.cluster, arn, "main")

    def health(url="$ECS_CONTAINER_METADATA_URI_V4"):
        return wget_json(main, url).get("Health")
    wait_for(lambda: (health() or {}).get("status") == "HEALTHY" and "probe-out" in health().get("output", ""),
             60, what="HEALTHY with the check's output in v4 metadata")
    h = health()
    assert h["statusSince"].endswith("Z") and "exitCode" not in h, h
    assert health("$ECS_CONTAINER_METADATA_URI")["status"] == "HEALTHY"  # v3
    t = wget_json(main, "$ECS_CONTAINER_METADATA_URI_V4/task")
    by_name = {c["Name"]: c for c in t["Containers"]}
    assert by_name["main"]["Health"]["status"] == "HEALTHY"
    assert "Health" not in by_name["sib"], by_name["sib"]
    v2 = wget_json(main, "http://169.254.170.2/v2/metadata/" + main)
    assert v2["Health"]["status"] == "HEALTHY", v2
    in_container(main, "rm /tmp/ok")
    wait_for(lambda: (health() or {}).get("status") == "UNHEALTHY", 60, what="UNHEALTHY in v4 metadata")
    h2 = health()
    assert h2["exitCode"] == 1 and "probe-out" in h2["output"], h2
    assert h2["statusSince"] != h["statusSince"], (h, h2)


def test_request_limit(make_agent):
    """ECS_TASK_METADATA_RPS_LIMIT: one bucket per (caller, path); beyond the burst 429 with
    upstream's body, the rate headers on every answer, an audit line per 429; other paths
    keep their own bucket."""
    agent = make_agent(env={"ECS_TASK_METADATA_RPS_LIMIT": "1,3"})
    agent.wait_connected()
    got = [host_get(agent, "/v4/some-eid/task", headers={"X-Forwarded-For": "10.9.8.7"}, with_headers=True)
           for _ in range(4)]
    assert [g[0] for g in got[:3]] == [404, 404, 404], got
    st, body, h = got[3]
    assert st == 429 and body == "You have reached maximum request limit.", (st, body)
    assert h["Content-Type"] == "text/plain; charset=utf-8"
    for _, _, hh in got:
        assert hh["X-Rate-Limit-Limit"] == "1.00" and hh["X-Rate-Limit-Duration"] == "1"
        assert hh["X-Rate-Limit-Request-Forwarded-For"] == "10.9.8.7"
        assert hh["X-Rate-Limit-Request-Remote-Addr"].startswith("127.0.0.1:")
    assert host_get(agent, "/v4/some-eid")[0] == 404  # its own bucket
    for _ in range(3):
        host_get(agent, "/v2/credentials/secret-looking-id")
    assert host_get(agent, "/v2/credentials/secret-looking-id")[0] == 429
    lines = wait_for(lambda: [x for x in audit_lines(agent) if " 429 " in x] or None, 20, what="429 audit lines")
    assert any('"/v2/credentials"' in x for x in lines) and all("secret-looking-id" not in x for x in lines), lines
    # a token comes back after a second
    wait_for(lambda: host_get(agent, "/v4/some-eid/task")[0] == 404, 10, what="the bucket refilled")
    assert agent.alive()


def test_net_script_ipv6_only_namespace():
    """The setup script in a fresh network namespace (no IPv4 default route,
    so an IPv6-only host; a docker0 of its own): setup twice leaves one copy
    of each rule, the introspection rules in ip6tables too, and the lo route
    to 169.254.170.2; status agrees; remove takes all of it away and a
    second remove is not an error."""
    ns = "ecs-tenet-%d" % os.getpid()
    port = "51998"
    subprocess.run(["ip", "netns", "add", ns], check=True, timeout=30)
    try:
        def nsrun(*cmd):
            return subprocess.run(["ip", "netns", "exec", ns] + list(cmd), capture_output=True, text=True, timeout=60)

        assert nsrun("ip", "link", "set", "lo", "up").returncode == 0
        r = nsrun("ip", "link", "add", "docker0", "type", "bridge")
        assert r.returncode == 0, r.stderr
        for _ in range(2):
            r = nsrun(NET, "setup", port)
            assert r.returncode == 0, r.stderr
        v6 = nsrun("ip6tables", "-w", "-S", "INPUT").stdout.splitlines()
        assert v6.count("-A INPUT ! -i lo -p tcp -m tcp --dport 51678 -j DROP") == 1, v6
        assert v6.count("-A INPUT -i docker0 -p tcp -m tcp --dport 51678 -j ACCEPT") == 1, v6
        assert len([l for l in v6 if l.startswith("-A")]) == 2, v6
        v4 = nsrun("iptables", "-w", "-S", "INPUT").stdout.splitlines()
        assert len([l for l in v4 if l.startswith("-A")]) == 3, v4
        nat = nsrun("iptables", "-w", "-t", "nat", "-S").stdout
        assert nat.count("--to-destination 127.0.0.1:%s" % port) == 1, nat
        assert nat.count("--to-ports %s" % port) == 1, nat
        routes = nsrun("ip", "route", "show", "169.254.170.2/32", "dev", "lo").stdout.splitlines()
        assert len(routes) == 1 and "scope link" in routes[0], routes
        assert nsrun("sysctl", "-n", "net.ipv4.conf.all.route_localnet").stdout.strip() == "1"
        assert nsrun("sysctl", "-n", "net.ipv6.conf.docker0.accept_ra").stdout.strip() == "0"
        r = nsrun(NET, "status", port)
        assert r.returncode == 0 and "present: ip6tables" in r.stdout and "present: route" in r.stdout, r.stdout
        for _ in range(2):
            r = nsrun(NET, "remove", port)
            assert r.returncode == 0, r.stderr
            assert [l for l in nsrun("ip6tables", "-w", "-S").stdout.splitlines() if l.startswith("-A")] == []
            assert [l for l in nsrun("iptables", "-w", "-S").stdout.splitlines() if l.startswith("-A")] == []
            assert [l for l in nsrun("iptables", "-w", "-t", "nat", "-S").stdout.splitlines() if l.startswith("-A")] == []
            assert nsrun("ip", "route", "show", "169.254.170.2/32", "dev", "lo").stdout.strip() == ""
        assert nsrun(NET, "status", port).returncode != 0
    finally:
        subprocess.run(["ip", "netns", "del", ns], timeout=30)
