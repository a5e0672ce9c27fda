"""ECS JSON 1.1 API (AmazonEC2ContainerServiceV20141113.*) backed by State.

EcsBackend holds the operations (pure functions of state + request dict);
handle_api() is the aiohttp handler: SigV4 check, faults, dispatch, errors.
"""

import asyncio
import base64
import json
import logging
import time
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

log = logging.getLogger("controlplane.ecs")

TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113."
ERR_NS = "com.amazonaws.ecs.v20141113#"
AUTH_NS = "com.amazon.coral.service#"
NO_INSTANCES = "No Container Instances were found in your cluster."


def _now():
    return time.time()


def _describe(refs, find, view):
    """Describe* shape: each reference found becomes view(item), each one
    not found a MISSING failure, in request order."""
    out, failures = [], []
    for ref in refs:
        item = find(ref)
        if item is None:
            failures.append({"arn": ref, "reason": "MISSING"})
        else:
            out.append(view(item))
    return out, failures


def _page_window(req):
    """(offset, page size) a List* request asks for."""
    start = 0
    tok = req.get("nextToken")
    if tok:
        try:
            start = int(base64.b64decode(tok).decode())
        except Exception:
            raise invalid_param("Invalid nextToken")
    maxr = req.get("maxResults")
    if maxr is None:
        maxr = 100
    if maxr < 1 or maxr > 100:
        raise invalid_param("maxResults must be between 1 and 100")
    return start, maxr


def _paginate(items, req):
    start, maxr = _page_window(req)
    page = items[start:start + maxr]
    nxt = None
    if start + maxr < len(items):
        nxt = base64.b64encode(str(start + maxr).encode()).decode()
    return page, nxt


def _resource_map(resources):
    out = {}
    for r in resources or []:
        out[r.get("name")] = r
    return out


