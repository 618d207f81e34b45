"""``durable dev`` spawns its first worker before it imports the engine, and adopts it."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from durable.devserver.dev.launch import launch_first_worker
from durable.devserver.dev.server import DevServer
from durable.devserver.options import DevOptions
from tests.support.harness import DevProcess, free_port, wait_for

APP = textwrap.dedent(
    """
    from durable import Durable

    app = Durable(id="launch")

    @app.function(id="hello", triggers=[{"event": "t/hello"}])
    async def hello(ctx):
        return "hi"
    """
)

HEAVY = [
    "asyncio",
    "durable._engine.context",
    "durable._engine.execution",
    "durable._orchestration.orchestrator",
    "durable._stores.sqlite",
    "pydantic",
    "httpx",
]


def imported_after(statement: str) -> list[str]:
    """Which of the heavy modules a fresh interpreter holds after ``statement``."""
    probe = (
        f"import json, sys; {statement}; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    output = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    return list(json.loads(output))


def test_importing_durable_its_cli_or_the_launcher_does_not_load_the_engine() -> None:
    assert imported_after("import durable") == []
    assert imported_after("import durable.cli.main") == []
    assert imported_after("import durable.devserver.dev.launch") == []
    assert imported_after("from durable import StepError") == []
    assert "durable._engine.context" in imported_after("from durable import Context")


def test_the_first_worker_is_spawned_before_the_server_exists_and_adopted(
    tmp_path: Path,
) -> None:
    (tmp_path / "app.py").write_text(APP)
    options = DevOptions(paths=[tmp_path / "app.py"], db=str(tmp_path / "dev.db"), root=tmp_path)
    worker = launch_first_worker(options)
    assert worker is not None
    assert worker.process.poll() is None  # running: importing the user's code already

    async def boot() -> tuple[int | None, list[str]]:
        server = DevServer(options, launched=worker)
        await server.start()
        current = server.executor.current
        pid = current.process.pid if current and current.process else None
        await server.executor.close()
        server.store.close()
        return pid, sorted(server.registry.functions)

    pid, functions = asyncio.run(boot())
    assert pid == worker.process.pid  # the launched worker, not a second one
    assert functions == ["hello"]


@pytest.mark.parametrize("content", [b"not a database", b""])
def test_an_unusable_database_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "app.py").write_text(APP)
    db = tmp_path / "dev.db"
    if content:
        db.write_bytes(content)
    else:  # a database written by a newer durable
        conn = sqlite3.connect(db)
        conn.execute("PRAGMA user_version=999")
        conn.commit()
        conn.close()
    result = subprocess.run(
        [sys.executable, "-m", "durable.cli.main", "dev", "app.py", "--no-tui", "--no-reload",
         "--db", str(db), "--port", str(free_port())],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert f"error: cannot open the database {db}" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_second_server_on_the_same_database_is_refused(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    first = DevProcess(tmp_path, tmp_path / "app.py", reload=False).start()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "durable.cli.main", "dev", "app.py", "--no-tui", "--no-reload",
             "--db", str(tmp_path / "dev.db"), "--port", str(free_port())],
            cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert "in use by another durable server" in result.stderr
        assert first.process is not None and f"pid {first.process.pid}" in result.stderr
        assert "Traceback" not in result.stderr + result.stdout
        # the first one is unaffected
        first.send({"name": "t/hello"})
        assert wait_for(lambda: first.finished("hello", 1), 10, "the first server's run")
    finally:
        first.stop()


def test_a_damaged_database_is_refused_at_start(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    db = tmp_path / "dev.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE filler (x TEXT)")
    conn.executemany("INSERT INTO filler VALUES (?)", [("y" * 500,) for _ in range(2000)])
    conn.commit()
    conn.close()
    with db.open("r+b") as file:  # garbage over b-tree pages in the middle, header intact
        file.seek(db.stat().st_size // 2)
        file.write(b"\xa5" * 8192)
    result = subprocess.run(
        [sys.executable, "-m", "durable.cli.main", "dev", "app.py", "--no-tui", "--no-reload",
         "--db", str(db), "--port", str(free_port())],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert f"error: cannot open the database {db}" in result.stderr
    assert "is damaged" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def served_app(root: Path) -> DevOptions:
    """Options serving :data:`APP` from ``root`` on a free port, without hot reload."""
    (root / "app.py").write_text(APP)
    return DevOptions(
        paths=[root / "app.py"], db=str(root / "dev.db"), root=root, port=free_port(), reload=False
    )


def test_the_first_passes_go_out_before_the_http_side_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restart's first resumed step does not wait for the HTTP side's imports and set-up:
    the scheduler's first round has started its passes when the API is built."""
    import durable.devserver.api as api

    options = served_app(tmp_path)
    server = DevServer(options)
    first_round_done: list[bool] = []
    build = api.create_app

    def recording(*args: Any, **kwargs: Any) -> Any:
        first_round_done.append(server.orchestrator.scheduler.first_round.is_set())
        server.stop()
        return build(*args, **kwargs)

    monkeypatch.setattr(api, "create_app", recording)
    asyncio.run(server.serve())
    assert first_round_done == [True]


def test_the_dev_server_imports_what_it_needs_only_when_it_needs_it() -> None:
    """Not for a restart's way to its first step: the log's console, the file watcher, the
    PostgreSQL store (a SQLite server), the engine's core (it runs in the worker)."""
    probe = (
        "import json, sys; import durable.devserver.dev.server; "
        "print(json.dumps([m for m in ('rich', 'watchfiles', 'typer', 'durable._stores.postgres', "
        "'durable._engine.execution') if m in sys.modules]))"
    )
    output = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(output) == []


def test_a_failure_building_the_http_side_stops_the_scheduler_and_the_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scheduler starts before the HTTP side is built: if that fails (a broken install),
    the scheduler is stopped and the passes drained before the error propagates."""
    options = served_app(tmp_path)
    server = DevServer(options)

    def broken() -> Any:
        raise RuntimeError("uvicorn is broken")

    monkeypatch.setattr(server, "_build_http", broken)
    with pytest.raises(RuntimeError, match="uvicorn is broken"):
        asyncio.run(server.serve())
    assert not server.orchestrator.scheduler.running
    worker = server.executor.current
    assert worker is not None and worker.process is not None
    assert worker.process.poll() is not None  # stopped, not left behind
    server.abandon()


def test_reading_the_options_listening_and_discovering_import_nothing_more(
    tmp_path: Path,
) -> None:
    """What runs before the first worker starts: the option checks, the listening sockets,
    the discovery (no pyproject.toml here). None of these modules is needed that early."""
    (tmp_path / "app.py").write_text(APP)
    probe = (
        "import json, sys; from pathlib import Path; "
        "from durable.cli.dev_argv import parse_dev_argv; "
        "from durable.cli.checks import security; from durable.devserver import wants_tui; "
        "from durable.devserver.listen import listen; "
        "from durable.devserver.discovery import discover; "
        "security('durable dev', '127.0.0.1', None, []); wants_tui(True, False); "
        f"listen('127.0.0.1', 0); discover([], Path({str(tmp_path)!r})); "
        "print(json.dumps([m for m in ('typer', 'ctypes', 'tomllib', 'encodings.idna', "
        "'starlette', 'asyncio') if m in sys.modules]))"
    )
    output = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path
    ).stdout
    assert json.loads(output) == []
