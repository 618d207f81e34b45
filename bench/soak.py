"""``make soak``: kill -9 a busy ``durable dev`` at random moments, then audit every run.

    python bench/soak.py [--cycles 20] [--runs 200] [--seed 0]

Prints a table and one JSON line; exits 1 if anything was lost or re-run after its commit.
"""

from __future__ import annotations

import argparse
import json
import sys

import _repo  # noqa: F401  (puts the repository root on sys.path for tests.support)
from _soak import soak
from rich.console import Console
from rich.table import Table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    report = soak(args.cycles, args.runs, seed=args.seed)
    figures = report.to_dict()
    table = Table(title=f"durable: kill -9 soak, {args.cycles} cycles over {args.runs} runs")
    for column in ("measure", "value", "target"):
        table.add_column(column)
    table.add_row("lost events", str(figures["lost_events"]), "0")
    table.add_row("lost runs", str(figures["lost_runs"]), "0")
    table.add_row("duplicate runs", str(figures["duplicate_runs"]), "0")
    table.add_row("runs not completed with all steps", str(figures["incomplete_runs"]), "0")
    table.add_row("committed steps re-executed", str(figures["committed_steps_reexecuted"]), "0")
    table.add_row(
        "in-flight step bodies re-executed",
        str(figures["in_flight_steps_reexecuted"]),
        f"<= {figures['reexecution_bound']}",
    )
    table.add_row("runs caught unfinished by a kill", str(figures["interrupted_runs"]), "")
    table.add_row("wall time", f"{figures['seconds']} s", "")
    Console().print(table)
    print(json.dumps({"bench": "soak", **figures}))
    for problem in report.problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
