"""Task IAM roles: per-task credentials, as ECS hands them to the agent.

A task whose task definition (or RunTask/StartTask override) names a
taskRoleArn / executionRoleArn gets, when its payload is built, an STS-looking
triple per role (credentialsId, accessKeyId "ASIA...", secretAccessKey,
sessionToken, expiration "YYYY-MM-DDTHH:MM:SS.000+0000") minted here and kept
with the task (private "_" keys: never in an API answer).  The payload carries
them as roleCredentials / executionRoleCredentials.  Before they expire (when
less than a third of --role-credentials-lifetime is left) new keys with the
same credentialsId go to the task's instance in an IAMRoleCredentialsMessage
(roleType TaskApplication / TaskExecution); the agent's
IAMRoleCredentialsAckRequest frames are recorded as events by acs.py.
Stopped tasks are not rotated.  Placement: task definitions with a task role
require com.amazonaws.ecs.capability.task-iam-role (and
...task-iam-role-network-host in host network mode), so an instance that did
not advertise it gets ECS's "ATTRIBUTE" failure (container_options.py).
"""

import asyncio
import base64
import datetime
import logging
import os
import secrets
import string
import time
import uuid

log = logging.getLogger("controlplane.roles")

CAP = "com.amazonaws.ecs.capability."
ROLE_KEYS = (("taskRoleArn", "roleCredentials", "_roleCredentials", "TaskApplication"),
             ("executionRoleArn", "executionRoleCredentials", "_executionRoleCredentials", "TaskExecution"))


def required_attributes(td):
    """The capability attributes a task definition's roles require."""
    if not td.get("taskRoleArn"):
        return []
    names = [CAP + "task-iam-role"]
    if td.get("networkMode") == "host":
        names.append(CAP + "task-iam-role-network-host")
    return names


def _expiration(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def mint(role_arn, lifetime, credentials_id=None):
    """A fresh credential set for role_arn (the id is kept on rotation)."""
    alnum = string.ascii_uppercase + string.digits
    now = time.time()
    return {
        "credentialsId": credentials_id or str(uuid.uuid4()),
        "roleArn": role_arn,
        "accessKeyId": "ASIA" + "".join(secrets.choice(alnum) for _ in range(16)),
        "secretAccessKey": base64.b64encode(os.urandom(30)).decode(),
        "sessionToken": base64.b64encode(os.urandom(120)).decode(),
        "expiration": _expiration(now + lifetime),
        "_expiresAt": now + lifetime,
    }


def _wire(c):
    return {k: v for k, v in c.items() if not k.startswith("_")}


class RoleCredentials:
    def __init__(self, state, backend, acs_hub, lifetime=6 * 3600.0, creds=None):
        self.state = state
        self.backend = backend
        self.acs = acs_hub
        self.lifetime = max(1.0, float(lifetime))
        self.creds = creds  # sigv4.CredentialStore: minted keys are valid callers of the emulated services
        self._bg = None
        acs_hub.roles = self
        with state.lock:
            for t in state.tasks.values():
                for _, _, priv, _ in ROLE_KEYS:
                    if t.get(priv):
                        self._register(t[priv])

    def _register(self, c):
        """Let c's keys sign requests (as c's role) to the emulated AWS services."""
        if self.creds is not None:
            self.creds.add_temporary(c["accessKeyId"], c["secretAccessKey"], c["sessionToken"],
                                     c.get("_expiresAt", 0), c.get("roleArn"))

    def roles_of(self, t):
        """{payload key: (role arn, private key, role type)} of task t."""
        td = self.backend.resolve_task_def(t["taskDefinitionArn"])
        ov = t.get("overrides") or {}
        out = {}
        for arn_key, payload_key, priv, role_type in ROLE_KEYS:
            arn = ov.get(arn_key) or td.get(arn_key)
            if arn:
                out[payload_key] = (arn, priv, role_type)
        return out

    def payload_fields(self, t):
        """roleCredentials / executionRoleCredentials for t's payload (minted once)."""
        fields = {}
        for payload_key, (arn, priv, _) in self.roles_of(t).items():
            c = t.get(priv)
            if not c or c.get("roleArn") != arn:
                c = t[priv] = mint(arn, self.lifetime)
                self._register(c)
                self.state.mark("tasks", t["taskArn"])
            fields[payload_key] = _wire(c)
        return fields

    def start(self):
        self._bg = asyncio.get_event_loop().create_task(self._loop())

    async def stop(self):
        if self._bg:
            self._bg.cancel()

    async def _loop(self):
        tick = max(0.2, min(30.0, self.lifetime / 12.0))
        while True:
            await asyncio.sleep(tick)
            try:
                await self.rotate_due()
            except Exception:  # pragma: no cover
                log.exception("role credentials rotation")

    async def rotate_due(self, force=False):
        """Send new keys for every running task whose credentials are due."""
        now = time.time()
        frames = []
        with self.state.lock:
            for t in list(self.state.tasks.values()):
                if t.get("desiredStatus") != "RUNNING" or t.get("lastStatus") == "STOPPED":
                    continue
                inst = t.get("containerInstanceArn")
                if not inst or not self.acs.is_connected(inst):
                    continue
                for payload_key, (arn, priv, role_type) in self.roles_of(t).items():
                    c = t.get(priv)
                    if not c:
                        continue  # not sent yet: the payload mints them
                    if not force and c.get("_expiresAt", 0) - now > self.lifetime / 3.0:
                        continue
                    n = t[priv] = mint(arn, self.lifetime, c["credentialsId"])
                    self._register(n)
                    self.state.mark("tasks", t["taskArn"])
                    msg = {"messageId": str(uuid.uuid4()), "taskArn": t["taskArn"],
                           "taskClusterArn": t["clusterArn"], "roleType": role_type,
                           "roleCredentials": _wire(n)}
                    self.state.add_event("IAMRoleCredentialsMessage", containerInstanceArn=inst,
                                         taskArn=t["taskArn"], roleType=role_type,
                                         credentialsId=n["credentialsId"], messageId=msg["messageId"],
                                         expiration=n["expiration"])
                    frames.append((inst, msg))
            if frames:
                self.state.save()
        for inst, msg in frames:
            sent = await self.acs.send_message("IAMRoleCredentialsMessage", msg, instance_arn=inst)
            log.info("IAMRoleCredentialsMessage %s (%s, %s) -> %s (%d connection(s))", msg["messageId"],
                     msg["roleType"], msg["taskArn"], inst, sent)
        return len(frames)
