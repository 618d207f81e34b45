"""Worker processes seen from the server: spawn, relay passes, replace on death or reload.

:class:`WorkerExecutor` is the orchestrator's :class:`~durable._engine.protocol.Executor` in the dev
server. It forwards each pass to the current :class:`WorkerProcess`, and relays every
checkpoint to the pass's host (which commits) before answering the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from durable._engine.protocol import (
    STOP,
    ExecutionHost,
    ExecutionRequest,
    ExecutionResult,
    PassInterrupted,
)
from durable._engine.wire import (
    checkpoint_from_wire,
    log_from_wire,
    reply_to_wire,
    request_to_wire,
    result_from_wire,
    started_from_wire,
)
from durable._orchestration.parking import FunctionNotLoaded

from .faults import Fault, SharedCrash, WorkerDied, verdicts
from .framing import MESSAGE_LIMIT, decode, encode
from .imports import DEFAULT_IMPORT_TIMEOUT, WorkerStartError, not_loaded_reason, read_hello
from .isolation import Isolation
from .outbox import Outbox
from .spawn import Process, Spare, SpawnedWorker, spawn_worker
from .spin import Spinner
from .watchdog import Watchdog, WatchdogConfig

OutputSink = Callable[[str], None]

logger = logging.getLogger("durable.devserver")

__all__ = ["WorkerDied", "WorkerExecutor", "WorkerProcess", "WorkerStartError"]


@dataclass
class _Pass:
    host: ExecutionHost
    done: asyncio.Future[ExecutionResult]
    run_id: str = ""
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class WorkerProcess:
    """One worker process and the socket to it."""

    def __init__(
        self,
        files: list[Path],
        root: Path,
        *,
        on_output: OutputSink | None = None,
        python: str = sys.executable,
        watchdog: WatchdogConfig | None = None,
        import_timeout: float = DEFAULT_IMPORT_TIMEOUT,
        spare: Spare | None = None,
    ) -> None:
        self.files = files
        self.root = root
        self.spare = spare  #: a process started ahead, taken by :meth:`launch` if there is one
        self.import_timeout = import_timeout
        self.on_output = on_output or (lambda line: print(line, file=sys.stderr))
        self.python = python
        self.process: Process | None = None
        self._socket: socket.socket | None = None
        self.hello: dict[str, Any] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._outbox: Outbox | None = None  #: replies of one loop pass go out together
        self.spinner = Spinner()  #: polls for the next checkpoint instead of sleeping
        self._passes: dict[int, _Pass] = {}
        self._next = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = asyncio.Event()
        self.fault: Fault | None = None  #: why the watchdog ended it, if it did
        self.watchdog = Watchdog(
            self.send, self.end_for, watchdog or WatchdogConfig.from_env(), alive=lambda: self.alive
        )
        self._watching: asyncio.Future[None] | None = None

    @property
    def alive(self) -> bool:
        """True until the process ends or the socket closes (a process killed a moment ago
        counts as dead before its socket's end is read)."""
        if self._closed.is_set():
            return False
        return self.process is None or self.process.poll() is None

    @property
    def in_flight(self) -> int:
        """Passes running in this worker."""
        return len(self._passes)

    def launch(self, spawned: SpawnedWorker | None = None) -> None:
        """Spawn the process now (or adopt ``spawned``); :meth:`start` then connects to it."""
        if self.process is not None:
            return
        if spawned is None and self.spare is not None:
            spawned = self.spare.take(self.files)
        spawned = spawned or spawn_worker(self.files, self.root, self.python)
        self.process, self._socket = spawned.process, spawned.socket

    async def start(self) -> dict[str, Any]:
        """Spawn the process (unless :meth:`launch` did); return its hello (functions and
        registration errors). :class:`~durable.devserver.imports.ModuleLoadFailed` names a
        module that killed the worker or took over ``import_timeout`` seconds to import."""
        self.launch()
        assert self._socket is not None
        reader, self._writer = await asyncio.open_connection(sock=self._socket, limit=MESSAGE_LIMIT)
        self._outbox = Outbox(self._writer)
        self._spawn(self._pump_output())
        try:
            self.hello = await read_hello(
                reader, self.import_timeout, kill=self.kill, exit_code=self._exit_code
            )
        except WorkerStartError:
            await self.kill()  # reaps it and closes the socket
            raise
        self._spawn(self._read(reader))
        if self.watchdog.config.enabled:
            self._watching = asyncio.ensure_future(self.watchdog.run())
        return self.hello

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _pump_output(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        output = asyncio.StreamReader()
        transport, _ = await asyncio.get_running_loop().connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(output), self.process.stdout
        )
        try:
            while line := await output.readline():
                self.on_output(line.decode(errors="replace").rstrip("\n"))
        finally:  # (uvloop keeps a pipe open at its end: one descriptor per worker replaced)
            transport.close()

    async def _exit_code(self) -> int:
        """Wait for the process to end. Only called once it is ending (its socket closed, or
        it was killed), so a short poll is all it takes."""
        assert self.process is not None
        while (code := self.process.poll()) is None:
            await asyncio.sleep(0.005)
        return code

    async def _read(self, reader: asyncio.StreamReader) -> None:
        cancelled = False
        try:
            while line := await reader.readline():
                self._dispatch(decode(line))
        except (ConnectionError, ValueError):
            pass
        except asyncio.CancelledError:
            # The server is going down without having stopped this worker (it failed while
            # starting): end the process, which would otherwise wait for this socket to close
            # while this task waits for it to exit.
            cancelled = True
            if self.process is not None and self.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
            raise
        finally:
            self._closed.set()
            code = await self._exit_code() if self.process else None
            if self._watching is not None and self.fault is None:
                self._watching.cancel()  # (when it ended the worker, it is ending by itself)
            if cancelled:  # the passes are being cancelled too: no verdict, no message
                for running in self._passes.values():
                    running.done.cancel()
                if self._writer is not None:
                    self._writer.close()
            else:
                in_flight = {n: p.run_id for n, p in self._passes.items() if not p.done.done()}
                if self.fault is None and len(in_flight) > 1:
                    self.on_output(
                        f"the worker died (exit code {code}) with {len(in_flight)} runs in "
                        "flight; each runs again alone, without losing an attempt"
                    )
                for number, error in verdicts(self.fault, code, in_flight).items():
                    self._passes[number].done.set_exception(error)
            self._passes.clear()

    async def end_for(self, fault: Fault) -> None:
        """End the process for ``fault`` (the watchdog's verdict); passes end per it."""
        if self.fault is not None or not self.alive:
            return
        self.fault = fault
        self.on_output(f"watchdog: {fault.message}; replacing the worker")
        await self.kill()

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message["t"]
        if kind == "pong":
            self.watchdog.answered()
            return
        if kind == "blocked":
            self._spawn(self.watchdog.blocked(message))
            return
        if kind in ("cp", "done"):  # the answers a reply or a request waits for
            self.spinner.arrived()
        running = self._passes.get(message.get("x", -1))
        if running is None:
            return
        if kind == "cp":
            task = asyncio.ensure_future(self._checkpoint(running, message))
            running.tasks.add(task)
            task.add_done_callback(running.tasks.discard)
        elif kind == "start":
            running.host.step_started(started_from_wire(message["m"]))
        elif kind == "log":
            running.host.log(log_from_wire(message["l"]))
        elif kind == "done" and not running.done.done():
            running.done.set_result(result_from_wire(message["result"]))

    async def _checkpoint(self, running: _Pass, message: dict[str, Any]) -> None:
        try:
            reply = await running.host.checkpoint(checkpoint_from_wire(message["m"]))
        except Exception as exc:  # a message it cannot read, or a bug on this side
            # End the pass (its run is retried per its policy) and tell the handler to stop:
            # never leave the worker waiting for a reply that will not come.
            logger.exception("checkpoint of run %s failed", running.run_id or "?")
            if not running.done.done():
                running.done.set_exception(exc)
            reply = STOP
        self.send({"t": "reply", "x": message["x"], "c": message["c"], "r": reply_to_wire(reply)})
        self.spinner.expect()  # the pass's next checkpoint follows

    def send(self, message: dict[str, Any]) -> None:
        """Write one message to the worker (dropped if it is gone)."""
        if self._outbox is not None and self.alive:
            # one pass here: no other reply would join it, so it goes at once
            self._outbox.put(encode(message), now=len(self._passes) <= 1)

    async def execute(self, request: ExecutionRequest, host: ExecutionHost) -> ExecutionResult:
        """Run one pass in this worker."""
        if not self.alive:  # it died before this pass reached it: nothing to charge
            raise PassInterrupted("the worker process is not running")
        self._next += 1
        number = self._next
        running = _Pass(host, asyncio.get_running_loop().create_future(), request.run_id)
        self._passes[number] = running
        self.send({"t": "exec", "x": number, "request": request_to_wire(request)})
        try:
            return await running.done
        finally:
            self._passes.pop(number, None)

    def not_loaded(self, function_id: str) -> str | None:
        """Why this worker cannot run ``function_id`` (a module failed to load), or None: it
        has it, or loaded cleanly without it (it then answers UnknownFunctionError)."""
        errors = self.hello.get("errors") or []
        if not errors or any(f.get("id") == function_id for f in self.hello.get("functions", [])):
            return None
        return not_loaded_reason(errors)

    def cancel_run(self, run_id: str) -> None:
        """Tell the worker a run was cancelled: it starts no further step of it.

        Its pass ends here at once: a step body that never returns (a hung sync call) must
        not keep the pass, and with it the run's concurrency slot, forever.
        """
        self.send({"t": "cancel", "run_id": run_id})
        for running in self._passes.values():
            if running.run_id == run_id and not running.done.done():
                running.done.set_result(ExecutionResult("stopped"))

    async def stop(self, grace: float = 2.0) -> None:
        """Let passes in flight finish for up to ``grace`` seconds, then end the process."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                while self._passes:
                    await asyncio.sleep(0.01)
        for running in self._passes.values():
            if not running.done.done():
                running.done.set_exception(PassInterrupted("the worker was replaced"))
        self.send({"t": "stop"})
        await self.kill(wait=0.5)

    def abandon(self) -> None:
        """Kill and reap the process and close its socket, without the event loop (the
        server was interrupted while starting: :meth:`Server.abandon`)."""
        if self.process is not None:
            if self.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
            self.process.wait()
            if self.process.stdout is not None:
                self.process.stdout.close()
        if self._socket is not None:
            self._socket.close()

    async def kill(self, wait: float = 0.0) -> None:
        """End the process (after ``wait`` seconds for it to exit by itself)."""
        if self.process is None:
            return
        if self.process.poll() is None and wait:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit_code(), wait)
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self._exit_code()
        if self._writer is not None:
            if self._outbox is not None:
                self._outbox.flush()
            self._writer.close()
        self._closed.set()


class WorkerExecutor:
    """The dev server's Executor: passes go to the current worker, replaced when it dies."""

    def __init__(self, spawn: Callable[[], WorkerProcess]) -> None:
        self._spawn = spawn
        self.current: WorkerProcess | None = None
        self._replacing: asyncio.Lock = asyncio.Lock()
        self.isolation = Isolation(spawn)
        self.restarts = 0  #: workers started to replace one that died
        self.in_flight = 0  #: passes running through this executor

    async def start(self, worker: WorkerProcess | None = None) -> dict[str, Any]:
        """Start the first worker (or finish starting a launched one); return its hello."""
        self.current = worker or self._spawn()
        return await self.current.start()

    async def swap(self, worker: WorkerProcess) -> None:
        """Make an already started worker current and retire the old one (hot reload)."""
        old, self.current = self.current, worker
        if old is not None:
            await old.stop()

    async def ready(self) -> WorkerProcess:
        """The current worker, started (or replaced) first if it is not running."""
        return await self._worker()

    async def _worker(self) -> WorkerProcess:
        async with self._replacing:
            if self.current is None or not self.current.alive:
                if self.current is not None:
                    self.restarts += 1
                worker = self._spawn()
                await worker.start()
                self.current = worker
            return self.current

    async def execute(self, request: ExecutionRequest, host: ExecutionHost) -> ExecutionResult:
        """Run a pass in the shared worker, or alone if its run is a suspect of a crash."""
        self.in_flight += 1
        try:
            return await self._execute(request, host)
        finally:
            self.in_flight -= 1

    async def _execute(self, request: ExecutionRequest, host: ExecutionHost) -> ExecutionResult:
        if self.isolation.holds(request.run_id):
            return await self.isolation.execute(request, host)
        worker = await self._worker()
        unloaded = worker.not_loaded(request.function_id)
        if unloaded is not None:  # e.g. restarted after a crash on a module now broken
            raise FunctionNotLoaded(unloaded)
        try:
            return await worker.execute(request, host)
        except (SharedCrash, WorkerDied):  # its next passes run alone (see faults.py)
            self.isolation.suspect(request.run_id)
            raise

    def cancel_run(self, run_id: str) -> None:
        """Forward a cancellation to the worker running ``run_id``."""
        if self.current is not None:
            self.current.cancel_run(run_id)
        self.isolation.cancel_run(run_id)

    async def close(self) -> None:
        """Stop the current worker and any isolated ones."""
        if self.current is not None:
            await self.current.stop(grace=0.5)
        await self.isolation.close()
