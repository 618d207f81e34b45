"""The send-event form: a name, JSON data validated as you submit, errors shown inline.

With ``invoke=FUNCTION_ID`` the same form starts that one function with the data instead
(``POST /api/functions/{id}/invoke``) and dismisses with the new run's id.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static, TextArea

from ..api import ApiError, DurableClient, RequestFailed


class FormError(ValueError):
    """What is wrong with the form, worded for the inline error line."""


def parse_event_form(name: str, data: str) -> dict[str, Any]:
    """The event the form describes, or :class:`FormError` naming the problem."""
    name = name.strip()
    if not name:
        raise FormError("name: an event needs a name, e.g. order/created")
    if any(ch.isspace() for ch in name):
        raise FormError(f"name: {name!r} contains spaces")
    text = data.strip() or "{}"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormError(
            f"data: invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(value, dict):
        raise FormError(f"data: must be a JSON object {{...}}, not {type(value).__name__}")
    return {"name": name, "data": value}


def no_run_note(outcome: dict[str, Any], name: str) -> str:
    """``accepted, no run started: WHY`` for an event that started no run."""
    why = outcome.get("skipped") or f"no function is triggered by {name!r}"
    return f"accepted, no run started: {why}"


class NameInput(Input):
    """The name field; Ctrl+A selects all of it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+a", "select_all", "Select all", show=False),
    ]


class DataArea(TextArea):
    """The JSON field; Ctrl+A selects all of it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+a", "select_all", "Select all", show=False),
    ]


class SendEventScreen(ModalScreen[list[str] | None]):
    """Send (or re-send) one event; dismisses with the new event ids, or None if cancelled.

    In invoke mode it dismisses with ``[run_id]`` of the run it started.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss_form", "Close"),
        Binding("ctrl+s", "send", "Send"),
    ]

    def __init__(
        self,
        client: DurableClient,
        name: str = "",
        data: Any = None,
        *,
        title: str = "",
        invoke: str | None = None,
    ) -> None:
        super().__init__()
        self.client = client
        self.invoke_id = invoke
        self.initial_name = name
        self.initial_data = json.dumps(data if data is not None else {}, indent=2)
        self.form_title = title or "Send an event"

    def compose(self) -> ComposeResult:
        """A title, the name, the JSON data, the error line and two buttons."""
        with Vertical(id="send-form"):
            yield Label(self.form_title, id="send-title")
            yield Label("function" if self.invoke_id else "name")
            yield NameInput(
                self.initial_name, placeholder="an event name, e.g. order/created", id="event-name"
            )
            yield Label("data (a JSON object)")
            yield DataArea(self.initial_data, id="event-data", soft_wrap=True)
            yield Static("", id="send-error")
            with Horizontal(id="send-buttons"):
                label = "Invoke  ^s" if self.invoke_id else "Send  ^s"
                yield Button(label, variant="primary", id="send")
                yield Button("Cancel  esc", id="cancel")

    def on_mount(self) -> None:
        """Start in the name field (or the data, all selected, when the name is given)."""
        if self.invoke_id:
            name = self.query_one("#event-name", Input)
            name.value, name.disabled = self.invoke_id, True
        if self.initial_name or self.invoke_id:
            self.query_one("#event-data", TextArea).focus()  # selected: see entered()
        else:
            self.query_one("#event-name").focus()

    @on(events.DescendantFocus)
    def entered(self, event: events.DescendantFocus) -> None:
        """Entering the data while it is still the prefilled one selects it: typing replaces it."""
        data = self.query_one("#event-data", TextArea)
        if event.widget is data and data.text == self.initial_data:
            data.select_all()

    def on_key(self, event: events.Key) -> None:
        """Typing on a button (after Tab) goes on in the data field, never silently lost."""
        if isinstance(self.focused, Button) and event.is_printable and event.character:
            event.stop()
            event.prevent_default()
            data = self.query_one("#event-data", TextArea)
            data.focus()
            data.replace(event.character, *data.selection, maintain_selection_offset=False)

    def show_error(self, message: str) -> None:
        """Show ``message`` under the data field."""
        error = self.query_one("#send-error", Static)
        error.update(message)
        error.set_class(bool(message), "-visible")

    @on(Button.Pressed, "#send")
    @on(Input.Submitted, "#event-name")
    def action_send(self) -> None:
        """Validate the form, then send the event in a worker."""
        name = self.query_one("#event-name", Input).value
        data = self.query_one("#event-data", TextArea).text
        if self.invoke_id:
            name = "durable/function.invoked"  # only the data is checked
        try:
            event = parse_event_form(name, data)
        except FormError as exc:
            self.show_error(str(exc))
            return
        self.show_error("")
        self.send(event)

    @work(exclusive=True, group="send")
    async def send(self, event: dict[str, Any]) -> None:
        """POST the event; a refusal or a lost server shows inline, success closes the form."""
        try:
            if self.invoke_id:
                started = await self.client.invoke(self.invoke_id, event["data"])
                ids = [str(started.get("run_id"))]
            else:
                ids, outcomes = await self.client.send_outcomes(event)
                for outcome in outcomes:
                    if not outcome.get("run_ids"):
                        self.app.notify(no_run_note(outcome, event["name"]), severity="warning")
        except ApiError as exc:
            if self.is_attached:
                self.show_error(self.failure(exc))
            return
        if self.is_attached:
            self.dismiss(ids)

    @staticmethod
    def failure(exc: ApiError) -> str:
        """The inline line for a send that failed."""
        if isinstance(exc, RequestFailed):
            return f"server refused it: {exc.message}"
        return f"not sent: {exc}"

    @on(Button.Pressed, "#cancel")
    def action_dismiss_form(self) -> None:
        """Close without sending."""
        self.dismiss(None)
