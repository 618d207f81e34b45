"""The multi-server soak: three servers on one PostgreSQL, one killed, one paused; then audit.

Run by ``bench/soak_pg.py`` (``make soak-pg``). Three servers (``durable start`` where it
exists, else ``durable dev --no-tui``) share one fresh PostgreSQL database. Events are spread
over them, some ids sent to two servers at once; runs take concurrency keys, sleep, wait for an
event the driver sends once the wait is registered, and invoke a child function. Mid-way the
driver ``kill -9``s one server's process group and ``SIGSTOP``s another past ``dead_after``
(then ``SIGCONT``: it must find itself reaped and stop by itself). Every step body appends
``(run, step, server, token)`` to a ledger. The audit proves: one run per event id, every run
completed, every committed step's output is its body's last execution, and a step body ran
more than once only where an earlier execution was on the killed or the paused server.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.harness import TERMINAL, free_port, wait_for

STEPS = 4
GROUPS = 4
LIMIT = 3
DEAD_AFTER = 2.0

APP = textwrap.dedent(
    f"""
    import os, uuid
    from pathlib import Path
    from durable import Durable

    app = Durable(id="soak")
    LEDGER = Path(os.environ["SOAK_LEDGER"])
    SERVER = os.environ["SOAK_SERVER"]

    def work(n, key):
        token = uuid.uuid4().hex
        with LEDGER.open("a") as f:
            f.write(f"{{n}} {{key}} {{SERVER}} {{token}}\\n")
        return token

    @app.function(id="child", triggers=[{{"event": "soak/child"}}], backoff=["50ms"])
    async def child(ctx):
        return await ctx.step.run("c0", work, ctx.event.data["n"], "c0")

    @app.function(
        id="job",
        triggers=[{{"event": "soak/job"}}],
        concurrency={{"limit": {LIMIT}, "key": "event.data.group"}},
        backoff=["50ms"],
    )
    async def job(ctx):
        n = ctx.event.data["n"]
        tokens = []
        for i in range({STEPS}):
            tokens.append(await ctx.step.run(f"s{{i}}", work, n, f"s{{i}}"))
            if i == 1:
                await ctx.step.sleep("rest", "100ms")
            if i == 2 and n % 4 == 0:
                got = await ctx.step.wait_for_event(
                    "go", event="soak/go", timeout="300s", if_="async.data.n == event.data.n"
                )
                tokens.append("matched" if got is not None else "timed out")
            if i == 2 and n % 5 == 0:
                tokens.append(await ctx.step.invoke("child", function=child, data={{"n": n}}))
        return tokens
    """
)


@dataclass
class MultiSoakReport:
    """What the audit found."""

    servers: int
    runs: int
    seconds: float = 0.0
    command: str = ""
    lost_runs: int = 0
    duplicate_runs: int = 0
    duplicate_children: int = 0
    incomplete_runs: int = 0
    waits_timed_out: int = 0
    committed_reexecuted: int = 0
    reexecuted_by_faulted: int = 0
    reexecuted_otherwise: int = 0
    paused_server_stopped: bool = False
    problems: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)  #: which runs and steps, for a problem

    @property
    def ok(self) -> bool:
        """True when nothing was lost, duplicated or re-run that should not have been."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "servers": self.servers,
            "runs": self.runs,
            "command": self.command,
            "seconds": round(self.seconds, 2),
            "lost_runs": self.lost_runs,
            "duplicate_runs": self.duplicate_runs,
            "duplicate_children": self.duplicate_children,
            "incomplete_runs": self.incomplete_runs,
            "waits_timed_out": self.waits_timed_out,
            "committed_steps_reexecuted": self.committed_reexecuted,
            "reexecuted_after_kill_or_pause": self.reexecuted_by_faulted,
            "reexecuted_otherwise": self.reexecuted_otherwise,
            "paused_server_stopped_by_itself": self.paused_server_stopped,
            "ok": self.ok,
        }


