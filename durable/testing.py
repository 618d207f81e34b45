"""``durable.testing``: run your durable functions in your own test suite.

:class:`TestEngine` is the production orchestrator and execution core, in process, on an
in-memory store and a virtual clock: a sleep of days takes no time::

    async with TestEngine(app) as t:
        await t.send({"name": "order/created", "data": {"orderId": "o1"}})
        await t.settle()
        await t.advance("2h")
        run = t.runs(function="process-order")[0]
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ._app import Durable, DurableFunction
from ._clock import VirtualClock
from ._durations import parse_duration
from ._events import Event
from ._inprocess import InProcessExecutor, collect_functions
from ._orchestrator import Orchestrator
from ._protocol import MemoState, MemoStep
from ._serialization import loads
from ._store import LogRecord, RunRecord, StepRecord, Store
from ._store_memory import MemoryStore

if TYPE_CHECKING:
    from ._replay import Apps, ReplayResult

__all__ = ["Run", "Step", "TestEngine", "replay_fixture"]


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


def _step_view(step: StepRecord) -> Step:
    return Step(
        key=step.key,
        id=step.id,
        kind=step.kind,
        status=step.status.value,
        attempts=len(step.attempts),
        output=loads(step.output) if step.output is not None else None,
        error=step.error,
    )


class TestEngine:
    """An in-process engine with an in-memory store and a virtual clock."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(
        self,
        *apps: Durable,
        store: Store | None = None,
        start: datetime | float | None = None,
        seed: int = 0,
    ) -> None:
        if isinstance(start, datetime):
            start = start.timestamp()
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

    async def __aenter__(self) -> TestEngine:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.settle()

    @property
    def now(self) -> datetime:
        """The virtual time, as an aware UTC datetime."""
        return datetime.fromtimestamp(self.clock.now(), UTC)

    async def send(self, events: Event | Mapping[str, Any] | Sequence[Any]) -> list[str]:
        """Accept one event or a list, like the server's ``POST /api/events``; return ids."""
        raw = list(events) if isinstance(events, (list, tuple)) else [events]
        return await self.orchestrator.send(raw)

    async def settle(self) -> None:
        """Run everything runnable without time passing."""
        await self.orchestrator.settle()

    async def advance(self, duration: str | float | timedelta) -> None:
        """Move virtual time forward, running everything that falls due on the way."""
        target = self.clock.now() + parse_duration(duration).total_seconds()
        await self.settle()
        while True:
            due = self.orchestrator.next_wake_at()
            if due is None or due > target:
                break
            self.clock.set(due)
            await self.settle()
        self.clock.set(target)
        await self.settle()

    def runs(self, *, function: str | None = None, status: str | None = None) -> list[Run]:
        """Runs, newest first, optionally of one function or status."""
        records = self.store.list_runs(function_id=function, status=status, limit=1_000_000)
        return [self._view(record) for record in records]

    def run(self, run_id: str) -> Run:
        """One run by id."""
        record = self.store.get_run(run_id)
        if record is None:
            raise KeyError(f"no run with id {run_id!r}")
        return self._view(record)

    def logs(self, run_id: str) -> list[LogRecord]:
        """The ``ctx.logger`` lines of a run."""
        return self.store.get_logs(run_id)

    async def cancel(self, run_id: str, reason: str = "cancelled by request") -> bool:
        """Cancel a run, as the API and CLI do."""
        cancelled = self.orchestrator.cancel(run_id, reason)
        await self.settle()
        return cancelled

    async def execute(
        self,
        function: str | DurableFunction,
        *,
        event: Mapping[str, Any] | None = None,
        steps: Mapping[str, Mapping[str, Any]] | None = None,
        max_time: str | float | timedelta = "365d",
    ) -> Run:
        """Run one function to its end, advancing virtual time through sleeps and timeouts.

        ``steps`` maps step keys to ``{"output": ...}`` or ``{"error": {...}}``: those results
        stand in for the steps (their bodies do not run).
        """
        function_id = function if isinstance(function, str) else function.id
        raw_event = dict(event) if event is not None else {"name": "durable/test.execute"}
        mocks = {key: _mock(key, value) for key, value in (steps or {}).items()}
        record = self.orchestrator.start_run(function_id, raw_event, trigger="test", mocks=mocks)
        deadline = self.clock.now() + parse_duration(max_time).total_seconds()
        await self.settle()
        while not self._ended(record.run_id):
            due = self.orchestrator.next_wake_at()
            if due is None or due > deadline:
                break
            self.clock.set(due)
            await self.settle()
        return self.run(record.run_id)

    def _ended(self, run_id: str) -> bool:
        record = self.store.get_run(run_id)
        return record is not None and record.status.terminal

    def _view(self, record: RunRecord) -> Run:
        return Run(
            run_id=record.run_id,
            function_id=record.function_id,
            status=record.status.value,
            output=loads(record.output) if record.output is not None else None,
            error=record.error,
            event=Event.from_dict(record.event),
            steps=[_step_view(step) for step in self.store.get_steps(record.run_id)],
            attempt=record.attempt,
            cancel_reason=record.cancel_reason,
        )


def _mock(key: str, value: Mapping[str, Any]) -> MemoStep:
    if not isinstance(value, Mapping) or not ({"output", "error"} & set(value)):
        raise ValueError(
            f"the mock for step {key!r} must be {{'output': ...}} or {{'error': {{...}}}}"
        )
    if "error" in value:
        error = value["error"]
        error = error if isinstance(error, Mapping) else {"name": "Error", "message": str(error)}
        return MemoStep(key, None, MemoState.FAILED, error=dict(error))
    return MemoStep(key, None, MemoState.COMPLETED, output=value["output"])


def replay_fixture(path: str | os.PathLike[str], app: Apps) -> ReplayResult:
    """Replay the fixture file at ``path`` against ``app``; raise ``AssertionError`` on failure.

    ``app`` is a :class:`~durable.Durable` app, a function, or a list of them. The fixture
    runs on a fresh :class:`TestEngine` with its virtual clock (see ``docs/replay.md``);
    the assertion message names the fixture and the first diverging step, with a diff.
    Returns the ``ReplayResult`` of a passing replay::

        def test_checkout_fixture():
            replay_fixture("fixtures/checkout.json", app)
    """
    from ._fixture_schema import InvalidFixtureError, load_fixture
    from ._replay import replay_fixture as replay

    try:
        fixture = load_fixture(path)
    except InvalidFixtureError as exc:
        raise AssertionError(f"invalid fixture: {exc}") from None
    result = replay(fixture, app, name=str(path), checked=True)
    if not result.ok:
        details = f"{result.message}\n{result.diff}" if result.diff else result.message
        raise AssertionError(details)
    return result
