"""The Store contract, run against both backends, plus SQLite-only durability checks."""

from __future__ import annotations

import math
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from durable._stores.base import (
    TERMINAL_STATUSES,
    EventRecord,
    LogRecord,
    RunRecord,
    RunStatus,
    SharedStore,
    StepRecord,
    StepStatus,
    Store,
    WaitRecord,
)
from durable._stores.sqlite import (
    MIGRATIONS,
    SCHEMA_VERSION,
    SchemaError,
    SQLiteStore,
)
from durable._stores.sqlite_rows import TERMINAL as _TERMINAL

TERMINAL = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)
LIVE = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.SLEEPING, RunStatus.WAITING)


def make_run(run_id: str, created_at: float = 1.0, **fields: Any) -> RunRecord:
    fields.setdefault("function_id", "fn")
    fields.setdefault("status", RunStatus.QUEUED)
    fields.setdefault("event", {"name": "demo/hello", "data": {}})
    return RunRecord(run_id=run_id, created_at=created_at, **fields)


def full_run() -> RunRecord:
    """A run with every field set to something other than its default."""
    return RunRecord(
        run_id="run-full",
        function_id="process-order",
        status=RunStatus.SLEEPING,
        event={
            "name": "order/created",
            "data": {"orderId": "o1", "amount": 12.5, "ok": True, "none": None, "tag": "été"},
            "id": "evt-1",
            "ts": 1_700_000_000_000,
            "user": {"id": "u1"},
        },
        created_at=1000.25,
        events=[{"name": "order/created", "data": {"n": 1}}, {"name": "order/created", "data": {}}],
        output='{"b": 1,  "a": [1, 2.5, "x"]}',
        error={"name": "ValueError", "message": "boom", "traceback": "Traceback...\n"},
        started_at=1001.5,
        ended_at=1002.75,
        attempt=3,
        ready_at=1500.0,
        trigger="invoke",
        parent_run_id="run-parent",
        parent_step_key="call:1",
        cancel_reason="cancel_on[0]",
        cancel_event_id="evt-9",
        idempotency_key="cart-9",
        concurrency_keys=["fn:u1", "fn:"],
        deadline_at=2000.0,
        deadline_reason="timeouts.finish",
    )


def make_event(event_id: str, name: str = "order/created", **fields: Any) -> EventRecord:
    fields.setdefault("data", {"orderId": event_id})
    fields.setdefault("ts", 1_700_000_000_000)
    fields.setdefault("received_at", 10.0)
    return EventRecord(id=event_id, name=name, **fields)


def make_wait(
    run_id: str, step_key: str, event_name: str, since: float, **fields: Any
) -> WaitRecord:
    fields.setdefault("condition", None)
    fields.setdefault("expires_at", since + 60.0)
    return WaitRecord(
        run_id=run_id, step_key=step_key, event_name=event_name, since=since, **fields
    )


def make_step(run_id: str, key: str, position: int, **fields: Any) -> StepRecord:
    fields.setdefault("id", key.split(":")[0])
    fields.setdefault("kind", "run")
    fields.setdefault("status", StepStatus.COMPLETED)
    return StepRecord(run_id=run_id, key=key, position=position, **fields)


# --------------------------------------------------------------------------- runs


def test_insert_and_get_round_trip_every_field(store: Store) -> None:
    run = full_run()
    store.insert_run(run)
    store.commit()
    got = store.get_run("run-full")
    assert got == run
    assert got is not None
    assert isinstance(got.status, RunStatus)
    assert got.output == '{"b": 1,  "a": [1, 2.5, "x"]}'  # the JSON text as given, not re-encoded


def test_defaults_round_trip(store: Store) -> None:
    run = make_run("r1")
    store.insert_run(run)
    got = store.get_run("r1")
    assert got == run
    assert got is not None
    assert got.events == [] and got.concurrency_keys == []
    assert got.output is None and got.error is None and got.ready_at is None


def test_get_unknown_run_is_none(store: Store) -> None:
    store.insert_run(make_run("r1"))
    assert store.get_run("r2") is None


