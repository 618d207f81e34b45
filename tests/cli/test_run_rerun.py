"""``durable run`` on a rerun: reused steps say so, and the axis spans the rerun only."""

from __future__ import annotations

import re

from tests.support.cli import Invoke
from tests.support.live import LiveServer

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def test_reused_steps_are_marked_and_the_axis_spans_the_rerun(
    invoke: Invoke, live_server: LiveServer
) -> None:
    first = live_server.wait_run(live_server.start("test/pipeline", {"n": 1, "pause": "400ms"}))
    response = live_server.client.post(
        f"/api/runs/{first['run_id']}/rerun", json={"from_step": "b"}
    )
    second = live_server.wait_run(response.json()["run_id"], "completed")
    result = invoke("run", second["run_id"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    rows = {line.split()[1]: line for line in out.splitlines() if line[:3].strip().isdigit()}
    assert list(rows) == ["a", "pause", "b"]
    assert f"reused from {first['run_id']}" in rows["a"]
    assert f"reused from {first['run_id']}" in rows["pause"]
    assert "reused" not in rows["b"]
    found = re.search(r"0 → ([\d.]+)(ms|s|m|h)\b", out)
    assert found is not None, out
    span = float(found[1]) * _UNITS[found[2]]
    assert span < 0.4, out  # the original's 400 ms sleep is not on this run's axis
