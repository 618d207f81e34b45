"""The inspector app: modes (runs, events, functions), global keys, the live stream.

The app only wires parts together: screens fetch their own data through ``self.api``; the app
follows ``GET /api/stream`` in a worker and forwards each change to the screens of the active
mode as a :class:`~tui.messages.StreamChange`, and polls ``/health`` to notice reloads and a
lost server. Nothing here raises on a network error: it becomes the status bar's state.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen
from textual.worker import Worker

from .api import DEFAULT_URL, ApiError, ConnectionState, Disconnected, DurableClient
from .messages import FunctionsReloaded, StreamChange
from .screens.base import DurableScreen
from .screens.events import EventsScreen
from .screens.functions import FunctionsScreen
from .screens.run_detail import RunDetailScreen
from .screens.runs import RunsScreen
from .screens.send_event import SendEventScreen

HEALTH_EVERY = 2.0
HEALTH_TIMEOUT = 4.0


def _now() -> datetime:
    return datetime.now(UTC)


class DurableApp(App[None]):
    """``durable tui``: a client of one dev server's HTTP API."""

    CSS_PATH = "app.tcss"
    TITLE = "durable"
    ENABLE_COMMAND_PALETTE = False
    MODES: ClassVar[dict[str, str | Callable[[], Screen[Any]]]] = {
        "runs": RunsScreen,
        "events": EventsScreen,
        "functions": FunctionsScreen,
    }
    DEFAULT_MODE = "runs"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "show_mode('runs')", "Runs"),
        Binding("2", "show_mode('events')", "Events"),
        Binding("3", "show_mode('functions')", "Functions"),
        Binding("s", "send_event", "Send event"),
        Binding("p", "screenshot", "Screenshot"),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False),
    ]

    connection: reactive[ConnectionState] = reactive(
        ConnectionState("connecting", DEFAULT_URL), always_update=True
    )

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        client: DurableClient | None = None,
        tz: tzinfo | None = None,
        clock: Callable[[], datetime] = _now,
        fixtures_dir: Path | str = "fixtures",
        health_every: float = HEALTH_EVERY,
        health_timeout: float = HEALTH_TIMEOUT,
        server_log: Path | None = None,
        server_gone: Callable[[], str | None] | None = None,
    ) -> None:
        super().__init__()
        self.server_log = server_log  #: set by ``durable dev``: the server child's log file
        self.server_gone = server_gone  #: set by ``durable dev``: why its server exited
        self.api = client or DurableClient(url)
        self.tz = tz
        self.now = clock
        self.fixtures_dir = Path(fixtures_dir)
        self.health_every = health_every
        self.health_timeout = health_timeout
        self.health_check: Worker[None] | None = None
        self.stream_up = False
        self.reloads: int | None = None
        self.load_errors = 0
        self.set_reactive(DurableApp.connection, ConnectionState("connecting", self.api.url))

    def on_mount(self) -> None:
        """Follow the stream; poll health."""
        self.sub_title = self.api.url
        self.follow_stream()
        self.set_interval(self.health_every, self.poll_health)

    async def on_unmount(self) -> None:
        """Close the HTTP connections."""
        await self.api.aclose()

    # -- connection -------------------------------------------------------------------------

    def set_connection(self, state: str, detail: str = "", retry_in: float | None = None) -> None:
        """Update the status bar (every screen shows it)."""
        if state == "connected" and not detail and self.server_log is not None:
            detail = f"durable dev · log {self.server_log}"
        self.connection = ConnectionState(state, self.api.url, detail, retry_in)  # type: ignore[arg-type]

    @work(exclusive=True, group="stream")
    async def follow_stream(self) -> None:
        """Forward every stream change to the screens of the active mode."""
        async for kind, data in self.api.stream():
            if kind == "connected":
                self.stream_up = True
                self.set_connection("connected")
            elif kind == "disconnected":
                self.stream_up = False
                self.set_connection("disconnected", str(data.get("error")), data.get("retry_in"))
                continue
            self.broadcast(StreamChange(kind, data))

    def broadcast(self, message: StreamChange | FunctionsReloaded) -> None:
        """Post ``message`` to every inspector screen of the active mode's stack."""
        for screen in self.screen_stack:
            if isinstance(screen, DurableScreen):
                screen.post_message(message)

    def poll_health(self) -> None:
        """Timer: check health, unless the last check still waits for its answer."""
        if self.health_check is None or self.health_check.is_finished:
            self.health_check = self.check_health()

    @work(group="health")
    async def check_health(self) -> None:
        """Notice a lost server quickly (a hung one too), and reloads of the user's code.

        The answer must come within ``health_timeout`` seconds: a server that accepts
        connections but never answers (stopped, deadlocked) shows as disconnected; a busy one
        (a big commit, a reload) has that long. Ticks are skipped while a check waits.
        """
        try:
            health = await self.api.health(timeout=self.health_timeout)
        except ApiError as exc:
            detail = exc.reason if isinstance(exc, Disconnected) else str(exc)
            gone = self.server_gone() if self.server_gone is not None else None
            self.set_connection("disconnected", gone or detail, self.health_every)
            return
        if self.stream_up and self.connection.state != "connected":
            self.set_connection("connected")
        reloads, errors = int(health.get("reloads") or 0), int(health.get("errors") or 0)
        if self.reloads is not None and (reloads, errors) != (self.reloads, self.load_errors):
            if errors:
                self.notify(
                    f"{errors} module(s) failed to load: see Functions (3)",
                    title="reload",
                    severity="error",
                )
            elif reloads != self.reloads:
                count = health.get("functions")
                suffix = f": {count} function(s)" if count is not None else ""
                self.notify(f"code reloaded{suffix}", title="reload")
            self.broadcast(FunctionsReloaded(reloads, errors))
        self.reloads, self.load_errors = reloads, errors

    def report(self, exc: ApiError, doing: str) -> None:
        """A failed call: the status bar for a lost server, a notification otherwise."""
        if isinstance(exc, Disconnected):
            self.set_connection("disconnected", exc.reason, self.health_every)
            return
        self.notify(f"{doing}: {exc}", title="error", severity="error")

    # -- global actions ---------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Under a dialog (a form, a confirmation), the mode and send keys wait for it."""
        waits = action in ("show_mode", "send_event")
        return not (waits and isinstance(self.screen, ModalScreen))

    async def action_show_mode(self, mode: str) -> None:
        """Show ``mode``'s list: its key always leads to the list, never to a run opened there."""
        if self.current_mode != mode:
            await self.switch_mode(mode)
        while len(self.screen_stack) > 1:
            await self.pop_screen()

    def action_screenshot(self, filename: str | None = None, path: str | None = None) -> None:
        """Save the screen as an SVG file in the current directory; say where."""
        try:
            name = filename or f"durable-{datetime.now():%Y%m%d-%H%M%S-%f}"[:-3] + ".svg"
            saved = self.save_screenshot(name, path or str(Path.cwd()))
        except OSError as exc:
            self.notify(f"cannot save the screenshot: {exc}", title="screenshot", severity="error")
            return
        self.notify(f"saved {saved}", title="screenshot")

    def action_send_event(self) -> None:
        """Open the send-event form."""
        self.open_send_form()

    def open_send_form(self, name: str = "", data: Any = None, *, title: str = "") -> None:
        """Open the form (pre-filled to re-send an event or send a function's trigger)."""

        def sent(ids: list[str] | None) -> None:
            if ids:
                self.notify(f"event sent: {', '.join(ids)}", title="send")

        self.push_screen(SendEventScreen(self.api, name, data, title=title), sent)

    def open_invoke_form(self, function_id: str) -> None:
        """Ask for the data, start ``function_id`` with it, then show the new run."""

        def started(ids: list[str] | None) -> None:
            if ids:
                self.notify(f"invoked {function_id}: run {ids[0]}", title="invoke")
                self.push_screen(RunDetailScreen(ids[0]))

        form = SendEventScreen(self.api, title=f"Invoke {function_id}", invoke=function_id)
        self.push_screen(form, started)


def run_tui(
    url: str = DEFAULT_URL,
    *,
    fixtures_dir: Path | str = "fixtures",
    signing_key: str | None = None,
) -> None:
    """Run the inspector against the server at ``url`` until the user quits (``signing_key``:
    the server's key, default ``$DURABLE_SIGNING_KEY``)."""
    client = DurableClient(url, signing_key=signing_key)
    DurableApp(url, client=client, fixtures_dir=fixtures_dir).run()


def run_attached(
    url: str,
    server_gone: Callable[[], str | None],
    server_log: Path,
    *,
    fixtures_dir: Path | str = "fixtures",
) -> None:
    """``durable dev`` on a terminal: the inspector on the server child it started."""
    app = DurableApp(url, server_log=server_log, server_gone=server_gone, fixtures_dir=fixtures_dir)
    app.title = "durable dev"
    app.run()
