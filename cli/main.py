"""The `durable` typer app and its console-script entry point.

Commands stay thin: parse options, call into `durable`, `durable.devserver` or `durable.tui`,
print with rich (or `--json`), and exit 0 (ok), 1 (check failed) or 2 (usage or input error).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

from durable.devserver import exit_on_ctrl_c, interrupted, usual_ctrl_c


def interrupt_exit_code(command: str | None) -> int:
    """The exit code of a Ctrl-C: 0 for ``durable dev`` (Ctrl-C is how it is stopped, at any
    moment: docs/cli.md), 130 for the other commands."""
    return 0 if command == "dev" else 130


def _command(argv: list[str]) -> str | None:
    """The command ``argv`` names, before it is parsed (the root takes no option values)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def _as_program() -> bool:
    """Whether this module runs as the program (the console script, ``python -m``), not
    imported by tests."""
    return __name__ == "__main__" or Path(sys.argv[0]).name == "durable"


# Ctrl-C while the command line loads (typer, rich, the commands: a fifth of a second) and
# parses its arguments exits quietly (no traceback of an import); main() sets it again.
exit_on_ctrl_c(interrupt_exit_code(_command(sys.argv[1:])))

if _as_program() and sys.argv[1:2] == ["dev"]:
    # A plain `durable dev` command line runs (and exits) here, without importing typer: a
    # restart reaches its first resumed step sooner. Anything else goes on to typer.
    from .dev_argv import run_without_typer

    run_without_typer(sys.argv[2:])

import typer  # noqa: E402

app = typer.Typer(
    name="durable",
    help="Durable functions for Python: SDK, local dev server and run inspector.",
    no_args_is_help=True,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(installed_version())
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the installed durable version and exit.",
            is_eager=True,
            callback=_print_version,
        ),
    ] = False,
) -> None:
    """Durable functions for Python: SDK, local dev server and run inspector."""
    # The arguments are parsed: a Ctrl-C lost on the way (see durable.devserver.interrupts)
    # ends it now; then each command handles Ctrl-C, `durable dev` quietly until its server's
    # own handler is installed.
    if interrupted():
        raise SystemExit(interrupt_exit_code(ctx.invoked_subcommand))
    if ctx.invoked_subcommand != "dev":
        usual_ctrl_c()


def installed_version() -> str:
    """The installed distribution's version, or "0+unknown" when run from a bare checkout."""
    # importlib.metadata costs ~12 ms to import: only `durable version` pays for it.
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as _dist_version

    try:
        return _dist_version("durable")
    except PackageNotFoundError:
        return "0+unknown"


@app.command()
def version() -> None:
    """Print the installed durable version."""
    typer.echo(installed_version())


#: command name -> (module of this package, function): imported only when needed, so that
#: ``durable dev`` reaches its worker's spawn without importing the other commands (their
#: clients, tables and replay cost ~65 ms: bench/restart.py counts every one of them)
COMMANDS: dict[str, tuple[str, str]] = {
    "dev": ("dev", "dev"),
    "start": ("start", "start"),
    "send": ("send", "send"),
    "runs": ("runs", "runs"),
    "run": ("runs", "show_run"),
    "cancel": ("cancel", "cancel"),
    "export": ("export", "export"),
    "functions": ("functions", "functions"),
    "tui": ("tui", "tui"),
    "replay": ("replay", "replay"),
}
_registered: set[str] = set()


def register(names: Iterable[str] = COMMANDS) -> typer.Typer:
    """Add the commands ``names`` (default: all) to :data:`app`, importing their modules."""
    for name in names:
        if name in _registered:
            continue
        module, function = COMMANDS[name]
        command = getattr(importlib.import_module(f"{__package__}.{module}"), function)
        app.command(name if name != function else None)(command)
        _registered.add(name)
    return app


def wanted_commands(argv: list[str], as_program: bool) -> Iterable[str]:
    """The commands to register: run as the program (the console script, ``python -m``)
    with a command named, only that one (its options, help and errors are the same); else
    all of them (imported by tests, or for the root's help)."""
    named = _command(argv[1:])
    return [named] if as_program and named in COMMANDS else COMMANDS


register(wanted_commands(sys.argv, _as_program()))

usual_ctrl_c()  # importing this module (tests) leaves no handler behind


def main() -> None:
    """Console-script entry point (`durable`): usage errors are one ``error:`` line, exit 2."""
    # typer's own (vendored) click: the exceptions its parser raises
    exit_on_ctrl_c(interrupt_exit_code(_command(sys.argv[1:])))
    from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

    try:
        code = app(standalone_mode=False)
    except NoArgsIsHelpError as exc:  # `durable` alone: the help
        exc.show()
        code = exc.exit_code
    except UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "durable"
        message = exc.format_message().rstrip(".")
        typer.echo(f"error: {message[:1].lower()}{message[1:]} (see `{where} --help`)", err=True)
        code = exc.exit_code
    except ClickException as exc:
        typer.echo(f"error: {exc.format_message()}", err=True)
        code = exc.exit_code
    except typer.Abort:
        code = 130
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
