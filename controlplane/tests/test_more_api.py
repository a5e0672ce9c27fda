"""Issue 19's third and fifth lists: filters, launch types, placement constraints and
strategies, task-definition tags, requiresAttributes, stopCode/stoppedReason from
container reasons, versionInfo from the ACS query, tags, attributes, capacity
providers, cluster and account settings, UpdateContainerAgent."""

import json

import botocore.exceptions
import pytest

from conftest import REGION, AcsClient, run, wait_until


def code(e):
    return e.value.response["Error"]["Code"]


def td_small(ecs, family, **extra):
    return ecs.register_task_definition(family=family, containerDefinitions=[
        {"name": "a", "image": "busybox", "memory": 16}], **extra)["taskDefinition"]


def test_list_container_instances_filter(cp):
    ecs = cp.client()
    ecs.create_cluster(clusterName="flt")
    a = cp.register_instance(ecs, "flt", attributes={"stack": "prod", "ecs.instance-type": "t3.small"})
    b = cp.register_instance(ecs, "flt", attributes={"stack": "dev"})
    td_small(ecs, "flt")
    ecs.start_task(cluster="flt", taskDefinition="flt", containerInstances=[b], group="g1")

    def lst(expr):
        return sorted(cp.aws("list-container-instances", "--cluster", "flt", "--filter", expr)[
            "containerInstanceArns"])
    assert lst("attribute:stack == prod") == [a]
    assert lst("attribute:stack != prod") == [b]
    assert lst("attribute:stack in [dev, qa]") == [b]
    assert lst("attribute:ecs.instance-type =~ t3.*") == [a]
    assert lst("attribute:stack == prod or attribute:stack == dev") == sorted([a, b])
    assert lst("(attribute:stack == prod or attribute:stack == dev) and task:group == g1") == [b]
    assert lst("attribute:nope exists") == []
    assert lst("attribute:nope !exists") == sorted([a, b])
    p = cp.aws("list-container-instances", "--cluster", "flt", "--filter", "attribute:stack === x", check=False)
    assert p.returncode != 0 and "InvalidParameterException" in p.stderr


def test_list_tasks_launch_type_and_run_task_fargate(cp):
    ecs = cp.client()
    ecs.create_cluster(clusterName="lt")
    cp.register_instance(ecs, "lt")
    td_small(ecs, "lt")
    t = ecs.run_task(cluster="lt", taskDefinition="lt", launchType="EC2")["tasks"][0]["taskArn"]
    assert ecs.list_tasks(cluster="lt", launchType="EC2")["taskArns"] == [t]
    assert ecs.list_tasks(cluster="lt", launchType="FARGATE")["taskArns"] == []
    p = cp.aws("run-task", "--cluster", "lt", "--task-definition", "lt", "--launch-type", "FARGATE", check=False)
    assert p.returncode != 0 and "ClientException" in p.stderr and "FARGATE" in p.stderr
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.run_task(cluster="lt", taskDefinition="lt", launchType="EXTERNAL")
    assert code(e) == "InvalidParameterException"


