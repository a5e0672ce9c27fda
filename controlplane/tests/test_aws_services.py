"""ECR / SSM / Secrets Manager emulation (controlplane/aws_services.py): the real
AWS CLI against it; every answer checked member by member against botocore's
model of the service; SigV4 refusals; per-role denial with the admin route; the
payload ACS carries for a task definition with secrets, an "ECR" image and
repositoryCredentials, checked against the ACS model."""
import asyncio
import base64
import datetime
import json
import os
import subprocess
import time
import urllib.error
import urllib.request

import botocore.model
import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
import pytest

from conftest import AKID, REGION, REPO, SECRET, AcsClient, run

ECR_REGISTRY = "127.0.0.1:5999"
ECR_PASSWORD = "registry-pass-1"
EXEC_ROLE = "arn:aws:iam::123456789012:role/exec"
TARGETS = {"ssm": "AmazonSSM.", "secretsmanager": "secretsmanager.",
           "ecr": "AmazonEC2ContainerRegistry_V20150921."}


@pytest.fixture(scope="module")
def awscp(request):
    from conftest import ControlPlane
    c = ControlPlane(["--heartbeat-interval", "0.5", "--resend-interval", "1.0", "--ecr-registry", ECR_REGISTRY,
                      "--ecr-password", ECR_PASSWORD])
    yield c
    c.close()


def cli(cp, *args, check=True, creds=None):
    e = dict(os.environ)
    e.update({"AWS_ACCESS_KEY_ID": AKID, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_CONFIG_FILE": "/dev/null",
              "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_PAGER": "", "AWS_MAX_ATTEMPTS": "1"})
    e.pop("AWS_SESSION_TOKEN", None)
    e.pop("AWS_PROFILE", None)
    if creds:
        e.update(creds)
    p = subprocess.run(["/usr/bin/aws", "--endpoint-url", cp.url, "--region", REGION, "--output", "json"]
                       + list(args), env=e, capture_output=True, text=True, timeout=60)
    if check:
        assert p.returncode == 0, "aws %s failed: %s" % (args, p.stderr)
        return json.loads(p.stdout) if p.stdout.strip() else {}
    return p


def call(cp, service, op, body, akid=AKID, secret=SECRET, token=None, sign_service=None):
    """A signed JSON 1.1 call; returns (status, decoded body)."""
    data = json.dumps(body).encode()
    req = AWSRequest(method="POST", url=cp.url + "/", data=data,
                     headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGETS[service] + op})
    SigV4Auth(Credentials(akid, secret, token), sign_service or service, REGION).add_auth(req)
    r = urllib.request.Request(cp.url + "/", data=data, method="POST", headers=dict(req.headers.items()))
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def check_shape(shape, value, path="$"):
    """Strict: every member known to the model, of its type; required members present."""
    tn = shape.type_name
    if tn == "structure":
        assert isinstance(value, dict), path
        for k, v in value.items():
            assert k in shape.members, "%s.%s is not in the model's %s" % (path, k, shape.name)
            check_shape(shape.members[k], v, path + "." + k)
        for k in shape.required_members:
            assert k in value, "%s.%s required" % (path, k)
    elif tn == "list":
        assert isinstance(value, list), path
        for i, v in enumerate(value):
            check_shape(shape.member, v, "%s[%d]" % (path, i))
    elif tn == "map":
        assert isinstance(value, dict), path
        for k, v in value.items():
            check_shape(shape.value, v, path + "." + k)
    elif tn in ("string", "blob"):
        assert isinstance(value, str), path
        if shape.enum:
            assert value in shape.enum, "%s: %r not in %s" % (path, value, shape.enum)
    elif tn in ("integer", "long"):
        assert isinstance(value, int) and not isinstance(value, bool), path
    elif tn == "boolean":
        assert isinstance(value, bool), path
    elif tn == "timestamp":
        assert isinstance(value, (int, float)) and not isinstance(value, bool), path
    elif tn in ("float", "double"):
        assert isinstance(value, (int, float)), path


def check_output(service, op, body):
    m = botocore.session.get_session().get_service_model(service)
    check_shape(m.operation_model(op).output_shape, body)


