"""Building the wait records that ``step.wait_for_event`` and ``cancel_on`` leave behind."""

from __future__ import annotations

from .._define.matching import field_value, match_field
from .._stores.base import RunRecord, WaitRecord


def make_wait(
    run: RunRecord,
    *,
    step_key: str,
    event_name: str,
    condition: str | None,
    expires_at: float,
    since: float,
    kind: str = "step",
) -> WaitRecord:
    """A wait record, indexed by the matched field's value when the condition allows."""
    field = match_field(condition)
    return WaitRecord(
        run_id=run.run_id,
        step_key=step_key,
        event_name=event_name,
        condition=condition,
        expires_at=expires_at,
        since=since,
        kind=kind,
        match_field=field,
        match_value=field_value(run.event, field) if field else None,
    )
