"""The events the engine emits about a run (``durable/function.failed`` and ``.cancelled``).

They carry the run's trigger event and an error or a reason, any of which may be large: the
event is built to fit the 512 KB event limit *before* anything about the run is written, so
that ending a run never half-applies. Texts are trimmed with a visible marker first; only if
the trigger event alone leaves no room is its data left out (and the event says so).
"""

from __future__ import annotations

from typing import Any

from .._define.events import Event, validate_event
from .._ids import new_id
from .._limits import MAX_EVENT_BYTES
from .._serialization import dumps, encoded_size
from .._stores.base import RunRecord
from .._text import MAX_TEXT_CHARS, clean_error, trim_text

#: The shortest a text is trimmed to before the trigger event's data is left out instead.
_MIN_TEXT_CHARS = 256


def system_event(name: str, run: RunRecord, extra: dict[str, Any], *, now_ms: int) -> Event:
    """The validated event ``name`` about ``run`` (``data``: function_id, run_id, event and
    ``extra``), with its texts trimmed so that it fits :data:`MAX_EVENT_BYTES`."""
    extra = clean_error(extra)  # each text within MAX_TEXT_CHARS already
    base = {"name": name, "id": new_id(now_ms), "ts": now_ms}
    trigger: dict[str, Any] = run.event
    note: dict[str, Any] = {}
    while True:
        cap = MAX_TEXT_CHARS
        texts = extra
        while True:
            data = {
                "function_id": run.function_id,
                "run_id": run.run_id,
                "event": trigger,
                **texts,
                **note,
            }
            event = {**base, "data": data}
            fits = encoded_size(dumps(event)) <= MAX_EVENT_BYTES
            if fits or cap <= _MIN_TEXT_CHARS:
                break
            cap //= 2
            texts = _capped(extra, cap)
        if fits or note:
            break
        trigger, note = _without_data(run)
    return validate_event(event, now_ms=now_ms)


def _capped(value: Any, cap: int) -> Any:
    """``value`` with every string (not key) of over ``cap`` characters trimmed to it."""
    if isinstance(value, str):
        return trim_text(value, cap)
    if isinstance(value, dict):
        return {key: _capped(item, cap) for key, item in value.items()}
    if isinstance(value, list):
        return [_capped(item, cap) for item in value]
    return value


def _without_data(run: RunRecord) -> tuple[dict[str, Any], dict[str, Any]]:
    """The trigger event with its ``data`` and ``user`` left out, and the note saying so."""
    size = encoded_size(dumps(run.event))
    trigger: dict[str, Any] = {k: run.event[k] for k in ("name", "id", "ts") if k in run.event}
    trigger["data"] = {}
    note = {
        "event_trimmed": (
            f"the trigger event's data ({size:,} bytes) was left out to keep this event "
            f"within {MAX_EVENT_BYTES // 1024} KB: read it from run {run.run_id}"
        )
    }
    return trigger, note