def has_start_command() -> bool:
    """Whether this durable has ``durable start`` (else the soak uses ``durable dev``)."""
    probe = [sys.executable, "-m", "durable.cli.main", "start", "--help"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


class Server:
    """One server process (its own process group) on the shared database."""

    def __init__(self, name: str, folder: Path, db_url: str, ledger: Path, start: bool) -> None:
        self.name = name
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = ["start", "--workers", "1"] if start else ["dev", "--no-tui", "--no-reload"]
        self.args = [
            sys.executable, "-m", "durable.cli.main", *command, str(folder / "app.py"),
            "--port", str(self.port), "--db", db_url, "--dead-after", str(DEAD_AFTER),
        ]  # fmt: skip
        self.env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "SOAK_LEDGER": str(ledger),
            "SOAK_SERVER": name,
        }
        self.client = httpx.Client(base_url=self.url, timeout=10)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        with (self.folder / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                self.args,
                cwd=self.folder,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(lambda: self.client.get("/health").status_code == 200, 30, f"{self.name} up")
        return self

    def send(self, events: list[dict[str, Any]]) -> bool:
        try:
            return self.client.post("/api/events", json=events).status_code == 200
        except httpx.HTTPError:
            return False

    def signal(self, signum: int) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signum)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                assert self.process is not None
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
        self.client.close()


def _get(server: Server, path: str, **params: Any) -> Any:
    response = server.client.get(path, params=params)
    response.raise_for_status()
    return response.json()


