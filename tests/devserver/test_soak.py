"""The crash soak, reduced to 3 kill -9 cycles (``make soak`` runs 20 over 200 runs)."""

from __future__ import annotations

from bench._soak import soak


def test_three_kill_9_cycles_lose_nothing_and_rerun_no_committed_step() -> None:
    report = soak(cycles=3, runs=30, seed=1)
    assert report.problems == []
    assert report.lost_events == 0 and report.lost_runs == 0
    assert report.incomplete_runs == 0
    assert report.committed_reexecuted == 0
    assert report.reexecuted_in_flight <= report.reexecution_bound
