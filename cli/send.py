"""``durable send``: send one event to the dev server and print its id.

The id goes to stdout (for scripts); an event that started no run also gets a line on stderr
saying why: ``accepted, no run started: duplicate: event id 'x' was already received``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .client import ApiClient, CliError, JsonOption, KeyOption, UrlOption, cli_errors, print_json


def _decode(text: str, source: str) -> dict[str, Any]:
    """Parse ``text`` as the event's data: a JSON object. ``source`` names it in errors."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(
            f"{source} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(value, dict):
        raise CliError(f"{source} must be a JSON object, got {type(value).__name__}")
    return value


def read_data(data: str | None) -> dict[str, Any]:
    """The ``--data`` option: inline JSON, ``@path.json`` or ``@-`` (stdin); ``{}`` if absent."""
    if data is None:
        return {}
    if not data.startswith("@"):
        return _decode(data, "--data")
    name = data[1:]
    if not name:
        raise CliError("--data @: give a file name after @ (or @- for stdin)")
    if name == "-":
        return _decode(sys.stdin.read(), "--data @- (stdin)")
    path = Path(name)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CliError(f"--data @{name}: no such file: {path.resolve()}") from None
    except UnicodeDecodeError as exc:
        raise CliError(f"--data @{name}: {path} is not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise CliError(f"--data @{name}: cannot read {path}: {exc.strerror or exc}") from None
    return _decode(text, f"--data @{name}")


def send(
    name: Annotated[str, typer.Argument(help="Event name, e.g. order/created.")],
    data: Annotated[
        str | None,
        typer.Option(
            "--data", "-d", help="Event data: a JSON object, @file.json, or @- for stdin."
        ),
    ] = None,
    event_id: Annotated[
        str | None,
        typer.Option("--id", help="Event id; a second event with the same id is ignored (24 h)."),
    ] = None,
    url: UrlOption = None,
    signing_key: KeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Send an event to the dev server and print its id."""
    with cli_errors():
        event: dict[str, Any] = {"name": name, "data": read_data(data)}
        if event_id is not None:
            event["id"] = event_id
        body = ApiClient(url, signing_key=signing_key).post("/api/events", event)
        ids = [str(i) for i in body.get("ids", [])] if isinstance(body, dict) else []
        listed = body.get("events") if isinstance(body, dict) else None
        outcomes = [o for o in listed if isinstance(o, dict)] if isinstance(listed, list) else []
        if json_output:
            print_json({"ids": ids, "events": outcomes})
            return
        for sent in ids:
            typer.echo(sent)
        for outcome in outcomes:
            note = no_run_note(outcome, name)
            if note:
                typer.echo(note, err=True)


def no_run_note(outcome: dict[str, Any], name: str) -> str | None:
    """``accepted, no run started: WHY`` for an event that started no run, else None."""
    if outcome.get("run_ids"):
        return None
    why = outcome.get("skipped") or f"no function is triggered by {name!r}"
    return f"accepted, no run started: {why}"
