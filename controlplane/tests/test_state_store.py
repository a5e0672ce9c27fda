"""Durable state (controlplane/state.py + store.py): only changed rows are written,
everything survives a restart, an old state.json is imported."""

import json
import os

from controlplane.state import State

from conftest import run, wait_until, AcsClient


def big_td(n_bytes):
    return {"family": "big", "containerDefinitions": [
        {"name": "a", "image": "busybox", "memory": 16,
         "environment": [{"name": "E%d" % i, "value": "v" * 1000} for i in range(n_bytes // 1024)]}]}


def test_save_writes_only_changed_rows(tmp_path):
    st = State(str(tmp_path))
    st.task_defs["big"] = [dict(big_td(4 << 20), revision=1, status="ACTIVE",
                                taskDefinitionArn="arn:td/big:1")]
    for i in range(2000):
        st.tasks["arn:task/%d" % i] = {"taskArn": "arn:task/%d" % i, "lastStatus": "RUNNING", "containers": []}
    st.save()
    first = st.store.bytes_written
    assert first > 4 << 20
    # one task changes: one small row is written, not the state
    st.tasks["arn:task/7"]["lastStatus"] = "STOPPED"
    st.mark("tasks", "arn:task/7")
    st.add_event("SubmitTaskStateChange", request={"task": "arn:task/7"})
    st.save()
    assert st.store.bytes_written - first < 2000
    # nothing changed: nothing written
    before = st.store.rows_written
    st.save()
    assert st.store.rows_written == before
    st.close()
    st2 = State(str(tmp_path))
    assert st2.tasks["arn:task/7"]["lastStatus"] == "STOPPED"
    assert len(st2.tasks) == 2000
    assert len(st2.task_defs["big"][0]["containerDefinitions"][0]["environment"]) == 4096
    assert st2.events[-1]["kind"] == "SubmitTaskStateChange" and st2.event_seq == 1
    st2.close()


def test_events_trimmed_in_store(tmp_path, monkeypatch):
    import controlplane.state as state_mod
    monkeypatch.setattr(state_mod, "MAX_EVENTS", 500)
    st = State(str(tmp_path))
    for i in range(3000):
        st.add_event("x", i=i)
        if i % 100 == 0:
            st.save()
    st.save()
    n = st.store.db.execute("SELECT COUNT(*) FROM rows WHERE kind='events'").fetchone()[0]
    assert n <= 500 + 1100
    st.close()
    st2 = State(str(tmp_path))
    assert st2.event_seq == 3000 and st2.events[-1]["i"] == 2999
    st2.close()


def test_old_state_json_is_imported(tmp_path):
    doc = {"clusters": {"old": {"clusterName": "old", "clusterArn": "arn:c/old", "status": "ACTIVE"}},
           "task_defs": {"f": [{"family": "f", "revision": 1, "status": "ACTIVE"},
                               {"family": "f", "revision": 2, "status": "INACTIVE"}]},
           "instances": {}, "tasks": {}, "pending": {"i1": [{"messageId": "m1", "seqNum": 1, "frame": "{}"}]},
           "events": [{"seq": 1, "kind": "k"}], "event_seq": 1, "client_tokens": {"old/tok": "i1"},
           "imds_creds": [{"AccessKeyId": "ASIA1"}]}
    (tmp_path / "state.json").write_text(json.dumps(doc))
    st = State(str(tmp_path))
    st.close()
    assert not (tmp_path / "state.json").exists() and (tmp_path / "state.json.migrated").exists()
    st = State(str(tmp_path))
    assert st.clusters["old"]["clusterName"] == "old"
    assert [td["revision"] for td in st.task_defs["f"]] == [1, 2]
    assert st.pending["i1"][0]["messageId"] == "m1"
    assert st.client_tokens == {"old/tok": "i1"} and st.imds_creds == [{"AccessKeyId": "ASIA1"}]
    assert st.event_seq == 1
    st.close()


def test_restart_keeps_everything(fresh_cp):
    c = fresh_cp()
    ecs = c.client()
    ecs.create_cluster(clusterName="dur")
    inst = c.register_instance(ecs, "dur")
    ecs.register_task_definition(family="dur", containerDefinitions=[{"name": "a", "image": "b", "memory": 10}])
    ecs.register_task_definition(family="dur", containerDefinitions=[{"name": "a", "image": "b", "memory": 20}])
    ecs.deregister_task_definition(taskDefinition="dur:1")
    t1 = ecs.run_task(cluster="dur", taskDefinition="dur")["tasks"][0]["taskArn"]
    t2 = ecs.run_task(cluster="dur", taskDefinition="dur")["tasks"][0]["taskArn"]
    ecs.submit_task_state_change(cluster="dur", task=t1, status="RUNNING")
    ecs.stop_task(cluster="dur", task=t2)
    ecs.update_container_instances_state(cluster="dur", containerInstances=[inst], status="DRAINING")

    async def ack_all():
        a = await AcsClient(c, "dur", inst).connect()
        p = await a.wait_type("PayloadMessage")
        await a.ack(p)
        await a.close()
    run(ack_all())
    # generous: under a loaded machine (CI, parallel suites) the ack took over 15 s to show
    wait_until(lambda: [e for e in c.events("AckRequest") if e["matched"]], timeout=60)
    before = c.admin("/_local/state")
    c.restart()
    after = c.admin("/_local/state")
    ecs = c.client()
    d = ecs.describe_tasks(cluster="dur", tasks=[t1, t2])["tasks"]
    assert {t["taskArn"]: (t["lastStatus"], t["desiredStatus"]) for t in d} == {
        t1: ("RUNNING", "RUNNING"), t2: ("PENDING", "STOPPED")}
    assert ecs.describe_container_instances(cluster="dur", containerInstances=[inst])[
        "containerInstances"][0]["status"] == "DRAINING"
    assert ecs.describe_task_definition(taskDefinition="dur:1")["taskDefinition"]["status"] == "INACTIVE"
    assert ecs.describe_task_definition(taskDefinition="dur")["taskDefinition"]["revision"] == 2
    for k in ("clusters", "taskDefinitions", "tasks"):
        assert before[k] == after[k], k
    def pend(st):   # send times and counts are the running server's, not state
        return {k: [{kk: vv for kk, vv in e.items() if kk not in ("sentAt", "sendCount")} for e in v]
                for k, v in st["pendingPayloads"].items()}
    assert pend(before) == pend(after) and len(pend(after)[inst]) == 2
    assert os.path.exists(os.path.join(c.state_dir, "state.db"))
