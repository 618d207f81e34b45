"""Run as the program, the command line imports only the command it is given: ``durable dev``
reaches its worker's spawn sooner (``bench/restart.py``) without the other commands' imports.
"""

from __future__ import annotations

import subprocess
import sys

from durable.cli.main import COMMANDS, app, wanted_commands

PROBE = """
import runpy, sys
sys.argv = ["durable", *sys.argv[1:]]
try:
    runpy.run_module("durable.cli.main", run_name="__main__", alter_sys=True)
except SystemExit:
    pass
print(sorted(m.rsplit(".", 1)[1] for m in sys.modules if m.startswith("durable.cli.")
             and m.rsplit(".", 1)[1] in {"cancel", "dev", "export", "replay", "runs", "send"}))
print("durable._timeline" in sys.modules)
"""


def probe(*argv: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=60
    )
    return done.stdout.strip().splitlines()[-2:]


def imported_commands(*argv: str) -> str:
    return probe(*argv)[0]


def test_durable_dev_imports_no_other_command_and_no_timeline() -> None:
    assert probe("dev", "--help") == ["['dev']", "False"]  # (durable.presentation's is lazy)


def test_the_root_help_and_an_unknown_command_still_see_every_command() -> None:
    assert imported_commands("--help") == "['cancel', 'dev', 'export', 'replay', 'runs', 'send']"
    assert wanted_commands(["durable", "devv"], as_program=True) == COMMANDS
    assert wanted_commands(["durable", "dev"], as_program=False) == COMMANDS
    assert wanted_commands(["durable", "--version", "send"], as_program=True) == ["send"]


def test_imported_as_a_module_the_app_has_every_command() -> None:
    names = {command.name or command.callback.__name__ for command in app.registered_commands}
    assert set(COMMANDS) <= names
