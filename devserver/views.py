"""The JSON views of runs, steps, events and log lines: defined once, for the API, CLI and TUI.

Field names follow SPEC section 2 (fixed); extra fields are additions. Times are ISO-8601
UTC strings with milliseconds (``2024-05-01T12:00:00.250Z``); stored JSON texts (outputs)
are decoded, so a client sees the value the function returned.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from durable._serialization import loads
from durable._stores.base import EventRecord, LogRecord, RunRecord, StepRecord

#: Detail fields holding epoch seconds, shown as ISO-8601 strings.
_DETAIL_TIMES = frozenset({"until", "timeout_at"})


def iso(ts: float | None) -> str | None:
    """Epoch seconds as an ISO-8601 UTC string with milliseconds and ``Z``; None stays None."""
    if ts is None:
        return None
    try:
        moment = datetime.fromtimestamp(ts, UTC)
    except (OverflowError, OSError, ValueError):  # e.g. math.inf: "never"
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def decode(text: str | None) -> Any:
    """A stored JSON text as its value (None stays None)."""
    return loads(text) if text is not None else None


def run_view(
    run: RunRecord, steps: list[StepRecord] | None = None, *, queued_reason: str | None = None
) -> dict[str, Any]:
    """A run; ``steps`` is the timeline in the single-run view and None in lists.

    ``queued_reason`` says why a ``queued`` run is held back (e.g. its function not loaded)."""
    view: dict[str, Any] = {
        "run_id": run.run_id,
        "function_id": run.function_id,
        "status": run.status.value,
        "event": run.event,
        "output": decode(run.output),
        "error": run.error,
        "started_at": iso(run.started_at),
        "ended_at": iso(run.ended_at),
        "steps": [step_view(step) for step in steps] if steps is not None else None,
        "created_at": iso(run.created_at),
        "attempt": run.attempt,
        "trigger": run.trigger,
        "cancel_reason": run.cancel_reason,
        "parent_run_id": run.parent_run_id,
        "queued_reason": (queued_reason or run.queued_reason)
        if run.status.value == "queued"
        else None,
        # a body error waiting for the handler's next attempt: when that attempt is due
        "retry_at": iso(run.ready_at)
        if run.status.value == "running" and run.error is not None and run.ready_at is not None
        else None,
    }
    if len(run.events) > 1:
        view["events"] = run.events
    if steps is not None:
        view["step_count"] = len(steps)
    return view


def step_view(step: StepRecord) -> dict[str, Any]:
    """One step of a timeline, with every attempt and its start and end times."""
    return {
        "key": step.key,
        "id": step.id,
        "kind": step.kind,
        "status": step.status.value,
        "attempts": [_attempt_view(attempt) for attempt in step.attempts],
        "output": decode(step.output),
        "error": step.error,
        "position": step.position,
        "started_at": iso(step.started_at),
        "ended_at": iso(step.ended_at),
        "wake_at": iso(step.wake_at),
        "reused": "reused_from" in step.detail,
        "detail": {
            key: iso(value) if key in _DETAIL_TIMES and isinstance(value, (int, float)) else value
            for key, value in step.detail.items()
        },
    }


def _attempt_view(attempt: dict[str, Any]) -> dict[str, Any]:
    return {
        "started_at": iso(attempt.get("started_at")),
        "ended_at": iso(attempt.get("ended_at")),
        "error": attempt.get("error"),
    }


def event_view(event: EventRecord) -> dict[str, Any]:
    """A received event with the runs it started (or why it started none)."""
    return {
        "name": event.name,
        "id": event.id,
        "data": event.data,
        "ts": event.ts,
        "user": event.user,
        "received_at": iso(event.received_at),
        "run_ids": list(event.run_ids),
        "skipped": event.skipped,
    }


def accepted_view(event: EventRecord) -> dict[str, Any]:
    """What one event of a ``POST /api/events`` did: the runs it started, or why none."""
    return {"id": event.id, "run_ids": list(event.run_ids), "skipped": event.skipped}


def log_view(line: LogRecord) -> dict[str, Any]:
    """One ``ctx.logger`` line of a run."""
    return {
        "run_id": line.run_id,
        "ts": iso(line.ts),
        "level": line.level,
        "message": line.message,
        "step": line.step_key,
    }
