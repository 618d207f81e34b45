"""Reruns from a step: what they reuse, where reused steps sit, and when they happened.

The engine parts run on a :class:`TestEngine` (in-memory store, virtual clock) with the
server's own rerun code; the last test goes through the real HTTP API.
"""

from __future__ import annotations

import asyncio
from typing import Any

from durable import Context, Durable, NonRetriableError, StepError
from durable._replay.fixtures import fixture_from_run
from durable._replay.replay import replay_fixture_async
from durable.devserver.rerun import start_rerun
from durable.devserver.views import run_view
from durable.testing import TestEngine
from tests.support.live import LiveServer

CALLS: dict[str, int] = {}


def build_app() -> Durable:
    app = Durable(id="reruns")

    def count(name: str, value: Any = None) -> Any:
        CALLS[name] = CALLS.get(name, 0) + 1
        return value

    @app.function(id="fallback", triggers=[{"event": "quote"}], retries=0)
    async def fallback(ctx: Context) -> dict[str, Any]:
        def primary() -> None:
            count("primary")
            raise NonRetriableError("primary is down")

        try:
            quote = await ctx.step.run("primary", primary)
        except StepError:
            quote = await ctx.step.run("backup", count, "backup", {"price": 10})
        shipped = await ctx.step.run("ship", count, "ship", quote["price"] + 1)
        return {"quote": quote, "shipped": shipped}

    @app.function(id="branches", triggers=[{"event": "branches"}])
    async def branches(ctx: Context) -> list[int]:
        napping = asyncio.ensure_future(ctx.step.sleep("nap", "1h"))
        await asyncio.sleep(0)  # the nap is reached first
        t = await ctx.step.run("t", count, "t", 1)
        u = await ctx.step.run("u", count, "u", 2)
        await napping
        return [t, u]

    return app


async def rerun(t: TestEngine, run_id: str, from_step: str, **body: Any) -> str:
    record = t.store.get_run(run_id)
    assert record is not None
    new, _ = await start_rerun(t.orchestrator, record, from_step, {"from_step": from_step, **body})
    await t.settle()
    return new.run_id


async def replays(t: TestEngine, app: Durable, run_id: str) -> dict[str, Any]:
    """The run's fixture, checked to replay cleanly against the unchanged code."""
    record = t.store.get_run(run_id)
    assert record is not None
    fixture = fixture_from_run(record, t.store.get_steps(run_id))
    result = await replay_fixture_async(fixture, app, name="rerun.json")
    assert result.ok, f"{result.message}\n{result.diff}"
    return fixture


async def test_a_failed_step_before_from_step_is_reused_and_the_order_kept() -> None:
    CALLS.clear()
    app = build_app()
    async with TestEngine(app) as t:
        await t.send({"name": "quote"})
        await t.settle()
        (first,) = t.runs(function="fallback")
        assert first.output == {"quote": {"price": 10}, "shipped": 11}
        await t.advance("1h")
        second = await rerun(t, first.run_id, "backup", output={"price": 20})
        run = t.run(second)
        assert run.output == {"quote": {"price": 20}, "shipped": 21}
        assert [(s.key, s.status) for s in run.steps] == [
            ("primary", "failed"),
            ("backup", "completed"),
            ("ship", "completed"),
        ]
        assert CALLS == {"primary": 1, "backup": 1, "ship": 2}  # primary not run again
        fixture = await replays(t, app, second)
        assert fixture["expect"]["steps"] == ["primary", "backup", "ship"]


async def test_a_step_that_runs_again_keeps_its_place_before_reused_ones() -> None:
    CALLS.clear()
    app = build_app()
    async with TestEngine(app) as t:
        await t.send({"name": "branches"})
        await t.settle()
        (first,) = t.runs(function="branches")
        assert [s.key for s in first.steps] == ["nap", "t", "u"]
        await t.cancel(first.run_id)  # the nap is closed, not reusable
        second = await rerun(t, first.run_id, "u", output=5)
        await t.advance("1h")
        run = t.run(second)
        assert run.status == "completed" and run.output == [1, 5]
        assert [s.key for s in run.steps] == ["nap", "t", "u"]
        fixture = await replays(t, app, second)
        assert fixture["expect"]["steps"] == ["nap", "t", "u"]


async def test_reused_steps_are_marked_and_happen_at_the_reruns_start() -> None:
    app = build_app()
    async with TestEngine(app) as t:
        await t.send({"name": "quote"})
        await t.settle()
        (first,) = t.runs(function="fallback")
        await t.advance("3h")  # the rerun comes much later than the original
        began = t.clock.now()
        second = await rerun(t, first.run_id, "ship")
        record = t.store.get_run(second)
        assert record is not None
        view = run_view(record, t.store.get_steps(second))
        steps = {step["key"]: step for step in view["steps"]}
        assert [steps[key]["reused"] for key in ("primary", "backup", "ship")] == [
            True,
            True,
            False,
        ]
        for key in ("primary", "backup"):
            reused = t.store.get_steps(second)[["primary", "backup"].index(key)]
            assert reused.started_at == reused.ended_at == began
            assert reused.attempts == []
            assert steps[key]["detail"]["reused_from"] == first.run_id
        assert steps["ship"]["attempts"] and steps["ship"]["started_at"] >= view["created_at"]


async def test_reused_steps_start_with_the_rerun_while_the_clock_moves() -> None:
    """On a real clock time passes between reading the reused steps and creating the run:
    the steps still happen at the rerun's start, never before it."""
    app = build_app()
    async with TestEngine(app) as t:
        await t.send({"name": "quote"})
        await t.settle()
        (first,) = t.runs(function="fallback")
        record = t.store.get_run(first.run_id)
        assert record is not None
        read = t.clock.now

        def moving() -> float:  # a millisecond passes on every read, as under load
            t.clock.advance(0.001)
            return read()

        t.clock.now = moving  # type: ignore[method-assign]
        new, keys = await start_rerun(t.orchestrator, record, "ship", {"from_step": "ship"})
        reused = [s for s in t.store.get_steps(new.run_id) if s.key in keys]
        assert keys and len(reused) == len(keys)
        assert all(s.started_at == s.ended_at == new.created_at for s in reused)


def test_the_api_marks_reused_steps(live_server: LiveServer) -> None:
    first = live_server.wait_run(live_server.start("test/chain"))
    response = live_server.client.post(
        f"/api/runs/{first['run_id']}/rerun", json={"from_step": "three"}
    )
    assert response.json()["reused_steps"] == ["one", "two"]
    second = live_server.wait_run(response.json()["run_id"])
    assert [(s["key"], s["reused"]) for s in second["steps"]] == [
        ("one", True),
        ("two", True),
        ("three", False),
    ]
    created = second["created_at"]
    assert all(s["started_at"] >= created for s in second["steps"])
    assert [s["key"] for s in first["steps"]] == ["one", "two", "three"]
    assert not any(s["reused"] for s in first["steps"])
