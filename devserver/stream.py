"""Server-sent events: the orchestrator's run, step and event changes, fanned out to clients.

The :class:`StreamHub` listens to the orchestrator once and copies each change, encoded once
as an SSE frame, into every client's bounded queue. Publishing never blocks and never waits
for a client: a client whose queue is full has fallen behind, so it is sent an ``overflow``
frame and its stream ends (it reconnects and refetches what it shows). Frames::

    event: run
    data: {"run_id": ..., "function_id": ..., "status": ...}

    event: step
    data: {"run_id": ..., "key": ..., "kind": ..., "status": ..., "attempts": 1, ...}

    event: event
    data: {"id": ..., "name": ..., "run_ids": [...]}

plus a ``: keepalive`` comment when nothing happened for a while. Streams end when the
client disconnects or when :meth:`StreamHub.close` is called (server shutdown).

Many servers on one PostgreSQL database: the orchestrator tells only this server's changes,
so while at least one client is connected the hub also *follows* the others: every
:data:`DEFAULT_FOLLOW_INTERVAL` seconds it asks ``follow`` (off the event loop: the reads'
thread, :meth:`devserver.reads.OffLoopReads.run_changes`) for the runs other servers changed
since its last look, and publishes each as the same ``run`` frame. A change whose status is the
one last published for that run is not repeated. ``: connected`` is sent once the first look
noted where following starts: every change committed after it is delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

#: Frames a client may have pending before it counts as too slow.
DEFAULT_QUEUE_SIZE = 1000
#: Seconds of silence before a keepalive comment.
DEFAULT_KEEPALIVE = 15.0
#: Seconds between two looks at other servers' run changes (while a client is connected).
DEFAULT_FOLLOW_INTERVAL = 0.5
#: How long a new stream waits for the first look before it says ``: connected`` anyway.
FIRST_LOOK_TIMEOUT = 5.0
#: Runs whose last published status is remembered (to not repeat a change).
REMEMBERED_RUNS = 10_000

#: ``follow(restart)``: the run changes other servers made since the last look (``restart``:
#: a first look, which only notes where the next starts and returns none).
Follow = Callable[[bool], Awaitable[list[dict[str, Any]]]]

logger = logging.getLogger("durable.devserver")

_CLOSE = ""  # sentinel frame: end this stream


@dataclass(eq=False, slots=True)
class StreamClient:
    """One connected stream: its queue and what it wants to hear about."""

    queue: asyncio.Queue[str]
    run_id: str | None = None
    dropped: int = 0
    ended: bool = False  #: its last frame is queued: nothing more is added
    kinds: frozenset[str] = field(default_factory=lambda: frozenset({"run", "step", "event"}))

    def wants(self, kind: str, payload: dict[str, Any]) -> bool:
        """Whether this client's filters let the change through."""
        if kind not in self.kinds:
            return False
        if self.run_id is None:
            return True
        if kind == "event":
            return self.run_id in (payload.get("run_ids") or ())
        return payload.get("run_id") == self.run_id


class StreamHub:
    """Fans orchestrator changes out to SSE clients without ever blocking the orchestrator."""

    def __init__(
        self,
        *,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        keepalive: float = DEFAULT_KEEPALIVE,
        follow: Follow | None = None,
        follow_interval: float = DEFAULT_FOLLOW_INTERVAL,
    ) -> None:
        self.queue_size = queue_size
        self.keepalive = keepalive
        self.follow = follow  #: other servers' run changes (None: this server is alone)
        self.follow_interval = follow_interval
        self.clients: set[StreamClient] = set()
        self.closed = False
        self._follower: asyncio.Task[None] | None = None
        self._first_look = asyncio.Event()
        self._last_status: OrderedDict[str, str] = OrderedDict()

    # -- the orchestrator side -----------------------------------------------------------

    def publish(self, kind: str, payload: dict[str, Any]) -> None:
        """Orchestrator listener: queue the change for every interested client."""
        if not self.clients:
            return
        if kind == "run" and self.follow is not None:
            self._remember(payload)
        frame: str | None = None
        for client in list(self.clients):
            if client.ended or not client.wants(kind, payload):
                continue
            if frame is None:
                frame = format_frame(kind, payload)
            if client.queue.qsize() >= self.queue_size:
                self._overflow(client)
            else:
                client.queue.put_nowait(frame)

    def _remember(self, payload: dict[str, Any]) -> None:
        run_id, status = payload.get("run_id"), payload.get("status")
        if isinstance(run_id, str) and isinstance(status, str):
            self._last_status[run_id] = status
            self._last_status.move_to_end(run_id)
            if len(self._last_status) > REMEMBERED_RUNS:
                self._last_status.popitem(last=False)

    # -- other servers' changes ----------------------------------------------------------

    def _start_following(self) -> None:
        if self.follow is None or self._follower is not None or self.closed:
            return
        self._first_look.clear()
        self._last_status.clear()
        self._follower = asyncio.ensure_future(self._following())

    async def _following(self) -> None:
        """Look for other servers' changes while a client is connected."""
        assert self.follow is not None
        restart, failing = True, False
        try:
            while self.clients and not self.closed:
                try:
                    changes = await self.follow(restart)
                    restart, failing = False, False
                except Exception as exc:  # the database is away: the next look retries
                    if not failing:
                        logger.warning("stream: cannot read other servers' changes: %s", exc)
                    changes, failing = [], True
                self._first_look.set()
                for change in changes:
                    if self._last_status.get(change.get("run_id", "")) != change.get("status"):
                        self.publish("run", change)
                await asyncio.sleep(self.follow_interval)
        finally:
            self._first_look.set()
            self._follower = None

    def _overflow(self, client: StreamClient) -> None:
        dropped = client.queue.qsize()
        while not client.queue.empty():
            client.queue.get_nowait()
        client.dropped = dropped
        client.queue.put_nowait(format_frame("overflow", {"dropped": dropped}))
        self._end(client)

    @staticmethod
    def _end(client: StreamClient) -> None:
        client.ended = True
        client.queue.put_nowait(_CLOSE)

    # -- the client side -----------------------------------------------------------------

    def connect(self, *, run_id: str | None = None) -> StreamClient:
        """Register a new client; its changes are queued from now on."""
        client = StreamClient(asyncio.Queue(), run_id=run_id)  # bounded by publish()
        if self.closed:
            self._end(client)
        self.clients.add(client)
        self._start_following()
        return client

    def disconnect(self, client: StreamClient) -> None:
        """Forget a client (its stream ended)."""
        self.clients.discard(client)

    async def frames(self, client: StreamClient) -> AsyncIterator[str]:
        """The SSE text of ``client``'s stream, until it is closed or the client goes."""
        try:
            if self._follower is not None:  # changes from now on are all delivered
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._first_look.wait(), FIRST_LOOK_TIMEOUT)
            yield ": connected\n\n"
            while True:
                try:
                    frame = await asyncio.wait_for(client.queue.get(), self.keepalive)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                if frame == _CLOSE:
                    return
                yield frame
        finally:
            self.disconnect(client)

    def close(self) -> None:
        """End every stream (server shutdown); new streams end at once."""
        self.closed = True
        for client in list(self.clients):
            if not client.ended:
                self._end(client)
        if self._follower is not None:
            self._follower.cancel()


def format_frame(kind: str, payload: dict[str, Any]) -> str:
    """One SSE frame: ``event: KIND`` and a one-line JSON ``data``."""
    data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str)
    return f"event: {kind}\ndata: {data}\n\n"
