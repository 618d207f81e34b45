"""Where sync step bodies run: a thread for every body in flight, reused when idle.

``asyncio.to_thread`` shares the loop's default pool, ``min(32, cpus + 4)`` threads: six
hung sync steps on a 2-core machine would block every other sync step of every function.
:class:`StepThreads` never makes a body wait for another: a body starts on an idle thread,
or on a new one when all are busy. Idle threads end after a while. A body that hangs keeps
its thread (Python cannot stop a thread), but holds nothing else; ``step.run(...,
timeout=...)`` frees its run.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any

#: Seconds an idle thread waits for another body before it ends.
IDLE_SECONDS = 30.0

_Job = tuple[Callable[[], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class StepThreads:
    """An unbounded pool of daemon threads for sync step bodies."""

    def __init__(self, idle_seconds: float = IDLE_SECONDS) -> None:
        self.idle_seconds = idle_seconds
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0  #: threads waiting for a job and not yet promised one
        self.busy = 0  #: bodies running now (hung ones included)

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        """Start ``fn(*args, **kwargs)`` in a thread (with this context); its future."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        context = contextvars.copy_context()
        with self._lock:
            spawn = self._idle == 0
            if not spawn:
                self._idle -= 1
            self.busy += 1
        self._jobs.put((lambda: context.run(fn, *args, **kwargs), loop, future))
        if spawn:
            threading.Thread(target=self._serve, name="durable-step", daemon=True).start()
        return future

    def _serve(self) -> None:
        while True:
            try:
                call, loop, future = self._jobs.get(timeout=self.idle_seconds)
            except queue.Empty:
                with self._lock:
                    if self._idle > 0:  # nobody was promised this thread: end it
                        self._idle -= 1
                        return
                continue  # a job is on its way to this thread
            try:
                result, error = call(), None
            except BaseException as exc:  # handed to the awaiting step, whatever it is
                result, error = None, exc
            with self._lock:
                self.busy -= 1
                self._idle += 1
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_settle, future, result, error)
            del call, loop, future, result, error


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the step timed out or was cancelled meanwhile
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


#: The process's pool (one per process, shared by every pass).
step_threads = StepThreads()
