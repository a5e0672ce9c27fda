"""Shared fixtures for the end-to-end tests: the local control plane, the
real agent binary, the locally built test image, and Docker cleanup.

Every container an agent starts here carries the label ecs-agent-c-test=1
and a per-test cluster name; fixtures remove them at the end, whatever the
outcome, and never touch other containers on the engine.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PY = "/usr/bin/python3"
AKID = "AKIDLOCALTEST"
SECRET = "localtestsecretkey/0123456789abcdef"
REGION = "us-west-2"
TEST_LABEL = "ecs-agent-c-test=1"


def agent_bin():
    return os.environ.get("AGENT_BIN") or os.path.join(ROOT, "out", "amazon-ecs-agent")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout=30.0, interval=0.1, what="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = pred()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            last = e
        time.sleep(interval)  # poll interval of this wait
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


@pytest.fixture(scope="session")
def test_image():
    img = os.environ.get("TEST_IMAGE")
    if not img:
        img = subprocess.check_output([os.path.join(ROOT, "tests/lib/test-image.sh")], text=True).strip().splitlines()[-1]
    return img


class ControlPlane:
    def __init__(self, tmp, extra_args=()):
        self.state_dir = os.path.join(tmp, "cp-state")
        os.makedirs(self.state_dir, exist_ok=True)
        self.log_path = os.path.join(tmp, "controlplane.log")
        self.log = open(self.log_path, "w")
        args = [PY, "-m", "controlplane", "--listen", "127.0.0.1:0", "--imds-listen", "127.0.0.1:0",
                "--region", REGION, "--access-key", AKID, "--secret-key", SECRET,
                "--state-dir", self.state_dir] + list(extra_args)
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("control plane did not start: " + open(self.log_path).read())
        info = json.loads(line)
        self.addr = info["listen"]
        self.imds_addr = info.get("imds")
        self.url = "http://" + self.addr
        self.imds_url = "http://" + self.imds_addr if self.imds_addr else None
        self._client = None

    def admin(self, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method="POST" if data is not None else "GET",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            txt = r.read().decode()
            return json.loads(txt) if txt.strip() else None

    @property
    def ecs(self):
        if self._client is None:
            import botocore.session
            s = botocore.session.get_session()
            self._client = s.create_client("ecs", region_name=REGION, endpoint_url=self.url,
                                           aws_access_key_id=AKID, aws_secret_access_key=SECRET)
        return self._client

    def aws_cli(self, *args):
        env = dict(os.environ, AWS_ACCESS_KEY_ID=AKID, AWS_SECRET_ACCESS_KEY=SECRET,
                   AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE="/dev/null",
                   AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_PAGER="")
        out = subprocess.check_output(["/usr/bin/aws", "--endpoint-url", self.url, "--output", "json", "ecs"] + list(args),
                                      env=env, text=True)
        return json.loads(out) if out.strip() else None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture
def tmpdir_path():
    d = tempfile.mkdtemp(prefix="ecs-e2e-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def registry_info():
    """Start (or reuse) the private test registry (tests/lib/registry.sh); its info
    as a dict: port, user, password, ecr_user (AWS), ecr_password, image, ..."""
    path = subprocess.check_output(["sh", os.path.join(ROOT, "tests/lib/registry.sh"), "start"],
                                   text=True, timeout=300).strip().splitlines()[-1]
    with open(path) as f:
        return dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)


def ecr_args(info):
    """Control plane arguments serving that registry as ECR (its AWS user's password as the token)."""
    return ["--ecr-registry", "127.0.0.1:" + info["port"], "--ecr-password", info["ecr_password"]]


@pytest.fixture
def controlplane(tmpdir_path):
    cp = ControlPlane(tmpdir_path)
    yield cp
    cp.stop()


def docker_cleanup(cluster=None, timeout=120):
    """Removes the suite's containers (of one cluster when given) and, without a
    cluster, its volumes.  A container Docker is removing already (409 "removal of
    container ... is already in progress", status "Removal In Progress", e.g. an
    agent's cleanup stopped half-way) is waited on, one whose removal failed
    ("Dead") is removed again, until timeout: then AssertionError names what is
    left and what Docker said."""
    flt = ["--filter", "label=" + TEST_LABEL]
    if cluster:
        flt += ["--filter", "label=com.amazonaws.ecs.cluster=" + cluster]

    def listed():
        return subprocess.run(["docker", "ps", "-aq"] + flt, capture_output=True, text=True,
                              timeout=120).stdout.split()

    first = set(listed())  # others' tests may be making more: those are theirs to remove

    def left():
        return [i for i in listed() if i in first]

    said = []

    def removed():
        ids = left()
        if ids:
            r = subprocess.run(["docker", "rm", "-fv"] + ids, capture_output=True, text=True, timeout=180)
            said[:] = [r.stderr.strip()[-2000:]]
            ids = left()
        return not ids

    try:
        wait_for(removed, timeout, interval=1.0, what="the test containers removed")
    except AssertionError:
        raise AssertionError("containers left after %ds: %s; docker rm said: %s"
                             % (timeout, left(), said[0] if said else "")) from None
    vols = subprocess.run(["docker", "volume", "ls", "-q"] + ["--filter", "label=" + TEST_LABEL],
                          capture_output=True, text=True, timeout=120).stdout.split()
    if vols and cluster is None:
        subprocess.run(["docker", "volume", "rm", "-f"] + vols, capture_output=True, timeout=120)


class Agent:
    """The real agent binary against a control plane."""

    def __init__(self, cp, tmp, cluster, env=None, args=()):
        self.cp = cp
        self.tmp = tmp
        self.cluster = cluster
        self.data_dir = os.path.join(tmp, "data")
        self.log_dir = os.path.join(tmp, "log")
        os.makedirs(self.data_dir, exist_ok=True)
        os.makedirs(self.log_dir, exist_ok=True)
        self.introspection_port = free_port()
        self.tmds_port = free_port()
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "ECS_CLUSTER": cluster,
            "ECS_BACKEND_HOST": cp.url,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": AKID,
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": cp.imds_url or "http://127.0.0.1:9",
            # the control plane also serves ECR, SSM and Secrets Manager (controlplane/aws_services.py)
            "AWS_ENDPOINT_URL_ECR": cp.url,
            "AWS_ENDPOINT_URL_SSM": cp.url,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": cp.url,
            "ECS_DATADIR": self.data_dir,
            "ECS_CHECKPOINT": "true",
            "ECS_LOGFILE": os.path.join(self.log_dir, "ecs-agent.log"),
            "ECS_LOGLEVEL": "debug",
            "ECS_AGENT_CONFIG_FILE_PATH": "/nonexistent/ecs.config.json",
            "ECS_INTROSPECTION_PORT": str(self.introspection_port),
            "ECS_INTROSPECTION_LISTEN_ADDR": "127.0.0.1",
            "ECS_TASK_METADATA_PORT": str(self.tmds_port),
            "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION": "10s",
            "ECS_CONTAINER_STOP_TIMEOUT": "2s",
            "ECS_AGENT_EXTRA_CONTAINER_LABEL": TEST_LABEL,
            # the shared test image is never removed by an agent's image cleanup
            "ECS_EXCLUDE_UNTRACKED_IMAGE": os.environ.get("TEST_IMAGE") or "ecs-agent-c-test/busybox:latest",
            "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "detect_leaks=1"),
            "UBSAN_OPTIONS": os.environ.get("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1"),
        }
        if env:
            self.env.update(env)
        self.args = list(args)
        self.proc = None
        self.stdout_path = os.path.join(tmp, "agent-stdout.log")
        self.runs = 0

    def start(self):
        self.runs += 1
        self.out = open(self.stdout_path, "a")
        self.proc = subprocess.Popen([agent_bin()] + self.args, env=self.env, stdout=self.out,
                                     stderr=subprocess.STDOUT, cwd=self.tmp)
        return self

    def output(self):
        with open(self.stdout_path) as f:
            return f.read()

    def all_logs(self):
        """stdout followed by every file of ECS_LOGFILE's folder (rotated hours too)."""
        text = self.output()
        for f in sorted(os.listdir(self.log_dir)):
            with open(os.path.join(self.log_dir, f), errors="replace") as fh:
                text += fh.read()
        return text

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.out.close()
        return rc

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def instance_arn(self):
        arns = self.cp.ecs.list_container_instances(cluster=self.cluster)["containerInstanceArns"]
        return arns[0] if arns else None

    def wait_registered(self, timeout=60):
        return wait_for(self.instance_arn, timeout, what="registration\n" + self.output()[-3000:])

    def wait_connected(self, timeout=60):
        def connected():
            arn = self.instance_arn()
            if not arn:
                return False
            d = self.cp.ecs.describe_container_instances(cluster=self.cluster, containerInstances=[arn])
            return d["containerInstances"][0].get("agentConnected")
        return wait_for(connected, timeout, what="ACS connection\n" + self.output()[-3000:])

    def introspect(self, path):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.introspection_port, path), timeout=5) as r:
            return json.loads(r.read().decode())


