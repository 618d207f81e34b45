"""Fault hardening through a real ``durable dev`` and its worker process.

Unencodable text, oversized errors and ``SystemExit`` cross the worker socket here: they must
end as named errors of their own run, never a hung socket that stalls unrelated runs.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from durable._limits import MAX_EVENT_BYTES
from durable.devserver.api import MAX_REASON_CHARS
from tests.support.harness import TERMINAL, DevProcess, wait_for

APP = textwrap.dedent(
    """
    import asyncio
    import os
    import time
    from pathlib import Path
    from durable import Durable, StepError

    app = Durable(id="faults")
    LEDGER = Path(os.environ["LEDGER"])
    BAD = "report-\\udcff.csv"


    def record(name):
        with LEDGER.open("a") as f:
            f.write(name + "\\n")


    @app.function(id="bad-error", triggers=[{"event": "t/bad-error"}], retries=0)
    async def bad_error(ctx):
        def body():
            raise FileNotFoundError(f"cannot open {BAD}")
        await ctx.step.run("open", body)


    @app.function(id="bad-result", triggers=[{"event": "t/bad-result"}], retries=0)
    async def bad_result(ctx):
        return await ctx.step.run("list", lambda: [BAD])


    @app.function(id="bad-log", triggers=[{"event": "t/bad-log"}])
    async def bad_log(ctx):
        ctx.logger.info("listing %s", BAD)
        def body():
            ctx.logger.warning("skipping %s", BAD)
            return "done"
        return await ctx.step.run("scan", body)


    @app.function(id="quitter", triggers=[{"event": "t/quit"}], retries=2, backoff=["10ms"])
    async def quitter(ctx):
        def body():
            record("quit")
            raise SystemExit(3)
        await ctx.step.run("quit", body)


    @app.function(id="interrupted", triggers=[{"event": "t/kbd"}], retries=1, backoff=["10ms"])
    async def interrupted(ctx):
        async def body():
            record("kbd")
            raise KeyboardInterrupt
        await ctx.step.run("kbd", body)


    @app.function(id="giant", triggers=[{"event": "t/giant"}], retries=0)
    async def giant(ctx):
        def body():
            raise ValueError("g" * 70_000_000)
        await ctx.step.run("explode", body)


    @app.function(id="slow", triggers=[{"event": "t/slow"}])
    async def slow(ctx):
        def body():
            record("slow started")
            time.sleep(1.0)
            return "slow done"
        return await ctx.step.run("work", body)


    @app.function(id="child", triggers=[{"event": "t/child"}], retries=0)
    async def child(ctx):
        def body():
            raise ValueError("c" * 600_000)
        await ctx.step.run("explode", body)


    @app.function(id="parent", triggers=[{"event": "t/parent"}], retries=0)
    async def parent(ctx):
        try:
            await ctx.step.invoke("call", function="child", timeout="1h")
        except StepError as exc:
            return [exc.name, len(exc.message)]
        return None


    @app.function(id="napper", triggers=[{"event": "t/nap"}])
    async def napper(ctx):
        await ctx.step.sleep("nap", "1h")
    """
)


class Server(DevProcess):
    """The faults app's server, with the ledger its step bodies append to."""

    def __init__(self, root: Path) -> None:
        (root / "app.py").write_text(APP)
        self.ledger = root / "ledger.txt"
        super().__init__(root, root / "app.py", env={"LEDGER": str(self.ledger)}, reload=False)

    def start_run(self, name: str) -> str:
        event_id = self.send({"name": name, "data": {}})[0]

        def run_id() -> str | None:
            for event in self.get("/api/events", limit=200)["events"]:
                if event["id"] == event_id and event["run_ids"]:
                    return str(event["run_ids"][0])
            return None

        return str(wait_for(run_id, what=f"the run of {name}"))

    def ended(self, run_id: str, timeout: float = 20.0) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            run: dict[str, Any] = self.get(f"/api/runs/{run_id}")
            return run if run["status"] in TERMINAL else None

        return dict(wait_for(done, timeout, f"run {run_id} to end"))

    def system_events(self, name: str, run_id: str) -> list[dict[str, Any]]:
        events = self.get("/api/events", name=name, limit=200)["events"]
        return [e for e in events if e["data"].get("run_id") == run_id]

    def ledger_lines(self) -> list[str]:
        return self.ledger.read_text().splitlines() if self.ledger.exists() else []


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("faults"))
    running.start()
    yield running
    running.stop()


def event_size(event: dict[str, Any]) -> int:
    raw = {key: event[key] for key in ("name", "data", "id", "ts")}
    return len(json.dumps(raw, ensure_ascii=False, separators=(",", ":")).encode())


