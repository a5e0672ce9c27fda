"""Request validation against botocore's ECS service model.

validate_request(op, req) checks a decoded request body against the input
shape of the operation in botocore's ECS model before any handler runs:
member types (a string where a string is expected, an integer that is not a
boolean, ...), required members, enums, the model's min/max lengths and
ranges, 32-bit integer bounds.  A violation raises ApiError
InvalidParameterException (400) with a Coral-style message naming the member
path, so no handler ever sees an ill-typed value.  Unknown members are ignored
(as the JSON protocol does); JSON null counts as absent.

The walk is iterative and follows the model, whose shapes are not recursive,
so the depth is bounded by the model, never by the input.

Also: task-level cpu/memory normalisation as ECS does it ("1 vCPU" -> "1024",
"1GB" -> "1024", "0.5 GB" -> "512"), and the request body / JSON depth limits.
"""

import re

import botocore.session

from .errors import ApiError

MAX_BODY = 64 * 1024 * 1024     # larger bodies get 413 + ECS-style JSON error
MAX_JSON_DEPTH = 64             # the ECS model nests < 20 deep

_INT32 = (-(2 ** 31), 2 ** 31 - 1)
_INT64 = (-(2 ** 63), 2 ** 63 - 1)

_models = {}


def model(service="ecs"):
    m = _models.get(service)
    if m is None:
        m = _models[service] = botocore.session.get_session().get_service_model(service)
    return m


def _invalid(path, value, constraint, code="InvalidParameterException"):
    v = repr(value)
    if len(v) > 80:
        v = v[:77] + "..."
    return ApiError(code,
                    "1 validation error detected: Value %s at '%s' failed to satisfy constraint: %s"
                    % (v, path or "body", constraint))


_TYPE_NAMES = {"string": "String", "integer": "Integer", "long": "Long", "boolean": "Boolean",
               "float": "Float", "double": "Double", "timestamp": "Timestamp", "blob": "Blob",
               "list": "List", "map": "Map", "structure": "Structure"}


def _type_ok(tn, v):
    if tn in ("string", "blob"):
        return isinstance(v, str)
    if tn in ("integer", "long"):
        return isinstance(v, int) and not isinstance(v, bool)
    if tn == "boolean":
        return isinstance(v, bool)
    if tn in ("float", "double"):
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if tn == "timestamp":
        return isinstance(v, (int, float, str)) and not isinstance(v, bool)
    if tn == "list":
        return isinstance(v, list)
    if tn in ("map", "structure"):
        return isinstance(v, dict)
    return True


def validate_request(op, req, service="ecs", code="InvalidParameterException"):
    """Raise ApiError if req (a dict) does not fit op's input shape in the
    service's model (the other services emulated, controlplane/aws_services.py,
    answer a violation with their own code, e.g. SSM's ValidationException)."""
    m = model(service)
    try:
        shape = m.operation_model(op).input_shape
    except Exception:
        return  # unknown operation: the dispatcher answers it
    if shape is None:
        return
    stack = [(shape, req, "")]
    while stack:
        sh, v, path = stack.pop()
        tn = sh.type_name
        if not _type_ok(tn, v):
            raise _invalid(path, v, "Member must be of type %s" % _TYPE_NAMES.get(tn, tn), code=code)
        md = sh.metadata
        if tn == "string":
            enum = getattr(sh, "enum", None)
            if enum and v not in enum:
                raise _invalid(path, v, "Member must satisfy enum value set: [%s]" % ", ".join(enum), code=code)
            if "min" in md and len(v) < md["min"]:
                raise _invalid(path, v, "Member must have length greater than or equal to %d" % md["min"], code=code)
            if "max" in md and len(v) > md["max"]:
                raise _invalid(path, v, "Member must have length less than or equal to %d" % md["max"], code=code)
        elif tn in ("integer", "long"):
            lo, hi = _INT32 if tn == "integer" else _INT64
            lo = max(lo, md.get("min", lo))
            hi = min(hi, md.get("max", hi))
            if v < lo:
                raise _invalid(path, v, "Member must have value greater than or equal to %d" % lo, code=code)
            if v > hi:
                raise _invalid(path, v, "Member must have value less than or equal to %d" % hi, code=code)
        elif tn == "list":
            if "min" in md and len(v) < md["min"]:
                raise _invalid(path, v, "Member must have length greater than or equal to %d" % md["min"], code=code)
            if "max" in md and len(v) > md["max"]:
                raise _invalid(path, v, "Member must have length less than or equal to %d" % md["max"], code=code)
            for i in range(len(v) - 1, -1, -1):
                if v[i] is None:
                    raise _invalid("%s.%d.member" % (path, i + 1), None, "Member must not be null", code=code)
                stack.append((sh.member, v[i], "%s.%d.member" % (path, i + 1)))
        elif tn == "map":
            for k, item in v.items():
                if item is not None:
                    stack.append((sh.value, item, "%s.%s" % (path, k)))
        elif tn == "structure":
            for name in sh.required_members:
                if v.get(name) is None:
                    raise _invalid((path + "." if path else "") + name, None, "Member must not be null", code=code)
            members = sh.members
            for name in reversed(list(members)):
                item = v.get(name)
                if item is not None:
                    stack.append((members[name], item, (path + "." if path else "") + name))


def json_depth_ok(body, limit=MAX_JSON_DEPTH):
    """True if no JSON value in body (bytes) nests deeper than limit.

    A scan of brackets outside strings, in C speed via bytes.translate +
    regex: strings are blanked first, then only brackets remain to count."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return True
    text = _STRINGS.sub(b'""', body)
    depth = 0
    for ch in _BRACKETS.findall(text):
        if ch in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return False
        else:
            depth -= 1
    return True


_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_BRACKETS = re.compile(rb"[\[\]{}]")


# ---------------------------------------------------------------- cpu / memory units
_CPU_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(vcpu)?\s*$", re.I)
_MEM_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(gb|mb|mib|gib)?\s*$", re.I)


def normalise_task_cpu(value):
    """ECS task-level cpu: "256" (units) or "0.25 vCPU" / "1 vCPU" -> "256" / "1024".
    Returns the normalised string, or None when value is not a valid setting."""
    m = _CPU_RE.match(value)
    if not m:
        return None
    n = float(m.group(1))
    units = n * 1024 if m.group(2) else n
    if units != int(units) or units < 128 or units > 196608:
        return None
    return str(int(units))


def normalise_task_memory(value):
    """ECS task-level memory: "512" (MiB) or "1GB" / "0.5 GB" -> "1024" / "512"."""
    m = _MEM_RE.match(value)
    if not m:
        return None
    n = float(m.group(1))
    unit = (m.group(2) or "").lower()
    mib = n * 1024 if unit in ("gb", "gib") else n
    if mib != int(mib) or mib < 4 or mib > 125 * 1024 * 8:
        return None
    return str(int(mib))
