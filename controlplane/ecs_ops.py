"""More ECS operations (a mixin of EcsBackend): tags on every taggable resource,
the attributes API, capacity providers, cluster and account settings, and
UpdateContainerAgent (drives the agent's update path over ACS).

Tags: TagResource / UntagResource / ListTagsForResource on clusters, container
instances, tasks, task definitions (revision ARN) and services; at most 50 per
resource; keys starting with "aws:" are reserved.

Attributes: PutAttributes / ListAttributes / DeleteAttributes on container
instances (targetType container-instance; targetId = ARN or id); they are the
instance's attributes, as placement (memberOf, requiresAttributes) sees them.

UpdateContainerAgent: with an update offered (--agent-update-location URL
--agent-update-signature SHA256 [--agent-update-version V]), sends the instance
a StageUpdateMessage; the agent's ack makes agentUpdateStatus STAGED and a
PerformUpdateMessage follows (UPDATING); the agent coming back with another
agentVersion makes it UPDATED; a nack makes it FAILED.  Without an offer, or
when the agent already runs that version: NoUpdateAvailableException.
"""

import re
import time
import uuid

from .errors import ApiError, client_error, invalid_param

_ATTR_NAME = re.compile(r"^[A-Za-z0-9_./@-]{1,128}$")
_ACCOUNT_DEFAULTS = {
    "serviceLongArnFormat": "enabled", "taskLongArnFormat": "enabled",
    "containerInstanceLongArnFormat": "enabled", "awsvpcTrunking": "disabled",
    "containerInsights": "disabled", "fargateFIPSMode": "disabled",
    "tagResourceAuthorization": "on", "fargateTaskRetirementWaitPeriod": "7",
}


