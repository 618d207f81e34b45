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

    def acquire_slots(self, run_id: str, slots: Sequence[tuple[str, int]]) -> bool:
        held = {
            str(row[0])
            for row in self._db.all("SELECT key FROM flow_holds WHERE run_id=%s", (run_id,))
        }
        wanted = sorted({key: limit for key, limit in slots if key not in held}.items())
        taken: list[str] = []
        for key, limit in wanted:  # sorted: two claimers never lock keys in opposite orders
            self._db.write(
                "INSERT INTO flow_slots (key, in_use) VALUES (%s, 0) ON CONFLICT (key) DO NOTHING",
                (key,),
            )
            won = self._db.one(
                "UPDATE flow_slots SET in_use=in_use+1 WHERE key=%s AND in_use<%s RETURNING 1",
                (key, limit),
            )
            if won is None:  # all or none: give back what this call took
                for done in taken:
                    self._db.write(
                        "UPDATE flow_slots SET in_use=in_use-1 WHERE key=%s AND in_use>0", (done,)
                    )
                    self._db.write(
                        "DELETE FROM flow_holds WHERE key=%s AND run_id=%s", (done, run_id)
                    )
                return False
            self._db.write("INSERT INTO flow_holds (key, run_id) VALUES (%s, %s)", (key, run_id))
            taken.append(key)
        return True

    def release_slots(self, run_id: str) -> None:
        rows = self._db.all("DELETE FROM flow_holds WHERE run_id=%s RETURNING key", (run_id,))
        self._db.dirty = True
        for (key,) in sorted(rows):
            self._db.write(
                "UPDATE flow_slots SET in_use=in_use-1 WHERE key=%s AND in_use>0", (key,)
            )
        if rows:
            self._db.announce = True  # a slot freed: a held-back run may start elsewhere

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
