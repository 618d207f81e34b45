"""Runs on the SQLite store survive closing, restarting and a real ``kill -9``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from durable import Durable
from durable._stores.base import RunStatus
from durable._stores.sqlite import SQLiteStore
from durable.testing import TestEngine


def counting_app(calls: list[str]) -> Durable:
    app = Durable(id="t")

    @app.function(id="f", triggers=[{"event": "go"}])
    async def f(ctx):
        a = await ctx.step.run("a", lambda: calls.append("a") or 1)
        await ctx.step.sleep("nap", "1h")
        b = await ctx.step.run("b", lambda: calls.append("b") or 2)
        return a + b

    return app


async def test_a_sleeping_run_resumes_after_the_engine_restarts(tmp_path: Path) -> None:
    db = tmp_path / "dev.db"
    calls: list[str] = []
    first = TestEngine(counting_app(calls), store=SQLiteStore(db), start=1_000_000.0)
    await first.send({"name": "go"})
    await first.settle()
    assert first.runs()[0].status == "sleeping"
    first.store.close()

    second = TestEngine(counting_app(calls), store=SQLiteStore(db), start=1_000_000.0 + 7200)
    second.orchestrator.recover()
    await second.settle()
    run = second.runs()[0]
    assert run.status == "completed"
    assert run.output == 3
    assert calls == ["a", "b"]


async def test_recover_resumes_a_run_that_was_mid_pass(tmp_path: Path) -> None:
    db = tmp_path / "dev.db"
    calls: list[str] = []
    first = TestEngine(counting_app(calls), store=SQLiteStore(db), start=1_000_000.0)
    await first.send({"name": "go"})
    await first.settle()
    record = first.store.list_runs()[0]
    record.status, record.ready_at = RunStatus.RUNNING, None  # as if killed mid-pass
    first.store.update_run(record)
    first.store.close()

    second = TestEngine(counting_app(calls), store=SQLiteStore(db), start=1_000_000.0 + 7200)
    assert second.orchestrator.recover() == 1
    await second.settle()
    assert second.runs()[0].status == "completed"
    assert calls == ["a", "b"]


CRASHING_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys, time
    from pathlib import Path
    from durable import Durable
    from durable._stores.sqlite import SQLiteStore
    from durable.testing import TestEngine

    db, marker = sys.argv[1], Path(sys.argv[2])
    app = Durable(id="t")

    @app.function(id="f", triggers=[{"event": "go"}])
    async def f(ctx):
        await ctx.step.run("one", lambda: "first")
        def two():
            marker.write_text("in step two")
            time.sleep(60)  # killed here
        await ctx.step.run("two", two)

    async def main():
        t = TestEngine(app, store=SQLiteStore(db))
        await t.send({"name": "go"})
        await t.settle()

    asyncio.run(main())
    """
)


async def test_kill_9_mid_step_keeps_committed_steps(tmp_path: Path) -> None:
    db, marker, script = tmp_path / "dev.db", tmp_path / "marker", tmp_path / "crash.py"
    script.write_text(CRASHING_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), str(db), str(marker)])
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert proc.poll() is None, "the worker script died before reaching step two"
            assert time.monotonic() < deadline, "step two never started"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=10)

    executed: list[str] = []
    app = Durable(id="t")

    @app.function(id="f", triggers=[{"event": "go"}])
    async def f(ctx):
        one = await ctx.step.run("one", lambda: executed.append("one") or "again")
        two = await ctx.step.run("two", lambda: executed.append("two") or "second")
        return [one, two]

    store = SQLiteStore(db)
    engine = TestEngine(app, store=store)
    assert engine.orchestrator.recover() == 1
    await engine.settle()
    run = engine.runs()[0]
    assert run.status == "completed"
    assert run.output == ["first", "second"]  # "one" came from the committed checkpoint
    assert executed == ["two"]
    store.close()
