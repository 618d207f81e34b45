"""``durable runs`` (list runs) and ``durable run RUN_ID`` (one run with its step timeline).

The timeline has one row per step, with a bar drawn on a time axis shared by every row, so
parallel steps overlap and backoff gaps show; each attempt of a retried step gets its own row
with its error. Run attempts are solid bars, sleeps ``░`` and waits ``▒``. Steps a rerun
reused (``"reused": true``) say so, and sit at the rerun's start, taking no time. The layout
(axis, spans, segments) is the inspector's, from :mod:`durable.presentation`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.console import Console
from rich.json import JSON
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from durable.presentation import (
    KIND_LABEL,
    Segment,
    attempts_of,
    bar_style,
    elapsed,
    error_line,
    human_duration,
    make_axis,
    run_end,
    step_segments,
    step_span,
)
from durable.presentation import Axis as _Axis
from durable.presentation import attempt_segment as _attempt_segment
from durable.statuses import RunStatus

from .client import (
    ApiClient,
    JsonOption,
    KeyOption,
    UrlOption,
    cli_errors,
    format_time,
    make_console,
    parse_time,
    print_json,
    styled_status,
)

BAR_WIDTH = 32
#: Bars narrow to this on narrow terminals and widen to ``MAX_BAR_WIDTH`` on wide ones.
MIN_BAR_WIDTH, MAX_BAR_WIDTH = 10, 40
_OPEN_STATUSES = frozenset({"running", "sleeping", "waiting", "invoking", "queued", "errored"})


# -- durable runs --------------------------------------------------------------------------


def runs(
    status: Annotated[
        RunStatus | None, typer.Option("--status", "-s", help="Only runs with this status.")
    ] = None,
    function: Annotated[
        str | None, typer.Option("--function", "-f", help="Only runs of this function id.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many.")] = 20,
    cursor: Annotated[
        str | None, typer.Option("--cursor", help="Continue a previous listing.")
    ] = None,
    url: UrlOption = None,
    signing_key: KeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """List runs, newest first."""
    with cli_errors():
        params = {
            "status": status.value if status else None,
            "function": function,
            "limit": limit,
            "cursor": cursor,
        }
        body = ApiClient(url, signing_key=signing_key).get("/api/runs", params)
    if json_output:
        print_json(body)
        return
    console = make_console()
    items = body.get("runs") or []
    if not items:
        console.print("[dim]no runs[/]")
        return
    table = Table(title=None, box=None, header_style="bold", pad_edge=False)
    table.add_column("run id", no_wrap=True)
    table.add_column("function", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("event", min_width=10)
    table.add_column("started (UTC)", no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    now = datetime.now(UTC)
    for item in items:
        started = parse_time(item.get("started_at"))
        table.add_row(
            escape(str(item.get("run_id"))),
            escape(str(item.get("function_id"))),
            _status_cell(item),
            escape(str((item.get("event") or {}).get("name", ""))),
            format_time(started, ms=False),
            human_duration(_elapsed(started, parse_time(item.get("ended_at")), item, now)),
        )
    console.print(table)
    if body.get("cursor"):
        console.print(f"[dim]more: durable runs --cursor {escape(str(body['cursor']))}[/]")


def _elapsed(
    start: datetime | None, end: datetime | None, item: dict[str, Any], now: datetime
) -> float | None:
    """Seconds from ``start`` to ``end`` (to now while the item is still open)."""
    if end is None and str(item.get("status")) not in _OPEN_STATUSES:
        return None
    return elapsed(start, end, now)


# -- durable run RUN_ID --------------------------------------------------------------------


def show_run(
    run_id: Annotated[str, typer.Argument(help="The run id (see `durable runs`).")],
    url: UrlOption = None,
    signing_key: KeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show one run: its event, step timeline (every attempt) and output or error."""
    with cli_errors():
        body = ApiClient(url, signing_key=signing_key).get(f"/api/runs/{quote(run_id, safe='')}")
    if json_output:
        print_json(body)
        return
    console = make_console()
    now = datetime.now(UTC)
    console.print(_header(body, now))
    steps = body.get("steps") or []
    console.print()
    if steps:
        console.print(_timeline(body, steps, now, console.width))
    else:
        console.print("[dim]no steps yet[/]")
    _print_result(console, body)