def test_records_are_copied_in_and_out(store: Store) -> None:
    run = make_run("r1", event={"name": "a/b", "data": {"n": 1}})
    store.insert_run(run)
    run.event["data"]["n"] = 2
    run.status = RunStatus.FAILED
    got = store.get_run("r1")
    assert got is not None
    got.event["data"]["n"] = 3
    again = store.get_run("r1")
    assert again is not None
    assert again.event == {"name": "a/b", "data": {"n": 1}}
    assert again.status == RunStatus.QUEUED


def test_update_run_round_trips_mutable_fields(store: Store) -> None:
    store.insert_run(make_run("r1", created_at=5.0))
    store.insert_run(make_run("r2", created_at=6.0))
    run = store.get_run("r1")
    assert run is not None
    run.status = RunStatus.FAILED
    run.started_at = 7.0
    run.ended_at = 8.5
    run.ready_at = 9.0
    run.attempt = 2
    run.cancel_reason = "explicit"
    run.cancel_event_id = "evt-2"
    run.idempotency_key = "k1"
    run.concurrency_keys = ["a", "b"]
    run.output = '{"x":[1,2]}'
    run.error = {"name": "StepError", "message": "nope", "step_id": "s"}
    run.deadline_at = 99.0
    run.deadline_reason = "timeouts.start"
    store.update_run(run)
    store.commit()
    assert store.get_run("r1") == run
    assert store.get_run("r2") == make_run("r2", created_at=6.0)  # untouched

    run.status = RunStatus.RUNNING
    run.ready_at = None
    run.error = None
    run.output = None
    run.deadline_at = None
    store.update_run(run)
    assert store.get_run("r1") == run


# --------------------------------------------------------------------------- list_runs


def insert_runs(store: Store, specs: list[tuple[str, float, RunStatus, str]]) -> None:
    for run_id, created_at, status, function_id in specs:
        store.insert_run(make_run(run_id, created_at, status=status, function_id=function_id))


def test_list_runs_newest_first(store: Store) -> None:
    insert_runs(
        store,
        [
            ("r-b", 2.0, RunStatus.QUEUED, "f"),
            ("r-d", 4.0, RunStatus.QUEUED, "f"),
            ("r-a", 1.0, RunStatus.QUEUED, "f"),
            ("r-c", 3.0, RunStatus.QUEUED, "f"),
        ],
    )
    assert [r.run_id for r in store.list_runs()] == ["r-d", "r-c", "r-b", "r-a"]
    assert [r.run_id for r in store.list_runs(limit=2)] == ["r-d", "r-c"]


def test_list_runs_breaks_created_at_ties_by_run_id(store: Store) -> None:
    insert_runs(store, [(rid, 5.0, RunStatus.QUEUED, "f") for rid in ("m", "z", "a")])
    assert [r.run_id for r in store.list_runs()] == ["z", "m", "a"]


def test_list_runs_filters(store: Store) -> None:
    insert_runs(
        store,
        [
            ("r1", 1.0, RunStatus.COMPLETED, "f"),
            ("r2", 2.0, RunStatus.FAILED, "f"),
            ("r3", 3.0, RunStatus.COMPLETED, "g"),
            ("r4", 4.0, RunStatus.COMPLETED, "f"),
            ("r5", 5.0, RunStatus.QUEUED, "g"),
        ],
    )
    assert [r.run_id for r in store.list_runs(status="completed")] == ["r4", "r3", "r1"]
    assert [r.run_id for r in store.list_runs(function_id="g")] == ["r5", "r3"]
    assert [r.run_id for r in store.list_runs(status="completed", function_id="f")] == [
        "r4",
        "r1",
    ]
    assert store.list_runs(status="cancelled") == []
    assert store.list_runs(function_id="nope") == []
    assert [r.run_id for r in store.list_runs(status="completed", limit=1)] == ["r4"]


def page_through(store: Store, page_size: int, **filters: Any) -> list[list[str]]:
    pages: list[list[str]] = []
    before: str | None = None
    for _ in range(100):
        page = store.list_runs(limit=page_size, before=before, **filters)
        if not page:
            return pages
        pages.append([r.run_id for r in page])
        before = page[-1].run_id
    raise AssertionError("paging did not end")


