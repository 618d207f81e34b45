"""The worker process: imports user code and runs handler passes for the server.

Started by the server as ``python -m durable.devserver.worker --fd N --root DIR FILE...``.
It talks JSON lines over the inherited socket ``N`` (never stdout, which user code owns):

    worker -> server   loading {file} (before each module) | hello {functions, errors}
                       | cp {x, c, m} | log {x, l} | done {x, result}
                       | start {x, m} | pong {n} | blocked {run_id, key, message}
    server -> worker   exec {x, request} | reply {x, c, r} | cancel {run_id} | ping {n} | stop

``x`` numbers an execution (one pass of one run), ``c`` a checkpoint within it. Passes run
concurrently on the worker's event loop; each checkpoint is one round trip.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from durable._define.app import DurableFunction
from durable._engine.execution import Execution
from durable._engine.protocol import Checkpoint, ExecutionResult, LogLine, Reply, StepStarted
from durable._engine.threads import step_threads
from durable._engine.wire import (
    checkpoint_to_wire,
    log_to_wire,
    reply_from_wire,
    request_from_wire,
    result_to_wire,
    started_to_wire,
)
from durable._errors import LimitExceededError
from durable._stored_errors import error_dict

from . import loops
from .framing import MESSAGE_LIMIT, MessageTooLarge, decode, encode
from .lifeline import die_with_parent, exit_when_closed
from .loader import function_info, load
from .outbox import Outbox
from .spin import Spinner
from .watchdog import LoopWatch, WatchdogConfig


class _RemoteHost:
    """The ExecutionHost of one pass, relayed to the server over the socket."""

    def __init__(self, worker: Worker, exec_id: int, run_id: str) -> None:
        self.worker = worker
        self.exec_id = exec_id
        self.run_id = run_id
        self._next = 0

    def is_cancelled(self) -> bool:
        return self.run_id in self.worker.cancelled

    async def checkpoint(self, message: Checkpoint) -> Reply:
        self._next += 1
        number = self._next
        try:
            self.worker.send(
                {"t": "cp", "x": self.exec_id, "c": number, "m": checkpoint_to_wire(message)}
            )
        except MessageTooLarge as exc:  # never a line the server cannot read
            raise LimitExceededError(
                f"step {message.key!r}: {exc}",
                limit="message_bytes",
                run_id=self.run_id,
                step_id=message.key,
            ) from None
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.worker.pending[(self.exec_id, number)] = future
        self.worker.spinner.expect()
        return reply_from_wire(await future)

    def log(self, line: LogLine) -> None:
        self.worker.send({"t": "log", "x": self.exec_id, "l": log_to_wire(line)})

    def step_started(self, notice: StepStarted) -> asyncio.Future[None] | None:
        # Written before the body runs: if the body kills this process, the server must
        # know which step it was.
        return self.worker.send_before(
            {"t": "start", "x": self.exec_id, "m": started_to_wire(notice)}
        )


class Worker:
    """The worker's side of the socket."""

    def __init__(
        self,
        functions: dict[str, DurableFunction],
        writer: asyncio.StreamWriter,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.functions = functions
        self.writer = writer
        self.outbox = Outbox(writer)  #: checkpoints of one loop pass go out together
        #: polls for the server's reply instead of sleeping (not while a sync body runs; a
        #: hung one, which keeps its thread, turns polling off for this worker's life)
        self.spinner = Spinner(may_spin=lambda: step_threads.busy == 0)
        self.clock = clock
        self.pending: dict[tuple[int, int], asyncio.Future[dict[str, Any]]] = {}
        self.cancelled: set[str] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.runs: dict[asyncio.Task[None], str] = {}  #: the run of each pass in flight

    def send(self, message: dict[str, Any], *, now: bool = False) -> None:
        """Queue one message (written at the end of this loop pass, with the others; ``now``,
        or a single pass running: written at once, after those queued before it);
        :class:`MessageTooLarge` (nothing written) if the server could not read it."""
        # (one pass running: nothing would join it)
        self.outbox.put(encode(message), now=now or len(self.tasks) <= 1)

    def send_before(self, message: dict[str, Any]) -> asyncio.Future[None] | None:
        """Queue a message that must be written before the caller goes on: with a single pass
        running it is written at once (None); with several, the future returned is done once
        the block of this loop pass is written, so the passes resuming together (a group
        commit's replies) share one write instead of one system call each."""
        if len(self.tasks) <= 1:
            self.outbox.put(encode(message), now=True)
            return None
        return self.outbox.put_and_wait(encode(message))

    async def serve(self, reader: asyncio.StreamReader) -> None:
        """Handle server messages until ``stop`` or the socket closes."""
        while line := await reader.readline():
            message = decode(line)
            kind = message["t"]
            if kind == "exec":
                task = asyncio.ensure_future(self._execute(message["x"], message["request"]))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
                self.runs[task] = message["request"]["run_id"]
                task.add_done_callback(self.runs.pop)
            elif kind == "reply":
                self.spinner.arrived()
                future = self.pending.pop((message["x"], message["c"]), None)
                if future is not None and not future.done():
                    future.set_result(message["r"])
            elif kind == "cancel":
                self.cancelled.add(message["run_id"])
                for running, run_id in list(self.runs.items()):
                    if run_id == message["run_id"]:
                        running.cancel()  # the server has ended the pass: stop awaiting its step
            elif kind == "ping":  # the server's watchdog: this loop is not blocked
                self.send({"t": "pong", "n": message["n"]})
            elif kind == "stop":
                break
            await self.writer.drain()

    async def _execute(self, exec_id: int, raw: dict[str, Any]) -> None:
        request = request_from_wire(raw)
        function = self.functions.get(request.function_id)
        if function is None:
            result = ExecutionResult(
                "errored",
                error={
                    "name": "UnknownFunctionError",
                    "message": f"this worker has no function {request.function_id!r}",
                },
            )
        else:
            host = _RemoteHost(self, exec_id, request.run_id)
            try:
                execution = Execution(function, request, host, clock=self.clock, isolated=True)
                result = await execution.run()
            except Exception as exc:
                result = ExecutionResult("errored", error=error_dict(exc))
        try:
            self.send({"t": "done", "x": exec_id, "result": result_to_wire(result)}, now=True)
        except MessageTooLarge as exc:  # an output near the state limit, escaped twice
            error = LimitExceededError(
                f"the result of the pass: {exc}", limit="message_bytes", run_id=request.run_id
            )
            result = ExecutionResult("failed", error=error_dict(error))
            self.send({"t": "done", "x": exec_id, "result": result_to_wire(result)}, now=True)
        await self.writer.drain()


async def main_async(fd: int, root: Path, files: list[Path]) -> None:
    """Load the user modules, say hello, serve."""
    sock = socket.socket(fileno=fd)
    exit_when_closed(fd)

    def loading(file: Path) -> None:
        # Sent (blocking, unbuffered) before the import: if the import kills or hangs this
        # process, the server knows which module did it.
        sock.sendall(encode({"t": "loading", "file": str(file)}))

    functions, errors = load(files, root, on_module=loading)
    reader, writer = await asyncio.open_connection(sock=sock, limit=MESSAGE_LIMIT)
    writer.write(
        encode(
            {
                "t": "hello",
                "functions": [function_info(fn) for fn in functions.values()],
                "errors": errors,
            }
        )
    )
    await writer.drain()
    warm_up()
    config = WatchdogConfig.from_env()
    if config.enabled:
        LoopWatch(sock, writer, config).start()
    worker = Worker(functions, writer)
    await worker.serve(reader)
    worker.outbox.flush()
    writer.close()


def warm_up() -> None:
    """Load now what the first pass would load on its way to its first step body (the step
    context and what it imports: ~4 ms), while the server, told hello already, still starts
    its scheduler: after a restart or a reload the first step starts that much sooner."""
    import durable._engine.context  # noqa: F401


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m durable.devserver.worker``."""
    # Ctrl-C on the terminal reaches the whole process group, and so does a SIGTERM sent to
    # the group (``systemctl stop``, ``kill -TERM -PGID``): the server shuts the worker down
    # itself (``stop``, then SIGKILL) once it has drained, so the worker ignores both; it
    # still dies with the server (lifeline). The server spawns it with both blocked (a Ctrl-C
    # while this interpreter started would have ended it with a traceback): ignored now, a
    # pending one is dropped, and they are unblocked for the processes user code starts.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, (signal.SIGINT, signal.SIGTERM))
    parser = argparse.ArgumentParser(description="durable worker process")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--parent", type=int, default=None, help="the server's pid")
    parser.add_argument("--spare", action="store_true", help="wait for the files to load")
    parser.add_argument("files", nargs="*", type=Path)
    args = parser.parse_args(argv)
    die_with_parent(args.parent)
    files = wait_for_files(args.fd) if args.spare else args.files
    loops.run(main_async(args.fd, args.root, files))


def wait_for_files(fd: int) -> list[Path]:
    """A spare (:class:`~durable.devserver.spawn.Spare`): block until the server says which
    files to load (one JSON line; it sends nothing else before this worker's hello); exit if
    it closes the socket first."""
    sock = socket.socket(fileno=fd)
    try:
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                raise SystemExit(0)  # the server is gone, or discarded this spare
            data += chunk
    finally:
        sock.detach()  # the descriptor stays open: main_async takes it over
    message = decode(data)
    return [Path(file) for file in message["files"]]


if __name__ == "__main__":
    main()
