"""TCS telemetry websocket (GET /tcs/ws): signed handshake, signed publish frames, acks.

DiscoverPollEndpoint's telemetryEndpoint is "<endpoint>tcs", so an agent dials
<endpoint>tcs/ws?agentHash=..&agentVersion=..&cluster=..&containerInstance=..&dockerVersion=..
Every frame from the agent is a signed HTTP request in text form (header lines,
a blank line, then the JSON envelope); its SigV4 signature (GET of the session
URL with the JSON as body) is verified before the message is accepted.  The
latest metrics are kept per task and container, with a bounded time series,
and summarised per cluster and service (describe-clusters statistics, the
admin route /_local/tcs).
"""

import asyncio
import collections
import json
import logging
import time
import uuid

from aiohttp import web, WSMsgType

from . import sigv4

log = logging.getLogger("controlplane.tcs")

SERIES_MAX = 120  # points kept per container


def _raw_query(request):
    rp = request.raw_path
    return rp.split("?", 1)[1] if "?" in rp else ""


def parse_frame(text):
    """Split a signed TCS frame into (headers dict lower-name -> [values], body str)."""
    head, sep, body = text.partition("\r\n\r\n")
    if not sep:
        raise ValueError("no header block")
    headers = {}
    for line in head.split("\r\n"):
        name, colon, value = line.partition(":")
        if not colon:
            raise ValueError("bad header line %r" % line[:80])
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return headers, body


def _unframed(status, exc, message):
    return web.Response(status=status, body=json.dumps({exc: message}).encode(),
                        content_type="application/json")


