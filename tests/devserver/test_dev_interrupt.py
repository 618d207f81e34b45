"""Ctrl-C while ``durable dev`` is still starting ends it as a later one does: exit 0, no
traceback, no worker left, the database fine for the next start.

The moments are found by watching the real process, not by guessing delays: the import-time
lines Python writes (``PYTHONPROFILEIMPORTTIME``) show how far the command line has loaded,
and ``/proc`` (Linux) shows when the worker is spawned. The cases after the spawn then wait a
little more: wherever that lands (the worker importing, the server's imports, the store,
uvicorn's start), the outcome must be the same.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from durable.devserver.spawn import spawn_worker
from tests.support.harness import free_port, wait_for

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


class Dev:
    """One ``durable dev examples/`` process; its output goes to files (read while it runs)."""

    def __init__(self, tmp: Path, db: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.out, self.err = tmp / "out.txt", tmp / "err.txt"
        with self.out.open("w") as out, self.err.open("w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "durable.cli.main", "dev", str(EXAMPLES), "--no-tui",
                 "--db", str(db), "--port", str(self.port)],
                cwd=REPO, stdout=out, stderr=err,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
                start_new_session=True,  # its own process group, as a terminal's foreground job
            )  # fmt: skip

    def imported(self, module: str) -> None:
        """Wait until an import-time line names ``module`` (or a submodule): loaded that far."""

        def names() -> bool:
            for line in self.err.read_text().splitlines():
                name = line.rsplit("|", 1)[-1].strip()
                if name == module or name.startswith(module + "."):
                    return True
            assert self.process.poll() is None, "it ended before the interrupt"
            return False

        wait_for(names, 30, f"{module} to be imported", 0.002)

    def spawned(self, after: float = 0.0) -> None:
        """Wait until the worker is spawned, then ``after`` seconds more (wherever that lands
        in the start-up, it must end cleanly)."""
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children")
        wait_for(lambda: children.read_text().split(), 30, "the worker's spawn", 0.002)
        time.sleep(after)

    def interrupt(self) -> str:
        """Ctrl-C (SIGINT to the process group, as a terminal sends it); wait for the end;
        return everything it printed."""
        try:
            os.killpg(self.process.pid, signal.SIGINT)
            self.process.wait(timeout=20)
        finally:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.out.read_text() + self.err.read_text()


# what is going on; whether import-time lines are wanted; how to get there
MOMENTS: list[tuple[str, bool, Callable[[Dev], None]]] = [
    ("reading the command line", True, lambda dev: dev.imported("durable.cli.dev_argv")),
    ("in `durable dev`", True, lambda dev: dev.imported("durable.devserver.dev")),
    ("the worker just spawned", False, lambda dev: dev.spawned()),
    ("the server booting", False, lambda dev: dev.spawned(0.15)),
    ("later in the start-up", False, lambda dev: dev.spawned(0.35)),
]


def test_ctrl_c_while_starting_exits_0_quietly_and_leaves_no_worker(tmp_path: Path) -> None:
    db = tmp_path / "dev.db"
    for moment, import_times, reach in MOMENTS:
        dev = Dev(tmp_path, db, {"PYTHONPROFILEIMPORTTIME": "1"} if import_times else None)
        try:
            reach(dev)
        except BaseException:  # never leave it running (a moment not reached)
            os.killpg(dev.process.pid, signal.SIGKILL)
            dev.process.wait()
            raise
        printed = dev.interrupt()
        shown = f"{moment}:\n{printed}"
        assert "Traceback" not in printed and "Exception ignored" not in printed, shown
        assert "KeyboardInterrupt" not in printed and "CancelledError" not in printed, shown
        assert dev.process.returncode == 0, shown  # as a later Ctrl-C (docs/cli.md)
        with pytest.raises(ProcessLookupError):  # nothing left in its group: no worker
            os.killpg(dev.process.pid, 0)
    # The database is fine: the next `durable dev` on it starts (and a later Ctrl-C ends it).
    dev = Dev(tmp_path, db)
    with httpx.Client(base_url=f"http://127.0.0.1:{dev.port}", timeout=5) as client:
        try:
            wait_for(lambda: client.get("/health").status_code == 200, 30, "/health")
        finally:
            printed = dev.interrupt()
    assert dev.process.returncode == 0, printed
    assert "error" not in dev.err.read_text() and "Traceback" not in printed, printed


def test_a_worker_interrupted_while_its_interpreter_starts_goes_on(tmp_path: Path) -> None:
    """Ctrl-C reaches the worker too (the process group) before it ignores it: it must not
    die with a traceback of its own (the server ends it when it is done)."""
    (tmp_path / "app.py").write_text("from durable import Durable\n\napp = Durable(id='a')\n")
    worker = spawn_worker([tmp_path / "app.py"], tmp_path)
    try:
        os.kill(worker.process.pid, signal.SIGINT)  # at once: it has not even imported yet
        worker.socket.settimeout(30)
        said = b""
        while b'"hello"' not in said:  # once the code is loaded
            chunk = worker.socket.recv(65536)
            assert chunk, f"the worker ended before its hello: {said!r}"
            said += chunk
        assert worker.process.poll() is None
    finally:
        worker.discard()
