"""Load the user's apps into this process, found the way ``durable dev`` finds them.

The dev server itself never imports user code (its workers do); this is for tools that run
functions in process, such as ``durable replay``. Public as :func:`durable.devserver.load_apps`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from .discovery import DiscoveryError, discover, find_project_root
from .loader import load

if TYPE_CHECKING:
    from durable import DurableFunction

Reason = Literal["missing", "discovery", "no_apps", "import", "no_functions"]


class LoadAppsError(ValueError):
    """The apps could not be loaded. ``reason`` says which step failed (``missing``: no such
    path; ``discovery``: the project's configuration is wrong; ``no_apps``: no module creates a
    ``Durable``; ``import``: modules failed, each named with file and line in the message;
    ``no_functions``: the apps define none)."""

    def __init__(self, message: str, *, reason: Reason) -> None:
        super().__init__(message)
        self.reason: Reason = reason


def load_apps(path: Path | None = None, *, cwd: Path | None = None) -> dict[str, DurableFunction]:
    """Import the apps in ``path`` (a file or folder), or those discovered in the project of
    ``cwd`` (default: the current folder) like ``durable dev`` does; their functions by id.

    Raises :class:`LoadAppsError` naming what went wrong (every failing module's file and line).
    """
    root = find_project_root(cwd if cwd is not None else Path.cwd())
    paths: list[Path] = []
    if path is not None:
        if not path.exists():
            raise LoadAppsError(f"{path}: no such file or folder", reason="missing")
        resolved = path.resolve()
        if not resolved.is_relative_to(root):
            root = import_root(resolved)
        paths = [resolved]
    where = str(path) if path is not None else f"the project at {root}"
    try:
        files = discover(paths, root)
    except DiscoveryError as exc:
        raise LoadAppsError(str(exc), reason="discovery") from None
    if not files:
        raise LoadAppsError(
            f"no Durable apps found in {where} (no module creates a `Durable(...)`)",
            reason="no_apps",
        )
    functions, errors = load(files, root)
    if errors:
        lines = [
            f"{error['file']}:{error['line']}: {error['message']}"
            if error.get("line")
            else f"{error['file']}: {error['message']}"
            for error in errors
        ]
        raise LoadAppsError("cannot load the apps:\n  " + "\n  ".join(lines), reason="import")
    if not functions:
        raise LoadAppsError(f"no durable functions found in {where}", reason="no_functions")
    return dict(functions)


def import_root(path: Path) -> Path:
    """Where to import ``path`` from when it lies outside the current project: its own
    project, else the folder above its package, else its folder."""
    folder = path if path.is_dir() else path.parent
    project = find_project_root(folder)
    if project != folder:
        return project
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        folder = folder.parent  # a package: import it by its dotted name
    return folder
