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
"""

from __future__ import annotations

from typing import Any

from ._serialization import loads
from ._store import RunRecord, StepRecord, StepStatus


def fixture_from_run(run: RunRecord, steps: list[StepRecord]) -> dict[str, Any]:
    """The replay fixture of ``run``, given its stored ``steps``."""
    ordered = sorted(steps, key=lambda step: step.position)
    fixture: dict[str, Any] = {"function": run.function_id}
    if len(run.events) > 1:
        fixture["events"] = run.events
    else:
        fixture["event"] = run.event
    fixture["steps"] = {
        step.key: _recorded(step)
        for step in ordered
        if step.status in (StepStatus.COMPLETED, StepStatus.FAILED)
    }
    fixture["expect"] = {
        "status": run.status.value,
        "output": loads(run.output) if run.output is not None else None,
        "steps": [step.key for step in ordered],
    }
    return fixture


def _recorded(step: StepRecord) -> dict[str, Any]:
    if step.status is StepStatus.FAILED:
        return {"kind": step.kind, "error": dict(step.error or {})}
    return {"kind": step.kind, "output": loads(step.output) if step.output is not None else None}
