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
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ._define.app import Durable, DurableFunction
from ._define.durations import parse_duration
from ._define.events import Event
from ._replay.fixture_schema import InvalidFixtureError, load_fixture
from ._replay.local import LocalEngine, Run, Step, mock_step
from ._replay.replay import Apps, ReplayResult
from ._replay.replay import replay_fixture as _replay_fixture
from ._stores.base import LogRecord, Store

__all__ = ["Run", "Step", "TestEngine", "replay_fixture"]


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
        self._engine = LocalEngine(apps, store=store, start=start, seed=seed)
        self.clock = self._engine.clock
        self.store: Store = self._engine.store
        self.functions: dict[str, DurableFunction] = self._engine.functions
        self.orchestrator = self._engine.orchestrator

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
        return await self._engine.send(events)

    async def settle(self) -> None:
        """Run everything runnable without time passing."""
        await self._engine.settle()

    async def advance(self, duration: str | float | timedelta) -> None:
        """Move virtual time forward, running everything that falls due on the way."""
        await self._engine.advance(parse_duration(duration).total_seconds())

    def runs(self, *, function: str | None = None, status: str | None = None) -> list[Run]:
        """Runs, newest first, optionally of one function or status."""
        return self._engine.runs(function=function, status=status)

    def run(self, run_id: str) -> Run:
        """One run by id."""
        return self._engine.run(run_id)

    def logs(self, run_id: str) -> list[LogRecord]:
        """The ``ctx.logger`` lines of a run."""
        return self.store.get_logs(run_id)

    async def cancel(self, run_id: str, reason: str = "cancelled by request") -> bool:
        """Cancel a run, as the API and CLI do."""
        return await self._engine.cancel(run_id, reason)

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
        mocks = {key: mock_step(key, value) for key, value in (steps or {}).items()}
        record = self.orchestrator.start_run(function_id, raw_event, trigger="test", mocks=mocks)
        horizon = self.clock.now() + parse_duration(max_time).total_seconds()
        await self._engine.run_until(lambda: self._engine.ended(record.run_id), horizon)
        return self.run(record.run_id)


def replay_fixture(path: str | os.PathLike[str], app: Apps) -> ReplayResult:
    """Replay the fixture file at ``path`` against ``app``; raise ``AssertionError`` on failure.

    ``app`` is a :class:`~durable.Durable` app, a function, or a list of them. The fixture
    runs on a fresh engine (the one under :class:`TestEngine`) with its virtual clock (see
    ``docs/replay.md``); the assertion message names the fixture and the first diverging
    step, with a diff. Returns the ``ReplayResult`` of a passing replay::

        def test_checkout_fixture():
            replay_fixture("fixtures/checkout.json", app)
    """
    try:
        fixture = load_fixture(path)
    except InvalidFixtureError as exc:
        raise AssertionError(f"invalid fixture: {exc}") from None
    result = _replay_fixture(fixture, app, name=str(path), checked=True)
    if not result.ok:
        details = f"{result.message}\n{result.diff}" if result.diff else result.message
        raise AssertionError(details)
    return result
