"""The production server never loads what only ``durable dev`` needs (``devserver/dev/``):
importing it, and building its server, leaves hot reload, the launcher, the TUI child and the
headless log (and watchfiles) unimported."""

from __future__ import annotations

import json
import subprocess
import sys


def test_the_production_server_does_not_import_the_dev_only_part() -> None:
    probe = (
        "import sys, json\n"
        "import durable.devserver.production, durable.devserver.server\n"
        "import durable.cli.start\n"
        "print(json.dumps(sorted(m for m in sys.modules\n"
        "    if m.startswith('durable.devserver.dev') or m == 'watchfiles')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(result.stdout) == []
