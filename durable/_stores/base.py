"""Storage records and the :class:`Store` protocol the orchestrator talks to.

The orchestrator calls a store from one event loop. Its unit of atomicity is
``async with store.transaction()`` (:mod:`durable._stores.transaction`): one transaction at a
time per store, its writes committed together when the block ends (a step result is committed
before its handler goes on) or rolled back together. The operations are plain calls, made
inside a transaction or, for writes that need no atomicity with others, between commits
(:meth:`Store.commit` makes those durable; the backend may batch them).
Backends: :mod:`durable._stores.memory` (tests), :mod:`durable._stores.sqlite` (default) and
:mod:`durable._stores.postgres` (many servers on one database); :func:`durable._stores.open.
open_store` picks one from ``--db``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .transaction import Transaction


class RunStatus(StrEnum):
    """The public statuses of a run."""

    QUEUED = "queued"
    RUNNING = "running"
    SLEEPING = "sleeping"
    WAITING = "waiting"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        """True for completed, failed and cancelled."""
        return self in TERMINAL_STATUSES


#: The statuses a run ends in. Members are strings too: ``"failed" in TERMINAL_STATUSES``.
TERMINAL_STATUSES = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED})


class StepStatus(StrEnum):
    """The stored statuses of a step."""

    COMPLETED = "completed"
    FAILED = "failed"
    ERRORED = "errored"  #: an attempt failed; the next one is due at ``wake_at``
    SLEEPING = "sleeping"
    WAITING = "waiting"
    INVOKING = "invoking"
    CANCELLED = "cancelled"  #: parked (or awaiting a retry) when its run ended: never resumed


#: The step statuses that wait for something: closed as ``cancelled`` when their run ends.
PARKED_STEP_STATUSES = frozenset(
    {StepStatus.SLEEPING, StepStatus.WAITING, StepStatus.INVOKING, StepStatus.ERRORED}
)


@dataclass(slots=True)
class RunRecord:
    """One run as stored. ``output`` is JSON text; times are epoch seconds."""

    run_id: str
    function_id: str
    status: RunStatus
    event: dict[str, Any]
    created_at: float
    events: list[dict[str, Any]] = field(default_factory=list)
    output: str | None = None
    error: dict[str, Any] | None = None
    started_at: float | None = None
    ended_at: float | None = None
    attempt: int = 0
    ready_at: float | None = None
    trigger: str = "event"
    parent_run_id: str | None = None
    parent_step_key: str | None = None
    cancel_reason: str | None = None
    cancel_event_id: str | None = None  #: the event that cancelled the run through cancel_on
    idempotency_key: str | None = None
    concurrency_keys: list[str] = field(default_factory=list)
    deadline_at: float | None = None  #: ``timeouts.start`` / ``timeouts.finish`` expiry
    deadline_reason: str | None = None
    queued_reason: str | None = None  #: why flow control holds it back (``throttle``, ...)
    priority: float = 0.0  #: seconds: ordered as if due that much earlier (flow ``priority``)


@dataclass(slots=True)
class StepRecord:
    """One step of a run. ``attempts`` is a list of ``{started_at, ended_at, error}``."""

    run_id: str
    key: str
    id: str
    kind: str
    status: StepStatus
    position: int
    output: str | None = None
    error: dict[str, Any] | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    wake_at: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    started_at: float | None = None
    ended_at: float | None = None


@dataclass(frozen=True, slots=True)
class Lease:
    """One server's claim on a run for one pass; ``epoch`` is its fencing token.

    Every claim of a run bumps its epoch, so a pass whose server was reaped (and whose run was
    claimed again elsewhere) holds a stale lease: :meth:`Store.holds_lease` says so, and the
    pass stops before writing anything more.
    """

    run_id: str
    server_id: str
    epoch: int


@dataclass(slots=True)
class EventRecord:
    """A received event and what it did (``run_ids`` it started, or why it was skipped)."""

    id: str
    name: str
    data: dict[str, Any]
    ts: int
    received_at: float
    user: dict[str, Any] | None = None
    run_ids: list[str] = field(default_factory=list)
    skipped: str | None = None

    def to_event_dict(self) -> dict[str, Any]:
        """The event as handlers and the wire see it."""
        out: dict[str, Any] = {"name": self.name, "data": self.data, "id": self.id, "ts": self.ts}
        if self.user is not None:
            out["user"] = self.user
        return out


@dataclass(slots=True)
class WaitRecord:
    """A run's step waiting for an event named ``event_name``."""

    run_id: str
    step_key: str
    event_name: str
    condition: str | None
    expires_at: float
    since: float  #: events received at or after this time may match (no lost wake-up)
    kind: str = "step"  #: ``step`` (wait_for_event) or ``cancel`` (a cancel_on rule)
    match_field: str | None = None  #: ``data.orderId`` when the condition requires equality
    match_value: str | None = None  #: the trigger's value of ``match_field`` (JSON text)


