"""End to end: agent self-update over ACS (StageUpdateMessage /
PerformUpdateMessage) with the real agent binary, the local control plane
and a tarball served by a small HTTP server on 127.0.0.1.
"""
import functools
import hashlib
import http.server
import io
import json
import os
import tarfile
import threading
import uuid

import pytest

from conftest import containers_for, register_task_def, wait_for, wait_task_status


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):  # keep pytest output clean; record instead
        self.server.requests.append(self.path)


@pytest.fixture
def update_server(tmpdir_path):
    """Serves <tmp>/serve over HTTP on 127.0.0.1; .tarball is a real tar file,
    .sha256 its digest, .url its address, .requests the paths fetched."""
    root = os.path.join(tmpdir_path, "serve")
    os.makedirs(root)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        payload = os.urandom(256 * 1024)  # a few chunks: the download is streamed
        info = tarfile.TarInfo("amazon-ecs-agent-image.bin")
        info.size = len(payload)
        tf.addfile(info, io.BytesIO(payload))
    data = buf.getvalue()
    with open(os.path.join(root, "ecs-agent-v9.9.9.tar"), "wb") as f:
        f.write(data)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=root))
    srv.requests = []
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    srv.data = data
    srv.sha256 = hashlib.sha256(data).hexdigest()
    srv.url = "http://127.0.0.1:%d/ecs-agent-v9.9.9.tar" % srv.server_address[1]
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def download_dir(tmpdir_path):
    d = os.path.join(tmpdir_path, "updates")
    os.makedirs(d)
    return d


def send(cp, typ, message):
    r = cp.admin("/_local/acs/send", {"type": typ, "message": message})
    assert r["sent"] == 1, r
    return message.get("messageId")


def stage(cp, url, signature, mid=None):
    mid = mid or str(uuid.uuid4())
    return send(cp, "StageUpdateMessage", {"messageId": mid, "updateInfo": {"location": url, "signature": signature}})


def perform(cp, mid=None):
    mid = mid or str(uuid.uuid4())
    return send(cp, "PerformUpdateMessage", {"messageId": mid})


def reply_for(cp, mid, timeout=30):
    """The AckRequest / NackRequest the agent sent for messageId mid."""
    def find():
        evs = cp.admin("/_local/events")["events"]
        hits = [e for e in evs if e["kind"] in ("AckRequest", "NackRequest")
                and (e.get("message") or {}).get("messageId") == mid]
        return hits[0] if hits else None
    return wait_for(find, timeout, what="ack/nack for %s" % mid)


def stop_clean(a):
    rc = a.stop()
    out = a.output()
    assert rc == 0, out[-3000:]
    assert "Sanitizer" not in out and "runtime error:" not in out, out[-3000:]


def start(make_agent, env):
    a = make_agent(env=env)
    a.wait_registered()
    a.wait_connected()
    return a


def test_stage_then_perform_update_exits_42_with_checkpoint(make_agent, controlplane, cluster_name, test_image,
                                                            update_server, download_dir):
    a = start(make_agent, {"ECS_UPDATES_ENABLED": "true", "ECS_UPDATE_DOWNLOAD_DIR": download_dir})
    inst = a.instance_arn()
    # a running task must survive the update (and be in the checkpoint)
    td = register_task_def(controlplane, "keep", test_image)
    task = controlplane.ecs.run_task(cluster=cluster_name, taskDefinition=td)["tasks"][0]["taskArn"]
    wait_task_status(controlplane, cluster_name, task, "RUNNING")

    mid = stage(controlplane, update_server.url, update_server.sha256)
    ev = reply_for(controlplane, mid)
    assert ev["kind"] == "AckRequest", ev
    assert ev["message"].get("containerInstance") in (inst, None) or inst.endswith(ev["message"]["containerInstance"])
    assert update_server.requests == ["/ecs-agent-v9.9.9.tar"]

    # desired-image names the downloaded tarball, which is the served one
    with open(os.path.join(download_dir, "desired-image")) as f:
        name = f.read()
    assert name.endswith("\n") and "/" not in name.strip()
    tar_path = os.path.join(download_dir, name.strip())
    with open(tar_path, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == update_server.sha256
    assert a.alive()

    # the same update again is acknowledged without downloading again
    again = stage(controlplane, update_server.url, update_server.sha256)
    assert reply_for(controlplane, again)["kind"] == "AckRequest"
    assert len(update_server.requests) == 1

    ckpt = os.path.join(a.data_dir, "ecs_agent_data.json")
    mtime_before = os.stat(ckpt).st_mtime_ns
    pmid = perform(controlplane)
    ev = reply_for(controlplane, pmid)
    assert ev["kind"] == "AckRequest", ev
    rc = a.proc.wait(30)
    assert rc == 42, a.output()[-3000:]
    assert "Sanitizer" not in a.output() and "runtime error:" not in a.output(), a.output()[-3000:]

    # the checkpoint was saved on the way out and still knows the instance and the task
    assert "Checkpoint saved" in a.all_logs()
    assert os.stat(ckpt).st_mtime_ns >= mtime_before
    with open(ckpt) as f:
        saved = f.read()
    json.loads(saved)
    assert inst in saved and task in saved
    # the agent exiting does not stop the task's container
    states = [c[2] for c in containers_for(cluster_name, task)]
    assert states == ["running"], containers_for(cluster_name)
    # the staged update is left for the supervisor
    with open(os.path.join(download_dir, "desired-image")) as f:
        assert f.read() == name
    assert os.path.exists(tar_path)


def test_bad_checksum_is_nacked_and_nothing_staged(make_agent, controlplane, update_server, download_dir):
    a = start(make_agent, {"ECS_UPDATES_ENABLED": "true", "ECS_UPDATE_DOWNLOAD_DIR": download_dir})
    wrong = hashlib.sha256(b"something else").hexdigest()
    mid = stage(controlplane, update_server.url, wrong)
    ev = reply_for(controlplane, mid)
    assert ev["kind"] == "NackRequest", ev
    assert "Hashsum validation failed" in ev["message"].get("reason", ""), ev
    assert update_server.requests == ["/ecs-agent-v9.9.9.tar"]
    assert os.listdir(download_dir) == []  # partial download removed, no desired-image

    # nothing to perform
    pmid = perform(controlplane)
    ev = reply_for(controlplane, pmid)
    assert ev["kind"] == "NackRequest" and "update not downloaded" in ev["message"].get("reason", ""), ev
    assert a.alive()

    # the session goes on: a correct update afterwards is staged
    ok = stage(controlplane, update_server.url, update_server.sha256)
    assert reply_for(controlplane, ok)["kind"] == "AckRequest"
    assert os.path.exists(os.path.join(download_dir, "desired-image"))
    stop_clean(a)


@pytest.mark.parametrize("enabled", [None, "false"], ids=["default", "false"])
def test_updates_disabled_are_nacked(make_agent, controlplane, update_server, download_dir, enabled):
    env = {"ECS_UPDATE_DOWNLOAD_DIR": download_dir}
    if enabled is not None:
        env["ECS_UPDATES_ENABLED"] = enabled
    a = start(make_agent, env)
    mid = stage(controlplane, update_server.url, update_server.sha256)
    ev = reply_for(controlplane, mid)
    assert ev["kind"] == "NackRequest" and ev["message"].get("reason") == "Updates are disabled", ev
    pmid = perform(controlplane)
    ev = reply_for(controlplane, pmid)
    assert ev["kind"] == "NackRequest" and ev["message"].get("reason") == "Updates are disabled", ev
    assert update_server.requests == []
    assert os.listdir(download_dir) == []
    stop_clean(a)
