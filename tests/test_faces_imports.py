"""The faces (the CLI and the inspector) import only public names: never a ``durable._private``
module, never a module inside the dev server, only names a public module exports."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FACES = ("cli", "tui")
INSTEAD = "use durable.devserver"


def imports_of(source: str) -> list[tuple[int, str, str | None]]:
    """``(line, module, name)`` of every absolute import of ``durable`` (name None for a
    plain ``import``)."""
    found: list[tuple[int, str, str | None]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [(node.lineno, node.module, alias.name) for alias in node.names]
    return [item for item in found if item[1].split(".")[0] == "durable"]


def violations(source: str) -> list[str]:
    """What is wrong with the ``durable`` imports in ``source``."""
    problems = []
    for line, module, name in imports_of(source):
        parts = module.split(".")
        if any(part.startswith("_") for part in parts):
            problems.append(f"line {line}: private module {module}")
        elif parts[:2] == ["durable", "devserver"] and len(parts) > 2:
            problems.append(f"line {line}: {module} is inside the dev server ({INSTEAD})")
        elif name is not None and name.startswith("_"):
            problems.append(f"line {line}: private name {name} from {module}")
        elif name is not None and module in PUBLIC_MODULES:
            exported = importlib.import_module(module).__all__
            if name not in exported and name != "*":
                problems.append(f"line {line}: {module} does not export {name}")
    return problems


#: The public modules whose ``__all__`` bounds what the faces may take from them.
PUBLIC_MODULES = (
    "durable",
    "durable.devserver",
    "durable.fixtures",
    "durable.presentation",
    "durable.statuses",
    "durable.testing",
)


def face_files() -> list[Path]:
    files = sorted(path for face in FACES for path in (ROOT / face).rglob("*.py"))
    assert len(files) > 20  # the scan sees the real sources
    return files


@pytest.mark.parametrize("path", face_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_face_imports_only_public_names(path: Path) -> None:
    assert violations(path.read_text(encoding="utf-8")) == [], path


def test_the_scan_catches_private_imports() -> None:
    source = (
        "from durable._stores.base import RunStatus\n"
        "import durable._presentation\n"
        "from durable.devserver.loader import load\n"
        "from durable import _HOMES\n"
        "from durable.presentation import bar\n"
        "def f():\n"
        "    from durable.devserver.child import RunApp\n"
        "from durable.statuses import RunStatus\n"
        "from durable.devserver import load_apps\n"
        "from .format import parse_time\n"
    )
    assert violations(source) == [
        "line 1: private module durable._stores.base",
        "line 2: private module durable._presentation",
        f"line 3: durable.devserver.loader is inside the dev server ({INSTEAD})",
        "line 4: private name _HOMES from durable",
        "line 5: durable.presentation does not export bar",
        f"line 7: durable.devserver.child is inside the dev server ({INSTEAD})",
    ]


def test_the_public_modules_the_faces_use_do_not_load_the_engine() -> None:
    heavy = [
        "durable._engine.execution",
        "durable._orchestration.orchestrator",
        "durable._stores.sqlite",
        "httpx",
    ]
    probe = (
        "import json, sys; import durable.devserver, durable.presentation, "
        "durable.statuses, durable.fixtures; "
        f"print(json.dumps([m for m in {heavy!r} if m in sys.modules]))"
    )
    output = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(output) == []
