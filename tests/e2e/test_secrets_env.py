"""Container secrets from SSM Parameter Store and Secrets Manager, end to end:
the control plane stores them (the real AWS CLI puts them), its payload carries
the task definition's `secrets`, the agent fetches them with the task's
execution-role credentials (AWS_ENDPOINT_URL_SSM / _SECRETS_MANAGER point at
the control plane) and injects them into the container's environment at
create.  A missing parameter and a missing secret stop the task with
upstream's reason, visible in `aws ecs describe-tasks`, and nothing is created
in Docker for it.  (tests/e2e/test_secrets.py checks that none of the values
reaches a log, the checkpoint or introspection.)
"""
import json
import os
import subprocess
import uuid

from conftest import AKID, REGION, SECRET, containers_for, wait_for, wait_task_status

EXEC_ROLE = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"


def aws(cp, *args):
    """The real AWS CLI against the control plane (ssm, secretsmanager, ecs)."""
    env = dict(os.environ, AWS_ACCESS_KEY_ID=AKID, AWS_SECRET_ACCESS_KEY=SECRET, AWS_DEFAULT_REGION=REGION,
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_PAGER="",
               AWS_MAX_ATTEMPTS="1")
    env.pop("AWS_SESSION_TOKEN", None)
    env.pop("AWS_PROFILE", None)
    p = subprocess.run(["/usr/bin/aws", "--endpoint-url", cp.url, "--region", REGION, "--output", "json"]
                       + list(args), env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, "aws %s failed: %s" % (" ".join(args), p.stderr)
    return json.loads(p.stdout) if p.stdout.strip() else {}


def put_secrets(cp, tag):
    """One SSM SecureString, one plain secret, one JSON secret; their values and ARNs."""
    v = {"ssm": "ssm-value-" + uuid.uuid4().hex, "plain": "plain-value-" + uuid.uuid4().hex,
         "json_pass": "json-pass-" + uuid.uuid4().hex}
    param = "/e2e/%s/db-password" % tag
    aws(cp, "ssm", "put-parameter", "--name", param, "--type", "SecureString", "--value", v["ssm"])
    plain = aws(cp, "secretsmanager", "create-secret", "--name", tag + "-plain", "--secret-string", v["plain"])["ARN"]
    doc = json.dumps({"user": "admin", "pass": v["json_pass"], "port": 5432})
    js = aws(cp, "secretsmanager", "create-secret", "--name", tag + "-json", "--secret-string", doc)["ARN"]
    return v, param, plain, js


def run_task(cp, cluster, family, image, secrets, command, extra=()):
    td = cp.ecs.register_task_definition(
        family=family, executionRoleArn=EXEC_ROLE,
        containerDefinitions=[{"name": "main", "image": image, "cpu": 10, "memory": 32, "essential": True,
                               "command": ["sh", "-c", command], "secrets": secrets,
                               "environment": [{"name": "KEEP", "value": "kept"}]}] + list(extra))["taskDefinition"]
    r = cp.ecs.run_task(cluster=cluster, taskDefinition="%s:%d" % (td["family"], td["revision"]))
    return r["tasks"][0]["taskArn"]


def container_id(cluster, arn, name):
    out = subprocess.check_output(["docker", "ps", "-aq", "--no-trunc", "--filter",
                                   "label=com.amazonaws.ecs.task-arn=" + arn, "--filter",
                                   "label=com.amazonaws.ecs.container-name=" + name], text=True, timeout=60)
    ids = out.split()
    assert len(ids) == 1, (cluster, name, ids)
    return ids[0]


def container_env(cluster, arn):
    cid = container_id(cluster, arn, "main")
    out = subprocess.check_output(["docker", "exec", cid, "env"], text=True, timeout=60)
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line), cid


def logger_container(image, param):
    """A second container whose syslog address is a log-driver secret."""
    return {"name": "logger", "image": image, "cpu": 10, "memory": 32, "essential": False,
            "command": ["sleep", "3600"],
            "logConfiguration": {"logDriver": "syslog", "options": {"tag": "e2e-secrets"},
                                 "secretOptions": [{"name": "syslog-address", "valueFrom": param}]}}


SYSLOG_ENV = {"ECS_AVAILABLE_LOGGING_DRIVERS": '["json-file","syslog","none"]'}


