"""Rows of the PostgreSQL store: JSON values as ``jsonb``, and the shared row mapping
(``rows.py``) bound to them.

Values go in wrapped in :class:`psycopg.types.json.Jsonb` and come back as Python values
(psycopg decodes them); ``output`` stays JSON text, spelled as written.
"""

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
    "event_from",
    "json_text",
    "json_value",
    "run_changes",
    "run_from",
    "run_row",
]

#: ``status=%s, ...``: the columns :func:`run_changes` gives values for
RUN_CHANGES = rows.run_assignments("%s")


_encode = json.JSONEncoder(separators=(",", ":")).encode


def json_text(value: Any) -> str | None:
    """``value`` as JSON text for a ``jsonb`` cast (None stays NULL), encoded now: a value
    changed after the call is not what gets written."""
    return None if value is None else _encode(value)


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
