"""ACS as today's backend speaks it: task manifests and stop verification,
heartbeat acks, the periodic forced reconnect, attachment messages.

The control plane sends a TaskManifestMessage on demand (POST
/_local/acs/manifest; "markStopped" makes the backend want a task stopped
without sending its stop payload, as if that payload was lost) and answers the
agent's TaskStopVerificationMessage with a TaskStopVerificationAck.
"""
import os
import subprocess
import uuid

import pytest

from conftest import ControlPlane, docker_cleanup, register_task_def, wait_for, wait_task_status, Agent


def events(cp, kind, since=0):
    return cp.admin("/_local/events?since=%d&kind=%s" % (since, kind))["events"]


def last_seq(cp):
    return cp.admin("/_local/events")["lastSeq"]


def run(cp, cluster, td):
    r = cp.ecs.run_task(cluster=cluster, taskDefinition=td)
    assert not r.get("failures"), r
    return r["tasks"][0]["taskArn"]


def image():
    return os.environ.get("TEST_IMAGE") or "ecs-agent-c-test/busybox:latest"


def test_manifest_omitting_a_task_stops_it_after_verification(controlplane, make_agent, cluster_name):
    cp = controlplane
    td = register_task_def(cp, "manifest", image())
    agent = make_agent()
    agent.wait_connected()
    keep, lost = run(cp, cluster_name, td), run(cp, cluster_name, td)
    for a in (keep, lost):
        wait_task_status(cp, cluster_name, a, "RUNNING")

    # every task listed: acknowledged, nothing to verify
    seq = last_seq(cp)
    assert cp.admin("/_local/acs/manifest", {})["sent"] == 1
    mid = wait_for(lambda: events(cp, "TaskManifestMessage", seq), 10, what="manifest sent")[0]["message"]["messageId"]
    wait_for(lambda: [e for e in events(cp, "AckRequest", seq) if e["message"]["messageId"] == mid], 20,
             what="manifest acknowledged")

    # the backend wants `lost` stopped but its stop payload never went out
    seq = last_seq(cp)
    r = cp.admin("/_local/acs/manifest", {"markStopped": [lost]})
    assert r["markedStopped"] == 1
    ver = wait_for(lambda: events(cp, "TaskStopVerificationMessage", seq), 20, what="stop verification")
    cands = [c["taskArn"] for c in ver[0]["message"]["stopCandidates"]]
    assert cands == [lost], cands
    assert ver[0]["message"]["stopCandidates"][0]["desiredStatus"] == "STOPPED"
    ack = wait_for(lambda: events(cp, "TaskStopVerificationAck", seq), 10, what="verification ack")
    assert ack[0]["message"]["messageId"] == ver[0]["message"]["messageId"]
    wait_task_status(cp, cluster_name, lost, "STOPPED", timeout=60)
    assert cp.ecs.describe_tasks(cluster=cluster_name, tasks=[keep])["tasks"][0]["lastStatus"] == "RUNNING"
    assert "stopped on ACS's stop verification" in agent.all_logs()

    # a stale manifest (timeline below the last payload's seqNum) is acknowledged, nothing more
    seq = last_seq(cp)
    inst = agent.instance_arn()
    n = cp.admin("/_local/acs/send", {"type": "TaskManifestMessage", "instance": inst,
                                      "message": {"timeline": 0, "generatedAt": 1, "tasks": []}})["sent"]
    assert n == 1
    wait_for(lambda: [e for e in events(cp, "AckRequest", seq)], 20, what="stale manifest acknowledged")
    assert not events(cp, "TaskStopVerificationMessage", seq)
    assert agent.alive()


