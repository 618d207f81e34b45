"""Restart after ``kill -9``: how soon does the first resumed step run, and do all runs resume?

Starts ``durable dev`` (server + worker) with runs of many short steps in flight, ``kill -9``s
the whole process group mid-way, then starts a new ``durable dev`` on the same database and
measures, from the moment the new process is spawned:

* until the first step body of a resumed run executes (each step body appends the time to a
  ledger file, so this is what the user's code sees, not a server-side timestamp);
* until ``/health`` answers;
* until every run has completed (all runs resumed).

Repeats for ``--cycles`` kill/restart cycles and reports the median (and worst).
Prints a table and one JSON line.

    python bench/restart.py [--runs 100] [--cycles 3]
"""

from __future__ import annotations

import argparse
import tempfile
import textwrap
import time
from pathlib import Path

import _repo  # noqa: F401  (puts the repository root on sys.path for tests.support)
from _common import Figure, Report, children, median, prepare, print_report, started_after

from tests.support.harness import DevProcess, wait_for

TARGET_MS = 150.0  # SPEC section 6, "target now"
STEPS = 40

APP = textwrap.dedent(
    f"""
    import asyncio, os, time
    from pathlib import Path
    from durable import Durable

    app = Durable(id="bench")
    LEDGER = Path(os.environ["BENCH_LEDGER"])

    async def mark(run_id, key):
        with LEDGER.open("a") as f:
            f.write(f"{{time.time()}} {{run_id}} {{key}}\\n")
        await asyncio.sleep(0.02)  # work in the step: replaying committed steps is instant

    @app.function(id="long", triggers=[{{"event": "bench/long"}}])
    async def long(ctx):
        for i in range({STEPS}):
            await ctx.step.run(f"s{{i}}", mark, ctx.run_id, f"s{{i}}")
    """
)


def ledger_times(ledger: Path, skip: int) -> list[float]:
    """The times of the ledger's lines after the first ``skip``."""
    if not ledger.exists():
        return []
    lines = ledger.read_text().splitlines()[skip:]
    return [float(line.split()[0]) for line in lines if line.count(" ") == 2]


def line_count(ledger: Path) -> int:
    return len(ledger.read_text().splitlines()) if ledger.exists() else 0


def collect(runs: int = 100, cycles: int = 3) -> Report:
    first_step, health, all_done, unfinished, worker_spawn = [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ledger = root / "ledger.txt"
        (root / "app.py").write_text(APP)
        env = {"BENCH_LEDGER": str(ledger)}
        for cycle in range(cycles):
            dev = DevProcess(root, root / "app.py", reload=False, env=env)
            try:
                dev.start()
                dev.send([{"name": "bench/long", "data": {"cycle": cycle}} for _ in range(runs)])
                # kill -9 once every run of this cycle is a few steps in
                goal = (cycle * STEPS + 5) * runs
                wait_for(lambda: line_count(ledger) >= goal, 60, "progress")  # noqa: B023
                dev.kill()
                before = line_count(ledger)
                dev = DevProcess(root, root / "app.py", reload=False, env=env, port=dev.port)
                dev.start()
                assert dev.spawned_at is not None  # from the spawn, not the harness's set-up
                spawned = dev.spawned_at
                health.append(time.time() - spawned)
                wait_for(lambda: ledger_times(ledger, before), 30, "a resumed step")  # noqa: B023
                first_step.append(min(ledger_times(ledger, before)) - spawned)
                assert dev.process is not None
                workers = children(dev.process.pid)
                if workers:
                    worker_spawn.append(started_after(dev.process.pid, workers[0]) or 0.0)
                wait_for(lambda: dev.finished("long", runs * (cycle + 1)), 120, "all runs")  # noqa: B023
                all_done.append(time.time() - spawned)
                statuses = [r["status"] for r in dev.runs(function="long")]
                unfinished.append(sum(1 for s in statuses if s != "completed"))
            finally:
                dev.stop()  # also when a wait times out: no server left on the port
    figures = [
        Figure(
            "restart_first_step_ms",
            "restart after kill -9 -> first resumed step runs (median)",
            median(first_step) * 1000,
            target=TARGET_MS,
            digits=0,
            target_note="(DBOS: 1.9 s to finish)",
        ),
        Figure(
            "restart_first_step_worst_ms",
            f"  worst of {cycles} restarts",
            max(first_step) * 1000,
            digits=0,
        ),
        Figure(
            "restart_worker_spawned_ms",
            "  server spawned -> it spawns the worker (10 ms ticks)",
            median(worker_spawn) * 1000 if worker_spawn else None,
            digits=0,
        ),
        Figure("restart_health_ms", "  spawn -> /health answers", median(health) * 1000, digits=0),
        Figure(
            "restart_all_done_s",
            f"  spawn -> all {runs} killed runs completed",
            median(all_done),
            unit="s",
            digits=2,
        ),
        Figure(
            "restart_runs_not_completed",
            f"runs not completed after {cycles} kill -9 cycles",
            float(sum(unfinished)),
            unit="",
            target=0,
            digits=0,
        ),
    ]
    return Report(
        "restart",
        f"durable: restart after kill -9 ({runs} runs in flight, {cycles} cycles)",
        figures,
        {"runs": runs, "cycles": cycles},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--cycles", type=int, default=3)
    args = parser.parse_args()
    prepare()
    print_report(collect(args.runs, args.cycles))


if __name__ == "__main__":
    main()