@pytest.fixture
def cluster_name():
    return "e2e-" + uuid.uuid4().hex[:10]


@pytest.fixture
def make_agent(controlplane, tmpdir_path, cluster_name, request):
    """Agents of one test.  When the test takes the `runtime` fixture (the
    flow tests run once per engine), the agent's DOCKER_HOST is that
    engine's socket and the cleanup removes that engine's containers."""
    agents = []
    rt = request.getfixturevalue("runtime") if "runtime" in request.fixturenames else None

    def make(env=None, args=(), start=True):
        if not agents:
            controlplane.ecs.create_cluster(clusterName=cluster_name)
        if rt is not None and rt.host:
            env = dict({"DOCKER_HOST": rt.host}, **(env or {}))
        a = Agent(controlplane, tmpdir_path, cluster_name, env, args)
        agents.append(a)
        if start:
            a.start()
        return a

    yield make
    for a in agents:
        if a.alive():
            a.stop()
    if rt is not None and rt.name == "podman":
        rt.cleanup(cluster_name)
    else:
        docker_cleanup(cluster_name)


# --------------------------------------------------------------------------- runtimes

PODMAN_CONF = "[containers]\ndefault_ulimits = []\n"


class Runtime:
    """One container engine as the tests see it: its CLI (docker, or podman
    with the fixture's containers.conf) and the DOCKER_HOST the agent gets
    (None: the agent's default, Docker's socket)."""

    def __init__(self, name, host=None, env=None):
        self.name = name
        self.host = host
        self.env = env

    def cli(self, *args, timeout=120, check=False):
        return subprocess.run([self.name] + list(args), env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=check)

    def ids(self, cluster, task_arn=None):
        """Full ids of the containers of a cluster (or one task)."""
        flt = ["--filter", "label=com.amazonaws.ecs.cluster=" + cluster]
        if task_arn:
            flt += ["--filter", "label=com.amazonaws.ecs.task-arn=" + task_arn]
        return self.cli("ps", "-aq", "--no-trunc", *flt).stdout.split()

    def inspect(self, cid):
        return json.loads(self.cli("inspect", cid, check=True).stdout)[0]

    def host_ports(self, cid, spec):
        """Host ports bound for spec (e.g. '8080/tcp'), from `<cli> port`."""
        import re
        out = self.cli("port", cid, spec).stdout
        return {int(m) for m in re.findall(r":(\d+)\s*$", out, re.M)}

    def cleanup(self, cluster):
        ids = self.cli("ps", "-aq", "--filter", "label=" + TEST_LABEL, "--filter",
                       "label=com.amazonaws.ecs.cluster=" + cluster).stdout.split()
        if ids:
            self.cli("rm", "-f", *ids, timeout=180)


