"""The SQLite :class:`~durable._store.Store`: WAL, one writer, explicit (batchable) commits.

Durability: with the default ``synchronous=NORMAL`` in WAL mode, a committed transaction
survives a crash (``kill -9``) of any process; after a power loss or OS crash the last
transactions before it may be rolled back (never corrupted). ``fsync=True`` sets
``synchronous=FULL``: every commit is synced to disk and survives power loss too.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ._store import (
    EventRecord,
    LogRecord,
    RunRecord,
    RunStatus,
    StepRecord,
    StepStatus,
    WaitRecord,
)

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


def _statements(script: str) -> Iterator[str]:
    """The SQL statements of a migration script, one at a time."""
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                yield pending
            pending = ""


#: Data changes that follow a migration's schema change, in the same transaction.
_AFTER_MIGRATION: dict[int, Callable[[sqlite3.Connection], None]] = {
    2: _backfill_cancel_event_ids,
}

SCHEMA_VERSION = len(MIGRATIONS)

_RUN_COLUMNS = (
    "run_id, function_id, status, created_at, started_at, ended_at, ready_at, attempt, trigger, "
    "parent_run_id, parent_step_key, cancel_reason, idempotency_key, concurrency_keys, output, "
    "error, event, events, deadline_at, deadline_reason, cancel_event_id"
)
_STEP_COLUMNS = (
    "run_id, key, id, kind, status, position, output, error, attempts, wake_at, detail, "
    "started_at, ended_at"
)
_EVENT_COLUMNS = "id, name, data, ts, user_data, received_at, run_ids, skipped"
#: ``TERMINAL_STATUSES`` in SQL, written as the ``runs_unfinished`` index's condition is, so
#: that queries ``WHERE status NOT IN`` it can use that partial index.
_TERMINAL = "('completed', 'failed', 'cancelled')"


class SchemaError(RuntimeError):
    """The database was written by a newer version of durable."""


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class SQLiteStore:
    """The Store protocol on one SQLite file (``":memory:"`` for a throwaway database)."""

    def __init__(self, path: str | Path, *, fsync: bool = False) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
        self._db.execute("PRAGMA foreign_keys=OFF")
        self._db.execute("PRAGMA busy_timeout=5000")
        try:
            self._migrate()
        except BaseException:
            self._db.close()
            raise

    # -- schema -------------------------------------------------------------------------

    def _migrate(self) -> None:
        if self._check_version() == SCHEMA_VERSION:
            return
        # One migrating process at a time: take the write lock first, then read the version
        # again (another `durable dev` on the same file may have migrated it meanwhile).
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for number in range(self._check_version(), SCHEMA_VERSION):
                for statement in _statements(MIGRATIONS[number]):
                    self._db.execute(statement)
                if number + 1 in _AFTER_MIGRATION:
                    _AFTER_MIGRATION[number + 1](self._db)
                self._db.execute(f"PRAGMA user_version={number + 1}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _check_version(self) -> int:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise SchemaError(
                f"{self.path} has schema version {version}; this durable knows up to "
                f"{SCHEMA_VERSION}: upgrade durable or use another --db"
            )
        return version

    @property
    def schema_version(self) -> int:
        """The schema version of the open database."""
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    # -- runs ---------------------------------------------------------------------------

    def insert_run(self, run: RunRecord) -> None:
        self._db.execute(
            f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES ({', '.join('?' * 21)})", _run_row(run)
        )

    def update_run(self, run: RunRecord) -> None:
        self._db.execute(
            "UPDATE runs SET status=?, started_at=?, ended_at=?, ready_at=?, attempt=?, "
            "cancel_reason=?, idempotency_key=?, concurrency_keys=?, output=?, error=?, "
            "deadline_at=?, deadline_reason=?, cancel_event_id=? WHERE run_id=?",
            (
                run.status.value,
                run.started_at,
                run.ended_at,
                run.ready_at,
                run.attempt,
                run.cancel_reason,
                run.idempotency_key,
                _dump(run.concurrency_keys),
                run.output,
                _dump(run.error),
                run.deadline_at,
                run.deadline_reason,
                run.cancel_event_id,
                run.run_id,
            ),
        )

    def get_run(self, run_id: str) -> RunRecord | None:
        row = self._db.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id=?", (run_id,)
        ).fetchone()
        return _run_from(row) if row else None

    def list_runs(
        self,
        *,
        status: str | None = None,
        function_id: str | None = None,
        limit: int = 50,
        before: str | None = None,
    ) -> list[RunRecord]:
        where, params = [], []
        if status is not None:
            where.append("status=?")
            params.append(status)
        if function_id is not None:
            where.append("function_id=?")
            params.append(function_id)
        if before is not None:
            where.append(
                "(created_at, run_id) < (SELECT created_at, run_id FROM runs WHERE run_id=?)"
            )
            params.append(before)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._db.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs {clause} "
            "ORDER BY created_at DESC, run_id DESC LIMIT ?",
            (*params, limit),
        ).fetchall()
        return [_run_from(row) for row in rows]

    def ready_runs(self, now: float, limit: int) -> list[RunRecord]:
        rows = self._db.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE ready_at IS NOT NULL AND ready_at <= ? "
            f"AND status NOT IN {_TERMINAL} ORDER BY ready_at, created_at LIMIT ?",
            (now, limit),
        ).fetchall()
        return [_run_from(row) for row in rows]

    def next_ready_at(self) -> float | None:
        row = self._db.execute(
            f"SELECT MIN(ready_at) FROM runs WHERE ready_at IS NOT NULL "
            f"AND status NOT IN {_TERMINAL}"
        ).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def unfinished_runs(self) -> list[RunRecord]:
        rows = self._db.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE status NOT IN {_TERMINAL}"
        ).fetchall()
        return [_run_from(row) for row in rows]

    # -- steps --------------------------------------------------------------------------

    def upsert_step(self, step: StepRecord) -> None:
        self._db.execute(
            f"INSERT OR REPLACE INTO steps ({_STEP_COLUMNS}) VALUES ({', '.join('?' * 13)})",
            (
                step.run_id,
                step.key,
                step.id,
                step.kind,
                step.status.value,
                step.position,
                step.output,
                _dump(step.error),
                _dump(step.attempts),
                step.wake_at,
                _dump(step.detail),
                step.started_at,
                step.ended_at,
            ),
        )

    def get_steps(self, run_id: str) -> list[StepRecord]:
        rows = self._db.execute(
            f"SELECT {_STEP_COLUMNS} FROM steps WHERE run_id=? ORDER BY position", (run_id,)
        ).fetchall()
        return [
            StepRecord(
                run_id=row[0],
                key=row[1],
                id=row[2],
                kind=row[3],
                status=StepStatus(row[4]),
                position=row[5],
                output=row[6],
                error=_load(row[7]),
                attempts=_load(row[8]),
                wake_at=row[9],
                detail=_load(row[10]),
                started_at=row[11],
                ended_at=row[12],
            )
            for row in rows
        ]

    # -- events -------------------------------------------------------------------------

    def insert_event(self, event: EventRecord) -> None:
        self._db.execute(
            f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            _event_row(event),
        )

    def update_event(self, event: EventRecord) -> None:
        self._db.execute(
            "UPDATE events SET run_ids=?, skipped=? "
            "WHERE seq=(SELECT MAX(seq) FROM events WHERE id=?)",
            (_dump(event.run_ids), event.skipped, event.id),
        )

    def get_event(self, event_id: str) -> EventRecord | None:
        row = self._db.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE id=? ORDER BY seq LIMIT 1", (event_id,)
        ).fetchone()
        return _event_from(row) if row else None

    def list_events(self, *, name: str | None = None, limit: int = 50) -> list[EventRecord]:
        if name is None:
            rows = self._db.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events ORDER BY seq DESC LIMIT ?", (limit,)
            ).fetchall()
        else:
            rows = self._db.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE name=? ORDER BY seq DESC LIMIT ?",
                (name, limit),
            ).fetchall()
        return [_event_from(row) for row in rows]

    def events_since(self, name: str, since: float) -> list[EventRecord]:
        rows = self._db.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE name=? AND received_at>=? "
            "AND skipped IS NULL ORDER BY seq",
            (name, since),
        ).fetchall()
        return [_event_from(row) for row in rows]

    # -- waits and logs -----------------------------------------------------------------

    def add_wait(self, wait: WaitRecord) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO waits (run_id, step_key, event_name, condition, expires_at, "
            "since, kind, match_field, match_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                wait.run_id,
                wait.step_key,
                wait.event_name,
                wait.condition,
                wait.expires_at,
                wait.since,
                wait.kind,
                wait.match_field,
                wait.match_value,
            ),
        )

    def remove_wait(self, run_id: str, step_key: str) -> None:
        self._db.execute("DELETE FROM waits WHERE run_id=? AND step_key=?", (run_id, step_key))

    def waits_for(
        self, event_name: str, matches: Mapping[str, str] | None = None
    ) -> list[WaitRecord]:
        sql = (
            "SELECT run_id, step_key, event_name, condition, expires_at, since, kind, "
            "match_field, match_value FROM waits WHERE event_name=?"
        )
        params: list[Any] = [event_name]
        if matches is not None:
            clauses = ["match_field IS NULL"]
            for field, value in matches.items():
                clauses.append("(match_field=? AND match_value=?)")
                params += [field, value]
            sql += f" AND ({' OR '.join(clauses)})"
        rows = self._db.execute(sql + " ORDER BY since", params).fetchall()
        return [WaitRecord(*row) for row in rows]

    def wait_match_fields(self, event_name: str) -> list[str]:
        rows = self._db.execute(
            "SELECT DISTINCT match_field FROM waits WHERE event_name=? "
            "AND match_field IS NOT NULL ORDER BY match_field",
            (event_name,),
        ).fetchall()
        return [str(row[0]) for row in rows]

    def remove_waits(self, run_id: str) -> None:
        self._db.execute("DELETE FROM waits WHERE run_id=?", (run_id,))

    def claim_idempotency(
        self, function_id: str, key: str, run_id: str, *, now: float, window: float
    ) -> str | None:
        row = self._db.execute(
            "SELECT run_id, claimed_at FROM idempotency WHERE function_id=? AND key=?",
            (function_id, key),
        ).fetchone()
        if row is not None and now - row[1] < window:
            return str(row[0])
        self._db.execute(
            "INSERT OR REPLACE INTO idempotency (function_id, key, run_id, claimed_at) "
            "VALUES (?, ?, ?, ?)",
            (function_id, key, run_id, now),
        )
        return None

    def get_cron(self, function_id: str, cron: str) -> float | None:
        row = self._db.execute(
            "SELECT next_at FROM crons WHERE function_id=? AND cron=?", (function_id, cron)
        ).fetchone()
        return float(row[0]) if row else None

    def set_cron(self, function_id: str, cron: str, next_at: float) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO crons (function_id, cron, next_at) VALUES (?, ?, ?)",
            (function_id, cron, next_at),
        )

    def expired_deadlines(self, now: float) -> list[RunRecord]:
        rows = self._db.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE deadline_at IS NOT NULL AND deadline_at <= ? "
            f"AND status NOT IN {_TERMINAL}",
            (now,),
        ).fetchall()
        return [_run_from(row) for row in rows]

    def next_deadline_at(self) -> float | None:
        row = self._db.execute(
            f"SELECT MIN(deadline_at) FROM runs WHERE deadline_at IS NOT NULL "
            f"AND status NOT IN {_TERMINAL}"
        ).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def add_logs(self, lines: list[LogRecord]) -> None:
        self._db.executemany(
            "INSERT INTO logs (run_id, ts, level, message, step_key) VALUES (?, ?, ?, ?, ?)",
            [(x.run_id, x.ts, x.level, x.message, x.step_key) for x in lines],
        )

    def get_logs(self, run_id: str) -> list[LogRecord]:
        rows = self._db.execute(
            "SELECT run_id, ts, level, message, step_key FROM logs WHERE run_id=? ORDER BY seq",
            (run_id,),
        ).fetchall()
        return [LogRecord(*row) for row in rows]

    # -- transactions -------------------------------------------------------------------

    def commit(self) -> None:
        self._db.commit()

    def close(self) -> None:
        self._db.commit()
        self._db.close()


def _run_row(run: RunRecord) -> tuple[Any, ...]:
    return (
        run.run_id,
        run.function_id,
        run.status.value,
        run.created_at,
        run.started_at,
        run.ended_at,
        run.ready_at,
        run.attempt,
        run.trigger,
        run.parent_run_id,
        run.parent_step_key,
        run.cancel_reason,
        run.idempotency_key,
        _dump(run.concurrency_keys),
        run.output,
        _dump(run.error),
        _dump(run.event),
        _dump(run.events),
        run.deadline_at,
        run.deadline_reason,
        run.cancel_event_id,
    )


def _run_from(row: tuple[Any, ...]) -> RunRecord:
    return RunRecord(
        run_id=row[0],
        function_id=row[1],
        status=RunStatus(row[2]),
        created_at=row[3],
        started_at=row[4],
        ended_at=row[5],
        ready_at=row[6],
        attempt=row[7],
        trigger=row[8],
        parent_run_id=row[9],
        parent_step_key=row[10],
        cancel_reason=row[11],
        idempotency_key=row[12],
        concurrency_keys=_load(row[13]),
        output=row[14],
        error=_load(row[15]),
        event=_load(row[16]),
        events=_load(row[17]),
        deadline_at=row[18],
        deadline_reason=row[19],
        cancel_event_id=row[20],
    )


def _event_row(event: EventRecord) -> tuple[Any, ...]:
    return (
        event.id,
        event.name,
        _dump(event.data),
        event.ts,
        _dump(event.user),
        event.received_at,
        _dump(event.run_ids),
        event.skipped,
    )


def _event_from(row: tuple[Any, ...]) -> EventRecord:
    return EventRecord(
        id=row[0],
        name=row[1],
        data=_load(row[2]),
        ts=row[3],
        user=_load(row[4]),
        received_at=row[5],
        run_ids=_load(row[6]),
        skipped=row[7],
    )
