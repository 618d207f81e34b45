"""``durable.devserver.load_apps``: the user's apps in this process, found like ``durable dev``
finds them, or an error saying which step failed and where."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from durable.devserver import LoadAppsError, load_apps

FLOWS = """\
from durable import Durable

app = Durable(id="shop")


@app.function(id="charge", triggers=[{"event": "order/created"}])
async def charge(ctx):
    return "ok"
"""


@pytest.fixture(autouse=True)
def clean_imports() -> Iterator[None]:
    """Forget the user modules a test imported (and the sys.path entries it added)."""
    modules, path = set(sys.modules), list(sys.path)
    yield
    for name in set(sys.modules) - modules:
        del sys.modules[name]
    sys.path[:] = path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_the_project_is_discovered_and_its_functions_loaded(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[project]\nname = 'shop'\n")
    write(tmp_path / "shop_flows_a" / "__init__.py", "")
    write(tmp_path / "shop_flows_a" / "flows.py", FLOWS)
    functions = load_apps(cwd=tmp_path / "shop_flows_a")
    assert list(functions) == ["charge"] and functions["charge"].app.id == "shop"


def test_a_file_outside_the_project_is_imported_from_its_own_folder(tmp_path: Path) -> None:
    app = write(tmp_path / "elsewhere" / "shop_flows_b.py", FLOWS)
    project = tmp_path / "project"
    write(project / "pyproject.toml", "[project]\nname = 'p'\n")
    assert list(load_apps(app, cwd=project)) == ["charge"]


@pytest.mark.parametrize(
    ("text", "reason", "message"),
    [
        (None, "missing", "no such file or folder"),
        ("x = 1\n", "no_apps", "no Durable apps found in"),
        ("from durable import Durable\napp = Durable(id='a')\n", "no_functions", "no durable"),
        ("from durable import Durable\napp = Durable(id='a')\n1 / 0\n", "import", ":3: "),
    ],
)
def test_each_failure_names_its_reason(
    tmp_path: Path, text: str | None, reason: str, message: str
) -> None:
    app = tmp_path / f"shop_broken_{reason}.py"
    if text is not None:
        write(app, text)
    with pytest.raises(LoadAppsError, match=message) as caught:
        load_apps(app, cwd=tmp_path)
    assert caught.value.reason == reason
    if reason == "import":
        assert f"{app}:3: ZeroDivisionError" in str(caught.value)