def test_placement_constraints_and_strategies(cp):
    ecs = cp.client()
    ecs.create_cluster(clusterName="pc")
    a = cp.register_instance(ecs, "pc", attributes={"zone": "a"})
    b = cp.register_instance(ecs, "pc", attributes={"zone": "b"})
    td_small(ecs, "pc")
    r = ecs.run_task(cluster="pc", taskDefinition="pc", count=3,
                     placementConstraints=[{"type": "memberOf", "expression": "attribute:zone == b"}])
    assert [t["containerInstanceArn"] for t in r["tasks"]] == [b, b, b]
    r = ecs.run_task(cluster="pc", taskDefinition="pc", count=3, group="d",
                     placementConstraints=[{"type": "distinctInstance"}])
    assert sorted(t["containerInstanceArn"] for t in r["tasks"]) == sorted([a, b])
    assert r["failures"] and all(f["reason"] == "DISTINCT_INSTANCE" for f in r["failures"])
    r = ecs.run_task(cluster="pc", taskDefinition="pc", count=1,
                     placementConstraints=[{"type": "memberOf", "expression": "attribute:zone == c"}])
    assert r["tasks"] == [] and {f["reason"] for f in r["failures"]} == {"ATTRIBUTE"}
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.run_task(cluster="pc", taskDefinition="pc",
                     placementConstraints=[{"type": "memberOf", "expression": "attribute:zone =="}])
    assert code(e) == "InvalidParameterException"
    # binpack memory: everything onto the fullest instance that fits
    ecs.create_cluster(clusterName="bp")
    x = cp.register_instance(ecs, "bp", mem=1000)
    y = cp.register_instance(ecs, "bp", mem=500)
    td_small(ecs, "bp")
    r = ecs.run_task(cluster="bp", taskDefinition="bp", count=4,
                     placementStrategy=[{"type": "binpack", "field": "memory"}])
    assert [t["containerInstanceArn"] for t in r["tasks"]] == [y] * 4
    r = ecs.run_task(cluster="bp", taskDefinition="bp", count=2,
                     placementStrategy=[{"type": "spread", "field": "instanceId"}])
    assert [t["containerInstanceArn"] for t in r["tasks"]] == [x, x]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.run_task(cluster="bp", taskDefinition="bp", placementStrategy=[{"type": "binpack", "field": "disk"}])
    assert code(e) == "InvalidParameterException"
    # constraints from the task definition apply too
    ecs.register_task_definition(family="pctd", containerDefinitions=[{"name": "a", "image": "b", "memory": 8}],
                                 placementConstraints=[{"type": "memberOf", "expression": "attribute:zone == a"}])
    r = ecs.run_task(cluster="pc", taskDefinition="pctd", count=2)
    assert [t["containerInstanceArn"] for t in r["tasks"]] == [a, a]


def test_task_definition_tags_and_requires_attributes(cp):
    ecs = cp.client()
    r = ecs.register_task_definition(
        family="tagged", taskRoleArn="arn:aws:iam::123456789012:role/r",
        containerDefinitions=[{"name": "a", "image": "123456789012.dkr.ecr.us-west-2.amazonaws.com/x:1",
                               "memoryReservation": 16, "healthCheck": {"command": ["CMD", "true"]},
                               "logConfiguration": {"logDriver": "awslogs"}}],
        tags=[{"key": "team", "value": "core"}])
    assert r["tags"] == [{"key": "team", "value": "core"}]
    req = {a["name"] for a in r["taskDefinition"]["requiresAttributes"]}
    assert req == {"com.amazonaws.ecs.capability.task-iam-role", "com.amazonaws.ecs.capability.ecr-auth",
                   "ecs.capability.container-health-check", "com.amazonaws.ecs.capability.logging-driver.awslogs",
                   "com.amazonaws.ecs.capability.docker-remote-api.1.24"}
    d = cp.aws("describe-task-definition", "--task-definition", "tagged", "--include", "TAGS")
    assert d["tags"] == [{"key": "team", "value": "core"}]
    arn = r["taskDefinition"]["taskDefinitionArn"]
    assert ecs.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "team", "value": "core"}]
    # an instance without those capabilities cannot take it
    ecs.create_cluster(clusterName="ra")
    cp.register_instance(ecs, "ra")
    r = ecs.run_task(cluster="ra", taskDefinition="tagged")
    assert r["tasks"] == [] and r["failures"][0]["reason"] == "ATTRIBUTE"
    assert td_small(ecs, "plain")["requiresAttributes"] == []


