"""Introspection listen address across network namespaces.

Two namespaces created here (never the host's): "srv" runs the server, "cli"
is another host on a veth link (10.x/30 addresses inside these namespaces
only).  With the listen address 127.0.0.1 the port must be unreachable from
"cli" (and still answer on loopback inside "srv"); with 0.0.0.0 it answers
from "cli".

Two servers are exercised:
  * the unit-test binary's --serve mode (fake engine data; the exact
    introspection_start() path the agent uses), always;
  * the real agent (ECS_INTROSPECTION_LISTEN_ADDR), with the local control
    plane inside "srv" too, when out/amazon-ecs-agent exists.
"""
import json
import os
import random
import shutil
import subprocess
import tempfile
import time
import uuid

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PY = "/usr/bin/python3"
OUT = os.environ.get("O", "out")

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip"),
                                reason="needs root and iproute2 for network namespaces")


IP = shutil.which("ip") or "/usr/sbin/ip"


def sh(*args, check=True, **kw):
    args = list(args)
    if args[0] == "ip":
        args[0] = IP
    return subprocess.run(args, check=check, capture_output=True, text=True, **kw)


class Netns:
    def __init__(self):
        tag = uuid.uuid4().hex[:6]
        self.srv = "ecsi-%s-s" % tag
        self.cli = "ecsi-%s-c" % tag
        self.veth_s = "vi%ss" % tag
        self.veth_c = "vi%sc" % tag
        a, b = random.randint(0, 255), random.randint(0, 63) * 4
        self.srv_ip = "10.%d.%d.%d" % (random.randint(100, 250), a, b + 1)
        self.cli_ip = self.srv_ip.rsplit(".", 1)[0] + ".%d" % (b + 2)

    def __enter__(self):
        sh("ip", "netns", "add", self.srv)
        sh("ip", "netns", "add", self.cli)
        sh("ip", "link", "add", self.veth_s, "type", "veth", "peer", "name", self.veth_c)
        sh("ip", "link", "set", self.veth_s, "netns", self.srv)
        sh("ip", "link", "set", self.veth_c, "netns", self.cli)
        for ns, dev, ip in ((self.srv, self.veth_s, self.srv_ip), (self.cli, self.veth_c, self.cli_ip)):
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
            sh("ip", "netns", "exec", ns, "ip", "addr", "add", ip + "/30", "dev", dev)
            sh("ip", "netns", "exec", ns, "ip", "link", "set", dev, "up")
        return self

    def __exit__(self, *exc):
        for ns in (self.srv, self.cli):
            sh("ip", "netns", "del", ns, check=False)

    def fetch(self, ns, url, timeout=3):
        """(ok, body) of a GET from inside namespace ns."""
        code = ("import sys,urllib.request\n"
                "try:\n"
                "  r=urllib.request.urlopen(sys.argv[1],timeout=%d); print(r.read().decode())\n"
                "except Exception as e:\n"
                "  print('ERR',type(e).__name__,e); sys.exit(3)\n" % timeout)
        r = sh("ip", "netns", "exec", ns, PY, "-c", code, url, check=False, timeout=timeout + 10)
        return r.returncode == 0, r.stdout.strip()


@pytest.fixture
def netns():
    with Netns() as n:
        yield n


def serve_binary():
    target = OUT + "/tests/test_introspection"
    subprocess.run(["make", "-s", "O=" + OUT, target], cwd=ROOT, check=True)
    return os.path.join(ROOT, target)


