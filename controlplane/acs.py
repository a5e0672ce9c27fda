"""ACS websocket (GET /ws): payload delivery with ack/re-send, heartbeats, admin sends.

Frames are text: {"type": "<Shape>", "message": {...}}.
Unacknowledged PayloadMessages are kept per container instance (persisted in
State.pending) and re-sent, with the same messageId, after resend_interval
seconds and whenever the instance reconnects.
"""

import asyncio
import json
import logging
import time
import uuid

from aiohttp import web, WSMsgType

from . import aws_services, container_options, sigv4


def _raw_query(request):
    rp = request.raw_path
    return rp.split("?", 1)[1] if "?" in rp else ""

log = logging.getLogger("controlplane.acs")


def _log_task_failure(task):
    """Done callback of every background task here: an exception is logged (not
    left for asyncio's "exception was never retrieved" at garbage collection)."""
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("background task %s failed: %r", task.get_name(), exc)


def _spawn(coro, name):
    """Start coro as a background task whose failure is logged."""
    task = asyncio.get_event_loop().create_task(coro, name=name)
    task.add_done_callback(_log_task_failure)
    return task


class Conn:
    def __init__(self, ws, instance_arn, cluster_param, peer):
        self.ws = ws
        self.instance_arn = instance_arn
        self.cluster_param = cluster_param
        self.peer = peer
        self.lock = asyncio.Lock()
        self.id = uuid.uuid4().hex[:8]
        self.connected_at = time.time()
        self.hb_task = None

    async def send(self, text):
        if self.ws.closed:
            return False
        async with self.lock:
            try:
                await self.ws.send_str(text)
                return True
            except (ConnectionError, RuntimeError) as e:
                log.info("send to %s failed: %s", self.instance_arn, e)
                return False


def unframed_error(status, exc, message):
    return web.Response(status=status, body=json.dumps({exc: message}).encode(),
                        content_type="application/json")


