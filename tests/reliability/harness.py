"""Shared machinery of the reliability drivers (crash, faults, soak, secrets):
a rig (local control plane + real agent binary + optional Docker proxy),
task churn, and the invariant checks that must hold after any disturbance.

Importable both from pytest (tests/e2e/test_crash.py & co.) and from the
standalone drivers in this directory.  It reuses the e2e fixtures' classes
(tests/e2e/conftest.py: ControlPlane, Agent, docker_cleanup, ...).

Invariants (check_consistency / settle):
  I1 every Docker container labelled for the rig's cluster is known to the
     agent (introspection /v1/tasks DockerId);
  I2 at most one Docker container per (task ARN, container name);
  I3 every task the control plane placed is RUNNING, or reported STOPPED
     (lastStatus == desiredStatus once settled; short tasks have exited);
  I4 the state changes the control plane received are in order per task and
     per container (never RUNNING after STOPPED, ...);
  I5 nothing ran twice: at most one container ever started per (task ARN,
     container name) (from `docker events`);
  I6 the agent keeps running after a restart (no exit 5: checkpoint loads);
  I7 exactly one ACTIVE container instance (a restart re-uses the ARN).
"""
import collections
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
E2E = os.path.join(ROOT, "tests", "e2e")
for p in (E2E, HERE):
    if p not in sys.path:
        sys.path.insert(0, p)

import conftest  # noqa: E402  (tests/e2e/conftest.py)
from conftest import ControlPlane, Agent, docker_cleanup, wait_for, TEST_LABEL  # noqa: E402,F401
from dockerproxy import DockerProxy  # noqa: E402

ORDER = {"NONE": -1, "PENDING": 0, "ACTIVATING": 1, "RUNNING": 2, "DEACTIVATING": 3, "STOPPING": 4,
         "DEPROVISIONING": 5, "STOPPED": 6}
L_TASK = "com.amazonaws.ecs.task-arn"
L_CONT = "com.amazonaws.ecs.container-name"
L_CLUSTER = "com.amazonaws.ecs.cluster"


