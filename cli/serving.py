"""What ``durable dev`` and ``durable start`` share: the security and retention options,
checked (exit 2 naming the option and the fix)."""

from __future__ import annotations

from typing import Annotated

import typer

from durable import InvalidDurationError
from durable.presentation import parse_duration

#: Where the signing key comes from when ``--signing-key`` is not given.
SIGNING_KEY_ENV = "DURABLE_SIGNING_KEY"

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
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def retention_seconds(value: str) -> float | None:
    """``--retention`` in seconds; None for ``0`` (keep everything)."""
    if value.strip() in {"0", "0s"}:
        return None
    try:
        seconds = parse_duration(value).total_seconds()
    except InvalidDurationError as exc:
        raise fail(f"--retention: {exc}") from None
    if seconds <= 0:
        raise fail(f"--retention must be a positive duration or 0, got {value!r}")
    return seconds


def security(
    command: str, host: str, signing_key: str | None, event_keys: list[str] | None
) -> tuple[str | None, list[str]]:
    """The signing key and event keys, checked: a non-loopback ``host`` needs a key."""
    from durable.devserver import key_problem

    key = signing_key or None
    if key is not None and (not key.strip() or any(c.isspace() for c in key)):
        raise fail("--signing-key must be a non-empty key without spaces")
    keys = list(event_keys or [])
    for each in keys:
        if not each or "/" in each or any(c.isspace() for c in each):
            raise fail(f"--event-key {each!r}: a key is non-empty, without spaces or '/'")
    if keys and key is None:
        raise fail("--event-key needs --signing-key (without one, /e/{key} takes any key)")
    problem = key_problem(command, host, key)
    if problem is not None:
        raise fail(problem)
    return key, keys
