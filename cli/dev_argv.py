"""``durable dev``'s command line read without typer, for a restart's sake.

Importing typer and parsing with it costs ~70 ms before ``durable dev`` can spawn its worker
and open its database (``bench/restart.py`` counts every one of them). A plain command line
(files, and options with their values) is read here instead, into the same
:class:`~.dev_run.DevArgs` typer would have made; anything else (``--help``, an unknown
option, a value that does not convert, ``--``) returns None and goes through typer, which
prints its usual help or error. ``tests/cli/test_dev_argv.py`` checks this table against the
typer command's options, and both readings of the same command lines against each other.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from .checks import SIGNING_KEY_ENV
from .dev_run import DevArgs, run_dev

#: option -> (DevArgs field, conversion); a list field collects a repeated option
VALUED: dict[str, tuple[str, Callable[[str], Any]]] = {
    "--host": ("host", str),
    "--port": ("port", int),
    "--db": ("db", str),
    "--retry-interval": ("retry_interval", str),
    "--allow-host": ("allow_host", str),
    "--fixtures": ("fixtures", Path),
    "--import-timeout": ("import_timeout", float),
    "--dead-after": ("dead_after", float),
    "--signing-key": ("signing_key", str),
    "--event-key": ("event_key", str),
    "--retention": ("retention", str),
}
#: flag -> (DevArgs field, the value it sets)
FLAGS: dict[str, tuple[str, bool]] = {
    "--no-tui": ("no_tui", True),
    "--fsync": ("fsync", True),
    "--no-fsync": ("fsync", False),
    "--no-reload": ("no_reload", True),
}
LISTS = frozenset({"allow_host", "event_key"})


def parse_dev_argv(argv: list[str], environ: dict[str, str] | None = None) -> DevArgs | None:
    """``durable dev``'s arguments (after ``dev``) as typer would read them, or None if they
    are anything but plain files and known options with values that convert."""
    args = DevArgs()
    values: dict[str, Any] = {}
    lists: dict[str, list[str]] = {name: [] for name in LISTS}
    rest = iter(argv)
    for arg in rest:
        if not arg.startswith("-"):
            args.paths.append(Path(arg))
            continue
        name, equals, value = arg.partition("=")
        if name in FLAGS and not equals:
            field_name, flag = FLAGS[name]
            values[field_name] = flag
            continue
        if name not in VALUED:
            return None  # --help, --, an unknown or a misspelt option: typer says what
        if not equals:
            value = next(rest, "")
        if not value or value.startswith("-"):
            return None  # a missing value (or one that looks like an option): typer's error
        field_name, convert = VALUED[name]
        try:
            converted = convert(value)
        except ValueError:
            return None  # typer names the option and the value
        if field_name in LISTS:
            lists[field_name].append(converted)
        else:
            values[field_name] = converted  # given twice: the last one, as typer does
    for field_name, value in values.items():
        setattr(args, field_name, value)
    args.allow_host, args.event_key = lists["allow_host"], lists["event_key"]
    if args.signing_key is None:
        args.signing_key = (os.environ if environ is None else environ).get(SIGNING_KEY_ENV) or None
    return args


def run_without_typer(argv: list[str]) -> None:
    """Run ``durable dev`` for ``argv`` (after ``dev``) and exit, if it is a plain command line;
    return (to typer) if not. Ctrl-C exits 0, quietly, as through typer."""
    from durable.devserver import interrupted

    args = parse_dev_argv(argv)
    if args is None:
        return
    if interrupted():  # a Ctrl-C while this process started (see durable.devserver.interrupts)
        _exit(0)
    try:
        code = run_dev(args)
    except KeyboardInterrupt:
        code = 0
    _exit(code)


def _exit(code: int) -> NoReturn:
    sys.stdout.flush()
    raise SystemExit(code)
