"""One run: its event, output or error (with traceback), step timeline and log lines."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any, ClassVar

from rich.console import Group, RenderableType
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Footer, Header, Static
from textual.widgets.data_table import ColumnKey

from ..api import ApiError
from ..format import (
    TERMINAL,
    clock_time,
    date_time,
    elapsed,
    human_duration,
    status_text,
)
from ..messages import StreamChange
from ..panels import cancel_reason, error_block, json_block, step_block
from ..timeline import LEGEND, TimelineRow, axis_label, timeline_rows
from ..widgets.status_bar import ConnectionBar
from ..widgets.table import cursor_row_key, fit, flex_width
from .base import DurableScreen, is_not_found

TIMELINE_COLUMNS = ("step", "kind", "status", "timeline", "duration", "detail")
LABEL_MAX = 32  #: the step column grows to fit step keys up to this width
REFRESH_DELAY = 0.2
TICK_EVERY = 1.0  #: seconds between two redraws of a run still going


class RunDetailScreen(DurableScreen):
    """The inspector's view of one run; follows it live."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("c", "cancel_run", "Cancel"),
        Binding("r", "rerun", "Rerun"),
        Binding("R,shift+r", "rerun_from_step", "Rerun from step"),
        Binding("x", "export", "Export fixture"),
        Binding("l", "toggle_logs", "Step logs"),
    ]

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.run: dict[str, Any] = {}
        self.logs_for_step = False
        self.refresh_timer: Any = None
        self.timeline_layout: tuple[tuple[int, ...], list[str]] | None = None

    def compose(self) -> ComposeResult:
        """Summary, legend, timeline table, event/output and logs panes."""
        yield Header()
        yield Static(Text(f"loading {self.run_id} …"), id="run-summary")
        yield Static("", id="timeline-legend")
        table: DataTable[Any] = DataTable(id="timeline", cursor_type="row")
        yield table
        with Horizontal(id="run-panes"):
            with VerticalScroll(id="run-data"):
                yield Static("", id="run-output")
                yield Static("", id="step-detail")
                yield Static(Text("event", style="bold"), classes="pane-title")
                yield Static("", id="run-event")
            with VerticalScroll(id="run-logs-pane"):
                yield Static(Text("logs · all steps", style="bold"), id="logs-title")
                yield Static("", id="run-logs")
        yield ConnectionBar(id="connection")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        """Load the run and its logs."""
        self.sub_title = f"run {self.run_id}"
        self.query_one("#timeline", DataTable).focus()
        self.set_interval(TICK_EVERY, self.tick)
        self.load()

    def on_resize(self) -> None:
        """The bars scale to the width."""
        if self.run:
            self.show_timeline()

    # -- loading ----------------------------------------------------------------------------

    @work(exclusive=True, group="run")
    async def load(self) -> None:
        """Fetch the run, then its logs."""
        try:
            run = await self.api.run(self.run_id)
        except ApiError as exc:
            if self.gone:
                return
            if is_not_found(exc):
                self.query_one("#run-summary", Static).update(
                    Text(f"run {self.run_id} not found", style="bold red")
                )
            else:
                self.report(exc, f"load run {self.run_id}")
            return
        if self.gone:
            return
        self.run = run
        self.show_summary()
        self.show_timeline()
        self.show_data()
        await self.load_logs()

    async def load_logs(self) -> None:
        """Fetch the log lines (all, or the selected step's)."""
        step = self.selected_step() if self.logs_for_step else None
        try:
            lines = await self.api.logs(self.run_id, step=step)
        except ApiError as exc:
            self.report(exc, "load logs")
            return
        if self.gone:
            return
        title = f"logs · step {step}" if step else "logs · all steps"
        self.query_one("#logs-title", Static).update(Text(title, style="bold"))
        self.query_one("#run-logs", Static).update(self.format_logs(lines))

    def format_logs(self, lines: list[dict[str, Any]]) -> Text:
        """``12:00:01.250 INFO  [charge] charged 12 EUR`` per line."""
        if not lines:
            return Text("no log lines", style="dim")
        text = Text()
        for line in lines:
            level = str(line.get("level", "INFO")).upper()
            style = {"ERROR": "red", "WARNING": "yellow", "DEBUG": "dim"}.get(level, "")
            step = line.get("step_key") or line.get("step")
            text.append(clock_time(line.get("ts"), self.tz, millis=True) + " ", style="dim")
            text.append(f"{level:<8}", style=style or "bold")
            if step:
                text.append(f"[{step}] ", style="cyan")
            text.append(str(line.get("message", "")) + "\n")
        text.rstrip()
        return text

    # -- rendering --------------------------------------------------------------------------

    def show_summary(self) -> None:
        """Status, function, id, times, trigger and cancellation reason."""
        run = self.run
        seconds = elapsed(run.get("started_at"), run.get("ended_at"), self.now())
        event = run.get("event") or {}
        summary = Text.assemble(
            status_text(run.get("status")),
            "  ",
            (str(run.get("function_id", "")), "bold"),
            "  ",
            (self.run_id, "dim"),
            f"\nstarted {date_time(run.get('started_at'), self.tz)}"
            f" · ended {date_time(run.get('ended_at'), self.tz)}"
            f" · duration {human_duration(seconds)}"
            f" · event {event.get('name', '—')}",
        )
        reason = cancel_reason(run)
        if reason:
            summary.append(f"\n⊘ cancelled: {reason}", style="bold yellow")
        if run.get("status") == "queued" and run.get("queued_reason"):
            summary.append(f"\n⏸ held back: {run['queued_reason']}", style="bold yellow")
        retry_notice = retry_text(run, self.tz)
        if retry_notice:
            summary.append(f"\n{retry_notice}", style="bold yellow")
        self.query_one("#run-summary", Static).update(summary)

    def timeline_widths(self) -> tuple[int, ...]:
        """Column widths: the step column fits its keys, bars and detail share the rest."""
        keys = [len(str(step.get("key", ""))) for step in self.run.get("steps") or []]
        label = min(LABEL_MAX, max([len("  ↳ attempt 10"), *keys]))
        fixed = (label, 6, 12, 8)
        free = flex_width(self.size.width - 2, fixed, 30)  # 2: the scrollbar
        bars = max(16, free * 11 // 20)  #: the bars; the detail column gets the rest
        return (label, 6, 12, bars, 8, max(8, free - bars - 4))

    def show_timeline(self) -> None:
        """One row per step (and per attempt of retried steps) on a shared axis."""
        table = self.query_one("#timeline", DataTable)
        widths = self.timeline_widths()
        axis, rows = timeline_rows(self.run, widths[3], self.now(), self.tz)
        keys = [row.row_key for row in rows]
        same_rows = rows and (widths, keys) == self.timeline_layout
        if not (same_rows and self.update_timeline(table, rows, axis_label(axis))):
            self.timeline_layout = (widths, keys)
            selected = self.selected_row_key()
            table.clear(columns=True)
            for label, size in zip(TIMELINE_COLUMNS, widths, strict=True):
                title = axis_label(axis) if label == "timeline" else label
                table.add_column(title, key=label, width=size)
            for row in rows:
                table.add_row(*self.timeline_cells(row), key=row.row_key)
            if selected is not None and selected in table.rows:
                table.move_cursor(row=table.get_row_index(selected), scroll=False)
        legend = LEGEND if rows else Text("no steps yet", style="dim")
        self.query_one("#timeline-legend", Static).update(legend)
        self.show_step()

    def update_timeline(self, table: DataTable[Any], rows: list[TimelineRow], label: str) -> bool:
        """Update the changed cells of the same rows in place (no flicker, scroll kept).

        False when only the axis label changed: the table redraws its header with a cell
        change only, so the caller rebuilds it.
        """
        changed = False
        for row in rows:
            cells = self.timeline_cells(row)
            for column, old, new in zip(
                TIMELINE_COLUMNS, table.get_row(row.row_key), cells, strict=True
            ):
                if old != new:
                    table.update_cell(row.row_key, column, new)
                    changed = True
        axis = table.columns[ColumnKey("timeline")]
        if axis.label.plain == label:
            return True
        axis.label = Text(label)
        return changed

    @staticmethod
    def timeline_cells(row: TimelineRow) -> tuple[Any, ...]:
        """The cells of one timeline row, cut with ``…`` where too long."""
        failed = row.status in ("failed", "errored")
        return (
            fit(row.label, "dim" if row.attempt else "bold"),
            fit(row.kind),
            fit(status_text(row.status)) if row.status else "",
            row.bar,
            fit(row.duration),
            fit(row.detail, "red" if failed else ("cyan" if row.reused else "")),
        )

    def tick(self) -> None:
        """Timer: a run still going (parked too) shows durations and bars that keep growing."""
        if self.run and self.run.get("status") not in TERMINAL and not self.gone:
            self.show_summary()
            self.show_timeline()

    def show_data(self) -> None:
        """Output (or error and traceback) and the triggering event."""
        run = self.run
        status = run.get("status")
        blocks: list[RenderableType] = []
        if run.get("error") and status != "cancelled":
            blocks += [Text("error", style="bold red"), error_block(run["error"])]
        elif status == "completed":
            blocks += [Text("output", style="bold"), json_block(run.get("output"))]
        elif status == "cancelled":
            blocks += [Text(f"⊘ cancelled: {cancel_reason(run)}", style="bold yellow")]
        elif status in TERMINAL:
            blocks += [Text(str(status), style="bold")]
        else:
            blocks += [Text(f"output: not yet ({status})", style="dim")]
        self.query_one("#run-output", Static).update(Group(*blocks))
        self.query_one("#run-event", Static).update(json_block(run.get("event") or {}))

    # -- selection and live updates ---------------------------------------------------------

    def selected_row_key(self) -> str | None:
        """The timeline row under the cursor."""
        return cursor_row_key(self.query_one("#timeline", DataTable))

    def selected_step(self) -> str | None:
        """The step key under the cursor (attempt rows belong to their step)."""
        key = self.selected_row_key()
        return key.split("#", 1)[0] if key else None

    @on(DataTable.RowHighlighted, "#timeline")
    def step_highlighted(self) -> None:
        """Show the selected step; when following one step's logs, switch to its logs."""
        self.show_step()
        if self.logs_for_step:
            self.reload_logs()

    def show_step(self) -> None:
        """The selected step in full: every attempt with its times and whole error, output."""
        key = self.selected_step()
        step = next((s for s in self.run.get("steps") or [] if s.get("key") == key), None)
        panel = self.query_one("#step-detail", Static)
        panel.update(step_block(step, self.tz) if step else "")

    @work(exclusive=True, group="logs")
    async def reload_logs(self) -> None:
        """Fetch the logs again (a worker, so key presses stay instant)."""
        await self.load_logs()

    def on_stream_change(self, message: StreamChange) -> None:
        """Reload shortly after a change of this run (changes come in bursts)."""
        mine = message.kind == "connected" or message.data.get("run_id") == self.run_id
        if mine and self.refresh_timer is None:
            self.refresh_timer = self.set_timer(REFRESH_DELAY, self.refresh_now)

    def refresh_now(self) -> None:
        """Timer: reload the run."""
        self.refresh_timer = None
        self.load()

    # -- actions ----------------------------------------------------------------------------

    def action_toggle_logs(self) -> None:
        """Show all log lines, or only the selected step's."""
        self.logs_for_step = not self.logs_for_step
        self.reload_logs()

    def action_cancel_run(self) -> None:
        """Cancel this run (after a confirmation)."""
        if self.run.get("status") in TERMINAL:
            self.notify(f"run {self.run_id} already ended", title="cancel", severity="warning")
            return
        self.confirm_cancel(self.run_id, lambda: self.act("cancel"))

    def action_rerun(self) -> None:
        """Start a new run with the same event (asks first while this one still goes)."""
        self.confirm_rerun({"run_id": self.run_id, **self.run}, lambda: self.act("rerun"))

    def action_rerun_from_step(self) -> None:
        """Rerun reusing the recorded results before the selected step."""
        step = self.selected_step()
        if step is None:
            self.notify("select a step first", title="rerun", severity="warning")
            return
        self.confirm_rerun(
            {"run_id": self.run_id, **self.run}, lambda: self.act("rerun", step), step
        )

    def action_export(self) -> None:
        """Write this run as a replay fixture."""
        self.act("export")

    @work(group="actions")
    async def act(self, action: str, step: str | None = None) -> None:
        """Run one action against the server."""
        if action == "cancel":
            if await self.cancel_run(self.run_id) and not self.gone:
                self.load()
        elif action == "rerun":
            new_id = await self.rerun_run(self.run_id, from_step=step)
            if new_id and not self.gone:
                # In place of this run: Escape goes back to the list, not through every rerun.
                self.app.switch_screen(RunDetailScreen(new_id))
        else:
            path = await self.export_run(self.run_id)
            if path is not None and not self.gone:
                self.sub_title = f"run {self.run_id} · fixture {path}"


def retry_text(run: dict[str, Any], tz: tzinfo | None) -> str | None:
    """What a running run whose handler body raised waits for: its next attempt, and why."""
    error, retry_at = run.get("error"), run.get("retry_at")
    if run.get("status") != "running" or not isinstance(error, dict) or not retry_at:
        return None
    what = f"{error.get('name') or 'Error'}: {error.get('message') or ''}".strip().rstrip(":")
    if len(what) > 120:
        what = what[:119] + "…"
    return (
        f"↻ attempt {run.get('attempt') or 1} failed ({what}); retry at {date_time(retry_at, tz)}"
    )