def test_heartbeat_acks_forced_reconnect_and_attachments(tmpdir_path, cluster_name):
    cp = ControlPlane(tmpdir_path, ["--heartbeat-interval", "0.5"])
    agent = None
    try:
        cp.ecs.create_cluster(clusterName=cluster_name)
        agent = Agent(cp, tmpdir_path, cluster_name, {"ECS_ACS_TEST_CONNECTION_TTL_MS": "1500"}).start()
        agent.wait_connected()
        wait_for(lambda: len(events(cp, "HeartbeatAckRequest")) >= 3, 20, what="heartbeat acks")
        # both websockets carry the agent's User-Agent, as upstream's dialer sends it
        ua = events(cp, "ws_connect")[0].get("userAgent") or ""
        assert ua.startswith("Amazon ECS Agent - v"), ua
        tua = wait_for(lambda: events(cp, "tcs_connect"), 20, what="TCS connected")[0].get("userAgent") or ""
        assert tua == ua, (tua, ua)
        # the forced reconnect: the agent closes with 1000 and reconnects at once
        n = len(events(cp, "ws_connect"))
        wait_for(lambda: len(events(cp, "ws_connect")) >= n + 2, 30, what="two forced reconnects")
        closes = [e.get("closeCode") for e in events(cp, "ws_disconnect")]
        assert 1000 in closes, closes
        assert "ConnectionExpired" in agent.all_logs() or "connection expired" in agent.all_logs()
        # tasks placed across the reconnects all run (nothing lost)
        td = register_task_def(cp, "across", image())
        arns = []
        for _ in range(3):
            seq = last_seq(cp)
            arns.append(run(cp, cluster_name, td))
            wait_for(lambda: len(events(cp, "ws_connect", seq)) >= 1, 30, what="a reconnect between placements")
        for a in arns:
            wait_task_status(cp, cluster_name, a, "RUNNING")
        assert not cp.admin("/_local/state")["pendingPayloads"]
        # attachment messages: acknowledged as upstream does, nothing attached
        seq = last_seq(cp)
        inst = agent.instance_arn()
        mid = str(uuid.uuid4())
        cp.admin("/_local/acs/send", {"type": "ConfirmAttachmentMessage", "instance": inst, "message": {
            "messageId": mid, "clusterArn": "arn:aws:ecs:us-west-2:123456789012:cluster/" + cluster_name,
            "containerInstanceArn": inst, "waitTimeoutMs": 1000,
            "attachment": {"attachmentArn": "arn:aws:ecs:us-west-2:123456789012:attachment/x",
                           "attachmentProperties": [{"name": "k", "value": "v"}]}}})
        wait_for(lambda: [e for e in events(cp, "AckRequest", seq) if e["message"]["messageId"] == mid], 20,
                 what="attachment acknowledged")
        assert agent.alive()
    finally:
        if agent and agent.alive():
            agent.stop()
        cp.stop()
        docker_cleanup(cluster_name)


def test_inactive_instance_agent_waits_without_exiting(controlplane, make_agent, cluster_name):
    """The instance is deregistered: the control plane closes ACS with
    InactiveInstanceException.  As upstream (the ACS and TCS parts of the
    specification): the agent does not exit, closes its TCS socket (that
    loop keeps reconnecting with back-off), waits an hour before the next ACS
    attempt, leaves its tasks alone, and still stops cleanly on SIGTERM."""
    cp = controlplane
    td = register_task_def(cp, "inactive", image())
    agent = make_agent()
    agent.wait_connected()
    arn = run(cp, cluster_name, td)
    wait_task_status(cp, cluster_name, arn, "RUNNING")
    wait_for(lambda: events(cp, "tcs_connect"), 30, what="TCS connected")
    seq = last_seq(cp)
    n_acs = len(events(cp, "ws_connect"))
    cp.ecs.deregister_container_instance(cluster=cluster_name, containerInstance=agent.instance_arn(), force=True)
    wait_for(lambda: events(cp, "ws_disconnect", seq), 20, what="ACS closed by the control plane")
    wait_for(lambda: "container instance is inactive" in agent.all_logs(), 20, what="the inactive log line")
    # TCS: the socket is closed, and its loop reconnects after its back-off
    wait_for(lambda: events(cp, "tcs_disconnect", seq), 20, what="TCS closed")
    wait_for(lambda: events(cp, "tcs_connect", seq), 30, what="TCS reconnected after back-off")
    # by then ACS has not been tried again (the hour's wait), the agent runs on
    # and the task's container still runs
    assert len(events(cp, "ws_connect")) == n_acs
    assert agent.alive()
    ids = subprocess.check_output(["docker", "ps", "-q", "--filter", "label=com.amazonaws.ecs.task-arn=" + arn],
                                  text=True).split()
    assert len(ids) == 1, ids
    rc = agent.stop()
    assert rc == 0, agent.output()[-3000:]
    assert "Sanitizer" not in agent.output()
