"""``durable replay``: through typer's CliRunner in process, and once as the real console script.

Each test writes an app module and fixtures to ``tmp_path``; the ``clean_imports`` fixture
forgets the modules ``--app`` imported, so every test loads its own code.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from durable.cli.main import app as cli
from tests.support.cli import ORIGINAL, replay, write_app
from tests.support.live import LiveServer

FIXTURE: dict[str, Any] = {
    "function": "order",
    "event": {"name": "order/created", "data": {"id": "o-1"}, "ts": 1_767_225_600_000},
    "steps": {
        "fetch": {"kind": "run", "output": {"amount": 42}},
        "pause": {"kind": "sleep", "output": None},
        "charge": {"kind": "run", "output": "ch_1"},
    },
    "expect": {
        "status": "completed",
        "output": {"charge": "ch_1", "amount": 42},
        "steps": ["fetch", "pause", "charge"],
    },
}
LIVE_APP = Path(__file__).resolve().parents[1] / "support" / "live_app.py"

pytestmark = pytest.mark.usefixtures("clean_imports")  # each test imports its own app module


def write_fixture(path: Path, **changes: Any) -> Path:
    data = copy.deepcopy(FIXTURE)
    data.update(copy.deepcopy(changes))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
    return path


def summary(result: Result) -> str:
    return result.stdout.splitlines()[-1]


# -- results and exit codes -------------------------------------------------------------------


def test_green_directory_exits_0_with_one_line_per_fixture(tmp_path: Path) -> None:
    app = write_app(tmp_path)
    write_fixture(tmp_path / "fx" / "a.json")
    write_fixture(tmp_path / "fx" / "nested" / "b.json")
    (tmp_path / "fx" / "notes.txt").write_text("not a fixture")
    result = replay(tmp_path / "fx", "--app", app)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"✔ {tmp_path / 'fx' / 'a.json'} 3 steps, completed · ")
    assert lines[1].startswith(f"✔ {tmp_path / 'fx' / 'nested' / 'b.json'} ")
    assert lines[-1] == "2 passed, 0 failed"
    assert len(lines) == 3


def test_mismatch_exits_1_with_a_diff(tmp_path: Path) -> None:
    app = write_app(tmp_path)
    fixture = write_fixture(
        tmp_path / "m.json",
        expect={
            "status": "failed",
            "output": {"charge": "ch_2"},
            "steps": FIXTURE["expect"]["steps"],
        },
    )
    result = replay(fixture, "--app", app)
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert f"✖ {fixture} mismatch" in out
    assert f"{fixture}: status: expected 'failed', got 'completed'; output differs" in out
    assert '-status: "failed"' in out
    assert '+status: "completed"' in out
    assert '-  "charge": "ch_2"' in out
    assert '+  "charge": "ch_1"' in out
    assert summary(result) == "0 passed, 1 failed"


def test_divergence_exits_1_naming_fixture_and_first_diverging_step(tmp_path: Path) -> None:
    app = write_app(tmp_path, ORIGINAL.replace('"charge", body', '"charge-card", body'))
    fixture = write_fixture(tmp_path / "d.json")
    good = write_fixture(tmp_path / "e.json", function="order", expect=FIXTURE["expect"])
    result = replay(fixture, good, "--app", app)
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert f"✖ {fixture} divergence" in out
    assert f"{fixture}: the code's steps diverge from the recording at step #3 'charge'" in out
    assert "'charge' was renamed to 'charge-card'" in out
    assert "recorded: fetch (run), pause (sleep), charge (run)" in out
    assert "code:     fetch (run), pause (sleep), charge-card (run)" in out
    assert "-3. charge (run)" in out
    assert "+3. charge-card (run)" in out
    assert summary(result) == "0 passed, 2 failed"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"function": "order",\n  "event": {"name": }}', "line 2, column 21: invalid JSON"),
        (json.dumps({k: v for k, v in FIXTURE.items() if k != "expect"}), "expect: missing field"),
        (
            json.dumps({**FIXTURE, "steps": []}),
            "steps: must be an object by step key, got an array",
        ),
        (json.dumps({**FIXTURE, "function": "nope"}), "function: no function 'nope' in the app"),
        ("\xff\xfe", "line 1: not UTF-8 text"),
    ],
    ids=["bad-json", "missing-field", "wrong-type", "unknown-function", "not-text"],
)
def test_invalid_fixture_exits_2_naming_file_and_problem(
    tmp_path: Path, content: str, problem: str
) -> None:
    app = write_app(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_bytes(content.encode("latin-1") if content.startswith("\xff") else content.encode())
    good = write_fixture(tmp_path / "good.json")
    result = replay(bad, good, "--app", app)
    assert result.exit_code == 2, result.output
    assert f"✖ {bad} invalid" in result.stdout
    assert f"{bad}: {problem}" in result.stdout
    assert "Traceback" not in result.output
    assert summary(result) == "1 passed, 1 failed"


def test_missing_paths_and_empty_folders_exit_2(tmp_path: Path) -> None:
    app = write_app(tmp_path)
    result = replay(tmp_path / "nope.json", "--app", app)
    assert result.exit_code == 2
    assert f"error: {tmp_path / 'nope.json'}: no such fixture file or folder" in result.stderr
    (tmp_path / "empty").mkdir()
    result = replay(tmp_path / "empty", "--app", app)
    assert result.exit_code == 2
    assert "no *.json fixtures in this folder" in result.stderr


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (None, "--app {app}: no such file or folder"),
        ("x = 1\n", "no Durable apps found in {app}"),
        ("from durable import Durable\napp = Durable(id='a')\n", "no durable functions found"),
        ("from durable import Durable\napp = Durable(id='a')\ndef (:\n", "{app}:3: SyntaxError"),
        (
            "from durable import Durable\napp = Durable(id='a')\nraise RuntimeError('no db')\n",
            "{app}:3: RuntimeError: no db",
        ),
    ],
    ids=["missing", "no-app", "no-functions", "syntax-error", "import-error"],
)
def test_bad_app_exits_2_with_a_clear_message(
    tmp_path: Path, source: str | None, message: str
) -> None:
    app = tmp_path / "userapp.py"
    if source is not None:
        app.write_text(source)
    result = replay(write_fixture(tmp_path / "f.json"), "--app", app)
    assert result.exit_code == 2, result.output
    assert message.format(app=app) in result.stderr
    assert "Traceback" not in result.output


# -- --update and --json ----------------------------------------------------------------------


def test_update_rewrites_expectations_then_replays_green(tmp_path: Path) -> None:
    new_code = ORIGINAL.replace(
        'return {"charge"',
        'await ctx.step.run("notify", body("notify", "sent"))\n    return {"charge"',
    )
    app = write_app(tmp_path, new_code)
    fixture = write_fixture(tmp_path / "u.json")
    assert replay(fixture, "--app", app).exit_code == 1
    result = replay(fixture, "--update", "--app", app)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"↻ {fixture} 4 steps, completed")
    assert (
        "expect.steps: ['fetch', 'pause', 'charge'] -> ['fetch', 'pause', 'charge', 'notify']"
        in (result.stdout)
    )
    assert "steps: recorded notify" in result.stdout
    rewritten = json.loads(fixture.read_text())
    assert rewritten["expect"]["steps"] == ["fetch", "pause", "charge", "notify"]
    assert rewritten["steps"]["notify"] == {"kind": "run", "output": "sent"}
    assert rewritten["steps"]["fetch"] == FIXTURE["steps"]["fetch"]  # recordings kept
    again = replay(fixture, "--app", app)
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith(f"✔ {fixture}")
    untouched = replay(fixture, "--update", "--app", app)  # nothing to change: no rewrite
    assert untouched.stdout.startswith(f"✔ {fixture}")


def notify_code() -> str:
    """ORIGINAL with a new last step: ``--update`` has something to rewrite."""
    return ORIGINAL.replace(
        'return {"charge"',
        'await ctx.step.run("notify", body("notify", "sent"))\n    return {"charge"',
    )


def test_update_replaces_the_file_atomically_keeping_its_permissions(tmp_path: Path) -> None:
    app = write_app(tmp_path, notify_code())
    fixture = write_fixture(tmp_path / "fx" / "u.json")
    fixture.chmod(0o640)
    inode = fixture.stat().st_ino
    result = replay(fixture, "--update", "--app", app)
    assert result.exit_code == 0, result.output
    # a new file took the old one's place (os.replace), rather than being rewritten in place
    assert fixture.stat().st_ino != inode
    assert fixture.stat().st_mode & 0o777 == 0o640
    assert json.loads(fixture.read_text())["expect"]["steps"][-1] == "notify"
    assert [p.name for p in fixture.parent.iterdir()] == ["u.json"]  # no temporary file left


def test_update_that_cannot_write_leaves_the_fixture_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = write_app(tmp_path, notify_code())
    fixture = write_fixture(tmp_path / "fx" / "u.json")
    before = fixture.read_bytes()

    def disk_full(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    result = replay(fixture, "--update", "--app", app)
    assert result.exit_code == 2, result.output
    assert "cannot write: No space left on device" in result.stdout
    assert fixture.read_bytes() == before
    assert [p.name for p in fixture.parent.iterdir()] == ["u.json"]


def test_each_fixture_is_validated_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import durable._replay.fixture_schema as schema
    import durable._replay.replay as replay_module

    checked: list[str] = []
    check = schema.check_fixture

    def counting(data: Any) -> list[Any]:
        checked.append(data["expect"]["steps"][-1])
        return check(data)

    monkeypatch.setattr(schema, "check_fixture", counting)
    monkeypatch.setattr(replay_module, "check_fixture", counting)
    app = write_app(tmp_path, notify_code())
    fixture = write_fixture(tmp_path / "u.json")
    assert replay(fixture, "--app", app).exit_code == 1
    assert checked == ["charge"]  # loading it
    checked.clear()
    assert replay(fixture, "--update", "--app", app).exit_code == 0
    assert checked == ["charge", "notify"]  # loading it, and the rewrite before writing it


def test_update_leaves_invalid_fixtures_alone(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    result = replay(bad, "--update", "--app", write_app(tmp_path))
    assert result.exit_code == 2
    assert bad.read_text() == "{"


def test_json_prints_one_object_per_fixture_and_line(tmp_path: Path) -> None:
    app = write_app(tmp_path)
    good = write_fixture(tmp_path / "a.json")
    diverging = copy.deepcopy(FIXTURE["expect"])
    diverging["steps"] = ["fetch", "charge", "pause"]
    bad = write_fixture(tmp_path / "b.json", expect=diverging)
    result = replay(tmp_path, "--json", "--app", app)
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(item["fixture"], item["ok"], item["kind"]) for item in lines] == [
        (str(good), True, "pass"),
        (str(bad), False, "divergence"),
    ]
    assert lines[1]["first_divergence"] == "charge"
    assert lines[1]["actual_steps"][1] == {"key": "pause", "kind": "sleep"}
    assert result.stderr.strip() == "1 passed, 1 failed"  # stdout stays pure JSON lines


# -- speed and the real command ---------------------------------------------------------------


def test_a_directory_of_200_fixtures_replays_in_under_10_seconds(tmp_path: Path) -> None:
    """Acceptance criterion of the replay issue: 200 fixtures, through the CLI, < 10 s."""
    app = write_app(tmp_path)
    for n in range(200):
        data = copy.deepcopy(FIXTURE)
        data["event"]["data"]["id"] = f"o-{n}"
        if n % 2:  # half of them sleep two days for real, on the virtual clock
            del data["steps"]["pause"]
        write_fixture(tmp_path / "fixtures" / f"{n // 50}" / f"f{n:03}.json", **data)
    began = time.perf_counter()
    result = replay(tmp_path / "fixtures", "--app", app)
    elapsed = time.perf_counter() - began
    assert result.exit_code == 0, result.output[-2000:]
    assert summary(result) == "200 passed, 0 failed"
    assert elapsed < 10.0, f"200 fixtures took {elapsed:.2f}s"


def test_console_script_replays_and_discovers_the_project(tmp_path: Path) -> None:
    """The installed ``durable`` command; without --app it discovers the project's apps."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "shop"\n')
    (tmp_path / "shop.py").write_text(ORIGINAL)
    write_fixture(tmp_path / "fixtures" / "ok.json")
    write_fixture(
        tmp_path / "fixtures" / "bad.json", steps={}, expect={"status": "completed", "steps": []}
    )
    script = Path(sys.executable).with_name("durable")
    env = {**os.environ, "NO_COLOR": "1"}
    done = subprocess.run(
        [str(script), "replay", "fixtures"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "✔ fixtures/ok.json" in done.stdout
    assert "✖ fixtures/bad.json divergence" in done.stdout
    assert "step 'fetch' was added after the recorded steps" in done.stdout
    assert done.stdout.splitlines()[-1] == "1 passed, 1 failed"


# -- export -> replay -------------------------------------------------------------------------


def test_exported_fixtures_replay_green(live_server: LiveServer, tmp_path: Path) -> None:
    """Runs of a real dev server, saved by ``durable export`` and the fixture endpoint,
    replay green against the code that recorded them."""
    runner = CliRunner()
    env = {"DURABLE_URL": live_server.url}
    runs = {
        "pipeline": live_server.start("test/pipeline", {"n": 4}),
        "flaky": live_server.start("test/flaky"),
        "doomed": live_server.start("test/doomed"),
        "chain": live_server.start("test/chain"),
        "waiter": live_server.start("test/wait", {"id": "w-1"}),
        "sleeper": live_server.start("test/sleep"),
        "cancelled": live_server.start("test/sleep"),
    }
    live_server.wait_run(runs["waiter"], "waiting")
    live_server.send("test/approved", {"id": "w-1", "ok": True})
    live_server.wait_run(runs["cancelled"], "sleeping")
    assert runner.invoke(cli, ["cancel", runs["cancelled"]], env=env).exit_code == 0
    for name, run_id in runs.items():
        wanted = ("sleeping",) if name == "sleeper" else ()
        live_server.wait_run(run_id, *wanted)
        path = tmp_path / "exported" / f"{name}.json"
        if name == "chain":  # the endpoint itself, as the TUI's export key uses it
            path.write_text(json.dumps(live_server.get(f"/api/runs/{run_id}/fixture")))
            continue
        result = runner.invoke(cli, ["export", run_id, "-o", str(path)], env=env)
        assert result.exit_code == 0, result.output
    statuses = {
        path.stem: json.loads(path.read_text())["expect"]["status"]
        for path in (tmp_path / "exported").iterdir()
    }
    assert statuses == {
        "pipeline": "completed",
        "flaky": "completed",
        "doomed": "failed",
        "chain": "completed",
        "waiter": "completed",
        "sleeper": "sleeping",
        "cancelled": "cancelled",
    }
    result = replay(tmp_path / "exported", "--app", LIVE_APP)
    assert result.exit_code == 0, result.output
    assert summary(result) == "7 passed, 0 failed"


def test_the_example_fixtures_replay_green_against_the_examples() -> None:
    """examples/fixtures, recorded from examples/ (docs/replay.md shows this command)."""
    root = Path(__file__).resolve().parents[2]
    result = replay(root / "examples" / "fixtures", "--app", root / "examples")
    assert result.exit_code == 0, result.output
    assert summary(result) == "3 passed, 0 failed"
