"""Secrets never leak: registry credentials (ECS_ENGINE_AUTH_TYPE docker and
dockercfg, against the real private registry of tests/lib/registry.sh),
session credentials (AWS_SESSION_TOKEN) and IMDS role credentials (issued and
rotated by the fake IMDS) and task IAM role credentials (payload, rotation,
served by the credentials endpoint) are used at debug log level by a real task run, and
none of them appears in the log files, stdout or any introspection answer -
neither raw nor URL-, JSON-, or base64-encoded.  The checkpoint is 0600, the
log files 0600/0640, none world-readable.
"""
import base64
import json
import os
import re
import stat
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reliability"))

import harness  # noqa: E402
from conftest import SECRET, local_registry  # noqa: E402

ENV_MARKER = "envvalue-" + uuid.uuid4().hex  # a task environment value: never in introspection


def tmds_text(port, path):
    """The agent's task metadata / credentials endpoint's answer to GET path
    (an error answer's body too)."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
            return r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.read().decode("utf-8", "replace")


def container_env(cid):
    """A container's environment as Docker reports it: {name: value}."""
    out = subprocess.check_output(["docker", "inspect", cid], timeout=60)
    return dict(e.split("=", 1) for e in json.loads(out)[0]["Config"]["Env"])


def encodings(secret):
    """The forms a secret could take in a log line or a JSON answer."""
    forms = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret),
             json.dumps(secret)[1:-1], secret.replace("/", "\\/")}
    b = secret.encode()
    for enc in (base64.b64encode, base64.urlsafe_b64encode):
        e = enc(b).decode()
        forms.add(e.rstrip("="))
    return {f for f in forms if len(f) >= 6}


B64_TOKEN = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")


def decoded_blobs(text):
    """Every base64-looking token of text, decoded (X-Registry-Auth & co.)."""
    out = []
    for m in B64_TOKEN.finditer(text):
        t = m.group(0).rstrip("=")
        for dec in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                out.append(dec(t + "=" * (-len(t) % 4)).decode("utf-8", "replace"))
            except Exception:  # noqa: BLE001
                pass
    return out


def leaks(texts, secrets):
    """[(secret label, where, form)] for every secret found."""
    found = []
    for where, text in texts.items():
        blobs = decoded_blobs(text)
        for label, s in secrets.items():
            if not s:
                continue
            for form in encodings(s):
                if form in text:
                    found.append((label, where, form[:4] + "..."))
                    break
            else:
                if any(s in b for b in blobs):
                    found.append((label, where, "base64-encoded"))
    return found


def introspection_texts(rig, task_arns):
    port = rig.agent.introspection_port
    paths = ["/v1/metadata", "/v1/tasks", "/license", "/", "/v1/nothing"]
    paths += ["/v1/tasks?taskarn=" + urllib.parse.quote(a, safe="") for a in task_arns]
    out = {}
    for p in paths:
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, p), timeout=5) as r:
                out["introspection " + p] = r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            out["introspection " + p] = e.read().decode("utf-8", "replace")
    try:
        tasks = json.loads(out["introspection /v1/tasks"])["Tasks"]
        for t in tasks:
            for c in t.get("Containers") or []:
                if c.get("DockerId"):
                    p = "/v1/tasks?dockerid=" + c["DockerId"]
                    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, p), timeout=5) as r:
                        out["introspection " + p] = r.read().decode("utf-8", "replace")
    except (KeyError, ValueError):
        pass
    return out


def file_texts(rig):
    out = {"stdout": rig.agent.output()}
    for name in sorted(os.listdir(rig.agent.log_dir)):
        with open(os.path.join(rig.agent.log_dir, name), errors="replace") as f:
            out["log " + name] = f.read()
    return out


def check_modes(rig):
    bad = []
    ck = os.path.join(rig.agent.data_dir, "ecs_agent_data.json")
    assert os.path.exists(ck), "no checkpoint written"
    m = stat.S_IMODE(os.stat(ck).st_mode)
    if m & 0o077:
        bad.append("checkpoint %s mode %o (want 0600)" % (ck, m))
    logs = os.listdir(rig.agent.log_dir)
    assert logs, "no log file written"
    for name in logs:
        p = os.path.join(rig.agent.log_dir, name)
        m = stat.S_IMODE(os.stat(p).st_mode)
        if m & 0o137:
            bad.append("log file %s mode %o (want 0600 or 0640, never world-readable)" % (p, m))
    assert not bad, "\n".join(bad)


def run_one_task(rig, image):
    td = rig.cp.ecs.register_task_definition(
        family=rig.cluster + "-secret", containerDefinitions=[{
            "name": "main", "image": image, "cpu": 10, "memory": 16, "essential": True,
            "command": ["sleep", "3600"],
            "environment": [{"name": "DB_PASSWORD", "value": ENV_MARKER}]}])["taskDefinition"]
    arn = rig.cp.ecs.run_task(cluster=rig.cluster, taskDefinition="%s:%d" % (td["family"], td["revision"]))
    arn = arn["tasks"][0]["taskArn"]
    harness.wait_for(lambda: rig.cp_tasks()[arn]["lastStatus"] == "RUNNING", 120,
                     what="task RUNNING (pull with registry auth)\n" + rig.agent.output()[-3000:])
    return arn


