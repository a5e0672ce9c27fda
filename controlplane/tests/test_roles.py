"""Task IAM roles in the control plane (controlplane/roles.py): task
definitions with taskRoleArn / executionRoleArn require the task-iam-role
capability (placement refuses an instance without it with "ATTRIBUTE"); the
payload carries per-task STS-looking credentials for each role; they are
rotated with IAMRoleCredentialsMessage (same credentialsId, new keys, later
expiration) before they expire; the agent's acks are recorded; describe-tasks
shows the roles and never the keys."""
import asyncio
import re

from conftest import AcsClient, run, wait_until

ROLE = "arn:aws:iam::123456789012:role/app"
EXEC_ROLE = "arn:aws:iam::123456789012:role/exec"
CAP = "com.amazonaws.ecs.capability.task-iam-role"


def register(ecs, cluster, attrs):
    r = ecs.register_container_instance(
        cluster=cluster,
        totalResources=[{"name": "CPU", "type": "INTEGER", "integerValue": 2048},
                        {"name": "MEMORY", "type": "INTEGER", "integerValue": 4096}],
        attributes=[{"name": a} for a in attrs],
        versionInfo={"agentVersion": "1.1.0", "agentHash": "abc", "dockerVersion": "DockerVersion: 20.10"})
    return r["containerInstance"]["containerInstanceArn"]


def test_roles_payload_rotation_placement(fresh_cp):
    cp = fresh_cp("--role-credentials-lifetime", "3")
    ecs = cp.client()
    ecs.create_cluster(clusterName="roles")
    td = ecs.register_task_definition(
        family="roles", taskRoleArn=ROLE, executionRoleArn=EXEC_ROLE,
        containerDefinitions=[{"name": "app", "image": "busybox", "memory": 32}])["taskDefinition"]
    assert {"name": CAP} in td["requiresAttributes"]
    assert td["taskRoleArn"] == ROLE and td["executionRoleArn"] == EXEC_ROLE
    # an instance without the capability: ECS's ATTRIBUTE failure
    plain = register(ecs, "roles", [])
    r = ecs.start_task(cluster="roles", taskDefinition="roles", containerInstances=[plain])
    assert not r["tasks"] and r["failures"][0]["reason"] == "ATTRIBUTE"
    r = ecs.run_task(cluster="roles", taskDefinition="roles")
    assert not r["tasks"] and r["failures"][0]["reason"] == "ATTRIBUTE"
    inst = register(ecs, "roles", [CAP])

    async def scenario():
        c = await AcsClient(cp, "roles", inst).connect()
        await c.ack(await c.wait_type("PayloadMessage"))
        run_r = await asyncio.get_event_loop().run_in_executor(
            None, lambda: ecs.run_task(cluster="roles", taskDefinition="roles"))
        arn = run_r["tasks"][0]["taskArn"]
        assert run_r["tasks"][0]["containerInstanceArn"] == inst
        p = await c.wait_type("PayloadMessage", pred=lambda f: f["message"]["tasks"])
        t = p["message"]["tasks"][0]
        rc, ec = t["roleCredentials"], t["executionRoleCredentials"]
        assert rc["roleArn"] == ROLE and ec["roleArn"] == EXEC_ROLE
        assert rc["credentialsId"] != ec["credentialsId"]
        for cr in (rc, ec):
            assert re.fullmatch(r"ASIA[A-Z0-9]{16}", cr["accessKeyId"])
            assert len(cr["secretAccessKey"]) >= 40 and len(cr["sessionToken"]) >= 100
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000\+0000", cr["expiration"])
        await c.ack(p)
        for cr in (rc, ec):
            await c.send("IAMRoleCredentialsAckRequest", {"messageId": p["message"]["messageId"],
                                                          "credentialsId": cr["credentialsId"],
                                                          "expiration": cr["expiration"]})
        await asyncio.get_event_loop().run_in_executor(
            None, lambda: ecs.submit_task_state_change(cluster="roles", task=arn, status="RUNNING", reason=""))
        # rotation: both roles, same ids, new keys (lifetime 3 s: within ~2 s)
        m = await c.wait_type("IAMRoleCredentialsMessage", timeout=10,
                              pred=lambda f: f["message"]["roleType"] == "TaskApplication")
        msg = m["message"]
        assert msg["taskArn"] == arn and msg["taskClusterArn"].endswith(":cluster/roles") and msg["messageId"]
        nrc = msg["roleCredentials"]
        assert nrc["credentialsId"] == rc["credentialsId"]
        assert nrc["accessKeyId"] != rc["accessKeyId"] and nrc["secretAccessKey"] != rc["secretAccessKey"]
        await c.wait_type("IAMRoleCredentialsMessage", timeout=10,
                          pred=lambda f: f["message"]["roleType"] == "TaskExecution")
        await c.send("IAMRoleCredentialsAckRequest", {"messageId": msg["messageId"],
                                                      "credentialsId": nrc["credentialsId"],
                                                      "expiration": nrc["expiration"]})
        # a reconnect's payload carries the current keys
        await c.close()
        c = await AcsClient(cp, "roles", inst).connect()
        p2 = await c.wait_type("PayloadMessage", pred=lambda f: f["message"]["tasks"])
        assert p2["message"]["tasks"][0]["roleCredentials"]["credentialsId"] == rc["credentialsId"]
        await c.ack(p2)
        await c.close()
        return arn, rc, msg

    arn, rc, msg = run(scenario())
    wait_until(lambda: any(e["message"].get("messageId") == msg["messageId"]
                           for e in cp.events("IAMRoleCredentialsAckRequest")))
    assert cp.events("IAMRoleCredentialsMessage")
    task = ecs.describe_tasks(cluster="roles", tasks=[arn])["tasks"][0]
    assert task["overrides"]["taskRoleArn"] == ROLE
    assert task["overrides"]["executionRoleArn"] == EXEC_ROLE
    out = repr(task) + repr(cp.aws("describe-tasks", "--cluster", "roles", "--tasks", arn))
    assert rc["secretAccessKey"] not in out and rc["accessKeyId"] not in out
    assert "ASIA" not in out


def test_host_network_role_needs_network_host_capability(fresh_cp):
    cp = fresh_cp()
    ecs = cp.client()
    ecs.create_cluster(clusterName="rolesh")
    td = ecs.register_task_definition(
        family="rolesh", taskRoleArn=ROLE, networkMode="host",
        containerDefinitions=[{"name": "app", "image": "busybox", "memory": 32}])["taskDefinition"]
    names = [a["name"] for a in td["requiresAttributes"]]
    assert CAP in names and CAP + "-network-host" in names
    inst = register(ecs, "rolesh", [CAP])
    r = ecs.start_task(cluster="rolesh", taskDefinition="rolesh", containerInstances=[inst])
    assert r["failures"][0]["reason"] == "ATTRIBUTE"
    # without a role nothing is required
    td2 = ecs.register_task_definition(family="norole", containerDefinitions=[
        {"name": "app", "image": "busybox", "memory": 32}])["taskDefinition"]
    assert CAP not in [a["name"] for a in td2["requiresAttributes"]]
