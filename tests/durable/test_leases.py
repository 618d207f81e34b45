"""Ownership in the store: a pass holds a lease (a fencing epoch) on its run.

A server that was reaped while its step ran finds its lease stale: its checkpoint is refused
and its pass stops, while the run's new owner goes on from the last commit and completes it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from durable import Durable
from durable._engine.inprocess import InProcessExecutor, collect_functions
from durable._orchestration.clock import VirtualClock
from durable._orchestration.orchestrator import Orchestrator
from durable._stores.base import Lease, RunStatus, Store

START = 1_000_000.0


def queued_run(engine: Orchestrator, function_id: str) -> str:
    return engine.start_run(function_id, {"name": "go", "data": {}}).run_id


def test_a_claim_is_one_servers_with_a_new_epoch_each_time(store: Store) -> None:
    app = Durable(id="t")

    @app.function(id="f", triggers=[{"event": "go"}])
    async def f(ctx: Any) -> None:
        return None

    engine = orchestrator(store, app, "a", VirtualClock(START))
    store.register_server("b", START)  # only a live server claims
    run_id = queued_run(engine, "f")
    first = store.claim_run(run_id, "a")
    assert first == Lease(run_id, "a", 1) and store.holds_lease(first)
    assert store.claim_run(run_id, "b") is None  # a holds it
    assert store.reap_server("a", START + 5) == 1  # a is dead: its run is due again
    assert not store.holds_lease(first)
    assert store.get_run(run_id).ready_at == START + 5  # type: ignore[union-attr]
    second = store.claim_run(run_id, "b")
    assert second == Lease(run_id, "b", 2)
    store.release_run(first)  # a stale lease releases nothing
    assert store.holds_lease(second)
    store.release_run(second)
    assert not store.holds_lease(second)
    assert store.claim_run(run_id, "b") == Lease(run_id, "b", 3)  # each claim a new epoch


def orchestrator(store: Store, app: Durable, server_id: str, clock: VirtualClock) -> Orchestrator:
    """An orchestrator of a live server ``server_id`` (registered in ``store``)."""
    store.register_server(server_id, clock.now())
    functions = collect_functions([app])
    return Orchestrator(
        store,
        clock,
        InProcessExecutor(functions, clock.now),
        [fn.config for fn in functions.values()],
        server_id=server_id,
    )


async def test_a_reaped_servers_checkpoint_is_refused_and_the_new_owner_completes_the_run(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    app = Durable(id="t")
    release_first = asyncio.Event()
    bodies: list[str] = []

    @app.function(id="f", triggers=[{"event": "go"}], retries=0)
    async def f(ctx: Any) -> str:
        async def charge() -> str:
            bodies.append("charge")
            if len(bodies) == 1:  # the first server's body hangs until it was reaped
                await release_first.wait()
            return f"charged by body {len(bodies)}"

        receipt = await ctx.step.run("charge", charge)
        await ctx.step.run("email", lambda: bodies.append("email") or "sent")
        return str(receipt)

    clock = VirtualClock(START)
    first = orchestrator(store, app, "first", clock)
    second = orchestrator(store, app, "second", clock)
    run_id = queued_run(first, "f")
    first.flush()

    await first.tick()  # the first server claims the run and its step starts
    while bodies != ["charge"]:
        await asyncio.sleep(0)
    assert store.claim_run(run_id, "second") is None  # owned: the second cannot take it

    assert store.reap_server("first", clock.now()) == 1  # its heartbeat stopped, say
    await second.settle()  # the second claims it (a new epoch) and runs it to its end
    run = store.get_run(run_id)
    assert run is not None and run.status is RunStatus.COMPLETED
    assert run.output == '"charged by body 2"'

    release_first.set()  # the first server's body returns now: too late
    with caplog.at_level("WARNING", "durable.passes"):
        await first.settle()
    steps = {step.key: step for step in store.get_steps(run_id)}
    assert steps["charge"].output == '"charged by body 2"'  # the stale result was refused
    assert len(steps["charge"].attempts) == 1
    assert bodies == ["charge", "charge", "email"]  # the first pass went no further
    assert any("lease 1 lost" in record.getMessage() for record in caplog.records)
    assert store.get_run(run_id).status is RunStatus.COMPLETED  # type: ignore[union-attr]
