"""Helpers of the CLI tests: the type of the ``invoke`` fixture, ``durable replay`` in process.

The fixtures themselves (``invoke``, ``clean_imports``) are in ``tests/cli/conftest.py``.
"""

from __future__ import annotations

import contextlib
import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from typer.testing import CliRunner, Result

from durable.cli.main import app as cli

#: Runs ``durable ARGS...`` in process against a URL; returns click's result.
Invoke = Callable[..., Result]

#: The app module most replay tests load (``write_app`` writes it by default).
ORIGINAL = """
from durable import Context, Durable

app = Durable(id="shop")
CALLS = []


def body(name, value):
    def run():
        CALLS.append(name)
        return value
    return run


@app.function(
    id="order",
    triggers=[{"event": "order/created"}],
    cancel_on=[{"event": "order/cancelled", "if": "event.data.id == async.data.id"}],
)
async def order(ctx: Context):
    fetched = await ctx.step.run("fetch", body("fetch", {"amount": 7}))
    await ctx.step.sleep("pause", "2d")
    charge = await ctx.step.run("charge", body("charge", "ch_real"))
    return {"charge": charge, "amount": fetched["amount"]}
"""


@contextlib.contextmanager
def forgetting_imports() -> Iterator[None]:
    """Forget the user modules imported in the block (and the sys.path entries it added)."""
    modules, path = set(sys.modules), list(sys.path)
    yield
    for name in set(sys.modules) - modules:
        del sys.modules[name]
    sys.path[:] = path


def replay(*args: str | Path) -> Result:
    """``durable replay ARGS...`` in process."""
    return CliRunner().invoke(cli, ["replay", *map(str, args)], env={"COLUMNS": "200"})


def write_app(folder: Path, source: str = ORIGINAL) -> Path:
    """A uniquely named module (so no two tests share an import) holding ``source``."""
    path = folder / f"shop_{secrets.token_hex(4)}.py"
    path.write_text(source)
    return path
