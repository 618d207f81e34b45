"""Records to and from table rows, shared by the SQL stores (SQLite, PostgreSQL).

The columns and their order are the same in both; only how a JSON value is written and read
differs (text in SQLite, ``jsonb`` in PostgreSQL), so each store passes its own ``encode``
and ``decode``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from .base import EventRecord, RunRecord, RunStatus, StepRecord, StepStatus

Encode = Callable[[Any], Any]
Decode = Callable[[Any], Any]

#: one encoder for every row (``json.dumps`` with options builds a new one per call)
_encode = json.JSONEncoder(separators=(",", ":")).encode


def json_text(value: Any) -> str | None:
    """``value`` as compact JSON text (None stays NULL), encoded now: a value changed after
    the call is not what gets written."""
    return None if value is None else _encode(value)


RUN_COLUMNS = (
    "run_id, function_id, status, created_at, started_at, ended_at, ready_at, attempt, trigger, "
    "parent_run_id, parent_step_key, cancel_reason, idempotency_key, concurrency_keys, output, "
    "error, event, events, deadline_at, deadline_reason, cancel_event_id, queued_reason, priority"
)
#: What changes after a run is inserted (``update_run``, ``end_run``), in the order of
#: :func:`run_changes`.
RUN_CHANGING = (
    "status",
    "started_at",
    "ended_at",
    "ready_at",
    "attempt",
    "cancel_reason",
    "idempotency_key",
    "concurrency_keys",
    "output",
    "error",
    "deadline_at",
    "deadline_reason",
    "cancel_event_id",
    "queued_reason",
)
STEP_COLUMNS = (
    "run_id, key, id, kind, status, position, output, error, attempts, wake_at, detail, "
    "started_at, ended_at"
)
EVENT_COLUMNS = "id, name, data, ts, user_data, received_at, run_ids, skipped"
#: ``TERMINAL_STATUSES`` in SQL, written as the unfinished-runs partial index's condition is,
#: so that queries ``WHERE status NOT IN`` it can use that index.
TERMINAL = "('completed', 'failed', 'cancelled')"


def run_assignments(mark: str) -> str:
    """``status=?, started_at=?, ...``: the columns :func:`run_changes` gives values for."""
    return ", ".join(f"{column}={mark}" for column in RUN_CHANGING)


def run_row(run: RunRecord, encode: Encode) -> tuple[Any, ...]:
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
        encode(run.concurrency_keys),
        run.output,
        encode(run.error),
        encode(run.event),
        encode(run.events),
        run.deadline_at,
        run.deadline_reason,
        run.cancel_event_id,
        run.queued_reason,
        run.priority,
    )


def run_changes(run: RunRecord, encode: Encode) -> tuple[Any, ...]:
    """The values of :func:`run_assignments`' columns for ``run``."""
    return (
        run.status.value,
        run.started_at,
        run.ended_at,
        run.ready_at,
        run.attempt,
        run.cancel_reason,
        run.idempotency_key,
        encode(run.concurrency_keys),
        run.output,
        encode(run.error),
        run.deadline_at,
        run.deadline_reason,
        run.cancel_event_id,
        run.queued_reason,
    )


def run_from(row: Sequence[Any], decode: Decode) -> RunRecord:
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
        concurrency_keys=decode(row[13]),
        output=row[14],
        error=decode(row[15]),
        event=decode(row[16]),
        events=decode(row[17]),
        deadline_at=row[18],
        deadline_reason=row[19],
        cancel_event_id=row[20],
        queued_reason=row[21],
        priority=row[22],
    )


def event_row(event: EventRecord, encode: Encode) -> tuple[Any, ...]:
    """The values of ``EVENT_COLUMNS`` for ``event``."""
    return (
        event.id,
        event.name,
        encode(event.data),
        event.ts,
        encode(event.user),
        event.received_at,
        encode(event.run_ids),
        event.skipped,
    )


def event_from(row: Sequence[Any], decode: Decode) -> EventRecord:
    """The event of a row of ``EVENT_COLUMNS``."""
    return EventRecord(
        id=row[0],
        name=row[1],
        data=decode(row[2]),
        ts=row[3],
        user=decode(row[4]),
        received_at=row[5],
        run_ids=decode(row[6]),
        skipped=row[7],
    )


def step_row(step: StepRecord, encode: Encode) -> tuple[Any, ...]:
    """The values of ``STEP_COLUMNS`` for ``step``."""
    return (
        step.run_id,
        step.key,
        step.id,
        step.kind,
        step.status.value,
        step.position,
        step.output,
        encode(step.error),
        encode(step.attempts),
        step.wake_at,
        encode(step.detail),
        step.started_at,
        step.ended_at,
    )


def step_from(row: Sequence[Any], decode: Decode) -> StepRecord:
    """The step of a row of ``STEP_COLUMNS``."""
    return StepRecord(
        run_id=row[0],
        key=row[1],
        id=row[2],
        kind=row[3],
        status=StepStatus(row[4]),
        position=row[5],
        output=row[6],
        error=decode(row[7]),
        attempts=decode(row[8]),
        wake_at=row[9],
        detail=decode(row[10]),
        started_at=row[11],
        ended_at=row[12],
    )
