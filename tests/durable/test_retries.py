"""Retries, backoff, error types and limits, on the virtual clock."""

from __future__ import annotations

import itertools
from datetime import timedelta

from durable import Durable, NonRetriableError, RetryAfterError, StepError
from durable.testing import TestEngine


def attempt_times(t: TestEngine, run_id: str, key: str) -> list[float]:
    step = next(s for s in t.store.get_steps(run_id) if s.key == key)
    return [a["started_at"] for a in step.attempts]


async def test_each_step_has_its_own_attempt_counter_and_default_backoff() -> None:
    app = Durable(id="t")
    seen: list[tuple[str, int]] = []

    def flaky(name: str, fails: int, attempt: int) -> str:
        seen.append((name, attempt))
        if attempt < fails:
            raise ConnectionError(f"{name} down")
        return name

    @app.function(id="f", triggers=[{"event": "go"}])
    async def f(ctx):
        a = await ctx.step.run("a", lambda: flaky("a", 2, ctx.attempt))
        b = await ctx.step.run("b", lambda: flaky("b", 1, ctx.attempt))
        return [a, b]

    async with TestEngine(app) as t:
        await t.send({"name": "go"})
        await t.settle()
        run_id = t.runs()[0].run_id
        assert t.runs()[0].status == "running"
        await t.advance("14s")  # the first default delay is 15s (+ up to 30s jitter)
        assert seen == [("a", 0)]
        await t.advance("2h")
        run = t.run(run_id)
    assert run.status == "completed"
    assert run.output == ["a", "b"]
    assert seen == [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1)]
    assert [(s.key, s.attempts) for s in run.steps] == [("a", 3), ("b", 2)]
    times = attempt_times(t, run_id, "a")
    assert 15 <= times[1] - times[0] <= 45  # 15s + jitter up to 30s
    assert 30 <= times[2] - times[1] <= 60  # 30s + jitter


async def test_backoff_list_overrides_the_schedule() -> None:
    app = Durable(id="t")

    @app.function(id="f", triggers=[{"event": "go"}], retries=3, backoff=["1s", "5s"])
    async def f(ctx):
        def body() -> None:
            raise ValueError("always")

        try:
            await ctx.step.run("a", body)
        except StepError as exc:
            return {"step_id": exc.step_id, "name": exc.name, "message": exc.message}
        return None

    async with TestEngine(app) as t:
        run = await t.execute("f")
        times = attempt_times(t, run.run_id, "a")
    assert run.output == {"step_id": "a", "name": "ValueError", "message": "always"}
    assert [round(b - a, 3) for a, b in itertools.pairwise(times)] == [1, 5, 5]
    assert run.steps[0].attempts == 4  # retries=3 => 4 attempts
    assert run.steps[0].status == "failed"


async def test_non_retriable_error_fails_the_step_at_once() -> None:
    app = Durable(id="t")
    calls = 0

    @app.function(id="f", triggers=[{"event": "go"}])
    async def f(ctx):
        def body() -> None:
            nonlocal calls
            calls += 1
            raise NonRetriableError("user not found")

        await ctx.step.run("fetch-user", body)

    async with TestEngine(app) as t:
        run = await t.execute("f")
    assert calls == 1
    assert run.status == "failed"
    assert run.error is not None
    assert run.error["name"] == "StepError"
    assert run.error["step_id"] == "fetch-user"
    assert "user not found" in run.error["message"]
    assert run.attempt == 0  # an uncaught StepError fails the run, no handler retry


async def test_retry_after_error_schedules_the_next_attempt() -> None:
    app = Durable(id="t")

    @app.function(id="f", triggers=[{"event": "go"}])
    async def f(ctx):
        def call_api() -> str:
            if ctx.attempt == 0:
                raise RetryAfterError("rate limited", "10m")
            if ctx.attempt == 1:
                raise RetryAfterError("again", timedelta(seconds=7))
            return "ok"

        return await ctx.step.run("call-api", call_api)

    async with TestEngine(app) as t:
        await t.send({"name": "go"})
        await t.advance("9m")
        run_id = t.runs()[0].run_id
        assert len(attempt_times(t, run_id, "call-api")) == 1
        await t.advance("2m")
        run = t.run(run_id)
        times = attempt_times(t, run_id, "call-api")
    assert run.output == "ok"
    assert round(times[1] - times[0]) == 600
    assert round(times[2] - times[1]) == 7


async def test_errors_outside_steps_retry_the_handler_without_rerunning_steps() -> None:
    app = Durable(id="t")
    step_calls = 0
    handler_attempts: list[int] = []

    @app.function(id="f", triggers=[{"event": "go"}], retries=2, backoff=["1s"])
    async def f(ctx):
        nonlocal step_calls

        def body() -> int:
            nonlocal step_calls
            step_calls += 1
            return 5

        value = await ctx.step.run("a", body)
        handler_attempts.append(ctx.attempt)
        if ctx.attempt < 2:
            raise RuntimeError("flaky outside steps")
        return value

    async with TestEngine(app) as t:
        run = await t.execute("f")
    assert run.status == "completed"
    assert run.output == 5
    assert step_calls == 1
    assert handler_attempts == [0, 1, 2]


async def test_handler_errors_exhaust_retries_and_fail_the_run() -> None:
    app = Durable(id="t")

    @app.function(id="f", triggers=[{"event": "go"}], retries=1, backoff=["1s"])
    async def f(ctx):
        raise KeyError("missing")

    async with TestEngine(app) as t:
        run = await t.execute("f")
        failed_events = [e for e in t.store.list_events(name="durable/function.failed")]
    assert run.status == "failed"
    assert run.error is not None and run.error["name"] == "KeyError"
    assert "Traceback" in run.error["traceback"]
    assert run.attempt == 2
    assert len(failed_events) == 1
    assert failed_events[0].data["run_id"] == run.run_id
    assert failed_events[0].data["function_id"] == "f"
    assert failed_events[0].data["error"]["name"] == "KeyError"


