"""The send and invoke forms keep every key typed: selection, Tab, Ctrl+A, placeholders."""

from __future__ import annotations

from datetime import UTC
from typing import TypeVar

from textual.widgets import Button, Input, TextArea

from durable.tui.app import DurableApp
from durable.tui.screens.send_event import SendEventScreen
from tests.support.tui_pilot import screen_text, until
from tests.support.tui_stub import NOW, StubClient

W = TypeVar("W", Input, TextArea)


def make_app() -> tuple[DurableApp, StubClient]:
    client = StubClient()
    return DurableApp(client=client, tz=UTC, clock=lambda: NOW), client


def form_field(app: DurableApp, selector: str, kind: type[W]) -> W:
    """A field of the open form (raises until the form is mounted)."""
    assert isinstance(app.screen, SendEventScreen)
    return app.screen.query_one(selector, kind)


async def test_the_invoke_form_replaces_the_prefilled_data_and_keeps_keys_typed_after_tab() -> None:
    app, client = make_app()
    async with app.run_test(size=(120, 32)) as pilot:
        app.open_invoke_form("process-order")
        data = await until(pilot, lambda: form_field(app, "#event-data", TextArea))
        assert data.has_focus and data.text == "{}" and data.selected_text == "{}"
        await pilot.press(*'{"n":')  # replaces the "{}", not typed before it
        await pilot.press("tab")  # focus moves on to the Send button ...
        assert isinstance(app.focused, Button)
        await pilot.press(*" 2}")  # ... and what is typed there goes on in the data
        assert data.has_focus and data.text == '{"n": 2}'
        await pilot.press("ctrl+s")
        await until(pilot, lambda: client.invoked, what="the invoke")
        assert client.invoked == [("process-order", {"n": 2})]


async def test_tab_from_the_name_selects_the_prefilled_data_and_ctrl_a_selects_all() -> None:
    app, client = make_app()
    async with app.run_test(size=(120, 32)) as pilot:
        await pilot.press("s")
        name = await until(pilot, lambda: form_field(app, "#event-name", Input))
        assert name.has_focus and name.value == ""
        assert "an event name, e.g. order/created" in screen_text(app)  # a hint, not a value
        await pilot.press(*"old/name", "ctrl+a", *"shop/order")  # Ctrl+A: select all
        assert name.value == "shop/order"
        await pilot.press("tab", *'{"a": 1}')
        data = form_field(app, "#event-data", TextArea)
        assert data.text == '{"a": 1}'
        await pilot.press("ctrl+a", *'{"b": 2}')
        assert data.text == '{"b": 2}'
        await pilot.press("ctrl+s")
        await until(pilot, lambda: client.sent, what="the send")
        assert client.sent == [{"name": "shop/order", "data": {"b": 2}}]


def notices(app: DurableApp) -> str:
    return "\n".join(str(notice.message) for notice in app._notifications)


async def test_an_event_that_started_no_run_says_why_when_the_server_tells() -> None:
    app, client = make_app()
    async with app.run_test(size=(120, 32)) as pilot:
        await pilot.press("s", *"order/created", "ctrl+s")
        await until(pilot, lambda: "event sent" in notices(app), what="the sent notice")
        assert "no run started" not in notices(app)  # the server did not say: nothing made up
        client.outcome = {"run_ids": [], "skipped": "duplicate: event id 'x' was already received"}
        await pilot.press("s", *"order/created", "ctrl+s")
        await until(
            pilot,
            lambda: "accepted, no run started: duplicate: event id 'x'" in notices(app),
            what="why no run started",
        )
        client.outcome = {"run_ids": [], "skipped": None}
        await pilot.press("s", *"nobody/listens", "ctrl+s")
        await until(
            pilot,
            lambda: "no function is triggered by 'nobody/listens'" in notices(app),
            what="no trigger",
        )


async def test_typing_on_a_button_types_in_the_data_as_if_it_had_focus() -> None:
    app, _ = make_app()
    async with app.run_test(size=(120, 32)) as pilot:
        app.open_invoke_form("process-order")
        data = await until(pilot, lambda: form_field(app, "#event-data", TextArea))
        await pilot.press("tab")  # away at once: the prefilled "{}" is still selected
        assert isinstance(app.focused, Button)
        await pilot.press(*"{}")  # app keys (p: screenshot, q: quit) too are typed here
        assert data.has_focus and data.text == "{}"
        await pilot.press("ctrl+a", "tab", *'{"q": "p"}')
        assert data.text == '{"q": "p"}' and not app._exit
