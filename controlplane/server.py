"""Wiring: argument parsing, aiohttp apps (API + ACS + admin, IMDS), startup line."""

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
import sys
import time

from aiohttp import web

from . import acs, aws_services, manifest, roles, tcs, ecs_api, faults as faults_mod, imds as imds_mod, sigv4
from . import console as console_mod
from .state import State, public

log = logging.getLogger("controlplane")


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="controlplane", description="Local fake ECS control plane")
    p.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT for the ECS API, ACS websocket and admin API")
    p.add_argument("--imds-listen", default=None, help="HOST:PORT for the fake instance metadata service")
    p.add_argument("--region", default="us-west-2")
    p.add_argument("--account", default="123456789012")
    p.add_argument("--access-key", required=True)
    p.add_argument("--secret-key", required=True)
    p.add_argument("--session-token", default=None, help="if set, the static key also requires this token")
    p.add_argument("--state-dir", default=None, help="directory for state.db (omit: in-memory only)")
    p.add_argument("--heartbeat-interval", type=float, default=30.0, help="seconds between HeartbeatMessages")
    p.add_argument("--task-manifest-interval", type=float, default=300.0,
                   help="seconds between TaskManifestMessages to each connected instance (0 = never)")
    p.add_argument("--resend-interval", type=float, default=10.0, help="seconds before an unacked payload is re-sent")
    p.add_argument("--connect-payload", choices=("always", "nonempty", "never"), default="always",
                   help="payload sent on connect when nothing is pending (always: even with zero tasks)")
    p.add_argument("--placement-requires-connected", action="store_true",
                   help="RunTask only places on instances whose ACS websocket is connected (like real ECS)")
    p.add_argument("--imds-require-v2", action="store_true", help="IMDS refuses requests without a v2 token")
    p.add_argument("--role-credentials-lifetime", type=float, default=6 * 3600.0,
                   help="task IAM role credentials lifetime, seconds (rotated with a third left)")
    p.add_argument("--imds-cred-lifetime", type=float, default=3600.0, help="role credential lifetime, seconds")
    p.add_argument("--imds-role", default="ecs-local-instance-role", help="role name ('' = no role)")
    p.add_argument("--instance-id", default="i-0123456789abcdef0")
    p.add_argument("--instance-type", default="m5.large")
    p.add_argument("--agent-update-location", default=None,
                   help="URL of an agent update tarball offered by UpdateContainerAgent")
    p.add_argument("--agent-update-signature", default="", help="its SHA-256 (hex)")
    p.add_argument("--agent-update-version", default=None, help="the agent version it contains")
    p.add_argument("--scheduler-interval", type=float, default=1.0, help="seconds between service scheduler passes")
    p.add_argument("--ecr-registry", default=os.environ.get("CP_ECR_REGISTRY") or None,
                   help="HOST:PORT of the local registry served as ECR: its images get registryAuthentication "
                        "type ecr and GetAuthorizationToken answers its credentials (env CP_ECR_REGISTRY)")
    p.add_argument("--ecr-user", default=os.environ.get("CP_ECR_USER") or "AWS",
                   help="that registry's htpasswd user (ECR's is always AWS; env CP_ECR_USER)")
    p.add_argument("--ecr-password", default=os.environ.get("CP_ECR_PASSWORD") or "",
                   help="that registry's htpasswd password (env CP_ECR_PASSWORD)")
    p.add_argument("--ecr-registry-id", default=os.environ.get("CP_ECR_REGISTRY_ID") or None,
                   help="registryId of that registry (default: --account; env CP_ECR_REGISTRY_ID)")
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--min-restart-attempt-period", type=int, default=60,
                   help="TEST ONLY: lowest restartPolicy.restartAttemptPeriod accepted (ECS: 60 s); "
                        "lets end-to-end tests restart containers within seconds")
    return p.parse_args(argv)


def _split_hostport(s):
    host, _, port = s.rpartition(":")
    return host or "127.0.0.1", int(port)


def _bind(addr):
    host, port = _split_hostport(addr)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    h, p = sock.getsockname()[:2]
    return sock, "%s:%d" % (h, p)


def _log_line(request, status):
    if request.get("logged"):
        return
    request["logged"] = True
    dur = (time.monotonic() - request.get("t0", time.monotonic())) * 1000
    sys.stderr.write("%s %s %s %s op=%s status=%s %.1fms%s\n" % (
        time.strftime("%Y-%m-%dT%H:%M:%S"), request.remote, request.method, request.path_qs[:200],
        request.get("op", "-"), status, dur, (" note=" + request["note"]) if request.get("note") else ""))
    sys.stderr.flush()


