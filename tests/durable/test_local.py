"""The one local engine (``durable._replay.local``) under durable.testing and durable replay."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

import durable._replay.local as local
import durable.testing
from durable import Context, Durable
from durable._replay.fixtures import fixture_from_run
from durable._replay.local import LocalEngine
from durable._replay.replay import replay_fixture_async
from durable.testing import TestEngine

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
DAY = 86_400.0


def sleeper(calls: list[str]) -> Durable:
    """``trip``: a step, a day's sleep, a step, another day's sleep, a step."""
    app = Durable(id="local-tests")

    def body(name: str, value: str) -> Callable[[], str]:
        def run() -> str:
            calls.append(name)
            return value

        return run

    @app.function(id="trip", triggers=[{"event": "trip/booked"}], retries=0)
    async def trip(ctx: Context) -> str:
        for name in ("book", "pack"):
            await ctx.step.run(name, body(name, name))
            await ctx.step.sleep(f"wait-{name}", "1d")
        return str(await ctx.step.run("go", body("go", "gone")))

    return app


async def test_run_until_stops_at_the_horizon_on_the_virtual_clock() -> None:
    calls: list[str] = []
    engine = LocalEngine([sleeper(calls)], start=START)
    run_id = engine.orchestrator.start_run("trip", {"name": "trip/booked"}, trigger="test").run_id

    def ended() -> bool:
        return engine.ended(run_id)

    # The first wake-up (one day in) is within the horizon, the second (two days) is not.
    assert await engine.run_until(ended, START + 1.5 * DAY) is False
    assert engine.clock.now() == START + DAY  # the last due time reached, not the horizon
    assert calls == ["book", "pack"]
    assert engine.run(run_id).status == "sleeping"
    assert await engine.run_until(ended, START + 365 * DAY) is True
    assert engine.clock.now() == START + 2 * DAY
    assert calls == ["book", "pack", "go"]
    assert engine.run(run_id).output == "gone"
    # Already true: nothing moves.
    assert await engine.run_until(ended, START + 365 * DAY) is True
    assert engine.clock.now() == START + 2 * DAY


async def test_advance_lands_on_its_target_and_never_goes_back() -> None:
    calls: list[str] = []
    engine = LocalEngine([sleeper(calls)], start=START)
    await engine.send({"name": "trip/booked"})
    await engine.advance(DAY / 2)
    assert engine.clock.now() == START + DAY / 2 and calls == ["book"]
    await engine.advance_to(START)  # in the past: the clock stays
    assert engine.clock.now() == START + DAY / 2
    await engine.advance_to(START + 5 * DAY)
    assert engine.clock.now() == START + 5 * DAY
    assert calls == ["book", "pack", "go"]
    [run] = engine.runs(function="trip", status="completed")
    assert [(s.key, s.kind) for s in run.steps][:2] == [("book", "run"), ("wait-book", "sleep")]


async def test_one_engine_drives_a_test_run_and_its_replay_alike(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``TestEngine.execute`` and a replay of the run it made both move time through
    ``LocalEngine.run_until``, visiting the same virtual times."""
    visits: list[tuple[str, list[float]]] = []
    run_until = LocalEngine.run_until

    async def spying(self: LocalEngine, predicate: Callable[[], bool], horizon: float) -> bool:
        seen: list[float] = []
        settle = self.orchestrator.settle

        async def settling() -> None:
            seen.append(self.clock.now() - START)
            await settle()

        monkeypatch.setattr(self.orchestrator, "settle", settling)
        try:
            met = await run_until(self, predicate, horizon)
        finally:
            monkeypatch.setattr(self.orchestrator, "settle", settle)
        visits.append((type(self).__name__, seen))
        return met

    monkeypatch.setattr(LocalEngine, "run_until", spying)
    calls: list[str] = []
    app = sleeper(calls)
    event = {"name": "trip/booked", "id": "ev-1", "ts": int(START * 1000)}
    async with TestEngine(app, start=START) as t:
        run = await t.execute("trip", event=event, steps={"pack": {"output": "packed"}})
        record = t.store.get_run(run.run_id)
        assert record is not None
        steps = t.store.get_steps(run.run_id)
        fixture = fixture_from_run(record, steps, find_event=t.store.get_event)
    assert run.status == "completed" and calls == ["book", "go"]  # "pack" was mocked
    assert visits == [("LocalEngine", [0.0, DAY, 2 * DAY])]
    visits.clear()
    fixture = json.loads(json.dumps(fixture))
    for sleep in ("wait-book", "wait-pack"):  # left out of the recording: they sleep for real
        del fixture["steps"][sleep]
    result = await replay_fixture_async(fixture, app, name="trip")
    assert result.ok, result.message
    assert calls == ["book", "go"]  # the replay ran no step body
    assert visits == [("LocalEngine", [0.0, DAY, 2 * DAY])]


def test_replay_does_not_import_the_testing_face() -> None:
    code = (
        "import sys\n"
        "import durable._replay.local, durable._replay.judge, durable._replay.replay\n"
        "assert 'durable.testing' not in sys.modules\n"
        "import durable.testing\n"
        "assert durable.testing.Run is durable._replay.local.Run\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_testing_views_are_the_local_engines() -> None:
    assert durable.testing.Run is local.Run and durable.testing.Step is local.Step


def test_a_bad_mock_names_its_step() -> None:
    bad: Any = {"result": 1}
    with pytest.raises(ValueError, match=r"the mock for step 'pack' must be"):
        local.mock_step("pack", bad)


async def test_the_run_view_has_every_field_of_the_spec() -> None:
    """SPEC section 5: run_id, function_id, status, output, error, event, events, steps,
    queued_reason."""
    app = Durable(id="spec")

    @app.function(id="echo", triggers=[{"event": "echo"}])
    async def echo(ctx: Any) -> Any:
        return [event.data for event in ctx.events]

    async with TestEngine(app) as t:
        await t.send({"name": "echo", "data": {"n": 1}})
        await t.settle()
        run = t.runs()[0]
    for name in ("run_id", "function_id", "status", "output", "error", "event", "events"):
        assert hasattr(run, name), name
    assert run.steps == [] and run.queued_reason is None
    assert [event.data for event in run.events] == [{"n": 1}] == run.output
    assert run.events[0] == run.event
