"""Fault injection (bounded: one round of every scenario of
tests/reliability/faults.py, fault windows halved).  Docker engine faults go
through a proxy on a private unix socket (DOCKER_HOST), never the host
daemon; control plane faults through its /_local/faults API.  After each
scenario the invariants of tests/reliability/harness.py must hold; the
agent's RSS must not grow by more than 64 MiB over the run; SIGTERM at the
end exits 0.

Two scenarios expose known engine bugs and are marked xfail (non-strict)
until fixed; RELIABILITY_STRICT=1 makes them ordinary tests:
  - StopTask while Docker is unreachable: the task is reported STOPPED while
    its container keeps running (src/engine/engine.c on_stop_inspect);
  - Docker unreachable when cleanup is due: the task is dropped from state,
    its container leaked (src/engine/engine.c on_removed / removal_progress).

Long run: tests/reliability/faults.py --rounds N
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reliability"))

import faults  # noqa: E402

SEED = int(os.environ.get("FAULTS_SEED", "4242"))
STRICT = os.environ.get("RELIABILITY_STRICT") == "1"


def known_bug(reason):
    return pytest.mark.xfail(not STRICT, reason=reason, strict=False)


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


@known_bug("engine reports a task STOPPED when docker stop failed (engine unreachable): container still running")
def test_stop_while_docker_unreachable():
    _check(_run(["docker_unreachable_at_stop"], cleanup_wait="3h"))


@known_bug("engine drops a task from state when container removal failed (engine unreachable): container leaked")
def test_docker_unreachable_when_cleanup_is_due():
    _check(_run(["docker_unreachable_at_cleanup"], cleanup_wait="6s"))


def test_control_plane_faults():
    _check(_run([f.__name__ for f in faults.CP_SCENARIOS], cleanup_wait="3h"))
