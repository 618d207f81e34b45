"""The orchestrator: a thin facade that wires the parts of orchestration together.

    FunctionRegistry   configs by id, trigger index              (_functions)
    Journal            commits, group commit, atomic, listeners  (_journal)
    InFlight           passes in flight, their marks, wake-up    (_in_flight)
    Runs               the run state machine, event ingest       (_runs)
    Parking            runs held while their code does not load  (_parking)
    Passes             one pass: history, executor, result       (_passes)
    Scheduler          which pass starts when, crons, deadlines  (_scheduler)

Each part gets only the collaborators it uses, so it can be built and tested alone; none of
them imports this module. The faces (``durable.testing``, the dev server) build an
:class:`Orchestrator` and call the methods below, which delegate to the parts. It never
imports user code: functions are known by their :class:`FunctionConfig` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .._define.backoff import Backoff
from .._define.config import FunctionConfig
from .._define.events import Event
from .._engine.protocol import Executor, MemoStep
from .._errors import StoreError
from .._stores.base import EventRecord, RunRecord, Store
from .clock import Clock
from .functions import FunctionRegistry
from .in_flight import InFlight
from .journal import Journal, Listener
from .parking import Parking
from .passes import Passes
from .runs import FUNCTION_CANCELLED, FUNCTION_FAILED, FUNCTION_INVOKED, Runs
from .scheduler import Scheduler

__all__ = ["FUNCTION_CANCELLED", "FUNCTION_FAILED", "FUNCTION_INVOKED", "Orchestrator"]


class Orchestrator:
    """Runs durable functions to completion, one pass at a time."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        executor: Executor,
        functions: Iterable[FunctionConfig] = (),
        *,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
        max_parallel: int = 1000,
        server_id: str = "local",
        dead_after: float | None = None,
    ) -> None:
        self.store = store
        self.server_id = server_id  #: whose leases this orchestrator's passes hold
        self.clock = clock
        self.executor = executor
        self.registry = FunctionRegistry()
        self.in_flight = InFlight()
        self.journal = Journal(store, lambda: len(self.in_flight))
        self.runs = Runs(store, clock, self.journal, self.registry, self.in_flight, executor)
        #: runs held back while their function is not loaded
        self.parking = Parking(self.runs, store, clock, self.journal, self.registry, self.in_flight)
        self.passes = Passes(
            runs=self.runs,
            journal=self.journal,
            store=store,
            clock=clock,
            executor=executor,
            functions=self.registry,
            parking=self.parking,
            in_flight=self.in_flight,
            backoff=backoff,
            rng=rng,
        )
        self.scheduler = Scheduler(
            runs=self.runs,
            journal=self.journal,
            store=store,
            clock=clock,
            functions=self.registry,
            in_flight=self.in_flight,
            execute=self.passes.execute,
            max_parallel=max_parallel,
            server_id=server_id,
            dead_after=dead_after,
        )
        self.set_functions(functions)

    # -- functions ----------------------------------------------------------------------

    def set_functions(self, functions: Iterable[FunctionConfig]) -> None:
        """Replace the registered functions (on start and on every reload)."""
        self.registry.replace(functions)
        self.scheduler.schedule_crons()
        self.parking.wake()

    def functions(self) -> list[FunctionConfig]:
        """The registered function configs."""
        return self.registry.all()

    def config_of(self, function_id: str) -> FunctionConfig | None:
        """The config of ``function_id``, or None if it is not registered (any more)."""
        return self.registry.get(function_id)

    def has_function(self, function_id: str) -> bool:
        """Whether ``function_id`` is registered."""
        return function_id in self.registry

    def function(self, function_id: str) -> FunctionConfig:
        """The config of ``function_id``; raises :class:`UnknownFunctionError` if unknown."""
        return self.registry.require(function_id)

    # -- commits and listeners (the journal's) ------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(kind, payload)`` on every run, step and event change."""
        self.journal.listeners.append(listener)

    def flush(self) -> None:
        """Commit everything so far (see :meth:`Journal.flush`)."""
        self.journal.flush()

    def transaction(self) -> contextlib.AbstractAsyncContextManager[None]:
        """All-or-nothing writes: ``async with`` (see :meth:`Journal.transaction`)."""
        return self.journal.transaction()

    @property
    def store_problem(self) -> StoreError | None:
        """The last database fault, until a write works again (``/health`` reports it)."""
        return self.journal.store_problem

    @store_problem.setter
    def store_problem(self, problem: StoreError | None) -> None:
        self.journal.store_problem = problem

    # -- events and runs (the run state machine's) --------------------------------------

    def ingest(self, events: Sequence[Event]) -> list[EventRecord]:
        """Store validated events, start triggered runs, resolve waits. No commit."""
        return self.runs.ingest(events)

    async def send(self, raw_events: Sequence[Any]) -> list[str]:
        """Validate raw events and commit them before returning their ids: all or none."""
        async with self.transaction():
            return [record.id for record in self.runs.ingest_raw(raw_events)]

    async def accept(self, events: Sequence[Event]) -> list[EventRecord]:
        """Accept validated events (see :func:`~durable._define.events.validate_events`) and commit
        them before returning their records (see :meth:`Runs.ingest`): all or none."""
        async with self.transaction():
            records = self.runs.ingest(events)
        if any(record.run_ids for record in records):
            self.scheduler.start_now()  # the runs they started: their first passes go now
        return records

    def start_run(
        self,
        function_id: str,
        event: dict[str, Any],
        *,
        trigger: str = "manual",
        mocks: Mapping[str, MemoStep] | None = None,
    ) -> RunRecord:
        """Create a run of ``function_id`` for ``event`` directly (see :meth:`Runs.start_run`)."""
        return self.runs.start_run(function_id, event, trigger=trigger, mocks=mocks)

    async def cancel(
        self, run_id: str, reason: str = "cancelled by request", *, event_id: str | None = None
    ) -> bool:
        """Cancel a run and commit: no step starts after this. False if it had already ended;
        KeyError if there is no such run."""
        async with self.transaction():
            return self.runs.cancel(run_id, reason, event_id=event_id)

    # -- scheduling (the scheduler's) ---------------------------------------------------

    @property
    def wakeup(self) -> asyncio.Event:
        """Set whenever new work may be due."""
        return self.in_flight.wakeup

    def recover(self) -> int:
        """After a restart: make runs that were mid-pass ready again. Returns their number."""
        return self.scheduler.recover()

    async def tick(self) -> int:
        """Expire deadlines, fire due cron ticks, start due passes."""
        return await self.scheduler.tick()

    def next_wake_at(self) -> float | None:
        """When something next falls due: a run, a deadline or a cron tick."""
        return self.scheduler.next_wake_at()

    async def settle(self) -> None:
        """Run every pass that is due now, and those they make due, until nothing is."""
        await self.scheduler.settle()

    async def run_forever(self) -> None:
        """The real-clock scheduler loop (with ``dead_after``: heartbeats too; it returns once
        this server was reaped)."""
        await self.scheduler.run_forever()