def test_list_runs_paging_has_no_duplicates_or_gaps(store: Store) -> None:
    # 23 runs, with ties on created_at that straddle page boundaries.
    specs = [(f"r{i:02d}", float(i // 3), RunStatus.QUEUED, "f") for i in range(23)]
    insert_runs(store, specs)
    everything = [r.run_id for r in store.list_runs(limit=1000)]
    assert len(everything) == 23
    pages = page_through(store, 5)
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert [rid for page in pages for rid in page] == everything


def test_list_runs_paging_with_a_filter(store: Store) -> None:
    specs = [
        (f"r{i:02d}", float(i % 4), RunStatus.FAILED if i % 2 else RunStatus.COMPLETED, "f")
        for i in range(20)
    ]
    insert_runs(store, specs)
    expected = [r.run_id for r in store.list_runs(status="failed", limit=1000)]
    assert len(expected) == 10
    pages = page_through(store, 3, status="failed")
    flat = [rid for page in pages for rid in page]
    assert flat == expected
    assert len(set(flat)) == len(flat)


def test_list_runs_with_unknown_cursor_is_empty(store: Store) -> None:
    """A cursor naming no run must not silently restart at the first page (both backends
    must agree; SQLite returns nothing)."""
    insert_runs(store, [("r1", 1.0, RunStatus.QUEUED, "f"), ("r2", 2.0, RunStatus.QUEUED, "f")])
    assert store.list_runs(before="no-such-run") == []


# --------------------------------------------------------------------------- ready / unfinished


def test_ready_runs_only_due_non_terminal_in_order(store: Store) -> None:
    store.insert_run(make_run("late", 1.0, ready_at=30.0))
    store.insert_run(make_run("early", 2.0, ready_at=10.0, status=RunStatus.SLEEPING))
    store.insert_run(make_run("exact", 3.0, ready_at=50.0, status=RunStatus.WAITING))
    store.insert_run(make_run("future", 4.0, ready_at=50.5))
    store.insert_run(make_run("unscheduled", 5.0, ready_at=None))
    for i, status in enumerate(TERMINAL):
        store.insert_run(make_run(f"done-{status}", 6.0 + i, ready_at=1.0, status=status))
    assert [r.run_id for r in store.ready_runs(50.0, 100)] == ["early", "late", "exact"]
    assert [r.run_id for r in store.ready_runs(50.0, 2)] == ["early", "late"]
    assert [r.run_id for r in store.ready_runs(9.99, 100)] == []


def test_ready_runs_ties_on_ready_at_go_oldest_first(store: Store) -> None:
    store.insert_run(make_run("newer", 20.0, ready_at=5.0))
    store.insert_run(make_run("older", 10.0, ready_at=5.0))
    assert [r.run_id for r in store.ready_runs(5.0, 10)] == ["older", "newer"]


def test_next_ready_at(store: Store) -> None:
    assert store.next_ready_at() is None
    store.insert_run(make_run("done", 1.0, ready_at=1.0, status=RunStatus.COMPLETED))
    store.insert_run(make_run("none", 1.0, ready_at=None))
    assert store.next_ready_at() is None
    store.insert_run(make_run("a", 1.0, ready_at=40.0))
    store.insert_run(make_run("b", 1.0, ready_at=25.5, status=RunStatus.SLEEPING))
    assert store.next_ready_at() == 25.5


def test_finishing_a_run_takes_it_out_of_the_ready_queue(store: Store) -> None:
    store.insert_run(make_run("r1", 1.0, ready_at=5.0))
    assert [r.run_id for r in store.ready_runs(10.0, 10)] == ["r1"]
    run = store.get_run("r1")
    assert run is not None
    run.status = RunStatus.COMPLETED
    store.update_run(run)
    assert store.ready_runs(10.0, 10) == []
    assert store.next_ready_at() is None
    assert store.resume_interrupted(20.0) == 0


def test_resume_interrupted_makes_queued_and_running_runs_that_are_not_due_due(
    store: Store,
) -> None:
    """After a restart (one server on the store): the runs cut short mid-pass go again."""
    for i, status in enumerate(LIVE + TERMINAL):
        store.insert_run(make_run(f"r-{status}", float(i), status=status))
    store.insert_run(make_run("due-later", 1.0, ready_at=50.0))
    if isinstance(store, SharedStore):  # many servers: reaping hands back a dead one's runs
        assert store.resume_interrupted(20.0) == 0
        return
    assert store.resume_interrupted(20.0) == 2  # the queued and the running one
    due = {r.run_id for r in store.ready_runs(20.0, 100)}
    assert due == {"r-queued", "r-running"}
    assert store.get_run("due-later").ready_at == 50.0  # type: ignore[union-attr]
    for status in LIVE + TERMINAL:
        run = store.get_run(f"r-{status}")
        assert run is not None and run.status == status
        assert (run.ready_at == 20.0) == (status in ("queued", "running"))
    assert store.resume_interrupted(30.0) == 0  # due already: nothing more


def test_deadlines(store: Store) -> None:
    assert store.next_deadline_at() is None
    store.insert_run(make_run("a", 1.0, deadline_at=10.0))
    store.insert_run(make_run("b", 2.0, deadline_at=20.0))
    store.insert_run(make_run("c", 3.0, deadline_at=5.0, status=RunStatus.CANCELLED))
    assert store.next_deadline_at() == 10.0
    assert {r.run_id for r in store.expired_deadlines(10.0)} == {"a"}
    assert {r.run_id for r in store.expired_deadlines(25.0)} == {"a", "b"}
    assert store.expired_deadlines(9.0) == []


# --------------------------------------------------------------------------- steps


def test_steps_round_trip_every_field(store: Store) -> None:
    step = StepRecord(
        run_id="r1",
        key="charge:1",
        id="charge",
        kind="run",
        status=StepStatus.ERRORED,
        position=4,
        output='{"ok": true}',
        error={"name": "RuntimeError", "message": "declined"},
        attempts=[
            {"started_at": 1.0, "ended_at": 2.0, "error": {"message": "declined"}},
            {"started_at": 3.0, "ended_at": None, "error": None},
        ],
        wake_at=99.5,
        detail={"event": "x/y", "if": None, "nested": {"n": [1, 2]}},
        started_at=1.0,
        ended_at=2.0,
    )
    store.upsert_step(step)
    store.commit()
    got = store.get_steps("r1")
    assert got == [step]
    assert isinstance(got[0].status, StepStatus)


def test_steps_are_ordered_by_position(store: Store) -> None:
    store.upsert_step(make_step("r1", "c", 2))
    store.upsert_step(make_step("r1", "a", 0))
    store.upsert_step(make_step("r1", "b:1", 1))
    store.upsert_step(make_step("r2", "other", 0))
    assert [s.key for s in store.get_steps("r1")] == ["a", "b:1", "c"]
    assert [s.key for s in store.get_steps("r2")] == ["other"]
    assert store.get_steps("r3") == []


def test_upsert_replaces_a_step_by_run_and_key(store: Store) -> None:
    store.upsert_step(make_step("r1", "a", 0, status=StepStatus.SLEEPING, wake_at=50.0))
    store.upsert_step(make_step("r1", "b", 1))
    store.upsert_step(make_step("r2", "a", 0, status=StepStatus.WAITING))
    store.upsert_step(make_step("r1", "a", 0, output="1", wake_at=None))
    steps = store.get_steps("r1")
    assert [s.key for s in steps] == ["a", "b"]
    assert steps[0].status == StepStatus.COMPLETED
    assert steps[0].output == "1"
    assert steps[0].wake_at is None
    assert store.get_steps("r2")[0].status == StepStatus.WAITING


# --------------------------------------------------------------------------- events


def test_event_round_trip(store: Store) -> None:
    with_user = make_event(
        "e1", data={"a": [1, {"b": None}], "é": "ü"}, user={"id": "u1"}, ts=123, received_at=7.5
    )
    bare = make_event("e2", name="other/thing", data={})
    store.insert_event(with_user)
    store.insert_event(bare)
    store.commit()
    assert store.get_event("e1") == with_user
    assert store.get_event("e2") == bare
    got = store.get_event("e2")
    assert got is not None
    assert got.user is None and got.run_ids == [] and got.skipped is None
    assert store.get_event("e3") is None


def test_an_event_is_stored_with_the_runs_it_started(store: Store) -> None:
    store.insert_event(make_event("e1", run_ids=["r1", "r2"]))
    got = store.get_event("e1")
    assert got is not None
    assert got.run_ids == ["r1", "r2"]
    assert got.skipped is None


def test_duplicate_event_ids_keep_the_first_and_store_the_later_as_skipped(
    store: Store,
) -> None:
    store.insert_event(make_event("e1", data={"n": 1}, received_at=1.0))
    store.insert_event(
        make_event("e1", data={"n": 2}, received_at=2.0, skipped="duplicate event id")
    )
    first = store.get_event("e1")
    assert first is not None and first.data == {"n": 1}
    listed = store.list_events()
    assert [(e.data, e.skipped) for e in listed] == [
        ({"n": 2}, "duplicate event id"),
        ({"n": 1}, None),
    ]
    assert store.events_since("order/created", 0.0) == [first]


def test_list_events_newest_first_with_name_and_limit(store: Store) -> None:
    for i, name in enumerate(["a/x", "b/y", "a/x", "a/xx", "a/x"]):
        store.insert_event(make_event(f"e{i}", name=name, received_at=float(i)))
    assert [e.id for e in store.list_events()] == ["e4", "e3", "e2", "e1", "e0"]
    assert [e.id for e in store.list_events(limit=2)] == ["e4", "e3"]
    assert [e.id for e in store.list_events(name="a/x")] == ["e4", "e2", "e0"]
    assert [e.id for e in store.list_events(name="a/x", limit=1)] == ["e4"]
    assert store.list_events(name="a/*") == []


def test_events_since(store: Store) -> None:
    store.insert_event(make_event("old", received_at=9.0))
    store.insert_event(make_event("edge", received_at=10.0))
    store.insert_event(make_event("other", name="order/updated", received_at=11.0))
    store.insert_event(make_event("skipped", received_at=12.0, skipped="duplicate event id"))
    store.insert_event(make_event("new", received_at=13.0))
    assert [e.id for e in store.events_since("order/created", 10.0)] == ["edge", "new"]
    assert [e.id for e in store.events_since("order/created", 13.5)] == []
    assert [e.id for e in store.events_since("order/updated", 0.0)] == ["other"]
    assert store.events_since("order/*", 0.0) == []


# --------------------------------------------------------------------------- waits


def test_waits_for_exact_name_oldest_first(store: Store) -> None:
    store.add_wait(make_wait("r1", "w", "order/paid", since=30.0, condition="event.x == 1"))
    store.add_wait(make_wait("r2", "w", "order/paid", since=10.0, kind="cancel"))
    store.add_wait(make_wait("r3", "w", "order/paid.v2", since=5.0))
    store.add_wait(make_wait("r4", "w", "order/*", since=5.0))
    store.add_wait(make_wait("r5", "w", "order/pai", since=5.0))
    waits = store.waits_for("order/paid")
    assert [(w.run_id, w.kind) for w in waits] == [("r2", "cancel"), ("r1", "step")]
    assert waits[1] == make_wait("r1", "w", "order/paid", since=30.0, condition="event.x == 1")
    assert store.waits_for("order/nothing") == []


def test_sqlite_waits_written_before_the_open_or_restored_by_a_rollback_are_found(
    tmp_path: Path,
) -> None:
    # The SQLite store skips the query for an event name nobody waits for (and the delete
    # for a run that waits for nothing): what it knows must cover every wait in the file.
    first = SQLiteStore(tmp_path / "d.db")
    first.add_wait(make_wait("r1", "w", "order/paid", since=1.0))
    first.commit()
    first.close()
    store = SQLiteStore(tmp_path / "d.db")
    assert [w.run_id for w in store.waits_for("order/paid")] == ["r1"]
    store.remove_waits("r1")
    assert store.waits_for("order/paid") == []
    store.rollback()
    assert [w.run_id for w in store.waits_for("order/paid", {})] == ["r1"]
    assert store.wait_match_fields("order/paid") == []
    store.remove_waits("r1")
    store.commit()
    assert store.waits_for("order/paid") == []
    store.add_wait(make_wait("r2", "w", "order/new", since=2.0))
    store.rollback()
    store.add_wait(make_wait("r3", "w", "order/new", since=3.0))
    assert [w.run_id for w in store.waits_for("order/new")] == ["r3"]
    store.close()


def test_wait_with_no_expiry_round_trips(store: Store) -> None:
    wait = make_wait("r1", "cancel_on[0]", "order/cancelled", since=1.0, expires_at=math.inf)
    store.add_wait(wait)
    store.commit()
    assert store.waits_for("order/cancelled") == [wait]


def test_remove_wait_and_remove_waits(store: Store) -> None:
    store.add_wait(make_wait("r1", "a", "x/y", since=1.0))
    store.add_wait(make_wait("r1", "b", "x/y", since=2.0))
    store.add_wait(make_wait("r1", "c", "x/z", since=3.0))
    store.add_wait(make_wait("r2", "a", "x/y", since=4.0))
    store.remove_wait("r1", "a")
    assert [(w.run_id, w.step_key) for w in store.waits_for("x/y")] == [("r1", "b"), ("r2", "a")]
    store.remove_wait("r1", "missing")  # no error
    store.remove_waits("r1")
    assert [(w.run_id, w.step_key) for w in store.waits_for("x/y")] == [("r2", "a")]
    assert store.waits_for("x/z") == []


def test_add_wait_replaces_the_wait_of_the_same_step(store: Store) -> None:
    """A wait is identified by (run id, step key): registering it again replaces it, even
    under another event name, as remove_wait(run_id, step_key) assumes."""
    store.add_wait(make_wait("r1", "w", "x/old", since=1.0))
    store.add_wait(make_wait("r1", "w", "x/new", since=2.0))
    assert store.waits_for("x/old") == []
    assert [w.since for w in store.waits_for("x/new")] == [2.0]


# ------------------------------------------------------------------ logs, idempotency, crons


def test_logs_keep_order_per_run(store: Store) -> None:
    store.add_logs(
        [
            LogRecord("r1", 5.0, "INFO", "first", "s1"),
            LogRecord("r2", 1.0, "INFO", "other run"),
            LogRecord("r1", 1.0, "WARNING", "second (earlier ts)"),
        ]
    )
    store.add_logs([LogRecord("r1", 3.0, "ERROR", "third")])
    store.add_logs([])
    assert [line.message for line in store.get_logs("r1")] == [
        "first",
        "second (earlier ts)",
        "third",
    ]
    assert store.get_logs("r1")[0] == LogRecord("r1", 5.0, "INFO", "first", "s1")
    assert store.get_logs("r2") == [LogRecord("r2", 1.0, "INFO", "other run", None)]
    assert store.get_logs("r3") == []


def test_claim_idempotency(store: Store) -> None:
    assert store.claim_idempotency("f", "k", "r1", now=100.0, window=10.0) is None
    assert store.claim_idempotency("f", "k", "r2", now=109.0, window=10.0) == "r1"
    assert store.claim_idempotency("g", "k", "r3", now=109.0, window=10.0) is None
    assert store.claim_idempotency("f", "k2", "r4", now=109.0, window=10.0) is None
    # The window has passed: a new claim wins.
    assert store.claim_idempotency("f", "k", "r5", now=110.0, window=10.0) is None
    assert store.claim_idempotency("f", "k", "r6", now=111.0, window=10.0) == "r5"


def test_crons(store: Store) -> None:
    assert store.get_cron("f", "0 12 * * 5") is None
    store.set_cron("f", "0 12 * * 5", 100.0)
    store.set_cron("f", "@daily", 200.0)
    store.set_cron("f", "0 12 * * 5", 300.0)
    assert store.get_cron("f", "0 12 * * 5") == 300.0
    assert store.get_cron("f", "@daily") == 200.0
    assert store.get_cron("g", "@daily") is None


# --------------------------------------------------------------------------- SQLite only


def second_connection(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(str(path))


def test_sqlite_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    store = SQLiteStore(path)
    try:
        other = second_connection(path)
        try:
            assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        finally:
            other.close()
    finally:
        store.close()


def test_sqlite_committed_data_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    store = SQLiteStore(path)
    store.insert_run(full_run())
    store.upsert_step(make_step("run-full", "a", 0, output='"x"'))
    store.insert_event(make_event("e1"))
    store.add_wait(make_wait("run-full", "w", "x/y", since=1.0))
    store.add_logs([LogRecord("run-full", 1.0, "INFO", "hello")])
    store.set_cron("f", "@daily", 5.0)
    store.commit()
    store.close()

    reopened = SQLiteStore(path)
    try:
        assert reopened.get_run("run-full") == full_run()
        assert [s.output for s in reopened.get_steps("run-full")] == ['"x"']
        assert reopened.get_event("e1") == make_event("e1")
        assert [w.step_key for w in reopened.waits_for("x/y")] == ["w"]
        assert [line.message for line in reopened.get_logs("run-full")] == ["hello"]
        assert reopened.get_cron("f", "@daily") == 5.0
        assert reopened.schema_version == SCHEMA_VERSION
    finally:
        reopened.close()


def test_sqlite_close_commits(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    store = SQLiteStore(path)
    store.insert_run(make_run("r1"))
    store.close()
    reopened = SQLiteStore(path)
    try:
        assert reopened.get_run("r1") == make_run("r1")
    finally:
        reopened.close()


def test_sqlite_uncommitted_writes_are_invisible_to_other_connections(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    store = SQLiteStore(path)
    other = second_connection(path)
    try:
        store.insert_run(make_run("r1"))
        store.insert_event(make_event("e1"))
        assert store.get_run("r1") is not None  # visible to the writer itself
        assert other.execute("SELECT count(*) FROM runs").fetchone()[0] == 0
        assert other.execute("SELECT count(*) FROM events").fetchone()[0] == 0
        store.commit()
        assert other.execute("SELECT run_id FROM runs").fetchall() == [("r1",)]
        assert other.execute("SELECT id FROM events").fetchall() == [("e1",)]
    finally:
        other.close()
        store.close()


def test_sqlite_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "d.db"
    store = SQLiteStore(path)
    try:
        assert SCHEMA_VERSION >= 1
        assert store.schema_version == SCHEMA_VERSION
        other = second_connection(path)
        try:
            assert other.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        finally:
            other.close()
    finally:
        store.close()


def test_sqlite_terminal_condition_is_the_terminal_statuses_and_the_index_condition(
    tmp_path: Path,
) -> None:
    assert set(TERMINAL_STATUSES) == set(TERMINAL)
    assert {s.strip(" '") for s in _TERMINAL.strip("()").split(",")} == set(TERMINAL_STATUSES)
    store = SQLiteStore(tmp_path / "d.db")
    try:
        plan = store._db.execute(
            f"EXPLAIN QUERY PLAN SELECT * FROM runs WHERE status NOT IN {_TERMINAL}"
        ).fetchall()
        assert any("runs_unfinished" in str(row) for row in plan), plan
    finally:
        store.close()


def test_sqlite_migrates_a_version_1_database(tmp_path: Path) -> None:
    """A database of schema 1 (before ``cancel_event_id``) opens, keeps its runs, and stores
    the new field from then on."""
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(str(path))
    conn.executescript("BEGIN;" + MIGRATIONS[0] + "PRAGMA user_version=1;COMMIT;")
    conn.execute(
        "INSERT INTO runs (run_id, function_id, status, created_at, trigger, cancel_reason, "
        "event) VALUES ('old', 'fn', 'cancelled', 1.0, 'event', 'by hand', '{\"name\":\"a/b\"}')"
    )
    conn.commit()
    conn.close()
    store = SQLiteStore(path)
    try:
        assert store.schema_version == SCHEMA_VERSION >= 2
        old = store.get_run("old")
        assert old is not None
        assert (old.cancel_reason, old.cancel_event_id) == ("by hand", None)
        old.cancel_event_id = "evt-1"
        store.update_run(old)
        store.insert_run(make_run("new", cancel_event_id="evt-2"))
        store.commit()
    finally:
        store.close()
    reopened = SQLiteStore(path)
    try:
        assert [reopened.get_run(r).cancel_event_id for r in ("old", "new")] == ["evt-1", "evt-2"]
    finally:
        reopened.close()


def _version_1_database(path: Path, reasons: dict[str, str]) -> None:
    conn = sqlite3.connect(str(path))
    conn.executescript("BEGIN;" + MIGRATIONS[0] + "PRAGMA user_version=1;COMMIT;")
    for run_id, reason in reasons.items():
        conn.execute(
            "INSERT INTO runs (run_id, function_id, status, created_at, trigger, cancel_reason, "
            "event) VALUES (?, 'fn', 'cancelled', 1.0, 'event', ?, '{}')",
            (run_id, reason),
        )
    conn.commit()
    conn.close()


def test_migration_2_recovers_the_cancelling_event_of_runs_cancelled_before_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v1.db"
    _version_1_database(
        path,
        {
            "by-event": "cancel_on: event order/cancelled (01M8-evt)",
            "odd-name": "cancel_on: event a (b) (evt-2)",
            "by-hand": "cancelled by request",
        },
    )
    store = SQLiteStore(path)
    try:
        ids = {r: store.get_run(r).cancel_event_id for r in ("by-event", "odd-name", "by-hand")}
    finally:
        store.close()
    assert ids == {"by-event": "01M8-evt", "odd-name": "evt-2", "by-hand": None}


def test_processes_opening_one_old_database_at_once_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    _version_1_database(path, {"r": "cancel_on: event e (x1)"})
    script = (
        "import sys; from durable._stores.sqlite import SQLiteStore; "
        "SQLiteStore(sys.argv[1]).close()"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(path)], stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    errors = [p.communicate(timeout=60)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    store = SQLiteStore(path)
    try:
        assert store.schema_version == SCHEMA_VERSION
        assert store.get_run("r").cancel_event_id == "x1"
    finally:
        store.close()


def test_sqlite_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    newer = SCHEMA_VERSION + 1
    conn = sqlite3.connect(str(path))
    conn.execute(f"PRAGMA user_version={newer}")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaError) as info:
        SQLiteStore(path)
    message = str(info.value)
    assert str(path) in message
    assert str(newer) in message
    assert str(SCHEMA_VERSION) in message
    # Nothing was migrated or rewritten.
    conn = sqlite3.connect(str(path))
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == newer
        tables = conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
        assert tables == []
    finally:
        conn.close()


@pytest.mark.parametrize(("fsync", "expected"), [(True, 2), (False, 1)])
def test_sqlite_synchronous_mode(tmp_path: Path, fsync: bool, expected: int) -> None:
    store = SQLiteStore(tmp_path / "d.db", fsync=fsync)
    try:
        # synchronous is per connection: ask the store's own connection.
        assert store._db.execute("PRAGMA synchronous").fetchone()[0] == expected
    finally:
        store.close()


def test_sqlite_default_is_normal_sync(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "d.db")
    try:
        assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 1
    finally:
        store.close()


def test_sqlite_creates_parent_directories(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "c" / "d.db"
    assert not path.parent.exists()
    store = SQLiteStore(path)
    try:
        store.insert_run(make_run("r1"))
        store.commit()
        assert path.is_file()
        assert store.get_run("r1") is not None
    finally:
        store.close()


def test_sqlite_reads_no_history_of_a_run_it_inserted_until_a_step_is_written(
    tmp_path: Path,
) -> None:
    """A new run's first pass costs no history query; once a step is written (or the
    transaction that wrote one is rolled back), its steps are read from the file."""
    store = SQLiteStore(tmp_path / "dev.db")
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    store.insert_run(make_run("r1"))
    assert store.get_steps("r1") == []
    assert not [s for s in statements if "FROM steps" in s]
    store.commit()
    store.upsert_step(make_step("r1", "a", 0))
    store.rollback()  # the step is gone again: read from the file, which says so
    assert store.get_steps("r1") == []
    assert [s for s in statements if "FROM steps" in s]
    store.insert_run(make_run("r2"))
    store.upsert_step(make_step("r2", "b", 0))
    store.commit()
    assert [step.key for step in store.get_steps("r2")] == ["b"]
    store.close()


def test_a_runs_one_trigger_event_is_written_as_any_other_value_would_be() -> None:
    """The SQLite row encodes a run's single trigger event once and reuses the text for its
    ``events`` column: the row is the one the plain encoder writes, character for character."""
    from durable._stores import rows, sqlite_rows

    event = {"name": "x/y", "data": {"a": [1, 2.5, {"é": None, "s": "\udcff"}]}, "id": "E"}
    single = make_run("r1", event=event, events=[event])
    several = make_run("r2", event=event, events=[event, dict(event)])
    for run in (single, several):
        assert sqlite_rows.run_row(run) == rows.run_row(run, rows.json_text)
