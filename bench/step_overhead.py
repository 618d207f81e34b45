"""Per-step overhead of a checkpointed no-op ``step.run``, in process, on the SQLite store.

Prints a table and one JSON line. Also runs one 1,000-step run and compares the cost of steps
901-1000 with steps 1-100 (the execution must stay linear: the coroutine is kept alive).

    python bench/step_overhead.py [--runs 20] [--steps 200]
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
from durable._orchestration.clock import RealClock
from durable._orchestration.orchestrator import Orchestrator
from durable._stores.sqlite import SQLiteStore

TARGET_STEP_MS = 0.05  # SPEC section 6, "target now"
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


def collect(runs: int = 20, steps: int = 200) -> Report:
    r = asyncio.run(measure(runs, steps))
    figures = [
        Figure(
            "step_median_ms",
            "in-process checkpointed no-op step.run (SQLite), median",
            r["step_median_ms"],
            target=TARGET_STEP_MS,
            note=f"(p99 {r['step_p99_ms']:.3f})",
            target_note=f"(DBOS: {DBOS_STEP_MS} ms)",
        ),
        Figure(
            "step_median_fsync_ms",
            "  same with fsync=True (synchronous=FULL), median",
            r["step_median_fsync_ms"],
        ),
        Figure(
            "run_1000_ratio",
            "1,000-step run: steps 901-1000 / steps 1-100",
            r["run_1000_ratio"],
            unit="x",
            target=TARGET_RATIO,
            digits=2,
            note=f"({r['run_1000_last100_ms']:.1f} / {r['run_1000_first100_ms']:.1f} ms)",
        ),
    ]
    extra = {k: v for k, v in r.items() if k not in {f.key for f in figures}}
    return Report("step_overhead", "durable: in-process step overhead (SQLite)", figures, extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    prepare()
    print_report(collect(args.runs, args.steps))


if __name__ == "__main__":
    main()
