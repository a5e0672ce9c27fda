"""ECS services: CreateService / UpdateService / DeleteService / DescribeServices /
ListServices and the service scheduler (a mixin of EcsBackend).

A service keeps desiredCount tasks of its PRIMARY deployment running.  Its tasks
carry startedBy = the deployment id ("ecs-svc/<19 digits>") and group
"service:<name>".  services_tick() (run after each call that can change a
service's world, and every second by the server) for every ACTIVE or DRAINING
service:
  1. counts, per deployment, the tasks whose desiredStatus is RUNNING; a task on
     a DRAINING instance or of an older deployment is to be retired;
  2. stops PRIMARY tasks above desiredCount (pending ones first);
  3. starts PRIMARY tasks up to desiredCount while the service's active tasks
     stay within maximumPercent of desiredCount (placement.choose, with the
     service's constraints and strategy);
  4. stops retired tasks: not-yet-running ones at once, running ones while the
     RUNNING tasks stay at or above minimumHealthyPercent of desiredCount;
  5. drops an old deployment once its last task stopped; a DRAINING service
     with no task left becomes INACTIVE;
  6. writes service events as ECS words them ("has started 2 tasks: (task ..)",
     "has stopped 1 running tasks", "was unable to place a task ...", "has
     reached a steady state.", "deployment completed.").
Tasks the scheduler stops get stopCode ServiceSchedulerInitiated.  A task that
stops for any other reason is replaced by step 3 on the next tick.
"""

import math
import random
import time
import uuid

from . import placement
from .errors import ApiError, invalid_param
from .state import public

MAX_EVENTS = 100
UNPLACED_EVENT_EVERY = 30.0    # seconds between repeats of the same "unable to place" event


def _now():
    return time.time()


def _deployment_id():
    return "ecs-svc/%019d" % random.randrange(10 ** 18, 10 ** 19)


