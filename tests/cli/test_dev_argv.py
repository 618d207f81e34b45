"""``durable dev`` reads a plain command line without typer (``durable.cli.dev_argv``), into
the very arguments typer would have made; anything else still goes through typer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from durable.cli import dev as dev_command
from durable.cli.dev_argv import FLAGS, VALUED, parse_dev_argv
from durable.cli.dev_run import DevArgs
from durable.cli.main import app

PLAIN = [
    [],
    ["app.py"],
    ["a.py", "b.py", "--no-tui"],
    ["--no-tui", "app.py", "--port", "9001", "--host", "0.0.0.0"],
    ["--port=9001", "--db=:memory:", "--fsync", "--no-reload"],
    ["--fsync", "--no-fsync"],
    ["--port", "9001", "--port", "9002"],
    ["--allow-host", "a.example", "--allow-host=b.example"],
    ["--signing-key", "k1", "--event-key", "e1", "--event-key", "e2"],
    ["--retry-interval", "2s", "--retention", "0", "--fixtures", "fx"],
    ["--import-timeout", "2.5", "--dead-after", "1e1"],
    ["--port", "+80", "--import-timeout", "inf"],
]

FOR_TYPER = [
    ["--help"],
    ["--bogus"],
    ["--port", "x"],
    ["--port"],
    ["--port="],
    ["--host", "--no-tui"],
    ["--", "app.py"],
    ["--no-tui=1"],
    ["-"],
    ["--import-timeout", "soon"],
]


def typers_reading(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> DevArgs:
    """The DevArgs typer hands to the command's body for ``durable dev ARGV``."""
    seen: list[DevArgs] = []

    def record(args: DevArgs) -> int:
        seen.append(args)
        return 0

    monkeypatch.setattr(dev_command, "run_dev", record)
    result = CliRunner().invoke(app, ["dev", *argv], env={"DURABLE_SIGNING_KEY": None})
    assert result.exit_code == 0, result.output
    [args] = seen
    return args


def test_the_table_names_every_option_of_the_typer_command() -> None:
    command: Any = typer.main.get_command(app)  # a group of typer's own (vendored) click
    params = command.commands["dev"].params
    names: dict[str, Any] = {}
    for param in params:
        if param.param_type_name == "option":
            for name in [*param.opts, *param.secondary_opts]:
                names[name] = param
    assert set(names) == set(VALUED) | set(FLAGS)
    for name, param in names.items():
        assert (name in FLAGS) == param.is_flag, name
        field_name = (FLAGS.get(name) or VALUED[name])[0]
        assert field_name == param.name, name
        if param.multiple:
            assert field_name in {"allow_host", "event_key"}, name
    [argument] = [param for param in params if param.param_type_name == "argument"]
    assert argument.name == "paths" and argument.nargs == -1


@pytest.mark.parametrize("argv", PLAIN, ids=" ".join)
def test_a_plain_command_line_reads_as_typer_reads_it(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert parse_dev_argv(argv, environ={}) == typers_reading(argv, monkeypatch)


@pytest.mark.parametrize("argv", FOR_TYPER, ids=" ".join)
def test_anything_else_is_left_to_typer(argv: list[str]) -> None:
    assert parse_dev_argv(argv, environ={}) is None


def test_the_signing_key_comes_from_the_environment_unless_given() -> None:
    environ = {"DURABLE_SIGNING_KEY": "from-env"}
    from_env = parse_dev_argv([], environ=environ)
    given = parse_dev_argv(["--signing-key", "given"], environ=environ)
    assert from_env is not None and from_env.signing_key == "from-env"
    assert given is not None and given.signing_key == "given"
    empty = parse_dev_argv([], environ={"DURABLE_SIGNING_KEY": ""})
    assert empty is not None and empty.signing_key is None


def run_dev_command(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    return subprocess.run(
        [sys.executable, "-m", "durable.cli.main", "dev", *argv],
        cwd=cwd, capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip


def imported(stderr: str) -> set[str]:
    """The modules named by ``PYTHONPROFILEIMPORTTIME``'s lines."""
    return {line.rsplit("|", 1)[-1].strip() for line in stderr.splitlines() if "|" in line}


def test_durable_dev_runs_without_importing_typer(tmp_path: Path) -> None:
    """A plain command line's own errors come from the same checks, typer never imported."""
    result = run_dev_command("missing.py", "--no-tui", cwd=tmp_path)
    assert result.returncode == 2
    assert "error: missing.py does not exist" in result.stderr
    assert "typer" not in imported(result.stderr)
    assert "durable.cli.dev_run" in imported(result.stderr)


def test_a_usage_error_still_gets_typers_message(tmp_path: Path) -> None:
    result = run_dev_command("--port", "x", cwd=tmp_path)
    assert result.returncode == 2
    assert "error: invalid value for '--port': 'x' is not a valid int" in result.stderr
    assert "typer" in imported(result.stderr)
