"""Fixtures of the engine's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from durable._stores.base import Store
from durable._stores.memory import MemoryStore
from durable._stores.sqlite import SQLiteStore


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Each backend of the Store protocol in turn (a new backend adds a parameter here)."""
    backend: Store = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "d.db")
    yield backend
    backend.close()
