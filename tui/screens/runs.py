"""The runs screen: a live table of runs, newest first, paged through the API cursor."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Header, Input, Static
from textual.worker import Worker

from ..api import ApiError
from ..format import TERMINAL, elapsed, human_duration, status_text
from ..messages import StreamChange
from ..models import (
    RUN_COLUMNS,
    FilterError,
    RunFilter,
    parse_filter,
    run_cells,
    run_counts,
)
from ..widgets.status_bar import ConnectionBar
from ..widgets.table import OpenTable, cursor_row_key, row_key
from .base import DurableScreen
from .run_detail import RunDetailScreen

PAGE_SIZE = 100
MAX_DETAIL_FETCHES = 60  #: run details fetched at once to fill the steps/attempts columns
REFRESH_EVERY = 0.3  #: seconds between two refreshes of the top page while changes arrive
COLUMN_WIDTHS = (12, None, 26, 8, 8, 5, 8)


class RunsScreen(DurableScreen):
    """Runs as they happen; Enter opens one. Only the pages scrolled to are loaded."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter"),
        Binding("c", "cancel_run", "Cancel"),
        Binding("r", "rerun", "Rerun"),
        Binding("x", "export", "Export fixture"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filter = RunFilter()
        self.runs: dict[str, dict[str, Any]] = {}  #: every loaded run (shown or filtered out)
        self.counts: dict[str, tuple[int, int]] = {}  #: (steps, attempts) from run details
        self.stale: set[str] = set()  #: runs whose counts changed since they were fetched
        self.next_cursor: str | None = None
        self.dirty = False
        self.loaded = False
        self.reloading: Worker[None] | None = None  #: the pending reload, if any

    def compose(self) -> ComposeResult:
        """Header, filter line, table, info line, status bar, footer."""
        yield Header()
        yield Input(
            placeholder="status:failed function:ID words…   (Enter applies, Escape closes)",
            id="filter",
        )
        yield Static("", id="filter-summary")
        table = OpenTable(id="runs")
        for label, width in zip(RUN_COLUMNS, COLUMN_WIDTHS, strict=True):
            table.add_column(label, key=label, width=width)
        yield table
        yield Static("", id="runs-info")
        yield ConnectionBar(id="connection")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        """Load the first page; refresh on changes and tick durations of unfinished runs."""
        self.sub_title = "runs"
        self.set_interval(REFRESH_EVERY, self.flush_changes)
        self.set_interval(1.0, self.tick_durations)
        table = self.query_one("#runs", DataTable)
        table.focus()
        self.watch(table, "scroll_y", self.scrolled, init=False)
        self.reloading = self.reload()

    def on_screen_resume(self) -> None:
        """Back on screen: pick up what changed meanwhile."""
        if self.loaded:
            self.dirty = True

    # -- loading ----------------------------------------------------------------------------

    @property
    def table(self) -> DataTable[Any]:
        """The runs table."""
        return self.query_one("#runs", DataTable)

    @work(exclusive=True, group="runs")
    async def reload(self) -> None:
        """Drop every row and load the first page for the current filter.

        It shares its group with :meth:`refresh_top`, so it cancels a refresh in flight (of
        an older filter); :meth:`flush_changes` never starts a refresh while it is pending.
        """
        try:
            page = await self.api.runs(
                status=self.filter.status, function=self.filter.function, limit=PAGE_SIZE
            )
        except ApiError as exc:
            self.report(exc, "load runs")
            self.dirty = True
            return
        if self.gone:
            return
        self.table.clear()
        self.runs.clear()
        self.next_cursor = page.cursor
        self.merge(page.runs)
        self.loaded = True

    @work(exclusive=True, group="runs")
    async def refresh_top(self) -> None:
        """Fetch the first page again and merge it: new runs appear, changed rows update."""
        try:
            page = await self.api.runs(
                status=self.filter.status, function=self.filter.function, limit=PAGE_SIZE
            )
        except ApiError as exc:
            self.report(exc, "refresh runs")
            self.dirty = True
            return
        if self.gone:
            return
        if not self.runs:
            self.next_cursor = page.cursor
        self.merge(page.runs)
        self.loaded = True
        if self.missing_counts():
            self.fill_counts()

    @work(exclusive=True, group="more")
    async def load_more(self) -> None:
        """Append the next (older) page."""
        cursor = self.next_cursor
        if cursor is None:
            return
        try:
            page = await self.api.runs(
                status=self.filter.status,
                function=self.filter.function,
                limit=PAGE_SIZE,
                cursor=cursor,
            )
        except ApiError as exc:
            self.report(exc, "load more runs")
            return
        if self.next_cursor == cursor and not self.gone:
            self.next_cursor = page.cursor
            self.merge(page.runs)

    def merge(self, runs: list[dict[str, Any]]) -> None:
        """Add new runs and update known ones, keeping newest first and the cursor in place."""
        table = self.table
        added = False
        for run in runs:
            run_id = str(run.get("run_id"))
            self.runs[run_id] = run
            shown = run_id in table.rows
            if not self.filter.matches(run):
                if shown:
                    table.remove_row(run_id)
                continue
            counts = run_counts(run)
            if counts is not None:
                self.counts[run_id] = counts
            cells = run_cells(run, self.now(), self.tz, self.counts.get(run_id))
            if shown:
                for column, value in zip(RUN_COLUMNS, cells, strict=True):
                    if str(table.get_cell(run_id, column)) != str(value):
                        table.update_cell(run_id, column, value)
            else:
                table.add_row(*cells, key=run_id)
                added = True
        if added:
            self.sort_newest_first()
        self.show_info()

    def sort_newest_first(self) -> None:
        """Newest first, as the server pages them; the cursor stays on its run, or on top.

        A cursor on the top row follows the newest run (it watches what arrives); anywhere
        else it stays on the run it is on, wherever the new rows push that run.
        """
        table = self.table
        on_top = table.cursor_row == 0
        current = None if on_top else self.current_run_id()

        def newest(cell: Any) -> tuple[str, str]:
            run_id = str(cell)
            return str(self.runs.get(run_id, {}).get("created_at") or ""), run_id

        table.sort("run id", key=newest, reverse=True)
        if on_top:
            table.move_cursor(row=0, scroll=False)
        elif current is not None and current in table.rows:
            table.move_cursor(row=table.get_row_index(current), scroll=False)

    def show_info(self) -> None:
        """``120 runs shown · scroll down for older runs``."""
        shown = self.table.row_count
        more = " · scroll down for older runs" if self.next_cursor else ""
        summary = self.filter.describe()
        runs = "run" if shown == 1 else "runs"
        self.query_one("#runs-info", Static).update(f"{shown} {runs} shown{more}")
        self.query_one("#filter-summary", Static).update(f"filter: {summary}" if summary else "")
        self.query_one("#filter-summary").set_class(bool(summary), "-active")

    # -- live updates -----------------------------------------------------------------------

    def on_stream_change(self, message: StreamChange) -> None:
        """Apply run statuses at once; fetch the rest (new runs, durations, counts) in batches."""
        data = message.data
        run_id = str(data.get("run_id"))
        if message.kind == "run":
            run = self.runs.get(run_id)
            if run is not None:
                run["status"] = data.get("status", run.get("status"))
                self.merge([run])
            self.stale.add(run_id)
            self.dirty = True
        elif message.kind == "step":
            self.stale.add(run_id)
            self.dirty = True
        elif message.kind == "connected":
            self.stale.update(self.counts)
            self.dirty = True

    def flush_changes(self) -> None:
        """Timer: refresh the top page when something changed; fill the visible counts."""
        if not self.is_current_or_below():
            return
        if self.reloading is not None and not self.reloading.is_finished:
            return  # a refresh would cancel the reload; the changes wait for the next tick
        if self.dirty:
            self.dirty = False
            self.refresh_top()
        elif self.missing_counts():
            self.fill_counts()

    def visible_run_ids(self) -> list[str]:
        """The run ids of the rows on screen."""
        table = self.table
        first = int(table.scroll_offset.y)
        last = min(table.row_count, first + max(1, table.size.height))
        return [row_key(table, row) for row in range(first, last)]

    def missing_counts(self) -> list[str]:
        """Visible runs whose step and attempt counts are unknown or out of date."""
        return [
            run_id
            for run_id in self.visible_run_ids()
            if run_id not in self.counts or run_id in self.stale
        ]

    @work(exclusive=True, group="counts")
    async def fill_counts(self) -> None:
        """Fetch the details of visible runs lacking counts (the list view has none)."""
        wanted = self.missing_counts()[:MAX_DETAIL_FETCHES]
        self.stale.difference_update(wanted)
        results = await asyncio.gather(
            *(self.api.run(run_id) for run_id in wanted), return_exceptions=True
        )
        fetched = [r for r in results if isinstance(r, dict) and r.get("run_id")]
        if self.gone:
            return
        for run in fetched:
            counts = run_counts(run)
            if counts is not None:
                self.counts[str(run["run_id"])] = counts
        # Only runs still loaded: a filter change during the fetch dropped the others.
        known = [run for run in fetched if str(run["run_id"]) in self.runs]
        self.merge([{k: v for k, v in run.items() if k != "steps"} for run in known])

    def is_current_or_below(self) -> bool:
        """Whether this screen is in the active stack (current, or under a run detail)."""
        return self in self.app.screen_stack

    def tick_durations(self) -> None:
        """Timer: unfinished runs' durations grow (only the rows on screen are redrawn)."""
        table = self.table
        for run_id in self.visible_run_ids():
            run = self.runs.get(run_id, {})
            if run.get("status") not in TERMINAL:
                seconds = elapsed(run.get("started_at"), run.get("ended_at"), self.now())
                table.update_cell(run_id, "duration", human_duration(seconds))
                table.update_cell(run_id, "status", status_text(run.get("status")))

    @on(DataTable.RowHighlighted, "#runs")
    def near_the_end(self, event: DataTable.RowHighlighted) -> None:
        """Load the next page when the cursor gets close to the last row."""
        if self.next_cursor and event.cursor_row >= self.table.row_count - 10:
            self.load_more()

    def scrolled(self, scroll_y: float) -> None:
        """Load the next page when the view (mouse wheel, page down) nears the last row."""
        table = self.table
        if self.next_cursor and scroll_y + table.size.height >= table.row_count - 10:
            self.load_more()

    # -- actions ----------------------------------------------------------------------------

    def current_run_id(self) -> str | None:
        """The run under the cursor."""
        return cursor_row_key(self.table)

    @on(DataTable.RowSelected, "#runs")
    def action_open_run(self) -> None:
        """Open the selected run."""
        run_id = self.current_run_id()
        if run_id is not None:
            self.app.push_screen(RunDetailScreen(run_id))

    def action_filter(self) -> None:
        """Show the filter line."""
        field = self.query_one("#filter", Input)
        field.value = self.filter.describe()
        field.add_class("-visible")
        field.focus()

    @on(Input.Submitted, "#filter")
    def apply_filter(self, event: Input.Submitted) -> None:
        """Parse the query; reload when the server-side part changed."""
        try:
            wanted = parse_filter(event.value)
        except FilterError as exc:
            self.notify(str(exc), title="filter", severity="error")
            return
        self.set_filter(wanted)
        event.input.remove_class("-visible")
        self.table.focus()

    def set_filter(self, wanted: RunFilter) -> None:
        """Show what ``wanted`` selects."""
        server_side_changed = (wanted.status, wanted.function) != (
            self.filter.status,
            self.filter.function,
        )
        self.filter = wanted
        self.table.clear()
        if server_side_changed:  # what is loaded belongs to the old filter: forget it
            self.workers.cancel_group(self, "more")
            self.runs.clear()
            self.next_cursor = None
            self.show_info()
            self.reloading = self.reload()
            return
        self.merge(list(self.runs.values()))

    def action_clear_filter(self) -> None:
        """Escape: close the filter line, then clear the filter."""
        field = self.query_one("#filter", Input)
        if field.has_class("-visible"):
            field.remove_class("-visible")
            self.table.focus()
        elif self.filter != RunFilter():
            self.set_filter(RunFilter())

    def action_cancel_run(self) -> None:
        """Cancel the selected run (after a confirmation)."""
        if (run_id := self.current_run_id()) is None:
            return
        if self.runs.get(run_id, {}).get("status") in TERMINAL:
            self.notify(f"run {run_id} already ended", title="cancel", severity="warning")
            return
        self.confirm_cancel(run_id, lambda: self.act("cancel", run_id))

    def action_rerun(self) -> None:
        """Rerun the selected run (asks first while it still goes)."""
        if (run_id := self.current_run_id()) is not None:
            run = {"run_id": run_id, **self.runs.get(run_id, {})}
            self.confirm_rerun(run, lambda: self.act("rerun", run_id))

    def action_export(self) -> None:
        """Export the selected run as a fixture."""
        if (run_id := self.current_run_id()) is not None:
            self.act("export", run_id)

    @work(group="actions")
    async def act(self, action: str, run_id: str) -> None:
        """Run one action against the server."""
        if action == "cancel":
            await self.cancel_run(run_id)
        elif action == "rerun":
            await self.rerun_run(run_id)
        else:
            await self.export_run(run_id)
        self.dirty = True
