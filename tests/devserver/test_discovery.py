"""Finding durable modules without importing them; loading them in the worker."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from durable.devserver.discovery import DiscoveryError, discover, find_project_root
from durable.devserver.loader import load, module_name

APP = "from durable import Durable\napp = Durable(id='x')\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_discovery_finds_modules_and_skips_venvs_tests_and_hidden(tmp_path: Path) -> None:
    wanted = write(tmp_path / "pkg" / "flows.py", APP)
    write(tmp_path / "pkg" / "plain.py", "x = 1\n")
    write(tmp_path / ".venv" / "lib" / "m.py", APP)
    write(tmp_path / "env2" / "pyvenv.cfg", "")
    write(tmp_path / "env2" / "lib" / "m.py", APP)
    write(tmp_path / "tests" / "test_flows.py", APP)
    write(tmp_path / ".hidden" / "m.py", APP)
    write(tmp_path / "node_modules" / "m.py", APP)
    write(tmp_path / "lib" / "site-packages" / "m.py", APP)
    assert discover([], tmp_path) == [wanted.resolve()]


def test_tool_durable_modules_lists_modules_explicitly(tmp_path: Path) -> None:
    write(
        tmp_path / "pyproject.toml", '[tool.durable]\nmodules = ["app.jobs", "scripts/cron.py"]\n'
    )
    jobs = write(tmp_path / "app" / "jobs.py", "x = 1\n")
    cron = write(tmp_path / "scripts" / "cron.py", "x = 1\n")
    write(tmp_path / "other.py", APP)
    assert discover([], tmp_path) == [jobs.resolve(), cron.resolve()]


def test_tool_durable_naming_a_missing_module_is_a_clear_error(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.durable]\nmodules = ["nope.mod"]\n')
    with pytest.raises(DiscoveryError, match=r"'nope\.mod'"):
        discover([], tmp_path)


def test_bad_pyproject_is_reported_with_its_path(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool.durable\n")
    with pytest.raises(DiscoveryError, match=r"pyproject\.toml"):
        discover([], tmp_path)


def test_project_root_is_the_nearest_pyproject(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "")
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert find_project_root(nested) == tmp_path.resolve()


def test_module_names_follow_the_package_layout(tmp_path: Path) -> None:
    assert module_name(tmp_path / "pkg" / "mod.py", tmp_path) == "pkg.mod"
    assert module_name(tmp_path / "pkg" / "__init__.py", tmp_path) == "pkg"
    assert module_name(tmp_path / "my-dir" / "mod.py", tmp_path) is None


def test_load_reports_errors_with_file_and_line_and_keeps_the_rest(tmp_path: Path) -> None:
    good = write(
        tmp_path / "good_mod.py",
        textwrap.dedent(
            """
            from durable import Durable
            app = Durable(id="good")

            @app.function(id="ok", triggers=[{"event": "a"}])
            async def ok(ctx):
                return 1
            """
        ),
    )
    bad_expr = write(
        tmp_path / "bad_expr_mod.py",
        textwrap.dedent(
            """
            from durable import Durable
            app = Durable(id="bad")

            @app.function(id="broken", triggers=[{"event": "a", "if": "event.data.x =="}])
            async def broken(ctx):
                return 1
            """
        ),
    )
    syntax = write(tmp_path / "syntax_mod.py", "from durable import Durable\ndef (:\n")
    raises = write(tmp_path / "raises_mod.py", "from durable import Durable\nraise SystemExit(3)\n")
    functions, errors = load([good, bad_expr, syntax, raises], tmp_path)
    assert list(functions) == ["ok"]
    by_file = {Path(e["file"]).name: e for e in errors}
    assert by_file["bad_expr_mod.py"]["line"] == 5
    assert "broken" in by_file["bad_expr_mod.py"]["message"]
    assert (
        "position" in by_file["bad_expr_mod.py"]["message"]
        or "column" in (by_file["bad_expr_mod.py"]["message"])
    )
    assert by_file["syntax_mod.py"]["line"] == 2
    assert "SyntaxError" in by_file["syntax_mod.py"]["message"]
    assert by_file["raises_mod.py"]["line"] == 2