def _all_runs(server: Server, function: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    cursor = None
    while True:
        extra = {"cursor": cursor} if cursor else {}
        page = _get(server, "/api/runs", function=function, limit=500, **extra)
        runs.extend(page["runs"])
        cursor = page.get("cursor")
        if not cursor:
            return runs


def _waiting_for_go(server: Server, answered: set[int]) -> list[int]:
    """The ``n`` of runs parked on their ``go`` wait that the driver has not answered."""
    found = []
    for summary in _all_runs(server, "job"):
        n = summary["event"]["data"]["n"]
        if n % 4 or n in answered or summary["status"] in TERMINAL:
            continue
        run = _get(server, f"/api/runs/{summary['run_id']}")
        if any(s["key"] == "go" and s["status"] == "waiting" for s in run["steps"]):
            found.append(n)
    return found


def soak_servers(db_url: str, runs: int, *, seed: int = 0) -> MultiSoakReport:
    """Run the multi-server soak on the (empty) database at ``db_url``; return the audit."""
    rng = random.Random(seed)
    began = time.monotonic()
    start = has_start_command()
    report = MultiSoakReport(servers=3, runs=runs, command="start" if start else "dev")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ledger = root / "ledger.txt"
        servers = []
        for name in ("a", "b", "c"):
            folder = root / name
            folder.mkdir()
            (folder / "app.py").write_text(APP)
            servers.append(Server(name, folder, db_url, ledger, start).start())
        killed, paused, survivor = servers
        events = [
            {"name": "soak/job", "id": f"soak-{n}", "data": {"n": n, "group": n % GROUPS}}
            for n in range(runs)
        ]
        half = runs // 2
        answered: set[int] = set()
        try:
            for i, event in enumerate(events[:half]):
                targets = rng.sample(servers, 2 if i % 7 == 0 else 1)  # some ids sent twice
                for target in targets:
                    target.send([event])
            time.sleep(0.3)
            killed.signal(signal.SIGKILL)  # mid-way: one server dies with its workers
            paused.signal(signal.SIGSTOP)  # another freezes past dead_after
            for event in events[half:]:
                survivor.send([event])
            time.sleep(DEAD_AFTER * 2.5)
            paused.signal(signal.SIGCONT)  # it wakes reaped: it must stop by itself
            deadline = time.monotonic() + 120 + runs * 0.5
            while time.monotonic() < deadline:
                for n in _waiting_for_go(survivor, answered):
                    survivor.send([{"name": "soak/go", "data": {"n": n}}])
                    answered.add(n)
                jobs = _all_runs(survivor, "job")
                if len(jobs) >= runs and all(r["status"] in TERMINAL for r in jobs):
                    break
                time.sleep(0.2)
            with contextlib.suppress(TimeoutError):
                wait_for(lambda: not paused.alive(), 10, "the paused server to stop")
            report.paused_server_stopped = not paused.alive()
            _audit(survivor, ledger, report, faulted={killed.name, paused.name})
        finally:
            for server in servers:
                server.signal(signal.SIGCONT)
                server.stop()
            if os.environ.get("SOAK_KEEP"):
                shutil.copytree(root, Path(os.environ["SOAK_KEEP"]), dirs_exist_ok=True)
    report.seconds = time.monotonic() - began
    return report


def _audit(server: Server, ledger: Path, report: MultiSoakReport, faulted: set[str]) -> None:
    jobs = _all_runs(server, "job")
    by_event = Counter(r["event"]["id"] for r in jobs)
    expected = {f"soak-{n}" for n in range(report.runs)}
    report.lost_runs = len(expected - set(by_event))
    report.duplicate_runs = sum(count - 1 for count in by_event.values() if count > 1)
    executions: dict[tuple[int, str], list[tuple[str, str]]] = defaultdict(list)
    for line in ledger.read_text().splitlines():
        n, key, who, token = line.split()
        executions[(int(n), key)].append((who, token))
    child_runs = _all_runs(server, "child")
    children = {r["event"]["data"]["n"]: r for r in child_runs}
    report.duplicate_children = len(child_runs) - len(children)
    for summary in jobs:
        run = _get(server, f"/api/runs/{summary['run_id']}")
        n = run["event"]["data"]["n"]
        steps = {s["key"]: s for s in run["steps"]}
        keys = [f"s{i}" for i in range(STEPS)]
        if run["status"] != "completed" or any(
            steps.get(k, {}).get("status") != "completed" for k in keys
        ):
            report.incomplete_runs += 1
            shown = {k: s["status"] for k, s in steps.items()}
            report.details.append(f"incomplete: run {run['run_id']} n={n} {run['status']} {shown}")
            continue
        if n % 4 == 0 and "timed out" in (run.get("output") or ""):
            report.waits_timed_out += 1
        checked = [(n, k, steps[k]["output"]) for k in keys]
        child = children.get(n)
        if n % 5 == 0 and child is not None:
            child_run = _get(server, f"/api/runs/{child['run_id']}")
            child_steps = {s["key"]: s for s in child_run["steps"]}
            checked.append((n, "c0", child_steps.get("c0", {}).get("output")))
        for n_, key, output in checked:
            done = executions[(n_, key)]
            if not done or output != done[-1][1]:
                report.committed_reexecuted += 1
                report.details.append(f"committed re-executed: n={n_} {key} {done} kept {output}")
            for who, _token in done[:-1]:  # earlier executions whose result was not kept
                if who in faulted:
                    report.reexecuted_by_faulted += 1
                else:
                    report.reexecuted_otherwise += 1
                    report.details.append(f"re-executed: n={n_} {key} {done}")
    problems = ("lost_runs", "duplicate_runs", "duplicate_children", "incomplete_runs")
    for name in (*problems, "waits_timed_out"):
        if getattr(report, name):
            report.problems.append(f"{name.replace('_', ' ')}: {getattr(report, name)}")
    if report.committed_reexecuted:
        report.problems.append(f"committed steps re-executed: {report.committed_reexecuted}")
    if report.reexecuted_otherwise:
        report.problems.append(
            f"step bodies re-executed without a kill or pause: {report.reexecuted_otherwise}"
        )
    if not report.paused_server_stopped:
        report.problems.append("the paused server did not stop by itself after SIGCONT")
