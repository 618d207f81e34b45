"""CLI tests run the real commands against a real dev server (``live_server``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from typer.testing import CliRunner, Result

from durable.cli.main import app
from tests.devserver.conftest import LiveServer, live_server, wait_for

__all__ = ["LiveServer", "live_server", "wait_for"]

#: Runs ``durable ARGS...`` in process against a URL; returns click's result.
Invoke = Callable[..., Result]


@pytest.fixture
def invoke(live_server: LiveServer) -> Invoke:
    """``invoke("runs", "--json")``: the CLI pointed at ``live_server`` (via $DURABLE_URL)."""
    runner = CliRunner()

    def run(*args: str, url: str | None = None, stdin: str | None = None) -> Result:
        env = {"DURABLE_URL": url or live_server.url, "COLUMNS": None}
        return runner.invoke(app, list(args), env=env, input=stdin)

    return run
