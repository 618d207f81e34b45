"""Find the modules that define durable apps, without importing them.

The server never imports user code: it lists candidate files (Python files that mention
``Durable(``), and the worker imports them. ``[tool.durable] modules = [...]`` in
``pyproject.toml`` names the modules (dotted names or paths) explicitly instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

SKIPPED_DIRS = frozenset(
    {
        "venv",
        "env",
        "site-packages",
        "dist-packages",
        "node_modules",
        "__pycache__",
        "build",
        "dist",
        "tests",
        "test",
    }
)
MARKER = "Durable("


class DiscoveryError(ValueError):
    """The configuration names modules that do not exist, or is unreadable."""


def find_project_root(start: Path) -> Path:
    """The nearest folder at or above ``start`` holding a ``pyproject.toml``, else ``start``."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file():
            return folder
    return start


def configured_modules(root: Path) -> list[str] | None:
    """``[tool.durable] modules`` from ``root/pyproject.toml``, if set."""
    path = root / "pyproject.toml"
    if not path.is_file():
        return None
    import tomllib  # (~5 ms: only for a project that has the file)

    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DiscoveryError(f"{path}: cannot read [tool.durable]: {exc}") from None
    modules = data.get("tool", {}).get("durable", {}).get("modules")
    if modules is None:
        return None
    if not isinstance(modules, list) or not all(isinstance(m, str) for m in modules):
        raise DiscoveryError(f"{path}: [tool.durable] modules must be a list of strings")
    return modules


def _module_file(root: Path, name: str) -> Path:
    candidate = root / name
    if name.endswith(".py") or "/" in name:
        if candidate.is_file():
            return candidate.resolve()
        raise DiscoveryError(f"[tool.durable] names {name!r}, but {candidate} does not exist")
    base = root.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path.resolve()
    raise DiscoveryError(f"[tool.durable] names module {name!r}, but {base}.py does not exist")


def _skipped(name: str) -> bool:
    return name.startswith(".") or name in SKIPPED_DIRS or name.endswith(".egg-info")


def _walk(path: Path) -> Iterable[Path]:
    if path.is_file():
        if path.suffix == ".py":
            yield path
        return
    for folder, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not _skipped(d))
        if (Path(folder) / "pyvenv.cfg").exists():
            dirs[:] = []
            continue
        for name in sorted(files):
            if name.endswith(".py") and not name.startswith("test_"):
                yield Path(folder) / name


def _mentions_durable(path: Path) -> bool:
    try:
        return MARKER in path.read_text(errors="replace")
    except OSError:
        return False


def discover(paths: list[Path], root: Path) -> list[Path]:
    """The module files to load, in a stable order."""
    if not paths:
        modules = configured_modules(root)
        if modules is not None:
            return [_module_file(root, name) for name in modules]
        paths = [root]
    found: dict[Path, None] = {}
    for path in paths:
        if not path.exists():
            raise DiscoveryError(f"{path} does not exist")
        for file in _walk(path):
            if _mentions_durable(file):
                found[file.resolve()] = None
    return list(found)
