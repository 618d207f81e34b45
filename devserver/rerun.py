"""``POST /api/runs/{run_id}/rerun``: the steps a rerun starts with.

A rerun from a step reuses the recorded results of every step before it, completed or failed
(a failed step the code caught is a result like any other; rerun *from* that step to run it
again), and optionally takes the step itself as completed with a given output. Reused steps
are copies in the new run:

- they keep their place: each gets the position the code reaches it at in a fresh pass (its
  1-based rank in the original run), so a step before ``from_step`` that runs again (one that
  had not finished) still comes before it, and the run's fixture replays in the same order;
- they happen at the rerun's start: started and ended when the rerun was made, with no
  attempts (none was made in this run), so the new run's timeline spans the new run only;
- ``detail.reused_from`` names the original run (``reused: true`` in the API's step view).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from durable._errors import SerializationError
from durable._limits import MAX_STEP_OUTPUT_BYTES
from durable._serialization import dumps, encoded_size
from durable._stores.base import RunRecord, StepRecord, StepStatus, Store

if TYPE_CHECKING:
    from durable._orchestration.orchestrator import Orchestrator

#: The step statuses a rerun reuses before ``from_step``: final results.
REUSED_STATUSES = frozenset({StepStatus.COMPLETED, StepStatus.FAILED})


class RerunError(Exception):
    """A rerun body that cannot be honoured: answered as ``status`` with ``code``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


async def start_rerun(
    orchestrator: Orchestrator, run: RunRecord, from_step: str | None, body: dict[str, Any]
) -> tuple[RunRecord, list[str]]:
    """Start a rerun of ``run`` (committed); return it and the keys of the steps it reuses.

    :class:`RerunError` for a body that cannot be honoured, ``UnknownFunctionError`` if the
    function is no longer registered.
    """
    store = orchestrator.store
    reused = reused_steps(store, orchestrator.clock.now(), run, from_step, body)
    async with orchestrator.transaction():  # the run and its reused steps, or nothing
        new = orchestrator.start_run(run.function_id, run.event, trigger="rerun")
        for step in reused:  # before the scheduler runs again: the first pass finds them
            step.run_id = new.run_id
            step.started_at = step.ended_at = new.created_at  # they happen at its start
            store.upsert_step(step)
    return new, [step.key for step in reused]


def reused_steps(
    store: Store, now: float, run: RunRecord, from_step: str | None, body: dict[str, Any]
) -> list[StepRecord]:
    """The steps a rerun of ``run`` starts with (copies, for the new run to take over)."""
    if from_step is None:
        return []
    steps = store.get_steps(run.run_id)  # in the order the run reached them
    rank = {step.key: number for number, step in enumerate(steps, 1)}
    target = next((step for step in steps if step.key == from_step), None)
    if target is None:
        known = ", ".join(step.key for step in steps) or "none"
        raise RerunError(
            422, "unknown_step", f"run {run.run_id} has no step {from_step!r} (steps: {known})"
        )
    reused = [
        _copy(step, run.run_id, rank[step.key], now)
        for step in steps
        if step.position < target.position and step.status in REUSED_STATUSES
    ]
    if "output" in body:
        try:
            text = dumps(body["output"], what="'output'")
        except SerializationError as exc:
            raise RerunError(400, "invalid_body", exc.message) from None
        if encoded_size(text) > MAX_STEP_OUTPUT_BYTES:
            raise RerunError(
                413, "output_too_large", f"'output' is over the {MAX_STEP_OUTPUT_BYTES} byte limit"
            )
        replaced = _copy(target, run.run_id, rank[target.key], now)
        replaced.status, replaced.output, replaced.error = StepStatus.COMPLETED, text, None
        replaced.detail = {"reused_from": run.run_id, "replaced_output": True}
        reused.append(replaced)
    return reused


def _copy(step: StepRecord, source_run_id: str, position: int, now: float) -> StepRecord:
    return StepRecord(
        run_id=step.run_id,
        key=step.key,
        id=step.id,
        kind=step.kind,
        status=step.status,
        position=position,
        output=step.output,
        error=step.error,
        attempts=[],
        wake_at=None,
        detail={**step.detail, "reused_from": source_run_id},
        started_at=now,
        ended_at=now,
    )
