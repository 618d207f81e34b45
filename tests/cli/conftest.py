"""Fixtures of the CLI tests: the real commands against a real dev server (``live_server``,
from ``tests/conftest.py``), and a clean import state for ``durable replay --app``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner, Result

from durable.cli.main import app
from tests.support.cli import Invoke, forgetting_imports
from tests.support.live import LiveServer


@pytest.fixture
def invoke(live_server: LiveServer) -> Invoke:
    """``invoke("runs", "--json")``: the CLI pointed at ``live_server`` (via $DURABLE_URL)."""
    runner = CliRunner()

    def run(*args: str, url: str | None = None, stdin: str | None = None) -> Result:
        env = {"DURABLE_URL": url or live_server.url, "COLUMNS": None}
        return runner.invoke(app, list(args), env=env, input=stdin)

    return run


@pytest.fixture
def clean_imports() -> Iterator[None]:
    """Forget the user modules a test imported (and the sys.path entries it added)."""
    with forgetting_imports():
        yield