class ServiceOps:
    SERVICE_MUTATING = {"CreateService", "UpdateService", "DeleteService"}
    # calls after which the scheduler looks again at once
    SERVICE_TRIGGERS = {"CreateService", "UpdateService", "DeleteService", "SubmitTaskStateChange",
                        "SubmitContainerStateChange", "StopTask", "UpdateContainerInstancesState",
                        "RegisterContainerInstance", "DeregisterContainerInstance"}

    # ------------------------------------------------------------ lookups
    def _services(self):
        if not hasattr(self.state, "services"):
            self.state.services = {}
        return self.state.services

    def service_arn(self, cluster, name):
        return self.arn("service/%s/%s" % (cluster, name))

    def find_service(self, c, ref, include_inactive=False):
        if not ref:
            raise invalid_param("service can not be blank.")
        name = ref.rsplit("/", 1)[-1] if ref.startswith("arn:") else ref
        s = self._services().get(self.service_arn(c["clusterName"], name))
        if s is None or (s["status"] == "INACTIVE" and not include_inactive):
            return None
        return s

    def service_view(self, s, include_tags=False):
        out = public(s)
        if not include_tags:
            out.pop("tags", None)
        return out

    def active_services_count(self, cluster_name):
        return sum(1 for s in self._services().values() if s["_cluster"] == cluster_name and s["status"] == "ACTIVE")

    # ------------------------------------------------------------ validation
    def _check_deployment_config(self, dc, old=None):
        base = dict((old or {}).get("deploymentConfiguration") or {"maximumPercent": 200, "minimumHealthyPercent": 100})
        for k, v in (dc or {}).items():
            base[k] = v
        base.setdefault("deploymentCircuitBreaker", {"enable": False, "rollback": False})
        mx, mn = base.get("maximumPercent", 200), base.get("minimumHealthyPercent", 100)
        if mn < 0 or mn > 100:
            raise invalid_param("minimumHealthyPercent must be between 0 and 100.")
        if mx < 100:
            raise invalid_param("maximumPercent must be at least 100.")
        if mx <= mn and mx == 100:
            raise invalid_param("The maximumPercent must be greater than the minimumHealthyPercent "
                                "for a deployment to make progress.")
        return base

    def _check_unsupported(self, req, td):
        if req.get("loadBalancers"):
            raise invalid_param("loadBalancers are not supported by the local control plane.")
        if req.get("serviceRegistries"):
            raise invalid_param("serviceRegistries are not supported by the local control plane.")
        if (req.get("deploymentController") or {}).get("type", "ECS") != "ECS":
            raise invalid_param("Only the ECS deployment controller is supported by the local control plane.")
        if td is not None and td.get("networkMode") == "awsvpc":
            raise invalid_param("awsvpc network mode is not supported by the local control plane.")
        if req.get("capacityProviderStrategy"):
            raise invalid_param("The specified capacity provider strategy cannot contain a capacity provider "
                                "that is not associated with the cluster.")
        lt = req.get("launchType")
        if lt and lt != "EC2":
            raise invalid_param("No Container Instances were found in your cluster for launch type %s: "
                                "the local control plane places on EC2 container instances only." % lt)

    # ------------------------------------------------------------ operations
    def op_CreateService(self, req):
        c = self.get_cluster(req.get("cluster"))
        name = req.get("serviceName")
        if not name or len(name) > 255:
            raise invalid_param("serviceName must be 1-255 letters, numbers, hyphens and underscores.")
        strategy = req.get("schedulingStrategy") or "REPLICA"
        td = self.resolve_task_def(req.get("taskDefinition"), require_active=True)
        self._check_unsupported(req, td)
        if strategy == "REPLICA" and req.get("desiredCount") is None:
            raise invalid_param("desiredCount must be specified for the REPLICA scheduling strategy.")
        if strategy == "DAEMON" and (req.get("desiredCount") or req.get("placementStrategy")):
            raise invalid_param("desiredCount and placementStrategy are not valid for the DAEMON scheduling strategy.")
        desired = req.get("desiredCount") or 0
        if desired < 0:
            raise invalid_param("desiredCount must be 0 or more.")
        constraints = req.get("placementConstraints") or []
        placement.check_constraints(constraints + (td.get("placementConstraints") or []))
        placement.check_strategy(req.get("placementStrategy"))
        arn = self.service_arn(c["clusterName"], name)
        old = self._services().get(arn)
        if old is not None and old["status"] != "INACTIVE":
            raise invalid_param("Creation of service was not idempotent.")
        dc = self._check_deployment_config(req.get("deploymentConfiguration"))
        now = _now()
        s = {
            "serviceArn": arn, "serviceName": name, "clusterArn": c["clusterArn"], "loadBalancers": [],
            "serviceRegistries": [], "status": "ACTIVE", "desiredCount": desired, "runningCount": 0,
            "pendingCount": 0, "launchType": "EC2", "taskDefinition": td["taskDefinitionArn"],
            "deploymentConfiguration": dc, "deployments": [], "events": [], "createdAt": now,
            "placementConstraints": constraints, "placementStrategy": req.get("placementStrategy") or [],
            "schedulingStrategy": strategy, "deploymentController": {"type": "ECS"},
            "createdBy": "arn:aws:iam::%s:root" % self.account, "enableECSManagedTags":
                bool(req.get("enableECSManagedTags")), "propagateTags": req.get("propagateTags") or "NONE",
            "enableExecuteCommand": bool(req.get("enableExecuteCommand")), "tags": req.get("tags") or [],
            "_cluster": c["clusterName"],
        }
        if req.get("healthCheckGracePeriodSeconds") is not None:
            s["healthCheckGracePeriodSeconds"] = req["healthCheckGracePeriodSeconds"]
        self._new_deployment(s, td["taskDefinitionArn"])
        self._services()[arn] = s
        self.state.mark("services", arn)
        self.services_tick()
        return {"service": self.service_view(s)}

    def _new_deployment(self, s, td_arn):
        now = _now()
        for d in s["deployments"]:
            if d["status"] == "PRIMARY":
                d["status"] = "ACTIVE"
                d["updatedAt"] = now
        d = {"id": _deployment_id(), "status": "PRIMARY", "taskDefinition": td_arn,
             "desiredCount": s["desiredCount"], "pendingCount": 0, "runningCount": 0, "failedTasks": 0,
             "createdAt": now, "updatedAt": now, "launchType": "EC2", "rolloutState": "IN_PROGRESS",
             "rolloutStateReason": "ECS deployment %s in progress."}
        d["rolloutStateReason"] = d["rolloutStateReason"] % d["id"]
        s["deployments"].insert(0, d)
        s["taskDefinition"] = td_arn
        s.pop("_steady", None)
        return d

    def op_UpdateService(self, req):
        c = self.get_cluster(req.get("cluster"))
        s = self.find_service(c, req.get("service"))
        if s is None:
            raise ApiError("ServiceNotFoundException", "Service not found.")
        if s["status"] != "ACTIVE":
            raise ApiError("ServiceNotActiveException", "Service was not ACTIVE.")
        td = None
        if req.get("taskDefinition"):
            td = self.resolve_task_def(req["taskDefinition"], require_active=True)
        self._check_unsupported(req, td)
        if req.get("desiredCount") is not None:
            if s["schedulingStrategy"] == "DAEMON":
                raise invalid_param("desiredCount is not valid for the DAEMON scheduling strategy.")
            if req["desiredCount"] < 0:
                raise invalid_param("desiredCount must be 0 or more.")
        if req.get("placementConstraints") is not None:
            placement.check_constraints(req["placementConstraints"])
        if req.get("placementStrategy") is not None:
            placement.check_strategy(req["placementStrategy"])
        dc = self._check_deployment_config(req.get("deploymentConfiguration"), s)
        s["deploymentConfiguration"] = dc
        if req.get("desiredCount") is not None:
            s["desiredCount"] = req["desiredCount"]
            s.pop("_steady", None)
        if req.get("placementConstraints") is not None:
            s["placementConstraints"] = req["placementConstraints"]
        if req.get("placementStrategy") is not None:
            s["placementStrategy"] = req["placementStrategy"]
        primary = self._primary(s)
        if (td is not None and td["taskDefinitionArn"] != primary["taskDefinition"]) or req.get("forceNewDeployment") \
                or req.get("placementConstraints") is not None or req.get("placementStrategy") is not None:
            self._new_deployment(s, td["taskDefinitionArn"] if td else primary["taskDefinition"])
        self.state.mark("services", s["serviceArn"])
        self.services_tick()
        return {"service": self.service_view(s)}

    def op_DeleteService(self, req):
        c = self.get_cluster(req.get("cluster"))
        s = self.find_service(c, req.get("service"))
        if s is None:
            raise ApiError("ServiceNotFoundException", "Service not found.")
        if s["status"] != "ACTIVE":
            raise ApiError("ServiceNotActiveException", "Service was not ACTIVE.")
        if s["desiredCount"] > 0 and s["schedulingStrategy"] == "REPLICA" and not req.get("force"):
            raise invalid_param("The service cannot be stopped while it is scaled above 0.")
        s["status"] = "DRAINING"
        s["desiredCount"] = 0
        s["_deletedAt"] = _now()
        self.state.mark("services", s["serviceArn"])
        self.services_tick()
        return {"service": self.service_view(s)}

    def op_DescribeServices(self, req):
        c = self.get_cluster(req.get("cluster"))
        refs = req.get("services") or []
        if not refs:
            raise invalid_param("Services cannot be empty.")
        if len(refs) > 10:
            raise invalid_param("At most 10 services can be described at once.")
        tags = "TAGS" in (req.get("include") or [])
        out, failures = [], []
        for ref in refs:
            s = self.find_service(c, ref, include_inactive=True)
            if s is None:
                failures.append({"arn": ref if ref.startswith("arn:") else self.service_arn(c["clusterName"], ref),
                                 "reason": "MISSING"})
            else:
                out.append(self.service_view(s, tags))
        return {"services": out, "failures": failures}

    def op_ListServices(self, req):
        from .ecs_api import _paginate
        c = self.get_cluster(req.get("cluster"))
        arns = [s["serviceArn"] for s in self._services().values()
                if s["_cluster"] == c["clusterName"] and s["status"] != "INACTIVE"
                and (not req.get("launchType") or s["launchType"] == req["launchType"])
                and (not req.get("schedulingStrategy") or s["schedulingStrategy"] == req["schedulingStrategy"])]
        page, nxt = _paginate(arns, req)
        out = {"serviceArns": page}
        if nxt:
            out["nextToken"] = nxt
        return out

    # ------------------------------------------------------------ scheduler
    @staticmethod
    def _primary(s):
        return next(d for d in s["deployments"] if d["status"] == "PRIMARY")

    def _event(self, s, message):
        s["events"].insert(0, {"id": str(uuid.uuid4()), "createdAt": _now(),
                               "message": "(service %s) %s" % (s["serviceName"], message)})
        del s["events"][MAX_EVENTS:]

    def _service_tasks(self, s):
        group = "service:" + s["serviceName"]
        return list(self.state.tasks.tasks(("g", s["_cluster"], group)))

    def _scheduler_stop(self, s, t, reason):
        t["desiredStatus"] = "STOPPED"
        t["stoppingAt"] = _now()
        t["stopCode"] = "ServiceSchedulerInitiated"
        t["stoppedReason"] = reason
        t["version"] += 1
        self.state.mark("tasks", t["taskArn"])
        ci = self.state.instances.get(t.get("containerInstanceArn"))
        if ci is None or ci["status"] == "INACTIVE":
            self._mark_stopped(t)
        else:
            self._notify([t])

    def _start_tasks(self, s, d, n):
        c = self.state.clusters[s["_cluster"]]
        req = {"cluster": s["_cluster"], "taskDefinition": d["taskDefinition"], "count": 1,
               "startedBy": d["id"], "group": "service:" + s["serviceName"],
               "placementConstraints": s.get("placementConstraints") or [],
               "placementStrategy": s.get("placementStrategy") or []}
        if s["schedulingStrategy"] == "DAEMON":
            req["placementConstraints"] = req["placementConstraints"] + [{"type": "distinctInstance"}]
        started, failure = [], None
        for _ in range(n):
            tasks, failures = self._place(req)
            if not tasks:
                failure = failures
                break
            started += tasks
        if started:
            self._notify(started)
            for t in started:
                self.state.mark("tasks", t["taskArn"])
            self._event(s, "has started %d tasks: %s." % (
                len(started), " ".join("(task %s)" % t["taskArn"].rsplit("/", 1)[-1] for t in started)))
        if failure is not None:
            self._unplaced_event(s, c, failure)
        return started

    def _unplaced_event(self, s, c, failures):
        reasons = [f for f in failures or [] if f.get("reason")]
        if not reasons or reasons[0]["reason"] == "No Container Instances were found in your cluster.":
            why = "Reason: No Container Instances were found in your cluster."
        else:
            words = {"RESOURCE:CPU": "insufficient CPU units available", "RESOURCE:MEMORY":
                     "insufficient memory available", "RESOURCE:PORTS": "the ports needed already in use",
                     "RESOURCE:PORTS_UDP": "the UDP ports needed already in use",
                     "ATTRIBUTE": "an attribute or constraint it does not meet",
                     "DISTINCT_INSTANCE": "a task of this service already (distinctInstance)"}
            f = reasons[0]
            why = "The closest matching container-instance %s has %s." % (
                (f.get("arn") or "").rsplit("/", 1)[-1], words.get(f["reason"], f["reason"]))
        msg = ("was unable to place a task because no container instance met all of its requirements. %s "
               "For more information, see the Troubleshooting section." % why)
        last = s.get("_unplaced") or {}
        if last.get("msg") != msg or _now() - last.get("at", 0) >= UNPLACED_EVENT_EVERY:
            self._event(s, msg)
            s["_unplaced"] = {"msg": msg, "at": _now()}

    def services_tick(self):
        """One scheduler pass over every service (caller holds the state lock). True if anything changed."""
        changed = False
        for s in list(self._services().values()):
            if s["status"] == "INACTIVE":
                continue
            before = (s["runningCount"], s["pendingCount"], len(s["events"]), len(s["deployments"]), s["status"])
            acted = self._tick_service(s)
            after = (s["runningCount"], s["pendingCount"], len(s["events"]), len(s["deployments"]), s["status"])
            if acted or before != after:
                self.state.mark("services", s["serviceArn"])
                changed = True
        return changed

    def _tick_service(self, s):
        acted = False
        if s["schedulingStrategy"] == "DAEMON" and s["status"] == "ACTIVE":
            s["desiredCount"] = sum(1 for ci in self.state.instances.values()
                                    if ci["_cluster"] == s["_cluster"] and ci["status"] == "ACTIVE")
        desired = s["desiredCount"] if s["status"] == "ACTIVE" else 0
        primary = self._primary(s)
        primary["desiredCount"] = desired
        dc = s["deploymentConfiguration"]
        max_total = max(desired, math.floor(desired * dc.get("maximumPercent", 200) / 100.0))
        min_healthy = math.ceil(desired * dc.get("minimumHealthyPercent", 100) / 100.0)
        active = [t for t in self._service_tasks(s) if t["desiredStatus"] == "RUNNING"]
        draining = {arn for arn, ci in self.state.instances.items() if ci["status"] != "ACTIVE"}
        keep = [t for t in active if t.get("startedBy") == primary["id"]
                and t.get("containerInstanceArn") not in draining]
        retire = [t for t in active if t not in keep]
        # 2. too many primary tasks: stop the newest, pending ones first
        if len(keep) > desired:
            extra = sorted(keep, key=lambda t: (t["lastStatus"] == "RUNNING", -t["createdAt"]))[:len(keep) - desired]
            for t in extra:
                self._scheduler_stop(s, t, "Scaling activity initiated by (deployment %s)" % primary["id"])
            self._event(s, "has stopped %d running tasks: %s." % (
                len(extra), " ".join("(task %s)" % t["taskArn"].rsplit("/", 1)[-1] for t in extra)))
            keep = [t for t in keep if t not in extra]
            acted = True
        # 3. start primary tasks within maximumPercent
        room = min(desired - len(keep), max_total - len(keep) - len(retire))
        if room > 0:
            started = self._start_tasks(s, primary, room)
            keep += started
            acted = acted or bool(started)
        # 4. retire old-deployment / draining-instance tasks within minimumHealthyPercent
        healthy = sum(1 for t in keep + retire if t["lastStatus"] == "RUNNING")
        stopped = []
        for t in sorted(retire, key=lambda t: (t["lastStatus"] == "RUNNING", t["createdAt"])):
            if t["lastStatus"] == "RUNNING":
                if healthy - 1 < min_healthy:
                    continue
                healthy -= 1
            why = ("Task stopped because the container instance is draining"
                   if t.get("containerInstanceArn") in draining and t.get("startedBy") == primary["id"]
                   else "Scaling activity initiated by (deployment %s)" % primary["id"])
            self._scheduler_stop(s, t, why)
            stopped.append(t)
        if stopped:
            self._event(s, "has stopped %d running tasks: %s." % (
                len(stopped), " ".join("(task %s)" % t["taskArn"].rsplit("/", 1)[-1] for t in stopped)))
            acted = True
        # 5. counts, finished deployments, steady state
        all_tasks = [t for t in self._service_tasks(s) if t["desiredStatus"] == "RUNNING"]
        now = _now()
        for d in list(s["deployments"]):
            mine = [t for t in all_tasks if t.get("startedBy") == d["id"]]
            d["runningCount"] = sum(1 for t in mine if t["lastStatus"] == "RUNNING")
            d["pendingCount"] = sum(1 for t in mine if t["lastStatus"] == "PENDING")
            if d["status"] == "ACTIVE" and not mine:
                s["deployments"].remove(d)
                acted = True
        s["runningCount"] = sum(1 for t in all_tasks if t["lastStatus"] == "RUNNING")
        s["pendingCount"] = sum(1 for t in all_tasks if t["lastStatus"] == "PENDING")
        steady = (len(s["deployments"]) == 1 and primary["runningCount"] == desired
                  and primary["pendingCount"] == 0 and s["runningCount"] == desired)
        if s["status"] == "DRAINING":
            if not [t for t in self._service_tasks(s) if t["lastStatus"] != "STOPPED"]:
                s["status"] = "INACTIVE"
                primary["status"] = "INACTIVE"
                acted = True
        elif steady and not s.get("_steady"):
            s["_steady"] = True
            if primary["rolloutState"] != "COMPLETED":
                primary["rolloutState"] = "COMPLETED"
                primary["rolloutStateReason"] = "ECS deployment %s completed." % primary["id"]
                primary["updatedAt"] = now
                self._event(s, "(deployment %s) deployment completed." % primary["id"])
            self._event(s, "has reached a steady state.")
            acted = True
        elif not steady and s.get("_steady"):
            s.pop("_steady", None)
        return acted

    def require_no_services(self, cluster_name):
        if any(sv["_cluster"] == cluster_name and sv["status"] != "INACTIVE" for sv in self._services().values()):
            raise ApiError("ClusterContainsServicesException",
                           "The Cluster cannot be deleted while Services are active.")
