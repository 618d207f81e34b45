"""``make dev`` passes options to ``durable dev`` (``make -n`` prints the command, runs nothing)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def dev_command(*variables: str, env: dict[str, str] | None = None) -> list[str]:
    """The ``durable dev`` line ``make dev`` would run."""
    result = subprocess.run(
        ["make", "-n", "dev", *variables],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=True,
    )
    return next(line for line in result.stdout.splitlines() if "durable dev" in line).split()


def test_make_dev_passes_port_and_args() -> None:
    assert dev_command()[-2:] == ["dev", "examples/"]
    assert dev_command("PORT=9000")[-3:] == ["examples/", "--port", "9000"]
    command = dev_command("PORT=9001", "ARGS=--no-tui --db :memory:")
    assert command[command.index("examples/") + 1 :] == [
        "--port", "9001", "--no-tui", "--db", ":memory:",
    ]  # fmt: skip


def test_a_port_in_the_environment_is_not_taken() -> None:
    assert "--port" not in dev_command(env={"PORT": "5000"})
