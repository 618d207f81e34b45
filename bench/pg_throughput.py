"""Steps/s and CPU per step of ``durable start`` on PostgreSQL, beside DBOS Transact's.

For 1, 2 and 3 servers (``durable start --workers 1``) sharing one fresh PostgreSQL database
(a new one per server count, dropped at the end): a warm-up, then ``--runs`` events (each
starting a run of 3 no-op steps) spread round-robin over the servers in batches of 500. Timed
from just before the first ``POST /api/events`` to the last run's ``ended_at`` (same machine,
same clock); completion is watched in the database, not through the API, so the watching
costs the servers nothing. CPU per step is read from /proc: the servers' process groups (the
server process and its worker processes), and the PostgreSQL backends connected to the
bench's database (readable when /proc shows other users' processes; the table says when it
is not). PostgreSQL's own background processes (WAL writer, checkpointer) are not counted.

The DBOS Transact peer (``bench/peers/dbos``, its own virtualenv made by ``run.sh`` or
``make bench-peers``) runs the same workload; when its venv exists it is run here, in the
same bench run, else its last ``result.json`` is used if present. The ratio is shown beside
the SPEC target (>= 3x DBOS).

Needs PostgreSQL at ``DURABLE_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432/
postgres``, a user that may create databases) and psycopg (``pip install -e '.[postgres]'``);
without them it prints one "skipped: ..." row.

    python bench/pg_throughput.py [--runs 1000] [--servers 1,2,3] [--workers 1] [--no-peer]
                                  [--profile DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _repo  # noqa: F401  (puts the repository root on sys.path for tests.support)
import httpx
from _common import Figure, Report, load_average, prepare, print_report, three_steps_app

from tests.support.harness import free_port, wait_for
from tests.support.pg_server import ENV, server_url, unavailable, with_database

HERE = Path(__file__).resolve().parent
PEER = HERE / "peers" / "dbos"
STEPS = 3
TARGETS = {"steps_per_s": 2500, "vs_dbos": 3.0}
TICKS = os.sysconf("SC_CLK_TCK")

APP = three_steps_app("pgbench")


# -- PostgreSQL -------------------------------------------------------------------------------


@contextlib.contextmanager
def fresh_database(url: str) -> Iterator[tuple[str, str]]:
    """Create ``durable_bench_<random>``; yield (its name, its URL); drop it after."""
    import psycopg

    name = f"durable_bench_{secrets.token_hex(4)}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name, with_database(url, name)
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Watcher:
    """Counts ended runs straight from the database (costs the servers nothing)."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.conn = psycopg.connect(url, autocommit=True)

    def ended(self) -> tuple[int, int, float | None]:
        """(runs ended, of them completed, the latest ``ended_at``)."""
        row = self.conn.execute(
            "SELECT count(*) FILTER (WHERE status IN ('completed', 'failed', 'cancelled')),"
            " count(*) FILTER (WHERE status = 'completed'), max(ended_at) FROM runs"
        ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1]), row[2]

    def close(self) -> None:
        self.conn.close()


# -- CPU from /proc ---------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def cpu_ticks(pid: int) -> int | None:
    """utime + stime of ``pid`` in clock ticks (fields 14 and 15 of /proc/<pid>/stat)."""
    fields = _stat(pid)
    return None if fields is None else int(fields[11]) + int(fields[12])


def group_members(pgid: int) -> list[int]:
    """Processes in process group ``pgid`` (a server and its workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[2]) == pgid:
                found.append(int(entry.name))
    return found


def backends_of(database: str) -> list[int] | None:
    """PostgreSQL backends connected to ``database`` (None: /proc does not show them)."""
    found, seen_postgres = [], False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if command.startswith("postgres"):
            seen_postgres = True
            # "postgres: [15/main: ]user database host(port) state"
            words = command.split()
            if words[:1] == ["postgres:"] and len(words) > 1 and words[1].endswith(":"):
                words = words[1:]
            if len(words) >= 3 and words[2] == database:
                found.append(int(entry.name))
    return found if seen_postgres else None


@dataclass
class CpuSnapshot:
    """Ticks per pid, for the servers' processes and the database's backends."""

    servers: dict[int, int]
    workers: dict[int, int]
    backends: dict[int, int] | None


def snapshot(server_pids: list[int], database: str) -> CpuSnapshot:
    servers: dict[int, int] = {}
    workers: dict[int, int] = {}
    for pid in server_pids:
        for member in group_members(pid):
            ticks = cpu_ticks(member)
            if ticks is not None:
                (servers if member == pid else workers)[member] = ticks
    pids = backends_of(database)
    backends = None
    if pids is not None:
        backends = {p: t for p in pids if (t := cpu_ticks(p)) is not None}
    return CpuSnapshot(servers, workers, backends)


def _spent(before: dict[int, int], after: dict[int, int]) -> float:
    """CPU seconds between two snapshots (a pid new in ``after`` started from 0)."""
    return sum(ticks - before.get(pid, 0) for pid, ticks in after.items()) / TICKS


# -- servers ----------------------------------------------------------------------------------


class Server:
    """One ``durable start`` process (its own process group) on the shared database."""

    def __init__(self, folder: Path, db_url: str, workers: int, profile: Path | None) -> None:
        self.port = free_port()
        self.log = folder / f"server-{self.port}.log"
        command = [sys.executable, "-m", "durable.cli.main"]
        if profile is not None:  # CPU time of the server process (not its workers)
            out = profile / f"server-{self.port}.prof"
            command = [sys.executable, str(HERE / "_profile_server.py"), str(out)]
        self.args = [
            *command, "start", str(folder / "app.py"),
            "--port", str(self.port), "--db", db_url, "--workers", str(workers),
        ]  # fmt: skip
        self.folder = folder
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> Server:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.args,
                cwd=self.folder,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_for(lambda: self.client.get("/health").status_code == 200, 60, "/health")
        except TimeoutError:
            self.stop()
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"durable start did not answer /health:\n{tail}") from None
        return self

    def send(self, count: int) -> None:
        response = self.client.post("/api/events", json=[{"name": "bench/three"}] * count)
        response.raise_for_status()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.client.close()


@dataclass
class Measure:
    """One configuration's result."""

    servers: int
    runs: int
    completed: int
    seconds: float
    server_cpu: float
    worker_cpu: float
    backend_cpu: float | None

    @property
    def steps_per_s(self) -> float:
        return self.runs * STEPS / self.seconds if self.completed == self.runs else 0.0

    def per_step_ms(self, cpu: float | None) -> float | None:
        return None if cpu is None else cpu * 1000 / max(self.completed * STEPS, 1)


