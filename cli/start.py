"""``durable start``: the production server (SPEC section 9)."""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any

import typer

from .checks import OptionError, retention_seconds, security
from .serving import EventKeyOption, RetentionOption, SigningKeyOption, fail


def start(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Files or folders with durable apps (default: the project)."),
    ] = None,
    db: Annotated[
        str, typer.Option(help="SQLite database file (or a postgresql:// URL).")
    ] = ".durable/durable.db",
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the HTTP API.")] = 8288,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes that run steps (default: the CPU count).")
    ] = None,
    signing_key: SigningKeyOption = None,
    event_key: EventKeyOption = None,
    retention: RetentionOption = "7d",
    dead_after: Annotated[
        float,
        typer.Option(help="Seconds without a heartbeat after which a server counts as dead."),
    ] = 10.0,
    drain_timeout: Annotated[
        float,
        typer.Option(help="Seconds SIGTERM waits for passes in flight before handing them back."),
    ] = 30.0,
    allow_host: Annotated[
        list[str] | None,
        typer.Option("--allow-host", help="Also answer requests with this Host (repeatable)."),
    ] = None,
    import_timeout: Annotated[
        float, typer.Option(help="Seconds a module may take to import before it is left out.")
    ] = 10.0,
) -> None:
    """Run the production server: the dev server's engine and API, JSON logs, N workers."""
    from durable.devserver import (
        DatabaseError,
        DevOptions,
        ListenError,
        check_host_name,
        run_production,
    )

    for path in paths or []:
        if not path.exists():
            raise fail(f"{path} does not exist")
    if not (1 <= port <= 65535):
        raise fail(f"--port must be 1-65535, got {port}")
    count = workers if workers is not None else (os.cpu_count() or 1)
    if count < 1:
        raise fail(f"--workers must be at least 1, got {count}")
    for name, value in (
        ("--dead-after", dead_after),
        ("--import-timeout", import_timeout),
        ("--drain-timeout", drain_timeout),
    ):
        if not value > 0:
            raise fail(f"{name} must be > 0 seconds, got {value}")
    try:
        key, event_keys = security("durable start", host, signing_key, event_key)
        keep = retention_seconds(retention)
    except OptionError as exc:
        raise fail(str(exc)) from None
    try:
        allowed = [check_host_name(name) for name in allow_host or []]
    except ValueError as exc:
        raise fail(f"--allow-host: {exc}") from None
    extra: dict[str, Any] = {}
    if "dead_after" in {f.name for f in fields(DevOptions)}:  # with the heartbeat option
        extra["dead_after"] = dead_after
    options = DevOptions(
        paths=list(paths or []),
        host=host,
        port=port,
        db=db,
        reload=False,
        allow_hosts=allowed,
        import_timeout=import_timeout,
        workers=count,
        signing_key=key,
        event_keys=event_keys,
        retention=keep,
        drain_timeout=drain_timeout,
        **extra,
    )
    try:
        run_production(options)
    except ListenError as exc:
        raise fail(f"port {port} is in use" if exc.in_use else str(exc)) from None
    except DatabaseError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
