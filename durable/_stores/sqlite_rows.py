"""Rows of the SQLite store: JSON values as text, and the shared row mapping (``rows.py``)
bound to them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from . import rows
from .base import EventRecord, RunRecord
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
]

#: ``status=?, ...``: the columns :func:`run_changes` gives values for
RUN_CHANGES = rows.run_assignments("?")

#: one encoder for every row (``json.dumps`` with options builds a new one per call)
_encode = json.JSONEncoder(separators=(",", ":")).encode
_decode = json.JSONDecoder().decode


def dump(value: Any) -> str | None:
    return None if value is None else _encode(value)


def load(text: str | None) -> Any:
    return None if text is None else _decode(text)


def run_row(run: RunRecord) -> tuple[Any, ...]:
    return rows.run_row(run, dump)


def run_changes(run: RunRecord) -> tuple[Any, ...]:
    return rows.run_changes(run, dump)


def run_from(row: Sequence[Any]) -> RunRecord:
    return rows.run_from(row, load)


def event_row(event: EventRecord) -> tuple[Any, ...]:
    return rows.event_row(event, dump)


def event_from(row: Sequence[Any]) -> EventRecord:
    return rows.event_from(row, load)
