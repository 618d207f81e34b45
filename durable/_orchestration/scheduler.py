"""Scheduling: which passes start when. Due runs, flow control, cron ticks, deadlines.

The :class:`Scheduler` picks due runs (oldest due first, less their priority), holds back
those whose concurrency keys are full (slots in the store) or whose throttle is at its limit
(``queued_reason``), fires due cron ticks (at most once per tick, a missed stretch of ticks
once), cancels runs past their ``timeouts`` deadline, and drives the loops: :meth:`settle`
for virtual time, and :meth:`run_forever` for the real clock. A pass itself is a callable
it is given (:meth:`Passes.execute` in the engine); a pass
that raises :class:`StoreError` is stranded and goes again once the database takes writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .._define.config import FunctionConfig
from .._define.triggers import CronTrigger
from .._errors import StoreError
from .._limits import EVENT_DEDUP_WINDOW_SECONDS
from .._stores.base import EventRecord, Lease, RunRecord, SharedStore, Store
from .admission import on_start
from .clock import Clock
from .flow import concurrency_slots, cron_event, flow_key
from .functions import FunctionRegistry
from .heartbeat import Heartbeat
from .in_flight import InFlight
from .journal import Journal
from .runs import Runs

logger = logging.getLogger("durable.scheduler")

#: Back-off between scheduler rounds while the database refuses writes (first, then doubling).
RETRY_FIRST, RETRY_MAX = 0.1, 5.0
#: On a store many servers share, the longest sleep between rounds: another server's work
#: is announced (:class:`SharedStore`), and this poll covers a lost announcement.
POLL_SECONDS = 1.0
#: due runs read beyond a round's room (runs flow control holds back may be among them)
DUE_MARGIN = 64


def next_tick(trigger: CronTrigger, after: float) -> float:
    """The epoch second of the first tick of ``trigger`` strictly after ``after``."""
    return trigger.schedule.next_after(datetime.fromtimestamp(after, UTC)).timestamp()


class Scheduler:
    """Starts passes: ``execute(run)`` runs one pass of a due run."""

    def __init__(
        self,
        *,
        runs: Runs,
        journal: Journal,
        store: Store,
        clock: Clock,
        functions: FunctionRegistry,
        in_flight: InFlight,
        execute: Callable[[RunRecord], Awaitable[None]],
        max_parallel: int,
        server_id: str = "local",
        dead_after: float | None = None,
    ) -> None:
        self.runs = runs
        self.journal = journal
        self.store = store
        self.clock = clock
        self.functions = functions
        self.in_flight = in_flight
        self.execute = execute
        self.max_parallel = max_parallel
        self.server_id = server_id  #: claims runs in the store under this name
        #: a registered server beats every dead_after/4 s in run_forever (None: no heartbeat)
        self.dead_after = dead_after
        self.reaped = False  #: this server was reaped: it starts nothing more
        self.wakeup = in_flight.wakeup  #: set whenever new work may be due
        self._cron_next: dict[tuple[str, str], float] = {}
        #: runs whose pass was abandoned because the database refused its writes: made ready
        #: again (from their last commit) once writes work
        self.stranded: set[str] = set()
        self._retry_delay = 0.0
        self._retry_at = 0.0
        #: set once run_forever's first round has started its passes (or failed): a server
        #: starting up lets those passes go out before its slower start-up work
        self.first_round = asyncio.Event()
        self.running = False  #: run_forever is running (the real-clock loop)

    def schedule_crons(self) -> None:
        """Load (or first compute) the next tick of every cron trigger."""
        store, now = self.store, self.clock.now()
        self._cron_next = {}
        for config in self.functions.all():
            for trigger in config.cron_triggers:
                next_at = store.get_cron(config.id, trigger.cron)
                if next_at is None:
                    next_at = next_tick(trigger, now)
                    store.set_cron(config.id, trigger.cron, next_at)
                self._cron_next[(config.id, trigger.cron)] = next_at
        self.journal.flush()

    def recover(self) -> int:
        """After a restart: make runs that were mid-pass ready again. Returns their number."""
        count = self.store.resume_interrupted(self.clock.now())
        self.journal.flush()
        return count

    def start_now(self) -> int:
        """Start the passes due now without waiting for the loop's next round (its wake-up
        and its deadline and cron checks): a server calls it once ingested events are
        committed, so that an event's first step starts sooner. Only while
        :meth:`run_forever` runs: a virtual clock (``TestEngine``) starts passes when told.
        Returns how many started; a failure (a refused claim) is left to the loop's round,
        which reports it."""
        if not self.running:
            return 0
        try:
            return self._start_due()
        except Exception:  # the events are committed: the loop's round retries and reports
            logger.debug("starting passes at once failed; left to the next round", exc_info=True)
            return 0

    def _start_due(self) -> int:
        """Start a pass for every due run not already in flight. Returns how many started."""
        room = self.max_parallel - len(self.in_flight.tasks)
        if room <= 0 or self.reaped:
            return 0
        round_ = _Round(self.clock.now(), room)
        limit = room + DUE_MARGIN
        while True:
            # A page a little larger than the room: reading (and decoding) every due run on
            # each round cost the server ~10% of its CPU with thousands of runs queued. Runs
            # held back (their concurrency key is full) may fill a page: then a larger one.
            due = self.store.ready_runs(round_.now, limit)
            pending = [
                run
                for run in due
                if run.run_id not in self.in_flight.tasks and run.run_id not in round_.seen
            ]
            round_.seen.update(run.run_id for run in pending)
            self._start_some(pending, round_)
            if round_.started >= room or len(due) < limit:
                break
            limit *= 4
        if round_.held:
            self.journal.flush()
        if round_.started and isinstance(self.store, SharedStore):
            # Commit the claims, and what the passes write before their first step, as soon
            # as those writes are made (the passes' first steps run right after this round):
            # an open transaction would hold those runs' rows for that step's duration, and
            # another server cancelling or waking one of them would wait on it.
            asyncio.get_running_loop().call_soon(self._commit_started)
        return round_.started

    def _start_some(self, pending: list[RunRecord], round_: _Round) -> None:
        """Claim and start the runs of ``pending`` the round has room for, holding back
        those flow control keeps waiting."""
        while pending and round_.started < round_.room:
            chunk, pending = self._claimable(pending, round_.room - round_.started, round_.full)
            # Claim first: only the run's lease holder takes its slots and throttle start
            # (two servers finding the same due run would otherwise both count it). One
            # claim for the chunk; a run another server holds is left out.
            leases = self.store.claim_runs([run.run_id for run in chunk], self.server_id)
            for run in chunk:
                lease = leases.get(run.run_id)
                if lease is None:
                    continue
                config = self.functions.get(run.function_id)
                if config is not None and self._known_full(run, config, round_.full):
                    self.store.release_run(lease)  # its key filled up earlier in the chunk
                    continue
                if config is not None:
                    reason = self._hold_back(run, config, round_.now, round_.full)
                    if reason is not None:
                        if reason != run.queued_reason or reason == "throttle":
                            run.queued_reason = reason
                            self.runs.save_run(run, reason=reason)
                            round_.held = True
                        self.store.release_run(lease)
                        continue
                self._start_pass(run, config, lease)
                round_.started += 1

    def _claimable(
        self, pending: list[RunRecord], size: int, full: set[str]
    ) -> tuple[list[RunRecord], list[RunRecord]]:
        """The next ``size`` runs of ``pending`` worth claiming (not held back already for a
        key found full this round), and the runs after them."""
        chunk: list[RunRecord] = []
        for index, run in enumerate(pending):
            if len(chunk) == size:
                return chunk, pending[index:]
            config = self.functions.get(run.function_id)
            if config is None or not self._known_full(run, config, full):
                chunk.append(run)
        return chunk, []

    def _start_pass(self, run: RunRecord, config: FunctionConfig | None, lease: Lease) -> None:
        if config is not None and run.started_at is None:
            on_start(self.store, config, run)
        run.queued_reason = None
        self.in_flight.leases[run.run_id] = lease
        task = asyncio.ensure_future(self._pass(run))
        self.in_flight.tasks[run.run_id] = task
        slots = config is None or bool(config.concurrency)
        task.add_done_callback(functools.partial(self._pass_done, run.run_id, slots))

    def _commit_started(self) -> None:
        with contextlib.suppress(StoreError):  # rolled back and reported by the journal
            self.journal.flush()

    @staticmethod
    def _known_full(run: RunRecord, config: FunctionConfig, full: set[str]) -> bool:
        """Held back already for a concurrency key this round found full (no slot freed
        since): no need to claim it only to be refused. A run that started before may hold
        its slot from a pass cut short by a crash: it asks the store."""
        return bool(
            config.concurrency
            and run.started_at is None
            and run.queued_reason == "concurrency"
            and full.intersection(run.concurrency_keys)
        )

    def _hold_back(
        self, run: RunRecord, config: FunctionConfig, now: float, full: set[str]
    ) -> str | None:
        """Why ``run`` may not start a pass now (``concurrency``, ``throttle``), or None
        having taken its concurrency slots and (first pass) its throttle start."""
        if config.concurrency:
            keys = run.concurrency_keys
            if not self.store.acquire_slots(run.run_id, concurrency_slots(config, keys)):
                if len(keys) == 1:
                    full.add(keys[0])
                return "concurrency"
        rule = config.flow.throttle
        if rule is None or run.started_at is not None:
            return None
        if run.queued_reason == "throttle":  # its reserved start has come
            return None
        key = f"throttle#{config.id}#{flow_key(rule.key, run.event)}"
        wait = self.store.gcra_reserve(key, now, rule.interval, rule.tolerance)
        if wait <= 0:
            return None
        # the start is reserved (FIFO, one write per run): due then, with no second check
        if config.concurrency:
            self.store.release_slots(run.run_id)
        run.ready_at = now + wait
        return "throttle"

    def _lost_to_another(self, lease: Lease) -> bool:
        """Whether the run of ``lease`` is another server's now (reaped, then claimed): its
        slots are that server's pass's. An ended run is nobody's."""
        if self.store.holds_lease(lease):
            return False
        run = self.store.get_run(lease.run_id)
        return run is not None and not run.status.terminal

    async def _pass(self, run: RunRecord) -> None:
        try:
            await self.execute(run)
        except StoreError:  # rolled back by the pass: go again once writes work
            self.strand(run.run_id)

    def _pass_done(self, run_id: str, slots: bool = True, _task: object = None) -> None:
        self.in_flight.tasks.pop(run_id, None)
        lease = self.in_flight.leases.pop(run_id, None)
        if run_id not in self.stranded:  # (a stranded run keeps its slots: it goes again)
            # Slots before the lease: once released, the run (and its slots) may be another
            # server's. A pass gives them back as it commits its end; this covers one that
            # did not.
            with contextlib.suppress(StoreError):  # (``slots``: the function takes some)
                if slots and (lease is None or not self._lost_to_another(lease)):
                    self.store.release_slots(run_id)
            self._retry_delay = 0.0  # a pass went through: the database takes writes
        if lease is not None:
            with contextlib.suppress(StoreError):  # a lease left behind is this server's own
                self.store.release_run(lease)
        self.wakeup.set()

    async def tick(self) -> int:
        """Expire deadlines, fire due cron ticks, start due passes. Returns passes started.

        Raises :class:`StoreError` (having changed nothing) if the database refuses the writes.
        """
        now = self.clock.now()
        fired: dict[tuple[str, str], float] = {}
        async with self.journal.transaction():
            self._resume_stranded(now)
            for run in self.store.expired_deadlines(now):
                self.runs.cancel(run.run_id, run.deadline_reason or "timed out")
            for (function_id, cron), next_at in self._cron_next.items():
                if next_at <= now:
                    fired[(function_id, cron)] = self._fire_cron(function_id, cron, next_at, now)
        self._cron_next.update(fired)  # only once committed: a refused tick fires again
        if now >= self._retry_at:
            self.stranded &= set(self.in_flight.tasks)
        return self._start_due()

    def strand(self, run_id: str) -> None:
        """A pass of ``run_id`` was abandoned (the database refused its writes): run it again
        from its last commit after a back-off that grows while the database keeps refusing."""
        self.stranded.add(run_id)
        self._retry_delay = min(RETRY_MAX, max(RETRY_FIRST, self._retry_delay * 2))
        self._retry_at = self.clock.now() + self._retry_delay

    def _resume_stranded(self, now: float) -> None:
        if now < self._retry_at:
            return
        for run_id in self.stranded - set(self.in_flight.tasks):
            run = self.store.get_run(run_id)
            if run is not None and not run.status.terminal:
                run.ready_at = now
                self.store.update_run(run)

    def _fire_cron(self, function_id: str, cron: str, tick: float, now: float) -> float:
        config = self.functions.require(function_id)
        trigger = next(t for t in config.cron_triggers if t.cron == cron)
        next_at = next_tick(trigger, max(now, tick))  # missed ticks fire once, not per tick
        if not self.store.advance_cron(function_id, cron, tick, next_at):
            # another scheduler fired this tick and moved the schedule on: follow it
            return self.store.get_cron(function_id, cron) or next_at
        event = cron_event(function_id, trigger, tick)
        # the tick's event id is derived from the tick: claimed once, whoever fires it
        if self.store.claim_event_id(event["id"], now=now, window=EVENT_DEDUP_WINDOW_SECONDS):
            record = EventRecord(
                id=event["id"],
                name=event["name"],
                data=event["data"],
                ts=event["ts"],
                received_at=now,
            )
            run = self.runs.create_run(config, event, trigger="cron")
            if isinstance(run, RunRecord):
                record.run_ids.append(run.run_id)
            else:
                record.skipped = run
            self.store.insert_event(record)
        return next_at

    def next_wake_at(self) -> float | None:
        """When something next falls due: a run, a deadline or a cron tick."""
        times = [
            t for t in (self.store.next_ready_at(), self.store.next_deadline_at()) if t is not None
        ]
        times.extend(self._cron_next.values())
        if self.stranded:
            times.append(self._retry_at)
        return min(times) if times else None

    async def settle(self) -> None:
        """Run every pass that is due now, and those they make due, until nothing is."""
        while True:
            await self.tick()
            if not self.in_flight.tasks:
                if self._has_startable():
                    continue
                return
            done, _ = await asyncio.wait(
                list(self.in_flight.tasks.values()), return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                task.result()

    async def run_forever(self) -> None:
        """The real-clock loop: start due passes, then sleep until the next one is due.

        While the database refuses writes (locked, full) it logs the problem once, retries
        with a growing back-off, and logs again when writes work. With ``dead_after`` it
        heartbeats too, and returns once this server was reaped (its passes stopped).
        """
        loop = asyncio.get_running_loop()
        shared = isinstance(self.store, SharedStore)
        beating = None
        if self.dead_after is not None:
            heartbeat = Heartbeat(
                store=self.store,
                journal=self.journal,
                clock=self.clock,
                server_id=self.server_id,
                dead_after=self.dead_after,
                on_reaped=self._stop_reaped,
                self_fence=shared,
            )
            beating = asyncio.ensure_future(heartbeat.run())
        if isinstance(self.store, SharedStore):
            self.store.listen_for_work(functools.partial(self._wake_from, loop))
        self.running = True
        try:
            await self._rounds(POLL_SECONDS if shared else None)
        finally:
            self.running = False
            if isinstance(self.store, SharedStore):
                self.store.stop_listening()
            if beating is not None:
                beating.cancel()
                await asyncio.gather(beating, return_exceptions=True)
        await self._stop_passes()

    async def _rounds(self, poll: float | None) -> None:
        delay = 0.0
        while not self.reaped:
            self.wakeup.clear()
            try:
                if self.journal.store_problem is not None:
                    self.store.probe_write()
                await self.tick()
            except Exception as exc:
                self.first_round.set()
                delay = min(RETRY_MAX, max(RETRY_FIRST, delay * 2))
                self._report(exc, delay)
                await asyncio.sleep(delay)
                continue
            if delay:
                logger.warning("the database accepts writes again: scheduling resumed")
                delay = 0.0
            self.journal.store_problem = None
            self.first_round.set()
            next_at = self.next_wake_at()
            timeout = None if next_at is None else max(0.0, next_at - self.clock.now())
            if poll is not None:
                timeout = poll if timeout is None else min(timeout, poll)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout)
            # Woken by an event's ingest, whose passes start_now() has just started: let them
            # send their requests to the worker before this round reads the due runs again.
            await asyncio.sleep(0)

    def _wake_from(self, loop: asyncio.AbstractEventLoop) -> None:
        """Another server made work due (called from the store's listening thread)."""
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self.wakeup.set)

    def _stop_reaped(self) -> None:
        self.reaped = True
        self.wakeup.set()

    async def _stop_passes(self) -> None:
        """Reaped: cancel the passes in flight (their leases are stale: they write nothing)."""
        if not self.reaped:
            return
        tasks = list(self.in_flight.tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _report(self, exc: Exception, delay: float) -> None:
        if isinstance(exc, StoreError):
            self.journal.store_problem = exc
            if delay == RETRY_FIRST:  # once per outage, not once per retry
                logger.error("scheduler: %s (retrying every %.1fs at most)", exc, RETRY_MAX)
        else:  # a bug: say so loudly, but keep scheduling the other runs
            logger.exception("scheduler: round failed; retrying in %.1fs", delay)

    def _has_startable(self) -> bool:
        for run in self.store.ready_runs(self.clock.now(), 1000):
            config = self.functions.get(run.function_id)
            if config is None or not config.concurrency:
                return True
            slots = concurrency_slots(config, run.concurrency_keys)
            if all(self.store.slots_in_use(key) < limit for key, limit in slots):
                return True
        return False


@dataclass(slots=True)
class _Round:
    """One scheduler round's progress (:meth:`Scheduler._start_due`)."""

    now: float
    room: int  #: passes it may start
    started: int = 0
    held: bool = False  #: a run was held back with a new reason (to commit)
    full: set[str] = field(default_factory=set)  #: concurrency keys found at their limit
    seen: set[str] = field(default_factory=set)  #: runs considered (started or held back)
