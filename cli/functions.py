"""``durable functions``: registered functions (triggers, config) and registration errors."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .client import (
    ApiClient,
    JsonOption,
    KeyOption,
    UrlOption,
    cli_errors,
    make_console,
    print_json,
)


def _trigger(trigger: Any) -> str:
    """``event order/created if <expr>`` or ``cron 0 12 * * 5``."""
    if not isinstance(trigger, dict):
        return str(trigger)
    if "cron" in trigger:
        return f"cron {trigger['cron']}"
    text = f"event {trigger.get('event', '?')}"
    condition = trigger.get("if") or trigger.get("expression")
    return f"{text} if {condition}" if condition else text


def _config(config: Any) -> str:
    """One ``key=value`` line per configured option (values as compact JSON)."""
    if not isinstance(config, dict):
        return ""
    return "\n".join(
        f"{key}={json.dumps(value, ensure_ascii=False, separators=(',', ':'))}"
        for key, value in config.items()
        if key not in ("name",) and value is not None
    )


def where(file: Any, line: Any) -> str:
    """``file:line``, or just the file; ``-`` when unknown."""
    if not file:
        return "-"
    return f"{file}:{line}" if line else str(file)


def functions(
    url: UrlOption = None, json_output: JsonOption = False, signing_key: KeyOption = None
) -> None:
    """List registered functions with their triggers and config, and registration errors.

    Exits 1 when a module failed to load or register (the errors are listed with file:line).
    """
    with cli_errors():
        body = ApiClient(url, signing_key=signing_key).get("/api/functions")
    items: list[dict[str, Any]] = body.get("functions") or []
    errors: list[dict[str, Any]] = body.get("errors") or []
    if json_output:
        print_json(body)
    else:
        _print(make_console(), items, errors)
    if errors:
        raise typer.Exit(1)


def _print(console: Console, items: list[dict[str, Any]], errors: list[dict[str, Any]]) -> None:
    if items:
        table = Table(box=None, header_style="bold", pad_edge=False)
        table.add_column("function", no_wrap=True)
        table.add_column("app", no_wrap=True)
        table.add_column("triggers")
        table.add_column("config")
        table.add_column("defined at", overflow="fold")
        for item in sorted(items, key=lambda f: str(f.get("id"))):
            name = item.get("name")
            label = Text(str(item.get("id")), style="bold")
            if name and name != item.get("id"):
                label.append(f"\n{name}", style="dim")
            table.add_row(
                label,
                escape(str(item.get("app_id", ""))),
                Text("\n".join(_trigger(t) for t in item.get("triggers") or [])),
                Text(_config(item.get("config")), style="dim"),
                Text(where(item.get("file"), item.get("line")), style="dim"),
            )
        console.print(table)
    else:
        console.print("[dim]no functions registered[/]")
    if errors:
        console.print()
        console.print(f"[bold red]{len(errors)} registration error(s)[/]")
        for error in errors:
            console.print(
                Text(where(error.get("file"), error.get("line")) + ": ", style="bold")
                + Text(str(error.get("message", "")), style="red")
            )
