"""Starting a worker module by module: a module that kills or hangs the worker is named.

The worker says ``loading {file}`` before it imports each user module, then ``hello``. The
server reads those lines with a timeout per module: a worker that exits, or goes quiet,
while importing a module is blamed on that module (:class:`ModuleLoadFailed`).
:func:`start_loading` then starts a new worker without it, so the other modules still
register; in the normal case one worker starts, as before.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .framing import decode

if TYPE_CHECKING:
    from .workers import WorkerProcess

#: Seconds a worker may spend importing one module (or starting up) before it is given up.
DEFAULT_IMPORT_TIMEOUT = 10.0


class WorkerStartError(Exception):
    """A worker process did not start (it exited or said nothing in time)."""


class ModuleLoadFailed(WorkerStartError):
    """The worker died, or did not finish, while importing ``file``."""

    def __init__(self, file: str, reason: str) -> None:
        super().__init__(f"{file}: {reason}")
        self.file = file
        self.reason = reason


def describe_exit(code: int | None) -> str:
    """How a process ended, for a message: ``exited with code 1``, ``was killed by SIGKILL``."""
    if code is None:
        return "ended"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}"
    return f"exited with code {code}"


def not_loaded_reason(errors: list[dict[str, Any]]) -> str:
    """``function not loaded: FILE[:LINE]: MESSAGE; ...`` for the load ``errors`` (the first
    three): why runs of a function that is not loaded wait."""
    shown = "; ".join(
        f"{e['file']}:{e['line']}: {e['message']}"
        if e.get("line")
        else f"{e['file']}: {e['message']}"
        for e in errors[:3]
    )
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return f"function not loaded: {shown}{more}"


async def read_hello(
    reader: asyncio.StreamReader,
    timeout: float,
    *,
    kill: Callable[[], Awaitable[None]],
    exit_code: Callable[[], Awaitable[int | None]],
) -> dict[str, Any]:
    """Read ``loading`` lines up to the worker's ``hello`` and return the hello.

    Each line has ``timeout`` seconds. On a timeout the worker is killed (``kill``); a worker
    that ends before its hello is described by ``exit_code``. Either is
    :class:`ModuleLoadFailed` if it happened during a module's import.
    """
    loading: str | None = None
    while True:
        try:
            line = await asyncio.wait_for(reader.readline(), timeout)
        except TimeoutError:
            await kill()
            if loading is not None:
                raise ModuleLoadFailed(
                    loading, f"import did not finish within {timeout:g} s (the worker was killed)"
                ) from None
            raise WorkerStartError(f"the worker said nothing within {timeout:g} s") from None
        if not line:
            how = describe_exit(await exit_code())
            if loading is not None:
                raise ModuleLoadFailed(loading, f"the worker process {how} while importing it")
            raise WorkerStartError(f"the worker process {how} before loading any module")
        message: dict[str, Any] = decode(line)
        if message.get("t") != "loading":
            return message
        loading = str(message.get("file"))


async def start_loading(
    spawn: Callable[[list[Path]], WorkerProcess],
    files: list[Path],
    first: WorkerProcess | None = None,
) -> tuple[WorkerProcess | None, dict[str, Any], list[Path]]:
    """Start a worker for ``files`` (``first`` if given, already spawned for them).

    A module that kills or hangs the worker is left out and a new worker started for the
    rest, until one says hello. Returns that worker (None if none started), its hello with
    an error per module left out, and the files it loaded.
    """
    errors: list[dict[str, Any]] = []
    worker = first or spawn(files)
    while True:
        try:
            hello = await worker.start()
        except ModuleLoadFailed as exc:
            errors.append({"file": exc.file, "line": None, "message": exc.reason})
            remaining = [f for f in files if str(f) != exc.file]
            if len(remaining) == len(files):  # not one of ours (a nested import): give up
                return None, {"functions": [], "errors": errors}, files
            files = remaining
            worker = spawn(files)
            continue
        except WorkerStartError as exc:
            errors.append({"file": "?", "line": None, "message": str(exc)})
            return None, {"functions": [], "errors": errors}, files
        hello = {**hello, "errors": errors + list(hello.get("errors", []))}
        worker.hello = hello
        return worker, hello, files
