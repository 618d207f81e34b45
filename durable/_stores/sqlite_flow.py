"""The flow-control operations of :class:`~durable._stores.sqlite.SQLiteStore` (SPEC 7).

Each is a conditional single-statement write on a row keyed by (function, key) or by a slot
key, inside the store's open transaction: concurrency slots (a counter per key, and the keys
each run holds), GCRA arrival times (throttle, rate_limit), the pending debounce, the open
batch and the singleton holder.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .sqlite_connection import _Connection


class SQLiteFlowOps:
    """Mixed into the SQLite store: ``_db`` is its connection."""

    _db: _Connection
    #: every run that may hold a concurrency slot (a superset of the ``flow_holds`` runs), so
    #: that the end of each pass of a run holding none (most runs) costs no ``DELETE``. One
    #: server writes a SQLite file; None: not known (at open, after a rollback), read again.
    _holders: set[str] | None = None

    def _holding(self) -> set[str]:
        if self._holders is None:
            rows = self._db.fetchall("SELECT DISTINCT run_id FROM flow_holds")
            self._holders = {str(row[0]) for row in rows}
        return self._holders

    def acquire_slots(self, run_id: str, slots: Sequence[tuple[str, int]]) -> bool:
        holders = self._holding()
        held = (
            {
                str(row[0])
                for row in self._db.fetchall("SELECT key FROM flow_holds WHERE run_id=?", (run_id,))
            }
            if run_id in holders
            else set()
        )
        holders.add(run_id)  # before the first INSERT: the set stays a superset
        taken: list[str] = []
        for key, limit in slots:
            if key in held or key in taken:
                continue
            self._db.execute(
                "INSERT INTO flow_slots (key, in_use) VALUES (?, 0) ON CONFLICT (key) DO NOTHING",
                (key,),
            )
            won = self._db.execute(
                "UPDATE flow_slots SET in_use=in_use+1 WHERE key=? AND in_use<?", (key, limit)
            ).rowcount
            if won != 1:  # all or none: give back what this call took
                for done in taken:
                    self._db.execute(
                        "UPDATE flow_slots SET in_use=in_use-1 WHERE key=? AND in_use>0", (done,)
                    )
                    self._db.execute(
                        "DELETE FROM flow_holds WHERE key=? AND run_id=?", (done, run_id)
                    )
                return False
            self._db.execute("INSERT INTO flow_holds (key, run_id) VALUES (?, ?)", (key, run_id))
            taken.append(key)
        return True

    def release_slots(self, run_id: str) -> None:
        holders = self._holding()
        if run_id not in holders:
            return
        rows = self._db.fetchall("DELETE FROM flow_holds WHERE run_id=? RETURNING key", (run_id,))
        holders.discard(run_id)  # a rollback restoring the rows forgets the set (rollback())
        for (key,) in rows:
            self._db.execute(
                "UPDATE flow_slots SET in_use=in_use-1 WHERE key=? AND in_use>0", (key,)
            )

    def slots_in_use(self, key: str) -> int:
        row = self._db.fetchone("SELECT in_use FROM flow_slots WHERE key=?", (key,))
        return int(row[0]) if row else 0

    def gcra_take(self, key: str, now: float, interval: float, tolerance: float) -> float:
        won = self._db.fetchall(
            "INSERT INTO flow_gcra (key, tat) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
            "SET tat=MAX(flow_gcra.tat, ?) + ? WHERE MAX(flow_gcra.tat, ?) - ? <= ? RETURNING 1",
            (key, now + interval, now, interval, now, now, tolerance),
        )
        if won:
            return 0.0
        row = self._db.fetchone("SELECT tat FROM flow_gcra WHERE key=?", (key,))
        return max(0.0, float(row[0]) - now - tolerance)

    def gcra_reserve(self, key: str, now: float, interval: float, tolerance: float) -> float:
        row = self._db.fetchone(
            "INSERT INTO flow_gcra (key, tat) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
            "SET tat=MAX(flow_gcra.tat, ?) + ? RETURNING tat",
            (key, now + interval, now, interval),
        )
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
        row = self._db.fetchone(
            "INSERT INTO flow_debounces (function_id, key, run_id, first_at, due_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (function_id, key) DO UPDATE "
            "SET due_at=MIN(?, flow_debounces.first_at + ?) RETURNING run_id, due_at",
            (function_id, key, run_id, now, now + min(period, cap), now + period, cap),
        )
        return str(row[0]), float(row[1])

    def debounce_take(self, function_id: str, key: str, run_id: str) -> None:
        self._db.execute(
            "DELETE FROM flow_debounces WHERE function_id=? AND key=? AND run_id=?",
            (function_id, key, run_id),
        )

    def batch_push(
        self, function_id: str, key: str, run_id: str, *, max_size: int
    ) -> tuple[str, int]:
        row = self._db.fetchone(
            "INSERT INTO flow_batches (function_id, key, run_id, size) VALUES (?, ?, ?, 1) "
            "ON CONFLICT (function_id, key) DO UPDATE SET size=flow_batches.size+1 "
            "RETURNING run_id, size",
            (function_id, key, run_id),
        )
        holder, size = str(row[0]), int(row[1])
        if size >= max_size:
            self.batch_close(function_id, key, holder)
        return holder, size

    def batch_close(self, function_id: str, key: str, run_id: str) -> None:
        self._db.execute(
            "DELETE FROM flow_batches WHERE function_id=? AND key=? AND run_id=?",
            (function_id, key, run_id),
        )

    def singleton_claim(self, function_id: str, key: str, run_id: str) -> str | None:
        row = self._db.fetchone(
            "INSERT INTO flow_singletons (function_id, key, run_id) VALUES (?, ?, ?) "
            "ON CONFLICT (function_id, key) DO UPDATE SET run_id=flow_singletons.run_id "
            "RETURNING run_id",
            (function_id, key, run_id),
        )
        holder = str(row[0])
        return None if holder == run_id else holder

    def singleton_release(self, function_id: str, key: str, run_id: str) -> None:
        self._db.execute(
            "DELETE FROM flow_singletons WHERE function_id=? AND key=? AND run_id=?",
            (function_id, key, run_id),
        )

    def set_run_events(self, run_id: str, event: dict[str, Any], events: list[Any]) -> None:
        self._db.execute(
            "UPDATE runs SET event=?, events=? WHERE run_id=?",
            (_dump(event), _dump(events), run_id),
        )


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