def _status_cell(item: dict[str, Any]) -> str:
    """The status, with why a queued run is held back (``throttle``, ``concurrency``, ...)."""
    status = styled_status(item.get("status"))
    reason = item.get("queued_reason")
    return f"{status} [dim]({escape(str(reason))})[/]" if reason else status


def _header(run: dict[str, Any], now: datetime) -> Table:
    """Run id, function, status (and why it was cancelled or is held back), event, start,
    end and duration."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    status = styled_status(run.get("status"))
    reason = run.get("cancel_reason") or run.get("queued_reason") or run.get("reason")
    if reason:
        status += f"  [dim]({escape(str(reason))})[/]"
    started, ended = parse_time(run.get("started_at")), parse_time(run.get("ended_at"))
    event = run.get("event") or {}
    grid.add_row("run", escape(str(run.get("run_id"))))
    grid.add_row("function", escape(str(run.get("function_id"))))
    grid.add_row("status", status)
    event_line = Text(str(event.get("name", "")), style="bold")
    if event.get("id"):
        event_line.append(f"  id={event['id']}", style="dim")
    grid.add_row("event", event_line)
    grid.add_row("", Text(json.dumps(event.get("data", {}), ensure_ascii=False)))
    grid.add_row("started", f"{format_time(started)} UTC" if started else "-")
    grid.add_row("ended", f"{format_time(ended)} UTC" if ended else "-")
    grid.add_row("duration", human_duration(_elapsed(started, ended, run, now)))
    return grid


class Axis(_Axis):
    """The shared time axis, drawing Rich bars."""

    __slots__ = ()

    def bar(self, segments: Iterable[Segment]) -> Text:
        """The segments drawn as one bar of ``width`` cells (every segment gets a cell)."""
        text = Text()
        for char, style in self.paint(segments):
            text.append(char, style=style)
        return text


def _step_segments(
    step: dict[str, Any], now: datetime, ended: datetime | None = None
) -> list[Segment]:
    """What a step's bar shows: its span for sleeps, waits and invokes, else each attempt
    (the gaps between attempts stay blank here)."""
    return step_segments(step, now, ended, backoff=False)


def _axis(run: dict[str, Any], now: datetime, width: int) -> Axis:
    """The axis spanning the run and every step (up to now while the run is open)."""
    shared = make_axis(run, width, now)
    return Axis(shared.start, shared.end, shared.width)


def _preview(value: Any, width: int = 40) -> str:
    """A value as compact JSON, cut to ``width`` characters."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def _step_detail(step: dict[str, Any]) -> Text:
    """What a step did, in a few words; ``reused`` first for a step a rerun took over."""
    detail = _what_it_did(step)
    if not step.get("reused"):
        return detail
    raw = step.get("detail")
    info: dict[str, Any] = raw if isinstance(raw, dict) else {}
    label = "replaced" if info.get("replaced_output") else "reused"
    source = info.get("reused_from")
    marker = Text(f"{label} from {source} " if source else f"{label} ", style="magenta")
    return marker + detail


