"""One presentation for every face of durable: the CLI, the inspector (TUI) and the headless log.

Statuses and timeline bars are named here once, as Rich style names (``"bold red"``), and API
times are read and written here once, so the three faces cannot drift apart. Pure data and
functions: no typer, no Textual, no Rich import. The timeline's layout is in
:mod:`durable._timeline`; the faces import both through :mod:`durable.presentation`.

The rule of the palette: red means something failed, nothing else is red; yellow means it
stopped short (cancelled, timed out); green means it succeeded; blue and cyan are time spent
waiting on purpose: blue a sleep, cyan a wait for an event, bright blue an invoked function.
A status and the bar of a step in it share their colour.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, tzinfo
from typing import Final, Literal

#: status -> Rich style. Runs and steps share the names (a step is never ``queued``).
STATUS_STYLE: Final[dict[str, str]] = {
    "queued": "dim",
    "running": "bold cyan",
    "sleeping": "blue",
    "waiting": "cyan",
    "invoking": "bright_blue",
    "completed": "green",
    "failed": "bold red",
    "errored": "red",
    "cancelled": "yellow",
}
#: status -> symbol (colour and symbol both carry the status: colour-blind safe).
STATUS_SYMBOL: Final[dict[str, str]] = {
    "queued": "○",
    "running": "▶",
    "sleeping": "◑",
    "waiting": "◇",
    "invoking": "⇢",
    "completed": "✔",
    "failed": "✖",
    "errored": "↻",
    "cancelled": "⊘",
}
UNKNOWN_STYLE: Final = ""


def status_style(status: object) -> str:
    """The style of ``status`` (empty for an unknown one)."""
    return STATUS_STYLE.get(str(status), UNKNOWN_STYLE)


def status_symbol(status: object) -> str:
    """The symbol of ``status`` (``?`` for an unknown one)."""
    return STATUS_SYMBOL.get(str(status), "?")


# -- timeline bars -----------------------------------------------------------------------------

BarKind = Literal["run", "sleep", "wait", "invoke", "backoff"]
Outcome = Literal["pending", "ok", "failed", "stopped"]

#: glyph per bar kind: the glyph says what the time was spent on.
BAR_GLYPH: Final[dict[str, str]] = {
    "run": "█",
    "sleep": "░",
    "wait": "▒",
    "invoke": "▓",
    "backoff": "·",
}
#: (kind, outcome) -> style. Only failures are red: a wait that got its event is cyan.
BAR_STYLE: Final[dict[tuple[str, str], str]] = {
    ("run", "pending"): "bold cyan",
    ("run", "ok"): "green",
    ("run", "failed"): "red",
    ("run", "stopped"): "yellow",
    ("backoff", "pending"): "red",
    ("backoff", "ok"): "red",
    ("backoff", "failed"): "red",
    ("backoff", "stopped"): "red",
    ("sleep", "pending"): "blue",
    ("sleep", "ok"): "blue",
    ("sleep", "failed"): "red",
    ("sleep", "stopped"): "yellow",
    ("wait", "pending"): "cyan",
    ("wait", "ok"): "cyan",
    ("wait", "failed"): "red",
    ("wait", "stopped"): "yellow",
    ("invoke", "pending"): "bright_blue",
    ("invoke", "ok"): "bright_blue",
    ("invoke", "failed"): "red",
    ("invoke", "stopped"): "yellow",
}
#: a step kind as the API names it -> its bar kind.
STEP_BAR_KIND: Final[dict[str, str]] = {
    "run": "run",
    "send_event": "run",
    "sleep": "sleep",
    "wait_for_event": "wait",
    "invoke": "invoke",
}
#: the legend of a timeline: (kind, outcome, label), in the order shown.
LEGEND: Final[tuple[tuple[str, str, str], ...]] = (
    ("run", "ok", "step"),
    ("run", "failed", "failed attempt"),
    ("backoff", "failed", "backoff"),
    ("sleep", "ok", "sleep"),
    ("wait", "ok", "wait"),
    ("invoke", "ok", "invoke"),
)


def bar_kind(step_kind: object) -> str:
    """The bar kind of a step kind (``wait_for_event`` -> ``wait``); unknown kinds are runs."""
    return STEP_BAR_KIND.get(str(step_kind), "run")


def bar_glyph(kind: str) -> str:
    """The glyph of a bar kind."""
    return BAR_GLYPH.get(kind, BAR_GLYPH["run"])


def bar_style(kind: str, outcome: str) -> str:
    """The style of a bar of ``kind`` that ended with ``outcome``."""
    return BAR_STYLE.get((kind, outcome), BAR_STYLE[("run", outcome if outcome else "ok")])


def step_outcome(status: object, *, timed_out: bool = False) -> Outcome:
    """A step status as a bar outcome: still going, done, failed, or stopped short."""
    text = str(status)
    if text == "failed":
        return "failed"
    if text == "cancelled" or timed_out:
        return "stopped"
    if text == "completed":
        return "ok"
    return "pending"


# -- times -------------------------------------------------------------------------------------


def parse_time(value: object) -> datetime | None:
    """An API time as an aware datetime: an ISO-8601 string (``Z`` allowed), epoch seconds or
    a datetime (naive ones are UTC). None when absent or unreadable."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_moment(
    moment: datetime | None,
    tz: tzinfo | None = None,
    *,
    date: bool = False,
    ms: bool = False,
    missing: str = "—",
) -> str:
    """``14:03:07`` in ``tz`` (local time when None); with ``date`` ``2025-01-31 14:03:07``,
    with ``ms`` ``14:03:07.123``; ``missing`` when there is no moment."""
    if moment is None:
        return missing
    local = moment.astimezone(tz)
    text = local.strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S")
    return f"{text}.{local.microsecond // 1000:03d}" if ms else text


def elapsed(start: datetime | None, end: datetime | None, now: datetime) -> float | None:
    """Seconds from ``start`` to ``end`` (to ``now`` while unfinished); None without a start."""
    if start is None:
        return None
    return max(0.0, ((end or now) - start).total_seconds())


# -- errors ------------------------------------------------------------------------------------


def error_line(error: object) -> str:
    """``Name: message`` of an API error (``{"name", "message", ...}``) or a string; empty for
    none. An error with only one of the two shows that one."""
    if not error:
        return ""
    if isinstance(error, dict):
        name, message = error.get("name"), error.get("message")
        if name and message:
            return f"{name}: {message}"
        if message or name:
            return str(message or name)
        return json.dumps(error, indent=2, ensure_ascii=False, default=str)
    return str(error)


# -- ANSI (the headless log writes plain strings, not Rich renderables) -------------------------

_SGR_COLOURS = ("black", "red", "green", "yellow", "blue", "magenta", "cyan", "white")


def ansi_sgr(style: str) -> str:
    """The SGR parameters of a simple Rich style: ``"bold red"`` -> ``"1;31"``."""
    codes: list[str] = []
    for word in style.split():
        if word == "bold":
            codes.append("1")
        elif word == "dim":
            codes.append("2")
        elif word in _SGR_COLOURS:
            codes.append(str(30 + _SGR_COLOURS.index(word)))
        elif word.startswith("bright_") and word[7:] in _SGR_COLOURS:
            codes.append(str(90 + _SGR_COLOURS.index(word[7:])))
    return ";".join(codes)
