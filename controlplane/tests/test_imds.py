import json
import urllib.error
import urllib.request

import pytest

from conftest import wait_until


def get(url, headers=None, method="GET"):
    req = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_imds_v1_and_v2(cp):
    u = cp.imds_url
    assert get(u + "/latest/meta-data/instance-id") == (200, "i-0123456789abcdef0")
    assert get(u + "/latest/meta-data/placement/availability-zone") == (200, "us-west-2a")
    assert get(u + "/latest/meta-data/placement/region") == (200, "us-west-2")
    st, doc = get(u + "/2014-02-25/dynamic/instance-identity/document")
    d = json.loads(doc)
    assert st == 200 and d["instanceId"] == "i-0123456789abcdef0" and d["region"] == "us-west-2"
    assert d["availabilityZone"] == "us-west-2a" and d["accountId"] == "123456789012"
    assert d["instanceType"] and d["privateIp"]
    st, sig = get(u + "/latest/dynamic/instance-identity/signature")
    assert st == 200 and sig.strip() and "\n" not in sig.strip()
    assert get(u + "/latest/meta-data/nope")[0] == 404
    # v2
    assert get(u + "/latest/api/token", method="PUT")[0] == 400
    st, tok = get(u + "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"}, "PUT")
    assert st == 200 and tok
    assert get(u + "/latest/meta-data/instance-id", {"X-aws-ec2-metadata-token": tok}) == (200, "i-0123456789abcdef0")
    assert get(u + "/latest/meta-data/instance-id", {"X-aws-ec2-metadata-token": "bogus"})[0] == 401
    # switch on "require v2" at run time
    cp.admin("/_local/faults", {"imds_require_v2": True})
    try:
        assert get(u + "/latest/meta-data/instance-id")[0] == 401
        assert get(u + "/latest/meta-data/instance-id", {"X-aws-ec2-metadata-token": tok})[0] == 200
    finally:
        cp.admin("/_local/faults/clear", {})
    assert get(u + "/latest/meta-data/instance-id")[0] == 200


def role_creds(cp):
    st, roles = get(cp.imds_url + "/latest/meta-data/iam/security-credentials/")
    assert st == 200
    role = roles.split("\n")[0]
    st, body = get(cp.imds_url + "/latest/meta-data/iam/security-credentials/" + role)
    assert st == 200
    return json.loads(body)


def test_imds_credentials_accepted_and_rotation(cp):
    c1 = role_creds(cp)
    for k in ("Code", "LastUpdated", "Type", "AccessKeyId", "SecretAccessKey", "Token", "Expiration"):
        assert k in c1
    assert c1["Code"] == "Success" and c1["Type"] == "AWS-HMAC"
    assert role_creds(cp)["AccessKeyId"] == c1["AccessKeyId"]  # stable until rotation
    ecs = cp.client(c1["AccessKeyId"], c1["SecretAccessKey"], c1["Token"])
    assert "clusterArns" in ecs.list_clusters()
    # the token is required with temporary credentials
    st, e = cp.raw_call("ListClusters", {}, akid=c1["AccessKeyId"], secret=c1["SecretAccessKey"])
    assert st == 400 and e["__type"].endswith("UnrecognizedClientException")
    st, e = cp.raw_call("ListClusters", {}, akid=c1["AccessKeyId"], secret=c1["SecretAccessKey"], token="x")
    assert st == 400 and e["__type"].endswith("UnrecognizedClientException")
    r = cp.admin("/_local/imds/rotate", {})
    c2 = role_creds(cp)
    assert c2["AccessKeyId"] == r["AccessKeyId"] != c1["AccessKeyId"]
    assert "clusterArns" in cp.client(c2["AccessKeyId"], c2["SecretAccessKey"], c2["Token"]).list_clusters()
    assert "clusterArns" in ecs.list_clusters()  # old ones valid until expiry


def test_imds_credentials_expire(fresh_cp):
    # 4 s: long enough that a loaded machine still makes the first call and
    # the last one (with the renewed triple) inside their lifetimes
    c = fresh_cp("--imds-cred-lifetime", "4")
    c1 = role_creds(c)
    ecs = c.client(c1["AccessKeyId"], c1["SecretAccessKey"], c1["Token"])
    assert "clusterArns" in ecs.list_clusters()
    # past 80% of the lifetime the metadata service hands out new ones
    c2 = wait_until(lambda: (lambda n: n if n["AccessKeyId"] != c1["AccessKeyId"] else None)(role_creds(c)), timeout=15)
    # past the lifetime the old ones are refused as expired
    def old_refused():
        st, e = c.raw_call("ListClusters", {}, akid=c1["AccessKeyId"], secret=c1["SecretAccessKey"],
                           token=c1["Token"])
        return (st, e) if st != 200 else None
    st, e = wait_until(old_refused, timeout=15)
    assert st == 400 and e["__type"].endswith("ExpiredTokenException")
    st, e = c.raw_call("ListClusters", {}, akid=c2["AccessKeyId"], secret=c2["SecretAccessKey"], token=c2["Token"])
    assert st == 200


def test_imds_require_v2_flag(fresh_cp):
    c = fresh_cp("--imds-require-v2")
    assert get(c.imds_url + "/latest/meta-data/instance-id")[0] == 401
    st, tok = get(c.imds_url + "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "21600"}, "PUT")
    assert get(c.imds_url + "/latest/meta-data/instance-id", {"X-aws-ec2-metadata-token": tok})[0] == 200


def test_imds_network_placement_and_instance_tags(cp):
    """What upstream reads from IMDS besides the identity: zone id, mac, the
    interface's VPC and subnet; and the instance's tags once allowed."""
    u = cp.imds_url
    assert get(u + "/latest/meta-data/placement/availability-zone-id") == (200, "usw2-az1")
    st, mac = get(u + "/latest/meta-data/mac")
    assert st == 200 and mac
    assert get(u + "/latest/meta-data/network/interfaces/macs/%s/vpc-id" % mac)[1].startswith("vpc-")
    assert get(u + "/latest/meta-data/network/interfaces/macs/%s/subnet-id" % mac)[1].startswith("subnet-")
    assert get(u + "/latest/meta-data/tags/instance")[0] == 404
    cp.admin("/_local/imds/tags", {"tags": {"Name": "web-1", "team": "infra"}})
    try:
        st, keys = get(u + "/latest/meta-data/tags/instance")
        assert st == 200 and sorted(keys.split("\n")) == ["Name", "team"]
        assert get(u + "/latest/meta-data/tags/instance/team") == (200, "infra")
    finally:
        cp.admin("/_local/imds/tags", {"tags": None})
    assert get(u + "/latest/meta-data/tags/instance")[0] == 404
