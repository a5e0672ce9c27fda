"""Fake EC2 instance metadata service (IMDSv1 + IMDSv2) with rotating role credentials.

Any version prefix is accepted (/latest/..., /2014-02-25/...).  Issued role
credentials are registered with the SigV4 CredentialStore; old credentials stay
valid until their own expiration.
"""

import base64
import datetime
import hashlib
import json
import logging
import secrets
import string
import time

from aiohttp import web

log = logging.getLogger("controlplane.imds")


def _iso(ts):
    return datetime.datetime.utcfromtimestamp(ts).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rand(alphabet, n):
    return "".join(secrets.choice(alphabet) for _ in range(n))


class Imds:
    def __init__(self, state, creds, faults, region, account, instance_id="i-0123456789abcdef0",
                 instance_type="m5.large", role="ecs-local-instance-role", cred_lifetime=3600.0,
                 require_v2=False, private_ip="10.0.0.10"):
        self.state = state
        self.creds = creds
        self.faults = faults
        self.region = region
        self.account = account
        self.instance_id = instance_id
        self.instance_type = instance_type
        self.role = role
        self.cred_lifetime = float(cred_lifetime)
        self.require_v2 = require_v2
        self.private_ip = private_ip
        self.az = region + "a"
        self.mac = "0e:49:61:0f:c3:11"
        self.tokens = {}  # token -> expiry
        self.spot_action = None  # {"action", "time"}: the spot interruption notice, when announced
        # the instance's tags, served under meta-data/tags/instance (EC2 serves them there when
        # the instance allows tags in its metadata): None = not allowed (404)
        self.instance_tags = None
        for c in self.state.imds_creds:
            self.creds.add_temporary(c["AccessKeyId"], c["SecretAccessKey"], c["Token"], c["_exp"],
                                     self.role_arn())

    # ------------------------------------------------------------ credentials
    def role_arn(self):
        """The instance role's ARN (the identity its credentials act as)."""
        return "arn:aws:iam::%s:role/%s" % (self.account, self.role or "ecs-local-instance-role")

    def current_creds(self):
        now = time.time()
        cur = self.state.imds_creds[-1] if self.state.imds_creds else None
        # rotate at 80% of the lifetime (like IMDS, which refreshes well before expiry)
        if cur is None or now >= cur["_issued"] + 0.8 * self.cred_lifetime:
            cur = self.rotate()
        return cur

    def rotate(self):
        with self.state.lock:
            now = time.time()
            exp = now + self.cred_lifetime
            c = {
                "Code": "Success", "LastUpdated": _iso(now), "Type": "AWS-HMAC",
                "AccessKeyId": "ASIA" + _rand(string.ascii_uppercase + string.digits, 16),
                "SecretAccessKey": _rand(string.ascii_letters + string.digits + "/+", 40),
                "Token": base64.b64encode(secrets.token_bytes(96)).decode(),
                "Expiration": _iso(exp), "_issued": now, "_exp": exp,
            }
            self.creds.add_temporary(c["AccessKeyId"], c["SecretAccessKey"], c["Token"], exp, self.role_arn())
            self.state.imds_creds = [x for x in self.state.imds_creds if x["_exp"] > now - 3600] + [c]
            self.state.save()
            log.info("issued role credentials %s (expires %s)", c["AccessKeyId"], c["Expiration"])
            return c

    # ------------------------------------------------------------ documents
    def identity_document(self):
        return json.dumps({
            "accountId": self.account, "architecture": "x86_64", "availabilityZone": self.az,
            "billingProducts": None, "devpayProductCodes": None, "marketplaceProductCodes": None,
            "imageId": "ami-0123456789abcdef0", "instanceId": self.instance_id,
            "instanceType": self.instance_type, "kernelId": None, "pendingTime": "2024-01-01T00:00:00Z",
            "privateIp": self.private_ip, "ramdiskId": None, "region": self.region, "version": "2017-09-30",
        }, indent=2)

    def tree(self):
        """Flat map of metadata path (after the version prefix) -> value (str) or None for listings."""
        c = self.current_creds() if self.role else None
        mac = self.mac
        md = {
            "meta-data/ami-id": "ami-0123456789abcdef0",
            "meta-data/ami-launch-index": "0",
            "meta-data/hostname": "ip-10-0-0-10.%s.compute.internal" % self.region,
            "meta-data/local-hostname": "ip-10-0-0-10.%s.compute.internal" % self.region,
            "meta-data/instance-id": self.instance_id,
            "meta-data/instance-type": self.instance_type,
            "meta-data/local-ipv4": self.private_ip,
            "meta-data/mac": mac,
            "meta-data/placement/availability-zone": self.az,
            "meta-data/placement/availability-zone-id": "usw2-az1",
            "meta-data/placement/region": self.region,
            "meta-data/network/interfaces/macs/%s/device-number" % mac: "0",
            "meta-data/network/interfaces/macs/%s/vpc-id" % mac: "vpc-0123456789abcdef0",
            "meta-data/network/interfaces/macs/%s/subnet-id" % mac: "subnet-0123456789abcdef0",
            "meta-data/network/interfaces/macs/%s/local-ipv4s" % mac: self.private_ip,
            "meta-data/network/interfaces/macs/%s/vpc-ipv4-cidr-block" % mac: "10.0.0.0/16",
            "dynamic/instance-identity/document": self.identity_document(),
            "dynamic/instance-identity/signature": base64.b64encode(
                hashlib.sha256(self.identity_document().encode()).digest() * 8).decode(),
            "dynamic/instance-identity/pkcs7": base64.b64encode(b"local-fake-pkcs7").decode(),
        }
        if self.spot_action:
            md["meta-data/spot/instance-action"] = json.dumps(self.spot_action)
        for k, v in (self.instance_tags or {}).items():
            md["meta-data/tags/instance/" + k] = v
        if self.role:
            md["meta-data/iam/info"] = json.dumps({
                "Code": "Success", "LastUpdated": c["LastUpdated"],
                "InstanceProfileArn": "arn:aws:iam::%s:instance-profile/%s" % (self.account, self.role),
                "InstanceProfileId": "AIPAEXAMPLEPROFILEID0"}, indent=2)
            md["meta-data/iam/security-credentials/" + self.role] = json.dumps(
                {k: v for k, v in c.items() if not k.startswith("_")}, indent=2)
        return md

    # ------------------------------------------------------------ HTTP
    async def handle(self, request):
        request["op"] = "imds"
        path = request.path
        if request.method == "PUT" and path.rstrip("/").endswith("/api/token"):
            if request.headers.get("X-Forwarded-For"):
                return web.Response(status=403, text="Forbidden")
            ttl = request.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            try:
                ttl = int(ttl)
            except (TypeError, ValueError):
                return web.Response(status=400, text="Bad Request")
            if ttl < 1 or ttl > 21600:
                return web.Response(status=400, text="Bad Request")
            tok = base64.urlsafe_b64encode(secrets.token_bytes(42)).decode()
            now = time.time()
            self.tokens = {k: v for k, v in self.tokens.items() if v > now}
            self.tokens[tok] = now + ttl
            return web.Response(text=tok, headers={"X-aws-ec2-metadata-token-ttl-seconds": str(ttl)})
        if request.method not in ("GET", "HEAD"):
            return web.Response(status=405, text="Method Not Allowed")
        tok = request.headers.get("X-aws-ec2-metadata-token")
        require_v2 = self.faults.imds_require_v2 if self.faults.imds_require_v2 is not None else self.require_v2
        if tok is not None:
            if self.tokens.get(tok, 0) < time.time():
                return web.Response(status=401, text="Unauthorized")
        elif require_v2:
            return web.Response(status=401, text="Unauthorized")
        parts = path.lstrip("/").split("/", 1)
        if len(parts) < 2 or not parts[1]:
            if len(parts) >= 1 and parts[0]:
                return web.Response(text="dynamic\nmeta-data\nuser-data")
            return web.Response(text="latest")
        rest = parts[1]
        tree = self.tree()
        key = rest.rstrip("/")
        if key in tree and not rest.endswith("/"):
            ctype = "application/json" if tree[key].startswith("{") else "text/plain"
            return web.Response(text=tree[key], content_type=ctype)
        prefix = key + "/"
        children = []
        for k in tree:
            if k.startswith(prefix):
                child = k[len(prefix):]
                name = child.split("/", 1)[0] + ("/" if "/" in child else "")
                if name not in children:
                    children.append(name)
        if children:
            return web.Response(text="\n".join(children))
        return web.Response(status=404, text="Not Found", content_type="text/html")
