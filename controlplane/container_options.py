"""Container options of a task definition as the real ECS backend delivers them.

ECS sends most Docker options of a container definition inside the payload
container's ``dockerConfig``: ``config`` and ``hostConfig`` are JSON texts of
Docker's create ``Config`` / ``HostConfig`` (sizes in bytes, health-check
durations in nanoseconds), ``version`` the highest minimum Docker API the
options used need.  The task definition's ``requiresAttributes`` lists the
capability attributes those options need; ECS places a task only on an
instance advertising all of them (failure reason ``ATTRIBUTE`` otherwise).
"""
import json

from . import roles
from .errors import client_error, invalid_param

CAP = "com.amazonaws.ecs.capability."
ECAP = "ecs.capability."
MIB = 1024 * 1024
NS = 1000000000


# The task cpu (units) the agent took before ecs.capability.increased-task-cpu-limit
# (upstream's old maxTaskVCPULimit, 10 vCPU); above it ECS requires that attribute.
TASK_CPU_OLD_LIMIT = 10 * 1024
# ECS's limit on containerPortRange mappings per container (the model's documentation).
PORT_RANGES_MAX = 100

RESTART_PERIOD_MIN, RESTART_PERIOD_MAX, RESTART_PERIOD_DEFAULT = 60, 1800, 300
RESTART_IGNORED_MAX = 50


def restart_policy(rp, container, min_period=RESTART_PERIOD_MIN):
    """A container definition's restartPolicy checked as ECS does, normalised.

    ``enabled`` (boolean) is required; ``ignoredExitCodes`` a list of at most
    50 integers; ``restartAttemptPeriod`` whole seconds in 60..1800, 300 when
    enabled and absent (so the payload always carries it).  ``min_period``
    lowers the minimum for tests only (``--min-restart-attempt-period``).
    Raises ApiError (InvalidParameterException / ClientException)."""
    def bad(msg):
        return client_error("Invalid restartPolicy for container '%s': %s" % (container, msg))

    if not isinstance(rp, dict):
        raise invalid_param("restartPolicy of container '%s' must be an object" % container)
    enabled = rp.get("enabled")
    if not isinstance(enabled, bool):
        raise bad("enabled is required and must be a boolean")
    codes = rp.get("ignoredExitCodes")
    if codes is None:
        codes = []
    if not isinstance(codes, list) or any(not isinstance(c, int) or isinstance(c, bool) for c in codes):
        raise bad("ignoredExitCodes must be a list of integers")
    if len(codes) > RESTART_IGNORED_MAX:
        raise bad("ignoredExitCodes can have at most %d entries" % RESTART_IGNORED_MAX)
    period = rp.get("restartAttemptPeriod")
    if period is None:
        period = RESTART_PERIOD_DEFAULT if enabled else None
    elif not isinstance(period, int) or isinstance(period, bool):
        raise bad("restartAttemptPeriod must be an integer")
    if period is not None and not min_period <= period <= RESTART_PERIOD_MAX:
        raise bad("restartAttemptPeriod must be between %d and %d seconds" % (min_period, RESTART_PERIOD_MAX))
    out = {"enabled": enabled, "ignoredExitCodes": list(codes)}
    if period is not None:
        out["restartAttemptPeriod"] = period
    return out


def _ver(v):
    return tuple(int(x) for x in v.split("."))


def health_check(hc):
    """healthCheck (seconds) -> Docker's HealthConfig (ns), AWS defaults filled."""
    out = {"Test": list(hc.get("command") or []),
           "Interval": int(hc.get("interval") or 30) * NS,
           "Timeout": int(hc.get("timeout") or 5) * NS,
           "Retries": int(hc.get("retries") if hc.get("retries") is not None else 3)}
    if hc.get("startPeriod"):
        out["StartPeriod"] = int(hc["startPeriod"]) * NS
    return out


