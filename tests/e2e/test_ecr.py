"""Registry credentials from AWS, end to end (issue 17): the private registry of
tests/lib/registry.sh served as "ECR" by the control plane (its AWS htpasswd
user's password is the token GetAuthorizationToken hands out), and the same
registry's own user kept as a Secrets Manager secret (repositoryCredentials).

- an image in ECR is pulled with a token fetched with the execution role, and
  with the agent's own credentials when the task has no execution role;
- a denied execution role stops the task with upstream's reason
  (CannotPullECRContainerError: AccessDeniedException: ...);
- repositoryCredentials pull from the private registry; a malformed secret
  stops the task, before anything is created, with upstream's reason;
- neither the token, the registry passwords nor the X-Registry-Auth built from
  them reaches the agent's log, stdout or introspection.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reliability"))

import harness  # noqa: E402
from conftest import AKID, REGION, SECRET, ecr_args, registry_info  # noqa: E402
from test_secrets import drop_pulled, file_texts, introspection_texts, leaks  # noqa: E402

EXEC_ROLE = "arn:aws:iam::123456789012:role/ecr-exec"
CAPS = ["com.amazonaws.ecs.capability.ecr-auth", "ecs.capability.execution-role-ecr-pull",
        "ecs.capability.ecr-endpoint", "ecs.capability.private-registry-authentication.secretsmanager"]


def secretsmanager(cp):
    import botocore.session
    return botocore.session.get_session().create_client(
        "secretsmanager", region_name=REGION, endpoint_url=cp.url, aws_access_key_id=AKID,
        aws_secret_access_key=SECRET)


def run(rig, family, image, exec_role=True, **container):
    cd = {"name": "main", "image": image, "cpu": 10, "memory": 16, "essential": True,
          "command": ["sleep", "3600"]}
    cd.update(container)
    kw = {"executionRoleArn": EXEC_ROLE} if exec_role else {}
    td = rig.cp.ecs.register_task_definition(family=rig.cluster + "-" + family, containerDefinitions=[cd],
                                             **kw)["taskDefinition"]
    r = rig.cp.ecs.run_task(cluster=rig.cluster, taskDefinition="%s:%d" % (td["family"], td["revision"]))
    assert r["tasks"], r
    return r["tasks"][0]["taskArn"]


def wait_status(rig, arn, status, what):
    harness.wait_for(lambda: rig.cp_tasks()[arn]["lastStatus"] == status, 120,
                     what="%s: task %s\n%s" % (what, status, rig.agent.output()[-3000:]))
    return rig.cp_tasks()[arn]


def agent_log(rig):
    return "\n".join(v for k, v in file_texts(rig).items())


def task_containers(arn):
    out = subprocess.run(["docker", "ps", "-aq", "--filter", "label=com.amazonaws.ecs.task-arn=" + arn],
                         capture_output=True, text=True, timeout=60).stdout.split()
    return out


def check_no_leak(rig, arns, secrets):
    texts = introspection_texts(rig, arns)
    for a in arns:
        rig.stop_task(a)
    for a in arns:
        wait_status(rig, a, "STOPPED", "stop")
    assert rig.agent.stop() == 0
    texts.update(file_texts(rig))
    found = leaks(texts, secrets)
    assert not found, "secrets leaked: %s" % found


def test_ecr_pull_with_execution_role_and_instance_credentials():
    reg = registry_info()
    token = "AWS:" + reg["ecr_password"]
    secrets = {"ECR password": reg["ecr_password"], "ECR token": token, "registry password": reg["password"]}
    # one agent per case: an agent does not pull an image again moments after a pull
    for family, exec_role in (("ecr-exec", True), ("ecr-inst", False)):
        rig = harness.Rig(cp_args=ecr_args(reg), agent_env={"ECS_LOGLEVEL": "debug"})
        drop_pulled(reg["image"])
        try:
            rig.start_agent()
            inst = rig.cp.ecs.describe_container_instances(
                cluster=rig.cluster, containerInstances=rig.active_instances())["containerInstances"][0]
            names = {a["name"] for a in inst["attributes"]}
            assert set(CAPS) <= names, sorted(names)
            # with an execution role it signs GetAuthorizationToken, else the agent's own
            # credentials (the static keys: the control plane's user) do
            arn = run(rig, family, reg["image"], exec_role=exec_role)
            wait_status(rig, arn, "RUNNING", "ECR pull (%s)" % family)
            log = agent_log(rig)
            assert "fetching registry credentials for %s (ECR)" % reg["image"] in log, log[-3000:]
            assert subprocess.run(["docker", "image", "inspect", reg["image"]], capture_output=True,
                                  timeout=60).returncode == 0, "the image was not pulled"
            check_no_leak(rig, [arn], secrets)
        finally:
            rig.close()
            drop_pulled(reg["image"])


def test_ecr_denied_execution_role_stops_the_task():
    reg = registry_info()
    rig = harness.Rig(cp_args=ecr_args(reg))
    drop_pulled(reg["image"])
    try:
        rig.start_agent()
        rig.cp.admin("/_local/iam/deny", {"principal": EXEC_ROLE, "services": ["ecr"]})
        arn = run(rig, "ecr-denied", reg["image"])
        t = wait_status(rig, arn, "STOPPED", "denied execution role")
        reason = t["containers"][0].get("reason") or ""
        assert reason.startswith("CannotPullECRContainerError: AccessDeniedException: User: "), t
        assert "ecr:GetAuthorizationToken" in reason, reason
        assert t.get("stopCode") == "TaskFailedToStart", t
        assert reason in (t.get("stoppedReason") or ""), t
        assert task_containers(arn) == [], "a container was created without its image"
        assert t["containers"][0].get("exitCode") is None, t
    finally:
        rig.close()
        drop_pulled(reg["image"])


def test_repository_credentials_from_secrets_manager():
    reg = registry_info()
    rig = harness.Rig(agent_env={"ECS_LOGLEVEL": "debug"})
    drop_pulled(reg["image"])
    try:
        rig.start_agent()
        sm = secretsmanager(rig.cp)
        good = sm.create_secret(Name=rig.cluster + "/registry", SecretString=json.dumps(
            {"Username": reg["user"], "password": reg["password"]}))["ARN"]
        bad = sm.create_secret(Name=rig.cluster + "/bad", SecretString=json.dumps({"username": reg["user"]}))["ARN"]
        a1 = run(rig, "asm", reg["image"], repositoryCredentials={"credentialsParameter": good})
        wait_status(rig, a1, "RUNNING", "pull with repositoryCredentials")
        assert "fetching registry credentials for %s (Secrets Manager)" % reg["image"] in agent_log(rig)
        # a secret without a password: the task stops before anything is created
        drop_pulled(reg["image"])
        a2 = run(rig, "asm-bad", reg["image"], repositoryCredentials={"credentialsParameter": bad})
        t = wait_status(rig, a2, "STOPPED", "malformed registry secret")
        assert t.get("stoppedReason") == "Asm fetching password: AuthorizationData is malformed, empty field", t
        assert task_containers(a2) == [], "a container was created"
        # a secret that does not exist
        a3 = run(rig, "asm-missing", reg["image"], repositoryCredentials={
            "credentialsParameter": "arn:aws:secretsmanager:%s:123456789012:secret:nothing-here" % REGION})
        t = wait_status(rig, a3, "STOPPED", "missing registry secret")
        assert (t.get("stoppedReason") or "").startswith(
            "Asm fetching secret from the service for arn:aws:secretsmanager:%s:123456789012:secret:nothing-here: "
            "ResourceNotFoundException: " % REGION), t
        assert task_containers(a3) == []
        check_no_leak(rig, [a1], {"registry password": reg["password"],
                                  "registry user:password": "%s:%s" % (reg["user"], reg["password"])})
    finally:
        rig.close()
        drop_pulled(reg["image"])
