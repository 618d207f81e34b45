"""The runs screen with 10,000 runs: time to first paint, and the cost of one live update.

Self-contained: the inspector runs headless (``App.run_test``) on an in-memory client serving
10,000 runs paged by cursor, as ``GET /api/runs`` does, so the figures are the TUI's own cost
(no HTTP, no server). Prints a table and one JSON line::

    .venv/bin/python bench/tui_runs.py [--runs 10000] [--updates 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console
from rich.table import Table
from textual.pilot import Pilot
from textual.widgets import DataTable

from durable.tui.api import DurableClient, RunPage
from durable.tui.app import DurableApp
from durable.tui.sse import StreamMessage

NOW = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def make_run(index: int, count: int) -> dict[str, Any]:
    started = NOW - timedelta(seconds=index + 1)
    return {
        "run_id": f"01JHQ5Z8R6N{count - index:015d}",
        "function_id": f"fn-{index % 7}",
        "status": "completed",
        "event": {"name": "bench/run", "data": {"i": index}},
        "output": None,
        "error": None,
        "started_at": iso(started),
        "ended_at": iso(started + timedelta(milliseconds=500)),
        "created_at": iso(started),
        "steps": [],
    }


class ManyRuns(DurableClient):
    """``count`` runs served a page at a time; ``push`` feeds the stream."""

    def __init__(self, count: int) -> None:
        super().__init__("http://bench.invalid")
        self.all = [make_run(i, count) for i in range(count)]
        self.index = {run["run_id"]: i for i, run in enumerate(self.all)}
        self.changes: asyncio.Queue[StreamMessage] = asyncio.Queue()

    async def health(self) -> dict[str, Any]:
        return {"status": "ok", "functions": 7, "reloads": 0, "errors": 0}

    async def runs(
        self,
        *,
        status: str | None = None,
        function: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> RunPage:
        start = 0 if cursor is None else self.index[cursor] + 1
        page = [{**run, "steps": None} for run in self.all[start : start + limit]]
        more = start + limit < len(self.all)
        return RunPage(page, page[-1]["run_id"] if more and page else None)

    async def run(self, run_id: str) -> dict[str, Any]:
        return dict(self.all[self.index[run_id]])

    def push(self, kind: str, data: dict[str, Any]) -> None:
        self.changes.put_nowait((kind, data))

    async def stream(
        self, *, min_backoff: float = 0.25, max_backoff: float = 5.0
    ) -> AsyncIterator[StreamMessage]:
        yield "connected", {"url": self.url}
        while True:
            yield await self.changes.get()

    async def aclose(self) -> None:
        return None


async def until(pilot: Pilot[Any], predicate: Callable[[], Any], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except Exception:  # not mounted yet
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("the inspector did not get there")
        await pilot.pause(0.001)


async def measure(count: int, updates: int) -> dict[str, float]:
    client = ManyRuns(count)
    began = time.perf_counter()
    app = DurableApp(client=client, tz=UTC, clock=lambda: NOW, health_every=60)
    async with app.run_test(size=(140, 40)) as pilot:

        def table() -> DataTable[Any]:
            return app.screen.query_one("#runs", DataTable)

        await until(pilot, lambda: table().row_count > 0)
        await pilot.pause()
        first_paint = (time.perf_counter() - began) * 1000
        costs = []
        for i in range(updates):  # a status change of a run on screen
            run = client.all[i % 20]
            status = "failed" if run["status"] != "failed" else "completed"
            run["status"] = status
            start = time.perf_counter()
            client.push("run", {"run_id": run["run_id"], "status": status})
            row = table().get_row_index(run["run_id"])
            await until(pilot, lambda row=row, s=status: s in str(table().get_row_at(row)[0]))
            costs.append((time.perf_counter() - start) * 1000)
        pages = time.perf_counter()
        loaded = table().row_count
        for _ in range(9):  # page down to 1,000 loaded rows
            await pilot.press("end")
            await until(pilot, lambda loaded=loaded: table().row_count > loaded)
            loaded = table().row_count
        per_page = (time.perf_counter() - pages) * 1000 / 9
        fresh = make_run(-1, count)
        fresh["run_id"] = "01JHQ5Z8R6NZZZZZZZZZZZZZZZ"
        client.all.insert(0, fresh)
        client.index = {run["run_id"]: i for i, run in enumerate(client.all)}
        start = time.perf_counter()
        client.push("run", {"run_id": fresh["run_id"], "status": "queued"})
        await until(pilot, lambda: table().row_count == loaded + 1)
        new_run = (time.perf_counter() - start) * 1000
    return {
        "runs": count,
        "first_paint_ms": round(first_paint, 1),
        "update_ms_median": round(statistics.median(costs), 2),
        "update_ms_max": round(max(costs), 2),
        "page_ms": round(per_page, 1),
        "new_run_with_1000_loaded_ms": round(new_run, 1),
        "loaded_rows": loaded + 1,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--updates", type=int, default=50)
    args = parser.parse_args()
    result = asyncio.run(measure(args.runs, args.updates))
    table = Table(title=f"runs screen, {args.runs:,} runs (headless)")
    table.add_column("figure")
    table.add_column("measured", justify="right")
    rows = [
        ("time to first paint (first page of 100)", f"{result['first_paint_ms']} ms"),
        ("live status change: median", f"{result['update_ms_median']} ms"),
        ("live status change: max", f"{result['update_ms_max']} ms"),
        ("next page of 100 (End)", f"{result['page_ms']} ms"),
        ("a new run, 1,000 rows loaded (re-sort)", f"{result['new_run_with_1000_loaded_ms']} ms"),
    ]
    for row in rows:
        table.add_row(*row)
    Console().print(table)
    print(json.dumps({"bench": "tui_runs", **result}))


if __name__ == "__main__":
    main()