@dataclass(slots=True)
class LogRecord:
    """One ``ctx.logger`` line stored with its run."""

    run_id: str
    ts: float
    level: str
    message: str
    step_key: str | None = None


class Store(Protocol):
    """Persistence for runs, steps, events, waits and logs."""

    def insert_run(self, run: RunRecord) -> None:
        """Add a new run."""
        ...

    def update_run(self, run: RunRecord) -> None:
        """Save the changing fields of ``run``.

        Fixed at insert (not updated): ``function_id``, ``event``, ``events``,
        ``created_at``, ``trigger``, ``parent_run_id``, ``parent_step_key``.
        """
        ...

    def end_run(self, run: RunRecord) -> bool:
        """Save ``run``'s terminal state (as :meth:`update_run`), only if the stored run has
        not ended yet: of two writers ending one run (a pass finishing it, a cancel from
        another server), exactly one wins. False: it had ended already; nothing was written,
        and the loser must not emit the run's system event."""
        ...

    def make_ready(self, run_id: str, now: float) -> bool:
        """Make a run due at ``now`` (a wait matched, a child ended), in one conditional write:
        if a server holds the run for a pass, the run is flagged instead and becomes due when
        that pass releases it (:meth:`release_run`), so the wake-up is never lost. False if the
        run does not exist or has ended."""
        ...

    def get_run(self, run_id: str) -> RunRecord | None:
        """One run, or None."""
        ...

    def list_runs(
        self,
        *,
        status: str | None = None,
        function_id: str | None = None,
        limit: int = 50,
        before: str | None = None,
    ) -> list[RunRecord]:
        """Runs newest first, optionally filtered, starting after the run id ``before``."""
        ...

    def register_server(self, server_id: str, now: float) -> None:
        """Record ``server_id`` as a live server of this store. A store that one server at a
        time may use (SQLite) refuses a second with :class:`~durable._errors.StoreError`
        (``database_in_use``) and hands back the runs its dead predecessors held."""
        ...

    def reap_server(self, server_id: str, now: float) -> int:
        """``server_id`` is dead: forget it and make the runs it held due again (``now``).
        Returns how many runs were handed back; their leases are stale from then on."""
        ...

    def claim_run(self, run_id: str, server_id: str) -> Lease | None:
        """Take ``run_id`` for one pass of ``server_id`` (a new epoch), or None if another
        server holds it."""
        ...

    def claim_runs(self, run_ids: Sequence[str], server_id: str) -> dict[str, Lease]:
        """:meth:`claim_run` for several runs at once (one statement where the backend can):
        the leases taken, by run id; a run another server holds is left out."""
        ...

    def holds_lease(self, lease: Lease) -> bool:
        """Whether ``lease`` is still the run's current claim: its server was not reaped,
        nobody claimed the run since, and the run has not ended (a cancel from another
        server fences the pass out too)."""
        ...

    def held_leases(self, leases: Sequence[Lease]) -> set[str]:
        """The run ids of ``leases`` that :meth:`holds_lease` would confirm, in one look-up
        (a group commit checks the leases of all its checkpoints at once). On a shared
        database the rows are locked until the commit, in run-id order."""
        ...

    def release_run(self, lease: Lease) -> None:
        """The pass of ``lease`` ended: the run is free to be claimed (if the lease is current).
        A run flagged by :meth:`make_ready` during the pass becomes due again."""
        ...

    def ready_runs(self, now: float, limit: int) -> list[RunRecord]:
        """Non-terminal runs whose ``ready_at`` is due, in order of ``ready_at - priority``
        (then ``created_at``)."""
        ...

    def next_ready_at(self) -> float | None:
        """The earliest ``ready_at`` of a non-terminal run."""
        ...

    def resume_interrupted(self, now: float) -> int:
        """After a restart: make due at ``now`` every queued or running run that is not due
        (its pass was cut short by the stop), in one write; how many. A store many servers
        share does nothing: a dead server's runs come back by reaping, and the others' are
        theirs to finish."""
        ...

    def upsert_step(self, step: StepRecord) -> None:
        """Insert or replace a step (by run id and key)."""
        ...

    def get_steps(
        self,
        run_id: str,
        *,
        statuses: Collection[StepStatus] | None = None,
        claim: Lease | None = None,
    ) -> list[StepRecord]:
        """The steps of a run in the order they were first reached (only those in
        ``statuses``, if given). ``claim``: the lease of the pass asking, at its start (a
        store may know then that the run cannot have a step yet)."""
        ...

    def insert_event(self, event: EventRecord) -> None:
        """Add a received event (a duplicate id is stored too, marked ``skipped``)."""
        ...

    def get_event(self, event_id: str) -> EventRecord | None:
        """The first event received with this id, or None."""
        ...

    def list_events(self, *, name: str | None = None, limit: int = 50) -> list[EventRecord]:
        """Recent events, newest first."""
        ...

    def events_since(self, name: str, since: float) -> list[EventRecord]:
        """Events named ``name`` received at or after ``since``, oldest first."""
        ...

    def lock_event_names(self, names: Sequence[str], *, exclusive: bool) -> None:
        """Hold a lock per event name until the transaction ends: shared while ingesting
        events of those names (``names`` sorted), exclusive while registering a wait (read
        the events since, then add the wait). A store with one writer at a time (memory,
        SQLite) needs nothing here; one shared by servers (PostgreSQL) must lock."""
        ...

    def add_wait(self, wait: WaitRecord) -> None:
        """Register a waiting step."""
        ...

    def remove_wait(self, run_id: str, step_key: str) -> None:
        """Forget a waiting step (matched, timed out or cancelled)."""
        ...

    def waits_for(
        self, event_name: str, matches: Mapping[str, str] | None = None
    ) -> list[WaitRecord]:
        """The waits on events named ``event_name``, oldest first.

        With ``matches`` (field -> value), only waits without a match field or whose field
        has that value: the index that keeps many waiting runs from slowing each event.
        """
        ...

    def wait_match_fields(self, event_name: str) -> list[str]:
        """The distinct match fields of the waits on ``event_name``."""
        ...

    def remove_waits(self, run_id: str) -> None:
        """Forget every wait and cancel rule of a run (it ended)."""
        ...

    def claim_idempotency(
        self, function_id: str, key: str, run_id: str, *, now: float, window: float
    ) -> str | None:
        """Claim ``key`` for ``run_id``; if a claim younger than ``window`` exists, its run id.

        One atomic write: of two claimers of one key, exactly one wins."""
        ...

    def claim_event_id(self, event_id: str, *, now: float, window: float) -> bool:
        """Claim an event id: True for the first event with this id within ``window`` (it is
        processed), False for a duplicate. One atomic write: of two ingesters, one wins."""
        ...

    def claim_event_ids(self, event_ids: Sequence[str], *, now: float, window: float) -> list[bool]:
        """:meth:`claim_event_id` for a batch, in one write where the backend can: one answer
        per id, in order (an id repeated in the batch is a duplicate after its first)."""
        ...

    def advance_cron(self, function_id: str, cron: str, expected: float, next_at: float) -> bool:
        """Move a cron trigger's next tick from ``expected`` to ``next_at`` (compare-and-set):
        False if it is not at ``expected`` any more (that tick was fired elsewhere)."""
        ...

    def get_cron(self, function_id: str, cron: str) -> float | None:
        """When the next tick of this cron trigger is due, if scheduled."""
        ...

    def set_cron(self, function_id: str, cron: str, next_at: float) -> None:
        """Record when the next tick of this cron trigger is due."""
        ...

    def expired_deadlines(self, now: float) -> list[RunRecord]:
        """Non-terminal runs whose ``deadline_at`` has passed."""
        ...

    def next_deadline_at(self) -> float | None:
        """The earliest ``deadline_at`` of a non-terminal run."""
        ...

    def add_logs(self, lines: list[LogRecord]) -> None:
        """Append log lines."""
        ...

    def get_logs(self, run_id: str) -> list[LogRecord]:
        """The log lines of a run, in order."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """``async with store.transaction() as tx``: the writes of the block commit together
        when it ends (``tx.wrote`` then says whether it wrote anything), or roll back together
        if it raises; a refused commit raises :class:`~durable._errors.StoreError`, rolled
        back. Writes made before it are committed as it begins. Transactions of one store
        never overlap: a second waits for the first to end, even when the first awaits.
        SQLite begins with ``BEGIN IMMEDIATE``; the memory store, which never refuses a write,
        only serialises (a block that raises keeps what it wrote)."""
        ...

    def commit(self) -> bool:
        """Make every write so far durable. True if there was something to commit.

        Raises :class:`~durable._errors.StoreError` if the database refused the commit; the
        caller then rolls back.
        """
        ...

    def rollback(self) -> None:
        """Discard every write since the last commit (after a :class:`StoreError`)."""
        ...

    def probe_write(self) -> None:
        """Check that a write would succeed now (commits what is pending); raise
        :class:`~durable._errors.StoreError` if not."""
        ...

    def close(self) -> None:
        """Commit and release resources."""
        ...

    # -- retention and figures (``durable start``/``dev --retention``, ``GET /metrics``) ----

    def delete_expired(self, before: float, limit: int, *, claims_before: float) -> int:
        """Delete up to ``limit`` ended runs (with their steps, logs and waits) that ended
        before ``before``, events received before ``before``, and event-id and idempotency
        claims made before ``claims_before`` (the caller keeps the dedup windows). Commits;
        returns the rows deleted (0: nothing left to delete)."""
        ...

    def count_runs_by_status(self) -> dict[str, int]:
        """How many runs the store holds in each status (statuses with none left out)."""
        ...

    # -- flow control (SPEC 7): state in rows keyed by (function, key), conditional writes --

    def acquire_slots(self, run_id: str, slots: Sequence[tuple[str, int]]) -> bool:
        """Take one slot of every ``(key, limit)`` for ``run_id``, all or none: each key's
        count of holders must stay within its limit. Keys the run already holds count as
        taken (a run that held them when its server died takes them again). False: none."""
        ...

    def release_slots(self, run_id: str) -> None:
        """Give back every slot ``run_id`` holds."""
        ...

    def slots_in_use(self, key: str) -> int:
        """How many runs hold a slot of ``key``."""
        ...

    def gcra_take(self, key: str, now: float, interval: float, tolerance: float) -> float:
        """One GCRA admission on ``key``: 0.0 if admitted (its theoretical arrival time moves
        on by ``interval``), else the seconds until one would be (nothing changed)."""
        ...

    def gcra_reserve(self, key: str, now: float, interval: float, tolerance: float) -> float:
        """Reserve the next GCRA start on ``key`` (its arrival time always moves on by
        ``interval``): the seconds from ``now`` until that start (0.0: at once). Callers
        reserving in turn are spaced FIFO; none is refused."""
        ...

    def debounce_push(
        self,
        function_id: str,
        key: str,
        run_id: str,
        *,
        now: float,
        period: float,
        timeout: float | None,
    ) -> tuple[str, float]:
        """A debounced event of ``(function_id, key)``: the run that will take it (the pending
        one, or ``run_id`` if none) and when it is due (``now + period``, capped at
        ``timeout`` after the first event)."""
        ...

    def debounce_take(self, function_id: str, key: str, run_id: str) -> None:
        """The debounced run ``run_id`` starts: later events start a new debounce."""
        ...

    def batch_push(
        self, function_id: str, key: str, run_id: str, *, max_size: int
    ) -> tuple[str, int]:
        """An event for the open batch of ``(function_id, key)``: the run collecting it (the
        open batch's, or ``run_id`` opening one) and the batch's size with it. A batch that
        reaches ``max_size`` is closed (the next event opens another)."""
        ...

    def batch_close(self, function_id: str, key: str, run_id: str) -> None:
        """Close the batch of ``run_id`` (it starts, on timeout) if it is still open."""
        ...

    def singleton_claim(self, function_id: str, key: str, run_id: str) -> str | None:
        """Claim the singleton ``(function_id, key)`` for ``run_id``: None if won, else the
        run id holding it."""
        ...

    def singleton_release(self, function_id: str, key: str, run_id: str) -> None:
        """``run_id`` ended: free its singleton (only if it holds it)."""
        ...

    def set_run_events(self, run_id: str, event: dict[str, Any], events: list[Any]) -> None:
        """Replace the trigger event(s) of a run not started yet (debounce, batch)."""
        ...

    # -- liveness: heartbeats and reaping (every backend) ---------------------------------

    def heartbeat(self, server_id: str, now: float) -> bool:
        """``server_id`` is alive (at ``now``; PostgreSQL uses the database's clock). False if
        it was reaped meanwhile: that server must stop starting passes, stop its passes (their
        leases are stale) and exit by itself."""
        ...

    def reap_dead(self, now: float, dead_after: float) -> int:
        """Forget the servers whose last heartbeat is older than ``dead_after`` seconds and, in
        the same transaction, hand their runs back (no owner, due at ``now``). Returns how many
        unfinished runs were handed back."""
        ...


@runtime_checkable
class SharedStore(Protocol):
    """A store many servers share (PostgreSQL), which tells them when another made work due.

    Optional: a store without it (memory; SQLite, one server at a time) needs nothing. The
    scheduler of a shared store listens, and polls at least every second in case a signal is
    lost; its heartbeat stops a server that cannot beat for most of ``dead_after`` (the
    others are about to take its runs), which a store of one server never does.
    """

    def listen_for_work(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` (from any thread) whenever another server made work due."""
        ...

    def stop_listening(self) -> None:
        """Stop calling the ``wake`` given to :meth:`listen_for_work`."""
        ...
