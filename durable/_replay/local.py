"""One local engine on a virtual clock: what ``durable.testing`` and ``durable replay`` run on.

:class:`LocalEngine` wires the production parts together in process: a
:class:`VirtualClock`, a store (in memory unless one is given), and the
:class:`Orchestrator` with the in-process executor. Virtual time moves
in one place, :meth:`LocalEngine.run_until`: settle, then jump the clock to the next due
time and settle again, until a condition holds or the next due time lies past a horizon.

The run and step views (:class:`Run`, :class:`Step`, SPEC section 5) live here too, so that
``durable.testing`` (the public face) and ``durable._replay.replay`` both import this module and
neither imports the other's engine.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._define.app import Durable, DurableFunction
from .._define.events import Event
from .._engine.inprocess import InProcessExecutor, collect_functions
from .._engine.protocol import MemoState, MemoStep
from .._orchestration.clock import VirtualClock
from .._orchestration.orchestrator import Orchestrator
from .._serialization import loads
from .._stores.base import RunRecord, StepRecord, Store
from .._stores.memory import MemoryStore

__all__ = ["LocalEngine", "Run", "Step", "mock_step", "run_view", "step_view"]


@dataclass(frozen=True, slots=True)
class Step:
    """A step of a run: ``attempts`` is the number of attempts made."""

    key: str
    id: str
    kind: str
    status: str
    attempts: int
    output: Any
    error: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Run:
    """A run as a test sees it."""

    run_id: str
    function_id: str
    status: str
    output: Any
    error: dict[str, Any] | None
    event: Event
    steps: list[Step]
    attempt: int
    cancel_reason: str | None
    #: every event of the run (one, or a batch's), ``event`` being the first
    events: list[Event] = field(default_factory=list)
    #: why a ``queued`` run is held back (``"function not loaded: ..."``), else None
    queued_reason: str | None = None


def step_view(step: StepRecord) -> Step:
    """The :class:`Step` view of a stored step."""
    return Step(
        key=step.key,
        id=step.id,
        kind=step.kind,
        status=step.status.value,
        attempts=len(step.attempts),
        output=loads(step.output) if step.output is not None else None,
        error=step.error,
    )


def run_view(store: Store, record: RunRecord, *, queued_reason: str | None = None) -> Run:
    """The :class:`Run` view of a stored run, with its steps from ``store``."""
    return Run(
        run_id=record.run_id,
        function_id=record.function_id,
        status=record.status.value,
        output=loads(record.output) if record.output is not None else None,
        error=record.error,
        event=Event.from_dict(record.event),
        steps=[step_view(step) for step in store.get_steps(record.run_id)],
        attempt=record.attempt,
        cancel_reason=record.cancel_reason,
        events=[Event.from_dict(event) for event in record.events or [record.event]],
        queued_reason=queued_reason
        or (record.queued_reason if record.status == "queued" else None),
    )


def mock_step(key: str, value: Mapping[str, Any]) -> MemoStep:
    """A step result standing in for step ``key``: ``{"output": ...}`` or ``{"error": {...}}``."""
    if not isinstance(value, Mapping) or not ({"output", "error"} & set(value)):
        raise ValueError(
            f"the mock for step {key!r} must be {{'output': ...}} or {{'error': {{...}}}}"
        )
    if "error" in value:
        error = value["error"]
        error = error if isinstance(error, Mapping) else {"name": "Error", "message": str(error)}
        return MemoStep(key, None, MemoState.FAILED, error=dict(error))
    return MemoStep(key, None, MemoState.COMPLETED, output=value["output"])


class LocalEngine:
    """The orchestrator and the execution core in process, on a virtual clock.

    ``start`` is the clock's first reading (epoch seconds; the real now by default); ``seed``
    seeds the orchestrator's randomness (retry jitter), so that runs repeat exactly.
    """

    def __init__(
        self,
        apps: Iterable[Durable],
        *,
        store: Store | None = None,
        start: float | None = None,
        seed: int = 0,
    ) -> None:
        self.clock = VirtualClock(start)
        self.store: Store = store if store is not None else MemoryStore()
        self.functions: dict[str, DurableFunction] = collect_functions(apps)
        self.orchestrator = Orchestrator(
            self.store,
            self.clock,
            InProcessExecutor(self.functions, self.clock.now),
            [fn.config for fn in self.functions.values()],
            rng=random.Random(seed),
        )

    # -- time -------------------------------------------------------------------------------

    async def settle(self) -> None:
        """Run everything runnable without time passing."""
        await self.orchestrator.settle()

    async def run_until(self, predicate: Callable[[], bool], horizon: float) -> bool:
        """Settle, then move the clock from due time to due time, settling at each, until
        ``predicate()`` holds; True if it does.

        Stops (False) when nothing is due any more or the next due time lies after
        ``horizon`` (epoch seconds); the clock then stays at the last due time reached.
        """
        await self.settle()
        while not predicate():
            due = self.orchestrator.next_wake_at()
            if due is None or due > horizon:
                return False
            self.clock.set(due)
            await self.settle()
        return True

    async def advance_to(self, when: float) -> None:
        """Move the clock to ``when`` (never back), running everything due on the way."""
        when = max(when, self.clock.now())
        await self.run_until(lambda: False, when)
        self.clock.set(when)
        await self.settle()

    async def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` forward, running everything that falls due on the way."""
        await self.advance_to(self.clock.now() + seconds)

    # -- runs -------------------------------------------------------------------------------

    async def send(self, events: Event | Mapping[str, Any] | Sequence[Any]) -> list[str]:
        """Accept one event or a list; return the event ids."""
        raw = list(events) if isinstance(events, (list, tuple)) else [events]
        return await self.orchestrator.send(raw)

    async def cancel(self, run_id: str, reason: str) -> bool:
        """Cancel a run and settle; False if it had ended already."""
        cancelled = await self.orchestrator.cancel(run_id, reason)
        await self.settle()
        return cancelled

    def ended(self, run_id: str) -> bool:
        """Whether the run is completed, failed or cancelled."""
        record = self.store.get_run(run_id)
        return record is not None and record.status.terminal

    def run(self, run_id: str) -> Run:
        """The view of one run; ``KeyError`` for an unknown id."""
        record = self.store.get_run(run_id)
        if record is None:
            raise KeyError(f"no run with id {run_id!r}")
        return run_view(self.store, record, queued_reason=self._held(record))

    def runs(self, *, function: str | None = None, status: str | None = None) -> list[Run]:
        """Run views, newest first, optionally of one function or status."""
        records = self.store.list_runs(function_id=function, status=status, limit=1_000_000)
        return [
            run_view(self.store, record, queued_reason=self._held(record)) for record in records
        ]

    def _held(self, record: RunRecord) -> str | None:
        return self.orchestrator.parking.reason(record.run_id)