def _what_it_did(step: dict[str, Any]) -> Text:
    """What a step did, in a few words: its error, where it slept to, what it waited for."""
    kind, status = str(step.get("kind")), str(step.get("status"))
    detail = step.get("detail")
    info: dict[str, Any] = detail if isinstance(detail, dict) else {}
    if step.get("error"):
        return Text(error_line(step["error"]), style="red")
    if kind == "sleep":
        until = parse_time(step.get("wake_at") or info.get("until") or info.get("wake_at"))
        text = f"until {format_time(until)} UTC" if until else "sleep"
        if status == "cancelled":  # closed when its run ended: it never woke
            text += " (the run ended first)"
        return Text(text, style="blue")
    if kind == "wait_for_event":
        event = step.get("event_name") or info.get("event") or info.get("event_name")
        label = f"for {event}" if event else "for an event"
        if status == "completed" and step.get("output") is None:
            label += " (timed out)"
        return Text(label, style="cyan")
    if kind == "invoke":
        target = info.get("function_id") or "a function"
        child = f" (run {info['child_run_id']})" if info.get("child_run_id") else ""
        if status != "completed":
            return Text(f"invoking {target}{child}", style="cyan")
        return Text(f"{target}{child} → {_preview(step.get('output'))}", style="dim")
    if status == "completed":
        return Text(_preview(step.get("output")), style="dim")
    return Text("")


def _timeline(run: dict[str, Any], steps: list[dict[str, Any]], now: datetime, width: int) -> Table:
    """The step timeline: a row per step, a row per attempt of a retried or failed one."""
    bar_width = min(max(width - 90, MIN_BAR_WIDTH), MAX_BAR_WIDTH)
    axis = _axis({**run, "steps": steps}, now, bar_width)
    ended = run_end(run)
    table = Table(box=None, header_style="bold", pad_edge=False, title_justify="left")
    table.add_column("#", justify="right", style="dim", no_wrap=True)
    table.add_column("step", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("att", justify="right", no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column(f"0 → {human_duration(axis.span)}", no_wrap=True, min_width=bar_width)
    table.add_column("detail", overflow="fold")
    for number, step in enumerate(steps, 1):
        start, end = step_span(step, now, ended)
        attempts = attempts_of(step)
        duration = (end - start).total_seconds() if start and end else None
        table.add_row(
            str(number),
            escape(str(step.get("key"))),
            escape(KIND_LABEL.get(str(step.get("kind")), str(step.get("kind")))),
            styled_status(step.get("status")),
            str(len(attempts)) if attempts else "-",
            human_duration(duration),
            axis.bar(_step_segments(step, now, ended)),
            _step_detail(step),
        )
        if len(attempts) > 1 or any(a.get("error") for a in attempts):
            for n, attempt in enumerate(attempts, 1):
                _add_attempt_row(table, axis, n, attempt, now)
    return table


def _add_attempt_row(
    table: Table, axis: Axis, number: int, attempt: dict[str, Any], now: datetime
) -> None:
    """One attempt of a step, under it: state, duration, bar and error."""
    segment = _attempt_segment(attempt, now)
    start, end = parse_time(attempt.get("started_at")), parse_time(attempt.get("ended_at"))
    state = "failed" if attempt.get("error") else ("ok" if end else "running")
    style = bar_style("run", {"failed": "failed", "ok": "ok", "running": "pending"}[state])
    duration = ((end or now) - start).total_seconds() if start else None
    table.add_row(
        "",
        f"[dim]↳ attempt {number}[/]",
        "",
        f"[{style}]{state}[/]",
        "",
        human_duration(duration),
        axis.bar([segment] if segment else []),
        Text(error_line(attempt.get("error")), style="red"),
    )


def _print_result(console: Console, run: dict[str, Any]) -> None:
    """The run's output, or its error with the failed step's cause and traceback."""
    status = str(run.get("status"))
    error = run.get("error")
    if error:
        console.print()
        console.print(Text("Error  ", style="bold red") + Text(error_line(error)))
        if isinstance(error, dict):
            cause = error.get("cause")
            if isinstance(cause, dict):
                console.print(Text(f"  caused by {error_line(cause)}", style="red"))
            if error.get("traceback"):
                console.print(Text(str(error["traceback"]).rstrip(), style="dim"))
    elif status == "completed":
        console.print()
        console.print(Text("Output", style="bold green"))
        console.print(JSON.from_data(run.get("output"), ensure_ascii=False))
