"""``durable dev``'s server: the server core plus hot reload and the headless log.

A save replaces the worker (hot reload); a module that fails to load leaves the last good
worker serving and shows the error with its file and line.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Coroutine
from typing import Any

from durable._stores.sqlite_precheck import Precheck

from ..discovery import DiscoveryError
from ..imports import start_loading
from ..options import DevOptions
from ..registry import RegistrationError
from ..server import Server, hello_to_registry
from ..spawn import SpawnedWorker
from .headless import HeadlessLog


class DevServer(Server):
    """One ``durable dev`` process."""

    command = "durable dev"

    def __init__(
        self,
        options: DevOptions,
        log: HeadlessLog | None = None,
        *,
        launched: SpawnedWorker | None = None,
        sockets: list[socket.socket] | None = None,
        precheck: Precheck | None = None,
    ) -> None:
        super().__init__(
            options, log or HeadlessLog(), launched=launched, sockets=sockets, precheck=precheck
        )
        self._reloading = asyncio.Lock()

    def keeps_a_spare(self) -> bool:
        """With hot reload: a saved file's new worker starts from the spare."""
        return self.options.reload

    async def reload(self, changed: set[str] | None = None) -> bool:
        """Load the code again in a new worker; swap it in if it loaded cleanly."""
        async with self._reloading:
            began = time.perf_counter()
            try:
                discovered = self._discover()
            except DiscoveryError as exc:
                self._install(
                    list(self.registry.functions.values()),
                    [RegistrationError(str(self.root), None, str(exc))],
                )
                return False
            worker, hello, files = await start_loading(self._spawn, discovered)
            functions, errors = hello_to_registry(hello)
            if errors and self.executor.current is not None and self.executor.current.alive:
                if worker is not None:
                    await worker.kill()
                self._install(list(self.registry.functions.values()), errors)
                self.log.info("reload failed: still serving the last good version")
                return False
            self.files = files
            if worker is not None:
                await self.executor.swap(worker)
            self._install(functions, errors)
            self.context.status["reloads"] = self.context.status.get("reloads", 0) + 1
            elapsed = (time.perf_counter() - began) * 1000
            self.context.status["last_reload_ms"] = round(elapsed, 1)
            self.log.info(f"reloaded {len(functions)} function(s) in {elapsed:.0f} ms")
            return True

    def background(self) -> list[Coroutine[Any, Any, None]]:
        """The file watcher (unless ``--no-reload``)."""
        if not self.options.reload:
            return []
        from .reload import watch  # watchfiles: once the first passes are out

        return [watch(self.options.paths or [self.root], self._on_change)]

    async def _on_change(self, changed: set[str]) -> None:
        await self.reload(changed)
