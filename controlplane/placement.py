"""Task placement: which container instance a new task goes to.

choose(backend, cluster, td, reserved, group, constraints, strategy, placed)
returns (instance, None) or (None, [(instance arn, reason), ...]).

Candidates: the cluster's ACTIVE instances (DRAINING ones take no new task;
with --placement-requires-connected only connected ones).  Each is checked,
in this order, for: the task definition's requiresAttributes (reason
ATTRIBUTE), memberOf constraints (ATTRIBUTE), distinctInstance (no other
active task of the same group on it: DISTINCT_INSTANCE), then resources
(RESOURCE:CPU, RESOURCE:MEMORY, RESOURCE:PORTS, RESOURCE:PORTS_UDP).
Among those that fit, the strategy orders: spread (field instanceId/host: fewest
active tasks of the group, then fewest tasks; attribute:<name>: the value with
fewest tasks of the group), binpack (field cpu/memory: least remaining first),
random; no strategy = fewest active tasks, then registration order.
"""

import random

from . import query
from .errors import invalid_param

CONSTRAINT_TYPES = ("distinctInstance", "memberOf")


def check_constraints(constraints):
    """Validate placement constraints (task definition's or the call's): parsed memberOf expressions."""
    out = []
    for c in constraints or []:
        t = c.get("type")
        if t not in CONSTRAINT_TYPES:
            raise invalid_param("Unsupported placement constraint type %r (supported: distinctInstance, memberOf)."
                                % t)
        if t == "memberOf":
            try:
                out.append(("memberOf", query.parse(c.get("expression") or "")))
            except ValueError as e:
                raise invalid_param("Invalid placement constraint expression %r: %s" % (c.get("expression"), e))
        else:
            if c.get("expression"):
                raise invalid_param("distinctInstance takes no expression.")
            out.append(("distinctInstance", None))
    return out


def check_strategy(strategy):
    for s in strategy or []:
        t, f = s.get("type"), (s.get("field") or "")
        if t == "random":
            continue
        if t == "spread" and (f in ("instanceId", "host") or f.startswith("attribute:")):
            continue
        if t == "binpack" and f.lower() in ("cpu", "memory"):
            continue
        raise invalid_param("Unsupported placement strategy %r field %r (supported: random, spread instanceId|host|"
                            "attribute:<name>, binpack cpu|memory)." % (t, f))
    if len(strategy or []) > 5:
        raise invalid_param("At most 5 placement strategies.")


def active_by_instance(backend):
    """instance ARN -> its tasks not yet STOPPED (one pass over the tasks)."""
    out = {}
    tasks = backend.state.tasks
    for arn in backend.state.instances:
        act = [t for t in tasks.tasks(("i", arn)) if t["lastStatus"] != "STOPPED"]
        if act:
            out[arn] = act
    return out


def subject_values(backend, ci, act=None):
    """The query-language subjects of a container instance."""
    if act is None:
        act = active_by_instance(backend)

    def tasks_on(arn):
        return act.get(arn, [])

    def values(subject):
        if subject.startswith("attribute:"):
            name = subject[len("attribute:"):]
            return [a.get("value") if a.get("value") is not None else "" for a in ci.get("attributes") or []
                    if a.get("name") == name]
        if subject == "agentConnected":
            return ["true" if backend.is_connected(ci["containerInstanceArn"]) else "false"]
        if subject == "agentVersion":
            v = (ci.get("versionInfo") or {}).get("agentVersion")
            return [v] if v else []
        if subject == "ec2InstanceId":
            return [ci.get("ec2InstanceId")] if ci.get("ec2InstanceId") else []
        if subject == "ec2InstanceType":
            return [a.get("value") for a in ci.get("attributes") or [] if a.get("name") == "ecs.instance-type"]
        if subject == "registeredAt":
            return [ci.get("registeredAt", 0)]
        if subject == "runningTasksCount":
            return [sum(1 for t in tasks_on(ci["containerInstanceArn"]) if t["lastStatus"] == "RUNNING")]
        if subject == "task:group":
            return [t.get("group") for t in tasks_on(ci["containerInstanceArn"])]
        return []
    return values


def _has_attributes(ci, required):
    have = {}
    for a in ci.get("attributes") or []:
        have.setdefault(a.get("name"), set()).add(a.get("value"))
    for r in required:
        vals = have.get(r.get("name"))
        if vals is None or (r.get("value") is not None and r["value"] not in vals):
            return False
    return True


def choose(backend, cluster, td, reserved, group, constraints, strategy, placed=()):
    """Pick an instance for one task; `placed` are tasks placed earlier in this call."""
    need_conn = backend.options.get("placement_requires_connected")
    cands = [ci for ci in backend.state.instances.values()
             if ci["_cluster"] == cluster["clusterName"] and ci["status"] == "ACTIVE"
             and (not need_conn or backend.is_connected(ci["containerInstanceArn"]))]
    if not cands:
        return None, None
    act = active_by_instance(backend)
    fails, ok = [], []
    required = td.get("requiresAttributes") or []
    for ci in cands:
        arn = ci["containerInstanceArn"]
        if not _has_attributes(ci, required):
            fails.append((arn, "ATTRIBUTE"))
            continue
        bad = None
        for kind, post in constraints:
            if kind == "memberOf" and not query.evaluate(post, subject_values(backend, ci, act)):
                bad = "ATTRIBUTE"
            elif kind == "distinctInstance" and any(
                    t.get("group") == group for t in act.get(arn, [])):
                bad = "DISTINCT_INSTANCE"
            if bad:
                break
        if bad:
            fails.append((arn, bad))
            continue
        reason = backend.fit(ci, reserved)
        if reason:
            fails.append((arn, reason))
            continue
        ok.append(ci)
    if not ok:
        return None, fails
    return _order(backend, ok, group, strategy, act)[0], None


def _order(backend, cands, group, strategy, act):
    def active(ci):
        return act.get(ci["containerInstanceArn"], [])

    def in_group(ci):
        return sum(1 for t in active(ci) if t.get("group") == group)

    keys = []
    for s in strategy or []:
        t, f = s.get("type"), (s.get("field") or "")
        if t == "random":
            keys.append(lambda ci, r={id(c): random.random() for c in cands}: r[id(ci)])
        elif t == "spread" and f.startswith("attribute:"):
            name = f[len("attribute:"):]

            def val(ci, name=name):
                return next((a.get("value") for a in ci.get("attributes") or [] if a.get("name") == name), None)
            per_value = {}
            for ci in backend.state.instances.values():
                if ci["status"] == "ACTIVE" and ci["_cluster"] == cands[0]["_cluster"]:
                    per_value[val(ci)] = per_value.get(val(ci), 0) + in_group(ci)
            keys.append(lambda ci, val=val, pv=per_value: pv.get(val(ci), 0))
        elif t == "spread":
            keys.append(in_group)
        elif t == "binpack":
            res = "CPU" if f.lower() == "cpu" else "MEMORY"

            def remaining(ci, res=res):
                r = next((x for x in backend.remaining_resources(ci) if x.get("name") == res), None)
                return int(r.get("integerValue", 0)) if r else 0
            keys.append(remaining)
    keys.append(lambda ci: len(active(ci)))
    keys.append(lambda ci: ci.get("registeredAt", 0))
    return sorted(cands, key=lambda ci: tuple(k(ci) for k in keys))
