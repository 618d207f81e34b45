"""A run that ends while a step is parked closes that step: ``cancelled``, with ``ended_at``.

Whatever ends the run (a ``cancel_on`` event, ``timeouts.finish``, the cancel API, a failure
or a return in another branch), the sleep, wait, invoke or pending retry it left behind is
never resumed: it must not read as still sleeping or waiting, nor grow forever on a timeline.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from durable import Context, Durable, NonRetriableError
from durable._stores.base import StepRecord, StepStatus
from durable._stores.sqlite import MIGRATIONS, SQLiteStore
from durable.testing import TestEngine


def build_app() -> Durable:
    app = Durable(id="parked")

    @app.function(
        id="sleeper",
        triggers=[{"event": "nap"}],
        cancel_on=[{"event": "wake", "if": "event.data.n == async.data.n"}],
    )
    async def sleeper(ctx: Context) -> str:
        await ctx.step.run("first", lambda: 1)
        await ctx.step.sleep("nap", "1d")
        return "rested"

    @app.function(id="waiter", triggers=[{"event": "wait"}], timeouts={"finish": "30m"})
    async def waiter(ctx: Context) -> object:
        return await ctx.step.wait_for_event("approval", event="approved", timeout="7d")

    @app.function(id="racer", triggers=[{"event": "race"}], retries=0)
    async def racer(ctx: Context) -> None:
        async def boom() -> None:
            raise NonRetriableError("no")

        await asyncio.gather(ctx.step.sleep("slow", "1h"), ctx.step.run("fails", boom))

    @app.function(id="winner", triggers=[{"event": "win"}])
    async def winner(ctx: Context) -> str:
        late = ctx.step.wait_for_event("late", event="never", timeout="1d")
        waiting = asyncio.ensure_future(late)
        await ctx.step.run("quick", lambda: 1)
        waiting.cancel()
        return "done"

    return app


def steps_of(t: TestEngine, run_id: str) -> dict[str, StepRecord]:
    return {step.key: step for step in t.store.get_steps(run_id)}


def assert_closed(t: TestEngine, run_id: str, key: str, by: str) -> None:
    run = t.store.get_run(run_id)
    assert run is not None and run.ended_at is not None
    step = steps_of(t, run_id)[key]
    assert step.status is StepStatus.CANCELLED
    assert step.ended_at == run.ended_at and step.wake_at is None
    assert step.detail["closed_by"] == f"run {by}"


async def test_cancel_on_closes_the_sleep() -> None:
    async with TestEngine(build_app()) as t:
        await t.send({"name": "nap", "data": {"n": 1}})
        await t.settle()
        (run,) = t.runs(function="sleeper")
        assert steps_of(t, run.run_id)["nap"].status is StepStatus.SLEEPING
        await t.advance("1h")
        await t.send({"name": "wake", "data": {"n": 1}})
        await t.settle()
        assert t.run(run.run_id).status == "cancelled"
        assert_closed(t, run.run_id, "nap", "cancelled")
        assert steps_of(t, run.run_id)["first"].status is StepStatus.COMPLETED
        assert [s.status for s in t.run(run.run_id).steps] == ["completed", "cancelled"]
        await t.advance("2d")  # the sleep's time comes: nothing resumes it
        assert steps_of(t, run.run_id)["nap"].status is StepStatus.CANCELLED


async def test_the_cancel_api_and_timeouts_finish_close_the_wait() -> None:
    async with TestEngine(build_app()) as t:
        await t.send([{"name": "wait"}, {"name": "wait"}])
        await t.settle()
        by_hand, timed_out = (run.run_id for run in t.runs(function="waiter"))
        assert await t.cancel(by_hand)
        assert_closed(t, by_hand, "approval", "cancelled")
        await t.advance("31m")
        assert t.run(timed_out).cancel_reason.startswith("timeouts.finish")  # type: ignore[union-attr]
        assert_closed(t, timed_out, "approval", "cancelled")
        await t.send({"name": "approved"})  # the wait is gone with its run
        await t.settle()
        assert steps_of(t, timed_out)["approval"].output is None


async def test_a_failure_or_a_return_closes_the_parked_branch() -> None:
    async with TestEngine(build_app()) as t:
        await t.send([{"name": "race"}, {"name": "win"}])
        await t.settle()
        (raced,) = t.runs(function="racer")
        assert t.run(raced.run_id).status == "failed"
        assert_closed(t, raced.run_id, "slow", "failed")
        (won,) = t.runs(function="winner")
        assert t.run(won.run_id).status == "completed"
        assert_closed(t, won.run_id, "late", "completed")


def test_the_migration_closes_steps_left_parked_by_ended_runs(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    script = "".join(MIGRATIONS[:2])
    conn.executescript(f"BEGIN;{script}PRAGMA user_version=2;COMMIT;")
    conn.executescript(
        "INSERT INTO runs (run_id, function_id, status, created_at, ended_at, trigger, event) "
        "VALUES ('ended', 'f', 'cancelled', 1, 50, 'event', '{}'), "
        "('live', 'f', 'sleeping', 1, NULL, 'event', '{}');"
        "INSERT INTO steps (run_id, key, id, kind, status, position, wake_at, started_at) "
        "VALUES ('ended', 'nap', 'nap', 'sleep', 'sleeping', 0, 999, 10), "
        "('live', 'nap', 'nap', 'sleep', 'sleeping', 0, 999, 10);"
    )
    conn.close()
    store = SQLiteStore(path)
    try:
        (ended,) = store.get_steps("ended")
        assert (ended.status, ended.ended_at, ended.wake_at) == (StepStatus.CANCELLED, 50, None)
        (live,) = store.get_steps("live")
        assert (live.status, live.ended_at, live.wake_at) == (StepStatus.SLEEPING, None, 999)
    finally:
        store.close()