def spread(servers: list[Server], runs: int, batch: int = 500) -> None:
    """Send ``runs`` events over the servers, round-robin, in batches of at most ``batch``."""
    sent, turn = 0, 0
    while sent < runs:
        count = min(batch, runs - sent)
        servers[turn % len(servers)].send(count)
        sent, turn = sent + count, turn + 1


def wait_ended(watcher: Watcher, total: int, timeout: float) -> tuple[int, int, float | None]:
    """Poll the database until ``total`` runs have ended (or time out)."""
    deadline = time.monotonic() + timeout
    while True:
        ended = watcher.ended()
        if ended[0] >= total or time.monotonic() > deadline:
            return ended
        time.sleep(0.02)


def measure(
    url: str, count: int, runs: int, workers: int, warmup: int, profile: Path | None
) -> Measure:
    """Start ``count`` servers on a fresh database; warm up; time ``runs`` runs."""
    with tempfile.TemporaryDirectory() as tmp, fresh_database(url) as (name, db_url):
        folder = Path(tmp)
        (folder / "app.py").write_text(APP)
        servers: list[Server] = []
        watcher = Watcher(db_url) if count else None
        try:
            for _ in range(count):
                # One at a time: the first runs the migrations under the advisory lock.
                servers.append(Server(folder, db_url, workers, profile).start())
            assert watcher is not None
            spread(servers, warmup, max(1, warmup // count))
            wait_ended(watcher, warmup, 120)
            pids = [s.pid for s in servers]
            before = snapshot(pids, name)
            began = time.time()
            spread(servers, runs)
            _, completed, last = wait_ended(watcher, warmup + runs, 600)
            after = snapshot(pids, name)
            seconds = (last if last is not None else time.time()) - began
            backend_cpu = None
            if before.backends is not None and after.backends is not None:
                backend_cpu = _spent(before.backends, after.backends)
            return Measure(
                count,
                runs,
                completed - warmup,
                seconds,
                _spent(before.servers, after.servers),
                _spent(before.workers, after.workers),
                backend_cpu,
            )
        finally:
            for server in servers:
                server.stop()
            if watcher is not None:
                watcher.close()


# -- the DBOS peer ----------------------------------------------------------------------------


def peer_result(runs: int, run_peer: bool) -> tuple[dict[str, Any] | None, str]:
    """The DBOS peer's figures (run now when its venv exists), and where they came from."""
    result = PEER / "result.json"
    python = PEER / ".venv" / "bin" / "python"
    if run_peer and python.exists():
        peer = [str(PEER / "peer.py"), "--runs", str(runs), "--mode", "best"]
        try:
            done = subprocess.run(
                [str(python), *peer, "--pg", server_url()],
                capture_output=True,
                text=True,
                timeout=900,
            )
        except subprocess.TimeoutExpired:
            return None, "the DBOS peer took more than 900 s"
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            return None, f"the DBOS peer failed: {tail[0][:100]}"
        return json.loads(result.read_text()), "run now"
    if result.exists():
        data = json.loads(result.read_text())
        return data, f"from {result.name}, {data.get('measured_at', '?')}"
    return None, "no DBOS figure: run bench/peers/dbos/run.sh (or make bench-peers) first"


# -- the report -------------------------------------------------------------------------------


def skipped(reason: str) -> Report:
    """One informative row saying why nothing was measured."""
    figure = Figure("pg_throughput_skipped", f"PostgreSQL throughput skipped: {reason}", None)
    return Report("pg_throughput", "durable start on PostgreSQL", [figure], {"skipped": reason})


def collect(
    runs: int = 1000,
    counts: tuple[int, ...] = (1, 2, 3),
    workers: int = 1,
    warmup: int = 60,
    run_peer: bool = True,
    profile: Path | None = None,
) -> Report:
    url = server_url()
    problem = unavailable(url)
    if problem is not None:
        return skipped(f"{problem}; set {ENV}")
    load = load_average()
    import psycopg

    try:
        measures = [measure(url, n, runs, workers, warmup, profile) for n in counts]
    except (RuntimeError, TimeoutError, OSError, httpx.HTTPError, psycopg.Error) as exc:
        # One failed row (a missed target), not a crash of the whole `make bench`.
        why = str(exc).strip().splitlines()[0][:100] if str(exc).strip() else type(exc).__name__
        figure = Figure(
            "pg_steps_per_s_1",
            f"PostgreSQL throughput failed: {why}",
            None,
            unit="",
            target=TARGETS["steps_per_s"],
            higher_is_better=True,
        )
        return Report("pg_throughput", "durable start on PostgreSQL", [figure], {"failed": why})
    peer, peer_source = peer_result(runs, run_peer)
    figures: list[Figure] = []
    extra: dict[str, Any] = {"runs": runs, "workers": workers, "load_1min_at_start": load}
    for m in measures:
        label = f"{m.servers} server{'s' if m.servers > 1 else ''}"
        done = f"({m.seconds:.2f} s)" if m.completed == m.runs else f"({m.completed} completed)"
        figures.append(
            Figure(
                f"pg_steps_per_s_{m.servers}",
                f"steps/s, {runs:,} concurrent runs x 3 no-op steps, {label} on PostgreSQL"
                f" (--workers {workers})",
                m.steps_per_s,
                unit="",
                target=TARGETS["steps_per_s"] if m.servers == 1 else None,
                higher_is_better=True,
                digits=0,
                note=done,
            )
        )
        backend = m.per_step_ms(m.backend_cpu)
        figures.append(
            Figure(
                f"pg_cpu_ms_per_step_{m.servers}",
                f"  CPU per step: server processes + workers + PostgreSQL backends ({label})",
                m.per_step_ms(m.server_cpu + m.worker_cpu + (m.backend_cpu or 0.0)),
                note=(
                    f"({m.per_step_ms(m.server_cpu):.3f} + {m.per_step_ms(m.worker_cpu):.3f} + "
                    + (f"{backend:.3f})" if backend is not None else "backends not readable)")
                ),
            )
        )
        extra[f"server_cpu_ms_per_step_{m.servers}"] = m.per_step_ms(m.server_cpu)
        extra[f"worker_cpu_ms_per_step_{m.servers}"] = m.per_step_ms(m.worker_cpu)
        extra[f"backend_cpu_ms_per_step_{m.servers}"] = backend
    ours = measures[0].steps_per_s if measures and measures[0].servers == 1 else None
    if peer is not None:
        theirs = float(peer.get("steps_per_s") or 0.0)
        extra["dbos_steps_per_s"] = theirs
        extra["dbos_source"] = peer_source
        figures.append(
            Figure(
                "pg_dbos_steps_per_s",
                f"  {peer.get('peer', 'DBOS')}: same workload, same PostgreSQL ({peer_source})",
                theirs,
                unit="",
                digits=0,
                note=f"({peer.get('seconds', '?')} s, mode {peer.get('mode', '?')})",
            )
        )
        if peer.get("process_cpu_ms_per_step") is not None:
            figures.append(
                Figure(
                    "pg_dbos_cpu_ms_per_step",
                    "    DBOS CPU per step: its process only (backends not counted)",
                    float(peer["process_cpu_ms_per_step"]),
                )
            )
        if ours is not None:
            figures.append(
                Figure(
                    "pg_vs_dbos",
                    "  durable (1 server) / DBOS, steps/s"
                    + ("" if peer.get("runs") == runs else f" (DBOS: {peer.get('runs')} runs)"),
                    ours / theirs if theirs else None,
                    unit="x",
                    target=TARGETS["vs_dbos"],
                    higher_is_better=True,
                    digits=2,
                )
            )
    else:
        figures.append(Figure("pg_dbos_missing", f"  DBOS peer: {peer_source}", None))
        extra["dbos_source"] = peer_source
    title = f"durable start on PostgreSQL (load {load} at start)"
    return Report("pg_throughput", title, figures, extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--servers", default="1,2,3", help="server counts, e.g. 1,2,3")
    parser.add_argument("--workers", type=int, default=1, help="--workers of each server")
    parser.add_argument("--warmup", type=int, default=60)
    parser.add_argument("--no-peer", action="store_true", help="do not run the DBOS peer now")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="cProfile (CPU time) each server process into DIR/server-PORT.prof",
    )
    args = parser.parse_args()
    counts = tuple(int(n) for n in args.servers.split(",") if n.strip())
    if not counts or min(counts) < 1:
        parser.error(f"--servers must list counts >= 1, got {args.servers!r}")
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    prepare()
    print_report(
        collect(args.runs, counts, args.workers, args.warmup, not args.no_peer, args.profile)
    )


if __name__ == "__main__":
    main()
