"""The host side of one execution: turn the core's checkpoints into stored step records.

A :class:`RunHost` lives for one pass of one run. It owns the retry decision for failed
attempts (per-step counters, backoff, ``RetryAfterError``) and resolves what can be resolved
at once (an expired sleep, an event that already arrived, sent events).
"""

from __future__ import annotations

import random

from .._define.backoff import DEFAULT_BACKOFF, Backoff
from .._define.config import FunctionConfig
from .._define.expressions import compile_expression
from .._engine.protocol import (
    CONTINUE,
    PARK,
    STOP,
    Checkpoint,
    InvokeRequest,
    LogLine,
    Reply,
    SendEventRequest,
    SleepRequest,
    StepCompleted,
    StepFailed,
    StepKind,
    StepStarted,
    WaitRequest,
)
from .._errors import StoreError, UnknownFunctionError
from .._serialization import dumps
from .._stores.base import Lease, LogRecord, RunRecord, StepRecord, StepStatus, Store
from .._text import clean_error, shown_text
from .clock import Clock
from .functions import FunctionRegistry
from .in_flight import InFlight
from .journal import Journal
from .runs import Runs
from .waits import make_wait


class RunHost:
    """Implements :class:`~durable._engine.protocol.ExecutionHost` for one pass of one run."""

    def __init__(
        self,
        run: RunRecord,
        config: FunctionConfig,
        steps: dict[str, StepRecord],
        *,
        runs: Runs,
        journal: Journal,
        store: Store,
        clock: Clock,
        functions: FunctionRegistry,
        in_flight: InFlight,
        backoff: Backoff | None,
        rng: random.Random,
        lease: Lease | None = None,
    ) -> None:
        self.lease = lease  #: this pass's claim on the run: checked before every checkpoint
        self.runs = runs
        self.journal = journal
        self.store = store
        self.clock = clock
        self.functions = functions
        self.passes = in_flight  #: the engine's passes in flight (is this run cancelled?)
        self.run = run
        self.config = config
        self.steps = steps
        self.backoff = backoff or config.backoff or DEFAULT_BACKOFF
        self.rng = rng
        # A new step's position is base + its rank in this pass. Steps a rerun copied in hold
        # the ranks the code reaches them at, so they do not move the base: a step before
        # them that runs again in the rerun's first pass still sorts before them.
        self.base_position = (
            max((s.position for s in steps.values() if "reused_from" not in s.detail), default=-1)
            + 1
        )
        self.in_flight: dict[str, StepStarted] = {}
        #: set when the database refused a checkpoint: the handler was told to stop
        self.store_error: StoreError | None = None
        self.last_checkpoint_at = max(
            (s.ended_at for s in steps.values() if s.ended_at is not None),
            default=run.started_at or run.created_at,
        )

    # -- ExecutionHost ------------------------------------------------------------------

    def is_cancelled(self) -> bool:
        return self.passes.is_cancelled(self.run.run_id)

    def step_started(self, notice: StepStarted) -> None:
        self.in_flight[notice.key] = notice
        self.runs.notify_started(self.run, notice)

    def crashed(self, reason: str, *, name: str = "WorkerDied", keys: tuple[str, ...] = ()) -> bool:
        """The process running this pass died: fail the attempts in flight, per step policy.

        ``keys``: only those steps (the one known to have caused it); else every step in
        flight. Returns False if none was charged (the crash was in handler code).
        """
        now = self.clock.now()
        charged = [n for n in self.in_flight.values() if not keys or n.key in keys]
        for notice in charged:
            self._failed(
                StepFailed(
                    notice.key,
                    notice.id,
                    {"name": name, "message": reason},
                    notice.attempt,
                    notice.started_at,
                    now,
                    seq=notice.seq,
                )
            )
        return bool(charged)

    def log(self, line: LogLine) -> None:
        # cleaned here too: a worker's lines are not to be trusted to be storable text
        level, message = shown_text(line.level), shown_text(line.message)
        self.journal.buffer_log(LogRecord(self.run.run_id, line.ts, level, message, line.step_key))

    async def checkpoint(self, message: Checkpoint) -> Reply:
        self.in_flight.pop(message.key, None)
        if self.is_cancelled() or self.store_error is not None:
            return STOP
        try:
            reply = await self.journal.checkpoint(self.lease, lambda: self._apply(message))
        except StoreError as exc:
            # Not saved, so not done: stop the handler; the run goes again from its last
            # commit once the database takes writes (the step body runs again then).
            if self.store_error is None:
                self.store_error = exc
                self.journal.store_failed(exc)
            return STOP
        if reply is None:
            return STOP  # reaped: the run's new owner redoes this step from the last commit
        return reply

    def _apply(self, message: Checkpoint) -> Reply:
        if self.is_cancelled():  # while the checkpoint waited for its group commit
            return STOP
        if isinstance(message, StepCompleted):
            return self._completed(message)
        if isinstance(message, StepFailed):
            return self._failed(message)
        if isinstance(message, SleepRequest):
            return self._sleep(message)
        if isinstance(message, WaitRequest):
            return self._wait(message)
        if isinstance(message, InvokeRequest):
            return self._invoke(message)
        return self._send(message)

    # -- checkpoints --------------------------------------------------------------------

    def _step(self, msg: Checkpoint, kind: StepKind, status: StepStatus) -> StepRecord:
        step = self.steps.get(msg.key)
        if step is None:
            step = StepRecord(
                run_id=self.run.run_id,
                key=msg.key,
                id=msg.id,
                kind=kind.value,
                status=status,
                position=self.base_position + msg.seq,
                started_at=self.clock.now(),
            )
            self.steps[msg.key] = step
        step.status = status
        return step

    def _save(self, step: StepRecord) -> None:
        self.store.upsert_step(step)
        self.runs.notify_step(self.run, step)

    def _completed(self, msg: StepCompleted) -> Reply:
        step = self._step(msg, msg.kind, StepStatus.COMPLETED)
        step.attempts.append(
            {"started_at": msg.started_at, "ended_at": msg.ended_at, "error": None}
        )
        if step.started_at is None or len(step.attempts) == 1:
            step.started_at = msg.started_at
        step.output, step.error, step.wake_at = msg.output, None, None
        step.ended_at = msg.ended_at
        self.last_checkpoint_at = msg.ended_at
        self._save(step)
        return CONTINUE

    def _failed(self, msg: StepFailed) -> Reply:
        step = self._step(msg, msg.kind, StepStatus.ERRORED)
        if not step.attempts:
            step.started_at = msg.started_at
        error = clean_error(msg.error)
        step.attempts.append(
            {"started_at": msg.started_at, "ended_at": msg.ended_at, "error": dict(error)}
        )
        failures = len(step.attempts)
        step.ended_at = msg.ended_at
        step.error = error
        if not msg.retriable or failures > self.config.retries:
            step.status, step.wake_at = StepStatus.FAILED, None
            self.last_checkpoint_at = msg.ended_at
            self._save(step)
            return Reply("fail", error=step.error)
        now = self.clock.now()
        if msg.retry_at is not None:
            due = msg.retry_at
        else:
            due = now + self.backoff.delay(failures, self.rng).total_seconds()
        step.wake_at = due
        self._save(step)
        return CONTINUE if due <= now else PARK

    def _sleep(self, msg: SleepRequest) -> Reply:
        now = self.clock.now()
        if msg.until <= now:
            step = self._step(msg, StepKind.SLEEP, StepStatus.COMPLETED)
            step.ended_at = now
            step.detail = {"until": msg.until}
            self._save(step)
            return CONTINUE
        step = self._step(msg, StepKind.SLEEP, StepStatus.SLEEPING)
        step.wake_at = msg.until
        step.detail = {"until": msg.until}
        self._save(step)
        return PARK

    def _wait(self, msg: WaitRequest) -> Reply:
        condition = compile_expression(msg.if_) if msg.if_ else None
        trigger = self.run.event
        # Exclusive against ingests of this name: the events read below and the wait added
        # after leave no gap for an event stored meanwhile by another server.
        self.store.lock_event_names([msg.event], exclusive=True)
        for candidate in self.store.events_since(msg.event, self.last_checkpoint_at):
            data = candidate.to_event_dict()
            if condition is None or condition.matches({"event": trigger, "async": data}):
                step = self._step(msg, StepKind.WAIT_FOR_EVENT, StepStatus.COMPLETED)
                step.detail = {"event": msg.event, "if": msg.if_, "matched": candidate.id}
                step.output = dumps(data)
                step.ended_at = self.clock.now()
                self._save(step)
                return Reply("continue", data)
        step = self._step(msg, StepKind.WAIT_FOR_EVENT, StepStatus.WAITING)
        step.wake_at = msg.timeout_at
        step.detail = {"event": msg.event, "if": msg.if_, "timeout_at": msg.timeout_at}
        self.store.add_wait(
            make_wait(
                self.run,
                step_key=msg.key,
                event_name=msg.event,
                condition=msg.if_,
                expires_at=msg.timeout_at,
                since=self.last_checkpoint_at,
            )
        )
        self._save(step)
        return PARK

    def _invoke(self, msg: InvokeRequest) -> Reply:
        if msg.function_id not in self.functions:
            error = UnknownFunctionError(msg.function_id)
            step = self._step(msg, StepKind.INVOKE, StepStatus.FAILED)
            step.error = {**error.to_dict(), "name": "UnknownFunctionError"}
            step.ended_at = self.clock.now()
            self._save(step)
            return Reply("fail", error=step.error)
        child = self.runs.start_invoked_run(
            msg.function_id, dict(msg.data), parent=self.run, step_key=msg.key
        )
        step = self._step(msg, StepKind.INVOKE, StepStatus.INVOKING)
        step.wake_at = msg.timeout_at
        step.detail = {"function_id": msg.function_id, "child_run_id": child.run_id}
        self._save(step)
        return PARK

    def _send(self, msg: SendEventRequest) -> Reply:
        ids = [record.id for record in self.runs.ingest_raw([dict(e) for e in msg.events])]
        step = self._step(msg, StepKind.SEND_EVENT, StepStatus.COMPLETED)
        step.output = dumps(ids)
        step.ended_at = self.clock.now()
        self.last_checkpoint_at = step.ended_at
        self._save(step)
        return Reply("continue", ids)
