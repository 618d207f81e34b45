"""The functions screen: registered functions, their triggers and config, and reload errors."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.console import Group, RenderableType
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Footer, Header, Static

from ..api import ApiError
from ..messages import FunctionsReloaded, StreamChange
from ..panels import json_block
from ..widgets.status_bar import ConnectionBar
from ..widgets.table import cursor_row_key, fit, flex_width
from .base import DurableScreen
from .run_detail import RunDetailScreen

ID_MAX, APP_MAX = 40, 16  #: the id and app columns fit their longest value up to these


def trigger_text(trigger: dict[str, Any]) -> str:
    """``order/created``, ``user/action if …`` or ``cron 0 12 * * 5``."""
    if "cron" in trigger:
        return f"cron {trigger['cron']}"
    text = str(trigger.get("event", "?"))
    return f"{text} if {trigger['if']}" if trigger.get("if") else text


def event_to_invoke(function: dict[str, Any]) -> str | None:
    """The name of an event that triggers ``function`` (wildcards filled in), if any."""
    for trigger in function.get("triggers") or []:
        name = trigger.get("event")
        if name:
            return str(name).replace("*", "manual")
    return None


def errors_block(errors: list[dict[str, Any]]) -> RenderableType:
    """Every registration error in full, with its file and line."""
    count = len(errors)
    parts: list[RenderableType] = [
        Text(
            f"⚠ {count} load error{'s' if count > 1 else ''}: the last good version keeps serving",
            style="bold red",
        )
    ]
    for error in errors:
        where = str(error.get("file", "?"))
        if error.get("line"):
            where += f":{error['line']}"
        parts.append(Text.assemble((where, "bold"), " ", (str(error.get("message", "")), "red")))
    return Group(*parts)


class FunctionsScreen(DurableScreen):
    """Functions as the server registered them; invoke one by hand."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("i", "invoke", "Invoke / run cron now"),
        Binding("e", "send_trigger", "Send trigger event"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.functions: dict[str, dict[str, Any]] = {}
        self.listed: list[dict[str, Any]] = []  #: as the server listed them

    def compose(self) -> ComposeResult:
        """Errors panel, functions table and the selected function's config."""
        yield Header()
        yield Static("", id="reload-errors")
        with Horizontal(id="functions-panes"):
            yield DataTable(id="functions", cursor_type="row")
            with VerticalScroll(id="function-detail-pane"):
                yield Static("", id="function-detail")
        yield ConnectionBar(id="connection")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        """Focus the table."""
        self.sub_title = "functions"
        self.query_one("#functions", DataTable).focus()

    def on_screen_resume(self) -> None:
        """Reload whenever the screen comes back."""
        self.load()

    def on_functions_reloaded(self, message: FunctionsReloaded) -> None:
        """The server reloaded the code: show the new functions and errors."""
        self.load()

    def on_stream_change(self, message: StreamChange) -> None:
        """After a reconnection the code may have changed (reloads come from /health)."""
        if message.kind == "connected":
            self.load()

    @work(exclusive=True, group="functions")
    async def load(self) -> None:
        """Fetch functions and registration errors."""
        try:
            body = await self.api.functions()
        except ApiError as exc:
            self.report(exc, "load functions")
            return
        if self.gone:
            return
        errors = list(body.get("errors") or [])
        panel = self.query_one("#reload-errors", Static)
        panel.update(errors_block(errors) if errors else "")
        panel.set_class(bool(errors), "-visible")
        self.listed = list(body.get("functions") or [])
        self.show_functions()

    def on_resize(self) -> None:
        """The triggers column takes the width the table gets."""
        if self.listed:
            self.show_functions()

    def show_functions(self) -> None:
        """The functions table; ids and apps fit their longest, triggers get the rest."""
        table = self.query_one("#functions", DataTable)
        ids = [len(str(f.get("id"))) for f in self.listed]
        apps = [len(str(f.get("app_id", ""))) for f in self.listed]
        fixed = (min(ID_MAX, max([8, *ids])), min(APP_MAX, max([3, *apps])))
        selected = self.selected_id()
        table.clear(columns=True)
        table.add_column("function", key="id", width=fixed[0])
        table.add_column("app", key="app", width=fixed[1])
        table.add_column(
            "triggers", key="triggers", width=flex_width(table.size.width - 2, fixed, 20)
        )
        self.functions = {}
        for function in self.listed:
            fid = str(function.get("id"))
            self.functions[fid] = function
            triggers = ", ".join(trigger_text(t) for t in function.get("triggers") or [])
            table.add_row(fit(fid), fit(str(function.get("app_id", ""))), fit(triggers), key=fid)
        if selected is not None and selected in table.rows:
            table.move_cursor(row=table.get_row_index(selected), scroll=False)
        self.show_detail()

    def selected_id(self) -> str | None:
        """The function under the cursor."""
        return cursor_row_key(self.query_one("#functions", DataTable))

    @on(DataTable.RowHighlighted, "#functions")
    def show_detail(self) -> None:
        """Triggers, config and source location of the selected function."""
        function = self.functions.get(self.selected_id() or "")
        detail = self.query_one("#function-detail", Static)
        if function is None:
            detail.update(Text("no functions registered", style="dim"))
            return
        where = str(function.get("file") or "")
        if where and function.get("line"):
            where = f"{where}:{function['line']}"
        triggers = "\n".join(f"• {trigger_text(t)}" for t in function.get("triggers") or [])
        detail.update(
            Group(
                Text.assemble((str(function.get("id")), "bold"), f"  {where}" if where else ""),
                Text("triggers", style="bold"),
                Text(triggers or "none", style="cyan"),
                Text("config", style="bold"),
                json_block(function.get("config") or {}),
            )
        )

    def is_cron_only(self, function: dict[str, Any]) -> bool:
        """Whether ``function`` only has cron triggers (it takes no data: it runs now)."""
        triggers = function.get("triggers") or []
        return bool(triggers) and all("cron" in t for t in triggers)

    def action_invoke(self) -> None:
        """Invoke the selected function with data from a form; a cron function runs at once."""
        fid = self.selected_id()
        function = self.functions.get(fid or "")
        if fid is None or function is None:
            return
        if self.is_cron_only(function):
            self.run_now(fid)
        else:
            self.inspector.open_invoke_form(fid)

    @work(group="invoke")
    async def run_now(self, function_id: str) -> None:
        """Start a run of a cron function now, with the timer event its schedule sends."""
        try:
            body = await self.api.invoke(function_id)
        except ApiError as exc:
            self.report(exc, f"run {function_id} now")
            return
        run_id = str(body.get("run_id") or "")
        self.notify(f"{function_id} started now: run {run_id}", title="run now")
        if run_id and not self.gone:
            self.app.push_screen(RunDetailScreen(run_id))

    def action_send_trigger(self) -> None:
        """Open the send form with an event the function triggers on (others may run too)."""
        fid = self.selected_id()
        function = self.functions.get(fid or "")
        if function is None:
            return
        name = event_to_invoke(function)
        if name is None:
            self.notify(f"{fid} has no event trigger: press i to run it now", title="send")
            return
        self.inspector.open_send_form(name, {}, title=f"Send {name} (triggers {fid})")
