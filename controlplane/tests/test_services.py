"""Services (controlplane/services.py) with the AWS CLI and botocore; the agent's side
is played by SubmitTaskStateChange calls (tests/e2e/test_services_fleet.py runs real agents)."""

import json

import botocore.exceptions
import pytest

from conftest import wait_until


def code(e):
    return e.value.response["Error"]["Code"]


def svc(ecs, cluster, name):
    return ecs.describe_services(cluster=cluster, services=[name])["services"][0]


def tasks_of(ecs, cluster, name, desired="RUNNING"):
    arns = ecs.list_tasks(cluster=cluster, serviceName=name, desiredStatus=desired)["taskArns"]
    return ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []


def report(ecs, cluster, tasks, status):
    for t in tasks:
        ecs.submit_task_state_change(cluster=cluster, task=t["taskArn"], status=status)


def agent_pass(ecs, cluster, name):
    """Play the agent once: desired RUNNING -> RUNNING, desired STOPPED -> STOPPED."""
    report(ecs, cluster, [t for t in tasks_of(ecs, cluster, name) if t["lastStatus"] == "PENDING"], "RUNNING")
    report(ecs, cluster, [t for t in tasks_of(ecs, cluster, name, "STOPPED") if t["lastStatus"] != "STOPPED"],
           "STOPPED")


def test_service_lifecycle_with_cli(fresh_cp, tmp_path):
    cp = fresh_cp("--scheduler-interval", "0.2")
    ecs = cp.client()
    ecs.create_cluster(clusterName="sv")
    i1 = cp.register_instance(ecs, "sv")
    i2 = cp.register_instance(ecs, "sv")
    ecs.register_task_definition(family="web", containerDefinitions=[{"name": "a", "image": "busybox", "memory": 64}])
    ecs.register_task_definition(family="web", containerDefinitions=[{"name": "a", "image": "busybox", "memory": 65}])
    r = cp.aws("create-service", "--cluster", "sv", "--service-name", "web", "--task-definition", "web:1",
               "--desired-count", "3", "--placement-strategy", "type=spread,field=instanceId")["service"]
    assert r["status"] == "ACTIVE" and r["desiredCount"] == 3 and len(r["deployments"]) == 1
    dep1 = r["deployments"][0]["id"]
    assert dep1.startswith("ecs-svc/")
    ts = tasks_of(ecs, "sv", "web")
    assert len(ts) == 3
    assert all(t["startedBy"] == dep1 and t["group"] == "service:web" for t in ts)
    assert sorted({t["containerInstanceArn"] for t in ts}) == sorted([i1, i2])
    assert cp.aws("list-services", "--cluster", "sv")["serviceArns"] == [r["serviceArn"]]
    assert ecs.describe_clusters(clusters=["sv"])["clusters"][0]["activeServicesCount"] == 1
    report(ecs, "sv", ts, "RUNNING")
    wait_until(lambda: svc(ecs, "sv", "web")["runningCount"] == 3)
    cp.aws("wait", "services-stable", "--cluster", "sv", "--services", "web")
    s = svc(ecs, "sv", "web")
    msgs = [e["message"] for e in s["events"]]
    assert msgs[0] == "(service web) has reached a steady state."
    assert any(m.startswith("(service web) has started 3 tasks: (task ") for m in msgs)
    assert s["deployments"][0]["rolloutState"] == "COMPLETED"

    # a task that stops is replaced
    gone = ts[0]["taskArn"]
    ecs.submit_task_state_change(cluster="sv", task=gone, status="STOPPED")
    ts = tasks_of(ecs, "sv", "web")
    assert len(ts) == 3 and gone not in [t["taskArn"] for t in ts]
    agent_pass(ecs, "sv", "web")

    # rolling deployment to web:2 (max 200 %, min 100 %): old tasks stop only once new ones run
    r = cp.aws("update-service", "--cluster", "sv", "--service", "web", "--task-definition", "web:2")["service"]
    assert [d["status"] for d in r["deployments"]] == ["PRIMARY", "ACTIVE"]
    dep2 = r["deployments"][0]["id"]
    ts = tasks_of(ecs, "sv", "web")
    assert len(ts) == 6 and sum(t["startedBy"] == dep2 for t in ts) == 3
    assert all(t["desiredStatus"] == "RUNNING" for t in ts)
    for _ in range(10):
        agent_pass(ecs, "sv", "web")
        s = svc(ecs, "sv", "web")
        if len(s["deployments"]) == 1 and s["runningCount"] == 3:
            break
    assert [d["id"] for d in s["deployments"]] == [dep2]
    ts = tasks_of(ecs, "sv", "web")
    assert all(t["taskDefinitionArn"].endswith("web:2") for t in ts) and len(ts) == 3
    old = [t for t in tasks_of(ecs, "sv", "web", "STOPPED") if t["taskArn"] != gone]
    assert len(old) == 3 and {t["stopCode"] for t in old} == {"ServiceSchedulerInitiated"}
    assert any("deployment %s) deployment completed." % dep2 in e["message"] for e in s["events"])

    # scale down, then drain an instance: its tasks move, within minimumHealthyPercent
    cp.aws("update-service", "--cluster", "sv", "--service", "web", "--desired-count", "2")
    agent_pass(ecs, "sv", "web")
    assert svc(ecs, "sv", "web")["runningCount"] == 2
    ecs.update_container_instances_state(cluster="sv", containerInstances=[i1], status="DRAINING")
    for _ in range(10):
        agent_pass(ecs, "sv", "web")
        ts = tasks_of(ecs, "sv", "web")
        if all(t["containerInstanceArn"] == i2 and t["lastStatus"] == "RUNNING" for t in ts) and len(ts) == 2:
            break
    assert len(ts) == 2 and {t["containerInstanceArn"] for t in ts} == {i2}

    # delete: refused while scaled above 0 unless forced; DRAINING until its tasks stopped
    p = cp.aws("delete-service", "--cluster", "sv", "--service", "web", check=False)
    assert p.returncode != 0 and "InvalidParameterException" in p.stderr
    r = cp.aws("delete-service", "--cluster", "sv", "--service", "web", "--force")["service"]
    assert r["status"] == "DRAINING"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.delete_cluster(cluster="sv")
    assert code(e) in ("ClusterContainsServicesException", "ClusterContainsContainerInstancesException")
    agent_pass(ecs, "sv", "web")
    wait_until(lambda: svc(ecs, "sv", "web")["status"] == "INACTIVE")
    assert cp.aws("list-services", "--cluster", "sv")["serviceArns"] == []


