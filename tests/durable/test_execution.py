"""The execution core through TestEngine: memoization, keys, parallelism, logging, limits."""

from __future__ import annotations

import asyncio
import logging

import pytest

from durable import Context, Durable, StepError
from durable.testing import TestEngine


def make_app() -> Durable:
    return Durable(id="test")


async def test_completed_steps_never_run_again_across_passes() -> None:
    app = make_app()
    calls: list[str] = []

    @app.function(id="f", triggers=[{"event": "go"}])
    async def f(ctx):
        a = await ctx.step.run("a", lambda: calls.append("a") or 1)
        await ctx.step.sleep("nap", "1h")
        b = await ctx.step.run("b", lambda: calls.append("b") or 2)
        await ctx.step.sleep("nap-again", "1d")
        return a + b

    async with TestEngine(app) as t:
        await t.send({"name": "go"})
        await t.settle()
        assert t.runs()[0].status == "sleeping"
        await t.advance("2h")
        await t.advance("2d")
        run = t.runs()[0]
    assert run.status == "completed"
    assert run.output == 3
    assert calls == ["a", "b"]
    assert [s.key for s in run.steps] == ["a", "nap", "b", "nap-again"]


async def test_sync_callables_run_in_a_thread_and_take_args() -> None:
    import threading

    app = make_app()
    main_thread = threading.get_ident()

    def add(x: int, y: int, *, scale: int) -> dict[str, object]:
        return {"sum": (x + y) * scale, "in_thread": threading.get_ident() != main_thread}

    async def greet(name: str) -> str:
        return f"hi {name}"

    @app.function(id="f", triggers=[{"event": "go"}])
    async def f(ctx):
        return [await ctx.step.run("add", add, 1, 2, scale=10), await ctx.step.run("g", greet, "x")]

    async with TestEngine(app) as t:
        run = await t.execute("f")
    assert run.output == [{"sum": 30, "in_thread": True}, "hi x"]


async def test_repeated_ids_get_numbered_keys() -> None:
    app = make_app()

    @app.function(id="f", triggers=[{"event": "go"}])
    async def f(ctx):
        out = []
        for i in range(3):
            out.append(await ctx.step.run("fetch", lambda i=i: i * 10))
        return out

    async with TestEngine(app) as t:
        run = await t.execute("f")
    assert run.output == [0, 10, 20]
    assert [s.key for s in run.steps] == ["fetch", "fetch:1", "fetch:2"]
    assert [s.id for s in run.steps] == ["fetch", "fetch", "fetch"]


async def test_parallel_steps_with_gather_are_deterministic() -> None:
    app = make_app()
    order: list[str] = []

    async def slow(name: str, delay: float) -> str:
        await asyncio.sleep(delay)
        order.append(name)
        return name

    @app.function(id="f", triggers=[{"event": "go"}])
    async def f(ctx):
        first = await asyncio.gather(
            ctx.step.run("s", slow, "a", 0.02), ctx.step.run("s", slow, "b", 0.0)
        )
        await ctx.step.sleep("nap", "1m")
        second = await asyncio.gather(
            ctx.step.run("s", slow, "c", 0), ctx.step.run("t", slow, "d", 0)
        )
        return first + second

    async with TestEngine(app) as t:
        run = await t.execute("f")
    assert order[:2] == ["b", "a"]  # bodies really ran concurrently
    assert run.output == ["a", "b", "c", "d"]  # results follow call order
    assert [s.key for s in run.steps][:2] == ["s", "s:1"]
    assert {s.key: s.output for s in run.steps}["s"] == "a"
    assert sorted(s.key for s in run.steps) == sorted(["s", "s:1", "nap", "s:2", "t"])


