"""The journal: when writes become durable, and who hears of them.

One :class:`Journal` sits between the orchestration and its :class:`~durable._stores.base.Store`.
It buffers log lines until the next commit, shares one commit among the checkpoints of the
passes in flight (group commit: one look-up of their leases, one commit), makes a block of
writes all-or-nothing (:meth:`Journal.atomic`), rolls back and tells the passes that shared a
commit when the database refuses it, and tells listeners
(the SSE stream, the headless log) of changes, holding back what an atomic block changed
until that block is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
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
        #: effects on memory (notifications, cancels of passes in flight) held back until the
        #: enclosing :meth:`atomic` block commits; None outside one
        self._deferred: list[Callable[[], object]] | None = None

    # -- listeners ----------------------------------------------------------------------

    def notify(self, kind: str, payload: dict[str, Any]) -> None:
        """Tell every listener of a change (once committed, inside an atomic block)."""
        if self._deferred is None:
            self._notify_now(kind, payload)
        else:
            self._deferred.append(lambda: self._notify_now(kind, payload))

    def _notify_now(self, kind: str, payload: dict[str, Any]) -> None:
        for listener in self.listeners:
            listener(kind, payload)

    def after_commit(self, effect: Callable[[], object]) -> None:
        """Apply an in-memory effect now, or when the enclosing :meth:`atomic` block commits."""
        if self._deferred is not None:
            self._deferred.append(effect)
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

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        """All or nothing: the writes inside commit together, or roll back together.

        What the writes do to memory (listeners told, passes in flight stopped) happens only
        once they are committed. Blocks nest: an inner one is part of the outer one. The block
        must not ``await``: no other pass may write into its transaction meanwhile.
        """
        if self._deferred is not None:
            yield
            return
        self.flush()  # commit what others wrote first: a rollback must discard only ours
        self._deferred = []
        try:
            yield
            self.flush()
        except BaseException as exc:
            self._deferred = None
            if isinstance(exc, StoreError):
                self.store_problem = exc
            with contextlib.suppress(StoreError):
                self.store.rollback()
            raise
        effects, self._deferred = self._deferred, None
        for effect in effects:
            effect()

    async def checkpoint(self, lease: Lease | None, apply: Callable[[], R]) -> R | None:
        """Apply a pass's checkpoint (``apply()`` makes its writes) under ``lease``, commit
        it, and return what ``apply`` returned; None, with nothing applied, if the lease no
        longer holds (the run was reaped, claimed by another server, or ended).

        With several passes in flight, the checkpoints that arrive in one turn of the event
        loop share one look-up of their leases (:meth:`Store.held_leases`) and one commit.
        A :class:`StoreError` rolls back the whole group: every checkpoint in it raises it.
        """
        if self._passes_in_flight() <= 1:
            if lease is not None and not self.store.holds_lease(lease):
                return None
            result = apply()
            self.flush()
            return result
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._checkpoints.append(_Pending(lease, apply, future))
        if not self._group_commit_due:
            self._group_commit_due = True
            asyncio.get_running_loop().call_soon(self._group_commit)
        applied: R | None = await future
        return applied

    def _group_commit(self) -> None:
        self._group_commit_due = False
        pending = [each for each in self._checkpoints if not each.future.done()]
        self._checkpoints = []
        try:
            outcomes = self._apply_all(pending)
            self.flush()
        except BaseException as exc:
            if isinstance(exc, StoreError):
                self.store_failed(exc)
            for each in pending:
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