class AcsHub:
    def __init__(self, state, backend, faults, creds, region, heartbeat_interval=30.0, resend_interval=10.0,
                 connect_payload="always"):
        self.state = state
        self.backend = backend
        self.faults = faults
        self.creds = creds
        self.region = region
        self.heartbeat_interval = heartbeat_interval
        self.resend_interval = resend_interval
        self.connect_payload = connect_payload
        self.conns = {}  # instance arn -> [Conn]
        self.last_payload = {}  # instance arn -> frame text
        self._bg = None
        self.on_stop_verification = None  # set by controlplane/manifest.py
        self.roles = None  # controlplane/roles.py: task role credentials in payloads
        backend.on_task_changes = self.on_task_changes
        backend.is_connected = self.is_connected
        backend.on_instance_inactive = self.on_instance_inactive
        backend.send_acs = self.send_soon

    # ------------------------------------------------------------ lifecycle
    def start(self):
        self._bg = _spawn(self._resend_loop(), "acs-resend")

    async def stop(self):
        if self._bg:
            self._bg.cancel()
        for conns in list(self.conns.values()):
            for c in list(conns):
                if c.hb_task:
                    c.hb_task.cancel()
                await c.ws.close()

    def is_connected(self, instance_arn):
        return any(not c.ws.closed for c in self.conns.get(instance_arn, []))

    def all_conns(self, instance_arn=None):
        if instance_arn:
            return [c for c in self.conns.get(instance_arn, []) if not c.ws.closed]
        return [c for cs in self.conns.values() for c in cs if not c.ws.closed]

    # ------------------------------------------------------------ payload construction
    def acs_task(self, t):
        td = self.backend.resolve_task_def(t["taskDefinitionArn"])
        ovr = {o.get("name"): o for o in (t.get("overrides") or {}).get("containerOverrides") or []}
        containers = []
        arns = {c.get("name"): c.get("containerArn") for c in t.get("containers") or []}
        host_mode = td.get("networkMode") == "host"
        for cd in td["containerDefinitions"]:
            o = ovr.get(cd["name"], {})
            env = {e["name"]: e.get("value", "") for e in cd.get("environment") or [] if e.get("name")}
            for e in o.get("environment") or []:
                if e.get("name"):
                    env[e["name"]] = e.get("value", "")
            mem = o.get("memory", cd.get("memory"))
            if mem is None:
                mem = o.get("memoryReservation", cd.get("memoryReservation"))
            pms = container_options.payload_port_mappings(cd, host_mode)
            c = {
                "name": cd["name"], "image": cd["image"],
                "cpu": int(o.get("cpu", cd.get("cpu") or 0) or 0), "memory": int(mem or 0),
                "essential": cd.get("essential", True),
                "environment": env, "links": cd.get("links") or [], "portMappings": pms,
                "mountPoints": [{"sourceVolume": m.get("sourceVolume"), "containerPath": m.get("containerPath"),
                                 "readOnly": bool(m.get("readOnly", False))} for m in cd.get("mountPoints") or []],
                "volumesFrom": [{"sourceContainer": v.get("sourceContainer"), "readOnly": bool(v.get("readOnly", False))}
                                for v in cd.get("volumesFrom") or []],
                "overrides": json.dumps({"command": o["command"]}) if o.get("command") is not None else "{}",
            }
            if cd.get("command") is not None:
                c["command"] = cd["command"]
            if cd.get("entryPoint") is not None:
                c["entryPoint"] = cd["entryPoint"]
            for k in ("privileged", "startTimeout", "stopTimeout", "dependsOn", "restartPolicy"):
                if cd.get(k) is not None:
                    c[k] = cd[k]
            if arns.get(cd["name"]):
                c["containerArn"] = arns[cd["name"]]
            c["dockerConfig"] = container_options.docker_config(cd, td)
            if cd.get("healthCheck"):
                c["healthCheckType"] = "docker"
            # images from ECR / private registries, secrets (controlplane/aws_services.py)
            b = self.backend
            auth = aws_services.registry_authentication(cd, td, b.region, b.account, b.options.get("ecr"),
                                                        b.endpoint)
            if auth is not None:
                c["registryAuthentication"] = auth
            secrets = aws_services.payload_secrets(cd, b.region)
            if secrets:
                c["secrets"] = secrets
            if container_options.logs_execution_role(cd, td):
                c["logsAuthStrategy"] = "ExecutionRole"
            containers.append(c)
        vols = []
        for v in td.get("volumes") or []:
            host = v.get("host") or {}
            vols.append({"name": v.get("name"), "host": {"sourcePath": host["sourcePath"]}
                         if host.get("sourcePath") else {}})
        task = {
            "arn": t["taskArn"], "family": td["family"], "version": str(td["revision"]),
            "desiredStatus": t["desiredStatus"], "overrides": "{}",
            "taskDefinitionAccountId": self.backend.account, "taskClusterArn": t["clusterArn"],
            "containers": containers, "volumes": vols, "launchType": "EC2",
            "networkMode": td.get("networkMode") or "bridge",
        }
        for k in ("pidMode", "ipcMode"):
            if td.get(k):
                task[k] = td[k]
        if (t.get("group") or "").startswith("service:"):
            task["serviceName"] = t["group"][len("service:"):]
        if self.roles is not None:
            task.update(self.roles.payload_fields(t))
        if td.get("cpu"):
            try:
                task["cpu"] = float(td["cpu"]) / 1024.0
            except ValueError:
                pass
        if td.get("memory"):
            try:
                task["memory"] = int(float(td["memory"]))
            except ValueError:
                pass
        return task

    def make_payload(self, instance_arn, tasks):
        ci = self.state.instances[instance_arn]
        ci["_seq"] = ci.get("_seq", 0) + 1
        self.state.mark("instances", instance_arn)
        msg = {
            "messageId": str(uuid.uuid4()), "seqNum": ci["_seq"],
            "clusterArn": self.backend.cluster_arn(ci["_cluster"]),
            "containerInstanceArn": instance_arn, "generatedAt": int(time.time()),
            "tasks": [self.acs_task(t) for t in tasks],
        }
        frame = json.dumps({"type": "PayloadMessage", "message": msg})
        entry = {"messageId": msg["messageId"], "seqNum": msg["seqNum"], "frame": frame,
                 "sentAt": 0.0, "sendCount": 0, "taskArns": [t["taskArn"] for t in tasks]}
        self.state.pending.setdefault(instance_arn, []).append(entry)
        self.last_payload[instance_arn] = frame
        return entry

    def on_task_changes(self, instance_arn, task_arns):
        """Called by the ECS backend (under the state lock) when tasks are placed or stopped."""
        if instance_arn not in self.state.instances:
            return
        tasks = [self.state.tasks[a] for a in task_arns if a in self.state.tasks]
        entry = self.make_payload(instance_arn, tasks)
        self.state.save()
        _spawn(self._send_entries(instance_arn, [entry]), "acs-send-payload")

    def send_soon(self, instance_arn, typ, message):
        """Send a frame to the instance's websockets from synchronous code (an API handler)."""
        _spawn(self.send_message(typ, message, instance_arn), "acs-send-" + typ)

    def on_instance_inactive(self, instance_arn):
        for c in self.all_conns(instance_arn):
            _spawn(c.ws.close(code=1000, message=b"InactiveInstanceException"), "acs-close-inactive")

    async def _send_entries(self, instance_arn, entries, conns=None):
        conns = conns if conns is not None else self.all_conns(instance_arn)
        if not conns:
            return
        for e in entries:
            sent = False
            for c in conns:
                sent = await c.send(e["frame"]) or sent
            if sent:
                e["sentAt"] = time.time()
                e["sendCount"] = e.get("sendCount", 0) + 1
                log.info("payload %s seq=%s -> %s (send #%d)", e["messageId"], e["seqNum"],
                         instance_arn, e["sendCount"])

    async def _resend_loop(self):
        tick = max(0.05, min(1.0, self.resend_interval / 4.0))
        while True:
            await asyncio.sleep(tick)
            try:
                now = time.time()
                for inst, entries in list(self.state.pending.items()):
                    due = [e for e in entries if e.get("sentAt") and now - e["sentAt"] >= self.resend_interval]
                    if due and self.is_connected(inst):
                        await self._send_entries(inst, due)
            except Exception:  # pragma: no cover
                log.exception("resend loop")

    # ------------------------------------------------------------ websocket
    async def handle_ws(self, request):
        app = request.app
        request["op"] = "ws"
        try:
            sigv4.verify("GET", request.raw_path.split("?", 1)[0], _raw_query(request), request.headers, b"",
                         self.creds, self.region)
        except sigv4.SigV4Error as e:
            request["note"] = e.code
            if e.debug:
                log.warning("ws signature mismatch; expected canonical request:\n%s", e.debug["canonical_request"])
            return unframed_error(403, "AccessDeniedException", "%s: %s" % (e.code, e.message.split("\n")[0]))
        if self.faults.refuse_ws():
            request["note"] = "fault:refuse_ws"
            return unframed_error(500, "ServerException", "Service unavailable (injected fault)")
        q = request.query
        cluster_param = q.get("clusterArn")
        inst_param = q.get("containerInstanceArn")
        if not cluster_param:
            return unframed_error(400, "InvalidClusterException", "Invalid cluster")
        if not inst_param:
            return unframed_error(400, "InvalidInstanceException", "Invalid container instance")
        with self.state.lock:
            try:
                cluster = self.backend.get_cluster(cluster_param)
            except Exception:
                request["note"] = "InvalidClusterException"
                return unframed_error(400, "InvalidClusterException", "Invalid cluster")
            ci = self.backend.find_instance(cluster, inst_param)
            if ci is None:
                request["note"] = "InvalidInstanceException"
                return unframed_error(400, "InvalidInstanceException", "Invalid container instance")
            if ci["status"] == "INACTIVE":
                request["note"] = "InactiveInstanceException"
                return unframed_error(400, "InactiveInstanceException", "Container instance is inactive")
            inst = ci["containerInstanceArn"]
            # current agents send their version in the query only: ECS shows it as versionInfo
            vi = dict(ci.get("versionInfo") or {})
            for k in ("agentVersion", "agentHash", "dockerVersion"):
                if q.get(k):
                    vi[k] = q[k]
            if vi != (ci.get("versionInfo") or {}):
                ci["versionInfo"] = vi
                self.backend.on_agent_version(ci)
                self.state.mark("instances", inst)
                self.state.save()
        ws = web.WebSocketResponse(autoping=True, max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        conn = Conn(ws, inst, cluster_param, request.remote)
        self.conns.setdefault(inst, []).append(conn)
        app["log_line"](request, 101)
        self.state.add_event("ws_connect", containerInstanceArn=inst, conn=conn.id,
                             query={k: v for k, v in q.items()}, userAgent=request.headers.get("User-Agent"))
        log.info("ACS connect %s conn=%s query=%s", inst, conn.id, dict(q))
        conn.hb_task = _spawn(self._heartbeats(conn), "acs-heartbeats")
        # the connect payloads go out while frames are read: an agent may
        # ack the first before the last is sent (or close meanwhile)
        sender = _spawn(self._on_connect(conn), "acs-connect-payloads")
        try:
            async for msg in ws:
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    data = msg.data if msg.type == WSMsgType.TEXT else msg.data.decode("utf-8", "replace")
                    self._on_frame(conn, data)
                elif msg.type == WSMsgType.ERROR:
                    log.info("ws error %s: %s", inst, ws.exception())
                    break
        finally:
            conn.hb_task.cancel()
            if not sender.done():
                sender.cancel()
            try:
                self.conns.get(inst, []).remove(conn)
            except ValueError:
                pass
            self.state.add_event("ws_disconnect", containerInstanceArn=inst, conn=conn.id,
                                 closeCode=ws.close_code)
            log.info("ACS disconnect %s conn=%s code=%s", inst, conn.id, ws.close_code)
        request["logged"] = True
        return ws

    async def _on_connect(self, conn):
        inst = conn.instance_arn
        with self.state.lock:
            pending = list(self.state.pending.get(inst, []))
            if not pending and self.connect_payload != "never":
                active = [t for t in self.state.tasks.tasks(("i", inst))
                          if t["desiredStatus"] == "RUNNING" or t["lastStatus"] != "STOPPED"]
                active.sort(key=lambda t: t["createdAt"])
                if active or self.connect_payload == "always":
                    pending = [self.make_payload(inst, active)]
                    self.state.save()
        await self._send_entries(inst, pending, conns=[conn])

    async def _heartbeats(self, conn):
        try:
            while not conn.ws.closed:
                await asyncio.sleep(self.heartbeat_interval)
                frame = json.dumps({"type": "HeartbeatMessage",
                                    "message": {"healthy": True, "messageId": str(uuid.uuid4())}})
                await conn.send(frame)
        except asyncio.CancelledError:
            pass

    def _on_frame(self, conn, data):
        try:
            obj = json.loads(data)
            typ = obj.get("type")
            msg = obj.get("message") or {}
            if not isinstance(msg, dict):
                raise ValueError("message is not an object")
        except (ValueError, AttributeError) as e:
            log.warning("undecodable frame from %s: %r (%s)", conn.instance_arn, data[:200], e)
            self.state.add_event("unknown_frame", containerInstanceArn=conn.instance_arn, raw=data[:4096])
            return
        inst = conn.instance_arn
        with self.state.lock:
            if typ == "AckRequest":
                mid = msg.get("messageId")
                entries = self.state.pending.get(inst, [])
                before = len(entries)
                self.state.pending[inst] = [e for e in entries if e["messageId"] != mid]
                known = before != len(self.state.pending[inst])
                self.state.add_event("AckRequest", containerInstanceArn=inst, message=msg, matched=known)
                log.info("ack %s from %s (matched=%s)", mid, inst, known)
                self.backend.on_agent_reply(inst, mid, True)
                self.state.save()
            elif typ == "NackRequest":
                self.state.add_event("NackRequest", containerInstanceArn=inst, message=msg)
                log.warning("nack from %s: %s", inst, msg)
                self.backend.on_agent_reply(inst, msg.get("messageId"), False)
                self.state.save()
            elif typ in ("HeartbeatAckRequest", "IAMRoleCredentialsAckRequest", "TaskStopVerificationMessage"):
                self.state.add_event(typ, containerInstanceArn=inst, message=msg)
                if typ == "TaskStopVerificationMessage" and self.on_stop_verification:
                    self.on_stop_verification(conn, msg)
            else:
                log.warning("unknown frame type %r from %s", typ, inst)
                self.state.add_event("unknown_frame", containerInstanceArn=inst, raw=data[:4096])

    # ------------------------------------------------------------ admin actions
    async def send_raw(self, text, instance_arn=None):
        n = 0
        for c in self.all_conns(instance_arn):
            if await c.send(text):
                n += 1
        return n

    async def send_message(self, typ, message, instance_arn=None):
        n = 0
        for c in self.all_conns(instance_arn):
            m = dict(message or {})
            if typ in ("StageUpdateMessage", "PerformUpdateMessage", "PayloadMessage", "TaskManifestMessage"):
                ci = self.state.instances.get(c.instance_arn, {})
                m.setdefault("messageId", str(uuid.uuid4()))
                m.setdefault("clusterArn", self.backend.cluster_arn(ci.get("_cluster", "default")))
                m.setdefault("containerInstanceArn", c.instance_arn)
            if typ == "HeartbeatMessage":
                m.setdefault("healthy", True)
                m.setdefault("messageId", str(uuid.uuid4()))
            if await c.send(json.dumps({"type": typ, "message": m})):
                n += 1
        return n

    async def duplicate_payload(self, instance_arn=None):
        n = 0
        targets = [instance_arn] if instance_arn else list(self.last_payload)
        for inst in targets:
            frame = self.last_payload.get(inst)
            if frame is None:
                continue
            for c in self.all_conns(inst):
                if await c.send(frame):
                    n += 1
        return n

    async def drop(self, instance_arn=None, abort=False):
        conns = self.all_conns(instance_arn)
        for c in conns:
            if abort:
                c.ws._req.transport.abort() if getattr(c.ws, "_req", None) and c.ws._req.transport else None
            else:
                await c.ws.close(code=1000, message=b"")
        return len(conns)

    def describe(self):
        return {inst: [{"conn": c.id, "peer": c.peer, "connectedAt": c.connected_at, "cluster": c.cluster_param}
                       for c in cs if not c.ws.closed] for inst, cs in self.conns.items()}
