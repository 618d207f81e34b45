"""``durable dev --allow-host NAME``: more ``Host`` names the server answers (SPEC section 10)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from durable.cli import dev_run as dev_command
from durable.cli.main import app as cli
from durable.devserver.dev import launch as dev_launch
from tests.support.harness import DevProcess

APP = textwrap.dedent(
    """
    from durable import Durable

    app = Durable(id="hosts")

    @app.function(id="hello", triggers=[{"event": "demo/hello"}])
    async def hello(ctx):
        return "hi"
    """
)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def tui(
        self, args: list[str], host: str, port: int, db: str, *, fixtures: Path = Path("fixtures")
    ) -> int:
        self.calls.append(("tui", args))
        return 0

    def headless(self, options: Any) -> None:
        self.calls.append(("headless", options))


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder()
    monkeypatch.setattr(dev_command, "_dev_with_tui", recorder.tui)
    monkeypatch.setattr(dev_launch, "run", recorder.headless)
    return recorder


@pytest.mark.parametrize("terminal", [True, False])
def test_allow_host_reaches_the_server(
    monkeypatch: pytest.MonkeyPatch, recorder: Recorder, tmp_path: Path, terminal: bool
) -> None:
    """Headless, into the options; with the TUI, onto the server child's command line."""
    monkeypatch.setattr(dev_command, "stdout_is_terminal", lambda: terminal)
    flags = ["--allow-host", "dev.example", "--allow-host", "[fd00::1]"]
    result = CliRunner().invoke(cli, ["dev", str(tmp_path), "--no-reload", *flags])
    assert result.exit_code == 0, result.output
    [(kind, got)] = recorder.calls
    if terminal:
        assert kind == "tui" and got[-4:] == flags
    else:
        assert kind == "headless" and got.allow_hosts == ["dev.example", "[fd00::1]"]


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("dev.example:8288", "has a port"),
        ("http://dev.example", "not a host name"),
        ("dev example", "not a host name"),
        ("", "empty"),
        ("[fd00::1]:8288", "has a port"),
        ("[fd00::1", "not a host name"),
    ],
)
def test_a_bad_allow_host_is_a_usage_error(
    recorder: Recorder, tmp_path: Path, value: str, needle: str
) -> None:
    result = CliRunner().invoke(cli, ["dev", str(tmp_path), "--no-tui", "--allow-host", value])
    assert result.exit_code == 2, result.output
    assert "error: --allow-host:" in result.output and needle in result.output
    assert recorder.calls == []  # nothing started


def test_a_real_durable_dev_answers_allowed_names_only(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    server = DevProcess(
        tmp_path, tmp_path / "app.py", reload=False, extra_args=["--allow-host", "dev.example"]
    )
    server.start()
    try:
        port = server.port
        for host in (f"dev.example:{port}", f"localhost:{port}", f"127.0.0.1:{port}"):
            response = server.client.get("/health", headers={"host": host})
            assert response.status_code == 200, (host, response.text)
        refused = server.client.get("/api/events", headers={"host": f"evil.example:{port}"})
        assert refused.status_code == 421
        assert refused.json()["error"]["code"] == "misdirected_request"
        assert "dev.example" in refused.json()["error"]["message"]
        assert len(server.send({"name": "demo/hello"})) == 1  # a JSON POST from loopback
        form = server.client.post("/api/events", data={"name": "demo/hello"})
        assert form.status_code == 403
        assert form.json()["error"]["code"] == "unsupported_media_type"
    finally:
        server.stop()
