"""Persistent state of the local control plane.

The state lives in memory as plain dicts (to_json() lists every collection),
objects in the same shape the ECS API returns them, with private bookkeeping
under keys starting with "_" (stripped on output).  With a state dir it is
durable in state-dir/state.db (controlplane/store.py, SQLite WAL), one row per
object: save() writes, in one small transaction, only the rows that changed
since the last save, so its cost follows the change, not the state's size
(a 30 MiB task definition is written once, when registered).

Which rows changed: rows marked with mark(kind, key) (EcsBackend.call marks the
objects a request names and returns), rows new since the last save (detected by
count), every pending payload and client token by key, clusters by value (few,
small), events above the last saved sequence number, and any other top-level
member of to_json() by value, as one row each ("blob" rows).
A state.json left by an older control plane is imported once.
"""

import json
import os
import threading
import time

from .store import Store
from .task_index import TaskTable

MAX_EVENTS = 20000

# to_json() members kept as one row per object; everything else is a blob row
ROW_KINDS = ("clusters", "instances", "tasks", "task_defs", "pending", "events", "client_tokens", "services",
             "ssm_params", "sm_secrets")
MARKED_KINDS = ("instances", "tasks", "services")


def _dumps(obj):
    return json.dumps(obj, separators=(",", ":"), default=str)


def public(obj):
    """Deep copy without private ("_"-prefixed) keys."""
    if isinstance(obj, dict):
        return {k: public(v) for k, v in obj.items() if not k.startswith("_")}
    if isinstance(obj, list):
        return [public(v) for v in obj]
    return obj


