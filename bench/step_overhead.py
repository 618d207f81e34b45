"""Per-step overhead of a checkpointed no-op ``step.run``, in process, on the SQLite store.

Prints a table and one JSON line. Also runs one 1,000-step run and compares the cost of steps
901-1000 with steps 1-100 (the execution must stay linear: the coroutine is kept alive).

    python bench/step_overhead.py [--runs 20] [--steps 200]
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
from durable._clock import RealClock
from durable._inprocess import InProcessExecutor, collect_functions
from durable._orchestrator import Orchestrator
from durable._store_sqlite import SQLiteStore

TARGET_STEP_MS = 0.3
TARGET_RATIO = 1.5
DBOS_STEP_MS = 1.39


def build(db: Path, samples: list[float], *, fsync: bool = False) -> Orchestrator:
    app = Durable(id="bench")

    async def noop() -> None:
        return None

    @app.function(id="steps", triggers=[{"event": "bench/steps"}])
    async def steps(ctx):  # type: ignore[no-untyped-def]
        for _ in range(ctx.event.data["n"]):
            began = time.perf_counter()
            await ctx.step.run("noop", noop)
            samples.append(time.perf_counter() - began)
        return None

    functions = collect_functions([app])
    clock = RealClock()
    return Orchestrator(
        SQLiteStore(db, fsync=fsync),
        clock,
        InProcessExecutor(functions, clock.now),
        [fn.config for fn in functions.values()],
    )


async def measure(runs: int, steps: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        samples: list[float] = []
        orch = build(Path(tmp) / "bench.db", samples)
        for _ in range(runs):
            await orch.send([{"name": "bench/steps", "data": {"n": steps}}])
            await orch.settle()
        per_step = sorted(samples)
        samples.clear()
        await orch.send([{"name": "bench/steps", "data": {"n": 1000}}])
        await orch.settle()
        long_run = list(samples)
        first, last = sum(long_run[:100]), sum(long_run[900:1000])
        fsync_samples: list[float] = []
        synced = build(Path(tmp) / "fsync.db", fsync_samples, fsync=True)
        await synced.send([{"name": "bench/steps", "data": {"n": steps}}])
        await synced.settle()
        return {
            "step_median_fsync_ms": statistics.median(fsync_samples) * 1000,
            "step_median_ms": statistics.median(per_step) * 1000,
            "step_p99_ms": per_step[int(len(per_step) * 0.99)] * 1000,
            "steps_measured": len(per_step),
            "run_1000_first100_ms": first * 1000,
            "run_1000_last100_ms": last * 1000,
            "run_1000_ratio": last / first,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    result = asyncio.run(measure(args.runs, args.steps))
    table = Table(title="durable: in-process step overhead (SQLite)")
    for column in ("measure", "value", "target"):
        table.add_column(column)
    table.add_row(
        "checkpointed no-op step.run, median",
        f"{result['step_median_ms']:.3f} ms",
        f"<= {TARGET_STEP_MS} ms (DBOS: {DBOS_STEP_MS} ms)",
    )
    table.add_row("  p99", f"{result['step_p99_ms']:.3f} ms", "")
    table.add_row(
        "  median with fsync=True (survives power loss)",
        f"{result['step_median_fsync_ms']:.3f} ms",
        "",
    )
    table.add_row(
        "1,000-step run: steps 901-1000 / steps 1-100",
        f"{result['run_1000_ratio']:.2f}x "
        f"({result['run_1000_last100_ms']:.1f} / {result['run_1000_first100_ms']:.1f} ms)",
        f"<= {TARGET_RATIO}x",
    )
    Console().print(table)
    print(json.dumps({"bench": "step_overhead", **{k: round(v, 4) for k, v in result.items()}}))


if __name__ == "__main__":
    main()
