"""The SQLite schema: numbered migrations, and the data changes that follow some of them."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator

#: Schema migrations, applied in order; ``PRAGMA user_version`` is the number applied.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        function_id TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at REAL NOT NULL,
        started_at REAL,
        ended_at REAL,
        ready_at REAL,
        attempt INTEGER NOT NULL DEFAULT 0,
        trigger TEXT NOT NULL,
        parent_run_id TEXT,
        parent_step_key TEXT,
        cancel_reason TEXT,
        idempotency_key TEXT,
        concurrency_keys TEXT NOT NULL DEFAULT '[]',
        output TEXT,
        error TEXT,
        event TEXT NOT NULL,
        events TEXT NOT NULL DEFAULT '[]',
        deadline_at REAL,
        deadline_reason TEXT
    );
    CREATE INDEX runs_deadline ON runs (deadline_at) WHERE deadline_at IS NOT NULL;
    CREATE INDEX runs_ready ON runs (ready_at) WHERE ready_at IS NOT NULL;
    CREATE INDEX runs_created ON runs (created_at, run_id);
    CREATE INDEX runs_function ON runs (function_id, created_at);
    CREATE INDEX runs_unfinished ON runs (status)
        WHERE status NOT IN ('completed', 'failed', 'cancelled');
    CREATE TABLE steps (
        run_id TEXT NOT NULL,
        key TEXT NOT NULL,
        id TEXT NOT NULL,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        position INTEGER NOT NULL,
        output TEXT,
        error TEXT,
        attempts TEXT NOT NULL DEFAULT '[]',
        wake_at REAL,
        detail TEXT NOT NULL DEFAULT '{}',
        started_at REAL,
        ended_at REAL,
        PRIMARY KEY (run_id, key)
    ) WITHOUT ROWID;
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL,
        name TEXT NOT NULL,
        data TEXT NOT NULL,
        ts INTEGER NOT NULL,
        user_data TEXT,
        received_at REAL NOT NULL,
        run_ids TEXT NOT NULL DEFAULT '[]',
        skipped TEXT
    );
    CREATE INDEX events_id ON events (id, seq);
    CREATE INDEX events_name ON events (name, received_at);
    CREATE INDEX events_received ON events (received_at);
    CREATE TABLE waits (
        run_id TEXT NOT NULL,
        step_key TEXT NOT NULL,
        event_name TEXT NOT NULL,
        condition TEXT,
        expires_at REAL NOT NULL,
        since REAL NOT NULL,
        kind TEXT NOT NULL DEFAULT 'step',
        match_field TEXT,
        match_value TEXT,
        PRIMARY KEY (run_id, step_key)
    );
    CREATE INDEX waits_event ON waits (event_name, match_field, match_value);
    CREATE TABLE logs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL,
        ts REAL NOT NULL,
        level TEXT NOT NULL,
        message TEXT NOT NULL,
        step_key TEXT
    );
    CREATE INDEX logs_run ON logs (run_id, seq);
    CREATE TABLE idempotency (
        function_id TEXT NOT NULL,
        key TEXT NOT NULL,
        run_id TEXT NOT NULL,
        claimed_at REAL NOT NULL,
        PRIMARY KEY (function_id, key)
    );
    CREATE TABLE crons (
        function_id TEXT NOT NULL,
        cron TEXT NOT NULL,
        next_at REAL NOT NULL,
        PRIMARY KEY (function_id, cron)
    );
    """,
    # 2: the id of the event that cancelled a run through a cancel_on rule (fixture export);
    # runs cancelled so far get it from their reason (see _backfill_cancel_event_ids).
    """
    ALTER TABLE runs ADD COLUMN cancel_event_id TEXT;
    """,
    # 3: a run that ended while a step was parked (sleeping, waiting, invoking, awaiting a
    # retry) closes that step as cancelled at the run's end; close those left open so far.
    """
    UPDATE steps SET status = 'cancelled', wake_at = NULL,
        ended_at = COALESCE((SELECT ended_at FROM runs WHERE runs.run_id = steps.run_id), ended_at)
    WHERE status IN ('sleeping', 'waiting', 'invoking', 'errored')
        AND run_id IN (SELECT run_id FROM runs
                       WHERE status IN ('completed', 'failed', 'cancelled'));
    """,
    # 4: ownership in the store: the server holding a run for a pass, and the fencing epoch
    # that every claim bumps; the servers using the database.
    """
    ALTER TABLE runs ADD COLUMN owner TEXT;
    ALTER TABLE runs ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX runs_owner ON runs (owner) WHERE owner IS NOT NULL;
    CREATE TABLE servers (
        server_id TEXT PRIMARY KEY,
        pid INTEGER NOT NULL,
        started_at REAL NOT NULL,
        heartbeat_at REAL NOT NULL
    );
    """,
    # 5: event-id dedup as one atomic claim (not a look-up, then an insert); the ids seen so
    # far are claimed as of their latest processed event.
    """
    CREATE TABLE event_ids (
        id TEXT PRIMARY KEY,
        claimed_at REAL NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO event_ids (id, claimed_at)
        SELECT id, MAX(received_at) FROM events
        WHERE skipped IS NULL OR skipped NOT LIKE 'duplicate:%'
        GROUP BY id;
    """,
    # 6: a run made ready while a server holds it for a pass is flagged (when), and becomes
    # due when that pass releases it: the wake-up is never lost, whichever server woke it.
    """
    ALTER TABLE runs ADD COLUMN rerun_at REAL;
    """,
    # 7: flow control (SPEC 7) in the store: why a run is held back and its priority; the
    # concurrency slots each run holds; GCRA arrival times (throttle, rate_limit); the
    # pending debounce, open batch and singleton holder of each (function, key).
    """
    ALTER TABLE runs ADD COLUMN queued_reason TEXT;
    ALTER TABLE runs ADD COLUMN priority REAL NOT NULL DEFAULT 0;
    CREATE TABLE flow_holds (
        key TEXT NOT NULL,
        run_id TEXT NOT NULL,
        PRIMARY KEY (key, run_id)
    ) WITHOUT ROWID;
    CREATE INDEX flow_holds_run ON flow_holds (run_id);
    CREATE TABLE flow_slots (
        key TEXT PRIMARY KEY,
        in_use INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE flow_gcra (
        key TEXT PRIMARY KEY,
        tat REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE flow_debounces (
        function_id TEXT NOT NULL,
        key TEXT NOT NULL,
        run_id TEXT NOT NULL,
        first_at REAL NOT NULL,
        due_at REAL NOT NULL,
        PRIMARY KEY (function_id, key)
    ) WITHOUT ROWID;
    CREATE TABLE flow_batches (
        function_id TEXT NOT NULL,
        key TEXT NOT NULL,
        run_id TEXT NOT NULL,
        size INTEGER NOT NULL,
        PRIMARY KEY (function_id, key)
    ) WITHOUT ROWID;
    CREATE TABLE flow_singletons (
        function_id TEXT NOT NULL,
        key TEXT NOT NULL,
        run_id TEXT NOT NULL,
        PRIMARY KEY (function_id, key)
    ) WITHOUT ROWID;
    """,
    # 8: listings stay fast with millions of rows (`GET /api/runs?status=` reads its page from
    # an index in order; `/api/events?name=` likewise), and retention finds what expired
    # without a scan.
    """
    CREATE INDEX IF NOT EXISTS runs_status ON runs (status, created_at, run_id);
    CREATE INDEX IF NOT EXISTS events_name_seq ON events (name, seq);
    CREATE INDEX IF NOT EXISTS runs_ended ON runs (ended_at) WHERE ended_at IS NOT NULL;
    CREATE INDEX IF NOT EXISTS event_ids_claimed ON event_ids (claimed_at);
    CREATE INDEX IF NOT EXISTS idempotency_claimed ON idempotency (claimed_at);
    """,
)

#: What version 1 wrote as a cancel_on run's reason: ``cancel_on: event NAME (ID)``.
_V1_CANCEL_ON_REASON = re.compile(r"cancel_on: event .* \((?P<id>[^()]+)\)", re.DOTALL)


def _backfill_cancel_event_ids(db: sqlite3.Connection) -> None:
    rows = db.execute(
        "SELECT run_id, cancel_reason FROM runs WHERE status = 'cancelled' "
        "AND cancel_reason LIKE 'cancel_on: event %'"
    ).fetchall()
    for run_id, reason in rows:
        found = _V1_CANCEL_ON_REASON.fullmatch(reason)
        if found:
            db.execute(
                "UPDATE runs SET cancel_event_id = ? WHERE run_id = ?", (found["id"], run_id)
            )


def statements(script: str) -> Iterator[str]:
    """The SQL statements of a migration script, one at a time."""
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                yield pending
            pending = ""


#: Data changes that follow a migration's schema change, in the same transaction.
AFTER_MIGRATION: dict[int, Callable[[sqlite3.Connection], None]] = {
    2: _backfill_cancel_event_ids,
}

SCHEMA_VERSION = len(MIGRATIONS)
