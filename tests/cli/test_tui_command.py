"""``durable tui``: the URL it attaches to, and a bad one refused before the TUI starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from durable.cli.main import app
from durable.tui import app as tui_app


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    calls: list[tuple[str, Any]] = []
    monkeypatch.setattr(
        tui_app, "run_tui", lambda url, *, fixtures_dir: calls.append((url, fixtures_dir))
    )
    return calls


@pytest.mark.parametrize(("args", "env", "url"), [
    ([], {}, "http://127.0.0.1:8288"),
    ([], {"DURABLE_URL": "http://127.0.0.1:9000/"}, "http://127.0.0.1:9000"),
    (["--url", "http://h:1"], {"DURABLE_URL": "http://127.0.0.1:9000"}, "http://h:1"),
])  # fmt: skip
def test_the_url_comes_from_the_option_the_environment_or_the_default(
    opened: list[tuple[str, Any]], args: list[str], env: dict[str, str], url: str
) -> None:
    result = CliRunner().invoke(app, ["tui", *args], env={"DURABLE_URL": None, **env})
    assert result.exit_code == 0, result.output
    assert opened == [(url, Path("fixtures"))]


def test_a_url_without_a_scheme_exits_2(opened: list[tuple[str, Any]]) -> None:
    result = CliRunner().invoke(app, ["tui", "--url", "localhost:8288"])
    assert result.exit_code == 2 and "must start with http://" in result.output
    assert opened == []
