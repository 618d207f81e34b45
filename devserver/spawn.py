"""Spawning a worker process: the standard library only.

``durable dev`` starts its first worker before it imports anything heavy (asyncio, the engine,
the HTTP side): see :mod:`durable.devserver.dev.launch`. On Linux it forks it
(:func:`fork_worker`): the worker skips an interpreter's start-up and the imports this process
made already (~70 ms of a restart). Later workers (hot reload, a crash's replacement) are
spawned (:func:`spawn_worker`): by then this process runs threads and an event loop, which a
fork must not copy. :class:`~durable.devserver.workers.WorkerProcess` then adopts the process
and talks to it over the socket.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NoReturn, Protocol

from .framing import encode

#: Signals the worker ignores (:func:`durable.devserver.worker.main`). They stay blocked from
#: the spawn until it ignores them: Ctrl-C while its interpreter starts and imports must not
#: end it with a traceback of its own (the terminal sends it to the whole process group).
WORKER_IGNORES = frozenset({signal.SIGINT, signal.SIGTERM})


class Process(Protocol):
    """What the server uses of a worker process: :class:`subprocess.Popen`'s interface, which
    :class:`ForkedProcess` also has."""

    pid: int
    stdout: IO[bytes] | None

    def poll(self) -> int | None:
        """The exit code if the process has ended (reaping it), else None."""

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the process to end; its exit code (``-N`` for signal ``N``)."""

    def kill(self) -> None:
        """SIGKILL the process (unless it was reaped already)."""


class ForkedProcess:
    """A worker forked from this process (:func:`fork_worker`), with :class:`Process`'s
    interface; exit codes as :class:`subprocess.Popen` gives them."""

    def __init__(self, pid: int, stdout: IO[bytes]) -> None:
        self.pid = pid
        self.stdout: IO[bytes] | None = stdout
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit code if the process has ended (reaping it), else None."""
        if self.returncode is None:
            self._reap(os.WNOHANG)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the process to end (``timeout``: :class:`subprocess.TimeoutExpired`)."""
        if timeout is None:
            while self.returncode is None:
                self._reap(0)
            return self.returncode
        import time

        deadline = time.monotonic() + timeout
        while (code := self.poll()) is None:
            if time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired([str(self.pid)], timeout)
            time.sleep(0.005)
        return code

    def kill(self) -> None:
        """SIGKILL the process (unless it was reaped already: its pid may be reused)."""
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):  # ended, not reaped yet
                os.kill(self.pid, signal.SIGKILL)

    def _reap(self, flags: int) -> None:
        try:
            pid, status = os.waitpid(self.pid, flags)
        except ChildProcessError:  # reaped elsewhere: the code is lost
            self.returncode = 255
            return
        if pid == self.pid:
            self.returncode = os.waitstatus_to_exitcode(status)


@dataclass(slots=True)
class SpawnedWorker:
    """A worker process just spawned, and the server's end of its socket."""

    process: Process
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


