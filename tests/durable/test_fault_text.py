"""Fault hardening on the virtual clock: unencodable text, oversized errors, SystemExit.

Each test runs on the in-memory store and on a real SQLite file (``store`` fixture): the
failures these guard against (a bare ``UnicodeEncodeError``, a run hanging in ``running``)
came from the store and the event limit, not from the core alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from durable import Durable, StepError
from durable._limits import MAX_EVENT_BYTES
from durable._serialization import dumps, encoded_size
from durable._stores.base import Store
from durable._stores.memory import MemoryStore
from durable._stores.sqlite import SQLiteStore
from durable._text import MAX_TEXT_CHARS
from durable.testing import TestEngine

BAD = "report-\udcff.csv"  # a non-UTF-8 file name, as os.listdir() returns it
FAILED = "durable/function.failed"
CANCELLED = "durable/function.cancelled"


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    sqlite = SQLiteStore(tmp_path / "runs.db")
    yield sqlite
    sqlite.close()


def system_events(t: TestEngine, name: str) -> list[dict[str, Any]]:
    return [e.to_event_dict() for e in t.store.list_events(name=name, limit=100)]


def assert_within_limit(event: dict[str, Any]) -> None:
    assert encoded_size(dumps(event)) <= MAX_EVENT_BYTES


app = Durable(id="faults")


@app.function(id="bad-error", triggers=[{"event": "go"}], retries=1, backoff=["1s"])
async def bad_error(ctx: Any) -> None:
    def body() -> None:
        raise FileNotFoundError(f"cannot open {BAD}")

    await ctx.step.run("open", body)


@app.function(id="bad-result", triggers=[{"event": "go"}], retries=1, backoff=["1s"])
async def bad_result(ctx: Any) -> str:
    return str(await ctx.step.run("list", lambda: [BAD]))


@app.function(id="bad-output", triggers=[{"event": "go"}], retries=0)
async def bad_output(ctx: Any) -> dict[str, str]:
    return {"file": BAD}


@app.function(id="bad-log", triggers=[{"event": "go"}])
async def bad_log(ctx: Any) -> str:
    ctx.logger.info("listing %s", BAD)

    def body() -> str:
        ctx.logger.warning("skipping %s", BAD)
        return "done"

    return str(await ctx.step.run("scan", body))


async def test_a_lone_surrogate_in_a_step_error_is_escaped_and_the_run_fails_cleanly(
    store: Store,
) -> None:
    async with TestEngine(app, store=store) as t:
        run = await asyncio.wait_for(t.execute("bad-error"), 10)
        events = system_events(t, FAILED)
    assert run.status == "failed"
    assert run.error is not None and run.error["name"] == "StepError"
    assert "cannot open report-\ufffd.csv" in run.error["message"]
    step = run.steps[0]
    assert (step.key, step.status, step.attempts) == ("open", "failed", 2)
    assert step.error is not None and step.error["name"] == "FileNotFoundError"
    assert step.error["message"] == "cannot open report-\ufffd.csv"
    assert "report-\ufffd.csv" in step.error["traceback"]
    assert [e["data"]["run_id"] for e in events] == [run.run_id]
    assert "report-\ufffd.csv" in events[0]["data"]["error"]["message"]


async def test_a_lone_surrogate_in_a_step_result_is_a_named_serialization_error(
    store: Store,
) -> None:
    async with TestEngine(app, store=store) as t:
        run = await asyncio.wait_for(t.execute("bad-result"), 10)
        events = system_events(t, FAILED)
    assert run.status == "failed"
    assert run.error is not None
    assert run.error["name"] == "SerializationError"
    message = run.error["message"]
    assert "step 'list'" in message and "function 'bad-result'" in message
    assert "lone UTF-16 surrogate" in message and "'\\udcff'" in message
    assert run.error["step_id"] == "list"
    assert len(events) == 1


async def test_a_lone_surrogate_in_the_output_is_a_named_serialization_error(
    store: Store,
) -> None:
    async with TestEngine(app, store=store) as t:
        run = await asyncio.wait_for(t.execute("bad-output"), 10)
    assert run.status == "failed"
    assert run.error is not None and run.error["name"] == "SerializationError"
    assert "function 'bad-output'" in run.error["message"]
    assert "lone UTF-16 surrogate" in run.error["message"]


async def test_a_lone_surrogate_in_a_log_line_is_escaped(store: Store) -> None:
    async with TestEngine(app, store=store) as t:
        run = await asyncio.wait_for(t.execute("bad-log"), 10)
        logs = t.logs(run.run_id)
    assert run.status == "completed" and run.output == "done"
    assert [(line.level, line.message, line.step_key) for line in logs] == [
        ("info", "listing report-\ufffd.csv", None),
        ("warning", "skipping report-\ufffd.csv", "scan"),
    ]


names = Durable(id="names")


@names.function(id="step-id", triggers=[{"event": "go"}], retries=0)
async def step_id_not_text(ctx: Any) -> None:
    await ctx.step.run(BAD, lambda: 1)


@names.function(id="wait-name", triggers=[{"event": "go"}], retries=0)
async def wait_name_not_text(ctx: Any) -> None:
    await ctx.step.wait_for_event("w", event=BAD, timeout="1h")


@names.function(id="invoke-id", triggers=[{"event": "go"}], retries=0)
async def invoke_id_not_text(ctx: Any) -> None:
    await ctx.step.invoke("i", function=BAD)


@pytest.mark.parametrize(
    ("function", "name", "words"),
    [
        ("step-id", "TypeError", "step id must be text"),
        ("wait-name", "ConfigError", "'event' must be an event name"),
        ("invoke-id", "ConfigError", "'function' must be a function id"),
    ],
)
async def test_a_name_that_is_not_text_is_refused_by_name(
    store: Store, function: str, name: str, words: str
) -> None:
    """Step ids, waited event names and invoked function ids are stored: not text, no run."""
    async with TestEngine(names, store=store) as t:
        run = await asyncio.wait_for(t.execute(function), 10)
    assert run.status == "failed"
    assert run.error is not None and run.error["name"] == name
    assert words in run.error["message"]


# -- oversized errors and reasons ---------------------------------------------------------------

HUGE = 600_000  # characters: over the 512 KB event limit on its own

big = Durable(id="big")


@big.function(id="child", triggers=[{"event": "child/go"}], retries=0)
async def child(ctx: Any) -> None:
    def body() -> None:
        raise ValueError("x" * HUGE)

    await ctx.step.run("explode", body)


@big.function(id="parent", triggers=[{"event": "parent/go"}], retries=0)
async def parent(ctx: Any) -> str:
    try:
        await ctx.step.invoke("call", function="child", timeout="1h")
    except StepError as exc:
        return f"{exc.name}: {len(exc.message)}"
    return "no error"


@big.function(id="heavy", triggers=[{"event": "heavy/go"}], retries=0)
async def heavy(ctx: Any) -> None:
    raise RuntimeError("y" * HUGE)


@big.function(id="napper", triggers=[{"event": "nap/go"}])
async def napper(ctx: Any) -> None:
    await ctx.step.sleep("nap", "1h")


async def test_a_600kb_child_failure_reaches_the_parent_at_once_and_is_emitted_trimmed(
    store: Store,
) -> None:
    async with TestEngine(big, store=store) as t:
        began = t.clock.now()
        await t.send({"name": "parent/go"})
        await t.settle()  # no time passes: the parent must not wait for its 1h invoke timeout
        assert t.clock.now() == began
        runs = {r.function_id: r for r in t.runs()}
        events = system_events(t, FAILED)
    assert runs["child"].status == "failed"
    assert runs["parent"].status == "completed"
    name, length = str(runs["parent"].output).split(": ")
    assert name == "ValueError" and int(length) <= MAX_TEXT_CHARS + 100
    assert len(events) == 1
    event = events[0]
    assert event["data"]["run_id"] == runs["child"].run_id
    assert_within_limit(event)
    message = event["data"]["error"]["message"]
    assert "[trimmed " in message and " characters]" in message
    assert len(message) <= MAX_TEXT_CHARS + 100
    stored = runs["child"].error
    assert stored is not None and "[trimmed " in stored["message"]
    assert "[trimmed " in stored["traceback"]


async def test_a_huge_error_and_a_near_limit_trigger_event_still_emit_a_failed_event(
    store: Store,
) -> None:
    payload = {"blob": "z" * (MAX_EVENT_BYTES - 120)}  # accepted, with no room to spare
    async with TestEngine(big, store=store) as t:
        await t.send({"name": "heavy/go", "data": payload})
        await t.settle()
        run = t.runs(function="heavy")[0]
        events = system_events(t, FAILED)
    assert run.status == "failed"
    assert len(events) == 1
    event = events[0]
    assert_within_limit(event)
    data = event["data"]
    assert data["event"]["data"] == {} and data["event"]["name"] == "heavy/go"
    assert run.run_id in data["event_trimmed"] and "left out" in data["event_trimmed"]
    assert data["error"]["name"] == "RuntimeError"
    assert "[trimmed " in data["error"]["message"]


async def test_a_600kb_cancel_reason_cancels_with_the_event_trimmed(store: Store) -> None:
    reason = "r" * HUGE
    async with TestEngine(big, store=store) as t:
        await t.send({"name": "nap/go"})
        await t.settle()
        run_id = t.runs()[0].run_id
        assert await t.cancel(run_id, reason) is True
        run = t.run(run_id)
        events = system_events(t, CANCELLED)
    assert run.status == "cancelled"
    assert run.cancel_reason is not None and "[trimmed " in run.cancel_reason
    assert len(run.cancel_reason) < MAX_TEXT_CHARS + 100
    assert len(events) == 1
    assert_within_limit(events[0])
    assert events[0]["data"]["reason"] == run.cancel_reason


async def test_a_failed_event_that_cannot_be_built_leaves_the_run_untouched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Building the event comes first: if it raises, the run is not half ended."""
    import durable._orchestration.runs as runs_module

    def broken(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise RuntimeError("cannot build")

    async with TestEngine(big) as t:
        await t.send({"name": "nap/go"})
        await t.settle()
        run_id = t.runs()[0].run_id
        monkeypatch.setattr(runs_module, "system_event", broken)
        with pytest.raises(RuntimeError, match="cannot build"):
            await t.orchestrator.cancel(run_id, "stop")
        assert t.run(run_id).status == "sleeping"
        monkeypatch.undo()
        assert await t.cancel(run_id, "stop") is True


# -- SystemExit in a step -------------------------------------------------------------------------

exits = Durable(id="exits")
BODY_RUNS: list[int] = []


@exits.function(id="quitter", triggers=[{"event": "quit/go"}], retries=2, backoff=["1s"])
async def quitter(ctx: Any) -> str:
    def body() -> str:
        BODY_RUNS.append(ctx.attempt)
        raise SystemExit(3)

    async def other() -> str:
        return "other"

    before = await ctx.step.run("before", other)
    await ctx.step.run("quit", body)
    return before


@exits.function(id="async-quitter", triggers=[{"event": "quit/go"}], retries=1, backoff=["1s"])
async def async_quitter(ctx: Any) -> list[Any]:
    async def body() -> None:
        BODY_RUNS.append(ctx.attempt)
        raise SystemExit("bye")

    async def nap() -> None:
        await ctx.step.sleep("nap", "100ms")

    try:
        await asyncio.gather(ctx.step.run("quit", body), nap())
    except StepError as exc:
        return [exc.name, exc.message]
    return []


async def test_system_exit_in_a_step_is_a_failed_attempt_of_that_step(store: Store) -> None:
    BODY_RUNS.clear()
    async with TestEngine(exits, store=store) as t:
        run = await t.execute("quitter")
    assert BODY_RUNS == [0, 1, 2]  # retries + 1 runs of the body, no more
    assert run.status == "failed"
    assert run.attempt == 0  # the handler was never retried in the step's place
    steps = {s.key: s for s in run.steps}
    assert steps["quit"].status == "failed" and steps["quit"].attempts == 3
    assert steps["before"].attempts == 1
    assert run.error is not None and run.error["message"] == "step 'quit' failed: SystemExit: 3"
    record = next(s for s in t.store.get_steps(run.run_id) if s.key == "quit")
    assert [a["error"]["name"] for a in record.attempts] == ["SystemExit"] * 3


async def test_system_exit_in_an_async_step_beside_a_sleep_still_suspends_cleanly() -> None:
    """The sleep's suspension interrupt passes through; only the SystemExit is a failure."""
    BODY_RUNS.clear()
    async with TestEngine(exits) as t:
        run = await t.execute("async-quitter")
    assert BODY_RUNS == [0, 1]
    assert run.status == "completed"
    assert run.output == ["SystemExit", "bye"]
    assert {s.key: (s.status, s.attempts) for s in run.steps} == {
        "quit": ("failed", 2),
        "nap": ("completed", 0),
    }


async def test_a_batch_with_a_bad_event_stores_none_of_it() -> None:
    async with TestEngine(big) as t:
        with pytest.raises(ValueError, match="name"):
            await t.send([{"name": "nap/go"}, {"name": ""}])
        assert t.store.list_events(limit=10) == []
        assert t.runs() == []
