"""``durable replay``: what the app logs while a fixture replays is shown with that fixture."""

from __future__ import annotations

import json
import logging
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from durable.cli.main import app as cli

APP = """
import logging

from durable import Context, Durable

app = Durable(id="noisy")
log = logging.getLogger("noisy.module")


@app.function(id="order", triggers=[{"event": "order/created"}])
async def order(ctx: Context):
    log.warning("low stock for %s", ctx.event.data["id"])
    ctx.logger.error("order %s looks odd", ctx.event.data["id"])
    log.info("not shown: below the default level")
    return await ctx.step.run("charge", lambda: "ch_real")
"""


def fixture(order_id: str) -> dict[str, object]:
    return {
        "function": "order",
        "event": {"name": "order/created", "data": {"id": order_id}, "ts": 1_767_225_600_000},
        "steps": {"charge": {"kind": "run", "output": "ch_1"}},
        "expect": {"status": "completed", "output": "ch_1", "steps": ["charge"]},
    }


@pytest.fixture
def noisy(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    modules, path = set(sys.modules), list(sys.path)
    app = tmp_path / f"noisy_{secrets.token_hex(4)}.py"
    app.write_text(APP)
    folder = tmp_path / "fx"
    folder.mkdir()
    for order_id in ("o-1", "o-2"):
        (folder / f"{order_id}.json").write_text(json.dumps(fixture(order_id)))
    yield app, folder
    for name in set(sys.modules) - modules:
        del sys.modules[name]
    sys.path[:] = path


def test_log_lines_are_printed_under_their_fixture(noisy: tuple[Path, Path]) -> None:
    app, folder = noisy
    handlers = logging.getLogger().handlers[:]
    result = CliRunner().invoke(
        cli, ["replay", str(folder), "--app", str(app)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # nothing on stderr with no fixture named
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"✔ {folder / 'o-1.json'} ")
    assert lines[1:3] == [
        "    log warning noisy.module: low stock for o-1",
        "    log error durable: order o-1 looks odd",
    ]
    assert lines[3].startswith(f"✔ {folder / 'o-2.json'} ")
    assert lines[4:6] == [
        "    log warning noisy.module: low stock for o-2",
        "    log error durable: order o-2 looks odd",
    ]
    assert lines[6] == "2 passed, 0 failed"
    assert logging.getLogger().handlers == handlers  # put back as they were


def test_json_lines_carry_their_logs(noisy: tuple[Path, Path]) -> None:
    app, folder = noisy
    result = CliRunner().invoke(cli, ["replay", str(folder), "--app", str(app), "--json"])
    assert result.exit_code == 0, result.output
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["fixture"].endswith("o-1.json")
    assert first["logs"] == [
        "warning noisy.module: low stock for o-1",
        "error durable: order o-1 looks odd",
    ]
    assert second["logs"][0] == "warning noisy.module: low stock for o-2"
