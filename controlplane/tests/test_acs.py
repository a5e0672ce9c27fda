import asyncio
import json

import aiohttp

from conftest import AcsClient, run, signed_ws_headers, wait_until, wire, ws_url


def setup_cluster(cp, name):
    ecs = cp.client()
    ecs.create_cluster(clusterName=name)
    inst = cp.register_instance(ecs, name)
    ecs.register_task_definition(family=name, containerDefinitions=[
        {"name": "web", "image": "nginx", "cpu": 100, "memory": 64, "essential": True,
         "command": ["nginx"], "entryPoint": ["/docker-entrypoint.sh"],
         "environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
         "portMappings": [{"containerPort": 80, "hostPort": 8080}],
         "mountPoints": [{"sourceVolume": "data", "containerPath": "/data", "readOnly": True}],
         "links": ["side"]},
        {"name": "side", "image": "busybox", "memory": 32, "essential": False,
         "volumesFrom": [{"sourceContainer": "web"}],
         "mountPoints": [{"sourceVolume": "scratch", "containerPath": "/s"}]}],
        volumes=[{"name": "data", "host": {"sourcePath": "/tmp/data"}}, {"name": "scratch"}])
    return ecs, inst


def test_acs_payload_ack_resend_reconnect_stop(cp):
    ecs, inst = setup_cluster(cp, "acs1")

    async def scenario():
        c = await AcsClient(cp, "acs1", inst).connect()
        # on connect: a payload (no tasks yet)
        first = await c.wait_type("PayloadMessage")
        assert first["message"]["tasks"] == []
        await c.ack(first)
        assert ecs.describe_container_instances(cluster="acs1", containerInstances=[inst])[
            "containerInstances"][0]["agentConnected"] is True
        # heartbeats arrive (interval 0.5 s) and acks of them are recorded
        hb = await c.wait_type("HeartbeatMessage", timeout=3)
        assert hb["message"]["healthy"] is True and hb["message"]["messageId"]
        await c.send("HeartbeatAckRequest", {"messageId": hb["message"]["messageId"]})

        run_r = await asyncio.get_event_loop().run_in_executor(None, lambda: ecs.run_task(
            cluster="acs1", taskDefinition="acs1",
            overrides={"containerOverrides": [{"name": "web", "command": ["echo", "hi"],
                                               "environment": [{"name": "B", "value": "x"}]}]}))
        task_arn = run_r["tasks"][0]["taskArn"]
        n0 = len(c.frames)
        p = await c.wait_type("PayloadMessage", start=n0, pred=lambda f: f["message"]["tasks"])
        m = p["message"]
        assert m["containerInstanceArn"] == inst
        assert m["clusterArn"].endswith(":cluster/acs1")
        assert m["seqNum"] > first["message"]["seqNum"]
        assert isinstance(m["generatedAt"], int)
        t = m["tasks"][0]
        assert t["arn"] == task_arn and t["desiredStatus"] == "RUNNING"
        assert t["family"] == "acs1" and t["version"] == "1" and t["overrides"] == "{}"
        web = t["containers"][0]
        assert web["name"] == "web" and web["image"] == "nginx"
        assert web["command"] == ["nginx"] and web["entryPoint"] == ["/docker-entrypoint.sh"]
        assert json.loads(web["overrides"]) == {"command": ["echo", "hi"]}
        assert web["environment"] == {"A": "1", "B": "x"}
        assert web["cpu"] == 100 and web["memory"] == 64 and web["essential"] is True
        assert web["portMappings"] == [{"containerPort": 80, "hostPort": 8080, "protocol": "tcp"}]
        assert web["mountPoints"] == [{"sourceVolume": "data", "containerPath": "/data", "readOnly": True}]
        assert web["links"] == ["side"]
        side = t["containers"][1]
        assert side["essential"] is False and side["overrides"] == "{}"
        assert side["volumesFrom"] == [{"sourceContainer": "web", "readOnly": False}]
        assert t["volumes"] == [{"name": "data", "host": {"sourcePath": "/tmp/data"}},
                                {"name": "scratch", "host": {}}]

        # not acknowledged -> re-sent with the same messageId after ~1 s
        idx = c.frames.index(p) + 1
        again = await c.wait_type("PayloadMessage", timeout=4, start=idx,
                                  pred=lambda f: f["message"]["messageId"] == m["messageId"])
        assert again["_t"] - p["_t"] >= 0.8
        # reconnect: the unacked payload is delivered again
        await c.close()
        c = await AcsClient(cp, "acs1", inst).connect()
        re = await c.wait_type("PayloadMessage")
        assert re["message"]["messageId"] == m["messageId"]
        await c.ack(re)
        wait_until(lambda: any(e["message"]["messageId"] == m["messageId"] for e in cp.events("AckRequest")))
        # acked -> no more re-sends: the payload left the pending list the
        # re-send loop walks
        n1 = len(c.frames)
        pending = cp.admin("/_local/state")["pendingPayloads"].get(inst, [])
        assert m["messageId"] not in [e["messageId"] for e in pending], pending
        assert not [f for f in c.frames[n1:] if f.get("type") == "PayloadMessage"]

        # agent reports RUNNING; describe-tasks reflects it
        ecs.submit_task_state_change(cluster="acs1", task=task_arn, status="RUNNING", reason="")
        assert ecs.describe_tasks(cluster="acs1", tasks=[task_arn])["tasks"][0]["lastStatus"] == "RUNNING"
        # stop-task -> payload with desiredStatus STOPPED
        n2 = len(c.frames)
        await asyncio.get_event_loop().run_in_executor(None, lambda: ecs.stop_task(
            cluster="acs1", task=task_arn, reason="test stop"))
        sp = await c.wait_type("PayloadMessage", start=n2)
        assert sp["message"]["tasks"][0]["arn"] == task_arn
        assert sp["message"]["tasks"][0]["desiredStatus"] == "STOPPED"
        await c.ack(sp)
        await c.send("NackRequest", {"cluster": "acs1", "containerInstance": inst, "messageId": "m-x",
                                     "reason": "nope"})
        await c.send("SomethingUnknown", {})
        wait_until(lambda: cp.events("NackRequest"))
        ecs.submit_task_state_change(cluster="acs1", task=task_arn, status="STOPPED", reason="")
        task = ecs.describe_tasks(cluster="acs1", tasks=[task_arn])["tasks"][0]
        assert task["lastStatus"] == "STOPPED" and task["stoppedReason"] == "test stop"
        await c.close()

    run(scenario())
    assert cp.events("HeartbeatAckRequest")
    assert cp.events("unknown_frame")
    wait_until(lambda: cp.client().describe_container_instances(cluster="acs1", containerInstances=[inst])[
        "containerInstances"][0]["agentConnected"] is False)