def finish(rig, arn):
    rig.stop_task(arn)
    harness.wait_for(lambda: rig.cp_tasks()[arn]["lastStatus"] == "STOPPED", 60, what="task STOPPED")


def drop_pulled(image):
    subprocess.run(["docker", "rmi", "-f", image], capture_output=True, timeout=60)


def test_registry_auth_docker_and_session_token_never_leak():
    reg = local_registry()
    token = "FQoGZXIvYXdzE" + uuid.uuid4().hex + uuid.uuid4().hex
    server = "127.0.0.1:%s" % reg["port"]
    auth = {server: {"username": reg["user"], "password": reg["password"], "email": "ci@example.com"}}
    rig = harness.Rig(cp_args=["--session-token", token], agent_env={
        "AWS_SESSION_TOKEN": token, "ECS_ENGINE_AUTH_TYPE": "docker",
        "ECS_ENGINE_AUTH_DATA": json.dumps(auth), "ECS_LOGLEVEL": "debug"})
    drop_pulled(reg["image"])
    try:
        rig.start_agent()
        arn = run_one_task(rig, reg["image"])
        texts = introspection_texts(rig, [arn])
        finish(rig, arn)
        assert rig.agent.stop() == 0
        texts.update(file_texts(rig))
        secrets = {"AWS secret key": SECRET, "session token": token, "registry password": reg["password"],
                   "registry user:password": "%s:%s" % (reg["user"], reg["password"]),
                   "auth data": json.dumps(auth)}
        found = leaks(texts, secrets)
        intro = {k: v for k, v in texts.items() if k.startswith("introspection")}
        found += [("task environment value", k, "raw") for k, v in intro.items() if ENV_MARKER in v]
        assert not found, "secrets leaked: %s" % found
        check_modes(rig)
    finally:
        rig.close()
        drop_pulled(reg["image"])


def test_registry_auth_dockercfg_and_imds_role_credentials_never_leak():
    reg = local_registry()
    server = "127.0.0.1:%s" % reg["port"]
    b64 = base64.b64encode(("%s:%s" % (reg["user"], reg["password"])).encode()).decode()
    auth = {server: {"auth": b64, "email": "ci@example.com"}}
    rig = harness.Rig(cp_args=["--imds-cred-lifetime", "600"], agent_env={
        "ECS_ENGINE_AUTH_TYPE": "dockercfg", "ECS_ENGINE_AUTH_DATA": json.dumps(auth),
        "ECS_LOGLEVEL": "debug"})
    # no static keys: the agent must take the instance role from the fake IMDS
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        rig.agent.env.pop(k, None)
    drop_pulled(reg["image"])
    try:
        rig.start_agent()
        arn = run_one_task(rig, reg["image"])
        # a second set of role credentials: issued when the call returns
        rig.cp.admin("/_local/imds/rotate", {})
        texts = introspection_texts(rig, [arn])
        finish(rig, arn)
        assert rig.agent.stop() == 0
        texts.update(file_texts(rig))
        creds = rig.cp.admin("/_local/state")["imds"]["credentials"]
        assert creds, "the fake IMDS issued no credentials: the agent did not use the instance role"
        secrets = {"registry password": reg["password"], "dockercfg auth": b64,
                   "registry user:password": "%s:%s" % (reg["user"], reg["password"])}
        for i, c in enumerate(creds):
            secrets["role secret key %d" % i] = c.get("SecretAccessKey")
            secrets["role token %d" % i] = c.get("Token")
        found = leaks(texts, secrets)
        intro = {k: v for k, v in texts.items() if k.startswith("introspection")}
        found += [("task environment value", k, "raw") for k, v in intro.items() if ENV_MARKER in v]
        assert not found, "secrets leaked: %s" % found
        check_modes(rig)
    finally:
        rig.close()
        drop_pulled(reg["image"])