class MoreOps:
    MORE_MUTATING = {"TagResource", "UntagResource", "PutAttributes", "DeleteAttributes", "UpdateClusterSettings",
                     "UpdateContainerAgent", "PutAccountSetting", "PutAccountSettingDefault",
                     "DeleteAccountSetting"}

    # ------------------------------------------------------------ tags
    def _tag_target(self, arn):
        """(object, tags key, mark kind, mark key) of a taggable resource ARN."""
        st = self.state
        if arn in st.instances:
            return st.instances[arn], "tags", "instances", arn
        if arn in st.tasks:
            return st.tasks[arn], "tags", "tasks", arn
        if arn in getattr(st, "services", {}):
            return st.services[arn], "tags", "services", arn
        for c in st.clusters.values():
            if c["clusterArn"] == arn:
                return c, "tags", None, None
        m = re.match(r"^arn:aws[a-z-]*:ecs:[^:]*:[^:]*:task-definition/([^:]+):(\d+)$", arn)
        if m:
            revs = st.task_defs.get(m.group(1)) or []
            rev = int(m.group(2))
            if 0 < rev <= len(revs):
                return revs[rev - 1], "_tags", "task_defs", "%s:%d" % (m.group(1), rev)
        if not arn.startswith("arn:"):
            raise invalid_param("Invalid resource ARN: %s" % arn)
        raise invalid_param("The specified resource could not be found.")

    def op_ListTagsForResource(self, req):
        obj, key, _, _ = self._tag_target(req.get("resourceArn") or "")
        return {"tags": obj.get(key) or []}

    def op_TagResource(self, req):
        obj, key, kind, mkey = self._tag_target(req["resourceArn"])
        tags = {t["key"]: t.get("value", "") for t in obj.get(key) or []}
        for t in req["tags"]:
            if t.get("key", "").lower().startswith("aws:"):
                raise invalid_param("Tag keys starting with 'aws:' are reserved.")
            tags[t["key"]] = t.get("value", "")
        if len(tags) > 50:
            raise invalid_param("A resource can have at most 50 tags.")
        obj[key] = [{"key": k, "value": v} for k, v in tags.items()]
        if kind:
            self.state.mark(kind, mkey)
        return {}

    def op_UntagResource(self, req):
        obj, key, kind, mkey = self._tag_target(req["resourceArn"])
        drop = set(req["tagKeys"])
        obj[key] = [t for t in obj.get(key) or [] if t["key"] not in drop]
        if kind:
            self.state.mark(kind, mkey)
        return {}

    # ------------------------------------------------------------ attributes
    def _attr_instance(self, c, a):
        if (a.get("targetType") or "container-instance") != "container-instance":
            raise invalid_param("targetType must be container-instance.")
        if not a.get("targetId"):
            raise invalid_param("targetId can not be blank.")
        ci = self.find_instance(c, a["targetId"])
        if ci is None:
            raise ApiError("TargetNotFoundException", "Could not find the target %s." % a["targetId"])
        return ci

    def _check_attr(self, a):
        if not _ATTR_NAME.match(a.get("name") or ""):
            raise invalid_param("Attribute name %r is invalid: 1-128 letters, numbers, -_./@." % a.get("name"))
        if a.get("value") is not None and (len(a["value"]) > 128 or not a["value"]):
            raise invalid_param("Attribute value must be 1-128 characters.")

    def op_PutAttributes(self, req):
        c = self.get_cluster(req.get("cluster"))
        if len(req["attributes"]) > 10:
            raise invalid_param("At most 10 attributes can be put at once.")
        done = []
        for a in req["attributes"]:
            self._check_attr(a)
            ci = self._attr_instance(c, a)
            attrs = [x for x in ci.get("attributes") or [] if x.get("name") != a["name"]]
            item = {"name": a["name"]}
            if a.get("value") is not None:
                item["value"] = a["value"]
            attrs.append(item)
            ci["attributes"] = attrs
            self.state.mark("instances", ci["containerInstanceArn"])
            done.append(dict(item, targetType="container-instance", targetId=ci["containerInstanceArn"]))
        return {"attributes": done}

    def op_DeleteAttributes(self, req):
        c = self.get_cluster(req.get("cluster"))
        done = []
        for a in req["attributes"]:
            ci = self._attr_instance(c, a)
            ci["attributes"] = [x for x in ci.get("attributes") or [] if x.get("name") != a["name"]]
            self.state.mark("instances", ci["containerInstanceArn"])
            done.append({"name": a["name"], "targetType": "container-instance",
                         "targetId": ci["containerInstanceArn"]})
        return {"attributes": done}

    def op_ListAttributes(self, req):
        from .ecs_api import _paginate
        c = self.get_cluster(req.get("cluster"))
        if req["targetType"] != "container-instance":
            raise invalid_param("targetType must be container-instance.")
        if req.get("attributeValue") is not None and not req.get("attributeName"):
            raise invalid_param("attributeValue requires attributeName.")
        out = []
        for arn, ci in self.state.instances.items():
            if ci["_cluster"] != c["clusterName"] or ci["status"] == "INACTIVE":
                continue
            for a in ci.get("attributes") or []:
                if req.get("attributeName") and a.get("name") != req["attributeName"]:
                    continue
                if req.get("attributeValue") is not None and a.get("value") != req["attributeValue"]:
                    continue
                item = {"name": a["name"], "targetType": "container-instance", "targetId": arn}
                if a.get("value") is not None:
                    item["value"] = a["value"]
                out.append(item)
        page, nxt = _paginate(out, req)
        res = {"attributes": page}
        if nxt:
            res["nextToken"] = nxt
        return res

    # ------------------------------------------------------------ capacity providers, settings
    def op_DescribeCapacityProviders(self, req):
        provs = {}
        for name in ("FARGATE", "FARGATE_SPOT"):
            provs[name] = {"capacityProviderArn": self.arn("capacity-provider/" + name), "name": name,
                           "status": "ACTIVE", "tags": []}
        refs = req.get("capacityProviders")
        out, failures = [], []
        if refs:
            for ref in refs:
                name = ref.rsplit("/", 1)[-1]
                if name in provs:
                    out.append(provs[name])
                else:
                    failures.append({"arn": ref if ref.startswith("arn:") else self.arn("capacity-provider/" + ref),
                                     "reason": "MISSING"})
        else:
            out = list(provs.values())
        if "TAGS" not in (req.get("include") or []):
            out = [{k: v for k, v in p.items() if k != "tags"} for p in out]
        return {"capacityProviders": out, "failures": failures}

    def op_UpdateClusterSettings(self, req):
        c = self.get_cluster(req.get("cluster"))
        settings = {s["name"]: s["value"] for s in c.get("settings") or []}
        for s in req["settings"]:
            if s.get("name") != "containerInsights":
                raise invalid_param("Unsupported cluster setting %r." % s.get("name"))
            if s.get("value") not in ("enabled", "disabled", "enhanced"):
                raise invalid_param("containerInsights must be enabled, disabled or enhanced.")
            settings[s["name"]] = s["value"]
        c["settings"] = [{"name": k, "value": v} for k, v in settings.items()]
        return {"cluster": self.cluster_view(c)}

    def _account_settings(self):
        if not hasattr(self.state, "account_settings"):
            self.state.account_settings = {}
        return self.state.account_settings

    def _principal(self, req):
        return req.get("principalArn") or "arn:aws:iam::%s:root" % self.account

    def op_ListAccountSettings(self, req):
        from .ecs_api import _paginate
        store = self._account_settings()
        principal = self._principal(req)
        out = []
        for name, default in _ACCOUNT_DEFAULTS.items():
            if req.get("name") and req["name"] != name:
                continue
            value = store.get(principal, {}).get(name, store.get("default", {}).get(name, default))
            if req.get("value") and req["value"] != value:
                continue
            out.append({"name": name, "value": value, "principalArn": principal})
        page, nxt = _paginate(out, req)
        res = {"settings": page}
        if nxt:
            res["nextToken"] = nxt
        return res

    def _put_setting(self, who, name, value):
        if name not in _ACCOUNT_DEFAULTS:
            raise invalid_param("Unsupported account setting %r." % name)
        self._account_settings().setdefault(who, {})[name] = value
        return {"setting": {"name": name, "value": value,
                            "principalArn": who if who != "default" else "arn:aws:iam::%s:root" % self.account}}

    def op_PutAccountSetting(self, req):
        return self._put_setting(self._principal(req), req["name"], req["value"])

    def op_PutAccountSettingDefault(self, req):
        return self._put_setting("default", req["name"], req["value"])

    def op_DeleteAccountSetting(self, req):
        who = self._principal(req)
        value = self._account_settings().get(who, {}).pop(req["name"], None)
        return {"setting": {"name": req["name"], "value": value or _ACCOUNT_DEFAULTS.get(req["name"], ""),
                            "principalArn": who}}

    # ------------------------------------------------------------ agent update
    def op_UpdateContainerAgent(self, req):
        c = self.get_cluster(req.get("cluster"))
        ci = self.find_instance(c, req.get("containerInstance"))
        if ci is None:
            raise invalid_param("Container instance not found.")
        offer = self.options.get("agent_update") or {}
        if not offer.get("location"):
            raise ApiError("NoUpdateAvailableException", "There is no update available for your container agent.")
        vi = ci.get("versionInfo") or {}
        if not vi.get("agentVersion"):
            raise ApiError("MissingVersionException", "The container instance does not report its agent version.")
        if offer.get("version") and vi.get("agentVersion") == offer["version"]:
            raise ApiError("NoUpdateAvailableException", "There is no update available for your container agent.")
        if ci.get("agentUpdateStatus") in ("PENDING", "STAGING", "STAGED", "UPDATING"):
            raise ApiError("UpdateInProgressException", "An update is already in progress for this container agent.")
        if not self.is_connected(ci["containerInstanceArn"]):
            raise client_error("The container agent is not connected: the update cannot be sent.")
        mid = str(uuid.uuid4())
        ci["agentUpdateStatus"] = "STAGING"
        ci["_update"] = {"stage": mid, "from": vi.get("agentVersion"), "at": time.time()}
        self.state.mark("instances", ci["containerInstanceArn"])
        self.send_acs(ci["containerInstanceArn"], "StageUpdateMessage",
                      {"messageId": mid, "updateInfo": {"location": offer["location"],
                                                        "signature": offer.get("signature") or ""}})
        return {"containerInstance": self.instance_view(ci)}

    def send_acs(self, instance_arn, typ, message):
        """Set by the ACS hub: send a frame to the instance's websocket."""

    def on_agent_reply(self, instance_arn, message_id, ok):
        """An AckRequest (ok) / NackRequest from the agent: moves an agent update on."""
        ci = self.state.instances.get(instance_arn)
        up = (ci or {}).get("_update")
        if not up:
            return
        if message_id == up.get("stage"):
            if not ok:
                ci["agentUpdateStatus"] = "FAILED"
                ci.pop("_update", None)
            else:
                ci["agentUpdateStatus"] = "STAGED"
                up["perform"] = str(uuid.uuid4())
                self.send_acs(instance_arn, "PerformUpdateMessage", {"messageId": up["perform"]})
                ci["agentUpdateStatus"] = "UPDATING"
        elif message_id == up.get("perform") and not ok:
            ci["agentUpdateStatus"] = "FAILED"
            ci.pop("_update", None)
        else:
            return
        self.state.mark("instances", instance_arn)
        self.state.save()

    def on_agent_version(self, ci):
        """The instance's agent version changed (re-registration or ACS query): an update finished."""
        up = ci.get("_update")
        if up and (ci.get("versionInfo") or {}).get("agentVersion") != up.get("from"):
            ci["agentUpdateStatus"] = "UPDATED"
            ci.pop("_update", None)
            self.state.mark("instances", ci["containerInstanceArn"])
