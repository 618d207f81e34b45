"""What the parts of orchestration share about passes in flight.

The scheduler starts passes and records them here; the run state machine asks whether a run
has a pass in flight (a run made ready meanwhile goes again when it ends, a cancelled one is
told to stop); the passes read those marks when they end. Nothing here does I/O.
"""

from __future__ import annotations

import asyncio

from .._stores.base import Lease


class InFlight:
    """The runs with a pass in flight, what happened to them meanwhile, and the wake-up."""

    def __init__(self) -> None:
        #: the pass of each run in flight (the scheduler adds and removes them)
        self.tasks: dict[str, asyncio.Task[None]] = {}
        #: runs made ready while a pass of theirs was in flight: due again when it ends
        self.rerun: set[str] = set()
        #: runs cancelled while a pass of theirs was in flight: no step starts any more
        self.cancelled: set[str] = set()
        #: the lease each pass in flight holds on its run (its fencing epoch)
        self.leases: dict[str, Lease] = {}
        #: set whenever new work may be due
        self.wakeup = asyncio.Event()

    def __contains__(self, run_id: object) -> bool:
        return run_id in self.tasks

    def __len__(self) -> int:
        return len(self.tasks)

    def is_cancelled(self, run_id: str) -> bool:
        """Whether ``run_id`` was cancelled while a pass of it was in flight."""
        return run_id in self.cancelled

    def ended(self, run_id: str) -> None:
        """A pass of a run that already ended came back: forget its marks."""
        self.cancelled.discard(run_id)
        self.rerun.discard(run_id)
