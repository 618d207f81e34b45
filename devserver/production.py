"""``durable start``: the server for production, built on the same core as ``durable dev``.

No hot reload, no TUI: JSON log lines on stdout (one object a line: ``ts``, ``level``, ``msg``,
``fields``), ``--workers N`` worker processes (:mod:`.pool`), ``GET /metrics``, retention, and a
stop that drains: SIGTERM lets passes in flight finish for up to ``drain_timeout`` seconds, hands
back the rest, and exits 0.
"""

from __future__ import annotations

import logging
import socket
import sqlite3
import sys
from dataclasses import replace
from pathlib import Path

from durable._errors import StoreError
from durable._stores.sqlite import SchemaError

from . import loops
from .discovery import find_project_root
from .errors import DatabaseError
from .gc_settings import tune_for_server
from .jsonlog import JsonLog, JsonLogHandler
from .listen import listen
from .options import DevOptions
from .server import Server

__all__ = ["DEFAULT_DRAIN_TIMEOUT", "ProductionServer", "run_production"]

#: Seconds a SIGTERM waits for passes in flight before handing them back.
DEFAULT_DRAIN_TIMEOUT = 30.0


class ProductionServer(Server):
    """One ``durable start`` process."""

    command = "durable start"
    uvicorn_logging = False  #: uvicorn's records become JSON lines too

    def __init__(
        self,
        options: DevOptions,
        log: JsonLog | None = None,
        *,
        sockets: list[socket.socket] | None = None,
    ) -> None:
        self.json_log = log or JsonLog()
        super().__init__(options, self.json_log, sockets=sockets)

    def _worker_output(self, line: str) -> None:
        self.json_log.worker_output(line)

    async def drain(self, timeout: float) -> None:
        """Drain (see :meth:`Server.drain`), saying so in the log."""
        await super().drain(timeout)
        self.json_log.emit("info", "stopped", {"in_flight": len(self.orchestrator.in_flight)})
        self.json_log.flush()


def run_production(options: DevOptions) -> None:
    """Blocking entry point of ``durable start``: :class:`DatabaseError` if ``--db`` is
    unusable, :class:`~.listen.ListenError` if the port cannot be bound."""
    options = replace(options, root=options.root or find_project_root(Path.cwd()), reload=False)
    log = JsonLog(sys.stdout)
    _route_logging(log)
    sockets = listen(options.host, options.port)
    try:
        server = ProductionServer(options, log, sockets=sockets)
    except (SchemaError, StoreError, sqlite3.Error, OSError) as exc:
        for sock in sockets:
            sock.close()
        raise DatabaseError(f"cannot open the database {options.db}: {exc}") from None
    tune_for_server()
    loops.run(server.serve())
    log.flush()


def _route_logging(log: JsonLog) -> None:
    """The engine's ``logging`` records (and uvicorn's) as JSON lines on the same stream."""
    handler = JsonLogHandler(log)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        named = logging.getLogger(name)
        named.handlers[:] = []
        named.propagate = True
