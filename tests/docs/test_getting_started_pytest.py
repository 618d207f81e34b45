"""Getting started's test setup, as a reader copies it: ``shop.py``, ``test_shop.py`` and the
``pyproject.toml`` lines, run by a real pytest, pass without a warning."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "docs" / "getting-started.md"
_BLOCK = re.compile(r"^```(python|toml)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def test_the_getting_started_pytest_setup_runs_without_warnings(tmp_path: Path) -> None:
    blocks = _BLOCK.findall(PAGE.read_text(encoding="utf-8"))
    files = {
        code.split("\n", 1)[0].removeprefix("# ").strip(): code
        for lang, code in blocks
        if lang == "python" and code.startswith(("# shop.py", "# test_shop.py"))
    }
    assert sorted(files) == ["shop.py", "test_shop.py"]
    toml = [code for lang, code in blocks if lang == "toml" and "[tool.pytest" in code]
    assert len(toml) == 1
    for name, code in files.items():
        (tmp_path / name).write_text(code, encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text(toml[0], encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-W", "error", "test_shop.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "1 passed" in output and "warning" not in output.lower()
