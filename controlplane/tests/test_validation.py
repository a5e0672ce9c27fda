"""Strict request validation (controlplane/validate.py): every finding of issue 19's
first list, with botocore clients (client-side validation off, so the ill-typed
value reaches the server), raw signed requests and the real AWS CLI."""

import json
import urllib.error
import urllib.request

import botocore.exceptions
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
import botocore.session

from conftest import AKID, REGION, SECRET


def loose_client(cp):
    """A botocore ECS client that does not validate parameters itself."""
    s = botocore.session.Session()
    s.set_credentials(AKID, SECRET)
    return s.create_client("ecs", region_name=REGION, endpoint_url=cp.url,
                           config=Config(retries={"max_attempts": 0, "mode": "legacy"},
                                         parameter_validation=False, read_timeout=60))


def raw_bytes(cp, op, data):
    """POST raw bytes signed with SigV4; returns (status, content-type, parsed JSON or text)."""
    h = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AmazonEC2ContainerServiceV20141113." + op}
    req = AWSRequest(method="POST", url=cp.url + "/", data=data, headers=h)
    SigV4Auth(Credentials(AKID, SECRET), "ecs", REGION).add_auth(req)
    r = urllib.request.Request(cp.url + "/", data=data, method="POST", headers=dict(req.headers.items()))
    try:
        with urllib.request.urlopen(r, timeout=60) as resp:
            return resp.status, resp.headers.get("Content-Type"), json.loads(resp.read())
    except urllib.error.HTTPError as e:
        body = e.read()
        ct = e.headers.get("Content-Type", "")
        return e.code, ct, json.loads(body) if "json" in ct else body


def code(e):
    return e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture(scope="module")
def setup(cp):
    ecs = cp.client()
    ecs.create_cluster(clusterName="val")
    inst = cp.register_instance(ecs, "val")
    ecs.register_task_definition(family="val", containerDefinitions=[{"name": "a", "image": "b", "memory": 16}])
    return inst


@pytest.mark.parametrize("op,body", [
    ("ListTasks", {"cluster": 5}),
    ("DescribeClusters", {"clusters": "fid"}),
    ("RegisterTaskDefinition", {"family": "f", "containerDefinitions": "abc"}),
    ("RunTask", {"cluster": "val", "taskDefinition": "val", "overrides": "x"}),
    ("RegisterContainerInstance", {"cluster": "val", "totalResources": [
        {"name": "CPU", "type": "INTEGER", "integerValue": "x"}]}),
    ("RunTask", {"cluster": "val", "taskDefinition": "val", "count": True}),
    ("RunTask", {"cluster": "val", "taskDefinition": "val", "launchType": "MOON"}),
    ("ListTasks", {"cluster": "val", "maxResults": 2 ** 40}),
    ("StopTask", {"cluster": "val"}),
    ("RegisterTaskDefinition", {"family": "f", "containerDefinitions": [{"name": "a", "image": "b", "memory": "x"}]}),
    ("RegisterTaskDefinition", {"family": "f", "containerDefinitions": [None]}),
])
def test_ill_typed_members_are_400(cp, setup, op, body):
    st, ct, e = raw_bytes(cp, op, json.dumps(body).encode())
    assert st == 400, (st, e)
    assert "json" in ct
    assert e["__type"].endswith("#InvalidParameterException"), e
    assert "failed to satisfy constraint" in e["message"]


def test_ill_typed_with_botocore_and_cli(cp, setup):
    ecs = loose_client(cp)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.list_tasks(cluster=5)
    assert code(e) == ("InvalidParameterException", 400)
    # (botocore's own serializer turns clusters="fid" into a list of letters; the raw
    # request above sends the string itself)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.run_task(cluster="val", taskDefinition="val", count="2")
    assert code(e) == ("InvalidParameterException", 400)
    # the AWS CLI sends integerValue as given in JSON input
    p = cp.aws("register-container-instance", "--cluster", "val", "--total-resources",
               json.dumps([{"name": "CPU", "type": "INTEGER", "integerValue": "x"}]), check=False)
    assert p.returncode != 0
    assert "InvalidParameterException" in p.stderr or "Invalid type" in p.stderr


