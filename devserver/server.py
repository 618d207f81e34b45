"""The server core: wire the store, clock, orchestrator, workers and HTTP API.

Both ``durable dev`` (:mod:`.dev.server`, which adds hot reload and the headless log) and
``durable start`` (:mod:`.production`) are a :class:`Server`. The server process owns the store
and the scheduler; user code only ever runs in worker processes. A module that kills or hangs
the worker at import is left out and named (:mod:`.imports`). While some module fails to load,
due runs of functions that are not loaded wait, ``queued`` with a ``queued_reason``, instead of
failing (:mod:`durable._orchestration.parking`).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import weakref
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, Protocol

from durable._define.backoff import fixed_backoff
from durable._errors import ConfigError
from durable._ids import new_id
from durable._orchestration.clock import RealClock
from durable._orchestration.orchestrator import Orchestrator
from durable._stores.open import open_store
from durable._stores.sqlite_precheck import Precheck

from .context import ServerContext
from .discovery import DiscoveryError, discover, find_project_root
from .imports import not_loaded_reason, start_loading
from .interrupts import interrupted
from .listen import listen
from .metrics import Metrics
from .options import DevOptions
from .pool import WorkerPool
from .reads import OffLoopReads
from .registry import FunctionInfo, RegistrationError, Registry, function_info_from_wire
from .retention import Retention
from .spawn import Spare, SpawnedWorker
from .workers import WorkerExecutor, WorkerProcess


def hello_to_registry(
    hello: dict[str, Any],
) -> tuple[list[FunctionInfo], list[RegistrationError]]:
    """The functions and registration errors a worker's hello names."""
    functions, errors = [], []
    for raw in hello.get("functions", []):
        try:
            functions.append(function_info_from_wire(raw))
        except ConfigError as exc:
            errors.append(RegistrationError(raw.get("file") or "?", raw.get("line"), str(exc)))
    for raw in hello.get("errors", []):
        errors.append(RegistrationError(raw["file"], raw.get("line"), raw["message"]))
    return functions, errors


class ServerLog(Protocol):
    """Where a server says what happens: an orchestrator listener plus server messages."""

    def __call__(self, kind: str, change: dict[str, Any]) -> None:
        """One run, step or event change."""

    def info(self, text: str) -> None:
        """A server message (start, reload, errors), with rich markup."""


