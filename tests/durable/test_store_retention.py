"""Retention in the store: ended runs (with steps, logs, waits), events and claims older than
the cut-off are deleted in batches; what is newer, or still running, stays. Every backend runs
these (the ``store`` fixture); SQLite also shows the listings read their pages from indexes."""

from __future__ import annotations

from pathlib import Path

from durable._stores.base import (
    EventRecord,
    LogRecord,
    RunRecord,
    RunStatus,
    StepRecord,
    StepStatus,
    Store,
    WaitRecord,
)
from durable._stores.sqlite import SQLiteStore

NOW = 1_000_000.0
DAY = 86_400.0


def add_run(store: Store, run_id: str, status: RunStatus, ended_at: float | None) -> None:
    store.insert_run(
        RunRecord(run_id, "f", status, {"name": "e"}, created_at=NOW - 10 * DAY, ended_at=ended_at)
    )
    store.upsert_step(StepRecord(run_id, "s", "s", "run", StepStatus.COMPLETED, 0))
    store.add_logs([LogRecord(run_id, NOW - 10 * DAY, "info", "hello")])
    store.add_wait(WaitRecord(run_id, "w", "e", None, NOW + DAY, NOW - 10 * DAY))


def add_event(store: Store, event_id: str, received_at: float) -> None:
    store.insert_event(EventRecord(event_id, "e", {}, 0, received_at))


def test_ended_runs_and_events_older_than_the_cut_off_are_deleted(store: Store) -> None:
    add_run(store, "old-done", RunStatus.COMPLETED, NOW - 8 * DAY)
    add_run(store, "old-failed", RunStatus.FAILED, NOW - 8 * DAY)
    add_run(store, "new-done", RunStatus.COMPLETED, NOW - DAY)
    add_run(store, "still-running", RunStatus.RUNNING, None)
    add_event(store, "old-event", NOW - 8 * DAY)
    add_event(store, "new-event", NOW - DAY)
    store.commit()

    cut = NOW - 7 * DAY
    while store.delete_expired(cut, 500, claims_before=NOW - DAY):
        pass

    assert store.get_run("old-done") is None and store.get_run("old-failed") is None
    assert store.get_steps("old-done") == [] and store.get_logs("old-done") == []
    assert {w.run_id for w in store.waits_for("e", None)} == {"new-done", "still-running"}
    assert {r.run_id for r in store.list_runs()} == {"new-done", "still-running"}
    assert len(store.get_steps("new-done")) == 1 and len(store.get_logs("still-running")) == 1
    assert store.get_event("old-event") is None
    assert store.get_event("new-event") is not None


def test_deletion_goes_in_batches_of_the_limit(store: Store) -> None:
    for n in range(7):
        add_run(store, f"r{n}", RunStatus.COMPLETED, NOW - 8 * DAY)
    store.commit()
    batches = []
    while deleted := store.delete_expired(NOW, 3, claims_before=0.0):
        batches.append(deleted)
        assert len(store.list_runs(limit=100)) == 7 - 3 * len(batches) or len(batches) == 3
    assert len(batches) == 3  # 3 + 3 + 1 runs
    assert store.list_runs() == []


def test_claims_are_kept_for_their_window_whatever_the_cut_off(store: Store) -> None:
    assert store.claim_event_id("old", now=NOW - 2 * DAY, window=DAY)
    assert store.claim_event_id("recent", now=NOW - 100, window=DAY)
    assert store.claim_idempotency("f", "recent-key", "r1", now=NOW - 100, window=DAY) is None
    store.commit()
    # Retention of one hour: the claims of the last 24 h stay (claims_before = now - 24 h).
    while store.delete_expired(NOW - 3600, 500, claims_before=NOW - DAY):
        pass
    assert not store.claim_event_id("recent", now=NOW, window=DAY)
    assert store.claim_idempotency("f", "recent-key", "r2", now=NOW, window=DAY) == "r1"
    assert store.claim_event_id("old", now=NOW, window=3 * DAY)  # its claim was deleted


def test_runs_are_counted_by_status(store: Store) -> None:
    add_run(store, "a", RunStatus.COMPLETED, NOW)
    add_run(store, "b", RunStatus.COMPLETED, NOW)
    add_run(store, "c", RunStatus.QUEUED, None)
    assert store.count_runs_by_status() == {"completed": 2, "queued": 1}


def plan(store: SQLiteStore, sql: str, params: tuple[object, ...]) -> str:
    rows = store._db.fetchall(f"EXPLAIN QUERY PLAN {sql}", params)
    return " | ".join(str(row[-1]) for row in rows)


def test_sqlite_listings_by_status_and_name_read_an_index_in_order(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "d.db")
    try:
        runs = plan(
            store,
            "SELECT * FROM runs WHERE status=? ORDER BY created_at DESC, run_id DESC LIMIT ?",
            ("failed", 50),
        )
        events = plan(
            store, "SELECT * FROM events WHERE name=? ORDER BY seq DESC LIMIT ?", ("e", 50)
        )
        assert "INDEX runs_status" in runs and "TEMP B-TREE" not in runs
        assert "INDEX events_name_seq" in events and "TEMP B-TREE" not in events
    finally:
        store.close()
