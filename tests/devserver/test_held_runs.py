"""A due run whose function is not loaded: held (queued, with the reason), not failed."""

from __future__ import annotations

import time

from tests.support.held import REASON, hold_a_run
from tests.support.live import LiveServer


def test_a_held_run_is_queued_with_its_reason_and_goes_on_once_loaded(
    live_server: LiveServer,
) -> None:
    run_id = hold_a_run(live_server)
    run = live_server.get(f"/api/runs/{run_id}")
    assert (run["status"], run["queued_reason"], run["error"]) == ("queued", REASON, None)
    listed = live_server.get("/api/runs", status="queued")["runs"]
    assert [(r["run_id"], r["queued_reason"]) for r in listed] == [(run_id, REASON)]
    time.sleep(0.2)  # held: not retried in a loop, not failed
    assert live_server.get(f"/api/runs/{run_id}")["status"] == "queued"

    orchestrator = live_server.ctx.orchestrator
    orchestrator.parking.reason_of = lambda function_id: None  # every module loads now

    async def reload() -> None:
        orchestrator.set_functions(orchestrator.functions())

    live_server.call(reload)
    failed = live_server.wait_run(run_id, "failed")  # loaded cleanly without it: it is gone
    assert failed["error"]["name"] == "UnknownFunctionError"
    assert failed["queued_reason"] is None
