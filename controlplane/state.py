"""Persistent state of the local control plane.

Everything lives in one JSON document (state-dir/state.json) written atomically
after every mutation.  Objects are stored in the same shape the ECS API returns
them, with private bookkeeping under keys starting with "_" (stripped on output).
"""

import json
import os
import tempfile
import threading
import time

MAX_EVENTS = 20000


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
        self.lock = threading.RLock()
        self.clusters = {}        # name -> Cluster
        self.task_defs = {}       # family -> [TaskDefinition, ...] (index = revision-1)
        self.instances = {}       # arn -> ContainerInstance (+ _cluster, _seq)
        self.tasks = {}           # arn -> Task (+ _reserved, _instance)
        self.pending = {}         # instance arn -> [ {messageId, frame, sentAt} ]
        self.events = []          # received state changes, acks, nacks ...
        self.event_seq = 0
        self.client_tokens = {}   # clientToken -> instance arn
        self.imds_creds = []      # issued role credentials
        self.load()

    # ---------------------------------------------------------------- persistence
    def load(self):
        if not self.path or not os.path.exists(self.path):
            return
        with open(self.path) as f:
            d = json.load(f)
        self.clusters = d.get("clusters", {})
        self.task_defs = d.get("task_defs", {})
        self.instances = d.get("instances", {})
        self.tasks = d.get("tasks", {})
        self.pending = d.get("pending", {})
        self.events = d.get("events", [])
        self.event_seq = d.get("event_seq", len(self.events))
        self.client_tokens = d.get("client_tokens", {})
        self.imds_creds = d.get("imds_creds", [])

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
        }

    def save(self):
        if not self.path:
            return
        with self.lock:
            data = json.dumps(self.to_json(), separators=(",", ":"), default=str)
            os.makedirs(self.state_dir, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.state_dir, prefix=".state.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w") as f:
                    f.write(data)
                os.replace(tmp, self.path)
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise

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
