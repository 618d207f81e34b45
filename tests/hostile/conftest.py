"""The fixture of the hostile-input tests: one live server per module (``tests.support.hostile``
holds the settings, strategies and asserts they share)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.hostile import Hostile
from tests.support.live import serve


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    """One server per module: it has to survive every example thrown at it."""
    with serve(tmp_path_factory.mktemp("hostile") / "dev.db") as server:
        completed = server.start("test/chain")
        server.wait_run(completed, "completed")
        sleeping = server.start("test/sleep")
        server.wait_run(sleeping, "sleeping")
        yield Hostile(server=server, completed=completed, sleeping=sleeping)
