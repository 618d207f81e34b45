"""The protocol messages of :mod:`durable._engine.protocol` as JSON-ready dicts, and back.

Used by the dev server and its worker processes (JSON lines on a socket). Each checkpoint
carries an ``op`` naming its type; everything else is its fields.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .protocol import (
    Checkpoint,
    ExecutionRequest,
    ExecutionResult,
    InvokeRequest,
    LogLine,
    MemoState,
    MemoStep,
    Reply,
    SendEventRequest,
    SleepRequest,
    StepCompleted,
    StepFailed,
    StepKind,
    StepStarted,
    WaitRequest,
)

_CHECKPOINTS: dict[str, type[Any]] = {
    "completed": StepCompleted,
    "failed": StepFailed,
    "sleep": SleepRequest,
    "wait": WaitRequest,
    "invoke": InvokeRequest,
    "send": SendEventRequest,
}
_OPS = {cls: op for op, cls in _CHECKPOINTS.items()}
#: each checkpoint type's field names, read once (``dataclasses.fields`` per message costs)
_FIELDS = {cls: tuple(f.name for f in dataclasses.fields(cls)) for cls in _CHECKPOINTS.values()}


def checkpoint_to_wire(message: Checkpoint) -> dict[str, Any]:
    """A checkpoint as a dict with its ``op``."""
    cls = type(message)
    wire: dict[str, Any] = {"op": _OPS[cls]}
    for name in _FIELDS[cls]:
        wire[name] = getattr(message, name)
    if "events" in wire:
        wire["events"] = list(wire["events"])
    return wire


def checkpoint_from_wire(raw: dict[str, Any]) -> Checkpoint:
    """Rebuild a checkpoint sent by :func:`checkpoint_to_wire`."""
    fields = dict(raw)
    cls = _CHECKPOINTS[fields.pop("op")]
    if "kind" in fields:
        fields["kind"] = StepKind(fields["kind"])
    if "events" in fields:
        fields["events"] = tuple(fields["events"])
    message: Checkpoint = cls(**fields)
    return message


def reply_to_wire(reply: Reply) -> dict[str, Any]:
    """A reply as a dict."""
    return {"action": reply.action, "output": reply.output, "error": reply.error}


def reply_from_wire(raw: dict[str, Any]) -> Reply:
    """Rebuild a reply."""
    return Reply(raw["action"], raw.get("output"), raw.get("error"))


def request_to_wire(request: ExecutionRequest) -> dict[str, Any]:
    """An execution request as a dict (the step history travels once per pass)."""
    return {
        "run_id": request.run_id,
        "function_id": request.function_id,
        "event": request.event,
        "events": list(request.events),
        "steps": [_memo_to_wire(m) for m in request.steps.values()],
        "mocks": [_memo_to_wire(m) for m in request.mocks.values()],
        "attempt": request.attempt,
        "state_bytes": request.state_bytes,
        "step_count": request.step_count,
    }


def request_from_wire(raw: dict[str, Any]) -> ExecutionRequest:
    """Rebuild an execution request."""
    steps = [_memo_from_wire(m) for m in raw["steps"]]
    mocks = [_memo_from_wire(m) for m in raw.get("mocks", [])]
    return ExecutionRequest(
        run_id=raw["run_id"],
        function_id=raw["function_id"],
        event=raw["event"],
        events=tuple(raw["events"]),
        steps={m.key: m for m in steps},
        attempt=raw["attempt"],
        state_bytes=raw["state_bytes"],
        step_count=raw["step_count"],
        mocks={m.key: m for m in mocks},
    )


def result_to_wire(result: ExecutionResult) -> dict[str, Any]:
    """An execution result as a dict."""
    return {
        "status": result.status,
        "output": result.output,
        "error": result.error,
        "reenter": result.reenter,
    }


def result_from_wire(raw: dict[str, Any]) -> ExecutionResult:
    """Rebuild an execution result."""
    return ExecutionResult(raw["status"], raw.get("output"), raw.get("error"), raw["reenter"])


def started_to_wire(notice: StepStarted) -> dict[str, Any]:
    """A step-started notice as a dict."""
    return {
        "key": notice.key,
        "id": notice.id,
        "attempt": notice.attempt,
        "started_at": notice.started_at,
        "seq": notice.seq,
    }


def started_from_wire(raw: dict[str, Any]) -> StepStarted:
    """Rebuild a step-started notice."""
    return StepStarted(**raw)


def log_to_wire(line: LogLine) -> dict[str, Any]:
    """A log line as a dict."""
    return {"level": line.level, "message": line.message, "ts": line.ts, "step_key": line.step_key}


def log_from_wire(raw: dict[str, Any]) -> LogLine:
    """Rebuild a log line."""
    return LogLine(**raw)


def _memo_to_wire(memo: MemoStep) -> dict[str, Any]:
    return {
        "key": memo.key,
        "kind": memo.kind,
        "state": memo.state.value,
        "output": memo.output,
        "error": memo.error,
        "attempts": memo.attempts,
    }


def _memo_from_wire(raw: dict[str, Any]) -> MemoStep:
    return MemoStep(
        key=raw["key"],
        kind=raw["kind"],
        state=MemoState(raw["state"]),
        output=raw["output"],
        error=raw["error"],
        attempts=raw["attempts"],
    )
