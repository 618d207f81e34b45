"""``durable dev``'s body, without typer: check the options, then serve (with the TUI in front
or not). Reached from the typer command (:mod:`.dev`) and, for a plain command line, straight
from :mod:`.dev_argv` before typer is even imported (a restart spawns its worker ~70 ms sooner).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from durable import InvalidDurationError
from durable.presentation import parse_duration

from .checks import SIGNING_KEY_ENV, OptionError, retention_seconds, security, usage_error

if TYPE_CHECKING:
    from durable.devserver import RunApp


@dataclass(slots=True)
class DevArgs:
    """``durable dev``'s arguments as parsed, before they are checked (typer's defaults)."""

    paths: list[Path] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 8288
    db: str = ".durable/dev.db"
    no_tui: bool = False
    retry_interval: str | None = None
    fsync: bool = False
    no_reload: bool = False
    allow_host: list[str] = field(default_factory=list)
    fixtures: Path = Path("fixtures")
    import_timeout: float = 10.0
    dead_after: float = 10.0
    signing_key: str | None = None
    event_key: list[str] = field(default_factory=list)
    retention: str = "7d"


def stdout_is_terminal() -> bool:
    """Whether stdout is a terminal (the TUI's condition)."""
    return sys.stdout.isatty()


def run_dev(args: DevArgs) -> int:
    """Check ``args``, then serve until stopped; the exit code. Ctrl-C raises
    :class:`KeyboardInterrupt` (the callers exit 0)."""
    try:
        return _run(args)
    except OptionError as exc:
        return usage_error(str(exc))


def _run(args: DevArgs) -> int:
    from durable.devserver import DatabaseError, DevOptions, ListenError, run, wants_tui

    interval = None
    if args.retry_interval is not None:
        try:
            interval = parse_duration(args.retry_interval)
        except InvalidDurationError as exc:
            raise OptionError(f"--retry-interval: {exc}") from None
    for path in args.paths:
        if not path.exists():
            raise OptionError(f"{path} does not exist")
    if not args.import_timeout > 0:
        raise OptionError(f"--import-timeout must be > 0 seconds, got {args.import_timeout}")
    if not args.dead_after > 0:
        raise OptionError(f"--dead-after must be > 0 seconds, got {args.dead_after}")
    if not (1 <= args.port <= 65535):
        raise OptionError(f"--port must be 1-65535, got {args.port}")
    allowed = _allowed_hosts(args.allow_host)
    key, event_keys = security("durable dev", args.host, args.signing_key, args.event_key)
    keep = retention_seconds(args.retention)
    if wants_tui(args.no_tui, stdout_is_terminal()):
        if key is not None:  # to the child and the inspector by the environment, not argv
            os.environ[SIGNING_KEY_ENV] = key
        from durable.devserver import usual_ctrl_c

        usual_ctrl_c()  # the inspector and its server child handle Ctrl-C themselves
        return _dev_with_tui(
            _child_args(args, allowed, event_keys),
            args.host,
            args.port,
            args.db,
            fixtures=args.fixtures,
        )
    options = DevOptions(
        paths=list(args.paths),
        host=args.host,
        port=args.port,
        db=args.db,
        retry_interval=interval,
        fsync=args.fsync,
        reload=not args.no_reload,
        allow_hosts=allowed,
        import_timeout=args.import_timeout,
        dead_after=args.dead_after,
        signing_key=key,
        event_keys=event_keys,
        retention=keep,
    )
    try:
        run(options)
    except ListenError as exc:
        return usage_error(_in_use(args.host, args.port) if exc.in_use else str(exc))
    except DatabaseError as exc:
        return usage_error(str(exc))
    return 0


def _child_args(args: DevArgs, allowed: list[str], event_keys: list[str]) -> list[str]:
    """The server child's command line (``--no-tui`` is added by the child)."""
    child = [str(path) for path in args.paths]
    child += ["--host", args.host, "--port", str(args.port), "--db", args.db]
    child += ["--retry-interval", args.retry_interval] if args.retry_interval else []
    child += ["--fsync"] if args.fsync else []
    child += ["--no-reload"] if args.no_reload else []
    child += [arg for name in allowed for arg in ("--allow-host", name)]
    if args.import_timeout != 10.0:
        child += ["--import-timeout", str(args.import_timeout)]
    child += ["--dead-after", str(args.dead_after)] if args.dead_after != 10.0 else []
    child += [arg for name in event_keys for arg in ("--event-key", name)]
    child += ["--retention", args.retention] if args.retention != "7d" else []
    return child


def _allowed_hosts(names: list[str]) -> list[str]:
    """The ``--allow-host`` names, checked (:class:`OptionError` naming a bad one)."""
    from durable.devserver import check_host_name

    try:
        return [check_host_name(name) for name in names]
    except ValueError as exc:
        raise OptionError(f"--allow-host: {exc}") from None


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
        return usage_error(_in_use(host, port) if exc.in_use else str(exc))
    try:
        return run_with_tui(args, url, log_path(db), partial(_load_inspector, fixtures))
    except LogNotWritableError as exc:
        return usage_error(str(exc))
    except ServerStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _load_inspector(fixtures: Path) -> RunApp:
    """Import the inspector (Textual: a quarter of a second) while the server child starts;
    its export key writes to ``fixtures``."""
    from durable.tui.app import run_attached

    return partial(run_attached, fixtures_dir=fixtures)