def docker_config(cd, td):
    """The payload container's dockerConfig {config, hostConfig, version}."""
    cfg, host = {}, {}
    version = "1.17"

    def need(v):
        nonlocal version
        if _ver(v) > _ver(version):
            version = v

    if cd.get("dockerLabels"):
        cfg["Labels"] = dict(cd["dockerLabels"])
        need("1.18")
    for key, dkey in (("user", "User"), ("workingDirectory", "WorkingDir"), ("hostname", "Hostname")):
        if cd.get(key) is not None:
            cfg[dkey] = cd[key]
    for key, dkey in (("disableNetworking", "NetworkDisabled"), ("interactive", "OpenStdin"),
                      ("pseudoTerminal", "Tty")):
        if cd.get(key) is not None:
            cfg[dkey] = bool(cd[key])
    if cd.get("healthCheck"):
        cfg["HealthCheck"] = health_check(cd["healthCheck"])
        need("1.24")

    lp = cd.get("linuxParameters") or {}
    caps = lp.get("capabilities") or {}
    host["CapAdd"] = list(caps.get("add") or [])
    host["CapDrop"] = list(caps.get("drop") or [])
    if td.get("networkMode"):
        host["NetworkMode"] = td["networkMode"]
    if cd.get("memoryReservation") is not None:
        host["MemoryReservation"] = int(cd["memoryReservation"]) * MIB
    lc = cd.get("logConfiguration")
    if lc:
        host["LogConfig"] = {"Type": lc.get("logDriver"), "Config": dict(lc.get("options") or {})}
        need("1.18")
    if cd.get("ulimits") is not None:
        host["Ulimits"] = [{"Name": u.get("name"), "Soft": u.get("softLimit"), "Hard": u.get("hardLimit")}
                           for u in cd["ulimits"]]
        if cd["ulimits"]:
            need("1.18")
    for key, dkey in (("privileged", "Privileged"), ("readonlyRootFilesystem", "ReadonlyRootfs")):
        if cd.get(key) is not None:
            host[dkey] = bool(cd[key])
    for key, dkey in (("dnsServers", "Dns"), ("dnsSearchDomains", "DnsSearch"),
                      ("dockerSecurityOptions", "SecurityOpt")):
        if cd.get(key):
            host[dkey] = list(cd[key])
    if cd.get("extraHosts"):
        host["ExtraHosts"] = ["%s:%s" % (h.get("hostname"), h.get("ipAddress")) for h in cd["extraHosts"]]
    if cd.get("systemControls"):
        host["Sysctls"] = {s.get("namespace"): s.get("value") for s in cd["systemControls"]}
    if lp.get("devices"):
        host["Devices"] = [{"PathOnHost": d.get("hostPath"),
                            "PathInContainer": d.get("containerPath") or d.get("hostPath"),
                            "CgroupPermissions": "".join(p[0] for p in d.get("permissions") or [])
                            or "rwm"} for d in lp["devices"]]
    if lp.get("initProcessEnabled") is not None:
        host["Init"] = bool(lp["initProcessEnabled"])
        need("1.25")
    if lp.get("sharedMemorySize") is not None:
        host["ShmSize"] = int(lp["sharedMemorySize"]) * MIB
    if lp.get("tmpfs"):
        host["Tmpfs"] = {t.get("containerPath"): ",".join(["size=%dm" % int(t.get("size") or 0)]
                                                           + list(t.get("mountOptions") or []))
                         for t in lp["tmpfs"]}
    if lp.get("maxSwap") is not None:
        mem = cd.get("memory") or cd.get("memoryReservation") or 0
        host["MemorySwap"] = (int(mem) + int(lp["maxSwap"])) * MIB if int(lp["maxSwap"]) >= 0 else -1
    if lp.get("swappiness") is not None:
        host["MemorySwappiness"] = int(lp["swappiness"])
    return {"config": json.dumps(cfg, separators=(",", ":")),
            "hostConfig": json.dumps(host, separators=(",", ":")), "version": version}


def logs_execution_role(cd, td):
    """ECS sends logsAuthStrategy ExecutionRole for an awslogs container of a
    task definition with an execution role (the log driver then gets the
    execution role's credentials endpoint from the agent)."""
    lc = cd.get("logConfiguration") or {}
    return bool(td.get("executionRoleArn")) and lc.get("logDriver") == "awslogs"


