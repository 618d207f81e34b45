"""tui/api.py against the real dev server (tests/support/live.py) and a dead port."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from durable import Context, Durable
from durable.tui.api import Disconnected, DurableClient, RequestFailed
from tests.support.extra_functions import add_function
from tests.support.harness import free_port
from tests.support.live import LiveServer, settle

billing = Durable(id="tui-api-tests")


@billing.function(id="billing/charge", triggers=[{"event": "billing/charge.requested"}])
async def charge(ctx: Context) -> dict[str, Any]:
    """A function whose id has a slash in it (ids may)."""
    return dict(ctx.event.data)


async def test_reads_and_actions(live_server: LiveServer, tmp_path: Path) -> None:
    client = DurableClient(live_server.url)
    try:
        assert (await client.health())["status"] == "ok"
        ids = await client.send([{"name": "test/pipeline", "data": {"n": i}} for i in range(5)])
        assert len(ids) == 5
        events = await client.events(limit=10)
        assert {e["id"] for e in events} == set(ids)
        run_ids = [run_id for e in events for run_id in e["run_ids"]]
        for run_id in run_ids:
            await settle(live_server, run_id)

        first = await client.runs(limit=2)
        second = await client.runs(limit=2, cursor=first.cursor)
        third = await client.runs(limit=2, cursor=second.cursor)
        paged = [r["run_id"] for r in first.runs + second.runs + third.runs]
        assert sorted(paged) == sorted(run_ids) and third.cursor is None  # each run once
        assert (await client.runs(status="failed")).runs == []
        assert len((await client.runs(function="pipeline")).runs) == 5

        run = await client.run(run_ids[0])
        assert [s["key"] for s in run["steps"]] == ["a", "pause", "b"]
        logs = await client.logs(run_ids[0])
        assert any("adding one" in line["message"] for line in logs)
        assert all(line["step"] == "a" for line in await client.logs(run_ids[0], step="a"))

        functions = await client.functions()
        assert "pipeline" in {f["id"] for f in functions["functions"]}
        assert functions["errors"] == []

        rerun = await client.rerun(run_ids[0], from_step="b")
        assert rerun["reused_steps"] == ["a", "pause"]
        path = await client.export_fixture(run_ids[0], tmp_path / "fixtures")
        assert path == tmp_path / "fixtures" / f"{run_ids[0]}.json"
        assert json.loads(path.read_text())["function"] == "pipeline"

        sleeping = (await client.events(limit=1)) and live_server.start("test/sleep")
        await settle(live_server, sleeping, "sleeping")
        assert (await client.cancel(sleeping))["status"] == "cancelled"
        with pytest.raises(RequestFailed) as failed:
            await client.cancel(sleeping)
        assert failed.value.status == 409 and failed.value.code == "run_finished"
        with pytest.raises(RequestFailed, match="no run with id 'nope'"):
            await client.run("nope")
    finally:
        await client.aclose()


async def test_a_dead_server_is_a_typed_error_not_a_crash() -> None:
    client = DurableClient(f"http://127.0.0.1:{free_port()}", timeout=1)
    with pytest.raises(Disconnected, match="cannot reach") as lost:
        await client.runs()
    assert lost.value.reason
    stream = client.stream(min_backoff=0.01)
    kind, data = await anext(stream)
    assert kind == "disconnected" and data["error"] and data["retry_in"] == 0.01
    await stream.aclose()
    await client.aclose()


async def test_the_stream_yields_connected_then_changes(live_server: LiveServer) -> None:
    client = DurableClient(live_server.url)
    stream = client.stream()
    try:
        assert (await anext(stream))[0] == "connected"
        event_id = live_server.send("test/pipeline", {"n": 1})
        seen: list[tuple[str, dict[str, Any]]] = []
        while not any(k == "run" and d["status"] == "completed" for k, d in seen):
            seen.append(await asyncio.wait_for(anext(stream), 5))
        kinds = {kind for kind, _ in seen}
        assert {"event", "run", "step"} <= kinds
        assert any(k == "event" and d["id"] == event_id for k, d in seen)
    finally:
        await stream.aclose()
        await client.aclose()


async def test_invoke_quotes_a_function_id_with_a_slash(live_server: LiveServer) -> None:
    add_function(live_server, charge)
    paths: list[bytes] = []

    async def record(request: httpx.Request) -> None:
        paths.append(request.url.raw_path)

    client = DurableClient(live_server.url)
    client._client().event_hooks["request"].append(record)
    try:
        started = await client.invoke("billing/charge", {"cents": 250})
        run = await settle(live_server, started["run_id"])
        assert run["function_id"] == "billing/charge" and run["output"] == {"cents": 250}
        assert paths == [b"/api/functions/billing%2Fcharge/invoke"]  # one path segment
    finally:
        await client.aclose()
