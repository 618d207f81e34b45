"""The SQLite :class:`~durable._stores.base.Store`: WAL, one writer, explicit (batchable) commits.

Durability: with the default ``synchronous=NORMAL`` in WAL mode, a committed transaction
survives a crash (``kill -9``) of any process; after a power loss or OS crash the last
transactions before it may be rolled back (never corrupted). ``fsync=True`` sets
``synchronous=FULL``: every commit is synced to disk and survives power loss too.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from .._errors import StoreError
from . import sqlite_retention
from .base import (
    EventRecord,
    Lease,
    LogRecord,
    RunRecord,
    StepRecord,
    StepStatus,
    WaitRecord,
)
from .one_by_one import claim_event_ids_one_by_one, claim_runs_one_by_one
from .sqlite_connection import BUSY_TIMEOUT_MS, ServerLock, connect
from .sqlite_flow import SQLiteFlowOps
from .sqlite_precheck import Precheck
from .sqlite_rows import (
    EVENT_COLUMNS,
    RUN_CHANGES,
    RUN_COLUMNS,
    STEP_COLUMNS,
    TERMINAL,
    event_from,
    event_row,
    run_changes,
    run_from,
    run_row,
    step_from,
    step_row,
)
from .sqlite_schema import AFTER_MIGRATION, MIGRATIONS, SCHEMA_VERSION, statements
from .transaction import Transactions

_UPSERT_STEP = f"INSERT OR REPLACE INTO steps ({STEP_COLUMNS}) VALUES ({', '.join('?' * 13)})"


class SchemaError(RuntimeError):
    """The database was written by a newer version of durable."""


class SQLiteStore(SQLiteFlowOps, Transactions):
    """The Store protocol on one SQLite file (``":memory:"`` for a throwaway database)."""

    def __init__(
        self, path: str | Path, *, fsync: bool = False, precheck: Precheck | None = None
    ) -> None:
        self.path = str(path)
        self._precheck = precheck  #: the integrity check, if it was started early
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock: ServerLock | None = None
        #: the leases this store granted (run id -> (server, epoch)). One server writes a
        #: SQLite file (its lock says so), so every claim, release and reap goes through this
        #: object, and a checkpoint's lease check needs no query.
        self._leases: dict[str, tuple[str, int]] = {}
        #: supersets of the event names and runs in ``waits`` (None: read again), so that an
        #: event nobody waits for, or the end of a run that waited for nothing, costs no query
        self._wait_names: set[str] | None = None
        self._waiting_runs: set[str] | None = None
        #: runs this store inserted that have no step yet: a new run's first pass reads no
        #: history (a rollback can only take steps away, so the set stays true after one)
        self._stepless: set[str] = set()
        self._db = connect(self.path)
        self._committed_changes = 0  #: ``total_changes`` at the last commit or rollback
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
            self._db.execute("PRAGMA foreign_keys=OFF")
            self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self._check_integrity()
            self._migrate()
        except BaseException:
            self._db.close()
            raise

    # -- schema -------------------------------------------------------------------------

    def _check_integrity(self) -> None:
        """Refuse a damaged file at open, before anything is written into it."""
        rows = self._precheck.rows() if self._precheck is not None else None
        if rows is None:
            rows = self._db.fetchall("PRAGMA quick_check")
        problems = [str(row[0]) for row in rows if row[0] != "ok"]
        if problems:
            shown = "; ".join(problems[:3]) + (
                f" (+{len(problems) - 3} more)" * (len(problems) > 3)
            )
            raise StoreError(
                f"the database {self.path} is damaged (integrity check: {shown}); restore it "
                "from a backup or use another --db",
                reason="database_damaged",
                path=self.path,
            )

    def _migrate(self) -> None:
        if self._check_version() == SCHEMA_VERSION:
            return
        # One migrating process at a time: take the write lock first, then read the version
        # again (another `durable dev` on the same file may have migrated it meanwhile).
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for number in range(self._check_version(), SCHEMA_VERSION):
                for statement in statements(MIGRATIONS[number]):
                    self._db.execute(statement)
                if number + 1 in AFTER_MIGRATION:
                    AFTER_MIGRATION[number + 1](self._db)
                self._db.execute(f"PRAGMA user_version={number + 1}")
            self._db.execute("COMMIT")
        except BaseException:
            # not after COMMIT: a Ctrl-C raised right after it (SystemExit) must stay the error
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def _check_version(self) -> int:
        version = int(self._db.fetchone("PRAGMA user_version")[0])
        if version > SCHEMA_VERSION:
            raise SchemaError(
                f"{self.path} has schema version {version}; this durable knows up to "
                f"{SCHEMA_VERSION}: upgrade durable or use another --db"
            )
        return version

    @property
    def schema_version(self) -> int:
        """The schema version of the open database."""
        return int(self._db.fetchone("PRAGMA user_version")[0])

    # -- runs ---------------------------------------------------------------------------

    def insert_run(self, run: RunRecord) -> None:
        self._db.execute(
            f"INSERT INTO runs ({RUN_COLUMNS}) VALUES ({', '.join('?' * 23)})", run_row(run)
        )
        self._stepless.add(run.run_id)

    def update_run(self, run: RunRecord) -> None:
        self._db.execute(
            f"UPDATE runs SET {RUN_CHANGES} WHERE run_id=?", (*run_changes(run), run.run_id)
        )

    def end_run(self, run: RunRecord) -> bool:
        ended = self._db.execute(
            f"UPDATE runs SET {RUN_CHANGES}, rerun_at=NULL "
            f"WHERE run_id=? AND status NOT IN {TERMINAL}",
            (*run_changes(run), run.run_id),
        ).rowcount
        if ended:  # an ended run's lease, whoever holds it, fences in nothing more
            self._leases.pop(run.run_id, None)
        self._stepless.discard(run.run_id)
        return bool(ended)

    def make_ready(self, run_id: str, now: float) -> bool:
        changed = self._db.execute(
            "UPDATE runs SET "
            "ready_at = CASE WHEN owner IS NULL THEN MIN(COALESCE(ready_at, ?), ?) "
            "ELSE ready_at END, "
            "rerun_at = CASE WHEN owner IS NULL THEN rerun_at ELSE COALESCE(rerun_at, ?) END "
            f"WHERE run_id=? AND status NOT IN {TERMINAL}",
            (now, now, now, run_id),
        ).rowcount
        return bool(changed)

    def get_run(self, run_id: str) -> RunRecord | None:
        row = self._db.fetchone(f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id=?", (run_id,))
        return run_from(row) if row else None

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
        rows = self._db.fetchall(
            f"SELECT {RUN_COLUMNS} FROM runs {clause} "
            "ORDER BY created_at DESC, run_id DESC LIMIT ?",
            (*params, limit),
        )
        return [run_from(row) for row in rows]

    # -- ownership (one server at a time: the server lock is its registration) -------------

    def register_server(self, server_id: str, now: float) -> None:
        if self._lock is None and self.path != ":memory:":
            self._lock = ServerLock.acquire(self.path)  # StoreError if another server has it
        # Holding the lock, every other server of this file is dead: hand back their runs.
        self._db.execute(
            "UPDATE runs SET owner=NULL, rerun_at=NULL, ready_at=CASE WHEN rerun_at IS NULL "
            "THEN ready_at ELSE MIN(COALESCE(ready_at, rerun_at), rerun_at) END "
            "WHERE owner IS NOT NULL AND owner != ?",
            (server_id,),
        )
        self._db.execute("DELETE FROM servers WHERE server_id != ?", (server_id,))
        self._leases = {run: held for run, held in self._leases.items() if held[0] == server_id}
        self._db.execute(
            "INSERT OR REPLACE INTO servers (server_id, pid, started_at, heartbeat_at) "
            "VALUES (?, ?, ?, ?)",
            (server_id, os.getpid(), now, now),
        )
        self._db.commit()

    def reap_server(self, server_id: str, now: float) -> int:
        self._db.execute("DELETE FROM servers WHERE server_id=?", (server_id,))
        handed_back = self._db.execute(
            "UPDATE runs SET owner=NULL, ready_at=?, rerun_at=NULL "
            f"WHERE owner=? AND status NOT IN {TERMINAL}",
            (now, server_id),
        ).rowcount
        self._db.execute("UPDATE runs SET owner=NULL WHERE owner=?", (server_id,))
        self._leases = {run: held for run, held in self._leases.items() if held[0] != server_id}
        return int(handed_back)

    def claim_run(self, run_id: str, server_id: str) -> Lease | None:
        rows = self._db.fetchall(
            "UPDATE runs SET owner=?, epoch=epoch+1 WHERE run_id=? AND (owner IS NULL OR owner=?) "
            "RETURNING epoch",
            (server_id, run_id, server_id),
        )
        if not rows:
            return None
        self._leases[run_id] = (server_id, int(rows[0][0]))
        return Lease(run_id, server_id, int(rows[0][0]))

    def claim_runs(self, run_ids: Sequence[str], server_id: str) -> dict[str, Lease]:
        return claim_runs_one_by_one(self.claim_run, run_ids, server_id)

    def holds_lease(self, lease: Lease) -> bool:
        return self._leases.get(lease.run_id) == (lease.server_id, lease.epoch)

    def held_leases(self, leases: Sequence[Lease]) -> set[str]:
        return {
            lease.run_id
            for lease in leases
            if self._leases.get(lease.run_id) == (lease.server_id, lease.epoch)
        }

    def release_run(self, lease: Lease) -> None:
        if self._leases.get(lease.run_id) == (lease.server_id, lease.epoch):
            del self._leases[lease.run_id]
        self._db.execute(
            "UPDATE runs SET owner=NULL, rerun_at=NULL, ready_at=CASE "
            f"WHEN rerun_at IS NULL OR status IN {TERMINAL} THEN ready_at "
            "ELSE MIN(COALESCE(ready_at, rerun_at), rerun_at) END "
            "WHERE run_id=? AND owner=? AND epoch=?",
            (lease.run_id, lease.server_id, lease.epoch),
        )

    def ready_runs(self, now: float, limit: int) -> list[RunRecord]:
        rows = self._db.fetchall(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE ready_at IS NOT NULL AND ready_at <= ? "
            f"AND status NOT IN {TERMINAL} ORDER BY ready_at - priority, created_at LIMIT ?",
            (now, limit),
        )
        return [run_from(row) for row in rows]

    def next_ready_at(self) -> float | None:
        row = self._db.fetchone(
            f"SELECT MIN(ready_at) FROM runs WHERE ready_at IS NOT NULL "
            f"AND status NOT IN {TERMINAL}"
        )
        return float(row[0]) if row and row[0] is not None else None

    def resume_interrupted(self, now: float) -> int:
        # (found through the status index: the sleeping and waiting runs are not read)
        return int(
            self._db.execute(
                "UPDATE runs SET ready_at=? WHERE status IN ('queued', 'running') "
                "AND ready_at IS NULL",
                (now,),
            ).rowcount
        )

    # -- steps --------------------------------------------------------------------------

    def upsert_step(self, step: StepRecord) -> None:
        self._stepless.discard(step.run_id)
        self._db.execute(_UPSERT_STEP, step_row(step))

    def get_steps(
        self,
        run_id: str,
        *,
        statuses: Collection[StepStatus] | None = None,
        claim: Lease | None = None,
    ) -> list[StepRecord]:
        if run_id in self._stepless:
            return []
        where, params = "run_id=?", [run_id]
        if statuses is not None:
            where += f" AND status IN ({', '.join('?' * len(statuses))})"
            params += [status.value for status in statuses]
        rows = self._db.fetchall(
            f"SELECT {STEP_COLUMNS} FROM steps WHERE {where} ORDER BY position", params
        )
        return [step_from(row) for row in rows]

    # -- events -------------------------------------------------------------------------

    def insert_event(self, event: EventRecord) -> None:
        self._db.execute(
            f"INSERT INTO events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            event_row(event),
        )

    def get_event(self, event_id: str) -> EventRecord | None:
        row = self._db.fetchone(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE id=? ORDER BY seq LIMIT 1", (event_id,)
        )
        return event_from(row) if row else None

    def list_events(self, *, name: str | None = None, limit: int = 50) -> list[EventRecord]:
        if name is None:
            rows = self._db.fetchall(
                f"SELECT {EVENT_COLUMNS} FROM events ORDER BY seq DESC LIMIT ?", (limit,)
            )
        else:
            rows = self._db.fetchall(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE name=? ORDER BY seq DESC LIMIT ?",
                (name, limit),
            )
        return [event_from(row) for row in rows]

    def events_since(self, name: str, since: float) -> list[EventRecord]:
        rows = self._db.fetchall(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE name=? AND received_at>=? "
            "AND skipped IS NULL ORDER BY seq",
            (name, since),
        )
        return [event_from(row) for row in rows]

    # -- waits and logs -----------------------------------------------------------------

    def lock_event_names(self, names: Sequence[str], *, exclusive: bool) -> None:
        """Nothing to lock: one writer at a time."""

    def _waits_known(self) -> tuple[set[str], set[str]]:
        if self._wait_names is None or self._waiting_runs is None:
            rows = self._db.fetchall("SELECT DISTINCT event_name, run_id FROM waits")
            self._wait_names = {str(row[0]) for row in rows}
            self._waiting_runs = {str(row[1]) for row in rows}
        return self._wait_names, self._waiting_runs

    def add_wait(self, wait: WaitRecord) -> None:
        names, runs = self._waits_known()
        names.add(wait.event_name)
        runs.add(wait.run_id)
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
        if event_name not in self._waits_known()[0]:
            return []
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
        rows = self._db.fetchall(sql + " ORDER BY since", params)
        return [WaitRecord(*row) for row in rows]

    def wait_match_fields(self, event_name: str) -> list[str]:
        if event_name not in self._waits_known()[0]:
            return []
        rows = self._db.fetchall(
            "SELECT DISTINCT match_field FROM waits WHERE event_name=? "
            "AND match_field IS NOT NULL ORDER BY match_field",
            (event_name,),
        )
        return [str(row[0]) for row in rows]

    def remove_waits(self, run_id: str) -> None:
        runs = self._waits_known()[1]
        if run_id in runs:
            self._db.execute("DELETE FROM waits WHERE run_id=?", (run_id,))
            runs.discard(run_id)

    def claim_idempotency(
        self, function_id: str, key: str, run_id: str, *, now: float, window: float
    ) -> str | None:
        won = self._db.fetchall(
            "INSERT INTO idempotency (function_id, key, run_id, claimed_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (function_id, key) DO UPDATE SET run_id=excluded.run_id, "
            "claimed_at=excluded.claimed_at WHERE idempotency.claimed_at <= ? RETURNING run_id",
            (function_id, key, run_id, now, now - window),
        )
        if won:
            return None
        row = self._db.fetchone(
            "SELECT run_id FROM idempotency WHERE function_id=? AND key=?", (function_id, key)
        )
        return str(row[0])

    def claim_event_id(self, event_id: str, *, now: float, window: float) -> bool:
        won = self._db.fetchall(
            "INSERT INTO event_ids (id, claimed_at) VALUES (?, ?) ON CONFLICT (id) DO UPDATE "
            "SET claimed_at=excluded.claimed_at WHERE event_ids.claimed_at <= ? RETURNING 1",
            (event_id, now, now - window),
        )
        return bool(won)

    def claim_event_ids(self, event_ids: Sequence[str], *, now: float, window: float) -> list[bool]:
        return claim_event_ids_one_by_one(self.claim_event_id, event_ids, now, window)

    def advance_cron(self, function_id: str, cron: str, expected: float, next_at: float) -> bool:
        moved = self._db.execute(
            "UPDATE crons SET next_at=? WHERE function_id=? AND cron=? AND next_at=?",
            (next_at, function_id, cron, expected),
        ).rowcount
        return bool(moved == 1)

    def get_cron(self, function_id: str, cron: str) -> float | None:
        row = self._db.fetchone(
            "SELECT next_at FROM crons WHERE function_id=? AND cron=?", (function_id, cron)
        )
        return float(row[0]) if row else None

    def set_cron(self, function_id: str, cron: str, next_at: float) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO crons (function_id, cron, next_at) VALUES (?, ?, ?)",
            (function_id, cron, next_at),
        )

    def expired_deadlines(self, now: float) -> list[RunRecord]:
        rows = self._db.fetchall(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE deadline_at IS NOT NULL AND deadline_at <= ? "
            f"AND status NOT IN {TERMINAL}",
            (now,),
        )
        return [run_from(row) for row in rows]

    def next_deadline_at(self) -> float | None:
        row = self._db.fetchone(
            f"SELECT MIN(deadline_at) FROM runs WHERE deadline_at IS NOT NULL "
            f"AND status NOT IN {TERMINAL}"
        )
        return float(row[0]) if row and row[0] is not None else None

    def add_logs(self, lines: list[LogRecord]) -> None:
        self._db.executemany(
            "INSERT INTO logs (run_id, ts, level, message, step_key) VALUES (?, ?, ?, ?, ?)",
            [(x.run_id, x.ts, x.level, x.message, x.step_key) for x in lines],
        )

    def get_logs(self, run_id: str) -> list[LogRecord]:
        rows = self._db.fetchall(
            "SELECT run_id, ts, level, message, step_key FROM logs WHERE run_id=? ORDER BY seq",
            (run_id,),
        )
        return [LogRecord(*row) for row in rows]

    # -- transactions -------------------------------------------------------------------

    def commit(self) -> bool:
        # (a transaction begun with BEGIN IMMEDIATE is open before its first write)
        wrote = self._db.in_transaction and self._db.total_changes != self._committed_changes
        self._db.commit()
        self._committed_changes = self._db.total_changes
        return wrote

    def _begin(self) -> None:
        # The write lock now, not at the first write: a transaction that reads and then
        # writes never finds another process's writer in its way halfway through.
        self._db.execute("BEGIN IMMEDIATE")

    def rollback(self) -> None:
        # what was removed since the last commit is back: read the supersets again
        self._holders = self._wait_names = self._waiting_runs = None
        self._db.rollback()
        self._committed_changes = self._db.total_changes

    def probe_write(self) -> None:
        if self._db.in_transaction:
            self._db.commit()
            return
        # Takes the write lock and appends a page to the WAL: fails while locked or full.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(f"PRAGMA user_version={self.schema_version}")
            self._db.commit()
        except BaseException:
            self._db.rollback()
            raise

    def close(self) -> None:
        try:
            self._db.commit()
            self._db.close()
        finally:
            if self._lock is not None:
                self._lock.release()

    # -- liveness (one server per file: its lock says it is alive; the row says since when) --

    def heartbeat(self, server_id: str, now: float) -> bool:
        return bool(
            self._db.execute(
                "UPDATE servers SET heartbeat_at=? WHERE server_id=?", (now, server_id)
            ).rowcount
            == 1
        )

    def reap_dead(self, now: float, dead_after: float) -> int:
        dead = self._db.fetchall(
            "SELECT server_id FROM servers WHERE heartbeat_at < ?", (now - dead_after,)
        )
        return sum(self.reap_server(str(row[0]), now) for row in dead)

    # -- retention and figures (the SQL is in sqlite_retention) ----------------------------

    def delete_expired(self, before: float, limit: int, *, claims_before: float) -> int:
        return sqlite_retention.delete_expired(self._db, before, limit, claims_before)

    def count_runs_by_status(self) -> dict[str, int]:
        return sqlite_retention.count_runs_by_status(self._db)