def test_ssm_cli_and_shapes(awscp):
    assert cli(awscp, "ssm", "put-parameter", "--name", "/app/db-pass", "--value", "s3cr3t",
               "--type", "SecureString") == {"Version": 1, "Tier": "Standard"}
    cli(awscp, "ssm", "put-parameter", "--name", "plain", "--value", "v1", "--type", "String")
    r = cli(awscp, "ssm", "get-parameters", "--names", "/app/db-pass", "plain", "missing", "--with-decryption")
    assert r["InvalidParameters"] == ["missing"]
    byname = {p["Name"]: p for p in r["Parameters"]}
    assert byname["/app/db-pass"]["Value"] == "s3cr3t" and byname["/app/db-pass"]["Type"] == "SecureString"
    assert byname["/app/db-pass"]["ARN"] == "arn:aws:ssm:us-west-2:123456789012:parameter/app/db-pass"
    assert byname["plain"]["Value"] == "v1" and byname["plain"]["Version"] == 1
    # without decryption a SecureString's value is not the secret
    st, body = call(awscp, "ssm", "GetParameters", {"Names": ["/app/db-pass"]})
    assert st == 200 and body["Parameters"][0]["Value"] != "s3cr3t"
    check_output("ssm", "GetParameters", body)
    # asked by ARN, the name comes back as the ARN (the agent keys its cache on it)
    arn = byname["/app/db-pass"]["ARN"]
    st, body = call(awscp, "ssm", "GetParameters", {"Names": [arn], "WithDecryption": True})
    assert st == 200 and body["Parameters"][0]["Name"] == arn and body["Parameters"][0]["Value"] == "s3cr3t"
    # overwrite rules, versions, selectors
    p = cli(awscp, "ssm", "put-parameter", "--name", "plain", "--value", "v2", "--type", "String", check=False)
    assert p.returncode != 0 and "ParameterAlreadyExists" in p.stderr
    assert cli(awscp, "ssm", "put-parameter", "--name", "plain", "--value", "v2", "--overwrite")["Version"] == 2
    st, body = call(awscp, "ssm", "GetParameter", {"Name": "plain:1"})
    assert st == 200 and body["Parameter"]["Value"] == "v1" and body["Parameter"]["Selector"] == ":1"
    check_output("ssm", "GetParameter", body)
    st, body = call(awscp, "ssm", "PutParameter", {"Name": "plain", "Value": "v3", "Overwrite": True})
    assert st == 200
    check_output("ssm", "PutParameter", body)
    st, body = call(awscp, "ssm", "GetParameter", {"Name": "nope"})
    assert st == 400 and body == {"__type": "ParameterNotFound", "message": ""}
    # model validation: SSM's ValidationException
    st, body = call(awscp, "ssm", "GetParameters", {"Names": []})
    assert st == 400 and body["__type"] == "ValidationException"
    st, body = call(awscp, "ssm", "GetParameters", {"Names": "abc"})
    assert st == 400 and body["__type"] == "ValidationException" and "Names" in body["message"]
    st, body = call(awscp, "ssm", "PutParameter", {"Name": "new-one", "Value": "x"})
    assert st == 400 and body["__type"] == "ValidationException"
    assert cli(awscp, "ssm", "delete-parameter", "--name", "plain") == {}
    p = cli(awscp, "ssm", "delete-parameter", "--name", "plain", check=False)
    assert p.returncode != 0 and "ParameterNotFound" in p.stderr


