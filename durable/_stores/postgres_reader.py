"""A read-only connection to a server's PostgreSQL database, for reads off the event loop.

The server's listings (``GET /api/runs``, ``/api/events``) read through a
:class:`PostgresReader` in a thread, on a connection of its own in autocommit mode with
``default_transaction_read_only`` on (any write is refused), so a long read never holds up the
event loop's transaction nor its checkpoints. It sees what every server has committed.

:meth:`PostgresReader.run_changes` is what a server's live stream (``/api/stream``) polls to
show the runs *other* servers changed: each run write stamps the run with the writing
transaction's id (``updated_xid``) and server (``updated_by``, schema 3); a look reads, in one
repeatable-read snapshot, the rows whose writing transaction the previous look's snapshot did
not see. Transactions commit out of the order of their ids and clocks; snapshots follow the
commit order, so no change is missed or read twice, however long a writer took to commit.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Any

from .._errors import StoreError
from .postgres import PostgresStore
from .postgres_connection import connect, redact, require_psycopg
from .postgres_session import Session

__all__ = ["PostgresReader", "RunChanges"]

#: The ``application_name`` of reader connections (``pg_stat_activity`` tells them apart).
APPLICATION_NAME = "durable-reads"


@dataclass(frozen=True, slots=True)
class RunChanges:
    """One look at the runs other servers changed: what changed, and where the next starts."""

    snapshot: str  #: this look's snapshot (``pg_snapshot`` text): the next look's start
    changes: list[dict[str, Any]]  #: one run change per run, in the journal's ``run`` shape


class _ReadSession(Session):
    """A :class:`Session` on an autocommit, read-only connection, opened on first use (in the
    reading thread) and reopened if it drops. Writes are refused."""

    def __init__(self, url: str) -> None:  # no super().__init__: no announcer, no writer
        self.url = url
        self.where = redact(url)
        self.dirty = self.announce = False
        self.unwaited: set[str] = set()  # (reads hold no locks: nothing is ever known here)
        self.live_locked: set[str] = set()
        self.conn: Any = None
        self._wire = threading.RLock()  # (one reading thread: never contended)

    def connection(self) -> Any:
        """The open connection (opened now if there is none)."""
        if self.conn is None or self.conn.closed:
            conn = connect(self.url, autocommit=True)
            try:
                conn.execute("SET default_transaction_read_only = on")
                conn.execute(f"SET application_name = '{APPLICATION_NAME}'")
            except BaseException:
                conn.close()
                raise
            self.conn = conn
        return self.conn

    def exec(self, sql: str, params: Any = None) -> Any:
        psycopg = require_psycopg()
        try:
            return self.connection().execute(sql, params)
        except psycopg.Error as exc:
            if not self.conn.closed:
                raise self.fault(exc) from exc
        # The connection dropped (a restarted database, an ended session): a read loses
        # nothing, so it runs again on a new connection once.
        try:
            return self.connection().execute(sql, params)
        except psycopg.Error as exc:
            raise self.fault(exc) from exc

    def write(self, sql: str, params: Any = None) -> Any:
        raise StoreError(f"the read-only connection to {self.where} cannot write")

    def write_many(self, sql: str, rows: Any) -> None:
        raise StoreError(f"the read-only connection to {self.where} cannot write")

    def defer(
        self, sql: str, key: Any, row: Any, returned: Any = None, run: str | None = None
    ) -> None:
        raise StoreError(f"the read-only connection to {self.where} cannot write")

    def side(self, body: Any) -> Any:
        raise StoreError(f"the read-only connection to {self.where} has no side connection")

    def commit(self) -> bool:
        return False  # autocommit: nothing is pending

    def rollback(self) -> None:
        return None

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()


class PostgresReader(PostgresStore):
    """The read methods of :class:`PostgresStore` on a read-only connection of their own.
    Registers no server, migrates nothing, announces nothing: the server's store does."""

    def __init__(self, url: str) -> None:  # no super().__init__: it opens the writer
        require_psycopg()
        self.url = url
        self.where = redact(url)
        self._server_id = ""
        self._reads = _ReadSession(url)
        self._db = self._reads
        self._listener = None
        self._fresh = set()  # (writes are refused: no run is ever inserted here)
        self._first_passes = set()

    def backend_pid(self) -> int:
        """The PostgreSQL process serving this reader's connection (tests, diagnostics)."""
        row = self._db.one("SELECT pg_backend_pid()")
        return int(row[0]) if row else 0

    def run_changes(self, since: str | None, server_id: str) -> RunChanges:
        """The runs servers other than ``server_id`` changed after the look whose snapshot is
        ``since`` (None: the first look, which only notes where the next one starts)."""
        psycopg = require_psycopg()
        conn = self._reads.connection()
        try:
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                row = conn.execute("SELECT pg_current_snapshot()::text").fetchone()
                snapshot = str(row[0])
                if since is None:
                    return RunChanges(snapshot, [])
                rows = conn.execute(
                    "SELECT run_id, function_id, status, error->>'message', cancel_reason, "
                    "queued_reason FROM runs WHERE updated_xid IS NOT NULL "
                    "AND updated_xid >= pg_snapshot_xmin(%(since)s::pg_snapshot) "
                    "AND NOT pg_visible_in_snapshot(updated_xid, %(since)s::pg_snapshot) "
                    "AND updated_by IS DISTINCT FROM %(me)s ORDER BY updated_xid",
                    {"since": since, "me": server_id},
                ).fetchall()
        except psycopg.Error as exc:
            raise self._db.fault(exc) from exc
        return RunChanges(snapshot, [_change(*row) for row in rows])

    def close(self) -> None:
        """Close the connection (there is nothing to commit)."""
        self._db.close()


def _change(
    run_id: str,
    function_id: str,
    status: str,
    error: str | None,
    cancel_reason: str | None,
    queued_reason: str | None,
) -> dict[str, Any]:
    """A run change as the journal tells it (``durable._orchestration.history.run_change``)."""
    change: dict[str, Any] = {"run_id": run_id, "function_id": function_id, "status": status}
    if status == "failed" and error:
        change["error"] = error
    if status == "cancelled":
        change["reason"] = cancel_reason
    elif status == "queued" and queued_reason is not None:
        change["reason"] = queued_reason
    return change
