"""The web console: static HTML/JS (controlplane/web/, no build step, no CDN)
served under /console/, its data and its actions (unsigned, like the admin API).

GET  /console/                      index.html, console.js, console.css
GET  /_local/console/data           clusters, container instances, services, tasks
                                    (newest first, at most 500) and active task
                                    definition families, in the API's shapes
POST /_local/console/api/<Op>       RunTask, StopTask, UpdateService, CreateService,
                                    DeleteService: the ECS operation (validated as a
                                    signed call would be), answered as the API answers
"""

import json
import os

from aiohttp import web

from .ecs_api import ApiError, error_response
from .state import public

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "web")
ACTIONS = ("RunTask", "StopTask", "UpdateService", "CreateService", "DeleteService")
MAX_TASKS = 500


class Console:
    def __init__(self, state, backend):
        self.state = state
        self.backend = backend

    def add_routes(self, app):
        app.router.add_get("/console", lambda r: web.HTTPFound("/console/"))
        app.router.add_get("/console/", self.index)
        app.router.add_static("/console/", ROOT, show_index=False)
        app.router.add_get("/_local/console/data", self.data)
        app.router.add_post("/_local/console/api/{op}", self.action)

    async def index(self, request):
        request["op"] = "console"
        return web.FileResponse(os.path.join(ROOT, "index.html"))

    async def data(self, request):
        request["op"] = "console"
        b = self.backend
        with self.state.lock:
            names = {c["clusterName"] for c in self.state.clusters.values() if c["status"] == "ACTIVE"}
            tasks = self.state.tasks.newest([("c", n) for n in names], MAX_TASKS)
            out = {
                "clusters": [b.cluster_view(c) for c in self.state.clusters.values() if c["status"] == "ACTIVE"],
                "containerInstances": [dict(b.instance_view(ci), clusterName=ci["_cluster"])
                                       for ci in self.state.instances.values()
                                       if ci["_cluster"] in names and ci["status"] != "INACTIVE"],
                "services": [dict(b.service_view(s), clusterName=s["_cluster"])
                             for s in self.state.services.values()
                             if s["_cluster"] in names and s["status"] != "INACTIVE"],
                "tasks": [dict(public(t), clusterName=t["_cluster"]) for t in tasks],
                "taskDefinitions": sorted(f for f, revs in self.state.task_defs.items()
                                          if any(td["status"] == "ACTIVE" for td in revs)),
            }
        return web.Response(body=json.dumps(out, default=str).encode(), content_type="application/json")

    async def action(self, request):
        op = request.match_info["op"]
        request["op"] = "console:" + op
        if op not in ACTIONS:
            return error_response("UnknownOperationException", "The console does not offer %s." % op)
        try:
            req = await request.json()
            if not isinstance(req, dict):
                raise ValueError("not an object")
        except ValueError:
            return error_response("SerializationException", "Expected a JSON object.")
        try:
            result = self.backend.call(op, req)
        except ApiError as e:
            request["note"] = e.code
            return error_response(e.code, e.message, e.status)
        return web.Response(body=json.dumps(result, default=str).encode(), content_type="application/json")