def requires_attributes(td):
    """requiresAttributes of a task definition, as ECS computes them."""
    names = []

    def add(n):
        if n not in names:
            names.append(n)

    if td.get("cpu") and int(float(td["cpu"])) > TASK_CPU_OLD_LIMIT:
        add(ECAP + "increased-task-cpu-limit")
    if td.get("networkMode") == "awsvpc":
        add(ECAP + "task-eni")
    for cd in td.get("containerDefinitions") or []:
        v = docker_config(cd, td)["version"]
        if v != "1.17":
            add(CAP + "docker-remote-api." + v)
        lc = cd.get("logConfiguration")
        if lc and lc.get("logDriver"):
            add(CAP + "logging-driver." + lc["logDriver"])
        if cd.get("privileged"):
            add(CAP + "privileged-container")
        if cd.get("healthCheck"):
            add(ECAP + "container-health-check")
        if (cd.get("restartPolicy") or {}).get("enabled"):
            add(ECAP + "container-restart-policy")
        for o in cd.get("dockerSecurityOptions") or []:
            if o.startswith("label"):
                add(CAP + "selinux")
            if o.startswith("apparmor"):
                add(CAP + "apparmor")
        if any(pm.get("containerPortRange") for pm in cd.get("portMappings") or []):
            add(ECAP + "network.container-port-range")
    for n in roles.required_attributes(td):  # a task role needs task-iam-role
        add(n)
    return [{"name": n} for n in names]


def _range(text):
    """ "a-b" -> (a, b), or None when not a range of 1..65535 with a < b."""
    parts = text.split("-") if isinstance(text, str) else []
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return None
    a, b = int(parts[0]), int(parts[1])
    return (a, b) if 1 <= a < b <= 65535 else None


def check_port_ranges(cd, network_mode):
    """ECS's rules for containerPortRange (the PortMapping model's documentation):
    bridge or awsvpc network mode only, at most 100 ranges per container, each
    "a-b" with 1 <= a < b <= 65535, no hostPort or containerPort beside it, and
    a port in one mapping only (ranges do not overlap each other or a single
    containerPort).  Raises ClientException naming the container."""
    maps = cd.get("portMappings") or []
    ranges = [pm for pm in maps if pm.get("containerPortRange") is not None]
    if not ranges:
        return
    name = cd.get("name")
    if (network_mode or "bridge") not in ("bridge", "awsvpc"):
        raise client_error("Invalid 'containerPortRange' setting for container '%s'. Port ranges are supported "
                           "only with the bridge and awsvpc network modes." % name)
    if len(ranges) > PORT_RANGES_MAX:
        raise client_error("Invalid 'portMappings' setting for container '%s'. A container can have at most "
                           "%d port ranges; it has %d." % (name, PORT_RANGES_MAX, len(ranges)))
    seen = []
    for pm in maps:
        if pm.get("containerPortRange") is None:
            cp = pm.get("containerPort")
            if cp is not None:
                seen.append((cp, cp))
            continue
        r = _range(pm["containerPortRange"])
        if r is None:
            raise client_error("Invalid 'containerPortRange' setting for container '%s': '%s'. A range is "
                               "'<first>-<last>' with 1 <= first < last <= 65535."
                               % (name, pm["containerPortRange"]))
        if pm.get("containerPort") is not None or pm.get("hostPort") is not None:
            raise client_error("Invalid 'portMappings' setting for container '%s'. Specify either "
                               "'containerPortRange' or 'containerPort' and 'hostPort', not both." % name)
        seen.append(r)
    seen.sort()
    for (a, b), (c, d) in zip(seen, seen[1:]):
        if c <= b:
            raise client_error("Invalid 'portMappings' setting for container '%s'. Port %d is in more than one "
                               "port mapping." % (name, c))


def missing_attribute(td, ci):
    """The first required attribute the instance does not advertise, else None."""
    have = {a.get("name"): a.get("value") for a in ci.get("attributes") or []}
    for a in td.get("requiresAttributes") or []:
        if a["name"] not in have or (a.get("value") is not None and have[a["name"]] != a["value"]):
            return a["name"]
    return None


def payload_port_mappings(cd, host_mode):
    """portMappings of a payload container: protocol defaults to tcp; host mode
    gives hostPort = containerPort; a containerPortRange travels as is."""
    out = []
    for pm in cd.get("portMappings") or []:
        m = {"protocol": pm.get("protocol") or "tcp"}
        if pm.get("containerPortRange"):
            m["containerPortRange"] = pm["containerPortRange"]
        else:
            hp = pm.get("hostPort")
            if not hp and host_mode:
                hp = pm.get("containerPort")
            m.update({"containerPort": pm.get("containerPort"), "hostPort": hp or 0})
        out.append(m)
    return out
