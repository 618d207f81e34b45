"""Faults around loading user code and around the worker's life, with a real ``durable dev``.

- runs due while their module is broken at start-up wait (visibly) instead of failing, and
  go on when the file is fixed;
- a module that kills or hangs the worker at import is named, and the others still load;
- a worker dies with its server (``kill -9`` of the server alone), and when its socket to the
  server closes, even mid-step.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from durable._engine.protocol import ExecutionRequest
from durable.devserver.lifeline import EXIT_SERVER_GONE
from durable.devserver.workers import WorkerDied, WorkerProcess
from tests.support.harness import DevProcess, wait_for

NAPPER = textwrap.dedent(
    """
    import os
    from pathlib import Path
    from durable import Durable

    app = Durable(id="faults")
    LEDGER = Path(os.environ["LEDGER"])


    def record(name):
        with LEDGER.open("a") as f:
            f.write(name + "\\n")
        return name


    @app.function(id="napper", triggers=[{"event": "job/nap"}])
    async def napper(ctx):
        n = ctx.event.data["n"]
        a = await ctx.step.run("a", record, f"{n}:a")
        await ctx.step.sleep("nap", "2s")
        b = await ctx.step.run("b", record, f"{n}:b")
        return [a, b]
    """
)


def _ledger(root: Path) -> list[str]:
    path = root / "ledger.txt"
    return path.read_text().splitlines() if path.exists() else []


def _server(root: Path, app: Path, **kwargs: Any) -> DevProcess:
    return DevProcess(root, app, env={"LEDGER": str(root / "ledger.txt")}, **kwargs)


def test_runs_due_while_their_module_is_broken_wait_and_go_on_once_it_is_fixed(
    tmp_path: Path,
) -> None:
    app = tmp_path / "app.py"
    app.write_text(NAPPER)
    first = _server(tmp_path, app).start()
    try:
        for n in range(3):
            first.send({"name": "job/nap", "data": {"n": n}})
        wait_for(
            lambda: len([r for r in first.runs() if r["status"] == "sleeping"]) == 3,
            what="3 sleeping runs",
        )
    finally:
        first.stop()

    app.write_text(NAPPER + "\ndef broken(:\n")
    second = _server(tmp_path, app, port=first.port).start()
    try:
        functions = second.get("/api/functions")
        assert functions["functions"] == []
        assert functions["errors"][0]["file"].endswith("app.py")

        def held() -> list[dict[str, Any]]:
            runs = second.runs()
            return runs if all(r["status"] == "queued" for r in runs) else []

        runs = wait_for(held, what="the due runs to be held back")  # the 2 s naps end
        assert len(runs) == 3
        for run in runs:
            detail = second.get(f"/api/runs/{run['run_id']}")
            assert detail["status"] == "queued"
            reason = detail["queued_reason"]
            assert reason.startswith("function not loaded: "), reason
            assert "app.py" in reason and "SyntaxError" in reason, reason
        time.sleep(0.5)  # held, not failed, nor retried in a loop
        assert {r["status"] for r in second.runs()} == {"queued"}
        assert "UnknownFunctionError" not in second.output()

        app.write_text(NAPPER)  # the fix, hot-reloaded
        done = wait_for(lambda: second.finished("napper", 3), what="the runs to finish")
        assert {r["status"] for r in done} == {"completed"}
        assert all(r["queued_reason"] is None for r in second.runs())
        lines = _ledger(tmp_path)
        for n in range(3):  # the first steps were not run again
            assert lines.count(f"{n}:a") == 1 and lines.count(f"{n}:b") == 1, lines
    finally:
        second.stop()


WAITER = textwrap.dedent(
    """
    import os
    from pathlib import Path
    from durable import Durable

    app = Durable(id="faults")
    CRASHED = Path(os.environ["CRASHED"])


    @app.function(id="waiter", triggers=[{"event": "job/wait"}], backoff=["20ms"])
    async def waiter(ctx):
        go = await ctx.step.wait_for_event("go", event="job/go", timeout="1h")
        return go.data if go else None


    @app.function(id="crasher", triggers=[{"event": "job/crash"}], retries=3, backoff=["20ms"])
    async def crasher(ctx):
        def die_once():
            if not CRASHED.exists():
                CRASHED.write_text("x")
                os._exit(13)
            return "survived"
        return await ctx.step.run("die", die_once)
    """
)


def test_runs_wait_when_the_worker_restarts_on_a_module_that_no_longer_loads(
    tmp_path: Path,
) -> None:
    """A save broke the module (the old worker serves on), then the worker crashed: its
    replacement cannot load the module, so due runs of its functions wait, not fail."""
    app = tmp_path / "app.py"
    app.write_text(WAITER)
    server = DevProcess(tmp_path, app, env={"CRASHED": str(tmp_path / "crashed")}).start()
    try:
        server.send({"name": "job/wait"})
        wait_for(lambda: server.runs(status="waiting"), what="a waiting run")
        app.write_text(WAITER + "\ndef broken(:\n")
        wait_for(lambda: server.get("/api/functions")["errors"], what="the failed reload")
        server.send({"name": "job/crash"})  # kills the old worker
        wait_for(lambda: (tmp_path / "crashed").exists(), what="the crash")
        server.send({"name": "job/go", "data": {"ok": 1}})  # the waiter is due again

        def held() -> list[dict[str, Any]]:
            runs = server.runs()
            return runs if {r["status"] for r in runs} == {"queued"} else []

        for run in wait_for(held, what="both runs to be held back"):
            assert run["queued_reason"].startswith("function not loaded: "), run
            assert "app.py" in run["queued_reason"], run

        app.write_text(WAITER)
        done = wait_for(lambda: server.finished("waiter", 1) and server.finished("crasher", 1))
        assert done
        outputs = {r["function_id"]: r["output"] for r in server.runs()}
        assert outputs == {"waiter": {"ok": 1}, "crasher": "survived"}
    finally:
        server.stop()


GOOD = textwrap.dedent(
    """
    from durable import Durable

    app = Durable(id="good")


    @app.function(id="good", triggers=[{"event": "job/good"}])
    async def good(ctx):
        return await ctx.step.run("one", lambda: "fine")
    """
)
EXITS = "import os\nfrom durable import Durable\n\napp = Durable(id='exits')\nos._exit(3)\n"
HANGS = "import time\nfrom durable import Durable\n\napp = Durable(id='hangs')\ntime.sleep(600)\n"


def test_a_module_that_kills_or_hangs_the_worker_is_named_and_the_others_load(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "exits.py").write_text(EXITS)
    (project / "good.py").write_text(GOOD)
    (project / "hangs.py").write_text(HANGS)
    server = _server(tmp_path, project, extra_args=["--import-timeout", "2"])
    began = time.monotonic()
    server.start()
    try:
        took = time.monotonic() - began
        assert took < 20, f"start took {took:.1f}s"  # was: the whole server stuck for 30 s
        functions = server.get("/api/functions")
        assert [f["id"] for f in functions["functions"]] == ["good"]
        errors = {Path(e["file"]).name: e["message"] for e in functions["errors"]}
        assert errors == {
            "exits.py": "the worker process exited with code 3 while importing it",
            "hangs.py": "import did not finish within 2 s (the worker was killed)",
        }
        log = server.output()
        assert "exits.py: the worker process exited with code 3 while importing it" in log
        server.send({"name": "job/good"})
        run = wait_for(lambda: server.finished("good", 1), what="a run of the good module")[0]
        assert run["status"] == "completed" and run["output"] == "fine"
    finally:
        server.stop()


STUCK = textwrap.dedent(
    """
    import os
    import time
    from pathlib import Path
    from durable import Durable

    app = Durable(id="stuck")


    def long_step():
        Path(os.environ["MARKER"]).write_text(str(os.getpid()))
        time.sleep(60)
        return "late"


    @app.function(id="stuck", triggers=[{"event": "job/stuck"}])
    async def stuck(ctx):
        return await ctx.step.run("long", long_step)
    """
)


def _gone(pid: int) -> bool:
    """The process ended (a zombie nobody reaped yet counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def test_kill_9_of_the_server_alone_ends_its_worker_mid_step(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(STUCK)
    marker = tmp_path / "marker"
    server = DevProcess(tmp_path, app, env={"MARKER": str(marker)}, reload=False).start()
    worker_pid = None
    try:
        server.send({"name": "job/stuck"})
        worker_pid = int(wait_for(lambda: marker.exists() and marker.read_text(), what="step"))
        assert server.process is not None
        assert not _gone(worker_pid)
        os.kill(server.process.pid, signal.SIGKILL)  # the server only, as the OOM killer
        server.process.wait(timeout=10)
        deadline = time.monotonic() + 2
        while not _gone(worker_pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _gone(worker_pid), "the worker outlived its server"
    finally:
        server.kill()  # the whole group, whatever is left
        if worker_pid is not None and not _gone(worker_pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker_pid, signal.SIGKILL)


class _Host:
    """An ExecutionHost that only notes that a step started."""

    def __init__(self) -> None:
        self.started = asyncio.Event()

    def is_cancelled(self) -> bool:
        return False

    async def checkpoint(self, message: Any) -> Any:
        raise AssertionError("no checkpoint expected")

    def log(self, line: Any) -> None:
        pass

    def step_started(self, notice: Any) -> None:
        self.started.set()


def test_a_worker_exits_as_soon_as_its_socket_to_the_server_closes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the server alive (no parent-death signal), closing the socket alone ends the
    worker even though a step body is running in a thread."""
    app = tmp_path / "stuck_app.py"
    app.write_text(STUCK)
    monkeypatch.setenv("MARKER", str(tmp_path / "marker"))

    async def scenario() -> int | None:
        worker = WorkerProcess([app], tmp_path, on_output=lambda line: None)
        await worker.start()
        host = _Host()
        request = ExecutionRequest(
            run_id="run-1",
            function_id="stuck",
            event={"name": "job/stuck", "data": {}, "id": "e1", "ts": 0},
            events=(),
            steps={},
        )
        running = asyncio.ensure_future(worker.execute(request, host))  # type: ignore[arg-type]
        await asyncio.wait_for(host.started.wait(), 10)
        assert worker.process is not None and worker._socket is not None
        worker._socket.shutdown(2)  # the server's end goes away; the process is left alone
        try:
            with pytest.raises(WorkerDied):
                await asyncio.wait_for(running, 2)
            return worker.process.poll()
        finally:
            await worker.kill()

    code = asyncio.run(scenario())
    assert code is not None and code != -signal.SIGKILL, code  # it exited by itself


def test_a_worker_whose_parent_is_already_gone_exits_at_once(tmp_path: Path) -> None:
    code = "from durable.devserver.lifeline import die_with_parent\n"
    code += "die_with_parent(1)\nprint('still running')\n"  # pid 1 is not our parent
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, cwd=tmp_path
    )
    assert (done.returncode, done.stdout) == (EXIT_SERVER_GONE, "")
