"""``durable dev --no-tui`` as a real process: a busy port and Ctrl-C end it cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx

from tests.support.harness import free_port, wait_for

APP = textwrap.dedent(
    """
    from durable import Durable

    app = Durable(id="lifecycle")

    @app.function(id="nap", triggers=[{"event": "t/nap"}])
    async def nap(ctx):
        await ctx.step.run("before", lambda: 1)
        await ctx.step.sleep("long", "1h")
        return "done"
    """
)


def _dev(tmp_path: Path, port: int) -> subprocess.Popen[str]:
    (tmp_path / "app.py").write_text(APP)
    return subprocess.Popen(
        [sys.executable, "-m", "durable.cli.main", "dev", "app.py", "--no-tui",
         "--db", str(tmp_path / "dev.db"), "--port", str(port)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )  # fmt: skip


def test_a_port_in_use_exits_2_at_once_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = _dev(tmp_path, port)
        try:
            out, err = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    assert process.returncode == 2, err
    assert err.startswith(f"error: port {port} is in use"), err
    assert "--port picks another" in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in out + err and "serving" not in out


def test_ctrl_c_shuts_down_quietly_with_runs_in_flight(tmp_path: Path) -> None:
    port = free_port()
    process = _dev(tmp_path, port)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=5) as client:
            wait_for(lambda: client.get("/health").status_code == 200, 30, "/health")
            client.post("/api/events", json=[{"name": "t/nap"} for _ in range(5)])
            wait_for(
                lambda: (
                    len(client.get("/api/runs", params={"status": "sleeping"}).json()["runs"]) == 5
                ),
                30,
                "five sleeping runs",
            )
            with client.stream("GET", "/api/stream"):  # an open live view, as the TUI holds
                began = time.monotonic()
                os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C on a terminal sends
                out, err = process.communicate(timeout=20)
        assert time.monotonic() - began < 15
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, err
    assert "Traceback" not in out + err
    assert "KeyboardInterrupt" not in out + err and "CancelledError" not in out + err
    assert err == ""


def test_fixtures_written_in_the_watched_folder_do_not_reload(tmp_path: Path) -> None:
    from durable._replay.fixtures import write_fixture

    (tmp_path / "app.py").write_text(APP)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "durable.cli.main", "dev", ".", "--no-tui",
         "--db", str(tmp_path / ".durable" / "dev.db"), "--port", str(port)],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            wait_for(lambda: client.get("/health").status_code == 200, 30, "/health")
            write_fixture(tmp_path / "fixtures" / "nap.json", {"function": "nap"})  # an export
            time.sleep(1.5)  # reloads show within a second of a change
            assert client.get("/health").json()["reloads"] == 0
            (tmp_path / "app.py").write_text(APP + "\n# edited\n")  # a code change does
            wait_for(lambda: client.get("/health").json()["reloads"] == 1, 30, "a reload")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


FAILING = textwrap.dedent(
    """
    from durable import Durable, NonRetriableError

    app = Durable(id="failing")

    def charge():
        raise NonRetriableError("card declined")

    @app.function(id="pay", triggers=[{"event": "t/pay"}], retries=0)
    async def pay(ctx):
        await ctx.step.run("charge", charge)
    """
)


def test_exported_fixtures_hold_no_machine_paths(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(FAILING)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "durable.cli.main", "dev", "app.py", "--no-tui", "--no-reload",
         "--db", str(tmp_path / "dev.db"), "--port", str(port)],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            wait_for(lambda: client.get("/health").status_code == 200, 30, "/health")
            client.post("/api/events", json={"name": "t/pay"})
            run = wait_for(
                lambda: [
                    r for r in client.get("/api/runs").json()["runs"] if r["status"] == "failed"
                ],
                30,
                "the failed run",
            )[0]
            shown = client.get(f"/api/runs/{run['run_id']}").json()
            fixture = client.get(f"/api/runs/{run['run_id']}/fixture").text
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    traceback = shown["steps"][0]["error"]["traceback"]
    assert traceback.splitlines()[1].strip().startswith(f'File "{tmp_path / "app.py"}"')
    assert "_core.py" not in traceback and "concurrent" not in traceback
    assert str(tmp_path) not in fixture
    assert 'File \\"app.py\\", line 7, in charge' in fixture
