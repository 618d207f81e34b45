"""The watchdog: notice a worker whose event loop is blocked, name the step, replace it.

A blocking call in an ``async def`` step (``time.sleep``, a sync HTTP client) stalls every
pass of its worker. Two watchers, each on its own side of the socket:

* in the worker, :class:`LoopWatch`: a thread that sees the loop's heartbeat stop, finds the
  step running on the loop's stack and tells the server (``blocked {run_id, key, message}``);
* in the server, :class:`Watchdog`: pings the worker; the loop answers ``pong``. If it stays
  silent well past the limit (a C call holding the GIL can silence the worker's thread too),
  the worker is ended without a named culprit (see :mod:`durable.devserver.faults`).

Either way the worker is killed and replaced: the blocking step's attempt fails with
``WorkerBlocked: the worker's event loop was blocked for 30.2 s in step 'x' of function 'f'``
and the other runs in flight are re-run, uncharged.

``DURABLE_BLOCKED_AFTER`` (a duration, default ``10s``; ``0`` turns the watchdog off) and
``DURABLE_WATCHDOG_INTERVAL`` (default ``1s``) configure both sides; the worker inherits them.
"""

from __future__ import annotations

import asyncio
import os
import select
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any

from durable._define.durations import parse_duration

from .faults import Fault

if TYPE_CHECKING:
    from durable._engine.execution import Execution
from .framing import encode

BLOCKED_AFTER_ENV = "DURABLE_BLOCKED_AFTER"
INTERVAL_ENV = "DURABLE_WATCHDOG_INTERVAL"


@dataclass(frozen=True, slots=True)
class WatchdogConfig:
    """How often to check, and how long a loop may stay blocked (0: never judged)."""

    interval: float = 1.0
    blocked_after: float = 10.0

    @property
    def enabled(self) -> bool:
        """Whether the watchdog runs at all."""
        return self.blocked_after > 0

    @classmethod
    def from_env(cls) -> WatchdogConfig:
        """The config from ``DURABLE_BLOCKED_AFTER`` and ``DURABLE_WATCHDOG_INTERVAL``."""
        default = cls()
        blocked = os.environ.get(BLOCKED_AFTER_ENV)
        interval = os.environ.get(INTERVAL_ENV)
        return cls(
            interval=_seconds(interval, INTERVAL_ENV) if interval else default.interval,
            blocked_after=(
                _seconds(blocked, BLOCKED_AFTER_ENV) if blocked else default.blocked_after
            ),
        )


def _seconds(text: str, name: str) -> float:
    try:
        return parse_duration(text.strip()).total_seconds()
    except ValueError as exc:
        raise ValueError(f"environment variable {name}: {exc}") from None


# -- the server's side ----------------------------------------------------------------------


class Watchdog:
    """Pings one worker; ends it (with a :class:`Fault`) when its loop stops answering."""

    def __init__(
        self,
        send: Callable[[dict[str, Any]], None],
        end: Callable[[Fault], Awaitable[None]],
        config: WatchdogConfig,
        *,
        alive: Callable[[], bool],
    ) -> None:
        self._send = send
        self._end = end
        self._alive = alive
        self.config = config
        self.last_answer = time.monotonic()

    def answered(self) -> None:
        """A ``pong`` came back."""
        self.last_answer = time.monotonic()

    async def blocked(self, report: dict[str, Any]) -> None:
        """The worker's own watch thread named the step blocking its loop."""
        message = str(report.get("message") or "the worker's event loop was blocked")
        run_id, key = report.get("run_id"), report.get("key")
        await self._end(
            Fault(
                message,
                name="WorkerBlocked",
                run_id=run_id if isinstance(run_id, str) else None,
                step_key=key if isinstance(key, str) else None,
            )
        )

    async def run(self) -> None:
        """Ping every ``interval`` until the worker is judged blocked (or the task is cancelled)."""
        interval = self.config.interval
        # the worker reports a named culprit at blocked_after: give it time to arrive first
        limit = self.config.blocked_after * 1.5 + 2 * interval
        number, last = 0, time.monotonic()
        self.last_answer = last
        while self._alive():
            number += 1
            self._send({"t": "ping", "n": number})
            await asyncio.sleep(interval)
            now = time.monotonic()
            if now - last > 3 * interval:  # this loop was stalled itself: judge nobody
                self.last_answer = now
            last = now
            silent = now - self.last_answer
            if silent > limit:
                await self._end(
                    Fault(
                        f"the worker's event loop did not answer for {silent:.1f} s",
                        name="WorkerBlocked",
                    )
                )
                return


# -- the worker's side ----------------------------------------------------------------------


class LoopWatch:
    """In the worker: a thread that notices the event loop is blocked and names the step."""

    def __init__(self, sock: socket.socket, writer: asyncio.StreamWriter, config: WatchdogConfig):
        self.sock = sock
        self.writer = writer
        self.config = config
        self.beat = time.monotonic()
        self._loop_thread = threading.get_ident()

    def start(self) -> asyncio.Task[None]:
        """Start the heartbeat (on this loop) and the watching thread."""
        threading.Thread(target=self._watch, name="durable-loop-watch", daemon=True).start()
        self._task = asyncio.ensure_future(self._heartbeat())  # held: tasks are weakly kept
        return self._task

    async def _heartbeat(self) -> None:
        while True:
            self.beat = time.monotonic()
            await asyncio.sleep(self.config.interval / 2)

    def _watch(self) -> None:
        told = reported = False
        while True:
            time.sleep(self.config.interval / 2)
            stalled = time.monotonic() - self.beat
            if stalled < self.config.blocked_after:
                told = reported = False
                continue
            if reported:
                continue
            report = blocked_report(sys._current_frames().get(self._loop_thread), stalled)
            if not told:
                print(f"durable worker: {report['message']}", file=sys.stderr, flush=True)
                told = True
            reported = self._send(report)

    def _send(self, report: dict[str, Any]) -> bool:
        # The loop is stuck, so nothing else writes the socket; only write if no message
        # is half sent (else the server's own watchdog ends this worker a little later).
        if self.writer.transport.get_write_buffer_size():
            return False
        data = encode(report)
        try:
            while data:
                select.select([], [self.sock], [], 1.0)
                sent = self.sock.send(data)
                data = data[sent:]
        except (BlockingIOError, OSError):
            return False
        return True


def blocked_report(frame: FrameType | None, stalled: float) -> dict[str, Any]:
    """``blocked`` message naming the run and step found on a blocked loop's stack (in the
    worker, which has the engine loaded: the server does not import it for this)."""
    from durable._engine.execution import Execution

    attempt_code, run_code = Execution._attempt.__code__, Execution.run.__code__
    execution: Execution | None = None
    key = step_id = None
    while frame is not None:
        if frame.f_code is attempt_code and key is None:
            local = frame.f_locals
            execution, key, step_id = local.get("self"), local.get("key"), local.get("step_id")
        elif frame.f_code is run_code and execution is None:
            execution = frame.f_locals.get("self")
        frame = frame.f_back
    where = ""
    if step_id is not None:
        where = f" in step {step_id!r}"
    if isinstance(execution, Execution):
        function = execution.request.function_id
        where += f" of function {function!r}" if step_id else f" in function {function!r}"
    return {
        "t": "blocked",
        "run_id": execution.request.run_id if isinstance(execution, Execution) else None,
        "key": key,
        "message": f"the worker's event loop was blocked for {stalled:.1f} s{where}",
    }
