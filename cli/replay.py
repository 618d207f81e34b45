"""``durable replay FIXTURE_OR_DIR... [--app PATH] [--update] [--json]``: replay fixtures.

Each fixture (SPEC section 4, ``docs/replay.md``) runs in process on the engine of
``durable.testing``, on a virtual clock, with its recorded step results standing in for the
step bodies. The apps are imported once (:func:`durable.devserver.load_apps`, the dev
server's discovery and loader) and shared by every fixture. Exit 0 when all pass, 1 on a
mismatch or divergence, 2 for an unreadable or invalid fixture or an app that cannot be loaded.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from durable.presentation import human_duration

from .client import CliError, cli_errors, make_console
from .replay_logs import kept_logs

if TYPE_CHECKING:
    from durable import DurableFunction
    from durable.fixtures import ReplayResult

# The engine is imported inside the functions that use it: every `durable` command (the dev
# server's start among them) imports this module, and only `durable replay` needs the engine.

_MARKS = {"pass": "[green]✔[/]", "updated": "[yellow]↻[/]"}


def replay(
    fixtures: Annotated[
        list[Path],
        typer.Argument(
            help="Fixture files, or folders searched for *.json fixtures (recursively).",
            metavar="FIXTURE_OR_DIR",
            show_default=False,
        ),
    ],
    app_path: Annotated[
        Path | None,
        typer.Option(
            "--app",
            help="File or folder with your Durable apps (default: discover them in the "
            "current project, like `durable dev`).",
        ),
    ] = None,
    update: Annotated[
        bool,
        typer.Option("--update", help="Rewrite each fixture's expectations from the current code."),
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="One JSON result per fixture and line, for scripts.")
    ] = False,
) -> None:
    """Replay fixtures against your code: exit 0 if all match, 1 otherwise, 2 if invalid."""
    import asyncio

    with cli_errors():
        files = expand(fixtures)
        functions = load_functions(app_path)
    replayed = asyncio.run(_replay_all(files, functions, update=update))
    results = [result for result, _ in replayed]
    console = make_console()
    for result, logs in replayed:
        if json_output:
            typer.echo(json.dumps({**result.to_json(), "logs": logs}, ensure_ascii=False))
        else:
            print_result(console, result)
            for line in logs:
                console.print(f"    [dim]log {escape(line)}[/]", highlight=False)
    passed = sum(result.ok for result in results)
    summary = f"{passed} passed, {len(results) - passed} failed"
    # With --json stdout stays pure JSON lines: the summary goes to stderr.
    typer.echo(summary, err=json_output)
    if any(result.kind == "invalid" for result in results):
        raise typer.Exit(2)
    if passed < len(results):
        raise typer.Exit(1)


# -- inputs -----------------------------------------------------------------------------------


def expand(paths: Iterable[Path]) -> list[Path]:
    """Fixture files: files as given, folders as their ``*.json`` files (recursive, sorted)."""
    files: dict[Path, None] = {}
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*.json") if p.is_file())
            if not found:
                raise CliError(f"{path}: no *.json fixtures in this folder")
            files.update(dict.fromkeys(found))
        elif path.exists():
            files[path] = None
        else:
            raise CliError(f"{path}: no such fixture file or folder")
    return list(files)


def load_functions(app_path: Path | None) -> dict[str, DurableFunction]:
    """Import the user's apps once, like ``durable dev`` discovers them; functions by id."""
    from durable.devserver import LoadAppsError, load_apps

    try:
        return load_apps(app_path)
    except LoadAppsError as exc:
        if exc.reason in ("missing", "discovery"):
            raise CliError(f"--app {exc}" if exc.reason == "missing" else f"--app: {exc}") from None
        if exc.reason == "no_apps":
            raise CliError(f"{exc}; point --app at the file or folder that defines them") from None
        raise CliError(str(exc)) from None


# -- replaying --------------------------------------------------------------------------------


async def _replay_all(
    files: list[Path], functions: dict[str, DurableFunction], *, update: bool
) -> list[tuple[ReplayResult, list[str]]]:
    """Each fixture's result, with the log lines the app wrote while it replayed."""
    results = []
    for file in files:
        with kept_logs() as logs:
            result = await replay_file(file, functions, update=update)
        results.append((result, logs))
    return results


async def replay_file(
    file: Path, functions: dict[str, DurableFunction], *, update: bool = False
) -> ReplayResult:
    """Replay one fixture file; with ``update``, rewrite its expectations and check them."""
    from durable.fixtures import (
        InvalidFixtureError,
        ReplayResult,
        load_fixture,
        replay_fixture_async,
    )

    name = str(file)
    try:
        fixture = load_fixture(file)
    except InvalidFixtureError as exc:
        return ReplayResult(name, False, "invalid", str(exc))
    result = await replay_fixture_async(fixture, functions, name=name, update=update, checked=True)
    if not update or result.kind == "invalid" or result.updated_fixture is None:
        return result
    if not result.changes:
        return result
    return await _rewrite(file, result.updated_fixture, result, functions)


async def _rewrite(
    file: Path,
    new: dict[str, Any],
    before: ReplayResult,
    functions: dict[str, DurableFunction],
) -> ReplayResult:
    from durable.fixtures import ReplayResult, check_fixture, replay_fixture_async, write_fixture

    name = str(file)
    problems = check_fixture(new)
    if problems:  # should not happen: report rather than write a broken file
        message = "\n".join(
            f"{name}: --update would write an invalid fixture: {p}" for p in problems
        )
        return ReplayResult(name, False, "invalid", message)
    try:
        write_fixture(file, new)  # atomic: an interrupt leaves the old fixture whole
    except OSError as exc:
        return ReplayResult(name, False, "invalid", f"{name}: cannot write: {exc.strerror or exc}")
    after = await replay_fixture_async(new, functions, name=name, checked=True)
    after.changes = before.changes
    if after.ok:
        after.message = f"{name}: updated: " + "; ".join(before.changes)
    else:
        after.message += "\n(the fixture was rewritten with --update, yet does not replay green: "
        after.message += "does the code depend on time, randomness or the outside world?)"
    return after


# -- output -----------------------------------------------------------------------------------


def print_result(console: Console, result: ReplayResult) -> None:
    """One line per fixture; failures get their explanation and a coloured diff."""
    took = human_duration(result.seconds)
    if result.ok:
        mark = _MARKS["updated"] if result.changes else _MARKS["pass"]
        count = len(result.actual)
        detail = f"{count} step{'' if count == 1 else 's'}, {result.actual_status}"
        console.print(f"{mark} {escape(result.name)} [dim]{detail} · {took}[/]", highlight=False)
        for change in result.changes:
            console.print(f"    [yellow]{escape(change)}[/]", highlight=False)
        return
    console.print(f"[red]✖[/] {escape(result.name)} [red]{result.kind}[/] [dim]· {took}[/]")
    for line in result.message.splitlines():
        console.print(f"    {escape(line)}", highlight=False)
    if result.diff:
        for line in result.diff.splitlines():
            console.print("    " + _diff_line(line), highlight=False)


def _diff_line(line: str) -> str:
    text = escape(line)
    if line.startswith(("---", "+++")):
        return f"[bold]{text}[/]"
    if line.startswith("@@"):
        return f"[cyan]{text}[/]"
    if line.startswith("-"):
        return f"[red]{text}[/]"
    if line.startswith("+"):
        return f"[green]{text}[/]"
    return text