def spawn_worker(
    files: list[Path], root: Path, python: str = sys.executable, *, spare: bool = False
) -> SpawnedWorker:
    """Start ``python -m durable.devserver.worker`` for ``files``, with a socket pair to it
    (``spare``: for files it is sent later, see :class:`Spare`).

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
            *(["--spare"] if spare else []), *map(str, files),
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
    return _unmask(SpawnedWorker(process, ours, files, root), mask)


def _unmask(spawned: SpawnedWorker, mask: Iterable[int]) -> SpawnedWorker:
    """Restore this process's signal mask; a Ctrl-C held back meanwhile raises here, and
    then ends the worker just started (none is left behind)."""
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    except BaseException:
        spawned.discard()
        raise
    return spawned


#: ``DURABLE_FORK_WORKER=0`` spawns the first worker too (a profiler or a coverage tool set up
#: at interpreter start, by ``sitecustomize``, then sees it start).
FORK_ENV = "DURABLE_FORK_WORKER"


class Spare:
    """One worker process started ahead of need: its interpreter is up and the engine is
    imported, not the user's code, which it loads when it is taken (:meth:`take`). A reload,
    a crashed worker's replacement or a suspect run's own worker then skips the interpreter's
    start-up and the engine's imports (~150-200 ms); the next spare starts at once, in the
    background. Spawned, never forked: by then the server runs threads."""

    def __init__(self, root: Path, python: str = sys.executable) -> None:
        self.root = root
        self.python = python
        self._waiting: SpawnedWorker | None = None
        self._installed: tuple[tuple[str, int], ...] = ()  #: see :func:`installed_stamp`
        self._closed = False

    def take(self, files: list[Path]) -> SpawnedWorker | None:
        """The spare, told to load ``files``; None if there is none, it died, packages were
        installed since it started (it would import from a stale ``sys.path``), or the list
        is too long for one message that never blocks (:data:`LOAD_LIMIT`). A new spare is
        started meanwhile."""
        spare, self._waiting = self._waiting, None
        taken = None
        if spare is not None:
            message = encode_load(files)
            fresh = spare.process.poll() is None and self._installed == installed_stamp()
            try:
                if fresh and len(message) <= LOAD_LIMIT:
                    spare.socket.sendall(message)  # (fits the socket's buffer: no wait)
                    spare.files = list(files)
                    taken = spare
            except OSError:  # it died a moment ago
                pass
            if taken is None:
                spare.discard()
        self.refill()
        return taken

    def refill(self) -> None:
        """Start a spare unless one waits (or :meth:`close` was called); none if the
        process cannot be started now (the next worker is spawned as before)."""
        if self._waiting is None and not self._closed:
            self._installed = installed_stamp()
            try:
                self._waiting = spawn_worker([], self.root, self.python, spare=True)
            except OSError as exc:  # out of processes or descriptors: no spare this time
                import logging  # (not on the launcher's way to the first worker)

                logging.getLogger("durable.devserver").warning(
                    "cannot start a spare worker process: %s", exc
                )

    @property
    def waiting(self) -> SpawnedWorker | None:
        """The spare waiting to be taken, if any."""
        return self._waiting

    def close(self) -> None:
        """End the waiting spare; start no more."""
        self._closed = True
        if self._waiting is not None:
            self._waiting.discard()
            self._waiting = None


#: The longest list of files sent to a spare (a longer one is spawned with the files on its
#: command line, as before): well under a socket pair's buffer, so sending never blocks.
LOAD_LIMIT = 64 * 1024


def installed_stamp() -> tuple[tuple[str, int], ...]:
    """When the site-packages folders last changed (``pip install`` adds and removes entries
    there, ``.pth`` files included): a spare started before a change is not used."""
    import site

    folders = [*site.getsitepackages(), site.getusersitepackages()]
    stamp = []
    for folder in folders:
        with contextlib.suppress(OSError):
            stamp.append((folder, os.stat(folder).st_mtime_ns))
    return tuple(stamp)


def encode_load(files: list[Path]) -> bytes:
    """The message that tells a spare which files to load (one line of the socket's
    framing)."""
    return encode({"t": "load", "files": [str(file) for file in files]})


def can_fork() -> bool:
    """Whether this process may fork a worker: Linux (elsewhere a fork without exec is not
    safe with every system library), no thread besides this one (a fork copies only the
    calling thread: a lock another held would stay locked in the child), and not turned off
    (:data:`FORK_ENV`)."""
    threading = sys.modules.get("threading")
    alone = threading is None or threading.active_count() == 1
    wanted = os.environ.get(FORK_ENV, "1") != "0"
    return sys.platform.startswith("linux") and hasattr(os, "fork") and alone and wanted


def fork_worker(
    files: list[Path], root: Path, *, close_in_child: Iterable[socket.socket] = ()
) -> SpawnedWorker:
    """Fork a worker for ``files`` (:func:`can_fork` must be true), as :func:`spawn_worker`
    would spawn it: its own socket pair and output pipe, stdin from ``/dev/null``, no other
    descriptor of this process (``close_in_child``, the listening sockets, are detached
    first: the worker must not hold the port), ``root`` as its directory and ``sys.path[0]``,
    stdout and stderr with the encodings a new interpreter would choose, SIGINT and SIGTERM
    blocked until it ignores them, its own ``atexit`` handlers only."""
    ours, theirs = socket.socketpair()
    read_end, write_end = os.pipe()
    parent = os.getpid()  # (read after the fork, it could already be init's)
    for stream in (sys.stdout, sys.stderr):  # or the child writes what this one buffered
        if stream is not None:
            stream.flush()
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, WORKER_IGNORES)
    try:
        pid = os.fork()
    except BaseException:
        for fd in (read_end, write_end):
            os.close(fd)
        ours.close()
        theirs.close()
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        raise
    if pid == 0:  # the worker (it never returns)
        _run_forked_worker(
            _Child(theirs, [ours, *close_in_child], read_end, write_end, parent), files, root
        )
    theirs.close()
    os.close(write_end)
    process = ForkedProcess(pid, os.fdopen(read_end, "rb"))
    return _unmask(SpawnedWorker(process, ours, files, root), mask)


@dataclass(slots=True)
class _Child:
    """What the forked child holds of the parent's set-up."""

    theirs: socket.socket  #: the worker's end of the socket pair
    detach: list[socket.socket]  #: the parent's sockets: they own no descriptor here
    read_end: int
    write_end: int
    parent: int


