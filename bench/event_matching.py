"""Does a crowd of waiting runs slow down new events? (matching is indexed by event name)

Starts N runs that each wait for their own ``approval/granted`` event, then times accepting
events of other names (which must not get slower) and of the waited-for name. SQLite store,
in process. Prints a table and one JSON line.

    python bench/event_matching.py [--waiting 10000] [--events 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from durable import Durable
from durable._clock import VirtualClock
from durable._inprocess import InProcessExecutor, collect_functions
from durable._orchestrator import Orchestrator
from durable._store_sqlite import SQLiteStore


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=500)
    args = parser.parse_args()
    r = asyncio.run(measure(args.waiting, args.events))
    table = Table(title=f"durable: accepting events with {r['waiting_runs']:,} runs waiting")
    for column in ("measure", "value", "target"):
        table.add_column(column)
    table.add_row(
        "event of another name, before (median)", f"{r['other_event_ms_before']:.3f} ms", ""
    )
    table.add_row(
        "event of another name, after (median)", f"{r['other_event_ms_after']:.3f} ms", ""
    )
    table.add_row("slowdown", f"{r['slowdown']:.2f}x", "no slower (~1x)")
    table.add_row(
        "event of the waited-for name (checks every wait on it)",
        f"{r['waited_name_event_ms']:.3f} ms",
        "",
    )
    table.add_row("starting the waiting runs", f"{r['setup_s']:.1f} s", "")
    Console().print(table)
    print(json.dumps({"bench": "event_matching", **{k: round(v, 4) for k, v in r.items()}}))


if __name__ == "__main__":
    main()
