"""Rows of multi-row writes that wait to be sent together (PostgreSQL).

A write whose result nobody reads at once (a step checkpointed, a run inserted or updated, a
lease released) is queued here instead of being sent: the rows queued for one statement go in
one execution (one array per column), before the next statement of the transaction or its
commit. Many passes' writes then cost a few statements, not a few per pass.

Order: statements are sent in a fixed order (``order``: inserts, then updates, then
releases); a row for a run that already has a row queued in a later statement sends the
queue first, so one run's writes are never reordered.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

Returned = Callable[[list[tuple[Any, ...]]], None]


@dataclass(slots=True)
class Batch:
    """One statement's queued rows, as the columns it takes."""

    sql: str
    columns: list[list[Any]]
    returned: Returned | None


class WriteQueue:
    """Queued rows, by statement, then by key."""

    def __init__(self, order: Sequence[str] = ()) -> None:
        self._rank = {sql: rank for rank, sql in enumerate(order)}
        self._rows: dict[str, dict[Hashable, Sequence[Any]]] = {}
        self._returned: dict[str, Returned] = {}
        self._latest: dict[str, int] = {}  #: per run: the rank of its latest queued row

    def __bool__(self) -> bool:
        return bool(self._rows)

    def _rank_of(self, sql: str) -> int:
        return self._rank.get(sql, len(self._rank))

    def must_send_first(self, sql: str, run: str | None) -> bool:
        """Whether ``run`` has a row queued for a statement sent after ``sql``."""
        return run is not None and self._latest.get(run, -1) > self._rank_of(sql)

    def add(
        self,
        sql: str,
        key: Hashable,
        row: Sequence[Any],
        returned: Returned | None = None,
        run: str | None = None,
    ) -> None:
        """Queue ``row`` (a later row under the same ``key`` replaces it)."""
        self._rows.setdefault(sql, {})[key] = row
        if returned is not None:
            self._returned[sql] = returned
        if run is not None:
            self._latest[run] = max(self._latest.get(run, -1), self._rank_of(sql))

    def take(self) -> list[Batch]:
        """Every queued statement, in sending order, its rows sorted by key (two servers
        writing the same rows lock them in one order); the queue is empty after."""
        rows, self._rows = self._rows, {}
        self._latest.clear()
        return [
            Batch(sql, _columns(by_key), self._returned.get(sql))
            for sql, by_key in sorted(rows.items(), key=lambda item: self._rank_of(item[0]))
        ]

    def clear(self) -> None:
        """Drop every queued row (the transaction is rolled back)."""
        self._rows.clear()
        self._latest.clear()


def _columns(by_key: dict[Hashable, Sequence[Any]]) -> list[list[Any]]:
    ordered = [by_key[key] for key in sorted(by_key)]  # type: ignore[type-var]
    return [list(column) for column in zip(*ordered, strict=True)]