def log(msg):
    sys.stderr.write("%s %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def test_image():
    img = os.environ.get("TEST_IMAGE")
    if not img:
        img = subprocess.check_output([os.path.join(ROOT, "tests/lib/test-image.sh")],
                                      text=True).strip().splitlines()[-1]
    return img


def parse_secs(d):
    """'10s', '1m', '500ms', '3h' -> seconds (the forms the tests use)."""
    d = d.strip()
    for suf, mult in (("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)):
        if d.endswith(suf) and d[:-len(suf)].replace(".", "", 1).isdigit():
            return float(d[:-len(suf)]) * mult
    return 3 * 3600.0


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


# ---------------------------------------------------------------- Docker views
def docker_containers(cluster):
    """[{id, name, task, cname, status, running, labels}] for the cluster."""
    ids = subprocess.run(["docker", "ps", "-aq", "--no-trunc", "--filter", "label=%s=%s" % (L_CLUSTER, cluster)],
                         capture_output=True, text=True, timeout=60).stdout.split()
    if not ids:
        return []
    r = subprocess.run(["docker", "inspect"] + ids, capture_output=True, text=True, timeout=60)
    try:
        arr = json.loads(r.stdout or "[]")
    except ValueError:
        arr = []
    out = []
    for c in arr:
        lab = (c.get("Config") or {}).get("Labels") or {}
        st = c.get("State") or {}
        out.append({"id": c["Id"], "name": c.get("Name", "").lstrip("/"), "task": lab.get(L_TASK),
                    "cname": lab.get(L_CONT), "status": st.get("Status"), "running": bool(st.get("Running")),
                    "exit": st.get("ExitCode"), "labels": lab})
    return out


class DockerEventLog:
    """`docker events` for one cluster's containers, in a background thread:
    counts, per (task, container name), the distinct container ids created
    and started (I5)."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.created = collections.defaultdict(set)
        self.started = collections.defaultdict(set)
        self.events = collections.Counter()
        self.proc = subprocess.Popen(
            ["docker", "events", "--filter", "type=container", "--filter", "label=%s=%s" % (L_CLUSTER, cluster),
             "--format", "{{json .}}"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            act = e.get("Action") or e.get("status") or ""
            attrs = (e.get("Actor") or {}).get("Attributes") or {}
            key = (attrs.get(L_TASK), attrs.get(L_CONT))
            self.events[act.split(":")[0]] += 1
            if act == "create":
                self.created[key].add(e.get("id"))
            elif act == "start":
                self.started[key].add(e.get("id"))

    def run_twice(self):
        return {k: sorted(v) for k, v in self.started.items() if len(v) > 1}

    def created_twice(self):
        return {k: sorted(v) for k, v in self.created.items() if len(v) > 1}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


# ---------------------------------------------------------------- the rig
class Rig:
    """Control plane + agent (+ Docker proxy) in a temp dir, outside pytest fixtures."""

    def __init__(self, workdir=None, cluster=None, agent_env=None, docker_proxy=False, cp_args=(),
                 keep=False):
        self.own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="ecs-rel-")
        self.keep = keep
        self.cluster = cluster or "rel-" + uuid.uuid4().hex[:10]
        self.image = test_image()
        self.cp = ControlPlane(self.dir, list(cp_args))
        if "--session-token" in cp_args:  # our own API calls need the token too
            import botocore.session
            tok = list(cp_args)[list(cp_args).index("--session-token") + 1]
            self.cp._client = botocore.session.get_session().create_client(
                "ecs", region_name=conftest.REGION, endpoint_url=self.cp.url, aws_access_key_id=conftest.AKID,
                aws_secret_access_key=conftest.SECRET, aws_session_token=tok)
        self.proxy = None
        env = dict(agent_env or {})
        if docker_proxy:
            self.proxy = DockerProxy(os.path.join(self.dir, "docker.sock"), log=log).start()
            env["DOCKER_HOST"] = self.proxy.docker_host
        self.agent = Agent(self.cp, self.dir, self.cluster, env)
        self.cleanup_wait_s = parse_secs(self.agent.env.get("ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", "3h"))
        self.events = DockerEventLog(self.cluster)
        self.families = {}
        self.task_kind = {}   # task arn -> kind ("long", "short", "pair")
        self.task_born = {}   # task arn -> time placed
        self.short_secs = {}  # task arn -> seconds the essential container lives
        self.event_seq_seen = 0

    # ------------------------------------------------------------ lifecycle
    def start_agent(self, wait=True, timeout=90):
        if not getattr(self, "_cluster_made", False):
            self.cp.ecs.create_cluster(clusterName=self.cluster)
            self._cluster_made = True
        self.agent.start()
        if wait:
            self.wait_connected(timeout)
        return self.agent

    def wait_connected(self, timeout=90):
        def ok():
            if not self.agent.alive():
                raise AgentDied(self.agent.proc.returncode, self.agent.output()[-4000:])
            arns = self.active_instances()
            if len(arns) != 1:
                return False
            d = self.cp.ecs.describe_container_instances(cluster=self.cluster, containerInstances=arns)
            return d["containerInstances"][0].get("agentConnected")
        deadline = time.time() + timeout
        while True:
            try:
                if ok():
                    return True
            except AgentDied:
                raise
            except Exception:  # noqa: BLE001
                pass
            if time.time() > deadline:
                raise AssertionError("agent not connected after %ss\n%s" % (timeout, self.agent.output()[-3000:]))
            time.sleep(0.2)  # poll interval of this wait

    def active_instances(self):
        arns = self.cp.ecs.list_container_instances(cluster=self.cluster)["containerInstanceArns"]
        if not arns:
            return []
        d = self.cp.ecs.describe_container_instances(cluster=self.cluster, containerInstances=arns)
        return [ci["containerInstanceArn"] for ci in d["containerInstances"] if ci.get("status") == "ACTIVE"]

    def acs_roundtrip(self, timeout=60):
        """Waits until the agent answers a HeartbeatMessage sent now over ACS.
        The agent handles the frames of one connection in arrival order, so
        every frame sent before the answered one has been handled (or its
        connection is gone).  A probe is sent again, with a new id, while no
        websocket is open or when no answer came within 5 s (the agent may be
        reconnecting).  True once answered, False if the agent exited."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not self.agent.alive():
                return False
            mid = "probe-" + uuid.uuid4().hex
            sent = self.cp.admin("/_local/acs/send", {"type": "HeartbeatMessage",
                                                      "message": {"healthy": True, "messageId": mid}})["sent"]
            answer_by = min(deadline, time.time() + 5) if sent else time.time() + 0.2
            while time.time() < answer_by:
                if not self.agent.alive():
                    return False
                acks = self.cp.admin("/_local/events?kind=HeartbeatAckRequest")["events"]
                if any((e.get("message") or {}).get("messageId") == mid for e in acks):
                    return True
                time.sleep(0.1)  # poll interval of this wait
        raise AssertionError("no ACS heartbeat answered within %ss\n%s" % (timeout, self.agent.output()[-3000:]))

    def checkpoint(self):
        """The agent's checkpoint (ecs_agent_data.json, written atomically), or None."""
        try:
            with open(os.path.join(self.agent.data_dir, "ecs_agent_data.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def checkpoint_empty(self):
        """True once the saved checkpoint holds no task and no queued state change."""
        d = (self.checkpoint() or {}).get("Data") or {}
        tasks = (d.get("TaskEngine") or {}).get("Tasks") or []
        queue = (d.get("StateChanges") or {}).get("Queue")
        return not tasks and queue == []

    def kill9(self):
        p = self.agent.proc
        if p is not None and p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
        rc = p.wait(30) if p is not None else None
        self.agent.out.close()
        return rc

    def close(self):
        try:
            if self.agent.alive():
                self.agent.stop()
        finally:
            self.events.stop()
            self.cp.stop()
            if self.proxy:
                self.proxy.stop()
            docker_cleanup(self.cluster)
            if self.own_dir and not self.keep:
                import shutil
                shutil.rmtree(self.dir, ignore_errors=True)

    # ------------------------------------------------------------ tasks
    def register_families(self):
        img = self.image
        defs = {
            "long": [{"name": "main", "image": img, "cpu": 10, "memory": 16, "essential": True,
                      "command": ["sleep", "3600"]}],
            # the essential container's lifetime comes from an env override per task
            "short": [{"name": "main", "image": img, "cpu": 10, "memory": 16, "essential": True,
                       "command": ["sh", "-c", "sleep ${LIFE:-1}; exit 3"]}],
            "pair": [{"name": "main", "image": img, "cpu": 10, "memory": 16, "essential": True,
                      "command": ["sh", "-c", "sleep ${LIFE:-1}; exit 0"]},
                     {"name": "side", "image": img, "cpu": 10, "memory": 16, "essential": False,
                      "command": ["sleep", "3600"]}],
        }
        for kind, cds in defs.items():
            fam = "%s-%s" % (self.cluster, kind)
            r = self.cp.ecs.register_task_definition(family=fam, containerDefinitions=cds)
            td = r["taskDefinition"]
            self.families[kind] = "%s:%d" % (td["family"], td["revision"])

    def run_task(self, kind, life=None):
        kw = {}
        if kind in ("short", "pair"):
            life = life if life is not None else 1
            kw["overrides"] = {"containerOverrides": [{"name": "main", "environment": [
                {"name": "LIFE", "value": str(life)}]}]}
        r = self.cp.ecs.run_task(cluster=self.cluster, taskDefinition=self.families[kind], count=1, **kw)
        if not r["tasks"]:
            raise RuntimeError("RunTask placed nothing: %s" % r.get("failures"))
        arn = r["tasks"][0]["taskArn"]
        self.task_kind[arn] = kind
        self.task_born[arn] = time.time()
        if life is not None:
            self.short_secs[arn] = life
        return arn

    def stop_task(self, arn, reason="reliability churn"):
        self.cp.ecs.stop_task(cluster=self.cluster, task=arn, reason=reason)

    def cp_tasks(self):
        st = self.cp.admin("/_local/state")
        return {t["taskArn"]: t for t in st["tasks"] if t.get("clusterArn", "").endswith("/" + self.cluster)}

    def cp_events(self):
        return self.cp.admin("/_local/events")["events"]

    def desired_running(self):
        return [a for a, t in self.cp_tasks().items() if t["desiredStatus"] == "RUNNING"]

    # ------------------------------------------------------------ invariants
    def task_settled(self, t, now, grace=8.0):
        """None if the task is where it must be, else why not."""
        arn = t["taskArn"]
        kind = self.task_kind.get(arn, "long")
        if t["desiredStatus"] == "STOPPED":
            return None if t["lastStatus"] == "STOPPED" else "desired STOPPED, last %s" % t["lastStatus"]
        if kind == "long":
            return None if t["lastStatus"] == "RUNNING" else "long task last %s" % t["lastStatus"]
        # short / pair: must have exited and been reported once its life is over
        if now - self.task_born.get(arn, now) > self.short_secs.get(arn, 1) + grace:
            return "short task (life %ss, placed %.0fs ago) last %s" % (
                self.short_secs.get(arn, 1), now - self.task_born.get(arn, now), t["lastStatus"])
        return None

    def check_consistency(self):
        """One pass over I1-I5, I7.  Returns a list of problems (strings)."""
        problems = []
        d1 = {c["id"]: c for c in docker_containers(self.cluster)}
        try:
            intro = self.agent.introspect("/v1/tasks")
        except Exception as e:  # noqa: BLE001
            return ["introspection unavailable: %r" % e]
        d2 = {c["id"]: c for c in docker_containers(self.cluster)}
        known = set()
        agent_tasks = {}
        for t in intro.get("Tasks") or []:
            agent_tasks[t.get("Arn")] = t
            for c in t.get("Containers") or []:
                if c.get("DockerId"):
                    known.add(c["DockerId"])

        def is_known(cid):
            return any(k == cid or (len(k) >= 12 and cid.startswith(k)) for k in known)
        for cid, c in d1.items():
            if cid in d2 and not is_known(cid):
                problems.append("I1 orphan container %s (%s task=%s name=%s) unknown to the agent" % (
                    cid[:12], c["status"], c["task"], c["cname"]))
        groups = collections.defaultdict(list)
        for c in d2.values():
            groups[(c["task"], c["cname"])].append(c["id"][:12])
        for k, v in groups.items():
            if len(v) > 1:
                problems.append("I2 duplicate containers for %s: %s" % (k, v))
        # I3 + zombie check
        now = time.time()
        tasks = self.cp_tasks()
        for arn, t in tasks.items():
            why = self.task_settled(t, now)
            if why:
                problems.append("I3 task %s: %s" % (arn.rsplit("/", 1)[-1], why))
            if t["lastStatus"] == "STOPPED":
                for c in d2.values():
                    if c["task"] == arn and c["running"]:
                        problems.append("I3 task %s reported STOPPED but container %s still running" % (
                            arn.rsplit("/", 1)[-1], c["cname"]))
            if t["lastStatus"] == "RUNNING" and t["desiredStatus"] == "RUNNING":
                run = [c for c in d2.values() if c["task"] == arn and c["cname"] == "main" and c["running"]]
                if self.task_kind.get(arn) == "long" and not run:
                    problems.append("I3 task %s RUNNING at the control plane, no running container" %
                                    arn.rsplit("/", 1)[-1])
        problems += self.check_event_order()
        for k, v in self.events.run_twice().items():
            problems.append("I5 ran twice: task %s container %s: %s" % (k[0], k[1], [x[:12] for x in v]))
        inst = self.active_instances()
        if len(inst) != 1:
            problems.append("I7 %d ACTIVE container instances: %s" % (len(inst), inst))
        return problems

    def check_event_order(self):
        """I4: per task and per container, reported statuses never go back."""
        problems = []
        last_task = {}
        last_cont = {}
        for e in self.cp_events():
            kind = e.get("kind")
            req = e.get("request") or {}
            if kind not in ("SubmitTaskStateChange", "SubmitContainerStateChange"):
                continue
            task = req.get("task")
            if task and "/" + self.cluster + "/" not in task and not task.endswith(self.cluster):
                pass  # other clusters share no control plane with us; keep all
            conts = []
            if kind == "SubmitTaskStateChange":
                st = req.get("status")
                if st:
                    prev = last_task.get(task)
                    if prev is not None and ORDER.get(st, 0) < ORDER.get(prev, 0):
                        problems.append("I4 task %s: %s reported after %s (event %s)" % (
                            str(task).rsplit("/", 1)[-1], st, prev, e["seq"]))
                    last_task[task] = st if prev is None or ORDER.get(st, 0) >= ORDER.get(prev, 0) else prev
                conts = req.get("containers") or []
            else:
                conts = [req]
            for c in conts:
                st = c.get("status")
                key = (task, c.get("containerName"))
                if not st:
                    continue
                prev = last_cont.get(key)
                if prev is not None and ORDER.get(st, 0) < ORDER.get(prev, 0):
                    problems.append("I4 container %s/%s: %s reported after %s (event %s)" % (
                        str(task).rsplit("/", 1)[-1], key[1], st, prev, e["seq"]))
                else:
                    last_cont[key] = st
        return problems

    def settle(self, timeout=90, quiet=1.0):
        """Wait until check_consistency() is clean (and stays clean for `quiet`
        seconds).  Returns [] or the last problems seen."""
        deadline = time.time() + timeout
        problems = ["not checked"]
        clean_since = None
        while time.time() < deadline:
            if not self.agent.alive():
                return ["I6 agent exited with %s:\n%s" % (self.agent.proc.returncode, self.agent.output()[-3000:])]
            try:
                problems = self.check_consistency()
            except Exception as e:  # noqa: BLE001
                problems = ["check failed: %r" % e]
            if not problems:
                clean_since = clean_since or time.time()
                if time.time() - clean_since >= quiet:
                    return []
            else:
                clean_since = None
            time.sleep(0.5)  # poll interval of this wait
        return problems


class AgentDied(Exception):
    def __init__(self, rc, output):
        super().__init__("agent exited with %s" % rc)
        self.rc = rc
        self.output = output


class Churn:
    """Seeded random task churn against a rig: run long/short/pair tasks,
    stop random ones, keep at most max_running desired-running."""

    def __init__(self, rig, rng, max_running=6):
        self.rig = rig
        self.rng = rng
        self.max_running = max_running
        self.running = []  # arns we believe desired RUNNING (long ones, which we stop)
        self.ops = collections.Counter()

    def step(self):
        r = self.rng.random()
        rig = self.rig
        live = [a for a in self.running]
        if (r < 0.35 or len(live) >= self.max_running) and live:
            arn = self.rng.choice(live)
            self.running.remove(arn)
            rig.stop_task(arn)
            self.ops["stop"] += 1
            return "stop " + arn.rsplit("/", 1)[-1]
        if r < 0.65:
            arn = rig.run_task("long")
            self.running.append(arn)
            self.ops["run_long"] += 1
            return "run long " + arn.rsplit("/", 1)[-1]
        if r < 0.9:
            life = self.rng.choice([0, 1, 2])
            arn = rig.run_task("short", life)
            self.ops["run_short"] += 1
            return "run short(%d) %s" % (life, arn.rsplit("/", 1)[-1])
        life = self.rng.choice([1, 2])
        arn = rig.run_task("pair", life)
        self.ops["run_pair"] += 1
        return "run pair(%d) %s" % (life, arn.rsplit("/", 1)[-1])


def seeded(seed):
    return random.Random(seed)