def test_service_validation_and_errors(cp):
    ecs = cp.client()
    ecs.create_cluster(clusterName="sve")
    ecs.register_task_definition(family="e", containerDefinitions=[{"name": "a", "image": "b", "memory": 8}])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.create_service(cluster="sve", serviceName="x", taskDefinition="nope", desiredCount=1)
    assert code(e) == "ClientException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.create_service(cluster="sve", serviceName="x", taskDefinition="e", desiredCount=1,
                           deploymentConfiguration={"maximumPercent": 100, "minimumHealthyPercent": 100})
    assert code(e) == "InvalidParameterException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.create_service(cluster="sve", serviceName="x", taskDefinition="e", desiredCount=1,
                           placementConstraints=[{"type": "memberOf", "expression": "bogus"}])
    assert code(e) == "InvalidParameterException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.create_service(cluster="sve", serviceName="x", taskDefinition="e", desiredCount=1, launchType="FARGATE")
    assert code(e) == "InvalidParameterException"
    ecs.create_service(cluster="sve", serviceName="x", taskDefinition="e", desiredCount=1)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.create_service(cluster="sve", serviceName="x", taskDefinition="e", desiredCount=1)
    assert code(e) == "InvalidParameterException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.update_service(cluster="sve", service="nope", desiredCount=1)
    assert code(e) == "ServiceNotFoundException"
    d = ecs.describe_services(cluster="sve", services=["x", "nope"])
    assert d["failures"][0]["reason"] == "MISSING"
    # no instance: the event says why
    msgs = [ev["message"] for ev in d["services"][0]["events"]]
    assert any("was unable to place a task because no container instance met all of its requirements. "
               "Reason: No Container Instances were found in your cluster." in m for m in msgs)


def test_service_survives_restart_and_daemon(fresh_cp):
    cp = fresh_cp("--scheduler-interval", "0.2")
    ecs = cp.client()
    ecs.create_cluster(clusterName="sr")
    i1 = cp.register_instance(ecs, "sr")
    ecs.register_task_definition(family="d", containerDefinitions=[{"name": "a", "image": "b", "memory": 8}])
    ecs.create_service(cluster="sr", serviceName="keep", taskDefinition="d", desiredCount=2)
    ecs.create_service(cluster="sr", serviceName="dmn", taskDefinition="d", schedulingStrategy="DAEMON")
    assert len(tasks_of(ecs, "sr", "dmn")) == 1
    before = svc(ecs, "sr", "keep")
    cp.restart()
    ecs = cp.client()
    after = svc(ecs, "sr", "keep")
    assert after["deployments"] == before["deployments"] and after["events"] == before["events"]
    assert len(tasks_of(ecs, "sr", "keep")) == 2
    # the daemon follows the instances
    i2 = cp.register_instance(ecs, "sr")
    wait_until(lambda: len(tasks_of(ecs, "sr", "dmn")) == 2)
    assert sorted(t["containerInstanceArn"] for t in tasks_of(ecs, "sr", "dmn")) == sorted([i1, i2])
