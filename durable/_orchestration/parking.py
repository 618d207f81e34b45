"""Runs whose function is not loaded: held back, visibly, until the code loads again.

A host that loads user code (the dev server) sets :attr:`Parking.reason_of`: for a function
id with no registered config it says why (``"function not loaded: app.py: SyntaxError ..."``)
when the code that may define it failed to load, or None when the function is simply gone.
A due run of an unloaded function is then *parked* instead of failed: ``queued`` with no
``ready_at`` (so it costs no scheduling, and a restart's recovery makes it due again), and
its reason is kept for the run view. Each new set of functions wakes the parked runs whose
function is now there (or whose code now loads without it: they then fail as before).
"""

from __future__ import annotations

from collections.abc import Callable

from .._stores.base import RunRecord, RunStatus, Store
from .clock import Clock
from .functions import FunctionRegistry
from .in_flight import InFlight
from .journal import Journal
from .runs import Runs

#: Why a function id is not loaded (its runs wait), or None (its runs fail).
ReasonOf = Callable[[str], str | None]


class FunctionNotLoaded(Exception):
    """Raised by an executor that cannot run a function now because its code failed to load
    (e.g. a worker restarted on a broken module): the run is held back with this message as
    its reason, not failed. Nothing of the pass ran."""


class Parking:
    """The parked runs of one store."""

    def __init__(
        self,
        runs: Runs,
        store: Store,
        clock: Clock,
        journal: Journal,
        functions: FunctionRegistry,
        in_flight: InFlight,
    ) -> None:
        self.runs = runs
        self.store = store
        self.clock = clock
        self.journal = journal
        self.functions = functions
        self.in_flight = in_flight
        self.reason_of: ReasonOf | None = None
        self._parked: dict[str, tuple[str, str]] = {}  #: run id -> (function id, reason)

    def reason(self, run_id: str) -> str | None:
        """Why ``run_id`` is held back, if it is parked."""
        parked = self._parked.get(run_id)
        return parked[1] if parked else None

    def park(self, run: RunRecord) -> bool:
        """Hold ``run`` back if its function's code failed to load; False to fail it instead."""
        reason = self.reason_of(run.function_id) if self.reason_of is not None else None
        if reason is None:
            return False
        self.hold(run, reason)
        return True

    def hold(self, run: RunRecord, reason: str) -> None:
        """Hold ``run`` back for ``reason`` until the next change of the functions."""
        self._parked[run.run_id] = (run.function_id, reason)
        run.status, run.ready_at = RunStatus.QUEUED, None
        self.runs.save_run(run, reason=reason)

    def wake(self) -> None:
        """After the functions changed: make due the parked runs that can go on now."""
        if not self._parked:
            return
        now = self.clock.now()
        for run_id, (function_id, _) in list(self._parked.items()):
            reason = None
            if function_id not in self.functions and self.reason_of is not None:
                reason = self.reason_of(function_id)
            if reason is not None:  # still not loaded: maybe for a new reason
                self._parked[run_id] = (function_id, reason)
                continue
            del self._parked[run_id]
            run = self.store.get_run(run_id)
            if run is None or run.status.terminal or run.ready_at is not None:
                continue
            run.ready_at = now
            self.runs.save_run(run)
        self.journal.flush()
        self.in_flight.wakeup.set()
