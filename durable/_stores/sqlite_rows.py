"""Rows of the SQLite store: JSON values as text, and the shared row mapping (``rows.py``)
bound to them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from . import rows
from .base import EventRecord, RunRecord, StepRecord
from .rows import EVENT_COLUMNS, RUN_COLUMNS, STEP_COLUMNS, TERMINAL

__all__ = [
    "EVENT_COLUMNS",
    "RUN_CHANGES",
    "RUN_COLUMNS",
    "STEP_COLUMNS",
    "TERMINAL",
    "dump",
    "event_from",
    "event_row",
    "load",
    "run_changes",
    "run_from",
    "run_row",
    "step_from",
    "step_row",
]

#: ``status=?, ...``: the columns :func:`run_changes` gives values for
RUN_CHANGES = rows.run_assignments("?")

#: one decoder for every row (and the shared row encoder: ``rows.json_text``)
_decode = json.JSONDecoder().decode
dump = rows.json_text


def load(text: str | None) -> Any:
    return None if text is None else _decode(text)


def run_row(run: RunRecord) -> tuple[Any, ...]:
    return rows.run_row(run, _run_json(run))


def _run_json(run: RunRecord) -> rows.Encode:
    """:data:`dump`, except that a run's one trigger event is encoded once: its ``events``
    column is that text in brackets (the same text ``dump`` would write for the list)."""
    if len(run.events) != 1 or run.events[0] is not run.event:
        return dump
    event = dump(run.event)

    def encode(value: Any) -> Any:
        if value is run.event:
            return event
        if value is run.events:
            return f"[{event}]"
        return dump(value)

    return encode


def run_changes(run: RunRecord) -> tuple[Any, ...]:
    return rows.run_changes(run, dump)


def run_from(row: Sequence[Any]) -> RunRecord:
    return rows.run_from(row, load)


def event_row(event: EventRecord) -> tuple[Any, ...]:
    return rows.event_row(event, dump)


def event_from(row: Sequence[Any]) -> EventRecord:
    return rows.event_from(row, load)


def step_row(step: StepRecord) -> tuple[Any, ...]:
    return rows.step_row(step, dump)


def step_from(row: Sequence[Any]) -> StepRecord:
    return rows.step_from(row, load)
