"""The local control plane with bench-only admin hooks (bench/ only; controlplane/ is untouched).

Run exactly like `python3 -m controlplane` (same flags, same startup line);
adds, under /_local/bench/:

  POST /_local/bench/run_tasks  {"cluster", "taskDefinition", "count",
                                 "overrides": [per-task overrides or null, ...] (optional),
                                 "startedBy" (optional)}
      Places `count` tasks (no count limit, no resource check) on the cluster's
      one ACTIVE instance and sends them as ONE PayloadMessage.  Answers
      {"taskArns", "messageId", "sendStart", "sendEnd"}: wall-clock seconds
      immediately before and after the frame was handed to the websocket.

  POST /_local/bench/stop_tasks {"cluster", "tasks": [arn, ...]}
      Sets desiredStatus STOPPED on every task (as StopTask does) and sends them
      all in ONE PayloadMessage; same answer shape.

  POST /_local/bench/on_register {"cluster", "taskDefinition"}
      Arms a one-shot hook: when an instance registers in `cluster`, one task is
      placed on it at once, so the payload sent when its ACS websocket connects
      already carries it (start-up benchmark: process start -> first task RUNNING).

It also records an event {"kind": "bench_api", "op": ...} when
RegisterContainerInstance or DiscoverPollEndpoint is answered (server time).
"""

import asyncio
import json
import logging
import os
import signal
import sys
import time

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from aiohttp import web  # noqa: E402

from controlplane import server as cp_server  # noqa: E402

log = logging.getLogger("controlplane.bench")


class BenchServer(cp_server.Server):
    def __init__(self, args):
        super().__init__(args)
        self.armed = {}  # cluster -> taskDefinition
        backend = self.backend
        orig_call = backend.call

        def call(op, req):
            result = orig_call(op, req)
            if op in ("RegisterContainerInstance", "DiscoverPollEndpoint"):
                with self.state.lock:
                    ev = {"op": op, "cluster": req.get("cluster"), "containerInstance": req.get("containerInstance")}
                    if op == "RegisterContainerInstance":
                        ev["containerInstanceArn"] = result["containerInstance"]["containerInstanceArn"]
                    self.state.add_event("bench_api", **ev)
                    if op == "RegisterContainerInstance":
                        self._maybe_place_on_register(req, result)
            return result

        backend.call = call

    def _maybe_place_on_register(self, req, result):
        try:
            c = self.backend.get_cluster(req.get("cluster"))
        except Exception:  # noqa: BLE001
            return
        td_ref = self.armed.pop(c["clusterName"], None)
        if not td_ref:
            return
        arn = result["containerInstance"]["containerInstanceArn"]
        ci = self.state.instances[arn]
        td = self.backend.resolve_task_def(td_ref, require_active=True)
        reserved = self.backend.task_requirements(td, None)
        t = self.backend._new_task(c, td, ci, {"startedBy": "bench-startup"}, dict(reserved))
        self.backend._notify([t])
        self.state.add_event("bench_placed", taskArn=t["taskArn"], containerInstanceArn=arn)

    def make_api_app(self):
        app = super().make_api_app()
        app.router.add_post("/_local/bench/run_tasks", self.h_run_tasks)
        app.router.add_post("/_local/bench/stop_tasks", self.h_stop_tasks)
        app.router.add_post("/_local/bench/on_register", self.h_on_register)
        return app

    def _instance(self, c):
        for ci in self.state.instances.values():
            if ci["_cluster"] == c["clusterName"] and ci["status"] == "ACTIVE":
                return ci
        raise ValueError("no ACTIVE instance in cluster %s" % c["clusterName"])

    async def _send(self, inst, tasks):
        with self.state.lock:
            entry = self.acs.make_payload(inst, tasks)
        conns = self.acs.all_conns(inst)
        if not conns:
            raise ValueError("instance %s has no ACS connection" % inst)
        t0 = time.time()
        await self.acs._send_entries(inst, [entry], conns=conns)
        t1 = time.time()
        return {"taskArns": [t["taskArn"] for t in tasks], "messageId": entry["messageId"],
                "sendStart": t0, "sendEnd": t1}

    async def h_run_tasks(self, request):
        request["op"] = "admin"
        try:
            spec = await request.json()
            with self.state.lock:
                c = self.backend.get_cluster(spec.get("cluster"))
                td = self.backend.resolve_task_def(spec["taskDefinition"], require_active=True)
                ci = self._instance(c)
                count = int(spec.get("count", 1))
                ovl = spec.get("overrides") or []
                tasks = []
                for i in range(count):
                    ov = ovl[i] if i < len(ovl) else None
                    req = {"overrides": ov or {}, "startedBy": spec.get("startedBy") or "bench"}
                    reserved = self.backend.task_requirements(td, ov)
                    tasks.append(self.backend._new_task(c, td, ci, req, dict(reserved)))
            out = await self._send(ci["containerInstanceArn"], tasks)
        except Exception as e:  # noqa: BLE001
            return web.json_response({"error": "%s: %s" % (type(e).__name__, e)}, status=400)
        return web.json_response(out)

    async def h_stop_tasks(self, request):
        request["op"] = "admin"
        try:
            spec = await request.json()
            with self.state.lock:
                c = self.backend.get_cluster(spec.get("cluster"))
                tasks = []
                for ref in spec.get("tasks") or []:
                    t = self.backend.find_task(c, ref)
                    if t is None:
                        raise ValueError("task %s not found" % ref)
                    if t["desiredStatus"] != "STOPPED":
                        t["desiredStatus"] = "STOPPED"
                        t["stoppingAt"] = time.time()
                        t["stopCode"] = "UserInitiated"
                        t["stoppedReason"] = "stopped by the bench"
                        t["version"] += 1
                    tasks.append(t)
                inst = self._instance(c)["containerInstanceArn"]
            out = await self._send(inst, tasks) if tasks else {"taskArns": []}
        except Exception as e:  # noqa: BLE001
            return web.json_response({"error": "%s: %s" % (type(e).__name__, e)}, status=400)
        return web.json_response(out)

    async def h_on_register(self, request):
        request["op"] = "admin"
        spec = await request.json()
        with self.state.lock:
            self.armed[spec["cluster"]] = spec["taskDefinition"]
        return web.json_response({"ok": True})


def main(argv=None):
    args = cp_server.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, args.log_level.upper(), logging.INFO),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("aiohttp").setLevel(logging.WARNING)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    srv = BenchServer(args)
    stop_ev = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_ev.set)
    try:
        loop.run_until_complete(srv.start())
        loop.run_until_complete(stop_ev.wait())
    finally:
        loop.run_until_complete(srv.stop())
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
