"""Which PostgreSQL server the tests and the benches use, and whether it can be used.

Nothing here needs pytest: ``bench/pg_throughput.py`` imports it too (``make bench`` installs
only the ``postgres`` extra). The test fixtures are in :mod:`tests.support.postgres`.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

ENV = "DURABLE_TEST_PG"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def server_url() -> str:
    """The PostgreSQL server to use (an existing database on it, to connect to)."""
    return os.environ.get(ENV) or DEFAULT_URL


def with_database(url: str, name: str) -> str:
    """``url`` naming the database ``name`` instead."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def unavailable(url: str) -> str | None:
    """Why PostgreSQL at ``url`` cannot be used here (psycopg missing, unreachable), or None."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install -e '.[postgres]')"
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL at {url} unreachable ({str(exc).strip().splitlines()[0]})"
    return None