def test_task_role_credentials_never_leak(test_image):
    """Task IAM role credentials (in the payload, rotated by
    IAMRoleCredentialsMessage, served by the credentials endpoint) appear in
    that endpoint's answer only: never in stdout, the debug log, the
    checkpoint, introspection or the metadata endpoints' answers."""
    rig = harness.Rig(cp_args=["--role-credentials-lifetime", "6"],
                      agent_env={"ECS_ENABLE_TASK_IAM_ROLE": "true", "ECS_LOGLEVEL": "debug"})
    port = rig.agent.tmds_port

    def get(path):
        return tmds_text(port, path)

    try:
        rig.start_agent()
        td = rig.cp.ecs.register_task_definition(
            family=rig.cluster + "-role", taskRoleArn="arn:aws:iam::123456789012:role/app",
            executionRoleArn="arn:aws:iam::123456789012:role/exec",
            containerDefinitions=[{"name": "main", "image": test_image, "cpu": 10, "memory": 16,
                                   "essential": True, "command": ["sleep", "3600"]}])["taskDefinition"]
        arn = rig.cp.ecs.run_task(cluster=rig.cluster, taskDefinition="%s:%d" % (td["family"], td["revision"]))
        arn = arn["tasks"][0]["taskArn"]
        harness.wait_for(lambda: rig.cp_tasks()[arn]["lastStatus"] == "RUNNING", 120, what="role task RUNNING")
        cid = subprocess.run(["docker", "ps", "-q", "--no-trunc", "--filter", "label=com.amazonaws.ecs.task-arn=" + arn],
                             capture_output=True, text=True, timeout=60).stdout.split()[0]
        env = container_env(cid)
        rel = env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]
        eid = env["ECS_CONTAINER_METADATA_URI_V4"].rsplit("/", 1)[1]
        served = [json.loads(get(rel))]
        # a rotation (lifetime 6 s): a second set, served under the same id
        harness.wait_for(lambda: json.loads(get(rel))["AccessKeyId"] != served[0]["AccessKeyId"], 40,
                         what="rotated role credentials")
        served.append(json.loads(get(rel)))
        texts = introspection_texts(rig, [arn])
        for p in ("/v4/%s" % eid, "/v4/%s/task" % eid, "/v3/%s/task" % eid, "/v2/metadata/" + cid,
                  "/v4/%s/taskWithTags" % eid, "/v2/credentials/", "/v1/credentials?id=nope"):
            texts["metadata " + p] = get(p)
        ck = os.path.join(rig.agent.data_dir, "ecs_agent_data.json")
        with open(ck, errors="replace") as f:
            texts["checkpoint (running)"] = f.read()
        finish(rig, arn)
        assert rig.agent.stop() == 0
        texts.update(file_texts(rig))
        with open(ck, errors="replace") as f:
            texts["checkpoint (stopped)"] = f.read()
        secrets = {}
        for i, c in enumerate(served):
            secrets["role access key %d" % i] = c["AccessKeyId"]
            secrets["role secret key %d" % i] = c["SecretAccessKey"]
            secrets["role token %d" % i] = c["Token"]
        found = leaks(texts, secrets)
        assert not found, "secrets leaked: %s" % found
        check_modes(rig)
    finally:
        rig.close()


def test_ssm_and_secrets_manager_values_never_leak():
    """Values fetched from SSM Parameter Store and Secrets Manager (an
    environment SecureString, a plain and a JSON-key secret, a log-driver
    option) reach the containers only: never stdout, the debug log, the
    checkpoint, introspection or the task metadata endpoints' answers (v4
    LogOptions leave out the option a secret set)."""
    from test_secrets_env import SYSLOG_ENV, aws, container_id, logger_container, put_secrets, run_task
    env = dict(SYSLOG_ENV, ECS_LOGLEVEL="debug")
    rig = harness.Rig(agent_env=env)
    port = rig.agent.tmds_port

    def get(path):
        return tmds_text(port, path)

    try:
        rig.start_agent()
        v, param, plain, js = put_secrets(rig.cp, rig.cluster)
        v["syslog address"] = "udp://127.0.0.1:%d" % (20000 + uuid.uuid4().int % 20000)
        log_param = "/e2e/%s/syslog-address" % rig.cluster
        aws(rig.cp, "ssm", "put-parameter", "--name", log_param, "--type", "SecureString", "--value",
            v["syslog address"])
        arn = run_task(rig.cp, rig.cluster, rig.cluster + "-leak", rig.image, [
            {"name": "DB_PASSWORD", "valueFrom": param}, {"name": "PLAIN", "valueFrom": plain},
            {"name": "JSON_PASS", "valueFrom": js + ":pass::"}], "exec sleep 3600",
            extra=[logger_container(rig.image, log_param)])
        harness.wait_for(lambda: rig.cp_tasks()[arn]["lastStatus"] == "RUNNING", 120,
                         what="secrets task RUNNING\n" + rig.agent.output()[-3000:])
        texts = introspection_texts(rig, [arn])
        for name in ("main", "logger"):
            cid = container_id(rig.cluster, arn, name)
            cenv = container_env(cid)
            eid = cenv["ECS_CONTAINER_METADATA_URI_V4"].rsplit("/", 1)[1]
            for p in ("/v4/%s" % eid, "/v4/%s/task" % eid, "/v3/%s" % eid, "/v3/%s/task" % eid,
                      "/v4/%s/taskWithTags" % eid):
                texts["metadata %s %s" % (name, p)] = get(p)
        assert "syslog" in texts["metadata logger /v4/%s" % eid]  # LogDriver is answered
        ck = os.path.join(rig.agent.data_dir, "ecs_agent_data.json")
        with open(ck, errors="replace") as f:
            texts["checkpoint (running)"] = f.read()
        assert param in texts["checkpoint (running)"]  # the definitions are kept, not the values
        finish(rig, arn)
        assert rig.agent.stop() == 0
        texts.update(file_texts(rig))
        with open(ck, errors="replace") as f:
            texts["checkpoint (stopped)"] = f.read()
        found = leaks(texts, v)
        assert not found, "secret values leaked: %s" % found
        check_modes(rig)
    finally:
        rig.close()
