"""Cron, cancel_on, timeouts, idempotency and concurrency, on the virtual clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from durable import Durable
from durable._stores.sqlite import SQLiteStore
from durable.testing import TestEngine

# A Thursday, 10:00 UTC (11:00 in Paris).
THURSDAY = datetime(2026, 1, 8, 10, 0, tzinfo=UTC)


def cron_app(calls: list[str]) -> Durable:
    app = Durable(id="t")

    @app.function(id="weekly", triggers=[{"cron": "TZ=Europe/Paris 0 12 * * 5"}])
    async def weekly(ctx):
        calls.append(ctx.event.data["cron"])
        return ctx.event.name

    return app


async def test_cron_fires_at_its_time_in_its_time_zone() -> None:
    calls: list[str] = []
    async with TestEngine(cron_app(calls), start=THURSDAY) as t:
        await t.advance("1d")  # Friday 10:00 UTC = 11:00 Paris: not yet
        assert calls == []
        await t.advance("1h")  # Friday 11:00 UTC = 12:00 Paris
        assert calls == ["TZ=Europe/Paris 0 12 * * 5"]
        run = t.runs()[0]
        assert run.output == "durable/scheduled.timer"
        await t.advance("7d")
        assert len(calls) == 2


async def test_missed_cron_ticks_fire_once_after_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "dev.db"
    calls: list[str] = []
    first = TestEngine(cron_app(calls), store=SQLiteStore(db), start=THURSDAY)
    await first.settle()
    first.store.close()

    three_weeks_later = THURSDAY.timestamp() + 21 * 86400
    second = TestEngine(cron_app(calls), store=SQLiteStore(db), start=three_weeks_later)
    await second.settle()
    assert len(calls) == 1  # three missed ticks, one run
    second.store.close()

    third = TestEngine(cron_app(calls), store=SQLiteStore(db), start=three_weeks_later + 60)
    await third.settle()
    assert len(calls) == 1  # never twice
    await third.advance("7d")
    assert len(calls) == 2
    third.store.close()


def order_app(steps: list[str]) -> Durable:
    app = Durable(id="shop")

    @app.function(
        id="process-order",
        triggers=[{"event": "order/created"}],
        cancel_on=[{"event": "order/cancelled", "if": "event.data.orderId == async.data.orderId"}],
    )
    async def process_order(ctx):
        await ctx.step.sleep("wait-for-payment", "1d")
        await ctx.step.run("charge", lambda: steps.append(ctx.event.data["orderId"]))
        return "charged"

    return app


async def test_cancel_on_cancels_only_the_matching_run() -> None:
    charged: list[str] = []
    async with TestEngine(order_app(charged)) as t:
        await t.send({"name": "order/created", "data": {"orderId": "o1"}})
        await t.send({"name": "order/created", "data": {"orderId": "o2"}})
        await t.settle()
        await t.send({"name": "order/cancelled", "data": {"orderId": "o1"}})
        await t.advance("2d")
        runs = {r.event.data["orderId"]: r for r in t.runs(function="process-order")}
        cancelled_events = t.store.list_events(name="durable/function.cancelled")
    assert runs["o1"].status == "cancelled"
    assert runs["o1"].cancel_reason is not None
    assert "order/cancelled" in runs["o1"].cancel_reason
    assert runs["o2"].status == "completed"
    assert charged == ["o2"]
    assert [e.data["run_id"] for e in cancelled_events] == [runs["o1"].run_id]


async def test_cancel_on_timeout_limits_how_long_the_rule_applies() -> None:
    app = Durable(id="t")

    @app.function(
        id="f",
        triggers=[{"event": "go"}],
        cancel_on=[{"event": "stop", "timeout": "1h"}],
    )
    async def f(ctx):
        await ctx.step.sleep("nap", "3h")
        return "done"

    async with TestEngine(app) as t:
        await t.send({"name": "go"})
        await t.advance("2h")
        await t.send({"name": "stop"})
        await t.advance("2h")
        assert t.runs()[0].status == "completed"


async def test_finish_timeout_cancels_a_run_that_takes_too_long() -> None:
    app = Durable(id="t")

    @app.function(id="slow", triggers=[{"event": "go"}], timeouts={"finish": "30m"})
    async def slow(ctx):
        await ctx.step.sleep("long-nap", "1h")
        await ctx.step.run("never", lambda: "x")

    async with TestEngine(app) as t:
        await t.send({"name": "go"})
        await t.advance("29m")
        assert t.runs()[0].status == "sleeping"
        await t.advance("2h")
        run = t.runs()[0]
    assert run.status == "cancelled"
    assert run.cancel_reason is not None and run.cancel_reason.startswith("timeouts.finish")
    assert [s.key for s in run.steps] == ["long-nap"]


async def test_start_timeout_cancels_a_run_stuck_in_the_queue() -> None:
    app = Durable(id="t")
    release = asyncio.Event()

    @app.function(
        id="one-at-a-time",
        triggers=[{"event": "go"}],
        concurrency=1,
        timeouts={"start": "5m"},
    )
    async def f(ctx):
        await ctx.step.run("work", release.wait)
        return ctx.event.data["n"]

    async with TestEngine(app) as t:
        await t.send([{"name": "go", "data": {"n": 1}}, {"name": "go", "data": {"n": 2}}])
        first = asyncio.ensure_future(t.settle())
        await asyncio.sleep(0.01)
        t.clock.advance(600)  # the second run is still queued behind the first
        await t.orchestrator.tick()
        release.set()
        await first
        await t.settle()
        runs = {r.event.data["n"]: r for r in t.runs()}
    assert runs[1].status == "completed"
    assert runs[2].status == "cancelled"
    assert runs[2].cancel_reason is not None
    assert runs[2].cancel_reason.startswith("timeouts.start")


async def test_idempotency_runs_once_per_key_per_24h() -> None:
    app = Durable(id="t")
    sent: list[str] = []

    @app.function(
        id="send-checkout-email",
        triggers=[{"event": "cart/checkout.completed"}],
        idempotency="event.data.cartId",
    )
    async def f(ctx):
        await ctx.step.run("send", lambda: sent.append(ctx.event.data["cartId"]))

    async with TestEngine(app) as t:
        event = {"name": "cart/checkout.completed", "data": {"cartId": "c1"}}
        await t.send([event, event, {"name": "cart/checkout.completed", "data": {"cartId": "c2"}}])
        await t.settle()
        assert sorted(sent) == ["c1", "c2"]
        skipped = [e for e in t.store.list_events() if e.skipped]
        assert len(skipped) == 1
        assert "idempotency" in (skipped[0].skipped or "")
        await t.advance("25h")
        await t.send(event)
        await t.settle()
    assert sorted(sent) == ["c1", "c1", "c2"]


async def test_duplicate_event_ids_are_stored_as_skipped() -> None:
    app = Durable(id="t")

    @app.function(id="f", triggers=[{"event": "go"}])
    async def f(ctx):
        return None

    async with TestEngine(app) as t:
        await t.send({"name": "go", "id": "same"})
        await t.send({"name": "go", "id": "same"})
        await t.settle()
        events = t.store.list_events(name="go")
    assert len(t.runs()) == 1
    assert [bool(e.skipped) for e in events] == [True, False]  # newest first
    assert "duplicate" in (events[0].skipped or "")


async def test_concurrency_limit_counts_executing_runs_not_sleeping_ones() -> None:
    app = Durable(id="t")
    active = 0
    peak = 0

    async def work() -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.005)
        active -= 1

    @app.function(id="limited", triggers=[{"event": "go"}], concurrency=2)
    async def limited(ctx):
        await ctx.step.run("work", work)
        await ctx.step.sleep("rest", "1h")
        await ctx.step.run("more", work)
        return ctx.event.data["n"]

    async with TestEngine(app) as t:
        await t.send([{"name": "go", "data": {"n": n}} for n in range(6)])
        await t.settle()
        statuses = [r.status for r in t.runs()]
        assert statuses.count("sleeping") == 6  # sleeping runs free their slot
        await t.advance("2h")
        runs = t.runs()
    assert peak == 2
    assert all(r.status == "completed" for r in runs)


async def test_concurrency_key_limits_per_value_and_keeps_order() -> None:
    app = Durable(id="t")
    order: list[tuple[str, int]] = []
    active: dict[str, int] = {}
    peak: dict[str, int] = {}

    @app.function(
        id="per-user",
        triggers=[{"event": "go"}],
        concurrency={"limit": 1, "key": "event.data.userId"},
    )
    async def per_user(ctx):
        user = ctx.event.data["userId"]

        async def work() -> None:
            active[user] = active.get(user, 0) + 1
            peak[user] = max(peak.get(user, 0), active[user])
            await asyncio.sleep(0.002)
            order.append((user, ctx.event.data["n"]))
            active[user] -= 1

        await ctx.step.run("work", work)

    async with TestEngine(app) as t:
        await t.send(
            [{"name": "go", "data": {"userId": u, "n": n}} for n in range(3) for u in ("a", "b")]
        )
        await t.settle()
    assert peak == {"a": 1, "b": 1}
    assert [n for u, n in order if u == "a"] == [0, 1, 2]
    assert [n for u, n in order if u == "b"] == [0, 1, 2]


async def test_max_runtime_suspends_and_resumes_the_handler() -> None:
    app = Durable(id="t")
    entries = 0

    @app.function(id="f", triggers=[{"event": "go"}], checkpointing={"max_runtime": "0s"})
    async def f(ctx):
        nonlocal entries
        entries += 1
        total = 0
        for i in range(3):
            total += await ctx.step.run("s", lambda i=i: i)
        return total

    async with TestEngine(app) as t:
        run = await t.execute("f")
    assert run.output == 3
    assert entries == 4
