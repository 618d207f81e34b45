"""One function's fault stays its own: a real ``durable dev`` with real worker processes.

A step that kills its worker, hung sync steps, an ``async`` step blocking the event loop and
a step outrunning its ``timeout``: the run at fault pays (per its retries), the others go on.
The watchdog runs with short intervals (``DURABLE_BLOCKED_AFTER``) to keep the tests quick.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.harness import DevProcess, wait_for

APP = textwrap.dedent(
    """
    import asyncio
    import os
    import re
    import time
    from pathlib import Path
    from durable import Durable

    app = Durable(id="faults")
    MARKS = Path(os.environ["MARKS"])


    @app.function(id="innocent", triggers=[{"event": "innocent"}], retries=0)
    async def innocent(ctx):
        def slow():
            (MARKS / "innocent-running").touch()
            time.sleep(float(ctx.event.data.get("seconds", 0.6)))
            return "ok"
        return await ctx.step.run("slow", slow)


    @app.function(id="crasher", triggers=[{"event": "crash"}], retries=1, backoff=["10ms"])
    async def crasher(ctx):
        def die():
            deadline = time.monotonic() + 5  # wait until the innocent's step is in flight
            while not (MARKS / "innocent-running").exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            os._exit(1)
        return await ctx.step.run("die", die)


    @app.function(id="hung", triggers=[{"event": "hang"}], retries=0)
    async def hung(ctx):
        return await ctx.step.run("hang", time.sleep, 60)


    @app.function(id="single", triggers=[{"event": "single"}], concurrency=1)
    async def single(ctx):
        seconds = ctx.event.data.get("hang", 0)
        return await ctx.step.run("maybe-hang", time.sleep, seconds)


    @app.function(id="blocker", triggers=[{"event": "block"}], retries=0)
    async def blocker(ctx):
        async def block():
            time.sleep(60)  # a blocking call in an async step: the whole loop stalls
        return await ctx.step.run("block", block)


    @app.function(id="regex", triggers=[{"event": "regex"}], retries=0)
    async def regex(ctx):
        async def backtrack():  # a C call holding the GIL: the worker's own watch is mute too
            return bool(re.match(r"(a+)+$", "a" * 40 + "b"))
        return await ctx.step.run("backtrack", backtrack)


    @app.function(id="quick", triggers=[{"event": "quick"}])
    async def quick(ctx):
        return await ctx.step.run("work", lambda: "done")


    @app.function(id="slowpoke", triggers=[{"event": "slowpoke"}], retries=2, backoff=["10ms"])
    async def slowpoke(ctx):
        def body(attempt):
            if attempt == 0:
                time.sleep(5)
            return f"attempt {attempt}"
        return await ctx.step.run("slow", lambda: body(ctx.attempt), timeout="200ms")
    """
)


class Server(DevProcess):
    """The faults app's server, with a short watchdog."""

    def __init__(self, root: Path) -> None:
        (root / "app.py").write_text(APP)
        marks = root / "marks"
        marks.mkdir()
        env = {
            "MARKS": str(marks),
            "DURABLE_BLOCKED_AFTER": "500ms",
            "DURABLE_WATCHDOG_INTERVAL": "100ms",
        }
        super().__init__(root, root / "app.py", env=env, reload=False)

    def start_run(self, name: str, data: dict[str, Any] | None = None) -> str:
        event_id = self.send({"name": name, "data": data or {}})[0]

        def run_id() -> str | None:
            events = self.get("/api/events")["events"]
            return next((e["run_ids"][0] for e in events if e["id"] == event_id), None)

        return str(wait_for(run_id, what=f"the run of {name}"))

    def ended(self, run_id: str, timeout: float = 20.0) -> dict[str, Any]:
        return dict(
            wait_for(
                lambda: (
                    (run := self.get(f"/api/runs/{run_id}"))["status"]
                    in ("completed", "failed", "cancelled")
                    and run
                ),
                timeout=timeout,
                what=f"run {run_id} to end",
            )
        )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path).start()
    yield running
    running.stop()


def step(run: dict[str, Any], key: str) -> dict[str, Any]:
    return next(s for s in run["steps"] if s["key"] == key)


def test_a_crash_is_charged_to_the_run_that_caused_it_not_to_its_neighbours(
    server: Server,
) -> None:
    innocent = server.start_run("innocent")
    crasher = server.start_run("crash")
    culprit = server.ended(crasher)
    bystander = server.ended(innocent)

    assert bystander["status"] == "completed", server.output()
    assert bystander["output"] == "ok"
    assert [a["error"] for a in step(bystander, "slow")["attempts"]] == [None]

    assert culprit["status"] == "failed"
    died = step(culprit, "die")
    assert died["status"] == "failed"
    assert len(died["attempts"]) == 2  # retries=1: both of its own deaths were charged
    assert {a["error"]["name"] for a in died["attempts"]} == {"WorkerDied"}
    assert "exit code 1" in died["attempts"][0]["error"]["message"]