def _unix_ping(sock):
    try:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(2)
        s.connect(sock)
        s.sendall(b"GET /_ping HTTP/1.0\r\nHost: d\r\n\r\n")
        data = s.recv(256)
        s.close()
        return data.startswith(b"HTTP/1.") and b" 200 " in data.split(b"\r\n")[0] + b" "
    except OSError:
        return False


def local_registry():
    """tests/lib/registry.sh's private registry (started when $REGISTRY_INFO
    does not name a running one): {port, user, password, image, ...}."""
    path = os.environ.get("REGISTRY_INFO")
    if not path or not os.path.exists(path):
        r = subprocess.run([os.path.join(ROOT, "tests/lib/registry.sh"), "start"], capture_output=True,
                           text=True, timeout=300)
        if r.returncode != 0:
            pytest.fail("registry.sh start failed: " + r.stderr[-2000:])
        path = r.stdout.strip().splitlines()[-1]
    info = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            if k:
                info[k] = v
    return info


@pytest.fixture(scope="session")
def podman_service(tmp_path_factory, test_image):
    """A rootful `podman system service` on a private socket, the test image
    loaded into Podman's store.  Podman needs `[containers] default_ulimits
    = []` (containers.conf through CONTAINERS_CONF): its default NOFILE
    ulimit is above this sandbox's hard limit (`error setting rlimit type 7:
    operation not permitted`).  Podman missing or unable to run a container
    here: the test is SKIPPED with the exact failure as the reason (counted
    as a skip), never passed silently."""
    if not shutil.which("podman"):
        pytest.skip("podman is not installed (apt-get install podman)")
    d = str(tmp_path_factory.mktemp("podman"))
    conf = os.path.join(d, "containers.conf")
    with open(conf, "w") as f:
        f.write(PODMAN_CONF)
    # the private registry of tests/lib/registry.sh is plain http: Podman
    # (unlike Docker, which trusts 127.0.0.0/8) must be told it is insecure
    reg = local_registry()
    regconf = os.path.join(d, "registries.conf")
    with open(regconf, "w") as f:
        f.write('unqualified-search-registries = []\n[[registry]]\nlocation = "127.0.0.1:%s"\ninsecure = true\n'
                % reg["port"])
    env = dict(os.environ, CONTAINERS_CONF=conf, CONTAINERS_REGISTRIES_CONF=regconf)
    save = subprocess.Popen(["docker", "save", test_image], stdout=subprocess.PIPE)
    try:
        load = subprocess.run(["podman", "load"], stdin=save.stdout, env=env, capture_output=True, text=True,
                              timeout=300)
    finally:
        # our end of the pipe closed: a podman that stops reading (it failed)
        # ends docker save with SIGPIPE instead of leaving it blocked forever
        save.stdout.close()
        try:
            save.wait(60)
        except subprocess.TimeoutExpired:
            save.kill()
            save.wait()
    if load.returncode != 0:
        pytest.skip("podman load failed: " + load.stderr[-1000:])
    run = subprocess.run(["podman", "run", "--rm", "--label", TEST_LABEL, test_image, "true"], env=env,
                         capture_output=True, text=True, timeout=120)
    if run.returncode != 0:
        pytest.skip("podman cannot run a container here: " + run.stderr[-1000:])
    sock = os.path.join(d, "podman.sock")
    log = open(os.path.join(d, "service.log"), "w")
    svc = {"sock": sock, "env": env, "host": "unix://" + sock, "dir": d, "registry": reg, "proc": None}

    def start():
        """(Re)start the service on the same socket; returns once it answers."""
        svc["proc"] = subprocess.Popen(["podman", "system", "service", "--time=0", "unix://" + sock], env=env,
                                       stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(lambda: _unix_ping(sock), 30, what="podman system service on " + sock)

    def stop():
        """Stop the service (containers keep running: conmon holds them)."""
        proc = svc["proc"]
        if proc is None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        svc["proc"] = None

    svc["start"], svc["stop"] = start, stop
    try:
        start()
        yield svc
    finally:
        stop()
        log.close()
        ids = subprocess.run(["podman", "ps", "-aq", "--filter", "label=" + TEST_LABEL], env=env,
                             capture_output=True, text=True, timeout=120).stdout.split()
        if ids:
            subprocess.run(["podman", "rm", "-f"] + ids, env=env, capture_output=True, timeout=180)


@pytest.fixture
def runtime(request):
    """The engine a flow test runs against: "docker" (the default) or
    "podman" (parametrize with indirect=True; see RUNTIMES)."""
    name = getattr(request, "param", "docker")
    if name == "podman":
        svc = request.getfixturevalue("podman_service")
        return Runtime("podman", svc["host"], svc["env"])
    return Runtime("docker")


# the flow tests run once on each engine:
#   @pytest.mark.parametrize("runtime", RUNTIMES, indirect=True)
RUNTIMES = ["docker", "podman"]


def register_task_def(cp, family, image, containers=None, **kw):
    """Registers a task definition; containers default to one busybox sleeper."""
    if containers is None:
        containers = [{"name": "main", "image": image, "cpu": 10, "memory": 32, "essential": True,
                       "command": ["sleep", "3600"]}]
    for c in containers:
        c.setdefault("image", image)
        c.setdefault("memory", 32)
    r = cp.ecs.register_task_definition(family=family, containerDefinitions=containers, **kw)
    td = r["taskDefinition"]
    return "%s:%d" % (td["family"], td["revision"])


def describe_task(cp, cluster, arn):
    return cp.ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0]


def wait_task_status(cp, cluster, arn, status, timeout=90):
    return wait_for(lambda: (lambda t: t if t.get("lastStatus") == status else None)(describe_task(cp, cluster, arn)),
                    timeout, what="task %s %s" % (arn, status))


def containers_for(cluster, task_arn=None):
    flt = ["--filter", "label=com.amazonaws.ecs.cluster=" + cluster]
    if task_arn:
        flt += ["--filter", "label=com.amazonaws.ecs.task-arn=" + task_arn]
    out = subprocess.run(["docker", "ps", "-a", "--format", "{{.ID}} {{.Names}} {{.State}}"] + flt,
                         capture_output=True, text=True, timeout=120).stdout
    return [line.split() for line in out.splitlines() if line.strip()]
