"""Retention (``--retention``) on the virtual clock over a real SQLite file: what ended more
than the window ago goes, in batches that let other work in between; the rest stays."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from durable._orchestration.clock import VirtualClock
from durable._stores.base import EventRecord, RunRecord, RunStatus
from durable._stores.sqlite import SQLiteStore
from durable.devserver.retention import Retention

DAY = 86_400.0
START = 1_700_000_000.0


def ended_run(store: SQLiteStore, run_id: str, ended_at: float) -> None:
    store.insert_run(
        RunRecord(run_id, "f", RunStatus.COMPLETED, {"name": "e"}, ended_at - 1, ended_at=ended_at)
    )


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    return SQLiteStore(tmp_path / "durable.db")


async def test_runs_and_events_go_once_they_are_older_than_the_window(store: SQLiteStore) -> None:
    clock = VirtualClock(START)
    ended_run(store, "done", START)
    store.insert_event(EventRecord("ev", "e", {}, 0, START))
    store.commit()
    retention = Retention(store, clock, 7 * DAY)
    assert await retention.round() == 0
    clock.advance(6 * DAY)
    assert await retention.round() == 0 and store.get_run("done") is not None
    clock.advance(2 * DAY)
    assert await retention.round() > 0
    assert store.get_run("done") is None and store.get_event("ev") is None
    store.close()


async def test_batches_yield_to_the_event_loop(store: SQLiteStore) -> None:
    clock = VirtualClock(START + 30 * DAY)
    for n in range(5):
        ended_run(store, f"r{n}", START)
    store.commit()
    order: list[str] = []

    async def other_work() -> None:
        for _ in range(3):
            order.append("other")
            await asyncio.sleep(0)

    retention = Retention(store, clock, DAY, batch=2)
    original = store.delete_expired

    def counted(*args: object, **kwargs: object) -> int:
        order.append("batch")
        return original(*args, **kwargs)  # type: ignore[arg-type]

    store.delete_expired = counted  # type: ignore[method-assign]
    await asyncio.gather(retention.round(), other_work())
    assert order.count("batch") == 4  # 2 + 2 + 1 runs, then an empty batch
    first, last = order.index("batch"), len(order) - 1 - order[::-1].index("batch")
    assert "other" in order[first:last]  # other work ran between the batches
    assert store.list_runs() == []
    store.close()


async def test_the_task_runs_a_round_every_interval_on_the_servers_clock(
    store: SQLiteStore,
) -> None:
    clock = VirtualClock(START)
    ended_run(store, "old", START)
    store.commit()
    retention = Retention(store, clock, DAY, every=3600)
    task = asyncio.ensure_future(retention.run_forever())
    for _ in range(200):  # each round sleeps an hour of virtual time
        await asyncio.sleep(0)
        if store.get_run("old") is None:
            break
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert store.get_run("old") is None
    assert clock.now() >= START + DAY
    assert retention.deleted >= 1
    store.close()


def test_zero_or_negative_retention_is_refused() -> None:
    with pytest.raises(ValueError, match="retention must be > 0"):
        Retention(None, VirtualClock(START), 0)  # type: ignore[arg-type]