def test_a_lone_surrogate_in_a_step_error_fails_the_run_with_the_text_replaced(
    server: Server,
) -> None:
    run = server.ended(server.start_run("t/bad-error"))
    assert run["status"] == "failed"
    assert run["error"]["name"] == "StepError"
    assert "cannot open report-\ufffd.csv" in run["error"]["message"]
    step = run["steps"][0]
    assert step["error"]["name"] == "FileNotFoundError"
    assert step["error"]["message"] == "cannot open report-\ufffd.csv"
    assert len(server.system_events("durable/function.failed", run["run_id"])) == 1


def test_a_lone_surrogate_in_a_step_result_is_a_named_error(server: Server) -> None:
    run = server.ended(server.start_run("t/bad-result"))
    assert run["status"] == "failed"
    assert run["error"]["name"] == "SerializationError"
    message = run["error"]["message"]
    assert "step 'list'" in message and "function 'bad-result'" in message
    assert "lone UTF-16 surrogate" in message


def test_a_lone_surrogate_in_a_log_line_is_stored_replaced(server: Server) -> None:
    run = server.ended(server.start_run("t/bad-log"))
    assert run["status"] == "completed" and run["output"] == "done"
    logs = server.get(f"/api/runs/{run['run_id']}/logs")["logs"]
    assert [(line["message"], line["step"]) for line in logs] == [
        ("listing report-\ufffd.csv", None),
        ("skipping report-\ufffd.csv", "scan"),
    ]


def test_system_exit_in_a_worker_step_is_a_failed_attempt(server: Server) -> None:
    run = server.ended(server.start_run("t/quit"))
    assert run["status"] == "failed"
    assert server.ledger_lines().count("quit") == 3  # retries + 1, not once per handler retry
    step = run["steps"][0]
    assert step["key"] == "quit" and step["status"] == "failed"
    assert [a["error"]["name"] for a in step["attempts"]] == ["SystemExit"] * 3
    assert run["error"]["message"] == "step 'quit' failed: SystemExit: 3"


def test_keyboard_interrupt_in_a_worker_step_is_a_failed_attempt(server: Server) -> None:
    run = server.ended(server.start_run("t/kbd"))
    assert run["status"] == "failed"
    assert server.ledger_lines().count("kbd") == 2
    assert [a["error"]["name"] for a in run["steps"][0]["attempts"]] == ["KeyboardInterrupt"] * 2
    assert server.get("/health")["status"] == "ok"


def test_a_70mb_step_error_fails_its_run_and_an_unrelated_run_completes(
    server: Server,
) -> None:
    slow_id = server.start_run("t/slow")
    wait_for(lambda: "slow started" in server.ledger_lines(), what="the slow step to start")
    giant = server.ended(server.start_run("t/giant"), timeout=60)
    slow = server.ended(slow_id, timeout=30)
    assert slow["status"] == "completed" and slow["output"] == "slow done"
    assert giant["status"] == "failed"
    message = giant["steps"][0]["error"]["message"]
    assert message.startswith("ggg") and "[trimmed " in message
    assert len(message) <= 64 * 1024
    events = server.system_events("durable/function.failed", giant["run_id"])
    assert len(events) == 1 and event_size(events[0]) <= MAX_EVENT_BYTES


def test_a_600kb_child_failure_reaches_its_parent_at_once(server: Server) -> None:
    parent = server.ended(server.start_run("t/parent"), timeout=20)  # its invoke timeout is 1h
    assert parent["status"] == "completed"
    name, length = parent["output"]
    assert name == "ValueError" and length <= 64 * 1024
    child_id = parent["steps"][0]["detail"]["child_run_id"]
    child = server.get(f"/api/runs/{child_id}")
    assert child["status"] == "failed"
    events = server.system_events("durable/function.failed", child_id)
    assert len(events) == 1
    assert event_size(events[0]) <= MAX_EVENT_BYTES
    assert "[trimmed " in events[0]["data"]["error"]["message"]


def test_a_600kb_cancel_reason_is_a_400_and_cancels_nothing(server: Server) -> None:
    run_id = server.start_run("t/nap")
    wait_for(lambda: server.get(f"/api/runs/{run_id}")["status"] == "sleeping", what="a nap")
    response = server.client.post(f"/api/runs/{run_id}/cancel", json={"reason": "r" * 600_000})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_body" and "'reason'" in error["message"]
    assert f"{MAX_REASON_CHARS:,}" in error["message"]
    assert server.get(f"/api/runs/{run_id}")["status"] == "sleeping"
    assert server.system_events("durable/function.cancelled", run_id) == []

    longest = "r" * MAX_REASON_CHARS
    response = server.client.post(f"/api/runs/{run_id}/cancel", json={"reason": longest})
    assert response.status_code == 200
    assert response.json()["cancel_reason"] == longest
    events = server.system_events("durable/function.cancelled", run_id)
    assert [e["data"]["reason"] for e in events] == [longest]
