"""One pass of a run: build its history, hand it to the executor, apply what comes back.

:class:`Passes` are where a run meets the executor (in process, or a worker process). A pass
ends in one of: completed, failed, errored (the handler body is retried after its backoff),
or suspended (sleeping, waiting, or due again at once when something it waits on resolved
during the pass).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from typing import Any

from .._define.backoff import DEFAULT_BACKOFF, Backoff
from .._define.config import FunctionConfig
from .._engine.protocol import (
    ExecutionRequest,
    ExecutionResult,
    Executor,
    PassCrashed,
    PassInterrupted,
)
from .._errors import StoreError, UnknownFunctionError
from .._serialization import dumps, encoded_size
from .._stores.base import (
    PARKED_STEP_STATUSES,
    Lease,
    RunRecord,
    RunStatus,
    StepRecord,
    StepStatus,
    Store,
)
from .clock import Clock
from .functions import FunctionRegistry
from .history import build_history
from .in_flight import InFlight
from .journal import Journal
from .parking import FunctionNotLoaded, Parking
from .run_host import RunHost
from .runs import Runs

logger = logging.getLogger("durable.passes")


class Passes:
    """Runs the passes of runs and applies their results."""

    def __init__(
        self,
        *,
        runs: Runs,
        journal: Journal,
        store: Store,
        clock: Clock,
        executor: Executor,
        functions: FunctionRegistry,
        parking: Parking,
        in_flight: InFlight,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.runs = runs
        self.journal = journal
        self.store = store
        self.clock = clock
        self.executor = executor
        self.functions = functions
        self.parking = parking
        self.in_flight = in_flight
        self.backoff = backoff
        self.rng = rng or random.Random()

    async def execute(self, run: RunRecord) -> None:
        """Run one pass of ``run`` and apply its result.

        If the database refuses a write of the pass (locked, full), the pass is abandoned:
        what it wrote since its last commit is rolled back and the :class:`StoreError` is
        raised again; the scheduler runs it again from that commit once writes work
        (:meth:`Scheduler.strand`).
        """
        try:
            await self._execute(run)
        except StoreError as exc:
            self.journal.store_failed(exc)
            self.in_flight.rerun.discard(run.run_id)
            raise

    async def _execute(self, run: RunRecord) -> None:
        config = self.functions.get(run.function_id)
        if config is None:  # not loaded: held back if its code failed to load, else failed
            self.store.release_slots(run.run_id)
            if not self.parking.park(run):
                self.runs.fail(run, UnknownFunctionError(run.function_id).to_dict())
            self.journal.flush()
            return
        now = self.clock.now()
        run.status, run.ready_at = RunStatus.RUNNING, None
        if run.started_at is None:
            run.started_at = now
            run.deadline_at, run.deadline_reason = None, None
            if config.finish_timeout is not None:
                run.deadline_at = now + config.finish_timeout.total_seconds()
                run.deadline_reason = "timeouts.finish: the run did not finish in time"

        self.runs.save_run(run)
        lease = self.in_flight.leases.get(run.run_id)
        steps, memo = build_history(self.store, run, self.clock.now(), lease)
        state_bytes = encoded_size(dumps(run.event)) + sum(
            encoded_size(s.output) for s in steps.values() if s.output is not None
        )
        request = ExecutionRequest(
            run_id=run.run_id,
            function_id=run.function_id,
            event=run.event,
            events=tuple(run.events),
            steps=memo,
            attempt=run.attempt,
            state_bytes=state_bytes,
            step_count=len(steps),
            mocks=self.runs.mocks_for(run.run_id),
        )
        host = RunHost(
            run,
            config,
            steps,
            lease=lease,
            runs=self.runs,
            journal=self.journal,
            store=self.store,
            clock=self.clock,
            functions=self.functions,
            in_flight=self.in_flight,
            backoff=self.backoff,
            rng=self.rng,
        )
        held: str | None = None
        try:
            result = await self.executor.execute(request, host)
        except FunctionNotLoaded as exc:  # nothing ran: wait for the code to load
            held, result = str(exc), ExecutionResult("suspended")
        except PassInterrupted:
            result = ExecutionResult("suspended", reenter=True)
        except StoreError:
            raise
        except PassCrashed as exc:  # this run's step (or handler) ended the process
            if host.crashed(str(exc), name=exc.name, keys=exc.step_keys):
                result = ExecutionResult("suspended")
            else:
                result = ExecutionResult("errored", error={"name": exc.name, "message": str(exc)})
        except Exception as exc:  # a worker crash: the steps in flight failed an attempt
            if host.crashed(str(exc)):
                result = ExecutionResult("suspended")
            else:
                result = ExecutionResult(
                    "errored", error={"name": type(exc).__name__, "message": str(exc)}
                )
        if host.store_error is not None:  # the handler was stopped: nothing to apply
            raise host.store_error
        cancelled_here = run.run_id in self.in_flight.cancelled
        # The pass's end is a checkpoint too: the ends of passes finishing together share
        # one look-up of their leases and one commit.
        checked = None if cancelled_here else lease
        ended = await self.journal.checkpoint(
            checked,
            lambda: self._end_pass(run, config, result, host.steps.values(), held, checked),
        )
        if ended is None and run.run_id in self.in_flight.cancelled:
            self.in_flight.ended(run.run_id)  # cancelled here while its end waited to commit
        elif ended is None and lease is not None:
            # reaped (another server owns the run now and goes on from its last commit),
            # another server ended the run, or the transaction of the claim was rolled back
            logger.warning(
                "run %s: lease %d lost during the pass (its server was reaped, another "
                "server ended the run, or the claim was rolled back): nothing more of this "
                "pass is written",
                run.run_id,
                lease.epoch,
            )
            self.in_flight.rerun.discard(run.run_id)
            # Due again from its last commit, unless it ended: with no owner (a claim rolled
            # back) at once, with a new owner after that owner's pass (a harmless extra one).
            self.store.make_ready(run.run_id, self.clock.now())
            self.journal.flush()

    def _end_pass(
        self,
        run: RunRecord,
        config: FunctionConfig,
        result: ExecutionResult,
        steps: Iterable[StepRecord],
        held: str | None,
        lease: Lease | None,
    ) -> bool:
        """Write the end of a pass whose lease holds (committed by the caller's checkpoint)."""
        if config.concurrency:  # a function without concurrency took no slot
            self.store.release_slots(run.run_id)  # committed with the pass's end
        # A lease that holds (checked in this transaction) is on a run that has not ended;
        # without one (cancelled here, or no leases), ask whether it ended meanwhile.
        if lease is None:
            latest = self.store.get_run(run.run_id)
            if latest is None or latest.status.terminal:
                self.in_flight.ended(run.run_id)
                return True
        if held is not None:
            self.in_flight.rerun.discard(run.run_id)
            self.parking.hold(run, held)
        else:
            # The pass's steps are the run's steps (its history, plus what it wrote): if none
            # is parked, ending the run has none to close (no query for them).
            parked = any(s.status in PARKED_STEP_STATUSES for s in steps)
            self._apply(run, config, result, parked=parked)
        return True

    def _apply(
        self,
        run: RunRecord,
        config: FunctionConfig,
        result: ExecutionResult,
        *,
        parked: bool = True,
    ) -> None:
        if result.status != "suspended":
            self.in_flight.rerun.discard(run.run_id)
        if result.status == "completed":
            self.runs.complete(run, result.output, parked=parked)
        elif result.status == "failed":
            self.runs.fail(run, dict(result.error or {}))
        elif result.status == "errored":
            self._body_error(run, config, dict(result.error or {}))
        elif result.status == "suspended":
            self._suspend(run, reenter=result.reenter)

    def _body_error(self, run: RunRecord, config: FunctionConfig, error: dict[str, Any]) -> None:
        run.attempt += 1
        if run.attempt > config.retries:
            self.runs.fail(run, error)
            return
        now = self.clock.now()
        retry_at = error.get("retry_at")
        if not isinstance(retry_at, (int, float)):
            backoff = self.backoff or config.backoff or DEFAULT_BACKOFF
            retry_at = now + backoff.delay(run.attempt, self.rng).total_seconds()
        run.error, run.ready_at, run.status = error, retry_at, RunStatus.RUNNING
        self.runs.save_run(run)

    def _suspend(self, run: RunRecord, *, reenter: bool) -> None:
        pending = [
            s
            for s in self.store.get_steps(run.run_id)
            if s.status not in (StepStatus.COMPLETED, StepStatus.FAILED)
        ]
        wakes = [s.wake_at for s in pending if s.wake_at is not None]
        statuses = {s.status for s in pending}
        if reenter or run.run_id in self.in_flight.rerun or not pending:
            self.in_flight.rerun.discard(run.run_id)
            run.ready_at, run.status = self.clock.now(), RunStatus.RUNNING
        else:
            run.ready_at = min(wakes) if wakes else None
            if statuses & {StepStatus.WAITING, StepStatus.INVOKING}:
                run.status = RunStatus.WAITING
            elif StepStatus.SLEEPING in statuses:
                run.status = RunStatus.SLEEPING
            else:
                run.status = RunStatus.RUNNING
        self.runs.save_run(run)
