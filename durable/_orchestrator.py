"""Orchestration: the run state machine over a Store, a Clock and an Executor.

    queued ──▶ running ──▶ completed
                 │ ▲  └──▶ failed ──▶ event durable/function.failed
                 ▼ │
        sleeping / waiting          any non-terminal ──cancel──▶ cancelled

The orchestrator accepts events (dedup by id, trigger matching by name index and ``if``),
creates runs, cancels and ends them. Its :class:`~durable._scheduler.Scheduler` picks due
runs; its :class:`~durable._passes.Passes` build each pass's history, hand it to the executor
and apply the result: output, failure, body retry with backoff, or the next wake-up time.
It never imports user code: functions are known by their :class:`FunctionConfig` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import random
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ._backoff import Backoff
from ._clock import Clock
from ._config import FunctionConfig
from ._errors import StoreError, UnknownFunctionError
from ._events import validate_event
from ._flow import concurrency_keys, idempotency_key
from ._history import step_change
from ._ids import new_id
from ._journal import Journal, Listener
from ._limits import EVENT_DEDUP_WINDOW_SECONDS, IDEMPOTENCY_WINDOW_SECONDS
from ._matching import field_value
from ._parking import Parking
from ._passes import Passes
from ._protocol import (
    Executor,
    MemoStep,
    StepStarted,
)
from ._run_host import make_wait
from ._scheduler import Scheduler
from ._serialization import dumps
from ._store import (
    PARKED_STEP_STATUSES,
    EventRecord,
    LogRecord,
    RunRecord,
    RunStatus,
    StepRecord,
    StepStatus,
    Store,
)
from ._system_events import system_event
from ._text import clean_error, shown_text
from ._triggers import EventNameIndex

FUNCTION_FAILED = "durable/function.failed"
FUNCTION_CANCELLED = "durable/function.cancelled"
FUNCTION_INVOKED = "durable/function.invoked"


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
    ) -> None:
        self.store = store
        self.clock = clock
        self.executor = executor
        self.backoff = backoff
        self.rng = rng or random.Random()
        self._functions: dict[str, FunctionConfig] = {}
        self._triggers: EventNameIndex[FunctionConfig] = EventNameIndex()
        self.scheduler = Scheduler(self, max_parallel=max_parallel)
        self.passes = Passes(self)
        self.journal = Journal(store, lambda: len(self.scheduler.executing))
        self.parking = Parking(self)  #: runs held back while their function is not loaded
        self._cancelled: set[str] = set()
        self._mocks: dict[str, Mapping[str, MemoStep]] = {}
        self.set_functions(functions)

    # -- functions --------------------------------------------------------------------

    def set_functions(self, functions: Iterable[FunctionConfig]) -> None:
        """Replace the registered functions (on start and on every reload)."""
        self._functions = {}
        self._triggers = EventNameIndex()
        for config in functions:
            self._functions[config.id] = config
            for trigger in config.event_triggers:
                self._triggers.add(trigger.event, config)
        self.scheduler.schedule_crons()
        self.parking.wake()

    def functions(self) -> list[FunctionConfig]:
        """The registered function configs."""
        return list(self._functions.values())

    def config_of(self, function_id: str) -> FunctionConfig | None:
        """The config of ``function_id``, or None if it is not registered (any more)."""
        return self._functions.get(function_id)

    def has_function(self, function_id: str) -> bool:
        """Whether ``function_id`` is registered."""
        return function_id in self._functions

    def function(self, function_id: str) -> FunctionConfig:
        """The config of ``function_id``."""
        try:
            return self._functions[function_id]
        except KeyError:
            raise UnknownFunctionError(function_id) from None

    # -- notifications ----------------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(kind, payload)`` on every run, step and event change."""
        self.journal.listeners.append(listener)

    def _notify(self, kind: str, payload: dict[str, Any]) -> None:
        self.journal.notify(kind, payload)

    def _after_commit(self, effect: Callable[[], object]) -> None:
        self.journal.after_commit(effect)

    def notify_step(self, run: RunRecord, step: StepRecord) -> None:
        """Tell listeners a step changed."""
        if self.journal.listeners:
            self._notify("step", step_change(run, step))

    def notify_started(self, run: RunRecord, notice: StepStarted) -> None:
        """Tell listeners a step attempt started (not stored: it is not a checkpoint)."""
        if self.journal.listeners:
            self._notify(
                "step",
                {
                    "run_id": run.run_id,
                    "function_id": run.function_id,
                    "key": notice.key,
                    "kind": "run",
                    "status": "running",
                    "attempts": notice.attempt + 1,
                    "error": None,
                },
            )

    def save_run(self, run: RunRecord) -> None:
        """Write a run's new state and tell the listeners."""
        self.store.update_run(run)
        if self.journal.listeners:
            change = _run_change(run)
            if run.status is RunStatus.QUEUED and (held := self.parking.reason(run.run_id)):
                change["reason"] = held
            self._notify("run", change)

    # -- commits (the journal's) ----------------------------------------------------------

    def buffer_log(self, line: LogRecord) -> None:
        """Keep a log line until the next commit."""
        self.journal.buffer_log(line)

    def flush(self) -> None:
        """Commit everything so far (see :meth:`Journal.flush`)."""
        self.journal.flush()

    async def commit(self) -> None:
        """Commit now, or share a commit with the passes in flight (:meth:`Journal.commit`)."""
        await self.journal.commit()

    def store_failed(self, error: StoreError) -> None:
        """A write was refused: roll back (see :meth:`Journal.store_failed`)."""
        self.journal.store_failed(error)

    def atomic(self) -> contextlib.AbstractContextManager[None]:
        """All-or-nothing writes (see :meth:`Journal.atomic`)."""
        return self.journal.atomic()

    @property
    def store_problem(self) -> StoreError | None:
        """The last database fault, until a write works again (``/health`` reports it)."""
        return self.journal.store_problem

    @store_problem.setter
    def store_problem(self, problem: StoreError | None) -> None:
        self.journal.store_problem = problem

    def encode(self, value: Any) -> str:
        """JSON text of a value the host stores itself (events, ids)."""
        return dumps(value)

    # -- events and runs ------------------------------------------------------------------

    def ingest_events(self, raw_events: list[Any], *, origin: str | None = None) -> list[str]:
        """Store events (deduplicated by id), start triggered runs, resolve waits. No commit."""
        return [record.id for record in self.ingest(raw_events)]

    def ingest(self, raw_events: list[Any]) -> list[EventRecord]:
        """:meth:`ingest_events`, returning each event's record: the runs it started
        (``run_ids``), or why it started none when that was a decision (``skipped``)."""
        now = self.clock.now()
        records = []
        # every event is checked before any is stored: a bad one leaves the batch unapplied
        events = [validate_event(raw, now_ms=int(now * 1000)) for raw in raw_events]
        for event in events:
            record = EventRecord(
                id=event.id,
                name=event.name,
                data=event.data,
                ts=event.ts,
                received_at=now,
                user=event.user,
            )
            records.append(record)
            previous = self.store.get_event(event.id)
            if previous is not None and now - previous.received_at < EVENT_DEDUP_WINDOW_SECONDS:
                record.skipped = f"duplicate: event id {event.id!r} was already received"
                self.store.insert_event(record)
                if self.journal.listeners:
                    self._notify(
                        "event",
                        {
                            "id": event.id,
                            "name": event.name,
                            "run_ids": [],
                            "skipped": record.skipped,
                        },
                    )
                continue
            self.store.insert_event(record)
            data = record.to_event_dict()
            skipped = []
            for config in self._triggered(data):
                run = self.create_run(config, data, trigger="event")
                if isinstance(run, RunRecord):
                    record.run_ids.append(run.run_id)
                else:
                    skipped.append(run)
            if skipped and not record.run_ids:
                record.skipped = "; ".join(skipped)
            if record.run_ids or record.skipped:
                self.store.update_event(record)
            self._resolve_waits(data)
            if self.journal.listeners:
                self._notify(
                    "event",
                    {
                        "id": event.id,
                        "name": event.name,
                        "run_ids": list(record.run_ids),
                        "skipped": record.skipped,
                    },
                )
        self.wakeup.set()
        return records

    async def send(self, raw_events: list[Any]) -> list[str]:
        """Accept events and commit them before returning their ids: all of them or none."""
        return [record.id for record in await self.accept(raw_events)]

    async def accept(self, raw_events: list[Any]) -> list[EventRecord]:
        """Accept events and commit them before returning their records (see :meth:`ingest`):
        all of them or none."""
        with self.atomic():
            return self.ingest(raw_events)

    def _triggered(self, event: dict[str, Any]) -> list[FunctionConfig]:
        matched: dict[str, FunctionConfig] = {}
        for config in self._triggers.lookup(event["name"]):
            if config.id in matched:
                continue
            if any(trigger.matches(event) for trigger in config.event_triggers):
                matched[config.id] = config
        return list(matched.values())

    def create_run(
        self,
        config: FunctionConfig,
        event: dict[str, Any],
        *,
        trigger: str,
        parent: RunRecord | None = None,
        step_key: str | None = None,
    ) -> RunRecord | str:
        """A new queued run, or (for a repeated idempotency key) why none was created."""
        now = self.clock.now()
        run_id = new_id(int(now * 1000))
        key = idempotency_key(config, event) if trigger == "event" else None
        if key is not None:
            existing = self.store.claim_idempotency(
                config.id, key, run_id, now=now, window=IDEMPOTENCY_WINDOW_SECONDS
            )
            if existing is not None:
                return f"idempotency: {config.id} already ran for key {key!r} (run {existing})"
        run = RunRecord(
            run_id=run_id,
            function_id=config.id,
            status=RunStatus.QUEUED,
            event=event,
            events=[event],
            created_at=now,
            ready_at=now,
            trigger=trigger,
            parent_run_id=parent.run_id if parent else None,
            parent_step_key=step_key,
            idempotency_key=key,
            concurrency_keys=concurrency_keys(config, event),
        )
        if config.start_timeout is not None:
            run.deadline_at = now + config.start_timeout.total_seconds()
            run.deadline_reason = "timeouts.start: the run did not start in time"
        self.store.insert_run(run)
        for index, rule in enumerate(config.cancel_on):
            self.store.add_wait(
                make_wait(
                    run,
                    step_key=f"cancel_on[{index}]",
                    event_name=rule.event,
                    condition=rule.if_.source if rule.if_ else None,
                    expires_at=now + rule.timeout.total_seconds() if rule.timeout else math.inf,
                    since=now,
                    kind="cancel",
                )
            )
        if self.journal.listeners:
            self._notify("run", _run_change(run))
        return run

    def start_run(
        self,
        function_id: str,
        event: dict[str, Any],
        *,
        trigger: str = "manual",
        mocks: Mapping[str, MemoStep] | None = None,
    ) -> RunRecord:
        """Create a run of ``function_id`` for ``event`` directly (no trigger matching).

        ``mocks`` (kept in memory, for tests and replay) stand in for the steps they name. The
        mapping is used as given, not copied: one that computes its answers (replay's strict
        mocks refuse steps the fixture never heard of) keeps doing so for every lookup.
        """
        checked = validate_event(event, now_ms=int(self.clock.now() * 1000)).to_dict()
        run = self.create_run(self.function(function_id), checked, trigger=trigger)
        assert isinstance(run, RunRecord)
        if mocks is not None:
            self._mocks[run.run_id] = mocks
        self.wakeup.set()
        return run

    def start_invoked_run(
        self, function_id: str, data: dict[str, Any], *, parent: RunRecord, step_key: str
    ) -> RunRecord:
        """Create the child run of a ``step.invoke``."""
        now_ms = int(self.clock.now() * 1000)
        event = {"name": FUNCTION_INVOKED, "data": data, "id": new_id(now_ms), "ts": now_ms}
        run = self.create_run(
            self.function(function_id), event, trigger="invoke", parent=parent, step_key=step_key
        )
        assert isinstance(run, RunRecord)
        self.wakeup.set()
        return run

    def _resolve_waits(self, event: dict[str, Any]) -> None:
        from ._expressions import compile_expression

        now = self.clock.now()
        matches = {}
        for field in self.store.wait_match_fields(event["name"]):
            value = field_value(event, field)
            if value is not None:
                matches[field] = value
        for wait in self.store.waits_for(event["name"], matches):
            run = self.store.get_run(wait.run_id)
            if run is None or run.status.terminal or wait.expires_at < now:
                self.store.remove_wait(wait.run_id, wait.step_key)
                continue
            if wait.condition and not compile_expression(wait.condition).matches(
                {"event": run.event, "async": event}
            ):
                continue
            if wait.kind == "cancel":
                reason = f"cancel_on: event {event['name']} ({event['id']})"
                self.cancel(run.run_id, reason, event_id=event["id"], commit=False)
                continue
            step = next(
                (s for s in self.store.get_steps(run.run_id) if s.key == wait.step_key), None
            )
            self.store.remove_wait(wait.run_id, wait.step_key)
            if step is None or step.status is not StepStatus.WAITING:
                continue
            step.status = StepStatus.COMPLETED
            step.output = self.encode(event)
            step.ended_at = self.clock.now()
            step.wake_at = None
            step.detail = {**step.detail, "matched": event["id"]}
            self.store.upsert_step(step)
            self._make_ready(run)

    def _make_ready(self, run: RunRecord) -> None:
        if run.run_id in self.scheduler.executing:
            self._after_commit(lambda: self.passes.rerun_after.add(run.run_id))
            return
        run.ready_at = self.clock.now()
        self.save_run(run)
        self.wakeup.set()

    # -- cancellation -------------------------------------------------------------------

    def is_cancelled(self, run_id: str) -> bool:
        """Whether ``run_id`` was cancelled while a pass of it was in flight."""
        return run_id in self._cancelled

    def cancel(
        self,
        run_id: str,
        reason: str = "cancelled by request",
        *,
        event_id: str | None = None,
        commit: bool = True,
    ) -> bool:
        """Cancel a run: no step starts after this. False if it had already ended.

        ``event_id``: the event that cancelled it through a ``cancel_on`` rule.
        """
        run = self.store.get_run(run_id)
        if run is None:
            raise KeyError(run_id)
        if run.status.terminal:
            return False
        reason = shown_text(reason)
        event = self._system_event(FUNCTION_CANCELLED, run, {"reason": reason})
        with self.atomic() if commit else contextlib.nullcontext():
            if run_id in self.scheduler.executing:
                self._after_commit(lambda: self._cancelled.add(run_id))
            run.status, run.cancel_reason = RunStatus.CANCELLED, reason
            run.cancel_event_id = event_id
            self._end(run)
            self.ingest_events([event])
            self._resolve_parent(run, error={"name": "FunctionCancelled", "message": reason})
        return True

    def _end(self, run: RunRecord) -> None:
        """Save a run that just reached a terminal status and drop what it was waiting on:
        its waits, and its parked steps (closed as ``cancelled`` at the run's end)."""
        run.ended_at, run.ready_at, run.deadline_at = self.clock.now(), None, None
        self.save_run(run)
        self.store.remove_waits(run.run_id)
        self._after_commit(functools.partial(self._mocks.pop, run.run_id, None))
        for step in self.store.get_steps(run.run_id):
            if step.status in PARKED_STEP_STATUSES:
                step.status, step.ended_at, step.wake_at = StepStatus.CANCELLED, run.ended_at, None
                step.detail = {**step.detail, "closed_by": f"run {run.status.value}"}
                self.store.upsert_step(step)
                self.notify_step(run, step)

    def _system_event(self, name: str, run: RunRecord, extra: dict[str, Any]) -> dict[str, Any]:
        """The event ``name`` about ``run``, built (and trimmed to the event limit) before the
        run's end is written: nothing is left half-done if it cannot be."""
        return system_event(name, run, extra, now_ms=int(self.clock.now() * 1000))

    # -- passes (delegated) and run endings ----------------------------------------------

    async def execute(self, run: RunRecord) -> None:
        """Run one pass of ``run`` and apply its result (see :class:`~durable._passes.Passes`)."""
        await self.passes.execute(run)

    def mocks_for(self, run_id: str) -> Mapping[str, MemoStep]:
        """The step results standing in for ``run_id``'s steps (testing, replay)."""
        return self._mocks.get(run_id, {})

    def pass_ended(self, run_id: str) -> None:
        """A pass of a run that already ended came back: forget its cancellation."""
        self._cancelled.discard(run_id)

    def complete(self, run: RunRecord, output: str | None) -> None:
        """End a run as completed with ``output`` (JSON text), answering a parent's invoke."""
        run.status, run.output, run.error = RunStatus.COMPLETED, output, None
        self._end(run)
        self._resolve_parent(run, output=output)

    def fail(self, run: RunRecord, error: dict[str, Any]) -> None:
        """End a run as failed; emits ``durable/function.failed``, answers a parent's invoke."""
        error = clean_error(error)
        event = self._system_event(FUNCTION_FAILED, run, {"error": error})
        run.status, run.error = RunStatus.FAILED, error
        self._end(run)
        self.ingest_events([event])
        self._resolve_parent(run, error=error)

    def _resolve_parent(
        self, run: RunRecord, *, output: str | None = None, error: dict[str, Any] | None = None
    ) -> None:
        if run.parent_run_id is None or run.parent_step_key is None:
            return
        parent = self.store.get_run(run.parent_run_id)
        if parent is None or parent.status.terminal:
            return
        step = next(
            (s for s in self.store.get_steps(parent.run_id) if s.key == run.parent_step_key), None
        )
        if step is None or step.status is not StepStatus.INVOKING:
            return
        step.ended_at, step.wake_at = self.clock.now(), None
        if error is None:
            step.status, step.output = StepStatus.COMPLETED, output
        else:
            step.status, step.error = StepStatus.FAILED, error
        self.store.upsert_step(step)
        self._make_ready(parent)

    # -- scheduling (delegated to the scheduler) ----------------------------------------

    @property
    def wakeup(self) -> asyncio.Event:
        """Set whenever new work may be due."""
        return self.scheduler.wakeup

    def recover(self) -> int:
        """After a restart: make runs that were mid-pass ready again. Returns their number."""
        return self.scheduler.recover()

    def start_due(self) -> int:
        """Start a pass for every due run not already in flight."""
        return self.scheduler.start_due()

    def tick(self) -> int:
        """Expire deadlines, fire due cron ticks, start due passes."""
        return self.scheduler.tick()

    def next_wake_at(self) -> float | None:
        """When something next falls due: a run, a deadline or a cron tick."""
        return self.scheduler.next_wake_at()

    async def settle(self) -> None:
        """Run every pass that is due now, and those they make due, until nothing is."""
        await self.scheduler.settle()

    async def run_forever(self) -> None:
        """The real-clock scheduler loop."""
        await self.scheduler.run_forever()


def _run_change(run: RunRecord) -> dict[str, Any]:
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
