"""Flow-control options (SPEC 7) on the virtual clock: throttle, rate_limit, debounce,
batch_events, priority, singleton, on_failure and concurrency scope env."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from durable import ConfigError, Durable
from durable.testing import TestEngine


def starts_app(
    options: dict[str, Any], starts: list[tuple[float, Any]], t_ref: list[Any]
) -> Durable:
    app = Durable(id="t")

    @app.function(id="f", triggers=[{"event": "go"}], **options)
    async def f(ctx):
        starts.append((t_ref[0].clock.now(), ctx.event.data.get("n")))
        return [e.data.get("n") for e in ctx.events]

    return app


async def engine(options: dict[str, Any]) -> tuple[TestEngine, list[tuple[float, Any]]]:
    starts: list[tuple[float, Any]] = []
    ref: list[Any] = [None]
    t = TestEngine(starts_app(options, starts, ref), start=1000.0)
    ref[0] = t
    return t, starts


async def test_throttle_starts_limit_plus_burst_then_one_per_interval_in_order() -> None:
    t, starts = await engine({"throttle": {"limit": 2, "period": "6s", "burst": 1}})
    await t.send([{"name": "go", "data": {"n": n}} for n in range(6)])
    await t.settle()
    assert [n for _, n in starts] == [0, 1, 2]
    queued = [r for r in t.runs() if r.status == "queued"]
    assert len(queued) == 3 and {r.queued_reason for r in queued} == {"throttle"}
    await t.advance("10s")
    assert [n for _, n in starts] == [0, 1, 2, 3, 4, 5]  # FIFO, none dropped
    assert [round(at - 1000) for at, _ in starts] == [0, 0, 0, 3, 6, 9]


async def test_throttle_key_gives_each_value_its_own_limit() -> None:
    t, starts = await engine(
        {"throttle": {"limit": 1, "period": "1m", "burst": 0, "key": "event.data.u"}}
    )
    await t.send([{"name": "go", "data": {"n": n, "u": n % 2}} for n in range(4)])
    await t.settle()
    assert sorted(n for _, n in starts) == [0, 1]
    await t.advance("1m")
    assert sorted(n for _, n in starts) == [0, 1, 2, 3]


async def test_rate_limit_skips_events_over_the_limit() -> None:
    t, starts = await engine({"rate_limit": {"limit": 2, "period": "1h"}})
    ids = await t.send([{"name": "go", "data": {"n": n}} for n in range(4)])
    await t.settle()
    assert [n for _, n in starts] == [0, 1]
    skipped = [t.store.get_event(i) for i in ids]
    assert [e.skipped for e in skipped if e is not None] == [
        None,
        None,
        "rate_limited",
        "rate_limited",
    ]
    await t.advance("31m")  # one more is allowed half a period later
    await t.send({"name": "go", "data": {"n": 9}})
    await t.settle()
    assert [n for _, n in starts] == [0, 1, 9]


async def test_debounce_runs_once_with_the_last_event() -> None:
    t, starts = await engine({"debounce": {"period": "10s"}})
    for n in range(3):
        await t.send({"name": "go", "data": {"n": n}})
        await t.advance("5s")
    assert starts == []
    (run,) = t.runs()
    assert run.status == "queued" and run.queued_reason == "debounce"
    await t.advance("10s")
    assert [(round(at - 1000), n) for at, n in starts] == [(20, 2)]
    await t.send({"name": "go", "data": {"n": 7}})  # a new debounce after the run started
    await t.advance("11s")
    assert [n for _, n in starts] == [2, 7]


async def test_debounce_timeout_caps_the_delay_since_the_first_event() -> None:
    t, starts = await engine({"debounce": {"period": "10s", "timeout": "25s"}})
    for n in range(10):  # an event every 5s would postpone it forever
        await t.send({"name": "go", "data": {"n": n}})
        await t.advance("5s")
    assert starts[0] == (1025.0, 4)  # the last event before the cap (sent at 20s)


async def test_batch_flushes_on_max_size_and_on_timeout() -> None:
    t, starts = await engine({"batch_events": {"max_size": 3, "timeout": "5s"}})
    await t.send([{"name": "go", "data": {"n": n}} for n in range(4)])
    await t.settle()
    done = [r for r in t.runs() if r.status == "completed"]
    assert [r.output for r in done] == [[0, 1, 2]]
    (pending,) = [r for r in t.runs() if r.status == "queued"]
    assert pending.queued_reason == "batch"
    await t.advance("4s")
    await t.send({"name": "go", "data": {"n": 4}})
    await t.advance("1s")  # 5s after the batch's first event: flushed with what it has
    outputs = sorted(r.output for r in t.runs())
    assert outputs == [[0, 1, 2], [3, 4]]
    assert starts[-1] == (1005.0, 3)  # ctx.event is the batch's first


async def test_batch_events_failing_if_run_alone_at_once() -> None:
    t, _starts = await engine(
        {"batch_events": {"max_size": 10, "timeout": "5s", "if": "event.data.n > 0"}}
    )
    await t.send([{"name": "go", "data": {"n": n}} for n in (1, 0, 2)])
    await t.settle()
    assert [r.output for r in t.runs() if r.status == "completed"] == [[0]]
    await t.advance("5s")
    assert sorted(r.output for r in t.runs()) == [[0], [1, 2]]


async def test_priority_orders_queued_runs() -> None:
    app = Durable(id="t")
    order: list[int] = []

    @app.function(
        id="p",
        triggers=[{"event": "go"}],
        concurrency=1,
        priority={"run": "event.data.prio"},
    )
    async def p(ctx):
        await ctx.step.run("w", lambda: order.append(ctx.event.data["n"]))

    async with TestEngine(app) as t:
        prios = [0, -100, 5000, 60]  # 5000 is clamped to 600
        await t.send(
            [{"name": "go", "data": {"n": n, "prio": prio}} for n, prio in enumerate(prios)]
        )
        await t.settle()
    assert order == [2, 3, 0, 1]


async def test_singleton_skip_stores_the_event_as_skipped() -> None:
    app = Durable(id="t")

    @app.function(id="s", triggers=[{"event": "go"}], singleton={"mode": "skip"})
    async def s(ctx):
        await ctx.step.sleep("nap", "1m")

    async with TestEngine(app) as t:
        _first, second = await t.send([{"name": "go"}, {"name": "go"}])
        await t.settle()
        assert len(t.runs()) == 1
        event = t.store.get_event(second)
        assert event is not None and event.skipped == "singleton"
        await t.advance("1m")
        await t.send({"name": "go"})  # the first ended: a new one may start
        await t.settle()
        assert len(t.runs()) == 2


async def test_singleton_cancel_lets_the_in_flight_step_finish_then_starts_the_new_run() -> None:
    app = Durable(id="t")
    started = asyncio.Event()
    release = asyncio.Event()
    finished: list[str] = []

    @app.function(
        id="s", triggers=[{"event": "go"}], singleton={"key": "event.data.u", "mode": "cancel"}
    )
    async def s(ctx):
        async def slow() -> str:
            started.set()
            await release.wait()
            finished.append(ctx.run_id)
            return "done"

        if ctx.event.data["n"] == 0:
            await ctx.step.run("slow", slow)
        await ctx.step.run("after", lambda: finished.append("after-" + ctx.run_id))
        return ctx.event.data["n"]

    t = TestEngine(app)
    await t.send({"name": "go", "data": {"u": "a", "n": 0}})
    settle = asyncio.ensure_future(t.settle())
    await asyncio.wait_for(started.wait(), 5)
    await t.send({"name": "go", "data": {"u": "a", "n": 1}})
    release.set()
    await settle
    await t.settle()
    runs = {r.event.data["n"]: r for r in t.runs()}
    assert runs[0].status == "cancelled" and "singleton" in (runs[0].cancel_reason or "")
    assert runs[1].status == "completed"
    assert finished[0] == runs[0].run_id  # the step in flight finished
    assert f"after-{runs[0].run_id}" not in finished  # no step started after the cancel


async def test_on_failure_runs_only_for_this_functions_failures() -> None:
    app = Durable(id="t")
    seen: list[dict[str, Any]] = []

    async def handle(ctx):
        seen.append(ctx.event.data)

    @app.function(id="bad", triggers=[{"event": "go"}], retries=0, on_failure=handle)
    async def bad(ctx):
        raise ValueError("boom")

    @app.function(id="other", triggers=[{"event": "go"}], retries=0)
    async def other(ctx):
        raise ValueError("other boom")

    assert "bad-failure" in app.functions
    async with TestEngine(app) as t:
        await t.send({"name": "go", "data": {"x": 1}})
        await t.settle()
    assert len(seen) == 1
    data = seen[0]
    assert data["function_id"] == "bad" and data["event"]["data"] == {"x": 1}
    assert "boom" in data["error"]["message"] and data["run_id"]


async def test_env_scope_concurrency_is_shared_across_functions() -> None:
    app = Durable(id="t")
    active, peak = 0, 0

    async def work() -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.003)
        active -= 1

    rule = {"limit": 1, "key": '"openai"', "scope": "env"}

    @app.function(id="a", triggers=[{"event": "go"}], concurrency=rule)
    async def a(ctx):
        await ctx.step.run("w", work)

    @app.function(id="b", triggers=[{"event": "go"}], concurrency=rule)
    async def b(ctx):
        await ctx.step.run("w", work)

    async with TestEngine(app) as t:
        await t.send([{"name": "go"} for _ in range(3)])
        await t.settle()
        assert len([r for r in t.runs() if r.status == "completed"]) == 6
        assert t.store.slots_in_use("env#openai") == 0
    assert peak == 1


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (
            {"batch_events": {"max_size": 2, "timeout": "1s"}, "debounce": {"period": "1s"}},
            ["batch_events", "debounce"],
        ),
        (
            {"batch_events": {"max_size": 2, "timeout": "1s"}, "idempotency": "event.id"},
            ["batch_events", "idempotency"],
        ),
        (
            {"batch_events": {"max_size": 2, "timeout": "1s"}, "priority": {"run": "1"}},
            ["batch_events", "priority"],
        ),
        (
            {"batch_events": {"max_size": 2, "timeout": "1s"}, "singleton": {"mode": "skip"}},
            ["batch_events", "singleton"],
        ),
    ],
)
def test_refused_combinations_name_both_options(options: dict[str, Any], words: list[str]) -> None:
    app = Durable(id="t")
    with pytest.raises(ConfigError) as caught:
        app.function(id="f", triggers=[{"event": "go"}], **options)
    assert all(w in str(caught.value) for w in words)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"throttle": {"limit": 1, "period": "8d"}}, "throttle.period"),
        ({"throttle": {"limit": 0, "period": "1m"}}, "throttle.limit"),
        ({"rate_limit": {"limit": 1, "period": "25h"}}, "rate_limit.period"),
        ({"rate_limit": {"limit": 1, "period": "500ms"}}, "rate_limit.period"),
        ({"debounce": {"period": "1m", "timeout": "10s"}}, "debounce.timeout"),
        ({"batch_events": {"max_size": 0, "timeout": "1s"}}, "batch_events.max_size"),
        ({"singleton": {"mode": "drop"}}, "singleton.mode"),
        ({"priority": {"run": "event.data.("}}, "priority.run"),
        ({"concurrency": {"limit": 1, "scope": "env"}}, "concurrency.key"),
        (
            {"concurrency": {"limit": 1, "key": "event.data.u", "scope": "acct"}},
            "concurrency.scope",
        ),
        ({"on_failure": lambda ctx: None}, "on_failure"),
    ],
)
def test_bad_values_name_the_function_and_field(options: dict[str, Any], field: str) -> None:
    app = Durable(id="t")
    with pytest.raises(ConfigError) as caught:
        app.function(id="fn-x", triggers=[{"event": "go"}], **options)
    assert caught.value.field == field and caught.value.function_id == "fn-x"


def test_a_replay_fixture_carries_a_batch_as_events() -> None:
    from durable._replay.replay import replay_fixture

    app = Durable(id="t")

    @app.function(
        id="bulk", triggers=[{"event": "row"}], batch_events={"max_size": 5, "timeout": "5s"}
    )
    async def bulk(ctx):
        ids = await ctx.step.run("ids", lambda: [e.data["id"] for e in ctx.events])
        return {"first": ctx.event.data["id"], "count": len(ctx.events), "ids": ids}

    fixture = {
        "function": "bulk",
        "events": [{"name": "row", "data": {"id": n}} for n in range(3)],
        "steps": {"ids": {"kind": "run", "output": [0, 1, 2]}},
        "expect": {
            "status": "completed",
            "output": {"first": 0, "count": 3, "ids": [0, 1, 2]},
            "steps": ["ids"],
        },
    }
    result = replay_fixture(fixture, app, name="batch.json")
    assert result.ok, result


async def test_throttled_runs_keep_their_reserved_starts_across_a_restart(tmp_path: Path) -> None:
    from durable._stores.sqlite import SQLiteStore

    starts: list[tuple[float, Any]] = []
    ref: list[Any] = [None]
    options = {"throttle": {"limit": 1, "period": "10s", "burst": 0}}
    first = TestEngine(
        starts_app(options, starts, ref), store=SQLiteStore(tmp_path / "d.db"), start=1000.0
    )
    ref[0] = first
    await first.send([{"name": "go", "data": {"n": n}} for n in range(3)])
    await first.settle()
    assert [n for _, n in starts] == [0]
    first.store.close()

    second = TestEngine(
        starts_app(options, starts, ref), store=SQLiteStore(tmp_path / "d.db"), start=1005.0
    )
    ref[0] = second
    await second.settle()
    assert [n for _, n in starts] == [0]  # run 1's start is reserved for 1010
    await second.advance("5s")
    await second.advance("10s")
    assert [(round(at), n) for at, n in starts] == [(1000, 0), (1010, 1), (1020, 2)]
    second.store.close()
