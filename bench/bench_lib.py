"""bench_lib.py - what bench/bench.py's phases share: the knobs (documented in
bench.py's header), process and Docker helpers, the local control plane
(ControlPlane), the control plane's event index (EventIndex), the agent under
measurement (Agent), Docker's event stream (DockerEvents), cluster helpers."""
import json
import math
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
OUT = os.path.join(ROOT, "out", "bench")
WORK = os.path.join(OUT, "work")
PY = "/usr/bin/python3"
AKID = "AKIDLOCALBENCH"
SECRET = "localbenchsecret/0123456789abcdef"
REGION = "us-west-2"
TEST_LABEL = "ecs-agent-c-test=1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def env_int(name, default):
    v = os.environ.get(name, "")
    return int(v) if v.strip() else default


IDLE_S = env_int("BENCH_IDLE_SECONDS", 300)
TASK_IDLE_S = env_int("BENCH_TASK_IDLE_SECONDS", 30)
LAUNCH_REPS = env_int("BENCH_LAUNCH_REPS", 5)
STOP_EXITS = env_int("BENCH_STOP_EXITS", 100)
CHURN_TASKS = env_int("BENCH_CHURN_TASKS", 500)
CHURN_WAVE = env_int("BENCH_CHURN_WAVE", 50)
STARTUP_RUNS = env_int("BENCH_STARTUP_RUNS", 3)
CONCURRENCY_LIMITS = [int(x) for x in os.environ.get("BENCH_CONCURRENCY_LIMITS", "0,4,8").split(",") if x.strip()]
CONCURRENCY_N = env_int("BENCH_CONCURRENCY_N", 50)
CONCURRENCY_REPS = env_int("BENCH_CONCURRENCY_REPS", 3)
PHASES = [p.strip() for p in os.environ.get("BENCH_PHASES", "startup,footprint,idle,launch,stop,churn,loaded,concurrency").split(",")
          if p.strip()]
FOOTPRINT_S = env_int("BENCH_FOOTPRINT_SECONDS", 60)
AGENT_LOGFILE = os.environ.get("BENCH_AGENT_LOGFILE", "1") == "1"
AGENT_BIN = os.environ.get("AGENT_BIN") or os.path.join(ROOT, "out", "amazon-ecs-agent")
STATIC_BIN = os.environ.get("STATIC_BIN") or os.path.join(ROOT, "out", "release", "amazon-ecs-agent-static")
DIRECT_BIN = os.path.join(OUT, "direct_launch")
VALGRIND = os.environ.get("BENCH_VALGRIND", "").strip()
TRIM_PROBE = os.environ.get("BENCH_TRIM_PROBE", "0") == "1"
IMAGE = os.environ.get("BENCH_IMAGE", "ecs-agent-c-test/busybox:latest")
CLEANUP_WAIT = os.environ.get("BENCH_CLEANUP_WAIT", "2s")

# A container that runs until stopped and exits at once on SIGTERM (PID 1 ignores
# SIGTERM without a handler, which would make every stop wait for the grace period).
LONG_CMD = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
T0 = time.time()


def log(msg):
    sys.stderr.write("[bench %6.1fs] %s\n" % (time.time() - T0, msg))
    sys.stderr.flush()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_for(pred, timeout, what, interval=0.05):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise TimeoutError("timed out after %ss waiting for %s (last: %r)" % (timeout, what, last))


def _quiet(pred):
    """pred(), with a file being replaced or half-read counted as not yet."""
    try:
        return pred()
    except (OSError, ValueError):
        return False


def pct(values, p):
    """Nearest-rank percentile."""
    v = sorted(values)
    if not v:
        return None
    k = max(1, math.ceil(p / 100.0 * len(v)))
    return v[k - 1]


def docker(*args, check=False):
    return subprocess.run(["docker"] + list(args), capture_output=True, text=True, check=check)


def docker_ids(*filters, all_=True):
    args = ["ps", "-q"] + (["-a"] if all_ else [])
    for f in filters:
        args += ["--filter", f]
    return docker(*args).stdout.split()


