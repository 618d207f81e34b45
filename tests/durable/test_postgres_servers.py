"""Real ``durable dev --db postgresql://...`` servers on free loopback ports, one database.

One server runs a multi-step function to completion; two servers share the work, each run
executed once; after ``kill -9`` of one server's process group, its runs finish on the other
within ``--dead-after`` plus a heartbeat; a server paused (SIGSTOP) past ``--dead-after`` is
reaped, and stops by itself when it wakes. Step bodies append ``run step pid`` to a ledger.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.support.harness import DevProcess, wait_for

DEAD_AFTER = 1.2

APP = textwrap.dedent(
    """
    import os, time
    from pathlib import Path
    from durable import Durable

    app = Durable(id="pg")
    LEDGER = Path(os.environ["LEDGER"])


    def record(run_id, name, pause):
        time.sleep(pause)
        with LEDGER.open("a") as f:
            f.write(f"{run_id} {name} {os.getpid()}\\n")
        return name


    @app.function(id="chain", triggers=[{"event": "chain/go"}])
    async def chain(ctx):
        pause = ctx.event.data.get("pause", 0)
        out = []
        for name in ("one", "two", "three"):
            out.append(await ctx.step.run(name, record, ctx.run_id, name, pause))
        return out
    """
)


def server(root: Path, ledger: Path, url: str) -> DevProcess:
    root.mkdir(parents=True, exist_ok=True)
    (root / "app.py").write_text(APP)
    return DevProcess(
        root,
        root / "app.py",
        env={"LEDGER": str(ledger)},
        reload=False,
        extra_args=["--db", url, "--dead-after", str(DEAD_AFTER)],
    )


def live_servers(url: str) -> int:
    """How many servers are registered in the database of ``url``."""
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM servers").fetchone()
    return int(row[0]) if row else 0


def ledger_lines(ledger: Path) -> list[tuple[str, str, str]]:
    if not ledger.exists():
        return []
    return [tuple(line.split()) for line in ledger.read_text().splitlines()]  # type: ignore[misc]


def test_one_server_on_postgresql_runs_a_multi_step_function(
    tmp_path: Path, postgres_url: str
) -> None:
    ledger = tmp_path / "ledger.txt"
    dev = server(tmp_path / "a", ledger, postgres_url).start()
    try:
        [event_id] = dev.send({"name": "chain/go", "data": {}})
        run = wait_for(lambda: dev.finished("chain", 1), 20, "the run to finish")[0]
        assert run["status"] == "completed", dev.output()
        assert run["output"] == ["one", "two", "three"]
        assert [(r, s) for r, s, _ in ledger_lines(ledger)] == [
            (run["run_id"], "one"),
            (run["run_id"], "two"),
            (run["run_id"], "three"),
        ]
        [event] = [e for e in dev.get("/api/events")["events"] if e["id"] == event_id]
        assert event["run_ids"] == [run["run_id"]]
    finally:
        output = dev.stop()
    assert "Traceback" not in output, output


def test_two_servers_share_one_database_and_run_each_run_once(
    tmp_path: Path, postgres_url: str
) -> None:
    ledger = tmp_path / "ledger.txt"
    first = server(tmp_path / "a", ledger, postgres_url).start()
    second = server(tmp_path / "b", ledger, postgres_url).start()
    try:
        for n in range(12):  # spread over both servers
            (first if n % 2 else second).send({"name": "chain/go", "data": {"n": n}})
        runs = wait_for(lambda: first.finished("chain", 12), 30, "12 runs to finish")
        assert {run["status"] for run in runs} == {"completed"}
        assert second.finished("chain", 12)  # both see every run
        steps = Counter((run_id, step) for run_id, step, _ in ledger_lines(ledger))
        assert len(steps) == 36 and set(steps.values()) == {1}  # every step body ran once
    finally:
        first.stop()
        second.stop()


def test_a_killed_servers_runs_finish_on_the_other_within_dead_after(
    tmp_path: Path, postgres_url: str
) -> None:
    ledger = tmp_path / "ledger.txt"
    doomed = server(tmp_path / "a", ledger, postgres_url).start()
    survivor = server(tmp_path / "b", ledger, postgres_url)
    try:
        for n in range(6):  # slow steps: the doomed server is mid-run when it dies
            doomed.send({"name": "chain/go", "data": {"n": n, "pause": 0.3}})
        wait_for(lambda: ledger_lines(ledger), 20, "a first step body")
        doomed.kill()  # kill -9 of its process group: server and worker
        killed_at = time.monotonic()
        # Started only now, the survivor cannot have taken any run before the kill: the runs
        # with a step done are the doomed server's, taken over mid-run.
        survivor.start()
        runs = wait_for(lambda: survivor.finished("chain", 6), 30, "the 6 runs to finish")
        assert {run["status"] for run in runs} == {"completed"}, survivor.output()
        # the doomed server's runs were reaped within dead_after and a heartbeat (plus the
        # steps left to run, 0.3 s each, some of them one after another on one worker)
        assert time.monotonic() - killed_at < DEAD_AFTER * 1.25 + 6 * 3 * 0.3 + 3
        lines = ledger_lines(ledger)
        assert len({(run_id, step) for run_id, step, _ in lines}) == 18  # every step done
        pids: dict[str, set[str]] = {}
        for run_id, _, pid in lines:
            pids.setdefault(run_id, set()).add(pid)
        assert any(len(ran_in) == 2 for ran_in in pids.values())  # taken over mid-run
    finally:
        output = survivor.stop()
    assert "reaped dead servers" in output, output


def test_a_paused_server_is_reaped_and_stops_by_itself_when_it_wakes(
    tmp_path: Path, postgres_url: str
) -> None:
    ledger = tmp_path / "ledger.txt"
    paused = server(tmp_path / "a", ledger, postgres_url).start()
    other = server(tmp_path / "b", ledger, postgres_url).start()
    try:
        for n in range(3):
            paused.send({"name": "chain/go", "data": {"n": n, "pause": 0.3}})
        wait_for(lambda: ledger_lines(ledger), 20, "a first step body")
        assert paused.process is not None
        os.killpg(paused.process.pid, signal.SIGSTOP)  # past --dead-after: reaped
        runs = wait_for(lambda: other.finished("chain", 3), 30, "the 3 runs to finish")
        assert {run["status"] for run in runs} == {"completed"}
        assert all(run["output"] == ["one", "two", "three"] for run in runs)
        wait_for(lambda: live_servers(postgres_url) == 1, 10, "the paused server's reaping")
        os.killpg(paused.process.pid, signal.SIGCONT)
        assert paused.process.wait(timeout=10) is not None  # it exits by itself
        assert "was reaped" in paused.output(), paused.output()
        finished = {run["run_id"]: run["status"] for run in other.runs(function="chain")}
        assert set(finished.values()) == {"completed"}  # its late writes changed nothing
    finally:
        paused.kill()
        other.stop()


@pytest.mark.parametrize("value", ["0", "-1"])
def test_dead_after_must_be_a_positive_number_of_seconds(tmp_path: Path, value: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "durable.cli.main", "dev", "--no-tui", "--dead-after", value],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert f"--dead-after must be > 0 seconds, got {float(value)}" in done.stderr
