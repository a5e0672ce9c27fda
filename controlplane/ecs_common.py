"""What the ECS API modules share (controlplane/ecs_api.py and its mixins):
the JSON 1.1 target and error namespaces, the clock, Describe*/List* helpers
(describe by references, pagination windows, resource maps)."""

import base64
import time

from .errors import invalid_param


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
