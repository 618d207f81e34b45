"""``durable dev``: the local dev server (its typer command; the body is :mod:`.dev_run`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .dev_run import DevArgs, run_dev
from .serving import EventKeyOption, RetentionOption, SigningKeyOption


def dev(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Files or folders with durable apps (default: the project)."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the HTTP API.")] = 8288,
    db: Annotated[
        str,
        typer.Option(
            help="SQLite database file (':memory:' keeps nothing), or a PostgreSQL URL "
            "(postgresql://user@host:5432/name; needs durable[postgres]; many servers may "
            "share it)."
        ),
    ] = ".durable/dev.db",
    no_tui: Annotated[bool, typer.Option("--no-tui", help="Plain log lines, no TUI.")] = False,
    retry_interval: Annotated[
        str | None,
        typer.Option(help="Retry failed steps after this delay instead of the backoff table."),
    ] = None,
    fsync: Annotated[
        bool, typer.Option(help="Sync every commit to disk (survives power loss, slower).")
    ] = False,
    no_reload: Annotated[bool, typer.Option("--no-reload", help="Do not watch files.")] = False,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-host",
            help="Also answer requests whose Host header is this name (repeatable; the "
            "loopback names and --host are always answered).",
        ),
    ] = None,
    fixtures: Annotated[
        Path, typer.Option(help="Folder the inspector's export key writes fixtures to.")
    ] = Path("fixtures"),
    import_timeout: Annotated[
        float,
        typer.Option(help="Seconds a module may take to import before it is left out."),
    ] = 10.0,
    dead_after: Annotated[
        float,
        typer.Option(
            help="Seconds without a heartbeat after which a server counts as dead and its "
            "runs go on elsewhere (servers sharing a PostgreSQL database)."
        ),
    ] = 10.0,
    signing_key: SigningKeyOption = None,
    event_key: EventKeyOption = None,
    retention: RetentionOption = "7d",
) -> None:
    """Run the dev server: discover functions, execute runs durably, serve the HTTP API."""
    args = DevArgs(
        paths=list(paths or []),
        host=host,
        port=port,
        db=db,
        no_tui=no_tui,
        retry_interval=retry_interval,
        fsync=fsync,
        no_reload=no_reload,
        allow_host=list(allow_host or []),
        fixtures=fixtures,
        import_timeout=import_timeout,
        dead_after=dead_after,
        signing_key=signing_key,
        event_key=list(event_key or []),
        retention=retention,
    )
    # Ctrl-C stops the server at any moment: exit 0, as once it serves (docs/cli.md). Until
    # the server's own handler is installed, `durable` runs this with a handler that exits
    # quietly (durable.devserver.interrupts); the server ends what it had begun on the way out
    # (durable.devserver.dev.launch.run). Without that handler, Ctrl-C is a KeyboardInterrupt.
    try:
        code = run_dev(args)
    except KeyboardInterrupt:
        code = 0
    raise typer.Exit(code)