def test_stop_code_and_reason_from_containers(cp):
    ecs = cp.client()
    ecs.create_cluster(clusterName="sr")
    cp.register_instance(ecs, "sr")
    ecs.register_task_definition(family="sr", containerDefinitions=[
        {"name": "a", "image": "busybox", "memory": 16}, {"name": "side", "image": "busybox", "memory": 16,
                                                          "essential": False}])
    # pull failure: never ran
    t = ecs.run_task(cluster="sr", taskDefinition="sr")["tasks"][0]["taskArn"]
    ecs.submit_task_state_change(cluster="sr", task=t, status="STOPPED", containers=[
        {"containerName": "a", "status": "STOPPED", "reason": "CannotPullContainerError: pull access denied"},
        {"containerName": "side", "status": "STOPPED"}])
    d = ecs.describe_tasks(cluster="sr", tasks=[t])["tasks"][0]
    assert d["stopCode"] == "TaskFailedToStart"
    assert d["stoppedReason"] == "CannotPullContainerError: pull access denied"
    # essential container exited after running; the container change comes after the task's
    t = ecs.run_task(cluster="sr", taskDefinition="sr")["tasks"][0]["taskArn"]
    ecs.submit_task_state_change(cluster="sr", task=t, status="RUNNING")
    ecs.submit_task_state_change(cluster="sr", task=t, status="STOPPED")
    ecs.submit_container_state_change(cluster="sr", task=t, containerName="a", status="STOPPED", exitCode=3)
    d = ecs.describe_tasks(cluster="sr", tasks=[t])["tasks"][0]
    assert d["stopCode"] == "EssentialContainerExited"
    assert d["stoppedReason"] == "Essential container in task exited"
    # a user stop keeps its code and reason
    t = ecs.run_task(cluster="sr", taskDefinition="sr")["tasks"][0]["taskArn"]
    ecs.stop_task(cluster="sr", task=t, reason="bye")
    ecs.submit_task_state_change(cluster="sr", task=t, status="STOPPED", containers=[
        {"containerName": "a", "status": "STOPPED", "exitCode": 137}])
    d = ecs.describe_tasks(cluster="sr", tasks=[t])["tasks"][0]
    assert (d["stopCode"], d["stoppedReason"]) == ("UserInitiated", "bye")


def test_version_info_from_acs_query(cp):
    ecs = cp.client()
    ecs.create_cluster(clusterName="vi")
    r = ecs.register_container_instance(cluster="vi", totalResources=[
        {"name": "CPU", "type": "INTEGER", "integerValue": 1024}])
    inst = r["containerInstance"]["containerInstanceArn"]
    assert not r["containerInstance"].get("versionInfo")

    async def connect():
        a = await AcsClient(cp, "vi", inst).connect()
        await a.wait_type("PayloadMessage")
        await a.close()
    run(connect())
    vi = ecs.describe_container_instances(cluster="vi", containerInstances=[inst])["containerInstances"][0][
        "versionInfo"]
    assert vi == {"agentVersion": "1.1.0", "agentHash": "abc", "dockerVersion": "DockerVersion: 20.10"}