async def test_parallel_sleeps_register_in_one_pass() -> None:
    app = make_app()

    @app.function(id="f", triggers=[{"event": "go"}])
    async def f(ctx):
        await asyncio.gather(ctx.step.sleep("short", "1h"), ctx.step.sleep("long", "3h"))
        return "done"

    async with TestEngine(app) as t:
        await t.send({"name": "go"})
        await t.settle()
        run = t.runs()[0]
        assert run.status == "sleeping"
        assert {s.key: s.status for s in run.steps} == {"short": "sleeping", "long": "sleeping"}
        await t.advance("2h")
        assert t.runs()[0].status == "sleeping"
        await t.advance("2h")
        assert t.runs()[0].output == "done"


async def test_coroutine_stays_alive_between_steps() -> None:
    app = make_app()
    entries = 0

    @app.function(id="f", triggers=[{"event": "go"}])
    async def f(ctx):
        nonlocal entries
        entries += 1
        for i in range(50):
            await ctx.step.run("s", lambda i=i: i)
        return "ok"

    async with TestEngine(app) as t:
        run = await t.execute("f")
    assert run.status == "completed"
    assert len(run.steps) == 50
    assert entries == 1


async def test_checkpointing_false_reenters_after_every_step() -> None:
    app = make_app()
    entries = 0

    @app.function(id="f", triggers=[{"event": "go"}], checkpointing=False)
    async def f(ctx):
        nonlocal entries
        entries += 1
        for i in range(3):
            await ctx.step.run("s", lambda i=i: i)
        return "ok"

    async with TestEngine(app) as t:
        run = await t.execute("f")
    assert run.status == "completed"
    assert entries == 4  # once per step, then once to finish


async def test_suspension_cannot_be_swallowed_by_except_exception() -> None:
    app = make_app()
    after_sleep: list[bool] = []

    @app.function(id="f", triggers=[{"event": "go"}])
    async def f(ctx):
        try:
            await ctx.step.sleep("nap", "1d")
        except Exception:
            return "swallowed"
        after_sleep.append(True)
        return "slept"

    async with TestEngine(app) as t:
        await t.send({"name": "go"})
        await t.settle()
        assert t.runs()[0].status == "sleeping"
        assert after_sleep == []
        await t.advance("1d")
        assert t.runs()[0].output == "slept"


async def test_logger_is_silent_while_replaying() -> None:
    app = make_app()
    seen: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(f"{record.getMessage()}|{record.run_id}")  # type: ignore[attr-defined]

    logger = logging.getLogger("durable.test.replay")
    logger.setLevel(logging.INFO)
    logger.addHandler(Collect())
    app = Durable(id="logs", logger=logger)

    @app.function(id="f", triggers=[{"event": "go"}])
    async def f(ctx):
        ctx.logger.info("starting %s", ctx.event.data["n"])
        await ctx.step.run("a", lambda: 1)
        await ctx.step.sleep("nap", "1h")
        ctx.logger.warning("woke up")
        await ctx.step.run("b", lambda: ctx.logger.info("inside b"))
        return None

    async with TestEngine(app) as t:
        await t.send({"name": "go", "data": {"n": 7}})
        await t.advance("2h")
        run = t.runs()[0]
        stored = [(line.level, line.message, line.step_key) for line in t.logs(run.run_id)]
    assert run.status == "completed"
    assert stored == [
        ("info", "starting 7", None),
        ("warning", "woke up", None),
        ("info", "inside b", "b"),
    ]
    assert seen == [f"starting 7|{run.run_id}", f"woke up|{run.run_id}", f"inside b|{run.run_id}"]


async def test_context_fields() -> None:
    app = make_app()

    @app.function(id="ctx-fn", triggers=[{"event": "user/*"}])
    async def f(ctx):
        return {
            "name": ctx.event.name,
            "data": ctx.event.data,
            "events": [e.name for e in ctx.events],
            "run_id": ctx.run_id,
            "function_id": ctx.function_id,
            "attempt": ctx.attempt,
        }

    async with TestEngine(app) as t:
        await t.send({"name": "user/signup", "data": {"id": 1}, "id": "evt-1"})
        await t.settle()
        run = t.runs()[0]
    assert run.output == {
        "name": "user/signup",
        "data": {"id": 1},
        "events": ["user/signup"],
        "run_id": run.run_id,
        "function_id": "ctx-fn",
        "attempt": 0,
    }
    assert run.event.id == "evt-1"


