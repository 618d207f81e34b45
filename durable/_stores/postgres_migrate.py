"""Bring a PostgreSQL database to this durable's schema: numbered migrations, one server at a
time (under an advisory lock, the version read again once it is held), a newer schema refused."""

from __future__ import annotations

import contextlib

from .._errors import StoreError
from .postgres_connection import require_psycopg
from .postgres_schema import MIGRATION_LOCK, MIGRATIONS, SCHEMA_VERSION
from .postgres_session import Session
from .sqlite import SchemaError


def read_version(db: Session) -> int:
    """The schema version the database records (0: none yet)."""
    row = db.one("SELECT max(version) FROM durable_schema")
    return int(row[0]) if row and row[0] is not None else 0


def _checked_version(db: Session, where: str) -> int:
    version = read_version(db)
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"the PostgreSQL database {where} has schema version {version}; this "
            f"durable knows up to {SCHEMA_VERSION}: upgrade durable or use another --db"
        )
    return version


def migrate(db: Session, where: str) -> None:
    """Apply the migrations the database lacks (``where``: its URL without the password)."""
    exists = db.one("SELECT to_regclass('durable_schema') IS NOT NULL")
    if exists and exists[0] and _checked_version(db, where) == SCHEMA_VERSION:
        db.conn.commit()
        return
    # One migrating server at a time: the advisory lock, then the version read again
    # (another server may have migrated while this one waited).
    try:
        db.exec("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        db.exec("CREATE TABLE IF NOT EXISTS durable_schema (version integer NOT NULL)")
        current = _checked_version(db, where)
        for number in range(current, SCHEMA_VERSION):
            db.exec(MIGRATIONS[number])
        if current < SCHEMA_VERSION:
            db.exec("DELETE FROM durable_schema")
            db.exec("INSERT INTO durable_schema (version) VALUES (%s)", (SCHEMA_VERSION,))
        db.conn.commit()
    except BaseException as exc:
        with contextlib.suppress(Exception):
            db.conn.rollback()
        if isinstance(exc, require_psycopg().Error):  # not a fault: a refusal (rights...)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise StoreError(
                f"cannot set up durable's tables in the PostgreSQL database {where}: {first}",
                path=where,
            ) from exc
        raise
