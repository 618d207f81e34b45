"""Fixtures of the engine's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from durable._stores.base import Store
from durable._stores.memory import MemoryStore
from durable._stores.sqlite import SQLiteStore
from tests.support.postgres import pair, postgres_database, postgres_url  # noqa: F401 (fixtures)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Each backend of the Store protocol in turn (a new backend adds a parameter here).

    ``postgres`` runs on this session's own database, emptied for each test; it skips (fails
    with ``CI=true``) when no PostgreSQL is reachable: set ``DURABLE_TEST_PG=URL``.
    """
    backend: Store
    if request.param == "memory":
        backend = MemoryStore()
    elif request.param == "sqlite":
        backend = SQLiteStore(tmp_path / "d.db")
    else:
        from durable._stores.postgres import PostgresStore

        backend = PostgresStore(request.getfixturevalue("postgres_url"))
    yield backend
    backend.close()
