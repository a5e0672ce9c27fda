"""Indexes over the control plane's tasks, so ordinary calls do not scan them all.

State.tasks is a TaskTable (a dict: task ARN -> TaskRecord).  A TaskRecord is the
task's dict (the shape the API shows, plus private "_" keys) that tells its table
when an indexed member changes, however the code changes it (t[k] = v,
setdefault, update, pop, del).  The table keeps, for each bucket, the tasks in
creation order (a sorted list of per-task sequence numbers):

  ("c", cluster)                    every task of the cluster
  ("cd", cluster, desiredStatus)    ListTasks --desired-status
  ("cl", cluster, lastStatus)       counts of DescribeClusters, DeleteCluster's check
  ("i", instance ARN)               ListTasks --container-instance
  ("il", instance ARN, lastStatus)  counts of DescribeContainerInstances
  ("g", cluster, group)             a service's tasks (group "service:<name>")
  ("s", cluster, startedBy)         ListTasks --started-by

plus (cluster, task id) -> ARN (DescribeTasks by id) and, per instance, the
resources reserved by its tasks not yet STOPPED (cpu, memory, ports), kept as
running sums.  Tasks are never removed by the control plane (STOPPED tasks stay),
but removal is handled too.
"""

import bisect
import collections

_MISSING = object()
INDEXED = ("desiredStatus", "lastStatus", "containerInstanceArn", "group", "startedBy", "_cluster", "_reserved")


class TaskRecord(dict):
    __slots__ = ("table",)

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.table = None

    def _change(self, fn):
        tbl = self.table
        if tbl is None:
            return fn()
        tbl._unindex(self)
        try:
            return fn()
        finally:
            tbl._index(self)

    def __setitem__(self, k, v):
        if k in INDEXED and self.table is not None:
            self._change(lambda: dict.__setitem__(self, k, v))
        else:
            dict.__setitem__(self, k, v)

    def __delitem__(self, k):
        if k in INDEXED and self.table is not None:
            self._change(lambda: dict.__delitem__(self, k))
        else:
            dict.__delitem__(self, k)

    def setdefault(self, k, default=None):
        if k in self:
            return dict.__getitem__(self, k)
        self[k] = default
        return default

    def pop(self, k, *default):
        if k in INDEXED and self.table is not None:
            return self._change(lambda: dict.pop(self, k, *default))
        return dict.pop(self, k, *default)

    def popitem(self):
        return self._change(lambda: dict.popitem(self))

    def update(self, *a, **kw):
        self._change(lambda: dict.update(self, *a, **kw))

    def clear(self):
        self._change(lambda: dict.clear(self))


