"""A throwaway PostgreSQL database for the tests: created per session, emptied per test.

``DURABLE_TEST_PG`` names the server to use (default ``postgresql://postgres@127.0.0.1:5432/
postgres``, whose user may create databases). The session creates ``durable_test_<random>``
there and drops it at the end. Without a reachable PostgreSQL the tests that need it skip
with one line saying how to run them; with ``CI=true`` that is a failure instead.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from durable._stores.postgres_schema import TABLES
from tests.support.pg_server import ENV, server_url, unavailable, with_database

if TYPE_CHECKING:
    from durable._stores.postgres import PostgresStore

#: the time at which the ``pair`` fixture's servers register
PAIR_NOW = 1_000_000.0


def require_postgres() -> str:
    """The server URL, or skip (fail with ``CI=true``) saying how to enable these tests."""
    url = server_url()
    problem = unavailable(url)
    if problem is not None:
        message = f"{problem}: set {ENV}=URL to run"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return url


@contextlib.contextmanager
def temporary_database(url: str) -> Iterator[str]:
    """Create ``durable_test_<random>`` on the server of ``url``; its URL; dropped after."""
    import psycopg

    name = f"durable_test_{secrets.token_hex(4)}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(url, name)
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def empty_tables(url: str) -> None:
    """Delete every row of durable's tables in the database of ``url`` (if it has them)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        present = [
            table
            for table in TABLES
            if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone() != (None,)
        ]
        if present:
            conn.execute(f"TRUNCATE {', '.join(present)} RESTART IDENTITY")


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """The URL of this session's own PostgreSQL database (skips if there is none)."""
    with temporary_database(require_postgres()) as url:
        yield url


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    """This session's database, emptied for this test."""
    empty_tables(postgres_database)
    return postgres_database


@pytest.fixture
def pair(postgres_url: str) -> Iterator[tuple[PostgresStore, PostgresStore]]:
    """Two servers' stores on one database (two connections), registered as a and b."""
    from durable._stores.postgres import PostgresStore

    first, second = PostgresStore(postgres_url), PostgresStore(postgres_url)
    first.register_server("a", PAIR_NOW)
    second.register_server("b", PAIR_NOW)
    yield first, second
    first.close()
    second.close()
