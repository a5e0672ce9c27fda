import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import aiohttp
import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
import pytest
import yarl

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY = "/usr/bin/python3"
AKID = "AKIDLOCALTEST"
SECRET = "local/secret+key"
REGION = "us-west-2"
# the capability attributes an agent on a current Docker engine registers (placement checks
# a task definition's requiresAttributes against them)
AGENT_ATTRIBUTES = ([{"name": "com.amazonaws.ecs.capability.docker-remote-api.1.%d" % v} for v in range(17, 45)]
                    + [{"name": "com.amazonaws.ecs.capability.privileged-container"},
                       {"name": "com.amazonaws.ecs.capability.logging-driver.json-file"},
                       {"name": "com.amazonaws.ecs.capability.logging-driver.none"}])


class ControlPlane:
    def __init__(self, extra_args=(), state_dir=None, imds=True):
        self.tmp = None
        if state_dir is None:
            self.tmp = tempfile.TemporaryDirectory(prefix="cp-test-")
            state_dir = self.tmp.name
        self.state_dir = state_dir
        self.extra_args = list(extra_args)
        self.imds_enabled = imds
        self.proc = None
        self.start()

    def start(self):
        args = [PY, "-m", "controlplane", "--listen", "127.0.0.1:0", "--region", REGION,
                "--access-key", AKID, "--secret-key", SECRET, "--state-dir", self.state_dir]
        if self.imds_enabled:
            args += ["--imds-listen", "127.0.0.1:0"]
        args += self.extra_args
        self.stderr = open(os.path.join(self.state_dir, "server.log"), "ab")
        self.proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=self.stderr)
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(5)
            raise RuntimeError("control plane failed to start: " + self.log())
        info = json.loads(line)
        self.addr = info["listen"]
        self.imds_addr = info.get("imds")
        self.url = "http://%s" % self.addr
        self.imds_url = "http://%s" % self.imds_addr if self.imds_addr else None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.proc.stdout.close()
        self.stderr.close()

    def restart(self):
        self.stop()
        self.start()

    def close(self):
        self.stop()
        if self.tmp:
            self.tmp.cleanup()

    def log(self):
        with open(os.path.join(self.state_dir, "server.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    # ---------------------------------------------------------------- clients
    def client(self, akid=AKID, secret=SECRET, token=None, retries=0):
        s = botocore.session.Session()
        s.set_credentials(akid, secret, token)
        return s.create_client("ecs", region_name=REGION, endpoint_url=self.url,
                               config=Config(retries={"max_attempts": retries, "mode": "legacy"},
                                             connect_timeout=5, read_timeout=20))

    def aws(self, *args, check=True, env=None):
        e = dict(os.environ)
        e.update({"AWS_ACCESS_KEY_ID": AKID, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_CONFIG_FILE": "/dev/null",
                  "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_PAGER": "", "AWS_MAX_ATTEMPTS": "1"})
        e.pop("AWS_SESSION_TOKEN", None)
        e.pop("AWS_PROFILE", None)
        if env:
            e.update(env)
        cmd = ["/usr/bin/aws", "--endpoint-url", self.url, "--region", REGION, "--output", "json", "ecs"] + list(args)
        p = subprocess.run(cmd, env=e, capture_output=True, text=True, timeout=60)
        if check:
            assert p.returncode == 0, "aws %s failed: %s" % (args, p.stderr)
            return json.loads(p.stdout) if p.stdout.strip() else {}
        return p

    def raw_call(self, op, body, akid=AKID, secret=SECRET, token=None, headers=None, sign=True,
                 amz_date=None):
        """POST an ECS JSON call signed with botocore's SigV4Auth; returns (status, json)."""
        data = json.dumps(body).encode()
        h = {"Content-Type": "application/x-amz-json-1.1",
             "X-Amz-Target": "AmazonEC2ContainerServiceV20141113." + op}
        h.update(headers or {})
        req = AWSRequest(method="POST", url=self.url + "/", data=data, headers=h)
        if sign:
            auth = SigV4Auth(Credentials(akid, secret, token), "ecs", REGION)
            if amz_date:
                import unittest.mock, datetime as _dt
                fixed = _dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")

                class _D(_dt.datetime):
                    @classmethod
                    def utcnow(cls):
                        return fixed
                with unittest.mock.patch("botocore.auth.datetime.datetime", _D):
                    auth.add_auth(req)
            else:
                auth.add_auth(req)
        r = urllib.request.Request(self.url + "/", data=data, method="POST", headers=dict(req.headers.items()))
        try:
            with urllib.request.urlopen(r, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def admin(self, path, body=None, method=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method or ("POST" if data else "GET"),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def events(self, kind=None):
        q = "?kind=" + kind if kind else ""
        return self.admin("/_local/events" + q)["events"]

    # ---------------------------------------------------------------- helpers
    def register_instance(self, ecs, cluster="default", cpu=2048, mem=4096, ports=("22", "2375", "2376", "51678"),
                          attributes=None):
        r = ecs.register_container_instance(
            cluster=cluster,
            totalResources=[{"name": "CPU", "type": "INTEGER", "integerValue": cpu},
                            {"name": "MEMORY", "type": "INTEGER", "integerValue": mem},
                            {"name": "PORTS", "type": "STRINGSET", "stringSetValue": list(ports)}],
            versionInfo={"agentVersion": "1.1.0", "agentHash": "abc", "dockerVersion": "DockerVersion: 20.10"},
            attributes=AGENT_ATTRIBUTES + [{"name": k, "value": v} for k, v in (attributes or {}).items()])
        return r["containerInstance"]["containerInstanceArn"]


@pytest.fixture(scope="module")
def cp():
    c = ControlPlane(["--heartbeat-interval", "0.5", "--resend-interval", "1.0"])
    yield c
    c.close()


@pytest.fixture
def fresh_cp():
    made = []

    def make(*extra, **kw):
        c = ControlPlane(["--heartbeat-interval", "0.5", "--resend-interval", "1.0"] + list(extra), **kw)
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()


# -------------------------------------------------------------------- ACS websocket client
def signed_ws_headers(url, akid=AKID, secret=SECRET, token=None, region=REGION):
    req = AWSRequest(method="GET", url=url, headers={})
    SigV4Auth(Credentials(akid, secret, token), "ecs", region).add_auth(req)
    return {k: v for k, v in req.headers.items()}


def ws_url(cp, cluster, instance_arn, **extra):
    q = {"clusterArn": cluster, "containerInstanceArn": instance_arn, "agentVersion": "1.1.0",
         "agentHash": "abc", "seqNum": "1", "dockerVersion": "DockerVersion: 20.10"}
    q.update(extra)
    # encode like an AWS signer (%20, %3A, %2F) so the wire form equals the signed form
    return cp.url + "/ws?" + urllib.parse.urlencode(sorted(q.items()), quote_via=urllib.parse.quote, safe="-_.~")


def wire(url):
    """URL object aiohttp sends byte-for-byte (no re-quoting)."""
    return yarl.URL(url, encoded=True)


class AcsClient:
    """Scripted agent side of the ACS websocket."""

    def __init__(self, cp, cluster, instance_arn, **sign_kw):
        self.cp = cp
        self.url = ws_url(cp, cluster, instance_arn)
        self.cluster = cluster
        self.instance_arn = instance_arn
        self.sign_kw = sign_kw
        self.frames = []
        self.raw = []
        self.session = None
        self.ws = None
        self._cond = None
        self._reader = None
        self.closed = False

    async def connect(self):
        self._cond = asyncio.Condition()
        self.session = aiohttp.ClientSession()
        self.ws = await self.session.ws_connect(wire(self.url), headers=signed_ws_headers(self.url, **self.sign_kw),
                                                autoping=True)
        self._reader = asyncio.get_event_loop().create_task(self._read())
        return self

    async def _read(self):
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.raw.append(msg.data)
                try:
                    obj = json.loads(msg.data)
                except ValueError:
                    obj = {"type": "<raw>", "message": msg.data}
                obj["_t"] = time.time()
                async with self._cond:
                    self.frames.append(obj)
                    self._cond.notify_all()
        self.closed = True
        async with self._cond:
            self._cond.notify_all()

    async def wait_for(self, pred, timeout=5.0, start=0):
        """Return the first frame (index >= start) satisfying pred."""
        deadline = time.time() + timeout
        async with self._cond:
            while True:
                for f in self.frames[start:]:
                    if pred(f):
                        return f
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError("frame not received in %.1fs; got %s" % (
                        timeout, [(f.get("type"), (f.get("message") or {}).get("messageId")
                                   if isinstance(f.get("message"), dict) else None) for f in self.frames]))
                try:
                    await asyncio.wait_for(self._cond.wait(), left)
                except asyncio.TimeoutError:
                    pass

    async def wait_closed(self, timeout=5.0):
        """Wait until the server has closed the websocket (the reader ended)."""
        deadline = time.time() + timeout
        async with self._cond:
            while not self.closed:
                left = deadline - time.time()
                if left <= 0:
                    raise AssertionError("websocket still open after %.1fs" % timeout)
                try:
                    await asyncio.wait_for(self._cond.wait(), left)
                except asyncio.TimeoutError:
                    pass

    async def wait_type(self, typ, timeout=5.0, start=0, pred=None):
        return await self.wait_for(lambda f: f.get("type") == typ and (pred is None or pred(f)), timeout, start)

    async def send(self, typ, message):
        await self.ws.send_str(json.dumps({"type": typ, "message": message}))

    async def ack(self, payload):
        m = payload["message"]
        await self.send("AckRequest", {"cluster": self.cluster, "containerInstance": m["containerInstanceArn"],
                                       "messageId": m["messageId"]})

    def payloads(self):
        return [f for f in self.frames if f.get("type") == "PayloadMessage"]

    async def close(self):
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            try:
                await asyncio.wait_for(self._reader, 5)
            except Exception:
                pass
        if self.session is not None:
            await self.session.close()


def run(coro):
    return asyncio.run(coro)


def wait_until(fn, timeout=5.0, interval=0.05):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError("condition not met within %.1fs" % timeout)
        time.sleep(interval)  # poll interval of this wait
