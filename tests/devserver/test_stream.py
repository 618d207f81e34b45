"""``GET /api/stream``: live run, step and event changes over server-sent events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx

from durable.devserver.stream import StreamHub, format_frame
from tests.support.live import LiveServer, wait_for

Frame = tuple[str, Any]


def read_frames(response: httpx.Response) -> Iterator[Frame]:
    """``(event, data)`` per SSE frame, ``("comment", text)`` per comment line."""
    event, data = None, []
    for line in response.iter_lines():
        if line.startswith(":"):
            yield "comment", line[1:].strip()
        elif line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data.append(line.removeprefix("data: "))
        elif line == "" and event is not None:
            yield event, json.loads("\n".join(data))
            event, data = None, []


def until(frames: Iterator[Frame], done: Any) -> list[Frame]:
    """Frames read until (and including) the first one for which ``done`` is true."""
    seen = []
    for frame in frames:
        seen.append(frame)
        if done(frame):
            return seen
    raise AssertionError(f"the stream ended before the expected frame: {seen}")


def test_stream_shows_a_new_run(live_server: LiveServer) -> None:
    with live_server.client.stream("GET", "/api/stream") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        frames = read_frames(response)
        assert next(frames) == ("comment", "connected")
        event_id = live_server.send("test/pipeline", {"n": 1})
        seen = until(frames, lambda f: f[0] == "run" and f[1]["status"] in ("completed", "failed"))
    kinds = [kind for kind, _ in seen if kind != "comment"]
    assert kinds[0] == "run" and "event" in kinds and "step" in kinds
    (run_id,) = next(d["run_ids"] for k, d in seen if k == "event" and d["id"] == event_id)
    runs = [d for k, d in seen if k == "run"]
    assert all(d["run_id"] == run_id and d["function_id"] == "pipeline" for d in runs)
    assert runs[0]["status"] == "queued" and runs[-1]["status"] == "completed"
    steps = [(d["key"], d["status"]) for k, d in seen if k == "step"]
    assert ("a", "completed") in steps and ("pause", "sleeping") in steps
    assert ("b", "completed") in steps
    wait_for(lambda: live_server.get("/health")["streams"] == 0)  # the client went away


def test_stream_of_one_run(live_server: LiveServer) -> None:
    sleeping = live_server.start("test/sleep")
    live_server.wait_run(sleeping, "sleeping")
    with live_server.client.stream("GET", "/api/stream", params={"run_id": sleeping}) as response:
        frames = read_frames(response)
        assert next(frames) == ("comment", "connected")
        other = live_server.start("test/pipeline")
        live_server.wait_run(other)
        httpx.post(
            f"{live_server.url}/api/runs/{sleeping}/cancel",
            headers={"content-type": "application/json"},
            timeout=5,
        )
        seen = until(frames, lambda f: f[0] == "run" and f[1]["status"] == "cancelled")
    assert [d["run_id"] for k, d in seen if k == "run"] == [sleeping]
    assert seen[-1][1]["reason"] == "cancelled by request"


def test_keepalive_and_shutdown_end(live_server: LiveServer) -> None:
    with live_server.client.stream("GET", "/api/stream") as response:
        frames = read_frames(response)
        assert next(frames) == ("comment", "connected")
        assert next(frames) == ("comment", "keepalive")  # the test server says it every 0.5 s
        live_server.loop.call_soon_threadsafe(live_server.app.state.stream.close)
        assert list(frames) == []  # the stream ends: shutdown is not held up by it


async def test_hub_drops_a_slow_client_without_blocking() -> None:
    hub = StreamHub(queue_size=3, keepalive=10)
    slow = hub.connect()
    fast = hub.connect(run_id="r1")
    for i in range(10):  # never blocks, however far behind a client is
        hub.publish("run", {"run_id": "r1" if i == 9 else "r2", "status": "running"})
    frames = [frame async for frame in hub.frames(slow)]
    assert frames[0] == ": connected\n\n"
    assert frames[1:] == [format_frame("overflow", {"dropped": 3})]
    assert slow not in hub.clients and slow.dropped == 3
    assert fast.queue.qsize() == 1  # filtered to its run
    hub.close()
    frames = [frame async for frame in hub.frames(fast)]
    assert frames[1:] == [format_frame("run", {"run_id": "r1", "status": "running"})]
    assert hub.clients == set()


async def test_hub_keepalive_and_closed_hub() -> None:
    hub = StreamHub(keepalive=0.01)
    client = hub.connect()
    stream = hub.frames(client)
    assert await anext(stream) == ": connected\n\n"
    assert await asyncio.wait_for(anext(stream), 1) == ": keepalive\n\n"
    hub.close()
    assert [frame async for frame in stream] == []
    late = hub.connect()
    assert [frame async for frame in hub.frames(late)] == [": connected\n\n"]
    hub.publish("run", {"run_id": "x"})  # no clients: nothing to do


def test_frame_format() -> None:
    assert format_frame("event", {"id": "e1", "run_ids": []}) == (
        'event: event\ndata: {"id":"e1","run_ids":[]}\n\n'
    )