def test_max_results_bounds(cp, setup):
    ecs = loose_client(cp)
    for bad in (0, 101, -1):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            ecs.list_tasks(cluster="val", maxResults=bad)
        assert code(e) == ("InvalidParameterException", 400)
    assert ecs.list_tasks(cluster="val", maxResults=1)["taskArns"] == []
    p = cp.aws("list-clusters", "--max-items", "1", "--page-size", "0", check=False)
    assert p.returncode != 0


def test_task_cpu_memory_units(cp, setup):
    ecs = cp.client()
    cd = [{"name": "a", "image": "b", "memoryReservation": 16}]
    for cpu, mem, want_cpu, want_mem in (("1 vCPU", "1GB", "1024", "1024"), ("0.25 vcpu", "0.5 GB", "256", "512"),
                                          ("512", "2048", "512", "2048"), ("2vCPU", "3 GiB", "2048", "3072")):
        td = ecs.register_task_definition(family="units", containerDefinitions=cd, cpu=cpu, memory=mem)
        assert (td["taskDefinition"]["cpu"], td["taskDefinition"]["memory"]) == (want_cpu, want_mem)
    for cpu, mem in (("abc", "512"), ("256", "abc"), ("0.1 vCPU", "512"), ("256", "-5"), ("256", "1.5 MB")):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            ecs.register_task_definition(family="units-bad", containerDefinitions=cd, cpu=cpu, memory=mem)
        assert code(e) == ("ClientException", 400)
    # the AWS CLI with units
    r = cp.aws("register-task-definition", "--family", "units", "--cpu", "1 vCPU", "--memory", "1GB",
               "--container-definitions", json.dumps(cd))
    assert r["taskDefinition"]["memory"] == "1024" and r["taskDefinition"]["cpu"] == "1024"
    # a run of it reserves the normalised amounts, and an invalid override is refused, not a 500
    run = ecs.run_task(cluster="val", taskDefinition="units")
    assert run["failures"] == [] and run["tasks"][0]["memory"] == "1024"
    ecs.stop_task(cluster="val", task=run["tasks"][0]["taskArn"])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.run_task(cluster="val", taskDefinition="units", overrides={"memory": "abc"})
    assert code(e) == ("ClientException", 400)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecs.register_task_definition(family="units-bad", containerDefinitions=cd, memory="abc")
    assert code(e) == ("ClientException", 400)
    assert "units-bad" not in ecs.list_task_definition_families()["families"]


def test_deep_json_is_a_json_error(cp):
    deep = b"[" * 100000 + b"]" * 100000
    st, ct, e = raw_bytes(cp, "ListClusters", b'{"x":' + deep + b"}")
    assert st == 400 and "json" in ct and e["__type"].endswith("#SerializationException")
    st, ct, e = raw_bytes(cp, "ListClusters", b"{" * 100000)
    assert st == 400 and "json" in ct and e["__type"].endswith("#SerializationException")
    # moderately nested unknown members are accepted (ignored)
    st, ct, e = raw_bytes(cp, "ListClusters", b'{"x":' + b"[" * 40 + b"]" * 40 + b"}")
    assert st == 200


def test_oversized_body_is_a_json_413(cp):
    body = b'{"family":"' + b"x" * (70 * 1024 * 1024) + b'"}'
    st, ct, e = raw_bytes(cp, "ListTaskDefinitions", body)
    assert st == 413 and "json" in ct, (st, ct)
    assert e["__type"].endswith("#ClientException")
    # the server still answers
    assert cp.client().list_clusters()["clusterArns"] is not None


def test_no_500_from_garbage(cp, setup):
    """A sweep of wrong types into every member of a few common operations never yields a 500."""
    import controlplane.validate as v
    m = v.model()
    bad_values = [5, "s", True, [], {}, [1], {"a": 1}, -1, 1.5]
    for op in ("RunTask", "RegisterTaskDefinition", "RegisterContainerInstance", "SubmitTaskStateChange",
               "ListTasks", "DescribeTasks", "StopTask", "UpdateContainerInstancesState"):
        shape = m.operation_model(op).input_shape
        for member in shape.members:
            for bv in bad_values:
                body = {"cluster": "val"}
                body[member] = bv
                st, ct, e = raw_bytes(cp, op, json.dumps(body).encode())
                assert st < 500, (op, member, bv, e)
                assert "json" in ct
