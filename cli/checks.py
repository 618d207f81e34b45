"""What ``durable dev`` and ``durable start`` check in their options, without typer.

``durable dev`` runs these before typer is imported (:mod:`.dev_argv`); a problem is an
:class:`OptionError` naming the option and the fix, printed as ``error: ...`` with exit 2.
"""

from __future__ import annotations

import sys

from durable import InvalidDurationError
from durable.presentation import parse_duration

#: Where the signing key comes from when ``--signing-key`` is not given.
SIGNING_KEY_ENV = "DURABLE_SIGNING_KEY"


def usage_error(message: str) -> int:
    """Print ``error: message`` on stderr; the exit code of a usage error (2)."""
    print(f"error: {message}", file=sys.stderr)
    return 2


class OptionError(ValueError):
    """A command-line option's value is refused: the message names the option."""


def retention_seconds(value: str) -> float | None:
    """``--retention`` in seconds; None for ``0`` (keep everything)."""
    if value.strip() in {"0", "0s"}:
        return None
    try:
        seconds = parse_duration(value).total_seconds()
    except InvalidDurationError as exc:
        raise OptionError(f"--retention: {exc}") from None
    if seconds <= 0:
        raise OptionError(f"--retention must be a positive duration or 0, got {value!r}")
    return seconds


def security(
    command: str, host: str, signing_key: str | None, event_keys: list[str] | None
) -> tuple[str | None, list[str]]:
    """The signing key and event keys, checked: a non-loopback ``host`` needs a key."""
    from durable.devserver import key_problem

    key = signing_key or None
    if key is not None and (not key.strip() or any(c.isspace() for c in key)):
        raise OptionError("--signing-key must be a non-empty key without spaces")
    keys = list(event_keys or [])
    for each in keys:
        if not each or "/" in each or any(c.isspace() for c in each):
            raise OptionError(f"--event-key {each!r}: a key is non-empty, without spaces or '/'")
    if keys and key is None:
        raise OptionError("--event-key needs --signing-key (without one, /e/{key} takes any key)")
    problem = key_problem(command, host, key)
    if problem is not None:
        raise OptionError(problem)
    return key, keys