def test_hung_sync_steps_do_not_block_another_function(server: Server) -> None:
    # one more than asyncio's default thread pool holds (six on two cores), which sync
    # steps used to share: the next sync step of any function queued behind them
    count = min(32, (os.cpu_count() or 1) + 4) + 1
    hung = [server.start_run("hang") for _ in range(count)]
    wait_for(
        lambda: all(server.get(f"/api/runs/{r}")["status"] == "running" for r in hung),
        what="the hung runs to be running",
    )
    quick = server.ended(server.start_run("quick"), timeout=10)
    assert quick["status"] == "completed"
    assert quick["output"] == "done"
    assert {server.get(f"/api/runs/{r}")["status"] for r in hung} == {"running"}


def test_cancelling_a_run_with_a_hung_step_frees_its_concurrency_slot(server: Server) -> None:
    stuck = server.start_run("single", {"hang": 60})
    wait_for(lambda: server.get(f"/api/runs/{stuck}")["status"] == "running", what="the hang")
    queued = server.start_run("single")
    assert server.get(f"/api/runs/{queued}")["status"] == "queued"  # concurrency=1
    server.client.post(f"/api/runs/{stuck}/cancel", json={}).raise_for_status()
    assert server.ended(stuck)["status"] == "cancelled"
    assert server.ended(queued, timeout=10)["status"] == "completed"


def test_a_blocked_event_loop_is_named_and_the_worker_replaced(server: Server) -> None:
    blocker = server.start_run("block")
    run = server.ended(blocker)
    assert run["status"] == "failed"
    attempts = step(run, "block")["attempts"]
    assert len(attempts) == 1
    error = attempts[0]["error"]
    assert error["name"] == "WorkerBlocked"
    assert error["message"].startswith("the worker's event loop was blocked for ")
    assert "s in step 'block' of function 'blocker'" in error["message"]
    assert "watchdog: the worker's event loop was blocked" in server.output()

    quick = server.ended(server.start_run("quick"), timeout=10)
    assert quick["status"] == "completed"


def test_a_loop_silenced_by_a_gil_holding_call_is_ended_by_the_servers_watchdog(
    server: Server,
) -> None:
    run = server.ended(server.start_run("regex"))
    assert run["status"] == "failed"
    [attempt] = step(run, "backtrack")["attempts"]
    assert attempt["error"]["name"] == "WorkerBlocked"
    assert attempt["error"]["message"].startswith("the worker's event loop did not answer for ")
    assert server.ended(server.start_run("quick"), timeout=10)["status"] == "completed"


def test_a_run_in_flight_beside_a_blocked_loop_is_rerun_uncharged(server: Server) -> None:
    innocent = server.start_run("innocent", {"seconds": 1.5})
    wait_for(lambda: (server.root / "marks" / "innocent-running").exists(), what="its step")
    blocker = server.start_run("block")
    assert server.ended(blocker)["status"] == "failed"
    bystander = server.ended(innocent)
    assert bystander["status"] == "completed"
    assert [a["error"] for a in step(bystander, "slow")["attempts"]] == [None]


def test_a_step_timeout_fails_the_attempt_by_name_and_retries_it(server: Server) -> None:
    run = server.ended(server.start_run("slowpoke"))
    assert run["status"] == "completed"
    assert run["output"] == "attempt 1"
    attempts = step(run, "slow")["attempts"]
    assert [a["error"] and a["error"]["name"] for a in attempts] == ["StepTimeout", None]
    assert attempts[0]["error"]["message"] == "step 'slow' of function 'slowpoke' exceeded 200ms"


def test_verdicts_charge_only_a_known_or_lone_culprit() -> None:
    from durable._engine.protocol import PassCrashed, PassInterrupted
    from durable.devserver.faults import Fault, SharedCrash, verdicts

    lone = verdicts(None, 1, {7: "r1"})[7]
    assert isinstance(lone, PassCrashed) and lone.name == "WorkerDied"
    assert str(lone) == "the worker process died (exit code 1) during the pass"

    shared = verdicts(None, -9, {1: "r1", 2: "r2"})
    assert all(isinstance(e, SharedCrash) for e in shared.values())

    named = verdicts(
        Fault("blocked 1 s in step 'x'", "WorkerBlocked", "r2", "x"), -9, {1: "r1", 2: "r2"}
    )
    assert type(named[1]) is PassInterrupted
    assert isinstance(named[2], PassCrashed)
    assert (named[2].name, named[2].step_keys, str(named[2])) == (
        "WorkerBlocked",
        ("x",),
        "blocked 1 s in step 'x'",
    )
