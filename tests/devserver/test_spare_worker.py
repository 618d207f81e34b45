"""A worker started ahead of need (``Spare``): a reload's or a replacement's new worker is the
spare, which loads the files only when taken, and the next spare starts at once."""

from __future__ import annotations

import os
import signal
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from durable.devserver.spawn import Spare
from durable.devserver.workers import WorkerProcess
from tests.support.harness import DevProcess, wait_for

APP = textwrap.dedent(
    """
    import os
    from durable import Durable

    VERSION = {version}
    app = Durable(id="spare")

    @app.function(id="which", triggers=[{{"event": "t/which"}}])
    async def which(ctx):
        return await ctx.step.run("pid", lambda: [VERSION, os.getpid()])
    """
)


def write_app(root: Path, version: int) -> Path:
    path = root / "app.py"
    path.write_text(APP.format(version=version))
    return path


@pytest.fixture
def spare(tmp_path: Path) -> Iterator[Spare]:
    """A spare for ``tmp_path`` with a process waiting (closed after the test)."""
    started = Spare(tmp_path)
    started.refill()
    try:
        yield started
    finally:
        started.close()


async def test_a_taken_spare_loads_the_files_and_a_new_spare_starts(
    tmp_path: Path, spare: Spare
) -> None:
    path = write_app(tmp_path, 1)
    waiting = spare.waiting
    assert waiting is not None
    worker = WorkerProcess([path], tmp_path, spare=spare)
    worker.launch()
    assert worker.process is waiting.process  # the spare, not a new spawn
    hello = await worker.start()
    assert [f["id"] for f in hello["functions"]] == ["which"]
    assert spare.waiting is not None and spare.waiting is not waiting  # the next one
    await worker.stop()


async def test_a_dead_spare_is_replaced_by_a_spawn(tmp_path: Path, spare: Spare) -> None:
    path = write_app(tmp_path, 1)
    dead = spare.waiting
    assert dead is not None
    os.kill(dead.process.pid, signal.SIGKILL)
    wait_for(lambda: dead.process.poll() is not None, 10, "the kill")
    worker = WorkerProcess([path], tmp_path, spare=spare)
    worker.launch()
    assert worker.process is not None and worker.process is not dead.process
    hello = await worker.start()
    assert [f["id"] for f in hello["functions"]] == ["which"]
    await worker.stop()


def test_closing_ends_the_waiting_spare_and_starts_no_more(tmp_path: Path) -> None:
    spare = Spare(tmp_path)
    spare.refill()
    waiting = spare.waiting
    assert waiting is not None
    spare.close()
    assert waiting.process.poll() is not None  # killed and reaped
    spare.refill()
    assert spare.waiting is None
    assert spare.take([tmp_path / "app.py"]) is None


def spares_of(server: int) -> list[int]:
    """The server's children waiting as spares."""
    children = Path(f"/proc/{server}/task/{server}/children").read_text().split()
    return [int(p) for p in children if b"--spare" in Path(f"/proc/{p}/cmdline").read_bytes()]


def test_durable_dev_reloads_into_its_spare(tmp_path: Path) -> None:
    path = write_app(tmp_path, 1)
    dev = DevProcess(tmp_path, path).start()
    try:
        assert dev.process is not None
        server = dev.process.pid
        [spare] = wait_for(lambda: spares_of(server), 30, "a spare")
        write_app(tmp_path, 2)
        wait_for(lambda: dev.get("/health").get("reloads", 0) >= 1, 30, "the reload")
        dev.send({"name": "t/which", "data": {}})
        [run] = wait_for(lambda: dev.finished("which", 1), 30, "the run")
        assert run["output"] == [2, spare]  # the new code, in the former spare
        # the next one waits (the former spare, now the worker, keeps its command line)
        [_] = wait_for(lambda: set(spares_of(server)) - {spare}, 30, "the next spare")
    finally:
        output = dev.stop()
    assert "Traceback" not in output


async def test_a_long_file_list_arrives_in_pieces_and_a_longer_one_is_spawned(
    tmp_path: Path, spare: Spare
) -> None:
    """The spare reads its one line however the socket cuts it; a list over LOAD_LIMIT goes
    to a spawned worker on its command line (sending it never blocks the server)."""
    from durable.devserver import spawn

    folder = tmp_path / ("a-long-folder-name-" * 4)
    folder.mkdir()
    files = [write_app(tmp_path, 1)]
    for number in range(350):  # ~50 KB of paths: several reads, under the limit
        module = folder / f"module_{number:04d}_with_a_long_name.py"
        module.write_text("X = 1\n")
        files.append(module)
    assert 32_000 < len(spawn.encode_load(files)) <= spawn.LOAD_LIMIT
    waiting = spare.waiting
    worker = WorkerProcess(files, tmp_path, spare=spare, import_timeout=60)
    worker.launch()
    assert waiting is not None and worker.process is waiting.process
    hello = await worker.start()
    assert [f["id"] for f in hello["functions"]] == ["which"]
    await worker.stop()
    too_many = files * 3
    assert len(spawn.encode_load(too_many)) > spawn.LOAD_LIMIT
    assert spare.take(too_many) is None  # the waiting spare was discarded, not sent it
    assert spare.waiting is not None  # and the next one started


def test_a_spare_started_before_packages_were_installed_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from durable.devserver import spawn

    stamps = iter([(("site-packages", 1),), (("site-packages", 2),), (("site-packages", 2),)])
    monkeypatch.setattr(spawn, "installed_stamp", lambda: next(stamps))
    spare = Spare(tmp_path)
    try:
        spare.refill()
        stale = spare.waiting
        assert stale is not None
        assert spare.take([tmp_path / "app.py"]) is None  # pip install since: not that one
        assert stale.process.poll() is not None  # ended
        assert spare.waiting is not None and spare.waiting is not stale
    finally:
        spare.close()


def test_no_spare_when_a_process_cannot_be_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from durable.devserver import spawn

    def refused(*args: object, **kwargs: object) -> None:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(spawn, "spawn_worker", refused)
    spare = Spare(tmp_path)
    spare.refill()
    assert spare.waiting is None
    assert "cannot start a spare worker process" in caplog.text
    assert spare.take([tmp_path / "app.py"]) is None
