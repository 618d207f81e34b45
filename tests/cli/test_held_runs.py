"""``durable run ID`` says why a queued run is held back."""

from __future__ import annotations

from tests.support.cli import Invoke
from tests.support.held import REASON, hold_a_run
from tests.support.live import LiveServer


def test_run_shows_why_a_queued_run_is_held_back(invoke: Invoke, live_server: LiveServer) -> None:
    run_id = hold_a_run(live_server)
    shown = invoke("run", run_id)
    assert shown.exit_code == 0, shown.output
    status = next(line for line in shown.stdout.splitlines() if line.startswith("status"))
    assert "queued" in status and REASON in status
