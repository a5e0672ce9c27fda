"""GET /metrics: the Prometheus text exposition of a running agent.

Each scrape is parsed twice: by Debian's python3-prometheus-client parser
and by the strict checker below (HELP and TYPE once per family, before its
samples; metric and label names valid; label values correctly escaped;
histogram buckets non-decreasing, ending with le="+Inf" equal to _count).
While a task is pulled from the private registry (with auth), runs and
stops, the counters move: Docker calls by operation, one pull with its
layer bytes, launch latency, state changes submitted, checkpoint writes
and their fsync latency, tasks and containers by status."""
import json
import os
import re
import subprocess
import tempfile
import urllib.request
import uuid

from prometheus_client.parser import text_string_to_metric_families

from conftest import TEST_LABEL, register_task_def, registry_info, wait_for, wait_task_status

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"')
SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


def strict_parse(text):
    """{family: {"type", "help", "samples": [(name, labels dict, value)]}}; asserts the format."""
    assert text.endswith("\n")
    fams, cur = {}, None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_ = line[7:].partition(" ")
            assert NAME.match(name) and name not in fams, line
            assert help_, line
            fams[name] = {"help": help_, "type": None, "samples": []}
            cur = name
            continue
        if line.startswith("# TYPE "):
            name, _, typ = line[7:].partition(" ")
            assert name == cur and fams[cur]["type"] is None, line
            assert typ in ("counter", "gauge", "histogram"), line
            fams[cur]["type"] = typ
            continue
        assert not line.startswith("#") and line, line
        m = SAMPLE.match(line)
        assert m, line
        name, labels, value = m.group(1), m.group(2), float(m.group(3))
        typ = fams[cur]["type"]
        if typ == "histogram":
            assert name in (cur + "_bucket", cur + "_sum", cur + "_count"), line
        else:
            assert name == cur, line
        if typ == "counter":
            assert value >= 0, line
        lab = {}
        if labels:
            body = labels[1:-1]
            pos = 0
            while pos < len(body):
                lm = LABEL.match(body, pos)
                assert lm, line
                assert lm.group(1) not in lab, line
                lab[lm.group(1)] = lm.group(2)
                pos = lm.end()
                if pos < len(body):
                    assert body[pos] == ",", line
                    pos += 1
        fams[cur]["samples"].append((name, lab, value))
    for name, f in fams.items():
        assert f["type"], name
        if f["type"] != "histogram":
            continue
        series = {}
        for n, lab, v in f["samples"]:
            key = tuple(sorted((k, x) for k, x in lab.items() if k != "le"))
            series.setdefault(key, {"buckets": [], "count": None, "sum": None})
            if n.endswith("_bucket"):
                series[key]["buckets"].append((lab["le"], v))
            elif n.endswith("_count"):
                series[key]["count"] = v
            else:
                series[key]["sum"] = v
        for key, s in series.items():
            les = [le for le, _ in s["buckets"]]
            assert les[-1] == "+Inf", (name, key)
            bounds = [float(le) for le in les[:-1]]
            assert bounds == sorted(bounds), (name, key)
            counts = [v for _, v in s["buckets"]]
            assert counts == sorted(counts), (name, key, counts)
            assert counts[-1] == s["count"], (name, key)
            assert s["sum"] is not None and s["sum"] >= 0, (name, key)
    return fams


def scrape(agent):
    url = "http://127.0.0.1:%d/metrics" % agent.introspection_port
    with urllib.request.urlopen(url, timeout=5) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    fams = strict_parse(text)
    parsed = {f.name: f for f in text_string_to_metric_families(text)}
    for name, f in fams.items():
        base = name[:-6] if f["type"] == "counter" and name.endswith("_total") else name
        assert base in parsed, name  # the client library names counters without _total
        assert len(parsed[base].samples) == len(f["samples"]), name
    return fams


def value(fams, family, sample=None, **labels):
    for n, lab, v in fams.get(family, {"samples": []})["samples"]:
        if n == (sample or family) and all(lab.get(k) == x for k, x in labels.items()):
            return v
    return 0.0


def unique_registry_image(reg, base_image):
    """A private-registry image whose top layer exists nowhere locally, so the pull downloads it."""
    d = tempfile.mkdtemp(prefix="ecs-metrics-img-")
    with open(os.path.join(d, "blob"), "wb") as f:
        f.write(os.urandom(256 * 1024))
    with open(os.path.join(d, "Dockerfile"), "w") as f:
        f.write("FROM %s\nCOPY blob /blob\n" % base_image)
    target = "127.0.0.1:%s/ecs-agent-c-test/metrics-%s:latest" % (reg["port"], uuid.uuid4().hex[:10])
    env = dict(os.environ, DOCKER_BUILDKIT="0", DOCKER_CONFIG=os.path.join(d, "docker-config"))
    try:
        subprocess.run(["docker", "build", "-q", "--label", TEST_LABEL, "-t", target, d], env=env, check=True,
                       capture_output=True, timeout=300)
        subprocess.run(["docker", "login", "-u", reg["user"], "--password-stdin", "127.0.0.1:" + reg["port"]],
                       input=reg["password"], text=True, env=env, check=True, capture_output=True, timeout=60)
        subprocess.run(["docker", "push", target], env=env, check=True, capture_output=True, timeout=300)
    finally:
        subprocess.run(["docker", "rmi", "-f", target], env=env, capture_output=True, timeout=120)
        subprocess.run(["rm", "-rf", d])
    return target


