"""The server processes (``durable dev``, ``durable start``) space out garbage collections and
freeze what they loaded at start; a server built inside another process (a test) leaves that
process's collector alone."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

from durable.devserver.gc_settings import SERVER_THRESHOLDS
from tests.support.harness import free_port

#: runs each entry point with its server replaced by a stub that reports the collector
PROBE = """
import gc, json, sys
from pathlib import Path
from durable.devserver import production
from durable.devserver.dev import launch
from durable.devserver.options import DevOptions

class Stub:
    def __init__(self, *args, **kwargs):
        pass
    async def serve(self):
        print(json.dumps({"thresholds": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
    def abandon(self):
        pass

options = DevOptions(paths=[], port=int(sys.argv[2]), db=":memory:", root=Path(sys.argv[3]))
if sys.argv[1] == "start":
    production.ProductionServer = Stub
    production.run_production(options)
else:
    launch.launch_first_worker = lambda options, **_: None
    launch._build = lambda options, launched, sockets, precheck=None: Stub()
    launch.run(options)
"""


def collector_of(command: str, tmp_path: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, command, str(free_port()), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    seen: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return seen


def test_durable_dev_and_durable_start_tune_their_collector(tmp_path: Path) -> None:
    for command in ("dev", "start"):
        seen = collector_of(command, tmp_path)
        assert seen["thresholds"] == list(SERVER_THRESHOLDS), command
        assert isinstance(seen["frozen"], int) and seen["frozen"] > 1_000, command


def test_importing_the_server_leaves_this_process_collector_alone() -> None:
    import durable.devserver.server  # noqa: F401

    assert gc.get_threshold() != SERVER_THRESHOLDS
