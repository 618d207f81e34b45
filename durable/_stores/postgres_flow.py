"""The flow-control operations of :class:`~durable._stores.postgres.PostgresStore` (SPEC 7).

The same rows and conditional single-statement writes as SQLite's (``sqlite_flow.py``), in
the store's open transaction; on a database many servers share, the row locks these writes
take make each one atomic across servers: a slot counter never passes its limit, a GCRA
arrival time moves on once per admission, one run holds a debounce, a batch or a singleton.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .postgres_rows import json_value
from .postgres_session import Session


class PostgresFlowOps:
    """Mixed into the PostgreSQL store: ``_db`` is its session."""

    _db: Session

    # Slots live outside the open transaction: each acquire and release is its own short
    # transaction on the side connection, taking the keys' rows in sorted order. In the
    # shared transaction (group commit, many runs' writes) two servers took the same keys
    # in different orders and deadlocked. A slot taken for a claim that is then rolled back
    # stays the run's: its next claim finds it held (taken once, never twice); whoever ends
    # the run releases it.

    def acquire_slots(self, run_id: str, slots: Sequence[tuple[str, int]]) -> bool:
        limits = dict(slots)

        def acquire(conn: Any) -> bool:
            held = {
                str(row[0])
                for row in conn.execute(
                    "SELECT key FROM flow_holds WHERE run_id=%s", (run_id,)
                ).fetchall()
            }
            for key in sorted(set(limits) - held):
                conn.execute(
                    "INSERT INTO flow_slots (key, in_use) VALUES (%s, 0) "
                    "ON CONFLICT (key) DO NOTHING",
                    (key,),
                )
                won = conn.execute(
                    "UPDATE flow_slots SET in_use=in_use+1 WHERE key=%s AND in_use<%s RETURNING 1",
                    (key, limits[key]),
                ).fetchone()
                if won is None:  # all or none
                    conn.rollback()
                    return False
                conn.execute("INSERT INTO flow_holds (key, run_id) VALUES (%s, %s)", (key, run_id))
            return True

        return bool(self._db.side(acquire))

    def release_slots(self, run_id: str) -> None:
        def release(conn: Any) -> bool:
            rows = conn.execute(
                "DELETE FROM flow_holds WHERE run_id=%s RETURNING key", (run_id,)
            ).fetchall()
            for (key,) in sorted(rows):
                conn.execute(
                    "UPDATE flow_slots SET in_use=in_use-1 WHERE key=%s AND in_use>0", (key,)
                )
            return bool(rows)

        if self._db.side(release):
            self._db.announcer.announce()  # a slot freed: a held-back run may start elsewhere

    def slots_in_use(self, key: str) -> int:
        row = self._db.one("SELECT in_use FROM flow_slots WHERE key=%s", (key,))
        return int(row[0]) if row else 0

    def gcra_take(self, key: str, now: float, interval: float, tolerance: float) -> float:
        won = self._db.one(
            "INSERT INTO flow_gcra (key, tat) VALUES (%(key)s, %(first)s) "
            "ON CONFLICT (key) DO UPDATE SET tat=GREATEST(flow_gcra.tat, %(now)s) + %(interval)s "
            "WHERE GREATEST(flow_gcra.tat, %(now)s) - %(now)s <= %(tolerance)s RETURNING 1",
            {
                "key": key,
                "first": now + interval,
                "now": now,
                "interval": interval,
                "tolerance": tolerance,
            },
        )
        self._db.dirty = True
        if won is not None:
            return 0.0
        row = self._db.one("SELECT tat FROM flow_gcra WHERE key=%s", (key,))
        return max(0.0, float(row[0]) - now - tolerance) if row else 0.0

    def gcra_reserve(self, key: str, now: float, interval: float, tolerance: float) -> float:
        row = self._db.one(
            "INSERT INTO flow_gcra (key, tat) VALUES (%(key)s, %(first)s) "
            "ON CONFLICT (key) DO UPDATE SET tat=GREATEST(flow_gcra.tat, %(now)s) + %(interval)s "
            "RETURNING tat",
            {"key": key, "first": now + interval, "now": now, "interval": interval},
        )
        self._db.dirty = True
        assert row is not None
        return max(0.0, float(row[0]) - interval - tolerance - now)

    def debounce_push(
        self,
        function_id: str,
        key: str,
        run_id: str,
        *,
        now: float,
        period: float,
        timeout: float | None,
    ) -> tuple[str, float]:
        cap = 1e300 if timeout is None else timeout
        row = self._db.one(
            "INSERT INTO flow_debounces (function_id, key, run_id, first_at, due_at) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (function_id, key) DO UPDATE "
            "SET due_at=LEAST(%s, flow_debounces.first_at + %s) RETURNING run_id, due_at",
            (function_id, key, run_id, now, now + min(period, cap), now + period, cap),
        )
        self._db.dirty = True
        assert row is not None
        return str(row[0]), float(row[1])

    def debounce_take(self, function_id: str, key: str, run_id: str) -> None:
        self._db.write(
            "DELETE FROM flow_debounces WHERE function_id=%s AND key=%s AND run_id=%s",
            (function_id, key, run_id),
        )

    def batch_push(
        self, function_id: str, key: str, run_id: str, *, max_size: int
    ) -> tuple[str, int]:
        row = self._db.one(
            "INSERT INTO flow_batches (function_id, key, run_id, size) VALUES (%s, %s, %s, 1) "
            "ON CONFLICT (function_id, key) DO UPDATE SET size=flow_batches.size+1 "
            "RETURNING run_id, size",
            (function_id, key, run_id),
        )
        self._db.dirty = True
        assert row is not None
        holder, size = str(row[0]), int(row[1])
        if size >= max_size:
            self.batch_close(function_id, key, holder)
        return holder, size

    def batch_close(self, function_id: str, key: str, run_id: str) -> None:
        self._db.write(
            "DELETE FROM flow_batches WHERE function_id=%s AND key=%s AND run_id=%s",
            (function_id, key, run_id),
        )

    def singleton_claim(self, function_id: str, key: str, run_id: str) -> str | None:
        row = self._db.one(
            "INSERT INTO flow_singletons (function_id, key, run_id) VALUES (%s, %s, %s) "
            "ON CONFLICT (function_id, key) DO UPDATE SET run_id=flow_singletons.run_id "
            "RETURNING run_id",
            (function_id, key, run_id),
        )
        self._db.dirty = True
        assert row is not None
        holder = str(row[0])
        return None if holder == run_id else holder

    def singleton_release(self, function_id: str, key: str, run_id: str) -> None:
        self._db.write(
            "DELETE FROM flow_singletons WHERE function_id=%s AND key=%s AND run_id=%s",
            (function_id, key, run_id),
        )

    def set_run_events(self, run_id: str, event: dict[str, Any], events: list[Any]) -> None:
        self._db.write(
            "UPDATE runs SET event=%s, events=%s WHERE run_id=%s",
            (json_value(event), json_value(events), run_id),
        )
