"""The test tree's layout: folders share helpers through ``tests/support/``, never by importing
each other.

An AST scan over every ``.py`` file under ``tests/`` pins that

* no module imports a test module (``test_*.py``) or a conftest (a test module gets what its
  folder's conftest offers through fixtures only);
* a module imports from another test folder only ``tests.support`` (helpers of one folder, e.g.
  ``tests/tui/snapshots.py``, stay private to it), and ``tests/support`` imports only itself;
* conftest files hold only fixtures and pytest hooks (shared code lives in ``tests/support``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """Every module name ``node`` may import (``from a import b``: ``a`` and ``a.b``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        anchor = package[: len(package) - (node.level - 1)]
        base = ".".join([*anchor, *([base] if base else [])])
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def _file_of(name: str, root: Path) -> Path | None:
    """The file under ``root`` (the tests folder) that module ``name`` is, if any."""
    parts = name.split(".")
    if parts[0] != root.name:
        return None
    base = root.parent.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _folder(path: Path, root: Path) -> str:
    """The test folder a file belongs to ('' for files directly under ``tests/``)."""
    rel = path.relative_to(root).parts
    return rel[0] if len(rel) > 1 else ""


def _import_problems(path: Path, root: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    module = _module_name(path, root)
    here = _folder(path, root)
    where = path.relative_to(root.parent)
    problems: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        for name in _imported(node, module, path.name == "__init__.py"):
            target = _file_of(name, root)
            if target is None or target == path:
                continue
            shown = target.relative_to(root.parent)
            folder = _folder(target, root)
            if target.name.startswith("test_") or target.name == "conftest.py":
                problems.append(f"{where}:{node.lineno}: imports {shown} (use tests/support)")
            elif here == "support" and folder != "support":
                problems.append(f"{where}:{node.lineno}: tests/support imports {shown}")
            elif folder not in (here, "support"):
                problems.append(
                    f"{where}:{node.lineno}: imports {shown} from another test folder "
                    "(move it to tests/support)"
                )
    return problems


def _is_fixture_or_hook(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    if node.name.startswith("pytest_"):
        return True
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if ast.unparse(target) in ("pytest.fixture", "fixture", "pytest_asyncio.fixture"):
            return True
    return False


def _conftest_problems(path: Path, root: Path) -> list[str]:
    where = path.relative_to(root.parent)
    problems: list[str] = []
    for index, node in enumerate(ast.parse(path.read_text()).body):
        if isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _is_fixture_or_hook(node):
            continue
        if isinstance(node, ast.Expr) and ast.unparse(node.value).startswith(
            "pytest.register_assert_rewrite("
        ):
            continue
        problems.append(
            f"{where}:{node.lineno}: a conftest holds only fixtures and hooks; "
            "move this to tests/support"
        )
    return problems


def layout_problems(root: Path) -> list[str]:
    """Every breach of the layout rules (see the module docstring) in the tests folder ``root``."""
    problems: list[str] = []
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        problems += _import_problems(path, root)
        if path.name == "conftest.py":
            problems += _conftest_problems(path, root)
    return problems


def test_test_folders_share_code_only_through_tests_support() -> None:
    assert layout_problems(TESTS) == []


def test_shared_helpers_live_in_tests_support() -> None:
    support = TESTS / "support"
    assert (support / "__init__.py").is_file()
    for name in ("harness", "live", "live_app", "extra_functions", "held", "tui_pilot"):
        assert (support / f"{name}.py").is_file(), name


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small tests folder breaking every rule once (the scan must see each)."""
    root = tmp_path / "tests"
    files = {
        "__init__.py": "",
        "support/__init__.py": "",
        "support/good.py": "from tests.support import good2\n",
        "support/good2.py": "",
        "support/bad.py": "from tests.a.helpers import x\n",
        "a/__init__.py": "",
        "a/conftest.py": (
            '"""Doc."""\nimport pytest\nHELPER = 1\n\n@pytest.fixture\ndef f():\n    return 1\n'
        ),
        "a/helpers.py": "x = 1\n",
        "a/test_one.py": (
            "from .helpers import x\nfrom tests.support.good import good2\nfrom . import test_two\n"
        ),
        "a/test_two.py": "from .conftest import HELPER\n",
        "b/__init__.py": "",
        "b/test_three.py": "from tests.a.helpers import x\nimport tests.a.test_one\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_the_scan_finds_each_kind_of_breach(tree: Path) -> None:
    problems = layout_problems(tree)
    assert len(problems) == 6, problems
    text = "\n".join(problems)
    assert "tests/a/test_one.py:3: imports tests/a/test_two.py" in text
    assert "tests/a/test_two.py:1: imports tests/a/conftest.py" in text
    assert "tests/b/test_three.py:1: imports tests/a/helpers.py from another test folder" in text
    assert "tests/b/test_three.py:2: imports tests/a/test_one.py" in text
    assert "tests/support/bad.py:1: tests/support imports tests/a/helpers.py" in text
    assert "tests/a/conftest.py:3: a conftest holds only fixtures and hooks" in text
