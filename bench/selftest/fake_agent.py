#!/usr/bin/python3
"""fake_agent.py - a tiny stand-in for the agent, to test the bench harness itself.

NOT a benchmark subject: it implements just enough of the agent's behaviour for
bench/bench.py to run every phase (register, ACS websocket with acks, create+start
on PayloadMessage, stop on desiredStatus STOPPED, die events -> state changes,
cleanup after ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION).  Usage:
    AGENT_BIN=bench/selftest/fake_agent.py BENCH_IDLE_SECONDS=5 bench/run.sh
"""
import asyncio
import json
import os
import signal
import sys
import urllib.parse

import aiohttp
import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ENV = os.environ
CLUSTER = ENV.get("ECS_CLUSTER", "default")
REGION = ENV.get("AWS_DEFAULT_REGION", "us-west-2")
LABEL_K, _, LABEL_V = ENV.get("ECS_AGENT_EXTRA_CONTAINER_LABEL", "=").partition("=")
CLEANUP_S = float(ENV.get("ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION", "3s").rstrip("s") or 3)


def say(msg):
    sys.stdout.write('level=info module=fake msg="%s"\n' % msg)
    sys.stdout.flush()


class Fake:
    def __init__(self):
        s = botocore.session.get_session()
        self.ecs = s.create_client("ecs", region_name=REGION, endpoint_url=ENV["ECS_BACKEND_HOST"],
                                   aws_access_key_id=ENV["AWS_ACCESS_KEY_ID"],
                                   aws_secret_access_key=ENV["AWS_SECRET_ACCESS_KEY"])
        self.creds = Credentials(ENV["AWS_ACCESS_KEY_ID"], ENV["AWS_SECRET_ACCESS_KEY"])
        self.tasks = {}  # arn -> {"id": docker id}
        self.by_id = {}  # docker id -> task arn

    async def api(self, op, **kw):
        fn = getattr(self.ecs, op)
        return await asyncio.get_event_loop().run_in_executor(None, lambda: fn(**kw))

    async def docker(self, method, path, body=None):
        async with self.http.request(method, "http://docker" + path, json=body) as r:
            txt = await r.text()
            return r.status, (json.loads(txt) if txt.strip().startswith("{") else txt)

    async def run(self):
        self.http = aiohttp.ClientSession(connector=aiohttp.UnixConnector(path="/var/run/docker.sock"))
        self.api_http = aiohttp.ClientSession()
        r = await self.api("register_container_instance", cluster=CLUSTER,
                           totalResources=[{"name": "CPU", "type": "INTEGER", "integerValue": 2048},
                                           {"name": "MEMORY", "type": "INTEGER", "integerValue": 20000}])
        self.inst = r["containerInstance"]["containerInstanceArn"]
        say("Registered container instance %s in cluster %s" % (self.inst, CLUSTER))
        ep = (await self.api("discover_poll_endpoint", cluster=CLUSTER))["endpoint"]
        asyncio.get_event_loop().create_task(self.events())
        q = urllib.parse.urlencode({"clusterArn": CLUSTER, "containerInstanceArn": self.inst, "seqNum": "1"})
        url = ep.rstrip("/") + "/ws?" + q
        req = AWSRequest(method="GET", url=url)
        SigV4Auth(self.creds, "ecs", REGION).add_auth(req)
        async with self.api_http.ws_connect(url, headers=dict(req.headers.items())) as ws:
            say("ACS connected")
            async for msg in ws:
                d = json.loads(msg.data)
                m = d.get("message") or {}
                if d.get("type") == "PayloadMessage":
                    await ws.send_str(json.dumps({"type": "AckRequest", "message": {
                        "messageId": m["messageId"], "clusterArn": m.get("clusterArn"),
                        "containerInstanceArn": self.inst}}))
                    for t in m.get("tasks") or []:
                        asyncio.get_event_loop().create_task(self.task(t))

    async def task(self, t):
        arn = t["arn"]
        if t["desiredStatus"] == "STOPPED":
            st = self.tasks.get(arn)
            if st and st.get("id"):
                await self.docker("POST", "/containers/%s/stop?t=2" % st["id"])
            return
        if arn in self.tasks:
            return
        self.tasks[arn] = st = {}
        c = t["containers"][0]
        cmd = c.get("command")
        ov = json.loads(c.get("overrides") or "{}")
        if ov.get("command"):
            cmd = ov["command"]
        labels = {"com.amazonaws.ecs.task-arn": arn, "com.amazonaws.ecs.container-name": c["name"],
                  "com.amazonaws.ecs.cluster": CLUSTER}
        if LABEL_K:
            labels[LABEL_K] = LABEL_V
        code, r = await self.docker("POST", "/containers/create", {
            "Image": c["image"], "Cmd": cmd, "Labels": labels,
            "HostConfig": {"Memory": c["memory"] * 1024 * 1024, "CpuShares": c["cpu"]}})
        st["id"] = r["Id"]
        self.by_id[r["Id"]] = arn
        await self.docker("POST", "/containers/%s/start" % r["Id"])
        await self.api("submit_task_state_change", cluster=CLUSTER, task=arn, status="RUNNING",
                       containers=[{"containerName": c["name"], "status": "RUNNING", "runtimeId": r["Id"]}])

    async def events(self):
        f = json.dumps({"type": ["container"], "event": ["die"], "label": ["com.amazonaws.ecs.cluster=" + CLUSTER]})
        async with self.http.get("http://docker/events?filters=" + urllib.parse.quote(f),
                                 timeout=aiohttp.ClientTimeout(total=None)) as r:
            async for line in r.content:
                e = json.loads(line)
                arn = self.by_id.get(e.get("id"))
                if arn:
                    asyncio.get_event_loop().create_task(self.died(arn, e))

    async def died(self, arn, e):
        ec = int(e["Actor"]["Attributes"].get("exitCode", "0"))
        await self.api("submit_container_state_change", cluster=CLUSTER, task=arn, containerName="main",
                       status="STOPPED", exitCode=ec, runtimeId=e["id"])
        await self.api("submit_task_state_change", cluster=CLUSTER, task=arn, status="STOPPED")
        await asyncio.sleep(CLEANUP_S)
        await self.docker("DELETE", "/containers/%s?force=1&v=1" % e["id"])
        self.tasks.pop(arn, None)


def main():
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    main_task = loop.create_task(Fake().run())
    loop.add_signal_handler(signal.SIGTERM, main_task.cancel)
    try:
        loop.run_until_complete(main_task)
    except asyncio.CancelledError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
