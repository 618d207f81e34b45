"""The PostgreSQL :class:`~durable._stores.base.Store`: many servers on one database.

Same semantics as SQLite: writes accumulate in an implicit transaction until :meth:`commit`.
Ownership is in the database: a claim bumps the run's ``epoch`` (the fencing token) and is
taken only if the run is not held by a live server and the claimer's own server row exists;
:meth:`PostgresStore.holds_lease` locks the run's row inside the open transaction, so a reaper
cannot hand the run to another server between the check and the commit. Heartbeats use the
database clock, on a connection of their own. Commits that made work due wake the other
servers with a coalesced ``NOTIFY`` (:mod:`.postgres_signals`).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from .._errors import StoreError
from . import postgres_retention
from .base import (
    EventRecord,
    Lease,
    LogRecord,
    RunRecord,
    StepRecord,
    StepStatus,
    WaitRecord,
)
from .one_by_one import claim_runs_one_by_one
from .postgres_claims import PostgresClaimOps
from .postgres_connection import redact, require_psycopg
from .postgres_flow import PostgresFlowOps
from .postgres_migrate import migrate, read_version
from .postgres_queue import WriteQueue
from .postgres_rows import (
    EVENT_COLUMNS,
    INSERT_EVENTS,
    INSERT_RUNS,
    RUN_CHANGES,
    RUN_COLUMNS,
    STEP_COLUMNS,
    TERMINAL,
    UPSERT_STEPS,
    WRITE_RUNS,
    event_from,
    event_insert_row,
    run_changes,
    run_from,
    run_insert_row,
    run_write_row,
    step_from,
    step_row,
)
from .postgres_schema import EVENT_NAME_LOCKS
from .postgres_session import Session
from .postgres_signals import CHANNEL, Listener
from .transaction import Transactions

#: A run another live server holds is not this server's to start (``%(me)s``: this server).
_NOT_HELD = (
    "(owner IS NULL OR owner = %(me)s OR NOT EXISTS "
    "(SELECT 1 FROM servers WHERE servers.server_id = runs.owner))"
)
#: What every write of a run's state stamps it with (schema 3): when (database clock), in
#: which transaction, by which server (the ``%s``); other servers' streams follow these.
_STAMP = (
    "updated_at=extract(epoch FROM clock_timestamp()), updated_xid=pg_current_xact_id(), "
    "updated_by=%s"
)

#: Ends the leases of many passes (a run flagged by ``make_ready`` meanwhile is due again);
#: returns, per run released, whether it is due.
_RELEASE_RUNS = (
    "UPDATE runs SET owner=NULL, rerun_at=NULL, ready_at=CASE "
    f"WHEN runs.rerun_at IS NULL OR runs.status IN {TERMINAL} THEN runs.ready_at "
    "ELSE LEAST(COALESCE(runs.ready_at, runs.rerun_at), runs.rerun_at) END "
    "FROM unnest(%b::text[], %b::text[], %b::bigint[]) AS u(run_id, owner, epoch) "
    "WHERE runs.run_id=u.run_id AND runs.owner=u.owner AND runs.epoch=u.epoch "
    f"RETURNING runs.ready_at IS NOT NULL AND runs.status NOT IN {TERMINAL}"
)

_DELETE_WAITS = "DELETE FROM waits WHERE run_id = ANY(%b::text[])"
#: At most this many fresh runs are remembered (see ``PostgresStore._fresh``).
_FRESH_MAX = 100_000


class PostgresStore(PostgresClaimOps, PostgresFlowOps, Transactions):
    """The Store protocol on a PostgreSQL database (``postgresql://user@host:port/name``)."""

    def __init__(self, url: str) -> None:
        require_psycopg()
        self.url = url
        self.where = redact(url)
        self._server_id = ""  #: the server this store serves (set by register_server)
        self._db = Session(url, lambda: self._server_id)
        self._db.queue = WriteQueue(
            (INSERT_RUNS, INSERT_EVENTS, WRITE_RUNS, UPSERT_STEPS, _DELETE_WAITS, _RELEASE_RUNS)
        )
        self._listener: Listener | None = None
        self._event_order = itertools.count()  #: keys that keep queued events in order
        #: runs inserted here with no step written here and no claim seen but this
        #: server's first (epoch 1); once that claim is taken (``_first_passes``) the run
        #: cannot have a step yet: its first pass needs no look-up of its history
        self._fresh: set[str] = set()
        self._first_passes: set[str] = set()
        try:
            self._migrate()
        except BaseException:
            self._db.close()
            raise

    # -- schema -------------------------------------------------------------------------

    def _migrate(self) -> None:
        migrate(self._db, self.where)

    @property
    def schema_version(self) -> int:
        """The schema version of the open database."""
        return read_version(self._db)

    # -- runs ---------------------------------------------------------------------------

    def insert_run(self, run: RunRecord) -> None:
        if len(self._fresh) >= _FRESH_MAX:  # runs other servers took: forget, ask again
            self._fresh.clear()
            self._first_passes.clear()
        self._fresh.add(run.run_id)
        # Queued: the runs an ingest creates go in one statement.
        self._db.defer(
            INSERT_RUNS, run.run_id, run_insert_row(run, self._server_id), run=run.run_id
        )
        if run.ready_at is not None:
            self._db.announce = True

    def update_run(self, run: RunRecord) -> None:
        # Queued: the runs changed together (passes starting, a group commit) go in one.
        row = run_write_row(run, self._server_id, ending=False)
        self._db.defer(WRITE_RUNS, run.run_id, row, run=run.run_id)
        if run.ready_at is not None and not run.status.terminal:
            self._db.announce = True

    def end_run(self, run: RunRecord) -> bool:
        if run.run_id in self._db.live_locked:
            # This transaction locked the row and found the run unended: nobody else ends it
            # first, so this write wins, and can wait in the queue with the others.
            self._db.live_locked.discard(run.run_id)  # (a second end loses, as it should)
            row = run_write_row(run, self._server_id, ending=True)
            self._db.defer(WRITE_RUNS, run.run_id, row, run=run.run_id)
            return True
        won = self._db.one(
            f"UPDATE runs SET {RUN_CHANGES}, rerun_at=NULL, {_STAMP} "
            f"WHERE run_id=%s AND status NOT IN {TERMINAL} RETURNING 1",
            (*run_changes(run), self._server_id, run.run_id),
        )
        self._db.dirty = True
        return won is not None

    def make_ready(self, run_id: str, now: float) -> bool:
        # Held by a pass (here or on another server): flagged, due when that pass releases it.
        row = self._db.one(
            "UPDATE runs SET "
            "ready_at = CASE WHEN owner IS NULL THEN LEAST(COALESCE(ready_at, %(now)s), %(now)s) "
            "ELSE ready_at END, "
            "rerun_at = CASE WHEN owner IS NULL THEN rerun_at ELSE COALESCE(rerun_at, %(now)s) END "
            f"WHERE run_id=%(run)s AND status NOT IN {TERMINAL} RETURNING owner IS NULL",
            {"now": now, "run": run_id},
        )
        self._db.dirty = True
        if row is not None and row[0]:
            self._db.announce = True
        return row is not None

    def get_run(self, run_id: str) -> RunRecord | None:
        row = self._db.one(f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id=%s", (run_id,))
        return run_from(row) if row else None

    def list_runs(
        self,
        *,
        status: str | None = None,
        function_id: str | None = None,
        limit: int = 50,
        before: str | None = None,
    ) -> list[RunRecord]:
        where: list[str] = []
        params: list[Any] = []
        if status is not None:
            where.append("status=%s")
            params.append(status)
        if function_id is not None:
            where.append("function_id=%s")
            params.append(function_id)
        if before is not None:
            where.append(
                "(created_at, run_id) < (SELECT created_at, run_id FROM runs WHERE run_id=%s)"
            )
            params.append(before)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._db.all(
            f"SELECT {RUN_COLUMNS} FROM runs {clause} "
            "ORDER BY created_at DESC, run_id DESC LIMIT %s",
            (*params, limit),
        )
        return [run_from(row) for row in rows]

    # -- ownership: many servers, fenced by epochs ----------------------------------------

    def register_server(self, server_id: str, now: float) -> None:
        self._server_id = server_id
        self._db.write(
            "INSERT INTO servers (server_id, pid, host, started_at) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (server_id) DO UPDATE SET heartbeat_at=clock_timestamp()",
            (server_id, os.getpid(), socket.gethostname(), now),
        )
        self._db.commit()

    def reap_server(self, server_id: str, now: float) -> int:
        self._db.write("DELETE FROM servers WHERE server_id=%s", (server_id,))
        rows = self._db.all(
            "UPDATE runs SET owner=NULL, rerun_at=NULL, "
            f"ready_at=CASE WHEN status IN {TERMINAL} THEN ready_at ELSE %s END "
            f"WHERE owner=%s RETURNING status NOT IN {TERMINAL}",
            (now, server_id),
        )
        handed_back = sum(1 for (unfinished,) in rows if unfinished)
        if handed_back:
            self._db.announce = True
        return handed_back

    def claim_run(self, run_id: str, server_id: str) -> Lease | None:
        # A run whose row another transaction holds is being changed right now: not
        # claimable this round (SKIP LOCKED: the event loop never waits on another server).
        row = self._db.one(
            "UPDATE runs SET owner=%(me)s, epoch=epoch+1 WHERE run_id=("
            "SELECT run_id FROM runs WHERE run_id=%(run)s AND " + _NOT_HELD + " AND EXISTS "
            "(SELECT 1 FROM servers WHERE server_id=%(me)s) FOR UPDATE SKIP LOCKED) "
            "RETURNING epoch",
            {"me": server_id, "run": run_id},
        )
        self._db.dirty = True
        if row is None:
            return None
        self._claimed({run_id: int(row[0])})
        return Lease(run_id, server_id, int(row[0]))

    def _claimed(self, epochs: Mapping[str, int]) -> None:
        for run_id, epoch in epochs.items():
            if epoch == 1 and run_id in self._fresh:
                self._first_passes.add(run_id)
            else:  # claimed before: it may have steps
                self._fresh.discard(run_id)
                self._first_passes.discard(run_id)

    def claim_runs(self, run_ids: Sequence[str], server_id: str) -> dict[str, Lease]:
        if len(run_ids) <= 1:
            return claim_runs_one_by_one(self.claim_run, run_ids, server_id)
        rows = self._db.all(  # as claim_run, for all: locked in run-id order
            "UPDATE runs SET owner=%(me)s, epoch=epoch+1 WHERE run_id IN ("
            "SELECT run_id FROM runs WHERE run_id = ANY(%(runs)s) AND " + _NOT_HELD + " AND "
            "EXISTS (SELECT 1 FROM servers WHERE server_id=%(me)s) ORDER BY run_id "
            "FOR UPDATE SKIP LOCKED) RETURNING run_id, epoch",
            {"me": server_id, "runs": list(run_ids)},
        )
        self._db.dirty = True
        self._claimed({str(run_id): int(epoch) for run_id, epoch in rows})
        return {str(run_id): Lease(str(run_id), server_id, int(epoch)) for run_id, epoch in rows}

    def holds_lease(self, lease: Lease) -> bool:
        # Locks the run's row until the commit that follows: a reaper (or a claimer) waits
        # for it, so nothing hands the run over between this check and that commit.
        row = self._db.one(
            f"SELECT 1 FROM runs WHERE run_id=%s AND owner=%s AND epoch=%s AND status NOT IN "
            f"{TERMINAL} AND EXISTS "
            "(SELECT 1 FROM servers WHERE server_id=%s) FOR UPDATE",
            (lease.run_id, lease.server_id, lease.epoch, lease.server_id),
        )
        if row is not None:
            self._db.live_locked.add(lease.run_id)
        return row is not None

    def held_leases(self, leases: Sequence[Lease]) -> set[str]:
        if len(leases) == 1:
            return {leases[0].run_id} if self.holds_lease(leases[0]) else set()
        if not leases:
            return set()
        # Locked in run-id order (as every multi-row lock here): two group commits never
        # wait on each other in a cycle.
        rows = self._db.all(
            "SELECT run_id FROM runs WHERE (run_id, owner, epoch) IN "
            "(SELECT * FROM unnest(%b::text[], %b::text[], %b::bigint[])) "
            f"AND status NOT IN {TERMINAL} AND EXISTS "
            "(SELECT 1 FROM servers WHERE servers.server_id = runs.owner) "
            "ORDER BY run_id FOR UPDATE OF runs",
            (
                [lease.run_id for lease in leases],
                [lease.server_id for lease in leases],
                [lease.epoch for lease in leases],
            ),
        )
        held = {str(row[0]) for row in rows}
        self._db.live_locked.update(held)
        return held

    def release_run(self, lease: Lease) -> None:
        # Queued: the passes that end together release their runs in one statement.
        row = (lease.run_id, lease.server_id, lease.epoch)
        key = (lease.run_id, lease.epoch)
        self._db.defer(_RELEASE_RUNS, key, row, self._released, run=lease.run_id)

    def _released(self, rows: list[tuple[Any, ...]]) -> None:
        if any(due for (due,) in rows):  # due again: another server may start it now
            self._db.announce = True

    def heartbeat(self, server_id: str, now: float) -> bool:
        def beat(conn: Any) -> bool:
            row = conn.execute(
                "UPDATE servers SET heartbeat_at=clock_timestamp() WHERE server_id=%s RETURNING 1",
                (server_id,),
            ).fetchone()
            return row is not None

        return bool(self._db.side(beat))

    def reap_dead(self, now: float, dead_after: float) -> int:
        def reap(conn: Any) -> int:
            conn.execute(
                "DELETE FROM servers WHERE server_id IN (SELECT server_id FROM servers "
                "WHERE heartbeat_at < clock_timestamp() - make_interval(secs => %s) "
                "FOR UPDATE SKIP LOCKED)",
                (dead_after,),
            )
            # Every run held by a server without a row is handed back: the ones just reaped,
            # and any a reaped server claimed while being reaped. Rows busy in another
            # transaction are left for the next round.
            rows = conn.execute(
                "UPDATE runs SET owner=NULL, rerun_at=NULL, "
                f"ready_at=CASE WHEN status IN {TERMINAL} THEN ready_at ELSE %s END "
                "WHERE run_id IN (SELECT run_id FROM runs WHERE owner IS NOT NULL AND NOT EXISTS "
                "(SELECT 1 FROM servers WHERE servers.server_id=runs.owner) "
                f"FOR UPDATE SKIP LOCKED) RETURNING status NOT IN {TERMINAL}",
                (now,),
            ).fetchall()
            return sum(1 for (unfinished,) in rows if unfinished)

        handed_back = int(self._db.side(reap))
        if handed_back:
            self._db.announcer.announce()
        return handed_back

    def listen_for_work(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` (from another thread) when another server announces due work."""
        if self._listener is None:
            self._listener = Listener(self.url, lambda: self._server_id, wake)

    def stop_listening(self) -> None:
        """Stop the listener started by :meth:`listen_for_work`."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def ready_runs(self, now: float, limit: int) -> list[RunRecord]:
        rows = self._db.all(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE ready_at IS NOT NULL AND ready_at <= %(now)s "
            f"AND status NOT IN {TERMINAL} AND {_NOT_HELD} "
            "ORDER BY ready_at - priority, created_at LIMIT %(limit)s",
            {"now": now, "limit": limit, "me": self._server_id},
        )
        return [run_from(row) for row in rows]

    def next_ready_at(self) -> float | None:
        row = self._db.one(
            f"SELECT ready_at FROM runs WHERE ready_at IS NOT NULL AND status NOT IN {TERMINAL} "
            f"AND {_NOT_HELD} ORDER BY ready_at, created_at LIMIT 1",
            {"me": self._server_id},
        )
        return float(row[0]) if row and row[0] is not None else None

    def resume_interrupted(self, now: float) -> int:
        return 0  # many servers: a dead one's runs come back by reaping (heartbeats)

    # -- steps --------------------------------------------------------------------------

    def upsert_step(self, step: StepRecord) -> None:
        self._fresh.discard(step.run_id)
        self._first_passes.discard(step.run_id)
        # Queued: the steps checkpointed together (a group commit) go in one statement.
        self._db.defer(UPSERT_STEPS, (step.run_id, step.key), step_row(step), run=step.run_id)

    def get_steps(
        self,
        run_id: str,
        *,
        statuses: Collection[StepStatus] | None = None,
        claim: Lease | None = None,
    ) -> list[StepRecord]:
        if claim is not None and claim.epoch == 1 and run_id in self._first_passes:
            # the first pass of a run inserted here, starting under the claim taken here
            self._first_passes.discard(run_id)
            self._fresh.discard(run_id)
            return []
        sql = f"SELECT {STEP_COLUMNS} FROM steps WHERE run_id=%s"
        params: list[Any] = [run_id]
        if statuses is not None:
            sql += " AND status = ANY(%s)"
            params.append([status.value for status in statuses])
        rows = self._db.all(sql + " ORDER BY position", params)
        return [step_from(row) for row in rows]

    # -- events -------------------------------------------------------------------------

    def insert_event(self, event: EventRecord) -> None:
        # Queued (in the order received): the events of an ingest go in one statement.
        self._db.defer(INSERT_EVENTS, next(self._event_order), event_insert_row(event))
        if event.skipped is None:  # a wait elsewhere may match it
            self._db.announce = True

    def get_event(self, event_id: str) -> EventRecord | None:
        row = self._db.one(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE id=%s ORDER BY seq LIMIT 1", (event_id,)
        )
        return event_from(row) if row else None

    def list_events(self, *, name: str | None = None, limit: int = 50) -> list[EventRecord]:
        if name is None:
            rows = self._db.all(
                f"SELECT {EVENT_COLUMNS} FROM events ORDER BY seq DESC LIMIT %s", (limit,)
            )
        else:
            rows = self._db.all(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE name=%s ORDER BY seq DESC LIMIT %s",
                (name, limit),
            )
        return [event_from(row) for row in rows]

    def events_since(self, name: str, since: float) -> list[EventRecord]:
        rows = self._db.all(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE name=%s AND received_at>=%s "
            "AND skipped IS NULL ORDER BY seq",
            (name, since),
        )
        return [event_from(row) for row in rows]

    # -- waits and logs -----------------------------------------------------------------

    def lock_event_names(self, names: Sequence[str], *, exclusive: bool) -> None:
        lock = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        for name in names:  # sorted by the caller: no two ingests lock in opposite orders
            self._db.exec(f"SELECT {lock}(%s, hashtext(%s))", (EVENT_NAME_LOCKS, name))
        if names:
            self._db.dirty = True  # the locks are held until this transaction ends
        if names and not exclusive:  # an ingest: which of its names anyone waits for, once
            waited = self._db.all(
                "SELECT DISTINCT event_name FROM waits WHERE event_name = ANY(%s)", (list(names),)
            )
            self._db.unwaited.update(set(names) - {str(row[0]) for row in waited})

    def add_wait(self, wait: WaitRecord) -> None:
        self._db.unwaited.discard(wait.event_name)
        self._db.write(
            "INSERT INTO waits (run_id, step_key, event_name, condition, expires_at, since, "
            "kind, match_field, match_value) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (run_id, step_key) DO UPDATE SET event_name=excluded.event_name, "
            "condition=excluded.condition, expires_at=excluded.expires_at, "
            "since=excluded.since, kind=excluded.kind, match_field=excluded.match_field, "
            "match_value=excluded.match_value",
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
        self._db.write("DELETE FROM waits WHERE run_id=%s AND step_key=%s", (run_id, step_key))

    def waits_for(
        self, event_name: str, matches: Mapping[str, str] | None = None
    ) -> list[WaitRecord]:
        if event_name in self._db.unwaited:
            return []
        sql = (
            "SELECT run_id, step_key, event_name, condition, expires_at, since, kind, "
            "match_field, match_value FROM waits WHERE event_name=%s"
        )
        params: list[Any] = [event_name]
        if matches is not None:
            clauses = ["match_field IS NULL"]
            for field, value in matches.items():
                clauses.append("(match_field=%s AND match_value=%s)")
                params += [field, value]
            sql += f" AND ({' OR '.join(clauses)})"
        rows = self._db.all(sql + " ORDER BY since, run_id, step_key", params)
        return [WaitRecord(*row) for row in rows]

    def wait_match_fields(self, event_name: str) -> list[str]:
        if event_name in self._db.unwaited:
            return []
        rows = self._db.all(
            "SELECT DISTINCT match_field FROM waits WHERE event_name=%s "
            "AND match_field IS NOT NULL ORDER BY match_field",
            (event_name,),
        )
        return [str(row[0]) for row in rows]

    def remove_waits(self, run_id: str) -> None:
        # Queued: the runs that end together (a group commit) drop their waits in one go.
        self._db.defer(_DELETE_WAITS, run_id, (run_id,), run=run_id)

    def expired_deadlines(self, now: float) -> list[RunRecord]:
        rows = self._db.all(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE deadline_at IS NOT NULL "
            f"AND deadline_at <= %s AND status NOT IN {TERMINAL}",
            (now,),
        )
        return [run_from(row) for row in rows]

    def next_deadline_at(self) -> float | None:
        row = self._db.one(
            "SELECT min(deadline_at) FROM runs WHERE deadline_at IS NOT NULL "
            f"AND status NOT IN {TERMINAL}"
        )
        return float(row[0]) if row and row[0] is not None else None

    def add_logs(self, lines: list[LogRecord]) -> None:
        if lines:
            self._db.write_many(
                "INSERT INTO logs (run_id, ts, level, message, step_key) "
                "VALUES (%s, %s, %s, %s, %s)",
                [(x.run_id, x.ts, x.level, x.message, x.step_key) for x in lines],
            )

    def get_logs(self, run_id: str) -> list[LogRecord]:
        rows = self._db.all(
            "SELECT run_id, ts, level, message, step_key FROM logs WHERE run_id=%s ORDER BY seq",
            (run_id,),
        )
        return [LogRecord(*row) for row in rows]

    # -- transactions -------------------------------------------------------------------

    def commit(self) -> bool:
        return self._db.commit()

    async def _commit_async(self) -> bool:
        return await self._db.commit_async()

    def rollback(self) -> None:
        self._db.rollback()

    def probe_write(self) -> None:
        if not self._db.dirty:
            self._db.write("UPDATE durable_schema SET version=version")
        self._db.commit()

    def close(self) -> None:
        """Commit, leave (a registered server hands its runs back at once, rather than
        after ``dead_after``), and close the connections."""
        try:
            if self._server_id and not self._db.conn.closed:
                with contextlib.suppress(StoreError):
                    self._db.commit()
                    if self.reap_server(self._server_id, time.time()):
                        self._db.exec("SELECT pg_notify(%s, %s)", (CHANNEL, self._server_id))
                    self._db.commit()
        finally:
            try:
                self._db.close()
            finally:
                self.stop_listening()

    # -- retention and figures (the SQL is in postgres_retention) ---------------------------

    def delete_expired(self, before: float, limit: int, *, claims_before: float) -> int:
        return postgres_retention.delete_expired(self._db, before, limit, claims_before)

    def count_runs_by_status(self) -> dict[str, int]:
        return postgres_retention.count_runs_by_status(self._db)