class State:
    def __init__(self, state_dir):
        self.state_dir = state_dir
        self.path = os.path.join(state_dir, "state.json") if state_dir else None
        self.store = None
        self._dirty = set()       # (kind, key) marked since the last save
        self._p_keys = {}         # kind -> keys saved
        self._p_text = {}         # (kind, key) -> text saved, for rows compared by value
        self._p_event_seq = 0
        self._p_event_min = 1     # lowest event seq that may still have a row
        self.lock = threading.RLock()
        self.clusters = {}        # name -> Cluster
        self.task_defs = {}       # family -> [TaskDefinition, ...] (index = revision-1)
        self.instances = {}       # arn -> ContainerInstance (+ _cluster, _seq)
        self.tasks = TaskTable()  # arn -> Task (+ _reserved, _instance), indexed (controlplane/task_index.py)
        self.pending = {}         # instance arn -> [ {messageId, frame, sentAt} ]
        self.events = []          # received state changes, acks, nacks ...
        self.event_seq = 0
        self.client_tokens = {}   # clientToken -> instance arn
        self.imds_creds = []      # issued role credentials
        self.services = {}        # arn -> Service (+ _cluster)
        self.account_settings = {}  # principal ARN or "default" -> {name: value}
        self.ssm_params = {}      # SSM parameter name -> record (controlplane/aws_services.py)
        self.sm_secrets = {}      # Secrets Manager secret ARN -> record
        self.iam_denied = {}      # role/user ARN -> [service signing names it may not call]
        self.load()

    # ---------------------------------------------------------------- persistence
    def load(self):
        if not self.path:
            return
        self.store = Store(os.path.join(self.state_dir, "state.db"))
        migrate = self.store.empty() and os.path.exists(self.path)
        if migrate:
            with open(self.path) as f:
                d = json.load(f)
        else:
            d = self._doc_from_rows(self.store.load())
        self.clusters = d.get("clusters", {})
        self.task_defs = d.get("task_defs", {})
        self.instances = d.get("instances", {})
        self.tasks = TaskTable(d.get("tasks", {}))
        self.pending = d.get("pending", {})
        self.events = d.get("events", [])
        self.event_seq = d.get("event_seq", len(self.events))
        self.client_tokens = d.get("client_tokens", {})
        self.imds_creds = d.get("imds_creds", [])
        self.services = d.get("services", {})
        self.account_settings = d.get("account_settings", {})
        self.ssm_params = d.get("ssm_params", {})
        self.sm_secrets = d.get("sm_secrets", {})
        self.iam_denied = d.get("iam_denied", {})
        self._after_load(migrate)

    def to_json(self):
        return {
            "clusters": self.clusters,
            "task_defs": self.task_defs,
            "instances": self.instances,
            "tasks": self.tasks,
            "pending": self.pending,
            "events": self.events,
            "event_seq": self.event_seq,
            "client_tokens": self.client_tokens,
            "imds_creds": self.imds_creds,
            "services": self.services,
            "account_settings": self.account_settings,
            "ssm_params": self.ssm_params,
            "sm_secrets": self.sm_secrets,
            "iam_denied": self.iam_denied,
        }

    def mark(self, kind, key):
        """Say that row (kind, key) changed: kind 'instances'/'tasks'/'services' with the
        object's ARN, 'task_defs' with 'family:revision', 'ssm_params' with the parameter
        name, 'sm_secrets' with the secret ARN."""
        self._dirty.add((kind, key))

    @staticmethod
    def _doc_from_rows(rows):
        d = {}
        for kind in ("clusters", "instances", "tasks", "client_tokens", "services", "ssm_params", "sm_secrets"):
            d[kind] = rows.get(kind, {})
        tds = {}
        for td in rows.get("task_defs", {}).values():
            tds.setdefault(td["family"], []).append(td)
        d["task_defs"] = {fam: sorted(revs, key=lambda td: td["revision"]) for fam, revs in tds.items()}
        pend = {}
        for key, e in rows.get("pending", {}).items():
            pend.setdefault(key.split("\n", 1)[0], []).append(e)
        d["pending"] = {inst: sorted(es, key=lambda e: e["seqNum"]) for inst, es in pend.items()}
        d["events"] = sorted(rows.get("events", {}).values(), key=lambda e: e["seq"])
        d.update(rows.get("blob", {}))
        return d

    def _row_keys(self, kind):
        if kind == "task_defs":
            return {"%s:%d" % (fam, td["revision"]) for fam, revs in self.task_defs.items() for td in revs}
        if kind == "pending":
            return {"%s\n%s" % (inst, e["messageId"]) for inst, es in self.pending.items() for e in es}
        if kind == "events":
            return {str(e["seq"]) for e in self.events}
        return set((getattr(self, kind, None) or {}).keys())

    def _row(self, kind, key):
        if kind == "task_defs":
            fam, rev = key.rsplit(":", 1)
            revs = self.task_defs.get(fam) or []
            rev = int(rev)
            return revs[rev - 1] if 0 < rev <= len(revs) else None
        if kind == "pending":
            inst, mid = key.split("\n", 1)
            return next((e for e in self.pending.get(inst) or [] if e["messageId"] == mid), None)
        return (getattr(self, kind, None) or {}).get(key)

    def _after_load(self, migrate):
        for kind in ROW_KINDS:
            self._p_keys[kind] = set() if migrate else self._row_keys(kind)
        if not migrate:
            for name, c in self.clusters.items():
                self._p_text[("clusters", name)] = _dumps(c)
            for k, v in self.client_tokens.items():
                self._p_text[("client_tokens", k)] = _dumps(v)
            for k, v in self.to_json().items():
                if k not in ROW_KINDS:
                    self._p_text[("blob", k)] = _dumps(v)
            self._p_event_seq = self.events[-1]["seq"] if self.events else 0
            self._p_event_min = self.events[0]["seq"] if self.events else 1
        else:
            self.save()
            os.replace(self.path, self.path + ".migrated")

    def save(self):
        """Write the rows changed since the last save, in one transaction."""
        if self.store is None:
            return
        with self.lock:
            up, dl = [], []
            doc = self.to_json()
            dirty, self._dirty = self._dirty, set()
            # new (or vanished) rows of every keyed collection
            for kind in ("instances", "tasks", "services", "task_defs", "pending", "client_tokens",
                         "ssm_params", "sm_secrets"):
                if kind not in doc:
                    continue
                saved = self._p_keys.setdefault(kind, set())
                if kind in ("pending", "client_tokens"):
                    now = self._row_keys(kind)       # few: compared every time
                elif kind == "task_defs":
                    n = sum(len(r) for r in self.task_defs.values())
                    now = self._row_keys(kind) if n != len(saved) else saved
                else:
                    now = self._row_keys(kind) if len(doc[kind]) != len(saved) else saved
                if now is not saved:
                    for key in now - saved:
                        dirty.add((kind, key))
                    for key in saved - now:
                        dl.append((kind, key))
                    self._p_keys[kind] = set(now)
            for kind, key in dirty:
                obj = self._row(kind, key)
                if obj is None:
                    dl.append((kind, key))
                    self._p_keys.get(kind, set()).discard(key)
                else:
                    up.append((kind, key, _dumps(obj)))
                    self._p_keys.setdefault(kind, set()).add(key)
            # rows compared by value: clusters, client tokens, blobs
            by_value = [("clusters", k, v) for k, v in self.clusters.items()]
            by_value += [("client_tokens", k, v) for k, v in self.client_tokens.items()]
            by_value += [("blob", k, v) for k, v in doc.items() if k not in ROW_KINDS]
            for kind, key, v in by_value:
                text = _dumps(v)
                if self._p_text.get((kind, key)) != text:
                    self._p_text[(kind, key)] = text
                    up.append((kind, key, text))
            for name in [k for (kind, k) in self._p_text if kind == "clusters" and k not in self.clusters]:
                del self._p_text[("clusters", name)]
                dl.append(("clusters", name))
            # events: append-only above the last saved seq; old ones trimmed
            for ev in reversed(self.events):
                if ev["seq"] <= self._p_event_seq:
                    break
                up.append(("events", str(ev["seq"]), _dumps(ev)))
            if self.events:
                self._p_event_seq = self.events[-1]["seq"]
                first = self.events[0]["seq"]
                if first - self._p_event_min >= 1000:   # trimmed in memory: drop those rows in batches
                    dl += [("events", str(q)) for q in range(self._p_event_min, first)]
                    self._p_event_min = first
            self.store.write(up, dl)

    def close(self):
        if self.store is not None:
            self.save()
            self.store.close()
            self.store = None

    # ---------------------------------------------------------------- events
    def add_event(self, kind, **fields):
        with self.lock:
            self.event_seq += 1
            ev = {"seq": self.event_seq, "time": time.time(), "kind": kind}
            ev.update(fields)
            self.events.append(ev)
            if len(self.events) > MAX_EVENTS:
                del self.events[: len(self.events) - MAX_EVENTS]
            return ev
