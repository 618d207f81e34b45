"""Rows of the PostgreSQL store: column lists, and records to and from rows.

JSON columns are ``jsonb``: values go in wrapped in :class:`psycopg.types.json.Jsonb` and come
back as Python values (psycopg decodes them); ``output`` stays JSON text, spelled as written.
"""

from __future__ import annotations

from typing import Any

from .base import EventRecord, RunRecord, RunStatus

RUN_COLUMNS = (
    "run_id, function_id, status, created_at, started_at, ended_at, ready_at, attempt, trigger, "
    "parent_run_id, parent_step_key, cancel_reason, idempotency_key, concurrency_keys, output, "
    "error, event, events, deadline_at, deadline_reason, cancel_event_id, queued_reason, priority"
)
#: What :func:`run_changes` gives values for, in its order (``update_run``, ``end_run``).
RUN_CHANGES = (
    "status=%s, started_at=%s, ended_at=%s, ready_at=%s, attempt=%s, cancel_reason=%s, "
    "idempotency_key=%s, concurrency_keys=%s, output=%s, error=%s, deadline_at=%s, "
    "deadline_reason=%s, cancel_event_id=%s, queued_reason=%s"
)
STEP_COLUMNS = (
    "run_id, key, id, kind, status, position, output, error, attempts, wake_at, detail, "
    "started_at, ended_at"
)
EVENT_COLUMNS = "id, name, data, ts, user_data, received_at, run_ids, skipped"
TERMINAL = "('completed', 'failed', 'cancelled')"


def json_value(value: Any) -> Any:
    """``value`` as a jsonb parameter (None stays NULL)."""
    if value is None:
        return None
    from psycopg.types.json import Jsonb

    return Jsonb(value)


def run_row(run: RunRecord) -> tuple[Any, ...]:
    """The values of ``RUN_COLUMNS`` for ``run``."""
    return (
        run.run_id,
        run.function_id,
        run.status.value,
        run.created_at,
        run.started_at,
        run.ended_at,
        run.ready_at,
        run.attempt,
        run.trigger,
        run.parent_run_id,
        run.parent_step_key,
        run.cancel_reason,
        run.idempotency_key,
        json_value(run.concurrency_keys),
        run.output,
        json_value(run.error),
        json_value(run.event),
        json_value(run.events),
        run.deadline_at,
        run.deadline_reason,
        run.cancel_event_id,
        run.queued_reason,
        run.priority,
    )


def run_changes(run: RunRecord) -> tuple[Any, ...]:
    """The values of ``RUN_CHANGES`` for ``run``: what changes after a run is inserted."""
    return (
        run.status.value,
        run.started_at,
        run.ended_at,
        run.ready_at,
        run.attempt,
        run.cancel_reason,
        run.idempotency_key,
        json_value(run.concurrency_keys),
        run.output,
        json_value(run.error),
        run.deadline_at,
        run.deadline_reason,
        run.cancel_event_id,
        run.queued_reason,
    )


def run_from(row: tuple[Any, ...]) -> RunRecord:
    """The run of a row of ``RUN_COLUMNS``."""
    return RunRecord(
        run_id=row[0],
        function_id=row[1],
        status=RunStatus(row[2]),
        created_at=row[3],
        started_at=row[4],
        ended_at=row[5],
        ready_at=row[6],
        attempt=row[7],
        trigger=row[8],
        parent_run_id=row[9],
        parent_step_key=row[10],
        cancel_reason=row[11],
        idempotency_key=row[12],
        concurrency_keys=row[13],
        output=row[14],
        error=row[15],
        event=row[16],
        events=row[17],
        deadline_at=row[18],
        deadline_reason=row[19],
        cancel_event_id=row[20],
        queued_reason=row[21],
        priority=row[22],
    )


def event_from(row: tuple[Any, ...]) -> EventRecord:
    """The event of a row of ``EVENT_COLUMNS``."""
    return EventRecord(
        id=row[0],
        name=row[1],
        data=row[2],
        ts=row[3],
        user=row[4],
        received_at=row[5],
        run_ids=row[6],
        skipped=row[7],
    )
