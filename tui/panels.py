"""The panels of a run's detail: JSON, errors with tracebacks, one step in full. Pure renderers."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.text import Text

from .format import clock_time, error_text, pretty_json, status_text
from .timeline import KIND_LABEL, reuse_text


def json_block(value: Any) -> RenderableType:
    """JSON with syntax colours."""
    return Syntax(
        pretty_json(value), "json", theme="ansi_dark", word_wrap=True, background_color="default"
    )


def error_block(error: Any) -> RenderableType:
    """``Name: message`` in red, then the traceback."""
    head = Text(error_text(error), style="bold red")
    trace = error.get("traceback") if isinstance(error, dict) else None
    if not trace:
        return head
    return Group(head, Text(str(trace).rstrip(), style="red"))


NO_ATTEMPTS_KINDS = frozenset({"sleep", "wait_for_event", "invoke"})  #: they never retry


def step_head(step: dict[str, Any]) -> Text:
    """``step charge  run  ✔ completed  · 3 attempts`` (no count for sleeps, waits, invokes)."""
    kind = str(step.get("kind") or "run")
    attempts = step.get("attempts") or []
    head = Text.assemble(
        ("step ", "bold"),
        (str(step.get("key")), "bold"),
        "  ",
        (KIND_LABEL.get(kind, kind), "dim"),
        "  ",
        status_text(step.get("status")),
    )
    if kind not in NO_ATTEMPTS_KINDS and attempts:
        head.append(f"  · {len(attempts)} attempt{'s' if len(attempts) != 1 else ''}")
    if step.get("reused"):
        head.append(f"  · {reuse_text(step)}", style="cyan")
    return head


def step_block(step: dict[str, Any], tz: Any) -> RenderableType:
    """A step's attempts (times, full errors and tracebacks) and its output."""
    attempts = step.get("attempts") or []
    parts: list[RenderableType] = [step_head(step)]
    numbered = str(step.get("kind") or "run") not in NO_ATTEMPTS_KINDS
    for number, attempt in enumerate(attempts, start=1):
        error = attempt.get("error")
        times = (
            f"{clock_time(attempt.get('started_at'), tz, millis=True)} → "
            f"{clock_time(attempt.get('ended_at'), tz, millis=True)}"
        )
        mark = ("✖", "red") if error else ("✔", "green")
        label = f"  attempt {number} " if numbered else "  "
        parts.append(Text.assemble(label, mark, f" {times}"))
        if error:
            parts.append(error_block(error))
    if step.get("error") and not attempts:
        parts.append(error_block(step["error"]))
    if step.get("status") == "completed" and step.get("output") is not None:
        parts += [Text("step output", style="bold"), json_block(step.get("output"))]
    return Group(*parts)


def cancel_reason(run: dict[str, Any]) -> str | None:
    """Why a cancelled run was cancelled, in any shape the API gives it."""
    if run.get("status") != "cancelled":
        return None
    for key in ("cancel_reason", "reason"):
        if run.get(key):
            return str(run[key])
    return error_text(run.get("error")) or "cancelled"
