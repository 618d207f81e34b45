"""``durable dev`` on a terminal: the server as a child process, the inspector in front.

The TUI process never runs the server: ``durable dev --no-tui ...`` runs as a child in its
own session, its log lines go to a file (``dev.log`` beside the database) instead of the
terminal the TUI draws on, and the TUI attaches to it over HTTP like ``durable tui`` does.
Quitting the TUI (or Ctrl-C, or the TUI failing) stops the server politely (SIGTERM, so
workers and the database close cleanly); on Linux the child also gets SIGTERM if the parent
dies without a chance to clean up (``kill -9``, a closed terminal).
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

#: ``prctl(PR_SET_PDEATHSIG, ...)``: the signal the child gets when its parent dies.
_PR_SET_PDEATHSIG = 1
STOP_TIMEOUT = 10.0
START_TIMEOUT = 60.0

#: What runs in front of the server: ``run_app(url, exit_reason, log)``.
RunApp = Callable[[str, Callable[[], str | None], Path], None]


def wants_tui(no_tui: bool, stdout_is_terminal: bool) -> bool:
    """Whether ``durable dev`` shows the inspector: on a terminal, unless ``--no-tui``."""
    return stdout_is_terminal and not no_tui


def log_path(db: str) -> Path:
    """Where the child's log goes: ``dev.log`` beside the database (``.durable/`` for memory
    and PostgreSQL)."""
    elsewhere = db == ":memory:" or db.startswith(("postgresql://", "postgres://"))
    folder = Path(".durable") if elsewhere else Path(db).parent
    return folder / "dev.log"


def connect_host(host: str) -> str:
    """The address to reach a server bound to ``host`` (wildcards mean this machine)."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def port_in_use(host: str, port: int) -> bool:
    """Whether binding ``host:port`` fails now (another server has it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _die_with_parent_hook() -> Callable[[], None]:
    """A ``preexec_fn`` asking the kernel to SIGTERM the child when this process dies.
    ctypes is imported here (only the TUI's server child needs it), not in the child between
    fork and exec."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:  # no libc to ask: the child's socket still tells it the inspector left
        return lambda: None

    def hook() -> None:  # pragma: no cover - runs in the child between fork and exec
        with contextlib.suppress(Exception):
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return hook


class ServerStartError(RuntimeError):
    """The child server exited or never answered; the message ends with its log."""


class LogNotWritableError(ServerStartError):
    """The child server's log file (beside ``--db``) cannot be created or opened."""


class ServerChild:
    """A ``durable dev --no-tui`` child process with its log in a file."""

    def __init__(self, args: list[str], url: str, log: Path) -> None:
        self.args = args
        self.url = url
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = START_TIMEOUT) -> ServerChild:
        """Start the server; return once ``/health`` answers (raise if it exits first)."""
        self.spawn()
        self.wait_ready(timeout)
        return self

    def spawn(self) -> None:
        """Start the server process; don't wait. :class:`LogNotWritableError` if its log
        cannot be written."""
        command = [sys.executable, "-m", "durable.cli.main", "dev", *self.args, "--no-tui"]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        try:
            self.log.parent.mkdir(parents=True, exist_ok=True)
            log_file = self.log.open("ab")
        except OSError as exc:
            raise LogNotWritableError(
                f"cannot write the server log {self.log} ({exc.filename or self.log}: "
                f"{exc.strerror or exc}); it goes beside --db: pick a writable folder"
            ) from None
        with log_file as log:
            log.write(f"\n--- durable dev (inspector attached) pid {os.getpid()}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # the terminal's Ctrl-C is the TUI's, not the server's
                preexec_fn=_die_with_parent_hook() if sys.platform == "linux" else None,
            )

    def wait_ready(self, timeout: float) -> None:
        """Poll ``/health`` every 50 ms until it answers or the process ends."""
        import httpx  # here, not at the top: `durable dev --no-tui` never pays for it

        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=1.0) as client:
            while True:
                if self.exit_reason() is not None:
                    raise ServerStartError(self.failure("durable dev exited"))
                with contextlib.suppress(httpx.HTTPError):
                    if client.get("/health").status_code == 200:
                        return
                if time.monotonic() > deadline:
                    self.stop()
                    raise ServerStartError(self.failure(f"no answer on {self.url}"))
                time.sleep(0.05)

    def failure(self, what: str) -> str:
        """``what``, then the last lines of the log."""
        return f"{what}; its log ({self.log}):\n{self.tail()}"

    def tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of the log."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def exit_reason(self) -> str | None:
        """None while the server runs; else why it is gone (for the TUI's status bar)."""
        if self.process is None:
            return "not started"
        code = self.process.poll()
        if code is None:
            return None
        return f"the server process exited with code {code}; see {self.log}"

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM the server (it shuts down workers and the store), SIGKILL after ``timeout``."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # workers the server left behind, if any
        return process.returncode


def run_with_tui(args: list[str], url: str, log: Path, load_app: Callable[[], RunApp]) -> int:
    """Start the server child, run ``load_app()(url, exit_reason, log)`` in front, stop the child.

    ``load_app`` is called once the child is spawned, so that importing the inspector
    (Textual) overlaps the server's start. Whatever happens from the spawn on (Ctrl-C while
    waiting for ``/health``, a server that never answers, the app failing), the child is
    stopped. Raises :class:`ServerStartError` (:class:`LogNotWritableError` for the log).
    """
    child = ServerChild(args, url, log)
    print(f"durable dev: starting the server on {url} (log: {log}) …", file=sys.stderr)
    try:
        child.spawn()
        run_app = load_app()
        child.wait_ready(START_TIMEOUT)
        run_app(url, child.exit_reason, log)
    except KeyboardInterrupt:
        pass
    finally:
        code = child.stop()
    print(f"durable dev: server stopped (exit code {code}); its log is in {log}", file=sys.stderr)
    return 0
