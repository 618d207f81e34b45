"""The inspector's run view says that a running run's body failed and when it retries."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from durable._stores.base import RunRecord, RunStatus
from durable.tui.app import DurableApp
from tests.support.live import LiveServer
from tests.support.tui_pilot import screen_text, until


def retrying_run(live_server: LiveServer, run_id: str = "retrying-run-1") -> str:
    """A run whose handler body raised, waiting an hour for its next attempt."""
    orchestrator = live_server.ctx.orchestrator

    async def add() -> None:
        now = live_server.ctx.clock.now()
        orchestrator.store.insert_run(
            RunRecord(
                run_id=run_id,
                function_id="flaky",
                status=RunStatus.QUEUED,
                event={"name": "x/flaky", "data": {}, "id": "e-flaky", "ts": 0},
                created_at=now,
            )
        )
        run = orchestrator.store.get_run(run_id)
        assert run is not None
        run.status, run.attempt, run.started_at = RunStatus.RUNNING, 1, now
        run.error = {"name": "ConnectionError", "message": "payments API down"}
        run.ready_at = now + 3600
        orchestrator.store.update_run(run)
        orchestrator.flush()

    live_server.call(add)
    return run_id


async def test_the_run_view_says_a_body_error_waits_for_its_retry(
    live_server: LiveServer, tmp_path: Path
) -> None:
    run_id = retrying_run(live_server)
    view = live_server.get(f"/api/runs/{run_id}")
    assert view["status"] == "running" and view["retry_at"] is not None
    assert live_server.get("/api/runs")["runs"][0]["retry_at"] == view["retry_at"]
    app = DurableApp(live_server.url, fixtures_dir=tmp_path / "fixtures")
    async with app.run_test(size=(200, 40)) as pilot:
        await until(pilot, lambda: app.connection.state == "connected", what="the stream")
        await pilot.press("enter")
        await until(pilot, lambda: run_id in screen_text(app), what="the run view")
        await until(
            pilot,
            lambda: (
                "↻ attempt 1 failed (ConnectionError: payments API down); retry at"
                in screen_text(app)
            ),
            what="the retry notice",
        )


def test_only_a_running_run_with_a_body_error_has_a_retry_time() -> None:
    from durable.devserver.views import run_view

    base = RunRecord(
        run_id="r", function_id="f", status=RunStatus.RUNNING, event={}, created_at=0.0
    )
    in_pass = dataclasses.replace(base, ready_at=None)
    due_again = dataclasses.replace(base, ready_at=60.0)  # a wake-up, no error: not a retry
    retrying = dataclasses.replace(base, ready_at=60.0, error={"name": "E", "message": "m"})
    failed = dataclasses.replace(retrying, status=RunStatus.FAILED)
    assert [run_view(r)["retry_at"] for r in (in_pass, due_again, failed)] == [None] * 3
    assert run_view(retrying)["retry_at"] == "1970-01-01T00:01:00.000Z"
