"""The agent's container image (`make release`), run as the seed's tl;dr runs it.

    docker run --name <unique> -d -v /var/run/docker.sock:/var/run/docker.sock \
        -v <tmp>/log:/log -v <tmp>/data:/data -p 127.0.0.1:<port>:51678 \
        --env-file <file> -e ECS_LOGFILE=/log/ecs-agent.log <image>

Network: the agent container stays on Docker's default bridge (so -p
publishes the introspection port exactly as in the tl;dr) and reaches the
local control plane on the bridge gateway address (docker0, e.g. 172.17.0.1):
the control plane listens there, not on 0.0.0.0, and hands out ACS URLs with
that address.  (With --network host the -p flag would be ignored and the
agent's port would collide with the host's.)

Set AGENT_IMAGE to test an image that is already built (skips make release).
"""
import glob
import json
import os
import re
import shutil
import subprocess
import tempfile
import urllib.request
import uuid

import pytest

from conftest import AKID, PY, REGION, ROOT, SECRET, TEST_LABEL, docker_cleanup, free_port, register_task_def, wait_for

IMAGE = os.environ.get("AGENT_IMAGE", "amazon/amazon-ecs-agent:make")
# the second name `make release` tags (upstream README's name for the image)
IMAGE_ALIAS = "amazon/ecs-container-agent:make"

pytestmark = pytest.mark.skipif(shutil.which("docker") is None or
                                subprocess.run(["docker", "info"], capture_output=True).returncode != 0,
                                reason="needs the Docker engine")


def bridge_gateway():
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "docker0"], capture_output=True, text=True).stdout
    m = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", out)
    if m:
        return m.group(1)
    out = subprocess.run(["docker", "network", "inspect", "bridge", "--format",
                          "{{range .IPAM.Config}}{{.Gateway}}{{end}}"], capture_output=True, text=True).stdout.strip()
    return out or None


