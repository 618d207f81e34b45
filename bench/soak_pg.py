"""``make soak-pg``: three servers on one PostgreSQL, one killed, one paused; audit every run.

    python bench/soak_pg.py [--runs 200] [--seed 0] [--pg postgresql://postgres@127.0.0.1/postgres]

Creates a fresh database on that server (``DURABLE_TEST_PG`` by default), drops it at the end.
Prints a table and one JSON line; exits 1 if anything was lost, doubled or re-run that should
not have been.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid

import _repo  # noqa: F401  (puts the repository root on sys.path for tests.support)
import psycopg
from _soak_pg import soak_servers
from rich.console import Console
from rich.table import Table

from tests.support.pg_server import server_url, with_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pg", default=server_url())
    args = parser.parse_args()
    name = f"durable_soak_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.pg, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = with_database(args.pg, name)
        report = soak_servers(url, args.runs, seed=args.seed)
    finally:
        if os.environ.get("SOAK_KEEP_DB"):  # to look into a failed soak: say where it is
            print(f"kept the database {name}", file=sys.stderr)
        else:
            with psycopg.connect(args.pg, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    figures = report.to_dict()
    table = Table(title=f"durable: 3 servers on one PostgreSQL, {args.runs} runs")
    for column in ("measure", "value", "target"):
        table.add_column(column)
    for key in (
        "lost_runs",
        "duplicate_runs",
        "duplicate_children",
        "incomplete_runs",
        "waits_timed_out",
        "committed_steps_reexecuted",
        "reexecuted_otherwise",
    ):
        table.add_row(key.replace("_", " "), str(figures[key]), "0")
    table.add_row(
        "step bodies re-run after the kill or pause",
        str(figures["reexecuted_after_kill_or_pause"]),
        "",
    )
    table.add_row(
        "paused server stopped by itself", str(figures["paused_server_stopped_by_itself"]), "True"
    )
    table.add_row("server command", f"durable {figures['command']}", "")
    table.add_row("wall time", f"{figures['seconds']} s", "")
    Console().print(table)
    print(json.dumps({"bench": "soak-pg", **figures}))
    for problem in report.problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    for detail in report.details:
        print(f"  {detail}", file=sys.stderr)
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