def test_tags_attributes_capacity_providers_settings(cp):
    ecs = cp.client()
    c = ecs.create_cluster(clusterName="tg")["cluster"]["clusterArn"]
    inst = cp.register_instance(ecs, "tg")
    td_small(ecs, "tg")
    t = ecs.run_task(cluster="tg", taskDefinition="tg")["tasks"][0]["taskArn"]
    for arn in (c, inst, t, "arn:aws:ecs:%s:123456789012:task-definition/tg:1" % REGION):
        cp.aws("tag-resource", "--resource-arn", arn, "--tags", "key=a,value=1", "key=b,value=2")
        cp.aws("untag-resource", "--resource-arn", arn, "--tag-keys", "a")
        assert cp.aws("list-tags-for-resource", "--resource-arn", arn)["tags"] == [{"key": "b", "value": "2"}]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.tag_resource(resourceArn=c, tags=[{"key": "aws:x", "value": "1"}])
    assert code(e) == "InvalidParameterException"
    # attributes
    cp.aws("put-attributes", "--cluster", "tg", "--attributes", "name=color,value=blue,targetId=" + inst)
    la = cp.aws("list-attributes", "--cluster", "tg", "--target-type", "container-instance",
                "--attribute-name", "color")["attributes"]
    assert la == [{"name": "color", "value": "blue", "targetType": "container-instance", "targetId": inst}]
    r = ecs.run_task(cluster="tg", taskDefinition="tg",
                     placementConstraints=[{"type": "memberOf", "expression": "attribute:color == blue"}])
    assert r["tasks"][0]["containerInstanceArn"] == inst
    cp.aws("delete-attributes", "--cluster", "tg", "--attributes", "name=color,targetId=" + inst)
    assert ecs.list_attributes(cluster="tg", targetType="container-instance", attributeName="color")[
        "attributes"] == []
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.put_attributes(cluster="tg", attributes=[{"name": "x", "value": "1", "targetId": "nope"}])
    assert code(e) == "TargetNotFoundException"
    # capacity providers
    cps = cp.aws("describe-capacity-providers")["capacityProviders"]
    assert [p["name"] for p in cps] == ["FARGATE", "FARGATE_SPOT"]
    r = ecs.describe_capacity_providers(capacityProviders=["FARGATE", "nope"])
    assert [p["name"] for p in r["capacityProviders"]] == ["FARGATE"] and r["failures"][0]["reason"] == "MISSING"
    # cluster settings
    r = cp.aws("update-cluster-settings", "--cluster", "tg", "--settings", "name=containerInsights,value=enabled")
    assert r["cluster"]["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    # account settings
    s = {x["name"]: x["value"] for x in cp.aws("list-account-settings", "--effective-settings")["settings"]}
    assert s["taskLongArnFormat"] == "enabled" and s["awsvpcTrunking"] == "disabled"
    cp.aws("put-account-setting", "--name", "awsvpcTrunking", "--value", "enabled")
    s = {x["name"]: x["value"] for x in ecs.list_account_settings(name="awsvpcTrunking")["settings"]}
    assert s == {"awsvpcTrunking": "enabled"}


def test_update_container_agent_over_acs(fresh_cp):
    c = fresh_cp("--agent-update-location", "http://127.0.0.1:1/ecs-agent-v9.tar",
                 "--agent-update-signature", "ab" * 32, "--agent-update-version", "9.9.9")
    ecs = c.client()
    ecs.create_cluster(clusterName="up")
    inst = c.register_instance(ecs, "up")

    async def flow():
        a = await AcsClient(c, "up", inst).connect()
        await a.wait_type("PayloadMessage")
        r = ecs.update_container_agent(cluster="up", containerInstance=inst)
        assert r["containerInstance"]["agentUpdateStatus"] == "STAGING"
        st = await a.wait_type("StageUpdateMessage")
        assert st["message"]["updateInfo"] == {"location": "http://127.0.0.1:1/ecs-agent-v9.tar",
                                               "signature": "ab" * 32}
        with pytest.raises(botocore.exceptions.ClientError) as e:
            ecs.update_container_agent(cluster="up", containerInstance=inst)
        assert code(e) == "UpdateInProgressException"
        await a.send("AckRequest", {"cluster": "up", "containerInstance": inst,
                                    "messageId": st["message"]["messageId"]})
        await a.wait_type("PerformUpdateMessage")
        await a.close()
    run(flow())
    ci = ecs.describe_container_instances(cluster="up", containerInstances=[inst])["containerInstances"][0]
    assert ci["agentUpdateStatus"] == "UPDATING"
    # the agent comes back with the new version
    ecs.register_container_instance(cluster="up", containerInstanceArn=inst,
                                    versionInfo={"agentVersion": "9.9.9"})
    ci = ecs.describe_container_instances(cluster="up", containerInstances=[inst])["containerInstances"][0]
    assert ci["agentUpdateStatus"] == "UPDATED"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.update_container_agent(cluster="up", containerInstance=inst)
    assert code(e) == "NoUpdateAvailableException"


def test_update_container_agent_without_offer(cp):
    ecs = cp.client()
    ecs.create_cluster(clusterName="noup")
    inst = cp.register_instance(ecs, "noup")
    p = cp.aws("update-container-agent", "--cluster", "noup", "--container-instance", inst, check=False)
    assert p.returncode != 0 and "NoUpdateAvailableException" in p.stderr
