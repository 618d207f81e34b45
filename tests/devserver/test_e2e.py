"""A real ``durable dev`` subprocess on a free port: events in, timelines out, crashes survived."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.harness import DevProcess, wait_for

APP = textwrap.dedent(
    """
    import os
    from pathlib import Path
    from durable import Durable

    app = Durable(id="e2e")
    LEDGER = Path(os.environ["LEDGER"])


    def record(name):
        with LEDGER.open("a") as f:
            f.write(name + "\\n")
        return name


    @app.function(id="pipeline", triggers=[{"event": "job/start"}], backoff=["20ms"])
    async def pipeline(ctx):
        n = ctx.event.data["n"]
        a = await ctx.step.run("a", record, f"{n}:a")
        await ctx.step.sleep("pause", ctx.event.data.get("pause", "10ms"))
        b = await ctx.step.run("b", record, f"{n}:b")
        return [a, b]


    @app.function(id="crasher", triggers=[{"event": "job/crash"}], retries=1, backoff=["20ms"])
    async def crasher(ctx):
        def die():
            if ctx.attempt == 0:
                os._exit(13)
            return "survived"
        return await ctx.step.run("die", die)


    @app.function(id="version", triggers=[{"event": "job/version"}])
    async def version(ctx):
        return await ctx.step.run("v", lambda: "v1")
    """
)


class Server(DevProcess):
    """The e2e app's server, with the ledger its step bodies append to."""

    def __init__(self, root: Path, *, port: int | None = None) -> None:
        (root / "app.py").write_text(APP) if not (root / "app.py").exists() else None
        self.ledger = root / "ledger.txt"
        super().__init__(root, root / "app.py", port=port, env={"LEDGER": str(self.ledger)})

    def send_one(self, name: str, data: dict[str, Any] | None = None) -> str:
        return self.send({"name": name, "data": data or {}})[0]

    def ledger_lines(self) -> list[str]:
        return self.ledger.read_text().splitlines() if self.ledger.exists() else []


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path).start()
    yield running
    running.stop()


def completed(server: Server, function: str, count: int) -> list[dict[str, Any]]:
    runs = [r for r in server.runs(function=function) if r["status"] == "completed"]
    return runs if len(runs) >= count else []


def test_an_event_runs_in_a_worker_and_the_timeline_comes_back(server: Server) -> None:
    server.send_one("job/start", {"n": 1})
    run = wait_for(lambda: completed(server, "pipeline", 1), what="the run")[0]
    detail = server.get(f"/api/runs/{run['run_id']}")
    assert detail["output"] == ["1:a", "1:b"]
    assert [(s["key"], s["kind"], s["status"]) for s in detail["steps"]] == [
        ("a", "run", "completed"),
        ("pause", "sleep", "completed"),
        ("b", "run", "completed"),
    ]
    assert all(s["attempts"][0]["started_at"] for s in detail["steps"] if s["kind"] == "run")
    assert server.ledger_lines() == ["1:a", "1:b"]


def test_a_worker_that_exits_is_replaced_and_the_step_retried(server: Server) -> None:
    server.send_one("job/crash")
    run = wait_for(lambda: completed(server, "crasher", 1), what="the crasher to survive")[0]
    assert run["output"] == "survived"
    assert server.get("/health")["status"] == "ok"
    server.send_one("job/start", {"n": 2})
    wait_for(lambda: completed(server, "pipeline", 1), what="a run after the crash")


def test_kill_9_of_the_process_group_loses_nothing(tmp_path: Path) -> None:
    first = Server(tmp_path).start()
    try:
        for n in range(10):
            first.send_one("job/start", {"n": n, "pause": "3s"})
        # every first step committed (its run asleep), not merely run: a body that ran but was
        # not committed when the kill came runs again, and that is no double execution
        wait_for(
            lambda: [r["status"] for r in first.runs(function="pipeline")] == ["sleeping"] * 10,
            what="every first step committed",
        )
    finally:
        first.kill()
    done_before = set(first.ledger_lines())

    second = Server(tmp_path, port=first.port).start()
    try:
        runs = wait_for(lambda: completed(second, "pipeline", 10), timeout=30, what="10 runs")
        assert len(runs) == 10
        lines = second.ledger_lines()
        assert len(set(lines)) == 20  # every step of every run ran
        for n in range(10):  # a committed step never ran twice
            assert lines.count(f"{n}:a") == 1, lines
        assert done_before <= set(lines)
    finally:
        second.stop()


def test_hot_reload_puts_new_code_live(server: Server) -> None:
    app_file = server.root / "app.py"
    app_file.write_text(APP.replace('"v1"', '"v2"'))
    began = time.monotonic()
    wait_for(lambda: server.get("/health").get("reloads", 0) >= 1, what="a reload")
    assert time.monotonic() - began < 5
    server.send_one("job/version")
    run = wait_for(lambda: completed(server, "version", 1), what="the run on new code")[0]
    assert run["output"] == "v2"


def test_a_broken_module_keeps_the_last_good_version_until_fixed(server: Server) -> None:
    app_file = server.root / "app.py"
    app_file.write_text(APP.replace('"v1"', '"v3"') + "\ndef broken(:\n")
    functions = wait_for(
        lambda: (body := server.get("/api/functions"))["errors"] and body,
        what="the registration error",
    )
    error = functions["errors"][0]
    assert error["file"].endswith("app.py")
    assert error["line"] == len((APP + "\ndef broken(:\n").splitlines())
    assert "SyntaxError" in error["message"]
    assert {f["id"] for f in functions["functions"]} == {"pipeline", "crasher", "version"}
    server.send_one("job/version")
    run = wait_for(lambda: completed(server, "version", 1), what="a run on the old code")[0]
    assert run["output"] == "v1"

    app_file.write_text(APP.replace('"v1"', '"v4"'))
    wait_for(lambda: not server.get("/api/functions")["errors"], what="the fix to load")
    server.send_one("job/version")
    runs = wait_for(lambda: completed(server, "version", 2), what="a run on the fixed code")
    assert runs[0]["output"] == "v4"
