"""restartPolicy in the control plane: RegisterTaskDefinition checks it as
ECS does (enabled required, at most 50 integer ignoredExitCodes, period
60..1800 s, 300 when enabled and absent), keeps it, requires
ecs.capability.container-restart-policy, and the ACS payload carries it.
Debian's botocore model predates the member, so requests are signed raw
(ControlPlane.raw_call).  The test-only --min-restart-attempt-period lowers
the period's minimum."""
import asyncio

from conftest import AcsClient, ControlPlane, run

ECAP = "ecs.capability."


def td(family, rp, name="app"):
    return {"family": family, "containerDefinitions": [
        {"name": name, "image": "busybox", "memory": 32, "restartPolicy": rp}]}


def test_register_checks_and_defaults(cp):
    st, r = cp.raw_call("RegisterTaskDefinition",
                        td("rp1", {"enabled": True, "ignoredExitCodes": [0, 42], "restartAttemptPeriod": 60}))
    assert st == 200, r
    d = r["taskDefinition"]
    assert d["containerDefinitions"][0]["restartPolicy"] == {
        "enabled": True, "ignoredExitCodes": [0, 42], "restartAttemptPeriod": 60}
    assert ECAP + "container-restart-policy" in [a["name"] for a in d["requiresAttributes"]]
    # enabled without a period: ECS's default 300, sent explicitly
    st, r = cp.raw_call("RegisterTaskDefinition", td("rp2", {"enabled": True}))
    assert st == 200, r
    assert r["taskDefinition"]["containerDefinitions"][0]["restartPolicy"] == {
        "enabled": True, "ignoredExitCodes": [], "restartAttemptPeriod": 300}
    # disabled: kept, no capability required
    st, r = cp.raw_call("RegisterTaskDefinition", td("rp3", {"enabled": False}))
    assert st == 200, r
    assert ECAP + "container-restart-policy" not in [a["name"] for a in r["taskDefinition"]["requiresAttributes"]]
    for rp, code in (({"enabled": True, "restartAttemptPeriod": 59}, "ClientException"),
                     ({"enabled": True, "restartAttemptPeriod": 1801}, "ClientException"),
                     ({"enabled": True, "restartAttemptPeriod": "60"}, "ClientException"),
                     ({"enabled": True, "ignoredExitCodes": list(range(51))}, "ClientException"),
                     ({"enabled": True, "ignoredExitCodes": [1, "2"]}, "ClientException"),
                     ({"enabled": True, "ignoredExitCodes": 1}, "ClientException"),
                     ({"ignoredExitCodes": [1]}, "ClientException"),
                     ({"enabled": "true"}, "ClientException"),
                     ([], "InvalidParameterException")):
        st, r = cp.raw_call("RegisterTaskDefinition", td("rpbad", rp))
        assert st == 400, (rp, r)
        assert r["__type"].endswith("#" + code), (rp, r)
    # 50 codes are fine
    st, r = cp.raw_call("RegisterTaskDefinition", td("rp4", {"enabled": True, "ignoredExitCodes": list(range(50))}))
    assert st == 200, r


def test_payload_carries_policy(cp):
    ecs = cp.client()
    ecs.create_cluster(clusterName="rp")
    inst = cp.register_instance(ecs, "rp", attributes={ECAP + "container-restart-policy": ""})
    st, r = cp.raw_call("RegisterTaskDefinition",
                        td("rpp", {"enabled": True, "ignoredExitCodes": [3], "restartAttemptPeriod": 120}))
    assert st == 200, r

    async def scenario():
        c = await AcsClient(cp, "rp", inst).connect()
        await c.ack(await c.wait_type("PayloadMessage"))
        rr = await asyncio.get_event_loop().run_in_executor(
            None, lambda: ecs.run_task(cluster="rp", taskDefinition="rpp"))
        assert rr["failures"] == [] and len(rr["tasks"]) == 1, rr
        p = await c.wait_type("PayloadMessage", pred=lambda f: f["message"]["tasks"])
        await c.ack(p)
        await c.close()
        return p["message"]["tasks"][0]

    task = run(scenario())
    assert task["containers"][0]["restartPolicy"] == {
        "enabled": True, "ignoredExitCodes": [3], "restartAttemptPeriod": 120}


def test_min_period_knob_is_test_only():
    c = ControlPlane(["--min-restart-attempt-period", "1"])
    try:
        st, r = c.raw_call("RegisterTaskDefinition", td("rpk", {"enabled": True, "restartAttemptPeriod": 1}))
        assert st == 200, r
        assert r["taskDefinition"]["containerDefinitions"][0]["restartPolicy"]["restartAttemptPeriod"] == 1
        st, r = c.raw_call("RegisterTaskDefinition", td("rpk", {"enabled": True, "restartAttemptPeriod": 0}))
        assert st == 400, r
    finally:
        c.close()
