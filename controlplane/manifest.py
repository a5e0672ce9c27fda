"""Task manifests over ACS, as the real backend sends them.

Every `interval` seconds (--task-manifest-interval; 0 = never) each connected
instance gets a TaskManifestMessage listing the tasks ECS expects on it (desired
RUNNING), with timeline = the instance's latest payload seqNum.  An agent
answering with TaskStopVerificationMessage gets a TaskStopVerificationAck
(same messageId) listing the candidates ECS indeed wants stopped: tasks it does
not know, or whose desired status is not RUNNING.  Tests send a manifest at once
with POST /_local/acs/manifest (optionally marking tasks desired STOPPED first
without sending their stop payload, as if that payload was lost).
"""

import asyncio
import json
import logging
import time
import uuid

log = logging.getLogger("controlplane.manifest")


class ManifestSender:
    def __init__(self, state, backend, acs_hub, interval=300.0):
        self.state = state
        self.backend = backend
        self.acs = acs_hub
        self.interval = interval
        self._bg = None
        acs_hub.on_stop_verification = self.on_stop_verification

    def start(self):
        if self.interval and self.interval > 0:
            self._bg = asyncio.get_event_loop().create_task(self._loop())

    async def stop(self):
        if self._bg:
            self._bg.cancel()

    async def _loop(self):
        while True:
            await asyncio.sleep(self.interval)
            try:
                for inst in list(self.acs.conns):
                    if self.acs.is_connected(inst):
                        await self.send(inst)
            except Exception:  # pragma: no cover
                log.exception("manifest loop")

    def mark_stopped(self, arns):
        """Desired STOPPED without a payload (a lost stop, for tests)."""
        n = 0
        with self.state.lock:
            for arn in arns or []:
                t = self.state.tasks.get(arn)
                if t is not None and t["desiredStatus"] != "STOPPED":
                    t["desiredStatus"] = "STOPPED"
                    n += 1
            self.state.save()
        return n

    async def send(self, inst):
        with self.state.lock:
            ci = self.state.instances.get(inst)
            if ci is None:
                return 0
            tasks = [{"taskArn": t["taskArn"], "taskClusterArn": t["clusterArn"], "desiredStatus": "RUNNING"}
                     for t in self.state.tasks.tasks(("i", inst)) if t["desiredStatus"] == "RUNNING"]
            msg = {"messageId": str(uuid.uuid4()), "clusterArn": self.backend.cluster_arn(ci["_cluster"]),
                   "containerInstanceArn": inst, "generatedAt": int(time.time()),
                   "timeline": ci.get("_seq", 0), "tasks": tasks}
            self.state.add_event("TaskManifestMessage", containerInstanceArn=inst, message=msg)
        n = 0
        for c in self.acs.all_conns(inst):
            if await c.send(json.dumps({"type": "TaskManifestMessage", "message": msg})):
                n += 1
        log.info("task manifest %s -> %s: %d task(s)", msg["messageId"], inst, len(tasks))
        return n

    def on_stop_verification(self, conn, msg):
        """Called by the ACS hub (state lock held) for a TaskStopVerificationMessage."""
        stop = []
        for cand in msg.get("stopCandidates") or []:
            t = self.state.tasks.get(cand.get("taskArn"))
            if t is None or t["desiredStatus"] != "RUNNING":
                stop.append({"taskArn": cand.get("taskArn"), "taskClusterArn": cand.get("taskClusterArn"),
                             "desiredStatus": "STOPPED"})
        ack = {"messageId": msg.get("messageId"), "generatedAt": int(time.time()), "stopTasks": stop}
        self.state.add_event("TaskStopVerificationAck", containerInstanceArn=conn.instance_arn, message=ack)
        asyncio.get_event_loop().create_task(
            conn.send(json.dumps({"type": "TaskStopVerificationAck", "message": ack})))
