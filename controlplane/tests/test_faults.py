import json
import time

import aiohttp
import botocore.exceptions
import pytest

from conftest import AcsClient, run, signed_ws_headers, wait_until, wire, ws_url


@pytest.fixture
def fc(fresh_cp):
    c = fresh_cp()
    ecs = c.client()
    ecs.create_cluster(clusterName="default")
    inst = c.register_instance(ecs)
    ecs.register_task_definition(family="f", containerDefinitions=[{"name": "a", "image": "b", "memory": 8}])
    c.inst = inst
    return c


def code_of(fn):
    try:
        fn()
    except botocore.exceptions.ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"]
    return 200, None


def test_api_error_count_and_operations(fc):
    ecs = fc.client()
    fc.admin("/_local/faults", {"api_error": {"status": 500, "code": "ServerException", "count": 2}})
    assert code_of(ecs.list_clusters) == (500, "ServerException")
    assert code_of(ecs.list_clusters) == (500, "ServerException")
    assert code_of(ecs.list_clusters) == (200, None)
    fc.admin("/_local/faults", {"api_error": {"status": 500, "code": "ServerException",
                                              "operations": ["SubmitTaskStateChange"]}})
    assert code_of(ecs.list_clusters) == (200, None)
    assert code_of(lambda: ecs.submit_task_state_change(cluster="default", task="x", status="RUNNING")) == \
        (500, "ServerException")
    fc.admin("/_local/faults/clear", {})
    assert code_of(lambda: ecs.submit_task_state_change(cluster="default", task="x", status="RUNNING"))[1] == \
        "InvalidParameterException"
    # time-limited
    fc.admin("/_local/faults", {"api_error": {"status": 503, "code": "ServiceUnavailableException", "seconds": 0.5}})
    assert code_of(ecs.list_clusters) == (503, "ServiceUnavailableException")
    # the window ends by itself: the server stops listing the fault
    wait_until(lambda: fc.admin("/_local/faults")["api_error"] is None, timeout=10)
    assert code_of(ecs.list_clusters) == (200, None)
    # botocore's own retries ride through a single injected failure
    fc.admin("/_local/faults", {"api_error": {"count": 1}})
    assert "clusterArns" in fc.client(retries=3).list_clusters()


def test_api_throttle_and_delay(fc):
    ecs = fc.client()
    fc.admin("/_local/faults", {"api_throttle": {"count": 1}})
    assert code_of(ecs.list_clusters) == (400, "ThrottlingException")
    assert code_of(ecs.list_clusters) == (200, None)
    fc.admin("/_local/faults", {"api_delay_ms": 400})
    t0 = time.time()
    ecs.list_clusters()
    assert time.time() - t0 >= 0.4
    st = fc.admin("/_local/state")
    assert st["faults"]["api_delay_ms"] == 400
    fc.admin("/_local/faults/clear", {})
    t0 = time.time()
    ecs.list_clusters()
    assert time.time() - t0 < 0.4


def test_ws_faults(fc):
    inst = fc.inst

    async def scenario():
        c = await AcsClient(fc, "default", inst).connect()
        p = await c.wait_type("PayloadMessage")
        await c.ack(p)
        # send_raw: malformed frame reaches the client, connection stays up
        fc.admin("/_local/faults", {"send_raw": "{not json"})
        await c.wait_for(lambda f: f.get("type") == "<raw>" and f["message"] == "{not json")
        fc.admin("/_local/faults", {"send_raw": json.dumps({"type": "BogusMessage", "message": {}}),
                                    "instance": inst})
        await c.wait_type("BogusMessage")
        # duplicate_payload: the last payload again, same messageId
        n = len(c.frames)
        fc.admin("/_local/faults", {"duplicate_payload": True})
        d = await c.wait_type("PayloadMessage", start=n)
        assert d["message"]["messageId"] == p["message"]["messageId"]
        # close_message
        fc.admin("/_local/faults", {"close_message": "go away"})
        cm = await c.wait_type("CloseMessage")
        assert cm["message"]["message"] == "go away"
        # admin send of an update message fills in ids
        r = fc.admin("/_local/acs/send", {"type": "StageUpdateMessage",
                                          "message": {"updateInfo": {"location": "http://x/y.tar", "signature": "s"}}})
        assert r["sent"] == 1
        su = await c.wait_type("StageUpdateMessage")
        assert su["message"]["containerInstanceArn"] == inst and su["message"]["messageId"]
        await c.send("NackRequest", {"cluster": "default", "containerInstance": inst,
                                     "messageId": su["message"]["messageId"], "reason": "updates disabled"})
        # drop_ws: server closes the socket
        fc.admin("/_local/faults", {"drop_ws": True})
        await c.wait_closed()
        assert c.closed
        await c.close()
        # refuse_ws: handshakes fail for N seconds
        fc.admin("/_local/faults", {"refuse_ws": 0.7})
        url = ws_url(fc, "default", inst)
        async with aiohttp.ClientSession() as s:
            with pytest.raises(aiohttp.WSServerHandshakeError) as e:
                await s.ws_connect(wire(url), headers=signed_ws_headers(url))
            assert e.value.status == 500
        # the refusal ends by itself: the server stops listing it
        wait_until(lambda: fc.admin("/_local/faults")["refuse_ws_until"] is None, timeout=10)
        c = await AcsClient(fc, "default", inst).connect()
        await c.wait_type("PayloadMessage")
        # abort variant: TCP connection cut without a close frame
        fc.admin("/_local/faults", {"drop_ws": "abort"})
        await c.wait_closed()
        assert c.closed
        await c.close()

    run(scenario())
    wait_until(lambda: fc.events("NackRequest"))
    assert fc.events("NackRequest")[0]["message"]["reason"] == "updates disabled"
    kinds = [e["kind"] for e in fc.events()]
    assert kinds.count("ws_connect") == 2 and kinds.count("ws_disconnect") == 2
