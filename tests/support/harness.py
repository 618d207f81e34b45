"""Drive a real ``durable dev`` subprocess: for end-to-end tests, benchmarks and the soak.

The process runs in its own process group (the server and its workers), so a test can
``kill -9`` all of it at once, as a crash or an OOM killer would.

Not shipped: this lives beside the tests, and the bench scripts import it from here (they put
the repository root on ``sys.path``, see ``bench/_repo.py``). It needs only httpx, so it loads
in a venv without the test extras (``make bench``, ``make soak``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

TERMINAL = ("completed", "failed", "cancelled")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    predicate: Callable[[], Any],
    timeout: float = 15.0,
    what: str = "condition",
    interval: float = 0.02,
) -> Any:
    """Poll ``predicate`` every ``interval`` seconds until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (httpx.HTTPError, KeyError, IndexError):
            value = None
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


class DevProcess:
    """One ``durable dev`` subprocess serving ``app`` from ``root``."""

    def __init__(
        self,
        root: Path,
        app: Path,
        *,
        port: int | None = None,
        env: dict[str, str] | None = None,
        reload: bool = True,
        extra_args: list[str] | None = None,
        command: str = "dev",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.root = root
        self.app = app
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.reload = reload
        self.extra_args = extra_args or []
        self.command = command  #: ``dev`` or ``start`` (no TUI, no reload: JSON log lines)
        self.headers = headers or {}  #: sent with every request (``Authorization``)
        self.log_file = root / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        #: ``time.time()`` just before the process was spawned (``bench/restart.py``)
        self.spawned_at: float | None = None
        self.client = httpx.Client(base_url=self.url, timeout=10, headers=self.headers)

    def start(self, timeout: float = 30.0) -> DevProcess:
        """Start the server and wait until ``/health`` answers."""
        dev_only = ["--no-tui", *([] if self.reload else ["--no-reload"])]
        args = [
            sys.executable, "-m", "durable.cli.main", self.command, str(self.app),
            "--port", str(self.port), "--db", str(self.root / "dev.db"),
            *(dev_only if self.command == "dev" else []), *self.extra_args,
        ]  # fmt: skip
        with self.log_file.open("ab") as log:
            self.spawned_at = time.time()
            self.process = subprocess.Popen(
                args,
                cwd=self.root,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if self.client.is_closed:  # (after the spawn: a client takes 20-40 ms to make)
            self.client = httpx.Client(base_url=self.url, timeout=10, headers=self.headers)
        try:
            wait_for(lambda: self.get("/health"), timeout, "the server to answer /health")
        except TimeoutError:
            self.kill()
            raise RuntimeError(f"durable dev did not start:\n{self.output()}") from None
        return self

    def output(self) -> str:
        """Everything the server printed so far."""
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def get(self, path: str, **params: Any) -> Any:
        """GET a JSON resource of the API."""
        response = self.client.get(path, params=params)
        response.raise_for_status()
        return response.json()

    def send(self, events: dict[str, Any] | list[dict[str, Any]]) -> list[str]:
        """POST events; return their ids."""
        response = self.client.post("/api/events", json=events)
        response.raise_for_status()
        return list(response.json()["ids"])

    def runs(self, **params: Any) -> list[dict[str, Any]]:
        """All runs matching ``params``, following the cursor."""
        runs: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self.get(
                "/api/runs", limit=500, **params, **({"cursor": cursor} if cursor else {})
            )
            runs.extend(page["runs"])
            cursor = page.get("cursor")
            if not cursor:
                return runs

    def finished(self, function: str, count: int) -> list[dict[str, Any]]:
        """The finished runs of ``function`` if there are at least ``count``, else []."""
        done = [r for r in self.runs(function=function) if r["status"] in TERMINAL]
        return done if len(done) >= count else []

    def kill(self) -> None:
        """``kill -9`` the whole process group (server and workers)."""
        self.client.close()
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> str:
        """Shut down politely (SIGTERM), or kill after 10 s; return the server's output."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.client.close()
        return self.output()