async def test_step_error_carries_the_traceback_and_fallback_works() -> None:
    app = Durable(id="t")

    @app.function(id="robust", triggers=[{"event": "go"}], retries=0)
    async def f(ctx):
        def primary() -> str:
            raise TimeoutError("primary timed out")

        try:
            return await ctx.step.run("primary", primary)
        except StepError as exc:
            assert exc.traceback is not None and "primary timed out" in exc.traceback
            return await ctx.step.run("fallback", lambda: "secondary")

    async with TestEngine(app) as t:
        run = await t.execute("robust")
    assert run.output == "secondary"
    assert [(s.key, s.status) for s in run.steps] == [
        ("primary", "failed"),
        ("fallback", "completed"),
    ]


async def test_function_failed_event_triggers_cleanup_functions() -> None:
    app = Durable(id="t")

    @app.function(id="fragile", triggers=[{"event": "go"}], retries=0)
    async def fragile(ctx):
        raise NonRetriableError("broken")

    @app.function(id="cleanup", triggers=[{"event": "durable/function.failed"}])
    async def cleanup(ctx):
        return await ctx.step.run("clean", lambda: ctx.event.data["function_id"])

    async with TestEngine(app) as t:
        await t.send({"name": "go"})
        await t.settle()
        outputs = {r.function_id: (r.status, r.output) for r in t.runs()}
    assert outputs == {"fragile": ("failed", None), "cleanup": ("completed", "fragile")}


async def test_too_many_steps_fails_the_run_with_a_named_error() -> None:
    app = Durable(id="t")

    @app.function(id="f", triggers=[{"event": "go"}])
    async def f(ctx):
        try:
            for i in range(1001):
                await ctx.step.run("s", lambda i=i: i)
        except Exception:
            return "swallowed"
        return "done"

    async with TestEngine(app) as t:
        run = await t.execute("f")
    assert run.status == "failed"
    assert run.error is not None
    assert run.error["name"] == "LimitExceededError"
    assert run.error["limit"] == "steps_per_run"
    assert run.error["step_id"] == "s:1000"
    assert len(run.steps) == 1000


async def test_oversized_step_result_fails_the_run() -> None:
    app = Durable(id="t")

    @app.function(id="f", triggers=[{"event": "go"}])
    async def f(ctx):
        await ctx.step.run("small", lambda: "x")
        await ctx.step.run("big", lambda: "x" * (4 * 1024 * 1024 + 1))
        return "unreachable"

    async with TestEngine(app) as t:
        run = await t.execute("f")
    assert run.status == "failed"
    assert run.error is not None
    assert run.error["limit"] == "step_output_bytes"
    assert run.error["step_id"] == "big"
    assert [s.key for s in run.steps] == ["small"]


async def test_run_state_limit_fails_the_run() -> None:
    app = Durable(id="t")
    chunk = "y" * (3 * 1024 * 1024)

    @app.function(id="f", triggers=[{"event": "go"}])
    async def f(ctx):
        for _ in range(12):
            await ctx.step.run("chunk", lambda: chunk)
        return "unreachable"

    async with TestEngine(app) as t:
        run = await t.execute("f")
    assert run.status == "failed"
    assert run.error is not None
    assert run.error["limit"] == "run_state_bytes"
    assert len(run.steps) == 10  # 10 x 3 MB fit under 32 MB, the 11th does not


async def test_non_json_result_fails_the_run_with_a_serialization_error() -> None:
    app = Durable(id="t")

    @app.function(id="f", triggers=[{"event": "go"}])
    async def f(ctx):
        await ctx.step.run("bad", lambda: {1, 2, 3})

    async with TestEngine(app) as t:
        run = await t.execute("f")
    assert run.status == "failed"
    assert run.error is not None
    assert run.error["name"] == "SerializationError"
    assert "'bad'" in run.error["message"]
    assert run.error["step_id"] == "bad"


async def test_non_json_function_output_fails_the_run() -> None:
    app = Durable(id="t")

    @app.function(id="f", triggers=[{"event": "go"}])
    async def f(ctx):
        return object()

    async with TestEngine(app) as t:
        run = await t.execute("f")
    assert run.status == "failed"
    assert run.error is not None and run.error["name"] == "SerializationError"


async def test_changed_step_kind_is_a_non_determinism_error() -> None:
    app = Durable(id="t")
    version = {"n": 1}

    @app.function(id="f", triggers=[{"event": "go"}])
    async def f(ctx):
        if version["n"] == 1:
            await ctx.step.run("a", lambda: 1)
            await ctx.step.sleep("nap", "1h")
        else:
            await ctx.step.sleep("a", "1h")
        return "done"

    async with TestEngine(app) as t:
        await t.send({"name": "go"})
        await t.settle()
        version["n"] = 2
        await t.advance("2h")
        run = t.runs()[0]
    assert run.status == "failed"
    assert run.error is not None
    assert run.error["name"] == "NonDeterminismError"
    assert run.error["step_id"] == "a"


async def test_nested_steps_are_rejected() -> None:
    app = Durable(id="t")

    @app.function(id="f", triggers=[{"event": "go"}])
    async def f(ctx):
        async def outer() -> int:
            return await ctx.step.run("inner", lambda: 1)

        await ctx.step.run("outer", outer)

    async with TestEngine(app) as t:
        run = await t.execute("f")
    assert run.status == "failed"
    assert run.error is not None
    assert "cannot be nested" in run.error["message"]
    assert run.steps[0].attempts == 1