def test_secretsmanager_cli_and_shapes(awscp):
    c = cli(awscp, "secretsmanager", "create-secret", "--name", "db/creds",
            "--secret-string", '{"username":"u","password":"p"}')
    assert c["Name"] == "db/creds"
    assert c["ARN"].startswith("arn:aws:secretsmanager:us-west-2:123456789012:secret:db/creds-")
    suffix = c["ARN"].rsplit("-", 1)[1]
    assert len(suffix) == 6 and suffix.isalnum()
    first = c["VersionId"]
    g = cli(awscp, "secretsmanager", "get-secret-value", "--secret-id", "db/creds")
    assert g["SecretString"] == '{"username":"u","password":"p"}' and g["VersionStages"] == ["AWSCURRENT"]
    assert g["VersionId"] == first and g["ARN"] == c["ARN"]
    p = cli(awscp, "secretsmanager", "put-secret-value", "--secret-id", c["ARN"], "--secret-string", "second")
    assert p["VersionStages"] == ["AWSCURRENT"] and p["VersionId"] != first
    # by full ARN, partial ARN (no suffix), stage and version id
    for ref in (c["ARN"], c["ARN"][:-7], "db/creds"):
        st, body = call(awscp, "secretsmanager", "GetSecretValue", {"SecretId": ref})
        assert st == 200 and body["SecretString"] == "second", ref
        check_output("secretsmanager", "GetSecretValue", body)
    st, body = call(awscp, "secretsmanager", "GetSecretValue", {"SecretId": "db/creds", "VersionStage": "AWSPREVIOUS"})
    assert st == 200 and body["VersionId"] == first and body["VersionStages"] == ["AWSPREVIOUS"]
    st, body = call(awscp, "secretsmanager", "GetSecretValue", {"SecretId": "db/creds", "VersionId": first})
    assert st == 200 and body["SecretString"].startswith("{")
    st, body = call(awscp, "secretsmanager", "GetSecretValue", {"SecretId": "db/creds", "VersionId": "x" * 32})
    assert st == 400 and body["__type"] == "ResourceNotFoundException"
    st, body = call(awscp, "secretsmanager", "GetSecretValue", {"SecretId": "nope"})
    assert st == 400 and body == {"__type": "ResourceNotFoundException",
                                  "Message": "Secrets Manager can't find the specified secret."}
    p = cli(awscp, "secretsmanager", "create-secret", "--name", "db/creds", "--secret-string", "x", check=False)
    assert p.returncode != 0 and "ResourceExistsException" in p.stderr
    st, body = call(awscp, "secretsmanager", "CreateSecret", {"Name": "other", "SecretString": "o"})
    assert st == 200
    check_output("secretsmanager", "CreateSecret", body)
    st, body = call(awscp, "secretsmanager", "PutSecretValue", {"SecretId": "other", "SecretString": "o2"})
    assert st == 200
    check_output("secretsmanager", "PutSecretValue", body)
    # scheduled deletion: reads refused; forced deletion: gone
    st, d = call(awscp, "secretsmanager", "DeleteSecret", {"SecretId": "other", "RecoveryWindowInDays": 7})
    assert st == 200 and 7 * 86400 - 5 < d["DeletionDate"] - time.time() < 7 * 86400 + 5
    check_output("secretsmanager", "DeleteSecret", d)
    st, body = call(awscp, "secretsmanager", "GetSecretValue", {"SecretId": "other"})
    assert st == 400 and body["__type"] == "InvalidRequestException"
    cli(awscp, "secretsmanager", "delete-secret", "--secret-id", "other", "--force-delete-without-recovery")
    st, body = call(awscp, "secretsmanager", "GetSecretValue", {"SecretId": "other"})
    assert st == 400 and body["__type"] == "ResourceNotFoundException"


def test_ecr_token_cli(awscp):
    before = time.time()
    r = cli(awscp, "ecr", "get-authorization-token")
    (ad,) = r["authorizationData"]
    assert base64.b64decode(ad["authorizationToken"]).decode() == "AWS:" + ECR_PASSWORD
    assert ad["proxyEndpoint"] == "http://" + ECR_REGISTRY
    st, body = call(awscp, "ecr", "GetAuthorizationToken", {"registryIds": ["123456789012"]})
    assert st == 200
    check_output("ecr", "GetAuthorizationToken", body)
    exp = body["authorizationData"][0]["expiresAt"]
    assert before + 12 * 3600 - 5 <= exp <= time.time() + 12 * 3600 + 5
    # the CLI's parsed expiry is 12 h ahead too
    when = datetime.datetime.fromisoformat(ad["expiresAt"]).timestamp()
    assert abs(when - exp) < 60


def test_signatures_checked(awscp):
    st, body = call(awscp, "ssm", "GetParameters", {"Names": ["x"]}, secret="wrong")
    assert st == 403 or st == 400
    assert body["__type"].endswith("InvalidSignatureException")
    st, body = call(awscp, "secretsmanager", "GetSecretValue", {"SecretId": "x"}, akid="AKIDUNKNOWN")
    assert body["__type"].endswith("UnrecognizedClientException")
    # signed for another service than the target's
    st, body = call(awscp, "ecr", "GetAuthorizationToken", {}, sign_service="ecs")
    assert st == 400 and body["__type"].endswith("InvalidSignatureException")
    assert "'ecr'" in body["message"]
    p = cli(awscp, "ssm", "get-parameters", "--names", "x", creds={"AWS_SECRET_ACCESS_KEY": "bad"}, check=False)
    assert p.returncode != 0 and "InvalidSignatureException" in p.stderr