class TcsHub:
    def __init__(self, state, backend, creds, region, heartbeat_interval=30.0):
        self.state = state
        self.backend = backend
        self.creds = creds
        self.region = region
        self.heartbeat_interval = heartbeat_interval
        self.conns = {}  # instance arn -> [ws]
        self.refuse_until = 0.0
        self.silent = False  # accept but never answer (tests: a slow/mute TCS)
        # (taskArn, containerName) -> {"latest": {...}, "series": deque}
        self.metrics = {}
        self.task_meta = {}  # taskArn -> {"family", "version", "instance", "at"}
        self.health = {}  # (taskArn, containerName) -> {"healthStatus", "statusSince", "at"}
        self.instance_status = {}  # instance arn -> status entry
        self.counts = collections.Counter()
        self.last_metadata = {}

    # ------------------------------------------------------------ queries
    def task_utilization(self, task_arn):
        """Sum over the task's containers of the latest average CPU (%) and memory (MiB)."""
        cpu = mem = None
        for (arn, _name), m in self.metrics.items():
            if arn != task_arn:
                continue
            lat = m["latest"]
            cpu = (cpu or 0.0) + lat["cpuAvg"]
            mem = (mem or 0.0) + lat["memoryAvgMiB"]
        return cpu, mem

    def cluster_statistics(self, cluster_name):
        tasks = list(self.state.tasks.tasks(("cl", cluster_name, "RUNNING")))
        cpu = mem = 0.0
        n = 0
        for t in tasks:
            c, m = self.task_utilization(t["taskArn"])
            if c is None:
                continue
            n += 1
            cpu += c
            mem += m
        stats = [{"name": "runningEC2TasksCount", "value": str(len(tasks))},
                 {"name": "tasksWithMetricsCount", "value": str(n)}]
        if n:
            stats.append({"name": "CPUUtilization", "value": "%.3f" % (cpu / n)})
            stats.append({"name": "MemoryUtilizationMiB", "value": "%.3f" % (mem / n)})
        return stats

    def describe(self):
        out = {"counts": dict(self.counts), "tasks": {}, "instanceStatus": self.instance_status,
               "connections": {k: len([w for w in v if not w.closed]) for k, v in self.conns.items()},
               "lastMetadata": self.last_metadata}
        for (arn, name), m in self.metrics.items():
            t = out["tasks"].setdefault(arn, dict(self.task_meta.get(arn, {}), containers={}))
            t["containers"][name] = {"latest": m["latest"], "series": list(m["series"])}
            cpu, mem = self.task_utilization(arn)
            t["cpuUtilization"] = cpu
            t["memoryUtilizationMiB"] = mem
        for (arn, name), h in self.health.items():
            t = out["tasks"].setdefault(arn, dict(self.task_meta.get(arn, {}), containers={}))
            t["containers"].setdefault(name, {})["health"] = h
        return out

    def container_health(self, task_arn, name):
        h = self.health.get((task_arn, name))
        return h["healthStatus"] if h else None

    # ------------------------------------------------------------ messages
    def _on_metrics(self, inst, msg):
        meta = msg.get("metadata") or {}
        self.last_metadata = meta
        self.counts["PublishMetricsRequest"] += 1
        if meta.get("idle"):
            self.counts["idle"] += 1
        now = time.time()
        for tm in msg.get("taskMetrics") or []:
            arn = tm.get("taskArn")
            if not arn:
                continue
            self.task_meta[arn] = {"family": tm.get("taskDefinitionFamily"),
                                   "version": tm.get("taskDefinitionVersion"), "instance": inst, "at": now}
            for cm in tm.get("containerMetrics") or []:
                cpu = cm.get("cpuStatsSet") or {}
                memset = cm.get("memoryStatsSet") or {}
                if not cpu.get("sampleCount") or not memset.get("sampleCount"):
                    continue
                point = {"at": now, "timestamp": msg.get("timestamp"),
                         "cpuAvg": cpu["sum"] / cpu["sampleCount"], "cpuMin": cpu.get("min"),
                         "cpuMax": cpu.get("max"), "cpuSamples": cpu["sampleCount"],
                         "memoryAvgMiB": memset["sum"] / memset["sampleCount"],
                         "memoryMinMiB": memset.get("min"), "memoryMaxMiB": memset.get("max"),
                         "storage": cm.get("storageStatsSet"), "network": cm.get("networkStatsSet")}
                key = (arn, cm.get("containerName"))
                ent = self.metrics.setdefault(key, {"series": collections.deque(maxlen=SERIES_MAX)})
                ent["latest"] = point
                ent["series"].append(point)

    def _on_health(self, inst, msg):
        self.counts["PublishHealthRequest"] += 1
        now = time.time()
        for th in msg.get("tasks") or []:
            for c in th.get("containers") or []:
                self.health[(th.get("taskArn"), c.get("containerName"))] = {
                    "healthStatus": c.get("healthStatus"), "statusSince": c.get("statusSince"), "at": now}

    def _on_status(self, inst, msg):
        self.counts["PublishInstanceStatusRequest"] += 1
        for st in msg.get("statuses") or []:
            self.instance_status[inst] = dict(st, at=time.time())

    # ------------------------------------------------------------ websocket
    async def handle_ws(self, request):
        request["op"] = "tcs"
        path = request.raw_path.split("?", 1)[0]
        try:
            sigv4.verify("GET", path, _raw_query(request), request.headers, b"", self.creds, self.region)
        except sigv4.SigV4Error as e:
            request["note"] = e.code
            return _unframed(403, "AccessDeniedException", "%s: %s" % (e.code, e.message.split("\n")[0]))
        if time.time() < self.refuse_until:
            request["note"] = "fault:refuse_tcs"
            return _unframed(500, "ServerException", "Service unavailable (injected fault)")
        q = request.query
        inst = q.get("containerInstance")
        if not q.get("cluster") or not inst:
            return _unframed(400, "BadRequestException", "cluster and containerInstance are required")
        ws = web.WebSocketResponse(autoping=True, max_msg_size=4 * 1024 * 1024)
        await ws.prepare(request)
        self.conns.setdefault(inst, []).append(ws)
        self.counts["connects"] += 1
        self.state.add_event("tcs_connect", containerInstanceArn=inst, query=dict(q),
                             userAgent=request.headers.get("User-Agent"))
        log.info("TCS connect %s", inst)
        hb = asyncio.get_event_loop().create_task(self._heartbeats(ws))
        try:
            async for m in ws:
                if m.type == WSMsgType.TEXT:
                    await self._on_frame(ws, inst, path, _raw_query(request), m.data)
                elif m.type == WSMsgType.ERROR:
                    break
        finally:
            hb.cancel()
            try:
                self.conns.get(inst, []).remove(ws)
            except ValueError:
                pass
            self.state.add_event("tcs_disconnect", containerInstanceArn=inst, closeCode=ws.close_code)
            log.info("TCS disconnect %s code=%s", inst, ws.close_code)
        request["logged"] = True
        return ws

    async def _heartbeats(self, ws):
        try:
            while not ws.closed:
                await asyncio.sleep(self.heartbeat_interval)
                if not self.silent:
                    await ws.send_str(json.dumps({"type": "HeartbeatMessage", "message": {"healthy": True}}))
        except (asyncio.CancelledError, ConnectionError, RuntimeError):
            pass

    async def _on_frame(self, ws, inst, path, raw_query, text):
        try:
            headers, body = parse_frame(text)
            sigv4.verify("GET", path, raw_query, headers, body.encode("utf-8"), self.creds, self.region)
            obj = json.loads(body)
            typ, msg = obj["type"], obj.get("message") or {}
        except sigv4.SigV4Error as e:
            self.counts["badSignature"] += 1
            log.warning("TCS frame from %s: bad signature: %s", inst, e.code)
            await ws.send_str(json.dumps({"type": "BadRequestException",
                                          "message": {"message": "signature: " + e.code}}))
            return
        except (ValueError, KeyError, TypeError) as e:
            self.counts["undecodable"] += 1
            log.warning("TCS frame from %s undecodable: %s", inst, e)
            return
        ack = None
        with self.state.lock:
            if typ == "PublishMetricsRequest":
                self._on_metrics(inst, msg)
                ack = "AckPublishMetric"
            elif typ == "PublishHealthRequest":
                self._on_health(inst, msg)
                ack = "AckPublishHealth"
            elif typ == "PublishInstanceStatusRequest":
                self._on_status(inst, msg)
                ack = "AckPublishInstanceStatus"
            else:
                self.counts["unknown"] += 1
        if ack and not self.silent:
            await ws.send_str(json.dumps({"type": ack, "message": {}}))

    async def drop(self, instance_arn=None, code=1000):
        n = 0
        for inst, conns in list(self.conns.items()):
            if instance_arn and inst != instance_arn:
                continue
            for ws in list(conns):
                if not ws.closed:
                    await ws.close(code=code, message=b"")
                    n += 1
        return n

    async def stop(self):
        await self.drop()

    def request_id(self):
        return str(uuid.uuid4())