class TaskTable(dict):
    def __init__(self, tasks=None):
        super().__init__()
        self._seq = 0
        self._arn_of = {}                           # seq -> arn
        self._seq_of = {}                           # arn -> seq
        self._buckets = collections.defaultdict(list)
        self._by_id = {}                            # (cluster, task id) -> arn
        self._keys_of = {}                          # arn -> bucket keys it is in
        self._usage = {}                            # instance arn -> [cpu, mem, Counter tcp, Counter udp]
        for arn, t in sorted((tasks or {}).items(), key=lambda kv: kv[1].get("createdAt") or 0):
            self[arn] = t

    # ------------------------------------------------------------ dict interface
    def __setitem__(self, arn, t):
        if arn in self:
            old = dict.__getitem__(self, arn)
            self._unindex(old)
            old.table = None
        if not isinstance(t, TaskRecord) or (t.table is not None and t.table is not self):
            t = TaskRecord(t)
        dict.__setitem__(self, arn, t)
        if arn not in self._seq_of:
            self._seq += 1
            self._seq_of[arn] = self._seq
            self._arn_of[self._seq] = arn
        t.table = self
        self._index(t)

    def __delitem__(self, arn):
        t = dict.__getitem__(self, arn)
        self._unindex(t)
        t.table = None
        dict.__delitem__(self, arn)
        self._arn_of.pop(self._seq_of.pop(arn), None)

    def pop(self, arn, *default):
        if arn in self:
            t = self[arn]
            del self[arn]
            return t
        if default:
            return default[0]
        raise KeyError(arn)

    def setdefault(self, arn, default=None):
        if arn not in self:
            self[arn] = default
        return self[arn]

    def update(self, *a, **kw):
        for arn, t in dict(*a, **kw).items():
            self[arn] = t

    def clear(self):
        for arn in list(self):
            del self[arn]

    def popitem(self):
        arn = next(reversed(self))
        return arn, self.pop(arn)

    # ------------------------------------------------------------ maintenance
    @staticmethod
    def _keys(t):
        c = t.get("_cluster")
        keys = [("c", c), ("cd", c, t.get("desiredStatus")), ("cl", c, t.get("lastStatus"))]
        inst = t.get("containerInstanceArn")
        if inst:
            keys += [("i", inst), ("il", inst, t.get("lastStatus"))]
        if t.get("group"):
            keys.append(("g", c, t["group"]))
        if t.get("startedBy"):
            keys.append(("s", c, t["startedBy"]))
        return keys

    def _index(self, t):
        arn = t.get("taskArn")
        seq = self._seq_of.get(arn)
        if seq is None or self._arn_of.get(seq) != arn or dict.get(self, arn) is not t:
            return
        keys = self._keys(t)
        self._keys_of[arn] = keys
        for k in keys:
            b = self._buckets[k]
            if not b or b[-1] < seq:
                b.append(seq)
            else:
                bisect.insort(b, seq)
        self._by_id[(t.get("_cluster"), arn.rsplit("/", 1)[-1])] = arn
        self._account(t, +1)

    def _unindex(self, t):
        arn = t.get("taskArn")
        keys = self._keys_of.pop(arn, None)
        if keys is None:
            return
        seq = self._seq_of[arn]
        for k in keys:
            b = self._buckets[k]
            i = bisect.bisect_left(b, seq)
            if i < len(b) and b[i] == seq:
                del b[i]
            if not b:
                del self._buckets[k]
        self._by_id.pop((t.get("_cluster"), arn.rsplit("/", 1)[-1]), None)
        self._account(t, -1)

    def _account(self, t, sign):
        inst = t.get("containerInstanceArn")
        if not inst or t.get("lastStatus") == "STOPPED":
            return
        r = t.get("_reserved") or {}
        u = self._usage.setdefault(inst, [0, 0, collections.Counter(), collections.Counter()])
        u[0] += sign * r.get("cpu", 0)
        u[1] += sign * r.get("memory", 0)
        for i, proto in ((2, "tcp"), (3, "udp")):
            for p in r.get(proto, []):
                u[i][p] += sign
                if u[i][p] <= 0:
                    del u[i][p]

    # ------------------------------------------------------------ queries
    def arns(self, key):
        """ARNs of the bucket's tasks, in creation order (a generator)."""
        arn_of = self._arn_of
        return (arn_of[s] for s in list(self._buckets.get(key, ())))

    def tasks(self, key):
        return (dict.__getitem__(self, a) for a in self.arns(key))

    def newest(self, keys, n):
        """The n most recently created tasks of the buckets, newest first."""
        seqs = sorted((s for k in keys for s in self._buckets.get(k, ())[-n:]), reverse=True)[:n]
        return [dict.__getitem__(self, self._arn_of[s]) for s in seqs]

    def count(self, key):
        return len(self._buckets.get(key, ()))

    def by_id(self, cluster, task_id):
        arn = self._by_id.get((cluster, task_id))
        return dict.__getitem__(self, arn) if arn is not None else None

    def usage(self, instance_arn):
        """(cpu, memory, [tcp ports], [udp ports]) reserved on the instance by its tasks not STOPPED."""
        u = self._usage.get(instance_arn)
        if u is None:
            return 0, 0, [], []
        return u[0], u[1], sorted(u[2].elements()), sorted(u[3].elements())
