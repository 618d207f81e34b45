"""Bench scripts import the process harness from tests/support (it is not installed): run as
``python bench/x.py`` from any working directory, as ``make bench`` and ``make soak`` do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


# all.py imports every bench script that drives ``durable dev`` (and bench/_common.py).
@pytest.mark.parametrize("script", ["soak.py", "all.py"])
def test_a_bench_script_loads_its_harness_from_any_directory(script: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONSAFEPATH"}}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage:"), done.stdout


def test_the_harness_is_not_installed_with_the_package() -> None:
    import durable.devserver

    folder = Path(durable.devserver.__file__).parent
    assert not (folder / "harness.py").exists()
    assert not (folder / "soak.py").exists()
