"""The SQLite file's integrity check, started early on a thread of its own.

:class:`~durable._stores.sqlite.SQLiteStore` refuses a damaged file at open, before anything
is written into it (``PRAGMA quick_check``). The check reads the whole file: ~120 ms for a
90 MB database here, every start. ``durable dev`` starts it at its first moment
(:func:`start_check`), on a read-only connection in a thread (SQLite works without the GIL),
so that it runs while the server imports its engine; the store then takes the verdict. A
check that could not run that way (no file yet, a connection refused) is simply run again by
the store, which then reports exactly what it always did. The standard library only.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote


class Precheck:
    """``PRAGMA quick_check`` of one file, running in a daemon thread."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._rows: list[Any] | None = None
        self._thread = threading.Thread(target=self._run, name="durable-precheck", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import sqlite3

        try:
            uri = f"file:{quote(str(Path(self.path).resolve()))}?mode=ro"
            db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            try:
                self._rows = db.execute("PRAGMA quick_check").fetchall()
            finally:
                db.close()
        except Exception:  # the store runs it again: its own error, as without this
            self._rows = None

    def rows(self) -> list[Any] | None:
        """The check's rows (waiting for it), or None if it could not run here."""
        self._thread.join()
        return self._rows


def start_check(db: str) -> Precheck | None:
    """Start checking the SQLite file ``db`` (None: not a file that exists, or a URL)."""
    if db == ":memory:" or "://" in db or not Path(db).is_file():
        return None
    return Precheck(db)
