"""Spawning a worker process: the standard library only.

``durable dev`` spawns its first worker before it imports anything heavy (asyncio, the engine,
the HTTP side): see :mod:`durable.devserver.dev.launch`. :class:`~durable.devserver.workers.
WorkerProcess` then adopts the process and talks to it over the socket.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

#: Signals the worker ignores (:func:`durable.devserver.worker.main`). They stay blocked from
#: the spawn until it ignores them: Ctrl-C while its interpreter starts and imports must not
#: end it with a traceback of its own (the terminal sends it to the whole process group).
WORKER_IGNORES = frozenset({signal.SIGINT, signal.SIGTERM})


@dataclass(slots=True)
class SpawnedWorker:
    """A worker process just spawned, and the server's end of its socket."""

    process: subprocess.Popen[bytes]
    socket: socket.socket
    files: list[Path]
    root: Path

    def discard(self) -> None:
        """End a worker nobody adopted: kill and reap it, close its socket and pipe."""
        self.process.kill()
        self.process.wait()
        self.socket.close()
        if self.process.stdout is not None:
            self.process.stdout.close()


def spawn_worker(files: list[Path], root: Path, python: str = sys.executable) -> SpawnedWorker:
    """Start ``python -m durable.devserver.worker`` for ``files``, with a socket pair to it.

    Its stdout and stderr come back on a pipe (user code prints there); messages go over the
    socket, whose other end the process inherits. The process starts with SIGINT and SIGTERM
    blocked (:data:`WORKER_IGNORES`); a Ctrl-C that arrives here meanwhile is raised once the
    process is spawned, which then ends it (no worker is left behind).
    """
    ours, theirs = socket.socketpair()
    with theirs:
        # fmt: off
        command = [
            python, "-m", "durable.devserver.worker",
            "--fd", str(theirs.fileno()), "--root", str(root), "--parent", str(os.getpid()),
            *map(str, files),
        ]
        # fmt: on
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, WORKER_IGNORES)  # inherited by exec
        try:
            process = subprocess.Popen(
                command,
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=str(root),
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        except BaseException:
            ours.close()
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            raise
    spawned = SpawnedWorker(process, ours, files, root)
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a Ctrl-C held back raises here
    except BaseException:
        spawned.discard()
        raise
    return spawned
