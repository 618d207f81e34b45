"""Does a crowd of waiting runs slow down new events? (matching is indexed by event name)

Starts N runs that each wait for their own ``approval/granted`` event, then times accepting
events of other names (which must not get slower) and of the waited-for name. SQLite store,
in process. Prints a table and one JSON line.

    python bench/event_matching.py [--waiting 10000] [--events 500]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from _common import Figure, Report, prepare, print_report

from durable import Durable
from durable._engine.inprocess import InProcessExecutor, collect_functions
from durable._orchestration.clock import VirtualClock
from durable._orchestration.orchestrator import Orchestrator
from durable._stores.sqlite import SQLiteStore

TARGET_SLOWDOWN = 1.5


def build(db: Path) -> Orchestrator:
    app = Durable(id="bench")

    @app.function(id="approval", triggers=[{"event": "request/created"}])
    async def approval(ctx):  # type: ignore[no-untyped-def]
        await ctx.step.wait_for_event(
            "wait", event="approval/granted", timeout="7d", match="data.requestId"
        )

    @app.function(id="other", triggers=[{"event": "other/*"}])
    async def other(ctx):  # type: ignore[no-untyped-def]
        return None

    functions = collect_functions([app])
    clock = VirtualClock()
    return Orchestrator(
        SQLiteStore(db),
        clock,
        InProcessExecutor(functions, clock.now),
        [fn.config for fn in functions.values()],
    )


async def time_events(orch: Orchestrator, name: str, count: int) -> float:
    samples = []
    for i in range(count):
        began = time.perf_counter()
        await orch.send([{"name": name, "data": {"requestId": f"nobody-{i}"}}])
        samples.append(time.perf_counter() - began)
    await orch.settle()
    return statistics.median(samples) * 1000


async def measure(waiting: int, events: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        orch = build(Path(tmp) / "bench.db")
        before = await time_events(orch, "other/event", events)
        began = time.perf_counter()
        for start in range(0, waiting, 500):
            batch = range(start, min(start + 500, waiting))
            await orch.send(
                [{"name": "request/created", "data": {"requestId": f"r{i}"}} for i in batch]
            )
            await orch.settle()
        setup = time.perf_counter() - began
        after = await time_events(orch, "other/event", events)
        same_name = await time_events(orch, "approval/granted", max(10, events // 10))
        return {
            "waiting_runs": waiting,
            "setup_s": setup,
            "other_event_ms_before": before,
            "other_event_ms_after": after,
            "slowdown": after / before,
            "waited_name_event_ms": same_name,
        }


def collect(waiting: int = 10_000, events: int = 500) -> Report:
    r = asyncio.run(measure(waiting, events))
    figures = [
        Figure(
            "matching_other_event_ms_before",
            "in process: accepting an event, no runs waiting (median)",
            r["other_event_ms_before"],
        ),
        Figure(
            "matching_other_event_ms_after",
            f"  same with {waiting:,} runs waiting for another event (median)",
            r["other_event_ms_after"],
        ),
        Figure(
            "matching_slowdown",
            "  waiting / none waiting: new events no slower",
            r["slowdown"],
            unit="x",
            target=TARGET_SLOWDOWN,
            digits=2,
        ),
        Figure(
            "matching_waited_name_event_ms",
            "  an event of the waited-for name (checks its index entry, median)",
            r["waited_name_event_ms"],
        ),
    ]
    return Report(
        "event_matching",
        f"durable: accepting events with {waiting:,} runs waiting",
        figures,
        {"waiting_runs": waiting, "setup_s": r["setup_s"]},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=500)
    args = parser.parse_args()
    prepare()
    print_report(collect(args.waiting, args.events))


if __name__ == "__main__":
    main()
