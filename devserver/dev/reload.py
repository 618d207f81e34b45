"""Hot reload: watch the project and hand each change to a callback."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import watchfiles

from ..discovery import SKIPPED_DIRS


def _python_change(change: watchfiles.Change, path: str) -> bool:
    parts = Path(path).parts
    if any(p.startswith(".") or p in SKIPPED_DIRS - {"tests", "test"} for p in parts):
        return False
    return path.endswith((".py", "pyproject.toml"))


async def watch(
    paths: list[Path],
    on_change: Callable[[set[str]], Awaitable[None]],
    *,
    debounce_ms: int = 50,
) -> None:
    """Call ``on_change(changed files)`` after each batch of saves, forever."""
    async for changes in watchfiles.awatch(
        *paths, watch_filter=_python_change, debounce=debounce_ms, step=20
    ):
        await on_change({path for _, path in changes})
