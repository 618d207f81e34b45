"""Waits seen by an ingest that holds its event names' lock, on every backend.

An ingest locks its event names (shared) first; a store may then remember which of those names
nobody waits for, for the rest of the transaction (PostgreSQL does: two statements fewer per
event). What it remembers must never hide a wait: one registered before the lock, one this
transaction adds, or one in the next transaction.
"""

from __future__ import annotations

import math

from durable._stores.base import Store, WaitRecord

NOW = 1_000_000.0


def wait(
    run_id: str, event_name: str, *, field: str | None = None, value: str | None = None
) -> WaitRecord:
    return WaitRecord(
        run_id=run_id,
        step_key="w",
        event_name=event_name,
        condition=None,
        expires_at=math.inf,
        since=NOW,
        kind="wait",
        match_field=field,
        match_value=value,
    )


def test_a_locked_ingest_sees_waits_from_before_the_lock_and_its_own(store: Store) -> None:
    store.add_wait(wait("r1", "order/paid", field="data.id", value="7"))
    store.commit()

    store.lock_event_names(["order/paid", "order/shipped"], exclusive=False)
    assert store.wait_match_fields("order/paid") == ["data.id"]
    assert [w.run_id for w in store.waits_for("order/paid", {"data.id": "7"})] == ["r1"]
    assert store.waits_for("order/shipped") == [] and store.wait_match_fields("order/shipped") == []
    store.add_wait(wait("r2", "order/shipped"))  # e.g. a run started with cancel_on
    assert [w.run_id for w in store.waits_for("order/shipped", {})] == ["r2"]
    store.commit()

    store.remove_wait("r2", "w")
    store.commit()
    store.lock_event_names(["order/shipped"], exclusive=False)
    assert store.waits_for("order/shipped") == []
    store.rollback()
    store.add_wait(wait("r3", "order/shipped"))  # a new transaction: nothing remembered
    assert [w.run_id for w in store.waits_for("order/shipped")] == ["r3"]
    store.commit()