@web.middleware
async def log_mw(request, handler):
    request["t0"] = time.monotonic()
    try:
        resp = await handler(request)
    except web.HTTPException as e:
        _log_line(request, e.status)
        raise
    except Exception:
        _log_line(request, 500)
        raise
    _log_line(request, getattr(resp, "status", "?"))
    return resp


def _json(obj, status=200):
    return web.Response(status=status, body=json.dumps(obj, indent=1, default=str).encode(),
                        content_type="application/json")


class Server:
    def __init__(self, args):
        self.args = args
        self.state = State(args.state_dir)
        self.creds = sigv4.CredentialStore()
        self.creds.add_static(args.access_key, args.secret_key, args.session_token)
        self.faults = faults_mod.Faults()
        self.creds.set_principal(args.access_key, "arn:aws:iam::%s:user/local" % args.account)
        ecr = None
        if args.ecr_registry:
            ecr = {"registry": args.ecr_registry, "user": args.ecr_user, "password": args.ecr_password,
                   "registryId": args.ecr_registry_id or args.account}
        self.backend = ecs_api.EcsBackend(self.state, args.region, args.account,
                                          {"placement_requires_connected": args.placement_requires_connected,
                                           "ecr": ecr,
                                           "min_restart_attempt_period": args.min_restart_attempt_period,
                                           "agent_update": {"location": args.agent_update_location,
                                                            "signature": args.agent_update_signature,
                                                            "version": args.agent_update_version}})
        self.acs = acs.AcsHub(self.state, self.backend, self.faults, self.creds, args.region,
                              heartbeat_interval=args.heartbeat_interval, resend_interval=args.resend_interval,
                              connect_payload=args.connect_payload)
        self.roles = roles.RoleCredentials(self.state, self.backend, self.acs,
                                           lifetime=args.role_credentials_lifetime, creds=self.creds)
        self.aws = aws_services.AwsServices(self.state, self.creds, args.region, args.account, ecr=ecr)
        self.manifests = manifest.ManifestSender(self.state, self.backend, self.acs,
                                                 interval=args.task_manifest_interval)
        self.tcs = tcs.TcsHub(self.state, self.backend, self.creds, args.region,
                              heartbeat_interval=args.heartbeat_interval)
        self.backend.telemetry_statistics = self.tcs.cluster_statistics
        self.backend.container_health = self.tcs.container_health
        self.imds = imds_mod.Imds(self.state, self.creds, self.faults, args.region, args.account,
                                  instance_id=args.instance_id, instance_type=args.instance_type,
                                  role=args.imds_role, cred_lifetime=args.imds_cred_lifetime,
                                  require_v2=args.imds_require_v2)
        self.runners = []

    # ------------------------------------------------------------ apps
    def make_api_app(self):
        app = web.Application(middlewares=[log_mw], client_max_size=ecs_api.validate.MAX_BODY)
        app["backend"] = self.backend
        app["faults"] = self.faults
        app["creds"] = self.creds
        app["aws"] = self.aws
        app["log_line"] = _log_line
        app.router.add_post("/", ecs_api.handle_api)
        app.router.add_get("/ws", self.acs.handle_ws)
        app.router.add_get("/tcs/ws", self.tcs.handle_ws)
        app.router.add_get("/_local/tcs", self.h_tcs)
        app.router.add_post("/_local/tcs", self.h_tcs_fault)
        app.router.add_get("/_local/state", self.h_state)
        app.router.add_get("/_local/events", self.h_events)
        app.router.add_get("/_local/faults", self.h_faults_get)
        app.router.add_post("/_local/faults", self.h_faults)
        app.router.add_post("/_local/faults/clear", self.h_faults_clear)
        app.router.add_post("/_local/acs/send", self.h_acs_send)
        app.router.add_post("/_local/acs/manifest", self.h_acs_manifest)
        app.router.add_post("/_local/imds/rotate", self.h_imds_rotate)
        app.router.add_post("/_local/imds/spot", self.h_imds_spot)
        app.router.add_post("/_local/imds/tags", self.h_imds_tags)
        app.router.add_get("/_local/health", lambda r: _json({"ok": True}))
        app.router.add_get("/_local/iam", self.h_iam)
        app.router.add_post("/_local/iam/deny", self.h_iam_deny)
        console_mod.Console(self.state, self.backend).add_routes(app)
        return app

    def make_imds_app(self):
        app = web.Application(middlewares=[log_mw])
        app.router.add_route("*", "/{tail:.*}", self.imds.handle)
        return app

    # ------------------------------------------------------------ admin handlers
    async def h_state(self, request):
        request["op"] = "admin"
        with self.state.lock:
            b = self.backend
            out = {
                "region": self.args.region, "account": self.args.account, "endpoint": b.endpoint,
                "clusters": [b.cluster_view(c) for c in self.state.clusters.values()],
                "taskDefinitions": [public(td) for revs in self.state.task_defs.values() for td in revs],
                "containerInstances": [b.instance_view(ci) for ci in self.state.instances.values()],
                "tasks": [b.task_view(t) for t in self.state.tasks.values()],
                "pendingPayloads": {k: [{kk: vv for kk, vv in e.items() if kk != "frame"} for e in v]
                                    for k, v in self.state.pending.items() if v},
                "websockets": self.acs.describe(),
                "faults": self.faults.describe(),
                "imds": {"credentials": [public(c) for c in self.state.imds_creds], "role": self.imds.role,
                         "instanceId": self.imds.instance_id},
            }
        return _json(out)

    async def h_events(self, request):
        request["op"] = "admin"
        since = int(request.query.get("since", "0") or 0)
        kind = request.query.get("kind")
        with self.state.lock:
            evs = [e for e in self.state.events if e["seq"] > since and (not kind or e["kind"] == kind)]
        return _json({"events": evs, "lastSeq": self.state.event_seq})

    async def h_faults_get(self, request):
        request["op"] = "admin"
        return _json(self.faults.describe())

    async def h_faults_clear(self, request):
        request["op"] = "admin"
        self.faults.clear()
        return _json({"ok": True, "faults": self.faults.describe()})

    async def h_faults(self, request):
        request["op"] = "admin"
        try:
            spec = await request.json()
            if not isinstance(spec, dict):
                raise ValueError("expected an object")
        except Exception as e:
            return _json({"error": "bad JSON: %s" % e}, 400)
        inst = spec.get("instance")
        done = {}
        try:
            if "api_error" in spec:
                self.faults.set_api_error(spec["api_error"])
                done["api_error"] = True
            if "api_throttle" in spec:
                self.faults.set_api_throttle(spec["api_throttle"])
                done["api_throttle"] = True
            if "api_delay_ms" in spec:
                self.faults.set_api_delay(spec["api_delay_ms"])
                done["api_delay_ms"] = True
            if "refuse_ws" in spec:
                secs = spec["refuse_ws"]
                self.faults.refuse_ws_until = time.time() + float(secs) if secs else 0.0
                done["refuse_ws"] = True
            if "imds_require_v2" in spec:
                self.faults.imds_require_v2 = spec["imds_require_v2"]
                done["imds_require_v2"] = True
            if spec.get("drop_ws"):
                done["drop_ws"] = await self.acs.drop(inst, abort=(spec["drop_ws"] == "abort"))
            if "send_raw" in spec:
                done["send_raw"] = await self.acs.send_raw(spec["send_raw"], inst)
            if spec.get("duplicate_payload"):
                done["duplicate_payload"] = await self.acs.duplicate_payload(inst)
            if "close_message" in spec:
                done["close_message"] = await self.acs.send_message(
                    "CloseMessage", {"message": spec["close_message"]}, inst)
        except (TypeError, ValueError) as e:
            return _json({"error": str(e)}, 400)
        log.info("faults set: %s", spec)
        return _json({"ok": True, "applied": done, "faults": self.faults.describe()})

    async def h_acs_send(self, request):
        request["op"] = "admin"
        try:
            spec = await request.json()
            typ = spec["type"]
        except Exception as e:
            return _json({"error": "expected {\"type\":...,\"message\":...}: %s" % e}, 400)
        n = await self.acs.send_message(typ, spec.get("message") or {}, spec.get("instance"))
        return _json({"ok": True, "sent": n})

    async def h_acs_manifest(self, request):
        """{"instance": ARN?, "markStopped": [task ARN, ...]?}: send a TaskManifestMessage now."""
        request["op"] = "admin"
        try:
            spec = await request.json()
            if not isinstance(spec, dict):
                raise ValueError("expected an object")
        except Exception as e:
            return _json({"error": "bad JSON: %s" % e}, 400)
        marked = self.manifests.mark_stopped(spec.get("markStopped"))
        insts = [spec["instance"]] if spec.get("instance") else list(self.acs.conns)
        sent = 0
        for inst in insts:
            sent += await self.manifests.send(inst)
        return _json({"ok": True, "sent": sent, "markedStopped": marked})

    async def h_tcs(self, request):
        request["op"] = "admin"
        with self.state.lock:
            return _json(self.tcs.describe())

    async def h_tcs_fault(self, request):
        """{"refuse": seconds, "drop": true|code, "silent": bool}"""
        request["op"] = "admin"
        try:
            spec = await request.json()
            if not isinstance(spec, dict):
                raise ValueError("expected an object")
        except Exception as e:
            return _json({"error": "bad JSON: %s" % e}, 400)
        done = {}
        if "refuse" in spec:
            self.tcs.refuse_until = time.time() + float(spec["refuse"] or 0)
            done["refuse"] = True
        if "silent" in spec:
            self.tcs.silent = bool(spec["silent"])
            done["silent"] = self.tcs.silent
        if spec.get("drop"):
            code = spec["drop"] if isinstance(spec["drop"], int) and spec["drop"] is not True else 1000
            done["drop"] = await self.tcs.drop(spec.get("instance"), code=code)
        return _json({"ok": True, "applied": done})

    async def h_imds_tags(self, request):
        """{"tags": {"key": "value", ...}} makes the fake IMDS serve the instance's tags
        under meta-data/tags/instance; {"tags": null} stops serving them."""
        request["op"] = "admin"
        try:
            tags = (await request.json()).get("tags")
        except Exception as e:
            return _json({"error": "bad JSON: %s" % e}, 400)
        if tags is not None and (not isinstance(tags, dict)
                                 or not all(isinstance(v, str) for v in tags.values())):
            return _json({"error": "tags: an object of strings"}, 400)
        self.imds.instance_tags = tags
        return _json({"ok": True, "tags": tags})

    async def h_imds_spot(self, request):
        """{"action": "terminate"|"stop"|"hibernate", "inSeconds": 120} announces a spot
        interruption on meta-data/spot/instance-action; {"action": null} withdraws it."""
        request["op"] = "admin"
        try:
            spec = await request.json()
            action = spec.get("action")
            secs = float(spec.get("inSeconds", 120))
        except Exception as e:
            return _json({"error": "bad JSON: %s" % e}, 400)
        if action:
            when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + secs))
            self.imds.spot_action = {"action": action, "time": when}
        else:
            self.imds.spot_action = None
        return _json({"ok": True, "spot": self.imds.spot_action})

    async def h_iam(self, request):
        request["op"] = "admin"
        with self.state.lock:
            return _json({"denied": dict(self.state.iam_denied)})

    async def h_iam_deny(self, request):
        """{"principal": role or user ARN, "services": ["ecr", "ssm", "secretsmanager"]}: that
        identity gets AccessDeniedException from those services ([] lifts the denial)."""
        request["op"] = "admin"
        try:
            spec = await request.json()
            principal = spec["principal"]
            services = spec.get("services", list(aws_services.ALL_SERVICES))
            if not isinstance(principal, str) or not isinstance(services, list):
                raise ValueError("principal must be a string, services a list")
            denied = self.aws.deny(principal, services)
        except (KeyError, TypeError, ValueError) as e:
            return _json({"error": "expected {\"principal\": ARN, \"services\": [...]}: %s" % e}, 400)
        return _json({"ok": True, "denied": denied})

    async def h_imds_rotate(self, request):
        request["op"] = "admin"
        c = self.imds.rotate()
        return _json({"ok": True, "AccessKeyId": c["AccessKeyId"], "Expiration": c["Expiration"]})

    # ------------------------------------------------------------ run
    async def start(self):
        api_sock, api_addr = _bind(self.args.listen)
        self.backend.endpoint = "http://%s/" % api_addr
        runner = web.AppRunner(self.make_api_app(), access_log=None, handle_signals=False)
        await runner.setup()
        await web.SockSite(runner, api_sock, shutdown_timeout=0.5).start()
        self.runners.append(runner)
        out = {"listen": api_addr}
        if self.args.imds_listen:
            imds_sock, imds_addr = _bind(self.args.imds_listen)
            r2 = web.AppRunner(self.make_imds_app(), access_log=None, handle_signals=False)
            await r2.setup()
            await web.SockSite(r2, imds_sock, shutdown_timeout=0.5).start()
            self.runners.append(r2)
            out["imds"] = imds_addr
        self.acs.start()
        self.roles.start()
        self.manifests.start()
        self.scheduler_task = asyncio.get_event_loop().create_task(self._scheduler())
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
        log.info("control plane up: %s", out)

    async def _scheduler(self):
        """The service scheduler's periodic pass (it also runs after each call that matters)."""
        while True:
            await asyncio.sleep(self.args.scheduler_interval)
            try:
                with self.state.lock:
                    if self.state.services and self.backend.services_tick():
                        self.state.save()
            except Exception:  # pragma: no cover - bug guard: the scheduler keeps running
                log.exception("service scheduler")

    async def stop(self):
        await self.manifests.stop()
        await self.tcs.stop()
        await self.roles.stop()
        if getattr(self, "scheduler_task", None):
            self.scheduler_task.cancel()
        await self.acs.stop()
        for r in self.runners:
            await r.cleanup()
        self.state.save()


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, args.log_level.upper(), logging.INFO),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("aiohttp").setLevel(logging.WARNING)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    srv = Server(args)
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
