"""``make bench``: run every measurement and print ONE table (figure, measured, target, ✔/✖)
and ONE JSON line.

The in-process measurements run here; those through ``durable dev`` start their own server
subprocesses (tests/support/harness.py). Each bench script also runs on its own and prints its
own table and JSON line. Other bench/*.py scripts (not soak.py) run as subprocesses; their JSON
figures are shown without targets. Exit status 0 even when a target is missed.

    python bench/all.py [--only step_overhead,restart] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import event_matching
import flow_control
import hot_reload
import pg_throughput
import restart
import server_overhead
import sleeping
import step_overhead
from _common import Figure, Report, console, load_average, prepare
from rich.table import Table

#: name -> (full run, quick run); quick is for trying the bench itself, not for figures.
BENCHES: dict[str, tuple[Callable[[], Report], Callable[[], Report]]] = {
    "step_overhead": (step_overhead.collect, lambda: step_overhead.collect(3, 100)),
    "event_matching": (event_matching.collect, lambda: event_matching.collect(1000, 100)),
    "server_overhead": (server_overhead.collect, lambda: server_overhead.collect(200, 20, 200)),
    "sleeping": (sleeping.collect, lambda: sleeping.collect(500, 10)),
    "restart": (restart.collect, lambda: restart.collect(20, 1)),
    "hot_reload": (hot_reload.collect, lambda: hot_reload.collect(2)),
    "flow_control": (flow_control.collect, lambda: flow_control.collect(1000)),
    # One "skipped: ..." row when PostgreSQL (DURABLE_TEST_PG) or psycopg is missing.
    "pg_throughput": (
        pg_throughput.collect,
        lambda: pg_throughput.collect(200, (1, 2), warmup=20, run_peer=False),
    ),
}


HERE = Path(__file__).resolve().parent
#: Not part of ``make bench``: the soaks have their own targets (make soak, make soak-pg).
SKIPPED = {"all.py", "soak.py", "soak_pg.py"}


def other_scripts() -> list[Path]:
    """bench/*.py scripts this file does not know: run as subprocesses, figures shown as-is."""
    known = {f"{name}.py" for name in BENCHES} | SKIPPED
    return sorted(
        p for p in HERE.glob("*.py") if p.name not in known and not p.name.startswith("_")
    )


def run_script(script: Path) -> Report:
    """Run a bench script on its own; its last JSON line becomes informative figures."""
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=HERE.parent
    )
    name = script.stem
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        figure = Figure(f"{name}_failed", f"{script.name} failed: {tail[0][:80]}", None, "")
        return Report(name, script.name, [figure])
    values = json.loads(lines[-1])
    figures = [
        Figure(
            f"{name}.{key}",
            f"{script.name}: {key}",
            float(value),
            "",
            digits=0 if float(value).is_integer() else 3,
        )
        for key, value in values.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    ]
    return Report(name, script.name, figures)


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GB"
                break
    except OSError:
        pass
    return {
        "cpus": str(os.cpu_count()),
        "cpu": cpu,
        "ram": ram,
        "python": platform.python_version(),
        "load_1min_at_start": load_average(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated bench names")
    parser.add_argument("--quick", action="store_true", help="small sizes, to try the bench")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(BENCHES)
    unknown = set(names) - set(BENCHES)
    if unknown:
        parser.error(
            f"unknown bench(es): {', '.join(sorted(unknown))}; known: {', '.join(BENCHES)}"
        )
    prepare()
    about = machine()
    reports: list[Report] = []
    began = time.perf_counter()
    for name in names:
        full, quick = BENCHES[name]
        print(f"== {name} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        reports.append(quick() if args.quick else full())
        print(f"   {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    for script in [] if args.only else other_scripts():
        print(f"== {script.name} (subprocess) ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        reports.append(run_script(script))
        print(f"   {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - began

    title = (
        f"durable benchmarks: {about['cpus']} x {about['cpu']}, {about['ram']} RAM, "
        f"Python {about['python']}, load {about['load_1min_at_start']} at start"
        + (" (QUICK: not the real sizes)" if args.quick else "")
    )
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("measured", justify="right")
    table.add_column("target")
    table.add_column("", justify="center")
    for report in reports:
        for figure in report.figures:
            table.add_row(figure.label, figure.measured, figure.wanted, figure.mark)
        table.add_section()
    console().print(table)

    missed = [f.key for r in reports for f in r.figures if f.ok is False]
    line: dict[str, object] = {"bench": "all", "machine": about, "seconds": round(seconds, 1)}
    for report in reports:
        line.update({f.key: report.json()[f.key] for f in report.figures})
    line["missed"] = missed
    line["details"] = {r.bench: {k: r.json()[k] for k in r.extra} for r in reports}
    line["targets_met"] = not missed
    print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
