"""Sleeps, waits, invoke, send_event and cancellation through the orchestrator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from durable import Context, Durable, Event, StepError
from durable.testing import TestEngine

START = datetime(2026, 1, 1, tzinfo=UTC)


async def test_sleep_until_an_iso_time_and_a_datetime() -> None:
    app = Durable(id="t")

    @app.function(id="f", triggers=[{"event": "go"}])
    async def f(ctx):
        await ctx.step.sleep_until("iso", "2026-01-03T00:00:00Z")
        await ctx.step.sleep_until("dt", datetime(2026, 1, 5, 12, tzinfo=UTC))
        await ctx.step.sleep("past", timedelta(0))
        return "done"

    async with TestEngine(app, start=START) as t:
        await t.send({"name": "go"})
        await t.advance("1d")
        assert t.runs()[0].status == "sleeping"
        await t.advance("2d")
        assert [s.status for s in t.runs()[0].steps] == ["completed", "sleeping"]
        await t.advance("3d")
        run = t.runs()[0]
    assert run.status == "completed"
    assert [s.kind for s in run.steps] == ["sleep", "sleep", "sleep"]


async def test_wait_for_event_matches_on_a_field() -> None:
    app = Durable(id="t")

    @app.function(id="onboarding", triggers=[{"event": "user/signup"}])
    async def f(ctx):
        done = await ctx.step.wait_for_event(
            "wait-profile", event="user/profile.completed", timeout="3d", match="data.userId"
        )
        return None if done is None else done.data["step"]

    async with TestEngine(app) as t:
        await t.send({"name": "user/signup", "data": {"userId": "u1"}})
        await t.settle()
        assert t.runs()[0].status == "waiting"
        await t.send({"name": "user/profile.completed", "data": {"userId": "u2", "step": "x"}})
        await t.settle()
        assert t.runs()[0].status == "waiting"
        await t.send({"name": "user/profile.completed", "data": {"userId": "u1", "step": "ok"}})
        await t.settle()
        run = t.runs()[0]
    assert run.status == "completed"
    assert run.output == "ok"


async def test_wait_for_event_times_out_with_none() -> None:
    app = Durable(id="t")

    @app.function(id="f", triggers=[{"event": "go"}])
    async def f(ctx):
        found = await ctx.step.wait_for_event(
            "approval", event="approval/granted", timeout="1h", if_="async.data.ok == true"
        )
        return "timed out" if found is None else "approved"

    async with TestEngine(app) as t:
        await t.send({"name": "go"})
        await t.settle()
        await t.send({"name": "approval/granted", "data": {"ok": False}})
        await t.advance("59m")
        assert t.runs()[0].status == "waiting"
        await t.advance("2m")
        run = t.runs()[0]
    assert run.output == "timed out"


async def test_wait_sees_an_event_that_arrived_before_it_was_registered() -> None:
    app = Durable(id="t")
    engine: list[TestEngine] = []

    @app.function(id="f", triggers=[{"event": "order/created"}])
    async def f(ctx):
        await ctx.step.run("create-invoice", lambda: "inv-1")
        # The payment lands after the previous step finished, before the wait exists.
        await engine[0].send({"name": "payment/received", "data": {"orderId": "o1"}})
        paid = await ctx.step.wait_for_event(
            "wait-payment", event="payment/received", timeout="1d", match="data.orderId"
        )
        return isinstance(paid, Event) and paid.data["orderId"]

    async with TestEngine(app) as t:
        engine.append(t)
        await t.send({"name": "order/created", "data": {"orderId": "o1"}})
        await t.settle()
        run = t.runs()[0]
    assert run.status == "completed"
    assert run.output == "o1"


async def test_invoke_returns_the_child_output_or_raises_step_error() -> None:
    app = Durable(id="t")

    @app.function(id="report", triggers=[{"event": "report/requested"}])
    async def report(ctx):
        if ctx.event.data.get("fail"):
            raise ValueError("no data")
        await ctx.step.sleep("render", "10m")
        return {"rows": ctx.event.data["n"] * 2}

    @app.function(id="parent", triggers=[{"event": "go"}], retries=0)
    async def parent(ctx):
        ok = await ctx.step.invoke("ok", function=report, data={"n": 21})
        try:
            await ctx.step.invoke("bad", function="report", data={"fail": True})
        except StepError as exc:
            return {"ok": ok, "bad": exc.message}
        return {"ok": ok}

    app_report_retries = report.config.retries
    assert app_report_retries == 4
    async with TestEngine(app) as t:
        await t.send({"name": "go"})
        await t.advance("1d")
        runs = {r.function_id + ("-bad" if r.status == "failed" else ""): r for r in t.runs()}
    assert runs["parent"].status == "completed"
    assert runs["parent"].output["ok"] == {"rows": 42}
    assert "no data" in runs["parent"].output["bad"]
    assert runs["report"].event.name == "durable/function.invoked"


async def test_invoke_of_an_unknown_function_raises_step_error() -> None:
    app = Durable(id="t")

    @app.function(id="f", triggers=[{"event": "go"}])
    async def f(ctx):
        try:
            await ctx.step.invoke("x", function="nope")
        except StepError as exc:
            return exc.name
        return None

    async with TestEngine(app) as t:
        run = await t.execute("f")
    assert run.output == "UnknownFunctionError"


async def test_send_event_is_exactly_once_and_triggers_functions() -> None:
    app = Durable(id="t")
    received: list[str] = []

    @app.function(id="sender", triggers=[{"event": "go"}], retries=1, backoff=["1s"])
    async def sender(ctx):
        ids = await ctx.step.send_event(
            "notify", [{"name": "mail/send", "data": {"to": "a"}}, {"name": "mail/send"}]
        )
        if ctx.attempt == 0:
            raise RuntimeError("crash after sending")
        return ids

    @app.function(id="mailer", triggers=[{"event": "mail/send"}])
    async def mailer(ctx):
        received.append(ctx.event.id)
        return ctx.event.data

    async with TestEngine(app) as t:
        await t.send({"name": "go"})
        await t.advance("1m")
        sender_run = t.runs(function="sender")[0]
        mail_runs = t.runs(function="mailer")
    assert sender_run.status == "completed"
    assert len(sender_run.output) == 2
    assert sorted(received) == sorted(sender_run.output)
    assert len(mail_runs) == 2


async def test_event_id_dedup_starts_no_second_run() -> None:
    app = Durable(id="t")

    @app.function(id="f", triggers=[{"event": "cart/checkout.completed"}])
    async def f(ctx):
        return ctx.event.id

    async with TestEngine(app) as t:
        first = await t.send({"name": "cart/checkout.completed", "id": "checkout-c1"})
        second = await t.send({"name": "cart/checkout.completed", "id": "checkout-c1"})
        await t.settle()
        assert first == second == ["checkout-c1"]
        assert len(t.runs()) == 1
        await t.advance("25h")
        await t.send({"name": "cart/checkout.completed", "id": "checkout-c1"})
        await t.settle()
        assert len(t.runs()) == 2


async def test_cancel_stops_a_sleeping_run_and_emits_an_event() -> None:
    app = Durable(id="t")
    after: list[bool] = []

    @app.function(id="f", triggers=[{"event": "go"}])
    async def f(ctx):
        await ctx.step.sleep("nap", "1h")
        after.append(True)
        await ctx.step.run("charge", lambda: "charged")

    @app.function(id="on-cancel", triggers=[{"event": "durable/function.cancelled"}])
    async def on_cancel(ctx):
        return [ctx.event.data["run_id"], ctx.event.data["reason"]]

    async with TestEngine(app) as t:
        await t.send({"name": "go"})
        await t.settle()
        run_id = t.runs(function="f")[0].run_id
        assert await t.cancel(run_id, "customer changed their mind") is True
        assert await t.cancel(run_id) is False
        await t.advance("2h")
        run = t.run(run_id)
        cleanup = t.runs(function="on-cancel")[0]
    assert run.status == "cancelled"
    assert run.cancel_reason == "customer changed their mind"
    assert after == []
    assert [s.key for s in run.steps] == ["nap"]
    assert cleanup.output == [run_id, "customer changed their mind"]


async def test_cancel_during_a_step_lets_it_finish_but_starts_nothing_more() -> None:
    app = Durable(id="t")
    engine: list[TestEngine] = []
    ran: list[str] = []

    @app.function(id="f", triggers=[{"event": "go"}])
    async def f(ctx):
        async def long_step() -> str:
            await engine[0].orchestrator.cancel(ctx.run_id, "stop")
            ran.append("long")
            return "finished"

        await ctx.step.run("long", long_step)
        await ctx.step.run("next", lambda: ran.append("next"))

    async with TestEngine(app) as t:
        engine.append(t)
        await t.send({"name": "go"})
        await t.settle()
        run = t.runs()[0]
    assert ran == ["long"]
    assert run.status == "cancelled"


async def test_a_bad_wait_condition_fails_the_run_at_once_naming_the_step() -> None:
    app = Durable(id="bad-wait")
    passes: list[int] = []

    @app.function(id="waiter", triggers=[{"event": "t/go"}], retries=4)
    async def waiter(ctx: Context) -> None:
        passes.append(ctx.attempt)
        await ctx.step.wait_for_event("approval", event="t/ok", timeout="1h", if_="async.data ==")

    async with TestEngine(app) as t:
        await t.send({"name": "t/go", "data": {}})
        await t.advance("1d")  # time enough for every retry of the default backoff
        run = t.runs()[0]
    assert run.status == "failed" and passes == [0]  # a code bug: retrying cannot fix it
    assert run.error is not None and run.error["name"] == "ExpressionError"
    assert "approval" in run.error["message"] and "if_" in run.error["message"]
