"""The SQLite connection under :class:`~durable._stores.sqlite.SQLiteStore`.

Two jobs: database faults (a lock held too long, a full disk, a damaged file) raise
:class:`~durable._errors.StoreError` naming the problem instead of a bare ``sqlite3`` error,
and :class:`ServerLock` keeps a second server off a file one server already uses (SQLite is
one server's store: two schedulers on one file would run the same steps twice).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from typing import Any

from .._errors import StoreError

#: SQLite's primary result codes that mean the database, not the statement, is the problem.
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_FULL, _SQLITE_CORRUPT, _SQLITE_NOTADB = 5, 6, 13, 11, 26
_FAULT_CODES = frozenset({5, 6, 7, 8, 10, 11, 13, 14, 15, 26})  # + NOMEM READONLY IOERR ...

#: How long one write waits for another process's write lock before it is refused. The
#: server writes on its event loop: a long wait there would stall every request.
BUSY_TIMEOUT_MS = 1000


def store_error(exc: sqlite3.Error, path: str) -> StoreError | None:
    """The :class:`StoreError` that names a database fault, or None for a statement's bug."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    text = str(exc)
    if primary in (_SQLITE_BUSY, _SQLITE_LOCKED) or "database is locked" in text:
        return StoreError(
            f"the database {path} is locked: another process holds its write lock "
            f"(waited {BUSY_TIMEOUT_MS / 1000:g}s); durable retries",
            reason="database_locked",
            path=path,
        )
    if primary == _SQLITE_FULL or "database or disk is full" in text:
        return StoreError(
            f"the database {path} cannot grow: database or disk is full; free some space, "
            "durable retries the writes that failed",
            reason="database_full",
            path=path,
        )
    if primary in (_SQLITE_CORRUPT, _SQLITE_NOTADB) or "malformed" in text:
        return StoreError(
            f"the database {path} is damaged ({text}); restore it from a backup or use "
            "another --db",
            reason="database_damaged",
            path=path,
        )
    if primary in _FAULT_CODES or (primary is None and isinstance(exc, sqlite3.OperationalError)):
        return StoreError(f"the database {path} failed: {text}", path=path)
    return None


class _Connection(sqlite3.Connection):
    """A connection whose database faults raise :class:`StoreError` naming the problem."""

    path: str = ""

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.Error as exc:
            raise store_error(exc, self.path) or exc from exc

    # Rows are read as they are fetched: a damaged page shows up while fetching, not in
    # ``execute``, so reads fetch inside the guard.

    def fetchall(self, sql: str, parameters: Any = (), /) -> list[Any]:
        """Every row of ``sql``."""
        try:
            return super().execute(sql, parameters).fetchall()
        except sqlite3.Error as exc:
            raise store_error(exc, self.path) or exc from exc

    def fetchone(self, sql: str, parameters: Any = (), /) -> Any:
        """The first row of ``sql``, or None."""
        try:
            return super().execute(sql, parameters).fetchone()
        except sqlite3.Error as exc:
            raise store_error(exc, self.path) or exc from exc

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        try:
            return super().executemany(sql, parameters)
        except sqlite3.Error as exc:
            raise store_error(exc, self.path) or exc from exc

    def commit(self) -> None:
        try:
            super().commit()
        except sqlite3.Error as exc:
            raise store_error(exc, self.path) or exc from exc

    def rollback(self) -> None:
        try:
            super().rollback()
        except sqlite3.Error as exc:
            raise store_error(exc, self.path) or exc from exc


def connect(path: str) -> _Connection:
    """A connection to ``path`` whose faults raise :class:`StoreError`."""
    db = sqlite3.connect(path, check_same_thread=False, factory=_Connection)
    db.path = path
    return db


class ServerLock:
    """An exclusive lock on ``<db>-server.lock``, held while one server uses the database.

    ``flock`` locks belong to the open file: the kernel drops them when the process dies,
    ``kill -9`` included, so a crashed server never leaves the file locked.
    """

    def __init__(self, path: str, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, db_path: str) -> ServerLock:
        """Lock ``db_path`` for this process; :class:`StoreError` if another server holds it."""
        path = f"{db_path}-server.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StoreError(
                f"the database {db_path} is in use by another durable server (pid {holder}); "
                "stop it, or give this one another --db",
                reason="database_in_use",
                path=db_path,
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return cls(path, fd)

    def release(self) -> None:
        """Let another server open the database."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
