"""Per-step overhead and event latency through a real ``durable dev`` with its worker.

Starts ``durable dev`` (server process + worker process) on a free port with a SQLite file,
then measures:

* the median cost of a checkpointed no-op ``step.run`` as seen by the handler in the worker
  (one round trip to the server, which commits before answering);
* event accepted (the server's ``received_at``) -> first step of the triggered run starts;
* steps/s with many concurrent runs of 3 no-op steps.

Prints a table and one JSON line.

    python bench/server_overhead.py [--steps 900] [--events 200] [--runs 1000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import textwrap
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from durable.devserver.harness import DevProcess, wait_for

APP = textwrap.dedent(
    """
    import time
    from durable import Durable

    app = Durable(id="bench")

    async def noop():
        return None

    @app.function(id="steps", triggers=[{"event": "bench/steps"}])
    async def steps(ctx):
        samples = []
        for _ in range(ctx.event.data["n"]):
            began = time.perf_counter()
            await ctx.step.run("noop", noop)
            samples.append(time.perf_counter() - began)
        return samples

    @app.function(id="first", triggers=[{"event": "bench/first"}])
    async def first(ctx):
        await ctx.step.run("first", noop)

    @app.function(id="three", triggers=[{"event": "bench/three"}])
    async def three(ctx):
        for _ in range(3):
            await ctx.step.run("s", noop)
    """
)

TARGETS = {"step_ms": 0.7, "latency_ms": 5.0, "steps_per_s": 3000}


def iso_to_epoch(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def wait_done(dev: DevProcess, function: str, count: int) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = wait_for(
        lambda: dev.finished(function, count), timeout=300, what=f"{count} {function} runs"
    )
    return runs


def measure(steps: int, events: int, runs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "app.py").write_text(APP)
        dev = DevProcess(root, root / "app.py", reload=False).start()
        try:
            dev.send([{"name": "bench/steps", "data": {"n": steps}}])
            samples = sorted(wait_done(dev, "steps", 1)[0]["output"])
            latencies = []
            for _ in range(events):
                [event_id] = dev.send([{"name": "bench/first"}])
                event = next(
                    e
                    for e in dev.client.get("/api/events", params={"name": "bench/first"}).json()[
                        "events"
                    ]
                    if e["id"] == event_id
                )
                run_id = event["run_ids"][0]
                while True:
                    run = dev.client.get(f"/api/runs/{run_id}").json()
                    if run["steps"] and run["steps"][0]["attempts"]:
                        break
                    time.sleep(0.002)
                started = iso_to_epoch(run["steps"][0]["attempts"][0]["started_at"])
                latencies.append(started - iso_to_epoch(event["received_at"]))
            latencies.sort()
            began = time.perf_counter()
            for start in range(0, runs, 500):
                dev.send([{"name": "bench/three"} for _ in range(min(500, runs - start))])
            wait_done(dev, "three", runs)
            elapsed = time.perf_counter() - began
        finally:
            dev.stop()
    return {
        "step_median_ms": statistics.median(samples) * 1000,
        "step_p99_ms": samples[int(len(samples) * 0.99)] * 1000,
        "latency_p50_ms": statistics.median(latencies) * 1000,
        "latency_p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "concurrent_runs": runs,
        "steps_per_s": runs * 3 / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=900)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()
    r = measure(args.steps, args.events, args.runs)
    table = Table(title="durable: through the dev server and its worker process")
    for column in ("measure", "value", "target"):
        table.add_column(column)
    table.add_row(
        "no-op step.run, median", f"{r['step_median_ms']:.3f} ms", f"<= {TARGETS['step_ms']} ms"
    )
    table.add_row("  p99", f"{r['step_p99_ms']:.3f} ms", "")
    table.add_row(
        "event accepted -> first step, p50",
        f"{r['latency_p50_ms']:.2f} ms",
        f"<= {TARGETS['latency_ms']} ms",
    )
    table.add_row("  p99", f"{r['latency_p99_ms']:.2f} ms", "")
    table.add_row(
        f"steps/s, {r['concurrent_runs']:,} runs x 3 steps",
        f"{r['steps_per_s']:,.0f}",
        f">= {TARGETS['steps_per_s']:,}",
    )
    Console().print(table)
    print(json.dumps({"bench": "server_overhead", **{k: round(v, 4) for k, v in r.items()}}))


if __name__ == "__main__":
    main()
