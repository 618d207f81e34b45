"""The claims of :class:`~durable._stores.postgres.PostgresStore`: single atomic writes.

Event-id dedup, idempotency keys and cron ticks: each is one conditional write whose row lock
makes it atomic across servers (of two ingesters, one wins), in the store's open transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from .one_by_one import claim_event_ids_one_by_one
from .postgres_session import Session


class PostgresClaimOps:
    """Mixed into the PostgreSQL store: ``_db`` is its session."""

    _db: Session

    def claim_idempotency(
        self, function_id: str, key: str, run_id: str, *, now: float, window: float
    ) -> str | None:
        won = self._db.all(
            "INSERT INTO idempotency AS i (function_id, key, run_id, claimed_at) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (function_id, key) DO UPDATE SET "
            "run_id=excluded.run_id, claimed_at=excluded.claimed_at WHERE i.claimed_at <= %s "
            "RETURNING run_id",
            (function_id, key, run_id, now, now - window),
        )
        self._db.dirty = True
        if won:
            return None
        row = self._db.one(
            "SELECT run_id FROM idempotency WHERE function_id=%s AND key=%s", (function_id, key)
        )
        return str(row[0]) if row else None

    def claim_event_id(self, event_id: str, *, now: float, window: float) -> bool:
        won = self._db.all(
            "INSERT INTO event_ids AS e (id, claimed_at) VALUES (%s, %s) ON CONFLICT (id) "
            "DO UPDATE SET claimed_at=excluded.claimed_at WHERE e.claimed_at <= %s RETURNING 1",
            (event_id, now, now - window),
        )
        self._db.dirty = True
        return bool(won)

    def claim_event_ids(self, event_ids: Sequence[str], *, now: float, window: float) -> list[bool]:
        if len(event_ids) <= 1:
            return claim_event_ids_one_by_one(self.claim_event_id, event_ids, now, window)
        # In id order (two ingesters of overlapping batches never wait on each other in a
        # cycle); each id once: ON CONFLICT may not touch one row twice in a statement.
        won = {
            str(row[0])
            for row in self._db.all(
                "INSERT INTO event_ids AS e (id, claimed_at) SELECT id, %s FROM "
                "unnest(%b::text[]) AS u(id) ORDER BY id ON CONFLICT (id) DO UPDATE SET "
                "claimed_at=excluded.claimed_at WHERE e.claimed_at <= %s RETURNING id",
                (now, sorted(set(event_ids)), now - window),
            )
        }
        self._db.dirty = True
        answers = []
        for each in event_ids:
            answers.append(each in won)
            won.discard(each)  # a repeat in the batch is a duplicate of the first
        return answers

    def advance_cron(self, function_id: str, cron: str, expected: float, next_at: float) -> bool:
        moved = self._db.write(
            "UPDATE crons SET next_at=%s WHERE function_id=%s AND cron=%s AND next_at=%s",
            (next_at, function_id, cron, expected),
        ).rowcount
        return bool(moved == 1)

    def get_cron(self, function_id: str, cron: str) -> float | None:
        row = self._db.one(
            "SELECT next_at FROM crons WHERE function_id=%s AND cron=%s", (function_id, cron)
        )
        return float(row[0]) if row else None

    def set_cron(self, function_id: str, cron: str, next_at: float) -> None:
        self._db.write(
            "INSERT INTO crons (function_id, cron, next_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (function_id, cron) DO UPDATE SET next_at=excluded.next_at",
            (function_id, cron, next_at),
        )
