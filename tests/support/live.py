"""A real dev server for tests: HTTP API on a free port, orchestrator, SQLite, real clock.

:func:`serve` (and the ``live_server`` fixture of ``tests/conftest.py`` built on it) runs, in a
background thread with its own event loop, an orchestrator over a SQLite store executing the
functions of :data:`tests.support.live_app.app` in process, its scheduler loop, and uvicorn
serving :func:`devserver.api.create_app`. Tests talk to it over real HTTP from sync code::

    def test_something(live_server):
        event_id = live_server.send("test/pipeline", {"n": 1})
        run_id = live_server.run_ids(event_id)[0]
        run = live_server.wait_run(run_id, "completed")

``live_server.call(coro_fn)`` runs a coroutine function in the server loop (thread-safely).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn

from durable._engine.inprocess import InProcessExecutor
from durable._orchestration.clock import RealClock
from durable._orchestration.orchestrator import Orchestrator
from durable._stores.sqlite import SQLiteStore
from durable.devserver.api import create_app
from durable.devserver.context import ServerContext
from durable.devserver.registry import FunctionInfo, Registry
from tests.support.live_app import app

T = TypeVar("T")

TERMINAL = ("completed", "failed", "cancelled")
#: The headers of a POST: the server refuses any other type (SPEC section 10), bodiless too.
JSON = {"content-type": "application/json"}


def wait_for(predicate: Callable[[], T], timeout: float = 5.0, *, message: str = "condition") -> T:
    """Poll ``predicate`` (every few milliseconds) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}: {value!r}")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


@dataclass
class LiveServer:
    """A running server: its ``url``, its ``ctx`` and helpers to talk to it."""

    url: str
    ctx: ServerContext
    loop: asyncio.AbstractEventLoop
    app: Any = field(repr=False)  #: the Starlette app; ``app.state.stream`` is the SSE hub
    client: httpx.Client = field(repr=False)

    def call(self, coro_fn: Callable[[], Awaitable[T]], timeout: float = 5.0) -> T:
        """Run ``coro_fn()`` in the server's event loop and return its result."""

        async def runner() -> T:
            return await coro_fn()

        return asyncio.run_coroutine_threadsafe(runner(), self.loop).result(timeout)

    def get(self, path: str, **params: Any) -> Any:
        """``GET path`` and its JSON body (raises on an error status)."""
        response = self.client.get(path, params=params)
        response.raise_for_status()
        return response.json()

    def send(self, name: str, data: dict[str, Any] | None = None, **fields: Any) -> str:
        """Send one event; its id."""
        response = self.client.post(
            "/api/events", json={"name": name, "data": data or {}, **fields}
        )
        response.raise_for_status()
        return str(response.json()["ids"][0])

    def run_ids(self, event_id: str) -> list[str]:
        """The runs an event started."""
        for event in self.get("/api/events", limit=1000)["events"]:
            if event["id"] == event_id:
                return list(event["run_ids"])
        raise AssertionError(f"no event {event_id}")

    def start(self, name: str, data: dict[str, Any] | None = None) -> str:
        """Send an event that starts exactly one run; that run's id."""
        run_ids = self.run_ids(self.send(name, data))
        assert len(run_ids) == 1, run_ids
        return run_ids[0]

    def wait_run(self, run_id: str, *statuses: str, timeout: float = 5.0) -> dict[str, Any]:
        """Poll ``GET /api/runs/{run_id}`` until its status is one of ``statuses``."""
        wanted = statuses or TERMINAL

        def reached() -> dict[str, Any] | None:
            run: dict[str, Any] = self.get(f"/api/runs/{run_id}")
            return run if run["status"] in wanted else None

        return wait_for(reached, timeout, message=f"run {run_id} to be {'/'.join(wanted)}")

    def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        """:func:`wait_for`, for tests holding only the server."""
        return wait_for(predicate, timeout)


def _free_socket() -> socket.socket:
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted connections only then
    # (without it, keep-alive requests wait ~40 ms on delayed ACKs).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def _build_context(db: Path) -> ServerContext:
    clock = RealClock()
    store = SQLiteStore(str(db))
    functions = dict(app.functions)
    orchestrator = Orchestrator(
        store,
        clock,
        InProcessExecutor(functions, clock.now),
        [fn.config for fn in functions.values()],
    )
    registry = Registry()
    registry.replace([FunctionInfo(fn.id, app.id, fn.config) for fn in functions.values()], [])
    return ServerContext(
        store=store,
        orchestrator=orchestrator,
        registry=registry,
        clock=clock,
        started_at=clock.now(),
        status={"functions": len(functions)},
    )


@contextlib.contextmanager
def serve(db: Path, *, hosts: list[str] | None = None) -> Iterator[LiveServer]:
    """Run a server on ``db`` in a background thread for the duration of the block;
    ``hosts``: the ``Host`` names it answers to (default: the loopback names)."""
    loop = asyncio.new_event_loop()
    sock = _free_socket()
    port = sock.getsockname()[1]
    started: Future[tuple[ServerContext, uvicorn.Server, Any]] = Future()
    stopped = threading.Event()

    async def main() -> None:
        ctx = _build_context(db)
        api = create_app(ctx, keepalive=0.5, hosts=hosts)
        http = uvicorn.Server(uvicorn.Config(api, log_level="warning", lifespan="off"))
        scheduler = asyncio.ensure_future(ctx.orchestrator.run_forever())
        serving = asyncio.ensure_future(http.serve(sockets=[sock]))
        while not http.started and not serving.done():
            await asyncio.sleep(0.002)
        if http.started:
            started.set_result((ctx, http, api))
        await asyncio.wait([serving])
        scheduler.cancel()
        # passes still in flight (a retry mid-way, a step body) end with the loop
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(scheduler, *others, return_exceptions=True)
        ctx.store.close()
        serving.result()

    def thread_main() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(main())
        except BaseException as exc:
            if not started.done():
                started.set_exception(exc)
            raise
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            sock.close()
            stopped.set()

    thread = threading.Thread(target=thread_main, name="live-server", daemon=True)
    thread.start()
    ctx, http, api = started.result(timeout=10)
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=url, timeout=5) as client:
        try:
            yield LiveServer(url=url, ctx=ctx, loop=loop, app=api, client=client)
        finally:
            loop.call_soon_threadsafe(api.state.stream.close)
            http.should_exit = True
            thread.join(timeout=10)
            assert stopped.is_set(), "the live server did not shut down"


async def settle(server: LiveServer, run_id: str, *statuses: str) -> dict[str, Any]:
    """Wait (without blocking the loop) until the run has one of ``statuses``."""
    wanted = statuses or TERMINAL
    for _ in range(250):
        run: dict[str, Any] = server.get(f"/api/runs/{run_id}")
        if run["status"] in wanted:
            return run
        await asyncio.sleep(0.02)
    raise AssertionError(f"run {run_id} never became {wanted}")