def test_ssm_and_secrets_manager_values_in_environment(make_agent, controlplane, cluster_name, test_image):
    cp = controlplane
    agent = make_agent(env=SYSLOG_ENV)
    agent.wait_connected()
    v, param, plain, js = put_secrets(cp, cluster_name)
    address = "udp://127.0.0.1:%d" % (20000 + uuid.uuid4().int % 20000)
    log_param = "/e2e/%s/syslog-address" % cluster_name
    aws(cp, "ssm", "put-parameter", "--name", log_param, "--type", "SecureString", "--value", address)
    arn = run_task(cp, cluster_name, cluster_name + "-env", test_image, [
        {"name": "DB_PASSWORD", "valueFrom": param},
        {"name": "PLAIN", "valueFrom": plain},
        {"name": "JSON_PASS", "valueFrom": js + ":pass::"},
        {"name": "JSON_PORT", "valueFrom": js + ":port:AWSCURRENT:"},
    ], 'echo "db=$DB_PASSWORD plain=$PLAIN json=$JSON_PASS port=$JSON_PORT"; exec sleep 3600',
        extra=[logger_container(test_image, log_param)])
    wait_task_status(cp, cluster_name, arn, "RUNNING", timeout=120)
    lc = json.loads(subprocess.check_output(["docker", "inspect", container_id(cluster_name, arn, "logger")],
                                            text=True, timeout=60))[0]["HostConfig"]["LogConfig"]
    assert lc["Type"] == "syslog"
    assert lc["Config"] == {"tag": "e2e-secrets", "syslog-address": address}
    env, cid = container_env(cluster_name, arn)
    assert env["DB_PASSWORD"] == v["ssm"]
    assert env["PLAIN"] == v["plain"]
    assert env["JSON_PASS"] == v["json_pass"]
    assert env["JSON_PORT"] == "5432"  # a JSON number, as Go prints it
    assert env["KEEP"] == "kept"
    want = "db=%s plain=%s json=%s port=5432" % (v["ssm"], v["plain"], v["json_pass"])
    wait_for(lambda: want in subprocess.run(["docker", "logs", cid], capture_output=True, text=True,
                                            timeout=60).stdout, 30, what="the task's output")
    cp.ecs.stop_task(cluster=cluster_name, task=arn)
    wait_task_status(cp, cluster_name, arn, "STOPPED", timeout=60)


def test_missing_parameter_and_missing_secret_stop_the_task(make_agent, controlplane, cluster_name, test_image):
    cp = controlplane
    agent = make_agent()
    agent.wait_connected()
    _, param, plain, _ = put_secrets(cp, cluster_name)
    missing_param = "/e2e/%s/nope" % cluster_name
    ssm_arn = run_task(cp, cluster_name, cluster_name + "-nossm", test_image,
                       [{"name": "OK", "valueFrom": param}, {"name": "GONE", "valueFrom": missing_param}],
                       "exec sleep 3600")
    missing = plain.rsplit(":", 1)[0] + ":" + cluster_name + "-missing"
    asm_arn = run_task(cp, cluster_name, cluster_name + "-noasm", test_image,
                       [{"name": "GONE", "valueFrom": missing}], "exec sleep 3600")
    for arn in (ssm_arn, asm_arn):
        wait_task_status(cp, cluster_name, arn, "STOPPED", timeout=90)
    got = {t["taskArn"]: t for t in aws(cp, "ecs", "describe-tasks", "--cluster", cluster_name,
                                        "--tasks", ssm_arn, asm_arn)["tasks"]}
    assert got[ssm_arn]["stoppedReason"] == (
        "Fetching secret data from SSM Parameter Store in %s: invalid parameters: %s" % (REGION, missing_param))
    want = ("ResourceNotFoundException: The task can't retrieve the secret with ARN '%s' from AWS Secrets "
            "Manager. Check whether the secret exists in the specified Region: ResourceNotFoundException: "
            % missing)
    assert got[asm_arn]["stoppedReason"].startswith(want), got[asm_arn]["stoppedReason"]
    for arn in (ssm_arn, asm_arn):
        # containers that never started have no reason of their own, and Docker never saw them
        for c in got[arn]["containers"]:
            assert c["lastStatus"] == "STOPPED"
            assert not c.get("reason"), c
        assert containers_for(cluster_name, arn) == []
