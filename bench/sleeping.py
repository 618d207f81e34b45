"""100,000 runs sleeping at once through ``durable dev``: memory, waking them all, new events.

Starts ``durable dev`` (server + worker), measures event latency with nothing sleeping, then
starts N runs that each do one step, ``step.sleep_until`` a common moment a few seconds ahead,
and one more step. Once all N are sleeping it reads the server's RSS (``VmRSS`` of the server
process in /proc; the worker's separately) and measures event latency again. Then it waits for
the wake-up moment and times until every run has finished.

Event latency here is measured from the client: the time just before ``POST /api/events``
to the time the triggered run's first step body starts (``time.time()`` read inside the step
and returned as its output). It includes the HTTP request, so it is an upper bound of
"event accepted -> first step starts".

Prints a table and one JSON line.

    python bench/sleeping.py [--runs 10000] [--events 50]
"""

from __future__ import annotations

import argparse
import tempfile
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import _repo  # noqa: F401  (puts the repository root on sys.path for tests.support)
from _common import (
    FIRST_STEP_APP,
    Figure,
    Report,
    all_finished,
    any_unfinished,
    children,
    event_latencies,
    median,
    percentile,
    prepare,
    print_report,
    rss_mb,
)

from tests.support.harness import DevProcess, wait_for

TARGET_RSS_MB = 300.0
TARGET_SLOWDOWN = 1.5
TARGET_LATENCY_MS = 1.0  # SPEC section 6, "target now"

APP = textwrap.dedent(
    """
    import time
    from durable import Durable

    app = Durable(id="bench")

    def now():
        return time.time()

    @app.function(id="nap", triggers=[{"event": "bench/nap"}])
    async def nap(ctx):
        await ctx.step.run("before", now)
        await ctx.step.sleep_until("nap", ctx.event.data["wake_at"])
        return await ctx.step.run("after", now)
    """
)

BATCH = 1000


def count_status(dev: DevProcess, status: str) -> int:
    return len(dev.runs(status=status, function="nap"))


def collect(runs: int = 100_000, events: int = 50, margin: float | None = None) -> Report:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "app.py").write_text(APP + FIRST_STEP_APP)
        dev = DevProcess(root, root / "app.py", reload=False).start()
        assert dev.process is not None
        server_pid = dev.process.pid
        try:
            event_latencies(dev, 5)  # warm up
            before = event_latencies(dev, events)[0]
            rss_idle = rss_mb(server_pid) or 0.0
            # Time enough to start them all (about 1 ms each on a quiet box, 1.5 on a slow
            # one), and to measure with all of them asleep; then all wake at once.
            wake_at = time.time() + (margin if margin is not None else 5 + runs / 500)
            wake_iso = datetime.fromtimestamp(wake_at, UTC).isoformat()
            began = time.perf_counter()
            for start in range(0, runs, BATCH):
                dev.send(
                    [
                        {"name": "bench/nap", "data": {"wake_at": wake_iso}}
                        for _ in range(min(BATCH, runs - start))
                    ]
                )
            wait_for(
                lambda: not any_unfinished(dev, "nap", ("queued", "running")),
                300,
                "all runs to sleep",
                interval=0.25,  # gently: listing thousands of runs costs the server
            )
            asleep = count_status(dev, "sleeping")
            setup = time.perf_counter() - began
            all_asleep_before_wake = time.time() < wake_at
            rss_sleeping = rss_mb(server_pid) or 0.0
            worker_rss = sum(rss_mb(pid) or 0.0 for pid in children(server_pid))
            during = event_latencies(dev, events)[0]
            sleeping_after_events = count_status(dev, "sleeping")
            # Now wait for the common wake-up moment and for every run to finish.
            time.sleep(max(0.0, wake_at - time.time()))
            wait_for(
                lambda: not any_unfinished(dev, "nap") and all_finished(dev, "nap", runs),
                300,
                "every run to finish",
                interval=0.05,
            )
            all_done_at = time.time()
            finished = dev.runs(function="nap")
            outputs = sorted(float(r["output"]) for r in finished if r["output"] is not None)
            completed = sum(1 for r in finished if r["status"] == "completed")
            rss_peak = rss_mb(server_pid, "VmHWM") or 0.0
            after = event_latencies(dev, events)[0]
        finally:
            dev.stop()
    p50_before, p50_during = median(before) * 1000, median(during) * 1000
    woke_early = (
        ""
        if sleeping_after_events >= runs
        else f" (only {sleeping_after_events:,} still asleep: the runs woke meanwhile)"
    )
    figures = [
        Figure(
            "sleeping_server_rss_mb",
            f"{runs:,} runs sleeping at once: server RSS",
            rss_sleeping,
            unit="MB",
            target=TARGET_RSS_MB,
            digits=0,
            note=f"(idle {rss_idle:.0f} MB)",
        ),
        Figure(
            "sleeping_server_peak_rss_mb",
            "  server peak RSS (VmHWM), through waking them all",
            rss_peak,
            unit="MB",
            target=TARGET_RSS_MB,
            digits=0,
        ),
        Figure(
            "sleeping_worker_rss_mb",
            "  worker processes RSS (the worker and its spare)",
            worker_rss,
            "MB",
            digits=0,
        ),
        Figure(
            "sleeping_completed",
            f"  runs that woke and completed (of {runs:,})",
            float(completed),
            unit="",
            target=float(runs),
            higher_is_better=True,
            digits=0,
        ),
        Figure(
            "sleeping_wake_to_all_done_s",
            "  wake-up moment -> all finished (last step ran)",
            (outputs[-1] - wake_at) if outputs else None,
            unit="s",
            digits=2,
            note=f"(p50 {(outputs[len(outputs) // 2] - wake_at):.2f} s)" if outputs else "",
        ),
        Figure(
            "sleeping_wake_to_seen_done_s",
            "  wake-up moment -> API shows all finished",
            all_done_at - wake_at,
            unit="s",
            digits=2,
        ),
        Figure(
            "sleeping_setup_s",
            f"  starting the {runs:,} runs until all sleep",
            setup,
            unit="s",
            digits=1,
            note="" if all_asleep_before_wake else "(some woke before all slept)",
        ),
        Figure(
            "event_latency_idle_p50_ms",
            "event POST -> first step, nothing sleeping (p50)",
            p50_before,
            target=TARGET_LATENCY_MS,
            digits=2,
            note=f"(p99 {percentile(before, 0.99) * 1000:.2f})",
        ),
        Figure(
            "event_latency_sleeping_p50_ms",
            f"  same with {runs:,} sleeping (p50)",
            p50_during,
            target=TARGET_LATENCY_MS,
            digits=2,
            note=f"(p99 {percentile(during, 0.99) * 1000:.2f}){woke_early}",
        ),
        Figure(
            "event_latency_sleeping_ratio",
            "  sleeping / nothing sleeping: new events no slower",
            p50_during / p50_before,
            unit="x",
            target=TARGET_SLOWDOWN,
            digits=2,
        ),
        Figure(
            "event_latency_after_wake_p50_ms",
            f"  same after the {runs:,} finished (p50)",
            median(after) * 1000,
            digits=2,
        ),
    ]
    return Report(
        "sleeping",
        f"durable: {runs:,} runs sleeping at once through durable dev",
        figures,
        {
            "runs": runs,
            "asleep_at_once": asleep,
            "sleeping_during_event_latency": sleeping_after_events,
            "all_asleep_before_wake": all_asleep_before_wake,
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=50)
    args = parser.parse_args()
    prepare()
    print_report(collect(args.runs, args.events))


if __name__ == "__main__":
    main()
