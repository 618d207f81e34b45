"""The events screen: recent events, live; send a new one or re-send the selected one."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.console import Group
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Footer, Header, Static

from ..api import ApiError
from ..format import clock_time, parse_time
from ..messages import StreamChange
from ..panels import json_block
from ..widgets.status_bar import ConnectionBar
from ..widgets.table import OpenTable, cursor_row_key, fit, flex_width
from .base import DurableScreen
from .run_detail import RunDetailScreen

EVENT_LIMIT = 200
FIXED_WIDTHS = (8, 26, 4)  #: time, id, runs: the name column gets the rest
NAME_MIN = 16
REFRESH_DELAY = 0.3


def event_time(event: dict[str, Any]) -> Any:
    """When the event happened: ``ts`` (ms) or ``received_at``."""
    ts = event.get("ts")
    if isinstance(ts, (int, float)):
        return ts / 1000
    return event.get("received_at") or parse_time(ts)


class EventsScreen(DurableScreen):
    """Recent events with the runs each started."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "resend", "Re-send"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.events: dict[str, dict[str, Any]] = {}  #: by row key
        self.listed: list[dict[str, Any]] = []  #: as the server listed them, newest first
        self.refresh_timer: Any = None

    def compose(self) -> ComposeResult:
        """Table of events and the selected event's detail."""
        yield Header()
        with Horizontal(id="events-panes"):
            yield OpenTable(id="events")
            with VerticalScroll(id="event-detail-pane"):
                yield Static("", id="event-detail")
        yield ConnectionBar(id="connection")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        """Load the events."""
        self.sub_title = "events"
        self.query_one("#events", DataTable).focus()

    def on_screen_resume(self) -> None:
        """Reload whenever the screen comes back."""
        self.load()

    @work(exclusive=True, group="events")
    async def load(self) -> None:
        """Fetch recent events and show them newest first."""
        try:
            events = await self.api.events(limit=EVENT_LIMIT)
        except ApiError as exc:
            self.report(exc, "load events")
            return
        if self.gone:
            return
        self.listed = events
        self.show_events()

    def on_resize(self) -> None:
        """The name column takes the width the table gets."""
        if self.listed:
            self.show_events()

    def show_events(self) -> None:
        """One row per event record: two records sharing an id (a skipped duplicate) both show."""
        table = self.query_one("#events", DataTable)
        name_width = flex_width(table.size.width - 2, FIXED_WIDTHS, NAME_MIN)
        selected = self.selected_id()
        table.clear(columns=True)
        table.add_column("time", key="time", width=FIXED_WIDTHS[0])
        table.add_column("name", key="name", width=name_width)
        table.add_column("id", key="id", width=FIXED_WIDTHS[1])
        table.add_column("runs", key="runs", width=FIXED_WIDTHS[2])
        self.events = {}
        for event in self.listed:
            event_id = str(event.get("id"))
            key, again = event_id, 1
            while key in self.events:  # the same id again: its own row, its own key
                again += 1
                key = f"{event_id}#{again}"
            self.events[key] = event
            runs = event.get("run_ids") or []
            table.add_row(
                clock_time(event_time(event), self.tz),
                fit(str(event.get("name", ""))),
                fit(event_id, "dim"),
                fit(str(len(runs)), justify="right"),
                key=key,
            )
        if selected is not None and selected in table.rows:
            table.move_cursor(row=table.get_row_index(selected), scroll=False)
        self.show_detail()

    def selected_id(self) -> str | None:
        """The event under the cursor."""
        return cursor_row_key(self.query_one("#events", DataTable))

    @on(DataTable.RowHighlighted, "#events")
    def show_detail(self) -> None:
        """The selected event in full, with its runs (or why it started none)."""
        event = self.events.get(self.selected_id() or "")
        detail = self.query_one("#event-detail", Static)
        if event is None:
            detail.update(Text("no events yet — press s to send one", style="dim"))
            return
        body = {k: event[k] for k in ("name", "data", "id", "ts", "user") if event.get(k)}
        runs = event.get("run_ids") or []
        parts: list[Any] = [json_block(body), Text("runs started", style="bold")]
        parts.append(Text("\n".join(runs) if runs else "none", style="" if runs else "dim"))
        if event.get("skipped"):
            parts.append(Text(f"skipped: {event['skipped']}", style="yellow"))
        elif not runs and (why := event.get("no_run_reason") or event.get("reason")):
            parts.append(Text(f"no run started: {why}", style="yellow"))
        detail.update(Group(*parts))

    def on_stream_change(self, message: StreamChange) -> None:
        """New events (or a reconnection): reload shortly."""
        if message.kind in ("event", "connected") and self.refresh_timer is None:
            self.refresh_timer = self.set_timer(REFRESH_DELAY, self.refresh_now)

    def refresh_now(self) -> None:
        """Timer: reload."""
        self.refresh_timer = None
        self.load()

    @on(DataTable.RowSelected, "#events")
    def action_open_run(self) -> None:
        """Open the first run the selected event started."""
        event = self.events.get(self.selected_id() or "")
        runs = (event or {}).get("run_ids") or []
        if runs:
            self.app.push_screen(RunDetailScreen(str(runs[0])))
        elif event is not None:
            self.notify("this event started no run", title="events", severity="warning")

    def action_resend(self) -> None:
        """Open the send form filled with the selected event (it gets a new id when sent)."""
        event = self.events.get(self.selected_id() or "")
        if event is None:
            self.notify("no event selected", title="re-send", severity="warning")
            return
        self.inspector.open_send_form(
            str(event.get("name", "")), event.get("data") or {}, title="Re-send an event"
        )
