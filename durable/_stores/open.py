"""One factory for every store: ``--db`` names the backend.

``postgresql://...`` or ``postgres://...`` opens a :class:`~durable._stores.postgres.
PostgresStore` (the ``durable[postgres]`` extra; many servers may share it); anything else is
a SQLite file path (``:memory:`` for a throwaway database), one server at a time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Store
from .postgres_connection import is_postgres_url

if TYPE_CHECKING:
    from .sqlite_precheck import Precheck


def open_store(db: str, *, fsync: bool = False, precheck: Precheck | None = None) -> Store:
    """The store ``db`` names. ``fsync`` applies to SQLite (PostgreSQL has its own settings);
    ``precheck``: the SQLite file's integrity check, started early
    (:func:`~durable._stores.sqlite_precheck.start_check`).

    Raises :class:`~durable._errors.StoreError` naming the problem (extra not installed,
    server unreachable, credentials refused, database missing, file damaged or in use).
    """
    if is_postgres_url(db):
        from .postgres import PostgresStore

        return PostgresStore(db)
    from .sqlite import SQLiteStore

    return SQLiteStore(db, fsync=fsync, precheck=precheck)
