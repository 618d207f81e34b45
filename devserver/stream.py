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
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

#: Frames a client may have pending before it counts as too slow.
DEFAULT_QUEUE_SIZE = 1000
#: Seconds of silence before a keepalive comment.
DEFAULT_KEEPALIVE = 15.0

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
        self, *, queue_size: int = DEFAULT_QUEUE_SIZE, keepalive: float = DEFAULT_KEEPALIVE
    ) -> None:
        self.queue_size = queue_size
        self.keepalive = keepalive
        self.clients: set[StreamClient] = set()
        self.closed = False

    # -- the orchestrator side -----------------------------------------------------------

    def publish(self, kind: str, payload: dict[str, Any]) -> None:
        """Orchestrator listener: queue the change for every interested client."""
        if not self.clients:
            return
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
        return client

    def disconnect(self, client: StreamClient) -> None:
        """Forget a client (its stream ended)."""
        self.clients.discard(client)

    async def frames(self, client: StreamClient) -> AsyncIterator[str]:
        """The SSE text of ``client``'s stream, until it is closed or the client goes."""
        try:
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


def format_frame(kind: str, payload: dict[str, Any]) -> str:
    """One SSE frame: ``event: KIND`` and a one-line JSON ``data``."""
    data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str)
    return f"event: {kind}\ndata: {data}\n\n"
