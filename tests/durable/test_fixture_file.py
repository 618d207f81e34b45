"""write_fixture: the one writer of fixture files (durable export, the inspector's x key)."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest

from durable._replay.fixtures import fixture_json, write_fixture

FIXTURE = {"function": "greet", "event": {"name": "demo/hello", "data": {"who": "Zoë ✓"}}}


def test_utf8_json_indented_with_a_final_newline_in_a_new_folder(tmp_path: Path) -> None:
    path = write_fixture(tmp_path / "new" / "folder" / "run.json", FIXTURE)
    assert path == tmp_path / "new" / "folder" / "run.json"
    raw = path.read_bytes()
    assert raw == fixture_json(FIXTURE).encode("utf-8")
    assert raw.endswith(b"}\n") and b'\n  "event": {' in raw
    assert "Zoë ✓".encode() in raw  # as written, not \\u escapes
    assert os.listdir(path.parent) == ["run.json"]  # no temporary file left behind


def test_a_new_file_gets_the_usual_permissions_a_replaced_one_keeps_its_own(
    tmp_path: Path,
) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    fresh = write_fixture(tmp_path / "fresh.json", FIXTURE)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask
    kept = tmp_path / "kept.json"
    kept.write_text("{}")
    kept.chmod(0o640)
    write_fixture(kept, FIXTURE)
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640
    assert kept.read_text(encoding="utf-8") == fixture_json(FIXTURE)


def test_a_failed_write_leaves_the_old_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    write_fixture(path, FIXTURE)
    before = path.read_bytes()
    with pytest.raises(TypeError):
        write_fixture(path, {"function": "greet", "bad": object()})  # fails mid-write
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["run.json"]


def test_a_symlinked_fixture_is_written_through_to_its_target(tmp_path: Path) -> None:
    real = tmp_path / "real" / "f.json"
    real.parent.mkdir()
    real.write_text("{}")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_fixture(link, FIXTURE)
    assert link.is_symlink()  # still a link
    assert json.loads(real.read_text(encoding="utf-8")) == FIXTURE


def test_a_path_that_is_not_a_regular_file_is_written_directly(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text(encoding="utf-8")))
    reader.start()
    write_fixture(fifo, FIXTURE)
    reader.join(timeout=10)
    assert json.loads(received[0]) == FIXTURE and not fifo.is_file()
