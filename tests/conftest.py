"""Shared pytest configuration for the whole suite (fixtures shared across folders go here).

Helpers shared between test folders live in ``tests/support/`` (plain modules, imported as
``tests.support.<module>``); conftest files hold only fixtures. ``tests/test_layout.py`` pins
that no test module imports another test module or a conftest.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

# Before the first import of tests.support: its asserts get pytest's detailed messages too.
pytest.register_assert_rewrite("tests.support")

from tests.support.live import LiveServer, serve  # noqa: E402


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A real dev server on a free port over ``tmp_path/dev.db`` (see ``tests.support.live``),
    stopped after the test."""
    with serve(tmp_path / "dev.db") as server:
        yield server