def test_acs_connect_payload_contains_active_tasks(cp):
    ecs, inst = setup_cluster(cp, "acs2")
    t = ecs.run_task(cluster="acs2", taskDefinition="acs2")["tasks"][0]["taskArn"]

    async def scenario():
        c = await AcsClient(cp, "acs2", inst).connect()
        p = await c.wait_type("PayloadMessage")
        await c.ack(p)
        await c.close()
        # nothing pending now: the next connection gets a fresh payload listing the active task
        c = await AcsClient(cp, "acs2", inst).connect()
        p2 = await c.wait_type("PayloadMessage")
        assert p2["message"]["messageId"] != p["message"]["messageId"]
        assert [x["arn"] for x in p2["message"]["tasks"]] == [t]
        await c.close()

    run(scenario())


def test_acs_handshake_refusals(cp):
    ecs, inst = setup_cluster(cp, "acs3")

    async def attempt(url, headers):
        async with aiohttp.ClientSession() as s:
            try:
                ws = await s.ws_connect(wire(url), headers=headers)
                await ws.close()
                return 101, None
            except aiohttp.WSServerHandshakeError as e:
                return e.status, None

    async def get_body(url, headers):
        # plain GET with upgrade headers to read the error body
        async with aiohttp.ClientSession() as s:
            h = dict(headers)
            h.update({"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                      "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
            async with s.get(wire(url), headers=h) as r:
                return r.status, await r.text()

    bad_inst = ws_url(cp, "acs3", inst.rsplit("/", 1)[0] + "/0000")
    st, body = run(get_body(bad_inst, signed_ws_headers(bad_inst)))
    assert st == 400 and "InvalidInstanceException" in json.loads(body)
    bad_cluster = ws_url(cp, "no-such-cluster", inst)
    st, body = run(get_body(bad_cluster, signed_ws_headers(bad_cluster)))
    assert st == 400 and json.loads(body) == {"InvalidClusterException": "Invalid cluster"}
    good = ws_url(cp, "acs3", inst)
    st, body = run(get_body(good, signed_ws_headers(good, secret="wrong")))
    assert st == 403 and "InvalidSignatureException" in json.loads(body)["AccessDeniedException"]
    st, body = run(get_body(good, {}))
    assert st == 403 and "MissingAuthenticationToken" in body
    # full ARN as clusterArn works, and so does a short name
    arn_url = ws_url(cp, "arn:aws:ecs:us-west-2:123456789012:cluster/acs3", inst)
    assert run(attempt(arn_url, signed_ws_headers(arn_url)))[0] == 101
    assert run(attempt(good, signed_ws_headers(good)))[0] == 101
    # deregistered instance
    ecs.deregister_container_instance(cluster="acs3", containerInstance=inst)
    st, body = run(get_body(good, signed_ws_headers(good)))
    assert st == 400 and "InactiveInstanceException" in json.loads(body)


def test_acs_signature_1_1_0_style_host_only(cp):
    """Agent 1.1.0 signs only `host` and sends X-Amz-Date unsigned."""
    import datetime
    import hashlib
    import hmac
    import urllib.parse
    from conftest import AKID, SECRET
    ecs, inst = setup_cluster(cp, "acs4")
    # Go url.Values.Encode form: space -> '+', ':' -> %3A, '/' -> %2F
    u0 = urllib.parse.urlsplit(ws_url(cp, "acs4", inst))
    url = cp.url + "/ws?" + urllib.parse.urlencode(sorted(urllib.parse.parse_qsl(u0.query)))
    assert "DockerVersion%3A+20.10" in url
    u = urllib.parse.urlsplit(url)
    now = datetime.datetime.utcnow()
    amz, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    pairs = sorted((urllib.parse.quote(k, safe="-_.~"), urllib.parse.quote(v, safe="-_.~"))
                   for k, v in urllib.parse.parse_qsl(u.query, keep_blank_values=True))
    cq = "&".join("%s=%s" % p for p in pairs)
    creq = "\n".join(["GET", "/ws", cq, "host:%s\n" % u.netloc, "host", hashlib.sha256(b"").hexdigest()])
    scope = "%s/us-west-2/ecs/aws4_request" % day
    sts = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(creq.encode()).hexdigest()])
    k = ("AWS4" + SECRET).encode()
    for part in (day, "us-west-2", "ecs", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    headers = {"X-Amz-Date": amz, "Authorization": "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=host, "
               "Signature=%s" % (AKID, scope, sig), "X-Amz-Content-Sha256": hashlib.sha256(b"").hexdigest()}

    async def go():
        async with aiohttp.ClientSession() as s:
            ws = await s.ws_connect(wire(url), headers=headers)
            msg = await ws.receive(timeout=5)
            await ws.close()
            return json.loads(msg.data)
    assert run(go())["type"] == "PayloadMessage"
