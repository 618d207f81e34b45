"""Pure parts of the inspector: filters, row cells, formatting, the SSE parser, the timeline."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from durable.tui.format import human_duration, parse_time, status_text
from durable.tui.models import FilterError, RunFilter, parse_filter, run_cells, run_counts
from durable.tui.screens.send_event import FormError, parse_event_form
from durable.tui.sse import SSEParser
from durable.tui.timeline import timeline_rows

NOW = datetime(2025, 1, 31, 12, 0, 10, tzinfo=UTC)


def test_filter_queries_split_into_server_and_local_parts() -> None:
    wanted = parse_filter("status:fail fn:process-order card 42")
    assert wanted == RunFilter("failed", "process-order", "card 42")
    assert wanted.describe() == "status:failed function:process-order card 42"
    assert parse_filter("") == RunFilter()
    with pytest.raises(FilterError, match="unknown status 'x'"):
        parse_filter("status:x")


def test_free_text_matches_id_function_event_and_error() -> None:
    run = {
        "run_id": "01ABC",
        "function_id": "charge",
        "status": "failed",
        "event": {"name": "order/created"},
        "error": {"name": "CardDeclined", "message": "insufficient funds"},
    }
    assert parse_filter("declined").matches(run)
    assert parse_filter("order/created 01abc").matches(run)
    assert not parse_filter("refund").matches(run)
    assert not parse_filter("status:completed").matches(run)


def test_run_counts_and_cells() -> None:
    run = {
        "run_id": "01ABC",
        "function_id": "f",
        "status": "completed",
        "started_at": "2025-01-31T12:00:00.000Z",
        "ended_at": "2025-01-31T12:00:01.500Z",
        "steps": [{"attempts": [{}, {}, {}]}, {"attempts": [{}]}, {"attempts": []}],
    }
    assert run_counts(run) == (3, 3)
    assert run_counts({**run, "steps": None}) is None
    cells = run_cells(run, NOW, UTC)
    assert [str(c) for c in cells] == ["✔ completed", "f", "01ABC", "12:00:00", "1.5s", "3", "3"]
    listed = run_cells({**run, "steps": None}, NOW, UTC)
    assert [str(c) for c in listed][-2:] == ["—", "—"]


def test_status_has_a_symbol_and_a_colour() -> None:
    text = status_text("failed")
    assert text.plain == "✖ failed" and "red" in str(text.style)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.25, "250ms"), (4.25, "4.2s"), (42, "42s"), (185, "3m05s"), (7800, "2h10m"), (2e5, "2d7h")],
)
def test_durations(seconds: float, shown: str) -> None:
    assert human_duration(seconds) == shown


def test_times_parse_iso_and_epoch() -> None:
    assert parse_time("2025-01-31T12:00:00.250Z") == datetime(2025, 1, 31, 12, 0, 0, 250000, UTC)
    assert parse_time(0) == datetime(1970, 1, 1, tzinfo=UTC)
    assert parse_time("nonsense") is None


def test_sse_parser_dispatches_on_blank_lines_and_skips_comments() -> None:
    parser = SSEParser()
    lines = [": connected", "", "event: run", 'data: {"run_id": "r1",', 'data: "status": "x"}', ""]
    out = [message for line in lines if (message := parser.feed(line))]
    assert out == [("run", {"run_id": "r1", "status": "x"})]
    assert parser.feed("data: not json") is None and parser.feed("") is None


def test_event_form_validation_names_the_problem() -> None:
    assert parse_event_form(" a/b ", '{"x": 1}') == {"name": "a/b", "data": {"x": 1}}
    assert parse_event_form("a/b", "") == {"name": "a/b", "data": {}}
    with pytest.raises(FormError, match="name: an event needs a name"):
        parse_event_form("", "{}")
    with pytest.raises(FormError, match=r"data: invalid JSON: Expecting .* \(line 1, column 9\)"):
        parse_event_form("a/b", '{"x": 1,}')
    with pytest.raises(FormError, match="must be a JSON object"):
        parse_event_form("a/b", "[1]")


def test_timeline_puts_every_step_and_attempt_on_one_axis() -> None:
    run = {
        "status": "sleeping",
        "started_at": "2025-01-31T12:00:00.000Z",
        "steps": [
            {
                "key": "charge",
                "kind": "run",
                "status": "completed",
                "started_at": "2025-01-31T12:00:00.000Z",
                "ended_at": "2025-01-31T12:00:04.000Z",
                "attempts": [
                    {
                        "started_at": "2025-01-31T12:00:00.000Z",
                        "ended_at": "2025-01-31T12:00:01.000Z",
                        "error": {"name": "Boom", "message": "try again"},
                    },
                    {
                        "started_at": "2025-01-31T12:00:03.000Z",
                        "ended_at": "2025-01-31T12:00:04.000Z",
                        "error": None,
                    },
                ],
            },
            {
                "key": "pause",
                "kind": "sleep",
                "status": "sleeping",
                "started_at": "2025-01-31T12:00:05.000Z",
                "wake_at": "2025-01-31T13:00:05.000Z",
                "detail": {"until": "2025-01-31T13:00:05.000Z"},
                "attempts": [],
            },
        ],
    }
    axis, rows = timeline_rows(run, 20, NOW, UTC)
    assert axis.span == 10  # from the run's start to now (still sleeping)
    assert [(r.label, r.status) for r in rows] == [
        ("charge", "completed"),
        ("  ↳ attempt 1", "failed"),
        ("  ↳ attempt 2", "completed"),
        ("pause", "sleeping"),
    ]
    charge, first, second, pause = rows
    assert charge.bar.plain == "██····██" + " " * 12
    assert first.detail == "Boom: try again" and first.bar.plain.startswith("██ ")
    assert second.bar.plain.strip() == "██"
    assert pause.bar.plain == " " * 10 + "░" * 10
    assert pause.detail == "wakes 13:00:05" and pause.duration == "5.0s"
