"""Retention on PostgreSQL: delete what expired, a small batch per transaction.

As on SQLite (``sqlite_retention.py``): each call deletes at most ``limit`` ended runs (with
their steps, logs and waits), then events, then expired claims, and commits. Rows another
server holds locked right now are skipped (``SKIP LOCKED``): the next batch takes them.
"""

from __future__ import annotations

from .postgres_rows import TERMINAL
from .postgres_session import Session


def delete_expired(db: Session, before: float, limit: int, claims_before: float) -> int:
    """See :meth:`durable._stores.base.Store.delete_expired`; ``db`` is the store's session."""
    deleted = 0
    run_ids = [
        str(row[0])
        for row in db.all(
            "SELECT run_id FROM runs WHERE ended_at IS NOT NULL AND ended_at < %s "
            f"AND status IN {TERMINAL} LIMIT %s FOR UPDATE SKIP LOCKED",
            (before, limit),
        )
    ]
    if run_ids:
        for table in ("steps", "logs", "waits", "runs"):
            deleted += len(
                db.all(f"DELETE FROM {table} WHERE run_id = ANY(%s) RETURNING 1", (run_ids,))
            )
    room = limit - len(run_ids)
    if room > 0:
        deleted += len(
            db.all(
                "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE received_at < %s "
                "LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING 1",
                (before, room),
            )
        )
        for table, key, columns in (
            ("event_ids", "id", "id"),
            ("idempotency", "(function_id, key)", "function_id, key"),
        ):
            deleted += len(
                db.all(
                    f"DELETE FROM {table} WHERE {key} IN (SELECT {columns} FROM {table} "
                    "WHERE claimed_at < %s LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING 1",
                    (claims_before, room),
                )
            )
    db.dirty = True
    db.commit()
    return deleted


def count_runs_by_status(db: Session) -> dict[str, int]:
    """Runs per status (the ``runs_status`` index)."""
    return {
        str(status): int(count)
        for status, count in db.all("SELECT status, COUNT(*) FROM runs GROUP BY status")
    }
