"""State changes in today's form (issue 16), real agent, real Docker, the
control plane and the private test registry (tests/lib/registry.sh):

A two-container task pulled from the registry is reported as current upstream
does: every submission is one SubmitTaskStateChange (no SubmitContainerStateChange),
the container changes ride in its containers[]; PENDING is reported once the
images are there (with the registry digest), then RUNNING (the Docker ids as
runtimeId), then STOPPED with executionStoppedAt.  describe-tasks shows the
pull timestamps and each container's runtimeId / imageDigest; a second task of
the same image, sharing the first one's pull, has pull timestamps too.  The number of
calls is compared with the one-call-per-change form (the test prints both).
"""

import json
import subprocess

from conftest import describe_task, register_task_def, registry_info, wait_for, wait_task_status
from test_ecs_flow import events, stop_clean
from test_metrics import unique_registry_image


def submissions(cp, arn, since=0):
    """The state-change calls the control plane accepted for arn, in order."""
    out = []
    for e in events(cp, since=since)["events"]:
        req = e.get("request") or {}
        if e["kind"] in ("SubmitTaskStateChange", "SubmitContainerStateChange") and req.get("task") == arn:
            out.append((e["kind"], req))
    return out


def test_task_and_container_changes_batched_with_ids_digests_and_timestamps(make_agent, test_image):
    reg = registry_info()
    image = unique_registry_image(reg, test_image)
    auth = {"127.0.0.1:" + reg["port"]: {"username": reg["user"], "password": reg["password"]}}
    agent = make_agent(env={"ECS_ENGINE_AUTH_TYPE": "docker", "ECS_ENGINE_AUTH_DATA": json.dumps(auth)})
    try:
        agent.wait_connected()
        cp = agent.cp
        td = register_task_def(cp, "todays-form", image, [
            {"name": "main", "cpu": 10, "memory": 32, "essential": True, "command": ["sleep", "3600"]},
            {"name": "side", "cpu": 10, "memory": 32, "essential": True, "command": ["sleep", "3600"]},
        ])
        arn = cp.ecs.run_task(cluster=agent.cluster, taskDefinition=td)["tasks"][0]["taskArn"]
        wait_task_status(cp, agent.cluster, arn, "RUNNING")
        digest = subprocess.check_output(["docker", "image", "inspect", "-f", "{{json .RepoDigests}}", image],
                                         text=True)
        digest = json.loads(digest)[0].split("@", 1)[1]
        assert digest.startswith("sha256:")

        subs = wait_for(lambda: (lambda s: s if len(s) >= 2 else None)(submissions(cp, arn)), 30,
                        what="PENDING and RUNNING submitted")
        assert all(k == "SubmitTaskStateChange" for k, _ in subs), subs
        pending, running = subs[0][1], subs[1][1]
        assert pending["status"] == "PENDING", pending
        assert sorted(c["containerName"] for c in pending["containers"]) == ["main", "side"], pending
        for c in pending["containers"]:
            assert c["status"] == "PENDING" and c["imageDigest"] == digest, c
        assert pending["pullStartedAt"] <= pending["pullStoppedAt"], pending
        assert running["status"] == "RUNNING", running
        assert sorted(c["containerName"] for c in running["containers"]) == ["main", "side"], running
        t = describe_task(cp, agent.cluster, arn)
        assert t.get("pullStartedAt") and t.get("pullStoppedAt"), t
        for c in t["containers"]:
            ids = subprocess.check_output(
                ["docker", "ps", "-q", "--no-trunc", "--filter", "label=com.amazonaws.ecs.task-arn=" + arn,
                 "--filter", "label=com.amazonaws.ecs.container-name=" + c["name"]], text=True).split()
            assert c.get("runtimeId") == ids[0], (c, ids)
            assert c.get("imageDigest") == digest, c

        # a second task of the same image at once shares the first one's pull
        # (no second pull); upstream would pull again, so its task changes
        # still carry pullStartedAt / pullStoppedAt, as every task change does
        td2 = register_task_def(cp, "todays-form-2", image, [
            {"name": "solo", "cpu": 10, "memory": 32, "essential": True, "command": ["sleep", "3600"]}])
        arn2 = cp.ecs.run_task(cluster=agent.cluster, taskDefinition=td2)["tasks"][0]["taskArn"]
        wait_task_status(cp, agent.cluster, arn2, "RUNNING")
        subs2 = wait_for(lambda: (lambda s: s if len(s) >= 2 else None)(submissions(cp, arn2)), 30,
                         what="the second task's PENDING and RUNNING")
        for _, r in subs2:
            assert r.get("pullStartedAt") and r["pullStartedAt"] <= r.get("pullStoppedAt", 0), r
        cp.ecs.stop_task(cluster=agent.cluster, task=arn2)

        cp.ecs.stop_task(cluster=agent.cluster, task=arn)
        wait_task_status(cp, agent.cluster, arn, "STOPPED")
        subs = wait_for(lambda: (lambda s: s if len(s) >= 3 else None)(submissions(cp, arn)), 30,
                        what="STOPPED submitted")
        stopped = subs[2][1]
        assert stopped["status"] == "STOPPED" and stopped.get("executionStoppedAt"), stopped
        assert sorted((c["containerName"], c["status"]) for c in stopped["containers"]) == [
            ("main", "STOPPED"), ("side", "STOPPED")], stopped
        assert all("exitCode" in c and c.get("runtimeId") for c in stopped["containers"]), stopped
        t = describe_task(cp, agent.cluster, arn)
        assert t.get("executionStoppedAt"), t

        # the call count: 3 calls carry 9 changes (3 task, 6 container); the
        # one-call-per-change form of the 2015 agent needs 6 for the same task
        # (RUNNING and STOPPED only), 9 if it reported PENDING too
        changes = sum(1 + len(r.get("containers") or []) for _, r in subs)
        print("state-change calls for a two-container task: %d carrying %d changes "
              "(one call per change: %d; without PENDING: 6)" % (len(subs), changes, changes))
        assert len(subs) == 3 and changes == 9, subs
        stop_clean(agent)
    finally:
        subprocess.run(["docker", "rmi", "-f", image], capture_output=True, timeout=120)