def docker_rm_label(*filters):
    ids = docker_ids("label=" + TEST_LABEL, *filters)
    # small batches: dockerd 20.10 has been seen wedging on 50 concurrent forced removals
    for i in range(0, len(ids), 10):
        docker("rm", "-fv", *ids[i:i + 10])
    return len(ids)


# --------------------------------------------------------------------------- control plane
class ControlPlane:
    def __init__(self):
        self.log_path = os.path.join(OUT, "controlplane.log")
        self.logf = open(self.log_path, "w")
        # In memory (no --state-dir): the bench measures the agent, not state.json rewrites.
        args = [PY, os.path.join(ROOT, "bench", "cp_bench.py"), "--listen", "127.0.0.1:0",
                "--imds-listen", "127.0.0.1:0", "--region", REGION, "--access-key", AKID,
                "--secret-key", SECRET, "--log-level", "WARNING"]
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=self.logf, text=True)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("control plane did not start:\n" + open(self.log_path).read())
        info = json.loads(line)
        self.url = "http://" + info["listen"]
        self.imds_url = "http://" + info["imds"]
        self.events = EventIndex(self)
        import botocore.session
        s = botocore.session.get_session()
        self.ecs = s.create_client("ecs", region_name=REGION, endpoint_url=self.url,
                                   aws_access_key_id=AKID, aws_secret_access_key=SECRET)

    def admin(self, path, body=None, timeout=60):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method="POST" if data is not None else "GET",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                txt = r.read().decode()
        except urllib.error.HTTPError as e:
            raise RuntimeError("%s: %s" % (path, e.read().decode()[:500]))
        return json.loads(txt) if txt.strip() else None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()


class EventIndex:
    """Incremental view of GET /_local/events: earliest server time of every reported status."""

    def __init__(self, cp):
        self.cp = cp
        self.seq = 0
        self.task = {}       # task arn -> {status: time}
        self.ctr = {}        # (task arn, container name) -> {status: (time, via)}
        self.by_kind = {}    # kind -> [event]
        self.count = {}

    def poll(self):
        d = self.cp.admin("/_local/events?since=%d" % self.seq)
        for ev in d["events"]:
            self.seq = max(self.seq, ev["seq"])
            k = ev["kind"]
            self.count[k] = self.count.get(k, 0) + 1
            t = ev["time"]
            req = ev.get("request") or {}
            if k == "SubmitTaskStateChange":
                arn = req.get("task")
                if req.get("status"):
                    self.task.setdefault(arn, {}).setdefault(req["status"], t)
                for c in req.get("containers") or []:
                    if c.get("status"):
                        self.ctr.setdefault((arn, c.get("containerName")), {}).setdefault(c["status"], (t, k))
            elif k == "SubmitContainerStateChange":
                arn = req.get("task")
                if req.get("status"):
                    self.ctr.setdefault((arn, req.get("containerName")), {}).setdefault(req["status"], (t, k))
            elif k not in ("HeartbeatAckRequest",):
                self.by_kind.setdefault(k, []).append(ev)
        return self

    def running_at(self, arn, cname="main"):
        """RUNNING submitted: the earliest of the task's and its container's RUNNING."""
        ts = []
        if "RUNNING" in self.task.get(arn, {}):
            ts.append(self.task[arn]["RUNNING"])
        c = self.ctr.get((arn, cname), {})
        if "RUNNING" in c:
            ts.append(c["RUNNING"][0])
        return min(ts) if ts else None

    def stopped_at(self, arn, cname="main"):
        c = self.ctr.get((arn, cname), {})
        if "STOPPED" in c:
            return c["STOPPED"]
        if "STOPPED" in self.task.get(arn, {}):
            return (self.task[arn]["STOPPED"], "SubmitTaskStateChange(task only)")
        return None

    def task_stopped(self, arn):
        return "STOPPED" in self.task.get(arn, {})

    def wait_all(self, arns, fn, timeout, what, interval=0.1):
        def done():
            self.poll()
            missing = [a for a in arns if fn(a) is None]
            return True if not missing else None
        try:
            wait_for(done, timeout, what, interval)
        except TimeoutError:
            missing = [a for a in arns if fn(a) is None]
            raise TimeoutError("timed out after %ss waiting for %s: %d of %d missing (e.g. %s)"
                               % (timeout, what, len(missing), len(arns), missing[:1]))