def _register(ecs, cluster, attrs):
    r = ecs.register_container_instance(
        cluster=cluster,
        totalResources=[{"name": "CPU", "type": "INTEGER", "integerValue": 2048},
                        {"name": "MEMORY", "type": "INTEGER", "integerValue": 4096}],
        attributes=[{"name": a} for a in attrs],
        versionInfo={"agentVersion": "1.1.0", "agentHash": "abc", "dockerVersion": "DockerVersion: 20.10"})
    return r["containerInstance"]["containerInstanceArn"]


def _acs_model():
    shared = os.environ.get("SHARED_DIR") or os.path.join(REPO, "..", "shared")
    path = os.path.join(shared, "protocol", "acs", "agent-1.105.1", "api-2.json")
    if not os.path.exists(path):
        pytest.fail("ACS model not found at %s (set SHARED_DIR)" % path)
    with open(path) as f:
        return botocore.model.ServiceModel(json.load(f))


def test_payload_secrets_ecr_repository_credentials_and_role_denial(awscp):
    ecs = awscp.client()
    ecs.create_cluster(clusterName="sec")
    sm = cli(awscp, "secretsmanager", "create-secret", "--name", "reg-creds",
             "--secret-string", '{"username":"u","password":"p"}')
    cli(awscp, "ssm", "put-parameter", "--name", "/sec/one", "--value", "1", "--type", "SecureString")
    ssm_arn = "arn:aws:ssm:us-east-1:123456789012:parameter/sec/one"
    containers = [
        {"name": "ecr", "image": ECR_REGISTRY + "/team/app:1", "memory": 32,
         "secrets": [{"name": "DB", "valueFrom": "/sec/one"},
                     {"name": "API", "valueFrom": sm["ARN"] + ":password::"}],
         "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "g"},
                              "secretOptions": [{"name": "token", "valueFrom": ssm_arn}]}},
        {"name": "private", "image": "registry.example.com/x:1", "memory": 32,
         "repositoryCredentials": {"credentialsParameter": sm["ARN"]}},
        {"name": "plain", "image": "busybox", "memory": 32},
    ]
    # secrets need an execution role
    with pytest.raises(ecs.exceptions.ClientException):
        ecs.register_task_definition(family="sec", containerDefinitions=containers)
    td = ecs.register_task_definition(family="sec", executionRoleArn=EXEC_ROLE,
                                      containerDefinitions=containers)["taskDefinition"]
    req = {a["name"] for a in td["requiresAttributes"]}
    E, C = "ecs.capability.", "com.amazonaws.ecs.capability."
    for a in (C + "ecr-auth", E + "execution-role-ecr-pull", E + "secrets.ssm.environment-variables",
              E + "secrets.asm.environment-variables", E + "secrets.ssm.bootstrap.log-driver",
              E + "private-registry-authentication.secretsmanager", E + "execution-role-awslogs"):
        assert a in req, a
    inst = _register(ecs, "sec", sorted(req) + [C + "logging-driver.awslogs"])

    async def scenario():
        c = await AcsClient(awscp, "sec", inst).connect()
        await c.ack(await c.wait_type("PayloadMessage"))
        await asyncio.get_event_loop().run_in_executor(None, lambda: ecs.run_task(cluster="sec", taskDefinition="sec"))
        p = await c.wait_type("PayloadMessage", pred=lambda f: f["message"]["tasks"])
        await c.ack(p)
        await c.close()
        return p["message"]

    msg = run(scenario())
    check_shape(_acs_model().shape_for("PayloadMessage"), msg)
    t = msg["tasks"][0]
    by = {c["name"]: c for c in t["containers"]}
    assert by["ecr"]["registryAuthentication"] == {
        "type": "ecr", "ecrAuthData": {"registryId": "123456789012", "region": REGION,
                                       "endpointOverride": awscp.url, "useExecutionRole": True}}
    assert by["ecr"]["secrets"] == [
        {"name": "DB", "valueFrom": "/sec/one", "provider": "ssm", "region": REGION,
         "type": "ENVIRONMENT_VARIABLE", "target": "CONTAINER"},
        {"name": "API", "valueFrom": sm["ARN"] + ":password::", "provider": "asm", "region": REGION,
         "type": "ENVIRONMENT_VARIABLE", "target": "CONTAINER"},
        {"name": "token", "valueFrom": ssm_arn, "provider": "ssm", "region": "us-east-1",
         "type": "BOOTSTRAP", "target": "LOG_DRIVER"}]
    assert by["ecr"]["logsAuthStrategy"] == "ExecutionRole"
    assert by["private"]["registryAuthentication"] == {
        "type": "asm", "asmAuthData": {"credentialsParameter": sm["ARN"], "region": REGION}}
    assert "secrets" not in by["private"]
    assert "registryAuthentication" not in by["plain"] and "secrets" not in by["plain"]

    # the execution role's credentials are valid callers of the three services ...
    ec = t["executionRoleCredentials"]
    keys = dict(akid=ec["accessKeyId"], secret=ec["secretAccessKey"], token=ec["sessionToken"])
    st, body = call(awscp, "ssm", "GetParameters", {"Names": ["/sec/one"], "WithDecryption": True}, **keys)
    assert st == 200 and body["Parameters"][0]["Value"] == "1"
    st, body = call(awscp, "secretsmanager", "GetSecretValue", {"SecretId": sm["ARN"]}, **keys)
    assert st == 200 and json.loads(body["SecretString"])["username"] == "u"
    st, body = call(awscp, "ecr", "GetAuthorizationToken", {"registryIds": ["123456789012"]}, **keys)
    assert st == 200
    # ... a wrong token is not
    st, body = call(awscp, "ssm", "GetParameters", {"Names": ["/sec/one"]}, **dict(keys, token="x"))
    assert st == 400 and body["__type"].endswith("UnrecognizedClientException")
    # ... until the role is denied
    r = awscp.admin("/_local/iam/deny", {"principal": EXEC_ROLE, "services": ["ecr", "ssm", "secretsmanager"]})
    assert r["denied"] == {EXEC_ROLE: ["ecr", "secretsmanager", "ssm"]}
    st, body = call(awscp, "ecr", "GetAuthorizationToken", {"registryIds": ["123456789012"]}, **keys)
    assert st == 400 and body == {
        "__type": "AccessDeniedException",
        "message": "User: arn:aws:sts::123456789012:assumed-role/exec/ecs-task-session is not authorized to perform: "
                   "ecr:GetAuthorizationToken on resource: * because no identity-based policy allows the "
                   "ecr:GetAuthorizationToken action"}
    st, body = call(awscp, "ssm", "GetParameters", {"Names": ["/sec/one"], "WithDecryption": True}, **keys)
    assert st == 400 and body["__type"] == "AccessDeniedException"
    assert "ssm:GetParameters on resource: arn:aws:ssm:us-west-2:123456789012:parameter/sec/one" in body["message"]
    st, body = call(awscp, "secretsmanager", "GetSecretValue", {"SecretId": sm["ARN"]}, **keys)
    assert st == 400 and body["__type"] == "AccessDeniedException" and "Message" in body
    # other callers are not affected; lifting the denial restores access
    st, _ = call(awscp, "ssm", "GetParameters", {"Names": ["/sec/one"]})
    assert st == 200
    assert awscp.admin("/_local/iam/deny", {"principal": EXEC_ROLE, "services": []})["denied"] == {}
    st, _ = call(awscp, "ssm", "GetParameters", {"Names": ["/sec/one"]}, **keys)
    assert st == 200
    assert awscp.admin("/_local/iam")["denied"] == {}


def test_state_survives_restart(fresh_cp):
    cp = fresh_cp()
    cli(cp, "ssm", "put-parameter", "--name", "/keep", "--value", "kept", "--type", "SecureString")
    arn = cli(cp, "secretsmanager", "create-secret", "--name", "keep", "--secret-string", "kept")["ARN"]
    cp.stop()
    cp.start()
    st, body = call(cp, "ssm", "GetParameters", {"Names": ["/keep"], "WithDecryption": True})
    assert st == 200 and body["Parameters"][0]["Value"] == "kept"
    st, body = call(cp, "secretsmanager", "GetSecretValue", {"SecretId": "keep"})
    assert st == 200 and body["ARN"] == arn and body["SecretString"] == "kept"
    # no ECR registry configured: a clear 400, not a 500
    st, body = call(cp, "ecr", "GetAuthorizationToken", {})
    assert st == 400 and "--ecr-registry" in body["message"]
