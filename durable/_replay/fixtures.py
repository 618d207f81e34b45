"""Replay fixtures (SPEC section 4): a recorded run as a JSON document.

    {
      "function": "process-order",
      "event": {"name": ..., "data": ..., "id": ..., "ts": ...},
      "steps": {
        "charge": {"kind": "run", "output": {...}},
        "pause": {"kind": "sleep", "output": null},
        "approval": {"kind": "wait_for_event", "output": {...event...} | null},
        "notify": {"kind": "run", "error": {"name": ..., "message": ...}}
      },
      "expect": {"status": "completed", "output": ..., "steps": ["charge", "pause", ...]}
    }

``steps`` holds the steps that reached a final result (completed or failed), by key;
``kind`` lets replay detect a step whose kind changed. ``expect.steps`` lists every step
key the run reached, in the order they were first reached.

A cancelled run records what cancelled it, so that replay ends it the same way: the event
that matched a ``cancel_on`` rule becomes a ``later_events`` item, any other cancellation (by
hand, a timeout) a ``cancel`` at the same moment, both counted from the trigger event's time.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from .._define.durations import format_duration
from .._serialization import loads
from .._stores.base import EventRecord, RunRecord, RunStatus, StepRecord, StepStatus
from .._tracebacks import relative_error


def fixture_from_run(
    run: RunRecord,
    steps: list[StepRecord],
    *,
    find_event: Callable[[str], EventRecord | None] | None = None,
    root: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """The replay fixture of ``run``, given its stored ``steps``.

    ``find_event`` (the store's ``get_event``) finds the event that cancelled the run.
    ``root`` (the project's folder): tracebacks name its files relative to it, so a fixture
    holds no path of the machine it was recorded on.
    """
    ordered = sorted(steps, key=lambda step: step.position)
    fixture: dict[str, Any] = {"function": run.function_id}
    if len(run.events) > 1:
        fixture["events"] = run.events
    else:
        fixture["event"] = run.event
    fixture["steps"] = {
        step.key: _recorded(step, root)
        for step in ordered
        if step.status in (StepStatus.COMPLETED, StepStatus.FAILED)
    }
    if run.status is RunStatus.CANCELLED:
        fixture.update(_cancellation(run, find_event))
    fixture["expect"] = {
        "status": run.status.value,
        "output": loads(run.output) if run.output is not None else None,
        "steps": [step.key for step in ordered],
    }
    return fixture


def _recorded(step: StepRecord, root: str | os.PathLike[str] | None) -> dict[str, Any]:
    if step.status is StepStatus.FAILED:
        error = dict(step.error or {})
        return {"kind": step.kind, "error": relative_error(error, root) if root else error}
    return {"kind": step.kind, "output": loads(step.output) if step.output is not None else None}


def _cancellation(
    run: RunRecord, find_event: Callable[[str], EventRecord | None] | None
) -> dict[str, Any]:
    started = run.event.get("ts")
    base = started / 1000 if isinstance(started, int) else run.created_at
    event_id = run.cancel_event_id
    event = find_event(event_id) if event_id is not None and find_event is not None else None
    if event is not None:
        after = timedelta(milliseconds=max(0, event.ts - round(base * 1000)))
        later = {"after": format_duration(after), "event": event.to_event_dict()}
        return {"later_events": [later]}
    ended = run.ended_at if run.ended_at is not None else base
    after = timedelta(milliseconds=max(0, round((ended - base) * 1000)))
    cancel: dict[str, Any] = {"after": format_duration(after)}
    if run.cancel_reason:
        cancel["reason"] = run.cancel_reason
    return {"cancel": cancel}


def fixture_json(fixture: dict[str, Any]) -> str:
    """The text of a fixture file: JSON, indented by 2, non-ASCII as is, a final newline."""
    return json.dumps(fixture, indent=2, ensure_ascii=False) + "\n"


def write_fixture(path: str | os.PathLike[str], fixture: dict[str, Any]) -> Path:
    """Write ``fixture`` to ``path`` (UTF-8, :func:`fixture_json`), creating its folder.

    Atomic: the text goes to a temporary file in the same folder, then replaces ``path``,
    so an interrupt or a full disk leaves the old file whole (a new file gets the usual
    permissions, a replaced one keeps its own). A symlink is written through, to its target;
    a path that is not a regular file (``/dev/stdout``, a pipe) is written to directly.
    Raises ``OSError``; returns the path.
    """
    target = Path(os.path.realpath(path))
    if target.exists() and not target.is_file():
        with open(target, "w", encoding="utf-8", newline="\n") as out:
            out.write(fixture_json(fixture))
        return Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{os.urandom(4).hex()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
    try:
        with open(fd, "w", encoding="utf-8", newline="\n") as out:
            out.write(fixture_json(fixture))
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileNotFoundError):
            os.chmod(temp, stat.S_IMODE(target.stat().st_mode))
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return Path(path)
