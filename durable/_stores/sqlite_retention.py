"""Retention on SQLite: delete what expired, a small batch per transaction.

Each call deletes at most ``limit`` runs (with their steps, logs and waits), then events, then
expired claims, and commits: the writer lock is held for one short batch, so the server's
checkpoints wait at most that long (the caller yields to the event loop between batches).
"""

from __future__ import annotations

from typing import Any

from .rows import TERMINAL


def delete_expired(db: Any, before: float, limit: int, claims_before: float) -> int:
    """See :meth:`durable._stores.base.Store.delete_expired`; ``db`` is the store's connection."""
    deleted = 0
    run_ids = [
        row[0]
        for row in db.fetchall(
            "SELECT run_id FROM runs WHERE ended_at IS NOT NULL AND ended_at < ? "
            f"AND status IN {TERMINAL} LIMIT ?",
            (before, limit),
        )
    ]
    if run_ids:
        marks = ",".join("?" * len(run_ids))
        for table in ("steps", "logs", "waits", "runs"):
            deleted += db.execute(
                f"DELETE FROM {table} WHERE run_id IN ({marks})", run_ids
            ).rowcount
    room = limit - len(run_ids)
    if room > 0:
        deleted += db.execute(
            "DELETE FROM events WHERE seq IN "
            "(SELECT seq FROM events WHERE received_at < ? LIMIT ?)",
            (before, room),
        ).rowcount
        for table, key in (("event_ids", "id"), ("idempotency", "rowid")):
            deleted += db.execute(
                f"DELETE FROM {table} WHERE {key} IN "
                f"(SELECT {key} FROM {table} WHERE claimed_at < ? LIMIT ?)",
                (claims_before, room),
            ).rowcount
    db.commit()
    return int(deleted)


def count_runs_by_status(db: Any) -> dict[str, int]:
    """Runs per status, read from the ``runs_status`` index."""
    rows = db.fetchall("SELECT status, COUNT(*) FROM runs GROUP BY status")
    return {status: int(count) for status, count in rows}
