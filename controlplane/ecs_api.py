"""ECS JSON 1.1 API (AmazonEC2ContainerServiceV20141113.*) backed by State.

EcsBackend holds the operations (pure functions of state + request dict);
handle_api() is the aiohttp handler: SigV4 check, faults, dispatch, errors.
"""

import asyncio
import json
import logging
import uuid

from aiohttp import web

from . import aws_services, container_options, sigv4


def _raw_query(request):
    rp = request.raw_path
    return rp.split("?", 1)[1] if "?" in rp else ""
from .errors import ApiError, client_error, invalid_param  # noqa: F401 (re-exported)
from .state import public
from . import placement, query, validate
from .ecs_ops import MoreOps
from .services import ServiceOps
from .ecs_common import (  # noqa: F401 (re-exported: services.py and ecs_ops.py import _paginate from here)
    AUTH_NS, ERR_NS, NO_INSTANCES, TARGET_PREFIX, _describe, _now, _page_window, _paginate, _resource_map,
)
from .ecs_tasks import TaskOps

log = logging.getLogger("controlplane.ecs")


class EcsBackend(TaskOps, ServiceOps, MoreOps):
    def __init__(self, state, region, account, options=None):
        self.state = state
        self.region = region
        self.account = account
        self.options = options or {}
        self.endpoint = "http://127.0.0.1:0/"
        # callbacks set by the ACS module
        self.on_task_changes = lambda instance_arn, task_arns: None
        self.is_connected = lambda instance_arn: False
        self.on_instance_inactive = lambda instance_arn: None
        # set by the TCS module (controlplane/tcs.py): statistics per cluster, container health
        self.telemetry_statistics = None
        self.container_health = lambda task_arn, container_name: None

    # ------------------------------------------------------------ ARN helpers
    def arn(self, rest):
        return "arn:aws:ecs:%s:%s:%s" % (self.region, self.account, rest)

    def cluster_arn(self, name):
        return self.arn("cluster/" + name)

    @staticmethod
    def cluster_name_of(ref):
        if ref is None or ref == "":
            return "default"
        if ref.startswith("arn:"):
            parts = ref.split(":", 5)
            if len(parts) == 6 and parts[5].startswith("cluster/"):
                return parts[5][len("cluster/"):]
            raise invalid_param("Invalid cluster ARN: %s" % ref)
        return ref

    def get_cluster(self, ref, active_only=True):
        name = self.cluster_name_of(ref)
        c = self.state.clusters.get(name)
        if c is None or (active_only and c["status"] != "ACTIVE"):
            raise ApiError("ClusterNotFoundException", "Cluster not found.")
        return c

    def find_instance(self, cluster, ref):
        if not ref:
            raise invalid_param("containerInstance can not be blank.")
        if ref in self.state.instances:
            ci = self.state.instances[ref]
            if ci["_cluster"] == cluster["clusterName"]:
                return ci
            return None
        for arn, ci in self.state.instances.items():
            if ci["_cluster"] == cluster["clusterName"] and arn.rsplit("/", 1)[-1] == ref:
                return ci
        return None

    def find_task(self, cluster, ref):
        if ref in self.state.tasks:
            t = self.state.tasks[ref]
            return t if t["_cluster"] == cluster["clusterName"] else None
        return self.state.tasks.by_id(cluster["clusterName"], ref)

    def resolve_task_def(self, ref, require_active=False):
        if not ref:
            raise client_error("TaskDefinition can not be blank.")
        name = ref
        if ref.startswith("arn:"):
            parts = ref.split(":", 5)
            if len(parts) < 6 or not parts[5].startswith("task-definition/"):
                raise client_error("Invalid revision number. Number: " + ref)
            name = parts[5][len("task-definition/"):]
        if ":" in name:
            fam, rev = name.rsplit(":", 1)
            try:
                rev = int(rev)
            except ValueError:
                raise client_error("Invalid revision number. Number: " + rev)
            revs = self.state.task_defs.get(fam) or []
            if rev < 1 or rev > len(revs):
                raise client_error("Unable to describe task definition.")
            td = revs[rev - 1]
        else:
            revs = [t for t in (self.state.task_defs.get(name) or []) if t["status"] == "ACTIVE"]
            if not revs:
                raise client_error("Unable to describe task definition.")
            td = revs[-1]
        if require_active and td["status"] != "ACTIVE":
            raise client_error("TaskDefinition is inactive")
        return td

    # ------------------------------------------------------------ views
    def cluster_view(self, c):
        out = public(c)
        name = c["clusterName"]
        insts = [i for i in self.state.instances.values() if i["_cluster"] == name and i["status"] == "ACTIVE"]
        out["registeredContainerInstancesCount"] = len(insts)
        out["runningTasksCount"] = self.state.tasks.count(("cl", name, "RUNNING"))
        out["pendingTasksCount"] = self.state.tasks.count(("cl", name, "PENDING"))
        out["activeServicesCount"] = self.active_services_count(name)
        return out

    def instance_view(self, ci):
        out = public(ci)
        arn = ci["containerInstanceArn"]
        out["runningTasksCount"] = self.state.tasks.count(("il", arn, "RUNNING"))
        out["pendingTasksCount"] = self.state.tasks.count(("il", arn, "PENDING"))
        out["agentConnected"] = bool(self.is_connected(arn))
        out["remainingResources"] = self.remaining_resources(ci)
        return out

    def task_view(self, t):
        out = public(t)
        for c in out.get("containers") or []:
            h = self.container_health(t.get("taskArn"), c.get("name"))
            if h:
                c["healthStatus"] = h
        out["healthStatus"] = self.task_health(t, out.get("containers") or [])
        return out

    def task_health(self, t, containers):
        """ECS's task health: UNHEALTHY when an essential container with a
        health check is unhealthy, HEALTHY when every essential container with
        one is healthy (and there is one), UNKNOWN otherwise."""
        try:
            td = self.resolve_task_def(t["taskDefinitionArn"])
        except (ApiError, KeyError):
            td = None
        cds = {cd["name"]: cd for cd in (td or {}).get("containerDefinitions") or []}
        checked = [c.get("healthStatus") or "UNKNOWN" for c in containers
                   if cds.get(c.get("name"), {}).get("essential", True)
                   and cds.get(c.get("name"), {}).get("healthCheck")]
        if "UNHEALTHY" in checked:
            return "UNHEALTHY"
        if checked and all(h == "HEALTHY" for h in checked):
            return "HEALTHY"
        return "UNKNOWN"

    # ------------------------------------------------------------ resources
    def used_by_tasks(self, instance_arn):
        """cpu, memory, tcp ports, udp ports reserved by the instance's tasks not STOPPED
        (running sums kept by controlplane/task_index.py)."""
        return self.state.tasks.usage(instance_arn)

    def remaining_resources(self, ci):
        cpu, mem, tcp, udp = self.used_by_tasks(ci["containerInstanceArn"])
        out = []
        for r in ci.get("registeredResources") or []:
            r = dict(r)
            n = r.get("name")
            if n == "CPU":
                r["integerValue"] = int(r.get("integerValue", 0)) - cpu
            elif n == "MEMORY":
                r["integerValue"] = int(r.get("integerValue", 0)) - mem
            elif n == "PORTS":
                r["stringSetValue"] = list(r.get("stringSetValue") or []) + [str(p) for p in tcp]
            elif n == "PORTS_UDP":
                r["stringSetValue"] = list(r.get("stringSetValue") or []) + [str(p) for p in udp]
            out.append(r)
        names = {r.get("name") for r in out}
        if tcp and "PORTS" not in names:
            out.append({"name": "PORTS", "type": "STRINGSET", "stringSetValue": [str(p) for p in tcp]})
        if udp and "PORTS_UDP" not in names:
            out.append({"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": [str(p) for p in udp]})
        return out

    def task_requirements(self, td, overrides):
        ovr = {o.get("name"): o for o in (overrides or {}).get("containerOverrides") or []}
        cpu = mem = 0
        tcp, udp = [], []
        host_mode = td.get("networkMode") == "host"
        for cd in td["containerDefinitions"]:
            o = ovr.get(cd["name"], {})
            cpu += int(o.get("cpu", cd.get("cpu") or 0) or 0)
            m = o.get("memory", cd.get("memory"))
            if m is None:
                m = o.get("memoryReservation", cd.get("memoryReservation"))
            mem += int(m or 0)
            for pm in cd.get("portMappings") or []:
                hp = pm.get("hostPort")
                if not hp and host_mode:
                    hp = pm.get("containerPort")
                if hp:
                    (udp if pm.get("protocol") == "udp" else tcp).append(int(hp))
        if td.get("cpu"):
            try:
                cpu = max(cpu, int(float(td["cpu"]))) if cpu else int(float(td["cpu"]))
            except ValueError:
                pass
        if td.get("memory"):
            try:
                mem = max(mem, int(float(td["memory"]))) if mem else int(float(td["memory"]))
            except ValueError:
                pass
        tcp_o = (overrides or {}).get("cpu")
        if tcp_o:
            cpu = int(float(tcp_o))
        mem_o = (overrides or {}).get("memory")
        if mem_o:
            mem = int(float(mem_o))
        return {"cpu": cpu, "memory": mem, "tcp": tcp, "udp": udp,
                "requiresAttributes": td.get("requiresAttributes") or []}

    def fit(self, ci, req):
        """Return None if the task fits on the instance, else the failure reason."""
        if container_options.missing_attribute(req, ci):
            return "ATTRIBUTE"
        rem = _resource_map(self.remaining_resources(ci))
        if "CPU" in rem and req["cpu"] > int(rem["CPU"].get("integerValue", 0)):
            return "RESOURCE:CPU"
        if "MEMORY" in rem and req["memory"] > int(rem["MEMORY"].get("integerValue", 0)):
            return "RESOURCE:MEMORY"
        used_tcp = set(str(p) for p in (rem.get("PORTS", {}).get("stringSetValue") or []))
        if len(set(req["tcp"])) != len(req["tcp"]) or any(str(p) in used_tcp for p in req["tcp"]):
            return "RESOURCE:PORTS"
        used_udp = set(str(p) for p in (rem.get("PORTS_UDP", {}).get("stringSetValue") or []))
        if len(set(req["udp"])) != len(req["udp"]) or any(str(p) in used_udp for p in req["udp"]):
            return "RESOURCE:PORTS_UDP"
        return None

    # ------------------------------------------------------------ clusters
    def op_CreateCluster(self, req):
        name = req.get("clusterName") or "default"
        c = self.state.clusters.get(name)
        if c is None or c["status"] != "ACTIVE":
            c = {
                "clusterArn": self.cluster_arn(name), "clusterName": name, "status": "ACTIVE",
                "registeredContainerInstancesCount": 0, "runningTasksCount": 0, "pendingTasksCount": 0,
                "activeServicesCount": 0, "statistics": [], "tags": req.get("tags") or [],
                "settings": req.get("settings") or [{"name": "containerInsights", "value": "disabled"}],
                "capacityProviders": [], "defaultCapacityProviderStrategy": [],
            }
            self.state.clusters[name] = c
        return {"cluster": self.cluster_view(c)}

    def op_DeleteCluster(self, req):
        if not req.get("cluster"):
            raise invalid_param("cluster can not be blank.")
        c = self.get_cluster(req.get("cluster"))
        name = c["clusterName"]
        self.require_no_services(name)
        if any(i["_cluster"] == name and i["status"] == "ACTIVE" for i in self.state.instances.values()):
            raise ApiError("ClusterContainsContainerInstancesException",
                           "The Cluster cannot be deleted while Container Instances are active or draining.")
        tasks = self.state.tasks
        if tasks.count(("c", name)) > tasks.count(("cl", name, "STOPPED")):
            raise ApiError("ClusterContainsTasksException",
                           "The Cluster cannot be deleted while Tasks are active.")
        c["status"] = "INACTIVE"
        return {"cluster": self.cluster_view(c)}

    def op_ListClusters(self, req):
        arns = [c["clusterArn"] for c in self.state.clusters.values() if c["status"] == "ACTIVE"]
        page, nxt = _paginate(arns, req)
        out = {"clusterArns": page}
        if nxt:
            out["nextToken"] = nxt
        return out

    def op_DescribeClusters(self, req):
        refs = req.get("clusters") or ["default"]
        clusters, failures = [], []
        for ref in refs:
            try:
                name = self.cluster_name_of(ref)
            except ApiError:
                failures.append({"arn": ref, "reason": "MISSING"})
                continue
            c = self.state.clusters.get(name)
            if c is None:
                failures.append({"arn": self.cluster_arn(name), "reason": "MISSING"})
            else:
                view = self.cluster_view(c)
                if "STATISTICS" in (req.get("include") or []) and self.telemetry_statistics:
                    view["statistics"] = self.telemetry_statistics(name)
                clusters.append(view)
        return {"clusters": clusters, "failures": failures}

    # ------------------------------------------------------------ container instances
    def op_RegisterContainerInstance(self, req):
        c = self.get_cluster(req.get("cluster"))
        name = c["clusterName"]
        token = req.get("clientToken")
        arn = req.get("containerInstanceArn")
        # Idempotency as ECS: the same clientToken in the same cluster names
        # the instance it registered (an agent that registered, then died
        # before it could save the ARN, gets it back instead of a second
        # instance); a token whose instance was deregistered is spent.
        token_key = "%s/%s" % (name, token) if token else None
        if not arn and token_key in self.state.client_tokens:
            known = self.state.instances.get(self.state.client_tokens[token_key])
            if known is not None and known.get("status") == "ACTIVE":
                arn = known["containerInstanceArn"]
        ci = None
        if arn:
            ci = self.state.instances.get(arn)
            if ci is None or ci["_cluster"] != name:
                raise client_error("Container instance %s not found in cluster %s." % (arn, name))
        doc = {}
        iid = req.get("instanceIdentityDocument")
        if iid:
            try:
                doc = json.loads(iid)
            except ValueError:
                raise client_error("The instance identity document could not be parsed.")
        total = req.get("totalResources") or []
        for r in total:
            if r.get("name") in ("CPU", "MEMORY") and int(r.get("integerValue", 0) or 0) < 0:
                raise client_error("Invalid resource %s" % r.get("name"))
        az = doc.get("availabilityZone") or self.options.get("availability_zone") or (self.region + "a")
        attrs = {a["name"]: a for a in (ci or {}).get("attributes", [])}
        for a in req.get("attributes") or []:
            if not a.get("name"):
                raise client_error("Attribute name can not be blank.")
            attrs[a["name"]] = {k: v for k, v in a.items() if k in ("name", "value")}
        attrs.setdefault("ecs.availability-zone", {"name": "ecs.availability-zone", "value": az})
        if doc.get("instanceType"):
            attrs.setdefault("ecs.instance-type", {"name": "ecs.instance-type", "value": doc["instanceType"]})
        if ci is None:
            arn = self.arn("container-instance/%s/%s" % (name, uuid.uuid4().hex))
            ci = {"containerInstanceArn": arn, "version": 0, "registeredAt": _now(), "_cluster": name}
            self.state.instances[arn] = ci
        ci["version"] = ci.get("version", 0) + 1
        ci["ec2InstanceId"] = doc.get("instanceId") or ci.get("ec2InstanceId") or ""
        ci["status"] = "ACTIVE"
        ci["registeredResources"] = total
        ci["versionInfo"] = req.get("versionInfo") or ci.get("versionInfo") or {}
        self.on_agent_version(ci)
        ci["attributes"] = list(attrs.values())
        ci["attachments"] = []
        ci["tags"] = req.get("tags") or ci.get("tags") or []
        ci["_platformDevices"] = req.get("platformDevices") or []
        ci["_identityDocument"] = iid or ""
        ci["_identitySignature"] = req.get("instanceIdentityDocumentSignature") or ""
        if token_key:
            ci["_clientToken"] = token
            self.state.client_tokens[token_key] = arn
        return {"containerInstance": self.instance_view(ci)}

    def op_DeregisterContainerInstance(self, req):
        c = self.get_cluster(req.get("cluster"))
        ci = self.find_instance(c, req.get("containerInstance"))
        if ci is None:
            raise invalid_param("Container instance not found.")
        running = [t for t in self.state.tasks.tasks(("i", ci["containerInstanceArn"]))
                   if t["lastStatus"] != "STOPPED"]
        if running and not req.get("force"):
            raise invalid_param("Found running tasks on the instance.")
        ci["status"] = "INACTIVE"
        ci["version"] = ci.get("version", 0) + 1
        self.on_instance_inactive(ci["containerInstanceArn"])
        return {"containerInstance": self.instance_view(ci)}

    def op_ListContainerInstances(self, req):
        c = self.get_cluster(req.get("cluster"))
        status = req.get("status")
        arns = [arn for arn, ci in self.state.instances.items()
                if ci["_cluster"] == c["clusterName"]
                and ((ci["status"] == status) if status else ci["status"] in ("ACTIVE", "DRAINING"))]
        if req.get("filter"):
            try:
                post = query.parse(req["filter"])
            except ValueError as e:
                raise invalid_param("Invalid filter %r: %s" % (req["filter"], e))
            act = placement.active_by_instance(self)
            arns = [a for a in arns
                    if query.evaluate(post, placement.subject_values(self, self.state.instances[a], act))]
        page, nxt = _paginate(arns, req)
        out = {"containerInstanceArns": page}
        if nxt:
            out["nextToken"] = nxt
        return out

    def op_DescribeContainerInstances(self, req):
        c = self.get_cluster(req.get("cluster"))
        refs = req.get("containerInstances")
        if not refs:
            raise invalid_param("containerInstances can not be empty.")
        out, failures = _describe(refs, lambda ref: self.find_instance(c, ref), self.instance_view)
        return {"containerInstances": out, "failures": failures}

    def op_UpdateContainerInstancesState(self, req):
        c = self.get_cluster(req.get("cluster"))
        st = req.get("status")
        if st not in ("ACTIVE", "DRAINING"):
            raise invalid_param("status must be ACTIVE or DRAINING")
        def update(ci):
            ci["status"] = st
            ci["version"] = ci.get("version", 0) + 1
            return self.instance_view(ci)

        out, failures = _describe(req.get("containerInstances") or [],
                                  lambda ref: self.find_instance(c, ref), update)
        return {"containerInstances": out, "failures": failures}

    def op_DiscoverPollEndpoint(self, req):
        if req.get("cluster"):
            self.get_cluster(req.get("cluster"))
        # the TCS websocket lives under /tcs/ (controlplane/tcs.py)
        if req.get("zoneId") is not None and not isinstance(req["zoneId"], str):
            raise invalid_param("zoneId must be a string.")
        return {"endpoint": self.endpoint, "telemetryEndpoint": self.endpoint + "tcs",
                "serviceConnectEndpoint": self.endpoint}


    # ------------------------------------------------------------ dispatch
    MUTATING = {"CreateCluster", "DeleteCluster", "RegisterContainerInstance", "DeregisterContainerInstance",
                "UpdateContainerInstancesState", "RegisterTaskDefinition", "DeregisterTaskDefinition",
                "RunTask", "StartTask", "StopTask", "SubmitTaskStateChange", "SubmitContainerStateChange"}

    # the agent's calls kept in the event log (/_local/events), with their request
    RECORDED = {"SubmitTaskStateChange", "SubmitContainerStateChange", "SubmitAttachmentStateChanges",
                "RegisterContainerInstance", "DiscoverPollEndpoint"}

    def call(self, op, req):
        fn = getattr(self, "op_" + op, None)
        if fn is None:
            raise ApiError("UnknownOperationException", "Operation %s is not supported by the local control plane." % op)
        validate.validate_request(op, req)
        with self.state.lock:
            result = fn(req)
            if op in self.RECORDED:
                self.state.add_event(op, request=req)
            if op in self.SERVICE_TRIGGERS and op not in self.SERVICE_MUTATING and self.state.services:
                self.services_tick()
            if op in self.MUTATING or op in self.SERVICE_MUTATING or op in self.MORE_MUTATING:
                self._mark_rows(req, result)
                self.state.save()
        return result

    def _mark_rows(self, req, result):
        """Mark for saving the objects a mutating call names (task, container
        instance) and returns (tasks, instances, task definitions, services)."""
        st = self.state
        for key in ("task", "containerInstance", "containerInstanceArn"):
            ref = req.get(key)
            if isinstance(ref, str):
                if ref in st.tasks:
                    st.mark("tasks", ref)
                elif ref in st.instances:
                    st.mark("instances", ref)
                else:
                    for coll, kind in ((st.tasks, "tasks"), (st.instances, "instances")):
                        for arn in coll:
                            if arn.endswith("/" + ref):
                                st.mark(kind, arn)
        objs = []
        for v in (result or {}).values():
            if isinstance(v, dict):
                objs.append(v)
            elif isinstance(v, list):
                objs += [x for x in v if isinstance(x, dict)]
        for o in objs:
            if "serviceArn" in o:
                st.mark("services", o["serviceArn"])
            elif "taskArn" in o and "containers" in o:
                st.mark("tasks", o["taskArn"])
            elif "taskDefinitionArn" in o and "revision" in o:
                st.mark("task_defs", "%s:%d" % (o.get("family"), o["revision"]))
            elif "containerInstanceArn" in o:
                st.mark("instances", o["containerInstanceArn"])