class EcsBackend(ServiceOps, MoreOps):
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

    # ------------------------------------------------------------ task definitions
    def op_RegisterTaskDefinition(self, req):
        fam = req.get("family")
        if not fam:
            raise client_error("Family can not be blank.")
        cds = req.get("containerDefinitions")
        if not cds:
            raise client_error("Container list cannot be empty.")
        names = set()
        for cd in cds:
            if not cd.get("name"):
                raise client_error("Container.name should not be null or empty.")
            if not cd.get("image"):
                raise client_error("Container.image should not be null or empty.")
            if cd["name"] in names:
                raise client_error("Duplicate container name: %s" % cd["name"])
            names.add(cd["name"])
            if cd.get("restartPolicy") is not None:
                cd["restartPolicy"] = container_options.restart_policy(
                    cd["restartPolicy"], cd["name"],
                    self.options.get("min_restart_attempt_period") or container_options.RESTART_PERIOD_MIN)
            if cd.get("memory") is None and cd.get("memoryReservation") is None and not req.get("memory"):
                raise client_error("Invalid setting for container '%s'. At least one of 'memory' or "
                                   "'memoryReservation' must be specified." % cd["name"])
        if not req.get("executionRoleArn"):
            for cd in cds:
                if cd.get("secrets") or (cd.get("logConfiguration") or {}).get("secretOptions"):
                    raise client_error("When you are specifying container secrets, you must also specify a value "
                                       "for 'executionRoleArn'.")
                if (cd.get("repositoryCredentials") or {}).get("credentialsParameter"):
                    raise client_error("When you are specifying 'repositoryCredentials', you must also specify a "
                                       "value for 'executionRoleArn'.")
        for key, norm in (("cpu", validate.normalise_task_cpu), ("memory", validate.normalise_task_memory)):
            if req.get(key) is not None:
                v = norm(req[key])
                if v is None:
                    raise client_error("Invalid '%s' setting for task." % key)
                req[key] = v
        for cd in cds:
            container_options.check_port_ranges(cd, req.get("networkMode"))
        vol_names = {v.get("name") for v in req.get("volumes") or []}
        for cd in cds:
            for mp in cd.get("mountPoints") or []:
                if mp.get("sourceVolume") not in vol_names:
                    raise client_error("Invalid 'mountPoint' for container '%s': unknown volume '%s'."
                                       % (cd["name"], mp.get("sourceVolume")))
        revs = self.state.task_defs.setdefault(fam, [])
        rev = len(revs) + 1
        td = {k: v for k, v in req.items() if k not in ("tags",)}
        for cd in td["containerDefinitions"]:
            cd.setdefault("essential", True)
            for k in ("portMappings", "environment", "mountPoints", "volumesFrom"):
                cd.setdefault(k, [])
            for pm in cd["portMappings"]:
                pm.setdefault("protocol", "tcp")
                if td.get("networkMode") == "host" and "hostPort" not in pm:
                    pm["hostPort"] = pm.get("containerPort")
            cd.setdefault("cpu", 0)
        td.update({
            "taskDefinitionArn": self.arn("task-definition/%s:%d" % (fam, rev)),
            "family": fam, "revision": rev, "status": "ACTIVE",
            "volumes": req.get("volumes") or [],
            "placementConstraints": req.get("placementConstraints") or [],
            "compatibilities": ["EXTERNAL", "EC2"],
            "registeredAt": _now(),
        })
        td.setdefault("networkMode", "bridge")
        td["requiresAttributes"] = container_options.requires_attributes(td)
        ecr_registry = (self.options.get("ecr") or {}).get("registry")
        td["requiresAttributes"] += [a for a in query.feature_attributes(td, ecr_registry)
                                     if a not in td["requiresAttributes"]]
        revs.append(td)
        td["_tags"] = req.get("tags") or []
        return {"taskDefinition": public(td), "tags": td["_tags"]}

    def op_DeregisterTaskDefinition(self, req):
        ref = req.get("taskDefinition") or ""
        if ":" not in ref.split("/")[-1]:
            raise client_error("Invalid revision number. Number: ")
        td = self.resolve_task_def(ref)
        td["status"] = "INACTIVE"
        td["deregisteredAt"] = _now()
        return {"taskDefinition": public(td)}

    def op_DescribeTaskDefinition(self, req):
        td = self.resolve_task_def(req.get("taskDefinition"))
        out = {"taskDefinition": public(td)}
        if "TAGS" in (req.get("include") or []):
            out["tags"] = td.get("_tags") or []
        return out

    def op_ListTaskDefinitions(self, req):
        status = req.get("status") or "ACTIVE"
        prefix = req.get("familyPrefix")
        arns = []
        for fam in sorted(self.state.task_defs):
            if prefix and fam != prefix:
                continue
            for td in self.state.task_defs[fam]:
                if status == "ALL" or td["status"] == status:
                    arns.append(td["taskDefinitionArn"])
        if req.get("sort") == "DESC":
            arns.reverse()
        page, nxt = _paginate(arns, req)
        out = {"taskDefinitionArns": page}
        if nxt:
            out["nextToken"] = nxt
        return out

    def op_ListTaskDefinitionFamilies(self, req):
        status = req.get("status") or "ACTIVE"
        fams = []
        for fam in sorted(self.state.task_defs):
            if req.get("familyPrefix") and not fam.startswith(req["familyPrefix"]):
                continue
            if status == "ALL" or any(td["status"] == status for td in self.state.task_defs[fam]):
                fams.append(fam)
        page, nxt = _paginate(fams, req)
        out = {"families": page}
        if nxt:
            out["nextToken"] = nxt
        return out

    # ------------------------------------------------------------ tasks
    def _new_task(self, c, td, ci, req, reserved):
        reserved.pop("requiresAttributes", None)
        tid = uuid.uuid4().hex
        name = c["clusterName"]
        task_arn = self.arn("task/%s/%s" % (name, tid))
        overrides = req.get("overrides") or {}
        containers = []
        for cd in td["containerDefinitions"]:
            ct = {
                "containerArn": self.arn("container/%s/%s/%s" % (name, tid, uuid.uuid4())),
                "taskArn": task_arn, "name": cd["name"], "image": cd["image"],
                "lastStatus": "PENDING", "networkBindings": [], "networkInterfaces": [],
                "healthStatus": "UNKNOWN", "cpu": str(cd.get("cpu") or 0),
            }
            if cd.get("memory") is not None:
                ct["memory"] = str(cd["memory"])
            if cd.get("memoryReservation") is not None:
                ct["memoryReservation"] = str(cd["memoryReservation"])
            containers.append(ct)
        ov = {"containerOverrides": overrides.get("containerOverrides") or [],
              "inferenceAcceleratorOverrides": overrides.get("inferenceAcceleratorOverrides") or []}
        for k in ("cpu", "memory", "taskRoleArn", "executionRoleArn"):
            if overrides.get(k):
                ov[k] = overrides[k]
            elif k in ("taskRoleArn", "executionRoleArn") and td.get(k):
                ov[k] = td[k]  # the task's role, as describe-tasks shows it
        az = next((a.get("value") for a in ci.get("attributes", []) if a["name"] == "ecs.availability-zone"),
                  self.region + "a")
        t = {
            "taskArn": task_arn, "clusterArn": c["clusterArn"], "taskDefinitionArn": td["taskDefinitionArn"],
            "containerInstanceArn": ci["containerInstanceArn"], "overrides": ov,
            "lastStatus": "PENDING", "desiredStatus": "RUNNING", "containers": containers,
            "createdAt": _now(), "version": 1, "launchType": "EC2", "availabilityZone": az,
            "group": req.get("group") or ("family:" + td["family"]),
            "cpu": str(reserved["cpu"]), "memory": str(reserved["memory"]),
            "attributes": [{"name": "ecs.cpu-architecture", "value": "x86_64"}],
            "tags": req.get("tags") or [], "enableExecuteCommand": False,
            "healthStatus": "UNKNOWN", "connectivity": "CONNECTED", "connectivityAt": _now(),
            "_cluster": name, "_reserved": reserved,
        }
        if req.get("startedBy"):
            t["startedBy"] = req["startedBy"]
        self.state.tasks[task_arn] = t
        return self.state.tasks[task_arn]   # the indexed record (controlplane/task_index.py)

    def _place(self, req, instances_fixed=None):
        c = self.get_cluster(req.get("cluster"))
        td = self.resolve_task_def(req.get("taskDefinition"), require_active=True)
        self._check_launch_type(req, td)
        reserved = self.task_requirements(td, req.get("overrides"))
        tasks, failures = [], []
        seen_fail = set()

        def fail(arn, reason):
            if (arn, reason) not in seen_fail:
                seen_fail.add((arn, reason))
                f = {"reason": reason}
                if arn:
                    f["arn"] = arn
                failures.append(f)

        if instances_fixed is not None:
            for ref in instances_fixed:
                ci = self.find_instance(c, ref)
                if ci is None or ci["status"] != "ACTIVE":
                    fail(ref if ref.startswith("arn:") else self.arn(
                        "container-instance/%s/%s" % (c["clusterName"], ref)), "MISSING")
                    continue
                reason = self.fit(ci, reserved)
                if reason:
                    fail(ci["containerInstanceArn"], reason)
                    continue
                tasks.append(self._new_task(c, td, ci, req, dict(reserved)))
            return tasks, failures

        count = req.get("count", 1)
        if count is None:
            count = 1
        if not isinstance(count, int) or count < 1 or count > 10:
            raise invalid_param("count must be between 1 and 10.")
        constraints = placement.check_constraints((td.get("placementConstraints") or [])
                                                  + (req.get("placementConstraints") or []))
        strategy = req.get("placementStrategy") or []
        placement.check_strategy(strategy)
        group = req.get("group") or ("family:" + td["family"])
        for _ in range(count):
            ci, reasons = placement.choose(self, c, td, reserved, group, constraints, strategy)
            if ci is None and reasons is None:
                fail(None, NO_INSTANCES)
                break
            if ci is None:
                for arn, reason in reasons:
                    fail(arn, reason)
                continue
            tasks.append(self._new_task(c, td, ci, req, dict(reserved)))
        return tasks, failures

    def _check_launch_type(self, req, td):
        """Only EC2 capacity exists here: FARGATE/EXTERNAL launch types and capacity
        provider strategies are refused as ECS refuses them on a cluster without them."""
        lt = req.get("launchType")
        if lt and lt != "EC2":
            if lt not in (td.get("compatibilities") or []):
                raise client_error("Task definition does not support launch_type %s." % lt)
            raise invalid_param("No Container Instances were found in your cluster for launch type %s: "
                                "the local control plane places on EC2 container instances only." % lt)
        if req.get("capacityProviderStrategy"):
            raise invalid_param("The specified capacity provider strategy cannot contain a capacity provider that "
                                "is not associated with the cluster.")

    def _notify(self, tasks):
        by_inst = {}
        for t in tasks:
            by_inst.setdefault(t["containerInstanceArn"], []).append(t["taskArn"])
        for inst, arns in by_inst.items():
            self.on_task_changes(inst, arns)

    @staticmethod
    def _check_overrides(req):
        """Task-level cpu/memory overrides are strings in the model: normalised like a task definition's."""
        ov = req.get("overrides") or {}
        for key, norm in (("cpu", validate.normalise_task_cpu), ("memory", validate.normalise_task_memory)):
            if ov.get(key) is not None:
                v = norm(ov[key])
                if v is None:
                    raise client_error("Invalid '%s' setting in overrides." % key)
                ov[key] = v

    def op_RunTask(self, req):
        if not req.get("taskDefinition"):
            raise invalid_param("taskDefinition can not be blank.")
        self._check_overrides(req)
        tasks, failures = self._place(req)
        self._notify(tasks)
        return {"tasks": [self.task_view(t) for t in tasks], "failures": failures}

    def op_StartTask(self, req):
        if not req.get("taskDefinition"):
            raise invalid_param("taskDefinition can not be blank.")
        refs = req.get("containerInstances")
        if not refs:
            raise invalid_param("containerInstances can not be empty.")
        if len(refs) > 10:
            raise invalid_param("containerInstances can have at most 10 items.")
        self._check_overrides(req)
        tasks, failures = self._place(req, instances_fixed=refs)
        self._notify(tasks)
        return {"tasks": [self.task_view(t) for t in tasks], "failures": failures}

    def op_StopTask(self, req):
        c = self.get_cluster(req.get("cluster"))
        if not req.get("task"):
            raise invalid_param("task can not be blank.")
        t = self.find_task(c, req["task"])
        if t is None:
            raise invalid_param("The referenced task was not found.")
        if t["desiredStatus"] != "STOPPED":
            t["desiredStatus"] = "STOPPED"
            t["stoppingAt"] = _now()
            t["stopCode"] = "UserInitiated"
            t["stoppedReason"] = req.get("reason") or "Task stopped by user"
            t["version"] += 1
            ci = self.state.instances.get(t["containerInstanceArn"])
            if ci is None or ci["status"] == "INACTIVE":
                self._mark_stopped(t)
            else:
                self._notify([t])
        return {"task": self.task_view(t)}

    def _mark_stopped(self, t):
        now = _now()
        t["lastStatus"] = "STOPPED"
        t["desiredStatus"] = "STOPPED"
        t.setdefault("stoppedAt", now)
        t.setdefault("executionStoppedAt", now)
        for ct in t["containers"]:
            if ct["lastStatus"] != "STOPPED":
                ct["lastStatus"] = "STOPPED"

    def op_DescribeTasks(self, req):
        c = self.get_cluster(req.get("cluster"))
        refs = req.get("tasks")
        if not refs:
            raise invalid_param("Tasks cannot be empty.")
        out, failures = _describe(refs, lambda ref: self.find_task(c, ref), self.task_view)
        return {"tasks": out, "failures": failures}

    def op_ListTasks(self, req):
        c = self.get_cluster(req.get("cluster"))
        inst = None
        if req.get("containerInstance"):
            ci = self.find_instance(c, req["containerInstance"])
            if ci is None:
                raise invalid_param("The referenced container instance was not found.")
            inst = ci["containerInstanceArn"]
        desired = req.get("desiredStatus") or "RUNNING"
        fam = req.get("family")
        name = c["clusterName"]
        # walk the smallest index bucket that covers the filters (controlplane/task_index.py)
        tasks = self.state.tasks
        keys = [("cd", name, "RUNNING" if desired == "PENDING" else desired)]
        if inst:
            keys.append(("i", inst))
        if req.get("serviceName"):
            keys.append(("g", name, "service:" + req["serviceName"].rsplit("/", 1)[-1]))
        if req.get("startedBy"):
            keys.append(("s", name, req["startedBy"]))
        key = min(keys, key=tasks.count)
        start, maxr = _page_window(req)
        arns = []
        for t in tasks.tasks(key):
            arn = t["taskArn"]
            if t["_cluster"] != name:
                continue
            if inst and t.get("containerInstanceArn") != inst:
                continue
            if fam and t["taskDefinitionArn"].rsplit("/", 1)[-1].rsplit(":", 1)[0] != fam:
                continue
            if req.get("startedBy") and t.get("startedBy") != req["startedBy"]:
                continue
            if req.get("serviceName") and t.get("group") != "service:" + req["serviceName"].rsplit("/", 1)[-1]:
                continue
            if req.get("launchType") and t.get("launchType") != req["launchType"]:
                continue
            want = desired
            have = t["desiredStatus"]
            if want == "PENDING":
                if not (have == "RUNNING" and t["lastStatus"] == "PENDING"):
                    continue
            elif have != want:
                continue
            arns.append(arn)
            if len(arns) > start + maxr:
                break   # one more than the page: there is a next one
        page, nxt = _paginate(arns, req)
        out = {"taskArns": page}
        if nxt:
            out["nextToken"] = nxt
        return out

    # ------------------------------------------------------------ state changes
    _ORDER = {"PENDING": 0, "ACTIVATING": 1, "RUNNING": 2, "DEACTIVATING": 3, "STOPPING": 4,
              "DEPROVISIONING": 5, "STOPPED": 6}

    def _apply_container_change(self, t, cc):
        name = cc.get("containerName")
        ct = next((x for x in t["containers"] if x["name"] == name), None)
        if ct is None:
            raise invalid_param("Container %s not found in task." % name)
        st = cc.get("status")
        if st:
            if self._ORDER.get(st, 0) >= self._ORDER.get(ct["lastStatus"], 0):
                ct["lastStatus"] = st
        if cc.get("exitCode") is not None:
            ct["exitCode"] = cc["exitCode"]
        if cc.get("reason"):
            ct["reason"] = cc["reason"]
        if cc.get("networkBindings") is not None:
            ct["networkBindings"] = cc["networkBindings"]
        for k in ("runtimeId", "imageDigest", "managedAgents"):
            if cc.get(k):
                ct[k] = cc[k]
        t["version"] += 1

    def _task_for_change(self, req):
        c = self.get_cluster(req.get("cluster"))
        if not req.get("task"):
            raise invalid_param("task can not be blank.")
        t = self.find_task(c, req["task"])
        if t is None:
            raise invalid_param("The referenced task was not found.")
        return t

    def _apply_task_status(self, t, st, reason):
        if not st or self._ORDER.get(st, 0) < self._ORDER.get(t["lastStatus"], 0):
            return
        now = _now()
        t["lastStatus"] = st
        if st == "RUNNING":
            t.setdefault("startedAt", now)
        if st == "STOPPED":
            if reason and (not t.get("stoppedReason") or t.get("_reasonAuto")):
                t["stoppedReason"] = reason
                t.pop("_reasonAuto", None)
            t.setdefault("stoppingAt", now)
            self._mark_stopped(t)
            self._derive_stop(t)
        t["version"] += 1

    def _derive_stop(self, t):
        """stopCode / stoppedReason of a task the agent stopped (not a user or the
        service scheduler): from its containers, as ECS does.  A container reason
        on a task that never ran (a pull or create failure) -> TaskFailedToStart
        with that reason; an essential container that exited -> EssentialContainerExited
        "Essential container in task exited".  Refined when later container
        changes bring more (the reason is then marked as derived)."""
        if t["lastStatus"] != "STOPPED" or (t.get("stopCode") and not t.get("_stopAuto")):
            return
        td = None
        try:
            td = self.resolve_task_def(t["taskDefinitionArn"])
        except ApiError:
            pass
        essential = {cd["name"]: cd.get("essential", True) for cd in (td or {}).get("containerDefinitions") or []}
        failed = next((ct for ct in t["containers"] if ct.get("reason") and ct.get("exitCode") is None), None)
        exited = next((ct for ct in t["containers"] if essential.get(ct["name"], True)
                       and ct.get("exitCode") is not None), None)
        if failed is not None and not t.get("startedAt"):
            code, why = "TaskFailedToStart", failed["reason"]
        elif exited is not None or failed is not None:
            code, why = "EssentialContainerExited", "Essential container in task exited"
        else:
            code, why = t.get("stopCode") or "EssentialContainerExited", None
        t["stopCode"] = code
        if why and (not t.get("stoppedReason") or t.get("_reasonAuto")):
            t["stoppedReason"] = why
            t["_reasonAuto"] = True
        t["_stopAuto"] = True

    def op_SubmitTaskStateChange(self, req):
        t = self._task_for_change(req)
        for cc in req.get("containers") or []:
            self._apply_container_change(t, cc)
        for k in ("pullStartedAt", "pullStoppedAt", "executionStoppedAt"):
            if req.get(k) is not None:
                t[k] = req[k]
        self._apply_task_status(t, req.get("status"), req.get("reason"))
        return {"acknowledgment": "true"}

    def op_SubmitContainerStateChange(self, req):
        t = self._task_for_change(req)
        if not req.get("containerName"):
            raise invalid_param("containerName can not be blank.")
        self._apply_container_change(t, req)
        self._derive_stop(t)
        return {"acknowledgment": "true"}

    def op_SubmitAttachmentStateChanges(self, req):
        self.get_cluster(req.get("cluster"))
        return {"acknowledgment": "true"}

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
