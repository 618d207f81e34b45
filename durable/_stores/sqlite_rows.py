"""Rows of the SQLite store: column lists, and records to and from their rows."""

from __future__ import annotations

import json
from typing import Any

from .base import EventRecord, RunRecord, RunStatus

RUN_COLUMNS = (
    "run_id, function_id, status, created_at, started_at, ended_at, ready_at, attempt, trigger, "
    "parent_run_id, parent_step_key, cancel_reason, idempotency_key, concurrency_keys, output, "
    "error, event, events, deadline_at, deadline_reason, cancel_event_id, queued_reason, priority"
)
STEP_COLUMNS = (
    "run_id, key, id, kind, status, position, output, error, attempts, wake_at, detail, "
    "started_at, ended_at"
)
EVENT_COLUMNS = "id, name, data, ts, user_data, received_at, run_ids, skipped"
#: ``TERMINAL_STATUSES`` in SQL, written as the ``runs_unfinished`` index's condition is, so
#: that queries ``WHERE status NOT IN`` it can use that partial index.
TERMINAL = "('completed', 'failed', 'cancelled')"


#: one encoder for every row (``json.dumps`` with options builds a new one per call)
_encode = json.JSONEncoder(separators=(",", ":")).encode
_decode = json.JSONDecoder().decode


def dump(value: Any) -> str | None:
    return None if value is None else _encode(value)


def load(text: str | None) -> Any:
    return None if text is None else _decode(text)


def run_row(run: RunRecord) -> tuple[Any, ...]:
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
        dump(run.concurrency_keys),
        run.output,
        dump(run.error),
        dump(run.event),
        dump(run.events),
        run.deadline_at,
        run.deadline_reason,
        run.cancel_event_id,
        run.queued_reason,
        run.priority,
    )


def run_from(row: tuple[Any, ...]) -> RunRecord:
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
        concurrency_keys=load(row[13]),
        output=row[14],
        error=load(row[15]),
        event=load(row[16]),
        events=load(row[17]),
        deadline_at=row[18],
        deadline_reason=row[19],
        cancel_event_id=row[20],
        queued_reason=row[21],
        priority=row[22],
    )


def event_row(event: EventRecord) -> tuple[Any, ...]:
    return (
        event.id,
        event.name,
        dump(event.data),
        event.ts,
        dump(event.user),
        event.received_at,
        dump(event.run_ids),
        event.skipped,
    )


def event_from(row: tuple[Any, ...]) -> EventRecord:
    return EventRecord(
        id=row[0],
        name=row[1],
        data=load(row[2]),
        ts=row[3],
        user=load(row[4]),
        received_at=row[5],
        run_ids=load(row[6]),
        skipped=row[7],
    )
