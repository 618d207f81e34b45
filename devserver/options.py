"""The options of ``durable dev`` and ``durable start``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path


@dataclass(slots=True)
class DevOptions:
    """The options of ``durable dev`` (``durable start`` uses the same, with its defaults)."""

    paths: list[Path] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 8288
    db: str = ".durable/dev.db"
    retry_interval: timedelta | None = None
    fsync: bool = False
    reload: bool = True
    root: Path | None = None
    #: ``Host`` names answered besides the loopback names and ``host`` (``--allow-host``).
    allow_hosts: list[str] = field(default_factory=list)
    #: seconds a worker may take to import one module before that module is left out
    import_timeout: float = 10.0
    #: seconds without a heartbeat after which a server is dead: its runs go on elsewhere
    #: (``--dead-after``; it beats every quarter of this)
    dead_after: float = 10.0
    # -- production and security (``durable start``; both commands) ----------------------
    #: worker processes passes are spread over (``--workers``)
    workers: int = 1
    #: the ``Authorization: Bearer`` key every ``/api/*`` request needs (``--signing-key``)
    signing_key: str | None = None
    #: the keys ``POST /e/{event_key}`` accepts when a signing key is set (``--event-key``)
    event_keys: list[str] = field(default_factory=list)
    #: seconds ended runs and events are kept (``--retention``); None keeps everything
    retention: float | None = 7 * 24 * 3600.0
    #: seconds a stop waits for passes in flight before handing them back
    drain_timeout: float = 0.0