class Served:
    def __init__(self, netns, binary, addr):
        self.proc = subprocess.Popen([IP, "netns", "exec", netns.srv, binary, "--serve", addr, "0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.port = None
        deadline = time.time() + 20
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.startswith("PORT "):
                self.port = int(line.split()[1])
                break
        assert self.port, "server did not start: " + self.proc.stderr.read()

    def stop(self):
        self.proc.terminate()
        try:
            rc = self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        return rc


def test_loopback_only_is_not_reachable_from_another_namespace(netns):
    binary = serve_binary()
    s = Served(netns, binary, "127.0.0.1")
    try:
        ok, body = netns.fetch(netns.srv, "http://127.0.0.1:%d/v1/metadata" % s.port)
        assert ok, body
        assert json.loads(body)["Cluster"] == "prod"
        ok, body = netns.fetch(netns.cli, "http://%s:%d/v1/metadata" % (netns.srv_ip, s.port))
        assert not ok, "reachable from the other namespace: " + body
        assert "refused" in body.lower(), body
    finally:
        assert s.stop() == 0


def test_all_interfaces_is_reachable_from_another_namespace(netns):
    binary = serve_binary()
    s = Served(netns, binary, "0.0.0.0")
    try:
        ok, body = netns.fetch(netns.cli, "http://%s:%d/v1/tasks?dockerid=111111111111" % (netns.srv_ip, s.port))
        assert ok, body
        assert json.loads(body)["Arn"].endswith("11111111-2222-3333-4444-555555555555")
        ok, body = netns.fetch(netns.srv, "http://127.0.0.1:%d/" % s.port)
        assert ok and "AvailableCommands" in body
    finally:
        assert s.stop() == 0


def test_listen_on_the_namespace_address_only(netns):
    binary = serve_binary()
    s = Served(netns, binary, netns.srv_ip)
    try:
        ok, body = netns.fetch(netns.cli, "http://%s:%d/license" % (netns.srv_ip, s.port))
        assert ok and body.startswith("LICENSE TEXT"), body
        ok, body = netns.fetch(netns.srv, "http://127.0.0.1:%d/" % s.port)
        assert not ok, body
    finally:
        assert s.stop() == 0


# --- the real agent, ECS_INTROSPECTION_LISTEN_ADDR ---

AKID = "AKIDLOCALTEST"
SECRET = "localtestsecretkey/0123456789abcdef"


def agent_binary():
    return os.environ.get("AGENT_BIN") or os.path.join(ROOT, OUT, "amazon-ecs-agent")


@pytest.mark.parametrize("addr,reachable", [("127.0.0.1", False), ("0.0.0.0", True)])
def test_agent_listen_addr_across_namespaces(netns, addr, reachable):
    agent = agent_binary()
    if not os.path.exists(agent):
        pytest.skip("no agent binary at %s (make build)" % agent)
    tmp = tempfile.mkdtemp(prefix="ecs-intro-netns-")
    procs = []
    try:
        # control plane and agent both live in the "srv" namespace
        cp_log = open(os.path.join(tmp, "cp.log"), "w")
        cp = subprocess.Popen([IP, "netns", "exec", netns.srv, PY, "-m", "controlplane",
                               "--listen", "127.0.0.1:0", "--imds-listen", "127.0.0.1:0",
                               "--access-key", AKID, "--secret-key", SECRET],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=cp_log, text=True)
        procs.append(cp)
        info = json.loads(cp.stdout.readline())
        cluster = "netns-" + uuid.uuid4().hex[:8]
        code = ("import json,sys,urllib.request\n"
                "import botocore.session\n"
                "c=botocore.session.get_session().create_client('ecs',region_name='us-west-2',"
                "endpoint_url=sys.argv[1],aws_access_key_id=%r,aws_secret_access_key=%r)\n"
                "c.create_cluster(clusterName=sys.argv[2])\n" % (AKID, SECRET))
        sh("ip", "netns", "exec", netns.srv, PY, "-c", code, "http://" + info["listen"], cluster, cwd=ROOT)
        port = random.randint(20000, 60000)
        env = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "ECS_CLUSTER": cluster,
            "ECS_BACKEND_HOST": "http://" + info["listen"],
            "AWS_DEFAULT_REGION": "us-west-2",
            "AWS_ACCESS_KEY_ID": AKID,
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://" + info["imds"],
            "ECS_AGENT_CONFIG_FILE_PATH": "/nonexistent/config.json",
            "ECS_INTROSPECTION_LISTEN_ADDR": addr,
            "ECS_INTROSPECTION_PORT": str(port),
            "ECS_LOGLEVEL": "debug",
        }
        out = open(os.path.join(tmp, "agent.log"), "w")
        ag = subprocess.Popen([IP, "netns", "exec", netns.srv, agent], env=env, stdout=out,
                              stderr=subprocess.STDOUT, cwd=tmp)
        procs.append(ag)
        deadline = time.time() + 60
        ok = False
        while time.time() < deadline and ag.poll() is None:
            ok, body = netns.fetch(netns.srv, "http://127.0.0.1:%d/v1/metadata" % port, timeout=2)
            if ok and json.loads(body).get("ContainerInstanceArn"):
                break
            time.sleep(0.5)  # poll interval of this wait
        log = open(os.path.join(tmp, "agent.log")).read()
        assert ok, "agent introspection not up inside its namespace:\n" + log[-3000:]
        meta = json.loads(body)
        assert meta["Cluster"] == cluster
        ok, body = netns.fetch(netns.cli, "http://%s:%d/v1/metadata" % (netns.srv_ip, port))
        assert ok == reachable, body
        if reachable:
            assert json.loads(body)["ContainerInstanceArn"] == meta["ContainerInstanceArn"]
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
