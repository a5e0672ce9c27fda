"""Crash anywhere (bounded sample of tests/reliability/crash.py): task churn
through the local control plane while the agent is kill -9'd at 6 seeded
random instants and restarted each time; after every restart the invariants
of tests/reliability/harness.py must hold (Docker and the agent agree, no
duplicate container, every placed task RUNNING or reported STOPPED, state
changes in order, nothing run twice, the checkpoint loads).

Reproduce a failure with the seed it prints:
    CRASH_SEED=<seed> AGENT_BIN=... tests/reliability/crash.py --instants 6 --keep
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reliability"))

import crash  # noqa: E402


def test_kill9_at_random_instants_under_churn():
    seed = int(os.environ.get("CRASH_SEED", "20261129"))
    instants = int(os.environ.get("CRASH_INSTANTS", "6"))
    res = crash.run(instants=instants, seed=seed, settle_every=1, settle_timeout=60, max_running=4,
                    verbose=False)
    summary = "seed=%d instants=%d/%d kills=%d (early %d) ops=%s" % (
        seed, res["instants_done"], instants, res["kills"], res.get("early_kills", 0), res["ops"])
    assert not res["problems"], summary + "\n" + "\n".join(res["problems"])
    assert res["instants_done"] == instants, summary
    assert res["kills"] >= instants
