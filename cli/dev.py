"""``durable dev``: the local dev server."""

from __future__ import annotations

import os
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from durable import InvalidDurationError
from durable.presentation import parse_duration

from .serving import (
    SIGNING_KEY_ENV,
    EventKeyOption,
    RetentionOption,
    SigningKeyOption,
    retention_seconds,
    security,
)

if TYPE_CHECKING:
    from durable.devserver import RunApp


def stdout_is_terminal() -> bool:
    """Whether stdout is a terminal (the TUI's condition)."""
    return sys.stdout.isatty()


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
    # Ctrl-C stops the server at any moment: exit 0, as once it serves (docs/cli.md). Until
    # the server's own handler is installed, `durable` runs this with a handler that exits
    # quietly (durable.devserver.interrupts); the server ends what it had begun on the way out
    # (durable.devserver.dev.launch.run). Without that handler, Ctrl-C is a KeyboardInterrupt.
    try:
        _dev(
            paths, host, port, db, no_tui, retry_interval, fsync, no_reload, allow_host,
            fixtures, import_timeout, dead_after, signing_key, event_key, retention,
        )  # fmt: skip
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


def _dev(
    paths: list[Path] | None,
    host: str,
    port: int,
    db: str,
    no_tui: bool,
    retry_interval: str | None,
    fsync: bool,
    no_reload: bool,
    allow_host: list[str] | None,
    fixtures: Path,
    import_timeout: float,
    dead_after: float,
    signing_key: str | None,
    event_key: list[str] | None,
    retention: str,
) -> None:
    """:func:`dev`'s body: check the options, then serve (with the TUI in front or not)."""
    from durable.devserver import DatabaseError, DevOptions, ListenError, run, usual_ctrl_c

    interval = None
    if retry_interval is not None:
        try:
            interval = parse_duration(retry_interval)
        except InvalidDurationError as exc:
            typer.echo(f"error: --retry-interval: {exc}", err=True)
            raise typer.Exit(2) from None
    for path in paths or []:
        if not path.exists():
            typer.echo(f"error: {path} does not exist", err=True)
            raise typer.Exit(2)
    if not import_timeout > 0:
        typer.echo(f"error: --import-timeout must be > 0 seconds, got {import_timeout}", err=True)
        raise typer.Exit(2)
    if not dead_after > 0:
        typer.echo(f"error: --dead-after must be > 0 seconds, got {dead_after}", err=True)
        raise typer.Exit(2)
    if not (1 <= port <= 65535):
        typer.echo(f"error: --port must be 1-65535, got {port}", err=True)
        raise typer.Exit(2)
    allowed = _allowed_hosts(allow_host or [])
    key, event_keys = security("durable dev", host, signing_key, event_key)
    keep = retention_seconds(retention)
    from durable.devserver import wants_tui

    if wants_tui(no_tui, stdout_is_terminal()):
        args = [str(path) for path in paths or []]
        args += ["--host", host, "--port", str(port), "--db", db]
        args += ["--retry-interval", retry_interval] if retry_interval else []
        args += ["--fsync"] if fsync else []
        args += ["--no-reload"] if no_reload else []
        args += [arg for name in allowed for arg in ("--allow-host", name)]
        args += ["--import-timeout", str(import_timeout)] if import_timeout != 10.0 else []
        args += ["--dead-after", str(dead_after)] if dead_after != 10.0 else []
        args += [arg for name in event_keys for arg in ("--event-key", name)]
        args += ["--retention", retention] if retention != "7d" else []
        if key is not None:  # to the child and the inspector by the environment, not argv
            os.environ[SIGNING_KEY_ENV] = key
        usual_ctrl_c()  # the inspector and its server child handle Ctrl-C themselves
        raise typer.Exit(_dev_with_tui(args, host, port, db, fixtures=fixtures))
    options = DevOptions(
        paths=list(paths or []),
        host=host,
        port=port,
        db=db,
        retry_interval=interval,
        fsync=fsync,
        reload=not no_reload,
        allow_hosts=allowed,
        import_timeout=import_timeout,
        dead_after=dead_after,
        signing_key=key,
        event_keys=event_keys,
        retention=keep,
    )
    try:
        run(options)
    except ListenError as exc:
        typer.echo(f"error: {_in_use(host, port) if exc.in_use else exc}", err=True)
        raise typer.Exit(2) from None
    except DatabaseError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _allowed_hosts(names: list[str]) -> list[str]:
    """The ``--allow-host`` names, checked (exit 2 naming a bad one)."""
    from durable.devserver import check_host_name

    try:
        return [check_host_name(name) for name in names]
    except ValueError as exc:
        typer.echo(f"error: --allow-host: {exc}", err=True)
        raise typer.Exit(2) from None


def _in_use(host: str, port: int) -> str:
    """What to say when ``--port`` is taken (the TUI path says it too)."""
    from durable.devserver import connect_host

    url = f"http://{connect_host(host)}:{port}"
    return (
        f"port {port} is in use (another durable dev? `durable tui --url {url}` "
        "attaches to it; --port picks another)"
    )


def _dev_with_tui(
    args: list[str], host: str, port: int, db: str, *, fixtures: Path = Path("fixtures")
) -> int:
    """The server as a ``--no-tui`` child logging to a file; the inspector in front."""
    from durable.devserver import (
        ListenError,
        LogNotWritableError,
        ServerStartError,
        bind_listeners,
        connect_host,
        log_path,
        run_with_tui,
    )

    url = f"http://{connect_host(host)}:{port}"
    try:  # the child binds the same addresses: refuse now what it would refuse then
        for sock in bind_listeners(host, port):
            sock.close()
    except ListenError as exc:
        typer.echo(f"error: {_in_use(host, port) if exc.in_use else exc}", err=True)
        return 2
    try:
        return run_with_tui(args, url, log_path(db), partial(_load_inspector, fixtures))
    except LogNotWritableError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    except ServerStartError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 1


def _load_inspector(fixtures: Path) -> RunApp:
    """Import the inspector (Textual: a quarter of a second) while the server child starts;
    its export key writes to ``fixtures``."""
    from durable.tui.app import run_attached

    return partial(run_attached, fixtures_dir=fixtures)
