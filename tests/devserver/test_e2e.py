"""A real ``durable dev`` subprocess on a free port: events in, timelines out, crashes survived."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    root: Path
    ledger: Path
    process: subprocess.Popen[bytes]
    port: int

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(self.url + path, params=params, timeout=5)
        response.raise_for_status()
        return response.json()

    def send(self, name: str, data: dict[str, Any] | None = None) -> str:
        response = httpx.post(
            self.url + "/api/events", json={"name": name, "data": data or {}}, timeout=5
        )
        response.raise_for_status()
        return str(response.json()["ids"][0])

    def runs(self, **params: Any) -> list[dict[str, Any]]:
        return list(self.get("/api/runs", limit=200, **params)["runs"])

    def ledger_lines(self) -> list[str]:
        return self.ledger.read_text().splitlines() if self.ledger.exists() else []


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (httpx.HTTPError, KeyError, IndexError):
            value = None
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def start_server(root: Path, port: int, ledger: Path) -> Server:
    env = {**os.environ, "LEDGER": str(ledger), "PYTHONUNBUFFERED": "1"}
    log = (root / "server.log").open("ab")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "durable.cli.main",
            "dev",
            str(root / "app.py"),
            "--port",
            str(port),
            "--db",
            str(root / "dev.db"),
            "--no-tui",
        ],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()  # the child has its own copy
    server = Server(f"http://127.0.0.1:{port}", root, ledger, process, port)
    try:
        wait_for(lambda: server.get("/health"), what="the server to answer /health")
    except AssertionError:
        process.kill()
        process.wait(timeout=5)
        output = (root / "server.log").read_text(errors="replace")
        raise AssertionError(f"durable dev did not start:\n{output}") from None
    return server


def kill_group(server: Server) -> None:
    os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=10)


def stop(server: Server) -> str:
    if server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGTERM)
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        kill_group(server)
    return (server.root / "server.log").read_text(errors="replace")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    (tmp_path / "app.py").write_text(APP)
    running = start_server(tmp_path, free_port(), tmp_path / "ledger.txt")
    yield running
    stop(running)


def completed(server: Server, function: str, count: int) -> list[dict[str, Any]]:
    runs = [r for r in server.runs(function=function) if r["status"] == "completed"]
    return runs if len(runs) >= count else []


def test_an_event_runs_in_a_worker_and_the_timeline_comes_back(server: Server) -> None:
    server.send("job/start", {"n": 1})
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
    server.send("job/crash")
    run = wait_for(lambda: completed(server, "crasher", 1), what="the crasher to survive")[0]
    assert run["output"] == "survived"
    assert server.get("/health")["status"] == "ok"
    server.send("job/start", {"n": 2})
    wait_for(lambda: completed(server, "pipeline", 1), what="a run after the crash")


def test_kill_9_of_the_process_group_loses_nothing(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    ledger, port = tmp_path / "ledger.txt", free_port()
    first = start_server(tmp_path, port, ledger)
    try:
        for n in range(10):
            first.send("job/start", {"n": n, "pause": "1s"})
        wait_for(lambda: len(first.ledger_lines()) >= 10, what="every first step")
    finally:
        kill_group(first)
    done_before = set(first.ledger_lines())

    second = start_server(tmp_path, port, ledger)
    try:
        runs = wait_for(lambda: completed(second, "pipeline", 10), timeout=30, what="10 runs")
        assert len(runs) == 10
        lines = second.ledger_lines()
        assert len(set(lines)) == 20  # every step of every run ran
        for n in range(10):  # a committed step never ran twice
            assert lines.count(f"{n}:a") == 1, lines
        assert done_before <= set(lines)
    finally:
        stop(second)


def test_hot_reload_puts_new_code_live(server: Server) -> None:
    app_file = server.root / "app.py"
    app_file.write_text(APP.replace('"v1"', '"v2"'))
    began = time.monotonic()
    wait_for(lambda: server.get("/health").get("reloads", 0) >= 1, what="a reload")
    assert time.monotonic() - began < 5
    server.send("job/version")
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
    server.send("job/version")
    run = wait_for(lambda: completed(server, "version", 1), what="a run on the old code")[0]
    assert run["output"] == "v1"

    app_file.write_text(APP.replace('"v1"', '"v4"'))
    wait_for(lambda: not server.get("/api/functions")["errors"], what="the fix to load")
    server.send("job/version")
    runs = wait_for(lambda: completed(server, "version", 2), what="a run on the fixed code")
    assert runs[0]["output"] == "v4"
