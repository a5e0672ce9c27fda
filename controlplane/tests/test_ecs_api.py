import json
import time

import botocore.exceptions
import pytest

from conftest import REGION, AcsClient, run


def err_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def test_cli_cluster_lifecycle(cp):
    r = cp.aws("create-cluster", "--cluster-name", "cli-c1")
    assert r["cluster"]["clusterArn"] == "arn:aws:ecs:%s:123456789012:cluster/cli-c1" % REGION
    assert r["cluster"]["status"] == "ACTIVE"
    arns = cp.client().list_clusters()["clusterArns"]
    assert r["cluster"]["clusterArn"] in arns
    d = cp.aws("describe-clusters", "--clusters", "cli-c1", "nope")
    assert d["clusters"][0]["clusterName"] == "cli-c1"
    assert d["clusters"][0]["registeredContainerInstancesCount"] == 0
    assert d["failures"][0]["reason"] == "MISSING"
    r = cp.aws("delete-cluster", "--cluster", "cli-c1")
    assert r["cluster"]["status"] == "INACTIVE"
    assert r["cluster"]["clusterArn"] not in cp.client().list_clusters()["clusterArns"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        cp.client().describe_tasks(cluster="cli-c1", tasks=["x"])
    assert err_code(e) == "ClusterNotFoundException"


def test_cli_task_definition_run_stop(cp, tmp_path):
    ecs = cp.client()
    ecs.create_cluster(clusterName="cli-run")
    inst = cp.register_instance(ecs, "cli-run")
    td = {"family": "web", "containerDefinitions": [
        {"name": "nginx", "image": "nginx:latest", "cpu": 256, "memory": 128,
         "portMappings": [{"containerPort": 80, "hostPort": 8080}],
         "environment": [{"name": "A", "value": "1"}], "command": ["nginx", "-g", "daemon off;"]}]}
    f = tmp_path / "td.json"
    f.write_text(json.dumps(td))
    r1 = cp.aws("register-task-definition", "--cli-input-json", "file://" + str(f))
    assert r1["taskDefinition"]["revision"] == 1
    r2 = ecs.register_task_definition(**td)
    assert r2["taskDefinition"]["revision"] == 2
    assert r2["taskDefinition"]["taskDefinitionArn"].endswith(":task-definition/web:2")
    lst = ecs.list_task_definitions(familyPrefix="web")["taskDefinitionArns"]
    assert [a.rsplit(":", 1)[1] for a in lst] == ["1", "2"]
    d = cp.aws("describe-task-definition", "--task-definition", "web")
    assert d["taskDefinition"]["revision"] == 2
    run = cp.aws("run-task", "--cluster", "cli-run", "--task-definition", "web:1",
                 "--overrides", json.dumps({"containerOverrides": [{"name": "nginx", "command": ["echo", "hi"]}]}))
    assert run["failures"] == []
    task = run["tasks"][0]
    assert task["containerInstanceArn"] == inst
    assert task["lastStatus"] == "PENDING" and task["desiredStatus"] == "RUNNING"
    assert task["taskArn"].startswith("arn:aws:ecs:%s:123456789012:task/cli-run/" % REGION)
    assert ecs.list_tasks(cluster="cli-run")["taskArns"] == [task["taskArn"]]
    st = cp.aws("stop-task", "--cluster", "cli-run", "--task", task["taskArn"], "--reason", "bye")
    assert st["task"]["desiredStatus"] == "STOPPED" and st["task"]["stoppedReason"] == "bye"
    dt = cp.aws("describe-tasks", "--cluster", "cli-run", "--tasks", task["taskArn"])
    assert dt["tasks"][0]["desiredStatus"] == "STOPPED"
    assert ecs.list_tasks(cluster="cli-run")["taskArns"] == []
    assert ecs.list_tasks(cluster="cli-run", desiredStatus="STOPPED")["taskArns"] == [task["taskArn"]]
    dr = ecs.deregister_task_definition(taskDefinition="web:1")
    assert dr["taskDefinition"]["status"] == "INACTIVE"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.run_task(cluster="cli-run", taskDefinition="web:1")
    assert err_code(e) == "ClientException"
    assert ecs.list_task_definitions(familyPrefix="web", status="INACTIVE")["taskDefinitionArns"][0].endswith("web:1")
    assert ecs.list_task_definition_families()["families"] == ["web"]


def test_container_instance_lifecycle(cp):
    ecs = cp.client()
    ecs.create_cluster(clusterName="ci")
    iid = json.dumps({"instanceId": "i-abc", "region": REGION, "availabilityZone": "us-west-2b",
                      "instanceType": "t3.micro"})
    r = ecs.register_container_instance(
        cluster="arn:aws:ecs:%s:123456789012:cluster/ci" % REGION, instanceIdentityDocument=iid,
        instanceIdentityDocumentSignature="sig",
        totalResources=[{"name": "CPU", "type": "INTEGER", "integerValue": 1024},
                        {"name": "MEMORY", "type": "INTEGER", "integerValue": 2000}],
        attributes=[{"name": "ecs.capability.docker-remote-api.1.17"}],
        versionInfo={"agentVersion": "1.1.0", "agentHash": "h", "dockerVersion": "DockerVersion: 1"})
    ci = r["containerInstance"]
    arn = ci["containerInstanceArn"]
    assert arn.startswith("arn:aws:ecs:%s:123456789012:container-instance/ci/" % REGION)
    assert ci["ec2InstanceId"] == "i-abc" and ci["status"] == "ACTIVE"
    attrs = {a["name"]: a.get("value") for a in ci["attributes"]}
    assert "ecs.capability.docker-remote-api.1.17" in attrs
    assert attrs["ecs.availability-zone"] == "us-west-2b"
    # re-registration keeps the ARN
    r2 = ecs.register_container_instance(cluster="ci", containerInstanceArn=arn, totalResources=[
        {"name": "CPU", "type": "INTEGER", "integerValue": 2048},
        {"name": "MEMORY", "type": "INTEGER", "integerValue": 2000}])
    assert r2["containerInstance"]["containerInstanceArn"] == arn
    assert ecs.list_container_instances(cluster="ci")["containerInstanceArns"] == [arn]
    d = ecs.describe_container_instances(cluster="ci", containerInstances=[arn.rsplit("/", 1)[1], "missing"])
    ci = d["containerInstances"][0]
    assert ci["agentConnected"] is False and ci["runningTasksCount"] == 0 and ci["pendingTasksCount"] == 0
    assert {x["name"]: x.get("integerValue") for x in ci["remainingResources"]}["CPU"] == 2048
    assert ci["versionInfo"]["agentVersion"] == "1.1.0"
    assert d["failures"] == [{"arn": "missing", "reason": "MISSING"}]
    ep = ecs.discover_poll_endpoint(cluster="ci", containerInstance=arn)
    assert ep["endpoint"] == cp.url + "/" and ep["telemetryEndpoint"] == cp.url + "/tcs"
    assert ecs.describe_clusters(clusters=["ci"])["clusters"][0]["registeredContainerInstancesCount"] == 1
    dr = ecs.deregister_container_instance(cluster="ci", containerInstance=arn)
    assert dr["containerInstance"]["status"] == "INACTIVE"
    assert ecs.list_container_instances(cluster="ci")["containerInstanceArns"] == []
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.register_container_instance(cluster="nocluster", totalResources=[])
    assert err_code(e) == "ClusterNotFoundException"


def test_client_token_idempotent(cp):
    ecs = cp.client()
    ecs.create_cluster(clusterName="tok")
    sa, a = cp.raw_call("RegisterContainerInstance", {"cluster": "tok", "clientToken": "t-1", "totalResources": []})
    sb, b = cp.raw_call("RegisterContainerInstance", {"cluster": "tok", "clientToken": "t-1", "totalResources": []})
    assert sa == sb == 200
    arn = a["containerInstance"]["containerInstanceArn"]
    assert b["containerInstance"]["containerInstanceArn"] == arn
    assert ecs.list_container_instances(cluster="tok")["containerInstanceArns"] == [arn]
    assert "clientToken" not in b["containerInstance"]
    # another token: another instance; the same token in another cluster too
    _, c = cp.raw_call("RegisterContainerInstance", {"cluster": "tok", "clientToken": "t-2", "totalResources": []})
    assert c["containerInstance"]["containerInstanceArn"] != arn
    ecs.create_cluster(clusterName="tok2")
    s2, d = cp.raw_call("RegisterContainerInstance", {"cluster": "tok2", "clientToken": "t-1", "totalResources": []})
    assert s2 == 200 and d["containerInstance"]["containerInstanceArn"] != arn
    assert len(ecs.list_container_instances(cluster="tok2")["containerInstanceArns"]) == 1
    # a deregistered instance's token is spent: registering again makes a new one
    ecs.deregister_container_instance(cluster="tok", containerInstance=arn, force=True)
    _, e2 = cp.raw_call("RegisterContainerInstance", {"cluster": "tok", "clientToken": "t-1", "totalResources": []})
    assert e2["containerInstance"]["containerInstanceArn"] != arn
    st, e = cp.raw_call("NoSuchOperation", {})
    assert st == 400 and e["__type"].endswith("UnknownOperationException")


def _td(ecs, family, cpu=512, mem=512, host_port=None):
    pm = [{"containerPort": 80, "hostPort": host_port}] if host_port else []
    ecs.register_task_definition(family=family, containerDefinitions=[
        {"name": "c", "image": "busybox", "cpu": cpu, "memory": mem, "portMappings": pm}])


def test_placement_limits_and_release(cp):
    ecs = cp.client()
    ecs.create_cluster(clusterName="place")
    r = ecs.run_task(cluster="place", taskDefinition=_td(ecs, "p-small") or "p-small")
    assert r["tasks"] == [] and r["failures"][0]["reason"] == "No Container Instances were found in your cluster."
    inst = cp.register_instance(ecs, "place", cpu=1024, mem=1024, ports=["22"])
    _td(ecs, "p-cpu", cpu=2048, mem=10)
    _td(ecs, "p-mem", cpu=10, mem=2048)
    _td(ecs, "p-port22", cpu=10, mem=10, host_port=22)
    _td(ecs, "p-port80", cpu=10, mem=10, host_port=8080)
    for fam, reason in (("p-cpu", "RESOURCE:CPU"), ("p-mem", "RESOURCE:MEMORY"), ("p-port22", "RESOURCE:PORTS")):
        r = ecs.run_task(cluster="place", taskDefinition=fam)
        assert r["tasks"] == []
        assert r["failures"] == [{"arn": inst, "reason": reason}], fam
    # count honoured; two of 512/512 fit, third fails on CPU
    r = ecs.run_task(cluster="place", taskDefinition="p-small", count=3)
    assert len(r["tasks"]) == 2
    assert r["failures"] == [{"arn": inst, "reason": "RESOURCE:CPU"}]
    d = ecs.describe_container_instances(cluster="place", containerInstances=[inst])["containerInstances"][0]
    rem = {x["name"]: x for x in d["remainingResources"]}
    assert rem["CPU"]["integerValue"] == 0 and rem["MEMORY"]["integerValue"] == 0
    assert d["pendingTasksCount"] == 2
    # stopping via the agent's report releases resources
    t0 = r["tasks"][0]["taskArn"]
    ecs.submit_task_state_change(cluster="place", task=t0, status="STOPPED", reason="done")
    r = ecs.run_task(cluster="place", taskDefinition="p-port80")
    assert len(r["tasks"]) == 1, r["failures"]
    r2 = ecs.run_task(cluster="place", taskDefinition="p-port80")
    assert r2["failures"] == [{"arn": inst, "reason": "RESOURCE:CPU"}] or \
        r2["failures"] == [{"arn": inst, "reason": "RESOURCE:PORTS"}]
    d = ecs.describe_container_instances(cluster="place", containerInstances=[inst])["containerInstances"][0]
    ports = {x["name"]: x for x in d["remainingResources"]}["PORTS"]["stringSetValue"]
    assert "8080" in ports and "22" in ports
    # start-task on an explicit instance
    ecs.submit_task_state_change(cluster="place", task=r["tasks"][0]["taskArn"], status="STOPPED", reason="")
    s = ecs.start_task(cluster="place", taskDefinition="p-port80", containerInstances=[inst])
    assert len(s["tasks"]) == 1 and s["tasks"][0]["containerInstanceArn"] == inst
    s = ecs.start_task(cluster="place", taskDefinition="p-port80", containerInstances=[inst])
    assert s["failures"][0]["reason"] == "RESOURCE:PORTS"


def test_state_changes_reflected(cp):
    ecs = cp.client()
    ecs.create_cluster(clusterName="sc")
    cp.register_instance(ecs, "sc")
    ecs.register_task_definition(family="sc", containerDefinitions=[
        {"name": "a", "image": "busybox", "memory": 64, "portMappings": [{"containerPort": 80, "hostPort": 9000}]},
        {"name": "b", "image": "busybox", "memory": 64}])
    t = ecs.run_task(cluster="sc", taskDefinition="sc")["tasks"][0]["taskArn"]
    t_before = time.time()
    r = ecs.submit_container_state_change(
        cluster="sc", task=t, containerName="a", status="RUNNING",
        networkBindings=[{"bindIP": "0.0.0.0", "containerPort": 80, "hostPort": 9000}])
    assert r["acknowledgment"] == "true"
    r = ecs.submit_task_state_change(cluster="sc", task=t, status="RUNNING", reason="")
    assert r["acknowledgment"] == "true"
    task = ecs.describe_tasks(cluster="sc", tasks=[t])["tasks"][0]
    assert task["lastStatus"] == "RUNNING" and "startedAt" in task
    a = [c for c in task["containers"] if c["name"] == "a"][0]
    assert a["lastStatus"] == "RUNNING"
    assert a["networkBindings"] == [{"bindIP": "0.0.0.0", "containerPort": 80, "hostPort": 9000}]
    assert ecs.describe_clusters(clusters=["sc"])["clusters"][0]["runningTasksCount"] == 1
    # HEAD-style batched container changes
    ecs.submit_task_state_change(cluster="sc", task=t, status="STOPPED", reason="Essential container exited",
                                 containers=[{"containerName": "a", "status": "STOPPED", "exitCode": 137,
                                              "reason": "killed", "networkBindings": []},
                                             {"containerName": "b", "status": "STOPPED", "exitCode": 0}])
    task = ecs.describe_tasks(cluster="sc", tasks=[t])["tasks"][0]
    assert task["lastStatus"] == "STOPPED" and task["desiredStatus"] == "STOPPED"
    assert task["stoppedReason"] == "Essential container exited" and "stoppedAt" in task
    cs = {c["name"]: c for c in task["containers"]}
    assert cs["a"]["exitCode"] == 137 and cs["a"]["reason"] == "killed" and cs["b"]["exitCode"] == 0
    # a late RUNNING does not resurrect the task
    ecs.submit_task_state_change(cluster="sc", task=t, status="RUNNING", reason="")
    assert ecs.describe_tasks(cluster="sc", tasks=[t])["tasks"][0]["lastStatus"] == "STOPPED"
    evs = [e for e in cp.events() if e["kind"] in ("SubmitTaskStateChange", "SubmitContainerStateChange")
           and e["request"].get("task") == t]
    assert [e["request"]["status"] for e in evs] == ["RUNNING", "RUNNING", "STOPPED", "RUNNING"]
    assert all(e["time"] >= t_before - 1 for e in evs)
    assert [e["time"] for e in evs] == sorted(e["time"] for e in evs)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.submit_task_state_change(cluster="sc", task="arn:aws:ecs:us-west-2:123456789012:task/sc/nope",
                                     status="RUNNING")
    assert err_code(e) == "InvalidParameterException"


def test_validation_errors(cp):
    ecs = cp.client()
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.register_task_definition(family="bad", containerDefinitions=[{"name": "x", "image": "y"}])
    assert err_code(e) == "ClientException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.describe_task_definition(taskDefinition="does-not-exist")
    assert err_code(e) == "ClientException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.list_tasks(cluster="does-not-exist")
    assert err_code(e) == "ClusterNotFoundException"


def test_state_persists_across_restart(fresh_cp):
    c = fresh_cp()
    ecs = c.client()
    ecs.create_cluster(clusterName="keep")
    inst = c.register_instance(ecs, "keep")
    ecs.register_task_definition(family="keep", containerDefinitions=[{"name": "a", "image": "b", "memory": 10}])
    t = ecs.run_task(cluster="keep", taskDefinition="keep")["tasks"][0]["taskArn"]
    c.restart()
    ecs = c.client()
    assert ecs.list_container_instances(cluster="keep")["containerInstanceArns"] == [inst]
    assert ecs.describe_task_definition(taskDefinition="keep")["taskDefinition"]["revision"] == 1
    assert ecs.describe_tasks(cluster="keep", tasks=[t])["tasks"][0]["containerInstanceArn"] == inst
    st = c.admin("/_local/state")
    assert any(x["clusterName"] == "keep" for x in st["clusters"])
    assert st["pendingPayloads"][inst][0]["taskArns"] == [t]
    mid = st["pendingPayloads"][inst][0]["messageId"]

    async def reconnect():
        a = await AcsClient(c, "keep", inst).connect()
        p = await a.wait_type("PayloadMessage")
        await a.close()
        return p
    p = run(reconnect())
    assert p["message"]["messageId"] == mid and p["message"]["tasks"][0]["arn"] == t
