import datetime
import os

import botocore.exceptions
import pytest

from controlplane import sigv4
from conftest import AKID, REPO, SECRET


def aws4_suite():
    """$SHARED_DIR/protocol/aws4_testsuite (scripts/test-all.sh exports
    SHARED_DIR; without it, ../shared next to the repository, as test-all.sh
    defaults).  Missing fixtures fail the test: a skip would pass having
    asserted nothing."""
    shared = os.environ.get("SHARED_DIR") or os.path.join(REPO, "..", "shared")
    suite = os.path.join(shared, "protocol", "aws4_testsuite")
    if not os.path.isdir(suite):
        pytest.fail("aws4_testsuite not found at %s (set SHARED_DIR)" % suite)
    return suite


def test_spec_vectors():
    """Worked vectors: a DiscoverPollEndpoint call and an ACS upgrade request
    signed with AWS's documented example key, checked to the signature."""
    store = sigv4.CredentialStore()
    store.add_static("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    now = datetime.datetime(2015, 5, 19, 12, 0, 0, tzinfo=datetime.timezone.utc).timestamp()
    body = (b'{"cluster":"default","containerInstance":'
            b'"arn:aws:ecs:us-west-2:123456789012:container-instance/abc"}')
    hdrs = {"host": ["ecs.us-west-2.amazonaws.com"], "x-amz-date": ["20150519T120000Z"],
            "x-amz-target": ["AmazonEC2ContainerServiceV20141113.DiscoverPollEndpoint"],
            "authorization": ["AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150519/us-west-2/ecs/aws4_request, "
                              "SignedHeaders=host;x-amz-date;x-amz-target, "
                              "Signature=f6daffba00b91753ba65706052279e76712041e4ac9d591d92bb3893f423172c"]}
    assert sigv4.verify("POST", "/", "", hdrs, body, store, "us-west-2", now=now)["akid"] == "AKIDEXAMPLE"
    assert sigv4.signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150519", "us-west-2", "ecs").hex() == \
        "7e0364c71ff6ae510c61f831b1ab626b613eb4eca9f517060af029338f19dfc4"
    with pytest.raises(sigv4.SigV4Error) as e:
        sigv4.verify("POST", "/", "", hdrs, body + b" ", store, "us-west-2", now=now)
    assert e.value.code == "InvalidSignatureException"
    # ACS upgrade, 1.1.0 style (host only), Go form-encoded query on the wire
    q = ("agentHash=4d9f982&agentVersion=1.1.0&clusterArn=default&containerInstanceArn=arn%3Aaws%3Aecs%3A"
         "us-west-2%3A123456789012%3Acontainer-instance%2Fabc&dockerVersion=DockerVersion%3A+1.6.0&seqNum=1")
    ws = {"host": ["ecs-a-1.us-west-2.amazonaws.com"], "x-amz-date": ["20150519T120000Z"],
          "authorization": ["AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150519/us-west-2/ecs/aws4_request, "
                            "SignedHeaders=host, Signature=af9a78c4257cd45547122fc1f223af3f6db5f47329df18ef0faa499d765ce957"]}
    assert sigv4.verify("GET", "/ws", q, ws, b"", store, "us-west-2", now=now)
    ws["authorization"] = ["AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150519/us-west-2/ecs/aws4_request, "
                           "SignedHeaders=host;x-amz-date, "
                           "Signature=b07e05747d3cb500c36c07ac540a9de4e0a544ed1f4ec67cb1b285e187acda33"]
    assert sigv4.verify("GET", "/ws", q, ws, b"", store, "us-west-2", now=now)


def test_aws4_testsuite_vanilla_query():
    suite = aws4_suite()
    # get-vanilla-query-order-key-case: verify the canonical query rule against the suite
    creq = open(os.path.join(suite, "get-vanilla-query-order-key-case.creq")).read().replace("\r\n", "\n")
    assert sigv4.canonical_query("foo=Zoo&foo=aha") == creq.split("\n")[2]


def test_refusals_with_botocore(cp):
    st, e = cp.raw_call("ListClusters", {}, sign=False)
    assert st == 400 and e["__type"].endswith("#MissingAuthenticationTokenException")
    st, e = cp.raw_call("ListClusters", {}, secret="wrong")
    assert st == 400 and e["__type"].endswith("#InvalidSignatureException")
    assert e["message"].startswith("The request signature we calculated does not match")
    st, e = cp.raw_call("ListClusters", {}, akid="AKIDUNKNOWN")
    assert st == 400 and e["__type"].endswith("#UnrecognizedClientException")
    assert e["message"] == "The security token included in the request is invalid."
    st, e = cp.raw_call("ListClusters", {}, amz_date="20150519T120000Z")
    assert st == 400 and e["__type"].endswith("#InvalidSignatureException")
    assert e["message"].startswith("Signature expired: 20150519T120000Z is now earlier than")
    # a token on a key that has none is refused
    st, e = cp.raw_call("ListClusters", {}, token="tok")
    assert st == 400 and e["__type"].endswith("#UnrecognizedClientException")
    st, e = cp.raw_call("ListClusters", {})
    assert st == 200 and "clusterArns" in e
    # botocore maps them to ClientError codes
    with pytest.raises(botocore.exceptions.ClientError) as ex:
        cp.client(secret="nope").list_clusters()
    assert ex.value.response["Error"]["Code"] == "InvalidSignatureException"


def test_cli_wrong_secret(cp):
    p = cp.aws("list-clusters", check=False, env={"AWS_SECRET_ACCESS_KEY": "wrong"})
    assert p.returncode != 0 and "InvalidSignatureException" in p.stderr


def test_static_session_token(fresh_cp):
    c = fresh_cp("--session-token", "SESSIONTOKEN")
    st, e = c.raw_call("ListClusters", {})
    assert st == 400 and e["__type"].endswith("#UnrecognizedClientException")
    st, e = c.raw_call("ListClusters", {}, token="SESSIONTOKEN")
    assert st == 200
    assert c.client(token="SESSIONTOKEN").list_clusters()["clusterArns"] == []
    p = c.aws("list-clusters", env={"AWS_SESSION_TOKEN": "SESSIONTOKEN"})
    assert p["clusterArns"] == []


def test_aws4_testsuite_all_cases():
    """All 30 cases of AWS's aws4_testsuite verify (service `host`, us-east-1)."""
    suite = aws4_suite()
    store = sigv4.CredentialStore()
    store.add_static("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    now = datetime.datetime(2011, 9, 9, 23, 36, tzinfo=datetime.timezone.utc).timestamp()
    n = 0
    for f in sorted(os.listdir(suite)):
        if not f.endswith(".req"):
            continue
        name = f[:-4]
        raw = open(os.path.join(suite, f), "rb").read().decode("utf-8")
        head, _, body = raw.partition("\r\n\r\n")
        lines = head.split("\r\n")
        method, rest = lines[0].split(" ", 1)
        target = rest.split(" ")[0]
        hdrs = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            hdrs.setdefault(k.strip().lower(), []).append(v.strip())
        hdrs["authorization"] = [open(os.path.join(suite, name + ".authz")).read().strip()]
        path, _, q = target.partition("?")
        sigv4.verify(method, path, q, hdrs, body.encode(), store, "us-east-1", service="host", now=now)
        n += 1
    assert n == 30
