"""``durable dev``'s entry point: spawn the first worker, then build the server around it.

The worker process imports the user's code while this process imports the engine and the
HTTP side and opens the store: the two start up side by side, so a restart reaches its first
resumed step sooner (``bench/restart.py``). Only light modules are imported before the spawn;
the server then serves the files the launcher discovered.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..discovery import DiscoveryError, discover, find_project_root
from ..errors import DatabaseError
from ..listen import ListenError, listen
from ..options import DevOptions
from ..spawn import SpawnedWorker, spawn_worker

__all__ = ["DatabaseError", "ListenError", "launch_first_worker", "run"]


def run(options: DevOptions) -> None:
    """Blocking entry point of ``durable dev``; :class:`DatabaseError` if ``--db`` is unusable,
    :class:`ListenError` if the HTTP port cannot be bound."""
    options = replace(options, root=options.root or find_project_root(Path.cwd()))
    sockets = listen(options.host, options.port)
    launched = launch_first_worker(options)
    # asyncio, the engine, the store and the HTTP side: only once the worker is on its way.
    import asyncio
    import sqlite3

    from durable._errors import StoreError
    from durable._stores.postgres_connection import redact
    from durable._stores.sqlite import SchemaError

    from .server import DevServer

    try:
        server = DevServer(options, launched=launched, sockets=sockets)
    except (SchemaError, StoreError, sqlite3.Error, OSError) as exc:
        if launched is not None:  # nobody adopted it: end it here
            launched.discard()
        for sock in sockets:
            sock.close()
        shown = redact(options.db)  # a PostgreSQL URL's password is never shown
        raise DatabaseError(f"cannot open the database {shown}: {exc}") from None
    asyncio.run(server.serve())


def launch_first_worker(options: DevOptions) -> SpawnedWorker | None:
    """Spawn the worker for the code ``durable dev`` will serve (``options.root`` is set);
    ``None`` if discovery fails: the server then reports it."""
    assert options.root is not None
    try:
        files = discover(options.paths, options.root)
    except DiscoveryError:
        return None
    return spawn_worker(files, options.root)
