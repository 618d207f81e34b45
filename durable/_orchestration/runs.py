"""The run state machine: events in, runs created, cancelled and ended.

    queued ──▶ running ──▶ completed
                 │ ▲  └──▶ failed ──▶ event durable/function.failed
                 ▼ │
        sleeping / waiting          any non-terminal ──cancel──▶ cancelled

:class:`Runs` accepts events (dedup by id, trigger matching by name index and ``if``),
resolves the waits they match, creates runs (idempotency, concurrency keys, ``cancel_on``
waits), cancels and ends them, and answers a parent's ``step.invoke`` when a child ends. It
works over a :class:`Store`, a :class:`Clock`, the
:class:`~durable._orchestration.journal.Journal` (commits, listeners), the
:class:`FunctionRegistry` and the :class:`InFlight`
marks; it tells an :class:`~durable._engine.protocol.Executor` of a cancel. It starts no pass.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

from .._define.config import FunctionConfig
from .._define.events import Event, validate_event
from .._define.expressions import compile_expression
from .._define.matching import field_value
from .._engine.protocol import Executor, MemoStep, StepStarted
from .._ids import new_id
from .._limits import EVENT_DEDUP_WINDOW_SECONDS, IDEMPOTENCY_WINDOW_SECONDS
from .._serialization import dumps
from .._stores.base import (
    PARKED_STEP_STATUSES,
    EventRecord,
    RunRecord,
    RunStatus,
    StepRecord,
    StepStatus,
    Store,
)
from .._text import clean_error, shown_text
from .admission import admit, on_end
from .clock import Clock
from .flow import concurrency_keys, idempotency_key
from .functions import FunctionRegistry
from .history import run_change, step_change
from .in_flight import InFlight
from .journal import Journal
from .system_events import system_event
from .waits import make_wait

FUNCTION_FAILED = "durable/function.failed"
FUNCTION_CANCELLED = "durable/function.cancelled"
FUNCTION_INVOKED = "durable/function.invoked"
#: The triggers flow control applies to (a manual start or an invoke bypasses it).
FLOW_TRIGGERS = frozenset({"event", "cron"})


class Runs:
    """Creates, cancels and ends the runs of one store; ingests the events that drive them."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        journal: Journal,
        functions: FunctionRegistry,
        in_flight: InFlight,
        executor: Executor,
    ) -> None:
        self.store = store
        self.clock = clock
        self.journal = journal
        self.functions = functions
        self.in_flight = in_flight
        self.executor = executor
        self._mocks: dict[str, Mapping[str, MemoStep]] = {}

    # -- notifications ------------------------------------------------------------------

    def save_run(self, run: RunRecord, *, reason: str | None = None) -> None:
        """Write a run's new state and tell the listeners (``reason``: why it is held)."""
        self.store.update_run(run)
        if self.journal.listeners:
            change = run_change(run)
            if reason is not None:
                change["reason"] = reason
            self.journal.notify("run", change)

    def notify_step(self, run: RunRecord, step: StepRecord) -> None:
        """Tell listeners a step changed."""
        if self.journal.listeners:
            self.journal.notify("step", step_change(run, step))

    def notify_started(self, run: RunRecord, notice: StepStarted) -> None:
        """Tell listeners a step attempt started (not stored: it is not a checkpoint)."""
        if self.journal.listeners:
            self.journal.notify(
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

    # -- events -------------------------------------------------------------------------

    def ingest_raw(self, raw_events: Sequence[Any]) -> list[EventRecord]:
        """Validate raw events (from an app, a test or a worker), then :meth:`ingest` them.
        Every event is checked before any is stored: a bad one leaves the batch unapplied."""
        now_ms = int(self.clock.now() * 1000)
        return self.ingest([validate_event(raw, now_ms=now_ms) for raw in raw_events])

    def ingest(self, events: Sequence[Event]) -> list[EventRecord]:
        """Store validated events (deduplicated by id), start triggered runs, resolve waits.

        Returns each event's record: the runs it started (``run_ids``), or why it started none
        when that was a decision (``skipped``). No commit.
        """
        now = self.clock.now()
        records = []
        # Lock order "event name, then run": a wait registered concurrently (another server)
        # either sees these events or is seen by them, never neither.
        self.store.lock_event_names(sorted({event.name for event in events}), exclusive=False)
        claims = self.store.claim_event_ids(
            [event.id for event in events], now=now, window=EVENT_DEDUP_WINDOW_SECONDS
        )
        for event, claimed in zip(events, claims, strict=True):
            record = EventRecord(
                id=event.id,
                name=event.name,
                data=event.data,
                ts=event.ts,
                received_at=now,
                user=event.user,
            )
            records.append(record)
            if not claimed:
                record.skipped = f"duplicate: event id {event.id!r} was already received"
                self.store.insert_event(record)
                self._notify_event(record)
                continue
            data = record.to_event_dict()
            skipped = []
            for config in self.functions.triggered(data):
                run = self.create_run(config, data, trigger="event")
                if isinstance(run, RunRecord):
                    record.run_ids.append(run.run_id)
                else:
                    skipped.append(run)
            if skipped and not record.run_ids:
                record.skipped = "; ".join(skipped)
            self.store.insert_event(record)  # once, with the runs it started
            self._resolve_waits(data)
            self._notify_event(record)
        self.in_flight.wakeup.set()
        return records

    def _notify_event(self, record: EventRecord) -> None:
        if self.journal.listeners:
            self.journal.notify(
                "event",
                {
                    "id": record.id,
                    "name": record.name,
                    "run_ids": list(record.run_ids),
                    "skipped": record.skipped,
                },
            )

    def _resolve_waits(self, event: dict[str, Any]) -> None:
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
                self.cancel(run.run_id, reason, event_id=event["id"])
                continue
            step = next(
                (s for s in self.store.get_steps(run.run_id) if s.key == wait.step_key), None
            )
            self.store.remove_wait(wait.run_id, wait.step_key)
            if step is None or step.status is not StepStatus.WAITING:
                continue
            step.status = StepStatus.COMPLETED
            step.output = dumps(event)
            step.ended_at = self.clock.now()
            step.wake_at = None
            step.detail = {**step.detail, "matched": event["id"]}
            self.store.upsert_step(step)
            self.make_ready(run)

    def make_ready(self, run: RunRecord) -> None:
        """Make ``run`` due now. If a pass of it is in flight here, it goes again when that
        pass ends; if another server holds it, the store flags it for when that pass ends."""
        if run.run_id in self.in_flight:
            self.journal.after_commit(lambda: self.in_flight.rerun.add(run.run_id))
            return
        if not self.store.make_ready(run.run_id, self.clock.now()):
            return  # it ended meanwhile
        if self.journal.listeners:
            run.ready_at = self.clock.now()
            self.journal.notify("run", run_change(run))
        self.in_flight.wakeup.set()

    # -- creating runs ------------------------------------------------------------------

    def create_run(
        self,
        config: FunctionConfig,
        event: dict[str, Any],
        *,
        trigger: str,
        parent: RunRecord | None = None,
        step_key: str | None = None,
    ) -> RunRecord | str:
        """A new queued run, or why none was created (a repeated idempotency key, flow
        control), or the pending run that took the event (debounce, batch)."""
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
        if trigger in FLOW_TRIGGERS:
            admitted = admit(self, config, run)
            if admitted is not None:
                return admitted
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
            change = run_change(run)
            if run.queued_reason is not None:
                change["reason"] = run.queued_reason
            self.journal.notify("run", change)
        return run

    def start_run(
        self,
        function_id: str,
        event: dict[str, Any],
        *,
        trigger: str = "manual",
        mocks: Mapping[str, MemoStep] | None = None,
    ) -> RunRecord:
        """Create a run of ``function_id`` for ``event`` (raw: validated here) directly, with
        no trigger matching. ``mocks`` (kept in memory, for tests and replay) stand in for the
        steps they name; the mapping is used as given, not copied."""
        checked = validate_event(event, now_ms=int(self.clock.now() * 1000)).to_dict()
        run = self.create_run(self.functions.require(function_id), checked, trigger=trigger)
        assert isinstance(run, RunRecord)
        if mocks is not None:
            self._mocks[run.run_id] = mocks
        self.in_flight.wakeup.set()
        return run

    def start_invoked_run(
        self, function_id: str, data: dict[str, Any], *, parent: RunRecord, step_key: str
    ) -> RunRecord:
        """Create the child run of a ``step.invoke``."""
        now_ms = int(self.clock.now() * 1000)
        event = {"name": FUNCTION_INVOKED, "data": data, "id": new_id(now_ms), "ts": now_ms}
        config = self.functions.require(function_id)
        run = self.create_run(config, event, trigger="invoke", parent=parent, step_key=step_key)
        assert isinstance(run, RunRecord)
        self.in_flight.wakeup.set()
        return run

    def mocks_for(self, run_id: str) -> Mapping[str, MemoStep]:
        """The step results standing in for ``run_id``'s steps (testing, replay)."""
        return self._mocks.get(run_id, {})

    # -- ending runs --------------------------------------------------------------------

    def cancel(
        self,
        run_id: str,
        reason: str = "cancelled by request",
        *,
        event_id: str | None = None,
    ) -> bool:
        """Cancel a run: no step starts after this. False if it had already ended. No commit:
        the caller's transaction (or next commit) makes it durable.

        ``event_id``: the event that cancelled it through a ``cancel_on`` rule. Once committed,
        a pass in flight is marked cancelled and the executor is told to stop it.
        """
        run = self.store.get_run(run_id)
        if run is None:
            raise KeyError(run_id)
        if run.status.terminal:
            return False
        reason = shown_text(reason)
        event = self._system_event(FUNCTION_CANCELLED, run, {"reason": reason})
        run.status, run.cancel_reason = RunStatus.CANCELLED, reason
        run.cancel_event_id = event_id
        if not self._end(run):
            return False  # it ended meanwhile (another writer won): no second event
        if run_id in self.in_flight:
            self.journal.after_commit(lambda: self.in_flight.cancelled.add(run_id))
        self.journal.after_commit(lambda: self.executor.cancel_run(run_id))
        self.ingest([event])
        self._resolve_parent(run, error={"name": "FunctionCancelled", "message": reason})
        return True

    def complete(self, run: RunRecord, output: str | None, *, parked: bool = True) -> None:
        """End a run as completed with ``output`` (JSON text), answering a parent's invoke.
        ``parked=False``: the caller knows the run has no parked step to close."""
        run.status, run.output, run.error = RunStatus.COMPLETED, output, None
        if self._end(run, parked=parked):
            self._resolve_parent(run, output=output)

    def fail(self, run: RunRecord, error: dict[str, Any]) -> None:
        """End a run as failed; emits ``durable/function.failed``, answers a parent's invoke."""
        error = clean_error(error)
        event = self._system_event(FUNCTION_FAILED, run, {"error": error})
        run.status, run.error = RunStatus.FAILED, error
        if self._end(run):
            self.ingest([event])
            self._resolve_parent(run, error=error)

    def _system_event(self, name: str, run: RunRecord, extra: dict[str, Any]) -> Event:
        """The event ``name`` about ``run``, built (and trimmed to the event limit) before the
        run's end is written: nothing is left half-done if it cannot be."""
        return system_event(name, run, extra, now_ms=int(self.clock.now() * 1000))

    def _end(self, run: RunRecord, *, parked: bool = True) -> bool:
        """Save a run that just reached a terminal status and drop what it was waiting on:
        its waits, and its parked steps (closed as ``cancelled`` at the run's end).

        False, with nothing written, if the stored run had ended already (another writer,
        e.g. a cancel from another server, won): the caller emits no system event."""
        run.ended_at, run.ready_at, run.deadline_at = self.clock.now(), None, None
        if not self.store.end_run(run):
            return False
        if self.journal.listeners:
            self.journal.notify("run", run_change(run))
        self.store.remove_waits(run.run_id)
        config = self.functions.get(run.function_id)
        # (a pass in flight gives its slots back as it ends; a function without concurrency
        # took none)
        if run.run_id not in self.in_flight and (config is None or config.concurrency):
            self.store.release_slots(run.run_id)
        if config is not None:
            on_end(self.store, config, run)
        self.journal.after_commit(functools.partial(self._mocks.pop, run.run_id, None))
        closing = self.store.get_steps(run.run_id, statuses=PARKED_STEP_STATUSES) if parked else []
        for step in closing:
            step.status, step.ended_at, step.wake_at = StepStatus.CANCELLED, run.ended_at, None
            step.detail = {**step.detail, "closed_by": f"run {run.status.value}"}
            self.store.upsert_step(step)
            self.notify_step(run, step)
        return True

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
        self.make_ready(parent)
