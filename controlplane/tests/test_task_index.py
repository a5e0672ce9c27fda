"""controlplane/task_index.py: after any sequence of changes, made through every
way the code changes a task (item assignment, setdefault, update, pop, del,
replacement, removal), each index bucket, the id map and the per-instance usage
equal what a scan of all tasks gives; buckets keep creation order; a table
rebuilt from the saved JSON is the same."""
import collections
import json
import random

from controlplane.task_index import TaskTable

CLUSTERS = ("a", "b")
INSTANCES = ("arn:i/1", "arn:i/2", None)
STATUSES = ("PENDING", "RUNNING", "STOPPED")


def scan(table):
    buckets = collections.defaultdict(list)
    usage = {}
    for arn, t in sorted(table.items(), key=lambda kv: kv[1]["createdAt"]):
        for k in TaskTable._keys(t):
            buckets[k].append(arn)
        inst = t.get("containerInstanceArn")
        if inst and t.get("lastStatus") != "STOPPED":
            r = t.get("_reserved") or {}
            u = usage.setdefault(inst, [0, 0, [], []])
            u[0] += r.get("cpu", 0)
            u[1] += r.get("memory", 0)
            u[2] += r.get("tcp", [])
            u[3] += r.get("udp", [])
    return buckets, {k: (u[0], u[1], sorted(u[2]), sorted(u[3])) for k, u in usage.items()}


def check(table):
    buckets, usage = scan(table)
    for k, arns in buckets.items():
        assert list(table.arns(k)) == arns, k
        assert table.count(k) == len(arns)
    assert set(table._buckets) == set(buckets)
    for inst in INSTANCES[:2]:
        assert table.usage(inst) == usage.get(inst, (0, 0, [], [])), inst
    for arn, t in table.items():
        assert table.by_id(t["_cluster"], arn.rsplit("/", 1)[-1]) is t


def new_task(i, rnd):
    c = rnd.choice(CLUSTERS)
    arn = "arn:aws:ecs:r:1:task/%s/%032x" % (c, i)
    t = {"taskArn": arn, "_cluster": c, "createdAt": float(i), "desiredStatus": "RUNNING",
         "lastStatus": rnd.choice(STATUSES), "group": rnd.choice(("family:x", "service:s")),
         "_reserved": {"cpu": 10, "memory": 20, "tcp": [8000 + i % 3], "udp": []}}
    inst = rnd.choice(INSTANCES)
    if inst:
        t["containerInstanceArn"] = inst
    if rnd.random() < 0.3:
        t["startedBy"] = "svc"
    return arn, t


def test_index_matches_scan_under_random_changes():
    rnd = random.Random(1917)
    table = TaskTable()
    for i in range(400):
        arn, t = new_task(i, rnd)
        table[arn] = t
        t = table[arn]
        op = rnd.randrange(9)
        victim = table[rnd.choice(list(table))]
        if op == 0:
            victim["lastStatus"] = rnd.choice(STATUSES)
        elif op == 1:
            victim["desiredStatus"] = "STOPPED"
        elif op == 2:
            victim.update(lastStatus="STOPPED", containerInstanceArn=rnd.choice(INSTANCES[:2]))
        elif op == 3:
            victim.pop("startedBy", None)
        elif op == 4:
            victim.setdefault("startedBy", "later")
        elif op == 5 and "group" in victim:
            del victim["group"]
        elif op == 6:
            victim["_reserved"] = {"cpu": 1, "memory": 1, "tcp": [9000], "udp": [53]}
        elif op == 7 and len(table) > 5:
            del table[victim["taskArn"]]
        elif op == 8:
            table[victim["taskArn"]] = dict(victim, lastStatus="RUNNING")   # replaced by a copy
        if i % 25 == 0:
            check(table)
    check(table)
    # the saved form (JSON) rebuilds the same indexes, in creation order
    again = TaskTable(json.loads(json.dumps(table)))
    check(again)
    for k in table._buckets:
        assert list(again.arns(k)) == list(table.arns(k))
    # newest(): the most recent tasks of the buckets, newest first
    newest = table.newest([("c", "a"), ("c", "b")], 7)
    assert [t["taskArn"] for t in newest] == [a for a, _ in sorted(table.items(), key=lambda kv: -kv[1]["createdAt"])][:7]


def test_changes_to_a_removed_task_do_not_touch_the_table():
    table = TaskTable()
    table["arn:t/a/1"] = {"taskArn": "arn:t/a/1", "_cluster": "a", "createdAt": 1, "desiredStatus": "RUNNING",
                          "lastStatus": "RUNNING"}
    t = table.pop("arn:t/a/1")
    t["lastStatus"] = "STOPPED"
    assert table.count(("cl", "a", "STOPPED")) == 0 and table.count(("c", "a")) == 0
