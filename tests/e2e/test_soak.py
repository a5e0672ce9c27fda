"""Soak (bounded: 50 tasks of tests/reliability/soak.py, whose long run is
--tasks 1000): every task reported STOPPED in order and once, the agent
forgets them after the cleanup wait, Docker keeps nothing, RSS bounded, a
clean SIGTERM at the end, no sanitizer report."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reliability"))

import soak  # noqa: E402


def test_soak_50_tasks_rss_bounded():
    n = int(os.environ.get("SOAK_TASKS", "50"))
    res = soak.run(tasks=n, concurrency=8, seed=int(os.environ.get("SOAK_SEED", "50")), verbose=False,
                   cleanup_wait="5s")
    summary = {k: res.get(k) for k in ("tasks_stopped", "tasks_per_second", "rss_first_kb",
                                       "rss_peak_first_half_kb", "rss_peak_kb", "rss_final_kb",
                                       "checkpoint_bytes", "seconds")}
    assert not res["problems"], "%s\n%s" % (summary, "\n".join(res["problems"]))
    assert res["tasks_stopped"] == n, summary
