"""End to end: many real agents against one control plane (tests/lib/fleet.py).

FLEET_AGENTS agents (default 4; bench/fleet.py runs 20) each with its own data dir and
introspection port, one service of FLEET_TASKS (default 3) sleepers per agent spread over
them: every task RUNNING, each agent running exactly its own tasks (introspection), then a
control-plane restart: every agent reconnects (the delays are printed), no task is lost or
duplicated, and the service stays steady; then scaled to 0 and deleted."""

import os
import sys

from conftest import ROOT, containers_for, wait_for

sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
from fleet import Fleet, summary  # noqa: E402

N = int(os.environ.get("FLEET_AGENTS", "4"))
T = int(os.environ.get("FLEET_TASKS", "3"))


def test_fleet_service_and_controlplane_restart(tmpdir_path, test_image):
    f = Fleet(tmpdir_path, N)
    try:
        f.wait_all_connected()
        secs = f.run_service(test_image, T)
        arns = sorted(f.task_arns())
        assert len(arns) == N * T
        # each agent runs its own T tasks, and Docker has exactly one container per task
        per_agent = []
        for a in f.agents:
            tasks = a.introspect("/v1/tasks")["Tasks"]
            per_agent.append(sorted(t["Arn"] for t in tasks if t.get("KnownStatus") == "RUNNING"))
        assert sorted(sum(per_agent, [])) == arns
        assert all(len(p) == T for p in per_agent), [len(p) for p in per_agent]
        running = [c for c in containers_for(f.cluster) if c[2] == "running"]
        assert len(running) == N * T, running
        delays = f.restart_controlplane()
        print("\nfleet %d agents x %d tasks: all RUNNING in %.1fs; reconnect after restart (s): %s"
              % (N, T, secs, summary(delays)))
        assert len(delays) == N
        wait_for(lambda: f.service()["runningCount"] == N * T and len(f.service()["deployments"]) == 1, 60,
                 what="service steady after the restart")
        assert sorted(f.task_arns()) == arns
        assert len([c for c in containers_for(f.cluster) if c[2] == "running"]) == N * T
        print("control plane: %s" % f.stats())
    finally:
        f.scale_down_and_stop()
