"""Suspects run alone: each pass of a suspect run gets a worker process of its own.

A run becomes a suspect when a worker died with its pass in flight (see
:mod:`durable.devserver.faults`). In a worker of its own, a death has one possible culprit,
so it is charged to that run alone. A suspect whose pass ends normally there is cleared and
goes back to the shared worker; one that kills its worker again stays, and each of those
deaths costs it an attempt, until its retries are spent. At most ``max_workers`` isolated
workers run at once (a crash beside a hundred runs must not start a hundred processes): the
other suspects' passes wait for a turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from durable._engine.protocol import ExecutionHost, ExecutionRequest, ExecutionResult

if TYPE_CHECKING:
    from .workers import WorkerProcess


class Isolation:
    """The suspect runs, and the workers running their passes now."""

    def __init__(self, spawn: Callable[[], WorkerProcess], max_workers: int = 8) -> None:
        self._spawn = spawn
        self._turns = asyncio.Semaphore(max_workers)
        self.suspects: set[str] = set()
        self.workers: dict[str, WorkerProcess] = {}
        self._stopping: set[asyncio.Task[None]] = set()

    def holds(self, run_id: str) -> bool:
        """Whether ``run_id``'s passes must run alone."""
        return run_id in self.suspects

    def suspect(self, run_id: str) -> None:
        """Run ``run_id``'s next passes alone."""
        self.suspects.add(run_id)

    async def execute(self, request: ExecutionRequest, host: ExecutionHost) -> ExecutionResult:
        """Run one pass of a suspect in a new worker (when one is free), then end that worker."""
        async with self._turns:
            return await self._execute(request, host)

    async def _execute(self, request: ExecutionRequest, host: ExecutionHost) -> ExecutionResult:
        worker = self._spawn()
        self.workers[request.run_id] = worker
        try:
            await worker.start()
            result = await worker.execute(request, host)  # a death: it stays a suspect
        finally:
            self.workers.pop(request.run_id, None)
            task = asyncio.ensure_future(worker.stop(grace=0.0))
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)
        self.suspects.discard(request.run_id)
        return result

    def cancel_run(self, run_id: str) -> None:
        """Forward a cancellation to the worker running ``run_id`` alone, if any."""
        worker = self.workers.get(run_id)
        if worker is not None:
            worker.cancel_run(run_id)

    async def close(self) -> None:
        """End every isolated worker."""
        for worker in list(self.workers.values()):
            await worker.stop(grace=0.5)
        if self._stopping:
            await asyncio.gather(*self._stopping, return_exceptions=True)