# --------------------------------------------------------------------------- agent
def proc_sample(pid):
    """RSS/PSS/private (KiB) from smaps_rollup, CPU seconds from stat."""
    s = {"t": time.time()}
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    s["utime"] = int(fields[11]) / CLK_TCK
    s["stime"] = int(fields[12]) / CLK_TCK
    s["cpu"] = s["utime"] + s["stime"]
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[2] == "kB":
                s[parts[0].rstrip(":")] = int(parts[1])
    s["private"] = s.get("Private_Clean", 0) + s.get("Private_Dirty", 0)
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmHWM:", "VmRSS:")):
                s[line.split(":")[0]] = int(line.split()[1])
    return s


class Agent:
    def __init__(self, cp, name, cluster, valgrind=None, binary=None, env=None):
        self.cp = cp
        self.name = name
        self.cluster = cluster
        self.dir = os.path.join(WORK, name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(os.path.join(self.dir, "data"))
        os.makedirs(os.path.join(self.dir, "log"))
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "ECS_CLUSTER": cluster,
            "ECS_BACKEND_HOST": cp.url,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": AKID,
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": cp.imds_url,
            "ECS_DATADIR": os.path.join(self.dir, "data"),
            "ECS_CHECKPOINT": "true",
            "ECS_LOGLEVEL": "info",
            "ECS_AGENT_CONFIG_FILE_PATH": "/nonexistent/ecs.config.json",
            "ECS_INTROSPECTION_PORT": str(free_port()),
            "ECS_INTROSPECTION_LISTEN_ADDR": "127.0.0.1",
            "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION": CLEANUP_WAIT,
            "ECS_CONTAINER_STOP_TIMEOUT": "2s",
            "ECS_AGENT_EXTRA_CONTAINER_LABEL": TEST_LABEL,
        }
        if AGENT_LOGFILE:
            self.env["ECS_LOGFILE"] = os.path.join(self.dir, "log", "ecs-agent.log")
        for kv in os.environ.get("BENCH_AGENT_ENV", "").split():
            k, _, v = kv.partition("=")
            self.env[k] = v
        self.env.update(env or {})
        self.lines = []  # (arrival time, line)
        self.stdout_path = os.path.join(self.dir, "agent-stdout.log")
        argv = [binary or AGENT_BIN]
        if valgrind:
            tool = next((a.split("=", 1)[1] for a in valgrind.split() if a.startswith("--tool=")), "memcheck")
            argv = ["valgrind", "--quiet"] + valgrind.split() + argv
            if tool in ("callgrind", "massif"):
                argv.insert(2, "--%s-out-file=%s" % (tool, os.path.join(OUT, "%s.%s.out" % (tool, name))))
        wrapper = os.environ.get("BENCH_AGENT_WRAPPER", "").strip()
        if wrapper:
            argv = wrapper.replace("{name}", name).split() + argv
        self.t_start = time.time()
        self.proc = subprocess.Popen(argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     cwd=self.dir, bufsize=0)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        with open(self.stdout_path, "wb") as f:
            for line in iter(self.proc.stdout.readline, b""):
                t = time.time()
                self.lines.append((t, line.decode("utf-8", "replace").rstrip("\n")))
                f.write(("%.6f " % t).encode() + line)
                f.flush()

    @property
    def pid(self):
        """The agent process: the child itself, or (under a wrapper such as perf/strace) its descendant
        running the agent binary, so footprints are the agent's and not the wrapper's."""
        if getattr(self, "_pid", None):
            return self._pid
        want = os.path.realpath(AGENT_BIN)
        todo, seen = [self.proc.pid], set()
        while todo:
            p = todo.pop(0)
            if p in seen:
                continue
            seen.add(p)
            try:
                if os.path.realpath("/proc/%d/exe" % p) == want:
                    self._pid = p
                    return p
                with open("/proc/%d/task/%d/children" % (p, p)) as f:
                    todo += [int(x) for x in f.read().split()]
            except OSError:
                continue
        return self.proc.pid  # valgrind: the tool runs in the same process

    def alive(self):
        return self.proc.poll() is None

    def sample(self):
        if not self.alive():
            raise RuntimeError("agent %s exited with %s:\n%s" % (self.name, self.proc.returncode, self.tail()))
        return proc_sample(self.pid)

    def tail(self, n=30):
        return "\n".join(l for _, l in self.lines[-n:])

    def first_line(self, *needles):
        for t, l in self.lines:
            low = l.lower()
            if all(n.lower() in low for n in needles):
                return t, l
        return None

    def instance_arn(self):
        arns = self.cp.ecs.list_container_instances(cluster=self.cluster)["containerInstanceArns"]
        return arns[0] if arns else None

    def wait_connected(self, timeout=60):
        def connected():
            if not self.alive():
                raise RuntimeError("agent exited with %s:\n%s" % (self.proc.returncode, self.tail()))
            self.cp.events.poll()
            for ev in self.cp.events.by_kind.get("ws_connect", []):
                if ev.get("containerInstanceArn") and self.cluster in ev["containerInstanceArn"]:
                    return ev
            return None
        return wait_for(connected, timeout, "ACS connection of " + self.name)

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.reader.join(5)
        return rc


