"""DBOS Transact driven like ``bench/pg_throughput.py`` drives durable: a peer figure.

N concurrent workflows of 3 no-op steps on PostgreSQL, started at once with DBOS's own way to
start many workflows concurrently (``DBOS.start_workflow_async`` on one event loop, async
workflows and async steps, then ``handle.get_result()``), timed from the first start to the
last result. Runs in its own virtualenv (``bench/peers/dbos/run.sh``): DBOS is not a
dependency of durable. Creates a fresh database for its system tables, drops it at the end,
prints one JSON line and writes it to ``result.json`` beside this file (or ``--out``).

    .venv/bin/python peer.py [--runs 1000] [--pg postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import secrets
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from dbos import DBOS, DBOSConfig

HERE = Path(__file__).resolve().parent
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
STEPS = 3


@DBOS.step()
async def noop() -> None:
    return None


@DBOS.workflow()
async def three() -> int:
    for _ in range(STEPS):
        await noop()
    return STEPS


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def drive(runs: int) -> tuple[float, int]:
    """Start ``runs`` workflows concurrently; seconds until the last result, and how many ran."""
    began = time.perf_counter()
    handles = await asyncio.gather(*(DBOS.start_workflow_async(three) for _ in range(runs)))
    results = await asyncio.gather(*(h.get_result() for h in handles))
    return time.perf_counter() - began, sum(1 for r in results if r == STEPS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--pg", default=os.environ.get("DURABLE_TEST_PG") or DEFAULT_PG)
    parser.add_argument("--out", type=Path, default=HERE / "result.json")
    args = parser.parse_args()

    name = f"dbos_bench_{secrets.token_hex(4)}"
    with psycopg.connect(args.pg, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        config: DBOSConfig = {
            "name": "durable-peer-bench",
            "system_database_url": with_database(args.pg, name),
            "log_level": "WARNING",
        }
        DBOS(config=config)
        DBOS.launch()
        try:
            asyncio.run(drive(args.warmup))
            cpu_before = cpu_seconds()
            seconds, completed = asyncio.run(drive(args.runs))
            cpu = cpu_seconds() - cpu_before
        finally:
            DBOS.destroy()
    finally:
        with psycopg.connect(args.pg, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    import dbos

    steps = completed * STEPS
    result = {
        "bench": "dbos_peer",
        "peer": f"DBOS Transact {getattr(dbos, '__version__', '') or _version()}",
        "runs": args.runs,
        "completed": completed,
        "steps_per_s": round(steps / seconds, 1) if completed == args.runs else 0.0,
        "seconds": round(seconds, 3),
        "process_cpu_ms_per_step": round(cpu * 1000 / max(steps, 1), 4),
        "python": platform.python_version(),
        "load_1min": round(os.getloadavg()[0], 2),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    line = json.dumps(result)
    args.out.write_text(line + "\n")
    print(line, flush=True)


def _version() -> str:
    from importlib.metadata import version

    return version("dbos")


if __name__ == "__main__":
    main()