@pytest.fixture(scope="module")
def image():
    if "AGENT_IMAGE" not in os.environ:
        r = subprocess.run(["make", "-s", "release"], cwd=ROOT, capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        print(r.stdout)
    subprocess.run(["docker", "image", "inspect", IMAGE], check=True, capture_output=True)
    return IMAGE


def test_image_is_minimal_and_configured(image):
    cfg = json.loads(subprocess.check_output(["docker", "image", "inspect", image]))[0]
    c = cfg["Config"]
    assert c["Entrypoint"] == ["/agent"]
    assert "51678/tcp" in c["ExposedPorts"]
    assert set(c["Volumes"]) == {"/data", "/log"}
    assert "ECS_DATADIR=/data/" in c["Env"]
    assert c["Healthcheck"]["Test"] == ["CMD", "/agent", "-healthcheck"]
    assert len(cfg["RootFS"]["Layers"]) == 1  # one imported layer, no base image
    # :latest and, for `make release`, the second name are the same image
    def image_id(ref):
        return subprocess.check_output(["docker", "image", "inspect", "-f", "{{.Id}}", ref]).strip()
    names = [image, image.rsplit(":", 1)[0] + ":latest"]
    if "AGENT_IMAGE" not in os.environ:
        names += [IMAGE_ALIAS, IMAGE_ALIAS.rsplit(":", 1)[0] + ":latest"]
    for ref in names[1:]:
        assert image_id(ref) == image_id(image), ref
    # no shell, no package manager: just the agent and what it needs
    r = subprocess.run(["docker", "run", "--rm", "--label", TEST_LABEL, "--entrypoint", "/bin/sh", image, "-c", "true"],
                       capture_output=True, text=True)
    assert r.returncode != 0
    r = subprocess.run(["docker", "run", "--rm", "--label", TEST_LABEL, image, "-version"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("Amazon ECS Agent:")
    size = int(cfg["Size"])
    print("image %s: %.1f MB" % (image, size / 1e6))
    if "AGENT_IMAGE" in os.environ:
        assert size < 64 * 1024 * 1024
    else:
        # the released image is the static binary, its CA bundle and a
        # minimal /etc: no shared library, no loader (a dynamic build with its
        # libraries is about 20 MB)
        assert size < 12 * 1024 * 1024


UNITS = {"B": 1, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3,
         "kB": 1000, "KB": 1000, "MB": 1000 ** 2, "GB": 1000 ** 3}


def container_mem_kib(name):
    """The container's memory use as Docker reports it (its cgroup, page cache
    of inactive files left out): works where the agent's host PID is not
    visible, e.g. when the tests run in a container (`make test-in-docker`)."""
    out = subprocess.run(["docker", "stats", "--no-stream", "--format", "{{.MemUsage}}", name],
                         capture_output=True, text=True).stdout.strip()
    m = re.match(r"([0-9.]+)\s*([A-Za-z]+)\s*/", out)
    if not m or m.group(2) not in UNITS:
        return None
    return float(m.group(1)) * UNITS[m.group(2)] / 1024


def test_image_runs_like_the_seed_tldr(image, tmp_path):
    gw = bridge_gateway()
    if not gw:
        pytest.skip("no docker0 bridge gateway address")
    test_image = subprocess.check_output([os.path.join(ROOT, "tests/lib/test-image.sh")], text=True).strip().splitlines()[-1]
    tmp = str(tmp_path)
    os.makedirs(os.path.join(tmp, "log"))
    os.makedirs(os.path.join(tmp, "data"))
    cluster = "img-" + uuid.uuid4().hex[:10]
    name = "ecs-agent-c-test-" + uuid.uuid4().hex[:10]
    port = free_port()

    cp_log = open(os.path.join(tmp, "controlplane.log"), "w")
    cp = subprocess.Popen([PY, "-m", "controlplane", "--listen", gw + ":0", "--imds-listen", gw + ":0",
                           "--region", REGION, "--access-key", AKID, "--secret-key", SECRET],
                          cwd=ROOT, stdout=subprocess.PIPE, stderr=cp_log, text=True)
    try:
        info = json.loads(cp.stdout.readline())
        import botocore.session
        ecs = botocore.session.get_session().create_client(
            "ecs", region_name=REGION, endpoint_url="http://" + info["listen"],
            aws_access_key_id=AKID, aws_secret_access_key=SECRET)
        ecs.create_cluster(clusterName=cluster)

        env_file = os.path.join(tmp, "ecs.config")
        with open(env_file, "w") as f:
            f.write("\n".join([
                "ECS_CLUSTER=" + cluster,
                "ECS_BACKEND_HOST=http://" + info["listen"],
                "AWS_DEFAULT_REGION=" + REGION,
                "AWS_ACCESS_KEY_ID=" + AKID,
                "AWS_SECRET_ACCESS_KEY=" + SECRET,
                "AWS_EC2_METADATA_SERVICE_ENDPOINT=http://" + info["imds"],
                "ECS_LOGLEVEL=debug",
                "ECS_AGENT_EXTRA_CONTAINER_LABEL=" + TEST_LABEL,
                "ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION=10s",
                "ECS_CONTAINER_STOP_TIMEOUT=2s",
            ]) + "\n")

        run = ["docker", "run", "--name", name, "-d", "--label", TEST_LABEL,
               "-v", "/var/run/docker.sock:/var/run/docker.sock",
               "-v", os.path.join(tmp, "log") + ":/log", "-v", os.path.join(tmp, "data") + ":/data",
               "-p", "127.0.0.1:%d:51678" % port,
               "--env-file", env_file, "-e", "ECS_LOGFILE=/log/ecs-agent.log", image]
        subprocess.run(run, check=True, capture_output=True, text=True)

        def logs():
            return subprocess.run(["docker", "logs", name], capture_output=True, text=True).stdout[-4000:]

        def wait(pred, timeout, what):
            try:
                return wait_for(pred, timeout, what=what)
            except AssertionError as e:
                raise AssertionError("%s\n--- agent output:\n%s" % (e, logs())) from None

        def registered():
            arns = ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]
            return arns[0] if arns else None

        ci_arn = wait(registered, 60, "registration")

        def introspect(path):
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
                return r.status, r.read().decode()

        # the introspection API through the published port
        meta = wait(lambda: json.loads(introspect("/v1/metadata")[1]), 30, "introspection")
        assert meta["Cluster"] == cluster
        wait(lambda: json.loads(introspect("/v1/metadata")[1])["ContainerInstanceArn"] == ci_arn, 30,
             "ContainerInstanceArn in /v1/metadata")
        assert meta["Version"].startswith("Amazon ECS Agent - v")

        def connected():
            d = ecs.describe_container_instances(cluster=cluster, containerInstances=[ci_arn])
            return d["containerInstances"][0].get("agentConnected")

        wait(connected, 60, "ACS connection")

        # the image's HEALTHCHECK command answers healthy (GET /v1/health)
        def healthcheck():
            r = subprocess.run(["docker", "exec", name, "/agent", "-healthcheck"], capture_output=True,
                               text=True, timeout=30)
            return r if r.returncode == 0 else None

        r = wait(healthcheck, 60, "/agent -healthcheck exits 0")
        assert json.loads(r.stdout)["Healthy"] is True

        # a task runs
        td = register_task_def(type("CP", (), {"ecs": ecs})(), "img-sleep", test_image)
        task_arn = ecs.run_task(cluster=cluster, taskDefinition=td)["tasks"][0]["taskArn"]

        def running():
            t = ecs.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"][0]
            return t if t.get("lastStatus") == "RUNNING" else None

        wait(running, 120, "task RUNNING")
        st, body = introspect("/v1/tasks?taskarn=" + task_arn)
        assert st == 200
        t = json.loads(body)
        assert t["Arn"] == task_arn and t["KnownStatus"] == "RUNNING"
        assert len(t["Containers"]) == 1 and len(t["Containers"][0]["DockerId"]) == 64
        docker_id = t["Containers"][0]["DockerId"]
        st, body = introspect("/v1/tasks?dockerid=" + docker_id[:12])
        assert st == 200 and json.loads(body)["Arn"] == task_arn
        tasks = json.loads(introspect("/v1/tasks")[1])["Tasks"]
        assert [x["Arn"] for x in tasks] == [task_arn]
        st, lic = introspect("/license")
        assert st == 200 and "Apache" in lic

        # the log file fills
        files = glob.glob(os.path.join(tmp, "log", "ecs-agent.log*"))
        assert files, os.listdir(os.path.join(tmp, "log"))
        assert sum(os.path.getsize(f) for f in files) > 1000
        text = "".join(open(f, errors="replace").read() for f in files)
        assert "module=introspection" in text
        assert SECRET not in text and SECRET not in logs()

        # idle footprint of the agent container (its cgroup, as Docker
        # counts it): once the start-up burst is returned to the kernel it
        # stays under 64 MiB
        mem = wait_for(lambda: (lambda r: r if r and r < 64 * 1024 else None)(container_mem_kib(name)), 30,
                       interval=0.5, what="agent container memory under 64 MiB")
        print("agent container memory (docker stats): %.0f KiB" % mem)
        if os.path.isdir(os.path.join(ROOT, "out")):
            with open(os.path.join(ROOT, "out", "image-rss.txt"), "w") as f:
                f.write("docker_stats_KiB=%.0f\n" % mem)
        assert mem < 64 * 1024

        # docker stop: SIGTERM, clean exit 0, checkpoint written
        subprocess.run(["docker", "stop", "-t", "30", name], check=True, capture_output=True)
        code = int(subprocess.check_output(["docker", "inspect", "-f", "{{.State.ExitCode}}", name]).strip())
        assert code == 0, logs()
        ckpt = os.path.join(tmp, "data", "ecs_agent_data.json")
        assert os.path.exists(ckpt), os.listdir(os.path.join(tmp, "data"))
        data = json.load(open(ckpt))
        assert data["Data"]["ContainerInstanceArn"] == ci_arn
        assert cluster in data["Data"]["Cluster"]
        assert task_arn in json.dumps(data["Data"]["TaskEngine"])
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        docker_cleanup(cluster)
        if cp.poll() is None:
            cp.terminate()
            try:
                cp.wait(10)
            except subprocess.TimeoutExpired:
                cp.kill()
                cp.wait()
        cp_log.close()
