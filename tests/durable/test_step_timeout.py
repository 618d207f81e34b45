"""``step.run(..., timeout=...)`` and sync bodies that hang, in process (real threads).

The timeout is real time (a step body runs on the real clock even under the virtual one), so
these tests keep it to a fraction of a second.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import pytest

from durable import ConfigError, Durable, InvalidDurationError, StepError
from durable._engine.threads import StepThreads
from durable.testing import TestEngine


async def test_a_slow_async_attempt_fails_with_a_named_timeout_and_is_retried() -> None:
    app = Durable(id="t")
    attempts: list[int] = []

    async def slow(attempt: int) -> str:
        attempts.append(attempt)
        if attempt == 0:
            await asyncio.sleep(30)
        return "fast enough"

    @app.function(id="f", triggers=[{"event": "go"}], retries=2, backoff=["1s"])
    async def f(ctx):
        return await ctx.step.run("slow", lambda: slow(ctx.attempt), timeout="200ms")

    async with TestEngine(app) as t:
        run = await t.execute("f")
        record = next(s for s in t.store.get_steps(run.run_id) if s.key == "slow")
    assert run.status == "completed"
    assert run.output == "fast enough"
    assert attempts == [0, 1]
    first = record.attempts[0]["error"]
    assert first["name"] == "StepTimeout"
    assert first["message"] == "step 'slow' of function 'f' exceeded 200ms"
    assert record.attempts[1]["error"] is None


async def test_a_hung_sync_attempt_times_out_until_retries_run_out() -> None:
    app = Durable(id="t")
    release = threading.Event()

    def hang() -> None:
        release.wait(30)

    @app.function(id="g", triggers=[{"event": "go"}], retries=1, backoff=["1s"])
    async def g(ctx):
        try:
            await ctx.step.run("hang", hang, timeout=timedelta(milliseconds=100))
        except StepError as exc:
            return {"name": exc.name, "message": exc.message}
        return "finished"

    try:
        async with TestEngine(app) as t:
            run = await t.execute("g")
    finally:
        release.set()
    assert run.status == "completed"
    assert run.output == {
        "name": "StepTimeout",
        "message": "step 'hang' of function 'g' exceeded 100ms",
    }
    assert [(s.key, s.status, s.attempts) for s in run.steps] == [("hang", "failed", 2)]


async def test_seven_hung_sync_bodies_do_not_starve_an_eighth() -> None:
    pool = StepThreads()
    release = threading.Event()
    hung = [pool.run(release.wait, 30) for _ in range(7)]
    try:
        assert await asyncio.wait_for(pool.run(lambda: "done"), 5) == "done"
        assert pool.busy == 7
    finally:
        release.set()
    assert await asyncio.gather(*hung) == [True] * 7


async def test_a_bad_timeout_is_refused_with_the_step_named() -> None:
    app = Durable(id="t")

    @app.function(id="zero", triggers=[{"event": "go"}], retries=0)
    async def zero(ctx):
        return await ctx.step.run("s", lambda: 1, timeout=0)

    @app.function(id="word", triggers=[{"event": "go"}], retries=0)
    async def word(ctx):
        return await ctx.step.run("s", lambda: 1, timeout="soon")

    async with TestEngine(app) as t:
        zero_run = await t.execute("zero")
        word_run = await t.execute("word")
    assert zero_run.status == "failed"
    assert zero_run.error is not None
    assert zero_run.error["name"] == ConfigError.__name__
    assert "step.run('s'): 'timeout' must be more than zero" in zero_run.error["message"]
    assert word_run.status == "failed"
    assert word_run.error is not None
    assert word_run.error["name"] == InvalidDurationError.__name__


async def test_step_threads_reuse_idle_threads_and_end_them() -> None:
    pool = StepThreads(idle_seconds=0.05)
    names = [await pool.run(lambda: threading.current_thread().name) for _ in range(3)]
    assert pool.busy == 0
    idents = {await pool.run(threading.get_ident) for _ in range(3)}
    assert len(idents) == 1  # one idle thread served them all, one after the other
    assert names == ["durable-step"] * 3
    for _ in range(100):
        if not any(t.ident in idents for t in threading.enumerate()):
            break
        await asyncio.sleep(0.01)
    assert not any(t.ident in idents for t in threading.enumerate())
    with pytest.raises(ZeroDivisionError):
        await pool.run(lambda: 1 / 0)
