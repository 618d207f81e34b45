"""A run's stored steps turned into the history the core replays, resolving what fell due;
and what listeners hear of a run's or a step's change."""

from __future__ import annotations

from typing import Any

from .._engine.protocol import MemoState, MemoStep
from .._serialization import loads
from .._stores.base import Lease, RunRecord, RunStatus, StepRecord, StepStatus, Store


def build_history(
    store: Store, run: RunRecord, now: float, lease: Lease | None = None
) -> tuple[dict[str, StepRecord], dict[str, MemoStep]]:
    """The run's steps by key, and what the core must do with each at time ``now``
    (``lease``: the pass's, about to start).

    Sleeps and waits whose time has come complete (a wait with ``None``); an invoke past its
    timeout fails; an errored step whose retry is due is run again; the rest is pending.
    """
    steps = {s.key: s for s in store.get_steps(run.run_id, claim=lease)}
    memo: dict[str, MemoStep] = {}
    for step in steps.values():
        _resolve_due(store, run, step, now)
        kind = step.kind or None
        if step.status is StepStatus.COMPLETED:
            output = loads(step.output) if step.output is not None else None
            memo[step.key] = MemoStep(step.key, kind, MemoState.COMPLETED, output)
        elif step.status is StepStatus.FAILED:
            memo[step.key] = MemoStep(step.key, kind, MemoState.FAILED, error=step.error)
        elif step.status is StepStatus.ERRORED and (step.wake_at or 0) <= now:
            memo[step.key] = MemoStep(step.key, kind, MemoState.RETRY, attempts=len(step.attempts))
        else:
            memo[step.key] = MemoStep(
                step.key, kind, MemoState.PENDING, attempts=len(step.attempts)
            )
    return steps, memo


def _resolve_due(store: Store, run: RunRecord, step: StepRecord, now: float) -> None:
    if step.wake_at is None or step.wake_at > now:
        return
    if step.status in (StepStatus.SLEEPING, StepStatus.WAITING):
        if step.status is StepStatus.WAITING:
            store.remove_wait(run.run_id, step.key)
        step.status, step.ended_at, step.output = StepStatus.COMPLETED, now, None
        store.upsert_step(step)
    elif step.status is StepStatus.INVOKING:
        step.status, step.ended_at = StepStatus.FAILED, now
        step.error = {"name": "InvokeTimeout", "message": "the invoked run timed out"}
        store.upsert_step(step)


def step_change(run: RunRecord, step: StepRecord) -> dict[str, object]:
    """What listeners hear of a stored step change."""
    return {
        "run_id": run.run_id,
        "function_id": run.function_id,
        "key": step.key,
        "kind": step.kind,
        "status": step.status.value,
        "attempts": len(step.attempts),
        "error": (step.error or {}).get("message") if step.error else None,
    }


def run_change(run: RunRecord) -> dict[str, Any]:
    """What listeners hear of a run's status change."""
    change: dict[str, Any] = {
        "run_id": run.run_id,
        "function_id": run.function_id,
        "status": run.status.value,
    }
    if run.status is RunStatus.FAILED and run.error:
        change["error"] = run.error.get("message")
    if run.status is RunStatus.CANCELLED:
        change["reason"] = run.cancel_reason
    return change