def test_metrics_move_as_a_task_runs(make_agent, test_image):
    reg = registry_info()
    image = unique_registry_image(reg, test_image)
    auth = {"127.0.0.1:" + reg["port"]: {"username": reg["user"], "password": reg["password"]}}
    agent = make_agent(env={"ECS_ENGINE_AUTH_TYPE": "docker", "ECS_ENGINE_AUTH_DATA": json.dumps(auth)})
    try:
        agent.wait_connected()
        before = wait_for(lambda: (lambda f: f if value(f, "ecs_agent_acs_connected") == 1 else None)(scrape(agent)),
                          30, what="ecs_agent_acs_connected 1")
        assert value(before, "ecs_agent_acs_connects_total") >= 1
        # telemetry is on by default: the TCS session's series are there and it connects
        wait_for(lambda: value(scrape(agent), "ecs_agent_tcs_connected") == 1, 60, what="ecs_agent_tcs_connected 1")
        assert value(scrape(agent), "ecs_agent_tcs_connects_total") >= 1
        assert value(before, "process_resident_memory_bytes") > 1 << 20
        assert value(before, "process_open_fds") > 3
        assert value(before, "ecs_agent_docker_api_calls_total", operation="ping", outcome="ok") >= 1

        td = register_task_def(agent.cp, "metrics", image)
        arn = agent.cp.ecs.run_task(cluster=agent.cluster, taskDefinition=td)["tasks"][0]["taskArn"]
        wait_task_status(agent.cp, agent.cluster, arn, "RUNNING")
        run = wait_for(lambda: (lambda f: f if value(f, "ecs_agent_tasks", status="RUNNING") == 1
                                and value(f, "ecs_agent_state_changes_queued") == 0 else None)(scrape(agent)),
                       30, what="one RUNNING task, queue drained")
        assert value(run, "ecs_agent_containers", status="RUNNING") == 1
        assert value(run, "ecs_agent_image_pulls_total", outcome="success") == 1
        assert value(run, "ecs_agent_image_pull_bytes_total") >= 256 * 1024 * 0.5  # compressed layer
        for op in ("pull", "create", "start"):
            assert value(run, "ecs_agent_docker_api_calls_total", operation=op, outcome="ok") >= 1, op
            assert value(run, "ecs_agent_docker_api_call_duration_seconds", "ecs_agent_docker_api_call_duration_seconds_count",
                         operation=op) >= 1, op
        assert value(run, "ecs_agent_task_launch_seconds", "ecs_agent_task_launch_seconds_count") == 1
        assert 0 < value(run, "ecs_agent_task_launch_seconds", "ecs_agent_task_launch_seconds_sum") < 120
        assert value(run, "ecs_agent_state_changes_submitted_total") >= 2  # container + task RUNNING
        writes = value(run, "ecs_agent_checkpoint_writes_total", outcome="success")
        assert writes >= 2
        assert value(run, "ecs_agent_checkpoint_fsync_seconds", "ecs_agent_checkpoint_fsync_seconds_count") >= 1

        agent.cp.ecs.stop_task(cluster=agent.cluster, task=arn)
        wait_task_status(agent.cp, agent.cluster, arn, "STOPPED")
        stop = wait_for(lambda: (lambda f: f if value(f, "ecs_agent_tasks", status="STOPPED") == 1
                                 and value(f, "ecs_agent_state_changes_queued") == 0 else None)(scrape(agent)),
                        30, what="one STOPPED task")
        assert value(stop, "ecs_agent_tasks", status="RUNNING") == 0
        assert value(stop, "ecs_agent_containers", status="STOPPED") == 1
        assert value(stop, "ecs_agent_docker_api_calls_total", operation="stop", outcome="ok") >= 1
        assert value(stop, "ecs_agent_state_changes_submitted_total") >= \
            value(run, "ecs_agent_state_changes_submitted_total") + 2
        assert value(stop, "ecs_agent_checkpoint_writes_total", outcome="success") > writes
        assert value(stop, "ecs_agent_task_launch_seconds", "ecs_agent_task_launch_seconds_count") == 1
    finally:
        subprocess.run(["docker", "rmi", "-f", image], capture_output=True, timeout=120)