async def test_trigger_if_filters_events() -> None:
    app = make_app()

    @app.function(
        id="big-purchase",
        triggers=[
            {
                "event": "user/action",
                "if": 'event.data.action == "purchase" && event.data.amount > 100',
            }
        ],
    )
    async def f(ctx):
        return ctx.event.data["amount"]

    async with TestEngine(app) as t:
        await t.send(
            [
                {"name": "user/action", "data": {"action": "purchase", "amount": 150}},
                {"name": "user/action", "data": {"action": "purchase", "amount": 50}},
                {"name": "user/action", "data": {"action": "view", "amount": 500}},
                {"name": "user/action", "data": {}},
            ]
        )
        await t.settle()
        assert [r.output for r in t.runs()] == [150]


async def test_results_are_json_round_tripped_consistently() -> None:
    app = make_app()

    @app.function(id="f", triggers=[{"event": "go"}])
    async def f(ctx):
        first = await ctx.step.run("t", lambda: (1, 2))
        await ctx.step.sleep("nap", "1s")
        again = await ctx.step.run("u", lambda: {"k": (3,)})
        return [first, again]

    async with TestEngine(app) as t:
        run = await t.execute("f")
    assert run.output == [[1, 2], {"k": [3]}]


async def test_step_mocks_stand_in_for_bodies() -> None:
    app = make_app()
    charged: list[int] = []

    @app.function(id="f", triggers=[{"event": "go"}])
    async def f(ctx):
        charge = await ctx.step.run("charge", lambda: charged.append(1) or {"ok": False})
        await ctx.step.sleep("wait", "3d")
        try:
            await ctx.step.run("notify", lambda: "sent")
        except StepError as exc:
            return {"charge": charge, "notify_failed": exc.message}
        return {"charge": charge}

    async with TestEngine(app) as t:
        run = await t.execute(
            "f",
            event={"name": "go", "data": {}},
            steps={"charge": {"output": {"ok": True}}, "notify": {"error": {"message": "down"}}},
        )
    assert charged == []
    assert run.output == {"charge": {"ok": True}, "notify_failed": "down"}
    assert [(s.key, s.kind, s.status) for s in run.steps] == [
        ("charge", "run", "completed"),
        ("wait", "sleep", "completed"),
        ("notify", "run", "failed"),
    ]


async def test_mock_must_have_output_or_error() -> None:
    app = make_app()

    @app.function(id="f", triggers=[{"event": "go"}])
    async def f(ctx):
        return None

    async with TestEngine(app) as t:
        with pytest.raises(ValueError, match="'charge'"):
            await t.execute("f", steps={"charge": {"result": 1}})


async def test_a_log_line_before_a_retried_step_is_written_once() -> None:
    app = Durable(id="logs-retry")
    attempts: list[int] = []

    def flaky(ctx: Context) -> str:
        attempts.append(ctx.attempt)
        if ctx.attempt < 2:
            raise RuntimeError("down")
        return "up"

    @app.function(id="f", triggers=[{"event": "go"}], retries=3, backoff=["1s"])
    async def f(ctx):
        await ctx.step.run("a", lambda: 1)
        ctx.logger.info("calling the flaky service")
        return await ctx.step.run("b", flaky, ctx)

    async with TestEngine(app) as t:
        await t.send({"name": "go", "data": {}})
        await t.advance("10s")
        run = t.runs()[0]
        stored = [(line.message, line.step_key) for line in t.logs(run.run_id)]
    assert run.status == "completed" and attempts == [0, 1, 2]
    assert stored == [("calling the flaky service", None)]
