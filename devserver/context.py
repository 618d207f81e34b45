"""The parts of a running dev server that its faces (HTTP API, headless log) read."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from durable._orchestration.clock import Clock
from durable._orchestration.orchestrator import Orchestrator
from durable._stores.base import Store

from .reads import OffLoopReads
from .registry import Registry


@dataclass(slots=True)
class ServerContext:
    """Store, orchestrator and registry of one server process, wired together."""

    store: Store
    orchestrator: Orchestrator
    registry: Registry
    clock: Clock
    started_at: float
    status: dict[str, Any] = field(default_factory=dict)  #: workers, reloads, for /health
    root: Path | None = None  #: the project folder: fixtures name its files relative to it
    #: runs the listings' store reads off the event loop (None: read inline)
    reads: OffLoopReads | None = None
