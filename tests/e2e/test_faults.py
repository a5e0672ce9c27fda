"""Fault injection (bounded: one round of every scenario of
tests/reliability/faults.py, fault windows halved).  Docker engine faults go
through a proxy on a private unix socket (DOCKER_HOST), never the host
daemon; control plane faults through its /_local/faults API.  After each
scenario the invariants of tests/reliability/harness.py must hold; the
agent's RSS must not grow by more than 64 MiB over the run; SIGTERM at the
end exits 0.

Two scenarios are regression tests of engine bugs this suite found (both
fixed in src/engine/engine.c):
  - StopTask while Docker is unreachable: the task was reported STOPPED while
    its container kept running (now: the stop is retried with back-off, the
    container stays RUNNING until Docker confirms it stopped);
  - Docker unreachable when cleanup is due: the task was dropped from state,
    its container leaked (now: the task is kept and removal retried).

Long run: tests/reliability/faults.py --rounds N
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reliability"))

import faults  # noqa: E402

SEED = int(os.environ.get("FAULTS_SEED", "4242"))


def _check(res):
    msg = "seed=%d faults=%s rss=%s scenarios=%s" % (SEED, res.get("faults_injected"), res.get("rss_kb"),
                                                     res.get("scenarios"))
    assert not res["problems"], msg + "\n" + "\n".join(res["problems"])


def _run(names, **kw):
    return faults.run(names, rounds=1, seed=SEED, verbose=False, settle_timeout=40, scale=0.5, **kw)


def test_docker_engine_faults():
    # stopped tasks are kept (3h cleanup wait) so that a removal never falls
    # into an outage here: that case has its own test below
    names = ["docker_events_cut", "docker_unreachable", "docker_rm", "docker_hung"]
    _check(_run(names, cleanup_wait="3h"))


def test_stop_while_docker_unreachable():
    _check(_run(["docker_unreachable_at_stop"], cleanup_wait="3h"))


def test_docker_unreachable_when_cleanup_is_due():
    _check(_run(["docker_unreachable_at_cleanup"], cleanup_wait="6s"))


def test_control_plane_faults():
    _check(_run([f.__name__ for f in faults.CP_SCENARIOS], cleanup_wait="3h"))
