"""SVG snapshots of the inspector, compared with the files in ``__snapshots__/``.

The same idea as pytest-textual-snapshot (which cannot be installed next to pytest 9: it pins
syrupy 4.8, which needs pytest < 9): run the app headless at a fixed size, export the SVG
screenshot and compare it with the stored one. ``DURABLE_UPDATE_SNAPSHOTS=1 pytest tests/tui``
writes the current screens as the new expectation; review them (they are SVG images) first.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from textual.app import App
from textual.pilot import Pilot

SNAPSHOTS = Path(__file__).parent / "__snapshots__"
UPDATE = os.environ.get("DURABLE_UPDATE_SNAPSHOTS") == "1"


async def take(
    app: App[Any],
    *,
    size: tuple[int, int] = (120, 32),
    run_before: Callable[[Pilot[Any]], Awaitable[None]] | None = None,
) -> str:
    """Run ``app`` headless, let ``run_before`` drive it, return the screen as SVG."""
    async with app.run_test(size=size) as pilot:
        if run_before is not None:
            await run_before(pilot)
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        return app.export_screenshot()


def compare(name: str, svg: str, failures: Path) -> None:
    """Fail (with where the new screen was saved) unless ``svg`` equals the stored snapshot."""
    expected_path = SNAPSHOTS / f"{name}.svg"
    if UPDATE:
        SNAPSHOTS.mkdir(parents=True, exist_ok=True)
        expected_path.write_text(svg)
        return
    if not expected_path.exists():
        raise AssertionError(
            f"no snapshot {expected_path}: run DURABLE_UPDATE_SNAPSHOTS=1 pytest tests/tui"
        )
    expected = expected_path.read_text()
    if svg == expected:
        return
    failures.mkdir(parents=True, exist_ok=True)
    actual_path = failures / f"{name}.svg"
    actual_path.write_text(svg)
    diff = "".join(
        list(
            difflib.unified_diff(
                expected.splitlines(keepends=True), svg.splitlines(keepends=True), n=0
            )
        )[:40]
    )
    raise AssertionError(
        f"screen {name!r} changed: compare {expected_path} with {actual_path}\n{diff}"
    )