def error_response(code, message, status=400, ns=ERR_NS):
    body = json.dumps({"__type": ns + code, "message": message})
    return web.Response(status=status, body=body.encode(), content_type="application/x-amz-json-1.1",
                        headers={"x-amzn-RequestId": str(uuid.uuid4()), "x-amzn-ErrorType": code})


async def handle_api(request):
    app = request.app
    backend = app["backend"]
    faults = app["faults"]
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        request["note"] = "body-too-large"
        return error_response("ClientException", "Request body exceeds the maximum size of %d bytes."
                              % validate.MAX_BODY, 413)
    target = request.headers.get("X-Amz-Target", "")
    other = aws_services.targets_service(target)
    if other is not None and app.get("aws") is not None:
        # ECR / SSM / Secrets Manager emulation (controlplane/aws_services.py)
        return await app["aws"].handle(request, body, other[0], other[1], _raw_query(request))
    op = target[len(TARGET_PREFIX):] if target.startswith(TARGET_PREFIX) else ""
    request["op"] = op or "-"
    try:
        sigv4.verify(request.method, request.raw_path.split("?", 1)[0], _raw_query(request),
                     request.headers, body, app["creds"], backend.region)
    except sigv4.SigV4Error as e:
        request["note"] = e.code
        if e.debug:
            log.warning("signature mismatch; expected canonical request:\n%s", e.debug["canonical_request"])
        return error_response(e.code, e.message, e.status, AUTH_NS)
    if not op:
        return error_response("UnknownOperationException", "Missing or unknown X-Amz-Target", 400, AUTH_NS)
    if not validate.json_depth_ok(body):
        request["note"] = "SerializationException"
        return error_response("SerializationException", "JSON nesting deeper than %d levels."
                              % validate.MAX_JSON_DEPTH, 400, AUTH_NS)
    try:
        req = json.loads(body.decode("utf-8") or "{}") if body else {}
        if not isinstance(req, dict):
            raise ValueError("not an object")
    except (ValueError, RecursionError):
        return error_response("SerializationException", "Start of structure or map found where not expected.",
                              400, AUTH_NS)
    delay = faults.delay_for(op)
    if delay:
        await asyncio.sleep(delay)
    f = faults.api_fault_for(op)
    if f is not None:
        status, code, message = f
        request["note"] = "fault:" + code
        return error_response(code, message, status)
    try:
        result = backend.call(op, req)
    except ApiError as e:
        request["note"] = e.code
        return error_response(e.code, e.message, e.status)
    except Exception as e:  # pragma: no cover - bug guard
        log.exception("internal error in %s", op)
        return error_response("ServerException", "Internal error: %s" % e, 500)
    return web.Response(body=json.dumps(result).encode(), content_type="application/x-amz-json-1.1",
                        headers={"x-amzn-RequestId": str(uuid.uuid4())})
