"""Group commit of checkpoints: one look-up of the leases and one commit for a group.

The checkpoints that passes in flight send in one turn of the event loop are applied together:
the store confirms all their leases in one look-up (``held_leases``, one statement on
PostgreSQL), a checkpoint whose lease was lost writes nothing and is told so, and one commit
makes the others durable. A refused write fails the whole group; a bug in one checkpoint
fails only that one.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from durable._errors import StoreError
from durable._orchestration.journal import Journal
from durable._stores.base import Lease, RunRecord, RunStatus, StepRecord, StepStatus, Store
from durable._stores.sqlite import SQLiteStore
from tests.support.records import queued_run

START = 1_000_000.0


def queued(store: Store, run_id: str) -> RunRecord:
    run = queued_run(run_id, at=START)
    store.insert_run(run)
    store.commit()
    return run


def claimed(store: Store, run_id: str, server: str = "a") -> Lease:
    queued(store, run_id)
    lease = store.claim_run(run_id, server)
    assert lease is not None
    store.commit()
    return lease


def test_held_leases_confirms_only_the_current_claims_of_live_servers_on_unended_runs(
    store: Store,
) -> None:
    for server in ("a", "b"):
        store.register_server(server, START)
    held = claimed(store, "held")
    stale = claimed(store, "reclaimed")
    store.release_run(stale)
    again = store.claim_run("reclaimed", "a")
    assert again is not None and again.epoch == stale.epoch + 1
    ended = claimed(store, "ended")
    run = store.get_run("ended")
    assert run is not None
    assert store.end_run(dataclasses.replace(run, status=RunStatus.COMPLETED, ended_at=START))
    reaped = claimed(store, "reaped", server="b")
    store.reap_server("b", START + 1)
    store.commit()

    assert store.held_leases([held, stale, ended, reaped]) == {"held"}
    assert store.held_leases([stale, again]) == {"reclaimed"}
    assert store.held_leases([held]) == {"held"} and store.held_leases([stale]) == set()
    assert store.held_leases([]) == set()


class CountingStore(SQLiteStore):
    """A real SQLite store that counts the calls a group commit makes."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.calls: list[str] = []

    def held_leases(self, leases: Any) -> set[str]:
        self.calls.append(f"held_leases x{len(leases)}")
        return super().held_leases(leases)

    def holds_lease(self, lease: Lease) -> bool:
        self.calls.append("holds_lease")
        return super().holds_lease(lease)

    def commit(self) -> bool:
        wrote = super().commit()
        if wrote:  # (a transaction begins by committing what came before it: here, nothing)
            self.calls.append("commit")
        return wrote


def step(run_id: str) -> StepRecord:
    return StepRecord(
        run_id=run_id, key="s", id="s", kind="run", status=StepStatus.COMPLETED, position=0
    )


def saved_steps(path: Path) -> set[str]:
    """The runs with a committed step, read over a second connection."""
    other = SQLiteStore(path)
    try:
        return {run for run in ("r1", "r2", "r3") if other.get_steps(run)}
    finally:
        other.close()


@pytest.fixture
def parts(tmp_path: Path) -> tuple[CountingStore, Journal, list[Lease]]:
    store = CountingStore(tmp_path / "d.db")
    store.register_server("a", START)
    leases = [claimed(store, run_id) for run_id in ("r1", "r2", "r3")]
    store.calls.clear()
    return store, Journal(store, lambda: 3), leases


async def test_the_checkpoints_of_one_turn_share_one_lease_look_up_and_one_commit(
    parts: tuple[CountingStore, Journal, list[Lease]], tmp_path: Path
) -> None:
    store, journal, leases = parts
    stale = dataclasses.replace(leases[2], epoch=leases[2].epoch - 1)  # reaped and reclaimed

    def write(run_id: str) -> str:
        store.upsert_step(step(run_id))
        return f"saved {run_id}"

    results = await asyncio.gather(
        journal.checkpoint(leases[0], lambda: write("r1")),
        journal.checkpoint(leases[1], lambda: write("r2")),
        journal.checkpoint(stale, lambda: write("r3")),
    )
    assert results == ["saved r1", "saved r2", None]  # the stale one applied nothing
    assert store.calls == ["held_leases x3", "commit"]
    assert saved_steps(tmp_path / "d.db") == {"r1", "r2"}


async def test_a_refused_write_fails_the_whole_group_and_a_bug_only_its_own_checkpoint(
    parts: tuple[CountingStore, Journal, list[Lease]], tmp_path: Path
) -> None:
    store, journal, leases = parts

    def write(run_id: str) -> str:
        store.upsert_step(step(run_id))
        return run_id

    def refused() -> str:
        raise StoreError("the database refused the write", reason="database_error")

    def bug() -> str:
        raise ValueError("a bug in one checkpoint")

    outcomes = await asyncio.gather(
        journal.checkpoint(leases[0], lambda: write("r1")),
        journal.checkpoint(leases[1], refused),
        journal.checkpoint(leases[2], lambda: write("r3")),
        return_exceptions=True,
    )
    assert [type(outcome) for outcome in outcomes] == [StoreError] * 3
    assert saved_steps(tmp_path / "d.db") == set()  # r1's write was rolled back
    assert journal.store_problem is outcomes[1]

    outcomes = await asyncio.gather(
        journal.checkpoint(leases[0], lambda: write("r1")),
        journal.checkpoint(leases[1], bug),
        journal.checkpoint(leases[2], lambda: write("r3")),
        return_exceptions=True,
    )
    assert outcomes[0] == "r1" and outcomes[2] == "r3"
    assert isinstance(outcomes[1], ValueError)
    assert saved_steps(tmp_path / "d.db") == {"r1", "r3"}
    assert journal.store_problem is None  # a write went through again


async def test_a_lone_pass_checks_its_lease_and_commits_at_once(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "d.db")
    store.register_server("a", START)
    lease = claimed(store, "r1")
    store.calls.clear()
    journal = Journal(store, lambda: 1)

    def write() -> str:
        store.upsert_step(step("r1"))
        return "saved"

    assert await journal.checkpoint(lease, write) == "saved"
    assert store.calls == ["holds_lease", "commit"]
    store.close()


def test_claim_runs_takes_each_free_run_with_a_new_epoch_and_leaves_out_held_ones(
    store: Store,
) -> None:
    for server in ("a", "b"):
        store.register_server(server, START)
    for run_id in ("r1", "r2", "r3"):
        queued(store, run_id)
    held_by_b = store.claim_run("r3", "b")
    assert held_by_b is not None
    store.release_run(claimed(store, "r4"))  # released: free again, at epoch 1
    leases = store.claim_runs(["r1", "r2", "r3", "r4", "r9"], "a")  # r9: no such run
    assert leases == {
        "r1": Lease("r1", "a", 1),
        "r2": Lease("r2", "a", 1),
        "r4": Lease("r4", "a", 2),
    }
    assert store.held_leases(list(leases.values())) == {"r1", "r2", "r4"}
    assert store.claim_runs(["r1"], "b") == {}  # a holds it
    assert store.claim_runs([], "a") == {}
