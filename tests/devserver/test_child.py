"""``durable dev`` on a terminal: the server as a child logging to a file, the TUI in front."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.widgets import DataTable
from typer.testing import CliRunner

from durable.cli import dev_run as dev_command
from durable.cli.main import app as cli
from durable.devserver.dev import launch as dev_launch
from durable.devserver.dev.child import (
    ServerChild,
    ServerStartError,
    connect_host,
    log_path,
    port_in_use,
    run_with_tui,
    wants_tui,
)
from durable.tui.app import DurableApp
from tests.support.harness import free_port
from tests.support.tui_pilot import screen_text, until

APP = textwrap.dedent(
    """
    from durable import Durable

    app = Durable(id="child")


    @app.function(id="hello", triggers=[{"event": "demo/hello"}])
    async def hello(ctx):
        ctx.logger.info("hello from the worker")
        print("a print from the worker")
        return await ctx.step.run("greet", lambda: "hi " + ctx.event.data.get("who", "?"))
    """
)


@pytest.mark.parametrize(
    ("no_tui", "terminal", "expected"),
    [(False, True, True), (True, True, False), (False, False, False), (True, False, False)],
)
def test_the_tui_only_on_a_terminal_without_no_tui(
    no_tui: bool, terminal: bool, expected: bool
) -> None:
    assert wants_tui(no_tui, terminal) is expected


def test_log_beside_the_database_and_addresses_to_connect_to() -> None:
    assert log_path(".durable/dev.db") == Path(".durable/dev.log")
    assert log_path("/tmp/x/my.db") == Path("/tmp/x/dev.log")
    assert log_path(":memory:") == Path(".durable/dev.log")
    assert connect_host("0.0.0.0") == "127.0.0.1"
    assert connect_host("::1") == "[::1]"
    assert connect_host("localhost") == "localhost"


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def tui(
        self, args: list[str], host: str, port: int, db: str, *, fixtures: Path = Path("fixtures")
    ) -> int:
        self.calls.append(("tui", (args, host, port, db)))
        self.fixtures = fixtures
        return 0

    def headless(self, options: Any) -> None:
        self.calls.append(("headless", options))


@pytest.mark.parametrize(("terminal", "flags", "mode"), [
    (True, [], "tui"),
    (True, ["--no-tui"], "headless"),
    (False, [], "headless"),
])  # fmt: skip
def test_dev_picks_the_tui_or_plain_log_lines(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, terminal: bool, flags: list[str], mode: str
) -> None:
    recorder = Recorder()
    monkeypatch.setattr(dev_command, "_dev_with_tui", recorder.tui)
    monkeypatch.setattr(dev_launch, "run", recorder.headless)
    monkeypatch.setattr(dev_command, "stdout_is_terminal", lambda: terminal)
    args = [str(tmp_path), "--port", "8399", "--db", "x.db", "--no-reload", *flags]
    result = CliRunner().invoke(cli, ["dev", *args])
    assert result.exit_code == 0, result.output
    assert [kind for kind, _ in recorder.calls] == [mode]
    if mode == "tui":  # the child gets the same options back (and adds --no-tui itself)
        child_args, host, port, db = recorder.calls[0][1]
        assert child_args == [
            str(tmp_path), "--host", "127.0.0.1", "--port", "8399", "--db", "x.db", "--no-reload"
        ]  # fmt: skip
        assert (host, port, db) == ("127.0.0.1", 8399, "x.db")


def test_a_busy_port_is_refused_before_starting_anything(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert port_in_use("127.0.0.1", port)
        code = dev_command._dev_with_tui([], "127.0.0.1", port, str(tmp_path / "dev.db"))
    assert code == 2


def test_a_server_that_cannot_start_reports_its_log(tmp_path: Path) -> None:
    child = ServerChild([str(tmp_path / "missing")], "http://127.0.0.1:9", tmp_path / "dev.log")
    with pytest.raises(ServerStartError, match="does not exist"):
        child.start(timeout=30)
    assert child.exit_reason() is not None


def test_an_unwritable_log_folder_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setattr(dev_command, "stdout_is_terminal", lambda: True)
    db = tmp_path / "a-file" / "dev.db"  # its dev.log cannot be created
    args = [str(tmp_path / "app.py"), "--port", str(free_port()), "--db", str(db), "--no-reload"]
    result = CliRunner().invoke(cli, ["dev", *args])
    assert result.exit_code == 2, result.output
    assert f"error: cannot write the server log {tmp_path / 'a-file' / 'dev.log'}" in result.output
    assert "Traceback" not in result.output


def test_ctrl_c_while_the_server_starts_stops_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "app.py").write_text(APP)
    started: list[subprocess.Popen[bytes]] = []
    steps: list[str] = []

    def load_app() -> Callable[..., None]:  # the inspector is imported once the child runs
        steps.append(f"load app ({len(started)} server)")
        return drive_nothing

    def interrupted(self: ServerChild, timeout: float) -> None:
        steps.append("wait for /health")
        raise KeyboardInterrupt

    def spawn(self: ServerChild) -> None:
        real_spawn(self)
        assert self.process is not None
        started.append(self.process)

    real_spawn = ServerChild.spawn
    monkeypatch.setattr(ServerChild, "spawn", spawn)
    monkeypatch.setattr(ServerChild, "wait_ready", interrupted)
    args = [str(tmp_path / "app.py"), "--port", str(free_port()), "--db", str(tmp_path / "x.db")]
    try:
        with contextlib.suppress(KeyboardInterrupt):  # (before the fix it escaped, child alive)
            run_with_tui(args, "http://127.0.0.1:9", tmp_path / "dev.log", load_app)
        assert steps == ["load app (1 server)", "wait for /health"]
        assert started[0].poll() is not None  # the server child was stopped
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
                process.wait()


def drive_nothing(url: str, server_gone: Callable[[], str | None], server_log: Path) -> None:
    raise AssertionError("the app runs only once the server answers")


def drive(script: Callable[[DurableApp, Any], Any], seen: dict[str, Any]) -> Any:
    """A ``run_app`` for :func:`run_with_tui`: the inspector under a pilot instead of a tty."""

    def run_app(url: str, server_gone: Callable[[], str | None], server_log: Path) -> None:
        async def main() -> None:
            app = DurableApp(url, server_log=server_log, server_gone=server_gone)
            async with app.run_test(size=(140, 30)) as pilot:
                await script(app, pilot)
            seen["gone_while_running"] = server_gone()

        asyncio.run(main())

    return run_app


def test_dev_with_the_tui_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "app.py").write_text(APP)
    monkeypatch.chdir(tmp_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ["app.py", "--port", str(port), "--db", ".durable/dev.db", "--no-reload"]
    seen: dict[str, Any] = {}

    async def script(app: DurableApp, pilot: Any) -> None:
        await until(pilot, lambda: app.connection.state == "connected", 20, "the server")
        runs = await until(pilot, lambda: app.screen.query_one("#runs", DataTable))
        async with httpx.AsyncClient(base_url=url) as client:
            response = await client.post("/api/events", json={"name": "demo/hello"})
            assert response.status_code == 200
        await until(pilot, lambda: runs.row_count == 1, 20, "the run")
        await until(pilot, lambda: "completed" in str(runs.get_row_at(0)[0]), 20, "completed")
        text = screen_text(app)
        assert url in text and "durable dev · log .durable/dev.log" in text
        seen["text"] = text
        await pilot.press("q")

    load_app = functools.partial(drive, script, seen)
    assert run_with_tui(args, url, Path(".durable/dev.log"), load_app) == 0
    assert seen["gone_while_running"] is None  # the server ran under the TUI…
    assert not port_in_use("127.0.0.1", port)  # …and is gone once it quit
    log = (tmp_path / ".durable" / "dev.log").read_text()
    assert "a print from the worker" in log and "completed" in log  # in the file, not the TUI
    assert "a print from the worker" not in seen["text"]


def test_dev_passes_fixtures_to_the_inspector(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    recorder = Recorder()
    monkeypatch.setattr(dev_command, "_dev_with_tui", recorder.tui)
    monkeypatch.setattr(dev_command, "stdout_is_terminal", lambda: True)
    args = [str(tmp_path), "--no-reload", "--fixtures", str(tmp_path / "recorded")]
    result = CliRunner().invoke(cli, ["dev", *args])
    assert result.exit_code == 0, result.output
    assert recorder.fixtures == tmp_path / "recorded"
    assert "--fixtures" not in recorder.calls[0][1][0]  # the server child has no use for it

    from durable.tui.app import DurableApp

    opened: list[Path] = []
    monkeypatch.setattr(DurableApp, "run", lambda self: opened.append(self.fixtures_dir))
    dev_command._load_inspector(tmp_path / "recorded")("http://x", lambda: None, tmp_path / "l")
    assert opened == [tmp_path / "recorded"]