class Server:
    """One server process: ``durable dev`` or ``durable start`` (see the subclasses)."""

    #: the command's name in the start-up message
    command = "durable"
    #: uvicorn's own logging set-up (None: its records go to the root logger's handlers)
    uvicorn_logging = True

    def __init__(
        self,
        options: DevOptions,
        log: ServerLog,
        *,
        launched: SpawnedWorker | None = None,
        sockets: list[socket.socket] | None = None,
        precheck: Precheck | None = None,
    ) -> None:
        self.options = options
        self.launched = launched  #: a first worker spawned before this server was built
        self.sockets = sockets  #: the HTTP API's listening sockets, bound by the launcher
        self.root = options.root or find_project_root(Path.cwd())
        self.log = log
        self.clock = RealClock()
        self.registry = Registry()
        self.store = open_store(options.db, fsync=options.fsync, precheck=precheck)
        self.server_id = new_id(int(self.clock.now() * 1000))
        try:  # a second server on this file is refused: its scheduler would run our steps
            self.store.register_server(self.server_id, self.clock.now())
        except BaseException:
            self.store.close()
            raise
        self.executor: WorkerExecutor | WorkerPool = (
            WorkerPool(self._spawn, options.workers)
            if options.workers > 1
            else WorkerExecutor(self._spawn)
        )
        backoff = fixed_backoff(options.retry_interval) if options.retry_interval else None
        self.orchestrator = Orchestrator(
            self.store,
            self.clock,
            self.executor,
            [],
            backoff=backoff,
            server_id=self.server_id,
            dead_after=options.dead_after,
        )
        self.orchestrator.parking.reason_of = self._not_loaded
        self.context = ServerContext(
            store=self.store,
            orchestrator=self.orchestrator,
            registry=self.registry,
            clock=self.clock,
            started_at=self.clock.now(),
            root=self.root,
            reads=OffLoopReads(self.store, self.orchestrator.flush, server_id=self.server_id),
        )
        self.metrics = Metrics(self.store.count_runs_by_status, lambda: self.executor.restarts)
        self.orchestrator.subscribe(self.metrics)
        self.retention = (
            Retention(self.store, self.clock, options.retention, flush=self.orchestrator.flush)
            if options.retention
            else None
        )
        self.files: list[Path] = []
        self.spare = Spare(self.root) if self.keeps_a_spare() else None
        self._warming: asyncio.Future[None] | None = None
        self._stop = asyncio.Event()
        self._workers: weakref.WeakSet[WorkerProcess] = weakref.WeakSet()  #: for abandon()
        self._closed = False  #: serve() ended and closed the store
        self.recovered = 0  #: runs start() made ready again (mid-pass when the last server ended)

    def keeps_a_spare(self) -> bool:
        """Whether to keep a worker process started ahead (:class:`~.spawn.Spare`): a
        reload or a crashed worker's replacement then skips the interpreter's start-up and
        the engine's imports. None here (``durable start``)."""
        return False

    def _spawn(self, files: list[Path] | None = None) -> WorkerProcess:
        worker = WorkerProcess(
            self.files if files is None else files,
            self.root,
            on_output=self._worker_output,
            import_timeout=self.options.import_timeout,
            spare=self.spare,
        )
        self._workers.add(worker)
        return worker

    def _not_loaded(self, function_id: str) -> str | None:
        """Why ``function_id`` has no loaded code: the modules that failed to load (its runs
        wait for them to load), or None if every module loaded (its runs fail)."""
        errors = self.registry.errors
        if function_id in self.registry.functions or not errors:
            return None
        return not_loaded_reason([e.to_dict() for e in errors])

    def _worker_output(self, line: str) -> None:
        self.log.info(f"[dim]worker |[/dim] {line}")

    def _discover(self) -> list[Path]:
        return discover(self.options.paths, self.root)

    def _install(self, functions: list[FunctionInfo], errors: list[RegistrationError]) -> None:
        self.registry.replace(functions, errors)
        self.orchestrator.set_functions(self.registry.configs())
        self.context.status["functions"] = len(self.registry.functions)
        self.context.status["errors"] = len(errors)
        for error in errors:
            where = f"{error.file}:{error.line}" if error.line else error.file
            self.log.info(f"[bold red]error[/bold red] {where}: {error.message}")

    async def start(self) -> None:
        """Discover, start the first worker, recover unfinished runs."""
        first = None
        if self.launched is not None:  # discovered and spawned by the launcher a moment ago
            self.files = self.launched.files
            first = self._spawn()
            first.launch(self.launched)
            self.launched = None
        else:
            try:
                self.files = self._discover()
            except DiscoveryError as exc:
                self.log.info(f"[bold red]error[/bold red] {exc}")
                self.files = []
        worker, hello, self.files = await start_loading(self._spawn, self.files, first)
        if worker is not None:
            await self.executor.swap(worker)
            if isinstance(self.executor, WorkerPool):  # the other workers start meanwhile
                self._warming = asyncio.ensure_future(self.executor.warm())
        self._install(*hello_to_registry(hello))
        self.recovered = self.orchestrator.recover()
        self.orchestrator.subscribe(self.log)
        self.context.status["reloads"] = 0

    def _say_started(self) -> None:
        """The start-up line: what was loaded and resumed, and where the API is."""
        self.log.info(
            f"{self.command}: {len(self.registry.functions)} function(s) from {len(self.files)} "
            f"module(s); {self.recovered} run(s) resumed; "
            f"http://{self.options.host}:{self.options.port}"
        )

    async def serve(self, on_ready: Callable[[], None] | None = None) -> None:
        """Run until stopped (SIGINT/SIGTERM or :meth:`stop`)."""
        # The worker starts first (launched before this server was built, or by start()); the
        # first passes go out next, and only then is the HTTP side imported and started (tens
        # of ms): a restart resumes its runs sooner. Requests meanwhile wait in the listening
        # sockets' backlog, and are served only once the functions are known.
        if self.sockets is None:  # ListenError now, before a worker starts
            self.sockets = listen(self.options.host, self.options.port)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):  # from the start: Ctrl-C while booting
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop)
        if interrupted():  # a Ctrl-C lost while this process started (see .interrupts)
            self.stop()
        await self.start()
        scheduling = asyncio.ensure_future(self.orchestrator.run_forever())
        scheduling.add_done_callback(lambda _: self.stop())  # reaped: this server stops
        first_round = asyncio.ensure_future(self.orchestrator.scheduler.first_round.wait())
        await asyncio.wait((first_round, scheduling), return_when=asyncio.FIRST_COMPLETED)
        first_round.cancel()
        await asyncio.sleep(0)  # the passes just started send their requests
        self._say_started()
        try:
            app, http = self._build_http()
        except BaseException:  # the passes started end as at a stop, not cancelled mid-way
            scheduling.cancel()
            await asyncio.gather(scheduling, return_exceptions=True)
            await self.drain(self.options.drain_timeout)
            raise
        serving = asyncio.ensure_future(http.serve(sockets=self.sockets))
        tasks = [scheduling, serving]
        tasks += [asyncio.ensure_future(coro) for coro in self.background()]
        if self.retention is not None:
            tasks.append(asyncio.ensure_future(self.retention.run_forever()))
        while not http.started and not serving.done():
            await asyncio.sleep(0.01)
        if self.spare is not None:  # the next worker's start-up, while nothing waits for it
            self.spare.refill()
        if on_ready is not None:
            on_ready()
        await self._stop.wait()
        scheduling.cancel()  # no new pass starts from here on
        app.state.stream.close()  # open SSE streams would hold uvicorn's shutdown
        http.should_exit = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(serving, 5)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.drain(self.options.drain_timeout)
        if self.context.reads is not None:
            self.context.reads.close()
        self.store.close()
        self._closed = True

    def _build_http(self) -> tuple[Any, Any]:
        """The API app and the uvicorn server serving it (imported here: after the first
        passes went out)."""
        from .api import create_app
        from .guard import allowed_hosts

        hosts = allowed_hosts(self.options.host, self.options.allow_hosts)
        app = create_app(
            self.context,
            hosts=hosts,
            signing_key=self.options.signing_key,
            event_keys=self.options.event_keys,
            metrics=self.metrics.render,
        )
        http = _http_server(
            app, self.options.host, self.options.port, own_logging=self.uvicorn_logging
        )
        return app, http

    def abandon(self) -> None:
        """End, without the event loop, what an interrupted :meth:`serve` began: Ctrl-C
        before its own handler was installed (``asyncio.run`` then cancels it and raises
        :class:`KeyboardInterrupt`). Kills the worker processes and closes the sockets and the
        store; what was committed stays (runs in flight resume at the next start)."""
        if self.launched is not None:  # not adopted yet
            self.launched.discard()
            self.launched = None
        if self.spare is not None:
            self.spare.close()
        for worker in list(self._workers):
            worker.abandon()
        for sock in self.sockets or []:
            sock.close()
        if not self._closed:
            self._closed = True
            if self.context.reads is not None:
                self.context.reads.close()
            self.store.close()

    async def drain(self, timeout: float) -> None:
        """Let passes in flight finish for up to ``timeout`` seconds, then stop the workers:
        a pass still running is handed back (its run resumes at the next start, without
        losing an attempt)."""
        passes = list(self.orchestrator.in_flight.tasks.values())
        if passes and timeout > 0:
            self.log.info(f"draining: {len(passes)} pass(es) in flight (up to {timeout:g}s)")
            await asyncio.wait(passes, timeout=timeout)
        if self._warming is not None:
            self._warming.cancel()
        if self.spare is not None:
            self.spare.close()
        await self.executor.close()
        left = list(self.orchestrator.in_flight.tasks.values())
        if left:  # they end now (their worker is gone): let them write that down
            await asyncio.wait(left, timeout=2)
        self.orchestrator.flush()

    def background(self) -> list[Coroutine[Any, Any, None]]:
        """Tasks that run beside the scheduler and the HTTP API until the server stops."""
        return []

    def stop(self) -> None:
        """Ask :meth:`serve` to shut down."""
        self._stop.set()


def _http_server(app: Any, host: str, port: int, *, own_logging: bool = True) -> Any:
    """A uvicorn server for ``app`` without uvicorn's own signal handling (the dev server
    shuts everything down). uvicorn is imported here, off the path to the first worker."""
    import uvicorn

    class QuietServer(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    extra: dict[str, Any] = {} if own_logging else {"log_config": None}
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", lifespan="off", access_log=False, **extra
    )
    return QuietServer(config)
