"""Import user modules and collect their durable functions. Runs in worker processes only.

A module that fails to import or register is reported with its file and line instead of
stopping the others.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from durable._define.app import Durable, DurableFunction
from durable._errors import ConfigError


def module_name(file: Path, root: Path) -> str | None:
    """The dotted module name of ``file`` relative to ``root``, if it is a valid one."""
    try:
        relative = file.resolve().relative_to(root.resolve())
    except ValueError:
        return None
    parts = list(relative.with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    if not parts or not all(part.isidentifier() for part in parts):
        return None
    return ".".join(parts)


def _import(file: Path, root: Path) -> ModuleType:
    name = module_name(file, root)
    if name is not None:
        return importlib.import_module(name)
    synthetic = "durable_user_" + "_".join(file.with_suffix("").parts[-3:]).replace("-", "_")
    spec = importlib.util.spec_from_file_location(synthetic, file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[synthetic] = module
    spec.loader.exec_module(module)
    return module


def error_location(exc: BaseException, file: Path) -> tuple[str, int | None]:
    """Where ``exc`` happened in user code: the innermost frame outside durable itself."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return exc.filename, exc.lineno
    durable_dir = str(Path(__file__).resolve().parent.parent)
    frames = traceback.extract_tb(exc.__traceback__)
    user = [
        f
        for f in frames
        if not f.filename.startswith(durable_dir)
        and "importlib" not in f.filename
        and not f.filename.startswith("<frozen")
    ]
    if user:
        return user[-1].filename, user[-1].lineno
    return str(file), None


def function_info(fn: DurableFunction) -> dict[str, Any]:
    """A function as reported to the server."""
    location = fn.source_location()
    return {
        "id": fn.id,
        "app_id": fn.app.id,
        "options": fn.config.to_dict(),
        "file": location[0] if location else None,
        "line": location[1] if location else None,
    }


def load(
    files: list[Path], root: Path, *, on_module: Callable[[Path], None] | None = None
) -> tuple[dict[str, DurableFunction], list[dict[str, Any]]]:
    """Import ``files``; return their functions by id and the errors met, as dicts.

    ``on_module(file)`` is called before each import (the worker tells the server)."""
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    functions: dict[str, DurableFunction] = {}
    errors: list[dict[str, Any]] = []
    seen_apps: set[int] = set()
    for file in files:
        if on_module is not None:
            on_module(file)
        try:
            module = _import(file, root)
        except BaseException as exc:
            where, line = error_location(exc, file)
            errors.append({"file": where, "line": line, "message": f"{type(exc).__name__}: {exc}"})
            continue
        for value in list(vars(module).values()):
            if not isinstance(value, Durable) or id(value) in seen_apps:
                continue
            seen_apps.add(id(value))
            for fn in value.functions.values():
                if fn.id in functions and functions[fn.id] is not fn:
                    clash = ConfigError(
                        f"apps {functions[fn.id].app.id!r} and {value.id!r} both define it",
                        function_id=fn.id,
                    )
                    location = fn.source_location()
                    errors.append(
                        {
                            "file": location[0] if location else str(file),
                            "line": location[1] if location else None,
                            "message": str(clash),
                        }
                    )
                    continue
                functions[fn.id] = fn
    return functions, errors
