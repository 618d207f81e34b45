"""What every inspector screen shares: the client, the clock, error reporting, run actions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, cast

from textual.screen import Screen

from ..api import ApiError, DurableClient, RequestFailed
from ..format import TERMINAL
from ..messages import FunctionsReloaded, StreamChange
from ..widgets.confirm import ConfirmScreen

if TYPE_CHECKING:
    from ..app import DurableApp


class DurableScreen(Screen[None]):
    """A screen of the inspector: reads the API through ``self.api``, never raises on errors."""

    @property
    def inspector(self) -> DurableApp:
        """The running :class:`~tui.app.DurableApp`."""
        return cast("DurableApp", self.app)

    @property
    def api(self) -> DurableClient:
        """The HTTP client of the dev server."""
        return self.inspector.api

    @property
    def tz(self) -> tzinfo | None:
        """The time zone times are shown in (None: local)."""
        return self.inspector.tz

    def now(self) -> datetime:
        """The current time (fixed in snapshot tests)."""
        return self.inspector.now()

    @property
    def gone(self) -> bool:
        """True once the screen left the app (popped, or the app is exiting).

        Workers check it after each network call, before touching widgets.
        """
        if not self.is_attached or self._closing or self._closed or self._pruning:
            return True
        return bool(self.app._closing or self.app._exit)

    def report(self, exc: ApiError, doing: str) -> None:
        """Show a failed call as a notification (and the status bar, if the server is gone)."""
        self.inspector.report(exc, doing)

    # -- hooks for subclasses -------------------------------------------------------------------

    def on_stream_change(self, message: StreamChange) -> None:
        """A live change from the server (override to react)."""

    def on_functions_reloaded(self, message: FunctionsReloaded) -> None:
        """The server reloaded user code (override to react)."""

    # -- run actions shared by the runs and run-detail screens ----------------------------------

    def confirm(self, question: str, detail: str, yes: str, then: Callable[[], object]) -> None:
        """Ask ``question`` in a modal dialog; call ``then`` only on yes."""

        def answered(ok: bool | None) -> None:
            if ok and not self.gone:
                then()

        self.app.push_screen(ConfirmScreen(question, detail, yes=yes), answered)

    def confirm_cancel(self, run_id: str, then: Callable[[], object]) -> None:
        """Cancel is final: ask first."""
        self.confirm(
            f"Cancel run {run_id}?",
            "It stops at its next step and cannot be resumed.",
            "Cancel run",
            then,
        )

    def confirm_rerun(
        self, run: dict[str, object], then: Callable[[], object], from_step: str | None = None
    ) -> None:
        """Rerun a finished run at once; ask first when the run is still going (two would run)."""
        status = str(run.get("status") or "")
        if status in TERMINAL:
            then()
            return
        where = f" from step {from_step}" if from_step else ""
        self.confirm(
            f"Rerun {run.get('run_id')}{where} while it is still {status or 'going'}?",
            "A second run starts with the same event; this one keeps going.",
            "Rerun",
            then,
        )

    async def cancel_run(self, run_id: str) -> bool:
        """Cancel ``run_id``; notify the outcome."""
        try:
            await self.api.cancel(run_id)
        except ApiError as exc:
            self.report(exc, f"cancel {run_id}")
            return False
        self.notify(f"cancelled {run_id}", title="cancel")
        return True

    async def rerun_run(self, run_id: str, from_step: str | None = None) -> str | None:
        """Start a rerun of ``run_id`` (from ``from_step``); return the new run id."""
        try:
            body = await self.api.rerun(run_id, from_step=from_step)
        except ApiError as exc:
            self.report(exc, f"rerun {run_id}")
            return None
        new_id = str(body.get("run_id") or (body.get("run") or {}).get("run_id") or "")
        where = f" from step {from_step}" if from_step else ""
        self.notify(f"rerun{where} started: {new_id or '?'}", title="rerun")
        return new_id or None

    async def export_run(self, run_id: str) -> Path | None:
        """Write ``fixtures/<run_id>.json``; notify its path."""
        try:
            path = await self.api.export_fixture(run_id, self.inspector.fixtures_dir)
        except ApiError as exc:
            self.report(exc, f"export {run_id}")
            return None
        except OSError as exc:
            self.notify(f"cannot write the fixture: {exc}", title="export", severity="error")
            return None
        self.notify(f"fixture written to {path}", title="export")
        return path


def is_not_found(exc: ApiError) -> bool:
    """Whether ``exc`` is a 404 from the server."""
    return isinstance(exc, RequestFailed) and exc.status == 404
