"""Hot reload through ``durable dev``: save a new version of a module -> the new code is live.

Starts ``durable dev`` watching a project with one module whose function returns its version.
Each round writes the next version of the module and measures, from just before the write:

* until ``/health`` counts one more reload (the server swapped in a worker with the new code);
* until a run of the new code is observed: events are sent every 20 ms, and the figure is the
  time at which the first run whose output carries the new version executed its step (the
  step body reads ``time.time()``).

Prints a table (median and worst of the rounds) and one JSON line.

    python bench/hot_reload.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import _repo  # noqa: F401  (puts the repository root on sys.path for tests.support)
from _common import Figure, Report, median, prepare, print_report

from tests.support.harness import DevProcess, wait_for

TARGET_S = 0.3  # SPEC section 6, "target now"

APP = textwrap.dedent(
    """
    import time
    from durable import Durable

    app = Durable(id="bench")
    VERSION = {version}

    def stamp():
        return [VERSION, time.time()]

    @app.function(id="hello", triggers=[{{"event": "bench/hello"}}])
    async def hello(ctx):
        return await ctx.step.run("stamp", stamp)
    """
)


def write(path: Path, version: int) -> None:
    """Write the module in one go (as an editor's atomic save would)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(APP.format(version=version))
    tmp.replace(path)


def first_run_of(dev: DevProcess, version: int) -> float | None:
    """When the first run of ``version`` executed its step, if one has finished."""
    times = []
    for run in dev.get("/api/runs", function="hello", limit=100)["runs"]:
        output: Any = run.get("output")
        if run["status"] == "completed" and output and output[0] == version:
            times.append(float(output[1]))
    return min(times) if times else None


def collect(rounds: int = 5) -> Report:
    to_reload, to_live = [], []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        module = root / "app.py"
        write(module, 0)
        dev = DevProcess(root, root, reload=True).start()
        try:
            dev.send({"name": "bench/hello"})
            wait_for(lambda: first_run_of(dev, 0), 30, "version 0 to run", interval=0.02)
            for version in range(1, rounds + 1):
                reloads = dev.get("/health").get("reloads", 0)
                time.sleep(0.3)  # let the watcher settle after the previous round
                saved = time.time()
                write(module, version)
                reloaded_at = None
                live_at = None
                deadline = saved + 10
                while time.time() < deadline and live_at is None:
                    if reloaded_at is None and dev.get("/health").get("reloads", 0) > reloads:
                        reloaded_at = time.time()
                    dev.send({"name": "bench/hello"})
                    time.sleep(0.02)
                    live_at = first_run_of(dev, version)
                if live_at is None:
                    raise TimeoutError(f"version {version} never ran:\n{dev.output()[-2000:]}")
                if reloaded_at is None:
                    reloaded_at = wait_for(
                        lambda: (
                            dev.get("/health").get("reloads", 0) > reloads  # noqa: B023
                            and time.time()
                        ),
                        10,
                        "the reload counter",
                        interval=0.01,
                    )
                to_reload.append(reloaded_at - saved)
                to_live.append(live_at - saved)
            health = dev.get("/health")
        finally:
            dev.stop()
    figures = [
        Figure(
            "hot_reload_live_s",
            "hot reload: save -> a run of the new code executes (median)",
            median(to_live),
            unit="s",
            target=TARGET_S,
            digits=3,
        ),
        Figure("hot_reload_live_worst_s", f"  worst of {rounds}", max(to_live), "s", digits=3),
        Figure(
            "hot_reload_counter_s",
            "  save -> /health counts the reload (median)",
            median(to_reload),
            unit="s",
            digits=3,
        ),
        Figure(
            "hot_reload_server_ms",
            "  the server's own reload time (last, /health last_reload_ms)",
            float(health.get("last_reload_ms") or 0.0),
            digits=0,
        ),
    ]
    title = f"durable: hot reload ({rounds} saves)"
    return Report("hot_reload", title, figures, {"rounds": rounds})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    prepare()
    print_report(collect(args.rounds))


if __name__ == "__main__":
    main()
