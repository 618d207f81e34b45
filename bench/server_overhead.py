"""Per-step overhead and event latency through a real ``durable dev`` with its worker.

Starts ``durable dev`` (server process + worker process) on a free port with a SQLite file,
then measures:

* the median cost of a checkpointed no-op ``step.run`` as seen by the handler in the worker
  (one round trip to the server, which commits before answering);
* event -> first step of the triggered run starts: from just before the client's
  ``POST /api/events`` to the ``time.time()`` read in the step body (an upper bound: it
  includes the HTTP request);
* steps/s with many concurrent runs of 3 no-op steps.

Prints a table and one JSON line.

    python bench/server_overhead.py [--steps 900] [--events 200] [--runs 1000]
"""

from __future__ import annotations

import argparse
import tempfile
import textwrap
import time
from pathlib import Path

import _repo  # noqa: F401  (puts the repository root on sys.path for tests.support)
from _common import (
    FIRST_STEP_APP,
    Figure,
    Report,
    event_latencies,
    last_ended_at,
    median,
    percentile,
    prepare,
    print_report,
    three_steps_app,
)

from tests.support.harness import DevProcess, wait_for

APP = "import time\n" + three_steps_app(
    "bench",
    textwrap.dedent(
        """
        @app.function(id="steps", triggers=[{"event": "bench/steps"}])
        async def steps(ctx):
            samples = []
            for _ in range(ctx.event.data["n"]):
                began = time.perf_counter()
                await ctx.step.run("noop", noop)
                samples.append(time.perf_counter() - began)
            return samples
        """
    ),
)

#: SPEC section 6, "target now"
TARGETS = {"step_ms": 0.2, "latency_ms": 1.0, "steps_per_s": 10_000}


def collect(steps: int = 900, events: int = 200, runs: int = 1000) -> Report:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "app.py").write_text(APP + FIRST_STEP_APP)
        dev = DevProcess(root, root / "app.py", reload=False).start()
        try:
            dev.send([{"name": "bench/steps", "data": {"n": steps}}])
            wait_for(lambda: dev.finished("steps", 1), 120, "the steps run", 0.05)
            samples = sorted(dev.finished("steps", 1)[0]["output"])
            event_latencies(dev, 5)  # warm up
            latencies, server_side = event_latencies(dev, events)
            began = time.time()  # the server's clock too: the runs' ended_at are on it
            for start in range(0, runs, 500):
                dev.send([{"name": "bench/three"} for _ in range(min(500, runs - start))])
            elapsed = last_ended_at(dev, "three", runs) - began
            done = dev.runs(function="three")
            completed = sum(1 for r in done if r["status"] == "completed")
        finally:
            dev.stop()
    figures = [
        Figure(
            "server_step_median_ms",
            "no-op step.run through durable dev + worker, median",
            median(samples) * 1000,
            target=TARGETS["step_ms"],
            note=f"(p99 {percentile(samples, 0.99) * 1000:.3f})",
            target_note="(Inngest: ~50-100 ms)",
        ),
        Figure(
            "event_latency_p50_ms",
            "event POST -> first step body starts, p50",
            median(latencies) * 1000,
            target=TARGETS["latency_ms"],
            digits=2,
        ),
        Figure("event_latency_p99_ms", "  p99", percentile(latencies, 0.99) * 1000, digits=2),
        Figure(
            "event_latency_server_p50_ms",
            "  server side: received_at -> step started_at, p50 (ms resolution)",
            median(server_side) * 1000,
            digits=0,
            note=f"(p99 {percentile(server_side, 0.99) * 1000:.0f})",
        ),
        Figure(
            "steps_per_s",
            f"steps/s, {runs:,} concurrent runs x 3 no-op steps",
            runs * 3 / elapsed if completed == runs else 0.0,
            unit="",
            target=TARGETS["steps_per_s"],
            higher_is_better=True,
            digits=0,
            note=f"({elapsed:.2f} s)" if completed == runs else f"({completed} completed)",
        ),
    ]
    return Report(
        "server_overhead",
        "durable: through the dev server and its worker process",
        figures,
        {"steps_measured": len(samples), "events": events, "concurrent_runs": runs},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=900)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()
    prepare()
    print_report(collect(args.steps, args.events, args.runs))


if __name__ == "__main__":
    main()
