"""The crash soak: ``kill -9`` a busy ``durable dev`` at random moments, then audit.

Run by ``bench/soak.py`` (``make soak``) and, shortened, by ``tests/devserver/test_soak.py``
(which imports it as ``bench._soak``); it imports the process harness from ``tests.support``.

Each cycle starts the server, sends its share of events (each with a fixed id, re-sent until
accepted), lets runs progress for a random moment and kills the whole process group. After
the last cycle a final server drains everything. Then the audit checks:

* every event sent is stored and started exactly one run (no lost events, no lost runs);
* every run completed with all its steps;
* no committed step ran again: each step's stored output carries the token of the LAST
  execution of its body (bodies append a fresh token to a ledger before returning), so a
  body re-run after its result was committed would leave a newer token in the ledger;
* re-executions (a body that ran but whose result was lost with the process) are at most
  what could be in flight when the kills happened.
"""

from __future__ import annotations

import random
import tempfile
import textwrap
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.harness import TERMINAL, DevProcess, wait_for

STEPS = 4
GROUPS = 4
LIMIT = 3  # concurrency limit per group: at most GROUPS * LIMIT runs execute at once

APP = textwrap.dedent(
    f"""
    import asyncio, os, uuid
    from pathlib import Path
    from durable import Durable

    app = Durable(id="soak")
    LEDGER = Path(os.environ["SOAK_LEDGER"])

    def work(n, key):
        token = uuid.uuid4().hex
        with LEDGER.open("a") as f:
            f.write(f"{{n}} {{key}} {{token}}\\n")
        return token

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
            await asyncio.sleep(0.01)
            if i == 1:
                await ctx.step.sleep("rest", "100ms")
        return tokens
    """
)


@dataclass
class SoakReport:
    """What the audit found."""

    cycles: int
    runs: int
    seconds: float = 0.0
    lost_events: int = 0
    lost_runs: int = 0
    duplicate_runs: int = 0
    incomplete_runs: int = 0
    committed_reexecuted: int = 0
    reexecuted_in_flight: int = 0
    reexecution_bound: int = 0
    interrupted_runs: int = 0  #: runs caught unfinished by a kill, summed over the kills
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing was lost, duplicated or re-run after its commit."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {
            "cycles": self.cycles,
            "runs": self.runs,
            "seconds": round(self.seconds, 2),
            "lost_events": self.lost_events,
            "lost_runs": self.lost_runs,
            "duplicate_runs": self.duplicate_runs,
            "incomplete_runs": self.incomplete_runs,
            "committed_steps_reexecuted": self.committed_reexecuted,
            "in_flight_steps_reexecuted": self.reexecuted_in_flight,
            "reexecution_bound": self.reexecution_bound,
            "interrupted_runs": self.interrupted_runs,
            "ok": self.ok,
        }


def _send_all(server: DevProcess, events: list[dict[str, Any]]) -> bool:
    try:
        server.send(events)
        return True
    except httpx.HTTPError:
        return False


def _unfinished(server: DevProcess) -> int:
    try:
        return sum(1 for r in server.runs(function="job") if r["status"] not in TERMINAL)
    except httpx.HTTPError:
        return 0


def soak(cycles: int, runs: int, *, seed: int = 0, root: Path | None = None) -> SoakReport:
    """Run the soak; return the audit."""
    rng = random.Random(seed)
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        folder = root or Path(tmp)
        (folder / "app.py").write_text(APP)
        ledger = folder / "ledger.txt"
        env = {"SOAK_LEDGER": str(ledger)}
        events = [
            {"name": "soak/job", "id": f"soak-{n}", "data": {"n": n, "group": n % GROUPS}}
            for n in range(runs)
        ]
        batches = [events[i::cycles] for i in range(cycles)]
        port = None
        interrupted = 0
        unsent: list[dict[str, Any]] = []
        for batch in batches:
            server = DevProcess(folder, folder / "app.py", port=port, env=env, reload=False)
            server.start()
            port = server.port
            pending = unsent + batch
            unsent = [] if _send_all(server, pending) else pending
            time.sleep(rng.uniform(0.05, 0.6))
            interrupted += _unfinished(server)
            server.kill()
        final = DevProcess(folder, folder / "app.py", port=port, env=env, reload=False).start()
        try:
            if unsent:
                final.send(unsent)
            wait_for(lambda: final.finished("job", runs), timeout=60 + runs * 0.5, what="every run")
            report = _audit(final, ledger, cycles, runs)
            report.interrupted_runs = interrupted
        finally:
            final.stop()
    report.seconds = time.monotonic() - began
    return report


def _audit(server: DevProcess, ledger: Path, cycles: int, runs: int) -> SoakReport:
    report = SoakReport(cycles=cycles, runs=runs)
    stored = {e["id"] for e in server.get("/api/events", name="soak/job", limit=1000)["events"]}
    all_runs = server.runs(function="job")
    by_event = Counter(r["event"]["id"] for r in all_runs)
    expected = {f"soak-{n}" for n in range(runs)}
    report.lost_events = len(expected - stored)
    report.lost_runs = len(expected - set(by_event))
    report.duplicate_runs = sum(count - 1 for count in by_event.values() if count > 1)
    executions: dict[tuple[int, str], list[str]] = defaultdict(list)
    for line in ledger.read_text().splitlines():
        n, key, token = line.split()
        executions[(int(n), key)].append(token)
    for summary in all_runs:
        run = server.get(f"/api/runs/{summary['run_id']}")
        steps = {s["key"]: s for s in run["steps"]}
        n = run["event"]["data"]["n"]
        done = [
            f"s{i}" for i in range(STEPS) if steps.get(f"s{i}", {}).get("status") == "completed"
        ]
        if run["status"] != "completed" or len(done) != STEPS:
            report.incomplete_runs += 1
            continue
        for key in done:
            tokens = executions[(n, key)]
            if steps[key]["output"] != tokens[-1]:
                report.committed_reexecuted += 1
            report.reexecuted_in_flight += len(tokens) - 1
    report.reexecution_bound = cycles * GROUPS * LIMIT
    for name in ("lost_events", "lost_runs", "duplicate_runs", "incomplete_runs"):
        if getattr(report, name):
            report.problems.append(f"{name.replace('_', ' ')}: {getattr(report, name)}")
    if report.committed_reexecuted:
        report.problems.append(f"committed steps re-executed: {report.committed_reexecuted}")
    if report.reexecuted_in_flight > report.reexecution_bound:
        report.problems.append(
            f"{report.reexecuted_in_flight} re-executions exceed what could be in flight "
            f"({report.reexecution_bound})"
        )
    return report
