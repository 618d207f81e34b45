"""The journal: when writes become durable, and who hears of them.

One :class:`Journal` sits between the orchestration and its :class:`~durable._stores.base.Store`.
It buffers log lines until the next commit, shares one commit among the checkpoints of the
passes in flight (group commit: one look-up of their leases, one commit), makes a block of
writes all-or-nothing (:meth:`Journal.transaction`), rolls back and tells the passes that shared a
commit when the database refuses it, and tells listeners
(the SSE stream, the headless log) of changes, holding back what a transaction changed
until it is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .._errors import StoreError
from .._stores.base import Lease, LogRecord, Store

R = TypeVar("R")

Listener = Callable[[str, dict[str, Any]], None]


class Journal:
    """Commits, rollbacks and change notifications over one store."""

    def __init__(self, store: Store, passes_in_flight: Callable[[], int]) -> None:
        self.store = store
        self._passes_in_flight = passes_in_flight
        self.listeners: list[Listener] = []
        #: the last database fault, until a write works again (``/health`` reports it)
        self.store_problem: StoreError | None = None
        self._logs: list[LogRecord] = []
        self._checkpoints: list[_Pending] = []  #: waiting for the group commit
        self._group_commit_due = False
        self._group_task: asyncio.Future[None] | None = None  #: the group commit under way
        #: effects on memory (notifications, cancels of passes in flight) held back until the
        #: open :meth:`transaction` commits; None outside one
        self._deferred: list[Callable[[], object]] | None = None
        self._owner: asyncio.Task[Any] | None = None  #: the task whose transaction is open

    # -- listeners ----------------------------------------------------------------------

    def notify(self, kind: str, payload: dict[str, Any]) -> None:
        """Tell every listener of a change (once committed, inside a transaction)."""
        if self._in_transaction():
            self._deferred.append(lambda: self._notify_now(kind, payload))  # type: ignore[union-attr]
        else:
            self._notify_now(kind, payload)

    def _in_transaction(self) -> bool:
        """Whether the caller is inside this journal's open :meth:`transaction`."""
        return self._deferred is not None and self._owner is _current_task()

    def _notify_now(self, kind: str, payload: dict[str, Any]) -> None:
        for listener in self.listeners:
            listener(kind, payload)

    def after_commit(self, effect: Callable[[], object]) -> None:
        """Apply an in-memory effect now, or when the enclosing :meth:`transaction` commits."""
        if self._in_transaction():
            self._deferred.append(effect)  # type: ignore[union-attr]
        else:
            effect()

    # -- commits ------------------------------------------------------------------------

    def buffer_log(self, line: LogRecord) -> None:
        """Keep a log line until the next commit."""
        self._logs.append(line)

    def flush(self) -> None:
        """Write buffered log lines and commit: everything so far is durable.

        On a :class:`StoreError` everything since the last commit is rolled back, and the
        passes waiting for a shared commit hear of it (their checkpoints were not saved).
        """
        lines, self._logs = self._logs, []
        try:
            if lines:
                self.store.add_logs(lines)
            wrote = self.store.commit()
        except StoreError as exc:
            self._logs[:0] = lines  # only shown, never data: written with a later commit
            self.store_failed(exc)
            raise
        if wrote and self.store_problem is not None:
            self.store_problem = None

    def store_failed(self, error: StoreError) -> None:
        """A write or commit was refused: roll back (the writes since the last commit are
        lost; a group commit fails every checkpoint it held).

        Once per error: its later handlers (the passes that shared the commit) find it done.
        """
        self.store_problem = error
        if getattr(error, "_rolled_back", False):
            return
        error._rolled_back = True  # type: ignore[attr-defined]
        with contextlib.suppress(StoreError):
            self.store.rollback()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """All or nothing: the writes inside commit together (one
        :meth:`Store.transaction <durable._stores.base.Store.transaction>`), or roll back
        together.

        What the writes do to memory (listeners told, passes in flight stopped) happens only
        once they are committed. Blocks nest within one task: an inner one is part of the
        outer one; another task's block waits until this one has ended.
        """
        task = _current_task()
        if self._deferred is not None and self._owner is task:
            yield
            return
        lines: list[LogRecord] = []
        owned = False  # (a task cancelled while it waits for the store must not reset these)
        try:
            async with self.store.transaction() as tx:  # commits what others wrote first
                self._owner, self._deferred, owned = task, [], True
                yield
                lines, self._logs = self._logs, []
                if lines:
                    self.store.add_logs(lines)
        except BaseException as exc:
            if owned:
                self._owner = self._deferred = None
            self._logs[:0] = lines  # only shown, never data: written with a later commit
            if isinstance(exc, StoreError):
                exc._rolled_back = True  # type: ignore[attr-defined]
                self.store_problem = exc
            raise
        effects, self._deferred, self._owner = self._deferred, None, None
        if tx.wrote:
            self.store_problem = None
        for effect in effects:
            effect()

    async def checkpoint(self, lease: Lease | None, apply: Callable[[], R]) -> R | None:
        """Apply a pass's checkpoint (``apply()`` makes its writes) under ``lease``, commit
        it, and return what ``apply`` returned; None, with nothing applied, if the lease no
        longer holds (the run was reaped, claimed by another server, or ended).

        With several passes in flight, the checkpoints that arrive in one turn of the event
        loop (or while the previous group commits) share one transaction: one look-up of
        their leases (:meth:`Store.held_leases`) and one commit. A :class:`StoreError` rolls
        back the whole group: every checkpoint in it raises it.
        """
        if self._passes_in_flight() <= 1:
            async with self.transaction():
                if lease is not None and not self.store.holds_lease(lease):
                    return None
                return apply()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._checkpoints.append(_Pending(lease, apply, future))
        if not self._group_commit_due:
            self._group_commit_due = True
            self._group_task = asyncio.ensure_future(self._group_commit())
        applied: R | None = await future
        return applied

    def _take_checkpoints(self) -> list[_Pending]:
        self._group_commit_due = False
        pending = [each for each in self._checkpoints if not each.future.done()]
        self._checkpoints = []
        return pending

    async def _group_commit(self) -> None:
        pending: list[_Pending] | None = None
        try:
            async with self.transaction():
                pending = self._take_checkpoints()  # (those that came while waiting too)
                outcomes = self._apply_all(pending)
        except BaseException as exc:
            for each in pending if pending is not None else self._take_checkpoints():
                if not each.future.done():
                    each.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for each, outcome in zip(pending, outcomes, strict=True):
            if each.future.done():
                continue
            if isinstance(outcome, _Failed):
                each.future.set_exception(outcome.error)
            else:
                each.future.set_result(outcome)

    def _apply_all(self, pending: list[_Pending]) -> list[Any]:
        leases = [each.lease for each in pending if each.lease is not None]
        held = self.store.held_leases(leases) if leases else set()
        outcomes: list[Any] = []
        for each in pending:
            if each.lease is not None and each.lease.run_id not in held:
                outcomes.append(None)
                continue
            try:
                outcomes.append(each.apply())
            except StoreError:
                raise  # the shared transaction is lost: the whole group fails
            except Exception as exc:  # this pass's own fault: the others go on
                outcomes.append(_Failed(exc))
        return outcomes


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no event loop running (a synchronous caller)
        return None


@dataclass(slots=True)
class _Pending:
    """A checkpoint waiting for the group commit."""

    lease: Lease | None
    apply: Callable[[], Any]
    future: asyncio.Future[Any]


@dataclass(slots=True)
class _Failed:
    """``apply`` raised ``error`` (raised in its pass once the group is committed)."""

    error: Exception
