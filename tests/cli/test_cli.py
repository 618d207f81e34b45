"""The API commands (send, runs, run, cancel, export, functions) against a real dev server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from durable.cli.client import parse_time
from durable.cli.runs import Axis, Segment, _step_segments
from durable.devserver.registry import RegistrationError
from durable.tui.api import DurableClient
from tests.support.cli import Invoke
from tests.support.live import LiveServer

# -- send -----------------------------------------------------------------------------------


def test_send_prints_the_event_id_and_starts_a_run(invoke: Invoke, live_server: LiveServer) -> None:
    result = invoke("send", "test/pipeline", "--data", '{"n": 4}')
    assert result.exit_code == 0, result.output
    event_id = result.stdout.strip()
    run_id = live_server.run_ids(event_id)[0]
    run = live_server.wait_run(run_id, "completed")
    assert run["event"]["data"] == {"n": 4}
    assert run["output"] == {"a": 5, "b": 10}


def test_send_with_an_id_is_idempotent(invoke: Invoke, live_server: LiveServer) -> None:
    first = invoke("send", "test/chain", "--id", "order-1")
    second = invoke("send", "test/chain", "--id", "order-1", "--json")
    assert first.exit_code == second.exit_code == 0
    assert first.stdout.strip() == "order-1"
    assert json.loads(second.stdout)["ids"] == ["order-1"]
    live_server.wait_for(lambda: live_server.get("/api/runs", function="chain")["runs"])
    runs = live_server.get("/api/runs", function="chain")["runs"]
    assert [r["event"]["id"] for r in runs] == ["order-1"]  # the duplicate started nothing


def test_send_reads_data_from_a_file_and_stdin(
    invoke: Invoke, live_server: LiveServer, tmp_path: Path
) -> None:
    data = tmp_path / "data.json"
    data.write_text('{"n": 1}')
    from_file = invoke("send", "test/pipeline", "--data", f"@{data}")
    from_stdin = invoke("send", "test/pipeline", "-d", "@-", stdin='{"n": 2}')
    assert from_file.exit_code == from_stdin.exit_code == 0, from_file.output + from_stdin.output
    for result, n in ((from_file, 1), (from_stdin, 2)):
        run_id = live_server.run_ids(result.stdout.strip())[0]
        assert live_server.wait_run(run_id)["event"]["data"] == {"n": n}


def test_send_bad_inline_json_names_the_problem(invoke: Invoke) -> None:
    result = invoke("send", "test/pipeline", "--data", "{n: 1}")
    assert result.exit_code == 2
    assert "--data is not valid JSON" in result.stderr
    assert "line 1, column 2" in result.stderr


def test_send_data_must_be_an_object(invoke: Invoke) -> None:
    result = invoke("send", "test/pipeline", "--data", "[1, 2]")
    assert result.exit_code == 2
    assert "must be a JSON object, got list" in result.stderr


def test_send_bad_json_file_names_the_file(invoke: Invoke, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"n": 1,\n}')
    result = invoke("send", "test/pipeline", "--data", f"@{bad}")
    assert result.exit_code == 2
    assert f"@{bad}" in result.stderr
    assert "not valid JSON" in result.stderr
    assert "line 2" in result.stderr


def test_send_missing_file_names_its_path(invoke: Invoke, tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    result = invoke("send", "test/pipeline", "--data", f"@{missing}")
    assert result.exit_code == 2
    assert "no such file" in result.stderr
    assert str(missing) in result.stderr


def test_send_empty_file_name_and_binary_file(invoke: Invoke, tmp_path: Path) -> None:
    binary = tmp_path / "blob.json"
    binary.write_bytes(b"\xff\xfe\x00")
    assert invoke("send", "x", "--data", "@").exit_code == 2
    result = invoke("send", "x", "--data", f"@{binary}")
    assert result.exit_code == 2
    assert "not UTF-8" in result.stderr


def test_send_an_event_the_server_rejects_exits_2(invoke: Invoke) -> None:
    result = invoke("send", "")
    assert result.exit_code == 2
    assert "name" in result.stderr
    assert "HTTP 400" in result.stderr


# -- runs -----------------------------------------------------------------------------------


def test_runs_lists_runs_with_filters(invoke: Invoke, live_server: LiveServer) -> None:
    done = live_server.start("test/chain")
    failed = live_server.start("test/doomed")
    live_server.wait_run(done, "completed")
    live_server.wait_run(failed, "failed")

    table = invoke("runs")
    assert table.exit_code == 0, table.output
    assert done in table.stdout and failed in table.stdout
    assert "chain" in table.stdout and "completed" in table.stdout

    only_failed = json.loads(invoke("runs", "--status", "failed", "--json").stdout)
    assert [r["run_id"] for r in only_failed["runs"]] == [failed]
    only_chain = json.loads(invoke("runs", "-f", "chain", "--json").stdout)
    assert [r["run_id"] for r in only_chain["runs"]] == [done]
    assert only_chain["cursor"] is None


def test_runs_pages_with_a_cursor(invoke: Invoke, live_server: LiveServer) -> None:
    ids = [live_server.start("test/chain") for _ in range(3)]
    first = invoke("runs", "--function", "chain", "--limit", "2")
    assert first.exit_code == 0
    assert "more: durable runs --cursor" in first.stdout
    page = json.loads(invoke("runs", "--function", "chain", "--limit", "2", "--json").stdout)
    rest = json.loads(invoke("runs", "-f", "chain", "--cursor", page["cursor"], "--json").stdout)
    listed = [r["run_id"] for r in page["runs"] + rest["runs"]]
    assert sorted(listed) == sorted(ids)


def test_runs_with_nothing_to_show(invoke: Invoke) -> None:
    result = invoke("runs")
    assert result.exit_code == 0
    assert "no runs" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--status", "bogus"], "bogus"),
        (["--limit", "0"], "--limit"),
        (["--limit", "5000"], "'limit' must be an integer from 1 to 1000"),
        (["--cursor", "nope"], "'cursor' names no run"),
    ],
)
def test_runs_bad_options_exit_2(invoke: Invoke, args: list[str], message: str) -> None:
    result = invoke("runs", *args)
    assert result.exit_code == 2
    assert message in result.output


# -- run ------------------------------------------------------------------------------------


def test_run_shows_steps_sleep_and_output(invoke: Invoke, live_server: LiveServer) -> None:
    run_id = live_server.start("test/pipeline", {"n": 1, "pause": "30ms"})
    live_server.wait_run(run_id, "completed")
    result = invoke("run", run_id)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert run_id in out and "pipeline" in out and "test/pipeline" in out
    rows = {line.split()[1]: line for line in out.splitlines() if line[:3].strip().isdigit()}
    assert list(rows) == ["a", "pause", "b"]
    assert "sleep" in rows["pause"] and "░" in rows["pause"] and "until" in rows["pause"]
    assert "█" in rows["a"] and "completed" in rows["b"]
    assert "Output" in out and '"b": 4' in out


def test_run_shows_every_retry_with_its_error(invoke: Invoke, live_server: LiveServer) -> None:
    run_id = live_server.start("test/flaky")
    live_server.wait_run(run_id, "completed")
    out = invoke("run", run_id).stdout
    attempts = [line for line in out.splitlines() if "↳ attempt" in line]
    assert len(attempts) == 3
    assert "failed" in attempts[0] and "RuntimeError: boom 0" in attempts[0]
    assert "RuntimeError: boom 1" in attempts[1]
    assert "ok" in attempts[2]
    step = next(line for line in out.splitlines() if " unstable " in line)
    assert " 3 " in step  # three attempts


def test_run_shows_the_error_with_its_traceback(invoke: Invoke, live_server: LiveServer) -> None:
    run_id = live_server.start("test/doomed")
    live_server.wait_run(run_id, "failed")
    out = invoke("run", run_id).stdout
    assert "failed" in out
    assert "NonRetriableError: no way" in out
    assert "Traceback (most recent call last)" in out


def test_run_shows_waits_while_waiting_and_when_timed_out(
    invoke: Invoke, live_server: LiveServer
) -> None:
    waiting = live_server.start("test/wait", {"id": 1})
    timed_out = live_server.start("test/wait", {"id": 2, "timeout": "10ms"})
    live_server.wait_run(waiting, "waiting")
    live_server.wait_run(timed_out, "completed")
    now = invoke("run", waiting).stdout
    row = next(line for line in now.splitlines() if " approval " in line)
    assert " wait " in row and "waiting" in row and "for test/approved" in row
    assert "▒" in row
    assert "(timed out)" in invoke("run", timed_out).stdout


def test_run_json_is_the_api_view(invoke: Invoke, live_server: LiveServer) -> None:
    run_id = live_server.start("test/chain")
    live_server.wait_run(run_id, "completed")
    result = invoke("run", run_id, "--json")
    view = json.loads(result.stdout)
    assert view["run_id"] == run_id and view["status"] == "completed"
    assert [s["key"] for s in view["steps"]] == ["one", "two", "three"]
    assert all(len(s["attempts"]) == 1 for s in view["steps"])


def test_unknown_run_exits_2(invoke: Invoke) -> None:
    for command in ("run", "cancel", "export"):
        result = invoke(command, "no-such-run")
        assert result.exit_code == 2, command
        assert "no run with id 'no-such-run'" in result.stderr


# -- cancel ---------------------------------------------------------------------------------


def test_cancel_a_sleeping_run(invoke: Invoke, live_server: LiveServer) -> None:
    run_id = live_server.start("test/sleep")
    live_server.wait_run(run_id, "sleeping")
    result = invoke("cancel", run_id)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"{run_id}: cancelled"
    assert live_server.wait_run(run_id, "cancelled")["status"] == "cancelled"
    shown = invoke("run", run_id).stdout
    assert "cancelled by request" in shown

    again = invoke("cancel", run_id)
    assert again.exit_code == 1
    assert "already ended" in again.stderr


def test_cancel_with_a_reason(invoke: Invoke, live_server: LiveServer) -> None:
    run_id = live_server.start("test/sleep")
    live_server.wait_run(run_id, "sleeping")
    result = invoke("cancel", run_id, "--reason", "customer changed their mind")
    assert result.exit_code == 0, result.output
    assert "customer changed their mind" in invoke("run", run_id).stdout
    empty = invoke("cancel", live_server.start("test/sleep"), "--reason", "")
    assert empty.exit_code == 2 and "'reason' must be a non-empty string" in empty.stderr


def test_cancel_json(invoke: Invoke, live_server: LiveServer) -> None:
    run_id = live_server.start("test/sleep")
    live_server.wait_run(run_id, "sleeping")
    view = json.loads(invoke("cancel", run_id, "--json").stdout)
    assert view["run_id"] == run_id and view["status"] == "cancelled"


# -- export ---------------------------------------------------------------------------------


def test_export_writes_a_fixture(invoke: Invoke, live_server: LiveServer, tmp_path: Path) -> None:
    run_id = live_server.start("test/chain")
    live_server.wait_run(run_id, "completed")
    target = tmp_path / "fixtures" / "chain.json"
    result = invoke("export", run_id, "-o", str(target))
    assert result.exit_code == 0, result.output
    assert str(target) in result.stdout
    fixture = json.loads(target.read_text())
    assert {"function", "event", "steps", "expect"} <= set(fixture)
    assert fixture["function"] == "chain"
    assert fixture["expect"]["steps"] == ["one", "two", "three"]

    printed = json.loads(invoke("export", run_id).stdout)
    assert printed == fixture


async def test_export_writes_the_bytes_the_inspector_writes(
    invoke: Invoke, live_server: LiveServer, tmp_path: Path
) -> None:
    run_id = live_server.start("test/chain", {"who": "Zoë ✓"})
    live_server.wait_run(run_id, "completed")
    from_cli = tmp_path / "cli" / f"{run_id}.json"
    assert invoke("export", run_id, "-o", str(from_cli)).exit_code == 0
    client = DurableClient(live_server.url)
    try:
        from_tui = await client.export_fixture(run_id, tmp_path / "tui")
    finally:
        await client.aclose()
    assert from_tui.read_bytes() == from_cli.read_bytes()  # one writer: UTF-8, as written
    assert '"who": "Zoë ✓"' in from_cli.read_text(encoding="utf-8")
    assert invoke("export", run_id).stdout == from_cli.read_text(encoding="utf-8")


def test_export_to_an_unwritable_path_exits_2(
    invoke: Invoke, live_server: LiveServer, tmp_path: Path
) -> None:
    run_id = live_server.start("test/chain")
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = invoke("export", run_id, "-o", str(blocker / "x.json"))
    assert result.exit_code == 2
    assert "cannot write" in result.stderr


# -- functions ------------------------------------------------------------------------------


def test_functions_lists_triggers_and_config(invoke: Invoke) -> None:
    result = invoke("functions")
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert "event test/pipeline" in lines["pipeline"]
    assert "retries=3" in lines["flaky"]
    assert "api-tests" in lines["sleeper"]
    listed = json.loads(invoke("functions", "--json").stdout)
    assert {f["id"] for f in listed["functions"]} >= {"pipeline", "flaky", "waiter"}
    assert listed["errors"] == []


def test_functions_with_registration_errors_exits_1(
    invoke: Invoke, live_server: LiveServer
) -> None:
    async def break_a_module() -> None:
        registry = live_server.ctx.registry
        broken = RegistrationError("app/orders.py", 12, "SyntaxError: invalid syntax")
        registry.replace(list(registry.functions.values()), [broken])

    live_server.call(break_a_module)
    result = invoke("functions")
    assert result.exit_code == 1
    assert "app/orders.py:12: SyntaxError: invalid syntax" in result.stdout
    assert "pipeline" in result.stdout  # the last good functions are still listed
    as_json = invoke("functions", "--json")
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["errors"][0]["line"] == 12


# -- the server address ---------------------------------------------------------------------


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize(
    "args",
    [
        ["send", "x"],
        ["runs"],
        ["run", "r1"],
        ["cancel", "r1"],
        ["export", "r1"],
        ["functions"],
    ],
)
def test_unreachable_server_exits_2_naming_the_url(invoke: Invoke, args: list[str]) -> None:
    url = _closed_port_url()
    result = invoke(*args, url=url)
    assert result.exit_code == 2
    assert f"cannot reach the durable server at {url}" in result.stderr


def test_url_option_wins_over_the_environment(invoke: Invoke, live_server: LiveServer) -> None:
    result = invoke("runs", "--url", live_server.url + "/", url=_closed_port_url())
    assert result.exit_code == 0, result.output


def test_a_url_without_a_scheme_exits_2(invoke: Invoke) -> None:
    result = invoke("runs", "--url", "localhost:8288")
    assert result.exit_code == 2
    assert "--url must start with http://" in result.stderr


def test_console_script_end_to_end(live_server: LiveServer) -> None:
    durable = Path(sys.executable).with_name("durable")
    env_args: dict[str, Any] = {"capture_output": True, "text": True, "timeout": 30}
    sent = subprocess.run(
        [str(durable), "send", "test/chain", "--url", live_server.url], check=True, **env_args
    )
    run_id = live_server.run_ids(sent.stdout.strip())[0]
    live_server.wait_run(run_id, "completed")
    shown = subprocess.run(
        [str(durable), "run", run_id, "--json", "--url", live_server.url], check=True, **env_args
    )
    assert json.loads(shown.stdout)["status"] == "completed"
    listed = subprocess.run([str(durable), "runs", "--url", live_server.url], **env_args)
    assert listed.returncode == 0 and run_id in listed.stdout


# -- rendering helpers ----------------------------------------------------------------------


def test_parse_time_reads_api_times() -> None:
    assert parse_time("2024-05-01T12:00:00.250Z") == datetime(2024, 5, 1, 12, 0, 0, 250_000, UTC)
    assert parse_time(None) is None and parse_time("garbage") is None


def test_bars_share_one_time_axis() -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    axis = Axis(t0, t0 + timedelta(seconds=10), width=10)
    first = axis.bar([Segment(t0, t0 + timedelta(seconds=2), "█", "")]).plain
    later = axis.bar([Segment(t0 + timedelta(seconds=8), t0 + timedelta(seconds=10), "░", "")])
    instant = axis.bar([Segment(t0 + timedelta(seconds=5), t0 + timedelta(seconds=5), "█", "")])
    assert first == "██        "
    assert later.plain == "        ░░"
    assert instant.plain == "     █    "  # an instant still gets one cell


def test_step_segments_draw_attempts_and_sleeps() -> None:
    now = datetime(2024, 1, 1, 0, 1, tzinfo=UTC)
    step: dict[str, Any] = {
        "kind": "run",
        "status": "completed",
        "attempts": [
            {"started_at": "2024-01-01T00:00:00Z", "ended_at": "2024-01-01T00:00:01Z", "error": {}},
            {"started_at": "2024-01-01T00:00:02Z", "ended_at": "2024-01-01T00:00:03Z"},
        ],
    }
    styles = [s.style for s in _step_segments(step, now)]
    assert styles == ["green", "green"]
    step["attempts"][0]["error"] = {"name": "E", "message": "m"}
    assert [s.style for s in _step_segments(step, now)] == ["red", "green"]
    sleeping = {"kind": "sleep", "status": "sleeping", "started_at": "2024-01-01T00:00:00Z"}
    (segment,) = _step_segments(sleeping, now)
    assert segment.char == "░" and segment.end == now
