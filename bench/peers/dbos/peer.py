"""DBOS Transact driven like ``bench/pg_throughput.py`` drives durable: a peer figure.

N concurrent workflows of 3 no-op steps on PostgreSQL, started at once, timed from the first
start to the last result, in three ways DBOS documents: ``--mode async`` starts async
workflows (async steps) with ``DBOS.start_workflow_async`` on one event loop, then awaits
``handle.get_result()``; ``--mode threads`` starts sync workflows with ``DBOS.start_workflow``
(DBOS runs each on its thread pool); ``--mode queue`` enqueues them on a queue
(``DBOS.register_queue``, polled every 20 ms) that this process dequeues. ``--mode best`` (the
default) runs all three, each on a fresh database, and reports the fastest: the ratio never
flatters durable.

Runs in its own virtualenv (``bench/peers/dbos/run.sh``): DBOS is not a dependency of durable.
Creates a fresh database for its system tables, drops it at the end, prints one JSON line
and writes it to ``result.json`` beside this file (or ``--out``).

    .venv/bin/python peer.py [--runs 1000] [--mode async|threads|queue|best] [--pg postgresql://postgres@127.0.0.1:5432/postgres]
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
MODES = ("async", "threads", "queue")
QUEUE = "durable_peer_bench"


@DBOS.step()
async def noop() -> None:
    return None


@DBOS.workflow()
async def three() -> int:
    for _ in range(STEPS):
        await noop()
    return STEPS


@DBOS.step()
def noop_sync() -> None:
    return None


@DBOS.workflow()
def three_sync() -> int:
    for _ in range(STEPS):
        noop_sync()
    return STEPS


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def drive_async(runs: int) -> list[int]:
    handles = await asyncio.gather(*(DBOS.start_workflow_async(three) for _ in range(runs)))
    return list(await asyncio.gather(*(h.get_result() for h in handles)))


def drive(mode: str, runs: int) -> tuple[float, int]:
    """Start ``runs`` workflows concurrently; seconds until the last result, and how many ran."""
    began = time.perf_counter()
    if mode == "async":
        results = asyncio.run(drive_async(runs))
    elif mode == "threads":
        handles = [DBOS.start_workflow(three_sync) for _ in range(runs)]
        results = [h.get_result() for h in handles]
    else:
        queue = DBOS.retrieve_queue(QUEUE)
        handles = [queue.enqueue(three_sync) for _ in range(runs)]
        results = [h.get_result() for h in handles]
    return time.perf_counter() - began, sum(1 for r in results if r == STEPS)


def measure(mode: str, runs: int, warmup: int, pg: str) -> dict[str, float]:
    """One mode on a fresh database (dropped after): its figures."""
    name = f"dbos_bench_{secrets.token_hex(4)}"
    with psycopg.connect(pg, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        config: DBOSConfig = {
            "name": "durable-peer-bench",
            "system_database_url": with_database(pg, name),
            "log_level": "WARNING",
        }
        DBOS(config=config)
        DBOS.launch()
        try:
            if mode == "queue":  # polled every 20 ms (default 1 s): no idle wait in the figure
                DBOS.register_queue(QUEUE, polling_interval_sec=0.02)
            drive(mode, warmup)
            cpu_before = cpu_seconds()
            seconds, completed = drive(mode, runs)
            cpu = cpu_seconds() - cpu_before
        finally:
            DBOS.destroy()
    finally:
        with psycopg.connect(pg, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    steps = completed * STEPS
    return {
        "completed": completed,
        "seconds": round(seconds, 3),
        "steps_per_s": round(steps / seconds, 1) if completed == runs else 0.0,
        "process_cpu_ms_per_step": round(cpu * 1000 / max(steps, 1), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--pg", default=os.environ.get("DURABLE_TEST_PG") or DEFAULT_PG)
    parser.add_argument("--mode", choices=[*MODES, "best"], default="best")
    parser.add_argument("--out", type=Path, default=HERE / "result.json")
    args = parser.parse_args()

    modes = MODES if args.mode == "best" else (args.mode,)
    by_mode = {mode: measure(mode, args.runs, args.warmup, args.pg) for mode in modes}
    best = max(modes, key=lambda mode: by_mode[mode]["steps_per_s"])

    result: dict[str, object] = {
        "bench": "dbos_peer",
        "peer": f"DBOS Transact {_version()}",
        "runs": args.runs,
        "mode": best,
        **by_mode[best],
        "modes": {mode: by_mode[mode]["steps_per_s"] for mode in modes},
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
