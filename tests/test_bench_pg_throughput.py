"""``bench/pg_throughput.py`` runs on a real PostgreSQL (a tiny size), and without one it
prints one "skipped: ..." row instead of failing ``make bench``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.pg_server import ENV
from tests.support.postgres import require_postgres

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "pg_throughput.py"


def run(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run the bench from another directory; its JSON line."""
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=tmp_path,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, done.stdout
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def bench_databases(url: str) -> set[str]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'durable\\_bench\\_%'"
        ).fetchall()
    return {str(name) for (name,) in rows}


def test_without_postgresql_it_prints_a_skipped_row(tmp_path: Path) -> None:
    result = run(tmp_path, "--no-peer", env={ENV: "postgresql://postgres@127.0.0.1:1/postgres"})
    assert result["bench"] == "pg_throughput"
    assert "unreachable" in result["skipped"] and ENV in result["skipped"]
    assert result["targets_met"] is True  # a skipped row is not a missed target


def test_it_measures_one_and_two_servers_and_drops_its_databases(tmp_path: Path) -> None:
    url = require_postgres()
    before = bench_databases(url)
    result = run(tmp_path, "--runs", "40", "--servers", "1,2", "--warmup", "4", "--no-peer")
    for servers in (1, 2):
        assert result[f"pg_steps_per_s_{servers}"] > 0, result  # every run completed
        assert result[f"server_cpu_ms_per_step_{servers}"] > 0
        assert (
            result[f"pg_cpu_ms_per_step_{servers}"] >= result[f"server_cpu_ms_per_step_{servers}"]
        )
    assert "dbos_source" in result
    assert bench_databases(url) <= before
