"""``durable start --workers N``: passes spread over N worker processes.

Each member is a :class:`~.workers.WorkerExecutor` (one worker process, replaced when it dies,
with its own isolation of crash suspects); a pass goes to the member with the fewest passes in
flight. The first member adopts the worker the server started (its hello names the functions);
the others start their workers on first use, for the same files.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from durable._engine.protocol import ExecutionHost, ExecutionRequest, ExecutionResult

from .workers import WorkerExecutor, WorkerProcess

__all__ = ["WorkerPool"]


class WorkerPool:
    """An Executor over ``size`` worker processes (the same interface as WorkerExecutor)."""

    def __init__(self, spawn: Callable[[], WorkerProcess], size: int) -> None:
        if size < 1:
            raise ValueError(f"a worker pool needs at least 1 worker, got {size}")
        self.members = [WorkerExecutor(spawn) for _ in range(size)]
        self._running: dict[str, WorkerExecutor] = {}

    @property
    def current(self) -> WorkerProcess | None:
        """The first member's worker (the one whose hello names the functions)."""
        return self.members[0].current

    @property
    def restarts(self) -> int:
        """Workers started to replace one that died, over all members."""
        return sum(member.restarts for member in self.members)

    def pids(self) -> list[int]:
        """The process ids of the live workers."""
        return [
            member.current.process.pid
            for member in self.members
            if member.current is not None
            and member.current.alive
            and member.current.process is not None
        ]

    async def start(self, worker: WorkerProcess | None = None) -> dict[str, Any]:
        """Start the first member's worker; return its hello."""
        return await self.members[0].start(worker)

    async def warm(self) -> None:
        """Start the other members' workers now, not on their first pass (each imports the
        user's code: a second or so a worker). One that fails to start is retried then."""
        results = await asyncio.gather(
            *(member.ready() for member in self.members[1:]), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, Exception):
                raise result

    async def swap(self, worker: WorkerProcess) -> None:
        """Make ``worker`` the first member's; the others restart on their next pass."""
        await self.members[0].swap(worker)
        await asyncio.gather(*(m.current.stop() for m in self.members[1:] if m.current is not None))

    async def execute(self, request: ExecutionRequest, host: ExecutionHost) -> ExecutionResult:
        """Run a pass in the least busy member."""
        member = min(self.members, key=lambda m: m.in_flight)
        self._running[request.run_id] = member
        try:
            return await member.execute(request, host)
        finally:
            if self._running.get(request.run_id) is member:
                del self._running[request.run_id]

    def cancel_run(self, run_id: str) -> None:
        """Forward a cancellation to the member running ``run_id``."""
        member = self._running.get(run_id)
        for each in [member] if member is not None else self.members:
            each.cancel_run(run_id)

    async def close(self) -> None:
        """Stop every member's workers."""
        await asyncio.gather(*(member.close() for member in self.members))
