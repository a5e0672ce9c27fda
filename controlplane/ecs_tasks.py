"""Task definitions and tasks (a mixin of EcsBackend, controlplane/ecs_api.py):
RegisterTaskDefinition / DeregisterTaskDefinition / DescribeTaskDefinition /
ListTaskDefinitions / ListTaskDefinitionFamilies, RunTask / StartTask (placement),
StopTask, DescribeTasks, ListTasks, and the agent's SubmitTaskStateChange /
SubmitContainerStateChange / SubmitAttachmentStateChanges."""

import uuid

from . import container_options, placement, query, validate
from .ecs_common import NO_INSTANCES, _describe, _now, _page_window, _paginate
from .errors import ApiError, client_error, invalid_param
from .state import public


class TaskOps:
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
