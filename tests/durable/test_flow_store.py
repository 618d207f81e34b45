"""Contract tests of the store's flow-control operations, on every backend (``store``)."""

from __future__ import annotations

from pathlib import Path

from durable._stores.base import Store
from durable._stores.sqlite import SQLiteStore


def test_slots_are_taken_all_or_none_and_never_over_a_limit(store: Store) -> None:
    assert store.acquire_slots("r1", [("a", 1), ("b", 2)])
    assert store.acquire_slots("r2", [("b", 2)])
    # r3 would fit in a but b is full: it takes neither
    assert not store.acquire_slots("r3", [("a", 2), ("b", 2)])
    assert (store.slots_in_use("a"), store.slots_in_use("b")) == (1, 2)
    store.release_slots("r2")
    assert store.acquire_slots("r3", [("a", 2), ("b", 2)])
    assert (store.slots_in_use("a"), store.slots_in_use("b")) == (2, 2)


def test_a_run_taking_keys_it_holds_again_takes_no_second_slot(store: Store) -> None:
    assert store.acquire_slots("r1", [("a", 1)])
    assert store.acquire_slots("r1", [("a", 1)])  # its server died mid-pass: it goes again
    assert store.slots_in_use("a") == 1
    store.release_slots("r1")
    store.release_slots("r1")
    assert store.slots_in_use("a") == 0


def test_gcra_admits_limit_plus_burst_then_one_per_interval(store: Store) -> None:
    # limit 2 per 6s, burst 1: three at once, then one every 3s
    interval, tolerance = 3.0, 6.0
    assert [store.gcra_take("k", 0.0, interval, tolerance) for _ in range(3)] == [0, 0, 0]
    assert store.gcra_take("k", 0.0, interval, tolerance) == 3.0
    assert store.gcra_take("k", 2.0, interval, tolerance) == 1.0
    assert store.gcra_take("k", 3.0, interval, tolerance) == 0.0
    assert store.gcra_take("other", 3.0, interval, tolerance) == 0.0


def test_gcra_reservations_space_starts_fifo_and_refuse_none(store: Store) -> None:
    # limit 2 per 6s, burst 1: three at once, then one every 3s, each reserved in turn
    waits = [store.gcra_reserve("k", 0.0, 3.0, 6.0) for _ in range(6)]
    assert waits == [0, 0, 0, 3, 6, 9]
    assert store.gcra_reserve("k", 20.0, 3.0, 6.0) == 0.0  # the queue drained meanwhile


def test_debounce_keeps_one_pending_run_and_caps_its_delay(store: Store) -> None:
    assert store.debounce_push("f", "k", "r1", now=0, period=10, timeout=25) == ("r1", 10)
    assert store.debounce_push("f", "k", "r2", now=8, period=10, timeout=25) == ("r1", 18)
    assert store.debounce_push("f", "k", "r3", now=20, period=10, timeout=25) == ("r1", 25)
    store.debounce_take("f", "k", "r1")
    assert store.debounce_push("f", "k", "r4", now=30, period=10, timeout=None) == ("r4", 40)


def test_batches_fill_up_to_max_size_then_a_new_one_opens(store: Store) -> None:
    assert store.batch_push("f", "k", "r1", max_size=3) == ("r1", 1)
    assert store.batch_push("f", "k", "r2", max_size=3) == ("r1", 2)
    assert store.batch_push("f", "k", "r3", max_size=3) == ("r1", 3)
    assert store.batch_push("f", "k", "r4", max_size=3) == ("r4", 1)
    store.batch_close("f", "k", "r1")  # not r1's any more: r4's stays open
    assert store.batch_push("f", "k", "r5", max_size=3) == ("r4", 2)
    store.batch_close("f", "k", "r4")
    assert store.batch_push("f", "k", "r6", max_size=3) == ("r6", 1)


def test_singleton_has_one_holder_per_key(store: Store) -> None:
    assert store.singleton_claim("f", "k", "r1") is None
    assert store.singleton_claim("f", "k", "r2") == "r1"
    assert store.singleton_claim("f", "other", "r2") is None
    store.singleton_release("f", "k", "r2")  # not its holder: nothing changes
    assert store.singleton_claim("f", "k", "r3") == "r1"
    store.singleton_release("f", "k", "r1")
    assert store.singleton_claim("f", "k", "r3") is None


def test_flow_state_survives_reopening_the_sqlite_file(tmp_path: Path) -> None:
    first = SQLiteStore(tmp_path / "d.db")
    assert first.acquire_slots("r1", [("a", 1)])
    assert first.gcra_take("t", 0.0, 60.0, 0.0) == 0.0
    first.debounce_push("f", "k", "r1", now=0, period=10, timeout=None)
    first.commit()
    first.close()
    second = SQLiteStore(tmp_path / "d.db")
    assert not second.acquire_slots("r2", [("a", 1)])
    assert second.gcra_take("t", 1.0, 60.0, 0.0) == 59.0
    assert second.debounce_push("f", "k", "r2", now=5, period=10, timeout=None) == ("r1", 15)
    second.close()
    third = SQLiteStore(tmp_path / "d.db")  # a holder from before the open is released
    third.release_slots("r1")
    assert third.acquire_slots("r2", [("a", 1)])
    third.close()


def test_a_release_rolled_back_is_released_again(tmp_path: Path) -> None:
    # The SQLite store skips the release of a run it knows holds nothing: a rollback that
    # restores a released hold must not leave that hold unreleasable.
    store = SQLiteStore(tmp_path / "d.db")
    assert store.acquire_slots("r1", [("a", 1)])
    store.commit()
    store.release_slots("r1")
    assert store.slots_in_use("a") == 0
    store.rollback()
    assert store.slots_in_use("a") == 1
    store.release_slots("r1")
    assert store.slots_in_use("a") == 0
    store.commit()
    assert store.acquire_slots("r2", [("a", 1)])
    store.close()