def _run_forked_worker(child: _Child, files: list[Path], root: Path) -> NoReturn:
    """The forked child: become ``python -m durable.devserver.worker``, then ``_exit``."""
    code = 1
    try:
        import atexit

        atexit._clear()  # the parent's handlers are not this process's to run
        logging = sys.modules.get("logging")
        if logging is not None:  # its import registered it, in the parent: first again
            atexit.register(logging.shutdown)
        fd = _set_up_descriptors(child)
        os.chdir(root)
        os.environ["PYTHONUNBUFFERED"] = "1"  # as spawned: for the processes user code starts
        from . import worker

        sys.modules["__main__"] = worker  # (multiprocessing re-imports the worker, not the CLI)
        if sys.path and not sys.flags.safe_path:
            sys.path[0] = str(root)  # as ``python -m`` run in ``root`` puts it
        argv = ["--fd", str(fd), "--root", str(root), "--parent", str(child.parent)]
        argv += [str(file) for file in files]
        sys.argv = [worker.__file__ or "durable.devserver.worker", *argv]
        try:
            worker.main(argv)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        _finalize()
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # nothing is left to tell it to
                stream.flush()
        os._exit(code)  # never the parent's objects' finalizers


def _set_up_descriptors(child: _Child) -> int:
    """stdin from /dev/null, stdout and stderr into the pipe, every other descriptor closed
    but the socket's (as ``close_fds``); the socket's descriptor."""
    for sock in child.detach:
        sock.detach()  # the objects now own nothing: closing (or collecting) them is harmless
    os.close(child.read_end)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(child.write_end, 1)
    os.dup2(child.write_end, 2)
    fd = child.theirs.detach()
    os.closerange(3, fd)
    os.closerange(fd + 1, os.sysconf("SC_OPEN_MAX"))
    out, err = sys.__stdout__, sys.__stderr__
    sys.stdout = _unbuffered(1, out, "strict")
    sys.stderr = _unbuffered(2, err, "backslashreplace")
    setattr(sys, "__stdout__", sys.stdout)  # noqa: B010 - (typeshed: a final name)
    setattr(sys, "__stderr__", sys.stderr)  # noqa: B010
    return fd


def _finalize() -> None:
    """What an interpreter does at a normal exit: join the non-daemon threads, then run the
    ``atexit`` handlers (user code's, ``logging``'s)."""
    import atexit
    import threading

    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is not None:
        shutdown()
    atexit._run_exitfuncs()


def _unbuffered(fd: int, like: io.TextIOBase | None, errors: str) -> io.TextIOWrapper:
    """A text stream on ``fd`` that writes through at once (``PYTHONUNBUFFERED``), with the
    encoding this interpreter chose for ``like`` (``PYTHONIOENCODING``, the locale, UTF-8
    mode: as a new interpreter would choose for a pipe)."""
    raw = io.FileIO(fd, "w", closefd=False)
    encoding = getattr(like, "encoding", None) or "utf-8"
    errors = getattr(like, "errors", None) or errors
    return io.TextIOWrapper(raw, encoding=encoding, errors=errors, write_through=True)
