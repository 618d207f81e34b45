"""Store records for the store tests: a queued run, as the engine would insert it."""

from __future__ import annotations

from durable._stores.base import RunRecord, RunStatus

#: when the records are created unless a test says otherwise
AT = 1_000_000.0


def queued_run(run_id: str, *, at: float = AT, ready: bool = False) -> RunRecord:
    """A queued run of function ``f`` (event ``go``) created at ``at``; due then if ``ready``."""
    return RunRecord(
        run_id=run_id,
        function_id="f",
        status=RunStatus.QUEUED,
        event={"name": "go", "data": {}},
        created_at=at,
        ready_at=at if ready else None,
    )
