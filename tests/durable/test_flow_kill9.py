"""Flow-control state lives in the store: it survives a real ``kill -9`` of a real dev server
(a pending debounce, and a concurrency slot held by a run that was mid-step)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support.harness import DevProcess, wait_for

APP = textwrap.dedent(
    """
    import os, time
    from pathlib import Path
    from durable import Durable

    app = Durable(id="flow")
    BLOCK = Path(os.environ["FLOW_BLOCK"])

    @app.function(id="debounced", triggers=[{"event": "d/go"}], debounce={"period": "4s"})
    async def debounced(ctx):
        return ctx.event.data["n"]

    @app.function(id="limited", triggers=[{"event": "l/go"}], concurrency=1)
    async def limited(ctx):
        def work():
            Path(str(BLOCK) + "." + str(ctx.event.data["n"])).write_text("started")
            while BLOCK.exists():
                time.sleep(0.05)
            return ctx.event.data["n"]

        return await ctx.step.run("work", work)
    """
)


def cli(server: DevProcess, *args: str) -> str:
    """The output of a real ``durable`` command against ``server``."""
    env = {**os.environ, "DURABLE_URL": server.url, "COLUMNS": "200", "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "durable.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_debounce_and_slots_survive_kill_9_of_the_dev_server(tmp_path: Path) -> None:
    (tmp_path / "flow_app.py").write_text(APP)
    block = tmp_path / "block"
    block.write_text("hold")
    env = {"FLOW_BLOCK": str(block)}
    first = DevProcess(tmp_path, tmp_path / "flow_app.py", env=env, reload=False).start()
    try:
        first.send([{"name": "d/go", "data": {"n": n}} for n in range(3)])
        first.send([{"name": "l/go", "data": {"n": n}} for n in range(2)])
        wait_for(lambda: Path(f"{block}.0").exists(), what="run 0 mid-step")
        runs = first.runs(function="debounced")
        assert len(runs) == 1 and runs[0]["queued_reason"] == "debounce"
        waiting = [r for r in first.runs(function="limited") if r["status"] == "queued"]
        assert [r["queued_reason"] for r in waiting] == ["concurrency"]
        functions = {f["id"]: f for f in first.get("/api/functions")["functions"]}
        assert functions["debounced"]["config"]["debounce"] == {"period": "4s"}
        listed = cli(first, "runs", "--function", "debounced")
        assert "queued" in listed and "(debounce)" in listed
        shown = cli(first, "run", runs[0]["run_id"])
        assert "held back" in shown or "(debounce)" in shown
        assert "debounce" in cli(first, "functions")
    finally:
        first.kill()
    assert not Path(f"{block}.1").exists()  # the limit held: run 1 never started

    block.unlink()
    second = DevProcess(tmp_path, tmp_path / "flow_app.py", env=env, reload=False).start()
    try:
        limited = wait_for(lambda: second.finished("limited", 2), what="both limited runs")
        assert sorted(r["output"] for r in limited) == [0, 1]
        (debounced,) = wait_for(lambda: second.finished("debounced", 1), what="the debounce")
        assert debounced["output"] == 2  # the last event, after the restart
        assert len(second.runs(function="debounced")) == 1
    finally:
        second.stop()
