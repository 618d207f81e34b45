"""A run held back because its function is not loaded, on a live server (``tests.support.live``)."""

from __future__ import annotations

from durable._stores.base import RunRecord, RunStatus
from tests.support.live import LiveServer

REASON = "function not loaded: /srv/app/gone.py:3: SyntaxError: invalid syntax"


def hold_a_run(live_server: LiveServer, run_id: str = "held-run-1") -> str:
    """Make the server hold back runs of unknown functions (as ``durable dev`` does while a
    module fails to load), add a due run of one, and wait until it is held."""
    orchestrator = live_server.ctx.orchestrator
    orchestrator.parking.reason_of = lambda function_id: REASON

    async def add() -> None:
        now = live_server.ctx.clock.now()
        run = RunRecord(
            run_id=run_id,
            function_id="gone",
            status=RunStatus.QUEUED,
            event={"name": "x/gone", "data": {}, "id": "e-gone", "ts": 0},
            created_at=now,
            ready_at=now,
        )
        orchestrator.store.insert_run(run)
        orchestrator.flush()
        orchestrator.scheduler.wakeup.set()

    live_server.call(add)
    live_server.wait_for(lambda: live_server.get(f"/api/runs/{run_id}")["queued_reason"])
    return run_id
