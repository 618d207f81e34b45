"""The stream hub follows other servers' run changes while a client is connected: the first
look comes before ``: connected``, a status already published is not repeated, a failed look
is retried, and nothing is looked at without a client."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from durable.devserver.stream import StreamHub, format_frame


class Others:
    """A fake ``follow``: the looks asked for, and the changes each next look returns."""

    def __init__(self) -> None:
        self.looks: list[bool] = []
        self.pending: list[dict[str, Any]] = []
        self.fail = False

    async def __call__(self, restart: bool) -> list[dict[str, Any]]:
        self.looks.append(restart)
        if self.fail:
            raise OSError("database away")
        if restart:
            return []
        found, self.pending = self.pending, []
        return found


async def next_frame(frames: Any) -> str:
    return str(await asyncio.wait_for(anext(frames), 2))


async def test_other_servers_changes_reach_the_stream_once() -> None:
    others = Others()
    hub = StreamHub(keepalive=10, follow=others, follow_interval=0.01)
    client = hub.connect()
    frames = hub.frames(client)
    assert await next_frame(frames) == ": connected\n\n"
    assert others.looks[0] is True  # the first look noted where following starts
    hub.publish("run", {"run_id": "mine", "function_id": "f", "status": "completed"})
    others.pending = [
        {"run_id": "theirs", "function_id": "f", "status": "completed"},
        {"run_id": "mine", "function_id": "f", "status": "completed"},  # already told
    ]
    assert await next_frame(frames) == format_frame(
        "run", {"run_id": "mine", "function_id": "f", "status": "completed"}
    )
    assert await next_frame(frames) == format_frame(
        "run", {"run_id": "theirs", "function_id": "f", "status": "completed"}
    )
    others.pending = [{"run_id": "theirs", "function_id": "f", "status": "completed"}]
    await asyncio.sleep(0.1)
    assert client.queue.empty()  # the same status again is not repeated
    hub.close()
    assert [frame async for frame in frames] == []


async def test_following_stops_without_clients_and_restarts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    others = Others()
    hub = StreamHub(keepalive=10, follow=others, follow_interval=0.01)
    await asyncio.sleep(0.05)
    assert others.looks == []  # no client: no look
    client = hub.connect()
    frames = hub.frames(client)
    await next_frame(frames)
    others.fail = True
    with caplog.at_level(logging.WARNING, logger="durable.devserver"):
        await asyncio.sleep(0.1)
    warnings = [r for r in caplog.records if "other servers" in r.getMessage()]
    assert len(warnings) == 1 and "database away" in warnings[0].getMessage()  # once a streak
    others.fail = False
    others.pending = [{"run_id": "r", "function_id": "f", "status": "running"}]
    assert '"run_id":"r"' in await next_frame(frames)  # the next look after the failure
    await frames.aclose()  # the client goes
    await asyncio.sleep(0.05)
    looked = len(others.looks)
    await asyncio.sleep(0.05)
    assert len(others.looks) == looked  # stopped
    again = hub.connect()
    await next_frame(hub.frames(again))
    assert others.looks[looked:][0] is True  # a fresh start: no stale snapshot
    hub.close()


async def test_a_hub_without_other_servers_never_looks() -> None:
    hub = StreamHub(keepalive=10)
    client = hub.connect()
    assert await next_frame(hub.frames(client)) == ": connected\n\n"
    hub.close()
