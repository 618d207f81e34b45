"""Claims are single atomic writes in the store: event-id dedup, idempotency keys, cron ticks.

Each runs on every backend (a new backend only adds a fixture); the races run over two real
connections to one SQLite file, where a look-up followed by an insert would let both win.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from durable._limits import EVENT_DEDUP_WINDOW_SECONDS
from durable._stores.base import EventRecord, Store
from durable._stores.sqlite import SQLiteStore

NOW = 1_000_000.0
DAY = 86_400.0


def test_an_event_id_is_claimed_once_within_its_window(store: Store) -> None:
    assert store.claim_event_id("e1", now=NOW, window=DAY)
    assert not store.claim_event_id("e1", now=NOW + 10, window=DAY)
    assert store.claim_event_id("e2", now=NOW + 10, window=DAY)
    assert store.claim_event_id("e1", now=NOW + DAY, window=DAY)  # the window has passed
    assert not store.claim_event_id("e1", now=NOW + DAY + 1, window=DAY)  # counted anew


def test_a_batch_of_event_ids_is_claimed_at_once_and_a_repeat_in_it_is_a_duplicate(
    store: Store,
) -> None:
    assert store.claim_event_id("old", now=NOW, window=DAY)
    assert store.claim_event_id("expired", now=NOW - DAY, window=DAY)
    batch = ["b", "old", "a", "b", "expired", "c", "a"]
    assert store.claim_event_ids(batch, now=NOW + 1, window=DAY) == [
        True,  # b
        False,  # old: claimed a second ago
        True,  # a
        False,  # b again, in the same batch
        True,  # expired: its window has passed
        True,  # c
        False,  # a again
    ]
    assert store.claim_event_ids(["c", "d"], now=NOW + 2, window=DAY) == [False, True]
    assert store.claim_event_ids(["e"], now=NOW + 2, window=DAY) == [True]
    assert store.claim_event_ids([], now=NOW + 2, window=DAY) == []


def test_an_idempotency_key_is_claimed_once_within_its_window(store: Store) -> None:
    assert store.claim_idempotency("f", "k", "run-1", now=NOW, window=DAY) is None
    assert store.claim_idempotency("f", "k", "run-2", now=NOW + 1, window=DAY) == "run-1"
    assert store.claim_idempotency("g", "k", "run-3", now=NOW + 1, window=DAY) is None
    assert store.claim_idempotency("f", "k", "run-4", now=NOW + DAY, window=DAY) is None
    assert store.claim_idempotency("f", "k", "run-5", now=NOW + DAY + 1, window=DAY) == "run-4"


def test_a_cron_tick_moves_on_by_compare_and_set(store: Store) -> None:
    store.set_cron("f", "0 * * * *", NOW)
    assert store.advance_cron("f", "0 * * * *", NOW, NOW + 3600)
    assert not store.advance_cron("f", "0 * * * *", NOW, NOW + 3600)  # fired already
    assert store.get_cron("f", "0 * * * *") == NOW + 3600
    assert not store.advance_cron("g", "0 * * * *", NOW, NOW + 3600)  # no such schedule


def two_connections(tmp_path: Path) -> tuple[SQLiteStore, SQLiteStore]:
    return SQLiteStore(tmp_path / "dev.db"), SQLiteStore(tmp_path / "dev.db")


def test_two_ingesters_of_one_event_id_have_one_winner(tmp_path: Path) -> None:
    first, second = two_connections(tmp_path)
    try:
        won = [first.claim_event_id("order-7", now=NOW, window=DAY)]
        first.commit()
        won.append(second.claim_event_id("order-7", now=NOW + 1, window=DAY))
        second.commit()
        assert won == [True, False]
    finally:
        first.close()
        second.close()


def test_two_claimers_of_one_idempotency_key_have_one_winner(tmp_path: Path) -> None:
    first, second = two_connections(tmp_path)
    try:
        assert first.claim_idempotency("f", "cart-1", "run-a", now=NOW, window=DAY) is None
        first.commit()
        assert second.claim_idempotency("f", "cart-1", "run-b", now=NOW, window=DAY) == "run-a"
        second.commit()
    finally:
        first.close()
        second.close()


def test_two_schedulers_fire_one_cron_tick_once(tmp_path: Path) -> None:
    first, second = two_connections(tmp_path)
    try:
        first.set_cron("f", "0 * * * *", NOW)
        first.commit()
        assert first.advance_cron("f", "0 * * * *", NOW, NOW + 3600)
        first.commit()
        assert not second.advance_cron("f", "0 * * * *", NOW, NOW + 3600)
        second.commit()
    finally:
        first.close()
        second.close()


def test_event_ids_stored_before_the_claims_table_stay_claimed(tmp_path: Path) -> None:
    db = tmp_path / "dev.db"
    store = SQLiteStore(db)
    store.insert_event(EventRecord(id="old", name="a", data={}, ts=0, received_at=NOW))
    store.close()
    conn = sqlite3.connect(db)  # as a database written by schema 4 would be
    conn.execute("DROP TABLE event_ids")
    conn.execute("ALTER TABLE runs DROP COLUMN rerun_at")  # added by schema 6
    for table in ("flow_holds", "flow_slots", "flow_gcra", "flow_debounces", "flow_batches"):
        conn.execute(f"DROP TABLE {table}")  # and what schema 7 added
    conn.execute("DROP TABLE flow_singletons")
    conn.execute("ALTER TABLE runs DROP COLUMN queued_reason")
    conn.execute("ALTER TABLE runs DROP COLUMN priority")
    conn.execute("PRAGMA user_version=4")
    conn.commit()
    conn.close()
    upgraded = SQLiteStore(db)
    try:
        assert not upgraded.claim_event_id("old", now=NOW + 5, window=EVENT_DEDUP_WINDOW_SECONDS)
        assert upgraded.claim_event_id("new", now=NOW + 5, window=EVENT_DEDUP_WINDOW_SECONDS)
    finally:
        upgraded.close()
