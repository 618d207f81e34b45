"""Packaging: the wheel installs cli/, devserver/ and tui/ as durable.cli, durable.devserver and
durable.tui, the `durable` console script runs from a fresh venv, and no test harness ships
(tests/support/harness.py and bench/_soak.py stay in the repository).

The wheel is built from a copy of the sources (no stale build/ directory, no writes into the
repo) and without build isolation when setuptools is recent enough, so no network is needed.
The fresh venv gets the dependencies through a `.pth` line naming this venv's site-packages: a
plain sys.path entry, so this venv's editable-install finder is not activated there.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as dist_version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Source folder -> installed package name (mirrors [tool.setuptools.package-dir]).
PACKAGE_DIRS = {
    "durable": "durable",
    "cli": "durable.cli",
    "devserver": "durable.devserver",
    "tui": "durable.tui",
}
FACES = ("durable.cli", "durable.devserver", "durable.tui")

pytestmark = pytest.mark.timeout(120)


@dataclass(frozen=True)
class FreshVenv:
    python: Path
    bin_dir: Path
    site_packages: Path
    wheel: Path


def _run(
    args: list[str | Path], cwd: Path, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    proc = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, (
        f"{args} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    )
    return proc


def _can_build_offline() -> bool:
    try:
        major, minor = (int(p) for p in dist_version("setuptools").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return False
    return (major, minor) >= (70, 1)


def _source_packages() -> set[str]:
    """Every package the source tree holds, under its installed name."""
    found: set[str] = set()
    for folder, name in PACKAGE_DIRS.items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base)
            if "__pycache__" in rel.parts:
                continue
            found.add(".".join((name, *rel.parts)) if rel.parts else name)
    return found


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FreshVenv]:
    tmp = tmp_path_factory.mktemp("packaging")
    src = tmp / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in PACKAGE_DIRS:
        shutil.copytree(ROOT / folder, src / folder, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)

    dist = tmp / "dist"
    build: list[str | Path] = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", dist, "."]
    if _can_build_offline():
        build[4:4] = ["--no-build-isolation"]
    _run(build, cwd=src, timeout=110)
    (wheel,) = dist.glob("durable-*.whl")

    venv_dir = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv_dir], cwd=tmp)
    python = venv_dir / "bin" / "python"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            python,
            "install",
            "--no-deps",
            "--no-index",
            wheel,
        ],
        cwd=tmp,
    )
    site = Path(
        _run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp
        ).stdout.strip()
    )
    # Dependencies come from this (test) venv's site-packages, as a plain path entry.
    (site / "_durable_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    yield FreshVenv(python=python, bin_dir=venv_dir / "bin", site_packages=site, wheel=wheel)


def test_wheel_holds_every_source_package(fresh_venv: FreshVenv) -> None:
    with zipfile.ZipFile(fresh_venv.wheel) as zf:
        names = set(zf.namelist())
    in_wheel = {
        n[: -len("/__init__.py")].replace("/", ".") for n in names if n.endswith("/__init__.py")
    }
    missing = _source_packages() - in_wheel
    assert not missing, (
        f"add these to [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"
    )
    assert "durable/py.typed" in names
    assert not any(n.startswith(("cli/", "devserver/", "tui/")) for n in names), (
        "faces must be installed under durable/, not at the top level"
    )


#: Test and bench harnesses: they live in tests/support/ and bench/, never in the wheel.
HARNESS_MODULES = ("harness", "soak")


def test_wheel_ships_no_test_harness(fresh_venv: FreshVenv) -> None:
    with zipfile.ZipFile(fresh_venv.wheel) as zf:
        modules = {n[: -len(".py")].replace("/", ".") for n in zf.namelist() if n.endswith(".py")}
        sources = {n: zf.read(n).decode() for n in zf.namelist() if n.endswith(".py")}
    shipped = sorted(m for m in modules if m.rsplit(".", 1)[-1] in HARNESS_MODULES)
    assert not shipped, f"test harnesses in the wheel: {shipped}"
    assert not any(m == "tests" or m.startswith(("tests.", "bench.")) for m in modules)
    test_imports = re.compile(r"^\s*(from|import) (pytest|hypothesis|tests)\b", re.MULTILINE)
    importing = sorted(n for n, text in sources.items() if test_imports.search(text))
    assert not importing, f"shipped modules importing test code or test tools: {importing}"


def test_console_script_runs_from_fresh_venv(fresh_venv: FreshVenv, tmp_path: Path) -> None:
    proc = _run([fresh_venv.bin_dir / "durable", "--help"], cwd=tmp_path, timeout=60)
    assert "durable" in proc.stdout.lower()
    assert "version" in proc.stdout
    proc = _run([fresh_venv.bin_dir / "durable", "version"], cwd=tmp_path, timeout=60)
    assert proc.stdout.strip() == "0.1.0"


def test_faces_import_from_fresh_venv_not_repo(fresh_venv: FreshVenv, tmp_path: Path) -> None:
    code = (
        "import durable, durable.cli, durable.devserver, durable.tui\n"
        "for m in (durable, durable.cli, durable.devserver, durable.tui): print(m.__file__)\n"
    )
    proc = _run([fresh_venv.python, "-c", code], cwd=tmp_path, timeout=60)
    files = [Path(line) for line in proc.stdout.split()]
    assert len(files) == 4
    for file in files:
        assert file.is_relative_to(fresh_venv.site_packages), file
        assert not file.is_relative_to(ROOT), file


def test_faces_import_in_this_environment() -> None:
    """The running venv's install (editable or regular) maps each face to its folder."""
    for name in FACES:
        module = importlib.import_module(name)
        assert module.__file__ is not None
        folder = Path(module.__file__).parent
        short = name.rsplit(".", 1)[1]
        # Editable: <repo>/cli/__init__.py; regular: site-packages/durable/cli/__init__.py.
        assert folder == ROOT / short or (folder.name, folder.parent.name) == (short, "durable")
    from durable.cli.main import app, main

    assert callable(main)
    assert app.info.name == "durable"
