"""``durable dev``'s entry point: spawn the first worker, then build the server around it.

The worker process imports the user's code while this process imports the engine and the
HTTP side and opens the store: the two start up side by side, so a restart reaches its first
resumed step sooner (``bench/restart.py``). Only light modules are imported before the spawn;
the server then serves the files the launcher discovered.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from socket import socket
from typing import TYPE_CHECKING

from durable._stores.sqlite_precheck import Precheck, start_check

from ..discovery import DiscoveryError, discover, find_project_root
from ..errors import DatabaseError
from ..listen import ListenError, listen
from ..options import DevOptions
from ..spawn import SpawnedWorker, can_fork, fork_worker, spawn_worker

if TYPE_CHECKING:
    from .server import DevServer

__all__ = ["DatabaseError", "ListenError", "launch_first_worker", "run"]


def run(options: DevOptions) -> None:
    """Blocking entry point of ``durable dev``; :class:`DatabaseError` if ``--db`` is unusable,
    :class:`ListenError` if the HTTP port cannot be bound.

    Ctrl-C before the server's own handler is installed (in :meth:`~durable.devserver.server.
    Server.serve`) raises :class:`KeyboardInterrupt` here, after the worker spawned so far is
    ended and the store closed: the caller exits as on a later Ctrl-C.
    """
    options = replace(options, root=options.root or find_project_root(Path.cwd()))
    sockets = listen(options.host, options.port)
    launched: SpawnedWorker | None = None
    server: DevServer | None = None
    try:
        launched = launch_first_worker(options, close_in_child=sockets)
        # the file's integrity check runs while this process imports the engine (a thread:
        # only once the worker is forked)
        precheck = start_check(options.db)
        server = _build(options, launched, sockets, precheck)
        from .. import loops
        from ..gc_settings import tune_for_server

        tune_for_server()

        loops.run(server.serve())
    except BaseException:
        if server is not None:  # it ends what it began (nothing, once serve() returned)
            server.abandon()
        else:
            if launched is not None:  # nobody adopted it: end it here
                launched.discard()
            for sock in sockets:
                sock.close()
        raise


def _build(
    options: DevOptions,
    launched: SpawnedWorker | None,
    sockets: list[socket],
    precheck: Precheck | None = None,
) -> DevServer:
    """The server around ``launched``; :class:`DatabaseError` if the store cannot be opened."""
    # asyncio, the engine, the store and the HTTP side: only once the worker is on its way.
    import sqlite3

    from durable._errors import StoreError
    from durable._stores.postgres_connection import redact
    from durable._stores.sqlite import SchemaError

    from .server import DevServer

    try:
        return DevServer(options, launched=launched, sockets=sockets, precheck=precheck)
    except (SchemaError, StoreError, sqlite3.Error, OSError) as exc:
        shown = redact(options.db)  # a PostgreSQL URL's password is never shown
        raise DatabaseError(f"cannot open the database {shown}: {exc}") from None


def launch_first_worker(
    options: DevOptions, *, close_in_child: Iterable[socket] = ()
) -> SpawnedWorker | None:
    """Start the worker for the code ``durable dev`` will serve (``options.root`` is set):
    forked where that is safe (:func:`~durable.devserver.spawn.can_fork`; the child closes
    ``close_in_child``, the listening sockets), else spawned. ``None`` if discovery fails:
    the server then reports it."""
    assert options.root is not None
    try:
        files = discover(options.paths, options.root)
    except DiscoveryError:
        return None
    if can_fork():
        return fork_worker(files, options.root, close_in_child=close_in_child)
    return spawn_worker(files, options.root)
