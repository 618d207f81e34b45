"""What ``durable dev`` and ``durable start`` share: the security and retention options
(their checks are in :mod:`.checks`, without typer)."""

from __future__ import annotations

from typing import Annotated

import typer

from .checks import SIGNING_KEY_ENV, usage_error

SigningKeyOption = Annotated[
    str | None,
    typer.Option(
        "--signing-key",
        envvar=SIGNING_KEY_ENV,
        show_envvar=True,
        help="Key every /api/* request must send as Authorization: Bearer KEY. Required to "
        "bind a non-loopback --host.",
        show_default=False,
    ),
]
EventKeyOption = Annotated[
    list[str] | None,
    typer.Option(
        "--event-key",
        help="A key POST /e/{event_key} accepts when a signing key is set (repeatable).",
        show_default=False,
    ),
]
RetentionOption = Annotated[
    str,
    typer.Option(
        "--retention",
        help="Delete ended runs (with steps and logs) and events older than this, e.g. 7d, "
        "12h; 0 keeps everything.",
    ),
]


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` and return the exit (code 2) to raise."""
    return typer.Exit(usage_error(message))
