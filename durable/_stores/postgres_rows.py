"""Rows of the PostgreSQL store: JSON values as ``jsonb``, and the shared row mapping
(``rows.py``) bound to them.

Values go in wrapped in :class:`psycopg.types.json.Jsonb` and come back as Python values
(psycopg decodes them); ``output`` stays JSON text, spelled as written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from . import rows
from .base import EventRecord, RunRecord, StepRecord
from .rows import EVENT_COLUMNS, RUN_COLUMNS, STEP_COLUMNS, TERMINAL, json_text

__all__ = [
    "EVENT_COLUMNS",
    "INSERT_EVENTS",
    "INSERT_RUNS",
    "RUN_CHANGES",
    "RUN_COLUMNS",
    "STEP_COLUMNS",
    "TERMINAL",
    "UPSERT_STEPS",
    "WRITE_RUNS",
    "event_from",
    "event_insert_row",
    "json_text",
    "json_value",
    "run_changes",
    "run_from",
    "run_insert_row",
    "run_row",
    "run_write_row",
    "step_from",
    "step_row",
]

#: ``status=%s, ...``: the columns :func:`run_changes` gives values for
RUN_CHANGES = rows.run_assignments("%s")


def json_value(value: Any) -> Any:
    """``value`` as a jsonb parameter (None stays NULL)."""
    if value is None:
        return None
    from psycopg.types.json import Jsonb

    return Jsonb(value)


def _decoded(value: Any) -> Any:
    return value  # psycopg decodes jsonb itself


def run_row(run: RunRecord) -> tuple[Any, ...]:
    """The values of ``RUN_COLUMNS`` for ``run``."""
    return rows.run_row(run, json_value)


def run_changes(run: RunRecord) -> tuple[Any, ...]:
    """The values of ``RUN_CHANGES`` for ``run``."""
    return rows.run_changes(run, json_value)


def run_from(row: Sequence[Any]) -> RunRecord:
    """The run of a row of ``RUN_COLUMNS``."""
    return rows.run_from(row, _decoded)


def event_from(row: Sequence[Any]) -> EventRecord:
    """The event of a row of ``EVENT_COLUMNS``."""
    return rows.event_from(row, _decoded)


def step_row(step: StepRecord) -> tuple[Any, ...]:
    """The values of ``STEP_COLUMNS`` for ``step``, JSON encoded now (for :data:`UPSERT_STEPS`)."""
    return _typed(rows.step_row(step, json_text), _STEP_CASTS)


def step_from(row: Sequence[Any]) -> StepRecord:
    """The step of a row of ``STEP_COLUMNS``."""
    return rows.step_from(row, _decoded)


def _arrays(types: Sequence[str]) -> str:
    """The ``unnest`` parameters of columns of ``types``, in binary (``%b``: psycopg dumps a
    text array ~4x slower); a jsonb column goes as text, cast where it is read."""
    return ", ".join(f"%b::{'text' if kind == 'jsonb' else kind}[]" for kind in types)


def _value(name: str, kind: str) -> str:
    """Column ``name`` of the unnested arrays, as its own type."""
    return f"u.{name}::jsonb" if kind == "jsonb" else f"u.{name}"


def _insert_many(
    table: str,
    columns: str,
    types: Sequence[str],
    computed: Sequence[tuple[str, str, str]] = (),
) -> str:
    """``INSERT INTO table (columns) SELECT ... FROM unnest(...)``: one array per column (a
    jsonb column goes as text and is cast), rows inserted in the arrays' order. ``computed``:
    more columns, each ``(column, expression, input)``, where a non-empty ``input`` is one
    more text array the expression may read as ``u.input``."""
    names = [name.strip() for name in columns.split(",")]
    inputs = [*names, *(extra for _, _, extra in computed if extra)]
    kinds = [*types, *("text" for _, _, extra in computed if extra)]
    values = [_value(name, kind) for name, kind in zip(names, types, strict=True)]
    targets = [*names, *(column for column, _, _ in computed)]
    values += [expression for _, expression, _ in computed]
    return (
        f"INSERT INTO {table} ({', '.join(targets)}) SELECT {', '.join(values)} "
        f"FROM unnest({_arrays(kinds)}) WITH ORDINALITY AS u({', '.join(inputs)}, "
        "position_in_batch) "
        "ORDER BY position_in_batch"
    )


_EVENT_TYPES = ("text", "text", "jsonb", "bigint", "jsonb", "float8", "jsonb", "text")
_STEP_TYPES = (
    *("text", "text", "text", "text", "text", "int", "text", "jsonb", "jsonb", "float8"),
    *("jsonb", "float8", "float8"),
)
_RUN_TYPES = (
    *("text", "text", "text", "float8", "float8", "float8", "float8", "int", "text"),
    *("text", "text", "text", "text", "jsonb", "text", "jsonb", "jsonb", "jsonb", "float8"),
    *("text", "text", "text", "float8"),
)
#: Many runs in one statement (``Session.defer``; rows of :func:`run_insert_row`), stamped
#: as every write of a run is (the last array: the writing server's id).
INSERT_RUNS = _insert_many(
    "runs",
    RUN_COLUMNS,
    _RUN_TYPES,
    computed=(
        ("updated_at", "extract(epoch FROM clock_timestamp())", ""),
        ("updated_xid", "pg_current_xact_id()", ""),
        ("updated_by", "u.writer", "writer"),
    ),
)
_CHANGE_TYPES = (
    *("text", "float8", "float8", "float8", "int", "text", "text", "jsonb", "text", "jsonb"),
    *("float8", "text", "text", "text"),
)
#: Many runs' changes in one statement (``Session.defer``; rows of :func:`run_write_row`):
#: ``update_run``, and ``end_run`` (``ending``: drops its ``rerun_at``) of a run this
#: transaction holds locked and unended. Stamped as every write of a run is.
WRITE_RUNS = (
    "UPDATE runs SET "
    + ", ".join(
        f"{column}={_value(column, kind)}"
        for column, kind in zip(rows.RUN_CHANGING, _CHANGE_TYPES, strict=True)
    )
    + ", rerun_at=CASE WHEN u.ending THEN NULL ELSE runs.rerun_at END, "
    "updated_at=extract(epoch FROM clock_timestamp()), updated_xid=pg_current_xact_id(), "
    f"updated_by=u.writer FROM unnest(%b::text[], {_arrays(_CHANGE_TYPES)}, %b::bool[], "
    f"%b::text[]) AS u(run_id, {', '.join(rows.RUN_CHANGING)}, ending, writer) "
    "WHERE runs.run_id = u.run_id"
)
#: Many steps in one statement (``Session.defer``; rows of :func:`step_row`).
UPSERT_STEPS = _insert_many("steps", STEP_COLUMNS, _STEP_TYPES) + (
    " ON CONFLICT (run_id, key) DO UPDATE SET id=excluded.id, kind=excluded.kind, "
    "status=excluded.status, position=excluded.position, output=excluded.output, "
    "error=excluded.error, attempts=excluded.attempts, wake_at=excluded.wake_at, "
    "detail=excluded.detail, started_at=excluded.started_at, ended_at=excluded.ended_at"
)
#: Many events in one statement, in the order received (``Session.defer``).
INSERT_EVENTS = _insert_many("events", EVENT_COLUMNS, _EVENT_TYPES)


def _typed(
    values: Sequence[Any], casts: Sequence[tuple[int, Callable[[Any], Any]]]
) -> tuple[Any, ...]:
    """``values`` with the numbers of ``casts``' columns made their arrays' element types:
    psycopg refuses a list that mixes ``int`` and ``float`` (a priority of ``0`` beside one
    of ``0.5``, a clock read as an int)."""
    row = list(values)
    for index, cast in casts:
        if row[index] is not None:
            row[index] = cast(row[index])
    return tuple(row)


def _casts(types: Sequence[str]) -> tuple[tuple[int, Callable[[Any], Any]], ...]:
    return tuple((index, _CASTS[kind]) for index, kind in enumerate(types) if kind in _CASTS)


_CASTS: dict[str, Callable[[Any], Any]] = {"float8": float, "int": int, "bigint": int}


_RUN_CASTS = _casts(_RUN_TYPES)
_EVENT_CASTS = _casts(_EVENT_TYPES)
_STEP_CASTS = _casts(_STEP_TYPES)
_CHANGE_CASTS = _casts(_CHANGE_TYPES)


def run_insert_row(run: RunRecord, server_id: str) -> tuple[Any, ...]:
    """A row of :data:`INSERT_RUNS`: ``RUN_COLUMNS``' values, JSON encoded now, and the
    writing server."""
    return (*_typed(rows.run_row(run, json_text), _RUN_CASTS), server_id)


def run_write_row(run: RunRecord, server_id: str, *, ending: bool) -> tuple[Any, ...]:
    """A row of :data:`WRITE_RUNS`."""
    changes = _typed(rows.run_changes(run, json_text), _CHANGE_CASTS)
    return (run.run_id, *changes, ending, server_id)


def event_insert_row(event: EventRecord) -> tuple[Any, ...]:
    """A row of :data:`INSERT_EVENTS`, JSON encoded now."""
    return _typed(rows.event_row(event, json_text), _EVENT_CASTS)