class DockerEvents:
    """`docker events` for one label filter: first timeNano (s) of every action per (task arn, container
    name) for agent containers, and per container name for direct_launch containers."""

    def __init__(self, label, actions=("create", "start", "die")):
        # --since: the engine replays what happened from now on even before the
        # subscription is live, so nothing needs to wait for it
        args = ["docker", "events", "--since", "%.6f" % time.time(), "--filter", "type=container",
                "--filter", "label=" + label, "--format", "{{json .}}"]
        for a in actions:
            args += ["--filter", "event=" + a]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        self.lock = threading.Lock()
        self.seen = {}  # (action, key) -> (time, docker id)
        self.th = threading.Thread(target=self._read, daemon=True)
        self.th.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            attrs = (e.get("Actor") or {}).get("Attributes") or {}
            key = (attrs.get("com.amazonaws.ecs.task-arn"), attrs.get("com.amazonaws.ecs.container-name"))
            if key[0] is None:
                key = attrs.get("name")
            with self.lock:
                self.seen.setdefault((e.get("status") or e.get("Action"), key),
                                     (e["timeNano"] / 1e9, e.get("id") or (e.get("Actor") or {}).get("ID")))

    def get(self, action, key):
        with self.lock:
            return self.seen.get((action, key))

    def times(self, action):
        with self.lock:
            return [v[0] for (a, _), v in self.seen.items() if a == action]

    def wait_seen(self, pred, what, timeout=15):
        """Waits until pred() holds (events the engine has already emitted are
        still on their way); False (with a warning) after timeout."""
        try:
            wait_for(pred, timeout, what)
            return True
        except TimeoutError as e:
            log("warning: %s" % e)
            return False

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def new_cluster(cp, prefix):
    name = "%s-%s" % (prefix, uuid.uuid4().hex[:8])
    cp.ecs.create_cluster(clusterName=name)
    return name


def register_td(cp, family, command):
    r = cp.ecs.register_task_definition(family=family, containerDefinitions=[{
        "name": "main", "image": IMAGE, "cpu": 10, "memory": 32, "essential": True, "command": command}])
    td = r["taskDefinition"]
    return "%s:%d" % (td["family"], td["revision"])


def cluster_containers(cluster, all_=True):
    return docker_ids("label=" + TEST_LABEL, "label=com.amazonaws.ecs.cluster=" + cluster, all_=all_)


def wait_cleanup(cluster, timeout=180):
    """Waits until the agent has removed every container of the cluster (task cleanup)."""
    try:
        wait_for(lambda: not cluster_containers(cluster), timeout, "task cleanup in " + cluster, interval=0.5)
        return True
    except TimeoutError as e:
        log("warning: %s (%d containers left)" % (e, len(cluster_containers(cluster))))
        return False


# --------------------------------------------------------------------------- phases
