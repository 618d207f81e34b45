"""Does flow control cost more per event? 10,000 throttled or debounced events vs plain ones.

Each variant sends N events (in sends of 500) to one function on a SQLite store, in process,
on a virtual clock moved on in rounds of ROUND seconds (to the next due time, at least ROUND
later: a busy server finds several throttled starts due at each wake, where a clock moved to
each start in turn would time a wake-up per run) until every run is done, and reports the
wall time per event:
plain (one run per event), throttled (100 starts a second: runs wait their turn) and
debounced (100 keys: one run per key, each event replacing its key's pending event). Prints
a table and one JSON line.

    python bench/flow_control.py [--events 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import Figure, Report, prepare, print_report

from durable import Durable
from durable._engine.inprocess import InProcessExecutor, collect_functions
from durable._orchestration.clock import VirtualClock
from durable._orchestration.orchestrator import Orchestrator
from durable._stores.sqlite import SQLiteStore

TARGET_RATIO = 1.5
ROUND = 1.0
VARIANTS: dict[str, dict[str, Any]] = {
    "plain": {},
    "throttled": {"throttle": {"limit": 100, "period": "1s", "burst": 0}},
    "debounced": {"debounce": {"period": "1s", "key": "event.data.key"}},
}


def build(db: Path, options: dict[str, Any]) -> tuple[Orchestrator, VirtualClock]:
    app = Durable(id="bench")

    @app.function(id="f", triggers=[{"event": "bench/go"}], **options)
    async def f(ctx):  # type: ignore[no-untyped-def]
        return await ctx.step.run("one", lambda: ctx.event.data["n"])

    functions = collect_functions([app])
    clock = VirtualClock(start=1_000_000.0)
    orch = Orchestrator(
        SQLiteStore(db),
        clock,
        InProcessExecutor(functions, clock.now),
        [fn.config for fn in functions.values()],
    )
    return orch, clock


async def per_event_ms(options: dict[str, Any], count: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        orch, clock = build(Path(tmp) / "bench.db", options)
        began = time.perf_counter()
        for start in range(0, count, 500):
            batch = range(start, min(start + 500, count))
            await orch.send(
                [{"name": "bench/go", "data": {"n": i, "key": f"k{i % 100}"}} for i in batch]
            )
            await orch.settle()
        while (next_at := orch.next_wake_at()) is not None:
            clock.set(max(next_at, clock.now() + ROUND))
            await orch.settle()
        return (time.perf_counter() - began) * 1000 / count


async def measure(count: int) -> dict[str, float]:
    return {name: await per_event_ms(options, count) for name, options in VARIANTS.items()}


def collect(count: int = 10_000) -> Report:
    r = asyncio.run(measure(count))
    figures = [
        Figure("flow_plain_ms_per_event", f"{count:,} plain events, to runs done", r["plain"]),
        Figure("flow_throttled_ms_per_event", "  throttled (100 starts/s)", r["throttled"]),
        Figure("flow_debounced_ms_per_event", "  debounced (100 keys)", r["debounced"]),
        Figure(
            "flow_throttled_ratio",
            "  throttled / plain, per event",
            r["throttled"] / r["plain"],
            unit="x",
            target=TARGET_RATIO,
            digits=2,
        ),
        Figure(
            "flow_debounced_ratio",
            "  debounced / plain, per event",
            r["debounced"] / r["plain"],
            unit="x",
            target=TARGET_RATIO,
            digits=2,
        ),
    ]
    return Report("flow_control", f"durable: flow control cost per event ({count:,})", figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    args = parser.parse_args()
    prepare()
    print_report(collect(args.events))


if __name__ == "__main__":
    main()
